//! Shared by the end-to-end tests (`e2e_siit.rs`, `e2e_nat64.rs`, `e2e_push.rs`): three network namespaces joined by veth
//! pairs, the appliance process, and helpers to run commands in them. See `e2e_siit.rs` for the topology.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The dataplane binary. The dataplane's own tests get it from cargo; another package's tests (the control
/// process's `e2e_live.rs`) build it into the same target directory and profile first (a no-op when up to date).
pub fn bin() -> String {
    if let Some(b) = option_env!("CARGO_BIN_EXE_xlat64-dataplane") {
        return b.to_owned();
    }
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // This test runs as <target>/<profile>/deps/<test>-<hash>.
            let exe = std::env::current_exe().expect("the test's path");
            let profile_dir = exe
                .parent()
                .and_then(|d| d.parent())
                .expect("target/<profile>");
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args([
                "build",
                "-p",
                "xlat64-dataplane",
                "--bin",
                "xlat64-dataplane",
            ])
            .arg("--target-dir")
            .arg(profile_dir.parent().expect("target"));
            if profile_dir.ends_with("release") {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("run cargo build");
            assert!(st.success(), "cargo build -p xlat64-dataplane: {st}");
            profile_dir.join("xlat64-dataplane").display().to_string()
        })
        .clone()
}

pub const CLIENT6: &str = "2001:db8:6::10";
pub const BOX6: &str = "2001:db8:6::1";
pub const BOX4: &str = "192.0.2.1";
pub const SERVER4: &str = "192.0.2.10";
/// The server as the client sees it: pool6 + 192.0.2.10.
pub const SERVER_AS6: &str = "2001:db8:64::c000:20a";
/// The client as the server sees it (EAM).
pub const CLIENT_AS4: &str = "198.51.100.10";

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Returns false (and says why) when these tests cannot run here.
pub fn can_run() -> bool {
    if !is_root() {
        eprintln!("skipping: the end-to-end tests need root (network namespaces, XDP, AF_XDP)");
        return false;
    }
    for (tool, pkg) in [
        ("ip", "iproute2"),
        ("ping", "iputils-ping"),
        ("socat", "socat"),
        ("curl", "curl"),
        ("python3", "python3"),
        ("ethtool", "ethtool"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(found, "{tool} is missing: apt-get install {pkg}");
    }
    true
}

pub fn run(cmd: &str) -> Output {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap_or_else(|e| panic!("sh -c {cmd}: {e}"))
}

#[track_caller]
pub fn ok(cmd: &str) -> String {
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

/// The three namespaces, their links, and the appliance process. Dropping it removes all of them.
pub struct Topo {
    pub s: String,
    pub client: String,
    pub appliance: String,
    pub server: String,
    pub dir: PathBuf,
    /// `[dataplane] interfaces` of the config.
    pub interfaces: String,
    pub dp: Option<Appliance>,
    pub children: Vec<Child>,
}

pub struct Appliance {
    pub child: Child,
    pub out: Arc<Mutex<Vec<String>>>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Topo {
    pub fn new() -> Topo {
        Topo::with_queues(1)
    }

    /// Namespaces `xc-S`, `xa-S` and (unless one-arm) `xs-S`, without links.
    pub fn namespaces(one_arm: bool) -> Topo {
        let s = format!(
            "{}{}",
            std::process::id() % 100_000,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("xlat64-e2e-{s}"));
        let t = Topo {
            client: format!("xc-{s}"),
            appliance: format!("xa-{s}"),
            // One-arm: the client's namespace also holds the IPv4 server.
            server: format!("{}-{s}", if one_arm { "xc" } else { "xs" }),
            interfaces: format!(
                r#"[{{ name = "a6-{s}", role = "ipv6" }}, {{ name = "a4-{s}", role = "ipv4" }}]"#
            ),
            s,
            dir,
            dp: None,
            children: Vec::new(),
        };
        std::fs::create_dir_all(&t.dir).unwrap();
        let mut nss = vec![&t.client, &t.appliance];
        if !one_arm {
            nss.push(&t.server);
        }
        for ns in nss {
            ok(&format!("ip netns add {ns}"));
            ok(&format!("ip -n {ns} link set lo up"));
            // No DNS inside the namespaces (python's http.server asks for its own name at start; the
            // answer would never come).
            std::fs::create_dir_all(format!("/etc/netns/{ns}")).unwrap();
            std::fs::write(
                format!("/etc/netns/{ns}/resolv.conf"),
                "nameserver 127.0.0.1\n",
            )
            .unwrap();
        }
        t
    }

    /// One-arm: the appliance has one interface (`a1-S`, role "both") on the link of a dual-stack host that
    /// plays both the IPv6 client and the IPv4 server, and routes the translated prefixes to the appliance.
    pub fn one_arm() -> Topo {
        let mut t = Topo::namespaces(true);
        let (c, a, s) = (&t.client, &t.appliance, &t.s);
        let q = "numtxqueues 1 numrxqueues 1";
        ok(&format!(
            "ip link add h1-{s} netns {c} {q} type veth peer name a1-{s} netns {a} {q}"
        ));
        ok(&format!("ip -n {c} link set h1-{s} up"));
        ok(&format!("ip -n {a} link set a1-{s} up"));
        ok(&format!("ip -n {c} addr add {CLIENT6}/64 dev h1-{s} nodad"));
        ok(&format!("ip -n {c} addr add {SERVER4}/24 dev h1-{s}"));
        ok(&format!("ip -n {c} route add 2001:db8:64::/96 via {BOX6}"));
        ok(&format!("ip -n {c} route add 198.51.100.0/24 via {BOX4}"));
        ok(&format!("ip -n {a} addr add {BOX6}/64 dev a1-{s} nodad"));
        ok(&format!("ip -n {a} addr add {BOX4}/24 dev a1-{s}"));
        ok(&format!("ip netns exec {c} ethtool -K h1-{s} tx off"));
        t.interfaces = format!(r#"[{{ name = "a1-{s}", role = "both" }}]"#);
        t
    }

    /// With `queues` receive/transmit queues on every veth.
    pub fn with_queues(queues: u32) -> Topo {
        let t = Topo::namespaces(false);
        let (c, a, v, s) = (&t.client, &t.appliance, &t.server, &t.s);
        // One queue each: the appliance serves queue 0 (a veth gets one queue per CPU by default, and a
        // flow hashed to a queue without a socket would go to the kernel instead).
        let q = format!("numtxqueues {queues} numrxqueues {queues}");
        ok(&format!(
            "ip link add c6-{s} netns {c} {q} type veth peer name a6-{s} netns {a} {q}"
        ));
        ok(&format!(
            "ip link add s4-{s} netns {v} {q} type veth peer name a4-{s} netns {a} {q}"
        ));
        for (ns, i) in [(c, "c6"), (a, "a6"), (a, "a4"), (v, "s4")] {
            ok(&format!("ip -n {ns} link set {i}-{s} up"));
        }
        ok(&format!("ip -n {c} addr add {CLIENT6}/64 dev c6-{s} nodad"));
        ok(&format!("ip -n {c} route add default via {BOX6}"));
        ok(&format!("ip -n {a} addr add {BOX6}/64 dev a6-{s} nodad"));
        ok(&format!("ip -n {a} addr add {BOX4}/24 dev a4-{s}"));
        ok(&format!("ip -n {v} addr add {SERVER4}/24 dev s4-{s}"));
        ok(&format!("ip -n {v} route add default via {BOX4}"));
        // Complete checksums on the senders (veth offload leaves them partial).
        ok(&format!("ip netns exec {c} ethtool -K c6-{s} tx off"));
        ok(&format!("ip netns exec {v} ethtool -K s4-{s} tx off"));
        t
    }
}

impl Topo {
    /// Runs the appliance with config `cfg` in its namespace and waits for its "ready" line.
    pub fn launch(&mut self, cfg: &std::path::Path) {
        self.launch_with(cfg, &[]);
    }

    /// The same with more command-line arguments (e.g. `--control-socket PATH`).
    pub fn launch_with(&mut self, cfg: &std::path::Path, args: &[&str]) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.appliance, &bin(), "--config"])
            .arg(cfg)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xlat64-dataplane");
        let out = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    out.lock().unwrap().push(line);
                }
            });
        }
        self.dp = Some(Appliance { child, out });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.output().iter().any(|l| l.contains("ready")) {
                break;
            }
            if let Some(st) = self.dp.as_mut().unwrap().child.try_wait().unwrap() {
                panic!(
                    "xlat64-dataplane exited ({st}) before ready:\n{}",
                    self.output().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "xlat64-dataplane not ready after 20 s:\n{}",
                self.output().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn output(&self) -> Vec<String> {
        self.dp
            .as_ref()
            .map(|d| d.out.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// SIGTERM, wait for exit 0; returns everything the appliance printed.
    pub fn stop(&mut self) -> String {
        let mut dp = self.dp.take().expect("appliance running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(dp.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = dp.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "no exit 10 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100)); // let the reader threads finish
        let out = dp.out.lock().unwrap().join("\n");
        assert!(
            status.success(),
            "exit status {status} after SIGTERM:\n{out}"
        );
        out
    }

    pub fn in_ns(&self, ns: &str, cmd: &str) -> Output {
        run(&format!("ip netns exec {ns} {cmd}"))
    }

    /// Starts a background process in a namespace (killed on drop).
    pub fn spawn(&mut self, ns: &str, cmd: &str) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", &format!("exec {cmd}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// Writes `files` (name, content) into a fresh directory `www` under the test's directory and returns its
    /// path, for [`Topo::serve_http`].
    pub fn www(&self, files: &[(&str, &str)]) -> String {
        let www = self.dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        for (name, content) in files {
            std::fs::write(www.join(name), content).unwrap();
        }
        www.display().to_string()
    }

    /// Serves `www` with `python3 -m http.server` on `bind`:`port` in `ns` and waits until it listens.
    pub fn serve_http(&mut self, ns: &str, bind: &str, port: u16, www: &str) {
        self.spawn(
            ns,
            &format!("python3 -m http.server --bind {bind} --directory {www} {port}"),
        );
        self.wait_listen(ns, "t", port);
    }

    /// Waits until something listens on `proto` port `port` in `ns` ("t" TCP, "u" UDP).
    pub fn wait_listen(&self, ns: &str, proto: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let o = self.in_ns(ns, &format!("ss -Hln{proto} sport = :{port}"));
            if !String::from_utf8_lossy(&o.stdout).trim().is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nothing listens on {port} in {ns}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn diag(&self) -> String {
        let a = &self.appliance;
        format!(
            "appliance output:\n{}\nlinks:\n{}",
            self.output().join("\n"),
            String::from_utf8_lossy(&run(&format!("ip -n {a} -d link")).stdout)
        )
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        if let Some(mut dp) = self.dp.take() {
            let _ = dp.child.kill();
            let _ = dp.child.wait();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.client, &self.appliance, &self.server] {
            // (One-arm: client and server are the same namespace; the second delete finds nothing.)
            let _ = run(&format!("ip netns del {ns} 2>/dev/null"));
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// "N received" of ping's summary.
pub fn received(ping_out: &str) -> u32 {
    ping_out
        .split(',')
        .find_map(|p| p.trim().strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[track_caller]
pub fn assert_pings(t: &Topo, ns: &str, args: &str) {
    let o = t.in_ns(ns, &format!("ping {args} -c 3 -i 0.2 -W 2"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        received(&text) >= 2,
        "ping {args} from {ns}:\n{text}\n{}",
        t.diag()
    );
}

/// The counter `key` (e.g. "translated") on the appliance's `v6_to_v4` / `v4_to_v6` line, summed over workers.
pub fn counter(out: &str, dir: &str, key: &str) -> u64 {
    out.lines()
        .filter(|l| l.contains(&format!("{dir}:")))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            while let Some(w) = it.next() {
                if w == key {
                    return it.next().and_then(|n| n.parse::<u64>().ok());
                }
            }
            None
        })
        .sum()
}

/// Sends a file to the first TCP client, 4 KiB every 10 ms (so it lasts at least `size / 400 KiB` seconds,
/// however fast the path), then closes. Arguments: bind address, port, file.
const PACED_SENDER: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
c, _ = s.accept()
with open(sys.argv[3], "rb") as f:
    while True:
        b = f.read(4096)
        if not b:
            break
        c.sendall(b)
        time.sleep(0.01)
c.close()
"#;

/// Connects over IPv6 and writes everything received to a file. Arguments: address, port, file.
const RECEIVER: &str = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
with open(sys.argv[3], "wb") as f:
    while True:
        b = c.recv(65536)
        if not b:
            break
        f.write(b)
"#;

/// A long TCP transfer through the translator: `size` random bytes sent at most 400 KiB/s by `server_ns`
/// (listening on `bind`:`port`) to a client in `client_ns` connecting to `dst`:`port`.
pub struct PacedTransfer {
    pub sent: PathBuf,
    pub got: PathBuf,
    pub client: Child,
}

impl PacedTransfer {
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        t: &mut Topo,
        server_ns: &str,
        bind: &str,
        client_ns: &str,
        dst: &str,
        port: u16,
        size: usize,
    ) -> PacedTransfer {
        let sent = t.dir.join("paced-sent.bin");
        let got = t.dir.join("paced-got.bin");
        ok(&format!("head -c {size} /dev/urandom > {}", sent.display()));
        let sender = t.dir.join("paced_sender.py");
        std::fs::write(&sender, PACED_SENDER).unwrap();
        let receiver = t.dir.join("receiver.py");
        std::fs::write(&receiver, RECEIVER).unwrap();
        t.spawn(
            server_ns,
            &format!(
                "python3 {} {bind} {port} {}",
                sender.display(),
                sent.display()
            ),
        );
        t.wait_listen(server_ns, "t", port);
        let client = Command::new("ip")
            .args(["netns", "exec", client_ns, "python3"])
            .arg(&receiver)
            .args([dst, &port.to_string()])
            .arg(&got)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        PacedTransfer { sent, got, client }
    }

    /// Waits for the end; panics unless the client got every byte intact.
    #[track_caller]
    pub fn finish(self, t: &Topo) {
        let o = self.client.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "transfer client: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            t.diag()
        );
        let sum = |p: &std::path::Path| ok(&format!("md5sum < {}", p.display()));
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert_eq!(
            (size(&self.got), sum(&self.got)),
            (size(&self.sent), sum(&self.sent)),
            "the transfer arrived intact"
        );
    }
}
