//! End-to-end: the real `xlat64-control` pushing to the real `xlat64-dataplane` (started with only its
//! `[dataplane]` section and `--control-socket`), on the namespace topology of the dataplane's end-to-end tests
//! (`dataplane/tests/common/`, two queues and two workers):
//!
//! 1. the control process's stored configuration (a stateful NAT64 tenant) reaches the dataplane;
//! 2. while a paced TCP transfer and a 100 pps ping run through NAT64, REST `PUT /v1/config` changes
//!    (pool4 addresses, tenants) are pushed and acknowledged (`GET /v1/status`: `dataplane_version`);
//! 3. the control process is killed and restarted: traffic does not notice, the restarted control process sees
//!    the version the dataplane runs and pushes the next change;
//! 4. the transfer arrives intact, no ping is lost;
//! 5. the dataplane is restarted: the control process pushes the current version again and traffic flows.
//!
//! Needs root and iproute2, iputils-ping, python3, ethtool. Skipped (with a message) when not root.

#[path = "../../dataplane/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const TOKEN: &str = "t0ken-for-live-tests";
/// Changes pushed under traffic before the control process is killed.
const CHANGES: u64 = 8;

/// Version `1 + k`: the NAT64 tenant with `k` more pool4 addresses and `k / 2` more (SIIT, EAM-only) tenants.
fn config(k: u64) -> String {
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
    for j in 1..=k {
        s += &format!("[[tenants.pool4]]\nprefix = \"203.0.113.{}/32\"\n", 16 + j);
    }
    for j in 1..=k / 2 {
        s += &format!(
            "\n[[tenants]]\nname = \"t{j}\"\nid = {}\n[[tenants.eamt]]\nipv4 = \"10.{j}.0.0/24\"\n\
             ipv6 = \"2001:db8:e{j}::/120\"\n",
            100 + j
        );
    }
    s
}

/// A running `xlat64-control`, killed when dropped.
struct ControlProc {
    child: Child,
    api: String,
}

impl Drop for ControlProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_control(dir: &Path, socket: &Path, initial: Option<&str>) -> ControlProc {
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlat64-control"));
    cmd.args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--dataplane-socket")
        .arg(socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(toml) = initial {
        std::fs::write(dir.join("initial.toml"), toml).unwrap();
        cmd.arg("--initial-config").arg(dir.join("initial.toml"));
    }
    let mut child = cmd.spawn().expect("start xlat64-control");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let api = loop {
        let line = lines
            .next()
            .expect("xlat64-control exited before listening")
            .unwrap();
        if let Some(a) = line.strip_prefix("xlat64-control: api listening on ") {
            break a.to_owned();
        }
    };
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    ControlProc { child, api }
}

fn status(c: &ControlProc) -> Value {
    let text = ureq::get(&format!("{}/v1/status", c.api))
        .call()
        .expect("GET /v1/status")
        .into_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[track_caller]
fn wait_dataplane_version(c: &ControlProc, t: &Topo, v: Option<u64>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status(c);
        if s["dataplane_version"].as_u64() == v {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dataplane_version {:?} after 20 s, want {v:?}\n{}",
            s["dataplane_version"],
            t.diag()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `PUT /v1/config` (TOML); returns the HTTP status.
fn put(c: &ControlProc, toml: &str) -> u16 {
    let r = ureq::put(&format!("{}/v1/config", c.api))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", "application/toml")
        .send_string(toml);
    match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, r)) => {
            panic!(
                "PUT /v1/config: {s}: {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => panic!("PUT /v1/config: {e}"),
    }
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
fn control_pushes_under_traffic_survive_control_and_dataplane_restarts() {
    if !can_run() {
        return;
    }
    let mut t = Topo::with_queues(2);
    let (a, c, v) = (t.appliance.clone(), t.client.clone(), t.server.clone());
    let start_file: PathBuf = t.dir.join("start.toml");
    std::fs::write(
        &start_file,
        format!(
            "[dataplane]\ninterfaces = {}\nqueues = 2\ncores = [0, 1]\n",
            t.interfaces
        ),
    )
    .unwrap();
    let sock = t.dir.join("dp.sock");
    let sock_arg = sock.display().to_string();
    let cdir = t.dir.join("control");
    std::fs::create_dir_all(&cdir).unwrap();

    // The control process first: it retries until the dataplane listens.
    let control = start_control(&cdir, &sock, Some(&config(0)));
    t.launch_with(&start_file, &["--control-socket", &sock_arg]);
    ok(&format!(
        "ip netns exec {a} ping -c 3 -i 0.3 -W 3 {SERVER4}"
    ));
    ok(&format!(
        "ip netns exec {a} ping -6 -c 3 -i 0.3 -W 3 {CLIENT6}"
    ));
    wait_dataplane_version(&control, &t, Some(1));
    assert_pings(&t, &c, &format!("-6 {SERVER_AS6}"));

    // Traffic: 6 MB sent at most 400 KiB/s (at least 14 s) and 1500 pings at 100/s (about 15 s).
    let transfer = PacedTransfer::start(&mut t, &v, SERVER4, &c, SERVER_AS6, 8080, 6_000_000);
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

    // REST changes, each pushed and acknowledged.
    let started = Instant::now();
    for k in 1..=CHANGES {
        assert_eq!(put(&control, &config(k)), 200);
        wait_dataplane_version(&control, &t, Some(1 + k));
        std::thread::sleep(Duration::from_millis(300));
    }
    let pushes = started.elapsed();

    // The control process dies and comes back: it finds the dataplane running its last version.
    drop(control);
    std::thread::sleep(Duration::from_millis(1500));
    let control = start_control(&cdir, &sock, None);
    wait_dataplane_version(&control, &t, Some(1 + CHANGES));
    assert_eq!(status(&control)["config_version"], 1 + CHANGES);
    assert_eq!(put(&control, &config(CHANGES + 1)), 200);
    wait_dataplane_version(&control, &t, Some(2 + CHANGES));

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

    // The dataplane restarts from its file: the control process pushes the current version again.
    let out = t.stop();
    assert!(
        drops(&out).is_empty(),
        "the translator dropped: {:?}\n{out}",
        drops(&out)
    );
    wait_dataplane_version(&control, &t, None);
    t.launch_with(&start_file, &["--control-socket", &sock_arg]);
    wait_dataplane_version(&control, &t, Some(2 + CHANGES));
    assert_pings(&t, &c, &format!("-6 {SERVER_AS6}"));
    let out = t.output().join("\n");
    assert!(
        out.contains(&format!("apply version {}: XDP maps: removed", 2 + CHANGES)),
        "{out}"
    );
    eprintln!("{CHANGES} REST changes pushed in {pushes:?} under traffic; ping: {summary}");
}
