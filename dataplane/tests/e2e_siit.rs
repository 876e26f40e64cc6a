//! End-to-end SIIT through the real `xlat64-dataplane` binary, with real kernels on both sides.
//!
//! Each test builds its own three network namespaces joined by two veth pairs (names unique per process and
//! test, everything removed on exit, failures included):
//!
//! ```text
//!  client (IPv6 only)            appliance                          server (IPv4 only)
//!  c6-X 2001:db8:6::10/64 ── a6-X 2001:db8:6::1/64  a4-X 192.0.2.1/24 ── s4-X 192.0.2.10/24
//!       default via ::1            xlat64-dataplane (AF_XDP)              default via 192.0.2.1
//! ```
//!
//! Tenant "e2e": pool6 `2001:db8:64::/96` (RFC 6052 §3.1: a network-specific prefix, since the IPv4 addresses
//! are documentation ones), so the client reaches the server as `2001:db8:64::192.0.2.10`; an EAM entry
//! `198.51.100.10 ↔ 2001:db8:6::10` gives the client its IPv4 face. The box's own addresses are the
//! translator's own addresses (sources of the ICMP errors it originates).
//!
//! Needs root and iproute2, iputils-ping, socat, curl, python3, ethtool. Skipped (with a message) when not
//! root.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

impl Topo {
    /// The test config; `tenant_extra` goes into the tenant (e.g. its `[tenants.options]`), `extra` into
    /// `[dataplane]`.
    fn config_with(&self, extra: &str, tenant_extra: &str) -> PathBuf {
        let interfaces = &self.interfaces;
        let path = self.dir.join("xlat64.toml");
        std::fs::write(
            &path,
            format!(
                r#"
[[tenants]]
name = "e2e"
id = 1
pool6 = "2001:db8:64::/96"
own_ipv4 = "{BOX4}"
own_ipv6 = "{BOX6}"

[[tenants.eamt]]
ipv4 = "{CLIENT_AS4}/32"
ipv6 = "{CLIENT6}/128"
{tenant_extra}

[dataplane]
interfaces = {interfaces}
{extra}
"#
            ),
        )
        .unwrap();
        path
    }

    /// Starts the appliance and waits for its "ready" line; then lets the box resolve both neighbours (ARP and
    /// ND through the XDP program, which passes them to the kernel).
    fn start(&mut self, extra: &str) {
        self.start_with(extra, "");
    }

    fn start_with(&mut self, extra: &str, tenant_extra: &str) {
        let cfg = self.config_with(extra, tenant_extra);
        self.launch(&cfg);
        let a = &self.appliance;
        ok(&format!(
            "ip netns exec {a} ping -c 3 -i 0.3 -W 3 {SERVER4}"
        ));
        ok(&format!(
            "ip netns exec {a} ping -6 -c 3 -i 0.3 -W 3 {CLIENT6}"
        ));
    }
}

#[test]
fn ping_both_ways_and_counters() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    t.start("");
    assert_pings(&t, &t.client, &format!("-6 {SERVER_AS6}"));
    assert_pings(&t, &t.server, CLIENT_AS4);
    let out = t.stop();
    assert!(counter(&out, "v6_to_v4", "translated") >= 2, "{out}");
    assert!(counter(&out, "v4_to_v6", "translated") >= 2, "{out}");
    assert!(out.contains("xlat64-dataplane: stopped"), "{out}");
    assert!(out.contains("batch latency ns: p50"), "{out}");
    // Detached on exit.
    let links = ok(&format!("ip -n {} link", t.appliance));
    assert!(
        !links.contains("xdp"),
        "XDP program left attached:\n{links}"
    );
}

/// Stop and start again at once, three times, with traffic each time: the XDP program is detached and
/// re-attached and the queues rebound. (A restart can also race the kernel's asynchronous release of the old
/// sockets, EBUSY, as the live demo once did; `afxdp::retry_while_busy` handles that and has unit tests of
/// its own, since the race cannot be produced on demand.)
#[test]
fn restarts_right_after_a_stop() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    for _ in 0..3 {
        t.start("");
        assert_pings(&t, &t.client, &format!("-6 {SERVER_AS6}"));
        let out = t.stop();
        assert!(out.contains("xlat64-dataplane: stopped"), "{out}");
    }
}

#[test]
fn udp_both_ways() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    t.start("");
    let (c, v) = (t.client.clone(), t.server.clone());
    // IPv6 client → IPv4 server.
    let rx = t.spawn(
        &v,
        &format!("timeout 5 socat -u UDP4-RECV:9999,bind={SERVER4} STDOUT"),
    );
    t.wait_listen(&v, "u", 9999);
    ok(&format!(
        "echo hello-from-v6 | ip netns exec {c} socat -u STDIN UDP6-SENDTO:[{SERVER_AS6}]:9999"
    ));
    // IPv4 server → IPv6 client.
    let rx2 = t.spawn(
        &c,
        &format!("timeout 5 socat -u UDP6-RECV:9998,bind=[{CLIENT6}] STDOUT"),
    );
    t.wait_listen(&c, "u", 9998);
    ok(&format!(
        "echo hello-from-v4 | ip netns exec {v} socat -u STDIN UDP4-SENDTO:{CLIENT_AS4}:9998"
    ));
    for (k, want) in [(rx, "hello-from-v6"), (rx2, "hello-from-v4")] {
        let child = std::mem::replace(&mut t.children[k], Command::new("true").spawn().unwrap());
        let o = child.wait_with_output().unwrap();
        let got = String::from_utf8_lossy(&o.stdout);
        assert!(got.contains(want), "UDP receiver got {got:?}\n{}", t.diag());
    }
    let out = t.stop();
    assert!(counter(&out, "v6_to_v4", "translated") >= 1, "{out}");
    assert!(counter(&out, "v4_to_v6", "translated") >= 1, "{out}");
}

/// Serves a file of `lines` numbered lines from each side (IPv4 server :8080, IPv6 client :8081) and fetches
/// it across the translator both ways with curl: every byte must arrive.
fn http_both_ways(t: &mut Topo, lines: usize) {
    let (c, v) = (t.client.clone(), t.server.clone());
    let body: String = (0..lines).map(|i| format!("{:09}\n", i)).collect();
    let www = t.www(&[("file.txt", &body)]);
    t.serve_http(&v, SERVER4, 8080, &www);
    t.serve_http(&c, CLIENT6, 8081, &www);
    for (ns, url) in [
        (&c, format!("http://[{SERVER_AS6}]:8080/file.txt")),
        (&v, format!("http://{CLIENT_AS4}:8081/file.txt")),
    ] {
        let o = t.in_ns(ns, &format!("curl -sS -m 10 {url}"));
        let got = String::from_utf8_lossy(&o.stdout);
        assert!(
            got == body,
            "curl {url} from {ns}: {} bytes of {} ({})\n{}",
            got.len(),
            body.len(),
            String::from_utf8_lossy(&o.stderr),
            t.diag()
        );
    }
}

#[test]
fn tcp_http_both_ways() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    t.start("");
    // 200 KB: many full-sized segments each way.
    http_both_ways(&mut t, 20_000);
    t.stop();
}

#[test]
fn ttl_and_hop_limit_expiry_answered_by_the_appliance() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    t.start("");
    let o = t.in_ns(&t.client, &format!("ping -6 -c 1 -t 1 -W 2 {SERVER_AS6}"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("From {BOX6}")) && text.contains("Time exceeded"),
        "{text}\n{}",
        t.diag()
    );
    let o = t.in_ns(&t.server, &format!("ping -c 1 -t 1 -W 2 {CLIENT_AS4}"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("From {BOX4}")) && text.contains("Time to live exceeded"),
        "{text}\n{}",
        t.diag()
    );
    let out = t.stop();
    assert!(counter(&out, "v6_to_v4", "icmp_errors_sent") >= 1, "{out}");
    assert!(counter(&out, "v4_to_v6", "icmp_errors_sent") >= 1, "{out}");
}

#[test]
fn the_box_stays_reachable_while_translating() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    t.start("");
    // Translated traffic and traffic for the box itself, side by side.
    assert_pings(&t, &t.client, &format!("-6 {SERVER_AS6}"));
    assert_pings(&t, &t.client, &format!("-6 {BOX6}"));
    assert_pings(&t, &t.server, BOX4);
    assert_pings(&t, &t.server, CLIENT_AS4);
    // ND and ARP resolved the box on both sides.
    let s = &t.s;
    let nd = ok(&format!("ip -n {} -6 neigh show dev c6-{s}", t.client));
    assert!(
        nd.lines()
            .any(|l| l.starts_with(&format!("{BOX6} ")) && l.contains("lladdr")),
        "{nd}"
    );
    let arp = ok(&format!("ip -n {} -4 neigh show dev s4-{s}", t.server));
    assert!(
        arp.lines()
            .any(|l| l.starts_with(&format!("{BOX4} ")) && l.contains("lladdr")),
        "{arp}"
    );
    // An address the box gains while running is its own within a second (not translated: the pool6
    // tenant would otherwise claim every IPv4 destination).
    ok(&format!(
        "ip -n {} addr add 198.51.100.77/32 dev a4-{s}",
        t.appliance
    ));
    std::thread::sleep(Duration::from_millis(1500));
    assert_pings(&t, &t.server, "198.51.100.77");
    // Traffic to the box is the kernel's: none of it reached the translator as an untranslatable packet.
    let out = t.stop();
    assert_eq!(counter(&out, "v6_to_v4", "no_tenant"), 0, "{out}");
}

#[test]
fn busy_polling_translates_too() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    t.start("poll_mode = \"busy\"\nbatch_size = 32");
    assert_pings(&t, &t.client, &format!("-6 {SERVER_AS6}"));
    assert_pings(&t, &t.server, CLIENT_AS4);
    t.stop();
}

#[test]
fn bad_config_or_missing_interface_fails_cleanly() {
    if !can_run() {
        return;
    }
    let t = Topo::new();
    let s = &t.s;
    // Invalid config: every problem named by its path, exit status non-zero.
    let bad = t.dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[dataplane]\ninterfaces = [{{ name = \"a6-{s}\", role = \"ipv6\" }}]\nqueues = 0\n"
        ),
    )
    .unwrap();
    let o = run(&format!(
        "ip netns exec {} {} --config {}",
        t.appliance,
        bin(),
        bad.display()
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("dataplane.queues") && err.contains("dataplane.interfaces"),
        "{err}"
    );
    // A missing interface (the IPv4 one is not there): error, and nothing attached to the one that is.
    let cfg = t.dir.join("missing.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[tenants]]\nname = \"x\"\nid = 1\npool6 = \"2001:db8:64::/96\"\n[dataplane]\ninterfaces = [{{ name = \
             \"a6-{s}\", role = \"ipv6\" }}, {{ name = \"nope-{s}\", role = \"ipv4\" }}]\n"
        ),
    )
    .unwrap();
    let o = run(&format!(
        "ip netns exec {} {} --config {}",
        t.appliance,
        bin(),
        cfg.display()
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("\"nope-{s}\" does not exist")),
        "{err}"
    );
    let links = ok(&format!("ip -n {} link", t.appliance));
    assert!(!links.contains("xdp"), "{links}");
    // No [dataplane] section.
    std::fs::write(&cfg, "[[tenants]]\nname = \"x\"\nid = 1\n").unwrap();
    let o = run(&format!("{} --config {}", bin(), cfg.display()));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no [dataplane] section"));
}

#[test]
fn smaller_mtu_answered_with_packet_too_big_and_fragments_both_ways() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    let s = t.s.clone();
    // The IPv4 side carries 1400 bytes.
    ok(&format!("ip -n {} link set s4-{s} mtu 1400", t.server));
    ok(&format!("ip -n {} link set a4-{s} mtu 1400", t.appliance));
    t.start_with("", "[tenants.options]\nipv4_mtu = 1400");
    let (c, v) = (t.client.clone(), t.server.clone());
    // 1500 bytes of IPv6 that may not be fragmented: Packet Too Big from the appliance, MTU 1400 + 20.
    let o = t.in_ns(&c, &format!("ping -6 -c 1 -M do -s 1452 -W 2 {SERVER_AS6}"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("From {BOX6}")) && text.contains("mtu=1420"),
        "{text}\n{}",
        t.diag()
    );
    // UDP datagrams larger than the MTU: the senders fragment them, the appliance translates fragment by
    // fragment (and splits IPv4 fragments that grow past lowest_ipv6_mtu once more: outputs that are not the
    // received frame, in chunks from the worker's free list); the receivers reassemble.
    let rx = t.spawn(
        &v,
        &format!("timeout 5 socat -u UDP4-RECV:9999,bind={SERVER4} STDOUT"),
    );
    t.wait_listen(&v, "u", 9999);
    ok(&format!(
        "head -c 3000 /dev/zero | tr '\\0' x | ip netns exec {c} socat -u STDIN UDP6-SENDTO:[{SERVER_AS6}]:9999"
    ));
    let rx2 = t.spawn(
        &c,
        &format!("timeout 5 socat -u UDP6-RECV:9998,bind=[{CLIENT6}] STDOUT"),
    );
    t.wait_listen(&c, "u", 9998);
    ok(&format!(
        "head -c 3000 /dev/zero | tr '\\0' y | ip netns exec {v} socat -u STDIN UDP4-SENDTO:{CLIENT_AS4}:9998"
    ));
    for (k, want) in [(rx, "x".repeat(3000)), (rx2, "y".repeat(3000))] {
        let child = std::mem::replace(&mut t.children[k], Command::new("true").spawn().unwrap());
        let o = child.wait_with_output().unwrap();
        let got = String::from_utf8_lossy(&o.stdout);
        assert!(
            got == want,
            "UDP receiver got {} bytes\n{}",
            got.len(),
            t.diag()
        );
    }
    // 1400-byte IPv4 echo requests with DF=0 become more than lowest_ipv6_mtu (1280) of IPv6: the appliance
    // splits them into IPv6 fragments.
    assert_pings(&t, &v, &format!("-M dont -s 1372 {CLIENT_AS4}"));
    // A transfer across the smaller MTU completes both ways.
    http_both_ways(&mut t, 10_000);
    let out = t.stop();
    assert!(out.contains("packet_too_big="), "{out}");
    assert!(counter(&out, "v4_to_v6", "fragments_created") >= 2, "{out}");
}

#[test]
fn two_queues_two_workers() {
    if !can_run() {
        return;
    }
    let mut t = Topo::with_queues(2);
    t.start("queues = 2\ncores = [0, 1]");
    let (c, v) = (t.client.clone(), t.server.clone());
    let www = t.www(&[("f.txt", &"x".repeat(50_000))]);
    t.serve_http(&v, SERVER4, 8080, &www);
    // 16 connections: the client's veth spreads them over its two queues by flow hash, so both of the
    // appliance's receive queues (and workers) see traffic.
    let url = format!("http://[{SERVER_AS6}]:8080/f.txt");
    let o = t.in_ns(
        &c,
        &format!("sh -c 'for i in $(seq 16); do curl -sS -m 10 -o /dev/null -w \"%{{size_download}}\\n\" {url}; done'"),
    );
    let sizes = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        sizes.lines().filter(|l| *l == "50000").count(),
        16,
        "{sizes}\n{}",
        t.diag()
    );
    let out = t.stop();
    for w in ["worker 0: rx", "worker 1: rx"] {
        let rx: u64 = out
            .lines()
            .find(|l| l.starts_with(w))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(rx > 0, "{w} = 0:\n{out}");
    }
}

#[test]
fn stale_program_replaced_and_counters_on_sigusr1() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    let (a, s) = (t.appliance.clone(), t.s.clone());
    // A program left attached the old (netlink) way, as after a crash.
    let obj = concat!(env!("OUT_DIR"), "/steer.bpf.o");
    ok(&format!(
        "ip -n {a} link set dev a6-{s} xdp obj {obj} sec xdp"
    ));
    let before = ok(&format!("ip -n {a} link show a6-{s}"));
    assert!(before.contains("prog/xdp"), "{before}");
    t.start("");
    assert_pings(&t, &t.client, &format!("-6 {SERVER_AS6}"));
    // SIGUSR1: the counters, while running.
    let pid = t.dp.as_ref().unwrap().child.id();
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !t.output().iter().any(|l| l.contains("v6_to_v4: received")) {
        assert!(
            Instant::now() < deadline,
            "no counters after SIGUSR1:\n{}",
            t.diag()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.stop();
    let after = ok(&format!("ip -n {a} link show a6-{s}"));
    assert!(!after.contains("prog/xdp"), "{after}");
}

#[test]
fn one_arm_translates_both_ways_on_one_interface() {
    if !can_run() {
        return;
    }
    let mut t = Topo::one_arm();
    t.start("");
    let h = t.client.clone();
    // The host's IPv6 face pings its own IPv4 face through the appliance, and the other way round.
    assert_pings(&t, &h, &format!("-6 {SERVER_AS6}"));
    assert_pings(&t, &h, &format!("-I {SERVER4} {CLIENT_AS4}"));
    assert_pings(&t, &h, &format!("-6 {BOX6}"));
    assert_pings(&t, &h, BOX4);
    let out = t.stop();
    assert!(counter(&out, "v6_to_v4", "translated") >= 4, "{out}");
    assert!(counter(&out, "v4_to_v6", "translated") >= 4, "{out}");
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn idle_appliance_sleeps_in_interrupt_mode() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    t.start("");
    let pid = t.dp.as_ref().unwrap().child.id();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    // 2 s are 200 ticks of one core; a spinning worker would use them all.
    assert!(used < 20, "idle appliance used {used} ticks in 2 s");
    t.stop();
}

/// Sends one 802.1Q-tagged ICMP echo request per VLAN from a raw socket, then reports the tagged echo
/// replies that come back as "vlan=V src=A id=I" lines. (This kernel has no VLAN interfaces, so the IPv4 side
/// of the VLAN test speaks raw Ethernet.)
const VLAN_PEER_PY: &str = r#"
import socket, struct, sys, time
ifname, dst_mac, src_ip, dst_ip = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), sys.argv[3], sys.argv[4]
vlans = [int(v) for v in sys.argv[5].split(',')]
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
s.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA
src_mac = s.getsockname()[4]
for v in vlans:
    icmp = struct.pack('!BBHHH', 8, 0, 0, v, 1) + b'vlan-test-payload'
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), v, 0, 64, 1, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    s.send(dst_mac + src_mac + struct.pack('!HHH', 0x8100, v, 0x0800) + ip + icmp)
s.settimeout(0.2)
end = time.time() + 3
seen = set()
while time.time() < end and len(seen) < len(vlans):
    try:
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(64))
    except socket.timeout:
        continue
    vid = None
    for lvl, typ, d in anc:
        if lvl == 263 and typ == 8:
            status, _, _, _, _, tci, _ = struct.unpack('IIIHHHH', d[:20])
            if status & 0x10:  # TP_STATUS_VLAN_VALID
                vid = tci & 0xfff
    et = struct.unpack('!H', data[12:14])[0]
    off = 14
    if et == 0x8100:
        vid = struct.unpack('!H', data[14:16])[0] & 0xfff
        et = struct.unpack('!H', data[16:18])[0]
        off = 18
    if et != 0x0800 or data[off + 9] != 1 or data[off + 20] != 0:
        continue
    src = socket.inet_ntoa(data[off + 12:off + 16])
    ident = struct.unpack('!H', data[off + 24:off + 26])[0]
    seen.add(vid)
    print('vlan=%s src=%s id=%d' % (vid, src, ident), flush=True)
"#;

#[test]
fn vlan_tenants_share_ipv4_addresses() {
    if !can_run() {
        return;
    }
    let mut t = Topo::new();
    let (a, c, v, s) = (
        t.appliance.clone(),
        t.client.clone(),
        t.server.clone(),
        t.s.clone(),
    );
    let mac = |ns: &str, dev: &str| -> String {
        let o = ok(&format!("ip -n {ns} -o link show {dev}"));
        let w: Vec<&str> = o.split_whitespace().collect();
        let i = w.iter().position(|x| *x == "link/ether").unwrap();
        w[i + 1].to_string()
    };
    let (a4_mac, s4_mac) = (mac(&a, &format!("a4-{s}")), mac(&v, &format!("s4-{s}")));
    // The client answers for both tenants: one address each.
    ok(&format!(
        "ip -n {c} addr add 2001:db8:6::20/64 dev c6-{s} nodad"
    ));
    // Two tenants use the same IPv4 address 10.0.0.5, told apart by VLAN; the IPv4 side's MAC is static
    // (the neighbour table cannot say which VLAN a MAC is on here).
    t.interfaces = format!(
        r#"[{{ name = "a6-{s}", role = "ipv6" }}, {{ name = "a4-{s}", role = "ipv4", next_hop_mac = "{s4_mac}" }}]"#
    );
    let cfg = t.dir.join("vlan.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[tenants]]
name = "blue"
id = 1
pool6 = "2001:db8:b4::/96"
ipv4_side = {{ vlan = 100 }}
eamt = [{{ ipv4 = "10.0.0.5/32", ipv6 = "{CLIENT6}/128" }}]

[[tenants]]
name = "red"
id = 2
pool6 = "2001:db8:e4::/96"
ipv4_side = {{ vlan = 200 }}
eamt = [{{ ipv4 = "10.0.0.5/32", ipv6 = "2001:db8:6::20/128" }}]

[dataplane]
interfaces = {}
"#,
            t.interfaces
        ),
    )
    .unwrap();
    t.launch(&cfg);
    ok(&format!(
        "ip netns exec {a} ping -6 -c 3 -i 0.3 -W 3 {CLIENT6}"
    ));
    ok(&format!(
        "ip netns exec {a} ping -6 -c 1 -W 2 2001:db8:6::20"
    ));
    let script = t.dir.join("vlan_peer.py");
    std::fs::write(&script, VLAN_PEER_PY).unwrap();
    let replies = ok(&format!(
        "ip netns exec {v} python3 {} s4-{s} {a4_mac} {SERVER4} 10.0.0.5 100,200",
        script.display()
    ));
    // Each request reached its own tenant's IPv6 host and the answer came back on its own VLAN.
    for vid in [100, 200] {
        assert!(
            replies
                .lines()
                .any(|l| l == format!("vlan={vid} src=10.0.0.5 id={vid}")),
            "no reply on VLAN {vid}: {replies:?}\n{}",
            t.diag()
        );
    }
    let out = t.stop();
    assert!(counter(&out, "v4_to_v6", "translated") >= 2, "{out}");
    assert!(counter(&out, "v6_to_v4", "translated") >= 2, "{out}");
}
