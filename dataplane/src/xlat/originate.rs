//! ICMP errors the translator originates itself (it is a router: RFC 7915 §4.1 TTL/hop limit, source route,
//! segments left; RFC 1191 / RFC 8201 packet too big).
//!
//! The error is built in place around the offending packet: the new IP and ICMP headers go into the headroom
//! in front of it and the packet becomes the quoted "original datagram", truncated to the family's limit
//! (576 bytes for ICMPv4, RFC 1812 §4.3.2.3; 1280 for ICMPv6, RFC 4443 §2.4(c)). Nothing is copied.

use super::icmp_map::{is_icmpv4_error, is_icmpv6_error};
use super::{Side, Verdict};
use crate::frame::Frame;
use crate::stats::DropReason;
use crate::tables::Tenant;
use crate::wire::{checksum, icmpv4_type, icmpv6_type, ip_proto, ipv6, Ipv4Packet, Ipv6Packet};

const ICMPV4_ERROR_MAX: usize = 576;
const ICMPV6_ERROR_MAX: usize = 1280;
const ERROR_TTL: u8 = 64;

/// ICMPv4 error for the IPv4 packet in `frame` (unmodified, already length-checked), or a plain drop when
/// RFC 1812 §4.3.2.7 forbids answering it or the tenant does not originate errors.
pub fn icmpv4_error(
    frame: &mut Frame,
    t: &Tenant,
    msg_type: u8,
    code: u8,
    rest: [u8; 4],
    reason: DropReason,
) -> Verdict {
    if !t.opts.icmp_errors || !may_answer_v4(frame.packet()) {
        return Verdict::Drop(reason);
    }
    let orig_src = Ipv4Packet::new_unchecked(frame.packet()).src_addr();
    let own = t.own_v4();
    const HDRS: usize = 20 + 8;
    if !frame.move_start(-(HDRS as isize)) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let len = frame.len().min(ICMPV4_ERROR_MAX);
    if !frame.set_len(len) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let pkt = frame.packet_mut();
    write_ipv4_header(pkt, len as u16, ip_proto::ICMP, own, orig_src);
    let icmp = &mut pkt[20..];
    icmp[0] = msg_type;
    icmp[1] = code;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..8].copy_from_slice(&rest);
    let c = checksum::finish(checksum::sum(icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Verdict::IcmpError(Side::V4, reason)
}

/// ICMPv6 error for the IPv6 packet in `frame` (unmodified, already length-checked), or a plain drop when
/// RFC 4443 §2.4(e) forbids answering it or the tenant does not originate errors.
pub fn icmpv6_error(
    frame: &mut Frame,
    t: &Tenant,
    msg_type: u8,
    code: u8,
    rest: u32,
    reason: DropReason,
) -> Verdict {
    if !t.opts.icmp_errors || !may_answer_v6(frame.packet()) {
        return Verdict::Drop(reason);
    }
    let orig_src = Ipv6Packet::new_unchecked(frame.packet()).src_addr();
    let own = t.own_v6();
    const HDRS: usize = 40 + 8;
    if !frame.move_start(-(HDRS as isize)) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let len = frame.len().min(ICMPV6_ERROR_MAX);
    if !frame.set_len(len) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let pkt = frame.packet_mut();
    write_ipv6_header(pkt, (len - 40) as u16, ip_proto::ICMPV6, own, orig_src);
    let (hdr, icmp) = pkt.split_at_mut(40);
    icmp[0] = msg_type;
    icmp[1] = code;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..8].copy_from_slice(&rest.to_be_bytes());
    let pseudo = checksum::sum_v6_pseudo(&own, &orig_src, ip_proto::ICMPV6, icmp.len() as u32);
    let c = checksum::finish(checksum::add(pseudo, checksum::sum(icmp)));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let _ = hdr;
    Verdict::IcmpError(Side::V6, reason)
}

/// RFC 1812 §4.3.2.7: no ICMP error about an ICMP error, a non-initial fragment, or a packet whose source
/// does not name a single host (unspecified, loopback, multicast, broadcast, class E) or whose destination is
/// multicast or broadcast.
fn may_answer_v4(pkt: &[u8]) -> bool {
    let ip = Ipv4Packet::new_unchecked(pkt);
    let src = ip.src_addr();
    let dst = ip.dst_addr();
    if src[0] == 0 || src[0] == 127 || src[0] >= 224 || dst[0] >= 224 {
        return false;
    }
    if ip.frag_offset() != 0 {
        return false;
    }
    if ip.protocol() == ip_proto::ICMP {
        match pkt.get(ip.header_len()) {
            Some(&t) if !is_icmpv4_error(t) => {}
            _ => return false,
        }
    }
    true
}

/// RFC 4443 §2.4(e): no ICMPv6 error about an ICMPv6 error, or about a packet whose source is unspecified or
/// multicast or whose destination is multicast (the exceptions for Packet Too Big and Parameter Problem code 2
/// to multicast do not arise in a translator: multicast is never translated).
fn may_answer_v6(pkt: &[u8]) -> bool {
    let ip = Ipv6Packet::new_unchecked(pkt);
    let src = ip.src_addr();
    if src == [0; 16] || src[0] == 0xff || ip.dst_addr()[0] == 0xff {
        return false;
    }
    match ipv6::parse_ext_headers(pkt) {
        Ok(ext) => {
            if ext.frag.is_some_and(|f| f.frag_offset != 0) {
                return false;
            }
            if ext.upper_proto == ip_proto::ICMPV6 {
                return matches!(pkt.get(ext.upper_offset), Some(&t) if !is_icmpv6_error(t));
            }
            true
        }
        Err(_) => false,
    }
}

/// Writes a 20-byte IPv4 header for a packet the translator originates (DF set: errors are small).
pub(crate) fn write_ipv4_header(
    pkt: &mut [u8],
    total_len: u16,
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
) {
    let h = &mut pkt[..20];
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h[4..6].copy_from_slice(&[0, 0]);
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    h[8] = ERROR_TTL;
    h[9] = proto;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let c = checksum::finish(checksum::sum(h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Writes a 40-byte IPv6 header for a packet the translator originates.
pub(crate) fn write_ipv6_header(
    pkt: &mut [u8],
    payload_len: u16,
    next: u8,
    src: [u8; 16],
    dst: [u8; 16],
) {
    let h = &mut pkt[..40];
    h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h[6] = next;
    h[7] = ERROR_TTL;
    h[8..24].copy_from_slice(&src);
    h[24..40].copy_from_slice(&dst);
}

/// ICMPv4 error types and codes the translator originates.
pub mod v4 {
    use super::icmpv4_type;
    pub const TIME_EXCEEDED: (u8, u8) = (icmpv4_type::TIME_EXCEEDED, 0);
    pub const FRAG_NEEDED: (u8, u8) = (icmpv4_type::DEST_UNREACH, 4);
    pub const SOURCE_ROUTE_FAILED: (u8, u8) = (icmpv4_type::DEST_UNREACH, 5);
}

/// ICMPv6 error types and codes the translator originates.
pub mod v6 {
    use super::icmpv6_type;
    pub const HOP_LIMIT_EXCEEDED: (u8, u8) = (icmpv6_type::TIME_EXCEEDED, 0);
    pub const PACKET_TOO_BIG: (u8, u8) = (icmpv6_type::PACKET_TOO_BIG, 0);
    pub const ERRONEOUS_HEADER: (u8, u8) = (icmpv6_type::PARAM_PROBLEM, 0);
}
