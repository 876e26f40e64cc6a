//! pool4: the IPv4 transport addresses a NAT64 tenant's IPv6 clients share, split into slices so that workers
//! (and appliances of a cluster) allocate and look up without sharing anything.
//!
//! # Ownership
//! Ports are grouped in blocks of [`BLOCK`] = 32 (16 even and 16 odd ports; 32 divides 1024, so a block never
//! straddles the well-known/ephemeral boundary of RFC 4787 REQ-4). Block `b = port / 32` belongs to appliance
//! `b % K` of a cluster of `K` ([`ApplianceSlice`]) and, on that appliance, to worker `(b / K) % W` of `W`
//! ([`owner`]). The address does not enter the function: every address of the pool is split the same way.
//! IPv4 packets are owned by their destination port (ICMP: identifier); that is where the worker that created
//! the binding allocated it from.
//!
//! # Allocation
//! Each worker keeps, per tenant and protocol, one [`HierBitmap`] per port class — (0–1023 | 1024–65535) ×
//! (even | odd) — over the (address, port) pairs of its slice that the configured ranges allow. A new binding
//! takes a free port of the IPv6 source port's class (RFC 6146 §3.5.1.1: port parity and range preserved per
//! RFC 4787 REQ-3 and REQ-4), starting from a random position; if that class is full, the other parity of the
//! same range, and a well-known source port may fall back to the ephemeral range (never the other way).
//! Finding a free port is O(1) (one word per bitmap level); nothing is allocated per packet.

use mgmt_api::config::{ApplianceSlice, Pool4Entry, PortBlocks, PortRange};

use super::bitmap::HierBitmap;
use super::blocks::Blocks;
use super::Proto;

/// Ports per block.
pub const BLOCK: u32 = 32;
/// Blocks in the port space.
pub const BLOCKS: u32 = 65536 / BLOCK;
/// Blocks below port 1024 (the well-known range).
const LOW_BLOCKS: u32 = 1024 / BLOCK;

/// Who owns an IPv4 transport address's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Worker index on this appliance.
    Worker(u16),
    /// Another appliance of the cluster.
    Foreign,
}

/// The owner of `port` on an appliance that owns `slice` of the cluster and runs `workers` workers: block
/// `b = port / 32` belongs to appliance `b % slice.count` and to worker `(b / slice.count) % workers`.
/// A pure function: every worker computes the same answer for any packet.
#[inline]
pub fn owner(slice: ApplianceSlice, workers: u16, port: u16) -> Owner {
    let b = u32::from(port) / BLOCK;
    let k = u32::from(slice.count.max(1));
    if b % k != u32::from(slice.index) {
        return Owner::Foreign;
    }
    Owner::Worker(((b / k) % u32::from(workers.max(1))) as u16)
}

/// A tenant's pool4, compiled: every address (sorted) with its port ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool4 {
    addrs: Box<[u32]>,
    /// Per address: TCP, UDP, ICMP ranges.
    ranges: Box<[[PortRange; 3]]>,
    pub slice: ApplianceSlice,
    /// RFC 7422 deterministic port blocks ([`super::blocks`]).
    pub blocks: Option<Blocks>,
}

impl Pool4 {
    pub fn new(entries: &[Pool4Entry], slice: ApplianceSlice) -> Self {
        Pool4::with_blocks(entries, slice, None)
    }

    /// With `port_blocks` (validated: every entry has the same ranges).
    pub fn with_blocks(
        entries: &[Pool4Entry],
        slice: ApplianceSlice,
        port_blocks: Option<&PortBlocks>,
    ) -> Self {
        let mut v: Vec<(u32, [PortRange; 3])> = Vec::new();
        for e in entries {
            let net = u32::from(e.prefix.network());
            let n = 1u64 << (32 - u32::from(e.prefix.prefix_len()));
            for i in 0..n {
                v.push((net + i as u32, [e.tcp, e.udp, e.icmp]));
            }
        }
        v.sort_by_key(|&(a, _)| a);
        v.dedup_by_key(|&mut (a, _)| a);
        let blocks = port_blocks
            .zip(v.first())
            .map(|(pb, (_, r))| Blocks::new(pb, r.map(|r| (r.first, r.last))));
        Pool4 {
            addrs: v.iter().map(|&(a, _)| a).collect(),
            ranges: v.iter().map(|&(_, r)| r).collect(),
            slice,
            blocks,
        }
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// Index of `a` in the pool.
    #[inline]
    pub fn index(&self, a: [u8; 4]) -> Option<usize> {
        self.addrs.binary_search(&u32::from_be_bytes(a)).ok()
    }

    #[inline]
    pub fn contains(&self, a: [u8; 4]) -> bool {
        self.index(a).is_some()
    }

    /// The address at `index`.
    #[inline]
    pub fn addr(&self, index: usize) -> [u8; 4] {
        self.addrs[index].to_be_bytes()
    }

    pub fn first(&self) -> Option<[u8; 4]> {
        self.addrs.first().map(|a| a.to_be_bytes())
    }

    /// The range of `proto` at address `index`.
    #[inline]
    pub fn range(&self, index: usize, proto: Proto) -> PortRange {
        self.ranges[index][proto as usize]
    }

    /// See [`owner`]. With port blocks, use [`Pool4::owner_of`].
    #[inline]
    pub fn owner(&self, workers: u16, port: u16) -> Owner {
        owner(self.slice, workers, port)
    }

    /// The owner of an IPv4 transport address of this pool: [`owner`] of the port, or — with port blocks — the
    /// owner of the subscriber whose block holds it ([`Blocks::owner`]).
    #[inline]
    pub fn owner_of(&self, workers: u16, proto: Proto, addr: [u8; 4], port: u16) -> Owner {
        if let Some(b) = &self.blocks {
            if let Some(i) = self
                .index(addr)
                .and_then(|a| b.subscriber_of(proto, a, port))
            {
                return b.owner(self.slice, workers, i);
            }
        }
        owner(self.slice, workers, port)
    }
}

/// Bit `k` set when port `base + 2k + parity` (k in 0..16) is inside `range`.
fn block_mask(base: u32, parity: u32, range: PortRange) -> u16 {
    let (first, last) = (u32::from(range.first), u32::from(range.last));
    if base >= first && base + BLOCK - 1 <= last {
        return 0xffff;
    }
    if base + BLOCK - 1 < first || base > last {
        return 0;
    }
    (0..16u32)
        .filter(|k| (first..=last).contains(&(base + 2 * k + parity)))
        .fold(0, |m, k| m | 1 << k)
}

/// One worker's free (address, port) pairs of one tenant and protocol.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    /// Class `r * 2 + parity`, `r` 0 for ports below 1024, 1 above.
    classes: [HierBitmap; 4],
    /// First owned block of range `r`.
    first_block: [u32; 2],
    /// Owned blocks in range `r`.
    nblocks: [u32; 2],
    /// Blocks between two owned blocks: appliances × workers.
    stride: u32,
}

impl PortAllocator {
    /// The free ports of `worker` of `workers` in `pool` for `proto`: everything in its slice that the
    /// configured ranges allow.
    pub fn new(pool: &Pool4, proto: Proto, worker: u16, workers: u16) -> Self {
        let k = u32::from(pool.slice.count.max(1));
        let stride = k * u32::from(workers.max(1));
        let s = u32::from(pool.slice.index) + k * u32::from(worker);
        let mut first_block = [0u32; 2];
        let mut nblocks = [0u32; 2];
        // Range 0: blocks [0, 32); range 1: [32, 2048). Owned blocks are s, s + stride, ...
        for (r, (lo, hi)) in [(0, LOW_BLOCKS), (LOW_BLOCKS, BLOCKS)]
            .into_iter()
            .enumerate()
        {
            let first = if s >= lo {
                s
            } else {
                s + (lo - s).div_ceil(stride) * stride
            };
            first_block[r] = first;
            nblocks[r] = if first < hi {
                (hi - 1 - first) / stride + 1
            } else {
                0
            };
        }
        let naddrs = pool.len();
        let classes = std::array::from_fn(|c| {
            let r = c / 2;
            let q = (c % 2) as u32;
            let per_addr = nblocks[r] as usize * 16;
            let len = naddrs * per_addr;
            let mut leaf = vec![0u64; len.div_ceil(64).max(1)];
            // The 16-bit free mask of each owned block depends on the address's range only: computed once per
            // distinct range (addresses of one pool4 entry share it), O(1) per block (only the blocks at the
            // range's ends are partial).
            let mut masks: Vec<u16> = Vec::new();
            let mut masks_for: Option<PortRange> = None;
            for a in 0..naddrs {
                let range = pool.range(a, proto);
                if masks_for != Some(range) {
                    masks = (0..nblocks[r])
                        .map(|j| block_mask((first_block[r] + j * stride) * BLOCK, q, range))
                        .collect();
                    masks_for = Some(range);
                }
                for (j, &mask) in masks.iter().enumerate() {
                    let idx = a * per_addr + j * 16;
                    leaf[idx / 64] |= u64::from(mask) << (idx % 64);
                }
            }
            HierBitmap::from_leaf(leaf, len)
        });
        PortAllocator {
            classes,
            first_block,
            nblocks,
            stride,
        }
    }

    /// Free ports left, over all classes.
    pub fn free(&self) -> usize {
        self.classes.iter().map(|c| c.free()).sum()
    }

    fn encode(&self, addr: usize, port: u16) -> Option<(usize, usize)> {
        let b = u32::from(port) / BLOCK;
        let r = usize::from(b >= LOW_BLOCKS);
        let first = self.first_block[r];
        if b < first {
            return None;
        }
        let j = (b - first) / self.stride;
        if first + j * self.stride != b || j >= self.nblocks[r] {
            return None;
        }
        let c = r * 2 + usize::from(port & 1);
        let k = (u32::from(port) % BLOCK) / 2;
        let idx = (addr * self.nblocks[r] as usize + j as usize) * 16 + k as usize;
        Some((c, idx))
    }

    fn decode(&self, c: usize, idx: usize) -> (usize, u16) {
        let r = c / 2;
        let q = (c % 2) as u32;
        let per_addr = self.nblocks[r] as usize * 16;
        let addr = idx / per_addr;
        let rest = idx % per_addr;
        let j = (rest / 16) as u32;
        let k = (rest % 16) as u32;
        let port = (self.first_block[r] + j * self.stride) * BLOCK + 2 * k + q;
        (addr, port as u16)
    }

    /// Takes a free port for a binding whose IPv6 source port (ICMP: identifier) is `port6`: same class first
    /// (parity and range, RFC 4787 REQ-3/4), then the other parity, then — for a well-known `port6` only — the
    /// ephemeral range. ICMP identifiers have no classes: any free one, from a random class. Returns (address
    /// index, port).
    #[inline]
    pub fn allocate(&mut self, proto: Proto, port6: u16, rng: u32) -> Option<(usize, u16)> {
        let order: [usize; 4] = if proto == Proto::Icmp {
            let s = (rng >> 28) as usize;
            [s % 4, (s + 1) % 4, (s + 2) % 4, (s + 3) % 4]
        } else {
            let q = usize::from(port6 & 1);
            if port6 < 1024 {
                [q, q ^ 1, 2 + q, 2 + (q ^ 1)]
            } else {
                [2 + q, 2 + (q ^ 1), usize::MAX, usize::MAX]
            }
        };
        for c in order {
            let Some(bm) = self.classes.get_mut(c) else {
                continue;
            };
            if bm.free() == 0 {
                continue;
            }
            let start = (rng as usize) % bm.len().max(1);
            if let Some(i) = bm.find_free_from(start) {
                bm.set_used(i);
                return Some(self.decode(c, i));
            }
        }
        None
    }

    /// Marks (address index, port) used (static BIB entries). False if it was not free.
    pub fn reserve(&mut self, addr: usize, port: u16) -> bool {
        match self.encode(addr, port) {
            Some((c, i)) => self.classes[c].set_used(i),
            None => false,
        }
    }

    /// Returns a port allocated by [`PortAllocator::allocate`]. False if it was not in use here (not of this
    /// slice, or free already).
    pub fn release(&mut self, addr: usize, port: u16) -> bool {
        match self.encode(addr, port) {
            Some((c, i)) => self.classes[c].set_free(i),
            None => false,
        }
    }

    /// Adds the free ports of each address index to `out[index]` (indices beyond `out` are skipped). Right
    /// after [`PortAllocator::new`] that is every port of the worker's slice the configured ranges allow.
    pub fn free_per_address(&self, out: &mut [u32]) {
        for (c, bm) in self.classes.iter().enumerate() {
            let per_addr = self.nblocks[c / 2] as usize * 16;
            for (a, n) in out.iter_mut().enumerate() {
                *n += bm.count_free(a * per_addr..(a + 1) * per_addr) as u32;
            }
        }
    }

    pub fn is_free(&self, addr: usize, port: u16) -> bool {
        self.encode(addr, port)
            .is_some_and(|(c, i)| self.classes[c].is_free(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(prefix: &str, tcp: (u16, u16), count: u16, index: u16) -> Pool4 {
        let mut e = Pool4Entry::new(prefix.parse().unwrap());
        e.tcp = PortRange::new(tcp.0, tcp.1);
        Pool4::new(&[e], ApplianceSlice { index, count })
    }

    #[test]
    fn owner_is_a_pure_partition() {
        let slice = ApplianceSlice { index: 1, count: 2 };
        let mut per = [0u32; 3];
        for port in 0..=u16::MAX {
            match owner(slice, 3, port) {
                Owner::Worker(w) => per[usize::from(w)] += 1,
                Owner::Foreign => assert_eq!((port / 32) % 2, 0),
            }
        }
        // 1024 blocks for appliance 1, ~341 each.
        assert_eq!(per.iter().sum::<u32>(), 32768);
        assert!(per.iter().all(|&n| (n / 32).abs_diff(341) <= 1), "{per:?}");
        assert_eq!(owner(ApplianceSlice::default(), 1, 40000), Owner::Worker(0));
    }

    #[test]
    fn workers_and_appliances_allocate_disjoint_ports_of_their_own_slice() {
        let mut seen = std::collections::HashSet::new();
        for app in 0..2u16 {
            let p = pool("198.51.100.0/31", (1024, 2047), 2, app);
            for w in 0..2u16 {
                let mut a = PortAllocator::new(&p, Proto::Tcp, w, 2);
                let n = a.free();
                for i in 0..n {
                    let (ai, port) = a
                        .allocate(Proto::Tcp, 1024 + (i as u16 % 2), i as u32 * 7919)
                        .expect("free port");
                    assert!((1024..=2047).contains(&port));
                    assert_eq!(p.owner(2, port), Owner::Worker(w), "port {port}");
                    assert!(seen.insert((ai, port)), "port {port} twice");
                }
                assert_eq!(a.allocate(Proto::Tcp, 5000, 1), None, "exhausted");
            }
        }
        // 2 addresses × 1024 ports, split 4 ways, all used exactly once.
        assert_eq!(seen.len(), 2048);
    }

    #[test]
    fn parity_and_range_preserved() {
        let p = pool("198.51.100.0/32", (0, 65535), 1, 0);
        let mut a = PortAllocator::new(&p, Proto::Tcp, 0, 1);
        for i in 0..1000u32 {
            let port6 = (i * 37 % 65536) as u16;
            let (_, port) = a
                .allocate(Proto::Tcp, port6, i.wrapping_mul(2_654_435_761))
                .unwrap();
            assert_eq!(port & 1, port6 & 1, "parity");
            assert_eq!(port < 1024, port6 < 1024, "range");
        }
        // The well-known range exhausted: a well-known source port falls back to ephemeral ports.
        let mut a = PortAllocator::new(&p, Proto::Tcp, 0, 1);
        for _ in 0..1024 {
            let (_, port) = a.allocate(Proto::Tcp, 80, 3).unwrap();
            assert!(port < 1024);
        }
        let (_, port) = a.allocate(Proto::Tcp, 80, 3).unwrap();
        assert!(port >= 1024 && port % 2 == 0);
        // Ephemeral source ports never take well-known ones.
        let p = pool("198.51.100.0/32", (1000, 1025), 1, 0);
        let mut a = PortAllocator::new(&p, Proto::Tcp, 0, 1);
        assert!(a.allocate(Proto::Tcp, 5000, 0).is_some());
        assert!(a.allocate(Proto::Tcp, 5000, 0).is_some());
        assert_eq!(a.allocate(Proto::Tcp, 5000, 0), None);
    }

    #[test]
    fn release_and_reserve() {
        let p = pool("198.51.100.0/32", (2000, 2001), 1, 0);
        let mut a = PortAllocator::new(&p, Proto::Tcp, 0, 1);
        assert!(a.reserve(0, 2000));
        assert!(!a.reserve(0, 2000));
        assert!(!a.reserve(0, 3000), "outside the range: never free");
        assert_eq!(a.allocate(Proto::Tcp, 4000, 9), Some((0, 2001)));
        assert_eq!(a.allocate(Proto::Tcp, 4000, 9), None);
        a.release(0, 2001);
        assert!(a.is_free(0, 2001));
        assert_eq!(a.allocate(Proto::Tcp, 4001, 9), Some((0, 2001)));
    }

    #[test]
    fn largest_pool_builds_quickly() {
        // 4096 addresses (the per-tenant maximum), all three protocols, one worker: 3 × 264 M candidates.
        let p = pool("10.0.0.0/20", (1024, 65535), 1, 0);
        let t = std::time::Instant::now();
        let a = PortAllocator::new(&p, Proto::Tcp, 0, 1);
        assert_eq!(a.free(), 4096 * 64512);
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
        // Partial blocks at the range ends.
        let p = pool("10.0.0.0/31", (1030, 1060), 1, 0);
        assert_eq!(PortAllocator::new(&p, Proto::Tcp, 0, 1).free(), 2 * 31);
    }

    #[test]
    fn icmp_ids_use_every_class() {
        let p = pool("198.51.100.0/32", (1024, 65535), 1, 0);
        let mut a = PortAllocator::new(&p, Proto::Icmp, 0, 1);
        assert_eq!(a.free(), 65536);
        let mut seen = std::collections::HashSet::new();
        for i in 0..65536u32 {
            let (_, id) = a
                .allocate(Proto::Icmp, 7, i.wrapping_mul(0x9e37_79b9))
                .unwrap();
            assert!(seen.insert(id));
        }
        assert_eq!(a.allocate(Proto::Icmp, 7, 0), None);
    }
}
