//! Ethernet II frames (IEEE 802.3 with an EtherType) and 802.1Q VLAN tags.
//!
//! The translator works on the network-layer packet; the I/O layer uses [`parse_l2`] to find it and
//! [`write_l2`] to put the egress link-layer header back in front of it.

use super::bytes::{read_array, read_u16, write_u16};
use super::Error;

mod field {
    use crate::wire::Field;
    pub const DST_ADDR: Field = 0..6;
    pub const SRC_ADDR: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

mod vlan_field {
    use crate::wire::Field;
    /// Tag Control Information: PCP (3 bits), DEI (1 bit), VID (12 bits) (IEEE 802.1Q §9.6).
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
}

/// EtherType values (IEEE "EtherType" registry). A namespace of `u16` constants, so that
/// `frame.ethertype() == EtherType::IPV6` and `match` arms read naturally.
#[derive(Debug)]
pub enum EtherType {}

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86DD;
    /// IEEE 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88A8;
}

/// An Ethernet II frame: destination, source, EtherType, payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl EthernetFrame<&[u8]> {
    /// Destination, source, EtherType.
    /// On the `&[u8]` instance only, so that `EthernetFrame::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = 14;
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps without checking; accessors panic if the buffer is shorter than 14 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps after checking that the 14-byte header is present.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < EthernetFrame::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        read_array(&self.buffer.as_ref()[field::DST_ADDR])
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        read_array(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// The outer EtherType (0x8100 if a VLAN tag follows).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ETHERTYPE])
    }

    /// Everything after the 14-byte header (a VLAN tag, if the EtherType says so).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr);
    }

    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ETHERTYPE], ethertype);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// An IEEE 802.1Q tag: the 4 bytes after an outer EtherType 0x8100 (TCI, then the inner EtherType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl VlanTag<&[u8]> {
    /// TCI and inner EtherType.
    /// On the `&[u8]` instance only, so that `VlanTag::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = 4;
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps without checking; accessors panic if the buffer is shorter than 4 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    /// Wraps after checking that the 4 bytes are present.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < VlanTag::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn tci(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[vlan_field::TCI])
    }

    /// Priority Code Point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop Eligible Indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits; 0 means priority-tagged, no VLAN).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The inner EtherType: what the tag encapsulates.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[vlan_field::ETHERTYPE])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    #[inline]
    fn set_tci(&mut self, tci: u16) {
        write_u16(&mut self.buffer.as_mut()[vlan_field::TCI], tci);
    }

    /// Sets the VLAN identifier (low 12 bits of `vid`), keeping PCP and DEI.
    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci);
    }

    /// Sets the Priority Code Point (low 3 bits of `pcp`), keeping DEI and VID.
    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 0x7) << 13);
        self.set_tci(tci);
    }

    /// Sets the Drop Eligible Indicator, keeping PCP and VID.
    #[inline]
    pub fn set_dei(&mut self, dei: bool) {
        let tci = (self.tci() & !0x1000) | if dei { 0x1000 } else { 0 };
        self.set_tci(tci);
    }

    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        write_u16(&mut self.buffer.as_mut()[vlan_field::ETHERTYPE], ethertype);
    }
}

/// Where the network-layer packet of a frame starts, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Info {
    /// Offset of the network-layer header from the start of the frame (14, or 18 behind one VLAN tag).
    pub l3_offset: usize,
    /// The EtherType of the network-layer packet (the inner one behind a VLAN tag).
    pub ethertype: u16,
    /// The 802.1Q VLAN identifier, if the frame carried a tag (`Some(0)` for a priority tag).
    pub vlan: Option<u16>,
}

/// Parses the link-layer header: no tag or one 802.1Q tag. Stacked tags (QinQ: 0x88A8 outside, or a second
/// 0x8100 inside) are [`Error::Malformed`] until a tenant needs them.
#[inline]
pub fn parse_l2(frame: &[u8]) -> Result<L2Info, Error> {
    let eth = EthernetFrame::new_checked(frame)?;
    match eth.ethertype() {
        EtherType::VLAN => {
            let tag = VlanTag::new_checked(eth.payload())?;
            let inner = tag.ethertype();
            if inner == EtherType::VLAN || inner == EtherType::QINQ {
                return Err(Error::Malformed);
            }
            Ok(L2Info {
                l3_offset: EthernetFrame::HEADER_LEN + VlanTag::HEADER_LEN,
                ethertype: inner,
                vlan: Some(tag.vid()),
            })
        }
        EtherType::QINQ => Err(Error::Malformed),
        ethertype => Ok(L2Info {
            l3_offset: EthernetFrame::HEADER_LEN,
            ethertype,
            vlan: None,
        }),
    }
}

/// Writes an Ethernet II header, with an 802.1Q tag (PCP 0, DEI 0) if `vlan` is given, and returns the bytes
/// written (14 or 18).
///
/// # Panics
/// If `buf` is shorter than that: the caller reserves the room (frame headroom), packet bytes cannot cause it.
#[inline]
pub fn write_l2(
    buf: &mut [u8],
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    ethertype: u16,
) -> usize {
    buf[field::DST_ADDR].copy_from_slice(&dst);
    buf[field::SRC_ADDR].copy_from_slice(&src);
    match vlan {
        None => {
            write_u16(&mut buf[field::ETHERTYPE], ethertype);
            14
        }
        Some(vid) => {
            write_u16(&mut buf[field::ETHERTYPE], EtherType::VLAN);
            write_u16(&mut buf[14..16], vid & 0x0fff);
            write_u16(&mut buf[16..18], ethertype);
            18
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // A tagged frame: dst 02:00:00:00:00:02, src 02:00:00:00:00:01, 802.1Q PCP 5 DEI 1 VID 100, IPv6.
    #[rustfmt::skip]
    const TAGGED: [u8; 20] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x81, 0x00, // 802.1Q
        0xb0, 0x64, // PCP 5, DEI 1, VID 100
        0x86, 0xdd, // IPv6
        0x60, 0x00, // start of the IPv6 header
    ];

    #[test]
    fn tagged_frame() {
        let eth = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(eth.dst_addr(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(eth.src_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(eth.ethertype(), EtherType::VLAN);
        let tag = VlanTag::new_checked(eth.payload()).unwrap();
        assert_eq!(tag.pcp(), 5);
        assert!(tag.dei());
        assert_eq!(tag.vid(), 100);
        assert_eq!(tag.ethertype(), EtherType::IPV6);
        assert_eq!(
            parse_l2(&TAGGED).unwrap(),
            L2Info {
                l3_offset: 18,
                ethertype: EtherType::IPV6,
                vlan: Some(100)
            }
        );
    }

    #[test]
    fn untagged_frame() {
        let mut f = [0u8; 14];
        assert_eq!(write_l2(&mut f, [1; 6], [2; 6], None, EtherType::IPV4), 14);
        assert_eq!(
            parse_l2(&f).unwrap(),
            L2Info {
                l3_offset: 14,
                ethertype: EtherType::IPV4,
                vlan: None
            }
        );
        assert_eq!(
            EthernetFrame::new_checked(&f[..]).unwrap().payload(),
            &[] as &[u8]
        );
    }

    #[test]
    fn setters() {
        let mut f = TAGGED;
        let mut eth = EthernetFrame::new_checked(&mut f[..]).unwrap();
        eth.set_dst_addr([0xaa; 6]);
        eth.set_src_addr([0xbb; 6]);
        eth.set_ethertype(EtherType::VLAN);
        let mut tag = VlanTag::new_checked(eth.payload_mut()).unwrap();
        tag.set_vid(0xfff);
        tag.set_ethertype(EtherType::IPV4);
        assert_eq!(tag.pcp(), 5);
        assert!(tag.dei());
        tag.set_pcp(1);
        tag.set_dei(false);
        assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (1, false, 0xfff));
        assert_eq!(
            &f[..18],
            &[
                0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0x81, 0x00,
                0x2f, 0xff, 0x08, 0x00
            ]
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            EthernetFrame::new_checked(&TAGGED[..13]),
            Err(Error::Truncated)
        );
        assert_eq!(VlanTag::new_checked(&TAGGED[..3]), Err(Error::Truncated));
        assert_eq!(parse_l2(&TAGGED[..13]), Err(Error::Truncated));
        // Tag announced, not present.
        assert_eq!(parse_l2(&TAGGED[..17]), Err(Error::Truncated));
        // QinQ, either way round.
        let mut q = TAGGED;
        q[12..14].copy_from_slice(&[0x88, 0xa8]);
        assert_eq!(parse_l2(&q), Err(Error::Malformed));
        let mut q = TAGGED;
        q[16..18].copy_from_slice(&[0x81, 0x00]);
        assert_eq!(parse_l2(&q), Err(Error::Malformed));
    }

    #[test]
    fn write_then_parse_tagged() {
        let mut f = [0u8; 18];
        assert_eq!(
            write_l2(&mut f, [1; 6], [2; 6], Some(4094), EtherType::IPV6),
            18
        );
        assert_eq!(
            parse_l2(&f).unwrap(),
            L2Info {
                l3_offset: 18,
                ethertype: EtherType::IPV6,
                vlan: Some(4094)
            }
        );
    }

    #[test]
    fn agrees_with_etherparse() {
        use etherparse::{PacketBuilder, SlicedPacket};
        let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
            .single_vlan(300.try_into().unwrap())
            .ipv4([192, 0, 2, 1], [198, 51, 100, 1], 64)
            .udp(1000, 2000);
        let mut buf = Vec::new();
        builder.write(&mut buf, &[1, 2, 3]).unwrap();
        let l2 = parse_l2(&buf).unwrap();
        assert_eq!(
            l2,
            L2Info {
                l3_offset: 18,
                ethertype: EtherType::IPV4,
                vlan: Some(300)
            }
        );
        let eth = EthernetFrame::new_checked(&buf[..]).unwrap();
        let sliced = SlicedPacket::from_ethernet(&buf).unwrap();
        let ep = match sliced.link.unwrap() {
            etherparse::LinkSlice::Ethernet2(e) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(eth.src_addr(), ep.source());
        assert_eq!(eth.dst_addr(), ep.destination());
        assert_eq!(eth.ethertype(), ep.ether_type().0);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(eth) = EthernetFrame::new_checked(&data[..]) {
                let _ = (eth.dst_addr(), eth.src_addr(), eth.ethertype(), eth.payload());
            }
            if let Ok(tag) = VlanTag::new_checked(&data[..]) {
                let _ = (tag.pcp(), tag.dei(), tag.vid(), tag.ethertype());
            }
            if let Ok(l2) = parse_l2(&data) {
                prop_assert!(l2.l3_offset <= data.len());
            }
        }

        #[test]
        fn write_parse_round_trip(vid in proptest::option::of(0u16..4096), et in any::<u16>()) {
            prop_assume!(et != EtherType::VLAN && et != EtherType::QINQ);
            let mut f = [0u8; 18];
            let n = write_l2(&mut f, [1; 6], [2; 6], vid, et);
            let l2 = parse_l2(&f[..n]).unwrap();
            prop_assert_eq!(l2, L2Info { l3_offset: n, ethertype: et, vlan: vid });
        }
    }
}
