//! Stateful NAT64 (RFC 6146) on one worker: established-flow translation, new-session rate, bytes per session
//! (docs/benchmarks-nat64.md has the results and how to read them).
//!
//! - `nat64_established/<proto>_<direction>/<flows>/<batch|per_packet>`: UDP or TCP (ACK segments of ESTABLISHED sessions),
//!   IPv6→IPv4 or IPv4→IPv6, with 4 Ki or 1 Mi sessions in the table. Every packet belongs to a flow chosen
//!   at random (uniformly, with replacement), so with 1 Mi flows nearly every lookup misses the caches, as it
//!   would on a loaded appliance.
//! - `nat64_new/<proto>_v6_to_v4`: packets of flows never seen before (UDP, or TCP SYNs), each creating a
//!   binding and a session, until the table (1 Mi sessions) is full; then, outside the timed section, the clock
//!   jumps past the timeouts and the timer pass empties the table.
//!
//! One criterion iteration is one batch of 64 frames, as a worker would take from its RX ring: the packets are
//! written into 64 frame buffers (a template plus the flow's addresses, ports and checksums, read from a
//! precomputed sequence, standing in for the NIC) and then translated by `Pipeline::process_batch`
//! (`batch`: lookahead and prefetching first), or frame by frame by `Pipeline::process` (`per_packet`, the
//! established cases only, measured right after `batch` so that the ratio of the two is fair on a noisy
//! machine).
//!
//! `cargo bench -p xlat64-dataplane --bench nat64 -- --measurement-time 3 --warm-up-time 1`
//!
//! Bytes per session are printed first (from the tables' actual allocation: slab capacity × entry size plus the
//! hash bucket arrays, see `Nat64State::memory`).
//!
//! Instructions per packet (callgrind, repeatable on a noisy machine): `NAT64_BENCH_COUNT=<case>` runs that case
//! for `NAT64_BENCH_BATCHES` batches (default 2000) in `measured_batches` only, without criterion:
//!
//! ```text
//! NAT64_BENCH_COUNT=udp_v6_to_v4/1M valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*measured_batches*' target/release/deps/nat64-<hash> --bench
//! ```
//! (instructions per packet = callgrind's total / (64 × batches); docs/benchmarks-nat64.md has the
//! commands.) `NAT64_BENCH_PER_PACKET=1` counts `Pipeline::process` frame by frame instead.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use dataplane::frame::{Frame, FRAME_SIZE, HEADROOM};
use dataplane::nat64::{timers, Nat64Capacity};
use dataplane::pipeline::{Outcome, OutcomeKind, Output, Pipeline};
use dataplane::tables::Snapshot;
use etherparse::PacketBuilder;
use mgmt_api::config::Config;

const BATCH: usize = 64;
const SMALL: usize = 4096;
const LARGE: usize = 1 << 20;
/// Length of the random flow sequence replayed by the established cases (at least the flow count, so the
/// working set is every flow, not a cached subset).
const SEQ_MIN: usize = 1 << 16;
/// Table size of the new-session cases when counting instructions.
const COUNT_NEW: usize = 1 << 16;
/// Payload bytes (78-byte IPv6 UDP packets, like RFC 2544's 64-byte Ethernet frames plus the IPv6 growth).
const PAYLOAD: usize = 30;

const CONFIG: &str = r#"
[[tenants]]
name = "bench"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "203.0.113.0/24"
"#;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// Flow `i`'s IPv6 client: `2001:db8:1::<i>`, port 1024 + i % 50000; its IPv4 server 198.51.100.(1 + i % 200):53
/// (80 for TCP), written as `2001:db8:64::198.51.100.x`.
fn v6_packet(proto: Proto, i: u32, flags: u8) -> Vec<u8> {
    let mut src = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    src[12..].copy_from_slice(&i.to_be_bytes());
    let dst = [
        0x20,
        0x01,
        0x0d,
        0xb8,
        0,
        0x64,
        0,
        0,
        0,
        0,
        0,
        0,
        198,
        51,
        100,
        (i % 200) as u8 + 1,
    ];
    let sport = 1024 + (i % 50000) as u16;
    let b = PacketBuilder::ipv6(src, dst, 64);
    let mut v = Vec::new();
    match proto {
        Proto::Udp => b.udp(sport, 53).write(&mut v, &[0u8; PAYLOAD]),
        Proto::Tcp => {
            let mut b = b.tcp(sport, 80, 1000 + i, 65535);
            if flags & TCP_SYN != 0 {
                b = b.syn();
            }
            if flags & TCP_ACK != 0 {
                b = b.ack(1);
            }
            b.write(&mut v, &[0u8; PAYLOAD - 12])
        }
    }
    .expect("packet");
    v
}

/// The IPv4 answer to an IPv6→IPv4 translated packet: addresses and ports swapped, TCP flags set to `flags`.
fn v4_reply(proto: Proto, out: &[u8], flags: u8) -> Vec<u8> {
    let src: [u8; 4] = out[16..20].try_into().unwrap();
    let dst: [u8; 4] = out[12..16].try_into().unwrap();
    let sport = u16::from_be_bytes([out[22], out[23]]);
    let dport = u16::from_be_bytes([out[20], out[21]]);
    let b = PacketBuilder::ipv4(src, dst, 64);
    let mut v = Vec::new();
    match proto {
        Proto::Udp => b.udp(sport, dport).write(&mut v, &[0u8; PAYLOAD]),
        Proto::Tcp => {
            let mut b = b.tcp(sport, dport, 5000, 65535);
            if flags & TCP_SYN != 0 {
                b = b.syn();
            }
            if flags & TCP_ACK != 0 {
                b = b.ack(1);
            }
            b.write(&mut v, &[0u8; PAYLOAD - 12])
        }
    }
    .expect("packet");
    v
}

/// Bytes that differ between the packets of one case, at fixed offsets: (offset, value) pairs of one packet.
/// Packets of a case have the same length and layout, so a packet is the case's template plus its patch.
#[derive(Clone, Copy)]
struct Patch {
    /// 16-bit words: (offset, value). Unused slots have offset u16::MAX.
    words: [(u16, u16); 8],
}

impl Patch {
    fn diff(template: &[u8], pkt: &[u8]) -> Patch {
        assert_eq!(template.len(), pkt.len());
        let mut words = [(u16::MAX, 0); 8];
        let mut n = 0;
        for at in (0..pkt.len()).step_by(2) {
            if template[at..at + 2] != pkt[at..at + 2] {
                assert!(n < words.len(), "too many differences");
                words[n] = (at as u16, u16::from_be_bytes([pkt[at], pkt[at + 1]]));
                n += 1;
            }
        }
        Patch { words }
    }

    #[inline(always)]
    fn apply(&self, p: &mut [u8]) {
        for &(at, v) in &self.words {
            if at == u16::MAX {
                break;
            }
            let at = usize::from(at);
            p[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// A replayable stream of packets: one template, one patch per packet.
struct Stream {
    template: Vec<u8>,
    patches: Vec<Patch>,
    next: usize,
}

impl Stream {
    fn new(pkts: impl Iterator<Item = Vec<u8>>) -> Stream {
        let mut template = Vec::new();
        let mut patches = Vec::new();
        for p in pkts {
            if template.is_empty() {
                template = p.clone();
            }
            patches.push(Patch::diff(&template, &p));
        }
        Stream {
            template,
            patches,
            next: 0,
        }
    }
}

/// The 64 frame buffers of a batch.
struct Batch {
    bufs: Vec<Box<[u8]>>,
    lens: [usize; BATCH],
}

impl Batch {
    fn new() -> Batch {
        Batch {
            bufs: (0..BATCH)
                .map(|_| vec![0u8; FRAME_SIZE].into_boxed_slice())
                .collect(),
            lens: [0; BATCH],
        }
    }

    /// Writes the next 64 packets of `s` into the buffers (the NIC's part).
    #[inline(always)]
    fn fill(&mut self, s: &mut Stream) {
        let n = s.template.len();
        for (k, buf) in self.bufs.iter_mut().enumerate() {
            if s.next == s.patches.len() {
                s.next = 0;
            }
            let p = &mut buf[HEADROOM..HEADROOM + n];
            p.copy_from_slice(&s.template);
            s.patches[s.next].apply(p);
            s.next += 1;
            self.lens[k] = n;
        }
    }

    /// Translates the batch frame by frame with `Pipeline::process` (no lookahead); returns the number of
    /// packets emitted.
    #[inline(always)]
    fn process_each(&mut self, p: &mut Pipeline) -> usize {
        let mut sent = 0usize;
        for (b, &len) in self.bufs.iter_mut().zip(&self.lens) {
            let mut f = Frame::new(b, HEADROOM, HEADROOM + len);
            p.process(&mut f, &mut |o: Output<'_>| {
                black_box(o.packet);
                sent += 1;
            });
        }
        sent
    }

    /// Translates the batch; returns the number of packets emitted.
    #[inline(always)]
    fn process(&mut self, p: &mut Pipeline) -> usize {
        let mut frames: [Frame<'_>; BATCH] = {
            let mut it = self.bufs.iter_mut().zip(self.lens);
            std::array::from_fn(|_| {
                let (b, len) = it.next().expect("64 buffers");
                Frame::new(b, HEADROOM, HEADROOM + len)
            })
        };
        let mut outcomes = [Outcome {
            direction: None,
            tenant: None,
            kind: OutcomeKind::Translated { packets: 0 },
        }; BATCH];
        let mut sent = 0usize;
        p.process_batch(&mut frames, &mut outcomes, &mut |_, o: Output<'_>| {
            black_box(o.packet);
            sent += 1;
        });
        sent
    }
}

/// A pipeline with `flows` established sessions of `proto`, and the streams of both directions.
struct Established {
    pipeline: Pipeline,
    v6: Stream,
    v4: Stream,
}

fn snapshot() -> Arc<Snapshot> {
    Arc::new(Snapshot::compile(&Config::from_toml_str(CONFIG).expect("config")).expect("snapshot"))
}

const START: u64 = 1_000 * timers::NS;

fn one(p: &mut Pipeline, pkt: &[u8], out: Option<&mut Vec<u8>>) -> OutcomeKind {
    let mut buf = vec![0u8; FRAME_SIZE];
    let mut f = Frame::copy_from(&mut buf, pkt).expect("fits");
    let mut out = out;
    p.process(&mut f, &mut |o| {
        if let Some(v) = out.as_deref_mut() {
            v.clear();
            v.extend_from_slice(o.packet);
        }
    })
    .kind
}

/// xorshift64*: the flow sequence.
fn rng(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn established(proto: Proto, flows: usize) -> Established {
    let cap = Nat64Capacity {
        sessions: flows,
        held_syns: 256,
    };
    let mut p = Pipeline::with_nat64_capacity(snapshot(), 0, 1, cap);
    p.set_now(START);
    let ok = OutcomeKind::Translated { packets: 1 };
    let mut out = Vec::new();
    let mut replies = Vec::with_capacity(flows);
    for i in 0..flows as u32 {
        let first = if proto == Proto::Tcp { TCP_SYN } else { 0 };
        assert_eq!(one(&mut p, &v6_packet(proto, i, first), Some(&mut out)), ok);
        if proto == Proto::Tcp {
            // SYN-ACK: V6 INIT → ESTABLISHED.
            let synack = v4_reply(proto, &out, TCP_SYN | TCP_ACK);
            assert_eq!(one(&mut p, &synack, None), ok);
        }
        replies.push(v4_reply(proto, &out, TCP_ACK));
    }
    let st = p.nat64().expect("nat64 state");
    assert_eq!(st.sessions.len(), flows);
    if proto == Proto::Tcp {
        assert!(st
            .sessions
            .iter()
            .all(|(_, s)| s.state == dataplane::nat64::tcp::TcpState::Established));
    }
    let seq_len = flows.max(SEQ_MIN);
    let mut r = 0x9e37_79b9_7f4a_7c15 ^ flows as u64;
    let seq: Vec<u32> = (0..seq_len)
        .map(|_| (rng(&mut r) % flows as u64) as u32)
        .collect();
    let v6 = Stream::new(seq.iter().map(|&i| v6_packet(proto, i, TCP_ACK)));
    let v4 = Stream::new(seq.iter().map(|&i| replies[i as usize].clone()));
    Established {
        pipeline: p,
        v6,
        v4,
    }
}

/// Fresh flows (UDP, or TCP SYNs) for the new-session rate: flow `i` of `2 × capacity` (the second half after
/// the first reset, and so on).
fn fresh(proto: Proto, capacity: usize) -> Stream {
    let flags = if proto == Proto::Tcp { TCP_SYN } else { 0 };
    Stream::new((0..2 * capacity as u32).map(|i| v6_packet(proto, i, flags)))
}

/// Empties the tables: the clock jumps past every timeout (TCP V6 INIT sessions have the transitory one), the
/// timer pass expires everything.
fn reset(p: &mut Pipeline) {
    let now = p.now() + 7_500 * timers::NS;
    p.run_timers_until(now, &mut |_| {});
    assert_eq!(p.nat64().expect("nat64").sessions.len(), 0);
}

#[inline(never)]
fn measured_batches(
    p: &mut Pipeline,
    s: &mut Stream,
    b: &mut Batch,
    batches: usize,
    reset_full: bool,
) -> usize {
    let mut sent = 0;
    for _ in 0..batches {
        if reset_full {
            let st = p.nat64().expect("nat64");
            if st.sessions.len() + BATCH > st.sessions.capacity() {
                reset(p);
            }
        }
        b.fill(s);
        sent += if per_packet() {
            b.process_each(p)
        } else {
            b.process(p)
        };
    }
    sent
}

/// `NAT64_BENCH_PER_PACKET=1`: count `Pipeline::process` frame by frame instead of `process_batch`.
fn per_packet() -> bool {
    std::env::var_os("NAT64_BENCH_PER_PACKET").is_some()
}

fn memory_report() {
    for flows in [SMALL, LARGE] {
        let p = established(Proto::Udp, flows);
        let st = p.pipeline.nat64().expect("nat64");
        let m = st.memory();
        let per = |bytes: usize| bytes as f64 / flows as f64;
        println!(
            "memory, {flows} sessions (one binding each): sessions {:.1} B/session ({} B entry + buckets), \
             bindings {:.1} B/binding ({} B entry + 2 buckets), total {:.1} B/session; fixed (held SYNs, \
             fragment table) {:.1} MiB",
            per(m.sessions),
            std::mem::size_of::<dataplane::nat64::session::Session>(),
            per(m.bib),
            std::mem::size_of::<dataplane::nat64::bib::BibEntry>(),
            per(m.sessions + m.bib),
            m.fixed as f64 / (1 << 20) as f64,
        );
    }
}

fn case_names() -> Vec<String> {
    let mut v = Vec::new();
    for proto in [Proto::Udp, Proto::Tcp] {
        for dir in ["v6_to_v4", "v4_to_v6"] {
            for flows in ["4K", "1M"] {
                v.push(format!("{}_{dir}/{flows}", proto.name()));
            }
        }
    }
    for proto in [Proto::Udp, Proto::Tcp] {
        v.push(format!("new_{}_v6_to_v4", proto.name()));
    }
    v
}

/// One case's pipeline and packet stream; `reset_full` for the new-session cases.
fn setup(case: &str, new_capacity: usize) -> (Pipeline, Stream, bool) {
    if let Some(proto) = case.strip_prefix("new_") {
        let proto = if proto.starts_with("udp") {
            Proto::Udp
        } else {
            Proto::Tcp
        };
        let cap = Nat64Capacity {
            sessions: new_capacity,
            held_syns: 256,
        };
        let mut p = Pipeline::with_nat64_capacity(snapshot(), 0, 1, cap);
        p.set_now(START);
        (p, fresh(proto, new_capacity), true)
    } else {
        let (pd, flows) = case
            .split_once('/')
            .expect("case: <proto>_<dir>/<flows>, or NAT64_BENCH_COUNT=list");
        let flows = if flows == "1M" { LARGE } else { SMALL };
        let proto = if pd.starts_with("udp") {
            Proto::Udp
        } else {
            Proto::Tcp
        };
        let e = established(proto, flows);
        let s = if pd.ends_with("v6_to_v4") { e.v6 } else { e.v4 };
        (e.pipeline, s, false)
    }
}

/// `NAT64_BENCH_COUNT=<case>`: instruction counting under callgrind (only `measured_batches` collected), or
/// with `NAT64_BENCH_TIME=1` timing of single batches, `process_batch` and frame-by-frame `process`
/// alternating batch by batch so that both see the same machine (reports the minimum, 10th percentile and
/// median per batch: on a shared machine the low percentiles show the code, the median the neighbours).
fn count(case: &str) {
    let batches: usize = std::env::var("NAT64_BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let timing = std::env::var_os("NAT64_BENCH_TIME").is_some();
    // Under callgrind a smaller table for the new-session cases (setting up runs under callgrind too); the
    // instructions per new session do not depend on the table size.
    let (mut p, mut s, reset_full) = setup(case, if timing { LARGE } else { COUNT_NEW });
    let mut b = Batch::new();
    if !reset_full {
        // Warm-up, outside the counted function.
        for _ in 0..16 {
            b.fill(&mut s);
            b.process(&mut p);
        }
    }
    if !timing {
        let sent = measured_batches(&mut p, &mut s, &mut b, batches, reset_full);
        assert_eq!(sent, batches * BATCH, "every packet translated");
        println!("{case}: {batches} batches of {BATCH} packets");
        return;
    }
    let mut ns = [Vec::new(), Vec::new()];
    for _ in 0..batches {
        for (mode, times) in ns.iter_mut().enumerate() {
            let st = p.nat64().expect("nat64");
            if reset_full && st.sessions.len() + BATCH > st.sessions.capacity() {
                reset(&mut p);
            }
            b.fill(&mut s);
            let t = Instant::now();
            let n = if mode == 0 {
                b.process(&mut p)
            } else {
                b.process_each(&mut p)
            };
            times.push(t.elapsed().as_nanos() as f64 / BATCH as f64);
            assert_eq!(n, BATCH);
        }
    }
    for (mode, times) in ["batch", "per_packet"].iter().zip(&mut ns) {
        times.sort_by(f64::total_cmp);
        let q = |f: f64| times[((times.len() - 1) as f64 * f) as usize];
        println!(
            "{case} {mode}: ns/packet min {:.1} p10 {:.1} median {:.1} (Mpps at p10 {:.2}, median {:.2})",
            q(0.0),
            q(0.1),
            q(0.5),
            1e3 / q(0.1),
            1e3 / q(0.5)
        );
    }
}

/// `cargo test --benches` (no `--bench` argument): every kind of case once on small tables, not a measurement
/// (a debug build would take minutes to set up a million sessions).
fn smoke() {
    let mut b = Batch::new();
    for proto in [Proto::Udp, Proto::Tcp] {
        let mut e = established(proto, SMALL);
        e.pipeline
            .nat64_mut()
            .expect("nat64")
            .lookahead_min_sessions = 0;
        for s in [&mut e.v6, &mut e.v4] {
            b.fill(s);
            assert_eq!(b.process(&mut e.pipeline), BATCH);
            b.fill(s);
            assert_eq!(b.process_each(&mut e.pipeline), BATCH);
        }
        let (mut p, mut s, _) = setup(&format!("new_{}_v6_to_v4", proto.name()), 256);
        assert_eq!(
            measured_batches(&mut p, &mut s, &mut b, 10, true),
            10 * BATCH
        );
    }
    println!("nat64 bench: smoke run passed (run with `cargo bench` to measure)");
}

fn main() {
    if let Ok(case) = std::env::var("NAT64_BENCH_COUNT") {
        if case == "list" {
            case_names().iter().for_each(|c| println!("{c}"));
        } else {
            count(&case);
        }
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        smoke();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    memory_report();

    let mut g = c.benchmark_group("nat64_established");
    g.throughput(Throughput::Elements(BATCH as u64));
    for proto in [Proto::Udp, Proto::Tcp] {
        for (flows, fname) in [(SMALL, "4K"), (LARGE, "1M")] {
            let mut e = established(proto, flows);
            let mut b = Batch::new();
            for dir in ["v6_to_v4", "v4_to_v6"] {
                let s = if dir == "v6_to_v4" {
                    &mut e.v6
                } else {
                    &mut e.v4
                };
                let p = &mut e.pipeline;
                let name = format!("{}_{dir}/{fname}", proto.name());
                g.bench_function(BenchmarkId::new(&name, "batch"), |bch| {
                    bch.iter(|| {
                        b.fill(s);
                        let n = b.process(p);
                        debug_assert_eq!(n, BATCH);
                        black_box(n)
                    })
                });
                g.bench_function(BenchmarkId::new(&name, "per_packet"), |bch| {
                    bch.iter(|| {
                        b.fill(s);
                        let n = b.process_each(p);
                        debug_assert_eq!(n, BATCH);
                        black_box(n)
                    })
                });
            }
            let st = e.pipeline.stats();
            let dropped: u64 = st.rows().flat_map(|d| d.dropped.iter()).sum();
            assert_eq!(dropped, 0, "no drops in the established cases");
        }
    }
    g.finish();

    let mut g = c.benchmark_group("nat64_new");
    g.throughput(Throughput::Elements(BATCH as u64));
    for proto in [Proto::Udp, Proto::Tcp] {
        let cap = Nat64Capacity {
            sessions: LARGE,
            held_syns: 256,
        };
        let mut p = Pipeline::with_nat64_capacity(snapshot(), 0, 1, cap);
        p.set_now(START);
        let mut s = fresh(proto, LARGE);
        let mut b = Batch::new();
        g.bench_function(format!("{}_v6_to_v4", proto.name()), |bch| {
            bch.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let st = p.nat64().expect("nat64");
                    if st.sessions.len() + BATCH > st.sessions.capacity() {
                        reset(&mut p);
                    }
                    let start = Instant::now();
                    b.fill(&mut s);
                    let n = b.process(&mut p);
                    t += start.elapsed();
                    debug_assert_eq!(n, BATCH);
                    black_box(n);
                }
                t
            })
        });
        let st = p.stats();
        let dropped: u64 = st.rows().flat_map(|d| d.dropped.iter()).sum();
        assert_eq!(dropped, 0, "no drops in the new-session cases");
    }
    g.finish();
    c.final_summary();
}
