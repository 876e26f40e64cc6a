//! Frame sources and sinks: where packets come from and go to.
//!
//! - [`pcap`]: capture files, for offline translation (`xlat64 translate`), golden tests and bug reports.
//!
//! - [`afxdp`]: the live path, AF_XDP sockets on the appliance's interfaces; [`steer`]: the XDP program that
//!   sends them only what the appliance translates.
//!
//! Every source strips the link layer and hands the translator the network-layer packet plus an [`RxMeta`]; every sink
//! writes the egress link layer in front of the packets the translator emits.

pub mod afxdp;
pub mod pcap;
pub mod steer;

use crate::frame::RxMeta;
use crate::wire::ethernet::{parse_l2, write_l2};
use crate::wire::{self, EtherType, EthernetFrame, VlanTag};

/// Source and destination MAC addresses of an Ethernet frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EthAddrs {
    pub dst: [u8; 6],
    pub src: [u8; 6],
}

impl EthAddrs {
    /// The addresses of a reply to this frame: source and destination exchanged.
    #[must_use]
    pub fn swapped(self) -> EthAddrs {
        EthAddrs {
            dst: self.src,
            src: self.dst,
        }
    }
}

/// The link layer a received packet came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No link-layer header (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6).
    Raw,
    /// Ethernet II, with at most one 802.1Q tag (its VLAN ID is in [`RxMeta::vlan`]).
    Ethernet(EthAddrs),
}

impl Link {
    /// The Ethernet addresses, if the packet came in an Ethernet frame.
    pub fn eth(&self) -> Option<EthAddrs> {
        match *self {
            Link::Raw => None,
            Link::Ethernet(a) => Some(a),
        }
    }
}

/// What a received frame carries once the link layer is stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A network-layer packet for the translator (EtherType IPv4 or IPv6, or any packet of a raw capture).
    /// Ethernet padding is already removed; the IP header is not otherwise checked.
    Ip(&'a [u8]),
    /// An Ethernet frame whose (innermost) EtherType is neither IPv4 nor IPv6: ARP, LLDP, a second VLAN tag...
    NotIp { ethertype: u16 },
    /// An Ethernet frame too short for its own header (14 bytes, 18 with a VLAN tag).
    LinkTruncated,
}

/// One packet from a frame source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxPacket<'a> {
    /// Position in the source, counting from 1 (the packet number Wireshark shows).
    pub number: u64,
    /// Capture time, since the Unix epoch.
    pub timestamp: std::time::Duration,
    /// Length of the frame on the wire; larger than what was captured if the capture cut it short (snaplen).
    pub orig_len: u32,
    /// Length of the frame as captured (link layer included).
    pub captured_len: u32,
    pub link: Link,
    /// Ingress interface (always 0 from a capture file: the caller sets it) and VLAN ID of the 802.1Q tag.
    /// A priority tag (VLAN ID 0) counts as untagged.
    pub meta: RxMeta,
    pub payload: Payload<'a>,
}

/// Splits an Ethernet II frame (with 0 or 1 802.1Q tag) into its addresses, VLAN ID and payload, with
/// [`wire::ethernet::parse_l2`](crate::wire::ethernet::parse_l2).
///
/// IPv4 and IPv6 payloads are cut to the length their header states when the frame is longer (Ethernet pads
/// frames to 60 bytes; the kernel trims the same way before IP sees the packet). Stacked tags (QinQ) are
/// reported as [`Payload::NotIp`] with the EtherType xlat64 does not take (0x88a8, or 0x8100 inside a tag).
pub fn parse_ethernet(frame: &[u8]) -> (Option<EthAddrs>, Option<u16>, Payload<'_>) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return (None, None, Payload::LinkTruncated);
    };
    let addrs = EthAddrs {
        dst: eth.dst_addr(),
        src: eth.src_addr(),
    };
    let l2 = match parse_l2(frame) {
        Ok(l2) => l2,
        Err(wire::Error::Truncated) => return (Some(addrs), None, Payload::LinkTruncated),
        Err(wire::Error::Malformed) => {
            // A stacked tag: name the EtherType we stopped at.
            let ethertype = match eth.ethertype() {
                EtherType::VLAN => frame
                    .get(16..18)
                    .map_or(EtherType::VLAN, |b| u16::from_be_bytes([b[0], b[1]])),
                other => other,
            };
            return (Some(addrs), None, Payload::NotIp { ethertype });
        }
    };
    let vlan = l2.vlan.filter(|&vid| vid != 0);
    let payload = &frame[l2.l3_offset..];
    let payload = match l2.ethertype {
        EtherType::IPV4 | EtherType::IPV6 => Payload::Ip(trim_to_ip_length(payload)),
        ethertype => Payload::NotIp { ethertype },
    };
    (Some(addrs), vlan, payload)
}

/// Cuts link-layer padding behind an IP packet: to the IPv4 total length or the IPv6 header plus payload
/// length, when the header is readable and states a length shorter than `p`. Anything odd is left for the
/// translator to judge.
fn trim_to_ip_length(p: &[u8]) -> &[u8] {
    let stated = match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => usize::from(u16::from_be_bytes([p[2], p[3]])),
        Some(6) if p.len() >= 40 => {
            let payload_len = usize::from(u16::from_be_bytes([p[4], p[5]]));
            if payload_len == 0 {
                return p; // jumbogram (RFC 2675) or garbage: not ours to guess
            }
            40 + payload_len
        }
        _ => return p,
    };
    if stated >= 20 && stated < p.len() {
        &p[..stated]
    } else {
        p
    }
}

/// Appends an Ethernet II header to `out` (with an 802.1Q tag if `vlan` is set), with
/// [`wire::ethernet::write_l2`](crate::wire::ethernet::write_l2). The EtherType follows the IP version of
/// `packet` (6: IPv6, anything else: IPv4).
pub fn push_ethernet_header(out: &mut Vec<u8>, addrs: EthAddrs, vlan: Option<u16>, packet: &[u8]) {
    let ethertype = match packet.first().map(|b| b >> 4) {
        Some(6) => EtherType::IPV6,
        _ => EtherType::IPV4,
    };
    let mut hdr = [0u8; EthernetFrame::<&[u8]>::HEADER_LEN + VlanTag::<&[u8]>::HEADER_LEN];
    let n = write_l2(&mut hdr, addrs.dst, addrs.src, vlan, ethertype);
    out.extend_from_slice(&hdr[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

    fn eth(ethertype: u16, tag: Option<u16>, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST);
        f.extend_from_slice(&SRC);
        if let Some(tci) = tag {
            f.extend_from_slice(&EtherType::VLAN.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(total_len: u16) -> Vec<u8> {
        let mut p = vec![0u8; usize::from(total_len)];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&total_len.to_be_bytes());
        p
    }

    #[test]
    fn untagged_ipv4_with_padding_is_trimmed() {
        let mut payload = ipv4(28);
        payload.resize(46, 0); // padded to the 60-byte minimum frame
        let f = eth(EtherType::IPV4, None, &payload);
        let (addrs, vlan, p) = parse_ethernet(&f);
        assert_eq!(addrs, Some(EthAddrs { dst: DST, src: SRC }));
        assert_eq!(vlan, None);
        assert_eq!(p, Payload::Ip(&payload[..28]));
    }

    #[test]
    fn tagged_ipv6_gives_vlan_id_without_priority_bits() {
        let mut payload = vec![0u8; 48];
        payload[0] = 0x60;
        payload[4..6].copy_from_slice(&8u16.to_be_bytes());
        let f = eth(EtherType::IPV6, Some(0xa000 | 100), &payload);
        let (_, vlan, p) = parse_ethernet(&f);
        assert_eq!(vlan, Some(100));
        assert_eq!(p, Payload::Ip(&payload[..]));
    }

    #[test]
    fn priority_tag_counts_as_untagged() {
        let f = eth(EtherType::IPV4, Some(0x6000), &ipv4(20));
        assert_eq!(parse_ethernet(&f).1, None);
    }

    #[test]
    fn non_ip_and_double_tags_are_reported_with_their_ethertype() {
        let f = eth(0x0806, None, &[0u8; 28]);
        assert_eq!(parse_ethernet(&f).2, Payload::NotIp { ethertype: 0x0806 });
        let mut inner = Vec::new();
        inner.extend_from_slice(&0x0064u16.to_be_bytes());
        inner.extend_from_slice(&EtherType::IPV4.to_be_bytes());
        let f = eth(EtherType::VLAN, Some(200), &inner);
        assert_eq!(
            parse_ethernet(&f).2,
            Payload::NotIp {
                ethertype: EtherType::VLAN
            }
        );
    }

    #[test]
    fn qinq_is_reported_as_not_ip() {
        let f = eth(0x88a8, None, &[0, 100, 0x81, 0, 0, 200, 0x08, 0]);
        assert_eq!(parse_ethernet(&f).2, Payload::NotIp { ethertype: 0x88a8 });
    }

    #[test]
    fn short_frames_are_link_truncated() {
        assert_eq!(parse_ethernet(&[0u8; 13]).2, Payload::LinkTruncated);
        let f = eth(EtherType::VLAN, None, &[0, 100]);
        assert_eq!(parse_ethernet(&f).2, Payload::LinkTruncated);
    }

    #[test]
    fn odd_ip_lengths_are_left_alone() {
        // Stated length larger than the buffer, or smaller than a header: not trimmed.
        let mut p = ipv4(40);
        p[2..4].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(trim_to_ip_length(&p).len(), 40);
        p[2..4].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(trim_to_ip_length(&p).len(), 40);
        assert_eq!(trim_to_ip_length(&[0x45, 0, 0]).len(), 3);
        let mut jumbo = vec![0u8; 60];
        jumbo[0] = 0x60;
        assert_eq!(trim_to_ip_length(&jumbo).len(), 60);
    }

    #[test]
    fn header_round_trips() {
        let mut v6 = vec![0u8; 40];
        v6[0] = 0x60;
        let addrs = EthAddrs { dst: DST, src: SRC };
        let mut out = Vec::new();
        push_ethernet_header(&mut out, addrs.swapped(), Some(7), &v6);
        assert_eq!(out.len(), 18);
        out.extend_from_slice(&v6);
        let (a, vlan, p) = parse_ethernet(&out);
        assert_eq!(a, Some(EthAddrs { dst: SRC, src: DST }));
        assert_eq!(vlan, Some(7));
        assert_eq!(p, Payload::Ip(&v6[..]));
        let mut out = Vec::new();
        push_ethernet_header(&mut out, addrs, None, &ipv4(20));
        assert_eq!(&out[12..], &EtherType::IPV4.to_be_bytes());
    }
}
