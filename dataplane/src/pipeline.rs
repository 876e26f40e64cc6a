//! One packet through classify ▶ translate ▶ emit. The same code serves the offline `translate` command, the
//! tests and the AF_XDP workers, which hand it a whole RX batch ([`Pipeline::process_batch`]).

use std::sync::Arc;

use crate::frame::Frame;
use crate::nat64::carry::{self, Carried, Fresh};
use crate::nat64::lookahead::Peek;
use crate::nat64::{self, Nat64Capacity, Nat64State};
use crate::stats::{Direction, DirectionStats, DropReason, Stats};
use crate::tables::{HairpinMode, Snapshot, Tenant};
use crate::xlat::{fragment, v4_to_v6, v6_to_v4, Side, Verdict};

mod batch;
pub use batch::{rng_value, RNG_STEP};
use batch::{Batch, Declined};

/// Frames [`Pipeline::process_batch`] looks ahead at a time (a worker's RX batch).
pub const LOOKAHEAD: usize = 64;

/// A packet the pipeline hands on: translated, a fragment of it, or an ICMP error back to the sender.
#[derive(Debug)]
pub struct Output<'a> {
    /// IPv4 or IPv6 packet, without a link-layer header.
    pub packet: &'a [u8],
    /// The side it leaves on.
    pub side: Side,
    /// 802.1Q tag to put on it (the tenant's VLAN, on the IPv4 side).
    pub vlan: Option<u16>,
}

/// What happened to one input packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// `None` when the packet was not IP at all.
    pub direction: Option<Direction>,
    /// Tenant index, once classified.
    pub tenant: Option<u16>,
    pub kind: OutcomeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Forwarded as `packets` packets (more than one: fragmented, or — stateful NAT64 — a first fragment
    /// followed by the later fragments of its datagram that had been held for it; two for a hairpinned
    /// packet is not a thing: a hairpinned packet is one packet that crossed the translator twice).
    Translated {
        packets: u16,
    },
    /// Not forwarded; the translator answered the sender with an ICMP error.
    IcmpError(DropReason),
    Dropped(DropReason),
    /// Stateful NAT64: another worker owns the packet; pass the frame to it (nothing was emitted).
    HandedOff {
        worker: u16,
    },
}

/// The packet path of one worker: the config snapshot it reads, its counters, its scratch space.
pub struct Pipeline {
    snapshot: Arc<Snapshot>,
    stats: Stats,
    /// Counter of the per-packet random values ([`rng_value`]): IPv4 identifications the translator
    /// generates, RFC 6791 choices, NAT64 port choices.
    rng: u32,
    /// Fragment assembly buffer, allocated once.
    scratch: Box<[u8]>,
    /// Stateful NAT64 state of this worker (`None` without NAT64 tenants).
    nat64: Option<Box<Nat64State>>,
    worker: u16,
    workers: u16,
    nat64_capacity: Nat64Capacity,
    /// The clock (ns), set by the caller ([`Pipeline::set_now`]).
    now: u64,
}

impl Pipeline {
    /// A single worker's pipeline (worker 0 of 1).
    pub fn new(snapshot: Arc<Snapshot>) -> Pipeline {
        Pipeline::new_worker(snapshot, 0, 1)
    }

    /// The pipeline of worker `worker` of `workers`: stateful NAT64 tenants use that worker's port slice and
    /// hand packets owned by another worker back with [`OutcomeKind::HandedOff`].
    pub fn new_worker(snapshot: Arc<Snapshot>, worker: u16, workers: u16) -> Pipeline {
        Pipeline::with_nat64_capacity(snapshot, worker, workers, Nat64Capacity::default())
    }

    /// [`Pipeline::new_worker`] with NAT64 tables of the given size.
    pub fn with_nat64_capacity(
        snapshot: Arc<Snapshot>,
        worker: u16,
        workers: u16,
        cap: Nat64Capacity,
    ) -> Pipeline {
        let workers = workers.max(1);
        assert!(worker < workers, "worker {worker} of {workers}");
        let nat64 = Nat64State::new(&snapshot, worker, workers, cap).map(Box::new);
        let stats = Stats::for_tenants(snapshot.tenants().len());
        Pipeline {
            snapshot,
            stats,
            rng: 0x2545_f491 ^ (u32::from(worker) << 16),
            scratch: vec![0; fragment::MAX_PACKET].into_boxed_slice(),
            nat64,
            worker,
            workers,
            nat64_capacity: cap,
            now: 0,
        }
    }

    /// The size of this worker's NAT64 tables.
    pub fn nat64_capacity(&self) -> Nat64Capacity {
        self.nat64_capacity
    }

    /// This worker's NAT64 state, if the configuration has NAT64 tenants.
    pub fn nat64(&self) -> Option<&Nat64State> {
        self.nat64.as_deref()
    }

    /// The same, writable (tests, benchmarks: e.g. [`Nat64State::lookahead_min_sessions`]).
    pub fn nat64_mut(&mut self) -> Option<&mut Nat64State> {
        self.nat64.as_deref_mut()
    }

    /// Sets the clock (ns, never going backwards): once per batch on the live path, from packet timestamps
    /// offline.
    pub fn set_now(&mut self, now_ns: u64) {
        self.now = self.now.max(now_ns);
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    /// Runs NAT64 timers at the current time, handling at most `budget` expiries: sessions end (or TCP
    /// ESTABLISHED ones turn TRANS), and held IPv4 SYNs nobody claimed are answered with ICMP Port
    /// Unreachable through `emit`. Returns the number of expiries handled.
    pub fn run_timers(&mut self, budget: usize, emit: &mut dyn FnMut(Output<'_>)) -> usize {
        let Pipeline {
            snapshot,
            stats,
            scratch,
            nat64,
            now,
            ..
        } = self;
        match nat64.as_deref_mut() {
            Some(st) => st.run_timers(snapshot, stats, scratch, *now, budget, emit),
            None => 0,
        }
    }

    /// Writes the pending NAT64 session events (tenants with `log_sessions`) as JSON lines (each without its
    /// newline) to `line`, oldest first. Returns how many; events lost to a full buffer are counted in
    /// [`crate::nat64::log::SessionLog::dropped`].
    pub fn drain_session_log(&mut self, line: &mut dyn FnMut(&str)) -> usize {
        match self.nat64.as_deref_mut() {
            Some(st) => st.drain_session_log(&self.snapshot, line),
            None => 0,
        }
    }

    /// Advances the clock to `now_ns` and runs every timer due by then (offline: `--run-timers-until`).
    pub fn run_timers_until(&mut self, now_ns: u64, emit: &mut dyn FnMut(Output<'_>)) -> usize {
        self.set_now(now_ns);
        let mut total = 0;
        loop {
            let n = self.run_timers(4096, emit);
            total += n;
            if n < 4096 {
                return total;
            }
        }
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Swaps in a new configuration (between batches). NAT64 state is kept as it is when no tenant's NAT64
    /// settings (or index) changed; otherwise every binding and session the new configuration still allows is
    /// carried into fresh tables and the others end ([`nat64::carry`]).
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Carried {
        self.set_snapshot_with(snapshot, None)
    }

    /// [`Pipeline::set_snapshot`] with the new NAT64 tables built ahead by another thread
    /// ([`carry::Fresh::build`] with this pipeline's worker, worker count and [`Pipeline::nat64_capacity`]).
    pub fn set_snapshot_with(&mut self, snapshot: Arc<Snapshot>, fresh: Option<Fresh>) -> Carried {
        let carried = if carry::same_nat64(&self.snapshot, &snapshot) {
            Carried {
                unchanged: true,
                ..Carried::default()
            }
        } else {
            // Fragments held for their first fragment are not carried (their datagram records start afresh):
            // counted as expired, under the tenant indices the counters still have.
            let mut fragments = 0;
            if let Some(st) = self.nat64.as_deref_mut() {
                while let Some((tenant, d)) = st.held_frags.pop_expired(u64::MAX) {
                    let dir = self.stats.counters_mut(Some(tenant), d);
                    dir.received += 1;
                    dir.dropped[DropReason::Nat64FragmentExpired as usize] += 1;
                    fragments += 1;
                }
            }
            let (state, mut carried) = carry::carry(
                self.nat64.take(),
                fresh,
                &self.snapshot,
                &snapshot,
                self.worker,
                self.workers,
                self.nat64_capacity,
                self.now,
            );
            self.nat64 = state;
            carried.fragments_dropped = fragments;
            carried
        };
        // Counters follow their tenant by name (indices may shift when tenants are added or removed).
        let old = &self.snapshot;
        self.stats.remap(snapshot.tenants().len(), |t| {
            let name = &old.tenants().get(usize::from(t))?.name;
            snapshot
                .tenants()
                .iter()
                .find(|n| &n.name == name)
                .map(|n| n.index)
        });
        self.snapshot = snapshot;
        carried
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The next per-packet random value ([`rng_value`] of the advanced counter). The batch path steps the
    /// same counter in a register ([`Pipeline::process_batch`]), so both draw the same sequence.
    #[inline]
    fn next_rng(&mut self) -> u32 {
        self.rng = self.rng.wrapping_add(RNG_STEP);
        rng_value(self.rng)
    }

    /// Translates a batch of frames (a worker's RX batch) as [`Pipeline::process`] would one after the other
    /// (same outcomes, same packets, same counters, same random values): `outcomes[k]` is frame `k`'s
    /// outcome and `emit` gets `(k, packet)` for every packet frame `k` produced, in frame order.
    ///
    /// What can be done per batch is: the random-value counter is read once and written back once, each
    /// side's tenant classification is remembered for the next frame with the same key (IPv6 destination;
    /// IPv4 ingress, VLAN and destination), and forwarded packets are counted in a local run per tenant and
    /// direction, added to [`Stats`] when the run ends. A frame goes through the translator's fast path
    /// (stateless tenant, plain UDP/TCP/ICMP echo, nothing the fast path declines) inside the loop; every
    /// other frame takes the whole of [`Pipeline::process`]'s path, with the random value it would have had.
    ///
    /// With stateful NAT64 tenants, every [`LOOKAHEAD`] frames are first looked ahead at (their BIB and
    /// session entries prefetched, nothing changed) once the worker has
    /// [`Nat64State::lookahead_min_sessions`] sessions: with tables larger than the caches, that pays.
    ///
    /// # Panics
    /// If `outcomes` is shorter than `frames`.
    pub fn process_batch<F>(
        &mut self,
        frames: &mut [Frame<'_>],
        outcomes: &mut [Outcome],
        emit: &mut F,
    ) where
        F: FnMut(usize, Output<'_>) + ?Sized,
    {
        assert!(outcomes.len() >= frames.len(), "one outcome per frame");
        // The tenants the classification cache and the counter run point to live in this snapshot: one
        // reference count per batch (not per packet) keeps them apart from the `&mut self` of the slow path.
        let snap = Arc::clone(&self.snapshot);
        let mut b = Batch::new(&snap, self.rng);
        let mut base = 0;
        for chunk in frames.chunks_mut(LOOKAHEAD) {
            self.lookahead(chunk);
            let outs = &mut outcomes[base..base + chunk.len()];
            for (i, (frame, out)) in chunk.iter_mut().zip(outs).enumerate() {
                let k = base + i;
                let counter = b.step_rng();
                *out = match b.fast(&mut self.stats, frame, counter) {
                    Ok((t, direction, side)) => {
                        emit(
                            k,
                            Output {
                                packet: frame.packet(),
                                side,
                                vlan: vlan_for(Some(t), side),
                            },
                        );
                        Outcome {
                            direction: Some(direction),
                            tenant: Some(t.index),
                            kind: OutcomeKind::Translated { packets: 1 },
                        }
                    }
                    Err(Declined::Untried) => {
                        self.process_slow::<_, true>(frame, rng_value(counter), &mut |o| emit(k, o))
                    }
                    Err(Declined::Tried) => {
                        self.process_slow::<_, false>(frame, rng_value(counter), &mut |o| {
                            emit(k, o)
                        })
                    }
                    Err(Declined::Hairpin(t)) => {
                        self.hairpin_slow(frame, t, rng_value(counter), &mut |o| emit(k, o))
                    }
                };
            }
            base += chunk.len();
        }
        b.flush(&mut self.stats);
        self.rng = b.rng;
    }

    /// Stateful NAT64: prefetches the bindings and sessions `frames` will look up
    /// ([`nat64::lookahead`]), so that their cache misses overlap. Reads only.
    fn lookahead(&self, frames: &[Frame<'_>]) {
        let Some(st) = self.nat64.as_deref() else {
            return;
        };
        if frames.len() < 2 || st.sessions.len() < st.lookahead_min_sessions {
            return;
        }
        let mut peeks = [Peek::NONE; LOOKAHEAD];
        for (p, f) in peeks.iter_mut().zip(frames) {
            let pkt = f.packet();
            *p = match pkt.first().map(|b| b >> 4) {
                Some(6) => match classify_v6(&self.snapshot, pkt) {
                    Ok(t) if t.nat64.is_some() => Peek::v6(t, pkt),
                    _ => Peek::NONE,
                },
                Some(4) => match classify_v4(&self.snapshot, f) {
                    Ok(t) if t.nat64.is_some() => Peek::v4(t, pkt),
                    _ => Peek::NONE,
                },
                _ => Peek::NONE,
            };
        }
        st.lookahead(&mut peeks[..frames.len()]);
    }

    /// Translates the network-layer packet in `frame` (its `meta` set from the link layer) and hands every
    /// resulting packet to `emit`, in order.
    ///
    /// `emit` is generic (a `&mut dyn FnMut` works too) so that a worker's closure is inlined rather than
    /// called through a vtable for every packet. The common outcome, one packet forwarded, stays inline;
    /// fragments, ICMP errors, drops and non-IP frames go out of line ([`Pipeline::finish_slow`]).
    pub fn process<F>(&mut self, frame: &mut Frame<'_>, emit: &mut F) -> Outcome
    where
        F: FnMut(Output<'_>) + ?Sized,
    {
        let rng = self.next_rng();
        self.process_with::<F, true>(frame, rng, emit)
    }

    /// [`Pipeline::process_with`] out of line, for the frames the batch loop does not forward itself. With
    /// `FAST` false (the loop tried the fast path and it declined) straight to the translators' general
    /// paths, which give what the fast paths would (the property tests `fast_path_matches_general_path`
    /// hold them to it), instead of through the fast paths a second time.
    #[inline(never)]
    fn process_slow<F, const FAST: bool>(
        &mut self,
        frame: &mut Frame<'_>,
        rng: u32,
        emit: &mut F,
    ) -> Outcome
    where
        F: FnMut(Output<'_>) + ?Sized,
    {
        self.process_with::<F, FAST>(frame, rng, emit)
    }

    /// The batch loop translated an IPv6 packet of tenant `t` to IPv4 and it is to be hairpinned: the
    /// second pass and the accounting, as [`Pipeline::process`] does them.
    #[inline(never)]
    fn hairpin_slow<F>(
        &mut self,
        frame: &mut Frame<'_>,
        t: &Tenant,
        rng: u32,
        emit: &mut F,
    ) -> Outcome
    where
        F: FnMut(Output<'_>) + ?Sized,
    {
        let v = hairpin(frame, t, rng).unwrap_or(Verdict::Forward(Side::V4));
        Self::finish_slow(
            &mut self.stats,
            &mut self.scratch,
            frame,
            emit,
            Direction::V6ToV4,
            Some(t),
            v,
        )
    }

    /// [`Pipeline::process`] with the packet's random value drawn by the caller; `FAST`: the stateless
    /// translators try their fast paths first.
    #[inline(always)]
    fn process_with<F, const FAST: bool>(
        &mut self,
        frame: &mut Frame<'_>,
        rng: u32,
        emit: &mut F,
    ) -> Outcome
    where
        F: FnMut(Output<'_>) + ?Sized,
    {
        let snapshot: &Snapshot = &self.snapshot;
        let (direction, tenant, verdict) = match frame.packet().first().map(|b| b >> 4) {
            Some(6) => {
                let d = Direction::V6ToV4;
                match classify_v6(snapshot, frame.packet()) {
                    Err(r) => (d, None, Verdict::Drop(r)),
                    Ok(t) if t.nat64.is_some() => {
                        let v =
                            nat64_translate(d, self.nat64.as_deref_mut(), frame, t, self.now, rng);
                        if let Some(st) = self
                            .nat64
                            .as_deref_mut()
                            .filter(|s| s.held_frags.is_pending())
                        {
                            let (stats, scratch) = (&mut self.stats, &mut self.scratch);
                            return Self::finish_with_held(
                                stats, scratch, st, frame, emit, d, t, v, self.now,
                            );
                        }
                        (d, Some(t), v)
                    }
                    Ok(t) => {
                        let mut v = if FAST {
                            v6_to_v4::translate(frame, t, rng)
                        } else {
                            v6_to_v4::translate_general(frame, t, rng)
                        };
                        // Only a tenant with EAM entries and hairpinning on can hairpin: skip the call
                        // for the others.
                        if v == Verdict::Forward(Side::V4) && t.may_hairpin() {
                            v = hairpin(frame, t, rng).unwrap_or(v);
                        }
                        (d, Some(t), v)
                    }
                }
            }
            Some(4) => {
                let d = Direction::V4ToV6;
                match classify_v4(snapshot, frame) {
                    Err(r) => (d, None, Verdict::Drop(r)),
                    Ok(t) if t.nat64.is_some() => {
                        let v =
                            nat64_translate(d, self.nat64.as_deref_mut(), frame, t, self.now, rng);
                        if let Some(st) = self
                            .nat64
                            .as_deref_mut()
                            .filter(|s| s.held_frags.is_pending())
                        {
                            let (stats, scratch) = (&mut self.stats, &mut self.scratch);
                            return Self::finish_with_held(
                                stats, scratch, st, frame, emit, d, t, v, self.now,
                            );
                        }
                        (d, Some(t), v)
                    }
                    Ok(t) => {
                        let v = if FAST {
                            v4_to_v6::translate(frame, t, rng)
                        } else {
                            v4_to_v6::translate_general(frame, t, rng)
                        };
                        (d, Some(t), v)
                    }
                }
            }
            _ => return not_ip(&mut self.stats, frame),
        };
        let Verdict::Forward(side) = verdict else {
            return Self::finish_slow(
                &mut self.stats,
                &mut self.scratch,
                frame,
                emit,
                direction,
                tenant,
                verdict,
            );
        };
        emit(Output {
            packet: frame.packet(),
            side,
            vlan: vlan_for(tenant, side),
        });
        let st: &mut DirectionStats = self.stats.counters_mut(tenant.map(|t| t.index), direction);
        st.received += 1;
        st.translated += 1;
        Outcome {
            direction: Some(direction),
            tenant: tenant.map(|t| t.index),
            kind: OutcomeKind::Translated { packets: 1 },
        }
    }

    /// Stateful NAT64: a first fragment whose datagram has later fragments held (they arrived before it,
    /// `nat64::frag_store`). The first fragment goes out as usual; then, if it was translated, the held
    /// fragments are translated and emitted right after it, oldest first, each counted as received and
    /// translated (or dropped), and the outcome counts their packets too. If it was handed off, they are
    /// dropped (`nat64_fragment_owner_elsewhere`); otherwise they stay held.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn finish_with_held<F>(
        stats: &mut Stats,
        scratch: &mut [u8],
        st: &mut Nat64State,
        frame: &mut Frame<'_>,
        emit: &mut F,
        direction: Direction,
        t: &Tenant,
        verdict: Verdict,
        now: u64,
    ) -> Outcome
    where
        F: FnMut(Output<'_>) + ?Sized,
    {
        let key = st.held_frags.take_pending();
        let mut outcome =
            Self::finish_slow(stats, scratch, frame, emit, direction, Some(t), verdict);
        let (Some(key), Some(c)) = (key, t.nat64.as_deref()) else {
            return outcome;
        };
        match outcome.kind {
            OutcomeKind::Translated { packets } => {
                let mut n = packets;
                nat64::translate::release_held(t, c, st, &key, now, &mut |f, v| {
                    let o = Self::finish_slow(stats, scratch, f, emit, direction, Some(t), v);
                    if let OutcomeKind::Translated { packets } = o.kind {
                        n = n.saturating_add(packets);
                    }
                });
                outcome.kind = OutcomeKind::Translated { packets: n };
            }
            OutcomeKind::HandedOff { .. } => {
                nat64::translate::release_held(t, c, st, &key, now, &mut |f, v| {
                    Self::finish_slow(stats, scratch, f, emit, direction, Some(t), v);
                });
            }
            _ => {}
        }
        outcome
    }

    /// Every verdict but [`Verdict::Forward`]: counted, emitted (fragments, ICMP errors) or dropped.
    #[cold]
    #[inline(never)]
    fn finish_slow<F>(
        stats: &mut Stats,
        scratch: &mut [u8],
        frame: &mut Frame<'_>,
        emit: &mut F,
        direction: Direction,
        tenant: Option<&Tenant>,
        verdict: Verdict,
    ) -> Outcome
    where
        F: FnMut(Output<'_>) + ?Sized,
    {
        let st: &mut DirectionStats = stats.counters_mut(tenant.map(|t| t.index), direction);
        if !matches!(verdict, Verdict::HandOff(_)) {
            st.received += 1;
        }
        let kind = match verdict {
            Verdict::HandOff(worker) => {
                st.handed_off += 1;
                OutcomeKind::HandedOff { worker }
            }
            Verdict::Forward(side) => {
                emit(Output {
                    packet: frame.packet(),
                    side,
                    vlan: vlan_for(tenant, side),
                });
                st.translated += 1;
                OutcomeKind::Translated { packets: 1 }
            }
            Verdict::Fragment { mtu } => {
                let side = if frame.packet()[0] >> 4 == 6 {
                    Side::V6
                } else {
                    Side::V4
                };
                let vlan = vlan_for(tenant, side);
                let mut sink = |p: &[u8]| {
                    emit(Output {
                        packet: p,
                        side,
                        vlan,
                    })
                };
                let n = match side {
                    Side::V6 => fragment::split_v6(frame.packet(), mtu, scratch, &mut sink),
                    Side::V4 => fragment::split_v4(frame.packet(), mtu, scratch, &mut sink),
                };
                if n == 0 {
                    st.dropped[DropReason::PacketTooBig as usize] += 1;
                    OutcomeKind::Dropped(DropReason::PacketTooBig)
                } else {
                    st.translated += 1;
                    st.fragments_created += n as u64 - 1;
                    OutcomeKind::Translated { packets: n as u16 }
                }
            }
            Verdict::IcmpError(side, reason) => {
                emit(Output {
                    packet: frame.packet(),
                    side,
                    vlan: vlan_for(tenant, side),
                });
                st.icmp_errors_sent += 1;
                st.dropped[reason as usize] += 1;
                OutcomeKind::IcmpError(reason)
            }
            Verdict::Drop(reason) => {
                st.dropped[reason as usize] += 1;
                OutcomeKind::Dropped(reason)
            }
        };
        Outcome {
            direction: Some(direction),
            tenant: tenant.map(|t| t.index),
            kind,
        }
    }
}

/// A stateful NAT64 tenant's packet (RFC 6146), out of line so that the stateless fast path inlined into
/// [`Pipeline::process`] stays small. Without the worker's NAT64 state, no tenant takes it.
#[inline(never)]
fn nat64_translate(
    direction: Direction,
    state: Option<&mut Nat64State>,
    frame: &mut Frame,
    t: &Tenant,
    now: u64,
    rng: u32,
) -> Verdict {
    match (t.nat64.as_deref(), state, direction) {
        (Some(c), Some(st), Direction::V6ToV4) => {
            nat64::translate::v6_to_v4(frame, t, c, st, now, rng)
        }
        (Some(c), Some(st), Direction::V4ToV6) => {
            nat64::translate::v4_to_v6(frame, t, c, st, now, rng)
        }
        _ => Verdict::Drop(DropReason::NoTenant),
    }
}

/// The 802.1Q tag a packet leaving on `side` gets: the tenant's VLAN on the IPv4 side.
#[inline]
fn vlan_for(tenant: Option<&Tenant>, side: Side) -> Option<u16> {
    if side == Side::V4 {
        tenant.and_then(|t| t.vlan)
    } else {
        None
    }
}

/// Neither IPv4 nor IPv6 (or empty).
#[cold]
#[inline(never)]
fn not_ip(stats: &mut Stats, frame: &Frame) -> Outcome {
    let reason = if frame.is_empty() {
        DropReason::Truncated
    } else {
        DropReason::NotIp
    };
    stats.unclassified.received += 1;
    stats.unclassified.dropped[reason as usize] += 1;
    Outcome {
        direction: None,
        tenant: None,
        kind: OutcomeKind::Dropped(reason),
    }
}

#[inline(always)]
fn classify_v6<'s>(snapshot: &'s Snapshot, pkt: &[u8]) -> Result<&'s Tenant, DropReason> {
    let dst: &[u8; 16] = pkt
        .get(24..40)
        .and_then(|d| d.try_into().ok())
        .ok_or(DropReason::Truncated)?;
    snapshot.classify_v6(dst).ok_or(DropReason::NoTenant)
}

#[inline(always)]
fn classify_v4<'s>(snapshot: &'s Snapshot, frame: &Frame) -> Result<&'s Tenant, DropReason> {
    let dst: [u8; 4] = frame
        .packet()
        .get(16..20)
        .and_then(|d| d.try_into().ok())
        .ok_or(DropReason::Truncated)?;
    snapshot
        .classify_v4(frame.meta, dst)
        .ok_or(DropReason::NoTenant)
}

/// RFC 7757 §4 (EAM hairpinning): an IPv6 packet whose IPv4 destination is itself an EAM address of this
/// tenant goes straight back to the IPv6 side instead of out to IPv4. Returns the new verdict, or `None` when
/// the packet is not hairpinned.
#[inline(never)]
fn hairpin(frame: &mut Frame, t: &Tenant, rng: u32) -> Option<Verdict> {
    let router_hop = match t.opts.eam_hairpin_mode {
        HairpinMode::Off => return None,
        HairpinMode::Simple => true,
        HairpinMode::Intrinsic => false,
    };
    let dst: [u8; 4] = frame.packet().get(16..20)?.try_into().ok()?;
    if !t.eam_covers_v4(dst) {
        return None;
    }
    match v4_to_v6::translate_hairpin(frame, t, rng, router_hop) {
        // An error from the second pass would be an ICMPv4 error addressed to the IPv6 sender's IPv4 form;
        // rather than translate it a third time, the packet is dropped (counted under the same reason).
        Verdict::IcmpError(_, reason) => Some(Verdict::Drop(reason)),
        v => Some(v),
    }
}
