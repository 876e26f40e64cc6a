//! End-to-end reports: a real worker thread (AF_XDP sockets, the XDP steering program, netlink neighbours) runs
//! in-process inside the appliance's namespace of the `e2e_siit.rs` topology, publishing into a `ReportHub`
//! the test reads directly: after pings through stateful NAT64, the hub's counters, tables and sessions must
//! show them. (The binary builds its hub the same way; until the control socket serves it, this is how the
//! live path's reports are tested.)
//!
//! Needs root and iproute2, iputils-ping, ethtool. Skipped (with a message) when not root.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use dataplane::io::afxdp::{retry_while_busy, XskPort, XskSizes};
use dataplane::io::steer::{SteerProgram, STEER_V4, STEER_V6};
use dataplane::l2;
use dataplane::pipeline::Pipeline;
use dataplane::report::ReportHub;
use dataplane::tables::Snapshot;
use dataplane::worker::{self, Control, Egress, WorkerConfig, WorkerReport};
use mgmt_api::config::parse_mac;
use mgmt_api::report::{SessionQuery, SESSIONS_MAX_LIMIT};
use mgmt_api::Config;

/// Starts the appliance on a thread that entered `t`'s appliance namespace: sockets on queue 0 of both
/// interfaces, the steering programs, one worker (started from that thread, so in that namespace too).
/// Returns once it runs; the thread returns the worker's report after `ctl.stop`.
fn start(t: &Topo, cfg: &Config, ctl: Arc<Control>) -> thread::JoinHandle<WorkerReport> {
    let snapshot = Arc::new(Snapshot::compile(cfg).unwrap());
    let names = vec![format!("a6-{}", t.s), format!("a4-{}", t.s)];
    let ns = format!("/run/netns/{}", t.appliance);
    // /sys shows the test's own namespace (setns does not remount it): read the MACs with ip.
    let macs: Vec<[u8; 6]> = names
        .iter()
        .map(|n| {
            let out = ok(&format!("ip -n {} link show {n}", t.appliance));
            let mac = out
                .split_whitespace()
                .skip_while(|w| *w != "link/ether")
                .nth(1)
                .unwrap_or_else(|| panic!("no MAC in {out}"));
            parse_mac(mac).unwrap()
        })
        .collect();
    let (ready, is_ready) = mpsc::channel();
    let h = thread::spawn(move || {
        let f = std::fs::File::open(&ns).unwrap();
        // SAFETY: setns on an open namespace file; it moves this thread only.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let port = retry_while_busy(Duration::from_secs(5), || {
            XskPort::new(&names, 0, XskSizes::default())
        })
        .unwrap();
        let (local4, local6) = l2::local_addresses().unwrap();
        let mut progs = Vec::new();
        for (k, (name, fam)) in names.iter().zip([STEER_V6, STEER_V4]).enumerate() {
            let mut p = SteerProgram::load().unwrap();
            p.set_families(fam).unwrap();
            p.add_snapshot(&snapshot).unwrap();
            for a in &local4 {
                p.add_local4(*a).unwrap();
            }
            for a in &local6 {
                p.add_local6(*a).unwrap();
            }
            p.set_xsk(0, port.fd(k)).unwrap();
            p.attach(l2::ifindex(name).unwrap()).unwrap();
            progs.push(p);
        }
        let egress = |k: usize| Egress {
            sock: k,
            ifindex: l2::ifindex(&names[k]).unwrap(),
            src_mac: macs[k],
            static_mac: None,
        };
        let wcfg = WorkerConfig {
            queue: 0,
            batch: 64,
            busy_poll: false,
            poll_timeout_ms: 1000,
            core: None,
            ingress: names
                .iter()
                .map(|n| snapshot.interface_index(n).unwrap_or(u16::MAX))
                .collect(),
            v6: egress(0),
            v4: egress(1),
        };
        let pipeline = Pipeline::new_worker(snapshot, 0, 1);
        let c = ctl.clone();
        let w = thread::spawn(move || worker::run(port, pipeline, wcfg, c, None));
        ready.send(()).unwrap();
        while !ctl.stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(20));
        }
        for mut p in progs {
            p.detach();
        }
        w.join().unwrap()
    });
    is_ready.recv_timeout(Duration::from_secs(20)).unwrap();
    h
}

#[test]
fn live_worker_reports_counters_tables_and_sessions() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let cfg = Config::from_toml_str(&format!(
        r#"
[[tenants]]
name = "mobile"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
own_ipv4 = "{BOX4}"
own_ipv6 = "{BOX6}"

[[tenants.pool4]]
prefix = "203.0.113.1/32"

[[tenants.static_bib]]
protocol = "tcp"
ipv4 = "203.0.113.1#8081"
ipv6 = "{CLIENT6}#8081"

[dataplane]
interfaces = {}
"#,
        t.interfaces
    ))
    .unwrap();
    let hub = ReportHub::new(1, vec![format!("a6-{}", t.s), format!("a4-{}", t.s)]);
    let ctl = Arc::new(Control::new(1).with_reports(hub.clone()));
    let app = start(&t, &cfg, ctl.clone());

    // Neighbours first (the worker drops what it cannot resolve yet, and counts it).
    let a = &t.appliance;
    ok(&format!(
        "ip netns exec {a} ping -c 2 -i 0.3 -W 3 {SERVER4}"
    ));
    ok(&format!(
        "ip netns exec {a} ping -6 -c 2 -i 0.3 -W 3 {CLIENT6}"
    ));
    assert_pings(&t, &t.client, &format!("-6 {SERVER_AS6}"));

    // Published within ~100 ms of the traffic (the idle worker wakes at least that often).
    let deadline = Instant::now() + Duration::from_secs(3);
    let stats = loop {
        let s = hub.stats(Some(3));
        let w = &s.workers[0];
        let done = w
            .translator
            .iter()
            .find(|r| r.tenant.as_deref() == Some("mobile") && r.direction == "v4_to_v6")
            .is_some_and(|r| r.translated >= 2);
        if done || Instant::now() > deadline {
            break s;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let w = &stats.workers[0];
    let row = |d: &str| {
        w.translator
            .iter()
            .find(|r| r.tenant.as_deref() == Some("mobile") && r.direction == d)
            .unwrap_or_else(|| panic!("no mobile {d} row: {stats:#?}"))
    };
    assert!(row("v6_to_v4").translated >= 2, "{stats:#?}");
    assert!(row("v4_to_v6").translated >= 2, "{stats:#?}");
    assert!(
        w.io["rx_packets"] >= 4 && w.io["tx_packets"] >= 4,
        "{:?}",
        w.io
    );
    assert!(w
        .translator
        .iter()
        .all(|r| r.dropped.len() == row("v6_to_v4").dropped.len()
            && r.dropped.contains_key("no_tenant")));
    assert_eq!(stats.running_version, Some(3));
    assert_eq!(stats.interfaces.len(), 2);
    let n = &w.nat64[0];
    assert_eq!(n.tenant, "mobile");
    assert_eq!(n.sessions, 1, "the pings' ICMP session: {n:?}");
    assert_eq!(
        n.bib_entries, 2,
        "the pings' binding and the static one: {n:?}"
    );
    let icmp = n.pool4.iter().find(|u| u.protocol == "icmp").unwrap();
    assert_eq!(icmp.address, Ipv4Addr::new(203, 0, 113, 1));
    assert_eq!(icmp.ports_in_use, 1);
    let tcp = n.pool4.iter().find(|u| u.protocol == "tcp").unwrap();
    assert_eq!(
        (tcp.ports_in_use, tcp.ports_total),
        (1, 65536 - 1024),
        "the static binding"
    );
    let lat = &w.batch_latency;
    assert!(lat.count >= 2 && lat.sum_seconds > 0.0, "{lat:?}");
    assert!(lat.buckets.windows(2).all(|b| b[0].1 <= b[1].1));
    assert!(lat.buckets.last().unwrap().1 <= lat.count);
    let socks: Vec<&str> = w.xdp.iter().map(|x| x.interface.as_str()).collect();
    assert_eq!(
        socks,
        stats
            .interfaces
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );

    // The session, found by the client's address; nothing for an address no session has.
    let client: Ipv6Addr = CLIENT6.parse().unwrap();
    let page = hub
        .sessions(&SessionQuery {
            tenant: Some("mobile".into()),
            protocol: Some("icmp".into()),
            address: Some(IpAddr::V6(client)),
            offset: 0,
            limit: Some(10),
        })
        .unwrap();
    assert_eq!(page.total, 1, "{page:?}");
    let s = &page.sessions[0];
    assert_eq!(s.ipv6_address, client);
    assert_eq!(s.remote_address, SERVER4.parse::<Ipv4Addr>().unwrap());
    assert_eq!(s.ipv4_address, Ipv4Addr::new(203, 0, 113, 1));
    assert_eq!(
        (s.state.as_str(), s.worker, s.static_binding),
        ("active", 0, false)
    );
    assert!(s.expires_in_seconds > 0 && s.expires_in_seconds <= 60);
    let none = hub
        .sessions(&SessionQuery {
            address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99))),
            limit: Some(SESSIONS_MAX_LIMIT),
            ..SessionQuery::default()
        })
        .unwrap();
    assert_eq!(none.total, 0);

    ctl.stop.store(true, Ordering::Relaxed);
    let report = app.join().unwrap();
    assert!(
        report
            .stats
            .dir(dataplane::stats::Direction::V4ToV6)
            .translated
            >= 2
    );
}
