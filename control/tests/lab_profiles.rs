//! The hardware-lab traffic profiles (perf/trex/*.py, perf/pktgen/xlat64.sh) cannot run here: no TRex, no NIC,
//! no pktgen in this kernel. What can be checked is that they send what the lab configurations
//! (deploy/examples/lab-*.toml) translate: perf/lab/profiles_to_pcap.py turns each profile into the packets it
//! would send (a scapy-backed stand-in for TRex's API; the pktgen script's dry run), and the real `xlat64
//! translate` runs them through the appliance's pipeline. Every packet must be valid, be translated, come out
//! with the RFC 8219 §5.1 frame size (IPv6 frames 20 bytes longer than IPv4 ones), and the flows the profile
//! promises must be distinct flows after translation (NAT64: distinct sessions).

#[allow(dead_code)] // the helpers are shared with tests/cli.rs, which uses the rest
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{
    checksums_ok, read_pcap, repo_root, scratch, stderr, stdout, xlat64, LINKTYPE_ETHERNET,
};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// Ethernet frames in the captures carry no FCS; RFC 8219 sizes count it.
const FCS: usize = 4;

/// A Python 3 that has scapy: Debian's (where `python3-scapy`, installed by deploy/install-deps.sh, lives)
/// first, then whatever `python3` the PATH finds.
fn python() -> PathBuf {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(find_python).clone()
}

fn find_python() -> PathBuf {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import scapy.all"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return PathBuf::from(candidate);
        }
    }
    panic!("no python3 with scapy: run deploy/install-deps.sh (Debian package python3-scapy)");
}

/// `perf/lab/profiles_to_pcap.py` with its arguments still to add.
fn profiles_to_pcap() -> Command {
    let mut c = Command::new(python());
    c.arg(repo_root().join("perf/lab/profiles_to_pcap.py"));
    c
}

/// The pktgen script's dry run (`FILE: COMMAND` lines on stdout) with these settings.
fn pktgen_dry_run(env: &[(&str, &str)]) -> std::process::Output {
    Command::new("sh")
        .arg(repo_root().join("perf/pktgen/xlat64.sh"))
        .envs(env.iter().copied())
        .env("IF", "lab0")
        .env("DST_MAC", "02:00:00:00:64:64")
        .env("DRY_RUN", "1")
        .output()
        .expect("run perf/pktgen/xlat64.sh")
}

struct Case {
    name: &'static str,
    config: &'static str,
    direction: &'static str,
    packets: usize,
    frame_in: usize,
    frame_out: usize,
    flows: usize,
}

/// PACKETS generated frames of FRAME_IN bytes over FLOWS flows, translated by the lab configuration CONFIG
/// in DIRECTION; RFC 8219 §5.1 sizes: the IPv6 frame is 20 bytes longer than its IPv4 translation.
const PACKETS: usize = 8;

fn case(
    name: &'static str,
    config: &str,
    direction: &'static str,
    frame_in: usize,
    flows: usize,
) -> Case {
    let frame_out = match direction {
        "v6_to_v4" => frame_in - 20,
        _ => frame_in + 20,
    };
    let config = match config {
        "siit" => "lab-siit.toml",
        _ => "lab-nat64.toml",
    };
    Case {
        name,
        config,
        direction,
        packets: PACKETS,
        frame_in,
        frame_out,
        flows,
    }
}

/// The command exited 0 (or the test fails with its stderr).
fn succeeded(name: &str, o: &std::process::Output) {
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn trex(dir: &Path, case: &Case, profile: &str, count: usize, args: &[&str]) -> PathBuf {
    let out = dir.join(format!("{}.pcap", case.name));
    let o = profiles_to_pcap()
        .arg("trex")
        .arg(repo_root().join("perf/trex").join(profile))
        .arg(&out)
        .arg(count.to_string())
        .args(args)
        .output()
        .expect("run profiles_to_pcap.py");
    succeeded(case.name, &o);
    out
}

fn pktgen(dir: &Path, case: &Case, count: usize, env: &[(&str, &str)]) -> PathBuf {
    let dry = pktgen_dry_run(env);
    succeeded(case.name, &dry);
    let out = dir.join(format!("{}.pcap", case.name));
    let mut child = profiles_to_pcap()
        .arg("pktgen")
        .arg(&out)
        .arg(count.to_string())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run profiles_to_pcap.py");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&dry.stdout).unwrap();
    let o = child.wait_with_output().unwrap();
    succeeded(case.name, &o);
    out
}

/// (source, source port, destination, destination port) of an Ethernet frame holding IPv4 or IPv6 UDP.
fn flow(frame: &[u8]) -> (Vec<u8>, u16, Vec<u8>, u16) {
    let p = SlicedPacket::from_ethernet(frame).expect("an Ethernet frame etherparse accepts");
    let (src, dst) = match p.net {
        Some(NetSlice::Ipv4(ip)) => (
            ip.header().source().to_vec(),
            ip.header().destination().to_vec(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            ip.header().source().to_vec(),
            ip.header().destination().to_vec(),
        ),
        other => panic!("not IP: {other:?}"),
    };
    let Some(TransportSlice::Udp(u)) = p.transport else {
        panic!("not UDP")
    };
    (src, u.source_port(), dst, u.destination_port())
}

/// Every frame has the RFC 8219 size (with FCS) and valid IP and transport checksums.
fn frames_ok(name: &str, what: &str, frames: &[(std::time::Duration, Vec<u8>)], size: usize) {
    for (_, f) in frames {
        assert_eq!(f.len() + FCS, size, "{name}: {what} frame size");
        assert!(
            checksums_ok(&f[14..]),
            "{name}: {what}: bad checksum in {f:02x?}"
        );
    }
}

/// Runs one generated capture through `xlat64 translate` with the case's lab configuration and checks it.
fn check(dir: &Path, case: &Case, input: &Path) {
    let (linktype, sent) = read_pcap(&std::fs::read(input).unwrap());
    assert_eq!(linktype, LINKTYPE_ETHERNET, "{}", case.name);
    assert_eq!(sent.len(), case.packets, "{}: packets generated", case.name);
    frames_ok(case.name, "generated", &sent, case.frame_in);

    let output = dir.join(format!("{}.out.pcap", case.name));
    let config = repo_root().join("deploy/examples").join(case.config);
    let o = xlat64(&[
        "translate",
        "--config",
        config.to_str().unwrap(),
        "--in",
        input.to_str().unwrap(),
        "--out",
        output.to_str().unwrap(),
        "--explain",
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}: {text}{}", case.name, stderr(&o));
    // Per-packet lines start with the packet's number; the summary lines do not.
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u64>().is_ok())
        })
        .collect();
    assert_eq!(verdicts.len(), case.packets, "{}: {text}", case.name);
    for line in &verdicts {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            fields[3..],
            [case.direction, "translated"],
            "{}: {line}",
            case.name
        );
    }
    let n = case.packets;
    assert!(
        text.contains(&format!("summary: {n} packets in, {n} packets out")),
        "{}: {text}",
        case.name
    );

    let (_, translated) = read_pcap(&std::fs::read(&output).unwrap());
    assert_eq!(translated.len(), n, "{}", case.name);
    let mut flows = BTreeSet::new();
    frames_ok(case.name, "translated", &translated, case.frame_out);
    for (_, f) in &translated {
        flows.insert(flow(f));
    }
    assert_eq!(
        flows.len(),
        case.flows,
        "{}: distinct flows after translation",
        case.name
    );
}

#[test]
fn trex_profiles_send_what_the_lab_configs_translate() {
    let dir = scratch("lab-trex");
    // (name, mode, direction, frame size in, flows, tunables: an optional port number first). PACKETS per
    // stream over 4 flows, so every flow repeats (NAT64 sessions are found again), except "cps", whose flows
    // never repeat.
    let cases = [
        ("siit-v6", "siit", "v6_to_v4", 84, 4, "direction=v6 flows=4"),
        ("siit-v4", "siit", "v4_to_v6", 64, 4, "direction=v4 flows=4"),
        (
            "siit-both-port1",
            "siit",
            "v4_to_v6",
            64,
            4,
            "1 direction=both flows=4",
        ),
        (
            "siit-v6-1518",
            "siit",
            "v6_to_v4",
            1518,
            4,
            "direction=v6 flows=4 size=1518",
        ),
        (
            "nat64-v6",
            "nat64",
            "v6_to_v4",
            84,
            4,
            "direction=v6 flows=4",
        ),
        (
            "nat64-v6-148",
            "nat64",
            "v6_to_v4",
            148,
            4,
            "direction=v6 flows=4 size=148",
        ),
        ("nat64-cps", "nat64", "v6_to_v4", 84, 8, "direction=cps"),
        (
            "nat64-v4",
            "nat64",
            "v4_to_v6",
            64,
            4,
            "direction=v4 flows=4",
        ),
        (
            "nat64-both-port0",
            "nat64",
            "v6_to_v4",
            84,
            4,
            "0 direction=both flows=4",
        ),
    ];
    for (name, mode, direction, frame_in, flows, args) in cases {
        let case = case(name, mode, direction, frame_in, flows);
        let profile = format!("xlat64_{mode}.py");
        let args: Vec<&str> = args.split_whitespace().collect();
        let pcap = trex(&dir, &case, &profile, case.packets, &args);
        check(&dir, &case, &pcap);
    }
}

#[test]
fn pktgen_script_sends_what_the_lab_configs_translate() {
    let dir = scratch("lab-pktgen");
    for (mode, dir_, direction, frame_in) in [
        ("siit", "v6", "v6_to_v4", 84),
        ("siit", "v4", "v4_to_v6", 64),
        ("nat64", "v6", "v6_to_v4", 84),
        ("nat64", "v4", "v4_to_v6", 64),
    ] {
        let name = format!("pg-{mode}-{dir_}").leak();
        let case = case(name, mode, direction, frame_in, 4);
        let env = [("MODE", mode), ("DIR", dir_), ("FLOWS", "4")];
        let pcap = pktgen(&dir, &case, case.packets, &env);
        check(&dir, &case, &pcap);
    }
}

#[test]
fn lab_profiles_reject_what_they_cannot_send() {
    // Out-of-range settings are refused with a message, not turned into traffic the lab config drops.
    let bad: [&[(&str, &str)]; 3] = [
        &[("MODE", "nat64"), ("DIR", "v4"), ("FLOWS", "131073")],
        &[("MODE", "siit"), ("DIR", "v6"), ("FLOWS", "55537")],
        &[("MODE", "nat46"), ("DIR", "v6")],
    ];
    for env in bad {
        let o = pktgen_dry_run(env);
        assert!(!o.status.success(), "{env:?} accepted");
        assert!(!o.stderr.is_empty(), "{env:?}: no message");
    }
    let dir = scratch("lab-bad");
    let o = profiles_to_pcap()
        .arg("trex")
        .arg(repo_root().join("perf/trex/xlat64_nat64.py"))
        .arg(dir.join("x.pcap"))
        .arg("1")
        .args(["direction=v4", "flows=131073"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("at most 131072 flows"));
}
