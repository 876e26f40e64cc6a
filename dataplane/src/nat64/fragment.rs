//! Fragments in stateful mode. Only the first fragment of a datagram carries the ports, so it alone can find
//! the binding; the translator remembers, per datagram (tenant, addresses, protocol, identification), what
//! the first fragment was translated with, and translates the later fragments the same way (their addresses;
//! the ports and the transport checksum were rewritten in the first fragment, and the checksum update is
//! incremental, so it stays right for the reassembled datagram).
//!
//! Hand-off: the worker that receives a first fragment owned by another worker remembers the owner, so the
//! following fragments (which carry no port to compute the owner from) go to the same worker. This relies on
//! the fragments of a datagram arriving at one worker, which RSS gives (fragments hash on addresses only).
//! Fragments that arrive before their first fragment are held in [`super::frag_store`]. This table is a fixed
//! direct-mapped array whose entries live the tenant's `timeouts.fragment` ([`FRAG_TIMEOUT`] by default:
//! RFC 6146 §4's FRAGMENT_MIN, 2 s).

use super::{hash_words, timers::NS};

/// How long a datagram's first fragment is remembered by default (`timeouts.fragment`).
pub const FRAG_TIMEOUT: u64 = 2 * NS;
/// Entries per worker (a power of two).
pub const FRAG_SLOTS: usize = 1024;

/// Identifies one datagram's fragments: family, protocol, tenant, identification, source, destination.
pub type FragKey = [u8; 40];

/// IPv6 side key.
pub fn key6(tenant: u16, proto: u8, ident: u32, src: &[u8; 16], dst: &[u8; 16]) -> FragKey {
    let mut k = [0u8; 40];
    k[0] = 6;
    k[1] = proto;
    k[2..4].copy_from_slice(&tenant.to_be_bytes());
    k[4..8].copy_from_slice(&ident.to_be_bytes());
    k[8..24].copy_from_slice(src);
    k[24..40].copy_from_slice(dst);
    k
}

/// IPv4 side key.
pub fn key4(tenant: u16, proto: u8, ident: u16, src: [u8; 4], dst: [u8; 4]) -> FragKey {
    let mut k = [0u8; 40];
    k[0] = 4;
    k[1] = proto;
    k[2..4].copy_from_slice(&tenant.to_be_bytes());
    k[4..6].copy_from_slice(&ident.to_be_bytes());
    k[8..12].copy_from_slice(&src);
    k[12..16].copy_from_slice(&dst);
    k
}

#[derive(Clone, Copy)]
struct Slot {
    key: FragKey,
    expires: u64,
    owner: u16,
    /// The address the first fragment was translated with (IPv4 source T in its first 4 bytes, or the IPv6
    /// client X'), on the owner.
    local: Option<[u8; 16]>,
}

/// What is known about a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo {
    pub owner: u16,
    pub local: Option<[u8; 16]>,
}

/// One worker's memory of first fragments.
pub struct FragTable {
    slots: Box<[Slot]>,
    seed: u64,
}

impl FragTable {
    /// Bytes allocated.
    pub fn memory(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    pub fn new(seed: u64) -> Self {
        FragTable {
            slots: vec![
                Slot {
                    key: [0; 40],
                    expires: 0,
                    owner: 0,
                    local: None,
                };
                FRAG_SLOTS
            ]
            .into_boxed_slice(),
            seed,
        }
    }

    fn slot(&self, key: &FragKey) -> usize {
        let w = |i: usize| u64::from_be_bytes(key[i..i + 8].try_into().expect("8 bytes"));
        (hash_words(&[w(0), w(8), w(16), w(24), w(32)], self.seed) as usize) & (FRAG_SLOTS - 1)
    }

    /// Remembers a first fragment until `expires` (replacing whatever datagram used the slot).
    pub fn record(&mut self, key: FragKey, owner: u16, local: Option<[u8; 16]>, expires: u64) {
        let i = self.slot(&key);
        self.slots[i] = Slot {
            key,
            expires,
            owner,
            local,
        };
    }

    /// What the first fragment of this datagram was translated with, if remembered and not expired.
    pub fn lookup(&self, key: &FragKey, now: u64) -> Option<FragInfo> {
        let s = &self.slots[self.slot(key)];
        (s.expires > now && s.key == *key).then_some(FragInfo {
            owner: s.owner,
            local: s.local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_timeout() {
        let mut t = FragTable::new(3);
        let k = key4(0, 17, 77, [1; 4], [2; 4]);
        assert_eq!(t.lookup(&k, 0), None);
        t.record(k, 2, Some([9; 16]), 10 + FRAG_TIMEOUT);
        assert_eq!(
            t.lookup(&k, 10 + FRAG_TIMEOUT - 1),
            Some(FragInfo {
                owner: 2,
                local: Some([9; 16])
            })
        );
        assert_eq!(t.lookup(&k, 10 + FRAG_TIMEOUT), None);
        assert_eq!(t.lookup(&key4(0, 17, 78, [1; 4], [2; 4]), 10), None);
        assert_ne!(key6(0, 17, 77, &[1; 16], &[2; 16]), k);
    }
}
