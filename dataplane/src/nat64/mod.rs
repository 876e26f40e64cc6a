//! Stateful NAT64 (RFC 6146): IPv6 clients share a tenant's IPv4 pool.
//!
//! - [`pool4`]: the pool, its split into worker and appliance slices ([`pool4::owner`]) and the per-worker
//!   free-port allocator (port parity and range preserved, O(1) search).
//! - [`bib`], [`session`]: the per-worker Binding Information Base and session table: preallocated, bounded,
//!   index-based, no allocation on the packet path.
//! - [`tcp`]: the RFC 6146 §3.5.2.2 state machine and the IPv4 SYNs held for simultaneous opens.
//! - [`fragment`], [`frag_store`]: what first fragments were translated with, and the later fragments held
//!   until their first fragment arrives.
//! - [`timers`]: the clock abstraction.
//! - [`lookahead`]: prefetching a batch's BIB and session entries before it is translated.
//! - [`carry`]: keeping bindings and sessions across a configuration swap.
//! - [`inspect`]: read-only views for reports (the sessions of a worker, its pool4 ports in use).
//! - [`translate`]: the packet paths (IPv6 → IPv4, IPv4 → IPv6, ICMP errors, hairpinning) on top of the SIIT
//!   header helpers.
//!
//! # Who owns what
//! A worker owns the bindings whose IPv4 port lies in its slice. IPv4 packets go to the owner of their
//! destination port ([`pool4::owner`]). IPv6 packets go to the owner of their source: the worker that owns
//! the static binding's IPv4 port for a configured (`static_bib`) source, else [`owner6`], a fixed hash of the
//! source address and port — and that worker allocates the binding from its own slice, so both directions of
//! a flow meet at one worker. Any worker computes the owner of any packet and hands it over
//! ([`crate::xlat::Verdict::HandOff`]) when it is another's. No state is shared between workers.

pub mod bib;
pub mod bitmap;
pub mod blocks;
pub mod carry;
pub mod frag_store;
pub mod fragment;
pub mod inspect;
pub mod log;
pub mod lookahead;
pub mod mem;
pub mod pool4;
pub mod session;
pub mod tcp;
pub mod timers;
pub mod translate;

use std::collections::HashMap;

use mgmt_api::config::{self as cfg, Filtering, Nat64Protocol};

use crate::frame::Frame;
use crate::pipeline::Output;
use crate::stats::{Direction, DropReason, Stats};
use crate::tables::{Snapshot, Tenant};
use crate::xlat::{originate, Verdict};
use bib::{BibEntry, BibTable};
use pool4::{Owner, Pool4, PortAllocator};
use session::{SessionTable, TimerClass};
use tcp::{HeldSyns, Lifetime, TcpState};

/// "No entry" in index-linked tables.
pub const NIL: u32 = u32::MAX;

/// Lifetimes are set in steps of this much: a packet that would extend its session's lifetime by less leaves
/// the session where it is in its expiry queue (it reads the session, nothing else), so a busy flow moves in
/// its queue at most once per step. Every session lives at least its timeout after its last packet and at
/// most one step more.
pub const REFRESH_STEP: u64 = timers::NS;

/// The protocols stateful NAT64 translates (the index of per-protocol arrays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Proto {
    Tcp = 0,
    Udp = 1,
    /// ICMP echo: the identifier plays the port.
    Icmp = 2,
}

impl Proto {
    pub const ALL: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Icmp];
}

impl From<Nat64Protocol> for Proto {
    fn from(p: Nat64Protocol) -> Self {
        match p {
            Nat64Protocol::Tcp => Proto::Tcp,
            Nat64Protocol::Udp => Proto::Udp,
            Nat64Protocol::Icmp => Proto::Icmp,
        }
    }
}

/// A keyed 64-bit hash of a few words (multiply-xorshift per word).
#[inline]
pub fn hash_words(words: &[u64], seed: u64) -> u64 {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for &w in words {
        h = (h ^ w).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 31;
    }
    h.wrapping_mul(0x94d0_49bb_1331_11eb) ^ (h >> 29)
}

/// The owner of an IPv6 source that has no static binding: `hash_words([address high 64 bits, address low
/// 64 bits, protocol << 16 | port], 0) % workers`. Fixed (not seeded), so every worker agrees.
#[inline]
pub fn owner6_hash(proto: Proto, addr6: &[u8; 16], port6: u16, workers: u16) -> u16 {
    let hi = u64::from_be_bytes(addr6[..8].try_into().expect("8 bytes"));
    let lo = u64::from_be_bytes(addr6[8..].try_into().expect("8 bytes"));
    let h = hash_words(&[hi, lo, (proto as u64) << 16 | u64::from(port6)], 0);
    (h % u64::from(workers.max(1))) as u16
}

/// The owner of an IPv6 packet from (`addr6`, `port6`) of tenant `cfg`: the owner of its static binding's
/// IPv4 port if it has one, else [`owner6_hash`].
#[inline]
pub fn owner6(
    cfg: &Nat64Config,
    proto: Proto,
    addr6: &[u8; 16],
    port6: u16,
    workers: u16,
) -> Owner {
    if !cfg.statics.is_empty() {
        if let Some(&k) = cfg.static_by_v6.get(&(proto, *addr6, port6)) {
            let s = &cfg.statics[k];
            return cfg.pool4.owner_of(workers, proto, s.addr4, s.port4);
        }
    }
    if let Some(b) = &cfg.pool4.blocks {
        if let Some(i) = b.subscriber(addr6) {
            return b.owner(cfg.pool4.slice, workers, i);
        }
    }
    Owner::Worker(owner6_hash(proto, addr6, port6, workers))
}

/// A configured binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticBinding {
    pub proto: Proto,
    pub addr6: [u8; 16],
    pub port6: u16,
    pub addr4: [u8; 4],
    pub port4: u16,
}

/// A NAT64 tenant's compiled configuration (read-only, in the snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nat64Config {
    pub pool4: Pool4,
    pub statics: Box<[StaticBinding]>,
    /// (protocol, IPv6 address, port) → index in `statics`.
    static_by_v6: HashMap<(Proto, [u8; 16], u16), usize>,
    pub address_dependent: bool,
    /// Timeouts by [`TimerClass`], in clock nanoseconds.
    pub timeouts: [u64; TimerClass::COUNT],
    pub incoming_syn: u64,
    pub max_sessions: Option<u32>,
    pub log_sessions: bool,
    /// Fragments held before their first fragment, per worker, and how long fragments may arrive over
    /// (clock ns): `timeouts.fragment`.
    pub frag_hold: frag_store::HoldLimits,
}

impl Nat64Config {
    pub fn new(t: &cfg::Tenant) -> Self {
        let o = &t.nat64;
        let statics: Box<[StaticBinding]> = t
            .static_bib
            .iter()
            .map(|s| StaticBinding {
                proto: s.protocol.into(),
                addr6: s.ipv6.addr.octets(),
                port6: s.ipv6.port,
                addr4: s.ipv4.addr.octets(),
                port4: s.ipv4.port,
            })
            .collect();
        let static_by_v6 = statics
            .iter()
            .enumerate()
            .map(|(k, s)| ((s.proto, s.addr6, s.port6), k))
            .collect();
        let to = o.timeouts;
        let mut timeouts = [0; TimerClass::COUNT];
        timeouts[TimerClass::Udp as usize] = timers::secs(to.udp);
        timeouts[TimerClass::TcpEstablished as usize] = timers::secs(to.tcp_established);
        timeouts[TimerClass::TcpTransitory as usize] = timers::secs(to.tcp_transitory);
        timeouts[TimerClass::Icmp as usize] = timers::secs(to.icmp);
        Nat64Config {
            pool4: Pool4::with_blocks(&t.pool4, o.appliance_slice, o.port_blocks.as_ref()),
            statics,
            static_by_v6,
            address_dependent: o.filtering == Filtering::AddressDependent,
            timeouts,
            incoming_syn: timers::secs(to.tcp_incoming_syn),
            max_sessions: o.max_sessions,
            log_sessions: o.log_sessions,
            frag_hold: frag_store::HoldLimits {
                max: o.fragments_held_max,
                bytes: o.fragments_held_bytes,
                timeout: timers::secs(to.fragment),
            },
        }
    }

    #[inline]
    pub fn timeout(&self, class: TimerClass) -> u64 {
        self.timeouts[class as usize]
    }
}

/// Sizes of a worker's NAT64 tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat64Capacity {
    /// Sessions (and dynamic bindings) per worker.
    pub sessions: usize,
    /// IPv4 SYNs held for simultaneous opens per worker.
    pub held_syns: usize,
}

impl Default for Nat64Capacity {
    fn default() -> Self {
        Nat64Capacity {
            sessions: 1 << 16,
            held_syns: 256,
        }
    }
}

/// Bytes a worker's NAT64 tables allocate ([`Nat64State::memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat64Memory {
    /// Session table: slab, hash buckets, expiry queue heads.
    pub sessions: usize,
    /// BIB: slab and both hash bucket arrays.
    pub bib: usize,
    /// Held SYNs, the first-fragment table and the held-fragment store (independent of the session
    /// capacity; the store is sized by the tenants' `fragments_held_*`).
    pub fixed: usize,
}

/// Why a packet got no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Dropped silently (counted).
    Drop(crate::stats::DropReason),
    /// No room (pool, table or tenant limit): RFC 6146 §3.5.1.1 answers with ICMPv6 Address Unreachable.
    Exhausted(crate::stats::DropReason),
    /// An IPv4 SYN to hold for a simultaneous open (RFC 6146 §3.5.2.2).
    Hold,
}

/// A worker's free ports of one tenant and protocol: per-flow allocation from its slice, or RFC 7422 blocks.
enum Alloc {
    Dynamic(PortAllocator),
    Blocks(blocks::BlockAllocator, blocks::Blocks),
}

/// A worker's ports of one tenant and protocol, with per-address counts for reports ([`Nat64State::pool4_usage`]).
struct Ports {
    alloc: Alloc,
    /// Per pool4 address index: ports of the worker's slice (free when the allocator was built).
    total: Box<[u32]>,
    /// Per pool4 address index: ports taken (dynamic bindings and reserved static ones). Kept here, where
    /// every allocation and release passes, so a report reads it instead of scanning the bitmaps.
    in_use: Box<[u32]>,
}

impl Ports {
    fn new(pool: &Pool4, proto: Proto, worker: u16, workers: u16) -> Self {
        let alloc = match pool.blocks {
            Some(b) => Alloc::Blocks(
                blocks::BlockAllocator::new(&b, pool.slice, worker, workers),
                b,
            ),
            None => Alloc::Dynamic(PortAllocator::new(pool, proto, worker, workers)),
        };
        let mut total = vec![0u32; pool.len()].into_boxed_slice();
        match &alloc {
            Alloc::Dynamic(a) => a.free_per_address(&mut total),
            Alloc::Blocks(a, b) => a.free_per_address(b, proto, &mut total),
        }
        Ports {
            alloc,
            in_use: vec![0; pool.len()].into_boxed_slice(),
            total,
        }
    }

    fn count(&mut self, addr: usize, taken: bool) {
        if let Some(n) = self.in_use.get_mut(addr) {
            *n = if taken { *n + 1 } else { n.saturating_sub(1) };
        }
    }

    fn allocate(
        &mut self,
        proto: Proto,
        addr6: &[u8; 16],
        port6: u16,
        rng: u32,
    ) -> Result<(usize, u16), Refusal> {
        use crate::stats::DropReason as R;
        let (ai, port) = match &mut self.alloc {
            Alloc::Dynamic(a) => a.allocate(proto, port6, rng),
            Alloc::Blocks(a, b) => {
                let i = b
                    .subscriber(addr6)
                    .ok_or(Refusal::Drop(R::Nat64NotSubscriber))?;
                a.allocate(b, proto, i, port6, rng)
            }
        }
        .ok_or(Refusal::Exhausted(R::Nat64PoolExhausted))?;
        self.count(ai, true);
        Ok((ai, port))
    }

    fn release(&mut self, proto: Proto, addr: usize, port: u16) {
        let freed = match &mut self.alloc {
            Alloc::Dynamic(a) => a.release(addr, port),
            Alloc::Blocks(a, b) => a.release(b, proto, addr, port),
        };
        if freed {
            self.count(addr, false);
        }
    }

    fn reserve(&mut self, proto: Proto, addr: usize, port: u16) {
        let taken = match &mut self.alloc {
            Alloc::Dynamic(a) => a.reserve(addr, port),
            Alloc::Blocks(a, b) => a.reserve(b, proto, addr, port),
        };
        if taken {
            self.count(addr, true);
        }
    }
}

/// Per-tenant state of one worker.
struct TenantState {
    ports: Option<Box<[Ports; 3]>>,
    sessions: u32,
    limit: u32,
    timeouts: [u64; TimerClass::COUNT],
    log: bool,
}

/// One worker's NAT64 state: its bindings, sessions, free ports and held SYNs.
pub struct Nat64State {
    pub worker: u16,
    pub workers: u16,
    pub bib: BibTable,
    pub sessions: SessionTable,
    pub held: HeldSyns,
    /// Session events of tenants with `log_sessions`.
    pub log: log::SessionLog,
    /// First fragments seen (stateful fragment translation).
    pub frags: fragment::FragTable,
    /// Later fragments that came before their first fragment.
    pub held_frags: frag_store::FragStore,
    /// Where a held fragment is copied back to be translated: headroom plus the largest fragment a tenant
    /// may hold (empty when no tenant holds fragments).
    pub release_buf: Box<[u8]>,
    tenants: Vec<TenantState>,
    /// Indices of the NAT64 tenants.
    nat64_tenants: Vec<u16>,
    /// [`crate::pipeline::Pipeline::process_batch`] looks ahead from this many sessions on
    /// ([`lookahead::MIN_SESSIONS`] by default).
    pub lookahead_min_sessions: usize,
}

impl Nat64State {
    /// The state of `worker` of `workers` for the NAT64 tenants of `snapshot`; `None` if it has none.
    pub fn new(snapshot: &Snapshot, worker: u16, workers: u16, cap: Nat64Capacity) -> Option<Self> {
        let nat64_tenants: Vec<u16> = snapshot
            .tenants()
            .iter()
            .filter(|t| t.nat64.is_some())
            .map(|t| t.index)
            .collect();
        if nat64_tenants.is_empty() {
            return None;
        }
        let statics: usize = snapshot
            .tenants()
            .iter()
            .filter_map(|t| t.nat64.as_deref())
            .map(|c| c.statics.len())
            .sum();
        let seed = hash_words(&[u64::from(worker), cap.sessions as u64], 0x5eed);
        let hold: Vec<frag_store::HoldLimits> = snapshot
            .tenants()
            .iter()
            .map(|t| {
                t.nat64
                    .as_deref()
                    .map_or_else(Default::default, |c| c.frag_hold)
            })
            .collect();
        let mut st = Nat64State {
            worker,
            workers: workers.max(1),
            bib: BibTable::with_capacity(cap.sessions + statics, seed)
                .with_tenants(snapshot.tenants().len()),
            sessions: SessionTable::with_capacity(cap.sessions, snapshot.tenants().len(), seed ^ 1),
            held: HeldSyns::new(cap.held_syns),
            log: log::SessionLog::default(),
            frags: fragment::FragTable::new(seed ^ 2),
            held_frags: frag_store::FragStore::new(&hold, seed ^ 3),
            release_buf: {
                let largest = hold
                    .iter()
                    .filter(|l| l.max > 0)
                    .map(|l| l.bytes as usize)
                    .max();
                match largest {
                    Some(b) => {
                        vec![0; crate::frame::HEADROOM + b.min(crate::xlat::fragment::MAX_PACKET)]
                            .into_boxed_slice()
                    }
                    None => Box::default(),
                }
            },
            tenants: Vec::with_capacity(snapshot.tenants().len()),
            nat64_tenants,
            lookahead_min_sessions: lookahead::MIN_SESSIONS,
        };
        for t in snapshot.tenants() {
            let Some(c) = t.nat64.as_deref() else {
                st.tenants.push(TenantState {
                    ports: None,
                    sessions: 0,
                    limit: 0,
                    timeouts: [0; TimerClass::COUNT],
                    log: false,
                });
                continue;
            };
            let ports = Box::new(Proto::ALL.map(|p| Ports::new(&c.pool4, p, worker, st.workers)));
            let limit = c
                .max_sessions
                .map_or(u32::MAX, |m| m.div_ceil(u32::from(st.workers)));
            st.tenants.push(TenantState {
                ports: Some(ports),
                sessions: 0,
                limit,
                timeouts: c.timeouts,
                log: c.log_sessions,
            });
            if c.log_sessions && st.log.is_empty() {
                st.log = log::SessionLog::new();
            }
            for s in c.statics.iter() {
                if c.pool4.owner_of(st.workers, s.proto, s.addr4, s.port4) != Owner::Worker(worker)
                {
                    continue;
                }
                if let (Some(ai), Some(ports)) = (
                    c.pool4.index(s.addr4),
                    st.tenants[usize::from(t.index)].ports.as_mut(),
                ) {
                    ports[s.proto as usize].reserve(s.proto, ai, s.port4);
                }
                let mut e = BibEntry::new(t.index, s.proto, s.addr6, s.port6, s.addr4, s.port4);
                e.is_static = true;
                if let Some(i) = st.bib.insert(e) {
                    st.bib.get_mut(i).is_static = true;
                }
            }
        }
        Some(st)
    }

    fn log_event(
        &mut self,
        kind: log::EventKind,
        b: u32,
        remote4: [u8; 4],
        rport: u16,
        time_ns: u64,
    ) {
        let e = self.bib.get(b);
        self.log.push(log::SessionEvent {
            kind,
            time_ns,
            tenant: e.tenant,
            proto: e.proto,
            addr6: e.addr6,
            port6: e.port6,
            addr4: e.addr4,
            port4: e.port4,
            remote4,
            rport,
        });
    }

    /// Bytes allocated by the session table, the BIB and the fixed-size tables (the free-port bitmaps, a few
    /// KiB to MiB depending on the pool, are not counted).
    pub fn memory(&self) -> Nat64Memory {
        Nat64Memory {
            sessions: self.sessions.memory(),
            bib: self.bib.memory(),
            fixed: self.held.memory()
                + self.frags.memory()
                + self.held_frags.memory()
                + self.release_buf.len(),
        }
    }

    /// Brings the bindings and sessions the packets of a batch will look up into the cache, one level of the
    /// lookup at a time for the whole batch ([`lookahead`]). Changes nothing.
    pub fn lookahead(&self, peeks: &mut [lookahead::Peek]) {
        use lookahead::Lookahead as L;
        L::buckets(&self.bib, peeks);
        L::bindings(&self.bib, peeks);
        L::session_buckets(&self.bib, &self.sessions, peeks);
        L::sessions(&self.sessions, peeks);
    }

    /// Sessions of tenant `index` on this worker.
    pub fn tenant_sessions(&self, index: u16) -> u32 {
        self.tenants
            .get(usize::from(index))
            .map_or(0, |t| t.sessions)
    }

    fn check_room(&self, tenant: u16) -> Result<(), Refusal> {
        use crate::stats::DropReason as R;
        if self.sessions.is_full() {
            return Err(Refusal::Exhausted(R::Nat64TableFull));
        }
        let ts = &self.tenants[usize::from(tenant)];
        if ts.sessions >= ts.limit {
            return Err(Refusal::Exhausted(R::Nat64SessionLimit));
        }
        Ok(())
    }

    /// Removes binding `b` if it has no sessions and is not static, returning its port to the pool.
    fn release_if_unused(&mut self, b: u32, pool: &Pool4) {
        let e = *self.bib.get(b);
        if e.count != 0 || e.is_static {
            return;
        }
        if let (Some(ai), Some(ports)) = (
            pool.index(e.addr4),
            self.tenants[usize::from(e.tenant)].ports.as_mut(),
        ) {
            ports[e.proto as usize].release(e.proto, ai, e.port4);
        }
        self.bib.remove(b);
    }

    /// Ends session `i` (or moves an ESTABLISHED one to TRANS, RFC 6146 §3.5.2.2). True if it lives on.
    fn expire(&mut self, i: u32, pool: &Pool4) -> bool {
        let s = *self.sessions.get(i);
        let b = s.bib;
        let tenant = self.bib.get(b).tenant;
        if self.bib.get(b).proto == Proto::Tcp {
            if let Some((state, Lifetime::Transitory)) = tcp::on_expiry(s.state) {
                let to =
                    self.tenants[usize::from(tenant)].timeouts[TimerClass::TcpTransitory as usize];
                self.sessions.get_mut(i).state = state;
                self.sessions
                    .refresh(i, tenant, TimerClass::TcpTransitory, s.expires + to);
                return true;
            }
        }
        if self.tenants[usize::from(tenant)].log {
            self.log_event(log::EventKind::Deleted, b, s.remote4, s.rport, s.expires);
        }
        let bib = self.bib.get_mut(b);
        self.sessions.remove(i, bib);
        self.tenants[usize::from(tenant)].sessions -= 1;
        self.release_if_unused(b, pool);
        false
    }

    /// The session (b, remote) if it exists and has not expired at `now` (expiring it if it has).
    fn live_session(
        &mut self,
        b: u32,
        remote4: [u8; 4],
        rport: u16,
        now: u64,
        pool: &Pool4,
    ) -> Option<u32> {
        let i = self.sessions.find(b, remote4, rport)?;
        // An ESTABLISHED session gets TCP_TRANS on expiry, which may have run out too; anything else ends (and
        // may take its binding with it: callers look the binding up again).
        while self.sessions.get(i).expires <= now {
            if !self.expire(i, pool) {
                return None;
            }
        }
        Some(i)
    }

    fn apply(
        &mut self,
        i: u32,
        tenant: u16,
        proto: Proto,
        from: tcp::From,
        flags: tcp::Flags,
        now: u64,
    ) {
        let to = self.tenants[usize::from(tenant)].timeouts;
        let class = match proto {
            Proto::Udp => TimerClass::Udp,
            Proto::Icmp => TimerClass::Icmp,
            Proto::Tcp => {
                let s = self.sessions.get_mut(i);
                let (state, life) = tcp::step(s.state, from, flags);
                s.state = state;
                match life {
                    Lifetime::Established => TimerClass::TcpEstablished,
                    Lifetime::Transitory => TimerClass::TcpTransitory,
                    Lifetime::Unchanged => return,
                }
            }
        };
        let required = now + to[class as usize];
        let s = self.sessions.get(i);
        if s.class == class && required <= s.expires {
            return; // the lifetime already covers it: nothing to move (see REFRESH_STEP)
        }
        self.sessions
            .refresh(i, tenant, class, required + REFRESH_STEP);
    }

    /// RFC 6146 §3.5.1.1, §3.5.2.2, §3.5.3 for a packet from IPv6 (`addr6`, `port6`) to IPv4 (`remote4`,
    /// `rport`): finds or creates the binding (endpoint-independent mapping) and the session, runs the TCP
    /// machine, refreshes the lifetime. Returns the binding's IPv4 transport address.
    #[allow(clippy::too_many_arguments)]
    pub fn from_v6(
        &mut self,
        t: &Tenant,
        c: &Nat64Config,
        proto: Proto,
        addr6: &[u8; 16],
        port6: u16,
        remote4: [u8; 4],
        rport: u16,
        flags: tcp::Flags,
        now: u64,
        rng: u32,
    ) -> Result<([u8; 4], u16), Refusal> {
        use crate::stats::DropReason as R;
        let tenant = t.index;
        let rport = if proto == Proto::Icmp { 0 } else { rport };
        let tcp_non_syn = proto == Proto::Tcp && !flags.syn;
        let b = match self.bib.find6(tenant, proto, addr6, port6) {
            Some(b) => b,
            None => {
                if tcp_non_syn {
                    return Err(Refusal::Drop(R::Nat64TcpNoSession));
                }
                self.check_room(tenant)?;
                let ports = self.tenants[usize::from(tenant)]
                    .ports
                    .as_mut()
                    .ok_or(Refusal::Drop(R::NoTenant))?;
                let (ai, port4) = ports[proto as usize].allocate(proto, addr6, port6, rng)?;
                let e = BibEntry::new(tenant, proto, *addr6, port6, c.pool4.addr(ai), port4);
                match self.bib.insert(e) {
                    Some(b) => b,
                    None => {
                        ports[proto as usize].release(proto, ai, port4);
                        return Err(Refusal::Exhausted(R::Nat64TableFull));
                    }
                }
            }
        };
        let (addr4, port4) = (self.bib.get(b).addr4, self.bib.get(b).port4);
        if let Some(i) = self.live_session(b, remote4, rport, now, &c.pool4) {
            self.apply(i, tenant, proto, tcp::From::V6, flags, now);
            return Ok((addr4, port4));
        }
        // live_session may have removed an unused binding: look again.
        let b = match self.bib.find6(tenant, proto, addr6, port6) {
            Some(b) => b,
            None => {
                return self.from_v6(t, c, proto, addr6, port6, remote4, rport, flags, now, rng)
            }
        };
        let refuse = |st: &mut Self, r: Refusal| {
            st.release_if_unused(b, &c.pool4);
            Err(r)
        };
        if tcp_non_syn {
            return refuse(self, Refusal::Drop(R::Nat64TcpNoSession));
        }
        if let Err(r) = self.check_room(tenant) {
            return refuse(self, r);
        }
        let (state, class) = match proto {
            Proto::Udp => (TcpState::Closed, TimerClass::Udp),
            Proto::Icmp => (TcpState::Closed, TimerClass::Icmp),
            // V4 INIT (a held SYN) + V6 SYN → ESTABLISHED; else CLOSED + V6 SYN → V6 INIT.
            Proto::Tcp if self.held.claim(tenant, addr4, port4, remote4, rport) => {
                (TcpState::Established, TimerClass::TcpEstablished)
            }
            Proto::Tcp => (TcpState::V6Init, TimerClass::TcpTransitory),
        };
        let expires = now + c.timeout(class) + REFRESH_STEP;
        let bib = self.bib.get_mut(b);
        match self
            .sessions
            .insert(b, bib, remote4, rport, state, class, expires)
        {
            Some(_) => {
                self.tenants[usize::from(tenant)].sessions += 1;
                if self.tenants[usize::from(tenant)].log {
                    self.log_event(log::EventKind::Created, b, remote4, rport, now);
                }
                Ok((addr4, port4))
            }
            None => refuse(self, Refusal::Exhausted(R::Nat64TableFull)),
        }
    }

    /// RFC 6146 §3.5.1.2, §3.5.2.2, §3.5.3 for a packet from IPv4 (`remote4`, `rport`) to the pool4
    /// transport address (`addr4`, `port4`): the binding must exist; filtering (endpoint-independent, or
    /// address-dependent) decides whether a new session may be created. Returns the binding's IPv6 transport
    /// address.
    #[allow(clippy::too_many_arguments)]
    pub fn from_v4(
        &mut self,
        t: &Tenant,
        c: &Nat64Config,
        proto: Proto,
        addr4: [u8; 4],
        port4: u16,
        remote4: [u8; 4],
        rport: u16,
        flags: tcp::Flags,
        now: u64,
    ) -> Result<([u8; 16], u16), Refusal> {
        use crate::stats::DropReason as R;
        let tenant = t.index;
        let rport = if proto == Proto::Icmp { 0 } else { rport };
        let syn = proto == Proto::Tcp && flags.syn;
        let Some(b) = self.bib.find4(tenant, proto, addr4, port4) else {
            return Err(if syn {
                Refusal::Hold
            } else {
                Refusal::Drop(R::Nat64NoBinding)
            });
        };
        if let Some(i) = self.live_session(b, remote4, rport, now, &c.pool4) {
            let e = *self.bib.get(b);
            self.apply(i, tenant, proto, tcp::From::V4, flags, now);
            return Ok((e.addr6, e.port6));
        }
        let Some(b) = self.bib.find4(tenant, proto, addr4, port4) else {
            return Err(if syn {
                Refusal::Hold
            } else {
                Refusal::Drop(R::Nat64NoBinding)
            });
        };
        if c.address_dependent && !self.sessions.any_with_remote(self.bib.get(b), remote4, now) {
            return Err(if syn {
                Refusal::Hold
            } else {
                Refusal::Drop(R::Nat64Filtered)
            });
        }
        if proto == Proto::Tcp && !syn {
            return Err(Refusal::Drop(R::Nat64TcpNoSession));
        }
        if let Err(Refusal::Exhausted(r)) = self.check_room(tenant) {
            return Err(Refusal::Drop(r));
        }
        let (state, class) = match proto {
            Proto::Udp => (TcpState::Closed, TimerClass::Udp),
            Proto::Icmp => (TcpState::Closed, TimerClass::Icmp),
            // CLOSED + V4 SYN with a binding that lets it in → V4 INIT.
            Proto::Tcp => (TcpState::V4Init, TimerClass::TcpTransitory),
        };
        let expires = now + c.timeout(class) + REFRESH_STEP;
        let e = *self.bib.get(b);
        let bib = self.bib.get_mut(b);
        match self
            .sessions
            .insert(b, bib, remote4, rport, state, class, expires)
        {
            Some(_) => {
                self.tenants[usize::from(tenant)].sessions += 1;
                if self.tenants[usize::from(tenant)].log {
                    self.log_event(log::EventKind::Created, b, remote4, rport, now);
                }
                Ok((e.addr6, e.port6))
            }
            None => Err(Refusal::Drop(R::Nat64TableFull)),
        }
    }

    /// For ICMP errors (RFC 6146 §3.4: the session of the packet inside): the binding of an IPv4 transport
    /// address with a live session to (remote4, rport). No state changes besides lazy expiry.
    #[allow(clippy::too_many_arguments)]
    pub fn lookup_v4(
        &mut self,
        tenant: u16,
        c: &Nat64Config,
        proto: Proto,
        addr4: [u8; 4],
        port4: u16,
        remote4: [u8; 4],
        rport: u16,
        now: u64,
    ) -> Option<BibEntry> {
        let rport = if proto == Proto::Icmp { 0 } else { rport };
        let b = self.bib.find4(tenant, proto, addr4, port4)?;
        let e = *self.bib.get(b);
        self.live_session(b, remote4, rport, now, &c.pool4)?;
        Some(e)
    }

    /// The same from the IPv6 side.
    #[allow(clippy::too_many_arguments)]
    pub fn lookup_v6(
        &mut self,
        tenant: u16,
        c: &Nat64Config,
        proto: Proto,
        addr6: &[u8; 16],
        port6: u16,
        remote4: [u8; 4],
        rport: u16,
        now: u64,
    ) -> Option<BibEntry> {
        let rport = if proto == Proto::Icmp { 0 } else { rport };
        let b = self.bib.find6(tenant, proto, addr6, port6)?;
        let e = *self.bib.get(b);
        self.live_session(b, remote4, rport, now, &c.pool4)?;
        Some(e)
    }

    /// The timer pass of [`crate::pipeline::Pipeline::run_timers`]: expiries (at most `budget`), then held
    /// SYNs answered with ICMP Port Unreachable (built in `scratch`, sent through `emit`), then held
    /// fragments whose first fragment did not come in time (dropped: `nat64_fragment_expired`; no ICMP
    /// Time Exceeded, which RFC 792 / RFC 8200 §4.5 send only when the first fragment was received).
    pub fn run_timers(
        &mut self,
        snapshot: &Snapshot,
        stats: &mut Stats,
        scratch: &mut [u8],
        now: u64,
        budget: usize,
        emit: &mut dyn FnMut(Output<'_>),
    ) -> usize {
        let mut n = self.expire_until(snapshot, now, budget);
        while n < budget {
            let Some(h) = self.held.pop_expired(now) else {
                break;
            };
            n += 1;
            let Some(t) = snapshot.tenants().get(usize::from(h.tenant)) else {
                continue;
            };
            let dir = stats.counters_mut(Some(t.index), Direction::V4ToV6);
            let Some(mut frame) = Frame::copy_from(scratch, &h.data[..usize::from(h.len)]) else {
                continue;
            };
            let (ty, code) = translate::PORT_UNREACHABLE;
            let reason = DropReason::Nat64SynExpired;
            match originate::icmpv4_error(&mut frame, t, ty, code, [0; 4], reason) {
                Verdict::IcmpError(side, _) => {
                    emit(Output {
                        packet: frame.packet(),
                        side,
                        vlan: t.vlan,
                    });
                    dir.icmp_errors_sent += 1;
                }
                _ => dir.dropped[reason as usize] += 1,
            }
        }
        while n < budget {
            let Some((tenant, d)) = self.held_frags.pop_expired(now) else {
                break;
            };
            n += 1;
            // Counted as received again when it leaves the store (see DropReason::Nat64FragmentHeld).
            let dir = stats.counters_mut(Some(tenant), d);
            dir.received += 1;
            dir.dropped[DropReason::Nat64FragmentExpired as usize] += 1;
        }
        n
    }

    /// See [`crate::pipeline::Pipeline::drain_session_log`].
    pub fn drain_session_log(&mut self, snapshot: &Snapshot, line: &mut dyn FnMut(&str)) -> usize {
        let mut n = 0;
        let mut buf = String::with_capacity(256);
        self.log.drain(|e| {
            buf.clear();
            let name = snapshot
                .tenants()
                .get(usize::from(e.tenant))
                .map_or("", |t| t.name.as_str());
            e.write_json(name, &mut buf);
            line(&buf);
            n += 1;
        });
        n
    }

    /// Expires sessions whose lifetime ended by `now`, at most `budget` of them. Returns how many it handled.
    pub fn expire_until(&mut self, snapshot: &Snapshot, now: u64, budget: usize) -> usize {
        let mut n = 0;
        for k in 0..self.nat64_tenants.len() {
            let ti = self.nat64_tenants[k];
            let Some(c) = snapshot
                .tenants()
                .get(usize::from(ti))
                .and_then(|t| t.nat64.as_deref())
            else {
                continue;
            };
            for class in [
                TimerClass::Udp,
                TimerClass::TcpEstablished,
                TimerClass::TcpTransitory,
                TimerClass::Icmp,
            ] {
                while n < budget {
                    let Some(i) = self.sessions.expired_head(ti, class, now) else {
                        break;
                    };
                    self.expire(i, &c.pool4);
                    n += 1;
                }
            }
        }
        n
    }
}

#[cfg(test)]
pub(crate) mod tests;
