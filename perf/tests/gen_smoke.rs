//! The generator for real: `xlat64-gen run` at a low fixed rate for 2 s through `xlat64-dataplane` (SIIT) in
//! network namespaces, then `xlat64-gen search` with short trials; checks that packets arrived translated
//! (sent as IPv6, received as IPv4), that loss is counted and that the latency histogram is not empty.
//!
//! ```text
//!  gen netns                 appliance netns
//!  g6-X ──────────────────── a6-X 2001:db8:6::1/64     (xlat64-dataplane: pool6 2001:db8:64::/96,
//!  g4-X ──────────────────── a4-X 192.0.2.1/24          EAM 198.51.100.10 = 2001:db8:6::10)
//! ```
//!
//! Needs root, iproute2 and the `xlat64-dataplane` binary next to `xlat64-gen` (`cargo test --workspace`
//! builds both); skipped with a message otherwise.

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const GEN: &str = env!("CARGO_BIN_EXE_xlat64-gen");

fn run(cmd: &str) -> Output {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap_or_else(|e| panic!("sh -c {cmd}: {e}"))
}

#[track_caller]
fn ok(cmd: &str) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn dataplane_bin() -> Option<PathBuf> {
    let p = PathBuf::from(GEN).with_file_name("xlat64-dataplane");
    p.exists().then_some(p)
}

struct Topo {
    g: String,
    a: String,
    s: String,
    dir: PathBuf,
    dp: Option<Child>,
}

impl Topo {
    fn new() -> Topo {
        let s = format!("{}", std::process::id() % 100_000);
        let t = Topo {
            g: format!("xgg-{s}"),
            a: format!("xga-{s}"),
            dir: std::env::temp_dir().join(format!("xlat64-gen-smoke-{s}")),
            s,
            dp: None,
        };
        std::fs::create_dir_all(&t.dir).unwrap();
        let (g, a, s) = (&t.g, &t.a, &t.s);
        ok(&format!("ip netns add {g}"));
        ok(&format!("ip netns add {a}"));
        let q = "numtxqueues 1 numrxqueues 1";
        ok(&format!(
            "ip link add g6-{s} netns {g} {q} type veth peer name a6-{s} netns {a} {q}"
        ));
        ok(&format!(
            "ip link add g4-{s} netns {g} {q} type veth peer name a4-{s} netns {a} {q}"
        ));
        for (ns, i) in [(g, "g6"), (g, "g4"), (a, "a6"), (a, "a4")] {
            ok(&format!("ip -n {ns} link set {i}-{s} up"));
        }
        ok(&format!(
            "ip -n {a} addr add 2001:db8:6::1/64 dev a6-{s} nodad"
        ));
        ok(&format!("ip -n {a} addr add 192.0.2.1/24 dev a4-{s}"));
        t
    }

    fn mac(&self, ns: &str, ifname: &str) -> String {
        ok(&format!("ip -n {ns} -br link show {ifname}"))
            .split_whitespace()
            .nth(2)
            .expect("MAC in ip -br link")
            .to_string()
    }

    fn start_dataplane(&mut self, bin: &std::path::Path) {
        let s = &self.s;
        let g4mac = self.mac(&self.g, &format!("g4-{s}"));
        let cfg = self.dir.join("xlat64.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"
[[tenants]]
name = "smoke"
id = 1
pool6 = "2001:db8:64::/96"
own_ipv4 = "192.0.2.1"
own_ipv6 = "2001:db8:6::1"

[[tenants.eamt]]
ipv4 = "198.51.100.10/32"
ipv6 = "2001:db8:6::10/128"

[dataplane]
interfaces = [
    {{ name = "a6-{s}", role = "ipv6" }},
    {{ name = "a4-{s}", role = "ipv4", next_hop_mac = "{g4mac}" }},
]
"#
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.join("dp.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.a])
            .arg(bin)
            .arg("--config")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn xlat64-dataplane");
        self.dp = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.dp_log().contains("ready") {
            assert!(
                Instant::now() < deadline,
                "xlat64-dataplane not ready:\n{}",
                self.dp_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn dp_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dp.log")).unwrap_or_default()
    }

    /// Runs xlat64-gen in the generator namespace; returns its JSON.
    fn gen(&self, args: &str) -> serde_json::Value {
        let s = &self.s;
        let a6mac = self.mac(&self.a, &format!("a6-{s}"));
        let json = self.dir.join("gen.json");
        let o = run(&format!(
            "ip netns exec {} {GEN} {args} --tx-if g6-{s} --rx-if g4-{s} --dst-mac {a6mac} \
             --src 2001:db8:6::10 --dst 2001:db8:64::c000:20a --flows 8 --json {}",
            self.g,
            json.display()
        ));
        assert!(
            o.status.success(),
            "xlat64-gen {args} failed:\n{}\nappliance:\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.dp_log()
        );
        eprintln!("{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        if let Some(mut c) = self.dp.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.g, &self.a] {
            let _ = run(&format!("ip netns del {ns} 2>/dev/null"));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn u(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn generator_measures_xlat64_siit() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "skipping: the generator smoke test needs root (network namespaces, XDP, AF_XDP)"
        );
        return;
    }
    let Some(dp) = dataplane_bin() else {
        eprintln!(
            "skipping: xlat64-dataplane is not built next to xlat64-gen (cargo test --workspace builds it)"
        );
        return;
    };
    let mut t = Topo::new();
    t.start_dataplane(&dp);

    // A fixed low rate for 2 s.
    let r = t.gen("run --rate 5000 --duration 2");
    let tr = &r["trial"];
    let (sent, received) = (u(tr, "sent"), u(tr, "received"));
    assert!((9_000..=10_100).contains(&sent), "5000 pps for 2 s: {tr}");
    assert!(received * 10 >= sent * 9, "most packets arrive: {tr}");
    // Sent as IPv6, received translated to IPv4.
    assert_eq!(u(tr, "rx_ipv4"), received, "{tr}");
    assert_eq!(u(tr, "rx_ipv6"), 0, "{tr}");
    assert_eq!(u(tr, "lost"), sent - received, "{tr}");
    let lat = &tr["latency_ns"];
    assert_eq!(u(lat, "samples"), received, "{tr}");
    assert!(u(lat, "p50") > 0 && u(lat, "p50") <= u(lat, "max"), "{tr}");

    // The throughput search runs and reports a rate with its latency.
    let r = t.gen("search --trial 0.2 --max-rate 20000 --max-steps 3 --drain-ms 100");
    let res = &r["result"];
    assert!(res["trials"].as_array().unwrap().len() >= 2, "{res}");
    assert!(u(res, "throughput_pps") > 0, "{res}");
    assert!(
        u(&res["at_throughput"]["latency_ns"], "samples") > 0,
        "{res}"
    );
}
