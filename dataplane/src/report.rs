//! What the dataplane reports about itself while it runs: every worker's counters ([`ReportHub::stats`], for
//! `GET /v1/stats` and `/metrics`) and its NAT64 sessions ([`ReportHub::sessions`], for `GET /v1/sessions`),
//! in the types of [`mgmt_api::report`].
//!
//! # Counters
//! Workers own plain counters (nothing shared on the packet path). Between batches, at most every
//! [`PUBLISH_INTERVAL_NS`], a worker copies them into its [`Publication`] (buffers reused, so a round allocates
//! nothing once the tables stopped growing) and swaps it into its slot of the hub with `try_lock`: if a reader
//! holds the slot, the worker skips the round and tries again after its next batch. It never blocks. The
//! reader converts the slots into a [`DataplaneStats`] under each slot's lock, one slot at a time.
//!
//! # Sessions
//! A session query goes to every worker through its bounded request queue; each worker answers between
//! batches (a walk over its session table, [`crate::nat64::Nat64State::for_each_session`]) with its number of
//! matches and its first `offset + limit` matches. The hub waits at most [`SESSION_QUERY_TIMEOUT`] for all of
//! them, then cuts the page out of the answers in worker order.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use hdrhistogram::Histogram;
use mgmt_api::report::{
    DataplaneStats, LatencyHistogram, Nat64Tables, Pool4Usage, Session, SessionPage, SessionQuery,
    TranslatorCounters, WorkerStats, XdpSocketCounters, SESSIONS_DEFAULT_LIMIT, SESSIONS_MAX_LIMIT,
};

use crate::io::afxdp::XdpStats;
use crate::nat64::inspect::{Pool4Ports, SessionRecord};
use crate::nat64::tcp::TcpState;
use crate::nat64::Proto;
use crate::pipeline::Pipeline;
use crate::stats::{Direction, DirectionStats, DropReason, Stats};
use crate::worker::IoCounters;

/// Interval between two publications of a worker's counters (ns): ten a second is finer than any scrape.
pub const PUBLISH_INTERVAL_NS: u64 = 100_000_000;

/// After a round skipped because a reader held the slot, the next try comes this much later (ns), so a slow
/// reader does not make the worker capture its counters after every batch.
pub const PUBLISH_RETRY_NS: u64 = 10_000_000;

/// Longest a worker may sleep in poll() while reports are on (ms): it publishes and answers session queries
/// between batches, so an idle worker must wake up that often.
pub const REPORT_POLL_MS: i32 = 100;

/// How long [`ReportHub::sessions`] waits for the workers' answers.
pub const SESSION_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Session queries waiting per worker; more are refused (a worker that does not drain its queue is stuck).
const SESSION_REQUESTS: usize = 4;

/// Upper bounds (ns) of the batch latency histogram's buckets (Prometheus `le`; `+Inf` is the count).
pub const LATENCY_BUCKETS_NS: [u64; 21] = [
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// One NAT64 tenant's tables in a [`Publication`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTables {
    /// Tenant index in the snapshot the counters were taken under.
    pub tenant: u16,
    pub sessions: u64,
    pub bib_entries: u64,
    pub pool4: Vec<Pool4Ports>,
}

/// A worker's counters at one moment, as it publishes them. Its buffers are reused from round to round.
#[derive(Debug, Clone, Default)]
pub struct Publication {
    pub io: IoCounters,
    pub arp_nd_probes: u64,
    /// The translator's counters, hand-off ring-full drops included.
    pub stats: Stats,
    /// Tenant names by index, of the snapshot `stats` counts under.
    pub tenants: Vec<String>,
    pub nat64: Vec<TenantTables>,
    /// The kernel's counters of each socket: interface name, counters.
    pub xdp: Vec<(String, XdpStats)>,
    pub batch_latency: LatencyHistogram,
}

impl Publication {
    /// Copies the worker's counters. `handoff_ring_full`: hand-off ring-full drops per direction, which the
    /// worker (not the pipeline) counts; they are added to the untenanted rows.
    pub fn capture(
        &mut self,
        io: &IoCounters,
        arp_nd_probes: u64,
        pipeline: &Pipeline,
        handoff_ring_full: [u64; 2],
        batch_ns: &Histogram<u64>,
    ) {
        self.io = *io;
        self.arp_nd_probes = arp_nd_probes;
        copy_stats(&mut self.stats, pipeline.stats());
        for d in Direction::ALL {
            self.stats.counters_mut(None, d).dropped[DropReason::HandOffRingFull as usize] +=
                handoff_ring_full[d as usize];
        }
        let tenants = pipeline.snapshot().tenants();
        self.tenants.truncate(tenants.len());
        for (k, t) in tenants.iter().enumerate() {
            match self.tenants.get_mut(k) {
                Some(name) => name.clone_from(&t.name),
                None => self.tenants.push(t.name.clone()),
            }
        }
        let mut n = 0;
        if let Some(st) = pipeline.nat64() {
            for t in tenants {
                let Some(c) = t.nat64.as_deref() else {
                    continue;
                };
                if self.nat64.len() == n {
                    self.nat64.push(TenantTables::default());
                }
                let tt = &mut self.nat64[n];
                n += 1;
                tt.tenant = t.index;
                tt.sessions = u64::from(st.tenant_sessions(t.index));
                tt.bib_entries = st.tenant_bindings(t.index) as u64;
                tt.pool4.clear();
                st.pool4_usage(t.index, &c.pool4, &mut |u| tt.pool4.push(u));
            }
        }
        self.nat64.truncate(n);
        latency(&mut self.batch_latency, batch_ns);
    }

    /// Sets the sockets' kernel counters (a socket whose counters could not be read is left out).
    pub fn set_xdp<'a>(&mut self, sockets: impl Iterator<Item = (&'a str, Option<XdpStats>)>) {
        let mut n = 0;
        for (name, st) in sockets {
            let Some(st) = st else {
                continue;
            };
            match self.xdp.get_mut(n) {
                Some(slot) => {
                    slot.0.clear();
                    slot.0.push_str(name);
                    slot.1 = st;
                }
                None => self.xdp.push((name.to_owned(), st)),
            }
            n += 1;
        }
        self.xdp.truncate(n);
    }

    /// The report of worker `worker`.
    pub fn to_worker_stats(&self, worker: u32) -> WorkerStats {
        let name = |t: usize| {
            self.tenants
                .get(t)
                .cloned()
                .unwrap_or_else(|| format!("#{t}"))
        };
        let mut translator = Vec::with_capacity(self.stats.tenants.len() * 2 + 3);
        for (t, row) in self.stats.tenants.iter().enumerate() {
            for d in Direction::ALL {
                translator.push(row_report(Some(name(t)), d.as_str(), &row[d as usize]));
            }
        }
        for d in Direction::ALL {
            translator.push(row_report(
                None,
                d.as_str(),
                &self.stats.untenanted[d as usize],
            ));
        }
        translator.push(row_report(None, "unknown", &self.stats.unclassified));
        WorkerStats {
            worker,
            io: io_counters(&self.io, self.arp_nd_probes)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            translator,
            nat64: self
                .nat64
                .iter()
                .map(|t| Nat64Tables {
                    tenant: name(usize::from(t.tenant)),
                    sessions: t.sessions,
                    bib_entries: t.bib_entries,
                    pool4: t
                        .pool4
                        .iter()
                        .map(|u| Pool4Usage {
                            address: Ipv4Addr::from(u.addr4),
                            protocol: proto_name(u.proto).to_owned(),
                            ports_in_use: u64::from(u.in_use),
                            ports_total: u64::from(u.total),
                        })
                        .collect(),
                })
                .collect(),
            batch_latency: self.batch_latency.clone(),
            xdp: self
                .xdp
                .iter()
                .map(|(name, x)| XdpSocketCounters {
                    interface: name.clone(),
                    rx_dropped: x.rx_dropped,
                    rx_ring_full: x.rx_ring_full,
                    rx_fill_ring_empty: x.rx_fill_ring_empty_descs,
                    rx_invalid: x.rx_invalid_descs,
                    tx_invalid: x.tx_invalid_descs,
                    tx_ring_empty: x.tx_ring_empty_descs,
                })
                .collect(),
        }
    }
}

/// `dst = src` reusing `dst`'s row buffer (the derived `clone_from` would allocate a new one).
fn copy_stats(dst: &mut Stats, src: &Stats) {
    dst.tenants.clone_from(&src.tenants);
    dst.untenanted.clone_from(&src.untenanted);
    dst.unclassified.clone_from(&src.unclassified);
}

fn row_report(tenant: Option<String>, direction: &str, s: &DirectionStats) -> TranslatorCounters {
    TranslatorCounters {
        tenant,
        direction: direction.to_owned(),
        received: s.received,
        translated: s.translated,
        fragments_created: s.fragments_created,
        icmp_errors_sent: s.icmp_errors_sent,
        handed_off: s.handed_off,
        dropped: DropReason::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), s.dropped[*r as usize]))
            .collect(),
    }
}

/// The worker's I/O counters by their stable names ([`WorkerStats::io`]).
pub fn io_counters(io: &IoCounters, arp_nd_probes: u64) -> [(&'static str, u64); 17] {
    [
        ("rx_packets", io.rx_packets),
        ("tx_packets", io.tx_packets),
        ("batches", io.batches),
        ("rx_not_ip", io.rx_not_ip),
        ("tx_ring_full", io.tx_ring_full),
        ("no_free_frame", io.no_free_frame),
        ("no_headroom", io.no_headroom),
        ("l2_unresolved", io.l2_unresolved),
        ("l2_no_route", io.l2_no_route),
        ("l2_wrong_interface", io.l2_wrong_interface),
        ("polls", io.polls),
        ("same_worker", io.same_worker),
        ("handed_off", io.handed_off),
        ("handoff_received", io.handoff_received),
        ("handoff_ring_full", io.handoff_ring_full),
        ("handoff_loop", io.handoff_loop),
        ("arp_nd_probes", arp_nd_probes),
    ]
}

/// Fills `out` with `h` (ns) as cumulative buckets in seconds ([`LATENCY_BUCKETS_NS`]). A recorded value is
/// known to the histogram's 3 significant digits: it counts under the first bound at or above the highest
/// value it may stand for, and the sum adds the middle of that range.
fn latency(out: &mut LatencyHistogram, h: &Histogram<u64>) {
    let mut counts = [0u64; LATENCY_BUCKETS_NS.len()];
    let mut sum_ns = 0f64;
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        let c = v.count_at_value();
        sum_ns += h.median_equivalent(value) as f64 * c as f64;
        let i = LATENCY_BUCKETS_NS.partition_point(|&b| b < value);
        if let Some(n) = counts.get_mut(i) {
            *n += c;
        }
    }
    out.buckets.clear();
    let mut acc = 0;
    for (bound, n) in LATENCY_BUCKETS_NS.iter().zip(counts) {
        acc += n;
        out.buckets.push((*bound as f64 / 1e9, acc));
    }
    out.count = h.len();
    out.sum_seconds = sum_ns / 1e9;
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        Proto::Icmp => "icmp",
    }
}

/// RFC 6146 §3.5.2.2 state names of [`Session::state`]; UDP and ICMP sessions are `active`.
fn state_name(proto: Proto, s: TcpState) -> &'static str {
    match (proto, s) {
        (Proto::Udp | Proto::Icmp, _) => "active",
        (Proto::Tcp, TcpState::Closed) => "closed",
        (Proto::Tcp, TcpState::V4Init) => "v4_init",
        (Proto::Tcp, TcpState::V6Init) => "v6_init",
        (Proto::Tcp, TcpState::Established) => "established",
        (Proto::Tcp, TcpState::V4FinRcv) => "v4_fin_rcv",
        (Proto::Tcp, TcpState::V6FinRcv) => "v6_fin_rcv",
        (Proto::Tcp, TcpState::V4FinV6FinRcv) => "v4_fin_v6_fin_rcv",
        (Proto::Tcp, TcpState::Trans) => "trans",
    }
}

/// A validated [`SessionQuery`] filter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionFilter {
    tenant: Option<String>,
    proto: Option<Proto>,
    address: Option<IpAddr>,
}

impl SessionFilter {
    fn matches(&self, tenant: Option<u16>, r: &SessionRecord) -> bool {
        tenant.is_none_or(|t| t == r.tenant)
            && self.proto.is_none_or(|p| p == r.proto)
            && match self.address {
                None => true,
                Some(IpAddr::V6(a)) => a.octets() == r.addr6,
                Some(IpAddr::V4(a)) => a.octets() == r.addr4 || a.octets() == r.remote4,
            }
    }
}

/// One worker's answer: its number of matches and its first ones.
type SessionAnswer = (u64, Vec<Session>);

struct SessionRequest {
    filter: Arc<SessionFilter>,
    /// Matches to return at most (the page's offset + limit).
    want: usize,
    reply: SyncSender<SessionAnswer>,
}

/// Worker `worker`'s live sessions matching `f`: how many, and the first `want` of them (table order).
fn matching_sessions(
    pipeline: &Pipeline,
    worker: u32,
    f: &SessionFilter,
    want: usize,
) -> SessionAnswer {
    let mut out = Vec::new();
    let Some(st) = pipeline.nat64() else {
        return (0, out);
    };
    let snap = pipeline.snapshot();
    let tenant = match &f.tenant {
        None => None,
        Some(name) => match snap.tenants().iter().find(|t| &t.name == name) {
            Some(t) => Some(t.index),
            None => return (0, out),
        },
    };
    let now = pipeline.now();
    let mut total = 0u64;
    st.for_each_session(&mut |r| {
        // Expired but not yet removed by the timers: already gone for the packet path.
        if r.expires <= now || !f.matches(tenant, r) {
            return;
        }
        total += 1;
        if out.len() < want {
            out.push(Session {
                tenant: snap
                    .tenants()
                    .get(usize::from(r.tenant))
                    .map_or_else(|| format!("#{}", r.tenant), |t| t.name.clone()),
                worker,
                protocol: proto_name(r.proto).to_owned(),
                ipv6_address: Ipv6Addr::from(r.addr6),
                ipv6_port: r.port6,
                ipv4_address: Ipv4Addr::from(r.addr4),
                ipv4_port: r.port4,
                remote_address: Ipv4Addr::from(r.remote4),
                remote_port: r.rport,
                state: state_name(r.proto, r.state).to_owned(),
                expires_in_seconds: (r.expires - now) / 1_000_000_000,
                static_binding: r.is_static,
            });
        }
    });
    (total, out)
}

/// Shared by the workers (which publish into it and answer its session queries) and the threads that report
/// (the main thread, the control socket).
pub struct ReportHub {
    started: Instant,
    interfaces: Vec<String>,
    slots: Vec<Mutex<Publication>>,
    requests: Vec<ArrayQueue<SessionRequest>>,
}

impl fmt::Debug for ReportHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportHub")
            .field("workers", &self.slots.len())
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

impl ReportHub {
    /// A hub for `workers` workers (worker `k` publishes into slot `k`) translating on `interfaces`.
    pub fn new(workers: usize, interfaces: Vec<String>) -> Arc<ReportHub> {
        Arc::new(ReportHub {
            started: Instant::now(),
            interfaces,
            slots: (0..workers)
                .map(|_| Mutex::new(Publication::default()))
                .collect(),
            requests: (0..workers)
                .map(|_| ArrayQueue::new(SESSION_REQUESTS))
                .collect(),
        })
    }

    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// Latest published counters of every worker. Waits only for a worker that is swapping its publication
    /// in (a pointer swap); a worker that has not published yet shows zeros.
    pub fn stats(&self, running_version: Option<u64>) -> DataplaneStats {
        DataplaneStats {
            running_version,
            uptime_seconds: self.started.elapsed().as_secs(),
            interfaces: self.interfaces.clone(),
            workers: self
                .slots
                .iter()
                .enumerate()
                .map(|(k, slot)| {
                    // A poisoned slot still holds a whole publication (the worker swaps, it never writes in
                    // place under the lock).
                    let p = slot.lock().unwrap_or_else(|e| e.into_inner());
                    p.to_worker_stats(k as u32)
                })
                .collect(),
        }
    }

    /// Asks every worker for its sessions matching `q` and returns one page (matches in worker order, then
    /// table order). Err: a bad query (unknown protocol, limit 0 or above [`SESSIONS_MAX_LIMIT`]), or a worker
    /// that did not answer within [`SESSION_QUERY_TIMEOUT`] or has too many queries pending.
    pub fn sessions(&self, q: &SessionQuery) -> Result<SessionPage, String> {
        let limit = q.limit.unwrap_or(SESSIONS_DEFAULT_LIMIT);
        if limit == 0 || limit > SESSIONS_MAX_LIMIT {
            return Err(format!(
                "limit: must be between 1 and {SESSIONS_MAX_LIMIT}, got {limit}"
            ));
        }
        let proto = match q.protocol.as_deref() {
            None => None,
            Some("tcp") => Some(Proto::Tcp),
            Some("udp") => Some(Proto::Udp),
            Some("icmp") => Some(Proto::Icmp),
            Some(p) => {
                return Err(format!(
                    "protocol: unknown protocol {p:?} (expected tcp, udp or icmp)"
                ))
            }
        };
        let filter = Arc::new(SessionFilter {
            tenant: q.tenant.clone(),
            proto,
            address: q.address,
        });
        let want = q.offset.saturating_add(limit);
        let mut replies: Vec<Receiver<SessionAnswer>> = Vec::with_capacity(self.requests.len());
        for (k, queue) in self.requests.iter().enumerate() {
            let (reply, rx) = mpsc::sync_channel(1);
            let req = SessionRequest {
                filter: filter.clone(),
                want,
                reply,
            };
            if queue.push(req).is_err() {
                return Err(format!(
                    "worker {k}: {SESSION_REQUESTS} session queries already pending (is it stuck?)"
                ));
            }
            replies.push(rx);
        }
        let deadline = Instant::now() + SESSION_QUERY_TIMEOUT;
        let mut page = SessionPage {
            total: 0,
            offset: q.offset,
            sessions: Vec::new(),
        };
        let mut skip = q.offset;
        for (k, rx) in replies.into_iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let (total, matches) = rx.recv_timeout(left).map_err(|_| {
                format!(
                    "worker {k} did not answer the session query within {} ms",
                    SESSION_QUERY_TIMEOUT.as_millis()
                )
            })?;
            page.total += total;
            // Each worker sent its first min(total, offset + limit) matches: enough to fill the page.
            let take = matches.len().saturating_sub(skip);
            skip = skip.saturating_sub(matches.len());
            let room = limit - page.sessions.len();
            let from = matches.len() - take;
            page.sessions
                .extend(matches.into_iter().skip(from).take(room));
        }
        Ok(page)
    }
}

/// A worker's side of the hub: publishes its counters and answers session queries, between batches.
#[derive(Debug)]
pub struct Reporter {
    hub: Arc<ReportHub>,
    worker: usize,
    next_ns: u64,
    scratch: Publication,
}

impl Reporter {
    /// Worker `worker`'s reporter; `None` if the hub has no slot for it.
    pub fn new(hub: Arc<ReportHub>, worker: usize) -> Option<Reporter> {
        (worker < hub.workers()).then(|| Reporter {
            hub,
            worker,
            next_ns: 0,
            scratch: Publication::default(),
        })
    }

    /// True when the last publication is [`PUBLISH_INTERVAL_NS`] old (or there was none).
    #[inline]
    pub fn due(&self, now_ns: u64) -> bool {
        now_ns >= self.next_ns
    }

    /// The publication to fill ([`Publication::capture`], [`Publication::set_xdp`]) before [`Reporter::publish`].
    pub fn publication(&mut self) -> &mut Publication {
        &mut self.scratch
    }

    /// Swaps the filled publication into the hub unless a reader holds the slot (then the round is skipped
    /// and the next try is due [`PUBLISH_RETRY_NS`] later). Never blocks. True if published.
    pub fn publish(&mut self, now_ns: u64) -> bool {
        let slot = &self.hub.slots[self.worker];
        let mut guard = match slot.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.next_ns = now_ns.saturating_add(PUBLISH_RETRY_NS);
                return false;
            }
        };
        // The previous publication comes back as the next round's buffers.
        std::mem::swap(&mut *guard, &mut self.scratch);
        drop(guard);
        self.next_ns = now_ns.saturating_add(PUBLISH_INTERVAL_NS);
        true
    }

    /// Answers the session queries waiting for this worker (at most one queue's worth per call). Returns how
    /// many.
    pub fn answer_sessions(&self, pipeline: &Pipeline) -> usize {
        let queue = &self.hub.requests[self.worker];
        let mut n = 0;
        while n < SESSION_REQUESTS {
            let Some(req) = queue.pop() else {
                break;
            };
            n += 1;
            let answer = matching_sessions(pipeline, self.worker as u32, &req.filter, req.want);
            // The asker may have timed out and gone: nothing to do then.
            let _ = req.reply.try_send(answer);
        }
        n
    }
}

#[cfg(test)]
mod tests;
