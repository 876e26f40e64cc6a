//! Splitting a translated packet that is larger than its egress allows (RFC 7915 §4: IPv4 DF=0 packets into
//! IPv6 fragments of at most `lowest_ipv6_mtu`; §5: IPv6 packets that could not be refused with Packet Too
//! Big into IPv4 fragments).
//!
//! This is the one place where payload bytes are copied: each fragment is assembled in a scratch buffer owned
//! by the caller (allocated once, reused) and handed on. Fragment offsets continue from the packet's own
//! offset, and the last fragment keeps its More Fragments flag, so fragments of fragments reassemble.

use crate::wire::checksum;

/// Largest IP packet, the size a scratch buffer needs.
pub const MAX_PACKET: usize = 65535 + 48;

/// Splits the translated IPv6 packet `pkt` (a 40-byte header followed by a Fragment Header, as
/// [`super::v4_to_v6`] writes it) into fragments of at most `mtu` bytes, calling `emit` with each. Returns how
/// many were emitted (0 if `mtu` leaves no room for 8 bytes of data).
pub fn split_v6(pkt: &[u8], mtu: u16, scratch: &mut [u8], emit: &mut dyn FnMut(&[u8])) -> usize {
    const HDRS: usize = 48;
    let max_data = (usize::from(mtu).saturating_sub(HDRS)) & !7;
    if max_data == 0 || pkt.len() <= HDRS {
        return 0;
    }
    let off_m = u16::from_be_bytes([pkt[42], pkt[43]]);
    let base = off_m & !7;
    let last_more = off_m & 1 != 0;
    let data = &pkt[HDRS..];
    let mut n = 0;
    for (i, chunk) in data.chunks(max_data).enumerate() {
        let more = last_more || (i + 1) * max_data < data.len();
        let out = &mut scratch[..HDRS + chunk.len()];
        out[..HDRS].copy_from_slice(&pkt[..HDRS]);
        out[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
        let offset = base + (i * max_data) as u16;
        out[42..44].copy_from_slice(&(offset | u16::from(more)).to_be_bytes());
        out[HDRS..].copy_from_slice(chunk);
        emit(out);
        n += 1;
    }
    n
}

/// Splits the translated IPv4 packet `pkt` (a 20-byte header, DF clear) into fragments of at most `mtu`
/// bytes, calling `emit` with each. Returns how many were emitted.
pub fn split_v4(pkt: &[u8], mtu: u16, scratch: &mut [u8], emit: &mut dyn FnMut(&[u8])) -> usize {
    const HDR: usize = 20;
    let max_data = (usize::from(mtu).saturating_sub(HDR)) & !7;
    if max_data == 0 || pkt.len() <= HDR {
        return 0;
    }
    let flags = u16::from_be_bytes([pkt[6], pkt[7]]);
    let base = (flags & 0x1fff) << 3;
    let last_more = flags & 0x2000 != 0;
    let data = &pkt[HDR..];
    let mut n = 0;
    for (i, chunk) in data.chunks(max_data).enumerate() {
        let more = last_more || (i + 1) * max_data < data.len();
        let out = &mut scratch[..HDR + chunk.len()];
        out[..HDR].copy_from_slice(&pkt[..HDR]);
        out[2..4].copy_from_slice(&((HDR + chunk.len()) as u16).to_be_bytes());
        let offset = base + (i * max_data) as u16;
        let f = (u16::from(more) << 13) | (offset >> 3);
        out[6..8].copy_from_slice(&f.to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::finish(checksum::sum(&out[..HDR]));
        out[10..12].copy_from_slice(&c.to_be_bytes());
        out[HDR..].copy_from_slice(chunk);
        emit(out);
        n += 1;
    }
    n
}
