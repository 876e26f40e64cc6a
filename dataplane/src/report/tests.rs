//! The report built from known counters, and session queries answered by worker threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use mgmt_api::config::Config;

use super::*;
use crate::frame::{Frame, FRAME_SIZE};
use crate::nat64::tests::{s6, tcp6, udp6, C6, C6B, F, S4, S4B};
use crate::nat64::timers::NS;
use crate::pipeline::OutcomeKind;
use crate::tables::Snapshot;

/// Two NAT64 tenants told apart by their pool6 (IPv6 side) and pool4 (IPv4 side).
fn two_tenants() -> Arc<Snapshot> {
    let toml = r#"
[[tenants]]
name = "alpha"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "203.0.113.1/32"

[[tenants]]
name = "beta"
id = 2
mode = "nat64"
pool6 = "2001:db8:65::/96"
[[tenants.pool4]]
prefix = "203.0.113.2/32"
"#;
    let cfg = Config::from_toml_str(toml).unwrap();
    Arc::new(Snapshot::compile(&cfg).unwrap())
}

/// Tenant beta's pool6 + an IPv4 address.
fn beta6(v4: [u8; 4]) -> [u8; 16] {
    let mut a = s6(v4);
    a[5] = 0x65;
    a
}

/// Runs `pkt` through the pipeline of the worker that owns it. Returns that worker.
fn run(pipes: &mut [Pipeline], pkt: &[u8]) -> usize {
    let mut w = 0;
    loop {
        let mut buf = vec![0u8; FRAME_SIZE];
        let mut frame = Frame::copy_from(&mut buf, pkt).unwrap();
        let o = pipes[w].process(&mut frame, &mut |_| {});
        match o.kind {
            OutcomeKind::HandedOff { worker } => w = usize::from(worker),
            OutcomeKind::Translated { .. } => return w,
            k => panic!("{k:?}"),
        }
    }
}

#[test]
fn report_rows_name_their_tenant_and_list_every_drop_reason() {
    let mut p = Publication {
        tenants: vec!["alpha".into(), "beta".into()],
        stats: Stats::for_tenants(2),
        arp_nd_probes: 4,
        ..Publication::default()
    };
    p.io.rx_packets = 10;
    p.stats.counters_mut(Some(1), Direction::V4ToV6).translated = 7;
    p.stats.counters_mut(Some(1), Direction::V4ToV6).dropped[DropReason::Nat64NoBinding as usize] =
        2;
    p.stats.unclassified.dropped[DropReason::NotIp as usize] = 3;
    p.xdp.push((
        "eth9".into(),
        XdpStats {
            rx_ring_full: 5,
            ..XdpStats::default()
        },
    ));
    let w = p.to_worker_stats(3);
    assert_eq!(w.worker, 3);
    assert_eq!(w.io["rx_packets"], 10);
    assert_eq!(w.io["arp_nd_probes"], 4);
    assert_eq!(w.io.len(), 17);
    assert!(w.io.values().filter(|&&v| v == 0).count() == 15);
    let rows: Vec<(Option<&str>, &str)> = w
        .translator
        .iter()
        .map(|r| (r.tenant.as_deref(), r.direction.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            (Some("alpha"), "v6_to_v4"),
            (Some("alpha"), "v4_to_v6"),
            (Some("beta"), "v6_to_v4"),
            (Some("beta"), "v4_to_v6"),
            (None, "v6_to_v4"),
            (None, "v4_to_v6"),
            (None, "unknown"),
        ]
    );
    for r in &w.translator {
        assert_eq!(
            r.dropped.len(),
            DropReason::COUNT,
            "every reason, zeros too"
        );
    }
    let beta = &w.translator[3];
    assert_eq!(beta.translated, 7);
    assert_eq!(beta.dropped["nat64_no_binding"], 2);
    assert_eq!(beta.dropped["truncated"], 0);
    assert_eq!(w.translator[6].dropped["not_ip"], 3);
    assert_eq!(w.xdp[0].interface, "eth9");
    assert_eq!(w.xdp[0].rx_ring_full, 5);
    // A worker that has not published yet reports zeros under the same names.
    let empty = Publication::default().to_worker_stats(0);
    assert_eq!(empty.io.len(), 17);
    assert_eq!(empty.translator.len(), 3);
    assert!(empty
        .translator
        .iter()
        .all(|r| r.dropped.len() == DropReason::COUNT));
}

#[test]
fn latency_buckets_are_cumulative_monotone_and_in_seconds() {
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    for ns in [100, 800, 1_000, 20_000, 20_000, 3_000_000_000u64] {
        h.record(ns).unwrap();
    }
    let mut out = LatencyHistogram::default();
    latency(&mut out, &h);
    assert_eq!(out.buckets.len(), LATENCY_BUCKETS_NS.len());
    assert_eq!(out.count, 6);
    let at = |s: f64| {
        out.buckets
            .iter()
            .find(|(b, _)| (b - s).abs() < 1e-12)
            .unwrap()
            .1
    };
    assert_eq!(at(250e-9), 1);
    assert_eq!(at(1e-6), 3, "1000 ns is ≤ 1 µs");
    assert_eq!(at(10e-6), 3);
    assert_eq!(at(25e-6), 5);
    assert_eq!(at(1.0), 5, "3 s is only in +Inf (the count)");
    assert!(out
        .buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    let exact = (100 + 800 + 1_000 + 40_000 + 3_000_000_000u64) as f64 / 1e9;
    assert!(
        (out.sum_seconds - exact).abs() / exact < 1e-3,
        "{}",
        out.sum_seconds
    );
    // Reused buffers: a second capture replaces, not appends.
    latency(&mut out, &h);
    assert_eq!(out.buckets.len(), LATENCY_BUCKETS_NS.len());
}

#[test]
fn capture_takes_counters_tables_and_pool4_usage_from_the_pipeline() {
    let mut p = Pipeline::new(two_tenants());
    p.set_now(NS);
    let n = 5;
    for k in 0..n {
        assert_eq!(
            run(
                std::slice::from_mut(&mut p),
                &udp6(C6, 6000 + k, beta6(S4), 53)
            ),
            0
        );
    }
    let io = IoCounters {
        rx_packets: 99,
        ..IoCounters::default()
    };
    let h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut pb = Publication::default();
    pb.capture(&io, 0, &p, [2, 0], &h);
    pb.set_xdp([("a", Some(XdpStats::default())), ("b", None)].into_iter());
    let w = pb.to_worker_stats(0);
    assert_eq!(w.io["rx_packets"], 99);
    let beta = w
        .translator
        .iter()
        .find(|r| r.tenant.as_deref() == Some("beta") && r.direction == "v6_to_v4")
        .unwrap();
    assert_eq!((beta.received, beta.translated), (5, 5));
    let untenanted = w
        .translator
        .iter()
        .find(|r| r.tenant.is_none() && r.direction == "v6_to_v4")
        .unwrap();
    assert_eq!(
        untenanted.dropped["handoff_ring_full"], 2,
        "the worker's ring-full drops"
    );
    assert_eq!(w.nat64.len(), 2);
    assert_eq!(
        (
            w.nat64[0].tenant.as_str(),
            w.nat64[0].sessions,
            w.nat64[0].bib_entries
        ),
        ("alpha", 0, 0)
    );
    let b = &w.nat64[1];
    assert_eq!(
        (b.tenant.as_str(), b.sessions, b.bib_entries),
        ("beta", 5, 5)
    );
    let udp = b.pool4.iter().find(|u| u.protocol == "udp").unwrap();
    assert_eq!(udp.address, Ipv4Addr::new(203, 0, 113, 2));
    assert_eq!((udp.ports_in_use, udp.ports_total), (5, 65536 - 1024));
    assert_eq!(b.pool4.len(), 3, "one address, three protocols");
    assert_eq!(w.xdp.len(), 1, "a socket without counters is left out");
    assert_eq!(w.batch_latency.count, 0);
    // Capturing again into the same buffers gives the same report.
    pb.capture(&io, 0, &p, [2, 0], &h);
    pb.set_xdp([("a", Some(XdpStats::default()))].into_iter());
    assert_eq!(pb.to_worker_stats(0), w);
}

#[test]
fn a_published_round_reaches_the_hub_and_a_held_slot_is_skipped() {
    let hub = ReportHub::new(2, vec!["v6".into(), "v4".into()]);
    let mut r = Reporter::new(hub.clone(), 1).unwrap();
    assert!(Reporter::new(hub.clone(), 2).is_none());
    assert!(r.due(0));
    r.publication().io.rx_packets = 42;
    {
        let _reader = hub.slots[1].lock().unwrap();
        assert!(!r.publish(5), "a reader holds the slot: skip, do not block");
    }
    assert!(
        !r.due(5 + PUBLISH_RETRY_NS - 1),
        "skipped: retried a little later"
    );
    assert!(r.due(5 + PUBLISH_RETRY_NS));
    assert!(r.publish(5));
    assert!(!r.due(5 + PUBLISH_INTERVAL_NS - 1));
    assert!(r.due(5 + PUBLISH_INTERVAL_NS));
    let s = hub.stats(Some(7));
    assert_eq!(s.running_version, Some(7));
    assert_eq!(s.interfaces, ["v6", "v4"]);
    assert_eq!(s.workers.len(), 2);
    assert_eq!(s.workers[0].io["rx_packets"], 0, "not published yet");
    assert_eq!(s.workers[1].io["rx_packets"], 42);
    assert_eq!(s.workers[1].worker, 1);
}

/// Two workers' pipelines with sessions of both tenants, each answering queries on its own thread.
struct Workers {
    hub: Arc<ReportHub>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Workers {
    fn start(pipes: Vec<Pipeline>) -> Workers {
        let hub = ReportHub::new(pipes.len(), Vec::new());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = pipes
            .into_iter()
            .enumerate()
            .map(|(k, p)| {
                let r = Reporter::new(hub.clone(), k).unwrap();
                let stop = stop.clone();
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        r.answer_sessions(&p);
                        thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        Workers { hub, stop, threads }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

fn query(tenant: Option<&str>, protocol: Option<&str>, address: Option<IpAddr>) -> SessionQuery {
    SessionQuery {
        tenant: tenant.map(str::to_owned),
        protocol: protocol.map(str::to_owned),
        address,
        offset: 0,
        limit: None,
    }
}

#[test]
fn session_queries_filter_and_page_across_two_workers() {
    let snap = two_tenants();
    let mut pipes: Vec<Pipeline> = (0..2)
        .map(|w| Pipeline::new_worker(snap.clone(), w, 2))
        .collect();
    for p in &mut pipes {
        p.set_now(10 * NS);
    }
    // alpha: 20 UDP sessions from C6 (ports spread over both workers) and one TCP session; beta: 3 UDP.
    let mut owners = [0usize; 2];
    for k in 0..20 {
        owners[run(&mut pipes, &udp6(C6, 5000 + k, s6(S4), 53))] += 1;
    }
    assert!(
        owners[0] > 0 && owners[1] > 0,
        "both workers own some: {owners:?}"
    );
    run(&mut pipes, &tcp6(C6B, 7000, s6(S4B), 80, F::Syn));
    for k in 0..3 {
        run(&mut pipes, &udp6(C6B, 9000 + k, beta6(S4B), 53));
    }
    let w = Workers::start(pipes);
    let hub = &w.hub;

    let all = hub.sessions(&query(None, None, None)).unwrap();
    assert_eq!((all.total, all.sessions.len(), all.offset), (24, 24, 0));
    assert!(
        all.sessions.windows(2).all(|p| p[0].worker <= p[1].worker),
        "worker order"
    );
    assert_eq!(
        hub.sessions(&query(Some("alpha"), None, None))
            .unwrap()
            .total,
        21
    );
    let beta = hub.sessions(&query(Some("beta"), None, None)).unwrap();
    assert_eq!(beta.total, 3);
    assert!(beta.sessions.iter().all(|s| s.tenant == "beta"
        && s.protocol == "udp"
        && s.state == "active"
        && s.remote_address == Ipv4Addr::from(S4B)
        && s.ipv4_address == Ipv4Addr::new(203, 0, 113, 2)
        && s.expires_in_seconds > 0
        && !s.static_binding));
    assert_eq!(
        hub.sessions(&query(Some("gamma"), None, None))
            .unwrap()
            .total,
        0
    );
    let tcp = hub.sessions(&query(None, Some("tcp"), None)).unwrap();
    assert_eq!(tcp.total, 1);
    let t = &tcp.sessions[0];
    assert_eq!(
        (
            t.tenant.as_str(),
            t.ipv6_address,
            t.ipv6_port,
            t.remote_port,
            t.state.as_str()
        ),
        ("alpha", Ipv6Addr::from(C6B), 7000, 80, "v6_init")
    );
    // By address: the IPv6 client, the IPv4 remote, the pool4 address.
    let by = |a: IpAddr| hub.sessions(&query(None, None, Some(a))).unwrap().total;
    assert_eq!(by(Ipv6Addr::from(C6).into()), 20);
    assert_eq!(by(Ipv4Addr::from(S4B).into()), 4);
    assert_eq!(by(Ipv4Addr::new(203, 0, 113, 2).into()), 3);
    assert_eq!(by(Ipv4Addr::new(192, 0, 2, 99).into()), 0);
    assert_eq!(
        hub.sessions(&query(
            Some("alpha"),
            Some("udp"),
            Some(Ipv4Addr::from(S4).into())
        ))
        .unwrap()
        .total,
        20
    );

    // Pages over the 24, across the worker boundary: together they are the full list, in order.
    let mut paged = Vec::new();
    for offset in (0..24).step_by(5) {
        let mut q = query(None, None, None);
        q.offset = offset;
        q.limit = Some(5);
        let page = hub.sessions(&q).unwrap();
        assert_eq!((page.total, page.offset), (24, offset));
        assert_eq!(page.sessions.len(), 5.min(24 - offset));
        paged.extend(page.sessions);
    }
    assert_eq!(paged, all.sessions);
    let mut q = query(None, None, None);
    q.offset = 100;
    let past = hub.sessions(&q).unwrap();
    assert_eq!((past.total, past.sessions.len()), (24, 0));
}

#[test]
fn bad_session_queries_are_refused_and_a_silent_worker_times_out() {
    let hub = ReportHub::new(1, Vec::new());
    let mut q = query(None, Some("sctp"), None);
    let e = hub.sessions(&q).unwrap_err();
    assert!(e.contains("protocol") && e.contains("sctp"), "{e}");
    q.protocol = None;
    q.limit = Some(0);
    assert!(hub.sessions(&q).unwrap_err().starts_with("limit"));
    q.limit = Some(SESSIONS_MAX_LIMIT + 1);
    assert!(hub.sessions(&q).unwrap_err().starts_with("limit"));
    // Nobody answers for worker 0.
    q.limit = Some(SESSIONS_MAX_LIMIT);
    let t = Instant::now();
    let e = hub.sessions(&q).unwrap_err();
    assert!(e.contains("worker 0 did not answer"), "{e}");
    assert!(t.elapsed() >= SESSION_QUERY_TIMEOUT && t.elapsed() < 3 * SESSION_QUERY_TIMEOUT);
    // Its queue fills up with the unanswered queries: then refused at once.
    for _ in 0..SESSION_REQUESTS {
        let _ = hub.requests[0].push(SessionRequest {
            filter: Arc::new(SessionFilter {
                tenant: None,
                proto: None,
                address: None,
            }),
            want: 1,
            reply: mpsc::sync_channel(1).0,
        });
    }
    let t = Instant::now();
    assert!(hub.sessions(&q).unwrap_err().contains("pending"));
    assert!(t.elapsed() < SESSION_QUERY_TIMEOUT);
}

#[test]
fn a_worker_without_nat64_answers_with_nothing() {
    let cfg = Config::from_toml_str(
        "[[tenants]]\nname = \"siit\"\nid = 1\nmode = \"siit\"\npool6 = \"2001:db8:64::/96\"\n",
    )
    .unwrap();
    let p = Pipeline::new(Arc::new(Snapshot::compile(&cfg).unwrap()));
    let w = Workers::start(vec![p]);
    let page = w.hub.sessions(&SessionQuery::default()).unwrap();
    assert_eq!((page.total, page.sessions.len()), (0, 0));
}
