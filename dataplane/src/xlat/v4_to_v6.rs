//! IPv4 → IPv6 (RFC 7915 §4). The fast path (TCP, UDP, ICMP echo, other protocols) rewrites the IPv4 header
//! into an IPv6 header in place and adjusts the transport checksum incrementally; ICMP errors go to
//! [`super::icmp_error`].

use super::icmp_map::{self, IcmpTriage};
use super::{icmp_error, l4, originate, Side, Verdict};
use crate::frame::Frame;
use crate::stats::DropReason;
use crate::tables::{AddrError, Tenant};
use crate::wire::{checksum, icmpv4_type, icmpv6_type, ip_proto, ipv4, Ipv4Packet};

/// IANA protocol number of IGMP (RFC 3376).
const IGMP: u8 = 2;

/// The fields of an IPv4 header the translation needs, read before the header is overwritten.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V4Header {
    pub header_len: usize,
    pub total_len: usize,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

impl V4Header {
    /// From the fixed part of a header whose length fields the caller has read (and validated).
    #[inline(always)]
    fn from_bytes(b: &[u8; 20], header_len: usize, total_len: usize) -> Self {
        let flags_frag = u16::from_be_bytes([b[6], b[7]]);
        V4Header {
            header_len,
            total_len,
            tos: b[1],
            ident: u16::from_be_bytes([b[4], b[5]]),
            dont_frag: flags_frag & 0x4000 != 0,
            more_frags: flags_frag & 0x2000 != 0,
            // The 13-bit field counts 8-byte units.
            frag_offset: (flags_frag & 0x1fff) << 3,
            ttl: b[8],
            protocol: b[9],
            src: [b[12], b[13], b[14], b[15]],
            dst: [b[16], b[17], b[18], b[19]],
        }
    }

    pub fn read(ip: &Ipv4Packet<&[u8]>) -> Self {
        V4Header {
            header_len: ip.header_len(),
            total_len: usize::from(ip.total_len()),
            tos: ip.dscp_ecn(),
            ident: ip.ident(),
            dont_frag: ip.dont_frag(),
            more_frags: ip.more_frags(),
            frag_offset: ip.frag_offset(),
            ttl: ip.ttl(),
            protocol: ip.protocol(),
            src: ip.src_addr(),
            dst: ip.dst_addr(),
        }
    }

    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// IPv6 header length for this packet: 48 with a Fragment Header (RFC 7915 §4.1: fragments, and DF=0
    /// packets the translator splits), else 40.
    #[inline]
    pub fn ipv6_header_len(&self, with_frag: bool) -> usize {
        if with_frag {
            48
        } else {
            40
        }
    }
}

/// [`is_unicast_v4`] of an address held as an integer, as arithmetic rather than three branches: the first
/// octet minus one (wrapping 0 to the top) below 223, and not 127.
#[inline(always)]
pub(crate) fn unicast_u32(a: u32) -> bool {
    let first = a >> 24;
    (first.wrapping_sub(1) < 223) & (first != 127)
}

/// Parses and validates an IPv4 packet's header; trims link-layer padding beyond the total length.
///
/// The same checks, in the same order, as `Ipv4Packet::new_checked` and `verify_checksum`, but on a
/// fixed-size view of the first 20 bytes: one length check, then every field read without a bounds check,
/// and the common header without options checksummed as a constant-length array (unrolled, no loop).
/// Always inlined: returned through memory, the header costs more than the parsing.
#[inline(always)]
pub(crate) fn parse(frame: &mut Frame) -> Result<V4Header, DropReason> {
    let pkt = frame.packet();
    let len = pkt.len();
    let Some(b) = pkt.first_chunk::<20>() else {
        return Err(DropReason::Truncated);
    };
    let header_len = usize::from(b[0] & 0x0f) * 4;
    if b[0] >> 4 != 4 || header_len < 20 {
        return Err(DropReason::Ipv4HeaderInvalid);
    }
    if header_len > len {
        return Err(DropReason::Truncated);
    }
    let total_len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    if total_len < header_len {
        return Err(DropReason::Ipv4HeaderInvalid);
    }
    if total_len > len {
        return Err(DropReason::Truncated);
    }
    let checksum_ok = if header_len == 20 {
        checksum::fold(checksum::sum_ipv4_header(b)) == 0xffff
    } else {
        checksum::verify(&pkt[..header_len])
    };
    if !checksum_ok {
        return Err(DropReason::Ipv4ChecksumInvalid);
    }
    let h = V4Header::from_bytes(b, header_len, total_len);
    // RFC 791: the reassembled datagram may not exceed 65535 bytes.
    if usize::from(h.frag_offset) + (h.total_len - h.header_len) > 65535 {
        return Err(DropReason::FragmentInvalid);
    }
    if frame.len() > h.total_len && !frame.set_len(h.total_len) {
        return Err(DropReason::NoRoom);
    }
    Ok(h)
}

/// True for IPv4 addresses that may name one host on the far side: not "this network" (0/8), loopback
/// (127/8), multicast (224/4), reserved or limited broadcast (240/4). RFC 7915 translates unicast only.
#[inline]
pub(crate) fn is_unicast_v4(a: [u8; 4]) -> bool {
    a[0] != 0 && a[0] != 127 && a[0] < 224
}

#[inline]
pub(crate) fn map_addr(
    t: &Tenant,
    a: [u8; 4],
    untranslatable: DropReason,
) -> Result<[u8; 16], DropReason> {
    if !is_unicast_v4(a) {
        return Err(untranslatable);
    }
    t.map_v4_to_v6(a).map_err(|e| match e {
        AddrError::WkpNonGlobal => DropReason::WkpNonGlobal,
        AddrError::NoMapping => untranslatable,
    })
}

/// Writes the IPv6 header (and a Fragment Header when `with_frag`) for `h` into `out[..40 or 48]`.
/// `hop_limit` is passed in: outer packets are decremented, quoted ones are not.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn write_ipv6_header(
    out: &mut [u8],
    h: &V4Header,
    with_frag: bool,
    t: &Tenant,
    src: &[u8; 16],
    dst: &[u8; 16],
    payload_len: u16,
    hop_limit: u8,
) {
    let next = if h.protocol == ip_proto::ICMP {
        ip_proto::ICMPV6
    } else {
        h.protocol
    };
    // RFC 7915 §4.1: traffic class = TOS unless configured to zero; flow label 0.
    let tc = if t.opts.zeroize_traffic_class {
        0
    } else {
        h.tos
    };
    // Fixed-size views: one length check here instead of one per field.
    let (base, ext) = out
        .split_first_chunk_mut::<40>()
        .expect("the caller passes at least 40 bytes");
    base[0] = 0x60 | (tc >> 4);
    base[1] = tc << 4;
    base[2] = 0;
    base[3] = 0;
    base[4..6].copy_from_slice(&payload_len.to_be_bytes());
    base[7] = hop_limit;
    base[8..24].copy_from_slice(src);
    base[24..40].copy_from_slice(dst);
    if with_frag {
        base[6] = ip_proto::FRAGMENT;
        let frag = ext
            .first_chunk_mut::<8>()
            .expect("the caller passes 48 bytes with a Fragment Header");
        // RFC 7915 §4.1 Fragment Header: offset and M copied, identification = the IPv4 one, zero-extended.
        frag[0] = next;
        frag[1] = 0;
        let off_m = h.frag_offset | u16::from(h.more_frags);
        frag[2..4].copy_from_slice(&off_m.to_be_bytes());
        frag[4..8].copy_from_slice(&u32::from(h.ident).to_be_bytes());
    } else {
        base[6] = next;
    }
}

/// Translates the IPv4 packet in `frame` for tenant `t`. `rng` is a per-packet pseudo-random value (RFC 6791
/// address choice).
// Always inlined into the pipeline: as a call, passing the frame and returning the verdict through memory
// costs as much as a third of the fast path.
#[inline(always)]
pub fn translate(frame: &mut Frame, t: &Tenant, rng: u32) -> Verdict {
    match fast_path(frame, t) {
        Some(side) => Verdict::Forward(side),
        None => translate_with(frame, t, rng, Pass::Normal),
    }
}

/// The fast path, for the packets that make up nearly all traffic: IPv4 without options, not a fragment,
/// TTL above 1, UDP with a checksum, TCP or ICMP echo, fitting the IPv6 side unfragmented, both addresses
/// mapped, 20 bytes of headroom. It validates once on a fixed-size view of the header, keeps every field in
/// registers, and writes the IPv6 header and the checksum straight from them.
///
/// For any other packet it returns `None` *before touching the frame*, and [`translate_with`] does the whole
/// job, so the result is the same either way: the rules below are the general path's (RFC 7915 §4.1, §4.2
/// for echo, §4.5), restricted to this case; `tests::fast_path_matches_general_path` checks the two paths
/// give identical frames and verdicts on mutated packets.
#[inline(always)]
pub(crate) fn fast_path(frame: &mut Frame, t: &Tenant) -> Option<Side> {
    // One dispatch on the transport protocol, then a body specialised for it: the protocol's tests in the
    // validation, the header and the checksum update fold into constants (three dispatches became one).
    match frame.packet().get(9) {
        Some(&ip_proto::UDP) => fast_path_for::<{ ip_proto::UDP }>(frame, t),
        Some(&ip_proto::TCP) => fast_path_for::<{ ip_proto::TCP }>(frame, t),
        Some(&ip_proto::ICMP) => fast_path_for::<{ ip_proto::ICMP }>(frame, t),
        _ => None,
    }
}

/// [`fast_path`] for transport protocol `P`, which the caller has read from the packet.
#[inline(always)]
fn fast_path_for<const P: u8>(frame: &mut Frame, t: &Tenant) -> Option<Side> {
    // The IPv6 header will start 20 bytes in front of the packet (no headroom: general path). One slice from
    // there to the packet's end, split into a 40-byte view (headroom + IPv4 header) and the transport part:
    // one bounds check for the whole path, none per field.
    let region = frame.with_front_mut(20)?;
    let (hdr, rest) = region.split_first_chunk_mut::<40>()?;
    // The IPv4 header, read out before the IPv6 header overwrites it.
    let b: [u8; 20] = *hdr.last_chunk::<20>().expect("20 of 40 bytes");
    // Version 4, IHL 5 (no options), a valid header checksum, Total Length within the frame.
    if b[0] != 0x45 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let l4_len = total_len.checked_sub(20)?;
    if l4_len > rest.len() || !checksum::verify_ipv4_header(&b) {
        return None;
    }
    let flags_frag = u16::from_be_bytes([b[6], b[7]]);
    // MF or an offset: a fragment.
    if flags_frag & 0x3fff != 0 {
        return None;
    }
    let ttl = b[8];
    if ttl <= 1 {
        return None;
    }
    debug_assert_eq!(b[9], P);
    let proto = P;
    let seg = &mut rest[..l4_len];
    let fits = match proto {
        // RFC 7915 §4.5: UDP with checksum 0 is dropped or amended: the general path decides.
        ip_proto::UDP => l4_len >= 8 && (seg[6] | seg[7]) != 0,
        ip_proto::TCP => l4_len >= 20,
        ip_proto::ICMP => {
            l4_len >= 8 && matches!(seg[0], icmpv4_type::ECHO_REQUEST | icmpv4_type::ECHO_REPLY)
        }
        _ => false,
    };
    // DF=1 packets up to the IPv6 MTU pass whole; DF=0 ones above lowest_ipv6_mtu are split (general path).
    let dont_frag = flags_frag & 0x4000 != 0;
    let limit = if dont_frag {
        t.opts.ipv6_mtu
    } else {
        t.opts.ipv6_mtu.min(t.opts.lowest_ipv6_mtu)
    };
    if !fits || 40 + l4_len > usize::from(limit) {
        return None;
    }
    let tos = b[1];
    let src4 = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
    let dst4 = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    // `map_addr`: unicast only, then the tenant's mapping.
    if !(unicast_u32(src4) & unicast_u32(dst4)) {
        return None;
    }
    // With a /96 pool6 and no EAMT both addresses carry the prefix, and the pseudo-header's sum changes by a
    // per-tenant constant (`pseudo_delta`); otherwise the general mapping, and the sums are computed.
    let (src6, dst6, pseudo_delta) = match t.pool96() {
        Some(p) => (
            p.embed(src4)?,
            p.embed(dst4)?,
            Some(p.pseudo_delta_v4_to_v6()),
        ),
        None => (t.map_v4_to_v6_fast(src4)?, t.map_v4_to_v6_fast(dst4)?, None),
    };

    // Committed: the IPv6 header goes in front of the transport header.
    let tc = if t.opts.zeroize_traffic_class { 0 } else { tos };
    let next = if proto == ip_proto::ICMP {
        ip_proto::ICMPV6
    } else {
        proto
    };
    // Version, traffic class, flow label 0, payload length, next header, hop limit: one word, one store.
    let first = (6 << 60)
        | (u64::from(tc) << 52)
        | ((l4_len as u64) << 16)
        | (u64::from(next) << 8)
        | u64::from(ttl - 1);
    hdr[..8].copy_from_slice(&first.to_be_bytes());
    hdr[8..24].copy_from_slice(&src6.to_be_bytes());
    hdr[24..40].copy_from_slice(&dst6.to_be_bytes());

    // The same checksum arithmetic as the general path, on the values in registers.
    if proto == ip_proto::ICMP {
        let type6 = if seg[0] == icmpv4_type::ECHO_REQUEST {
            icmpv6_type::ECHO_REQUEST
        } else {
            icmpv6_type::ECHO_REPLY
        };
        let pseudo = checksum::sum_u128(src6)
            + checksum::sum_u128(dst6)
            + l4_len as u32
            + u32::from(ip_proto::ICMPV6);
        l4::retype_icmp(seg, type6, 0, pseudo);
    } else if let Some(delta) = pseudo_delta {
        // `adjust_by` equals the general `adjust`: the new addresses (unicast IPv4 inside) sum to nonzero.
        // The protocol is UDP or TCP here (ICMP took the branch above), with its whole header in `seg`.
        if proto == ip_proto::UDP {
            l4::shift_pseudo_sum_known::<true>(seg, delta);
        } else {
            l4::shift_pseudo_sum_known::<false>(seg, delta);
        }
    } else {
        let removed = checksum::add(
            checksum::sum_addr_v4(&src4.to_be_bytes()),
            checksum::sum_addr_v4(&dst4.to_be_bytes()),
        );
        let added = checksum::add(checksum::sum_u128(src6), checksum::sum_u128(dst6));
        l4::swap_pseudo_addrs(seg, proto, removed, added);
    }
    // The packet now starts at the IPv6 header and ends at Total Length (link-layer padding trimmed).
    // SAFETY: the region checked above starts 20 bytes in front of the packet, and total_len = 20 + l4_len
    // <= 20 + rest.len() = the packet's length.
    unsafe { frame.set_bounds_unchecked(-20, total_len) };
    Some(Side::V6)
}

/// [`translate`] without trying the fast path first: for callers that know it declined (the result is the
/// same either way).
pub(crate) fn translate_general(frame: &mut Frame, t: &Tenant, rng: u32) -> Verdict {
    translate_with(frame, t, rng, Pass::Normal)
}

/// The second pass of a hairpinned packet (RFC 7757 §4): an IPv6 packet just translated to IPv4 whose
/// destination is an EAM address. Its source is translated back with pool6 only, never through the EAMT, so
/// that the far end answers to the address the packet was sent to the translator with, and the answer
/// hairpins too. With `router_hop` (simple mode) the second pass decrements the TTL like any router; without
/// (intrinsic mode) the packet crossed the translator once and keeps it.
pub fn translate_hairpin(frame: &mut Frame, t: &Tenant, rng: u32, router_hop: bool) -> Verdict {
    translate_with(
        frame,
        t,
        rng,
        if router_hop {
            Pass::HairpinHop
        } else {
            Pass::HairpinIntrinsic
        },
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Normal,
    HairpinHop,
    HairpinIntrinsic,
}

/// The general path: every packet [`fast_path`] leaves, and the second pass of hairpinned ones. Out of line,
/// so that the fast path inlined into the pipeline stays small.
#[inline(never)]
fn translate_with(frame: &mut Frame, t: &Tenant, rng: u32, pass: Pass) -> Verdict {
    let hairpin = pass != Pass::Normal;
    let h = match parse(frame) {
        Ok(h) => h,
        Err(r) => return Verdict::Drop(r),
    };
    let first = h.frag_offset == 0;
    let l4_len = h.total_len - h.header_len;

    // ICMP: errors take the slow path; echo is translated here; other types have no counterpart.
    let mut icmp_echo = None;
    if h.protocol == ip_proto::ICMP {
        let icmp = &frame.packet()[h.header_len..];
        let is_err = icmp_map::is_icmpv4_error;
        let map = |ty, code| icmp_map::v4_to_v6(ty, code, 0);
        match icmp_map::triage(icmp, first, h.is_fragment(), is_err, map) {
            Ok(IcmpTriage::Error) => return icmp_error::v4_to_v6(frame, t, rng),
            Ok(IcmpTriage::Echo(type6)) => icmp_echo = Some(type6),
            Err(r) => return Verdict::Drop(r),
        }
    } else if h.protocol == IGMP {
        // RFC 7915 §4.2: IGMP messages are single-hop.
        return Verdict::Drop(DropReason::SingleHop);
    }

    // Addresses before anything that may answer with an error, so the translator never answers for packets
    // that are not its business.
    let src6 = if hairpin {
        t.map_v4_to_v6_pool6(h.src)
            .map_err(|_| DropReason::SrcUntranslatable)
    } else {
        map_addr(t, h.src, DropReason::SrcUntranslatable)
    };
    let src6 = match src6 {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    let dst6 = match map_addr(t, h.dst, DropReason::DstUntranslatable) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };

    // RFC 7915 §4.1 Hop Limit: the translator is a router.
    let decrement = pass != Pass::HairpinIntrinsic;
    if decrement && h.ttl <= 1 {
        let (ty, code) = originate::v4::TIME_EXCEEDED;
        return originate::icmpv4_error(frame, t, ty, code, [0; 4], DropReason::TtlExpired);
    }
    // RFC 7915 §4.1: an unexpired source route option is not translated.
    if h.header_len > 20 && ipv4::source_route_unexpired(&frame.packet()[20..h.header_len]) {
        let (ty, code) = originate::v4::SOURCE_ROUTE_FAILED;
        return originate::icmpv4_error(frame, t, ty, code, [0; 4], DropReason::Ipv4SourceRoute);
    }

    // Transport header checks on the first fragment.
    if first {
        match h.protocol {
            ip_proto::TCP if l4_len < 20 => return Verdict::Drop(DropReason::L4HeaderTruncated),
            ip_proto::UDP => {
                if l4_len < 8 {
                    return Verdict::Drop(DropReason::L4HeaderTruncated);
                }
                let udp = &frame.packet()[h.header_len..];
                if udp[6] == 0 && udp[7] == 0 {
                    // RFC 7915 §4.5: a stateless translator cannot compute the checksum of a fragmented packet.
                    if h.is_fragment() || !t.opts.amend_udp_checksum_zero {
                        return Verdict::Drop(DropReason::UdpChecksumZero);
                    }
                }
            }
            _ => {}
        }
    }

    // Size: DF=1 packets that do not fit the IPv6 side are refused with Fragmentation Needed; DF=0 packets
    // larger than lowest_ipv6_mtu are split (RFC 7915 §4: "SHOULD be fragmented ... ≤ 1280 bytes").
    let mut with_frag = h.is_fragment();
    let mtu6 = usize::from(t.opts.ipv6_mtu);
    let mut split_mtu = None;
    if !h.dont_frag {
        let limit = mtu6.min(usize::from(t.opts.lowest_ipv6_mtu));
        if h.ipv6_header_len(with_frag) + l4_len > limit {
            split_mtu = Some(limit as u16);
            with_frag = true;
        }
    }
    let hdr6 = h.ipv6_header_len(with_frag);
    let len6 = hdr6 + l4_len;
    if h.dont_frag && len6 > mtu6 {
        let mtu = mtu6.saturating_sub(hdr6 - 20) as u16;
        let (ty, code) = originate::v4::FRAG_NEEDED;
        let rest = [0, 0, (mtu >> 8) as u8, mtu as u8];
        return originate::icmpv4_error(frame, t, ty, code, rest, DropReason::PacketTooBig);
    }

    // Rewrite: the IPv6 header ends where the IPv4 header ended; the transport header and payload stay put.
    let delta = h.header_len as isize - hdr6 as isize;
    if !frame.move_start(delta) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let hop_limit = if decrement { h.ttl - 1 } else { h.ttl };
    let pkt = frame.packet_mut();
    let (hdr, seg) = pkt.split_at_mut(hdr6);
    write_ipv6_header(
        hdr,
        &h,
        with_frag,
        t,
        &src6,
        &dst6,
        (len6 - 40) as u16,
        hop_limit,
    );

    if first {
        if let Some(type6) = icmp_echo {
            // ICMPv6 adds a pseudo-header and a new type to the checksum (RFC 7915 §4.2).
            let pseudo = checksum::sum_v6_pseudo(&src6, &dst6, ip_proto::ICMPV6, l4_len as u32);
            l4::retype_icmp(seg, type6, 0, pseudo);
        } else if h.protocol == ip_proto::UDP && seg[6] == 0 && seg[7] == 0 {
            // amend_udp_checksum_zero, unfragmented (checked above): compute it whole.
            let pseudo = checksum::sum_v6_pseudo(&src6, &dst6, ip_proto::UDP, l4_len as u32);
            let mut c = checksum::finish(checksum::add(pseudo, checksum::sum(seg)));
            if c == 0 {
                c = 0xffff;
            }
            seg[6..8].copy_from_slice(&c.to_be_bytes());
        } else {
            let removed =
                checksum::add(checksum::sum_addr_v4(&h.src), checksum::sum_addr_v4(&h.dst));
            let added = checksum::add(checksum::sum_addr_v6(&src6), checksum::sum_addr_v6(&dst6));
            l4::swap_pseudo_addrs(seg, h.protocol, removed, added);
        }
    }
    match split_mtu {
        Some(mtu) => Verdict::Fragment { mtu },
        None => Verdict::Forward(Side::V6),
    }
}

/// The fast path against the general path: on packets built to reach every one of the fast path's checks
/// (and to fail each of them), under configurations that take both the fast and the general address mapping,
/// the fast path either declines without touching the frame or produces exactly the general path's frame
/// and verdict.
#[cfg(test)]
pub(crate) mod fast_path_tests {
    use super::*;
    use crate::frame::{Frame, HEADROOM};
    use crate::tables::Snapshot;
    use mgmt_api::config::Config;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// Tenants covering the fast path's branches: a /96 pool6 (fast mapping), the Well-Known Prefix with and
    /// without the RFC 6052 §3.1 restriction, a /64 pool6 with an EAMT (general mapping), and options that
    /// change the header (traffic class, TOS, MTUs, UDP checksum zero).
    pub(crate) fn snapshots() -> Vec<Snapshot> {
        let configs = [
            r#"[[tenants]]
               name = "a"
               id = 1
               pool6 = "2001:db8:64::/96""#,
            r#"[[tenants]]
               name = "b"
               id = 1
               pool6 = "64:ff9b::/96"
               [tenants.options]
               ipv4_mtu = 576"#,
            r#"[[tenants]]
               name = "c"
               id = 1
               pool6 = "2001:db8:64::/64"
               [[tenants.eamt]]
               ipv4 = "192.0.2.0/28"
               ipv6 = "2001:db8:1::/124"
               [tenants.options]
               zeroize_traffic_class = true
               ipv6_mtu = 1280
               ipv4_mtu = 1000"#,
            r#"[[tenants]]
               name = "d"
               id = 1
               pool6 = "64:ff9b::/96"
               [tenants.options]
               allow_wkp_non_global = true
               override_tos = true
               tos = 40
               amend_udp_checksum_zero = true
               lowest_ipv6_mtu = 1400
               ipv6_mtu = 1400"#,
        ];
        configs
            .iter()
            .map(|c| Snapshot::compile(&Config::from_toml_str(c).unwrap()).unwrap())
            .collect()
    }

    /// Addresses on both sides of each test tenant, mappable or not, unicast or not.
    pub(crate) const V4_ADDRS: [[u8; 4]; 9] = [
        [192, 0, 2, 5],
        [198, 51, 100, 7],
        [8, 8, 8, 8],
        [10, 0, 0, 1],
        [0, 1, 2, 3],
        [127, 0, 0, 1],
        [224, 0, 0, 5],
        [255, 255, 255, 255],
        [203, 0, 113, 9],
    ];

    fn naive_sum(data: &[u8]) -> u16 {
        let mut s: u32 = data
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[derive(Debug, Clone)]
    pub(crate) struct Input {
        pub(crate) bytes: Vec<u8>,
        pub(crate) headroom: usize,
        pub(crate) tenant: usize,
        pub(crate) rng: u32,
    }

    /// An IPv4 packet: mostly well-formed (so that most reach the end of the fast path), with every field the
    /// fast path looks at sometimes off.
    fn input() -> impl Strategy<Value = Input> {
        (
            (
                prop_oneof![9 => Just(0x45u8), 1 => any::<u8>()],
                any::<u8>(),
                prop_oneof![6 => Just(0x4000u16), 3 => Just(0), 1 => any::<u16>()],
                prop_oneof![9 => Just(64u8), 1 => Just(0), 1 => Just(1), 1 => Just(2), 1 => any::<u8>()],
                prop_oneof![4 => Just(17u8), 3 => Just(6), 3 => Just(1), 1 => Just(2), 1 => any::<u8>()],
                // Mostly unicast addresses that every test tenant maps.
                prop_oneof![9 => Just(2usize), 1 => 0..V4_ADDRS.len()],
                prop_oneof![9 => Just(2usize), 1 => 0..V4_ADDRS.len()],
            ),
            (
                prop_oneof![
                    8 => 20usize..64,
                    1 => 0usize..20,
                    1 => 1200usize..1500,
                    // Around each test tenant's MTU and fragmentation limits.
                    2 => prop::sample::select(&[1239usize, 1240, 1241, 1359, 1360, 1361, 1459, 1460, 1461][..]),
                ],
                prop_oneof![9 => Just(0i32), 1 => -30i32..30],
                prop_oneof![3 => Just(0usize), 1 => 0usize..20],
                prop_oneof![19 => Just(true), 1 => Just(false)],
                prop_oneof![4 => Just(8u8), 4 => Just(0), 1 => Just(3), 1 => any::<u8>()],
                any::<[u8; 8]>(),
                prop_oneof![9 => Just(HEADROOM), 1 => 0usize..30],
                (0usize..4, any::<u32>(), prop::bool::weighted(0.1)),
            ),
        )
            .prop_map(
                |(
                    (ver_ihl, tos, flags, ttl, proto, src, dst),
                    (
                        l4_len,
                        len_skew,
                        padding,
                        fix_checksum,
                        icmp_type,
                        l4_start,
                        headroom,
                        (tenant, rng, zero_udp_checksum),
                    ),
                )| {
                    let mut p = vec![0u8; 20 + l4_len];
                    p[0] = ver_ihl;
                    p[1] = tos;
                    let total = (20 + l4_len as i32 + len_skew).clamp(0, 65535) as u16;
                    p[2..4].copy_from_slice(&total.to_be_bytes());
                    p[4..6].copy_from_slice(&[0x12, 0x34]);
                    p[6..8].copy_from_slice(&flags.to_be_bytes());
                    p[8] = ttl;
                    p[9] = proto;
                    p[12..16].copy_from_slice(&V4_ADDRS[src]);
                    p[16..20].copy_from_slice(&V4_ADDRS[dst]);
                    let n = l4_len.min(8);
                    p[20..20 + n].copy_from_slice(&l4_start[..n]);
                    if proto == 1 && l4_len > 0 {
                        p[20] = icmp_type;
                    }
                    if zero_udp_checksum && l4_len >= 8 {
                        p[26..28].fill(0);
                    }
                    if fix_checksum {
                        let c = !naive_sum(&p[..20]);
                        p[10..12].copy_from_slice(&c.to_be_bytes());
                    }
                    p.extend(std::iter::repeat_n(0xee, padding));
                    Input {
                        bytes: p,
                        headroom,
                        tenant,
                        rng,
                    }
                },
            )
    }

    /// Runs `fast` and `general` on two copies of the input's frame; checks they agree.
    pub(crate) fn compare(
        input: &Input,
        fast: impl Fn(&mut Frame, &Tenant, u32) -> Option<Side>,
        general: impl Fn(&mut Frame, &Tenant, u32) -> Verdict,
    ) -> Result<bool, TestCaseError> {
        let snaps = snapshots();
        let t = snaps[input.tenant].tenant(0);
        let size = input.headroom + input.bytes.len() + 64;
        let (mut b1, mut b2) = (vec![0u8; size], vec![0u8; size]);
        let end = input.headroom + input.bytes.len();
        b1[input.headroom..end].copy_from_slice(&input.bytes);
        b2[input.headroom..end].copy_from_slice(&input.bytes);
        let mut f1 = Frame::new(&mut b1, input.headroom, end);
        let mut f2 = Frame::new(&mut b2, input.headroom, end);
        match fast(&mut f1, t, input.rng) {
            None => {
                prop_assert_eq!((f1.start(), f1.len()), (input.headroom, input.bytes.len()));
                prop_assert_eq!(f1.packet(), &input.bytes[..]);
                Ok(false)
            }
            Some(side) => {
                let g = general(&mut f2, t, input.rng);
                prop_assert_eq!(Verdict::Forward(side), g);
                prop_assert_eq!((f1.start(), f1.len()), (f2.start(), f2.len()));
                prop_assert_eq!(f1.buffer(), f2.buffer());
                Ok(true)
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn fast_path_matches_general_path(input in input()) {
            compare(&input, |f, t, _| fast_path(f, t), |f, t, rng| {
                translate_with(f, t, rng, Pass::Normal)
            })?;
        }
    }

    #[test]
    fn unicast_u32_is_is_unicast_v4() {
        for first in 0..=255u8 {
            let a = [first, 2, 3, 4];
            assert_eq!(
                unicast_u32(u32::from_be_bytes(a)),
                is_unicast_v4(a),
                "{first}"
            );
        }
    }

    /// The generator reaches the end of the fast path often (and not only there).
    #[test]
    fn generator_takes_the_fast_path() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut fast, mut total) = (0, 0);
        for _ in 0..2000 {
            let i = input().new_tree(&mut runner).unwrap().current();
            total += 1;
            fast += usize::from(
                compare(
                    &i,
                    |f, t, _| fast_path(f, t),
                    |f, t, rng| translate_with(f, t, rng, Pass::Normal),
                )
                .unwrap(),
            );
        }
        assert!(fast * 10 > total, "{fast} of {total} on the fast path");
        assert!(fast * 10 < total * 9, "{fast} of {total} on the fast path");
    }
}
