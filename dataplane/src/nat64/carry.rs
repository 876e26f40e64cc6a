//! Carrying a worker's NAT64 state across a configuration swap ([`crate::pipeline::Pipeline::set_snapshot`]).
//!
//! The new configuration gets fresh tables (sized as before, its static bindings inserted by
//! [`Nat64State::new`]); then every binding of the old tables that the new configuration still allows is
//! inserted with its sessions:
//! - its tenant still exists (matched by name: indices may shift) and is still a NAT64 tenant;
//! - its pool4 address is still in that tenant's pool4 and its port still inside the protocol's range there;
//! - this worker still owns it from both sides (the appliance slice, port blocks or a new static binding may
//!   move a transport address to another worker or appliance);
//! - it does not clash with a binding of the new tables (a new static binding of either address): a static
//!   binding of the same two addresses takes the old binding's sessions;
//! - a static binding whose entry left the configuration goes, and its sessions end.
//!
//! The ports of carried bindings are reserved in the new free-port sets, so no new binding reuses them. The
//! sessions of a binding that is not carried end (counted in [`Carried::ended`], and logged as deleted when
//! the tenant still exists and logs sessions). Lifetimes keep their deadline, cut to the new timeout when it
//! is shorter; sessions are re-inserted in deadline order, so each expiry queue stays sorted.
//!
//! Held IPv4 SYNs follow the same rules. First-fragment records start empty: the remaining fragments of a
//! packet whose first fragment crossed the swap are dropped like fragments whose first one was never seen, and
//! fragments held for a first fragment still to come are dropped (counted by the pipeline as expired).
//! This runs on the worker between two batches (it allocates: this is not the packet path). The fresh tables
//! may come built by another thread ([`Fresh`]): allocating and initialising them (a few ms for the default
//! 64 Ki sessions, more when the memory is touched for the first time) then does not pause the worker.

use std::fmt;
use std::sync::Arc;

use super::bib::BibEntry;
use super::log::{EventKind, SessionEvent};
use super::pool4::Owner;
use super::{owner6, Nat64Capacity, Nat64State, NIL, REFRESH_STEP};
use crate::tables::Snapshot;

/// What a swap did to one worker's NAT64 state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// The state was kept as it was (no NAT64 setting of any tenant changed).
    pub unchanged: bool,
    /// Dynamic bindings carried into the new tables (static ones come from the new configuration).
    pub bindings: usize,
    pub sessions: usize,
    /// Sessions the new configuration does not allow any more: ended.
    pub ended: usize,
    /// Held IPv4 SYNs carried / dropped.
    pub held: usize,
    pub held_dropped: usize,
    /// Fragments held for their first fragment, dropped (counted as `nat64_fragment_expired`).
    pub fragments_dropped: usize,
}

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unchanged {
            return write!(f, "NAT64 state unchanged");
        }
        write!(
            f,
            "NAT64 state carried: {} binding(s), {} session(s), {} held SYN(s); ended {} session(s), dropped {} \
             held SYN(s) and {} held fragment(s)",
            self.bindings, self.sessions, self.held, self.ended, self.held_dropped, self.fragments_dropped
        )
    }
}

/// Empty NAT64 tables for one worker and one snapshot, built ahead (by the thread that applies a configuration)
/// so that the worker only carries its entries over.
pub struct Fresh {
    snapshot: Arc<Snapshot>,
    worker: u16,
    workers: u16,
    cap: Nat64Capacity,
    state: Option<Box<Nat64State>>,
}

impl fmt::Debug for Fresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fresh")
            .field("worker", &self.worker)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Fresh {
    /// [`Nat64State::new`] for `worker` of `workers`, tables of `cap`.
    pub fn build(snapshot: &Arc<Snapshot>, worker: u16, workers: u16, cap: Nat64Capacity) -> Fresh {
        Fresh {
            snapshot: snapshot.clone(),
            worker,
            workers,
            cap,
            state: Nat64State::new(snapshot, worker, workers, cap).map(Box::new),
        }
    }

    /// The tables, if they were built for exactly this snapshot, worker and size.
    fn take_for(
        self,
        snapshot: &Snapshot,
        worker: u16,
        workers: u16,
        cap: Nat64Capacity,
    ) -> Option<Option<Box<Nat64State>>> {
        (std::ptr::eq(&*self.snapshot, snapshot)
            && (self.worker, self.workers, self.cap) == (worker, workers, cap))
            .then_some(self.state)
    }
}

/// The new tenant index of each old tenant (by name), if it still exists as a NAT64 tenant.
fn tenant_map(old: &Snapshot, new: &Snapshot) -> Vec<Option<u16>> {
    old.tenants()
        .iter()
        .map(|t| {
            new.tenants()
                .iter()
                .find(|n| n.name == t.name && n.nat64.is_some())
                .map(|n| n.index)
        })
        .collect()
}

/// Where old binding `e` goes in `new` (`Some(index)`: it is there now), or `None` if the new configuration
/// does not allow it.
fn carry_binding(
    new: &mut Nat64State,
    snapshot: &Snapshot,
    e: &BibEntry,
    tenant: u16,
    carried: &mut Carried,
) -> Option<u32> {
    let c = snapshot.tenant(tenant).nat64.as_deref()?;
    let by6 = new.bib.find6(tenant, e.proto, &e.addr6, e.port6);
    let by4 = new.bib.find4(tenant, e.proto, e.addr4, e.port4);
    match (by6, by4) {
        // A static binding of the new configuration with the same two addresses takes the sessions (static
        // ports may lie outside the dynamic ranges; Nat64State::new inserted only the ones this worker owns).
        (Some(a), Some(b)) if a == b => return Some(a),
        (None, None) => {}
        _ => return None, // one side is bound to something else now
    }
    if e.is_static {
        return None; // no longer configured: it goes, with its sessions
    }
    let ai = c.pool4.index(e.addr4)?;
    let range = c.pool4.range(ai, e.proto);
    if !(range.first..=range.last).contains(&e.port4) {
        return None;
    }
    let me = Owner::Worker(new.worker);
    if c.pool4.owner_of(new.workers, e.proto, e.addr4, e.port4) != me
        || owner6(c, e.proto, &e.addr6, e.port6, new.workers) != me
    {
        return None;
    }
    let ports = new.tenants[usize::from(tenant)].ports.as_mut()?;
    ports[e.proto as usize].reserve(e.proto, ai, e.port4);
    let b = new.bib.insert(BibEntry::new(
        tenant, e.proto, e.addr6, e.port6, e.addr4, e.port4,
    ));
    match b {
        Some(b) => {
            carried.bindings += 1;
            Some(b)
        }
        None => {
            ports[e.proto as usize].release(e.proto, ai, e.port4);
            None
        }
    }
}

/// The state of worker `worker` of `workers` for `snapshot`, with everything of `old` (built for `old_snap`)
/// that `snapshot` still allows. `now`: the worker's clock. `fresh`: the empty new tables if built ahead (used
/// when built for this snapshot, worker and size; else they are built here).
#[allow(clippy::too_many_arguments)]
pub fn carry(
    old: Option<Box<Nat64State>>,
    fresh: Option<Fresh>,
    old_snap: &Snapshot,
    snapshot: &Snapshot,
    worker: u16,
    workers: u16,
    cap: Nat64Capacity,
    now: u64,
) -> (Option<Box<Nat64State>>, Carried) {
    let mut carried = Carried::default();
    let mut new = match fresh.and_then(|f| f.take_for(snapshot, worker, workers, cap)) {
        Some(state) => state,
        None => Nat64State::new(snapshot, worker, workers, cap).map(Box::new),
    };
    let Some(mut old) = old else {
        return (new, carried);
    };
    let map = tenant_map(old_snap, snapshot);
    let new_tenant = |t: u16| map.get(usize::from(t)).copied().flatten();

    // Bindings first: old index → new index (NIL: not carried).
    let mut moved = vec![NIL; old.bib.capacity()];
    if let Some(n) = new.as_deref_mut() {
        for (i, e) in old.bib.iter() {
            if e.is_static && e.count == 0 {
                continue; // the new configuration's static bindings are in place already
            }
            if let Some(t) = new_tenant(e.tenant) {
                if let Some(b) = carry_binding(n, snapshot, e, t, &mut carried) {
                    moved[i as usize] = b;
                }
            }
        }
    }

    // Sessions in deadline order, so that every expiry queue of the new table stays sorted.
    let mut sessions: Vec<_> = old.sessions.iter().map(|(_, s)| *s).collect();
    sessions.sort_unstable_by_key(|s| s.expires);
    for s in &sessions {
        let e = *old.bib.get(s.bib);
        let t = new_tenant(e.tenant);
        let target = moved[s.bib as usize];
        let n = new.as_deref_mut();
        let inserted = match (n, t) {
            (Some(n), Some(t)) if target != NIL => {
                let c = snapshot.tenant(t).nat64.as_deref().expect("a NAT64 tenant");
                // Cut to the new timeout: min with a constant per (tenant, class) keeps each queue sorted.
                let expires = s.expires.min(now + c.timeout(s.class) + REFRESH_STEP);
                let bib = n.bib.get_mut(target);
                let ok = n
                    .sessions
                    .insert(target, bib, s.remote4, s.rport, s.state, s.class, expires)
                    .is_some();
                if ok {
                    n.tenants[usize::from(t)].sessions += 1;
                }
                ok
            }
            _ => false,
        };
        if inserted {
            carried.sessions += 1;
            continue;
        }
        carried.ended += 1;
        // Logged under the new index, if the tenant lives on and logs (the log is drained with the new names).
        if let (Some(n), Some(t)) = (new.as_deref_mut(), t) {
            if n.tenants[usize::from(t)].log {
                n.log.push(SessionEvent {
                    kind: EventKind::Deleted,
                    time_ns: now,
                    tenant: t,
                    proto: e.proto,
                    addr6: e.addr6,
                    port6: e.port6,
                    addr4: e.addr4,
                    port4: e.port4,
                    remote4: s.remote4,
                    rport: s.rport,
                });
            }
        }
    }
    // Bindings carried without any session left (a static binding's sessions went to a new static binding,
    // or every session failed to insert) would never be released: drop them.
    if let Some(n) = new.as_deref_mut() {
        for b in moved.iter().copied().filter(|&b| b != NIL) {
            let e = *n.bib.get(b);
            if e.count == 0 && !e.is_static {
                let c = snapshot.tenant(e.tenant).nat64.as_deref().expect("NAT64");
                n.release_if_unused(b, &c.pool4);
                carried.bindings -= 1;
            }
        }
    }

    // Held SYNs: same tenant and pool4 address rules.
    while let Some(mut h) = old.held.pop_expired(u64::MAX) {
        let keep = match (new.as_deref_mut(), new_tenant(h.tenant)) {
            (Some(n), Some(t)) => {
                let c = snapshot.tenant(t).nat64.as_deref().expect("NAT64");
                c.pool4.contains(h.local4) && {
                    h.tenant = t;
                    let data = h.data;
                    let len = usize::from(h.len);
                    n.held.hold(h, &data[..len])
                }
            }
            _ => false,
        };
        if keep {
            carried.held += 1;
        } else {
            carried.held_dropped += 1;
        }
    }

    // Pending session events: renumbered; those of a tenant that is gone are counted as lost.
    if let Some(n) = new.as_deref_mut() {
        n.lookahead_min_sessions = old.lookahead_min_sessions;
        n.log.dropped += old.log.dropped;
        let mut lost = 0;
        let events = &mut n.log;
        old.log.drain(|e| match new_tenant(e.tenant) {
            Some(t) => events.push(SessionEvent { tenant: t, ..*e }),
            None => lost += 1,
        });
        n.log.dropped += lost;
    }
    (new, carried)
}

/// True when `new` gives every tenant the same index and NAT64 settings as `old`: the state stays as it is.
pub fn same_nat64(old: &Snapshot, new: &Snapshot) -> bool {
    old.tenants().len() == new.tenants().len()
        && old
            .tenants()
            .iter()
            .zip(new.tenants())
            .all(|(x, y)| x.name == y.name && x.nat64 == y.nat64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mgmt_api::Config;

    use super::super::tcp::TcpState;
    use super::super::tests::{tcp4, tcp6, udp4, udp6, v4_src, v6_dst, Nat, C6, C6B, F, S4, S4B};
    use super::super::timers::NS;
    use super::{Carried, Fresh};
    use crate::pipeline::{OutcomeKind, Pipeline};
    use crate::stats::DropReason;
    use crate::tables::Snapshot;

    const POOL4: [u8; 4] = [203, 0, 113, 1];
    const POOL4B: [u8; 4] = [203, 0, 113, 2];

    /// pool6 2001:db8:64::/96 + an IPv4 address.
    fn s6(v4: [u8; 4]) -> [u8; 16] {
        super::super::tests::s6(v4)
    }

    /// Tenant "n" (NAT64, pool4 `pool4`, `extra` appended to it), after the tenants of `before`.
    fn config(before: &str, pool4: &str, extra: &str) -> Arc<Snapshot> {
        let toml = format!(
            r#"{before}
[[tenants]]
name = "n"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
own_ipv6 = "2001:db8:ffff::1"
{pool4}
{extra}
"#
        );
        let cfg = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        Arc::new(Snapshot::compile(&cfg).unwrap_or_else(|e| panic!("{e}")))
    }

    const ONE: &str = "[[tenants.pool4]]\nprefix = \"203.0.113.1/32\"\n";
    const TWO: &str =
        "[[tenants.pool4]]\nprefix = \"203.0.113.1/32\"\n[[tenants.pool4]]\nprefix = \"203.0.113.2/32\"\n";
    /// A SIIT tenant put before "n": every index of "n" shifts by one.
    const SIIT: &str = r#"
[[tenants]]
name = "s"
id = 2
pool6 = "2001:db8:46::/96"
[[tenants.eamt]]
ipv4 = "192.0.2.0/24"
ipv6 = "2001:db8:4444::/120"
"#;
    /// The same with one more EAM entry.
    const SIIT_MORE: &str = r#"
[[tenants]]
name = "s"
id = 2
pool6 = "2001:db8:46::/96"
[[tenants.eamt]]
ipv4 = "192.0.2.0/24"
ipv6 = "2001:db8:4444::/120"
[[tenants.eamt]]
ipv4 = "198.51.100.200/32"
ipv6 = "2001:db8:5555::1/128"
"#;

    fn nat(s: Arc<Snapshot>) -> Nat {
        Nat {
            p: Pipeline::new(s),
        }
    }

    /// Opens a TCP connection C6#40000 → S4#80 through `n`; returns its pool4 transport address.
    fn establish(n: &mut Nat) -> ([u8; 4], u16) {
        let a = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
        assert_eq!(
            v6_dst(n.run(&tcp4(S4, 80, a.0, a.1, F::SynAck)).one()),
            (C6, 40000)
        );
        n.run(&tcp6(C6, 40000, s6(S4), 80, F::Ack)).one();
        assert_eq!(n.tcp_state(), TcpState::Established);
        a
    }

    fn echo6(id: u16) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv6(C6, s6(S4), 64)
            .icmpv6_echo_request(id, 1)
            .write(&mut v, b"ping")
            .unwrap();
        v
    }

    fn echo_reply4(id: u16) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4(S4, POOL4, 64)
            .icmpv4_echo_reply(id, 1)
            .write(&mut v, b"ping")
            .unwrap();
        v
    }

    /// The state of the one TCP session.
    fn tcp_state(n: &Nat) -> TcpState {
        let st = n.p.nat64().unwrap();
        let tcp: Vec<TcpState> = st
            .sessions
            .iter()
            .filter(|(_, s)| st.bib.get(s.bib).proto == super::super::Proto::Tcp)
            .map(|(_, s)| s.state)
            .collect();
        assert_eq!(tcp.len(), 1);
        tcp[0]
    }

    #[track_caller]
    fn still_translates(n: &mut Nat, a: ([u8; 4], u16)) {
        assert_eq!(v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Ack)).one()), a);
        assert_eq!(
            v6_dst(n.run(&tcp4(S4, 80, a.0, a.1, F::Ack)).one()),
            (C6, 40000)
        );
    }

    #[test]
    fn unrelated_changes_keep_established_tcp_udp_and_echo_sessions() {
        let mut n = nat(config("", ONE, ""));
        n.at(10);
        let a = establish(&mut n);
        let (_, u) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
        let echo = n.run(&echo6(77)).one().to_vec();
        let id4 = u16::from_be_bytes([echo[24], echo[25]]);
        // A tenant added in front (indices shift), an EAM entry and a pool4 address added, other timeouts.
        let c =
            n.p.set_snapshot(config(SIIT, TWO, "[tenants.nat64.timeouts]\nudp = 600\n"));
        assert_eq!(
            c,
            Carried {
                bindings: 3,
                sessions: 3,
                ..Carried::default()
            }
        );
        assert_eq!(n.p.snapshot().tenants()[1].name, "n");
        still_translates(&mut n, a);
        assert_eq!(tcp_state(&n), TcpState::Established);
        assert_eq!(
            v6_dst(n.run(&udp4(S4, 53, POOL4, u)).one()),
            (C6, 5000),
            "UDP too"
        );
        let back = n.run(&echo_reply4(id4)).one().to_vec();
        assert_eq!(
            (back[40], u16::from_be_bytes([back[44], back[45]])),
            (129, 77),
            "echo too"
        );
        // More EAM entries in the other tenant: NAT64 untouched.
        let c = n.p.set_snapshot(config(
            SIIT_MORE,
            TWO,
            "[tenants.nat64.timeouts]\nudp = 600\n",
        ));
        assert!(c.unchanged);
        still_translates(&mut n, a);
        // Back to the first configuration (the tenant in front removed): kept too.
        let c = n.p.set_snapshot(config("", ONE, ""));
        assert_eq!((c.sessions, c.ended), (3, 0));
        still_translates(&mut n, a);
    }

    #[test]
    fn carried_ports_are_not_handed_out_again() {
        let range = "[[tenants.pool4]]\nprefix = \"203.0.113.1/32\"\nudp = \"5000-5001\"\n";
        let mut n = nat(config("", range, ""));
        let (_, p1) = v4_src(n.run(&udp6(C6, 6000, s6(S4), 53)).one());
        n.p.set_snapshot(config(SIIT, range, ""));
        // Both ports of the range: the carried one is taken, so the other parity; then nothing is left.
        let (_, p2) = v4_src(n.run(&udp6(C6B, 6002, s6(S4), 53)).one());
        assert_ne!(p1, p2);
        let r = n.run(&udp6(C6B, 6004, s6(S4), 53));
        assert_eq!(
            r.kind,
            OutcomeKind::IcmpError(DropReason::Nat64PoolExhausted)
        );
        assert_eq!(v6_dst(n.run(&udp4(S4, 53, POOL4, p1)).one()), (C6, 6000));
    }

    #[test]
    fn sessions_of_a_removed_pool4_address_end_and_are_logged() {
        let log = "[tenants.nat64]\nlog_sessions = true\n";
        let mut n = nat(config("", ONE, log));
        n.at(5);
        let a = establish(&mut n);
        let (_, u) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
        n.p.drain_session_log(&mut |_| {});
        // 203.0.113.1 gone, .2 instead.
        let only_b = "[[tenants.pool4]]\nprefix = \"203.0.113.2/32\"\n";
        let c = n.p.set_snapshot(config("", only_b, log));
        assert_eq!((c.sessions, c.ended, c.bindings), (0, 2, 0));
        assert_eq!((n.sessions(), n.bibs()), (0, 0));
        let mut lines = Vec::new();
        n.p.drain_session_log(&mut |l| lines.push(l.to_string()));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.contains("\"event\":\"delete\"")
            && l.contains("203.0.113.1#")
            && l.contains("\"tenant\":\"n\"")));
        assert!(
            !matches!(
                n.run(&udp4(S4, 53, POOL4, u)).kind,
                OutcomeKind::Translated { .. }
            ),
            "nothing translates to the removed address"
        );
        n.run(&tcp6(C6, 40000, s6(S4), 80, F::Ack))
            .dropped(DropReason::Nat64TcpNoSession);
        // New flows use the remaining address.
        let (b, _) = v4_src(n.run(&udp6(C6, 5000, s6(S4B), 53)).one());
        assert_eq!(b, POOL4B);
        let _ = a;
    }

    #[test]
    fn port_outside_the_new_range_ends_and_removed_tenants_end() {
        let mut n = nat(config("", ONE, ""));
        let (_, p) = v4_src(n.run(&udp6(C6, 6000, s6(S4), 53)).one());
        let range = format!(
            "[[tenants.pool4]]\nprefix = \"203.0.113.1/32\"\nudp = \"{}-{}\"\n",
            p ^ 2,
            p ^ 2
        );
        let c = n.p.set_snapshot(config("", &range, ""));
        assert_eq!((c.sessions, c.ended), (0, 1));
        n.run(&udp4(S4, 53, POOL4, p))
            .dropped(DropReason::Nat64NoBinding);

        // A NAT64 tenant removed (only a SIIT tenant left): its sessions end, there is no NAT64 state.
        let mut n = nat(config("", ONE, ""));
        establish(&mut n);
        let siit = Config::from_toml_str(SIIT).unwrap();
        let c =
            n.p.set_snapshot(Arc::new(Snapshot::compile(&siit).unwrap()));
        assert_eq!((c.sessions, c.ended), (0, 1));
        assert!(n.p.nat64().is_none());
    }

    #[test]
    fn static_bindings_follow_the_new_configuration() {
        let static80 = "[[tenants.static_bib]]\nprotocol = \"tcp\"\nipv4 = \"203.0.113.1#80\"\n\
                        ipv6 = \"2001:db8:1::5#8080\"\n";
        let static81 = "[[tenants.static_bib]]\nprotocol = \"tcp\"\nipv4 = \"203.0.113.1#81\"\n\
                        ipv6 = \"2001:db8:1::6#8081\"\n";
        let mut n = nat(config("", ONE, static80));
        // An IPv4 client opens a connection to the static binding.
        assert_eq!(
            v6_dst(n.run(&tcp4(S4, 5555, POOL4, 80, F::Syn)).one()),
            (C6, 8080)
        );
        n.run(&tcp6(C6, 8080, s6(S4), 5555, F::SynAck)).one();
        // Same static binding plus another one: the session stays on it, both are static.
        let c =
            n.p.set_snapshot(config(SIIT, ONE, &format!("{static80}{static81}")));
        assert_eq!((c.bindings, c.sessions), (0, 1));
        assert_eq!(n.bibs(), 2);
        assert!(n.p.nat64().unwrap().bib.iter().all(|(_, e)| e.is_static));
        assert_eq!(
            v4_src(n.run(&tcp6(C6, 8080, s6(S4), 5555, F::Ack)).one()),
            (POOL4, 80)
        );
        // The first static binding removed: it goes, with its session; the second one stays.
        let c = n.p.set_snapshot(config("", ONE, static81));
        assert_eq!((c.bindings, c.sessions, c.ended), (0, 0, 1));
        assert_eq!(n.bibs(), 1);
        n.run(&tcp4(S4, 5555, POOL4, 80, F::Ack))
            .dropped(DropReason::Nat64NoBinding);
        // Without the second one, nothing is left.
        n.p.set_snapshot(config("", ONE, ""));
        assert_eq!(n.bibs(), 0);
    }

    #[test]
    fn tables_built_ahead_are_used_for_their_snapshot_only() {
        let mut n = nat(config("", ONE, ""));
        let a = establish(&mut n);
        let next = config(SIIT, TWO, "");
        let cap = n.p.nat64_capacity();
        // Built for another snapshot: ignored (the worker builds its own), nothing lost.
        let other = Fresh::build(&config(SIIT, ONE, ""), 0, 1, cap);
        let c = n.p.set_snapshot_with(next.clone(), Some(other));
        assert_eq!((c.sessions, c.ended), (1, 0));
        still_translates(&mut n, a);
        // Built for this one: used (a static binding only the fresh tables have shows it).
        let with_static = config(
            "",
            TWO,
            "[[tenants.static_bib]]\nprotocol = \"udp\"\nipv4 = \"203.0.113.2#53\"\n\
             ipv6 = \"2001:db8:1::7#53\"\n",
        );
        let mut fresh = Fresh::build(&with_static, 0, 1, cap);
        fresh
            .state
            .as_mut()
            .unwrap()
            .bib
            .insert(super::super::bib::BibEntry::new(
                0,
                super::super::Proto::Icmp,
                [9; 16],
                9,
                POOL4B,
                9,
            ));
        let c = n.p.set_snapshot_with(with_static, Some(fresh));
        assert_eq!((c.sessions, c.ended), (1, 0));
        assert_eq!(
            n.bibs(),
            3,
            "the carried binding, the static one and the marker of the fresh tables"
        );
        still_translates(&mut n, a);
    }

    #[test]
    fn fragments_held_for_their_first_are_dropped_and_counted() {
        let mut n = nat(config("", ONE, ""));
        // A later fragment (offset 56) of a datagram whose first fragment has not come: held.
        let mut f = vec![0u8; 48];
        f[0] = 0x60;
        f[4..6].copy_from_slice(&(8u16 + 16).to_be_bytes());
        f[6] = 44;
        f[7] = 64;
        f[8..24].copy_from_slice(&C6);
        f[24..40].copy_from_slice(&s6(S4));
        f[40] = 17;
        f[42..44].copy_from_slice(&56u16.to_be_bytes());
        f[44..48].copy_from_slice(&7u32.to_be_bytes());
        f.extend_from_slice(&[0xab; 16]);
        n.run(&f).dropped(DropReason::Nat64FragmentHeld);
        let c = n.p.set_snapshot(config(SIIT, ONE, ""));
        assert_eq!(c.fragments_dropped, 1);
        let d = n.p.stats().dir(crate::stats::Direction::V6ToV4);
        assert_eq!(d.dropped[DropReason::Nat64FragmentExpired as usize], 1);
    }

    #[test]
    fn held_syns_follow_their_tenant() {
        let mut n = nat(config("", ONE, ""));
        n.at(1);
        n.run(&tcp4(S4, 5555, POOL4, 4000, F::Syn))
            .dropped(DropReason::Nat64SynHeld);
        let c = n.p.set_snapshot(config(SIIT, ONE, ""));
        assert_eq!((c.held, c.held_dropped), (1, 0));
        // Unclaimed, it is answered with Port Unreachable (RFC 6146 §3.5.2.2), through tenant "n" at index 1.
        let out = n.timers(10);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0][20], out[0][21]), (3, 3));
        // Its pool4 address removed: dropped.
        n.run(&tcp4(S4, 5556, POOL4, 4002, F::Syn))
            .dropped(DropReason::Nat64SynHeld);
        let only_b = "[[tenants.pool4]]\nprefix = \"203.0.113.2/32\"\n";
        let c = n.p.set_snapshot(config("", only_b, ""));
        assert_eq!((c.held, c.held_dropped), (0, 1));
    }

    #[test]
    fn shorter_timeouts_cut_carried_lifetimes() {
        let mut n = nat(config("", ONE, ""));
        n.at(100);
        let (_, u) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
        n.at(200);
        // Default UDP timeout 300 s: the session would last until 500 s; 120 s from the swap instead.
        n.p.set_snapshot(config("", ONE, "[tenants.nat64.timeouts]\nudp = 120\n"));
        n.timers(320);
        assert_eq!(n.sessions(), 1);
        n.timers(322);
        assert_eq!(n.sessions(), 0, "expired 120 s after the swap");
        n.run(&udp4(S4, 53, POOL4, u))
            .dropped(DropReason::Nat64NoBinding);
        assert_eq!(n.p.now(), 322 * NS);
    }
}
