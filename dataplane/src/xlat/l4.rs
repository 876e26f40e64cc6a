//! Transport checksum updates shared by the outer and inner (ICMP-quoted) translations (RFC 7915 §4.5, §5.5).
//!
//! TCP and UDP checksums cover a pseudo-header whose addresses change across the translator; everything else in
//! the pseudo-header (length, protocol) sums to the same value in both families, so only the address sums are
//! swapped, incrementally (RFC 1624). The payload is never read.

use crate::wire::{checksum, ip_proto};

/// Offset of the checksum field inside the transport header, for protocols whose checksum covers a
/// pseudo-header with the addresses.
#[inline(always)]
pub fn checksum_offset(proto: u8) -> Option<usize> {
    match proto {
        ip_proto::TCP => Some(16),
        ip_proto::UDP => Some(6),
        _ => None,
    }
}

/// Replaces the address part of the pseudo-header in the TCP/UDP checksum at the start of `seg`, if the
/// checksum field lies within `seg` (quoted packets may be truncated). UDP's "no checksum" (0) stays 0: the
/// callers decide beforehand what to do with it.
#[inline(always)]
pub fn swap_pseudo_addrs(seg: &mut [u8], proto: u8, removed: u32, added: u32) {
    let Some(off) = checksum_offset(proto) else {
        return;
    };
    let Some(field) = seg.get_mut(off..off + 2) else {
        return;
    };
    let old = u16::from_be_bytes([field[0], field[1]]);
    if proto == ip_proto::UDP && old == 0 {
        return;
    }
    let mut new = checksum::adjust(old, removed, added);
    if proto == ip_proto::UDP && new == 0 {
        // RFC 768: a computed 0 is sent as all ones, 0 means "no checksum".
        new = 0xffff;
    }
    field.copy_from_slice(&new.to_be_bytes());
}

/// [`swap_pseudo_addrs`] when the pseudo-header's sum changes by a known `delta` (see
/// [`checksum::adjust_by`]; the same result as long as the new addresses do not sum to zero), for a fast
/// path that already knows the protocol: no re-dispatch on it. `UDP`: the checksum at offset 6 with RFC
/// 768's zero rule, else TCP's at offset 16; a `seg` too short for the field is left alone.
#[inline(always)]
pub fn shift_pseudo_sum_known<const UDP: bool>(seg: &mut [u8], delta: u16) {
    let off = if UDP { 6 } else { 16 };
    let Some(field) = seg.get_mut(off..off + 2) else {
        return;
    };
    let old = u16::from_be_bytes([field[0], field[1]]);
    if UDP && old == 0 {
        return;
    }
    let mut new = checksum::adjust_by(old, delta);
    if UDP && new == 0 {
        // RFC 768: a computed 0 is sent as all ones, 0 means "no checksum".
        new = 0xffff;
    }
    field.copy_from_slice(&new.to_be_bytes());
}

/// Gives an ICMP message the type `new_type` (echo request/reply across families, RFC 7915 §4.2, §5.2) and
/// updates its checksum incrementally (RFC 1624): out go the old type word and `removed`, in go the new type
/// word and `added` — the ICMPv6 pseudo-header on whichever side has it, a rewritten identifier (RFC 6146).
/// `seg` starts at the ICMP header and holds at least its first 4 bytes.
#[inline(always)]
pub fn retype_icmp(seg: &mut [u8], new_type: u8, removed: u32, added: u32) {
    let (old_type, code) = (seg[0], seg[1]);
    seg[0] = new_type;
    let removed = checksum::add(type_code_word(old_type, code), removed);
    let added = checksum::add(type_code_word(new_type, code), added);
    let old = u16::from_be_bytes([seg[2], seg[3]]);
    seg[2..4].copy_from_slice(&checksum::adjust(old, removed, added).to_be_bytes());
}

/// Sum of an ICMP header's first word (type and code).
#[inline(always)]
pub fn type_code_word(msg_type: u8, code: u8) -> u32 {
    u32::from(u16::from_be_bytes([msg_type, code]))
}
