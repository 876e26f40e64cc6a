//! A hierarchical bitmap of free ports: level 0 holds one bit per candidate (set = free), every level above one
//! bit per word of the level below (set = that word has a free bit). Finding the next free candidate at or
//! after any position looks at one word per level: O(levels), at most 4 levels for 2^24 candidates.

/// Set bits mean "free".
#[derive(Debug, Clone)]
pub struct HierBitmap {
    /// `levels[0]` is the leaf level; the last level is one word.
    levels: Vec<Box<[u64]>>,
    len: usize,
    free: usize,
}

impl HierBitmap {
    /// `len` candidates, all used (clear).
    pub fn new(len: usize) -> Self {
        let mut levels = Vec::new();
        let mut n = len.max(1);
        loop {
            let words = n.div_ceil(64);
            levels.push(vec![0u64; words].into_boxed_slice());
            if words == 1 {
                break;
            }
            n = words;
        }
        HierBitmap {
            levels,
            len,
            free: 0,
        }
    }

    /// From the leaf words (bit `i` of word `i / 64` set = candidate `i` free; bits at or beyond `len` must be
    /// clear), building the levels above.
    pub fn from_leaf(leaf: Vec<u64>, len: usize) -> Self {
        let mut b = HierBitmap::new(len);
        debug_assert_eq!(leaf.len(), b.levels[0].len());
        b.free = leaf.iter().map(|w| w.count_ones() as usize).sum();
        b.levels[0] = leaf.into_boxed_slice();
        for l in 1..b.levels.len() {
            let (below, above) = b.levels.split_at_mut(l);
            let below = &below[l - 1];
            for (i, w) in below.iter().enumerate() {
                if *w != 0 {
                    above[0][i / 64] |= 1 << (i % 64);
                }
            }
        }
        b
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of free candidates.
    pub fn free(&self) -> usize {
        self.free
    }

    /// Free candidates in `range` (clamped to the bitmap): one popcount per leaf word. For reports and
    /// set-up, not the packet path.
    pub fn count_free(&self, range: std::ops::Range<usize>) -> usize {
        let (start, end) = (range.start.min(self.len), range.end.min(self.len));
        if start >= end {
            return 0;
        }
        let leaf = &self.levels[0];
        let (first, last) = (start / 64, (end - 1) / 64);
        (first..=last)
            .map(|w| {
                let mut m = leaf[w];
                if w == first {
                    m &= u64::MAX << (start % 64);
                }
                if w == last && end % 64 != 0 {
                    m &= u64::MAX >> (64 - end % 64);
                }
                m.count_ones() as usize
            })
            .sum()
    }

    #[inline]
    pub fn is_free(&self, i: usize) -> bool {
        i < self.len && self.levels[0][i / 64] & (1 << (i % 64)) != 0
    }

    /// Marks `i` free. Returns false if it already was (or is out of range).
    pub fn set_free(&mut self, i: usize) -> bool {
        if i >= self.len || self.is_free(i) {
            return false;
        }
        self.free += 1;
        let mut i = i;
        for level in self.levels.iter_mut() {
            let w = i / 64;
            let was = level[w];
            level[w] |= 1 << (i % 64);
            if was != 0 {
                break;
            }
            i = w;
        }
        true
    }

    /// Marks `i` used. Returns false if it already was (or is out of range).
    pub fn set_used(&mut self, i: usize) -> bool {
        if !self.is_free(i) {
            return false;
        }
        self.free -= 1;
        let mut i = i;
        for level in self.levels.iter_mut() {
            let w = i / 64;
            level[w] &= !(1 << (i % 64));
            if level[w] != 0 {
                break;
            }
            i = w;
        }
        true
    }

    /// The first free candidate at or after `from`, wrapping around to 0; `None` when none is free.
    #[inline]
    pub fn find_free_from(&self, from: usize) -> Option<usize> {
        if self.free == 0 {
            return None;
        }
        self.find_next(0, from.min(self.len))
            .or_else(|| self.find_next(0, 0))
    }

    /// The first free candidate at or after `from` (no wrapping).
    #[inline]
    pub fn next_free(&self, from: usize) -> Option<usize> {
        if self.free == 0 || from >= self.len {
            return None;
        }
        self.find_next(0, from)
    }

    fn find_next(&self, lvl: usize, i: usize) -> Option<usize> {
        let words = &self.levels[lvl];
        let w = i / 64;
        if w >= words.len() {
            return None;
        }
        let m = words[w] & (u64::MAX << (i % 64));
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        if lvl + 1 == self.levels.len() {
            return None; // the top level is one word: nothing after it
        }
        let nw = self.find_next(lvl + 1, w + 1)?;
        Some(nw * 64 + words[nw].trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_free_wraps_and_tracks_counts() {
        for len in [1usize, 63, 64, 65, 4096, 4097, 300_000] {
            let mut b = HierBitmap::new(len);
            assert_eq!(b.find_free_from(0), None);
            assert!(b.set_free(len - 1));
            assert!(!b.set_free(len - 1));
            assert_eq!(b.find_free_from(0), Some(len - 1));
            assert_eq!(b.find_free_from(len - 1), Some(len - 1));
            if len > 1 {
                b.set_free(0);
                assert_eq!(b.find_free_from(1), Some(len - 1));
                assert!(b.set_used(len - 1));
                assert_eq!(b.find_free_from(1), Some(0), "wraps");
            }
            assert!(b.free() <= 2);
        }
    }

    #[test]
    fn matches_a_naive_model() {
        let len = 10_000;
        let mut b = HierBitmap::new(len);
        let mut model = vec![false; len];
        let mut x = 12345u32;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = (x as usize) % len;
            if x & 0x8000_0000 != 0 {
                assert_eq!(b.set_free(i), !model[i]);
                model[i] = true;
            } else {
                assert_eq!(b.set_used(i), model[i]);
                model[i] = false;
            }
            let from = (x as usize >> 3) % len;
            let expect = (from..len).chain(0..from).find(|&k| model[k]);
            assert_eq!(b.find_free_from(from), expect);
        }
        assert_eq!(b.free(), model.iter().filter(|&&f| f).count());
    }
}
