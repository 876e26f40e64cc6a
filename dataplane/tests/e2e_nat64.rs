//! End-to-end stateful NAT64 (RFC 6146) through the real `xlat64-dataplane` binary, with real kernels on both
//! sides, on the topology of `e2e_siit.rs` (helpers in `common/`):
//!
//! ```text
//!  client (IPv6 only)              appliance                          server (IPv4 only)
//!  c6-X 2001:db8:6::10, ::11 ── a6-X 2001:db8:6::1  a4-X 192.0.2.1 ── s4-X 192.0.2.10
//! ```
//!
//! Tenant "nat64": pool6 `2001:db8:64::/96`, pool4 `203.0.113.0/30` (the server sees the clients as 203.0.113.x),
//! a static binding `203.0.113.1#8081 → [2001:db8:6::10]:8081` for an IPv4 client reaching the IPv6-only HTTP
//! server, the session log on and a 2 s ICMP timeout (to see sessions expire). Two queues per veth and two
//! workers: flows reach a worker chosen by the sender's queue, their owner is the port slice's, so about half of
//! the packets are handed off between workers.
//!
//! The client's link also carries IPv4 (10.6.0.0/24), routed by the box's kernel: the XDP program steers
//! only pool4 to the workers, so that traffic is not the translator's.
//!
//! Needs root and iproute2, iputils-ping, curl, python3, ethtool. Skipped (with a message) when not root.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::*;

const POOL4: &str = "203.0.113.0/30";
/// The static binding's IPv4 face.
const STATIC4: &str = "203.0.113.1";
const CLIENT6_B: &str = "2001:db8:6::11";

fn nat64_config(t: &Topo, extra: &str) -> PathBuf {
    let interfaces = &t.interfaces;
    let path = t.dir.join("nat64.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[tenants]]
name = "nat64"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
own_ipv4 = "{BOX4}"
own_ipv6 = "{BOX6}"

[[tenants.pool4]]
prefix = "{POOL4}"

[[tenants.static_bib]]
protocol = "tcp"
ipv4 = "{STATIC4}#8081"
ipv6 = "{CLIENT6}#8081"

[tenants.nat64]
log_sessions = true

[tenants.nat64.timeouts]
icmp = 2

[dataplane]
interfaces = {interfaces}
{extra}
"#
        ),
    )
    .unwrap();
    path
}

/// A UDP server that answers every datagram with the address and port it came from ("203.0.113.1:1234").
const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(4096)
    s.sendto(("%s:%d" % a).encode(), a)
"#;

/// `flows` concurrent UDP flows from the client to the echo server (each on its own socket, retried up to 5
/// times); then hairpin: client B learns its IPv4 binding from the echo server, client A sends to it through
/// the box. Prints "udp N" and "hairpin OK".
const UDP_CLIENT: &str = r#"
import socket, sys, time
server, port, flows, a_addr, b_addr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((a_addr, 0))
    s.setblocking(False)
    socks.append(s)
done = set()
for attempt in range(5):
    for i, s in enumerate(socks):
        if i not in done:
            s.sendto(b"flow %d" % i, (server, port))
    deadline = time.time() + 1
    while time.time() < deadline and len(done) < flows:
        for i, s in enumerate(socks):
            if i in done:
                continue
            try:
                d, _ = s.recvfrom(4096)
                if d.startswith(b"203.0.113."):
                    done.add(i)
            except BlockingIOError:
                pass
        time.sleep(0.01)
    if len(done) == flows:
        break
print("udp", len(done), flush=True)

b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
b.bind((b_addr, 5000))
b.settimeout(1)
a = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
a.bind((a_addr, 5001))
for attempt in range(5):
    try:
        b.sendto(b"who am i", (server, port))
        mapped, _ = b.recvfrom(4096)
        ip, p = mapped.decode().split(":")
        a.sendto(b"hairpin", ("2001:db8:64::" + ip, int(p)))
        d, src = b.recvfrom(4096)
        if d == b"hairpin":
            print("hairpin OK from", src[0], "to", mapped.decode(), flush=True)
            break
    except socket.timeout:
        pass
"#;

/// Sums `key N` over the appliance's "worker W: handoff: ..." lines.
fn handoff_counter(out: &str, key: &str) -> u64 {
    out.lines()
        .filter(|l| l.contains("handoff:"))
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

#[test]
fn nat64_two_workers_hand_off_tcp_udp_static_bib_hairpin() {
    if !can_run() {
        return;
    }
    let mut t = Topo::with_queues(2);
    let (a, c, v, s) = (
        t.appliance.clone(),
        t.client.clone(),
        t.server.clone(),
        t.s.clone(),
    );
    ok(&format!(
        "ip -n {c} addr add {CLIENT6_B}/64 dev c6-{s} nodad"
    ));
    // Non-default ring sizes: the dataplane must use them (its ready line says so) and still lose nothing.
    let cfg = nat64_config(
        &t,
        "queues = 2\ncores = [0, 1]\nring_size = 4096\nhandoff_ring_size = 64",
    );
    t.launch(&cfg);
    let ready = t.output().join("\n");
    assert!(
        ready.contains("AF_XDP rings of 4096, hand-off rings of 64"),
        "ring sizes from the config:\n{ready}"
    );
    ok(&format!(
        "ip netns exec {a} ping -c 3 -i 0.3 -W 3 {SERVER4}"
    ));
    ok(&format!(
        "ip netns exec {a} ping -6 -c 3 -i 0.3 -W 3 {CLIENT6}"
    ));
    ok(&format!(
        "ip netns exec {a} ping -6 -c 3 -i 0.3 -W 3 {CLIENT6_B}"
    ));

    let www = t.www(&[("f.txt", &"x".repeat(50_000))]);
    let echo = t.dir.join("udp_echo.py");
    std::fs::write(&echo, UDP_ECHO).unwrap();
    let udp = t.dir.join("udp_client.py");
    std::fs::write(&udp, UDP_CLIENT).unwrap();
    t.serve_http(&v, SERVER4, 8080, &www);
    t.serve_http(&c, CLIENT6, 8081, &www);
    t.spawn(&v, &format!("python3 {} {SERVER4} 7000", echo.display()));
    t.wait_listen(&v, "u", 7000);

    // ICMP echo (the identifier is the "port").
    assert_pings(&t, &c, &format!("-6 {SERVER_AS6}"));

    // 32 concurrent TCP connections (HTTP GETs) from the IPv6 client to the IPv4 server.
    let url = format!("http://[{SERVER_AS6}]:8080/f.txt");
    let started = Instant::now();
    let o = t.in_ns(
        &c,
        &format!("sh -c 'for i in $(seq 32); do curl -sS -m 15 -o /dev/null -w \"%{{size_download}}\\n\" {url} & done; wait'"),
    );
    let sizes = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        sizes.lines().filter(|l| *l == "50000").count(),
        32,
        "32 concurrent fetches over NAT64:\n{sizes}{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        t.diag()
    );
    eprintln!("32 concurrent TCP fetches: {:?}", started.elapsed());

    // 32 concurrent UDP flows, then hairpin.
    let o = t.in_ns(
        &c,
        &format!(
            "python3 {} {SERVER_AS6} 7000 32 {CLIENT6} {CLIENT6_B}",
            udp.display()
        ),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines().any(|l| l == "udp 32"),
        "32 UDP flows over NAT64:\n{text}{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        t.diag()
    );
    assert!(
        text.contains("hairpin OK"),
        "hairpin:\n{text}{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        t.diag()
    );

    // The static binding, reached from IPv4: the IPv4 server fetches from the IPv6-only HTTP server.
    for _ in 0..4 {
        let o = t.in_ns(
            &v,
            &format!(
                "curl -sS -m 10 -o /dev/null -w '%{{size_download}}' http://{STATIC4}:8081/f.txt"
            ),
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "50000",
            "static BIB from IPv4: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            t.diag()
        );
    }

    // An IPv4 SYN to a pool4 port nobody bound is held (RFC 6146 §3.5.2.2) and answered with ICMP Port
    // Unreachable when the timer runs out (6 s): the connection is refused, not timed out.
    let started = Instant::now();
    let o = t.in_ns(&v, "curl -sS -m 15 -o /dev/null http://203.0.113.2:4444/");
    let waited = started.elapsed();
    assert_eq!(
        o.status.code(),
        Some(7),
        "curl to an unbound pool4 port: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        t.diag()
    );
    assert!(waited.as_secs_f64() >= 5.0, "refused after {waited:?}");

    // Steering: only pool4 goes to the workers on the IPv4 side. IPv4 to anything else is the kernel's: here
    // the box routes the server's pings to an IPv4 address of the client's link (not translated).
    // (/proc/sys/net is the namespace's own; no sysctl binary needed.)
    ok(&format!(
        "ip netns exec {a} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'"
    ));
    ok(&format!("ip -n {a} addr add 10.6.0.1/24 dev a6-{s}"));
    ok(&format!("ip -n {c} addr add 10.6.0.10/24 dev c6-{s}"));
    ok(&format!("ip -n {c} route add default via 10.6.0.1"));
    assert_pings(&t, &v, "10.6.0.10");

    let out = t.stop();
    for l in out.lines().filter(|l| l.contains("handoff:")) {
        eprintln!("{l}");
    }
    let handed = handoff_counter(&out, "handed_off");
    let received = handoff_counter(&out, "received");
    assert!(handed > 0, "no hand-off between the two workers:\n{out}");
    assert_eq!(handed, received, "every handed-off packet arrived:\n{out}");
    assert!(handoff_counter(&out, "same_worker") > 0, "{out}");
    // Sessions expire while the appliance runs: the pings' ICMP session (2 s timeout) was deleted, as the
    // session log says.
    let icmp_events = |ev: &str| {
        out.lines()
            .filter(|l| {
                l.contains(&format!(r#""event":"{ev}""#)) && l.contains(r#""protocol":"icmp""#)
            })
            .count()
    };
    assert!(
        icmp_events("create") >= 1 && icmp_events("delete") >= 1,
        "ICMP session created and expired:\n{out}"
    );
    // The held SYN's Port Unreachable, sent by the timers.
    assert!(counter(&out, "v4_to_v6", "icmp_errors_sent") >= 1, "{out}");
    assert!(out.contains("nat64_syn_held="), "{out}");
}
