//! One worker per queue, pinned to a core: receive a batch from every interface's socket on its queue, run
//! the batch through [`Pipeline::process_batch`], write the egress Ethernet header in front of each output
//! inside its UMEM chunk, and transmit the batch with one kick per socket.
//!
//! The translated packet (or the ICMP error built around it) stays in the chunk it arrived in. Other outputs
//! (fragments, ICMP errors from the NAT64 timers) are copied into a free chunk from the worker's free list;
//! none free is a counted drop.
//!
//! # Hand-off (stateful NAT64 with several workers)
//!
//! The owner of a NAT64 packet is a pure function of its tuple (`docs/nat64.md`); the pipeline of a worker
//! that does not own a packet returns [`OutcomeKind::HandedOff`] without emitting anything. The worker keeps
//! the frame until the end of its batch, then copies the packet into the bounded [`HandoffHub`] ring of the
//! pair (this worker → owner) and frees its chunk. Each worker has its own UMEM, so the packet must be
//! copied once anyway: the ring's slots ([`HandoffPacket`], allocated once when the ring is built) are the
//! preallocated pool, and nothing is allocated per packet. At the start of each batch the owner drains its
//! incoming rings (at most one batch per ring), copies each packet into a free chunk of its own UMEM and
//! processes it as if it had received it. A full ring is a counted drop (`handoff_ring_full`). An owner
//! sleeping in poll() is woken through its eventfd.

use std::fmt;

use hdrhistogram::Histogram;
use std::net::IpAddr;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use crate::frame::{Frame, RxMeta, FRAME_SIZE};
use crate::io::afxdp::{chunk_of, RxDesc, XdpStats, XskPort, XDP_HEADROOM};
use crate::l2::{L2Error, Resolver};
use crate::nat64::carry::Fresh;
use crate::pipeline::{Outcome, OutcomeKind, Output, Pipeline};
use crate::report::{ReportHub, Reporter, REPORT_POLL_MS};
use crate::stats::{Direction, DropReason, Stats};
use crate::tables::Snapshot;
use crate::wire::ethernet::{parse_l2, write_l2, EtherType};
use crate::xlat::Side;

/// Signals from the main thread (written there, read by workers between batches; Relaxed is enough for
/// `stop` and `dump`: each is a standalone flag or counter, no data is published through them), and the
/// configuration snapshot the workers run ([`Control::publish`]).
#[derive(Debug, Default)]
pub struct Control {
    /// Finish the current batch, let TX drain, exit.
    pub stop: AtomicBool,
    /// Incremented to ask every worker to print its counters.
    pub dump: AtomicU64,
    /// Where workers publish their counters and answer session queries (`None`: no reports). Set before the
    /// workers start.
    pub reports: Option<Arc<ReportHub>>,
    /// Configuration epoch: bumped by [`Control::publish`] once `next` holds the new snapshot. Workers load it
    /// once per batch and take the mutex only when it moved.
    epoch: AtomicU64,
    /// The snapshot of the latest epoch (with that epoch).
    next: Mutex<Option<(u64, Arc<Snapshot>)>>,
    /// Per worker, the epoch it runs ([`Control::ack`]).
    running: Box<[AtomicU64]>,
    /// Per worker, its NAT64 tables for the latest snapshot, built ahead ([`Control::publish_with`]).
    fresh: Box<[Mutex<Option<Fresh>>]>,
}

impl Control {
    /// Signals for `workers` workers, all running epoch 0 (the snapshot they were built with).
    pub fn new(workers: usize) -> Control {
        Control {
            running: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            fresh: (0..workers).map(|_| Mutex::new(None)).collect(),
            ..Control::default()
        }
    }

    /// The same, with workers publishing their counters and answering session queries to `reports`.
    pub fn with_reports(mut self, reports: Arc<ReportHub>) -> Control {
        self.reports = Some(reports);
        self
    }

    /// Hands `snapshot` to the workers; returns its epoch (see [`Control::wait_switched`]).
    pub fn publish(&self, snapshot: Arc<Snapshot>) -> u64 {
        self.publish_with(snapshot, Vec::new())
    }

    /// The same with each worker's new NAT64 tables built ahead (`fresh[q]` for worker q; workers without one
    /// build their own).
    pub fn publish_with(&self, snapshot: Arc<Snapshot>, fresh: Vec<Fresh>) -> u64 {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        for (slot, f) in self.fresh.iter().zip(fresh) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
        }
        let e = self.epoch.load(Ordering::Relaxed) + 1;
        *next = Some((e, snapshot));
        // Release, inside the lock: a worker that sees `e` finds the snapshot of `e` (or a later one) in `next`.
        self.epoch.store(e, Ordering::Release);
        e
    }

    /// The latest epoch (one load per batch on the workers' fast path).
    #[inline]
    pub fn epoch(&self) -> u64 {
        // Acquire pairs with publish's Release (the mutex in `latest` orders the snapshot itself anyway).
        self.epoch.load(Ordering::Acquire)
    }

    /// The latest snapshot and its epoch (`None` before the first publish).
    pub fn latest(&self) -> Option<(u64, Arc<Snapshot>)> {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Worker `worker`'s tables built ahead for the latest snapshot, if any (taken: the slot is left empty).
    pub fn take_fresh(&self, worker: usize) -> Option<Fresh> {
        self.fresh
            .get(worker)?
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Worker `worker` runs `epoch` from now on.
    pub fn ack(&self, worker: usize, epoch: u64) {
        if let Some(r) = self.running.get(worker) {
            // Release: everything the worker did under the old snapshot happens before the main thread, seeing
            // the ack, removes what only the old snapshot needed (XDP map entries).
            r.store(epoch, Ordering::Release);
        }
    }

    /// Waits until every worker runs `epoch` or a later one. On timeout, the workers still behind.
    pub fn wait_switched(&self, epoch: u64, timeout: Duration) -> Result<(), Vec<usize>> {
        let deadline = Instant::now() + timeout;
        loop {
            let behind: Vec<usize> = (0..self.running.len())
                .filter(|&q| self.running[q].load(Ordering::Acquire) < epoch)
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(behind);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Largest packet a hand-off slot holds: what fits in a chunk behind the kernel's headroom (a received frame
/// never exceeds it, and translating IPv6→IPv4 only shrinks it).
pub const HANDOFF_MAX: usize = FRAME_SIZE - XDP_HEADROOM;

/// A hand-off slot: one network-layer packet and where it came in.
pub struct HandoffPacket {
    len: u16,
    /// Hand-offs this packet has taken (a hairpinned packet takes at most two: one per translation pass).
    hops: u8,
    meta: RxMeta,
    data: [u8; HANDOFF_MAX],
}

/// How a sleeping worker is woken when packets are handed to it.
struct Waker {
    /// eventfd, part of the worker's poll() set.
    fd: i32,
    /// True while the worker is (about to be) in poll().
    sleeping: AtomicBool,
}

/// The hand-off rings between `workers` workers: one bounded single-producer single-consumer ring per ordered
/// pair (used as such; `ArrayQueue` is MPMC), plus one waker per worker.
pub struct HandoffHub {
    workers: usize,
    /// `rings[from * workers + to]` (empty for from == to).
    rings: Vec<ArrayQueue<HandoffPacket>>,
    wakers: Vec<Waker>,
}

impl fmt::Debug for HandoffHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandoffHub")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl HandoffHub {
    /// Rings of `capacity` slots between every ordered pair of `workers` workers.
    pub fn new(workers: u16, capacity: usize) -> std::io::Result<HandoffHub> {
        let n = usize::from(workers.max(1));
        let mut wakers = Vec::with_capacity(n);
        for _ in 0..n {
            // SAFETY: plain syscall; the fd is checked and closed in Drop.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            wakers.push(Waker {
                fd,
                sleeping: AtomicBool::new(false),
            });
        }
        let rings = (0..n * n)
            .map(|k| ArrayQueue::new(if k / n == k % n { 1 } else { capacity.max(1) }))
            .collect();
        Ok(HandoffHub {
            workers: n,
            rings,
            wakers,
        })
    }

    fn ring(&self, from: usize, to: usize) -> &ArrayQueue<HandoffPacket> {
        &self.rings[from * self.workers + to]
    }

    /// True if some other worker has packets waiting for `to`.
    fn has_incoming(&self, to: usize) -> bool {
        (0..self.workers).any(|from| from != to && !self.ring(from, to).is_empty())
    }

    /// Wakes `to` if it sleeps. Called after pushing to its ring.
    fn wake(&self, to: usize) {
        let w = &self.wakers[to];
        // SeqCst fence between our push and our read of `sleeping`, matching the one between the owner's
        // store of `sleeping` and its check of the rings (`prepare_sleep`): at least one of us sees the other.
        fence(Ordering::SeqCst);
        if w.sleeping.load(Ordering::Relaxed) {
            let one: u64 = 1;
            // SAFETY: 8-byte write to our eventfd; EAGAIN (counter saturated) means it is signalled already.
            unsafe { libc::write(w.fd, (&one as *const u64).cast(), 8) };
        }
    }

    /// Marks `me` as going to sleep; returns false (and unmarks) if packets already wait for it.
    fn prepare_sleep(&self, me: usize) -> bool {
        self.wakers[me].sleeping.store(true, Ordering::Relaxed);
        // See `wake`.
        fence(Ordering::SeqCst);
        if self.has_incoming(me) {
            self.wakers[me].sleeping.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// After poll(): unmarks `me` and clears its eventfd.
    fn woke(&self, me: usize) {
        let w = &self.wakers[me];
        w.sleeping.store(false, Ordering::Relaxed);
        let mut v: u64 = 0;
        // SAFETY: 8-byte non-blocking read from our eventfd (EAGAIN when it was not signalled).
        unsafe { libc::read(w.fd, (&mut v as *mut u64).cast(), 8) };
    }
}

impl Drop for HandoffHub {
    fn drop(&mut self) {
        for w in &self.wakers {
            // SAFETY: our eventfd, closed once.
            unsafe { libc::close(w.fd) };
        }
    }
}

/// Where one side's packets leave: a socket of the worker's port and the interface's addresses.
#[derive(Debug, Clone, Copy)]
pub struct Egress {
    /// Index of the socket in the worker's [`XskPort`].
    pub sock: usize,
    pub ifindex: u32,
    pub src_mac: [u8; 6],
    /// Static next-hop MAC from the config: no route or neighbour lookups.
    pub static_mac: Option<[u8; 6]>,
}

/// A worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub queue: u32,
    pub batch: u32,
    pub busy_poll: bool,
    pub poll_timeout_ms: i32,
    pub core: Option<usize>,
    /// Per socket: the ingress interface index the tenant classifier knows it by.
    pub ingress: Vec<u16>,
    pub v6: Egress,
    pub v4: Egress,
}

/// The worker's own counters (the translator's are in [`Stats`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct IoCounters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub batches: u64,
    /// Frames that were not Ethernet carrying IPv4/IPv6 (should not reach the socket: the XDP program passes
    /// them to the kernel).
    pub rx_not_ip: u64,
    /// TX ring full: output dropped.
    pub tx_ring_full: u64,
    /// No free chunk for an output that is not the input frame (a fragment).
    pub no_free_frame: u64,
    /// No room in front of an output for its Ethernet header.
    pub no_headroom: u64,
    /// Output dropped: next hop not resolved yet (resolution triggered).
    pub l2_unresolved: u64,
    /// Output dropped: no route to its destination.
    pub l2_no_route: u64,
    /// Output dropped: the route to its destination leaves through another interface than its side's.
    pub l2_wrong_interface: u64,
    /// Sleeps in poll() (interrupt mode).
    pub polls: u64,
    /// NAT64 packets received from the NIC and translated by this worker (it owns them).
    pub same_worker: u64,
    /// Packets passed to their owner over a hand-off ring.
    pub handed_off: u64,
    /// Packets received from other workers' hand-off rings.
    pub handoff_received: u64,
    /// Hand-off ring to the owner full: dropped (also counted as `handoff_ring_full` in the drop counters).
    pub handoff_ring_full: u64,
    /// Handed off more than twice (a bug: each translation pass hands off at most once): dropped.
    pub handoff_loop: u64,
}

/// What a worker hands back when it stops.
#[derive(Debug, Clone)]
pub struct WorkerReport {
    pub queue: u32,
    pub io: IoCounters,
    pub stats: Stats,
    pub arp_nd_probes: u64,
    /// The kernel's counters of each socket (interface name, counters).
    pub xdp: Vec<(String, XdpStats)>,
    /// Time to process one batch (receive to TX kick), nanoseconds.
    pub batch_ns: Histogram<u64>,
}

impl fmt::Display for WorkerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let io = &self.io;
        writeln!(
            f,
            "worker {}: rx {} tx {} batches {} polls {} | drops: tx_ring_full {} no_free_frame {} no_headroom {} \
             l2_unresolved {} l2_no_route {} l2_wrong_interface {} rx_not_ip {} | arp/nd probes {}",
            self.queue,
            io.rx_packets,
            io.tx_packets,
            io.batches,
            io.polls,
            io.tx_ring_full,
            io.no_free_frame,
            io.no_headroom,
            io.l2_unresolved,
            io.l2_no_route,
            io.l2_wrong_interface,
            io.rx_not_ip,
            self.arp_nd_probes
        )?;
        // Stateful NAT64 only (a SIIT appliance has nothing to hand off).
        if io.same_worker
            + io.handed_off
            + io.handoff_received
            + io.handoff_ring_full
            + io.handoff_loop
            > 0
        {
            writeln!(
                f,
                "worker {}: handoff: same_worker {} handed_off {} received {} ring_full {} loop {}",
                self.queue,
                io.same_worker,
                io.handed_off,
                io.handoff_received,
                io.handoff_ring_full,
                io.handoff_loop
            )?;
        }
        let h = &self.batch_ns;
        if !h.is_empty() {
            writeln!(
                f,
                "worker {}: batch latency ns: p50 {} p90 {} p99 {} p99.9 {} max {} ({} batches, mean {:.1} packets)",
                self.queue,
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
                h.len(),
                io.rx_packets as f64 / h.len() as f64
            )?;
        }
        for (name, x) in &self.xdp {
            writeln!(
                f,
                "worker {}: socket {name}: kernel rx_dropped {} rx_ring_full {} fill_ring_empty {} \
                 rx_invalid {} tx_invalid {} tx_ring_empty {}",
                self.queue,
                x.rx_dropped,
                x.rx_ring_full,
                x.rx_fill_ring_empty_descs,
                x.rx_invalid_descs,
                x.tx_invalid_descs,
                x.tx_ring_empty_descs
            )?;
        }
        for d in Direction::ALL {
            let s = self.stats.dir(d);
            write!(
                f,
                "worker {}: {}: received {} translated {} fragments_created {} icmp_errors_sent {}",
                self.queue,
                d.as_str(),
                s.received,
                s.translated,
                s.fragments_created,
                s.icmp_errors_sent
            )?;
            for r in crate::stats::DropReason::ALL {
                let n = s.dropped[*r as usize];
                if n > 0 {
                    write!(f, " {}={n}", r.as_str())?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// An output waiting for its Ethernet header and a TX slot: chunk, packet offset and length in it.
#[derive(Debug, Clone, Copy)]
struct Pending {
    chunk: u64,
    off: usize,
    len: usize,
    side: Side,
    vlan: Option<u16>,
}

/// A frame to hand to another worker at the end of the batch: its chunk, packet offset, length and metadata.
#[derive(Debug, Clone, Copy)]
struct Staged {
    chunk: u64,
    off: usize,
    len: usize,
    meta: RxMeta,
    to: u16,
    hops: u8,
    direction: Option<Direction>,
}

/// The received frames of one batch. Allocated once (capacity: the batch size), emptied after every batch.
#[derive(Default)]
struct RxBatch {
    /// `Frame<'static>`: each borrows a UMEM chunk the worker owns for the batch (see `translate_rx`); the
    /// vector is cleared before any of those chunks goes on a ring.
    frames: Vec<Frame<'static>>,
    /// The chunk of `frames[k]`.
    chunks: Vec<u64>,
    outcomes: Vec<Outcome>,
    /// `frames[k]`'s first output was left in its own chunk (and queued from there).
    in_frame: Vec<bool>,
}

impl RxBatch {
    fn with_capacity(n: usize) -> Self {
        RxBatch {
            frames: Vec::with_capacity(n),
            chunks: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            in_frame: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, chunk: u64, frame: Frame<'static>) {
        self.frames.push(frame);
        self.chunks.push(chunk);
        self.outcomes.push(Outcome {
            direction: None,
            tenant: None,
            kind: OutcomeKind::Translated { packets: 0 },
        });
        self.in_frame.push(false);
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.chunks.clear();
        self.outcomes.clear();
        self.in_frame.clear();
    }
}

/// Expiries the NAT64 timers may handle per pass.
const TIMER_BUDGET: usize = 64;

/// Interval between NAT64 timer passes (ns), busy or idle; a pass that used its whole budget is followed by
/// another at the next batch. Session lifetimes move in 1 s steps and the shortest timer is the held SYN's 6 s,
/// so 50 ms is precise enough and keeps an idle worker to 20 wake-ups a second.
const TIMER_INTERVAL_NS: u64 = 50_000_000;

/// The monotonic clock (CLOCK_MONOTONIC, ns): the same in every worker.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime into a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

struct Worker {
    port: XskPort,
    pipeline: Pipeline,
    cfg: WorkerConfig,
    resolver: Option<Resolver>,
    io: IoCounters,
    rx: Vec<(usize, RxDesc)>,
    pending: Vec<Pending>,
    /// The received frames of the batch being translated, and what belongs to them.
    rx_batch: RxBatch,
    batch_ns: Histogram<u64>,
    /// L2 failures logged so far (the first few are, to help set-up; the rest are only counted).
    l2_logged: u32,
    /// Hand-off rings (stateful NAT64 with several workers).
    hub: Option<Arc<HandoffHub>>,
    /// Frames to hand over at the end of the batch.
    staged: Vec<Staged>,
    /// Hand-off ring-full drops per direction (merged into the drop counters in reports).
    ring_full: [u64; 2],
    /// The configuration has NAT64 tenants: feed the clock, run the timers.
    nat64: bool,
    /// Next timer pass while idle (monotonic ns).
    next_timers: u64,
}

/// Runs a worker until `ctl.stop`; returns its counters.
pub fn run(
    port: XskPort,
    pipeline: Pipeline,
    cfg: WorkerConfig,
    ctl: Arc<Control>,
    hub: Option<Arc<HandoffHub>>,
) -> WorkerReport {
    let mut cfg = cfg;
    let mut reporter = ctl
        .reports
        .clone()
        .and_then(|h| Reporter::new(h, cfg.queue as usize));
    if reporter.is_some() && !(0..=REPORT_POLL_MS).contains(&cfg.poll_timeout_ms) {
        // Publishing and session queries happen between batches: an idle worker must wake up for them.
        cfg.poll_timeout_ms = REPORT_POLL_MS;
    }
    if let Some(core) = cfg.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            eprintln!("worker {}: could not pin to core {core}", cfg.queue);
        }
    }
    let needs_resolver = cfg.v4.static_mac.is_none() || cfg.v6.static_mac.is_none();
    let resolver = if needs_resolver {
        match Resolver::new() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("worker {}: netlink unavailable ({e}): every output without a static MAC is dropped", cfg.queue);
                None
            }
        }
    } else {
        None
    };
    let nat64 = pipeline.nat64().is_some();
    let mut w = Worker {
        port,
        pipeline,
        resolver,
        io: IoCounters::default(),
        rx: Vec::with_capacity(cfg.batch as usize),
        pending: Vec::with_capacity(8),
        rx_batch: RxBatch::with_capacity(cfg.batch as usize),
        l2_logged: 0,
        // 1 ns .. 10 s, 3 significant digits: fixed size, never resized on the packet path.
        batch_ns: Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds"),
        // At most one per frame of a batch: the received ones plus those drained from every ring.
        staged: Vec::with_capacity(
            cfg.batch as usize * (1 + hub.as_ref().map_or(0, |h| h.workers)),
        ),
        hub,
        ring_full: [0; 2],
        nat64,
        next_timers: 0,
        cfg,
    };
    let mut dump_seen = ctl.dump.load(Ordering::Relaxed);
    let mut epoch = ctl.epoch();
    while !ctl.stop.load(Ordering::Relaxed) {
        // A new configuration is picked up between batches: one atomic load per batch when none came.
        if ctl.epoch() != epoch {
            if let Some((e, snapshot)) = ctl.latest() {
                w.switch(e, snapshot, ctl.take_fresh(w.me()));
                epoch = e;
                ctl.ack(w.me(), e);
            }
        }
        let d = ctl.dump.load(Ordering::Relaxed);
        if d != dump_seen {
            dump_seen = d;
            eprint!("{}", w.report());
        }
        if !w.step() {
            w.idle();
        }
        if let Some(r) = reporter.as_mut() {
            w.serve_reports(r);
        }
    }
    w.drain();
    if let Some(r) = reporter.as_mut() {
        w.serve_reports(r);
    }
    w.report()
}

impl Worker {
    /// Runs `snapshot` (configuration epoch `epoch`) from the next batch on: NAT64 state carried over
    /// ([`Pipeline::set_snapshot`]), the sockets' ingress indices looked up again. Session events pending
    /// under the old configuration are written first (with the tenant names they were recorded under).
    fn switch(&mut self, epoch: u64, snapshot: Arc<Snapshot>, fresh: Option<Fresh>) {
        self.pipeline.drain_session_log(&mut |l| println!("{l}"));
        for (k, s) in self.port.sockets().iter().enumerate() {
            if let Some(i) = self.cfg.ingress.get_mut(k) {
                *i = snapshot.interface_index(&s.ifname).unwrap_or(u16::MAX);
            }
        }
        let started = Instant::now();
        let carried = self.pipeline.set_snapshot_with(snapshot, fresh);
        self.nat64 = self.pipeline.nat64().is_some();
        self.next_timers = 0;
        println!(
            "xlat64-dataplane: worker {}: running configuration epoch {epoch} (switched in {} µs): {carried}",
            self.cfg.queue,
            started.elapsed().as_micros()
        );
    }

    fn report(&self) -> WorkerReport {
        let mut stats = self.pipeline.stats().clone();
        for d in Direction::ALL {
            stats.counters_mut(None, d).dropped[DropReason::HandOffRingFull as usize] +=
                self.ring_full[d as usize];
        }
        WorkerReport {
            queue: self.cfg.queue,
            io: self.io,
            stats,
            arp_nd_probes: self.resolver.as_ref().map_or(0, |r| r.probes()),
            xdp: (0..self.port.sockets().len())
                .filter_map(|k| {
                    let st = self.port.xdp_stats(k)?;
                    Some((self.port.sockets()[k].ifname.clone(), st))
                })
                .collect(),
            batch_ns: self.batch_ns.clone(),
        }
    }

    /// Publishes the counters when due and answers waiting session queries (between batches, never blocking;
    /// see [`crate::report`]).
    fn serve_reports(&mut self, r: &mut Reporter) {
        let now = monotonic_ns();
        if r.due(now) {
            let p = r.publication();
            let probes = self.resolver.as_ref().map_or(0, |r| r.probes());
            p.capture(
                &self.io,
                probes,
                &self.pipeline,
                self.ring_full,
                &self.batch_ns,
            );
            let port = &self.port;
            p.set_xdp(
                (0..port.sockets().len())
                    .map(|k| (port.sockets()[k].ifname.as_str(), port.xdp_stats(k))),
            );
            r.publish(now);
        }
        r.answer_sessions(&self.pipeline);
    }

    fn me(&self) -> usize {
        self.cfg.queue as usize
    }

    /// Waits for work: spins (busy mode, waking the kernel's RX when it asks) or sleeps in poll().
    fn idle(&mut self) {
        // Copy mode sends at most 32 frames per kick: finish what the last batch queued before sleeping.
        for _ in 0..64 {
            if !self.port.tx_in_flight() {
                break;
            }
            self.port.kick_outstanding();
            self.port.complete();
        }
        if self.cfg.busy_poll {
            for s in 0..self.port.sockets().len() {
                if self.port.fill_needs_wakeup(s) {
                    self.port.wake_rx(s);
                }
            }
            std::hint::spin_loop();
        } else {
            // Frames still in flight (the device is busy): come back soon to kick again.
            let mut timeout = if self.port.tx_in_flight() {
                1
            } else {
                self.cfg.poll_timeout_ms
            };
            if self.nat64 {
                // The timers run at least every TIMER_INTERVAL_NS.
                timeout = timeout.min((TIMER_INTERVAL_NS / 1_000_000) as i32);
            }
            let me = self.me();
            let extra = match self.hub.as_deref() {
                Some(h) => {
                    if !h.prepare_sleep(me) {
                        return;
                    }
                    Some(h.wakers[me].fd)
                }
                None => None,
            };
            self.io.polls += 1;
            self.port.poll(timeout, extra);
            if let Some(h) = self.hub.as_deref() {
                h.woke(me);
            }
        }
    }

    /// Lets outstanding TX complete (bounded), after the XDP programs stopped redirecting.
    fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            while self.step() {}
            self.port.complete();
            if self.port.sockets().iter().all(|s| s.tx_outstanding == 0) {
                break;
            }
            self.port.kick_outstanding();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// One batch: packets handed over by other workers, then the sockets' RX rings, then the NAT64 timers;
    /// hand-offs go out, TX is kicked once. Returns false if nothing was received.
    fn step(&mut self) -> bool {
        self.port.complete();
        let now = Instant::now();
        let now_ns = if self.nat64 {
            let t = monotonic_ns();
            self.pipeline.set_now(t);
            t
        } else {
            0
        };
        let handed = self.receive_handoffs(now);
        self.rx.clear();
        let mut got = 0u32;
        for s in 0..self.port.sockets().len() {
            if got >= self.cfg.batch {
                break;
            }
            got += self.port.rx(s, self.cfg.batch - got, &mut self.rx);
        }
        if got == 0 && handed == 0 {
            if self.nat64 && now_ns >= self.next_timers {
                self.timers(now, now_ns);
                self.port.flush_tx();
            }
            self.port.refill_all();
            return false;
        }
        self.io.batches += 1;
        self.io.rx_packets += u64::from(got);
        if let Some(r) = self.resolver.as_mut() {
            r.absorb(now);
        }
        let rx = std::mem::take(&mut self.rx);
        self.translate_rx(&rx, now);
        self.rx = rx;
        if self.nat64 && now_ns >= self.next_timers {
            self.timers(now, now_ns);
        }
        self.send_handoffs();
        self.port.flush_tx();
        self.port.refill_all();
        let ns = u64::try_from(now.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.batch_ns.saturating_record(ns);
        true
    }

    /// Runs the NAT64 timers (bounded) and sends what they emit (ICMP errors for held SYNs); the session log
    /// goes to stdout as JSON lines.
    fn timers(&mut self, now: Instant, now_ns: u64) {
        let port = &mut self.port;
        let io = &mut self.io;
        let pending = &mut self.pending;
        let n = self
            .pipeline
            .run_timers(TIMER_BUDGET, &mut |o| copy_out(port, io, pending, &o));
        self.next_timers = if n >= TIMER_BUDGET {
            now_ns // more are due: again at the next batch
        } else {
            now_ns + TIMER_INTERVAL_NS
        };
        self.pipeline.drain_session_log(&mut |l| println!("{l}"));
        self.send_pending(now);
    }

    /// Processes the packets other workers handed over (at most one batch per ring). Returns how many.
    fn receive_handoffs(&mut self, now: Instant) -> u32 {
        let Some(hub) = self.hub.clone() else {
            return 0;
        };
        let me = self.me();
        let mut n = 0u32;
        for from in (0..hub.workers).filter(|&f| f != me) {
            let ring = hub.ring(from, me);
            for _ in 0..self.cfg.batch {
                let Some(m) = ring.pop() else {
                    break;
                };
                n += 1;
                self.io.handoff_received += 1;
                let Some(c) = self.port.alloc() else {
                    self.io.no_free_frame += 1;
                    continue;
                };
                let len = usize::from(m.len);
                // SAFETY: c was just taken from the free list: ours, and no other slice of it exists.
                let dst =
                    unsafe { std::slice::from_raw_parts_mut(self.port.chunk_ptr(c), FRAME_SIZE) };
                dst[XDP_HEADROOM..XDP_HEADROOM + len].copy_from_slice(&m.data[..len]);
                self.translate(c, XDP_HEADROOM, XDP_HEADROOM + len, m.meta, m.hops, now);
            }
        }
        n
    }

    /// Copies the staged frames into their owners' rings, frees their chunks and wakes the owners.
    fn send_handoffs(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let Some(hub) = self.hub.clone() else {
            // No rings (a single worker): cannot happen, the pipeline of worker 0 of 1 owns everything.
            for s in std::mem::take(&mut self.staged) {
                self.port.release(s.chunk);
            }
            return;
        };
        let me = self.me();
        let mut woken = 0u64; // bit per worker (workers beyond 63 are always woken)
        let staged = std::mem::take(&mut self.staged);
        for s in &staged {
            let to = usize::from(s.to);
            // SAFETY: the chunk is the worker's (staged, not on any ring) until released below.
            let buf =
                unsafe { std::slice::from_raw_parts(self.port.chunk_ptr(s.chunk), FRAME_SIZE) };
            let ok = to < hub.workers && to != me && s.len <= HANDOFF_MAX && {
                let mut m = HandoffPacket {
                    len: s.len as u16,
                    hops: s.hops,
                    meta: s.meta,
                    data: [0; HANDOFF_MAX],
                };
                m.data[..s.len].copy_from_slice(&buf[s.off..s.off + s.len]);
                hub.ring(me, to).push(m).is_ok()
            };
            self.port.release(s.chunk);
            if ok {
                self.io.handed_off += 1;
                if to >= 64 || woken & (1 << to) == 0 {
                    woken |= 1u64.checked_shl(to as u32).unwrap_or(0);
                    hub.wake(to);
                }
            } else {
                self.io.handoff_ring_full += 1;
                if let Some(d) = s.direction {
                    self.ring_full[d as usize] += 1;
                }
            }
        }
        self.staged = staged;
        self.staged.clear();
    }

    /// The network-layer packet of a received descriptor: its chunk, bounds in the chunk and metadata. Frames
    /// that are not IP are released (counted).
    fn receive(&mut self, sock: usize, d: RxDesc) -> Option<(u64, usize, usize, RxMeta)> {
        let chunk = chunk_of(d.addr);
        let off = (d.addr - chunk) as usize;
        let end = (off + d.len as usize).min(FRAME_SIZE);
        // SAFETY: the chunk came off our RX ring: the worker owns it until it goes on a TX or fill ring.
        let buf: &[u8] =
            unsafe { std::slice::from_raw_parts(self.port.chunk_ptr(chunk), FRAME_SIZE) };
        let Ok(l2) = parse_l2(&buf[off..end]) else {
            self.io.rx_not_ip += 1;
            self.port.release(chunk);
            return None;
        };
        let start = off + l2.l3_offset;
        let ip_len = match l2.ethertype {
            EtherType::IPV4 if end - start >= 4 => {
                usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]))
            }
            EtherType::IPV6 if end - start >= 6 => {
                40 + usize::from(u16::from_be_bytes([buf[start + 4], buf[start + 5]]))
            }
            _ => {
                self.io.rx_not_ip += 1;
                self.port.release(chunk);
                return None;
            }
        };
        // Ethernet padding of short frames is not part of the packet.
        let end = end.min(start + ip_len);
        let meta = RxMeta {
            ingress: self.cfg.ingress.get(sock).copied().unwrap_or(u16::MAX),
            vlan: l2.vlan,
        };
        Some((chunk, start, end, meta))
    }

    /// Translates the received frames as one batch ([`Pipeline::process_batch`]), then sends the outputs in
    /// the order they were emitted, stages hand-offs and frees the chunks nothing was left in.
    fn translate_rx(&mut self, rx: &[(usize, RxDesc)], now: Instant) {
        let mut b = std::mem::take(&mut self.rx_batch);
        for &(sock, d) in rx {
            let Some((chunk, start, end, meta)) = self.receive(sock, d) else {
                continue;
            };
            // SAFETY: the chunk is the worker's until it goes on a ring, which happens only after the batch's
            // frames are cleared below; no other slice of it is used meanwhile.
            let buf: &'static mut [u8] =
                unsafe { std::slice::from_raw_parts_mut(self.port.chunk_ptr(chunk), FRAME_SIZE) };
            let mut frame = Frame::new(buf, start, end);
            frame.meta = meta;
            b.push(chunk, frame);
        }
        let n = b.frames.len();
        let RxBatch {
            frames,
            chunks,
            outcomes,
            in_frame,
        } = &mut b;
        let port = &mut self.port;
        let io = &mut self.io;
        let pending = &mut self.pending;
        self.pipeline
            .process_batch(frames, outcomes, &mut |k, o: Output<'_>| {
                // The first output inside the frame's own chunk is sent from there; others are copied out.
                let base = port.chunk_ptr(chunks[k]) as usize;
                let p = o.packet.as_ptr() as usize;
                if !in_frame[k] && p >= base && p + o.packet.len() <= base + FRAME_SIZE {
                    in_frame[k] = true;
                    pending.push(Pending {
                        chunk: chunks[k],
                        off: p - base,
                        len: o.packet.len(),
                        side: o.side,
                        vlan: o.vlan,
                    });
                    return;
                }
                copy_out(port, io, pending, &o);
            });
        for k in 0..n {
            let (outcome, chunk) = (b.outcomes[k], b.chunks[k]);
            if let OutcomeKind::HandedOff { worker } = outcome.kind {
                // Nothing was emitted; the frame (possibly rewritten: a hairpinned packet's first pass) moves
                // on.
                let f = &b.frames[k];
                self.staged.push(Staged {
                    chunk,
                    off: f.start(),
                    len: f.len(),
                    meta: f.meta,
                    to: worker,
                    hops: 1,
                    direction: outcome.direction,
                });
                continue;
            }
            if self.nat64 {
                let t = outcome.tenant.map(|t| self.pipeline.snapshot().tenant(t));
                if t.is_some_and(|t| t.nat64.is_some()) {
                    self.io.same_worker += 1;
                }
            }
        }
        // No frame may outlive the batch: the chunks go back to rings from here on.
        b.frames.clear();
        for k in 0..n {
            let staged = matches!(b.outcomes[k].kind, OutcomeKind::HandedOff { .. });
            if !staged && !b.in_frame[k] {
                self.port.release(b.chunks[k]);
            }
        }
        b.clear();
        self.rx_batch = b;
        self.send_pending(now);
    }

    /// Runs the packet at `chunk[start..end]` through the pipeline and sends, stages (hand-off) or frees it.
    /// `hops`: hand-offs it took to get here (0: straight from the NIC).
    fn translate(
        &mut self,
        chunk: u64,
        start: usize,
        end: usize,
        meta: RxMeta,
        hops: u8,
        now: Instant,
    ) {
        // SAFETY: the chunk is the worker's (received, or taken from the free list) until it goes on a ring.
        let buf: &mut [u8] =
            unsafe { std::slice::from_raw_parts_mut(self.port.chunk_ptr(chunk), FRAME_SIZE) };
        let mut frame = Frame::new(buf, start, end);
        frame.meta = meta;
        let base = buf_addr(&frame);
        let mut in_frame: Option<Pending> = None;
        let port = &mut self.port;
        let io = &mut self.io;
        let pending = &mut self.pending;
        let mut emit = |o: Output<'_>| {
            let p = o.packet.as_ptr() as usize;
            if in_frame.is_none() && p >= base && p + o.packet.len() <= base + FRAME_SIZE {
                in_frame = Some(Pending {
                    chunk,
                    off: p - base,
                    len: o.packet.len(),
                    side: o.side,
                    vlan: o.vlan,
                });
                return;
            }
            copy_out(port, io, pending, &o);
        };
        let outcome = self.pipeline.process(&mut frame, &mut emit);
        if let OutcomeKind::HandedOff { worker } = outcome.kind {
            // Nothing was emitted; the frame (possibly rewritten: a hairpinned packet's first pass) moves on.
            if hops >= 2 {
                self.io.handoff_loop += 1;
                self.port.release(chunk);
                return;
            }
            self.staged.push(Staged {
                chunk,
                off: frame.start(),
                len: frame.len(),
                meta: frame.meta,
                to: worker,
                hops: hops + 1,
                direction: outcome.direction,
            });
            return;
        }
        if self.nat64 && hops == 0 {
            let t = outcome.tenant.map(|t| self.pipeline.snapshot().tenant(t));
            if t.is_some_and(|t| t.nat64.is_some()) {
                self.io.same_worker += 1;
            }
        }
        match in_frame {
            Some(p) => self.send(p, now),
            None => self.port.release(chunk),
        }
        self.send_pending(now);
    }

    /// Sends the outputs copied into chunks of their own.
    fn send_pending(&mut self, now: Instant) {
        let extra = std::mem::take(&mut self.pending);
        for &p in &extra {
            self.send(p, now);
        }
        self.pending = extra;
        self.pending.clear();
    }

    /// Writes the Ethernet header in front of the output and queues it for TX, or drops it (counted).
    fn send(&mut self, p: Pending, now: Instant) {
        let egress = match p.side {
            Side::V6 => self.cfg.v6,
            Side::V4 => self.cfg.v4,
        };
        // SAFETY: the chunk is the worker's (received, or taken from the free list) until put on a ring.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.port.chunk_ptr(p.chunk), FRAME_SIZE) };
        let pkt = &buf[p.off..p.off + p.len];
        let (dst, ethertype) = match p.side {
            Side::V4 if pkt.len() >= 20 => (
                IpAddr::from(<[u8; 4]>::try_from(&pkt[16..20]).expect("4 bytes")),
                EtherType::IPV4,
            ),
            Side::V6 if pkt.len() >= 40 => (
                IpAddr::from(<[u8; 16]>::try_from(&pkt[24..40]).expect("16 bytes")),
                EtherType::IPV6,
            ),
            _ => {
                self.io.rx_not_ip += 1;
                self.port.release(p.chunk);
                return;
            }
        };
        let mac = match egress.static_mac {
            Some(m) => Ok(m),
            None => match self.resolver.as_mut() {
                Some(r) => r.resolve(dst, egress.ifindex, now),
                None => Err(L2Error::NoRoute),
            },
        };
        let mac = match mac {
            Ok(m) => m,
            Err(e) => {
                if self.l2_logged < 10 {
                    self.l2_logged += 1;
                    eprintln!(
                        "worker {}: no MAC for {dst} on ifindex {}: {e:?} (dropped; further ones only counted)",
                        self.cfg.queue, egress.ifindex
                    );
                }
                match e {
                    L2Error::Unresolved => self.io.l2_unresolved += 1,
                    L2Error::NoRoute => self.io.l2_no_route += 1,
                    L2Error::WrongInterface => self.io.l2_wrong_interface += 1,
                }
                self.port.release(p.chunk);
                return;
            }
        };
        let l2len = if p.vlan.is_some() { 18 } else { 14 };
        if p.off < l2len {
            self.io.no_headroom += 1;
            self.port.release(p.chunk);
            return;
        }
        let at = p.off - l2len;
        write_l2(&mut buf[at..], mac, egress.src_mac, p.vlan, ethertype);
        if self
            .port
            .tx(egress.sock, p.chunk + at as u64, (l2len + p.len) as u32)
        {
            self.io.tx_packets += 1;
        } else {
            self.io.tx_ring_full += 1;
            self.port.release(p.chunk);
        }
    }
}

/// Copies an output that is not in its input frame into a free chunk and queues it in `pending`.
fn copy_out(port: &mut XskPort, io: &mut IoCounters, pending: &mut Vec<Pending>, o: &Output<'_>) {
    let Some(c) = port.alloc() else {
        io.no_free_frame += 1;
        return;
    };
    let at = XDP_HEADROOM;
    if at + o.packet.len() > FRAME_SIZE {
        io.no_headroom += 1;
        port.release(c);
        return;
    }
    // SAFETY: c was just taken from the free list: ours, and no other slice of it exists.
    let dst = unsafe { std::slice::from_raw_parts_mut(port.chunk_ptr(c), FRAME_SIZE) };
    dst[at..at + o.packet.len()].copy_from_slice(o.packet);
    pending.push(Pending {
        chunk: c,
        off: at,
        len: o.packet.len(),
        side: o.side,
        vlan: o.vlan,
    });
}

/// Address of the frame's buffer (to tell outputs inside it from outputs elsewhere).
fn buf_addr(frame: &Frame<'_>) -> usize {
    frame.buffer().as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(n: u8) -> HandoffPacket {
        let mut m = HandoffPacket {
            len: 1,
            hops: 1,
            meta: RxMeta::default(),
            data: [0; HANDOFF_MAX],
        };
        m.data[0] = n;
        m
    }

    #[test]
    fn snapshots_are_published_by_epoch_and_acknowledged_per_worker() {
        let ctl = Control::new(2);
        assert_eq!((ctl.epoch(), ctl.latest().map(|l| l.0)), (0, None));
        assert_eq!(ctl.wait_switched(0, Duration::ZERO), Ok(()));
        let s = Arc::new(Snapshot::default());
        let e1 = ctl.publish(s.clone());
        let e2 = ctl.publish(s.clone());
        assert_eq!((e1, e2, ctl.epoch()), (1, 2, 2));
        // A worker that comes round takes the latest only.
        assert_eq!(ctl.latest().map(|l| l.0), Some(2));
        ctl.ack(0, 2);
        assert_eq!(ctl.wait_switched(2, Duration::from_millis(5)), Err(vec![1]));
        ctl.ack(1, 2);
        assert_eq!(
            ctl.wait_switched(1, Duration::ZERO),
            Ok(()),
            "a later epoch counts"
        );
        ctl.ack(7, 2); // no such worker: ignored
    }

    #[test]
    fn rings_are_per_ordered_pair_and_bounded() {
        let hub = HandoffHub::new(3, 2).unwrap();
        assert!(!hub.has_incoming(1));
        assert!(hub.ring(0, 1).push(packet(1)).is_ok());
        assert!(hub.ring(0, 1).push(packet(2)).is_ok());
        // Full: the caller counts handoff_ring_full.
        assert!(hub.ring(0, 1).push(packet(3)).is_err());
        assert!(hub.has_incoming(1));
        assert!(!hub.has_incoming(0) && !hub.has_incoming(2));
        assert_eq!(hub.ring(0, 1).pop().unwrap().data[0], 1);
        assert_eq!(hub.ring(2, 1).len(), 0);
    }

    #[test]
    fn a_sleeping_owner_is_woken_and_a_waiting_packet_keeps_it_awake() {
        let hub = HandoffHub::new(2, 4).unwrap();
        // Nothing waiting: worker 1 may sleep; a push from worker 0 signals its eventfd.
        assert!(hub.prepare_sleep(1));
        hub.ring(0, 1).push(packet(7)).ok().unwrap();
        hub.wake(1);
        let mut fds = [libc::pollfd {
            fd: hub.wakers[1].fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one live pollfd.
        assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) }, 1);
        hub.woke(1);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) }, 0, "cleared");
        // A packet already waiting: no sleep.
        assert!(!hub.prepare_sleep(1));
        assert!(!hub.wakers[1].sleeping.load(Ordering::Relaxed));
    }
}
