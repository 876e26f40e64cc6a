//! The session table (RFC 6146 §3.2) of one worker: one entry per (binding, remote IPv4 address, remote port),
//! the remote port 0 for ICMP query sessions (RFC 6146 §3.5.3 keys them by address only).
//!
//! A preallocated slab of 36-byte [`Session`]s with a chained hash index for the sessions of bindings with
//! more than [`LIST_WALK_MAX`] sessions; each session sits on two intrusive
//! lists: its binding's session list (singly linked) (address-dependent filtering asks "has this binding a
//! session with this address?", and lookups of a binding with few sessions walk it) and one doubly-linked expiry queue per (tenant, [`TimerClass`]). Every session of a queue
//! has the same timeout, so refreshing one moves it to the tail and the queue stays sorted by expiry: expiry
//! pops from the head, O(1) per session, and lookups see an expired session as expired whether or not the
//! timer pass has run yet.

use super::bib::BibEntry;
use super::lookahead::prefetch;
use super::mem::table;
use super::tcp::TcpState;
use super::{hash_words, NIL};

/// Up to this many sessions, a binding's sessions are searched through its list rather than the hash index,
/// and are not in the hash index ([`SessionTable::find`]): each step of the walk is a possible cache miss, as are the hash bucket and
/// its entry, so the walk wins for one session and ties for two.
pub const LIST_WALK_MAX: u32 = 2;

/// `Session::hnext` of a session that is not in the hash index (its binding has few sessions). Never a slot
/// index: capacities stay below it.
const UNHASHED: u32 = NIL - 1;

/// Which timeout a session's lifetime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimerClass {
    Udp = 0,
    TcpEstablished = 1,
    TcpTransitory = 2,
    Icmp = 3,
}

impl TimerClass {
    pub const COUNT: usize = 4;
}

/// One session. 36 bytes: `packed(4)` keeps the `u64` expiry from rounding the size up to a multiple of 8
/// (every other field is at most 4-byte aligned, so only `expires` is ever unaligned, and it is only read and
/// written by value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
pub struct Session {
    /// Clock value (ns) at which it expires.
    pub expires: u64,
    pub bib: u32,
    /// The IPv4 peer (Z) and its port (z; 0 for ICMP).
    pub remote4: [u8; 4],
    pub rport: u16,
    /// TCP state; `Closed` for UDP and ICMP (unused).
    pub state: TcpState,
    pub class: TimerClass,
    hnext: u32,
    qprev: u32,
    qnext: u32,
    /// Next session of the same binding. Singly linked: removal walks the binding's list from its head,
    /// which is short in the common case (one or two sessions per binding).
    bnext: u32,
}

#[derive(Debug, Clone, Copy)]
struct Queue {
    head: u32,
    tail: u32,
}

const EMPTY: Queue = Queue {
    head: NIL,
    tail: NIL,
};

/// The sessions of one worker.
pub struct SessionTable {
    slab: Box<[Session]>,
    free: u32,
    len: u32,
    buckets: Box<[u32]>,
    mask: u64,
    seed: u64,
    /// Per tenant index, one queue per timer class.
    queues: Vec<[Queue; TimerClass::COUNT]>,
}

#[inline]
fn key(bib: u32, remote4: [u8; 4], rport: u16) -> [u64; 1] {
    [u64::from(bib) << 32 ^ u64::from(u32::from_be_bytes(remote4)) ^ u64::from(rport) << 48]
}

impl SessionTable {
    /// Room for `capacity` sessions of `tenants` tenants.
    pub fn with_capacity(capacity: usize, tenants: usize, seed: u64) -> Self {
        let capacity = capacity.clamp(1, NIL as usize - 1);
        // Half as many buckets as sessions: only the sessions of bindings with more than LIST_WALK_MAX
        // sessions are hashed at all, so the chains stay short while the index costs 2 bytes per session.
        let nb = capacity.div_ceil(2).next_power_of_two();
        let blank = Session {
            expires: 0,
            bib: NIL,
            remote4: [0; 4],
            rport: 0,
            state: TcpState::Closed,
            class: TimerClass::Udp,
            hnext: NIL,
            qprev: NIL,
            qnext: NIL,
            bnext: NIL,
        };
        let slab = table(capacity, |i| Session {
            hnext: if i + 1 < capacity { i as u32 + 1 } else { NIL },
            ..blank
        });
        SessionTable {
            slab,
            free: 0,
            len: 0,
            buckets: table(nb, |_| NIL),
            mask: nb as u64 - 1,
            seed,
            queues: vec![[EMPTY; TimerClass::COUNT]; tenants],
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.slab.len()
    }

    /// Bytes allocated: the slab (capacity × entry size), the bucket array and the expiry queue heads.
    pub fn memory(&self) -> usize {
        std::mem::size_of_val(&*self.slab)
            + std::mem::size_of_val(&*self.buckets)
            + std::mem::size_of_val(&*self.queues)
    }

    pub fn is_full(&self) -> bool {
        self.free == NIL
    }

    #[inline]
    fn bucket(&self, bib: u32, remote4: [u8; 4], rport: u16) -> usize {
        (hash_words(&key(bib, remote4, rport), self.seed) & self.mask) as usize
    }

    #[inline]
    pub fn get(&self, i: u32) -> &Session {
        &self.slab[i as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, i: u32) -> &mut Session {
        &mut self.slab[i as usize]
    }

    /// Batch lookahead ([`super::lookahead`]): prefetches the bucket of a key, returns its index.
    #[inline]
    pub fn prefetch_bucket(&self, bib: u32, remote4: [u8; 4], rport: u16) -> u32 {
        let b = self.bucket(bib, remote4, rport);
        prefetch(&self.buckets[b]);
        b as u32
    }

    /// Reads bucket `b` and prefetches the first session of its chain (both cache lines it may straddle).
    #[inline]
    pub fn prefetch_head(&self, b: u32) {
        self.prefetch_session(self.buckets[b as usize]);
    }

    /// The session (binding `bib_idx`, remote4, rport); `bib` is that binding. A binding with at most
    /// [`LIST_WALK_MAX`] sessions (nearly all of them: one per binding is the common case) is searched through
    /// its own session list — one dependent cache miss (binding → session) instead of two (binding → hash
    /// bucket → session) — and only the sessions of the others are in the hash index at all.
    #[inline]
    pub fn find(&self, bib_idx: u32, bib: &BibEntry, remote4: [u8; 4], rport: u16) -> Option<u32> {
        if bib.is_hashed() {
            self.find_hashed(bib_idx, remote4, rport)
        } else {
            self.find_in_list(bib.sessions, remote4, rport)
        }
    }

    /// The hash index's part of [`SessionTable::find`].
    #[inline]
    fn find_hashed(&self, bib: u32, remote4: [u8; 4], rport: u16) -> Option<u32> {
        let mut i = self.buckets[self.bucket(bib, remote4, rport)];
        while i != NIL {
            let s = &self.slab[i as usize];
            if s.bib == bib && s.rport == rport && s.remote4 == remote4 {
                return Some(i);
            }
            i = s.hnext;
        }
        None
    }

    /// The session with (remote4, rport) in the binding list starting at `head` (a [`BibEntry::sessions`]).
    #[inline]
    fn find_in_list(&self, head: u32, remote4: [u8; 4], rport: u16) -> Option<u32> {
        let mut i = head;
        while i != NIL {
            let s = &self.slab[i as usize];
            if s.rport == rport && s.remote4 == remote4 {
                return Some(i);
            }
            i = s.bnext;
        }
        None
    }

    /// Batch lookahead: prefetches session `i` (both cache lines it may straddle), if there is one.
    #[inline]
    pub fn prefetch_session(&self, i: u32) {
        if let Some(s) = self.slab.get(i as usize) {
            let p: *const Session = s;
            prefetch(p);
            prefetch(
                p.cast::<u8>()
                    .wrapping_add(std::mem::size_of::<Session>() - 1),
            );
        }
    }

    /// RFC 6146 §3.5.1.2 address-dependent filtering: has binding `b` a session with `remote4` (any port)
    /// that is still alive at `now`?
    pub fn any_with_remote(&self, b: &BibEntry, remote4: [u8; 4], now: u64) -> bool {
        let mut i = b.sessions;
        while i != NIL {
            let s = &self.slab[i as usize];
            if s.remote4 == remote4 && s.expires > now {
                return true;
            }
            i = s.bnext;
        }
        false
    }

    /// Adds a session of binding `bib_idx` (`bib` is that entry; its list and flag are updated). `None` when
    /// the table is full.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        bib_idx: u32,
        bib: &mut BibEntry,
        remote4: [u8; 4],
        rport: u16,
        state: TcpState,
        class: TimerClass,
        expires: u64,
    ) -> Option<u32> {
        if self.free == NIL {
            return None;
        }
        let i = self.free;
        self.free = self.slab[i as usize].hnext;
        self.slab[i as usize] = Session {
            expires,
            bib: bib_idx,
            remote4,
            rport,
            state,
            class,
            hnext: UNHASHED,
            qprev: NIL,
            qnext: NIL,
            bnext: bib.sessions,
        };
        bib.sessions = i;
        // Invariant: every session of a binding with more than LIST_WALK_MAX sessions is hashed (and the
        // binding flagged). Crossing the threshold hashes the whole list (at most LIST_WALK_MAX + 1 sessions,
        // some perhaps hashed already from an earlier crossing); above it, each new session.
        if bib.is_hashed() {
            self.hash_in(i);
        } else if self.list_len_over(bib.sessions) {
            let mut j = bib.sessions;
            while j != NIL {
                if self.slab[j as usize].hnext == UNHASHED {
                    self.hash_in(j);
                }
                j = self.slab[j as usize].bnext;
            }
            bib.set_hashed(true);
        }
        self.enqueue(i, bib.tenant);
        self.len += 1;
        Some(i)
    }

    /// Removes session `i` of binding `bib` (list and flag updated).
    pub fn remove(&mut self, i: u32, bib: &mut BibEntry) {
        let s = self.slab[i as usize];
        self.dequeue(i, bib.tenant);
        // Binding list (singly linked: find the predecessor from the head).
        if bib.sessions == i {
            bib.sessions = s.bnext;
        } else {
            let mut p = bib.sessions;
            while self.slab[p as usize].bnext != i {
                p = self.slab[p as usize].bnext;
            }
            self.slab[p as usize].bnext = s.bnext;
        }
        // Back to LIST_WALK_MAX sessions: `find` walks the list again. (The remaining sessions stay hashed:
        // harmless.) At most LIST_WALK_MAX + 1 steps, and only while the binding is flagged.
        if bib.is_hashed() && !self.list_len_over(bib.sessions) {
            bib.set_hashed(false);
        }
        // Hash chain.
        if s.hnext != UNHASHED {
            let b = self.bucket(s.bib, s.remote4, s.rport);
            let mut p = &mut self.buckets[b];
            while *p != i {
                let n = *p;
                p = &mut self.slab[n as usize].hnext;
            }
            *p = s.hnext;
        }
        let e = &mut self.slab[i as usize];
        e.bib = NIL;
        e.hnext = self.free;
        self.free = i;
        self.len -= 1;
    }

    /// Whether the binding list starting at `head` is longer than [`LIST_WALK_MAX`] (walks at most
    /// LIST_WALK_MAX + 1 of it).
    fn list_len_over(&self, head: u32) -> bool {
        let mut i = head;
        for _ in 0..=LIST_WALK_MAX {
            if i == NIL {
                return false;
            }
            i = self.slab[i as usize].bnext;
        }
        true
    }

    /// Puts session `i` at the head of its hash chain.
    fn hash_in(&mut self, i: u32) {
        let s = &self.slab[i as usize];
        let b = self.bucket(s.bib, s.remote4, s.rport);
        self.slab[i as usize].hnext = self.buckets[b];
        self.buckets[b] = i;
    }

    /// Sets session `i`'s lifetime (class and expiry) and moves it to the tail of its queue.
    #[inline]
    pub fn refresh(&mut self, i: u32, tenant: u16, class: TimerClass, expires: u64) {
        self.dequeue(i, tenant);
        let s = &mut self.slab[i as usize];
        s.class = class;
        s.expires = expires;
        self.enqueue(i, tenant);
    }

    fn queue(&mut self, tenant: u16, class: TimerClass) -> &mut Queue {
        let t = usize::from(tenant);
        if t >= self.queues.len() {
            self.queues.resize(t + 1, [EMPTY; TimerClass::COUNT]);
        }
        &mut self.queues[t][class as usize]
    }

    fn enqueue(&mut self, i: u32, tenant: u16) {
        let class = self.slab[i as usize].class;
        let q = *self.queue(tenant, class);
        self.slab[i as usize].qprev = q.tail;
        self.slab[i as usize].qnext = NIL;
        if q.tail != NIL {
            self.slab[q.tail as usize].qnext = i;
        }
        let q = self.queue(tenant, class);
        if q.head == NIL {
            q.head = i;
        }
        q.tail = i;
    }

    fn dequeue(&mut self, i: u32, tenant: u16) {
        let s = self.slab[i as usize];
        let q = self.queue(tenant, s.class);
        if s.qprev == NIL {
            q.head = s.qnext;
        }
        if s.qnext == NIL {
            q.tail = s.qprev;
        }
        if s.qprev != NIL {
            self.slab[s.qprev as usize].qnext = s.qnext;
        }
        if s.qnext != NIL {
            self.slab[s.qnext as usize].qprev = s.qprev;
        }
    }

    /// The session at the head of (tenant, class)'s queue if it has expired at `now`.
    #[inline]
    pub fn expired_head(&self, tenant: u16, class: TimerClass, now: u64) -> Option<u32> {
        let q = self.queues.get(usize::from(tenant))?[class as usize];
        (q.head != NIL && self.slab[q.head as usize].expires <= now).then_some(q.head)
    }

    /// Sessions in use (control plane, tests): slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Session)> + '_ {
        self.slab
            .iter()
            .enumerate()
            .filter(|(_, s)| s.bib != NIL)
            .map(|(i, s)| (i as u32, s))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Proto;
    use super::*;

    /// Bindings growing past LIST_WALK_MAX sessions and shrinking below it, again and again: every session is
    /// found (through the list or the hash index), removed ones are not.
    #[test]
    fn find_across_the_list_walk_threshold() {
        let mut t = SessionTable::with_capacity(64, 1, 3);
        let mut bibs: Vec<BibEntry> = (0..3u8)
            .map(|k| BibEntry::new(0, Proto::Udp, [k; 16], 1, [2; 4], u16::from(k)))
            .collect();
        // (binding, port) → session, the model.
        let mut live: Vec<(usize, u16, u32)> = Vec::new();
        let mut x = 12345u32;
        for step in 0..2000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let k = (x % 3) as usize;
            let port = (x >> 8) as u16 % 8;
            let at = live.iter().position(|&(b, p, _)| b == k && p == port);
            match at {
                Some(n) if x & 0x10000 != 0 || t.is_full() => {
                    let (_, _, i) = live.swap_remove(n);
                    t.remove(i, &mut bibs[k]);
                }
                None if !t.is_full() => {
                    let i = t
                        .insert(
                            k as u32,
                            &mut bibs[k],
                            [9; 4],
                            port,
                            TcpState::Closed,
                            TimerClass::Udp,
                            1,
                        )
                        .unwrap();
                    live.push((k, port, i));
                }
                _ => {}
            }
            for (k, b) in bibs.iter().enumerate() {
                for port in 0..8u16 {
                    let want = live
                        .iter()
                        .find(|&&(bk, p, _)| bk == k && p == port)
                        .map(|l| l.2);
                    assert_eq!(t.find(k as u32, b, [9; 4], port), want, "step {step}");
                }
                let n = live.iter().filter(|l| l.0 == k).count();
                let mut listed = 0;
                let mut j = b.sessions;
                while j != NIL {
                    listed += 1;
                    j = t.slab[j as usize].bnext;
                }
                assert_eq!(listed, n, "step {step}");
                assert_eq!(b.is_hashed(), n > LIST_WALK_MAX as usize, "step {step}");
            }
        }
    }

    #[test]
    fn size_insert_find_expire_in_order() {
        assert_eq!(std::mem::size_of::<Session>(), 36);
        let mut t = SessionTable::with_capacity(4, 1, 7);
        let mut b = BibEntry::new(0, Proto::Udp, [1; 16], 1, [2; 4], 2);
        let z = [198, 51, 100, 9];
        let s1 = t
            .insert(5, &mut b, z, 53, TcpState::Closed, TimerClass::Udp, 100)
            .unwrap();
        let s2 = t
            .insert(5, &mut b, z, 54, TcpState::Closed, TimerClass::Udp, 200)
            .unwrap();
        let s3 = t
            .insert(
                5,
                &mut b,
                [1, 1, 1, 1],
                54,
                TcpState::Closed,
                TimerClass::Udp,
                300,
            )
            .unwrap();
        assert!(b.is_hashed() && b.has_sessions());
        assert_eq!(t.find(5, &b, z, 54), Some(s2));
        // The binding's list finds the same sessions as the hash index.
        for (r, p) in [
            (z, 53),
            (z, 54),
            ([1, 1, 1, 1], 54),
            (z, 55),
            ([1, 1, 1, 1], 53),
        ] {
            assert_eq!(
                t.find_in_list(b.sessions, r, p),
                t.find_hashed(5, r, p),
                "{r:?}:{p}"
            );
        }
        assert_eq!(t.find_in_list(b.sessions, [1, 1, 1, 1], 54), Some(s3));
        assert_eq!(t.find_in_list(NIL, z, 54), None);
        let other = BibEntry::new(0, Proto::Udp, [3; 16], 3, [2; 4], 3);
        assert_eq!(t.find(6, &other, z, 54), None);
        assert!(t.any_with_remote(&b, [1, 1, 1, 1], 0));
        assert!(!t.any_with_remote(&b, [1, 1, 1, 1], 300), "expired");
        assert!(!t.any_with_remote(&b, [1, 1, 1, 2], 0));
        assert_eq!(t.expired_head(0, TimerClass::Udp, 99), None);
        assert_eq!(t.expired_head(0, TimerClass::Udp, 100), Some(s1));
        // Refreshing s1 sends it behind s3.
        t.refresh(s1, 0, TimerClass::Udp, 400);
        assert_eq!(t.expired_head(0, TimerClass::Udp, 250), Some(s2));
        t.remove(s2, &mut b);
        assert_eq!(t.expired_head(0, TimerClass::Udp, 250), None);
        assert_eq!(t.expired_head(0, TimerClass::Udp, 300), Some(s3));
        t.remove(s3, &mut b);
        assert_eq!(t.expired_head(0, TimerClass::Udp, 1000), Some(s1));
        t.remove(s1, &mut b);
        assert_eq!((b.is_hashed(), b.sessions, t.len()), (false, NIL, 0));
        assert_eq!(t.expired_head(0, TimerClass::Udp, u64::MAX), None);
        // Moving to another class.
        let s = t
            .insert(
                5,
                &mut b,
                z,
                1,
                TcpState::V6Init,
                TimerClass::TcpTransitory,
                10,
            )
            .unwrap();
        t.refresh(s, 0, TimerClass::TcpEstablished, 20);
        assert_eq!(t.expired_head(0, TimerClass::TcpTransitory, 100), None);
        assert_eq!(t.expired_head(0, TimerClass::TcpEstablished, 100), Some(s));
    }
}
