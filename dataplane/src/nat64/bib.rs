//! The Binding Information Base (RFC 6146 §3.1) of one worker: (IPv6 address, port) ↔ (IPv4 address, port)
//! per tenant and protocol. A preallocated slab with two chained hash indexes (by the IPv6 and by the IPv4
//! transport address); entries are referred to by `u32` index. Bounded: inserting into a full table fails.

use super::lookahead::prefetch;
use super::mem::table;
use super::{hash_words, Proto, NIL};

/// One binding. 44 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BibEntry {
    pub addr6: [u8; 16],
    pub port6: u16,
    pub port4: u16,
    pub addr4: [u8; 4],
    pub tenant: u16,
    pub proto: Proto,
    /// Configured (`static_bib`): never removed with its last session.
    pub is_static: bool,
    /// Head of this binding's session list ([`super::session`]).
    pub sessions: u32,
    /// Number of sessions.
    pub count: u32,
    next6: u32,
    next4: u32,
}

impl BibEntry {
    pub fn new(
        tenant: u16,
        proto: Proto,
        addr6: [u8; 16],
        port6: u16,
        addr4: [u8; 4],
        port4: u16,
    ) -> Self {
        BibEntry {
            addr6,
            port6,
            port4,
            addr4,
            tenant,
            proto,
            is_static: false,
            sessions: NIL,
            count: 0,
            next6: NIL,
            next4: NIL,
        }
    }
}

/// The bindings of one worker.
pub struct BibTable {
    slab: Box<[BibEntry]>,
    /// Free slots, chained through `next6`.
    free: u32,
    len: u32,
    buckets6: Box<[u32]>,
    buckets4: Box<[u32]>,
    mask: u64,
    seed: u64,
    /// Bindings per tenant index (reports). Sized by [`BibTable::with_tenants`] so that inserting does not
    /// allocate; grows if a larger tenant index shows up anyway.
    per_tenant: Vec<u32>,
}

#[inline]
fn key6(tenant: u16, proto: Proto, addr6: &[u8; 16], port6: u16) -> [u64; 3] {
    let hi = u64::from_be_bytes(addr6[..8].try_into().expect("8 bytes"));
    let lo = u64::from_be_bytes(addr6[8..].try_into().expect("8 bytes"));
    [
        hi,
        lo,
        u64::from(tenant) << 24 | (proto as u64) << 16 | u64::from(port6),
    ]
}

#[inline]
fn key4(tenant: u16, proto: Proto, addr4: [u8; 4], port4: u16) -> u64 {
    u64::from(u32::from_be_bytes(addr4)) << 32
        | u64::from(tenant) << 18
        | (proto as u64) << 16
        | u64::from(port4)
}

impl BibTable {
    /// Room for `capacity` bindings (at least 1); `seed` keys the hash.
    pub fn with_capacity(capacity: usize, seed: u64) -> Self {
        let capacity = capacity.clamp(1, NIL as usize - 1);
        let nb = capacity.next_power_of_two();
        let blank = BibEntry::new(0, Proto::Tcp, [0; 16], 0, [0; 4], 0);
        let slab = table(capacity, |i| BibEntry {
            next6: if i + 1 < capacity { i as u32 + 1 } else { NIL },
            ..blank
        });
        BibTable {
            slab,
            free: 0,
            len: 0,
            buckets6: table(nb, |_| NIL),
            buckets4: table(nb, |_| NIL),
            mask: nb as u64 - 1,
            seed,
            per_tenant: Vec::new(),
        }
    }

    /// Room for the per-tenant counts of `tenants` tenants ([`BibTable::tenant_len`]).
    pub fn with_tenants(mut self, tenants: usize) -> Self {
        self.per_tenant
            .resize(tenants.max(self.per_tenant.len()), 0);
        self
    }

    /// Bindings of tenant `tenant`.
    pub fn tenant_len(&self, tenant: u16) -> usize {
        self.per_tenant
            .get(usize::from(tenant))
            .map_or(0, |&n| n as usize)
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

    /// Bytes allocated: the slab (capacity × entry size) and both bucket arrays.
    pub fn memory(&self) -> usize {
        std::mem::size_of_val(&*self.slab)
            + std::mem::size_of_val(&*self.buckets6)
            + std::mem::size_of_val(&*self.buckets4)
    }

    #[inline]
    fn b6(&self, tenant: u16, proto: Proto, addr6: &[u8; 16], port6: u16) -> usize {
        (hash_words(&key6(tenant, proto, addr6, port6), self.seed) & self.mask) as usize
    }

    #[inline]
    fn b4(&self, tenant: u16, proto: Proto, addr4: [u8; 4], port4: u16) -> usize {
        (hash_words(&[key4(tenant, proto, addr4, port4)], self.seed) & self.mask) as usize
    }

    #[inline]
    pub fn get(&self, i: u32) -> &BibEntry {
        &self.slab[i as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, i: u32) -> &mut BibEntry {
        &mut self.slab[i as usize]
    }

    /// Batch lookahead ([`super::lookahead`]): prefetches the IPv6-side bucket of a key, returns its index.
    #[inline]
    pub fn prefetch_bucket6(&self, tenant: u16, proto: Proto, addr6: &[u8; 16], port6: u16) -> u32 {
        let b = self.b6(tenant, proto, addr6, port6);
        prefetch(&self.buckets6[b]);
        b as u32
    }

    /// The same on the IPv4 side.
    #[inline]
    pub fn prefetch_bucket4(&self, tenant: u16, proto: Proto, addr4: [u8; 4], port4: u16) -> u32 {
        let b = self.b4(tenant, proto, addr4, port4);
        prefetch(&self.buckets4[b]);
        b as u32
    }

    /// Reads bucket `b` (IPv6 side if `v6`) and prefetches the first binding of its chain (both cache lines
    /// it may straddle). Returns that binding's index, or [`NIL`].
    #[inline]
    pub fn prefetch_head(&self, v6: bool, b: u32) -> u32 {
        let i = if v6 {
            self.buckets6[b as usize]
        } else {
            self.buckets4[b as usize]
        };
        if let Some(e) = self.slab.get(i as usize) {
            let p: *const BibEntry = e;
            prefetch(p);
            prefetch(
                p.cast::<u8>()
                    .wrapping_add(std::mem::size_of::<BibEntry>() - 1),
            );
        }
        i
    }

    /// The binding of an IPv6 transport address.
    #[inline]
    pub fn find6(&self, tenant: u16, proto: Proto, addr6: &[u8; 16], port6: u16) -> Option<u32> {
        let mut i = self.buckets6[self.b6(tenant, proto, addr6, port6)];
        while i != NIL {
            let e = &self.slab[i as usize];
            if e.port6 == port6 && e.addr6 == *addr6 && e.tenant == tenant && e.proto == proto {
                return Some(i);
            }
            i = e.next6;
        }
        None
    }

    /// The binding of an IPv4 transport address.
    #[inline]
    pub fn find4(&self, tenant: u16, proto: Proto, addr4: [u8; 4], port4: u16) -> Option<u32> {
        let mut i = self.buckets4[self.b4(tenant, proto, addr4, port4)];
        while i != NIL {
            let e = &self.slab[i as usize];
            if e.port4 == port4 && e.addr4 == addr4 && e.tenant == tenant && e.proto == proto {
                return Some(i);
            }
            i = e.next4;
        }
        None
    }

    /// Adds a binding (the caller checked that neither address is bound). `None` when the table is full.
    pub fn insert(&mut self, mut e: BibEntry) -> Option<u32> {
        if self.free == NIL {
            return None;
        }
        let i = self.free;
        self.free = self.slab[i as usize].next6;
        let b6 = self.b6(e.tenant, e.proto, &e.addr6, e.port6);
        let b4 = self.b4(e.tenant, e.proto, e.addr4, e.port4);
        e.next6 = self.buckets6[b6];
        e.next4 = self.buckets4[b4];
        e.sessions = NIL;
        e.count = 0;
        self.slab[i as usize] = e;
        self.buckets6[b6] = i;
        self.buckets4[b4] = i;
        self.len += 1;
        let t = usize::from(e.tenant);
        if t >= self.per_tenant.len() {
            self.per_tenant.resize(t + 1, 0);
        }
        self.per_tenant[t] += 1;
        Some(i)
    }

    /// Removes binding `i` (its sessions must be gone).
    pub fn remove(&mut self, i: u32) {
        let e = self.slab[i as usize];
        let b6 = self.b6(e.tenant, e.proto, &e.addr6, e.port6);
        let b4 = self.b4(e.tenant, e.proto, e.addr4, e.port4);
        // Unlink from both chains.
        let mut p = &mut self.buckets6[b6];
        while *p != i {
            let n = *p;
            p = &mut self.slab[n as usize].next6;
        }
        *p = e.next6;
        let mut p = &mut self.buckets4[b4];
        while *p != i {
            let n = *p;
            p = &mut self.slab[n as usize].next4;
        }
        *p = e.next4;
        self.slab[i as usize].next6 = self.free;
        self.slab[i as usize].next4 = NIL;
        self.free = i;
        self.len -= 1;
        if let Some(n) = self.per_tenant.get_mut(usize::from(e.tenant)) {
            *n -= 1;
        }
    }

    /// Every binding in use, in slot order (control plane, tests).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &BibEntry)> + '_ {
        // A slot is in use iff it is reachable from its bucket: check through find6.
        self.slab.iter().enumerate().filter_map(move |(i, e)| {
            (self.find6(e.tenant, e.proto, &e.addr6, e.port6) == Some(i as u32))
                .then_some((i as u32, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_both_ways() {
        let mut t = BibTable::with_capacity(3, 42);
        let a6 = |n: u8| [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n];
        let mut ids = Vec::new();
        for n in 0..3u8 {
            let e = BibEntry::new(
                1,
                Proto::Udp,
                a6(n),
                1000,
                [198, 51, 100, 1],
                2000 + u16::from(n),
            );
            ids.push(t.insert(e).unwrap());
        }
        assert_eq!(
            t.insert(BibEntry::new(1, Proto::Udp, a6(9), 1, [1; 4], 1)),
            None,
            "full"
        );
        assert_eq!(t.find6(1, Proto::Udp, &a6(1), 1000), Some(ids[1]));
        assert_eq!(t.find6(1, Proto::Tcp, &a6(1), 1000), None, "per protocol");
        assert_eq!(t.find6(2, Proto::Udp, &a6(1), 1000), None, "per tenant");
        assert_eq!(
            t.find4(1, Proto::Udp, [198, 51, 100, 1], 2002),
            Some(ids[2])
        );
        t.remove(ids[1]);
        assert_eq!(t.find6(1, Proto::Udp, &a6(1), 1000), None);
        assert_eq!(t.find4(1, Proto::Udp, [198, 51, 100, 1], 2001), None);
        assert_eq!(
            t.find4(1, Proto::Udp, [198, 51, 100, 1], 2000),
            Some(ids[0])
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.iter().count(), 2);
        assert_eq!((t.tenant_len(1), t.tenant_len(0)), (2, 0), "per tenant");
        let again = t
            .insert(BibEntry::new(1, Proto::Udp, a6(7), 7, [1; 4], 7))
            .unwrap();
        assert_eq!(again, ids[1], "slot reused");
        assert_eq!(std::mem::size_of::<BibEntry>(), 44);
    }
}
