//! RFC 7757: the Explicit Address Mapping Table.
//!
//! Each entry pairs an IPv4 prefix with an IPv6 prefix. RFC 7757 §3.2: an address is translated with the
//! entry whose prefix (on the address's own side) is the longest match; the prefix is replaced and the suffix
//! kept. The IPv4 and IPv6 suffix lengths (`32 - len4`, `128 - len6`) may differ as long as the IPv6 suffix is
//! at least as long: the IPv4 suffix is copied into the leftmost bits after the IPv6 prefix; the remaining
//! IPv6 bits are zero when translating IPv4 → IPv6 and ignored when translating IPv6 → IPv4 (RFC 7757
//! Appendix B: `192.0.2.128/26` ↔ `2001:db8:dddd::/64` maps `192.0.2.152` to `2001:db8:dddd:0:6000::`). An
//! IPv4 suffix longer than the IPv6 one would drop bits, so such entries are refused.
//!
//! Entries may nest or overlap (longest prefix match decides), which can make the mapping asymmetric
//! (RFC 7757 §5). Both directions are one [`Lpm`] lookup plus a shift and a mask.

use crate::tables::lpm::{Lpm, PrefixKey};

/// One mapping: `v4/len4` ↔ `v6/len6`, addresses in network byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EamEntry {
    pub v4: [u8; 4],
    pub len4: u8,
    pub v6: [u8; 16],
    pub len6: u8,
}

/// Why an [`EamEntry`] cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EamError {
    #[error("prefix length out of range (IPv4 0..=32, IPv6 0..=128)")]
    BadLength,
    #[error("host bits of the IPv4 prefix must be zero")]
    V4HostBitsNonZero,
    #[error("host bits of the IPv6 prefix must be zero")]
    V6HostBitsNonZero,
    #[error("the IPv6 suffix ({suffix6} bits) is shorter than the IPv4 suffix ({suffix4} bits) (RFC 7757 §3.2)")]
    SuffixTooShort { suffix4: u8, suffix6: u8 },
}

impl EamEntry {
    /// Checks the entry: lengths in range, host bits zero, IPv6 suffix at least as long as the IPv4 one.
    pub fn check(&self) -> Result<(), EamError> {
        if self.len4 > 32 || self.len6 > 128 {
            return Err(EamError::BadLength);
        }
        if u32::from_be_bytes(self.v4) & !u32::mask(self.len4) != 0 {
            return Err(EamError::V4HostBitsNonZero);
        }
        if u128::from_be_bytes(self.v6) & !u128::mask(self.len6) != 0 {
            return Err(EamError::V6HostBitsNonZero);
        }
        let (suffix4, suffix6) = (32 - self.len4, 128 - self.len6);
        if suffix4 > suffix6 {
            return Err(EamError::SuffixTooShort { suffix4, suffix6 });
        }
        Ok(())
    }

    /// Bit offset of the IPv4 suffix inside the IPv6 address, counted from the least significant bit.
    fn shift(&self) -> u32 {
        // The suffix starts right after the IPv6 prefix. With no IPv4 suffix the value is irrelevant (the
        // suffix mask is zero); keep it a legal shift.
        (128 - u32::from(self.len6) - (32 - u32::from(self.len4))).min(127)
    }
}

/// IPv4 → IPv6 half of an entry.
#[derive(Debug, Clone, Copy)]
struct To6 {
    v6: u128,
    shift: u32,
    suffix4: u32,
}

/// IPv6 → IPv4 half of an entry.
#[derive(Debug, Clone, Copy)]
struct To4 {
    v4: u32,
    shift: u32,
    suffix4: u32,
}

/// A compiled EAMT: longest-prefix match in both directions.
#[derive(Debug, Clone, Default)]
pub struct Eamt {
    by_v4: Lpm<u32, To6>,
    by_v6: Lpm<u128, To4>,
    entries: Box<[EamEntry]>,
}

impl Eamt {
    /// Compiles `entries` (in any order). Duplicate prefixes are allowed; the first given wins. On error,
    /// the index of the offending entry.
    pub fn new(entries: &[EamEntry]) -> Result<Eamt, (usize, EamError)> {
        for (i, e) in entries.iter().enumerate() {
            e.check().map_err(|err| (i, err))?;
        }
        let by_v4 = Lpm::new(entries.iter().map(|e| {
            let to6 = To6 {
                v6: u128::from_be_bytes(e.v6),
                shift: e.shift(),
                suffix4: !u32::mask(e.len4),
            };
            (u32::from_be_bytes(e.v4), e.len4, to6)
        }));
        let by_v6 = Lpm::new(entries.iter().map(|e| {
            let to4 = To4 {
                v4: u32::from_be_bytes(e.v4),
                shift: e.shift(),
                suffix4: !u32::mask(e.len4),
            };
            (u128::from_be_bytes(e.v6), e.len6, to4)
        }));
        Ok(Eamt {
            by_v4,
            by_v6,
            entries: entries.into(),
        })
    }

    /// RFC 7757 §3.2, IPv4 → IPv6: the longest IPv4 prefix containing `a` decides.
    #[inline]
    pub fn v4_to_v6(&self, a: [u8; 4]) -> Option<[u8; 16]> {
        let a = u32::from_be_bytes(a);
        let (e, _) = self.by_v4.lookup(a)?;
        Some((e.v6 | (u128::from(a & e.suffix4) << e.shift)).to_be_bytes())
    }

    /// RFC 7757 §3.2, IPv6 → IPv4: the longest IPv6 prefix containing `a` decides; IPv6 suffix bits past the
    /// IPv4 suffix's length are ignored.
    #[inline]
    pub fn v6_to_v4(&self, a: &[u8; 16]) -> Option<[u8; 4]> {
        let a = u128::from_be_bytes(*a);
        let (e, _) = self.by_v6.lookup(a)?;
        Some((e.v4 | ((a >> e.shift) as u32 & e.suffix4)).to_be_bytes())
    }

    /// True if an IPv4 prefix of the table contains `a`.
    #[inline]
    pub fn covers_v4(&self, a: [u8; 4]) -> bool {
        self.by_v4.contains(u32::from_be_bytes(a))
    }

    /// True if an IPv6 prefix of the table contains `a`.
    #[inline]
    pub fn covers_v6(&self, a: &[u8; 16]) -> bool {
        self.by_v6.contains(u128::from_be_bytes(*a))
    }

    /// The entries, as given.
    pub fn entries(&self) -> &[EamEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn entry(v4: &str, v6: &str) -> EamEntry {
        let (a4, l4) = v4.split_once('/').unwrap_or((v4, "32"));
        let (a6, l6) = v6.split_once('/').unwrap_or((v6, "128"));
        EamEntry {
            v4: a4.parse::<Ipv4Addr>().unwrap().octets(),
            len4: l4.parse().unwrap(),
            v6: a6.parse::<Ipv6Addr>().unwrap().octets(),
            len6: l6.parse().unwrap(),
        }
    }

    fn table(entries: &[(&str, &str)]) -> Eamt {
        let e: Vec<EamEntry> = entries.iter().map(|(a, b)| entry(a, b)).collect();
        Eamt::new(&e).unwrap()
    }

    fn to6(t: &Eamt, a: &str) -> Option<String> {
        t.v4_to_v6(a.parse::<Ipv4Addr>().unwrap().octets())
            .map(|x| Ipv6Addr::from(x).to_string())
    }

    fn to4(t: &Eamt, a: &str) -> Option<String> {
        t.v6_to_v4(&a.parse::<Ipv6Addr>().unwrap().octets())
            .map(|x| Ipv4Addr::from(x).to_string())
    }

    /// Both directions.
    #[track_caller]
    fn both(t: &Eamt, v4: &str, v6: &str) {
        assert_eq!(to6(t, v4).as_deref(), Some(v6), "{v4} -> IPv6");
        assert_eq!(to4(t, v6).as_deref(), Some(v4), "{v6} -> IPv4");
    }

    /// RFC 7757 Appendix B's example EAMT, with unequal suffix lengths (/26 <-> /64, /29 <-> /62) and an
    /// entry inside the Well-Known Prefix.
    #[test]
    fn rfc7757_appendix_b_examples() {
        let t = table(&[
            ("192.0.2.1", "2001:db8:aaaa::"),
            ("192.0.2.2/32", "2001:db8:bbbb::b/128"),
            ("192.0.2.16/28", "2001:db8:cccc::/124"),
            ("192.0.2.128/26", "2001:db8:dddd::/64"),
            ("192.0.2.192/29", "2001:db8:eeee:8::/62"),
            ("192.0.2.224/31", "64:ff9b::/127"),
        ]);
        both(&t, "192.0.2.1", "2001:db8:aaaa::");
        both(&t, "192.0.2.2", "2001:db8:bbbb::b");
        both(&t, "192.0.2.16", "2001:db8:cccc::");
        both(&t, "192.0.2.24", "2001:db8:cccc::8");
        both(&t, "192.0.2.31", "2001:db8:cccc::f");
        both(&t, "192.0.2.128", "2001:db8:dddd::");
        both(&t, "192.0.2.152", "2001:db8:dddd:0:6000::");
        both(&t, "192.0.2.183", "2001:db8:dddd:0:dc00::");
        both(&t, "192.0.2.191", "2001:db8:dddd:0:fc00::");
        both(&t, "192.0.2.195", "2001:db8:eeee:9:8000::");
        both(&t, "192.0.2.224", "64:ff9b::");
        both(&t, "192.0.2.225", "64:ff9b::1");
        // Outside every entry.
        assert_eq!(to6(&t, "192.0.2.3"), None);
        assert_eq!(to6(&t, "192.0.2.32"), None);
        assert_eq!(to4(&t, "2001:db8:aaaa::1"), None);
        assert_eq!(to4(&t, "64:ff9b::2"), None);
    }

    #[test]
    fn excess_ipv6_suffix_bits_are_ignored_v6_to_v4() {
        let t = table(&[("192.0.2.128/26", "2001:db8:dddd::/64")]);
        assert_eq!(
            to4(&t, "2001:db8:dddd:0:6000:beef::1").as_deref(),
            Some("192.0.2.152")
        );
        assert_eq!(
            to4(&t, "2001:db8:dddd:0:ffff:ffff:ffff:ffff").as_deref(),
            Some("192.0.2.191")
        );
        assert_eq!(to4(&t, "2001:db8:dddd:1::").as_deref(), None);
    }

    /// RFC 7757 §5: overlapping entries make the mapping asymmetric; each direction takes its own longest
    /// match.
    #[test]
    fn rfc7757_section_5_overlapping_entries() {
        let t = table(&[
            ("0.0.0.0/0", "2001:db8:ff00::/40"),
            ("198.51.100.64", "2001:db8::abcd"),
        ]);
        assert_eq!(
            to4(&t, "2001:db8:ffc6:3364:4000::").as_deref(),
            Some("198.51.100.64")
        );
        assert_eq!(to6(&t, "198.51.100.64").as_deref(), Some("2001:db8::abcd"));
        assert_eq!(to4(&t, "2001:db8::abcd").as_deref(), Some("198.51.100.64"));
        both(&t, "203.0.113.9", "2001:db8:ffcb:71:900::");
    }

    /// Nested prefixes, both directions: the more specific entry wins on its own side.
    #[test]
    fn nested_prefixes_longest_match_both_directions() {
        let t = table(&[
            ("192.0.2.0/24", "2001:db8:aaaa::/120"),
            ("192.0.2.8/29", "2001:db8:bbbb::/125"),
            ("192.0.2.9", "2001:db8:cccc::9"),
            ("10.0.0.0/8", "2001:db8:a::/104"),
            ("10.1.0.0/16", "2001:db8:a::ff:0/112"),
        ]);
        both(&t, "192.0.2.7", "2001:db8:aaaa::7");
        both(&t, "192.0.2.8", "2001:db8:bbbb::");
        both(&t, "192.0.2.15", "2001:db8:bbbb::7");
        both(&t, "192.0.2.9", "2001:db8:cccc::9");
        both(&t, "192.0.2.16", "2001:db8:aaaa::10");
        // The /24's IPv6 prefix still maps its whole range back (asymmetric on purpose, RFC 7757 §5).
        assert_eq!(to4(&t, "2001:db8:aaaa::9").as_deref(), Some("192.0.2.9"));
        assert_eq!(to4(&t, "2001:db8:bbbb::1").as_deref(), Some("192.0.2.9"));
        // IPv6 side nesting: 2001:db8:a::ff:0/112 sits inside 2001:db8:a::/104.
        both(&t, "10.2.3.4", "2001:db8:a::2:304");
        both(&t, "10.1.3.4", "2001:db8:a::ff:304");
        assert_eq!(to4(&t, "2001:db8:a::fe:304").as_deref(), Some("10.254.3.4"));
        // 10.255.3.4 goes out through the /8 and comes back through the /112 as 10.1.3.4.
        assert_eq!(to6(&t, "10.255.3.4").as_deref(), Some("2001:db8:a::ff:304"));
        assert!(t.covers_v4([10, 200, 0, 1]) && !t.covers_v4([11, 0, 0, 1]));
        assert!(t.covers_v6(&"2001:db8:aaaa::ff".parse::<Ipv6Addr>().unwrap().octets()));
        assert!(!t.covers_v6(&"2001:db8:aaaa::100".parse::<Ipv6Addr>().unwrap().octets()));
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn entries_are_checked() {
        let bad = |v4: &str, v6: &str| {
            Eamt::new(&[entry("192.0.2.0/24", "2001:db8::/120"), entry(v4, v6)]).err()
        };
        assert_eq!(
            bad("192.0.2.0/24", "2001:db8:1::/124"),
            Some((
                1,
                EamError::SuffixTooShort {
                    suffix4: 8,
                    suffix6: 4
                }
            ))
        );
        assert_eq!(
            bad("192.0.2.1/24", "2001:db8:1::/120"),
            Some((1, EamError::V4HostBitsNonZero))
        );
        assert_eq!(
            bad("192.0.2.0/24", "2001:db8:1::1/120"),
            Some((1, EamError::V6HostBitsNonZero))
        );
        assert_eq!(
            bad("192.0.2.0/33", "2001:db8:1::/120"),
            Some((1, EamError::BadLength))
        );
        assert_eq!(bad("192.0.2.0/24", "2001:db8:1::/64"), None);
        assert_eq!(bad("0.0.0.0/0", "::/0"), None);
    }

    #[test]
    fn whole_spaces_and_empty_tables() {
        let t = table(&[("0.0.0.0/0", "::/0")]);
        both(&t, "1.2.3.4", "102:304::");
        let t = table(&[("192.0.2.1", "::/0")]);
        both(&t, "192.0.2.1", "::");
        assert_eq!(to4(&t, "ffff::1").as_deref(), Some("192.0.2.1"));
        let e = Eamt::default();
        assert!(
            e.is_empty() && e.v4_to_v6([1, 2, 3, 4]).is_none() && e.v6_to_v4(&[0; 16]).is_none()
        );
    }

    /// Bit-by-bit reference of RFC 7757 §3.2 (test only).
    fn reference(entries: &[EamEntry], a: [u8; 4]) -> Option<[u8; 16]> {
        let bit4 = |x: [u8; 4], i: u8| (x[usize::from(i / 8)] >> (7 - i % 8)) & 1;
        let best = entries
            .iter()
            .filter(|e| (0..e.len4).all(|i| bit4(e.v4, i) == bit4(a, i)))
            .fold(None::<&EamEntry>, |b, e| {
                if b.is_none_or(|b| e.len4 > b.len4) {
                    Some(e)
                } else {
                    b
                }
            })?;
        let mut out = best.v6;
        for i in 0..(32 - best.len4) {
            let j = usize::from(best.len6 + i);
            out[j / 8] |= bit4(a, best.len4 + i) << (7 - j % 8);
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn matches_the_bitwise_reference(
            raw in prop::collection::vec((0u32..256, 24u8..=32, any::<u128>(), 0u8..=8), 1..12),
            probe in 0u32..256,
        ) {
            // IPv4 prefixes inside 192.0.2.0/24 so that they nest; IPv6 prefixes anywhere, with a suffix
            // at least as long as the IPv4 one.
            let entries: Vec<EamEntry> = raw.into_iter().map(|(a, len4, v6, extra)| {
                let len6 = 128 - (32 - len4) - extra;
                EamEntry {
                    v4: ((0xc000_0200 | a) & u32::mask(len4)).to_be_bytes(),
                    len4,
                    v6: (v6 & u128::mask(len6)).to_be_bytes(),
                    len6,
                }
            }).collect();
            let t = Eamt::new(&entries).unwrap();
            let a = (0xc000_0200 | probe).to_be_bytes();
            let want = reference(&entries, a);
            prop_assert_eq!(t.v4_to_v6(a), want);
            if let Some(v6) = want {
                // Back through the IPv6 side: an address of the longest-matching IPv6 prefix.
                let back = t.v6_to_v4(&v6).expect("the IPv6 prefix that produced it covers it");
                prop_assert!(t.covers_v4(back));
            }
        }
    }
}
