//! RFC 6146 §3.5.2.2: the TCP session state machine, and the store of IPv4 SYNs held for a simultaneous open.
//!
//! The machine is a pure function ([`step`]) of the state, the direction and the segment's SYN/FIN/RST
//! flags; it returns the next state and which lifetime the session gets. Session creation (the transitions
//! out of CLOSED) and expiry ([`on_expiry`]) are the caller's and this module's respectively.

/// RFC 6146 §3.5.2.2 states. `Closed` is "no session" (also the unused state of UDP and ICMP sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    Closed = 0,
    V4Init,
    V6Init,
    Established,
    V4FinRcv,
    V6FinRcv,
    V4FinV6FinRcv,
    Trans,
}

/// The side a segment arrived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    V6,
    V4,
}

/// The flags the machine looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
}

impl Flags {
    /// From the TCP header's flags byte (offset 13).
    pub fn from_byte(b: u8) -> Self {
        Flags {
            fin: b & 0x01 != 0,
            syn: b & 0x02 != 0,
            rst: b & 0x04 != 0,
        }
    }
}

/// What a segment does to the session's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Set to the established idle timeout (TCP_EST).
    Established,
    /// Set to the transitory timeout (TCP_TRANS).
    Transitory,
    /// Left alone.
    Unchanged,
}

/// One segment of an existing session (RFC 6146 §3.5.2.2, states other than CLOSED). Every segment of an
/// existing session is translated; only the state and the lifetime change.
pub fn step(state: TcpState, from: From, f: Flags) -> (TcpState, Lifetime) {
    use Lifetime::{Transitory, Unchanged};
    use TcpState::*;
    match state {
        // "V4 INIT: if a V6 SYN is received, the state moves to ESTABLISHED (TCP_EST)".
        V4Init if from == From::V6 && f.syn => (Established, Lifetime::Established),
        // "V6 INIT: if a V4 SYN is received (the SYN-ACK), ESTABLISHED"; a V6 SYN retransmission refreshes.
        V6Init if from == From::V4 && f.syn => (Established, Lifetime::Established),
        V6Init if from == From::V6 && f.syn => (V6Init, Transitory),
        V4Init | V6Init => (state, Unchanged),
        // ESTABLISHED: FINs move to the FIN states, RST to TRANS, anything else refreshes TCP_EST.
        Established if f.rst => (Trans, Transitory),
        Established if f.fin => (
            if from == From::V4 { V4FinRcv } else { V6FinRcv },
            Lifetime::Established,
        ),
        Established => (Established, Lifetime::Established),
        V4FinRcv if from == From::V6 && f.fin => (V4FinV6FinRcv, Transitory),
        V6FinRcv if from == From::V4 && f.fin => (V4FinV6FinRcv, Transitory),
        V4FinRcv | V6FinRcv if f.rst => (Trans, Transitory),
        V4FinRcv | V6FinRcv => (state, Lifetime::Established),
        // Both FINs seen: translated, the lifetime runs out.
        V4FinV6FinRcv => (state, Unchanged),
        // TRANS: a RST keeps it; anything else revives the connection.
        Trans if f.rst => (Trans, Unchanged),
        Trans => (Established, Lifetime::Established),
        Closed => (Closed, Unchanged),
    }
}

/// What happens when a session's lifetime runs out: ESTABLISHED gets a transitory grace period (RFC 6146
/// §3.5.2.2: the NAT64 may probe the endpoints; this one does not, so an idle connection that is still alive
/// gets TCP_TRANS to show it), every other state ends.
pub fn on_expiry(state: TcpState) -> Option<(TcpState, Lifetime)> {
    match state {
        TcpState::Established => Some((TcpState::Trans, Lifetime::Transitory)),
        _ => None,
    }
}

/// Bytes of a held SYN kept: an ICMPv4 error quotes at most 576 - 28 (RFC 1812 §4.3.2.3).
pub const HELD_BYTES: usize = 548;

/// An IPv4 SYN no binding accepted, held for a simultaneous open (RFC 6146 §3.5.2.2).
#[derive(Clone)]
pub struct HeldSyn {
    pub tenant: u16,
    /// Its destination (a pool4 transport address) and source.
    pub local4: [u8; 4],
    pub lport: u16,
    pub remote4: [u8; 4],
    pub rport: u16,
    pub expires: u64,
    pub len: u16,
    pub data: [u8; HELD_BYTES],
}

/// A bounded store of held SYNs (a few hundred at most: scans are cheap, and it is empty in normal operation).
pub struct HeldSyns {
    slots: Vec<HeldSyn>,
    cap: usize,
}

impl HeldSyns {
    /// Bytes allocated for held SYNs.
    pub fn memory(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<HeldSyn>()
    }

    pub fn new(cap: usize) -> Self {
        HeldSyns {
            slots: Vec::with_capacity(cap),
            cap,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Holds `pkt` (its first [`HELD_BYTES`]). False when the store is full or the same SYN is already held
    /// (a retransmission keeps the first one's deadline).
    pub fn hold(&mut self, mut syn: HeldSyn, pkt: &[u8]) -> bool {
        if self.slots.iter().any(|h| {
            h.tenant == syn.tenant
                && h.local4 == syn.local4
                && h.lport == syn.lport
                && h.remote4 == syn.remote4
                && h.rport == syn.rport
        }) {
            return true;
        }
        if self.slots.len() >= self.cap {
            return false;
        }
        let n = pkt.len().min(HELD_BYTES);
        syn.data[..n].copy_from_slice(&pkt[..n]);
        syn.len = n as u16;
        self.slots.push(syn);
        true
    }

    /// An IPv6 SYN for (local4, lport) ↔ (remote4, rport) arrived: the held SYN, if any, is discarded (the
    /// IPv4 peer retransmits into the session). True if one was held.
    pub fn claim(
        &mut self,
        tenant: u16,
        local4: [u8; 4],
        lport: u16,
        remote4: [u8; 4],
        rport: u16,
    ) -> bool {
        if let Some(i) = self.slots.iter().position(|h| {
            h.tenant == tenant
                && h.local4 == local4
                && h.lport == lport
                && h.remote4 == remote4
                && h.rport == rport
        }) {
            self.slots.swap_remove(i);
            true
        } else {
            false
        }
    }

    /// Removes one SYN held past `now`, if any.
    pub fn pop_expired(&mut self, now: u64) -> Option<HeldSyn> {
        let i = self.slots.iter().position(|h| h.expires <= now)?;
        Some(self.slots.swap_remove(i))
    }

    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Lifetime as L;
    use TcpState::*;

    const SYN: Flags = Flags {
        syn: true,
        fin: false,
        rst: false,
    };
    const FIN: Flags = Flags {
        syn: false,
        fin: true,
        rst: false,
    };
    const RST: Flags = Flags {
        syn: false,
        fin: false,
        rst: true,
    };
    const ACK: Flags = Flags {
        syn: false,
        fin: false,
        rst: false,
    };

    #[test]
    fn rfc6146_3_5_2_2_opening() {
        assert_eq!(step(V6Init, From::V4, SYN), (Established, L::Established));
        assert_eq!(step(V6Init, From::V6, SYN), (V6Init, L::Transitory));
        assert_eq!(step(V6Init, From::V6, ACK), (V6Init, L::Unchanged));
        assert_eq!(step(V4Init, From::V6, SYN), (Established, L::Established));
        assert_eq!(step(V4Init, From::V4, SYN), (V4Init, L::Unchanged));
    }

    #[test]
    fn rfc6146_3_5_2_2_closing() {
        assert_eq!(step(Established, From::V4, FIN), (V4FinRcv, L::Established));
        assert_eq!(step(Established, From::V6, FIN), (V6FinRcv, L::Established));
        assert_eq!(step(Established, From::V6, RST), (Trans, L::Transitory));
        assert_eq!(
            step(Established, From::V4, ACK),
            (Established, L::Established)
        );
        assert_eq!(
            step(V4FinRcv, From::V6, FIN),
            (V4FinV6FinRcv, L::Transitory)
        );
        assert_eq!(step(V4FinRcv, From::V4, ACK), (V4FinRcv, L::Established));
        assert_eq!(
            step(V6FinRcv, From::V4, FIN),
            (V4FinV6FinRcv, L::Transitory)
        );
        assert_eq!(step(V6FinRcv, From::V6, FIN), (V6FinRcv, L::Established));
        assert_eq!(
            step(V4FinV6FinRcv, From::V6, ACK),
            (V4FinV6FinRcv, L::Unchanged)
        );
        assert_eq!(step(Trans, From::V4, RST), (Trans, L::Unchanged));
        assert_eq!(step(Trans, From::V6, ACK), (Established, L::Established));
    }

    #[test]
    fn expiry() {
        assert_eq!(on_expiry(Established), Some((Trans, L::Transitory)));
        for s in [V4Init, V6Init, V4FinRcv, V6FinRcv, V4FinV6FinRcv, Trans] {
            assert_eq!(on_expiry(s), None);
        }
    }

    #[test]
    fn held_syns_are_bounded_and_claimable() {
        let syn = |rport: u16, expires: u64| HeldSyn {
            tenant: 0,
            local4: [1; 4],
            lport: 80,
            remote4: [2; 4],
            rport,
            expires,
            len: 0,
            data: [0; HELD_BYTES],
        };
        let mut h = HeldSyns::new(2);
        assert!(h.hold(syn(1, 10), &[0x45; 60]));
        assert!(h.hold(syn(1, 99), &[0x45; 60]), "retransmission");
        assert!(h.hold(syn(2, 20), &[0x45; 1000]));
        assert!(!h.hold(syn(3, 20), &[0x45; 60]), "full");
        assert!(h.claim(0, [1; 4], 80, [2; 4], 2));
        assert!(!h.claim(0, [1; 4], 80, [2; 4], 2));
        assert!(h.pop_expired(9).is_none());
        let e = h.pop_expired(10).unwrap();
        assert_eq!((e.rport, e.len), (1, 60));
        assert!(h.is_empty());
    }
}
