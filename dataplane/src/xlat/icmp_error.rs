//! ICMP error messages crossing the translator (RFC 7915 §4.3, §5.3): the outer header, the ICMP header and
//! the quoted inner packet's IP header are all translated; the inner transport header gets the same
//! incremental checksum update as an outer one (RFC 7915 §4.5, §5.5). RFC 4884 extensions keep their place
//! after the quoted packet, with the length attribute converted between 32-bit (ICMPv4) and 64-bit (ICMPv6)
//! words.
//!
//! In place, like the fast path: the inner packet's transport header and data never move; the three headers
//! in front of it are rewritten into the headroom. Only the extension structure (a few bytes at the tail) may
//! move to keep the padding RFC 4884 asks for.

use super::icmp_map::{self, IcmpMapping, Rest};
use super::v4_to_v6::{self as f46, V4Header};
use super::v6_to_v4::{self as f64_, V4Frag, V6Header};
use super::{l4, mtu, Side, Verdict};
use crate::frame::Frame;
use crate::stats::DropReason;
use crate::tables::Tenant;
use crate::wire::{checksum, icmpv4_type, icmpv6_type, ip_proto, Ipv4Packet};

/// RFC 4443 §2.4(c): an ICMPv6 error must fit the IPv6 minimum MTU.
const ICMPV6_ERROR_MAX: usize = 1280;
/// RFC 1812 §4.3.2.3: ICMPv4 errors are at most 576 bytes.
const ICMPV4_ERROR_MAX: usize = 576;
/// RFC 4884 §4: with extensions, the original datagram is padded to at least 128 bytes.
const RFC4884_MIN_ORIGINAL: usize = 128;

/// RFC 4884 §4.1: ICMPv4 types with a length attribute (byte 5).
fn v4_has_length(msg_type: u8) -> bool {
    matches!(
        msg_type,
        icmpv4_type::DEST_UNREACH | icmpv4_type::TIME_EXCEEDED | icmpv4_type::PARAM_PROBLEM
    )
}

/// RFC 4884 §4.1: ICMPv6 types with a length attribute (byte 4).
fn v6_has_length(msg_type: u8) -> bool {
    matches!(
        msg_type,
        icmpv6_type::DEST_UNREACH | icmpv6_type::TIME_EXCEEDED
    )
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Where the quoted datagram ends and the RFC 4884 extension structure (if any) begins, in bytes from the
/// start of the ICMP payload. A length attribute that does not fit the message is ignored (RFC 4884 §5.3:
/// treat it as a message without extensions).
fn original_len(length_attr: u8, word: usize, payload_len: usize, min_len: usize) -> Option<usize> {
    let orig = usize::from(length_attr) * word;
    (length_attr != 0 && orig <= payload_len && orig >= min_len).then_some(orig)
}

/// Moves the extension structure that sits at `pkt[ext_at..ext_at + ext_len]` to `new_at`, zero-filling the
/// gap between the translated quote and it (RFC 4884 §4 padding). `pkt` must already be long enough.
fn place_extension(pkt: &mut [u8], ext_at: usize, ext_len: usize, quote_end: usize, new_at: usize) {
    pkt.copy_within(ext_at..ext_at + ext_len, new_at);
    pkt[quote_end..new_at].fill(0);
}

/// Sets the frame's length for `headers (hdrs) | translated quote | padding | extension` and returns the total
/// length and the RFC 4884 length attribute (in `word`-byte words; 0 without extension). With an extension the
/// quote is zero-padded to a multiple of `word` and at least 128 bytes (RFC 4884 §4) and the extension moves
/// behind the padding; if that would exceed `max` the extension is left out (receivers then see a message
/// without extensions, RFC 4884 §5.3). The whole message is truncated to `max`.
fn lay_out(
    frame: &mut Frame,
    hdrs: usize,
    quote_len: usize,
    ext_len: usize,
    has_ext: bool,
    word: usize,
    max: usize,
) -> Result<(usize, u8), DropReason> {
    let mut total = hdrs + quote_len + ext_len;
    let mut length_attr = 0u8;
    if has_ext {
        let padded = round_up(quote_len.max(RFC4884_MIN_ORIGINAL), word);
        let with_ext = hdrs + padded + ext_len;
        if with_ext <= max && frame.set_len(with_ext.max(total)) {
            let quote_end = hdrs + quote_len;
            place_extension(
                frame.packet_mut(),
                quote_end,
                ext_len,
                quote_end,
                hdrs + padded,
            );
            length_attr = (padded / word) as u8;
            total = with_ext;
        } else {
            total = hdrs + quote_len;
        }
    }
    let total = total.min(max);
    if !frame.set_len(total) {
        return Err(DropReason::NoRoom);
    }
    Ok((total, length_attr))
}

/// The inner packet's ICMP echo type on the other side, if it is ICMP at all; an inner ICMP error is refused.
fn inner_icmp_type(
    seg: &[u8],
    is_error: fn(u8) -> bool,
    map: fn(u8, u8) -> Option<u8>,
) -> Result<Option<u8>, DropReason> {
    match seg.first() {
        None => Ok(None),
        Some(&ty) if is_error(ty) => Err(DropReason::IcmpErrorNested),
        Some(&ty) => map(ty, seg.get(1).copied().unwrap_or(0))
            .map(Some)
            .ok_or(DropReason::IcmpInnerInvalid),
    }
}

fn echo_v4_to_v6(ty: u8, code: u8) -> Option<u8> {
    match icmp_map::v4_to_v6(ty, code, 0) {
        Ok(IcmpMapping::Echo { msg_type }) => Some(msg_type),
        _ => None,
    }
}

fn echo_v6_to_v4(ty: u8, code: u8) -> Option<u8> {
    match icmp_map::v6_to_v4(ty, code, 0) {
        Ok(IcmpMapping::Echo { msg_type }) => Some(msg_type),
        _ => None,
    }
}

/// Updates an inner (quoted) ICMP echo's checksum for its new type and pseudo-header, if the field was quoted.
fn fix_inner_echo(seg: &mut [u8], new_type: u8, removed_pseudo: u32, added_pseudo: u32) {
    if seg.len() < 4 {
        if let Some(b) = seg.first_mut() {
            *b = new_type;
        }
        return;
    }
    l4::retype_icmp(seg, new_type, removed_pseudo, added_pseudo);
}

/// RFC 7915 §4.3: an ICMPv4 error (with its quoted IPv4 packet) becomes an ICMPv6 error.
pub fn v4_to_v6(frame: &mut Frame, t: &Tenant, rng: u32) -> Verdict {
    match v4_to_v6_inner(frame, t, rng, None) {
        Ok(()) => Verdict::Forward(Side::V6),
        Err(r) => Verdict::Drop(r),
    }
}

/// Stateful NAT64 (RFC 6146 §3.4): the same, except that the error's destination and the quoted packet's
/// source are the session's IPv6 client `local6` instead of a mapping of the pool4 address (the caller has
/// already rewritten the quoted port).
pub(crate) fn v4_to_v6_nat64(
    frame: &mut Frame,
    t: &Tenant,
    rng: u32,
    local6: &[u8; 16],
) -> Verdict {
    match v4_to_v6_inner(frame, t, rng, Some(local6)) {
        Ok(()) => Verdict::Forward(Side::V6),
        Err(r) => Verdict::Drop(r),
    }
}

fn v4_to_v6_inner(
    frame: &mut Frame,
    t: &Tenant,
    rng: u32,
    local6: Option<&[u8; 16]>,
) -> Result<(), DropReason> {
    let h = f46::parse(frame)?;
    if h.is_fragment() {
        return Err(DropReason::IcmpFragmented);
    }
    let pkt = frame.packet();
    let icmp_off = h.header_len;
    let icmp = &pkt[icmp_off..];
    if icmp.len() < 8 {
        return Err(DropReason::L4HeaderTruncated);
    }
    if !checksum::verify(icmp) {
        return Err(DropReason::IcmpChecksumInvalid);
    }
    let (ty, code) = (icmp[0], icmp[1]);
    let (ty6, code6, rest) = match icmp_map::v4_to_v6(ty, code, icmp[4])? {
        IcmpMapping::Error {
            msg_type,
            code,
            rest,
        } => (msg_type, code, rest),
        IcmpMapping::Echo { .. } => return Err(DropReason::IcmpUntranslatableType),
    };
    let advertised_mtu = u16::from_be_bytes([icmp[6], icmp[7]]);

    // The quoted packet: a whole IPv4 header, the rest possibly truncated.
    let quote = &icmp[8..];
    let payload_len = quote.len();
    let ihl = match quote.first() {
        Some(&b) if b >> 4 == 4 && usize::from(b & 0xf) * 4 >= 20 => usize::from(b & 0xf) * 4,
        _ => return Err(DropReason::IcmpInnerInvalid),
    };
    if quote.len() < ihl {
        return Err(DropReason::IcmpInnerInvalid);
    }
    let ih = V4Header::read(&Ipv4Packet::new_unchecked(quote));
    if ih.total_len < ihl {
        return Err(DropReason::IcmpInnerInvalid);
    }
    let orig = if v4_has_length(ty) {
        original_len(icmp[5], 4, payload_len, ihl)
    } else {
        None
    };
    let quote_len = orig.unwrap_or(payload_len);
    let inner_first = ih.frag_offset == 0;
    let inner_icmp6 = if ih.protocol == ip_proto::ICMP && inner_first {
        inner_icmp_type(
            &quote[ihl..quote_len],
            icmp_map::is_icmpv4_error,
            echo_v4_to_v6,
        )?
    } else {
        None
    };

    // Addresses: the outer source is whoever reported the error; without a mapping it comes from the RFC 6791
    // pool. The destination and the quoted addresses must translate.
    let src6 = f46::map_addr(t, h.src, DropReason::SrcUntranslatable)
        .unwrap_or_else(|_| t.rfc6791_v6(rfc6791_key(t, rng, u32::from_be_bytes(h.dst))));
    let (dst6, isrc6) = match local6 {
        Some(a) => (*a, *a),
        None => (
            f46::map_addr(t, h.dst, DropReason::DstUntranslatable)?,
            f46::map_addr(t, ih.src, DropReason::IcmpInnerInvalid)
                .map_err(|_| DropReason::IcmpInnerInvalid)?,
        ),
    };
    let idst6 = f46::map_addr(t, ih.dst, DropReason::IcmpInnerInvalid)
        .map_err(|_| DropReason::IcmpInnerInvalid)?;
    if h.ttl <= 1 {
        // No ICMP error about an ICMP error.
        return Err(DropReason::TtlExpired);
    }
    let ptb_mtu = (rest == Rest::Mtu).then(|| {
        let o = &t.opts;
        mtu::ptb_from_frag_needed(
            advertised_mtu,
            ih.total_len as u16,
            o.ipv6_mtu,
            o.ipv4_mtu,
            &o.mtu_plateaus,
        )
    });

    // Inner transport checksum, where it was quoted (it does not move).
    let inner_frag = ih.is_fragment();
    let ihdr6 = ih.ipv6_header_len(inner_frag);
    let seg_off = icmp_off + 8 + ihl;
    let seg_end = icmp_off + 8 + quote_len;
    let ext_len = payload_len - quote_len;
    let seg = &mut frame.packet_mut()[seg_off..seg_end];
    if inner_first {
        if let Some(type6) = inner_icmp6 {
            let len = (ih.total_len - ihl) as u32;
            fix_inner_echo(
                seg,
                type6,
                0,
                checksum::sum_v6_pseudo(&isrc6, &idst6, ip_proto::ICMPV6, len),
            );
        } else {
            let removed = checksum::add(
                checksum::sum_addr_v4(&ih.src),
                checksum::sum_addr_v4(&ih.dst),
            );
            let added = checksum::add(checksum::sum_addr_v6(&isrc6), checksum::sum_addr_v6(&idst6));
            l4::swap_pseudo_addrs(seg, ih.protocol, removed, added);
        }
    }

    // New layout: IPv6 (40) | ICMPv6 (8) | inner IPv6 (40 or 48) | inner transport... | extension
    let new_hdrs = 48 + ihdr6;
    if !frame.move_start(seg_off as isize - new_hdrs as isize) {
        return Err(DropReason::NoRoom);
    }
    let quote6_len = quote_len - ihl + ihdr6; // translated quote, from the inner IPv6 header on
    let (total, length_attr) = lay_out(
        frame,
        48,
        quote6_len,
        ext_len,
        orig.is_some(),
        8,
        ICMPV6_ERROR_MAX,
    )?;

    let pkt = frame.packet_mut();
    // Outer IPv6 header (RFC 7915 §4.1 rules; the hop limit is decremented).
    let tc = if t.opts.zeroize_traffic_class {
        0
    } else {
        h.tos
    };
    pkt[0] = 0x60 | (tc >> 4);
    pkt[1] = tc << 4;
    pkt[2] = 0;
    pkt[3] = 0;
    pkt[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
    pkt[6] = ip_proto::ICMPV6;
    pkt[7] = h.ttl - 1;
    pkt[8..24].copy_from_slice(&src6);
    pkt[24..40].copy_from_slice(&dst6);
    // ICMPv6 header.
    pkt[40] = ty6;
    pkt[41] = code6;
    pkt[42..44].copy_from_slice(&[0, 0]);
    let rest_word = match rest {
        Rest::Unused => [0, 0, 0, 0],
        Rest::Pointer(p) => [0, 0, 0, p],
        Rest::Mtu => ptb_mtu.unwrap_or(mtu::IPV6_MIN_MTU).to_be_bytes(),
    };
    pkt[44..48].copy_from_slice(&rest_word);
    if v6_has_length(ty6) {
        pkt[44] = length_attr;
    }
    // Inner IPv6 header: the quoted packet's own length, not the truncated one; hop limit as quoted.
    let inner_payload = (ih.total_len - ihl + ihdr6 - 40) as u16;
    f46::write_ipv6_header(
        &mut pkt[48..48 + ihdr6],
        &ih,
        inner_frag,
        t,
        &isrc6,
        &idst6,
        inner_payload,
        ih.ttl,
    );
    // ICMPv6 checksum over the whole new message.
    let icmp = &pkt[40..];
    let pseudo = checksum::sum_v6_pseudo(&src6, &dst6, ip_proto::ICMPV6, icmp.len() as u32);
    let c = checksum::finish(checksum::add(pseudo, checksum::sum(icmp)));
    pkt[42..44].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// RFC 7915 §5.3: an ICMPv6 error (with its quoted IPv6 packet) becomes an ICMPv4 error.
pub fn v6_to_v4(frame: &mut Frame, t: &Tenant, rng: u32) -> Verdict {
    match v6_to_v4_inner(frame, t, rng, None) {
        Ok(()) => Verdict::Forward(Side::V4),
        Err(r) => Verdict::Drop(r),
    }
}

/// Stateful NAT64 (RFC 6146 §3.4): the same, except that the quoted packet's destination is the binding's
/// pool4 address `local4` (the caller has already rewritten the quoted port), which is also the error's source
/// when the IPv6 source has no IPv4 form (an IPv6 client or router).
pub(crate) fn v6_to_v4_nat64(frame: &mut Frame, t: &Tenant, rng: u32, local4: [u8; 4]) -> Verdict {
    match v6_to_v4_inner(frame, t, rng, Some(local4)) {
        Ok(()) => Verdict::Forward(Side::V4),
        Err(r) => Verdict::Drop(r),
    }
}

fn v6_to_v4_inner(
    frame: &mut Frame,
    t: &Tenant,
    rng: u32,
    local4: Option<[u8; 4]>,
) -> Result<(), DropReason> {
    let h: V6Header = f64_::parse(frame)?;
    if h.is_fragment() {
        return Err(DropReason::IcmpFragmented);
    }
    let pkt = frame.packet();
    let icmp_off = h.upper_offset;
    let icmp = &pkt[icmp_off..];
    if icmp.len() < 8 {
        return Err(DropReason::L4HeaderTruncated);
    }
    let pseudo = checksum::sum_v6_pseudo(&h.src, &h.dst, ip_proto::ICMPV6, icmp.len() as u32);
    if checksum::fold(checksum::add(pseudo, checksum::sum(icmp))) != 0xffff {
        return Err(DropReason::IcmpChecksumInvalid);
    }
    let (ty, code) = (icmp[0], icmp[1]);
    let word = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
    let (ty4, code4, rest) = match icmp_map::v6_to_v4(ty, code, word)? {
        IcmpMapping::Error {
            msg_type,
            code,
            rest,
        } => (msg_type, code, rest),
        IcmpMapping::Echo { .. } => return Err(DropReason::IcmpUntranslatableType),
    };

    let quote = &icmp[8..];
    let payload_len = quote.len();
    let ih = f64_::read(quote, true).map_err(|_| DropReason::IcmpInnerInvalid)?;
    let orig = if v6_has_length(ty) {
        original_len(icmp[4], 8, payload_len, ih.upper_offset)
    } else {
        None
    };
    let quote_len = orig.unwrap_or(payload_len);
    if quote_len < ih.upper_offset {
        return Err(DropReason::IcmpInnerInvalid);
    }
    let inner_first = ih.first();
    let inner_icmp4 = if ih.protocol == ip_proto::ICMPV6 && inner_first {
        inner_icmp_type(
            &quote[ih.upper_offset..quote_len],
            icmp_map::is_icmpv6_error,
            echo_v6_to_v4,
        )?
    } else {
        None
    };

    let src4 = f64_::map_addr(t, &h.src, DropReason::SrcUntranslatable).unwrap_or_else(|_| {
        local4.unwrap_or_else(|| t.rfc6791_v4(rfc6791_key(t, rng, hash_v6(&h.dst))))
    });
    let dst4 = f64_::map_addr(t, &h.dst, DropReason::DstUntranslatable)?;
    let isrc4 = f64_::map_addr(t, &ih.src, DropReason::IcmpInnerInvalid)
        .map_err(|_| DropReason::IcmpInnerInvalid)?;
    let idst4 = match local4 {
        Some(a) => a,
        None => f64_::map_addr(t, &ih.dst, DropReason::IcmpInnerInvalid)
            .map_err(|_| DropReason::IcmpInnerInvalid)?,
    };
    if h.hop_limit <= 1 {
        return Err(DropReason::TtlExpired);
    }
    if h.routing.is_some_and(|r| r.segments_left != 0) {
        return Err(DropReason::Ipv6SegmentsLeft);
    }
    let frag_mtu = (rest == Rest::Mtu).then(|| {
        mtu::frag_needed_from_ptb(word, ih.frag.is_some(), t.opts.ipv4_mtu, t.opts.ipv6_mtu)
    });

    let seg_off = icmp_off + 8 + ih.upper_offset;
    let seg_end = icmp_off + 8 + quote_len;
    let ext_len = payload_len - quote_len;
    let inner_len4 = ih.upper_len() + 20;
    let seg = &mut frame.packet_mut()[seg_off..seg_end];
    if inner_first {
        if let Some(type4) = inner_icmp4 {
            let len = ih.upper_len() as u32;
            fix_inner_echo(
                seg,
                type4,
                checksum::sum_v6_pseudo(&ih.src, &ih.dst, ip_proto::ICMPV6, len),
                0,
            );
        } else {
            let removed = checksum::add(
                checksum::sum_addr_v6(&ih.src),
                checksum::sum_addr_v6(&ih.dst),
            );
            let added = checksum::add(checksum::sum_addr_v4(&isrc4), checksum::sum_addr_v4(&idst4));
            l4::swap_pseudo_addrs(seg, ih.protocol, removed, added);
        }
    }

    // New layout: IPv4 (20) | ICMPv4 (8) | inner IPv4 (20) | inner transport... | extension
    const NEW_HDRS: usize = 48;
    if !frame.move_start(seg_off as isize - NEW_HDRS as isize) {
        return Err(DropReason::NoRoom);
    }
    let quote4_len = quote_len - ih.upper_offset + 20;
    let (total, length_attr) = lay_out(
        frame,
        28,
        quote4_len,
        ext_len,
        orig.is_some(),
        4,
        ICMPV4_ERROR_MAX,
    )?;

    let pkt = frame.packet_mut();
    let outer_frag = V4Frag::of(&h, total, rng as u16);
    f64_::write_ipv4_header(
        &mut pkt[..20],
        &h,
        t,
        src4,
        dst4,
        total as u16,
        h.hop_limit - 1,
        outer_frag,
    );
    pkt[20] = ty4;
    pkt[21] = code4;
    pkt[22..24].copy_from_slice(&[0, 0]);
    let rest_word = match rest {
        Rest::Unused => [0, 0, 0, 0],
        Rest::Pointer(p) => [p, 0, 0, 0],
        Rest::Mtu => {
            let m = frag_mtu.unwrap_or(0);
            [0, 0, (m >> 8) as u8, m as u8]
        }
    };
    pkt[24..28].copy_from_slice(&rest_word);
    if v4_has_length(ty4) {
        pkt[25] = length_attr;
    }
    // The quoted packet's identification cannot be known (it was generated when it crossed the first time).
    let inner_frag = V4Frag::of(&ih, inner_len4, (rng >> 16) as u16);
    f64_::write_ipv4_header(
        &mut pkt[28..48],
        &ih,
        t,
        isrc4,
        idst4,
        inner_len4 as u16,
        ih.hop_limit,
        inner_frag,
    );
    let c = checksum::finish(checksum::sum(&pkt[20..]));
    pkt[22..24].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// RFC 6791 §4: the pool address is picked at random or by a hash of the destination, so that one
/// destination sees a stable source (traceroute output stays readable).
fn rfc6791_key(t: &Tenant, rng: u32, dst_hash: u32) -> u32 {
    if t.opts.randomize_rfc6791 {
        rng
    } else {
        dst_hash.wrapping_mul(0x9e37_79b9).rotate_left(16)
    }
}

fn hash_v6(a: &[u8; 16]) -> u32 {
    a.chunks_exact(4).fold(0u32, |h, c| {
        h.rotate_left(5) ^ u32::from_be_bytes([c[0], c[1], c[2], c[3]])
    })
}
