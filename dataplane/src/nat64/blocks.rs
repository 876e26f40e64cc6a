//! RFC 7422 deterministic port blocks (`nat64.port_blocks`): subscriber `i` — the `i`-th `/prefix_len`
//! inside `subscribers` — always uses pool4 address `i / B` and the `size` ports from
//! `first + (i % B) × size` of each protocol, `B` being the number of whole blocks in one address's range and
//! `first` its first port. Who used an IPv4 address and port is then a matter of arithmetic, not of logs.
//!
//! Ownership follows the subscriber: subscriber `i` belongs to appliance `i % K` and, there, to worker
//! `(i / K) % W`; so does every port of its blocks. Ports outside every block (the rest of a range, static
//! bindings elsewhere) keep the 32-port-block rule of [`super::pool4::owner`].

use mgmt_api::config::{ApplianceSlice, PortBlocks};

use super::bitmap::HierBitmap;
use super::pool4::Owner;
use super::Proto;

/// The compiled `port_blocks` of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocks {
    net: u128,
    net_len: u8,
    /// Subscriber index bits (prefix_len - net_len).
    bits: u8,
    pub size: u32,
    /// Per protocol: first port of the range, blocks per address.
    per_proto: [(u32, u32); 3],
    subscribers: u32,
}

impl Blocks {
    /// `ranges`: the (uniform, validated) first and last port of each protocol.
    pub fn new(pb: &PortBlocks, ranges: [(u16, u16); 3]) -> Self {
        let size = u32::from(pb.block_size.max(32));
        Blocks {
            net: u128::from(pb.subscribers.network()),
            net_len: pb.subscribers.prefix_len(),
            bits: pb.prefix_len.saturating_sub(pb.subscribers.prefix_len()),
            size,
            per_proto: ranges.map(|(f, l)| {
                let len = u32::from(l) - u32::from(f) + 1;
                (u32::from(f), len / size)
            }),
            subscribers: pb.subscribers_count().min(u64::from(u32::MAX)) as u32,
        }
    }

    pub fn subscribers(&self) -> u32 {
        self.subscribers
    }

    /// The subscriber index of an IPv6 address, if inside `subscribers`.
    #[inline]
    pub fn subscriber(&self, a: &[u8; 16]) -> Option<u32> {
        let a = u128::from_be_bytes(*a);
        let len = u32::from(self.net_len);
        if len > 0 && (a ^ self.net) >> (128 - len) != 0 {
            return None;
        }
        if self.bits == 0 {
            return Some(0);
        }
        let below = a.checked_shl(len).unwrap_or(0);
        Some((below >> (128 - u32::from(self.bits))) as u32)
    }

    /// The owner of subscriber `i`.
    #[inline]
    pub fn owner(&self, slice: ApplianceSlice, workers: u16, i: u32) -> Owner {
        let k = u32::from(slice.count.max(1));
        if i % k != u32::from(slice.index) {
            return Owner::Foreign;
        }
        Owner::Worker(((i / k) % u32::from(workers.max(1))) as u16)
    }

    /// Subscriber `i`'s block for `proto`: (pool4 address index, first port).
    #[inline]
    pub fn block(&self, proto: Proto, i: u32) -> (usize, u32) {
        let (first, per) = self.per_proto[proto as usize];
        let per = per.max(1);
        ((i / per) as usize, first + (i % per) * self.size)
    }

    /// The subscriber whose `proto` block holds (address index, port), if any.
    #[inline]
    pub fn subscriber_of(&self, proto: Proto, addr: usize, port: u16) -> Option<u32> {
        let (first, per) = self.per_proto[proto as usize];
        let off = u32::from(port).checked_sub(first)?;
        let j = off / self.size;
        if j >= per {
            return None;
        }
        let i = u64::try_from(addr).ok()? * u64::from(per) + u64::from(j);
        (i < u64::from(self.subscribers)).then_some(i as u32)
    }
}

/// One worker's free ports in the blocks of the subscribers it owns, for one protocol: per parity, one bitmap
/// of `size / 2` bits per owned subscriber.
#[derive(Debug, Clone)]
pub struct BlockAllocator {
    classes: [HierBitmap; 2],
    half: usize,
    stride: u32,
    slot: u32,
}

impl BlockAllocator {
    pub fn new(b: &Blocks, slice: ApplianceSlice, worker: u16, workers: u16) -> Self {
        let k = u32::from(slice.count.max(1));
        let stride = k * u32::from(workers.max(1));
        let slot = u32::from(slice.index) + k * u32::from(worker);
        let local = if b.subscribers > slot {
            ((b.subscribers - slot - 1) / stride + 1) as usize
        } else {
            0
        };
        let half = (b.size / 2) as usize;
        let len = local * half;
        let classes = std::array::from_fn(|_| {
            let mut leaf = vec![u64::MAX; len.div_ceil(64).max(1)];
            if len & 63 != 0 {
                *leaf.last_mut().expect("one word") = (1u64 << (len % 64)) - 1;
            } else if len == 0 {
                leaf[0] = 0;
            }
            HierBitmap::from_leaf(leaf, len)
        });
        BlockAllocator {
            classes,
            half,
            stride,
            slot,
        }
    }

    pub fn free(&self) -> usize {
        self.classes.iter().map(|c| c.free()).sum()
    }

    fn local(&self, i: u32) -> Option<usize> {
        (i % self.stride == self.slot).then_some((i / self.stride) as usize)
    }

    /// A free port in subscriber `i`'s block, of `port6`'s parity if possible (any parity for ICMP).
    pub fn allocate(
        &mut self,
        b: &Blocks,
        proto: Proto,
        i: u32,
        port6: u16,
        rng: u32,
    ) -> Option<(usize, u16)> {
        let li = self.local(i)?;
        let q = if proto == Proto::Icmp {
            (rng >> 31) as usize
        } else {
            usize::from(port6 & 1)
        };
        let lo = li * self.half;
        let hi = lo + self.half;
        let start = lo + (rng as usize) % self.half.max(1);
        for c in [q, q ^ 1] {
            let bm = &mut self.classes[c];
            let found = bm
                .next_free(start)
                .filter(|&x| x < hi)
                .or_else(|| bm.next_free(lo).filter(|&x| x < start));
            if let Some(x) = found {
                bm.set_used(x);
                let (addr, base) = b.block(proto, i);
                return Some((addr, (base + 2 * (x - lo) as u32 + c as u32) as u16));
            }
        }
        None
    }

    fn locate(&self, b: &Blocks, proto: Proto, addr: usize, port: u16) -> Option<(usize, usize)> {
        let i = b.subscriber_of(proto, addr, port)?;
        let li = self.local(i)?;
        let (_, base) = b.block(proto, i);
        let off = (u32::from(port) - base) as usize;
        Some((off & 1, li * self.half + off / 2))
    }

    /// Returns a port to its block. False if it was not in use here (not in a block of this worker, or free).
    pub fn release(&mut self, b: &Blocks, proto: Proto, addr: usize, port: u16) -> bool {
        match self.locate(b, proto, addr, port) {
            Some((c, x)) => self.classes[c].set_free(x),
            None => false,
        }
    }

    /// Adds the free ports of `proto` at each address index to `out[index]` (indices beyond `out` are
    /// skipped): the blocks of the subscribers this worker owns, by the address each block lies on.
    pub fn free_per_address(&self, b: &Blocks, proto: Proto, out: &mut [u32]) {
        let local = self.classes[0].len() / self.half.max(1);
        for li in 0..local {
            let i = li as u32 * self.stride + self.slot;
            let (addr, _) = b.block(proto, i);
            let r = li * self.half..(li + 1) * self.half;
            let free = self.classes[0].count_free(r.clone()) + self.classes[1].count_free(r);
            if let Some(n) = out.get_mut(addr) {
                *n += free as u32;
            }
        }
    }

    /// Marks a port used (static bindings inside a block). False if it was not free or not in a block here.
    pub fn reserve(&mut self, b: &Blocks, proto: Proto, addr: usize, port: u16) -> bool {
        match self.locate(b, proto, addr, port) {
            Some((c, x)) => self.classes[c].set_used(x),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(net: &str, prefix_len: u8, size: u16) -> Blocks {
        let pb = PortBlocks {
            subscribers: net.parse().unwrap(),
            prefix_len,
            block_size: size,
        };
        Blocks::new(&pb, [(1024, 65535), (1024, 65535), (0, 65535)])
    }

    #[test]
    fn rfc7422_mapping_is_arithmetic() {
        let b = blocks("2001:db8:1000::/48", 56, 2048);
        assert_eq!(b.subscribers(), 256);
        let mut a: [u8; 16] = "2001:db8:1000:4200::5"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        assert_eq!(b.subscriber(&a), Some(0x42));
        a[5] = 0x11; // 2001:db8:1100:...
        assert_eq!(b.subscriber(&a), None);
        // 31 TCP blocks of 2048 per address (1024..=65535); 65536 / 2048 = 32 ICMP blocks.
        assert_eq!(b.block(Proto::Tcp, 0), (0, 1024));
        assert_eq!(b.block(Proto::Tcp, 30), (0, 1024 + 30 * 2048));
        assert_eq!(b.block(Proto::Tcp, 31), (1, 1024));
        assert_eq!(b.block(Proto::Icmp, 33), (1, 2048));
        assert_eq!(b.subscriber_of(Proto::Tcp, 1, 1024 + 2047), Some(31));
        assert_eq!(b.subscriber_of(Proto::Tcp, 1, 1023), None);
        assert_eq!(
            b.subscriber_of(Proto::Tcp, 9, 1024),
            None,
            "beyond the last subscriber"
        );
    }

    #[test]
    fn subscribers_allocate_inside_their_block_of_their_worker() {
        let b = blocks("2001:db8:1000::/48", 52, 64);
        let slice = ApplianceSlice { index: 1, count: 2 };
        let mut seen = std::collections::HashSet::new();
        for w in 0..3u16 {
            let mut a = BlockAllocator::new(&b, slice, w, 3);
            for i in 0..b.subscribers() {
                let owned = b.owner(slice, 3, i) == Owner::Worker(w);
                let got = a.allocate(&b, Proto::Udp, i, 5001, i * 7);
                assert_eq!(got.is_some(), owned, "subscriber {i} worker {w}");
                if let Some((addr, port)) = got {
                    let (ba, base) = b.block(Proto::Udp, i);
                    assert_eq!(addr, ba);
                    assert!((base..base + 64).contains(&u32::from(port)));
                    assert_eq!(port & 1, 1, "parity");
                    assert_eq!(b.subscriber_of(Proto::Udp, addr, port), Some(i));
                    assert!(seen.insert((addr, port)));
                }
            }
        }
        assert_eq!(seen.len(), 8, "subscribers of appliance 1: 8 of 16");
        // Exhausting one block: 64 ports, then nothing; release gives one back.
        let mut a = BlockAllocator::new(&b, ApplianceSlice::default(), 0, 1);
        let mut ports = Vec::new();
        for n in 0..64u32 {
            ports.push(
                a.allocate(&b, Proto::Tcp, 5, 2000, n * 13)
                    .expect("free port")
                    .1,
            );
        }
        assert_eq!(a.allocate(&b, Proto::Tcp, 5, 2000, 1), None);
        a.release(&b, Proto::Tcp, 0, ports[10]);
        assert_eq!(a.allocate(&b, Proto::Tcp, 5, 2001, 1), Some((0, ports[10])));
        assert!(!a.reserve(&b, Proto::Tcp, 0, ports[10]));
    }
}
