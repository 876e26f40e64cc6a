//! RFC 6791: source addresses for translated ICMP errors whose original source has no mapping.
//!
//! An ICMPv6 error from an IPv6 router whose address is neither under pool6 nor in the EAMT cannot keep its
//! source; RFC 6791 §3 gives it one from a configured IPv4 pool instead (and the translator does the same,
//! with an IPv6 pool, for ICMPv4 errors going the other way). A pool is a list of prefixes; address number
//! `key % size` is picked, counting through the prefixes in order. The caller chooses the key: a hash of the
//! destination (stable per destination), or a random number (`randomize_rfc6791`).

/// Pool sizes are capped here: keys are `u32`, so address number `key % size` never reaches past 2^32 of any
/// prefix, and capping leaves every pick unchanged.
const CAP: u64 = 1 << 32;

/// An IPv4 pool (`rfc6791_v4`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rfc6791Pool4 {
    /// (network, number of addresses)
    nets: Box<[(u32, u64)]>,
    total: u64,
}

impl Rfc6791Pool4 {
    /// A pool of these prefixes (`(network, length)`, bits past the length ignored), in this order.
    pub fn new(prefixes: &[([u8; 4], u8)]) -> Self {
        let nets: Box<[(u32, u64)]> = prefixes
            .iter()
            .map(|&(a, len)| {
                let len = len.min(32);
                let size = 1u64 << (32 - len);
                (u32::from_be_bytes(a) & !((size - 1) as u32), size)
            })
            .collect();
        let total = nets.iter().map(|n| n.1).sum();
        Rfc6791Pool4 { nets, total }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Address number `key % size`; `None` if the pool is empty.
    #[inline]
    pub fn pick(&self, key: u32) -> Option<[u8; 4]> {
        if self.total == 0 {
            return None;
        }
        let mut i = u64::from(key) % self.total;
        for &(net, size) in self.nets.iter() {
            if i < size {
                return Some((net + i as u32).to_be_bytes());
            }
            i -= size;
        }
        None
    }

    /// The first address of the pool.
    pub fn first(&self) -> Option<[u8; 4]> {
        self.nets.first().map(|n| n.0.to_be_bytes())
    }
}

/// An IPv6 pool (`rfc6791_v6`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rfc6791Pool6 {
    /// (network, number of addresses capped at 2^32)
    nets: Box<[(u128, u64)]>,
    total: u64,
}

impl Rfc6791Pool6 {
    /// A pool of these prefixes (`(network, length)`, bits past the length ignored), in this order.
    pub fn new(prefixes: &[([u8; 16], u8)]) -> Self {
        let nets: Box<[(u128, u64)]> = prefixes
            .iter()
            .map(|&(a, len)| {
                let len = u32::from(len.min(128));
                let host_bits = 128 - len;
                let host_mask = u128::MAX.checked_shr(len).unwrap_or(0);
                let size = if host_bits >= 32 {
                    CAP
                } else {
                    1u64 << host_bits
                };
                (u128::from_be_bytes(a) & !host_mask, size)
            })
            .collect();
        let total = nets.iter().map(|n| n.1).sum();
        Rfc6791Pool6 { nets, total }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Address number `key % size`; `None` if the pool is empty.
    #[inline]
    pub fn pick(&self, key: u32) -> Option<[u8; 16]> {
        if self.total == 0 {
            return None;
        }
        let mut i = u64::from(key) % self.total;
        for &(net, size) in self.nets.iter() {
            if i < size {
                return Some((net + u128::from(i)).to_be_bytes());
            }
            i -= size;
        }
        None
    }

    /// The first address of the pool.
    pub fn first(&self) -> Option<[u8; 16]> {
        self.nets.first().map(|n| n.0.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn ipv4_pool_counts_through_its_prefixes() {
        let p = Rfc6791Pool4::new(&[([192, 0, 2, 200], 29), ([198, 51, 100, 7], 32)]);
        assert_eq!(p.first(), Some([192, 0, 2, 200]));
        assert_eq!(p.pick(0), Some([192, 0, 2, 200]));
        assert_eq!(p.pick(7), Some([192, 0, 2, 207]));
        assert_eq!(p.pick(8), Some([198, 51, 100, 7]));
        assert_eq!(p.pick(9), Some([192, 0, 2, 200]));
        assert_eq!(
            p.pick(u32::MAX),
            Some([192, 0, 2, 200 + (u32::MAX % 9) as u8])
        );
        // Host bits are ignored.
        assert_eq!(
            Rfc6791Pool4::new(&[([192, 0, 2, 205], 29)]).pick(1),
            Some([192, 0, 2, 201])
        );
        assert_eq!(
            Rfc6791Pool4::new(&[([0; 4], 0)]).pick(0x0102_0304),
            Some([1, 2, 3, 4])
        );
        assert!(Rfc6791Pool4::default().is_empty());
        assert_eq!(Rfc6791Pool4::default().pick(3), None);
    }

    #[test]
    fn ipv6_pool_counts_through_its_prefixes() {
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap().octets();
        let p = Rfc6791Pool6::new(&[(a("2001:db8:ffff::"), 126), (a("2001:db8::1"), 128)]);
        assert_eq!(p.first(), Some(a("2001:db8:ffff::")));
        assert_eq!(p.pick(3), Some(a("2001:db8:ffff::3")));
        assert_eq!(p.pick(4), Some(a("2001:db8::1")));
        assert_eq!(p.pick(5), Some(a("2001:db8:ffff::")));
        // Large prefixes: key % size = key.
        let big = Rfc6791Pool6::new(&[(a("2001:db8::"), 32), (a("2001:db9::"), 64)]);
        assert_eq!(big.pick(0xdead_beef), Some(a("2001:db8::dead:beef")));
        let all = Rfc6791Pool6::new(&[(a("::"), 0)]);
        assert_eq!(all.pick(7), Some(a("::7")));
        assert_eq!(Rfc6791Pool6::default().pick(0), None);
    }
}
