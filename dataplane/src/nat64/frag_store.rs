//! Non-first fragments that arrive before their first fragment (RFC 6146 §3.4: the NAT64 "MUST handle
//! fragments arriving out of order", within limited resources, for at least FRAGMENT_MIN = 2 s).
//!
//! Such a fragment carries no ports, so it cannot find its binding: the worker copies it into this store
//! ([`FragStore::hold`]). When the datagram's first fragment is translated, [`FragStore::first_seen`] marks the
//! datagram, and the pipeline takes its held fragments out, oldest first ([`FragStore::pop`]), translates them
//! like fragments that came after their first one and emits them right after it. Held fragments whose first
//! fragment does not come within the tenant's `timeouts.fragment` are dropped by the timer pass
//! ([`FragStore::pop_expired`]).
//!
//! Bounded and preallocated: each tenant may hold `fragments_held_max` fragments and `fragments_held_bytes`
//! bytes on each worker; the store is sized for the sum when the worker's NAT64 state is built. Bytes live in
//! [`CHUNK`]-byte chunks linked into one chain per fragment (no fragmentation of the arena: any free chunk
//! serves). A fragment of `len` bytes takes `⌈len / CHUNK⌉` chunks, so the arena has `⌈bytes / CHUNK⌉ + max`
//! chunks per tenant: a tenant within its limits always finds room. Nothing is allocated per packet.
//!
//! Lookups by datagram go through a hash of [`FragKey`] to buckets of slots chained in arrival order; each
//! tenant's slots also sit on an arrival-ordered list, which is its expiry order (one timeout per tenant).

use super::fragment::FragKey;
use super::{hash_words, NIL};
use crate::stats::Direction;

/// Bytes per chunk of the store's arena.
pub const CHUNK: usize = 128;

/// One tenant's limits (per worker), as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldLimits {
    /// Fragments (0: none are held).
    pub max: u32,
    /// Bytes of held fragments (IP packets as received).
    pub bytes: u32,
    /// How long a fragment is held (clock ns).
    pub timeout: u64,
}

/// What [`FragStore::hold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Held,
    /// The tenant's count or byte limit on this worker is used up.
    Full,
    /// The tenant holds nothing (`fragments_held_max = 0`).
    Off,
}

/// A tenant's limits and what it holds now.
#[derive(Debug, Clone, Copy)]
struct Quota {
    limits: HoldLimits,
    count: u32,
    bytes: u32,
    /// Arrival list: oldest and newest slot.
    oldest: u32,
    newest: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: FragKey,
    expires: u64,
    tenant: u16,
    len: u32,
    /// First chunk of the fragment's bytes.
    chunk: u32,
    /// Next slot in the same bucket (arrival order); on the free list, the next free slot.
    next: u32,
    /// Neighbours on the tenant's arrival list.
    older: u32,
    newer: u32,
}

/// One worker's held fragments.
pub struct FragStore {
    slots: Box<[Slot]>,
    free_slot: u32,
    buckets: Box<[u32]>,
    data: Box<[u8]>,
    /// Next chunk of the same fragment, or of the free list.
    chunk_next: Box<[u32]>,
    free_chunk: u32,
    quotas: Box<[Quota]>,
    /// Fragments held (0: the store costs one comparison per first fragment).
    live: u32,
    /// A first fragment was just seen whose datagram has held fragments: `pending_key`.
    pending: bool,
    pending_key: FragKey,
    seed: u64,
}

impl FragStore {
    /// A store for tenants with `limits` (indexed by tenant index).
    pub fn new(limits: &[HoldLimits], seed: u64) -> Self {
        let slots: usize = limits.iter().map(|l| l.max as usize).sum();
        let chunks: usize = limits
            .iter()
            .filter(|l| l.max > 0)
            .map(|l| (l.bytes as usize).div_ceil(CHUNK) + l.max as usize)
            .sum();
        let empty = Slot {
            key: [0; 40],
            expires: 0,
            tenant: 0,
            len: 0,
            chunk: NIL,
            next: NIL,
            older: NIL,
            newer: NIL,
        };
        let mut slot_vec = vec![empty; slots];
        for (i, s) in slot_vec.iter_mut().enumerate() {
            s.next = if i + 1 < slots { i as u32 + 1 } else { NIL };
        }
        let chunk_next: Vec<u32> = (0..chunks)
            .map(|i| if i + 1 < chunks { i as u32 + 1 } else { NIL })
            .collect();
        FragStore {
            slots: slot_vec.into_boxed_slice(),
            free_slot: if slots > 0 { 0 } else { NIL },
            buckets: vec![NIL; (slots * 2).next_power_of_two()].into_boxed_slice(),
            data: vec![0; chunks * CHUNK].into_boxed_slice(),
            chunk_next: chunk_next.into_boxed_slice(),
            free_chunk: if chunks > 0 { 0 } else { NIL },
            quotas: limits
                .iter()
                .map(|&limits| Quota {
                    limits,
                    count: 0,
                    bytes: 0,
                    oldest: NIL,
                    newest: NIL,
                })
                .collect(),
            live: 0,
            pending: false,
            pending_key: [0; 40],
            seed,
        }
    }

    /// Bytes allocated.
    pub fn memory(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
            + std::mem::size_of_val(&*self.buckets)
            + self.data.len()
            + std::mem::size_of_val(&*self.chunk_next)
            + std::mem::size_of_val(&*self.quotas)
    }

    /// Fragments held.
    pub fn len(&self) -> usize {
        self.live as usize
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Fragments and bytes tenant `tenant` holds on this worker.
    pub fn tenant_usage(&self, tenant: u16) -> (u32, u32) {
        self.quotas
            .get(usize::from(tenant))
            .map_or((0, 0), |q| (q.count, q.bytes))
    }

    fn bucket(&self, key: &FragKey) -> usize {
        let w = |i: usize| u64::from_be_bytes(key[i..i + 8].try_into().expect("8 bytes"));
        (hash_words(&[w(0), w(8), w(16), w(24), w(32)], self.seed) as usize)
            & (self.buckets.len() - 1)
    }

    /// Copies `pkt`, a non-first fragment of datagram `key` of tenant `tenant`, into the store until `now` +
    /// the tenant's timeout.
    pub fn hold(&mut self, key: FragKey, tenant: u16, pkt: &[u8], now: u64) -> Hold {
        let Some(q) = self.quotas.get(usize::from(tenant)) else {
            return Hold::Off;
        };
        if q.limits.max == 0 {
            return Hold::Off;
        }
        let len = pkt.len();
        let need = len.div_ceil(CHUNK).max(1);
        if q.count >= q.limits.max
            || q.bytes as usize + len > q.limits.bytes as usize
            || self.free_slot == NIL
        {
            return Hold::Full;
        }
        // Take `need` chunks off the free list (the sizing guarantees them to a tenant within its limits;
        // checked anyway, giving back what was taken).
        let first = self.free_chunk;
        let mut last = NIL;
        let mut c = first;
        for _ in 0..need {
            if c == NIL {
                return Hold::Full; // nothing was unlinked yet
            }
            last = c;
            c = self.chunk_next[c as usize];
        }
        self.free_chunk = c;
        self.chunk_next[last as usize] = NIL;
        let mut c = first;
        for piece in pkt.chunks(CHUNK) {
            let at = c as usize * CHUNK;
            self.data[at..at + piece.len()].copy_from_slice(piece);
            c = self.chunk_next[c as usize];
        }
        let i = self.free_slot;
        self.free_slot = self.slots[i as usize].next;
        let q = &mut self.quotas[usize::from(tenant)];
        self.slots[i as usize] = Slot {
            key,
            expires: now + q.limits.timeout,
            tenant,
            len: len as u32,
            chunk: first,
            next: NIL,
            older: q.newest,
            newer: NIL,
        };
        match q.newest {
            NIL => q.oldest = i,
            n => self.slots[n as usize].newer = i,
        }
        q.newest = i;
        q.count += 1;
        q.bytes += len as u32;
        // Append to the bucket's chain, so that a datagram's fragments come out in arrival order.
        let b = self.bucket(&key);
        match self.buckets[b] {
            NIL => self.buckets[b] = i,
            mut j => {
                while self.slots[j as usize].next != NIL {
                    j = self.slots[j as usize].next;
                }
                self.slots[j as usize].next = i;
            }
        }
        self.live += 1;
        Hold::Held
    }

    /// The first fragment of datagram `key` has been seen: if fragments of it are held, mark it for
    /// [`FragStore::take_pending`].
    #[inline]
    pub fn first_seen(&mut self, key: &FragKey) {
        if self.live == 0 {
            return;
        }
        if self.find(key).is_some() {
            self.pending = true;
            self.pending_key = *key;
        }
    }

    /// True if [`FragStore::first_seen`] marked a datagram.
    #[inline]
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// The datagram [`FragStore::first_seen`] marked, clearing the mark.
    pub fn take_pending(&mut self) -> Option<FragKey> {
        std::mem::take(&mut self.pending).then_some(self.pending_key)
    }

    /// The oldest slot of datagram `key` and its predecessor in the bucket.
    fn find(&self, key: &FragKey) -> Option<(u32, u32)> {
        let mut prev = NIL;
        let mut i = self.buckets[self.bucket(key)];
        while i != NIL {
            if self.slots[i as usize].key == *key {
                return Some((i, prev));
            }
            prev = i;
            i = self.slots[i as usize].next;
        }
        None
    }

    /// Takes the oldest held fragment of datagram `key` out of the store, copying it to the start of `out`.
    /// Returns its length; `None` if none is held (or `out` is too short, which leaves it held).
    pub fn pop(&mut self, key: &FragKey, out: &mut [u8]) -> Option<usize> {
        if self.live == 0 {
            return None;
        }
        let (i, prev) = self.find(key)?;
        let s = self.slots[i as usize];
        let len = s.len as usize;
        let out = out.get_mut(..len)?;
        let mut c = s.chunk;
        for piece in out.chunks_mut(CHUNK) {
            let at = c as usize * CHUNK;
            piece.copy_from_slice(&self.data[at..at + piece.len()]);
            c = self.chunk_next[c as usize];
        }
        self.remove(i, prev);
        Some(len)
    }

    /// Takes out a fragment held past `now`, if any: its tenant and the direction it was going.
    pub fn pop_expired(&mut self, now: u64) -> Option<(u16, Direction)> {
        if self.live == 0 {
            return None;
        }
        let t = self
            .quotas
            .iter()
            .position(|q| q.oldest != NIL && self.slots[q.oldest as usize].expires <= now)?;
        let i = self.quotas[t].oldest;
        let key = self.slots[i as usize].key;
        let mut prev = NIL;
        let mut j = self.buckets[self.bucket(&key)];
        while j != i {
            prev = j;
            j = self.slots[j as usize].next;
        }
        self.remove(i, prev);
        let dir = if key[0] == 6 {
            Direction::V6ToV4
        } else {
            Direction::V4ToV6
        };
        Some((t as u16, dir))
    }

    /// Unlinks slot `i` (whose bucket predecessor is `prev`) and frees it and its chunks.
    fn remove(&mut self, i: u32, prev: u32) {
        let s = self.slots[i as usize];
        match prev {
            NIL => {
                let b = self.bucket(&s.key);
                self.buckets[b] = s.next;
            }
            p => self.slots[p as usize].next = s.next,
        }
        let q = &mut self.quotas[usize::from(s.tenant)];
        match s.older {
            NIL => q.oldest = s.newer,
            o => self.slots[o as usize].newer = s.newer,
        }
        match s.newer {
            NIL => q.newest = s.older,
            n => self.slots[n as usize].older = s.older,
        }
        q.count -= 1;
        q.bytes -= s.len;
        // The fragment's chunk chain goes back in front of the free list.
        let mut last = s.chunk;
        while self.chunk_next[last as usize] != NIL {
            last = self.chunk_next[last as usize];
        }
        self.chunk_next[last as usize] = self.free_chunk;
        self.free_chunk = s.chunk;
        self.slots[i as usize].next = self.free_slot;
        self.free_slot = i;
        self.live -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::fragment::{key4, key6};
    use super::*;

    const LIMITS: HoldLimits = HoldLimits {
        max: 3,
        bytes: 1000,
        timeout: 10,
    };

    fn pkt(n: usize, fill: u8) -> Vec<u8> {
        (0..n).map(|i| fill ^ i as u8).collect()
    }

    #[test]
    fn fragments_come_out_by_datagram_in_arrival_order() {
        let mut s = FragStore::new(&[LIMITS], 7);
        let (a, b) = (
            key6(0, 17, 1, &[1; 16], &[2; 16]),
            key4(0, 17, 1, [1; 4], [2; 4]),
        );
        assert_eq!(s.hold(a, 0, &pkt(300, 1), 0), Hold::Held);
        assert_eq!(s.hold(b, 0, &pkt(5, 2), 1), Hold::Held);
        assert_eq!(s.hold(a, 0, &pkt(129, 3), 2), Hold::Held);
        assert_eq!(s.tenant_usage(0), (3, 434));
        s.first_seen(&key6(0, 17, 2, &[1; 16], &[2; 16]));
        assert!(!s.is_pending(), "another datagram");
        s.first_seen(&a);
        assert_eq!(s.take_pending(), Some(a));
        assert_eq!(s.take_pending(), None);
        let mut out = [0u8; 400];
        assert_eq!(s.pop(&a, &mut out[..100]), None, "too short: stays held");
        assert_eq!(s.pop(&a, &mut out), Some(300));
        assert_eq!(&out[..300], &pkt(300, 1)[..]);
        assert_eq!(s.pop(&a, &mut out), Some(129));
        assert_eq!(&out[..129], &pkt(129, 3)[..]);
        assert_eq!(s.pop(&a, &mut out), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s.pop(&b, &mut out), Some(5));
        assert!(s.is_empty());
        assert_eq!(s.tenant_usage(0), (0, 0));
    }

    #[test]
    fn limits_count_and_bytes_per_tenant() {
        let off = HoldLimits { max: 0, ..LIMITS };
        let mut s = FragStore::new(&[LIMITS, off, LIMITS], 1);
        let k = |i| key4(0, 6, i, [1; 4], [2; 4]);
        assert_eq!(s.hold(k(1), 1, &pkt(10, 0), 0), Hold::Off);
        assert_eq!(s.hold(k(1), 9, &pkt(10, 0), 0), Hold::Off, "no such tenant");
        assert_eq!(s.hold(k(1), 0, &pkt(1001, 0), 0), Hold::Full, "bytes");
        assert_eq!(s.hold(k(1), 0, &pkt(1000, 0), 0), Hold::Held);
        assert_eq!(s.hold(k(2), 0, &pkt(1, 0), 0), Hold::Full, "bytes");
        // Tenant 2 has its own room, whatever tenant 0 holds.
        for i in 0..3 {
            assert_eq!(s.hold(k(i), 2, &pkt(100, 0), 0), Hold::Held);
        }
        assert_eq!(s.hold(k(4), 2, &pkt(1, 0), 0), Hold::Full, "count");
        let mut out = [0u8; 1000];
        assert_eq!(s.pop(&k(1), &mut out), Some(1000), "tenant 0's, older");
        assert_eq!(s.hold(k(2), 0, &pkt(1, 0), 0), Hold::Held, "room again");
    }

    #[test]
    fn expiry_is_per_tenant_in_arrival_order() {
        let slow = HoldLimits {
            timeout: 100,
            ..LIMITS
        };
        let mut s = FragStore::new(&[slow, LIMITS], 3);
        let k6 = key6(1, 17, 5, &[1; 16], &[2; 16]);
        let k4 = key4(1, 17, 5, [1; 4], [2; 4]);
        assert_eq!(s.hold(k6, 0, &pkt(10, 0), 0), Hold::Held); // expires 100
        assert_eq!(s.hold(k6, 1, &pkt(10, 0), 0), Hold::Held); // expires 10
        assert_eq!(s.hold(k4, 1, &pkt(10, 0), 5), Hold::Held); // expires 15
        assert_eq!(s.pop_expired(9), None);
        assert_eq!(s.pop_expired(10), Some((1, Direction::V6ToV4)));
        assert_eq!(s.pop_expired(14), None);
        assert_eq!(s.pop_expired(99), Some((1, Direction::V4ToV6)));
        assert_eq!(s.pop_expired(99), None);
        assert_eq!(s.pop_expired(100), Some((0, Direction::V6ToV4)));
        assert!(s.is_empty());
        // Everything went back: the store fills again to its limits.
        for i in 0..3 {
            assert_eq!(
                s.hold(key4(0, 6, i, [1; 4], [2; 4]), 1, &pkt(333, 0), 0),
                Hold::Held
            );
        }
    }

    #[test]
    fn memory_is_what_the_docs_say() {
        // docs/nat64.md, docs/config.md: a 72-byte slot and 8 bytes of buckets per fragment, and
        // ⌈bytes / 128⌉ + max chunks of 128 bytes plus a 4-byte link.
        assert_eq!(std::mem::size_of::<Slot>(), 72);
        let l = HoldLimits {
            max: 256,
            bytes: 256 << 10,
            timeout: 0,
        };
        let s = FragStore::new(&[l], 0);
        let chunks = (256 << 10) / CHUNK + 256;
        let quota = std::mem::size_of::<Quota>();
        assert_eq!(
            s.memory(),
            256 * 72 + 512 * 4 + chunks * (CHUNK + 4) + quota
        );
        assert_eq!(s.memory(), 324_608 + quota); // 317 KiB with the defaults
    }

    #[test]
    fn a_store_without_limits_holds_nothing() {
        let mut s = FragStore::new(&[], 0);
        let k = key4(0, 6, 1, [1; 4], [2; 4]);
        assert_eq!(s.hold(k, 0, &[0; 20], 0), Hold::Off);
        s.first_seen(&k);
        assert!(!s.is_pending());
        assert_eq!(s.pop_expired(u64::MAX), None);
    }
}
