//! The stateful packet paths (RFC 6146 §3.4): determine the incoming tuple, filter and update the binding and
//! session (RFC 6146 §3.5, in [`super::Nat64State`]), compute the outgoing tuple, translate (RFC 7915 headers
//! through the SIIT helpers, plus the port or ICMP identifier rewrite with incremental checksum updates,
//! RFC 1624), and hairpin (RFC 6146 §3.8).
//!
//! Fragments: see [`super::fragment`] and [`super::frag_store`].

use super::frag_store::Hold;
use super::fragment::{self, FragKey};
use super::pool4::Owner;
use super::tcp::{self, HeldSyn, HELD_BYTES};
use super::{owner6, Nat64Config, Nat64State, Proto, Refusal};
use crate::frame::{Frame, HEADROOM};
use crate::stats::DropReason;
use crate::tables::Tenant;
use crate::wire::bytes::{read_u16, write_u16};
use crate::wire::{checksum, icmpv6_type, ip_proto, ipv4};
use crate::xlat::v4_to_v6::{self as f46};
use crate::xlat::v6_to_v4::{self as f64_, V4Frag};
use crate::xlat::{icmp_error, icmp_map, l4, originate, Side, Verdict};

const ICMPV4_ECHO_REPLY: u8 = 0;
const ICMPV4_ECHO_REQUEST: u8 = 8;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;
/// RFC 6146 §3.5.1.1: no binding could be created → ICMPv6 Destination Unreachable, Address Unreachable.
const ADDR_UNREACHABLE: (u8, u8) = (icmpv6_type::DEST_UNREACH, 3);
/// RFC 6146 §3.5.2.2: a held IPv4 SYN nobody claimed → ICMPv4 Destination Unreachable, Port Unreachable.
pub const PORT_UNREACHABLE: (u8, u8) = (3, 3);

/// The transport identification of a packet: protocol, source and destination port (ICMP: identifier, 0),
/// TCP flags.
struct Ports {
    proto: Proto,
    src: u16,
    dst: u16,
    flags: tcp::Flags,
}

/// RFC 6146 §3.4 / §3.5 from the IPv6 side. `now` is the clock (ns), `rng` a per-packet random value.
pub fn v6_to_v4(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    now: u64,
    rng: u32,
) -> Verdict {
    let h = match f64_::parse(frame) {
        Ok(h) => h,
        Err(r) => return Verdict::Drop(r),
    };
    let fragmented = h.is_fragment();
    if fragmented && !h.first() {
        return v6_to_v4_rest(frame, t, c, st, &h, now, true);
    }
    let off = h.upper_offset;
    let l4_len = h.upper_len();
    let pkt = frame.packet();
    let mut icmp_type = 0;
    let ports = match h.protocol {
        ip_proto::TCP if l4_len >= 20 => Ports {
            proto: Proto::Tcp,
            src: read_u16(&pkt[off..]),
            dst: read_u16(&pkt[off + 2..]),
            flags: tcp::Flags::from_byte(pkt[off + 13]),
        },
        ip_proto::UDP if l4_len >= 8 => {
            if read_u16(&pkt[off + 6..]) == 0 {
                // RFC 8200 §8.1: IPv6 UDP must carry a checksum.
                return Verdict::Drop(DropReason::UdpChecksumZero);
            }
            Ports {
                proto: Proto::Udp,
                src: read_u16(&pkt[off..]),
                dst: read_u16(&pkt[off + 2..]),
                flags: tcp::Flags::default(),
            }
        }
        ip_proto::ICMPV6 if fragmented => return Verdict::Drop(DropReason::IcmpFragmented),
        ip_proto::ICMPV6 if l4_len >= 8 => {
            icmp_type = pkt[off];
            if icmp_map::is_icmpv6_error(icmp_type) {
                return icmp_error_v6_to_v4(frame, t, c, st, now, rng);
            }
            if !matches!(icmp_type, ICMPV6_ECHO_REQUEST | ICMPV6_ECHO_REPLY) {
                return Verdict::Drop(DropReason::IcmpUntranslatableType);
            }
            Ports {
                proto: Proto::Icmp,
                src: read_u16(&pkt[off + 4..]),
                dst: 0,
                flags: tcp::Flags::default(),
            }
        }
        ip_proto::TCP | ip_proto::UDP | ip_proto::ICMPV6 => {
            return Verdict::Drop(DropReason::L4HeaderTruncated)
        }
        _ => return Verdict::Drop(DropReason::Nat64UnsupportedProtocol),
    };

    // A binding names one host: no unspecified, loopback or multicast sources.
    if h.src[0] == 0xff || u128::from_be_bytes(h.src) <= 1 {
        return Verdict::Drop(DropReason::SrcUntranslatable);
    }
    // The IPv4 destination is the address embedded in pool6 (RFC 6052 §2.3).
    let dst4 = match f64_::map_addr(t, &h.dst, DropReason::DstUntranslatable) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    let frag_key = h
        .frag
        .filter(|_| fragmented)
        .map(|f| fragment::key6(t.index, h.protocol, f.ident, &h.src, &h.dst));
    match owner6(c, ports.proto, &h.src, ports.src, st.workers) {
        Owner::Worker(w) if w != st.worker => {
            if let Some(k) = frag_key {
                st.frags.record(k, w, None, now + c.frag_hold.timeout);
                st.held_frags.first_seen(&k);
            }
            return Verdict::HandOff(w);
        }
        Owner::Worker(_) => {}
        Owner::Foreign => return Verdict::Drop(DropReason::Nat64ForeignSlice),
    }

    // Router duties before any state is created (RFC 7915 §5.1).
    if h.hop_limit <= 1 {
        let (ty, code) = originate::v6::HOP_LIMIT_EXCEEDED;
        return originate::icmpv6_error(frame, t, ty, code, 0, DropReason::TtlExpired);
    }
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
    // RFC 6146 §3.8: a destination in pool4 is hairpinned: no IPv4 MTU applies.
    let hairpin = c.pool4.contains(dst4);
    if hairpin && fragmented {
        return Verdict::Drop(DropReason::Nat64Fragment);
    }
    let len4 = 20 + l4_len;
    let mtu4 = usize::from(t.opts.ipv4_mtu);
    // As in SIIT (RFC 7915 §5.1): DF only above 1260 bytes; a DF packet that does not fit is refused with
    // Packet Too Big, a DF-clear one (small, or a fragment) is split.
    let frag = V4Frag::of(&h, len4, rng as u16);
    let mut split_mtu = None;
    if len4 > mtu4 && !hairpin {
        if frag.dont_frag {
            let mtu = (mtu4 + 20).max(1280) as u32;
            let (ty, code) = originate::v6::PACKET_TOO_BIG;
            return originate::icmpv6_error(frame, t, ty, code, mtu, DropReason::PacketTooBig);
        }
        split_mtu = Some(mtu4 as u16);
    }

    let (src4, sport4) = match st.from_v6(
        t,
        c,
        ports.proto,
        &h.src,
        ports.src,
        dst4,
        ports.dst,
        ports.flags,
        now,
        rng,
    ) {
        Ok(m) => m,
        Err(Refusal::Exhausted(reason)) => {
            let (ty, code) = ADDR_UNREACHABLE;
            return originate::icmpv6_error(frame, t, ty, code, 0, reason);
        }
        Err(Refusal::Drop(reason)) => return Verdict::Drop(reason),
        Err(Refusal::Hold) => return Verdict::Drop(DropReason::Nat64NoBinding),
    };
    if let Some(k) = frag_key {
        let mut local = [0u8; 16];
        local[..4].copy_from_slice(&src4);
        st.frags
            .record(k, st.worker, Some(local), now + c.frag_hold.timeout);
        st.held_frags.first_seen(&k);
    }

    // Rewrite: the IPv4 header ends where the IPv6 headers ended.
    if !frame.move_start(off as isize - 20) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let pkt = frame.packet_mut();
    let (hdr, seg) = pkt.split_at_mut(20);
    f64_::write_ipv4_header(hdr, &h, t, src4, dst4, len4 as u16, h.hop_limit - 1, frag);
    match ports.proto {
        Proto::Tcp | Proto::Udp => {
            let removed = checksum::add(
                checksum::add(checksum::sum_addr_v6(&h.src), checksum::sum_addr_v6(&h.dst)),
                u32::from(ports.src),
            );
            let added = checksum::add(
                checksum::add(checksum::sum_addr_v4(&src4), checksum::sum_addr_v4(&dst4)),
                u32::from(sport4),
            );
            l4::swap_pseudo_addrs(seg, h.protocol, removed, added);
            write_u16(&mut seg[0..], sport4);
        }
        Proto::Icmp => {
            // RFC 7915 §5.2: new type, no pseudo-header; RFC 6146 §3.5.3: the identifier is rewritten.
            let type4 = if icmp_type == ICMPV6_ECHO_REQUEST {
                ICMPV4_ECHO_REQUEST
            } else {
                ICMPV4_ECHO_REPLY
            };
            let removed = checksum::add(
                checksum::sum_v6_pseudo(&h.src, &h.dst, ip_proto::ICMPV6, l4_len as u32),
                u32::from(ports.src),
            );
            l4::retype_icmp(seg, type4, removed, u32::from(sport4));
            write_u16(&mut seg[4..], sport4);
        }
    }
    if hairpin {
        return hairpin_v4(frame, t, c, st, now, rng);
    }
    match split_mtu {
        Some(mtu) => Verdict::Fragment { mtu },
        None => Verdict::Forward(Side::V4),
    }
}

/// RFC 6146 §3.8: the packet just translated to IPv4 is addressed to a pool4 transport address: it goes
/// through the IPv4 → IPv6 path as if it had arrived from the IPv4 side — here if this worker owns the
/// destination, else on the owner (the frame now holds the IPv4 packet, tagged as the tenant's IPv4 ingress).
fn hairpin_v4(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    now: u64,
    rng: u32,
) -> Verdict {
    let pkt = frame.packet();
    let (proto, port) = match pkt[9] {
        ip_proto::TCP => (Proto::Tcp, read_u16(&pkt[22..])),
        ip_proto::UDP => (Proto::Udp, read_u16(&pkt[22..])),
        _ => (Proto::Icmp, read_u16(&pkt[24..])), // ICMP echo identifier
    };
    let dst: [u8; 4] = pkt[16..20].try_into().expect("4 bytes");
    match c.pool4.owner_of(st.workers, proto, dst, port) {
        Owner::Worker(w) if w == st.worker => match v4_to_v6(frame, t, c, st, now, rng) {
            // An error about the second pass would go to the IPv6 sender's pool4 address: dropped instead.
            Verdict::IcmpError(_, r) => Verdict::Drop(r),
            v => v,
        },
        Owner::Worker(w) => {
            frame.meta.vlan = t.vlan;
            if let Some(i) = t.ingress() {
                frame.meta.ingress = i;
            }
            Verdict::HandOff(w)
        }
        Owner::Foreign => Verdict::Drop(DropReason::Nat64ForeignSlice),
    }
}

/// RFC 6146 §3.4 / §3.5 from the IPv4 side.
pub fn v4_to_v6(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    now: u64,
    rng: u32,
) -> Verdict {
    let h = match f46::parse(frame) {
        Ok(h) => h,
        Err(r) => return Verdict::Drop(r),
    };
    let fragmented = h.is_fragment();
    if h.frag_offset != 0 {
        return v4_to_v6_rest(frame, t, st, &h, now, true);
    }
    let off = h.header_len;
    let l4_len = h.total_len - h.header_len;
    let pkt = frame.packet();
    let mut icmp_type = 0;
    let ports = match h.protocol {
        ip_proto::TCP if l4_len >= 20 => Ports {
            proto: Proto::Tcp,
            src: read_u16(&pkt[off..]),
            dst: read_u16(&pkt[off + 2..]),
            flags: tcp::Flags::from_byte(pkt[off + 13]),
        },
        ip_proto::UDP if fragmented && l4_len >= 8 && read_u16(&pkt[off + 6..]) == 0 => {
            // RFC 6146 §3.4: the checksum of a fragmented datagram cannot be computed from one fragment.
            return Verdict::Drop(DropReason::UdpChecksumZero);
        }
        ip_proto::UDP if l4_len >= 8 => Ports {
            proto: Proto::Udp,
            src: read_u16(&pkt[off..]),
            dst: read_u16(&pkt[off + 2..]),
            flags: tcp::Flags::default(),
        },
        ip_proto::ICMP if fragmented => return Verdict::Drop(DropReason::IcmpFragmented),
        ip_proto::ICMP if l4_len >= 8 => {
            icmp_type = pkt[off];
            if icmp_map::is_icmpv4_error(icmp_type) {
                return icmp_error_v4_to_v6(frame, t, c, st, now, rng);
            }
            if !matches!(icmp_type, ICMPV4_ECHO_REQUEST | ICMPV4_ECHO_REPLY) {
                return Verdict::Drop(DropReason::IcmpUntranslatableType);
            }
            Ports {
                proto: Proto::Icmp,
                src: 0,
                dst: read_u16(&pkt[off + 4..]),
                flags: tcp::Flags::default(),
            }
        }
        ip_proto::TCP | ip_proto::UDP | ip_proto::ICMP => {
            return Verdict::Drop(DropReason::L4HeaderTruncated)
        }
        _ => return Verdict::Drop(DropReason::Nat64UnsupportedProtocol),
    };
    let frag_key = fragmented.then(|| fragment::key4(t.index, h.protocol, h.ident, h.src, h.dst));
    match c.pool4.owner_of(st.workers, ports.proto, h.dst, ports.dst) {
        Owner::Worker(w) if w != st.worker => {
            if let Some(k) = frag_key {
                st.frags.record(k, w, None, now + c.frag_hold.timeout);
                st.held_frags.first_seen(&k);
            }
            return Verdict::HandOff(w);
        }
        Owner::Worker(_) => {}
        Owner::Foreign => return Verdict::Drop(DropReason::Nat64ForeignSlice),
    }
    // The IPv4 source is embedded in pool6.
    let src6 = match f46::map_addr(t, h.src, DropReason::SrcUntranslatable) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    if h.ttl <= 1 {
        let (ty, code) = originate::v4::TIME_EXCEEDED;
        return originate::icmpv4_error(frame, t, ty, code, [0; 4], DropReason::TtlExpired);
    }
    if h.header_len > 20 && ipv4::source_route_unexpired(&frame.packet()[20..h.header_len]) {
        let (ty, code) = originate::v4::SOURCE_ROUTE_FAILED;
        return originate::icmpv4_error(frame, t, ty, code, [0; 4], DropReason::Ipv4SourceRoute);
    }
    // Size (RFC 7915 §4): DF=1 packets that do not fit are refused; DF=0 ones are split.
    let mtu6 = usize::from(t.opts.ipv6_mtu);
    let mut with_frag = fragmented;
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
        let mtu = mtu6.saturating_sub(20) as u16;
        let (ty, code) = originate::v4::FRAG_NEEDED;
        let rest = [0, 0, (mtu >> 8) as u8, mtu as u8];
        return originate::icmpv4_error(frame, t, ty, code, rest, DropReason::PacketTooBig);
    }

    let (dst6, dport6) = match st.from_v4(
        t,
        c,
        ports.proto,
        h.dst,
        ports.dst,
        h.src,
        ports.src,
        ports.flags,
        now,
    ) {
        Ok(m) => m,
        Err(Refusal::Hold) => return hold_syn(frame, t, c, st, &ports, h.src, h.dst, now),
        Err(Refusal::Drop(r) | Refusal::Exhausted(r)) => return Verdict::Drop(r),
    };
    if let Some(k) = frag_key {
        st.frags
            .record(k, st.worker, Some(dst6), now + c.frag_hold.timeout);
        st.held_frags.first_seen(&k);
    }

    if !frame.move_start(off as isize - hdr6 as isize) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let pkt = frame.packet_mut();
    let (hdr, seg) = pkt.split_at_mut(hdr6);
    f46::write_ipv6_header(
        hdr,
        &h,
        with_frag,
        t,
        &src6,
        &dst6,
        (len6 - 40) as u16,
        h.ttl - 1,
    );
    match ports.proto {
        Proto::Udp if seg[6] == 0 && seg[7] == 0 => {
            // RFC 6146 §3.4: an unfragmented IPv4 UDP packet without checksum gets one.
            write_u16(&mut seg[2..], dport6);
            let pseudo = checksum::sum_v6_pseudo(&src6, &dst6, ip_proto::UDP, l4_len as u32);
            let mut c = checksum::finish(checksum::add(pseudo, checksum::sum(seg)));
            if c == 0 {
                c = 0xffff;
            }
            write_u16(&mut seg[6..], c);
        }
        Proto::Tcp | Proto::Udp => {
            let removed = checksum::add(
                checksum::add(checksum::sum_addr_v4(&h.src), checksum::sum_addr_v4(&h.dst)),
                u32::from(ports.dst),
            );
            let added = checksum::add(
                checksum::add(checksum::sum_addr_v6(&src6), checksum::sum_addr_v6(&dst6)),
                u32::from(dport6),
            );
            l4::swap_pseudo_addrs(seg, h.protocol, removed, added);
            write_u16(&mut seg[2..], dport6);
        }
        Proto::Icmp => {
            let type6 = if icmp_type == ICMPV4_ECHO_REQUEST {
                ICMPV6_ECHO_REQUEST
            } else {
                ICMPV6_ECHO_REPLY
            };
            let added = checksum::add(
                checksum::sum_v6_pseudo(&src6, &dst6, ip_proto::ICMPV6, l4_len as u32),
                u32::from(dport6),
            );
            l4::retype_icmp(seg, type6, u32::from(ports.dst), added);
            write_u16(&mut seg[4..], dport6);
        }
    }
    match split_mtu {
        Some(mtu) => Verdict::Fragment { mtu },
        None => Verdict::Forward(Side::V6),
    }
}

/// What a non-first fragment's datagram was translated with: on the owner, the local address; elsewhere, a
/// hand-off. A fragment whose first fragment has not been seen is held (RFC 6146 §3.4) if `may_hold`.
fn frag_lookup(
    frame: &Frame,
    t: &Tenant,
    st: &mut Nat64State,
    key: &FragKey,
    now: u64,
    may_hold: bool,
) -> Result<[u8; 16], Verdict> {
    match st.frags.lookup(key, now) {
        Some(i) if i.owner != st.worker => Err(Verdict::HandOff(i.owner)),
        Some(fragment::FragInfo {
            local: Some(local), ..
        }) => Ok(local),
        Some(_) => Err(Verdict::Drop(DropReason::Nat64FragmentUnmatched)),
        None if may_hold => Err(hold_fragment(frame, t, st, key, now)),
        None => Err(Verdict::Drop(DropReason::Nat64FragmentUnmatched)),
    }
}

/// RFC 6146 §3.4: a non-first fragment before its first fragment waits in the worker's store. Only TCP and
/// UDP: the first fragment of anything else is never translated in stateful mode (fragmented ICMP cannot
/// be, other protocols are not), so holding its later fragments would only fill the store.
fn hold_fragment(
    frame: &Frame,
    t: &Tenant,
    st: &mut Nat64State,
    key: &FragKey,
    now: u64,
) -> Verdict {
    let proto = key[1];
    if proto != ip_proto::TCP && proto != ip_proto::UDP {
        return Verdict::Drop(DropReason::Nat64FragmentUnmatched);
    }
    Verdict::Drop(
        match st.held_frags.hold(*key, t.index, frame.packet(), now) {
            Hold::Held => DropReason::Nat64FragmentHeld,
            Hold::Full => DropReason::Nat64FragmentStoreFull,
            Hold::Off => DropReason::Nat64FragmentUnmatched,
        },
    )
}

/// Takes the fragments held for datagram `key` (whose first fragment was just translated or handed off) out
/// of the store, oldest first, translates each (into the store's release buffer) and hands it with its
/// verdict to `each`. A fragment whose first fragment went to another worker gets
/// `Drop(Nat64FragmentOwnerElsewhere)`: held fragments are not handed over.
pub fn release_held(
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    key: &FragKey,
    now: u64,
    each: &mut dyn FnMut(&mut Frame, Verdict),
) {
    // The buffer leaves the state while a fragment in it is translated (which borrows the state).
    let mut buf = std::mem::take(&mut st.release_buf);
    while let Some(len) = buf
        .get_mut(HEADROOM..)
        .and_then(|out| st.held_frags.pop(key, out))
    {
        let mut frame = Frame::new(&mut buf, HEADROOM, HEADROOM + len);
        let v = if key[0] == 6 {
            match f64_::parse(&mut frame) {
                Ok(h) => v6_to_v4_rest(&mut frame, t, c, st, &h, now, false),
                Err(r) => Verdict::Drop(r),
            }
        } else {
            match f46::parse(&mut frame) {
                Ok(h) => v4_to_v6_rest(&mut frame, t, st, &h, now, false),
                Err(r) => Verdict::Drop(r),
            }
        };
        let v = match v {
            Verdict::HandOff(_) => Verdict::Drop(DropReason::Nat64FragmentOwnerElsewhere),
            v => v,
        };
        each(&mut frame, v);
    }
    st.release_buf = buf;
}

/// A non-first IPv6 fragment: addresses as its first fragment's (source: the binding's T), no transport
/// header to touch (RFC 7915 §5.1.1 for the fragment fields).
fn v6_to_v4_rest(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    h: &f64_::V6Header,
    now: u64,
    may_hold: bool,
) -> Verdict {
    let Some(f) = h.frag else {
        return Verdict::Drop(DropReason::Nat64FragmentUnmatched);
    };
    // Checked before the lookup, so that what cannot be translated is not held.
    let dst4 = match f64_::map_addr(t, &h.dst, DropReason::DstUntranslatable) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    if h.hop_limit <= 1 {
        return Verdict::Drop(DropReason::TtlExpired);
    }
    if c.pool4.contains(dst4) {
        return Verdict::Drop(DropReason::Nat64Fragment); // hairpinned fragments, as their first one
    }
    let key = fragment::key6(t.index, h.protocol, f.ident, &h.src, &h.dst);
    let local = match frag_lookup(frame, t, st, &key, now, may_hold) {
        Ok(l) => l,
        Err(v) => return v,
    };
    let src4: [u8; 4] = local[..4].try_into().expect("4 bytes");
    let len4 = 20 + h.upper_len();
    let mtu4 = usize::from(t.opts.ipv4_mtu);
    if !frame.move_start(h.upper_offset as isize - 20) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    f64_::write_ipv4_header(
        &mut frame.packet_mut()[..20],
        h,
        t,
        src4,
        dst4,
        len4 as u16,
        h.hop_limit - 1,
        V4Frag::of(h, len4, 0),
    );
    if len4 > mtu4 {
        Verdict::Fragment { mtu: mtu4 as u16 }
    } else {
        Verdict::Forward(Side::V4)
    }
}

/// A non-first IPv4 fragment: addresses as its first fragment's (destination: the binding's X'), with an
/// IPv6 Fragment Header (RFC 7915 §4.1).
fn v4_to_v6_rest(
    frame: &mut Frame,
    t: &Tenant,
    st: &mut Nat64State,
    h: &f46::V4Header,
    now: u64,
    may_hold: bool,
) -> Verdict {
    // Checked before the lookup, so that what cannot be translated is not held.
    let src6 = match f46::map_addr(t, h.src, DropReason::SrcUntranslatable) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    if h.ttl <= 1 {
        return Verdict::Drop(DropReason::TtlExpired);
    }
    let key = fragment::key4(t.index, h.protocol, h.ident, h.src, h.dst);
    let dst6 = match frag_lookup(frame, t, st, &key, now, may_hold) {
        Ok(l) => l,
        Err(v) => return v,
    };
    let l4_len = h.total_len - h.header_len;
    let len6 = 48 + l4_len;
    let mtu6 = usize::from(t.opts.ipv6_mtu);
    let limit = mtu6.min(usize::from(t.opts.lowest_ipv6_mtu));
    if h.dont_frag && len6 > mtu6 {
        return Verdict::Drop(DropReason::PacketTooBig);
    }
    if !frame.move_start(h.header_len as isize - 48) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    f46::write_ipv6_header(
        &mut frame.packet_mut()[..48],
        h,
        true,
        t,
        &src6,
        &dst6,
        (len6 - 40) as u16,
        h.ttl - 1,
    );
    if !h.dont_frag && len6 > limit {
        Verdict::Fragment { mtu: limit as u16 }
    } else {
        Verdict::Forward(Side::V6)
    }
}

/// RFC 6146 §3.5.2.2: an IPv4 SYN no binding lets in is held for `tcp_incoming_syn` seconds; if no IPv6 SYN
/// claims it by then, [`crate::pipeline::Pipeline::run_timers`] answers it with ICMP Port Unreachable.
#[allow(clippy::too_many_arguments)]
fn hold_syn(
    frame: &Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    ports: &Ports,
    remote4: [u8; 4],
    local4: [u8; 4],
    now: u64,
) -> Verdict {
    let syn = HeldSyn {
        tenant: t.index,
        local4,
        lport: ports.dst,
        remote4,
        rport: ports.src,
        expires: now + c.incoming_syn,
        len: 0,
        data: [0; HELD_BYTES],
    };
    if st.held.hold(syn, frame.packet()) {
        Verdict::Drop(DropReason::Nat64SynHeld)
    } else {
        Verdict::Drop(DropReason::Nat64SynStoreFull)
    }
}

/// Rewrites the 16-bit field at `field` inside an ICMP error's quoted packet and keeps the checksums right:
/// the quoted transport checksum at `inner_csum` (if it was quoted; UDP's "none" stays none) and the ICMP
/// message's own checksum at `outer_csum`. Every offset is even relative to the ICMP message.
fn patch_quoted(
    pkt: &mut [u8],
    outer_csum: usize,
    field: usize,
    new: u16,
    inner_csum: Option<usize>,
    udp: bool,
) {
    let old = read_u16(&pkt[field..]);
    write_u16(&mut pkt[field..], new);
    let mut removed = u32::from(old);
    let mut added = u32::from(new);
    if let Some(at) = inner_csum.filter(|&at| at + 2 <= pkt.len()) {
        let oc = read_u16(&pkt[at..]);
        if !(udp && oc == 0) {
            let mut nc = checksum::adjust(oc, u32::from(old), u32::from(new));
            if udp && nc == 0 {
                nc = 0xffff;
            }
            write_u16(&mut pkt[at..], nc);
            removed = checksum::add(removed, u32::from(oc));
            added = checksum::add(added, u32::from(nc));
        }
    }
    let c = read_u16(&pkt[outer_csum..]);
    write_u16(&mut pkt[outer_csum..], checksum::adjust(c, removed, added));
}

/// RFC 6146 §3.4 (ICMP error processing) from the IPv4 side: the quoted packet is one this translator sent
/// from (T, t) to (Z, z); its session gives (X', x), which replaces T and t in the quote and becomes the
/// error's destination. The rest is RFC 7915 §4.3.
fn icmp_error_v4_to_v6(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    now: u64,
    rng: u32,
) -> Verdict {
    let pkt = frame.packet();
    let icmp_off = usize::from(pkt[0] & 0xf) * 4;
    let q = icmp_off + 8;
    let Some(&vihl) = pkt.get(q) else {
        return Verdict::Drop(DropReason::IcmpInnerInvalid);
    };
    let ihl = usize::from(vihl & 0xf) * 4;
    let tp = q + ihl;
    if vihl >> 4 != 4 || ihl < 20 || pkt.len() < tp + 8 {
        return Verdict::Drop(DropReason::IcmpInnerInvalid);
    }
    let isrc: [u8; 4] = pkt[q + 12..q + 16].try_into().expect("4 bytes");
    let idst: [u8; 4] = pkt[q + 16..q + 20].try_into().expect("4 bytes");
    // (protocol, offset of our port in the quote, that port, the peer's port, transport checksum offset)
    let (proto, field, lport, rport, csum) = match pkt[q + 9] {
        ip_proto::TCP => (
            Proto::Tcp,
            tp,
            read_u16(&pkt[tp..]),
            read_u16(&pkt[tp + 2..]),
            tp + 16,
        ),
        ip_proto::UDP => (
            Proto::Udp,
            tp,
            read_u16(&pkt[tp..]),
            read_u16(&pkt[tp + 2..]),
            tp + 6,
        ),
        ip_proto::ICMP if matches!(pkt[tp], ICMPV4_ECHO_REQUEST | ICMPV4_ECHO_REPLY) => {
            (Proto::Icmp, tp + 4, read_u16(&pkt[tp + 4..]), 0, tp + 2)
        }
        _ => return Verdict::Drop(DropReason::IcmpInnerInvalid),
    };
    match c.pool4.owner_of(st.workers, proto, isrc, lport) {
        Owner::Worker(w) if w != st.worker => return Verdict::HandOff(w),
        Owner::Worker(_) => {}
        Owner::Foreign => return Verdict::Drop(DropReason::Nat64ForeignSlice),
    }
    let Some(b) = st.lookup_v4(t.index, c, proto, isrc, lport, idst, rport, now) else {
        return Verdict::Drop(DropReason::Nat64IcmpNoSession);
    };
    patch_quoted(
        frame.packet_mut(),
        icmp_off + 2,
        field,
        b.port6,
        Some(csum),
        proto == Proto::Udp,
    );
    icmp_error::v4_to_v6_nat64(frame, t, rng, &b.addr6)
}

/// RFC 6146 §3.4 (ICMP error processing) from the IPv6 side: the quoted packet is one this translator sent
/// from (Y' = pool6(Z), z) to (X', x); the binding of (X', x) gives (T, t), which replaces them in the quote
/// and is the error's IPv4 source when the IPv6 source has no IPv4 form.
fn icmp_error_v6_to_v4(
    frame: &mut Frame,
    t: &Tenant,
    c: &Nat64Config,
    st: &mut Nat64State,
    now: u64,
    rng: u32,
) -> Verdict {
    let h = match f64_::read(frame.packet(), false) {
        Ok(h) => h,
        Err(r) => return Verdict::Drop(r),
    };
    let pkt = frame.packet();
    let icmp_off = h.upper_offset;
    let q = icmp_off + 8;
    let Some(quote) = pkt.get(q..) else {
        return Verdict::Drop(DropReason::IcmpInnerInvalid);
    };
    let Ok(ih) = f64_::read(quote, true) else {
        return Verdict::Drop(DropReason::IcmpInnerInvalid);
    };
    let tp = q + ih.upper_offset;
    if pkt.len() < tp + 8 {
        return Verdict::Drop(DropReason::IcmpInnerInvalid);
    }
    let (proto, field, lport, rport, csum) = match ih.protocol {
        ip_proto::TCP => (
            Proto::Tcp,
            tp + 2,
            read_u16(&pkt[tp + 2..]),
            read_u16(&pkt[tp..]),
            tp + 16,
        ),
        ip_proto::UDP => (
            Proto::Udp,
            tp + 2,
            read_u16(&pkt[tp + 2..]),
            read_u16(&pkt[tp..]),
            tp + 6,
        ),
        ip_proto::ICMPV6 if matches!(pkt[tp], ICMPV6_ECHO_REQUEST | ICMPV6_ECHO_REPLY) => {
            (Proto::Icmp, tp + 4, read_u16(&pkt[tp + 4..]), 0, tp + 2)
        }
        _ => return Verdict::Drop(DropReason::IcmpInnerInvalid),
    };
    let Ok(remote4) = f64_::map_addr(t, &ih.src, DropReason::IcmpInnerInvalid) else {
        return Verdict::Drop(DropReason::IcmpInnerInvalid);
    };
    match owner6(c, proto, &ih.dst, lport, st.workers) {
        Owner::Worker(w) if w != st.worker => return Verdict::HandOff(w),
        Owner::Worker(_) => {}
        Owner::Foreign => return Verdict::Drop(DropReason::Nat64ForeignSlice),
    }
    let Some(b) = st.lookup_v6(t.index, c, proto, &ih.dst, lport, remote4, rport, now) else {
        return Verdict::Drop(DropReason::Nat64IcmpNoSession);
    };
    // The ICMPv6 checksum covers a pseudo-header, which this rewrite does not touch.
    patch_quoted(
        frame.packet_mut(),
        icmp_off + 2,
        field,
        b.port4,
        Some(csum),
        proto == Proto::Udp,
    );
    icmp_error::v6_to_v4_nat64(frame, t, rng, b.addr4)
}
