//! IPv6 header (RFC 8200 §3), Fragment Header (RFC 8200 §4.5) and the extension-header walk (RFC 8200 §4).

use super::bytes::{read_array, read_u16, read_u32, write_u16, write_u32};
use super::{ip_proto, Error};

mod field {
    use crate::wire::Field;
    /// Version (4 bits), Traffic Class (8 bits), Flow Label (20 bits).
    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
    pub const PAYLOAD: usize = 40;
}

/// Size of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Size of the Fragment Header.
pub const FRAG_HEADER_LEN: usize = 8;

/// An IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl Ipv6Packet<&[u8]> {
    /// Size of the fixed header ([`HEADER_LEN`]).
    /// On the `&[u8]` instance only, so that `Ipv6Packet::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = HEADER_LEN;
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps without checking. Accessors panic on a buffer shorter than 40 bytes; [`payload`](Self::payload)
    /// trusts the Payload Length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps after validating: at least 40 bytes, version 6, 40 + Payload Length within the buffer (bytes after
    /// it, such as Ethernet padding, are ignored). A Payload Length of 0 with a Hop-by-Hop header next is a
    /// jumbogram (RFC 2675 §3): not supported, [`Error::Malformed`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let pkt = Self::new_unchecked(buffer);
        if pkt.version() != 6 {
            return Err(Error::Malformed);
        }
        if pkt.payload_len() == 0 && pkt.next_header() == ip_proto::HOPOPTS {
            return Err(Error::Malformed);
        }
        if HEADER_LEN + usize::from(pkt.payload_len()) > pkt.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(pkt)
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic Class: DSCP and ECN (RFC 7915 §5.1 copies it to the IPv4 TOS byte).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow Label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload Length: everything after the 40-byte header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PAYLOAD_LEN])
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        read_array(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        read_array(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Bytes 40..40 + Payload Length: extension headers and upper-layer data.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..field::PAYLOAD + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], value);
    }

    /// Writes the first 4 bytes at once: version 6, `tc`, and the low 20 bits of `flow`.
    #[inline]
    pub fn set_version_tc_flow(&mut self, tc: u8, flow: u32) {
        self.set_ver_tc_flow((6 << 28) | (u32::from(tc) << 20) | (flow & 0x000f_ffff));
    }

    /// Sets the Traffic Class, keeping version and flow label.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let v = (self.ver_tc_flow() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_ver_tc_flow(v);
    }

    /// Sets the low 20 bits of `flow` as the Flow Label, keeping version and traffic class.
    #[inline]
    pub fn set_flow_label(&mut self, flow: u32) {
        let v = (self.ver_tc_flow() & 0xfff0_0000) | (flow & 0x000f_ffff);
        self.set_ver_tc_flow(v);
    }

    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::PAYLOAD_LEN], value);
    }

    #[inline]
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = value;
    }

    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr);
    }

    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr);
    }

    /// Bytes 40..40 + Payload Length, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = field::PAYLOAD + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }
}

mod frag_field {
    use crate::wire::Field;
    pub const NXT_HDR: usize = 0;
    pub const RESERVED: usize = 1;
    /// Fragment Offset (13 bits, 8-byte units), 2 reserved bits, M flag.
    pub const OFF_M: Field = 2..4;
    pub const IDENT: Field = 4..8;
}

const FRAG_OFFSET_MASK: u16 = 0xfff8;
const FRAG_MORE: u16 = 0x0001;

/// An IPv6 Fragment Header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl Ipv6FragHeader<&[u8]> {
    /// Size of the Fragment Header ([`FRAG_HEADER_LEN`]).
    /// On the `&[u8]` instance only, so that `Ipv6FragHeader::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = FRAG_HEADER_LEN;
}

impl<T: AsRef<[u8]>> Ipv6FragHeader<T> {
    /// Wraps without checking; accessors panic on a buffer shorter than 8 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6FragHeader { buffer }
    }

    /// Wraps after checking that the 8 bytes are present.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < FRAG_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[frag_field::NXT_HDR]
    }

    /// Fragment Offset in bytes: the 13-bit field counts 8-byte units and sits in the top bits, so masking the
    /// low 3 bits off the 16-bit word gives bytes directly.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[frag_field::OFF_M]) & FRAG_OFFSET_MASK
    }

    /// M flag: more fragments follow.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(&self.buffer.as_ref()[frag_field::OFF_M]) & FRAG_MORE != 0
    }

    #[inline]
    pub fn ident(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[frag_field::IDENT])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragHeader<T> {
    #[inline]
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[frag_field::NXT_HDR] = value;
    }

    /// Sets the Fragment Offset, given in bytes (a multiple of 8), keeping the M flag.
    #[inline]
    pub fn set_frag_offset(&mut self, offset_bytes: u16) {
        let old = read_u16(&self.buffer.as_ref()[frag_field::OFF_M]);
        let v = (old & !FRAG_OFFSET_MASK) | (offset_bytes & FRAG_OFFSET_MASK);
        write_u16(&mut self.buffer.as_mut()[frag_field::OFF_M], v);
    }

    /// Sets the M flag, keeping the offset.
    #[inline]
    pub fn set_more_frags(&mut self, more: bool) {
        let old = read_u16(&self.buffer.as_ref()[frag_field::OFF_M]);
        let v = (old & !FRAG_MORE) | u16::from(more);
        write_u16(&mut self.buffer.as_mut()[frag_field::OFF_M], v);
    }

    #[inline]
    pub fn set_ident(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[frag_field::IDENT], value);
    }
}

impl Ipv6FragHeader<&mut [u8]> {
    /// Writes a whole Fragment Header into `buf[..8]` (reserved fields zero).
    ///
    /// # Panics
    /// If `buf` is shorter than 8 bytes: the caller reserves the room, packet bytes cannot cause it.
    #[inline]
    pub fn write(buf: &mut [u8], next_header: u8, offset_bytes: u16, more: bool, ident: u32) {
        buf[frag_field::NXT_HDR] = next_header;
        buf[frag_field::RESERVED] = 0;
        write_u16(
            &mut buf[frag_field::OFF_M],
            (offset_bytes & FRAG_OFFSET_MASK) | u16::from(more),
        );
        write_u32(&mut buf[frag_field::IDENT], ident);
    }
}

/// Writes a whole Fragment Header into `buf[..8]`; the same as [`Ipv6FragHeader::write`].
///
/// # Panics
/// If `buf` is shorter than 8 bytes.
#[inline]
pub fn write(buf: &mut [u8], next_header: u8, offset_bytes: u16, more: bool, ident: u32) {
    Ipv6FragHeader::write(buf, next_header, offset_bytes, more, ident);
}

/// What [`parse_ext_headers`] found between the IPv6 header and the upper layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6ExtHeaders {
    /// The Next Header value of the last header walked: the upper-layer protocol (TCP, UDP, ICMPv6, ...),
    /// or whatever the walk stopped at (ESP, AH, No Next Header, an unknown value).
    pub upper_proto: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header (of the fragment data for a
    /// non-first fragment).
    pub upper_offset: usize,
    /// The first Fragment Header.
    pub frag: Option<FragInfo>,
    /// The first Routing Header.
    pub routing: Option<RoutingInfo>,
}

/// A Fragment Header found by [`parse_ext_headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo {
    /// Offset of the Fragment Header from the start of the IPv6 header.
    pub offset: usize,
    /// Fragment Offset in bytes.
    pub frag_offset: u16,
    /// M flag.
    pub more: bool,
    pub ident: u32,
}

/// A Routing Header found by [`parse_ext_headers`] (RFC 8200 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingInfo {
    /// Offset of the Routing Header from the start of the IPv6 header.
    pub offset: usize,
    /// RFC 7915 §5.1: a packet with Segments Left != 0 is not translated (ICMPv6 Parameter Problem).
    pub segments_left: u8,
    pub routing_type: u8,
}

/// The most extension headers [`parse_ext_headers`] walks before calling the chain [`Error::Malformed`]. Real
/// packets carry a handful; the limit bounds the work an attacker can make one packet cost.
pub const MAX_EXT_HEADERS: usize = 16;

/// Walks the extension-header chain from the IPv6 header (`pkt` = the whole IPv6 packet, already new_checked).
/// Skips hop-by-hop (0), routing (43), fragment (44), destination options (60) — anywhere, any order —
/// with bounds checks; stops at any other next-header value (the upper layer, incl. ESP/AH/ICMPv6/NONXT).
/// A non-first fragment: stop after the fragment header (upper_offset points to fragment data).
///
/// Lengths (RFC 8200 §4.3-4.6): (Hdr Ext Len + 1) × 8 bytes, except the Fragment Header: always 8. The walk is
/// bounded by 40 + Payload Length, or by the end of `pkt` if that comes first — so it also walks the truncated
/// packet quoted in an ICMPv6 error, as far as it goes. A header running past that bound is
/// [`Error::Truncated`] (so is `pkt` shorter than 40 bytes); more than [`MAX_EXT_HEADERS`] headers is
/// [`Error::Malformed`].
#[inline]
pub fn parse_ext_headers(pkt: &[u8]) -> Result<Ipv6ExtHeaders, Error> {
    if pkt.len() < field::PAYLOAD {
        return Err(Error::Truncated);
    }
    let ip = Ipv6Packet::new_unchecked(pkt);
    let end = (field::PAYLOAD + usize::from(ip.payload_len())).min(pkt.len());
    let pkt = &pkt[..end];

    let mut next = ip.next_header();
    let mut offset = field::PAYLOAD;
    let mut frag = None;
    let mut routing = None;
    let mut walked = 0;
    // Any other value is the upper layer (or something we do not look into: ESP, AH, No Next Header).
    while let ip_proto::HOPOPTS | ip_proto::ROUTING | ip_proto::DSTOPTS | ip_proto::FRAGMENT = next
    {
        walked += 1;
        if walked > MAX_EXT_HEADERS {
            return Err(Error::Malformed);
        }
        if next == ip_proto::FRAGMENT {
            let hdr = pkt
                .get(offset..offset + FRAG_HEADER_LEN)
                .ok_or(Error::Truncated)?;
            let hdr = Ipv6FragHeader::new_unchecked(hdr);
            let info = FragInfo {
                offset,
                frag_offset: hdr.frag_offset(),
                more: hdr.more_frags(),
                ident: hdr.ident(),
            };
            if frag.is_none() {
                frag = Some(info);
            }
            next = hdr.next_header();
            offset += FRAG_HEADER_LEN;
            if info.frag_offset != 0 {
                // RFC 8200 §4.5: what follows a non-first fragment's header is the middle of the original
                // payload, not a header; there is nothing more to walk.
                break;
            }
        } else {
            // Next Header, Hdr Ext Len, then (for routing) Routing Type, Segments Left.
            let hdr_ext_len = *pkt.get(offset + 1).ok_or(Error::Truncated)?;
            let len = (usize::from(hdr_ext_len) + 1) * 8;
            if len > end - offset {
                return Err(Error::Truncated);
            }
            if next == ip_proto::ROUTING && routing.is_none() {
                // In bounds: len >= 8 bytes were just checked.
                routing = Some(RoutingInfo {
                    offset,
                    routing_type: pkt[offset + 2],
                    segments_left: pkt[offset + 3],
                });
            }
            next = pkt[offset];
            offset += len;
        }
    }
    Ok(Ipv6ExtHeaders {
        upper_proto: next,
        upper_offset: offset,
        frag,
        routing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use proptest::prelude::*;

    /// A real IPv6/TCP SYN: [2001:db8::1]:40000 -> [64:ff9b::198.51.100.2]:443, TC 0xb8, flow 0x12345,
    /// hop limit 64, MSS 1440, TCP checksum 0x5de9.
    #[rustfmt::skip]
    const TCP_SYN: [u8; 64] = [
        0x6b, 0x81, 0x23, 0x45, // version 6, TC 0xb8, flow label 0x12345
        0x00, 0x18, 0x06, 0x40, // payload length 24, TCP, hop limit 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
        0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0xc6, 0x33, 0x64, 0x02, // 64:ff9b::c633:6402
        0x9c, 0x40, 0x01, 0xbb, // ports 40000 -> 443
        0x11, 0x22, 0x33, 0x44, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0x60, 0x02, 0xff, 0xff, // data offset 6, SYN, window 65535
        0x5d, 0xe9, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xa0, // MSS 1440
    ];

    /// IPv6 with Hop-by-Hop (PadN), Routing (type 2, segments left 1), Fragment (first, M=1, ident
    /// 0xdeadbeef) headers, then UDP 1234 -> 5678 with "abcd".
    #[rustfmt::skip]
    const EXT_CHAIN: [u8; 92] = [
        0x60, 0x00, 0x00, 0x00, // version 6
        0x00, 0x34, 0x00, 0x40, // payload length 52, next: Hop-by-Hop, hop limit 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // 2001:db8::2
        // Hop-by-Hop at 40: next Routing, Hdr Ext Len 0 (8 bytes), PadN of 4.
        0x2b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
        // Routing at 48: next Fragment, Hdr Ext Len 2 (24 bytes), type 2, segments left 1, reserved,
        // home address 2001:db8::99.
        0x2c, 0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
        // Fragment at 72: next UDP, offset 0, M=1, ident 0xdeadbeef.
        0x11, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef,
        // UDP at 80.
        0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0xc4, 0x03, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn parse_tcp_syn() {
        let pkt = Ipv6Packet::new_checked(&TCP_SYN[..]).unwrap();
        assert_eq!(pkt.version(), 6);
        assert_eq!(pkt.traffic_class(), 0xb8);
        assert_eq!(pkt.flow_label(), 0x12345);
        assert_eq!(pkt.payload_len(), 24);
        assert_eq!(pkt.next_header(), ip_proto::TCP);
        assert_eq!(pkt.hop_limit(), 64);
        assert_eq!(pkt.src_addr()[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(pkt.dst_addr()[12..], [198, 51, 100, 2]);
        assert_eq!(pkt.payload(), &TCP_SYN[40..]);
        let ext = parse_ext_headers(&TCP_SYN).unwrap();
        assert_eq!(
            ext,
            Ipv6ExtHeaders {
                upper_proto: ip_proto::TCP,
                upper_offset: 40,
                frag: None,
                routing: None
            }
        );
        // The TCP checksum verifies over the pseudo-header.
        let pseudo = checksum::sum_v6_pseudo(&pkt.src_addr(), &pkt.dst_addr(), ip_proto::TCP, 24);
        assert_eq!(
            checksum::fold(checksum::add(pseudo, checksum::sum(pkt.payload()))),
            0xffff
        );
    }

    #[test]
    fn parse_ext_chain() {
        let pkt = Ipv6Packet::new_checked(&EXT_CHAIN[..]).unwrap();
        assert_eq!(pkt.payload_len(), 52);
        assert_eq!(pkt.next_header(), ip_proto::HOPOPTS);
        let ext = parse_ext_headers(&EXT_CHAIN).unwrap();
        assert_eq!(
            ext,
            Ipv6ExtHeaders {
                upper_proto: ip_proto::UDP,
                upper_offset: 80,
                frag: Some(FragInfo {
                    offset: 72,
                    frag_offset: 0,
                    more: true,
                    ident: 0xdead_beef
                }),
                routing: Some(RoutingInfo {
                    offset: 48,
                    segments_left: 1,
                    routing_type: 2
                }),
            }
        );
        let frag = Ipv6FragHeader::new_checked(&EXT_CHAIN[72..80]).unwrap();
        assert_eq!(
            (frag.next_header(), frag.frag_offset(), frag.more_frags()),
            (17, 0, true)
        );
        assert_eq!(frag.ident(), 0xdead_beef);
    }

    #[test]
    fn non_first_fragment_stops_at_fragment_data() {
        let mut b = EXT_CHAIN;
        // Offset 1480 bytes = 185 units: 185 << 3 = 0x05c8, M=0.
        b[74..76].copy_from_slice(&[0x05, 0xc8]);
        let ext = parse_ext_headers(&b).unwrap();
        assert_eq!(ext.upper_proto, ip_proto::UDP);
        assert_eq!(ext.upper_offset, 80);
        assert_eq!(
            ext.frag,
            Some(FragInfo {
                offset: 72,
                frag_offset: 1480,
                more: false,
                ident: 0xdead_beef
            })
        );
        // Even if the fragment data looks like another header, it is not walked.
        b[72] = ip_proto::DSTOPTS;
        b[81] = 200; // would run far past the end
        let ext = parse_ext_headers(&b).unwrap();
        assert_eq!((ext.upper_proto, ext.upper_offset), (ip_proto::DSTOPTS, 80));
    }

    #[test]
    fn ext_chain_truncated() {
        // Cut inside each header of the chain: payload length says 52, the bytes stop early.
        for cut in [41, 47, 50, 71, 75] {
            assert_eq!(
                parse_ext_headers(&EXT_CHAIN[..cut]),
                Err(Error::Truncated),
                "cut at {cut}"
            );
            assert_eq!(
                Ipv6Packet::new_checked(&EXT_CHAIN[..cut]),
                Err(Error::Truncated)
            );
        }
        // Cut after the fragment header: the walk completes, the upper layer is the caller's business.
        assert_eq!(
            parse_ext_headers(&EXT_CHAIN[..80]).unwrap().upper_offset,
            80
        );
        assert_eq!(parse_ext_headers(&EXT_CHAIN[..39]), Err(Error::Truncated));
        // Payload length shorter than the chain: the header runs past 40 + payload length.
        let mut b = EXT_CHAIN;
        b[4..6].copy_from_slice(&20u16.to_be_bytes());
        assert_eq!(parse_ext_headers(&b), Err(Error::Truncated));
        // A Hdr Ext Len that runs past the end.
        let mut b = EXT_CHAIN;
        b[49] = 9;
        assert_eq!(parse_ext_headers(&b), Err(Error::Truncated));
    }

    #[test]
    fn ext_chain_limit() {
        // 16 destination-options headers then No Next Header: accepted; 17: Malformed.
        for (n, ok) in [(16usize, true), (17, false)] {
            let mut b = vec![0u8; 40 + 8 * n];
            b[0] = 0x60;
            b[4..6].copy_from_slice(&((8 * n) as u16).to_be_bytes());
            b[6] = ip_proto::DSTOPTS;
            for i in 0..n {
                b[40 + 8 * i] = if i + 1 == n {
                    ip_proto::NONXT
                } else {
                    ip_proto::DSTOPTS
                };
            }
            let r = parse_ext_headers(&b);
            if ok {
                assert_eq!(r.unwrap().upper_offset, 40 + 8 * n);
            } else {
                assert_eq!(r, Err(Error::Malformed));
            }
        }
    }

    #[test]
    fn two_fragment_headers_first_recorded() {
        // Fragment (first, ident 1) then Fragment (first, ident 2) then ICMPv6.
        let mut b = vec![0u8; 40 + 16 + 8];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&24u16.to_be_bytes());
        b[6] = ip_proto::FRAGMENT;
        write(&mut b[40..48], ip_proto::FRAGMENT, 0, false, 1);
        write(&mut b[48..56], ip_proto::ICMPV6, 0, true, 2);
        let ext = parse_ext_headers(&b).unwrap();
        assert_eq!(ext.upper_proto, ip_proto::ICMPV6);
        assert_eq!(ext.upper_offset, 56);
        assert_eq!(ext.frag.unwrap().ident, 1);
        assert_eq!(ext.frag.unwrap().offset, 40);
    }

    #[test]
    fn rejects() {
        assert_eq!(
            Ipv6Packet::new_checked(&TCP_SYN[..39]),
            Err(Error::Truncated)
        );
        assert_eq!(
            Ipv6Packet::new_checked(&TCP_SYN[..63]),
            Err(Error::Truncated)
        );
        let mut b = TCP_SYN;
        b[0] = 0x4b;
        assert_eq!(Ipv6Packet::new_checked(&b[..]), Err(Error::Malformed));
        // Jumbogram: payload length 0, hop-by-hop next.
        let mut b = TCP_SYN;
        b[4..6].copy_from_slice(&[0, 0]);
        b[6] = ip_proto::HOPOPTS;
        assert_eq!(Ipv6Packet::new_checked(&b[..]), Err(Error::Malformed));
        // Payload length 0 otherwise is just an empty payload.
        b[6] = ip_proto::NONXT;
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).unwrap().payload(),
            &[] as &[u8]
        );
        assert_eq!(
            Ipv6FragHeader::new_checked(&EXT_CHAIN[72..79]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn setters() {
        let mut b = TCP_SYN;
        let mut pkt = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        pkt.set_traffic_class(0x01);
        assert_eq!(
            (pkt.version(), pkt.traffic_class(), pkt.flow_label()),
            (6, 0x01, 0x12345)
        );
        pkt.set_flow_label(0xfff_ffff);
        assert_eq!(
            (pkt.version(), pkt.traffic_class(), pkt.flow_label()),
            (6, 0x01, 0xfffff)
        );
        pkt.set_version_tc_flow(0xfe, 0x0_0001);
        assert_eq!(
            (pkt.version(), pkt.traffic_class(), pkt.flow_label()),
            (6, 0xfe, 1)
        );
        pkt.set_payload_len(4);
        pkt.set_next_header(ip_proto::UDP);
        pkt.set_hop_limit(1);
        pkt.set_src_addr([1; 16]);
        pkt.set_dst_addr([2; 16]);
        pkt.payload_mut().copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(pkt.payload(), &[9, 9, 9, 9]);
        assert_eq!((pkt.next_header(), pkt.hop_limit()), (ip_proto::UDP, 1));
        assert_eq!((pkt.src_addr(), pkt.dst_addr()), ([1; 16], [2; 16]));
        assert_eq!(b[..8], [0x6f, 0xe0, 0x00, 0x01, 0x00, 0x04, 0x11, 0x01]);

        let mut f = [0xffu8; 8];
        let mut frag = Ipv6FragHeader::new_checked(&mut f[..]).unwrap();
        frag.set_next_header(6);
        frag.set_frag_offset(65528);
        frag.set_more_frags(false);
        frag.set_ident(7);
        assert_eq!(
            (
                frag.next_header(),
                frag.frag_offset(),
                frag.more_frags(),
                frag.ident()
            ),
            (6, 65528, false, 7)
        );
        frag.set_more_frags(true);
        frag.set_frag_offset(8);
        assert_eq!((frag.frag_offset(), frag.more_frags()), (8, true));
        Ipv6FragHeader::write(&mut f, 17, 1232, true, 0x0102_0304);
        assert_eq!(f, [17, 0, 0x04, 0xd1, 1, 2, 3, 4]);
    }

    #[test]
    fn agrees_with_etherparse() {
        use etherparse::{
            IpFragOffset, IpNumber, Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader, Ipv6Slice,
        };
        // IPv6 + Hop-by-Hop + Routing + Fragment + UDP, serialised by etherparse.
        // Offset 185 units = 1480 bytes.
        let frag = Ipv6FragmentHeader::new(
            IpNumber::UDP,
            IpFragOffset::try_new(185).unwrap(),
            true,
            0x1234_5678,
        );
        let hbh =
            Ipv6RawExtHeader::new_raw(IpNumber::IPV6_ROUTE_HEADER, &[1, 4, 0, 0, 0, 0]).unwrap();
        // Routing type 4, segments left 0 (the first two bytes after next header and length).
        let route =
            Ipv6RawExtHeader::new_raw(IpNumber::IPV6_FRAGMENTATION_HEADER, &[4, 0, 0, 0, 0, 0])
                .unwrap();
        let mut exts = Vec::new();
        hbh.write(&mut exts).unwrap();
        route.write(&mut exts).unwrap();
        frag.write(&mut exts).unwrap();
        let udp = [0x11, 0x11, 0x22, 0x22, 0x00, 0x08, 0x00, 0x00];
        let ip = Ipv6Header {
            traffic_class: 0x2e,
            flow_label: 0xabcde.try_into().unwrap(),
            payload_length: (exts.len() + udp.len()) as u16,
            next_header: IpNumber::IPV6_HEADER_HOP_BY_HOP,
            hop_limit: 9,
            source: [0x20; 16],
            destination: [0x30; 16],
        };
        let mut buf = Vec::new();
        ip.write(&mut buf).unwrap();
        buf.extend_from_slice(&exts);
        buf.extend_from_slice(&udp);

        let pkt = Ipv6Packet::new_checked(&buf[..]).unwrap();
        let ep = Ipv6Slice::from_slice(&buf).unwrap();
        let h = ep.header();
        assert_eq!(pkt.traffic_class(), h.traffic_class());
        assert_eq!(pkt.flow_label(), h.flow_label().value());
        assert_eq!(pkt.payload_len(), h.payload_length());
        assert_eq!(pkt.next_header(), h.next_header().0);
        assert_eq!(pkt.hop_limit(), h.hop_limit());
        assert_eq!(pkt.src_addr(), h.source());
        assert_eq!(pkt.dst_addr(), h.destination());
        let ext = parse_ext_headers(&buf).unwrap();
        assert_eq!(ext.upper_proto, ep.payload().ip_number.0);
        assert_eq!(ext.upper_offset, buf.len() - ep.payload().payload.len());
        assert_eq!(ext.upper_offset, 40 + exts.len());
        let f = ext.frag.unwrap();
        assert_eq!((f.frag_offset, f.more, f.ident), (1480, true, 0x1234_5678));
        let r = ext.routing.unwrap();
        assert_eq!((r.offset, r.routing_type, r.segments_left), (48, 4, 0));
        // Our Fragment Header writer produces etherparse's bytes.
        let mut ours = [0u8; 8];
        write(&mut ours, 17, 1480, true, 0x1234_5678);
        assert_eq!(ours[..], exts[16..24]);
    }

    fn ipv6_like() -> impl Strategy<Value = Vec<u8>> {
        // Version 6 and a payload length that fits, mostly, plus a next header among the extension headers,
        // so that the getters and the walk run on many shapes of chain.
        (
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<bool>(),
            proptest::sample::select(vec![0u8, 43, 44, 60, 6, 17, 58, 59]),
        )
            .prop_map(|(mut v, fix, nh)| {
                if v.len() >= 40 {
                    v[0] = 0x60 | (v[0] & 0x0f);
                    if fix {
                        let pl = (v.len() - 40) as u16;
                        v[4..6].copy_from_slice(&pl.to_be_bytes());
                    }
                    v[6] = nh;
                    // Sprinkle extension-header next values through the data.
                    let mut i = 40;
                    while i < v.len() {
                        if v[i] & 1 == 0 {
                            v[i] = [0, 43, 44, 60][usize::from(v[i] >> 6)];
                        }
                        i += 8;
                    }
                }
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn never_panics(data in ipv6_like()) {
            if let Ok(pkt) = Ipv6Packet::new_checked(&data[..]) {
                let _ = (pkt.version(), pkt.traffic_class(), pkt.flow_label(), pkt.payload_len());
                let _ = (pkt.next_header(), pkt.hop_limit(), pkt.src_addr(), pkt.dst_addr());
                prop_assert_eq!(pkt.payload().len(), usize::from(pkt.payload_len()));
                let mut copy = data.clone();
                let mut p = Ipv6Packet::new_checked(&mut copy[..]).unwrap();
                let _ = p.payload_mut();
            }
            // The walk on arbitrary (even unchecked) bytes: never panics, and what it returns is in bounds.
            if let Ok(ext) = parse_ext_headers(&data) {
                prop_assert!(ext.upper_offset <= data.len());
                if let Some(f) = ext.frag {
                    prop_assert!(f.offset + 8 <= ext.upper_offset);
                    let h = Ipv6FragHeader::new_checked(&data[f.offset..]).unwrap();
                    prop_assert_eq!(h.frag_offset(), f.frag_offset);
                }
                if let Some(r) = ext.routing {
                    prop_assert!(r.offset + 8 <= ext.upper_offset);
                }
            }
            if let Ok(h) = Ipv6FragHeader::new_checked(&data[..]) {
                let _ = (h.next_header(), h.frag_offset(), h.more_frags(), h.ident());
            }
        }

        /// etherparse agrees on where the upper layer starts, for chains of random options headers.
        #[test]
        fn walk_agrees_with_etherparse(
            lens in proptest::collection::vec(0u8..4, 0..6),
            nonfirst in any::<bool>(),
        ) {
            let mut buf = vec![0u8; 40];
            buf[0] = 0x60;
            let mut kinds: Vec<u8> = lens
                .iter()
                .map(|&l| if l % 2 == 0 { ip_proto::DSTOPTS } else { ip_proto::ROUTING })
                .collect();
            kinds.push(ip_proto::FRAGMENT);
            buf[6] = kinds[0];
            for (i, &kind) in kinds.iter().enumerate() {
                let next = kinds.get(i + 1).copied().unwrap_or(ip_proto::UDP);
                if kind == ip_proto::FRAGMENT {
                    let mut f = [0u8; 8];
                    write(&mut f, next, if nonfirst { 8 } else { 0 }, true, 9);
                    buf.extend_from_slice(&f);
                } else {
                    let l = lens[i];
                    let mut h = vec![0u8; (usize::from(l) + 1) * 8];
                    h[0] = next;
                    h[1] = l;
                    buf.extend_from_slice(&h);
                }
            }
            buf.extend_from_slice(&[0u8; 8]);
            let pl = (buf.len() - 40) as u16;
            buf[4..6].copy_from_slice(&pl.to_be_bytes());
            let ext = parse_ext_headers(&buf).unwrap();
            let ep = etherparse::Ipv6Slice::from_slice(&buf).unwrap();
            prop_assert_eq!(ext.upper_offset, buf.len() - ep.payload().payload.len());
            prop_assert_eq!(ext.upper_proto, ep.payload().ip_number.0);
            prop_assert_eq!(ext.routing.is_some(), kinds.contains(&ip_proto::ROUTING));
        }
    }
}
