//! The established-flow fast paths: a packet of a flow whose binding and session exist and are alive, with
//! nothing unusual about it (no extension headers or IPv4 options, not a fragment, hop limit / TTL above 1,
//! fitting the MTU, UDP with a checksum, TCP, or ICMP echo, not hairpinned, owned by this worker).
//!
//! That is nearly all traffic of a busy translator, and the general paths of [`super::translate`] spend most
//! of their instructions on what such a packet does not need: the extension-header walk, a parsed header
//! returned through memory, the fragment and hairpin bookkeeping, the owner hash with one worker, the IPv4
//! header checksum summed back from memory. Like the SIIT fast paths (`xlat::v6_to_v4::fast_path`), these
//! validate once on a fixed-size view of the header, keep the fields in registers and write the new header
//! as a few words.
//!
//! Each returns `None` **before changing anything** (frame or state) when the packet is not such a packet;
//! the general path then does the whole job. When it commits, it makes the same state change as the general
//! path (`Nat64State::established_v6` / `established_v4`: the TCP machine and the lifetime refresh of
//! `from_v6` / `from_v4` on a live session) and writes the same bytes; `tests::fast_paths_match_general_paths`
//! checks that frame by frame on mutated packets. From IPv6, a packet whose flow has no live session goes on
//! to `from_v6` here (binding and session creation, with the general path's refusals), so that a new flow's
//! first packet is not parsed twice; from IPv4 (no new sessions but from held SYNs and filtering) it is left
//! to the general path.

use super::pool4::Owner;
use super::translate::ADDR_UNREACHABLE;
use super::{owner6, tcp, Nat64Config, Nat64State, Proto, Refusal};
use crate::frame::Frame;
use crate::stats::DropReason;
use crate::tables::Tenant;
use crate::wire::{checksum, icmpv4_type, icmpv6_type, ip_proto};
use crate::xlat::v4_to_v6::unicast_u32;
use crate::xlat::v6_to_v4::DF_THRESHOLD;
use crate::xlat::{l4, originate, Side, Verdict};

/// RFC 6146 §3.4 from the IPv6 side, for an established flow (see the module documentation).
#[inline(always)]
pub fn v6_to_v4(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    now: u64,
    rng: u32,
) -> Option<Verdict> {
    // One slice for the packet, split into a 40-byte view and the rest: one bounds check for the whole path.
    let (start, len) = (frame.start(), frame.len());
    let pkt = frame.buffer_mut().get_mut(start..start + len)?;
    let (hdr, rest) = pkt.split_first_chunk_mut::<40>()?;
    let b: &[u8; 40] = hdr;
    if b[0] >> 4 != 6 {
        return None;
    }
    let l4_len = usize::from(u16::from_be_bytes([b[4], b[5]]));
    let hop_limit = b[7];
    if l4_len > rest.len() || hop_limit <= 1 {
        return None;
    }
    let next = b[6];
    let seg = &mut rest[..l4_len];
    // The next header is the transport header: no extension headers, so no fragment and no routing header.
    let (proto, sport, dport, flags) = match next {
        // RFC 8200 §8.1: UDP without a checksum is dropped (general path).
        ip_proto::UDP if l4_len >= 8 && (seg[6] | seg[7]) != 0 => (
            Proto::Udp,
            u16::from_be_bytes([seg[0], seg[1]]),
            u16::from_be_bytes([seg[2], seg[3]]),
            tcp::Flags::default(),
        ),
        ip_proto::TCP if l4_len >= 20 => (
            Proto::Tcp,
            u16::from_be_bytes([seg[0], seg[1]]),
            u16::from_be_bytes([seg[2], seg[3]]),
            tcp::Flags::from_byte(seg[13]),
        ),
        ip_proto::ICMPV6
            if l4_len >= 8
                && matches!(seg[0], icmpv6_type::ECHO_REQUEST | icmpv6_type::ECHO_REPLY) =>
        {
            (
                Proto::Icmp,
                u16::from_be_bytes([seg[4], seg[5]]),
                0,
                tcp::Flags::default(),
            )
        }
        _ => return None,
    };
    // Larger than the IPv4 MTU: Packet Too Big or fragments (general path).
    let len4 = 20 + l4_len;
    if len4 > usize::from(t.opts.ipv4_mtu) {
        return None;
    }
    let src6_bytes: &[u8; 16] = b[8..24].try_into().expect("16 bytes");
    let src6 = u128::from_be_bytes(*src6_bytes);
    let dst6 = u128::from_be_bytes(b[24..40].try_into().expect("16 bytes"));
    // No unspecified, loopback or multicast sources (dropped by the general path).
    if src6 >> 120 == 0xff || src6 <= 1 {
        return None;
    }
    // The IPv4 destination embedded in pool6, unicast, and not a pool4 address (hairpinning: general path).
    let dst4 = t.map_v6_to_v4_fast(dst6)?;
    if !unicast_u32(dst4) || c.pool4.contains(dst4.to_be_bytes()) {
        return None;
    }
    // With one worker and neither static bindings nor port blocks, `owner6` is this worker: skip its hash.
    if st.workers != 1 || !c.statics.is_empty() || c.pool4.blocks.is_some() {
        match owner6(c, proto, src6_bytes, sport, st.workers) {
            Owner::Worker(w) if w == st.worker => {}
            _ => return None,
        }
    }
    let dst4_bytes = dst4.to_be_bytes();
    let (src4, sport4) = match st.established_v6(
        t.index, proto, src6_bytes, sport, dst4_bytes, dport, flags, now,
    ) {
        Ok(m) => m,
        // Every check the general path makes before `from_v6` has passed (the same ones, above), so this
        // is where it would go next: the session lookup again (now cached), creation, refusals.
        Err(found) => match st.resolve_v6(
            found, t, c, proto, src6_bytes, sport, dst4_bytes, dport, flags, now, rng,
        ) {
            Ok(m) => m,
            Err(Refusal::Exhausted(reason)) => {
                // The error quotes the packet as the general path parsed it: without link-layer padding.
                // Cannot fail: shorter than the frame.
                let trimmed = frame.set_len(40 + l4_len);
                debug_assert!(trimmed);
                let (ty, code) = ADDR_UNREACHABLE;
                return Some(originate::icmpv6_error(frame, t, ty, code, 0, reason));
            }
            Err(Refusal::Drop(reason)) => return Some(Verdict::Drop(reason)),
            Err(Refusal::Hold) => return Some(Verdict::Drop(DropReason::Nat64NoBinding)),
        },
    };

    // Committed. RFC 7915 §5.1: TOS = traffic class unless overridden; no Fragment Header: DF set and
    // identification 0 above DF_THRESHOLD, else DF clear and a generated identification (`V4Frag::of`).
    let tos = if t.opts.override_tos {
        t.opts.tos
    } else {
        (b[0] << 4) | (b[1] >> 4)
    };
    let protocol = if next == ip_proto::ICMPV6 {
        ip_proto::ICMP
    } else {
        next
    };
    let (ident, df) = if len4 > DF_THRESHOLD {
        (0, 0x4000u64)
    } else {
        (rng as u16, 0)
    };
    let src4_u = u32::from_be_bytes(src4);
    // The header as three big-endian words, its checksum summed from them in registers.
    let w0 = (0x45 << 56)
        | (u64::from(tos) << 48)
        | ((len4 as u64) << 32)
        | (u64::from(ident) << 16)
        | df;
    let w1 = (u64::from(hop_limit - 1) << 56) | (u64::from(protocol) << 48) | u64::from(src4_u);
    let sum = checksum::finish(checksum::sum_ipv4_header_words(w0, w1, dst4));
    let w1 = w1 | (u64::from(sum) << 32);

    // The transport checksum: the same arithmetic as the general path.
    if proto == Proto::Icmp {
        // RFC 7915 §5.2: new type, no pseudo-header; RFC 6146 §3.5.3: the identifier is rewritten.
        let type4 = if seg[0] == icmpv6_type::ECHO_REQUEST {
            icmpv4_type::ECHO_REQUEST
        } else {
            icmpv4_type::ECHO_REPLY
        };
        let removed = checksum::add(
            checksum::sum_u128(src6)
                + checksum::sum_u128(dst6)
                + l4_len as u32
                + u32::from(ip_proto::ICMPV6),
            u32::from(sport),
        );
        l4::retype_icmp(seg, type4, removed, u32::from(sport4));
        seg[4..6].copy_from_slice(&sport4.to_be_bytes());
    } else {
        let removed = checksum::add(
            checksum::add(checksum::sum_u128(src6), checksum::sum_u128(dst6)),
            u32::from(sport),
        );
        let added = checksum::add(
            checksum::add(
                checksum::sum_addr_v4(&src4),
                checksum::sum_addr_v4(&dst4.to_be_bytes()),
            ),
            u32::from(sport4),
        );
        l4::swap_pseudo_addrs(seg, next, removed, added);
        seg[0..2].copy_from_slice(&sport4.to_be_bytes());
    }
    // The IPv4 header ends where the IPv6 header ended: its last 20 bytes.
    let hdr4 = hdr.last_chunk_mut::<20>().expect("20 of 40 bytes");
    hdr4[..8].copy_from_slice(&w0.to_be_bytes());
    hdr4[8..16].copy_from_slice(&w1.to_be_bytes());
    hdr4[16..20].copy_from_slice(&dst4.to_be_bytes());
    // The packet now starts at the IPv4 header and ends at the payload length (link-layer padding trimmed).
    // Cannot fail: both bounds are inside the packet.
    let bounded = frame.set_bounds(start + 20, start + 40 + l4_len);
    debug_assert!(bounded);
    Some(Verdict::Forward(Side::V4))
}

/// RFC 6146 §3.4 from the IPv4 side, for an established flow (see the module documentation).
#[inline(always)]
pub fn v4_to_v6(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    now: u64,
) -> Option<Verdict> {
    // The IPv6 header will start 20 bytes in front of the packet (no headroom: general path). One slice from
    // there to the packet's end, split into a 40-byte view (headroom + IPv4 header) and the transport part.
    let (start, len) = (frame.start(), frame.len());
    let new_start = start.checked_sub(20)?;
    let region = frame.buffer_mut().get_mut(new_start..start + len)?;
    let (hdr, rest) = region.split_first_chunk_mut::<40>()?;
    // The IPv4 header, read out before the IPv6 header overwrites it.
    let b: [u8; 20] = *hdr.last_chunk::<20>().expect("20 of 40 bytes");
    // Version 4, IHL 5 (no options), Total Length within the frame, a valid header checksum.
    if b[0] != 0x45 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let l4_len = total_len.checked_sub(20)?;
    if l4_len > rest.len() || !checksum::verify_ipv4_header(&b) {
        return None;
    }
    let flags_frag = u16::from_be_bytes([b[6], b[7]]);
    let ttl = b[8];
    // MF or an offset (a fragment), or a TTL that runs out here: general path.
    if flags_frag & 0x3fff != 0 || ttl <= 1 {
        return None;
    }
    let next = b[9];
    let seg = &mut rest[..l4_len];
    let (proto, rport, lport, flags) = match next {
        // RFC 6146 §3.4: UDP without a checksum gets one (general path).
        ip_proto::UDP if l4_len >= 8 && (seg[6] | seg[7]) != 0 => (
            Proto::Udp,
            u16::from_be_bytes([seg[0], seg[1]]),
            u16::from_be_bytes([seg[2], seg[3]]),
            tcp::Flags::default(),
        ),
        ip_proto::TCP if l4_len >= 20 => (
            Proto::Tcp,
            u16::from_be_bytes([seg[0], seg[1]]),
            u16::from_be_bytes([seg[2], seg[3]]),
            tcp::Flags::from_byte(seg[13]),
        ),
        ip_proto::ICMP
            if l4_len >= 8
                && matches!(seg[0], icmpv4_type::ECHO_REQUEST | icmpv4_type::ECHO_REPLY) =>
        {
            (
                Proto::Icmp,
                0,
                u16::from_be_bytes([seg[4], seg[5]]),
                tcp::Flags::default(),
            )
        }
        _ => return None,
    };
    // DF=1 packets up to the IPv6 MTU pass whole; larger ones, and DF=0 ones above lowest_ipv6_mtu, go to the
    // general path (Packet Too Big, or fragments).
    let limit = if flags_frag & 0x4000 != 0 {
        t.opts.ipv6_mtu
    } else {
        t.opts.ipv6_mtu.min(t.opts.lowest_ipv6_mtu)
    };
    if 40 + l4_len > usize::from(limit) {
        return None;
    }
    let remote4: [u8; 4] = [b[12], b[13], b[14], b[15]];
    let local4: [u8; 4] = [b[16], b[17], b[18], b[19]];
    // With one worker, one appliance and no port blocks, every port is this worker's: skip `owner_of`'s two
    // divisions.
    let slice = c.pool4.slice;
    if st.workers != 1 || slice.count > 1 || slice.index != 0 || c.pool4.blocks.is_some() {
        match c.pool4.owner_of(st.workers, proto, local4, lport) {
            Owner::Worker(w) if w == st.worker => {}
            _ => return None,
        }
    }
    // The IPv4 source embedded in pool6 (`map_addr`: unicast only, then the tenant's mapping).
    let src4 = u32::from_be_bytes(remote4);
    if !unicast_u32(src4) {
        return None;
    }
    let src6 = t.map_v4_to_v6_fast(src4)?;
    let (dst6_bytes, dport6) =
        st.established_v4(t.index, proto, local4, lport, remote4, rport, flags, now)?;
    let dst6 = u128::from_be_bytes(dst6_bytes);

    // Committed: RFC 7915 §4.1, traffic class = TOS unless zeroized, flow label 0.
    let tc = if t.opts.zeroize_traffic_class {
        0
    } else {
        b[1]
    };
    let next6 = if next == ip_proto::ICMP {
        ip_proto::ICMPV6
    } else {
        next
    };
    if proto == Proto::Icmp {
        let type6 = if seg[0] == icmpv4_type::ECHO_REQUEST {
            icmpv6_type::ECHO_REQUEST
        } else {
            icmpv6_type::ECHO_REPLY
        };
        let added = checksum::add(
            checksum::sum_u128(src6)
                + checksum::sum_u128(dst6)
                + l4_len as u32
                + u32::from(ip_proto::ICMPV6),
            u32::from(dport6),
        );
        l4::retype_icmp(seg, type6, u32::from(lport), added);
        seg[4..6].copy_from_slice(&dport6.to_be_bytes());
    } else {
        let removed = checksum::add(
            checksum::add(
                checksum::sum_addr_v4(&remote4),
                checksum::sum_addr_v4(&local4),
            ),
            u32::from(lport),
        );
        let added = checksum::add(
            checksum::add(checksum::sum_u128(src6), checksum::sum_u128(dst6)),
            u32::from(dport6),
        );
        l4::swap_pseudo_addrs(seg, next, removed, added);
        seg[2..4].copy_from_slice(&dport6.to_be_bytes());
    }
    // Version, traffic class, flow label 0, payload length, next header, hop limit: one word, one store.
    let first = (6 << 60)
        | (u64::from(tc) << 52)
        | ((l4_len as u64) << 16)
        | (u64::from(next6) << 8)
        | u64::from(ttl - 1);
    hdr[..8].copy_from_slice(&first.to_be_bytes());
    hdr[8..24].copy_from_slice(&src6.to_be_bytes());
    hdr[24..40].copy_from_slice(&dst6_bytes);
    // The packet now starts at the IPv6 header and ends at Total Length (link-layer padding trimmed). Cannot
    // fail: both bounds are inside the region checked above.
    let bounded = frame.set_bounds(new_start, start + total_len);
    debug_assert!(bounded);
    Some(Verdict::Forward(Side::V6))
}
