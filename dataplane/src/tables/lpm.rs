//! Longest-prefix match over flat arrays.
//!
//! Prefixes are grouped by length, longest first; within a group the network addresses are sorted, in one
//! flat array, so a lookup masks the address once per length present and binary-searches that group's slice.
//! Cost: O(L log n) for L distinct lengths (at most 33 for IPv4, 129 for IPv6, a handful in practice), no
//! allocation, no pointer chasing.

/// An address type usable as a prefix key: `u32` (IPv4) or `u128` (IPv6), network byte order as an integer.
pub trait PrefixKey: Copy + Ord + std::fmt::Debug {
    /// Address width in bits.
    const BITS: u8;
    /// Mask of the first `len` bits (`len` 0..=BITS).
    fn mask(len: u8) -> Self;
    fn and(self, other: Self) -> Self;
}

impl PrefixKey for u32 {
    const BITS: u8 = 32;

    #[inline]
    fn mask(len: u8) -> Self {
        u32::MAX
            .checked_shl(32 - u32::from(len.min(32)))
            .unwrap_or(0)
    }

    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
}

impl PrefixKey for u128 {
    const BITS: u8 = 128;

    #[inline]
    fn mask(len: u8) -> Self {
        u128::MAX
            .checked_shl(128 - u32::from(len.min(128)))
            .unwrap_or(0)
    }

    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
}

/// One prefix length's slice of the flat arrays.
#[derive(Debug, Clone, Copy)]
struct Group<K> {
    mask: K,
    len: u8,
    start: u32,
    end: u32,
}

/// A longest-prefix-match table from prefixes of `K` to values `V`.
///
/// Equal prefixes may appear more than once: they are tried in the order they were given, which
/// [`Lpm::find`] uses to fall back from one value to the next.
#[derive(Debug, Clone)]
pub struct Lpm<K, V> {
    /// Network addresses: grouped by length (longest first), sorted within a group.
    keys: Box<[K]>,
    vals: Box<[V]>,
    groups: Box<[Group<K>]>,
}

impl<K: PrefixKey, V> Default for Lpm<K, V> {
    fn default() -> Self {
        Lpm {
            keys: Box::new([]),
            vals: Box::new([]),
            groups: Box::new([]),
        }
    }
}

impl<K: PrefixKey, V> Lpm<K, V> {
    /// Builds the table from `(network, length, value)`. Bits past the length are ignored; lengths above the
    /// address width are clamped to it.
    pub fn new(entries: impl IntoIterator<Item = (K, u8, V)>) -> Self {
        let mut e: Vec<(K, u8, V)> = entries
            .into_iter()
            .map(|(k, len, v)| (k.and(K::mask(len)), len.min(K::BITS), v))
            .collect();
        // Stable: equal prefixes keep their given order.
        e.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut groups: Vec<Group<K>> = Vec::new();
        for (i, (_, len, _)) in e.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 prefixes");
            match groups.last_mut() {
                Some(g) if g.len == *len => g.end = i + 1,
                _ => groups.push(Group {
                    mask: K::mask(*len),
                    len: *len,
                    start: i,
                    end: i + 1,
                }),
            }
        }
        let (keys, vals): (Vec<K>, Vec<V>) = e.into_iter().map(|(k, _, v)| (k, v)).unzip();
        Lpm {
            keys: keys.into(),
            vals: vals.into(),
            groups: groups.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The value of the longest prefix containing `a`, and that prefix's length.
    #[inline]
    pub fn lookup(&self, a: K) -> Option<(&V, u8)> {
        self.find(a, |_| true)
    }

    /// True if any prefix contains `a`.
    #[inline]
    pub fn contains(&self, a: K) -> bool {
        self.lookup(a).is_some()
    }

    /// Like [`Lpm::lookup`], but only values for which `accept` is true count: the longest prefix containing
    /// `a` with an accepted value (among equal prefixes, the first accepted in the order given).
    #[inline]
    pub fn find(&self, a: K, mut accept: impl FnMut(&V) -> bool) -> Option<(&V, u8)> {
        for g in self.groups.iter() {
            let net = a.and(g.mask);
            let (start, end) = (g.start as usize, g.end as usize);
            let keys = &self.keys[start..end];
            let mut i = keys.partition_point(|k| *k < net);
            while i < keys.len() && keys[i] == net {
                let v = &self.vals[start + i];
                if accept(v) {
                    return Some((v, g.len));
                }
                i += 1;
            }
        }
        None
    }

    /// Every `(network, length, value)`, longest prefixes first.
    pub fn iter(&self) -> impl Iterator<Item = (K, u8, &V)> + '_ {
        self.groups.iter().flat_map(move |g| {
            (g.start as usize..g.end as usize).map(move |i| (self.keys[i], g.len, &self.vals[i]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn longest_match_wins_and_order_breaks_ties() {
        let t = Lpm::new([
            (0x0a00_0000u32, 8, "ten"),
            (0x0a01_0000, 16, "ten-one"),
            (0x0a01_0200, 24, "ten-one-two"),
            (0x0a01_0000, 16, "ten-one-again"),
            (0, 0, "default"),
        ]);
        assert_eq!(t.len(), 5);
        assert_eq!(t.lookup(0x0a01_0203), Some((&"ten-one-two", 24)));
        assert_eq!(t.lookup(0x0a01_0303), Some((&"ten-one", 16)));
        assert_eq!(t.lookup(0x0a02_0000), Some((&"ten", 8)));
        assert_eq!(t.lookup(0x0b00_0000), Some((&"default", 0)));
        assert_eq!(
            t.find(0x0a01_0303, |v| *v != "ten-one"),
            Some((&"ten-one-again", 16))
        );
        assert_eq!(t.find(0x0a01_0303, |v| v.len() < 7), Some((&"ten", 8)));
        assert_eq!(t.find(0x0a01_0303, |_| false), None);
        let lens: Vec<u8> = t.iter().map(|(_, l, _)| l).collect();
        assert_eq!(lens, vec![24, 16, 16, 8, 0]);
    }

    #[test]
    fn host_bits_are_ignored_and_empty_tables_match_nothing() {
        let t = Lpm::new([(0x0a01_02ffu32, 24, ())]);
        assert!(t.contains(0x0a01_0201));
        assert!(!t.contains(0x0a01_0301));
        let e: Lpm<u128, ()> = Lpm::default();
        assert!(e.is_empty() && !e.contains(0));
        let full = Lpm::new([(u128::MAX, 128, 1), (1u128 << 127, 1, 2)]);
        assert_eq!(full.lookup(u128::MAX), Some((&1, 128)));
        assert_eq!(full.lookup(u128::MAX - 1), Some((&2, 1)));
        assert_eq!(full.lookup(1), None);
    }

    fn naive(entries: &[(u32, u8)], a: u32) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, &(net, len)) in entries.iter().enumerate() {
            if a & u32::mask(len) == net & u32::mask(len) && best.is_none_or(|b| entries[b].1 < len)
            {
                best = Some(i);
            }
        }
        best
    }

    proptest! {
        /// Against a linear scan, over a small address space so that prefixes nest often.
        #[test]
        fn agrees_with_a_linear_scan(
            entries in prop::collection::vec((0u32..64, 26u8..=32), 0..40),
            probes in prop::collection::vec(0u32..64, 1..50),
        ) {
            let entries: Vec<(u32, u8)> = entries.into_iter().map(|(a, l)| (0xc000_0200 | a, l)).collect();
            let t = Lpm::new(entries.iter().enumerate().map(|(i, &(a, l))| (a, l, i)));
            for p in probes {
                let a = 0xc000_0200 | p;
                let got = t.lookup(a);
                prop_assert_eq!(got.map(|(&i, _)| i), naive(&entries, a));
                if let Some((&i, len)) = got {
                    prop_assert_eq!(len, entries[i].1);
                }
            }
        }
    }
}
