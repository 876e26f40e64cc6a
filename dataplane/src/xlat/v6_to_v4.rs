//! IPv6 → IPv4 (RFC 7915 §5). The fast path rewrites the IPv6 header (and any extension headers) into a
//! 20-byte IPv4 header in place, ending where the IPv6 headers ended, and adjusts the transport checksum
//! incrementally; ICMPv6 errors go to [`super::icmp_error`].

use super::icmp_map::{self, IcmpTriage};
use super::v4_to_v6::unicast_u32;
use super::{icmp_error, l4, originate, Side, Verdict};
use crate::frame::Frame;
use crate::stats::DropReason;
use crate::tables::{AddrError, Tenant};
use crate::wire::{self, checksum, icmpv4_type, icmpv6_type, ip_proto, ipv6, Ipv6Packet};

/// The fields of an IPv6 packet (header and extension headers) the translation needs, read before the header
/// is overwritten.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V6Header {
    pub traffic_class: u8,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// Upper-layer protocol after hop-by-hop, routing, fragment and destination options headers.
    pub protocol: u8,
    /// Offset of the upper-layer header (= length of all IPv6 headers).
    pub upper_offset: usize,
    /// Length of the whole IPv6 packet (40 + payload length).
    pub total_len: usize,
    pub frag: Option<ipv6::FragInfo>,
    pub routing: Option<ipv6::RoutingInfo>,
}

impl V6Header {
    /// The upper-layer header is in this packet (not a non-first fragment).
    #[inline]
    pub fn first(&self) -> bool {
        self.frag.is_none_or(|f| f.frag_offset == 0)
    }

    /// Part of a fragmented packet (an atomic fragment, offset 0 without M, is whole).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.frag.is_some_and(|f| f.frag_offset != 0 || f.more)
    }

    /// Length of the upper-layer part (transport header and payload) in this packet.
    #[inline]
    pub fn upper_len(&self) -> usize {
        self.total_len - self.upper_offset
    }
}

/// Reads an IPv6 packet's headers from `pkt`, which may be truncated when `quoted` (an ICMP error's inner
/// packet); the extension headers must be whole in any case.
pub(crate) fn read(pkt: &[u8], quoted: bool) -> Result<V6Header, DropReason> {
    if pkt.len() < 40 || pkt[0] >> 4 != 6 {
        return Err(if pkt.len() < 40 {
            DropReason::Truncated
        } else {
            DropReason::Ipv6HeaderInvalid
        });
    }
    let ip = Ipv6Packet::new_unchecked(pkt);
    let total_len = 40 + usize::from(ip.payload_len());
    if !quoted && total_len > pkt.len() {
        return Err(DropReason::Truncated);
    }
    let walk_len = total_len.min(pkt.len());
    let ext =
        ipv6::parse_ext_headers(&pkt[..walk_len]).map_err(|_| DropReason::Ipv6ExtHeaderInvalid)?;
    if ext.upper_offset > total_len {
        return Err(DropReason::Ipv6ExtHeaderInvalid);
    }
    Ok(V6Header {
        traffic_class: ip.traffic_class(),
        hop_limit: ip.hop_limit(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        protocol: ext.upper_proto,
        upper_offset: ext.upper_offset,
        total_len,
        frag: ext.frag,
        routing: ext.routing,
    })
}

/// Parses and validates an IPv6 packet; trims link-layer padding beyond its length.
pub(crate) fn parse(frame: &mut Frame) -> Result<V6Header, DropReason> {
    let h = match Ipv6Packet::new_checked(frame.packet()) {
        Ok(_) => read(frame.packet(), false)?,
        Err(wire::Error::Truncated) => return Err(DropReason::Truncated),
        Err(wire::Error::Malformed) => return Err(DropReason::Ipv6HeaderInvalid),
    };
    // RFC 8200 §4.5: a fragment reaching past 64 KiB cannot be reassembled (nor expressed as IPv4 offsets:
    // splitting it would overflow them).
    if h.frag
        .is_some_and(|f| usize::from(f.frag_offset) + h.upper_len() > 65535)
    {
        return Err(DropReason::FragmentInvalid);
    }
    if frame.len() > h.total_len && !frame.set_len(h.total_len) {
        return Err(DropReason::NoRoom);
    }
    Ok(h)
}

#[inline]
pub(crate) fn map_addr(
    t: &Tenant,
    a: &[u8; 16],
    untranslatable: DropReason,
) -> Result<[u8; 4], DropReason> {
    match t.map_v6_to_v4(a) {
        Ok(v4) if super::v4_to_v6::is_unicast_v4(v4) => Ok(v4),
        Ok(_) => Err(untranslatable),
        Err(AddrError::WkpNonGlobal) => Err(DropReason::WkpNonGlobal),
        Err(AddrError::NoMapping) => Err(untranslatable),
    }
}

/// How the IPv4 header's fragment fields are set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V4Frag {
    pub ident: u16,
    pub dont_frag: bool,
    pub more: bool,
    pub offset: u16,
}

/// RFC 7915 §5.1: translated packets up to this size leave with DF clear (an IPv6 path of MTU 1280 could not
/// have asked for less), larger ones with DF set.
pub(crate) const DF_THRESHOLD: usize = 1260;

impl V4Frag {
    /// RFC 7915 §5.1 / §5.1.1. With a Fragment Header: DF clear, identification's low 16 bits, M and offset
    /// copied. Without: above [`DF_THRESHOLD`] bytes DF set and identification 0 (RFC 6864 §4.1: an atomic
    /// datagram's identification is meaningless); at or below it DF clear and `ident` from the translator's
    /// generator, since such packets may be fragmented on the IPv4 side (RFC 6864 §4.2).
    pub fn of(h: &V6Header, total_len4: usize, ident: u16) -> Self {
        match h.frag {
            Some(f) => V4Frag {
                ident: f.ident as u16,
                dont_frag: false,
                more: f.more,
                offset: f.frag_offset,
            },
            None if total_len4 > DF_THRESHOLD => V4Frag {
                ident: 0,
                dont_frag: true,
                more: false,
                offset: 0,
            },
            None => V4Frag {
                ident,
                dont_frag: false,
                more: false,
                offset: 0,
            },
        }
    }
}

/// Writes a 20-byte IPv4 header (with checksum) for `h` into `out[..20]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_ipv4_header(
    out: &mut [u8],
    h: &V6Header,
    t: &Tenant,
    src: [u8; 4],
    dst: [u8; 4],
    total_len: u16,
    ttl: u8,
    frag: V4Frag,
) {
    let protocol = if h.protocol == ip_proto::ICMPV6 {
        ip_proto::ICMP
    } else {
        h.protocol
    };
    // RFC 7915 §5.1: TOS = traffic class unless overridden.
    let tos = if t.opts.override_tos {
        t.opts.tos
    } else {
        h.traffic_class
    };
    let flags =
        (u16::from(frag.dont_frag) << 14) | (u16::from(frag.more) << 13) | (frag.offset >> 3);
    let hdr = &mut out[..20];
    hdr[0] = 0x45;
    hdr[1] = tos;
    hdr[2..4].copy_from_slice(&total_len.to_be_bytes());
    hdr[4..6].copy_from_slice(&frag.ident.to_be_bytes());
    hdr[6..8].copy_from_slice(&flags.to_be_bytes());
    hdr[8] = ttl;
    hdr[9] = protocol;
    hdr[10..12].copy_from_slice(&[0, 0]);
    hdr[12..16].copy_from_slice(&src);
    hdr[16..20].copy_from_slice(&dst);
    let c = checksum::finish(checksum::sum(hdr));
    hdr[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Translates the IPv6 packet in `frame` for tenant `t`. `rng` is a per-packet pseudo-random value (IPv4
/// identification of packets the translator has to fragment, RFC 6791 address choice).
// Always inlined into the pipeline: as a call, passing the frame and returning the verdict through memory
// costs as much as a third of the fast path.
#[inline(always)]
pub fn translate(frame: &mut Frame, t: &Tenant, rng: u32) -> Verdict {
    match fast_path(frame, t, rng) {
        Some(side) => Verdict::Forward(side),
        None => translate_general(frame, t, rng),
    }
}

/// The fast path, for the packets that make up nearly all traffic: IPv6 without extension headers, hop
/// limit above 1, UDP with a checksum, TCP or ICMPv6 echo, fitting the IPv4 MTU, both addresses mapped.
/// It validates once on a fixed-size view of the header, keeps every field in registers, and writes the
/// IPv4 header (its checksum summed from those registers, not re-read from memory) and the transport
/// checksum straight from them.
///
/// For any other packet it returns `None` *before touching the frame*, and [`translate_general`] does the
/// whole job, so the result is the same either way: the rules below are the general path's (RFC 7915 §5.1,
/// §5.2 for echo, §5.5), restricted to this case; `tests::fast_path_matches_general_path` checks the two
/// paths give identical frames and verdicts on mutated packets.
#[inline(always)]
pub(crate) fn fast_path(frame: &mut Frame, t: &Tenant, rng: u32) -> Option<Side> {
    // One dispatch on the transport protocol, then a body specialised for it: the protocol's tests in the
    // validation, the header and the checksum update fold into constants (three dispatches became one).
    match frame.packet().get(6) {
        Some(&ip_proto::UDP) => fast_path_for::<{ ip_proto::UDP }>(frame, t, rng),
        Some(&ip_proto::TCP) => fast_path_for::<{ ip_proto::TCP }>(frame, t, rng),
        Some(&ip_proto::ICMPV6) => fast_path_for::<{ ip_proto::ICMPV6 }>(frame, t, rng),
        _ => None,
    }
}

/// [`fast_path`] for transport protocol `P`, which the caller has read from the packet.
#[inline(always)]
fn fast_path_for<const P: u8>(frame: &mut Frame, t: &Tenant, rng: u32) -> Option<Side> {
    // The packet as one slice split into a 40-byte view and the rest: one bounds check for the whole path.
    let pkt = frame.packet_mut();
    let (hdr, rest) = pkt.split_first_chunk_mut::<40>()?;
    let b: &[u8; 40] = hdr;
    if b[0] >> 4 != 6 {
        return None;
    }
    let l4_len = usize::from(u16::from_be_bytes([b[4], b[5]]));
    if l4_len > rest.len() {
        return None;
    }
    debug_assert_eq!(b[6], P);
    let next = P;
    let hop_limit = b[7];
    if hop_limit <= 1 {
        return None;
    }
    // The next header is the transport header: no extension headers to walk.
    let seg = &mut rest[..l4_len];
    let fits = match next {
        // RFC 8200 §8.1: UDP without a checksum is dropped (general path).
        ip_proto::UDP => l4_len >= 8 && (seg[6] | seg[7]) != 0,
        ip_proto::TCP => l4_len >= 20,
        ip_proto::ICMPV6 => {
            l4_len >= 8 && matches!(seg[0], icmpv6_type::ECHO_REQUEST | icmpv6_type::ECHO_REPLY)
        }
        _ => false,
    };
    // Larger than the IPv4 MTU: Packet Too Big or fragments (general path).
    let len4 = 20 + l4_len;
    if !fits || len4 > usize::from(t.opts.ipv4_mtu) {
        return None;
    }
    let traffic_class = (b[0] << 4) | (b[1] >> 4);
    let src6 = u128::from_be_bytes(b[8..24].try_into().expect("16 bytes"));
    let dst6 = u128::from_be_bytes(b[24..40].try_into().expect("16 bytes"));
    // `map_addr`: the tenant's mapping, then unicast only.
    // With a /96 pool6 and no EAMT both addresses carry the prefix, and the pseudo-header's sum changes by a
    // per-tenant constant (`pseudo_delta`); otherwise the general mapping, and the sums are computed.
    let (src4, dst4, pseudo_delta) = match t.pool96() {
        Some(p) => {
            let (s, d) = p.extract_pair(src6, dst6)?;
            (s, d, Some(p.pseudo_delta_v6_to_v4()))
        }
        None => (t.map_v6_to_v4_fast(src6)?, t.map_v6_to_v4_fast(dst6)?, None),
    };
    if !(unicast_u32(src4) & unicast_u32(dst4)) {
        return None;
    }

    // Committed.
    let protocol = if next == ip_proto::ICMPV6 {
        ip_proto::ICMP
    } else {
        next
    };
    // RFC 7915 §5.1: TOS = traffic class unless overridden. No Fragment Header: `V4Frag::of`, DF set and
    // identification 0 above DF_THRESHOLD, else DF clear and a generated identification.
    let tos = if t.opts.override_tos {
        t.opts.tos
    } else {
        traffic_class
    };
    let (ident, flags) = if len4 > DF_THRESHOLD {
        (0, 0x4000u64)
    } else {
        (rng as u16, 0)
    };
    let ttl = hop_limit - 1;
    // The header as three big-endian words, its checksum summed from them in registers (the same sum as
    // `write_ipv4_header`'s over the bytes) and stored with three moves.
    let w0 = (0x45 << 56)
        | (u64::from(tos) << 48)
        | ((len4 as u64) << 32)
        | (u64::from(ident) << 16)
        | flags;
    let w1 = (u64::from(ttl) << 56) | (u64::from(protocol) << 48) | u64::from(src4);
    let c = checksum::finish(checksum::sum_ipv4_header_words(w0, w1, dst4));
    let w1 = w1 | (u64::from(c) << 32);
    // The IPv4 header ends where the IPv6 header ended: its last 20 bytes.
    let hdr4 = hdr.last_chunk_mut::<20>().expect("20 of 40 bytes");
    hdr4[..8].copy_from_slice(&w0.to_be_bytes());
    hdr4[8..16].copy_from_slice(&w1.to_be_bytes());
    hdr4[16..20].copy_from_slice(&dst4.to_be_bytes());

    // The same checksum arithmetic as the general path, on the values in registers.
    if next == ip_proto::ICMPV6 {
        let type4 = if seg[0] == icmpv6_type::ECHO_REQUEST {
            icmpv4_type::ECHO_REQUEST
        } else {
            icmpv4_type::ECHO_REPLY
        };
        let pseudo = checksum::sum_u128(src6)
            + checksum::sum_u128(dst6)
            + l4_len as u32
            + u32::from(ip_proto::ICMPV6);
        l4::retype_icmp(seg, type4, pseudo, 0);
    } else if let Some(delta) = pseudo_delta {
        // `adjust_by` equals the general `adjust`: the new addresses are unicast, so they sum to nonzero.
        // The protocol is UDP or TCP here (ICMP took the branch above), with its whole header in `seg`.
        if next == ip_proto::UDP {
            l4::shift_pseudo_sum_known::<true>(seg, delta);
        } else {
            l4::shift_pseudo_sum_known::<false>(seg, delta);
        }
    } else {
        let removed = checksum::add(checksum::sum_u128(src6), checksum::sum_u128(dst6));
        let added = checksum::add(
            checksum::sum_addr_v4(&src4.to_be_bytes()),
            checksum::sum_addr_v4(&dst4.to_be_bytes()),
        );
        l4::swap_pseudo_addrs(seg, next, removed, added);
    }
    // The packet now starts at the IPv4 header and ends at the payload length (link-layer padding trimmed).
    // SAFETY: 20 <= 40 + l4_len, and l4_len <= rest.len() = packet length - 40: both bounds lie inside the
    // packet.
    unsafe { frame.set_bounds_unchecked(20, 40 + l4_len) };
    Some(Side::V4)
}

/// The general path: every packet [`fast_path`] leaves. Out of line, so that the fast path inlined into the
/// pipeline stays small.
#[inline(never)]
pub(crate) fn translate_general(frame: &mut Frame, t: &Tenant, rng: u32) -> Verdict {
    let h = match parse(frame) {
        Ok(h) => h,
        Err(r) => return Verdict::Drop(r),
    };
    let first = h.first();
    let l4_len = h.upper_len();

    let mut icmp_echo = None;
    if h.protocol == ip_proto::ICMPV6 {
        let icmp = &frame.packet()[h.upper_offset..];
        let is_err = icmp_map::is_icmpv6_error;
        let map = |ty, code| icmp_map::v6_to_v4(ty, code, 0);
        match icmp_map::triage(icmp, first, h.is_fragment(), is_err, map) {
            Ok(IcmpTriage::Error) => return icmp_error::v6_to_v4(frame, t, rng),
            Ok(IcmpTriage::Echo(type4)) => icmp_echo = Some(type4),
            Err(r) => return Verdict::Drop(r),
        }
    }

    let src4 = match map_addr(t, &h.src, DropReason::SrcUntranslatable) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    let dst4 = match map_addr(t, &h.dst, DropReason::DstUntranslatable) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };

    if h.hop_limit <= 1 {
        let (ty, code) = originate::v6::HOP_LIMIT_EXCEEDED;
        return originate::icmpv6_error(frame, t, ty, code, 0, DropReason::TtlExpired);
    }
    // RFC 7915 §5.1: a routing header with segments left is not translated; Parameter Problem points at the
    // Segments Left field (byte 3 of the routing header).
    if let Some(r) = h.routing.filter(|r| r.segments_left != 0) {
        let (ty, code) = originate::v6::ERRONEOUS_HEADER;
        return originate::icmpv6_error(
            frame,
            t,
            ty,
            code,
            r.offset as u32 + 3,
            DropReason::Ipv6SegmentsLeft,
        );
    }

    if first {
        match h.protocol {
            ip_proto::TCP if l4_len < 20 => return Verdict::Drop(DropReason::L4HeaderTruncated),
            ip_proto::UDP => {
                if l4_len < 8 {
                    return Verdict::Drop(DropReason::L4HeaderTruncated);
                }
                let udp = &frame.packet()[h.upper_offset..];
                if udp[6] == 0 && udp[7] == 0 {
                    // RFC 8200 §8.1: IPv6 UDP must carry a checksum; one without it is discarded.
                    return Verdict::Drop(DropReason::UdpChecksumZero);
                }
            }
            _ => {}
        }
    }

    // Size: the IPv4 side's MTU. A packet that leaves with DF set (over 1260 bytes: its sender can go down to
    // 1280) is refused with Packet Too Big; one with DF clear (small, or already a fragment) is split into IPv4
    // fragments (RFC 7915 §5.1).
    let len4 = 20 + l4_len;
    let mtu4 = usize::from(t.opts.ipv4_mtu);
    let frag = V4Frag::of(&h, len4, rng as u16);
    let mut split_mtu = None;
    if len4 > mtu4 {
        if frag.dont_frag {
            // The sender can go down to 1280: tell it (never below, RFC 8201 §4).
            let mtu = (mtu4 + 20).max(1280) as u32;
            let (ty, code) = originate::v6::PACKET_TOO_BIG;
            return originate::icmpv6_error(frame, t, ty, code, mtu, DropReason::PacketTooBig);
        }
        split_mtu = Some(mtu4 as u16);
    }

    // Rewrite: the IPv4 header ends where the IPv6 headers ended.
    let delta = h.upper_offset as isize - 20;
    if !frame.move_start(delta) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let pkt = frame.packet_mut();
    let (hdr, seg) = pkt.split_at_mut(20);
    write_ipv4_header(hdr, &h, t, src4, dst4, len4 as u16, h.hop_limit - 1, frag);

    if first {
        if let Some(type4) = icmp_echo {
            // ICMPv4 has no pseudo-header: take it out along with the old type (RFC 7915 §5.2).
            let pseudo = checksum::sum_v6_pseudo(&h.src, &h.dst, ip_proto::ICMPV6, l4_len as u32);
            l4::retype_icmp(seg, type4, pseudo, 0);
        } else {
            let removed =
                checksum::add(checksum::sum_addr_v6(&h.src), checksum::sum_addr_v6(&h.dst));
            let added = checksum::add(checksum::sum_addr_v4(&src4), checksum::sum_addr_v4(&dst4));
            l4::swap_pseudo_addrs(seg, h.protocol, removed, added);
        }
    }
    match split_mtu {
        Some(mtu) => Verdict::Fragment { mtu },
        None => Verdict::Forward(Side::V4),
    }
}

/// The fast path against the general path (see `v4_to_v6::fast_path_tests`).
#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use crate::frame::HEADROOM;
    use crate::xlat::rfc6052::Rfc6052Prefix;
    use crate::xlat::v4_to_v6::fast_path_tests::{compare, Input, V4_ADDRS};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    /// An IPv6 address for test tenant `tenant`: mostly 8.8.8.8 under its own prefix (mapped by every test
    /// tenant), else other IPv4 addresses under it or under another tenant's prefix, EAM ones, and anything.
    fn v6_addr(tenant: usize) -> impl Strategy<Value = [u8; 16]> {
        let prefixes = [
            Rfc6052Prefix::new(v6("2001:db8:64::"), 96).unwrap(),
            Rfc6052Prefix::well_known(),
            Rfc6052Prefix::new(v6("2001:db8:64::"), 64).unwrap(),
            Rfc6052Prefix::well_known(),
        ];
        let own = prefixes[tenant];
        prop_oneof![
            12 => Just(own.embed([8, 8, 8, 8])),
            1 => (0..prefixes.len(), 0..V4_ADDRS.len()).prop_map(move |(p, a)| prefixes[p].embed(V4_ADDRS[a])),
            1 => (0u8..32).prop_map(|x| {
                let mut a = v6("2001:db8:1::");
                a[15] = x;
                a
            }),
            1 => any::<[u8; 16]>(),
        ]
    }

    fn input() -> impl Strategy<Value = Input> {
        (0usize..4).prop_flat_map(|tenant| {
            (
                (
                    prop_oneof![9 => Just(0x60u8), 1 => any::<u8>()],
                    any::<u8>(),
                    prop_oneof![4 => Just(17u8), 3 => Just(6), 3 => Just(58), 1 => Just(0), 1 => Just(44), 1 => any::<u8>()],
                    prop_oneof![9 => Just(64u8), 1 => Just(0), 1 => Just(1), 1 => Just(2), 1 => any::<u8>()],
                    v6_addr(tenant),
                    v6_addr(tenant),
                ),
                (
                    prop_oneof![
                        8 => 20usize..64,
                        1 => 0usize..20,
                        1 => 960usize..1500,
                        // Around each test tenant's IPv4 MTU and the DF threshold.
                        2 => prop::sample::select(&[555usize, 556, 557, 979, 980, 981, 1239, 1240, 1241, 1479, 1480, 1481][..]),
                    ],
                    prop_oneof![9 => Just(0i32), 1 => -30i32..30],
                    prop_oneof![3 => Just(0usize), 1 => 0usize..20],
                    prop_oneof![4 => Just(128u8), 4 => Just(129), 1 => Just(1), 1 => any::<u8>()],
                    any::<[u8; 8]>(),
                    prop_oneof![9 => Just(HEADROOM), 1 => 0usize..30],
                    (any::<u32>(), prop::bool::weighted(0.1)),
                ),
            )
                .prop_map(
                    move |(
                        (b0, b1, next, hop, src, dst),
                        (l4_len, len_skew, padding, icmp_type, l4_start, headroom, (rng, zero_udp_checksum)),
                    )| {
                        let mut p = vec![0u8; 40 + l4_len];
                        p[0] = b0;
                        p[1] = b1;
                        let pl = (l4_len as i32 + len_skew).clamp(0, 65535) as u16;
                        p[4..6].copy_from_slice(&pl.to_be_bytes());
                        p[6] = next;
                        p[7] = hop;
                        p[8..24].copy_from_slice(&src);
                        p[24..40].copy_from_slice(&dst);
                        let n = l4_len.min(8);
                        p[40..40 + n].copy_from_slice(&l4_start[..n]);
                        if next == 58 && l4_len > 0 {
                            p[40] = icmp_type;
                        }
                        if zero_udp_checksum && l4_len >= 8 {
                            p[46..48].fill(0);
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
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn fast_path_matches_general_path(input in input()) {
            compare(&input, fast_path, translate_general)?;
        }
    }

    #[test]
    fn generator_takes_the_fast_path() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut fast, mut total) = (0, 0);
        for _ in 0..2000 {
            let i = input().new_tree(&mut runner).unwrap().current();
            total += 1;
            fast += usize::from(compare(&i, fast_path, translate_general).unwrap());
        }
        assert!(fast * 10 > total, "{fast} of {total} on the fast path");
        assert!(fast * 10 < total * 9, "{fast} of {total} on the fast path");
    }
}
