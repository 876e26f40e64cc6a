//! `xlat64 translate`, run as the real binary on generated captures.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Writes `config` and a capture into a scratch directory; returns (config, input, output) paths.
fn setup(
    test: &str,
    config: &str,
    capture: &[u8],
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(test);
    let (cfg, input, output) = (
        dir.join("xlat.toml"),
        dir.join("in.pcap"),
        dir.join("out.pcap"),
    );
    std::fs::write(&cfg, config).unwrap();
    std::fs::write(&input, capture).unwrap();
    (cfg, input, output)
}

fn translate(cfg: &Path, input: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "translate",
        "--config",
        s(cfg),
        "--in",
        s(input),
        "--out",
        s(output),
    ];
    args.extend_from_slice(extra);
    xlat64(&args)
}

fn ts(ms: u32) -> Duration {
    Duration::new(1_700_000_000, ms * 1_000_000)
}

#[test]
fn raw_capture_is_translated_both_ways_with_explain_and_summary() {
    let v6 = ipv6_udp(HOST6, SERVER4_AS_V6, 64, 40000, 7, b"hello, v4");
    let v4 = ipv4_echo_reply(SERVER4, HOST6_AS_V4, 0x4242, 7, b"hello, v6");
    let capture = pcap_file(LINKTYPE_RAW, &[(ts(1), v6), (ts(2), v4)]);
    let (cfg, input, output) = setup("raw", DEMO_TOML, &capture);

    let o = translate(&cfg, &input, &output, &["--explain"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["1", "1700000000.001000", "demo", "v6_to_v4", "translated"],
        "{out}"
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["2", "1700000000.002000", "demo", "v4_to_v6", "translated"],
        "{out}"
    );
    assert_eq!(lines[2], "summary: 2 packets in, 2 packets out", "{out}");
    assert!(out.contains("v6_to_v4: received 1, translated 1"), "{out}");
    assert!(out.contains("v4_to_v6: received 1, translated 1"), "{out}");

    let (linktype, recs) = read_pcap(&std::fs::read(&output).unwrap());
    assert_eq!(linktype, LINKTYPE_RAW);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].0, ts(1), "outputs keep the input's timestamp");
    assert_eq!(recs[1].0, ts(2));
    let p4 = &recs[0].1;
    assert_eq!(p4[0] >> 4, 4);
    assert_eq!(&p4[12..16], &HOST6_AS_V4, "source mapped by the EAM entry");
    assert_eq!(&p4[16..20], &SERVER4, "destination extracted from pool6");
    assert_eq!(p4[9], 17);
    assert!(checksums_ok(p4), "IPv4/UDP checksums: {p4:02x?}");
    let p6 = &recs[1].1;
    assert_eq!(p6[0] >> 4, 6);
    assert_eq!(&p6[8..24], &SERVER4_AS_V6);
    assert_eq!(&p6[24..40], &HOST6);
    assert_eq!((p6[6], p6[40]), (58, 129), "ICMPv6 echo reply");
    assert!(checksums_ok(p6), "ICMPv6 checksum: {p6:02x?}");
}

#[test]
fn library_run_reports_the_counters() {
    let v6 = ipv6_udp(HOST6, SERVER4_AS_V6, 64, 40000, 7, b"x");
    let expiring = ipv6_udp(HOST6, SERVER4_AS_V6, 1, 40000, 7, b"x");
    let stranger = ipv6_udp(STRANGER6, SERVER4_AS_V6, 64, 40000, 7, b"x");
    let capture = pcap_file(
        LINKTYPE_RAW,
        &[(ts(0), v6), (ts(1), expiring), (ts(2), stranger)],
    );
    let (config, input, output) = setup("library", DEMO_TOML, &capture);
    let opts = control::translate::TranslateOptions {
        config,
        input,
        output,
        explain: false,
        interface: None,
        run_timers_until: None,
    };
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    let report = control::translate::run(&opts, &mut out, &mut diag).expect("run");
    assert_eq!(report.packets_in, 3);
    let d = report.stats.dir(dataplane::stats::Direction::V6ToV4);
    assert_eq!((d.received, d.translated, d.icmp_errors_sent), (3, 1, 1));
    use dataplane::stats::DropReason;
    assert_eq!(d.dropped[DropReason::TtlExpired as usize], 1);
    assert_eq!(d.dropped[DropReason::SrcUntranslatable as usize], 1);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("summary: 3 packets in, "),
        "no explain lines: {text}"
    );
    assert!(diag.is_empty());
}

/// The demo tenant, recognised on the IPv4 side by VLAN 100.
fn vlan_config() -> String {
    format!("{DEMO_TOML}\n[tenants.ipv4_side]\nvlan = 100\n")
}

#[test]
fn ethernet_outputs_keep_macs_swap_them_for_icmp_errors_and_carry_the_vlan_tag() {
    let from6 = |p: &[u8]| eth_ip(MAC_XLAT, MAC_ROUTER6, None, p);
    let frames = vec![
        (
            ts(0),
            from6(&ipv6_udp(HOST6, SERVER4_AS_V6, 64, 40000, 7, b"to v4")),
        ),
        (
            ts(1),
            eth_ip(
                MAC_XLAT,
                MAC_ROUTER4,
                Some(100),
                &ipv4_echo_reply(SERVER4, HOST6_AS_V4, 1, 1, b"x"),
            ),
        ),
        (
            ts(2),
            from6(&ipv6_udp(HOST6, SERVER4_AS_V6, 1, 40000, 7, b"expires")),
        ),
        (
            ts(3),
            eth_ip(
                MAC_XLAT,
                MAC_ROUTER4,
                None,
                &ipv4_echo_reply(SERVER4, HOST6_AS_V4, 1, 2, b"x"),
            ),
        ),
        (ts(4), arp_request(MAC_ROUTER4)),
    ];
    let (cfg, input, output) = setup(
        "ethernet",
        &vlan_config(),
        &pcap_file(LINKTYPE_ETHERNET, &frames),
    );

    let o = translate(&cfg, &input, &output, &["--explain"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    let verdicts: Vec<String> = out
        .lines()
        .take(5)
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(verdicts[0], "demo v6_to_v4 translated", "{out}");
    assert_eq!(verdicts[1], "demo v4_to_v6 translated", "{out}");
    assert_eq!(verdicts[2], "demo v6_to_v4 icmp_error ttl_expired", "{out}");
    assert_eq!(
        verdicts[3], "- v4_to_v6 dropped no_tenant",
        "untagged IPv4 belongs to no tenant: {out}"
    );
    assert_eq!(
        verdicts[4], "- - dropped not_ip (ethertype 0x0806)",
        "{out}"
    );
    assert!(
        out.contains("summary: 5 packets in, 3 packets out"),
        "{out}"
    );
    assert!(out.contains("    not_ip: 1"), "{out}");
    assert!(out.contains("    ttl_expired: 1"), "{out}");

    let (linktype, recs) = read_pcap(&std::fs::read(&output).unwrap());
    assert_eq!(linktype, LINKTYPE_ETHERNET);
    assert_eq!(recs.len(), 3);
    // 1: to the IPv4 side: the input frame's MACs, the tenant's VLAN tag, EtherType IPv4.
    let f = &recs[0].1;
    assert_eq!((&f[0..6], &f[6..12]), (&MAC_XLAT[..], &MAC_ROUTER6[..]));
    assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x00]);
    assert!(checksums_ok(&f[18..]));
    // 2: to the IPv6 side: untagged, EtherType IPv6.
    let f = &recs[1].1;
    assert_eq!((&f[0..6], &f[6..12]), (&MAC_XLAT[..], &MAC_ROUTER4[..]));
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    assert!(checksums_ok(&f[14..]));
    // 3: ICMPv6 Time Exceeded back to the sender: MACs swapped, from own_ipv6.
    let f = &recs[2].1;
    assert_eq!((&f[0..6], &f[6..12]), (&MAC_ROUTER6[..], &MAC_XLAT[..]));
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    let p = &f[14..];
    assert_eq!(&p[8..24], &v6([0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1]));
    assert_eq!(&p[24..40], &HOST6);
    assert_eq!(
        (p[6], p[40], p[41]),
        (58, 3, 0),
        "ICMPv6 Time Exceeded, hop limit exceeded in transit"
    );
    assert_eq!(recs[2].0, ts(2));
}

#[test]
fn interface_option_selects_the_tenant_by_ingress() {
    let config = format!("{DEMO_TOML}\n[tenants.ipv4_side]\ninterface = \"v4a\"\n");
    let v4 = ipv4_echo_reply(SERVER4, HOST6_AS_V4, 1, 1, b"x");
    let (cfg, input, output) = setup(
        "interface",
        &config,
        &pcap_file(LINKTYPE_RAW, &[(ts(0), v4)]),
    );

    let o = translate(&cfg, &input, &output, &["--explain", "--interface", "v4a"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(
        stdout(&o).contains(" demo v4_to_v6 translated"),
        "{}",
        stdout(&o)
    );
    assert_eq!(stderr(&o), "");

    let o = translate(&cfg, &input, &output, &["--explain", "--interface", "eth9"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(
        stdout(&o).contains(" - v4_to_v6 dropped no_tenant"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("names no interface \"eth9\" (it names: v4a)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn nanosecond_big_endian_capture_is_written_the_same_way() {
    let t = Duration::new(1_700_000_000, 123_456_789);
    let v6 = ipv6_udp(HOST6, SERVER4_AS_V6, 64, 40000, 7, b"ns");
    let capture = pcap_file_as(true, true, 229, &[(t, v6)]); // LINKTYPE_IPV6
    let (cfg, input, output) = setup("nanos", DEMO_TOML, &capture);
    let o = translate(&cfg, &input, &output, &["--explain"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(
        stdout(&o).starts_with("    1 1700000000.123456789 demo v6_to_v4 translated\n"),
        "{}",
        stdout(&o)
    );
    let bytes = std::fs::read(&output).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0xa1, 0xb2, 0x3c, 0x4d],
        "nanosecond, big-endian"
    );
    let (linktype, recs) = read_pcap(&bytes);
    assert_eq!(
        linktype, LINKTYPE_RAW,
        "IPv4 output of an IPV6 capture: written as RAW"
    );
    assert_eq!(recs[0].0, t);
    assert_eq!(recs[0].1[0] >> 4, 4);
}

#[test]
fn missing_input_file_exits_2_naming_it() {
    let (cfg, _, output) = setup("missing", DEMO_TOML, &[]);
    let o = translate(&cfg, Path::new("/nonexistent/capture.pcap"), &output, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/capture.pcap: cannot open: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "");
}

#[test]
fn garbage_input_file_exits_2() {
    let (cfg, input, output) = setup(
        "garbage",
        DEMO_TOML,
        b"this is not a capture file at all, honestly",
    );
    let o = translate(&cfg, &input, &output, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: not a pcap file: magic number 74686973",
            input.display()
        )),
        "{err}"
    );
}

#[test]
fn truncated_capture_exits_2_naming_the_record() {
    let v6 = ipv6_udp(HOST6, SERVER4_AS_V6, 64, 40000, 7, b"hello");
    let mut capture = pcap_file(LINKTYPE_RAW, &[(ts(0), v6.clone()), (ts(1), v6)]);
    capture.truncate(capture.len() - 3);
    let (cfg, input, output) = setup("truncated", DEMO_TOML, &capture);
    let o = translate(&cfg, &input, &output, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("truncated record 2 at byte offset"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unsupported_link_type_exits_2() {
    let (cfg, input, output) = setup("linktype", DEMO_TOML, &pcap_file(113, &[]));
    let o = translate(&cfg, &input, &output, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unsupported link type 113"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unwritable_output_exits_2() {
    let (cfg, input, _) = setup("unwritable", DEMO_TOML, &pcap_file(LINKTYPE_RAW, &[]));
    let o = translate(&cfg, &input, Path::new("/nonexistent/dir/out.pcap"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/dir/out.pcap: cannot create: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_config_exits_2_naming_every_field() {
    let config = DEMO_TOML
        .replace(
            "pool6 = \"2001:db8:64::/96\"",
            "pool6 = \"2001:db8:64::/33\"",
        )
        .replace("ipv4 = \"192.0.2.0/24\"", "ipv4 = \"192.0.2.1/24\"");
    assert_ne!(config, DEMO_TOML);
    let (cfg, input, output) = setup("badconfig", &config, &pcap_file(LINKTYPE_RAW, &[]));
    let o = translate(&cfg, &input, &output, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}: invalid config:", cfg.display())),
        "{err}"
    );
    let fields: Vec<&str> = err
        .lines()
        .skip(1)
        .map(|l| l.trim_start().split(':').next().unwrap())
        .collect();
    assert!(fields.contains(&"tenants[0].pool6"), "{err}");
    assert!(fields.contains(&"tenants[0].eamt[0].ipv4"), "{err}");
    assert!(!output.exists(), "nothing written for a bad config");
}

#[test]
fn config_syntax_error_exits_2_naming_the_field() {
    let config = DEMO_TOML.replace("id = 1", "id = \"one\"");
    let (cfg, input, output) = setup("syntax", &config, &pcap_file(LINKTYPE_RAW, &[]));
    let o = translate(&cfg, &input, &output, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tenants[0].id"), "{}", stderr(&o));
}

#[test]
fn missing_config_exits_2() {
    let (_, input, output) = setup("noconfig", DEMO_TOML, &pcap_file(LINKTYPE_RAW, &[]));
    let o = translate(Path::new("/nonexistent/xlat.toml"), &input, &output, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/xlat.toml: cannot read config: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    let o = xlat64(&["translate", "--config", "x.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--in"), "{}", stderr(&o));
    let o = xlat64(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

// ---- the shipped demo ----

/// deploy/examples/demo.pcap is what `demo_capture()` builds. To change the demo, edit `demo_capture()` and run
/// `XLAT64_REGENERATE_DEMO=1 cargo test -p xlat64-control --test cli demo_capture`.
#[test]
fn demo_capture_is_current() {
    let want = demo_capture();
    let path = demo_pcap_path();
    if std::env::var_os("XLAT64_REGENERATE_DEMO").is_some() {
        std::fs::write(&path, &want).expect("write demo.pcap");
    }
    let have = std::fs::read(&path).expect("read deploy/examples/demo.pcap");
    assert!(
        have == want,
        "{} differs from demo_capture(); regenerate it with XLAT64_REGENERATE_DEMO=1",
        path.display()
    );
}

#[test]
fn demo_explains_every_packet() {
    let dir = scratch("demo");
    let output = dir.join("demo-out.pcap");
    let config = repo_root().join("deploy/examples/demo.toml");
    let o = translate(&config, &demo_pcap_path(), &output, &["--explain"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    let verdicts: Vec<String> = out
        .lines()
        .take(7)
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(verdicts[0], "demo v6_to_v4 translated", "{out}");
    assert_eq!(verdicts[1], "demo v6_to_v4 translated", "{out}");
    assert_eq!(verdicts[2], "demo v4_to_v6 translated", "{out}");
    assert_eq!(verdicts[3], "demo v4_to_v6 fragmented into 2", "{out}");
    assert_eq!(verdicts[4], "demo v6_to_v4 icmp_error ttl_expired", "{out}");
    assert!(
        verdicts[5].starts_with("demo v6_to_v4 ") && verdicts[5].ends_with(" src_untranslatable"),
        "{out}"
    );
    assert_eq!(
        verdicts[6], "- - dropped not_ip (ethertype 0x0806)",
        "{out}"
    );
    assert!(out.contains("summary: 7 packets in, "), "{out}");

    let (_, recs) = read_pcap(&std::fs::read(&output).unwrap());
    for (ts, frame) in &recs {
        let p = &frame[14..];
        assert!(
            checksums_ok(p),
            "bad checksum in output at {ts:?}: {p:02x?}"
        );
    }
}

/// RFC 6146 §3.5.2.3 offline: an IPv4 SYN to a pool4 address with no binding is held; only when the capture's
/// clock passes 6 s without an IPv6 SYN claiming it does the translator answer with ICMP Port Unreachable.
/// `--run-timers-until` runs the clock past the last packet.
#[test]
fn run_timers_until_answers_a_held_ipv4_syn_after_six_seconds() {
    const NAT64_TOML: &str = r#"
[[tenants]]
name = "mobile"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "203.0.113.0/28"
"#;
    let mut syn = Vec::new();
    etherparse::PacketBuilder::ipv4(SERVER4, [203, 0, 113, 5], 60)
        .tcp(4000, 5555, 1, 1000)
        .syn()
        .write(&mut syn, &[])
        .expect("build");
    let capture = pcap_file(LINKTYPE_RAW, &[(ts(0), syn)]);
    let (cfg, input, output) = setup("held_syn", NAT64_TOML, &capture);

    // Without the option, the capture ends before the 6 s: nothing comes out.
    let o = translate(&cfg, &input, &output, &["--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read_pcap(&std::fs::read(&output).unwrap()).1.is_empty());

    // 5 s after the last packet: still held.
    let o = translate(&cfg, &input, &output, &["--run-timers-until", "+5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read_pcap(&std::fs::read(&output).unwrap()).1.is_empty());

    // 7 s after: Port Unreachable to the IPv4 sender, quoting its SYN, stamped with the timer's time.
    let o = translate(
        &cfg,
        &input,
        &output,
        &["--explain", "--run-timers-until", "+7"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("timers: 1 expired"), "{}", stdout(&o));
    let (_, out) = read_pcap(&std::fs::read(&output).unwrap());
    assert_eq!(out.len(), 1, "one ICMP error");
    let (t, p) = &out[0];
    assert_eq!(*t, ts(0) + Duration::from_secs(7));
    assert!(checksums_ok(p));
    assert_eq!(p[9], 1, "ICMP");
    assert_eq!(&p[16..20], &SERVER4, "to the SYN's sender");
    assert_eq!((p[20], p[21]), (3, 3), "port unreachable");
    assert_eq!(&p[28 + 16..28 + 20], &[203, 0, 113, 5], "quoting the SYN");

    // The same time given on the capture's clock.
    let at = format!("{}", 1_700_000_007);
    let o = translate(&cfg, &input, &output, &["--run-timers-until", &at]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_pcap(&std::fs::read(&output).unwrap()).1.len(), 1);

    // Nonsense is a usage error.
    let o = translate(&cfg, &input, &output, &["--run-timers-until", "soon"]);
    assert_eq!(o.status.code(), Some(2));
}
