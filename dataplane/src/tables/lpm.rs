//! Longest-prefix match over flat arrays.
//!
//! Prefixes are grouped by length, longest first; within a group the network addresses are sorted, in one
//! flat array, so a lookup masks the address once per length present and searches that group's slice:
//! binary search in small groups, an open-addressing hash index (built with the table) in groups of
//! [`HASH_MIN`] prefixes or more, so that a large EAMT or many tenants cost one probe per length instead of
//! log2(n) steps. Cost: O(L) probes for L distinct lengths (at most 33 for IPv4, 129 for IPv6, a handful in
//! practice), no allocation, no pointer chasing.

/// An address type usable as a prefix key: `u32` (IPv4) or `u128` (IPv6), network byte order as an integer.
pub trait PrefixKey: Copy + Ord + std::fmt::Debug {
    /// Address width in bits.
    const BITS: u8;
    /// Mask of the first `len` bits (`len` 0..=BITS).
    fn mask(len: u8) -> Self;
    fn and(self, other: Self) -> Self;
    /// The key folded to 64 bits, for the hash index (any function of the key would do; this one keeps all
    /// its bits in play).
    fn fold64(self) -> u64;
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

    #[inline]
    fn fold64(self) -> u64 {
        u64::from(self)
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

    #[inline]
    fn fold64(self) -> u64 {
        (self >> 64) as u64 ^ self as u64
    }
}

/// Groups with at least this many prefixes get a hash index; smaller ones are binary-searched (a few steps,
/// cheaper than hashing).
pub const HASH_MIN: usize = 8;

/// An empty slot of a hash index.
const EMPTY: u32 = u32::MAX;

/// Slot of `key` in a hash index of 2^`bits` slots: Fibonacci hashing (multiply by 2^64 / golden ratio, keep
/// the top bits), which spreads keys that differ only in a few middle bits, as prefixes of one length do.
#[inline]
fn slot<K: PrefixKey>(key: K, bits: u8) -> usize {
    (key.fold64().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - u32::from(bits))) as usize
}

/// One prefix length's slice of the flat arrays.
#[derive(Debug, Clone, Copy)]
struct Group<K> {
    mask: K,
    len: u8,
    start: u32,
    end: u32,
    /// Hash index, if any: `index[hash_at..hash_at + 2^hash_bits]`, each slot the position in `keys` of the
    /// first of a run of equal keys, or [`EMPTY`]. Linear probing, load factor at most 1/2.
    hash_at: u32,
    hash_bits: u8,
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
    /// The hash indexes of the large groups, one after the other.
    index: Box<[u32]>,
}

impl<K: PrefixKey, V> Default for Lpm<K, V> {
    fn default() -> Self {
        Lpm {
            keys: Box::new([]),
            vals: Box::new([]),
            groups: Box::new([]),
            index: Box::new([]),
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
                    hash_at: 0,
                    hash_bits: 0,
                }),
            }
        }
        let (keys, vals): (Vec<K>, Vec<V>) = e.into_iter().map(|(k, _, v)| (k, v)).unzip();
        let mut index: Vec<u32> = Vec::new();
        for g in groups.iter_mut() {
            let (start, end) = (g.start as usize, g.end as usize);
            if end - start < HASH_MIN {
                continue;
            }
            // At least twice as many slots as keys: probes stay short and an empty slot always ends them.
            let bits = ((end - start) * 2).next_power_of_two().trailing_zeros() as u8;
            g.hash_at = u32::try_from(index.len()).expect("fewer than 2^32 slots");
            g.hash_bits = bits;
            let table = index.len();
            index.resize(table + (1 << bits), EMPTY);
            for i in start..end {
                // Only the first of equal keys: lookups walk the run from there, as after a binary search.
                if i > start && keys[i] == keys[i - 1] {
                    continue;
                }
                let mut h = slot(keys[i], bits);
                while index[table + h] != EMPTY {
                    h = (h + 1) & ((1 << bits) - 1);
                }
                index[table + h] = i as u32;
            }
        }
        Lpm {
            keys: keys.into(),
            vals: vals.into(),
            groups: groups.into(),
            index: index.into(),
        }
    }

    /// Position in `keys` of the first key equal to `net` in group `g`, or where it would be (then
    /// `keys[pos] != net`, or `pos == g.end`).
    #[inline(always)]
    fn first_equal(&self, g: &Group<K>, net: K) -> usize {
        let (start, end) = (g.start as usize, g.end as usize);
        if g.hash_bits == 0 {
            return start + self.keys[start..end].partition_point(|k| *k < net);
        }
        self.first_equal_hashed(g, net)
    }

    /// [`Lpm::first_equal`] through the hash index. Out of line: the small tables of the common
    /// configurations then inline a lookup without it.
    #[inline(never)]
    fn first_equal_hashed(&self, g: &Group<K>, net: K) -> usize {
        let end = g.end as usize;
        let table = &self.index[g.hash_at as usize..][..1 << g.hash_bits];
        let mask = table.len() - 1;
        let mut h = slot(net, g.hash_bits);
        loop {
            match table[h] {
                EMPTY => return end,
                i if self.keys[i as usize] == net => return i as usize,
                _ => h = (h + 1) & mask,
            }
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
    #[inline(always)]
    pub fn find(&self, a: K, mut accept: impl FnMut(&V) -> bool) -> Option<(&V, u8)> {
        for g in self.groups.iter() {
            let net = a.and(g.mask);
            let end = g.end as usize;
            let mut i = self.first_equal(g, net);
            while i < end && self.keys[i] == net {
                let v = &self.vals[i];
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

    #[test]
    fn hash_index_is_built_for_large_groups_only() {
        let small = Lpm::new((0..HASH_MIN as u32 - 1).map(|i| (i << 8, 24, i)));
        assert!(small.index.is_empty());
        let large = Lpm::new((0..1000u32).map(|i| (0x0a00_0000 | (i << 8), 24, i)));
        assert_eq!(large.index.len(), 2048);
        for i in 0..1000u32 {
            assert_eq!(large.lookup(0x0a00_0005 | (i << 8)), Some((&i, 24)));
        }
        assert_eq!(large.lookup(0x0b00_0000), None);
    }

    proptest! {
        /// Large groups (hash index) of IPv6 prefixes with duplicates, against a linear scan.
        #[test]
        fn hashed_groups_agree_with_a_linear_scan(
            nets in prop::collection::vec((0u128..40, 0u8..3), HASH_MIN..200),
            probes in prop::collection::vec((0u128..48, any::<u8>()), 1..50),
        ) {
            // Lengths 120, 112, 104 under 2001:db8::/32, as an EAMT or a tenant table would have them.
            let base = 0x2001_0db8u128 << 96;
            let entries: Vec<(u128, u8, usize)> = nets
                .iter()
                .enumerate()
                .map(|(i, &(n, l))| (base | (n << 16), 120 - 8 * l, i))
                .collect();
            let t = Lpm::new(entries.iter().copied());
            for (n, low) in probes {
                let a = base | (n << 16) | u128::from(low);
                let want = entries
                    .iter()
                    .filter(|&&(net, len, _)| a & u128::mask(len) == net & u128::mask(len))
                    .max_by_key(|&&(_, len, i)| (len, std::cmp::Reverse(i)))
                    .map(|&(_, len, i)| (i, len));
                prop_assert_eq!(t.lookup(a).map(|(&i, len)| (i, len)), want);
                // `find` skips refused values to the next equal prefix, then to shorter ones.
                let got = t.find(a, |&i| i % 2 == 0).map(|(&i, len)| (i, len));
                let want = entries
                    .iter()
                    .filter(|&&(net, len, i)| i % 2 == 0 && a & u128::mask(len) == net & u128::mask(len))
                    .max_by_key(|&&(_, len, i)| (len, std::cmp::Reverse(i)))
                    .map(|&(_, len, i)| (i, len));
                prop_assert_eq!(got, want);
            }
        }

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
