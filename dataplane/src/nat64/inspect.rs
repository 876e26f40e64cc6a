//! Read-only views of one worker's NAT64 state for reports (`GET /v1/sessions`, `/metrics`): plain records
//! built over the tables' public API (so the tables' layout may change under them), called between batches,
//! never on the packet path.

use super::pool4::Pool4;
use super::tcp::TcpState;
use super::{Nat64State, Proto};

/// One session with its binding's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRecord {
    /// Tenant index in the running snapshot.
    pub tenant: u16,
    pub proto: Proto,
    /// The IPv6 client's transport address (ICMP: the echo identifier as port).
    pub addr6: [u8; 16],
    pub port6: u16,
    /// The pool4 transport address it is bound to.
    pub addr4: [u8; 4],
    pub port4: u16,
    /// The IPv4 remote (port 0 for ICMP).
    pub remote4: [u8; 4],
    pub rport: u16,
    /// TCP state (`Closed` for UDP and ICMP, which have none).
    pub state: TcpState,
    /// Clock value (ns) at which the session expires.
    pub expires: u64,
    /// The binding is a static BIB entry.
    pub is_static: bool,
}

/// One pool4 address and protocol of a tenant, on one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool4Ports {
    pub addr4: [u8; 4],
    pub proto: Proto,
    /// Ports bound (dynamic bindings and static ones inside the worker's slice).
    pub in_use: u32,
    /// Ports of the worker's slice the configured range allows.
    pub total: u32,
}

impl Nat64State {
    /// Every session, in table order, with its binding. Sessions whose lifetime ended but that the timers
    /// have not removed yet are included: compare [`SessionRecord::expires`] with the clock.
    pub fn for_each_session(&self, f: &mut dyn FnMut(&SessionRecord)) {
        for (_, s) in self.sessions.iter() {
            let b = self.bib.get(s.bib);
            f(&SessionRecord {
                tenant: b.tenant,
                proto: b.proto,
                addr6: b.addr6,
                port6: b.port6,
                addr4: b.addr4,
                port4: b.port4,
                remote4: s.remote4,
                rport: s.rport,
                state: s.state,
                expires: s.expires,
                is_static: b.is_static,
            });
        }
    }

    /// Bindings of tenant `tenant` on this worker (static ones included).
    pub fn tenant_bindings(&self, tenant: u16) -> usize {
        self.bib.tenant_len(tenant)
    }

    /// Tenant `tenant`'s pool4 ports on this worker, per address (pool order) and protocol (TCP, UDP, ICMP).
    /// `pool` is the tenant's pool4 (the one its state was built from). Nothing for a tenant without NAT64.
    pub fn pool4_usage(&self, tenant: u16, pool: &Pool4, f: &mut dyn FnMut(Pool4Ports)) {
        let Some(ports) = self
            .tenants
            .get(usize::from(tenant))
            .and_then(|t| t.ports.as_deref())
        else {
            return;
        };
        for a in 0..pool.len() {
            for proto in Proto::ALL {
                let p = &ports[proto as usize];
                f(Pool4Ports {
                    addr4: pool.addr(a),
                    proto,
                    in_use: p.in_use.get(a).copied().unwrap_or(0),
                    total: p.total.get(a).copied().unwrap_or(0),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{s6, tcp6, udp6, v4_src, Nat, C6, C6B, S4, S4B};
    use super::*;
    use crate::nat64::tests::F;
    use crate::nat64::timers::NS;

    /// Tenant 0's usage by (address, protocol).
    fn usage(n: &Nat) -> Vec<Pool4Ports> {
        let st = n.p.nat64().unwrap();
        let pool = &n.p.snapshot().tenants()[0].nat64.as_deref().unwrap().pool4;
        let mut v = Vec::new();
        st.pool4_usage(0, pool, &mut |u| v.push(u));
        v
    }

    fn sessions(n: &Nat) -> Vec<SessionRecord> {
        let mut v = Vec::new();
        n.p.nat64().unwrap().for_each_session(&mut |r| v.push(*r));
        v
    }

    const TWO_ADDRS: &str = "[[tenants.pool4]]\nprefix = \"203.0.113.8/31\"\nudp = \"2000-2099\"\n\
        [[tenants.static_bib]]\nprotocol = \"tcp\"\nipv4 = \"203.0.113.9#3000\"\nipv6 = \"2001:db8:2::10#8080\"\n";

    #[test]
    fn pool4_usage_counts_allocated_released_and_static_ports() {
        let mut n = Nat::new(TWO_ADDRS);
        let u = usage(&n);
        assert_eq!(u.len(), 2 * 3, "every address and protocol");
        let udp: Vec<_> = u.iter().filter(|x| x.proto == Proto::Udp).collect();
        assert_eq!(udp[0].addr4, [203, 0, 113, 8]);
        assert_eq!((udp[0].in_use, udp[0].total), (0, 100));
        assert_eq!((udp[1].in_use, udp[1].total), (0, 100));
        let tcp9 = u
            .iter()
            .find(|x| x.proto == Proto::Tcp && x.addr4 == [203, 0, 113, 9])
            .unwrap();
        // A static binding holds its port when it lies in the range (a port outside it, e.g. 80 with the default
        // 1024-65535, is not one of the pool's ports and is not counted).
        assert_eq!(tcp9.in_use, 1, "the static binding's port");
        assert_eq!(tcp9.total, 65536 - 1024, "the default range 1024-65535");
        assert_eq!(n.p.nat64().unwrap().tenant_bindings(0), 1);

        // N UDP bindings: N ports in use, spread over the two addresses.
        n.at(1);
        for k in 0..7u16 {
            n.run(&udp6(C6, 6000 + k, s6(S4), 53)).one();
        }
        let in_use: u32 = usage(&n)
            .iter()
            .filter(|x| x.proto == Proto::Udp)
            .map(|x| x.in_use)
            .sum();
        assert_eq!(in_use, 7);
        assert_eq!(n.p.nat64().unwrap().tenant_bindings(0), 1 + 7);
        // They expire: the ports come back, the static one stays.
        n.timers(1000);
        let u = usage(&n);
        assert_eq!(u.iter().map(|x| x.in_use).sum::<u32>(), 1);
        assert_eq!(n.p.nat64().unwrap().tenant_bindings(0), 1);
        assert_eq!(n.p.nat64().unwrap().tenant_bindings(1), 0, "no such tenant");
    }

    #[test]
    fn pool4_usage_with_port_blocks_counts_each_subscribers_block() {
        let mut n = Nat::new(
            "[tenants.nat64.port_blocks]\nsubscribers = \"2001:db8:1::/60\"\nprefix_len = 64\nblock_size = 2048\n",
        );
        let udp = |n: &Nat| *usage(n).iter().find(|x| x.proto == Proto::Udp).unwrap();
        assert_eq!((udp(&n).in_use, udp(&n).total), (0, 16 * 2048));
        n.run(&udp6(C6, 5000, s6(S4), 53)).one(); // 2001:db8:1::5: subscriber 0
        n.run(&udp6(C6B, 5001, s6(S4), 53)).one();
        assert_eq!(udp(&n).in_use, 2);
    }

    #[test]
    fn every_live_session_is_walked_with_its_binding() {
        let mut n = Nat::new("");
        n.at(5);
        let (a4, p4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
        n.run(&udp6(C6, 5000, s6(S4B), 54)).one();
        n.run(&tcp6(C6B, 7000, s6(S4), 80, F::Syn)).one();
        let v = sessions(&n);
        assert_eq!(v.len(), 3);
        let u = v.iter().find(|r| r.remote4 == S4B).unwrap();
        assert_eq!(
            (u.tenant, u.proto, u.addr6, u.port6, u.addr4, u.port4, u.rport),
            (0, Proto::Udp, C6, 5000, a4, p4, 54)
        );
        assert_eq!(u.state, TcpState::Closed);
        assert!(u.expires > 5 * NS && !u.is_static);
        let t = v.iter().find(|r| r.proto == Proto::Tcp).unwrap();
        assert_eq!((t.addr6, t.port6, t.state), (C6B, 7000, TcpState::V6Init));
    }
}
