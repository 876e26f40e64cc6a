//! RFC 6052: IPv4-embedded IPv6 addresses.
//!
//! An [`Rfc6052Prefix`] embeds an IPv4 address after a /32, /40, /48, /56, /64 or /96 prefix, skipping bits
//! 64..71 (the u-octet), and extracts it back. Both directions are a handful of shifts and masks on a `u128`
//! whose constants are computed once, when the prefix is built: no loops, no allocation, no branch on the
//! prefix length per packet.

use std::fmt;
use std::net::Ipv6Addr;

/// The Well-Known Prefix `64:ff9b::/96` (RFC 6052 §2.1).
pub const WKP: [u8; 16] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Length of the Well-Known Prefix.
pub const WKP_LEN: u8 = 96;

/// The prefix lengths RFC 6052 §2.2 allows.
pub const LEGAL_LENS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// The u-octet, bits 64..71 of the address (RFC 6052 §2.2), as a `u128` mask.
const U_OCTET: u128 = 0xff << 56;

/// Why a prefix cannot be used for RFC 6052 address mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rfc6052Error {
    #[error("prefix length /{0} is not one of /32, /40, /48, /56, /64, /96 (RFC 6052 §2.2)")]
    BadLength(u8),
    #[error("bits 64..71 (the u-octet) must be zero (RFC 6052 §2.2)")]
    UOctetNonZero,
    #[error("host bits must be zero")]
    HostBitsNonZero,
}

/// `u128` mask of the first `len` bits (`len` 0..=128).
#[inline]
pub(crate) const fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

/// An RFC 6052 prefix with its embedding constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rfc6052Prefix {
    prefix: u128,
    mask: u128,
    len: u8,
    /// Number of IPv4 bits after the u-octet (32 for /64 and /96, 0 for /32).
    lo_bits: u8,
    /// Where the lowest of those bits lands in the `u128` (0 for /96, else `56 - lo_bits`).
    lo_shift: u8,
    /// Masks of the IPv4 bits before (`hi`) and after (`lo`) the u-octet, right-aligned.
    hi_mask: u64,
    lo_mask: u64,
}

impl Rfc6052Prefix {
    /// The prefix `addr/len`. RFC 6052 §2.2: `len` one of /32 /40 /48 /56 /64 /96, bits 64..71 zero; and no
    /// bits set past `len`.
    pub fn new(addr: [u8; 16], len: u8) -> Result<Self, Rfc6052Error> {
        if !LEGAL_LENS.contains(&len) {
            return Err(Rfc6052Error::BadLength(len));
        }
        let prefix = u128::from_be_bytes(addr);
        let mask = mask128(len);
        if prefix & !mask != 0 {
            return Err(Rfc6052Error::HostBitsNonZero);
        }
        if prefix & U_OCTET != 0 {
            return Err(Rfc6052Error::UOctetNonZero);
        }
        // IPv4 bits between the prefix and the u-octet; the rest follow the u-octet.
        let hi_bits = 64u8.saturating_sub(len);
        let lo_bits = 32 - hi_bits;
        let lo_shift = if len == 96 { 0 } else { 56 - lo_bits };
        Ok(Rfc6052Prefix {
            prefix,
            mask,
            len,
            lo_bits,
            lo_shift,
            hi_mask: (1u64 << hi_bits) - 1,
            lo_mask: (1u64 << lo_bits) - 1,
        })
    }

    /// The Well-Known Prefix `64:ff9b::/96`.
    pub fn well_known() -> Self {
        Self::new(WKP, WKP_LEN).expect("64:ff9b::/96 is a legal RFC 6052 prefix")
    }

    /// The prefix length (32, 40, 48, 56, 64 or 96).
    #[expect(
        clippy::len_without_is_empty,
        reason = "a prefix length, not a container size"
    )]
    #[inline]
    pub fn len(&self) -> u8 {
        self.len
    }

    #[inline]
    pub fn addr(&self) -> [u8; 16] {
        self.prefix.to_be_bytes()
    }

    /// True for `64:ff9b::/96` (RFC 6052 §2.1), which RFC 6052 §3.1 restricts to global IPv4 addresses.
    #[inline]
    pub fn is_well_known(&self) -> bool {
        self.len == WKP_LEN && self.prefix == u128::from_be_bytes(WKP)
    }

    /// True if `a` is under this prefix.
    #[inline]
    pub fn contains(&self, a: &[u8; 16]) -> bool {
        u128::from_be_bytes(*a) & self.mask == self.prefix
    }

    /// RFC 6052 §2.2: the IPv4-embedded IPv6 address of `v4`. The u-octet (bits 64..71) and the suffix are
    /// zero.
    #[inline]
    pub fn embed(&self, v4: [u8; 4]) -> [u8; 16] {
        let v = u64::from(u32::from_be_bytes(v4));
        let hi = (v >> self.lo_bits) as u128;
        let lo = (v & self.lo_mask) as u128;
        (self.prefix | (hi << 64) | (lo << self.lo_shift)).to_be_bytes()
    }

    /// RFC 6052 §2.3: the IPv4 address embedded in `a`, or `None` if `a` is not under this prefix. The u-octet
    /// and the suffix are not looked at.
    #[inline]
    pub fn extract(&self, a: &[u8; 16]) -> Option<[u8; 4]> {
        let a = u128::from_be_bytes(*a);
        if a & self.mask != self.prefix {
            return None;
        }
        let hi = ((a >> 64) as u64) & self.hi_mask;
        let lo = ((a >> self.lo_shift) as u64) & self.lo_mask;
        Some((((hi << self.lo_bits) | lo) as u32).to_be_bytes())
    }
}

impl fmt::Debug for Rfc6052Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rfc6052Prefix({self})")
    }
}

impl fmt::Display for Rfc6052Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.prefix), self.len)
    }
}

/// RFC 6052 §3.1 (the Well-Known Prefix must not carry non-global IPv4 addresses), with "global" as the IANA
/// IPv4 Special-Purpose Address Registry (RFC 6890 §2.2.2, updated) defines it: false for the blocks whose
/// "Global" flag is False.
///
/// | block | | block | |
/// |---|---|---|---|
/// | 0.0.0.0/8 | this network | 192.0.2.0/24 | TEST-NET-1 |
/// | 10.0.0.0/8 | private | 192.168.0.0/16 | private |
/// | 100.64.0.0/10 | shared (CGN) | 198.18.0.0/15 | benchmarking |
/// | 127.0.0.0/8 | loopback | 198.51.100.0/24 | TEST-NET-2 |
/// | 169.254.0.0/16 | link local | 203.0.113.0/24 | TEST-NET-3 |
/// | 172.16.0.0/12 | private | 240.0.0.0/4 | reserved |
/// | 192.0.0.0/24 | IETF protocol assignments, except 192.0.0.9 and 192.0.0.10 (RFC 7723, RFC 8155: global) | 255.255.255.255/32 | broadcast (in 240/4) |
///
/// 192.88.99.0/24 (6to4 relay anycast, Global = True in RFC 6890, deprecated by RFC 7526) and multicast
/// (not in the registry) count as global.
#[inline]
pub fn is_global_v4(a: [u8; 4]) -> bool {
    match a[0] {
        0 | 10 | 127 => false,
        100 => a[1] & 0xc0 != 64,
        169 => a[1] != 254,
        172 => a[1] & 0xf0 != 16,
        192 => match (a[1], a[2]) {
            (0, 0) => a[3] == 9 || a[3] == 10,
            (0, 2) | (168, _) => false,
            _ => true,
        },
        198 => !(a[1] & 0xfe == 18 || (a[1] == 51 && a[2] == 100)),
        203 => !(a[1] == 0 && a[2] == 113),
        240..=255 => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    fn v4(s: &str) -> [u8; 4] {
        s.parse::<Ipv4Addr>().unwrap().octets()
    }

    fn prefix(s: &str) -> Rfc6052Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Rfc6052Prefix::new(v6(a), l.parse().unwrap()).unwrap()
    }

    /// RFC 6052 §2.4, "Text Representation of IPv4-Embedded IPv6 Addresses", the example table (192.0.2.33
    /// under each network-specific prefix length), plus the Well-Known Prefix line of the same section.
    const RFC6052_2_4: [(&str, &str, &str); 7] = [
        ("2001:db8::/32", "192.0.2.33", "2001:db8:c000:221::"),
        ("2001:db8:100::/40", "192.0.2.33", "2001:db8:1c0:2:21::"),
        (
            "2001:db8:122::/48",
            "192.0.2.33",
            "2001:db8:122:c000:2:2100::",
        ),
        (
            "2001:db8:122:300::/56",
            "192.0.2.33",
            "2001:db8:122:3c0:0:221::",
        ),
        (
            "2001:db8:122:344::/64",
            "192.0.2.33",
            "2001:db8:122:344:c0:2:2100:0",
        ),
        (
            "2001:db8:122:344::/96",
            "192.0.2.33",
            "2001:db8:122:344::192.0.2.33",
        ),
        ("64:ff9b::/96", "192.0.2.33", "64:ff9b::192.0.2.33"),
    ];

    #[test]
    fn rfc6052_section_2_4_examples_embed() {
        for (p, a4, a6) in RFC6052_2_4 {
            assert_eq!(prefix(p).embed(v4(a4)), v6(a6), "{a4} under {p}");
        }
    }

    #[test]
    fn rfc6052_section_2_4_examples_extract() {
        for (p, a4, a6) in RFC6052_2_4 {
            assert_eq!(prefix(p).extract(&v6(a6)), Some(v4(a4)), "{a6} under {p}");
        }
    }

    #[test]
    fn byte_exact_layout_of_each_length() {
        // 192.0.2.33 = c0 00 02 21; "u" marks byte 8, always zero.
        let rows: [(&str, [u8; 16]); 6] = [
            (
                "2001:db8::/32",
                [
                    0x20, 0x01, 0x0d, 0xb8, 0xc0, 0x00, 0x02, 0x21, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
            (
                "2001:db8:100::/40",
                [
                    0x20, 0x01, 0x0d, 0xb8, 0x01, 0xc0, 0x00, 0x02, 0, 0x21, 0, 0, 0, 0, 0, 0,
                ],
            ),
            (
                "2001:db8:122::/48",
                [
                    0x20, 0x01, 0x0d, 0xb8, 0x01, 0x22, 0xc0, 0x00, 0, 0x02, 0x21, 0, 0, 0, 0, 0,
                ],
            ),
            (
                "2001:db8:122:300::/56",
                [
                    0x20, 0x01, 0x0d, 0xb8, 0x01, 0x22, 0x03, 0xc0, 0, 0x00, 0x02, 0x21, 0, 0, 0, 0,
                ],
            ),
            (
                "2001:db8:122:344::/64",
                [
                    0x20, 0x01, 0x0d, 0xb8, 0x01, 0x22, 0x03, 0x44, 0, 0xc0, 0x00, 0x02, 0x21, 0,
                    0, 0,
                ],
            ),
            (
                "2001:db8:122:344::/96",
                [
                    0x20, 0x01, 0x0d, 0xb8, 0x01, 0x22, 0x03, 0x44, 0, 0, 0, 0, 0xc0, 0x00, 0x02,
                    0x21,
                ],
            ),
        ];
        for (p, bytes) in rows {
            assert_eq!(prefix(p).embed([192, 0, 2, 33]), bytes, "{p}");
        }
    }

    #[test]
    fn u_octet_and_suffix_stay_zero() {
        for len in LEGAL_LENS {
            let p = Rfc6052Prefix::new(v6("2001:db8::"), len).unwrap();
            let a = p.embed([255; 4]);
            assert_eq!(a[8], 0, "u-octet under /{len}");
            // Exactly 32 bits set: the IPv4 address, nothing in the suffix.
            let ones = u128::from_be_bytes(a).count_ones()
                - u128::from_be_bytes(v6("2001:db8::")).count_ones();
            assert_eq!(ones, 32, "/{len}");
        }
    }

    #[test]
    fn extraction_ignores_u_octet_and_suffix() {
        let p = prefix("2001:db8:100::/40");
        let mut a = v6("2001:db8:1c0:2:21::");
        a[8] = 0xff;
        a[15] = 0x01;
        assert_eq!(p.extract(&a), Some([192, 0, 2, 33]));
    }

    #[test]
    fn outside_the_prefix_nothing_is_extracted() {
        let p = prefix("2001:db8:122::/48");
        assert!(!p.contains(&v6("2001:db8:123::1")));
        assert_eq!(p.extract(&v6("2001:db8:123:c000:2:2100::")), None);
        assert!(p.contains(&v6("2001:db8:122:ffff::")));
        assert_eq!(
            Rfc6052Prefix::well_known().extract(&v6("64:ff9a::1.2.3.4")),
            None
        );
    }

    #[test]
    fn construction_rules() {
        assert_eq!(
            Rfc6052Prefix::new(v6("2001:db8::"), 80),
            Err(Rfc6052Error::BadLength(80))
        );
        assert_eq!(
            Rfc6052Prefix::new(v6("2001:db8::"), 33),
            Err(Rfc6052Error::BadLength(33))
        );
        assert_eq!(
            Rfc6052Prefix::new(v6("2001:db8::1:0:0"), 64),
            Err(Rfc6052Error::HostBitsNonZero)
        );
        assert_eq!(
            Rfc6052Prefix::new(v6("2001:db8::100:0:0:0"), 96),
            Err(Rfc6052Error::UOctetNonZero)
        );
        assert_eq!(
            Rfc6052Prefix::new(v6("2001:db8::ff:0:0:0"), 96).map(|p| p.len()),
            Ok(96)
        );
        let p = prefix("2001:db8:100::/40");
        assert_eq!((p.addr(), p.len()), (v6("2001:db8:100::"), 40));
        assert_eq!(p.to_string(), "2001:db8:100::/40");
    }

    #[test]
    fn well_known_prefix() {
        let wkp = Rfc6052Prefix::well_known();
        assert!(wkp.is_well_known());
        assert_eq!(wkp.embed([198, 51, 100, 7]), v6("64:ff9b::c633:6407"));
        assert!(!prefix("64:ff9b:1::/96").is_well_known());
        assert!(!prefix("64:ff9b::/64").is_well_known());
    }

    #[test]
    fn global_v4_follows_the_special_purpose_registry() {
        for a in [
            "0.0.0.0",
            "0.255.255.255",
            "10.1.2.3",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.0",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.33",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_global_v4(v4(a)), "{a} is not global");
        }
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "169.253.0.1",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.1.1",
            "192.0.3.0",
            "192.88.99.1",
            "192.167.0.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.1",
            "198.51.101.1",
            "203.0.112.1",
            "203.0.114.1",
            "224.0.0.1",
            "239.255.255.255",
        ] {
            assert!(is_global_v4(v4(a)), "{a} is global");
        }
    }

    proptest! {
        #[test]
        fn embed_then_extract_round_trips(a in any::<[u8; 4]>(), which in 0usize..6, bits in any::<u128>()) {
            let len = LEGAL_LENS[which];
            let base = (bits & mask128(len)) & !U_OCTET;
            let p = Rfc6052Prefix::new(base.to_be_bytes(), len).unwrap();
            let e = p.embed(a);
            prop_assert!(p.contains(&e));
            prop_assert_eq!(e[8], 0);
            prop_assert_eq!(p.extract(&e), Some(a));
        }
    }
}
