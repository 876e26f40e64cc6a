//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! A *partial sum* is a `u32` whose [`fold`] is the 16-bit one's-complement sum of big-endian 16-bit words.
//! Partial sums of pieces combine with [`add`] as long as every piece but the last has an even length (RFC 1071
//! §2(A): the sum is associative and commutative over 16-bit words). [`finish`] turns a partial sum into the
//! value stored in a checksum field.
//!
//! The fixed-size helpers are `#[inline(always)]`: each is a handful of instructions, cheaper inlined than
//! called, and the translator's fast path calls them on every packet.

/// One's-complement partial sum of `data` as big-endian 16-bit words; an odd trailing byte is the high byte of
/// a last word padded with zero (RFC 1071 §4.1). Not folded to 16 bits in general, not inverted.
///
/// Fast path: 8 bytes at a time as native-endian `u64`s. RFC 1071 §2(B): the one's-complement sum does not
/// depend on byte order, so we add the words as the CPU loads them and swap the folded 16-bit result once at
/// the end. RFC 1071 §2(C): summing 64-bit words with end-around carry and folding gives the same 16-bit sum,
/// because 2^16 ≡ 1 (mod 2^16 - 1).
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    // Carries counted apart from `acc`, so the add chain has no dependency on the carry flag of the previous
    // add (one add per 8 bytes on the critical path). A `u64` of carries cannot overflow: that would take
    // 2^64 chunks.
    let mut carries: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let (s, c) = acc.overflowing_add(u64::from_ne_bytes(word));
        acc = s;
        carries += u64::from(c);
    }
    // The tail (0..=7 bytes) as a 4-, a 2- and a 1-byte piece (no memcpy call for a few bytes; headers are
    // short, so the tail is a good part of the work). Which 16-bit lane of `acc` a word lands in does not
    // matter (2^16 ≡ 1), only that its two bytes stay paired. The odd last byte is padded with a zero *after*
    // it in memory order, so it sits where the high byte of a big-endian word sits, whatever the byte order.
    let mut rest = chunks.remainder();
    let mut tail: u64 = 0;
    if let [a, b, c, d, more @ ..] = rest {
        tail += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        rest = more;
    }
    if let [a, b, more @ ..] = rest {
        tail += u64::from(u16::from_ne_bytes([*a, *b]));
        rest = more;
    }
    if let [a] = rest {
        tail += u64::from(u16::from_ne_bytes([*a, 0]));
    }
    let (s, c) = acc.overflowing_add(tail);
    acc = s;
    carries += u64::from(c);

    // End-around carry: acc + carries, wrapping the carry back in. If the add carries, the wrapped sum is
    // below 2^64 - 1, so adding the 1 cannot carry again.
    let (s, c) = acc.overflowing_add(carries);
    let acc = s + u64::from(c);
    // 64 -> 32 bits, same reasoning.
    let (s, c) = (acc as u32).overflowing_add((acc >> 32) as u32);
    let acc = s + u32::from(c);
    // Native-endian 16-bit sum -> big-endian 16-bit sum: one byte swap on little-endian CPUs (RFC 1071 §2(B)).
    u32::from(u16::from_be(fold(acc)))
}

/// Adds two partial sums with end-around carry (RFC 1071 §2: 2^32 ≡ 1 mod 2^16 - 1, so the carry out of bit 31
/// is added back in at bit 0).
#[inline(always)]
pub fn add(a: u32, b: u32) -> u32 {
    let (s, c) = a.overflowing_add(b);
    s + u32::from(c)
}

/// Folds a partial sum to 16 bits (not inverted). Zero only if the sum is zero.
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    // The halves a (high) and b (low) added with end-around carry, in one add: (a:b) + (b:a) has a + b in its
    // top half plus the carry out of b + a in its bottom half, which is exactly the end-around carry. The same
    // value as two rounds of (s & 0xffff) + (s >> 16), in four instructions instead of six.
    (sum.wrapping_add(sum.rotate_left(16)) >> 16) as u16
}

/// The value to store in a checksum field: the one's complement of the folded sum (RFC 1071 §1).
#[inline(always)]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Partial sum of one IPv4 address (two 16-bit words; below 2^17).
#[inline(always)]
pub fn sum_addr_v4(a: &[u8; 4]) -> u32 {
    // One 32-bit load instead of two 16-bit ones.
    let w = u32::from_be_bytes(*a);
    (w >> 16) + (w & 0xffff)
}

/// Partial sum of one IPv6 address, below 2^17 (so that a few of them add with plain `+`).
///
/// As two big-endian 64-bit words with end-around carry, folded to 32 and then 17 bits (RFC 1071 §2(C):
/// 2^16 ≡ 1 mod 2^16 - 1, so wide words sum to the same 16-bit value). Eight 16-bit adds would cost three
/// times the instructions, on every translated TCP/UDP packet.
#[inline(always)]
pub fn sum_addr_v6(a: &[u8; 16]) -> u32 {
    sum_u128(u128::from_be_bytes(*a))
}

/// [`sum_addr_v6`] of an address held as an integer (network byte order): the same value, without a trip
/// through memory for code that computed the address in registers.
#[inline(always)]
pub fn sum_u128(a: u128) -> u32 {
    let (hi, lo) = ((a >> 64) as u64, a as u64);
    let (s, c) = hi.overflowing_add(lo);
    // If the add carried, `s` is at most 2^64 - 2: adding the carry back cannot carry again.
    let s = s + u64::from(c);
    let (s, c) = (s as u32).overflowing_add((s >> 32) as u32);
    let s = s + u32::from(c);
    (s & 0xffff) + (s >> 16)
}

/// Partial sum (below 2^17) of a 20-byte IPv4 header, options excluded: three big-endian loads with
/// end-around carry (RFC 1071 §2(C)), no loop. [`sum`] on a slice of unknown length runs its 8-byte loop and
/// tail logic even when the slice is always 20 bytes long; this is the version for headers being verified or
/// written on every packet.
#[inline(always)]
pub fn sum_ipv4_header(h: &[u8; 20]) -> u32 {
    let (a, b, c) = header_words(h);
    sum_ipv4_header_words(u64::from_be(a), u64::from_be(b), u32::from_be(c))
}

/// [`sum_ipv4_header`] of a header held as three big-endian words (bytes 0..8, 8..16, 16..20 as integers),
/// for code that builds the header in registers.
#[inline(always)]
pub fn sum_ipv4_header_words(a: u64, b: u64, c: u32) -> u32 {
    let (s, c1) = a.overflowing_add(b);
    let (s, c2) = s.overflowing_add(u64::from(c));
    // At most two carries out, and if there was one, `s` is far enough below 2^64 to take them back.
    let s = s + u64::from(c1) + u64::from(c2);
    let (s, c) = (s as u32).overflowing_add((s >> 32) as u32);
    let s = s + u32::from(c);
    (s & 0xffff) + (s >> 16)
}

/// Whether a 20-byte IPv4 header's checksum is right ([`verify`] for headers without options).
///
/// The words are summed as the CPU loads them, without byte swaps: RFC 1071 §2(B), the sum in the other
/// byte order is the byte-swapped sum, and 0xffff (the only right answer) reads the same both ways.
#[inline(always)]
pub fn verify_ipv4_header(h: &[u8; 20]) -> bool {
    let (a, b, c) = header_words(h);
    fold(sum_ipv4_header_words(a, b, c)) == 0xffff
}

/// The header as native-endian words: bytes 0..8, 8..16, 16..20.
#[inline(always)]
fn header_words(h: &[u8; 20]) -> (u64, u64, u32) {
    let (a, rest) = h.split_at(8);
    let (b, c) = rest.split_at(8);
    (
        u64::from_ne_bytes(a.try_into().expect("8 bytes")),
        u64::from_ne_bytes(b.try_into().expect("8 bytes")),
        u32::from_ne_bytes(c.try_into().expect("4 bytes")),
    )
}

/// Partial sum of the IPv4 pseudo-header of TCP/UDP (RFC 793 §3.1, RFC 768): source, destination, zero,
/// protocol, TCP/UDP length.
#[inline(always)]
pub fn sum_v4_pseudo(src: &[u8; 4], dst: &[u8; 4], proto: u8, len: u16) -> u32 {
    sum_addr_v4(src) + sum_addr_v4(dst) + u32::from(proto) + u32::from(len)
}

/// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit upper-layer packet
/// length, three zero bytes, next header.
#[inline(always)]
pub fn sum_v6_pseudo(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    // Two sums below 2^17, two words and a byte: far below 2^32.
    sum_addr_v6(src) + sum_addr_v6(dst) + (len >> 16) + (len & 0xffff) + u32::from(next_header)
}

/// RFC 1624 eq. 3: HC' = ~(~HC + ~m + m'), where `removed` (m) and `added` (m') are partial sums of the old and
/// the new data (each covering whole 16-bit words at even offsets, or combined with [`add`]).
///
/// Eq. 3, not RFC 1141's HC + m + ~m' (eq. 2), which RFC 1624 §3 shows yielding -0 (0xffff) where a full
/// recomputation yields 0. With end-around carry, eq. 3 gives exactly what a full recomputation gives whenever
/// the covered data does not sum to zero, which a real header never does (a pseudo-header or an IPv4 header
/// always has nonzero words); the property tests check this.
#[inline(always)]
pub fn adjust(csum: u16, removed: u32, added: u32) -> u16 {
    let s = add(u32::from(!csum), u32::from(!fold(removed)));
    finish(add(s, added))
}

/// [`adjust`] when the change is known in advance: `delta`, in 1..=0xffff, congruent to `added - removed`
/// modulo 0xffff. Equal to `adjust(csum, removed, added)` whenever `added` is nonzero: both sums are then
/// nonzero, so both fold into 1..=0xffff, where congruent values are equal. Two adds and a fold instead of
/// summing both sides, for translations whose pseudo-header changes by a per-tenant constant.
#[inline(always)]
pub fn adjust_by(csum: u16, delta: u16) -> u16 {
    finish(add(u32::from(!csum), u32::from(delta)))
}

/// Whether `data`, checksum field included, sums to 0xffff (RFC 1071 §1: the check at the receiver).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    fold(sum(data)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook algorithm (RFC 1071 §4.1), word by word: the independent reference.
    fn naive_sum(data: &[u8]) -> u32 {
        let mut s: u64 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            s += u64::from(u16::from_be_bytes([data[i], data[i + 1]]));
            i += 2;
        }
        if i < data.len() {
            s += u64::from(data[i]) << 8;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u32
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(finish(sum(&data)), !0xddf2);
    }

    #[test]
    fn odd_tail_is_high_byte() {
        assert_eq!(fold(sum(&[0xab])), 0xab00);
        assert_eq!(fold(sum(&[0x01, 0x02, 0x03])), 0x0102 + 0x0300);
        // 9 bytes: one full chunk plus an odd tail.
        let d = [0, 0, 0, 0, 0, 0, 0, 1, 0x80];
        assert_eq!(fold(sum(&d)), 0x8001);
    }

    #[test]
    fn every_short_length_and_alignment() {
        // Every tail shape (0..=7 bytes after the 8-byte chunks) at every start alignment, with high bytes so
        // that carries happen.
        let data: Vec<u8> = (0..80u32)
            .map(|i| (i.wrapping_mul(151) ^ 0xc3) as u8)
            .collect();
        for off in 0..8 {
            for len in 0..64 {
                let d = &data[off..off + len];
                assert_eq!(fold(sum(d)), naive_sum(d) as u16, "off {off} len {len}");
            }
        }
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(fold(sum(&[0; 100])), 0);
        assert!(!verify(&[]));
    }

    #[test]
    fn carries_wrap_around() {
        // All-ones words: every add carries, the sum stays 0xffff (negative zero), never 0.
        assert_eq!(fold(sum(&[0xff; 64])), 0xffff);
        assert_eq!(fold(sum(&[0xff; 63])), naive_sum(&[0xff; 63]) as u16);
        assert_eq!(add(0xffff_ffff, 1), 1);
        assert_eq!(fold(0xffff_ffff), 0xffff);
    }

    #[test]
    fn real_ipv4_header() {
        // The classic example header (checksum 0xb861 at bytes 10..12).
        #[rustfmt::skip]
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
            0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verify(&h));
        let mut z = h;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(finish(sum(&z)), 0xb861);
    }

    #[test]
    fn ipv4_header_sum_matches_sum() {
        let data: Vec<u8> = (0..40u32)
            .map(|i| (i.wrapping_mul(151) ^ 0xc3) as u8)
            .collect();
        for off in 0..20 {
            let h: &[u8; 20] = data[off..off + 20].try_into().unwrap();
            assert_eq!(fold(sum_ipv4_header(h)), fold(sum(h)), "offset {off}");
        }
        assert_eq!(sum_ipv4_header(&[0; 20]), 0);
        assert_eq!(fold(sum_ipv4_header(&[0xff; 20])), 0xffff);
    }

    #[test]
    fn pseudo_headers_match_byte_sums() {
        let src4 = [192, 0, 2, 1];
        let dst4 = [198, 51, 100, 7];
        let mut p4 = Vec::new();
        p4.extend_from_slice(&src4);
        p4.extend_from_slice(&dst4);
        p4.extend_from_slice(&[0, 17, 0x12, 0x34]);
        assert_eq!(
            fold(sum_v4_pseudo(&src4, &dst4, 17, 0x1234)),
            fold(sum(&p4))
        );

        let src6 = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        let dst6 = [
            0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0xc6, 0x33, 0x64, 0x07,
        ];
        let len = 0x0001_2345u32;
        let mut p6 = Vec::new();
        p6.extend_from_slice(&src6);
        p6.extend_from_slice(&dst6);
        p6.extend_from_slice(&len.to_be_bytes());
        p6.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(fold(sum_v6_pseudo(&src6, &dst6, 58, len)), fold(sum(&p6)));
        assert_eq!(fold(sum_addr_v6(&src6)), fold(sum(&src6)));
        assert_eq!(fold(sum_addr_v4(&src4)), fold(sum(&src4)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random lengths and start offsets (so the 8-byte loads are misaligned in every way).
        #[test]
        fn sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..1600), off in 0usize..8) {
            let off = off.min(data.len());
            let d = &data[off..];
            prop_assert_eq!(fold(sum(d)), naive_sum(d) as u16);
        }

        /// Splitting at an even offset and adding the halves' sums gives the whole sum.
        /// The fixed-size sums agree with the general one (and zero stays zero, nonzero stays nonzero).
        #[test]
        fn fixed_size_sums_match(a in any::<[u8; 16]>(), h in any::<[u8; 20]>()) {
            prop_assert_eq!(fold(sum_addr_v6(&a)), fold(sum(&a)));
            prop_assert_eq!(sum_addr_v6(&a) == 0, a == [0; 16]);
            prop_assert_eq!(fold(sum_ipv4_header(&h)), fold(sum(&h)));
            prop_assert_eq!(sum_ipv4_header(&h) == 0, h == [0; 20]);
            prop_assert_eq!(verify_ipv4_header(&h), verify(&h));
            // A header made right by its checksum field verifies.
            let mut ok = h;
            ok[10..12].fill(0);
            let c = finish(sum(&ok));
            ok[10..12].copy_from_slice(&c.to_be_bytes());
            prop_assert!(verify_ipv4_header(&ok));
            let v4: [u8; 4] = a[..4].try_into().unwrap();
            prop_assert_eq!(fold(sum_addr_v4(&v4)), fold(sum(&v4)));
        }

        #[test]
        fn sum_is_additive(data in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..300) {
            let cut = (cut * 2).min(data.len() & !1);
            let whole = fold(sum(&data));
            let parts = fold(add(sum(&data[..cut]), sum(&data[cut..])));
            prop_assert_eq!(whole, parts);
        }

        #[test]
        fn fill_then_verify(data in proptest::collection::vec(any::<u8>(), 2..300)) {
            let mut d = data;
            d[0] = 0;
            d[1] = 0;
            let c = finish(sum(&d));
            d[0..2].copy_from_slice(&c.to_be_bytes());
            // Even for all-zero data: the checksum is then 0xffff, which makes the message nonzero.
            prop_assert!(verify(&d));
        }

        /// RFC 1624: replacing an even-aligned region and adjusting matches a full recomputation. The data
        /// starts with a nonzero word (like a real pseudo-header) so the new sum is never zero.
        #[test]
        fn adjust_matches_recompute(
            data in proptest::collection::vec(any::<u8>(), 4..200),
            at in 0usize..100,
            new in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut old = vec![0x45, 0x00];
            old.extend_from_slice(&data);
            let at = 2 + (at * 2).min((old.len() - 2) & !1);
            let n = (new.len() & !1).min((old.len() - at) & !1);
            let mut updated = old.clone();
            updated[at..at + n].copy_from_slice(&new[..n]);

            let hc = finish(sum(&old));
            let hc2 = adjust(hc, sum(&old[at..at + n]), sum(&updated[at..at + n]));
            prop_assert_eq!(hc2, finish(sum(&updated)));
        }

        /// `adjust_by` with the difference as a representative in 1..=0xffff is `adjust`, for nonzero
        /// `added` (edge values included: sums of zero, of 0xffff, all-ones checksums).
        #[test]
        fn adjust_by_is_adjust(
            csum in prop_oneof![Just(0u16), Just(0xffff), any::<u16>()],
            removed in prop_oneof![Just(0u32), Just(0xffff), Just(0x1fffe), any::<u32>()],
            added in prop_oneof![Just(0xffffu32), Just(0x1fffe), 1u32..],
        ) {
            let diff = (u64::from(added) + 0xffff * 0x2_0000 - u64::from(removed)) % 0xffff;
            let delta = if diff == 0 { 0xffff } else { diff as u16 };
            prop_assert_eq!(adjust_by(csum, delta), adjust(csum, removed, added));
        }

        #[test]
        fn fold_is_two_rounds(x in prop_oneof![Just(0u32), Just(0xffff), Just(0x1_0000), Just(0xffff_ffff), Just(0x1fffe), any::<u32>()]) {
            let s = (x & 0xffff) + (x >> 16);
            let s = (s & 0xffff) + (s >> 16);
            prop_assert_eq!(fold(x), s as u16);
        }

        #[test]
        fn add_fold_match_wide_sum(a in any::<u32>(), b in any::<u32>()) {
            let mut wide = u64::from(a) + u64::from(b);
            while wide > 0xffff {
                wide = (wide & 0xffff) + (wide >> 16);
            }
            prop_assert_eq!(fold(add(a, b)), wide as u16);
        }
    }
}
