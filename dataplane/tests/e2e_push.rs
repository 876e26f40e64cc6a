//! End-to-end live configuration pushes: the real `xlat64-dataplane` started with `--control-socket` and a
//! file holding only its `[dataplane]` section; the test speaks the control protocol (`mgmt_api::ipc`)
//! itself, on the topology of `e2e_siit.rs` with two queues and two workers:
//!
//! ```text
//!  client (IPv6 only)              appliance                          server (IPv4 only)
//!  c6-X 2001:db8:6::10 ───────── a6-X 2001:db8:6::1  a4-X 192.0.2.1 ── s4-X 192.0.2.10
//! ```
//!
//! Version 1 brings a stateful NAT64 tenant. Then, while a paced TCP transfer and a 100 pps ping run
//! through NAT64, 20 more versions add tenants, EAM entries and pool4 addresses (every pool4 change rebuilds
//! the workers' NAT64 tables: the sessions must be carried), one adds a SIIT tenant whose prefix becomes
//! translated and a later one removes it (its prefix goes back to the kernel); an invalid version and one
//! changing the interfaces are rejected. The transfer must arrive intact, the ping lose nothing, and the
//! translator count no drop.
//!
//! Needs root and iproute2, iputils-ping, python3, ethtool. Skipped (with a message) when not root.

mod common;

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mgmt_api::ipc::{read_message, write_message, FromDataplane, ToDataplane};
use mgmt_api::report::SessionQuery;
use mgmt_api::Config;

/// The SIIT tenant's pool6 + the server (192.0.2.10).
const SERVER_VIA_SIIT: &str = "2001:db8:46::c000:20a";
/// Versions pushed under traffic after version 1.
const CHANGES: u64 = 20;
/// The SIIT tenant exists from this version ...
const SIIT_FROM: u64 = 2;
/// ... up to (not including) this one.
const SIIT_UNTIL: u64 = 15;

/// The configuration of `version` (1..=21): each version after the first adds one thing to the previous one
/// (a tenant, an EAM entry or a pool4 address, in turn); the SIIT tenant "siit" lives from `SIIT_FROM` to
/// `SIIT_UNTIL`.
fn config(version: u64) -> Config {
    let mut s = format!(
        r#"
[[tenants]]
name = "nat64"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
own_ipv4 = "{BOX4}"
own_ipv6 = "{BOX6}"
[[tenants.pool4]]
prefix = "203.0.113.0/30"
"#
    );
    for k in (2..=version).filter(|k| k % 3 == 1) {
        s += &format!("[[tenants.pool4]]\nprefix = \"203.0.113.{}/32\"\n", 16 + k);
    }
    if (SIIT_FROM..SIIT_UNTIL).contains(&version) {
        s += &format!(
            r#"
[[tenants]]
name = "siit"
id = 2
pool6 = "2001:db8:46::/96"
[[tenants.eamt]]
ipv4 = "{CLIENT_AS4}/32"
ipv6 = "{CLIENT6}/128"
"#
        );
    }
    if version >= 2 {
        s += "\n[[tenants]]\nname = \"eams\"\nid = 3\n";
        for k in (2..=version).filter(|k| k % 3 == 2) {
            s += &format!(
                "[[tenants.eamt]]\nipv4 = \"10.200.{k}.0/24\"\nipv6 = \"2001:db8:ea{k}::/120\"\n"
            );
        }
    }
    for k in (2..=version).filter(|k| k % 3 == 0) {
        s += &format!(
            "\n[[tenants]]\nname = \"t{k}\"\nid = {}\n[[tenants.eamt]]\nipv4 = \"10.{k}.0.0/24\"\n\
             ipv6 = \"2001:db8:e{k}::/120\"\n",
            100 + k
        );
    }
    Config::from_toml_str(&s).unwrap_or_else(|e| panic!("version {version}: {e}\n{s}"))
}

/// A control connection.
struct Link {
    r: BufReader<UnixStream>,
    w: UnixStream,
    hello: Option<u64>,
}

impl Link {
    fn connect(path: &Path) -> Link {
        let w = UnixStream::connect(path).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut r = BufReader::new(w.try_clone().unwrap());
        let hello = match read_message(&mut r).unwrap() {
            Some(FromDataplane::Hello { running_version }) => running_version,
            other => panic!("expected hello, got {other:?}"),
        };
        Link { r, w, hello }
    }

    fn apply(&mut self, version: u64, config: Config) -> FromDataplane {
        write_message(&mut self.w, &ToDataplane::Apply { version, config }).unwrap();
        read_message(&mut self.r).unwrap().expect("an answer")
    }

    fn ask(&mut self, m: &ToDataplane) -> FromDataplane {
        write_message(&mut self.w, m).unwrap();
        read_message(&mut self.r).unwrap().expect("an answer")
    }

    #[track_caller]
    fn applied(&mut self, version: u64, config: Config) {
        let a = self.apply(version, config);
        assert_eq!(a, FromDataplane::Applied { version }, "version {version}");
    }
}

/// Pings `dst` from the client 3 times; true if any answer came.
fn pings(t: &Topo, dst: &str) -> (bool, String) {
    let o = t.in_ns(&t.client, &format!("ping -6 -c 3 -i 0.2 -W 1 {dst}"));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    (received(&text) > 0, text)
}

/// The `name=N` drop counters on the appliance's v6_to_v4 / v4_to_v6 lines.
fn drops(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains("v6_to_v4:") || l.contains("v4_to_v6:"))
        .flat_map(|l| l.split_whitespace().filter(|w| w.contains('=')))
        .map(str::to_owned)
        .collect()
}

#[test]
fn live_pushes_under_traffic_keep_tcp_and_ping_intact() {
    if !can_run() {
        return;
    }
    let mut t = Topo::with_queues(2);
    let (a, c, v) = (t.appliance.clone(), t.client.clone(), t.server.clone());
    let cfg = t.dir.join("start.toml");
    std::fs::write(
        &cfg,
        format!(
            "[dataplane]\ninterfaces = {}\nqueues = 2\ncores = [0, 1]\n",
            t.interfaces
        ),
    )
    .unwrap();
    let sock = t.dir.join("dp.sock");
    t.launch_with(&cfg, &["--control-socket", sock.to_str().unwrap()]);
    let mode = std::fs::metadata(&sock).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o777
    });
    assert_eq!(mode.unwrap(), 0o600, "socket mode");
    ok(&format!(
        "ip netns exec {a} ping -c 3 -i 0.3 -W 3 {SERVER4}"
    ));
    ok(&format!(
        "ip netns exec {a} ping -6 -c 3 -i 0.3 -W 3 {CLIENT6}"
    ));

    let mut link = Link::connect(&sock);
    assert_eq!(link.hello, None, "started from the file");
    // No tenant yet: nothing is translated.
    assert!(!pings(&t, SERVER_AS6).0, "translated before any tenant");
    link.applied(1, config(1));
    let (ok1, text) = pings(&t, SERVER_AS6);
    assert!(ok1, "version 1 translates:\n{text}\n{}", t.diag());

    // 6 MB sent at most 400 KiB/s (at least 14 s) while the versions come, and still running when its session
    // is looked up after them.
    let transfer = PacedTransfer::start(&mut t, &v, SERVER4, &c, SERVER_AS6, 8080, 6_000_000);
    // 1500 pings at 100 per second: about 15 s.
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &c, "ping", "-6", "-i", "0.01", "-c", "1500", "-W", "2",
        ])
        .arg(SERVER_AS6)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let mut took_max = Duration::ZERO;
    let mut took_sum = Duration::ZERO;
    for version in 2..=1 + CHANGES {
        let before = Instant::now();
        link.applied(version, config(version));
        let took = before.elapsed();
        took_max = took_max.max(took);
        took_sum += took;
        assert!(
            took < Duration::from_secs(5),
            "version {version} took {took:?}"
        );
        if version == SIIT_FROM {
            let (ok, text) = pings(&t, SERVER_VIA_SIIT);
            assert!(
                ok,
                "the SIIT tenant's prefix is translated:\n{text}\n{}",
                t.diag()
            );
        } else if version == SIIT_UNTIL {
            let (ok, text) = pings(&t, SERVER_VIA_SIIT);
            assert!(!ok, "the SIIT tenant is gone:\n{text}");
            assert!(
                text.contains("nreachable"),
                "the box's kernel answers (no route), not the translator:\n{text}"
            );
        } else {
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let applies = started.elapsed();

    // An invalid version and one that changes the interfaces: rejected, nothing changes.
    let mut bad = config(1 + CHANGES);
    bad.tenants[0].pool4.clear();
    let answer = link.apply(100, bad);
    let FromDataplane::Rejected { version, errors } = &answer else {
        panic!("invalid config accepted: {answer:?}");
    };
    assert_eq!(*version, 100);
    assert!(
        errors.iter().any(|e| e.pointer.starts_with("/tenants/0")),
        "{errors:?}"
    );
    let mut moved = config(1 + CHANGES);
    moved.dataplane = Config::from_toml_str(&format!(
        "[dataplane]\ninterfaces = [{{ name = \"a9-{}\", role = \"both\" }}]\nqueues = 2\ncores = [0, 1]\n",
        t.s
    ))
    .unwrap()
    .dataplane;
    let answer = link.apply(101, moved);
    let FromDataplane::Rejected { errors, .. } = &answer else {
        panic!("interface change accepted: {answer:?}");
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].pointer, "/dataplane/interfaces");
    assert!(
        errors[0].message.contains("restart the dataplane"),
        "{}",
        errors[0]
    );

    // A new connection's hello names the version running; queries are answered on it.
    let mut other = Link::connect(&sock);
    assert_eq!(other.hello, Some(1 + CHANGES));
    // The transfer's TCP session lives on, carried through every pool4 change.
    let q = ToDataplane::GetSessions(SessionQuery {
        protocol: Some("tcp".into()),
        ..SessionQuery::default()
    });
    let FromDataplane::Sessions(page) = other.ask(&q) else {
        panic!("sessions");
    };
    assert!(
        page.sessions
            .iter()
            .any(|s| s.tenant == "nat64" && s.remote_port == 8080 && s.state == "established"),
        "the transfer's session: {page:?}"
    );

    let ping = ping.wait_with_output().unwrap();
    let ping_out = String::from_utf8_lossy(&ping.stdout).into_owned();
    transfer.finish(&t);
    let summary = ping_out
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        received(&ping_out),
        1500,
        "ping flood lost packets:\n{summary}\n{}",
        t.diag()
    );

    // The counters, through the socket: every worker's translator rows, no drop, the running version.
    let FromDataplane::Stats(stats) = other.ask(&ToDataplane::GetStats) else {
        panic!("stats");
    };
    assert_eq!(stats.running_version, Some(1 + CHANGES));
    assert_eq!(stats.workers.len(), 2);
    let dropped: Vec<String> = stats
        .workers
        .iter()
        .flat_map(|w| &w.translator)
        .flat_map(|r| {
            r.dropped
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(move |(k, n)| format!("{:?}/{}: {k}={n}", r.tenant, r.direction))
        })
        .collect();
    assert!(dropped.is_empty(), "drops: {dropped:?}");
    let translated: u64 = stats
        .workers
        .iter()
        .flat_map(|w| &w.translator)
        .filter(|r| r.tenant.as_deref() == Some("nat64"))
        .map(|r| r.translated)
        .sum();
    assert!(translated > 2 * 1500, "NAT64 translated {translated}");

    let out = t.stop();
    let epochs = out.matches("running configuration epoch").count();
    assert_eq!(
        epochs,
        2 * (1 + CHANGES as usize),
        "every worker switched every time:\n{out}"
    );
    assert!(
        drops(&out).is_empty(),
        "the translator dropped: {:?}\n{out}",
        drops(&out)
    );
    assert!(out.contains("rejected, nothing changed"), "{out}");
    let switch_us: Vec<u64> = out
        .lines()
        .filter_map(|l| {
            l.split("(switched in ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    eprintln!(
        "worker switches: {} , max {} µs",
        switch_us.len(),
        switch_us.iter().max().copied().unwrap_or(0)
    );
    eprintln!(
        "{CHANGES} versions applied in {applies:?} under traffic (apply mean {:?}, max {took_max:?}); ping: {summary}",
        took_sum / CHANGES as u32
    );
}
