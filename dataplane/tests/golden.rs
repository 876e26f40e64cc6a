//! Golden pcap pairs (RFC 7915, RFC 6052, RFC 7757, RFC 6791): for each case directory under `tests/golden/`,
//! translate `input.pcap` with `config.toml` and compare every emitted packet with `expected.pcap`, and every
//! packet's fate (translated / ICMP error / dropped, with the drop reason) with the table in the case's
//! `README.md`. The cases are generated from the RFC text by `tests/golden/gen.py` (see
//! `tests/golden/README.md` for the conventions, e.g. the fields the RFCs leave to the implementation, which
//! are not compared).
//!
//! `GOLDEN_CASE=name cargo test -p xlat64-dataplane --test golden` runs one case.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dataplane::frame::{Frame, FRAME_SIZE, HEADROOM};
use dataplane::pipeline::{OutcomeKind, Output, Pipeline};
use dataplane::tables::Snapshot;
use dataplane::xlat::Side;
use etherparse::{Icmpv4Type, LaxPacketHeaders, NetHeaders, TransportHeader};
use mgmt_api::config::Config;
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// The case directories (those holding a `config.toml`), sorted by name.
fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.join("config.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read_pcap(path: &Path) -> (DataLink, Vec<Vec<u8>>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = PcapReader::new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let datalink = reader.header().datalink;
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        packets.push(packet.data.into_owned());
    }
    (datalink, packets)
}

/// What the case's README says about one input packet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fate {
    kind: String,           // translated | icmp_error | dropped
    reason: Option<String>, // DropReason label
    outputs: usize,         // packets emitted into expected.pcap
}

/// Parses the README's packet table: `| # | fate | reason | out | input | rule |`.
fn read_fates(path: &Path) -> Vec<Fate> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fates = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 6 || !cells[0].is_empty() {
            continue;
        }
        let Ok(index) = cells[1].parse::<usize>() else {
            continue;
        };
        assert_eq!(
            index,
            fates.len() + 1,
            "{}: packet rows out of order",
            path.display()
        );
        let kind = cells[2].to_string();
        assert!(
            ["translated", "icmp_error", "dropped"].contains(&kind.as_str()),
            "{}: bad fate {kind:?}",
            path.display()
        );
        let reason = (cells[3] != "-").then(|| cells[3].to_string());
        let outputs = cells[4]
            .parse()
            .unwrap_or_else(|_| panic!("{}: bad out count {:?}", path.display(), cells[4]));
        fates.push(Fate {
            kind,
            reason,
            outputs,
        });
    }
    fates
}

/// The link layer of an Ethernet frame: MAC addresses, VLAN tag, and where the IP packet starts.
struct L2 {
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    l3_offset: usize,
}

fn parse_ethernet(frame: &[u8]) -> L2 {
    assert!(frame.len() >= 14, "Ethernet frame shorter than its header");
    let dst = frame[0..6].try_into().unwrap();
    let src = frame[6..12].try_into().unwrap();
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype == ETHERTYPE_VLAN {
        assert!(frame.len() >= 18, "802.1Q frame shorter than its header");
        let tci = u16::from_be_bytes([frame[14], frame[15]]);
        L2 {
            dst,
            src,
            vlan: Some(tci & 0x0fff),
            l3_offset: 18,
        }
    } else {
        L2 {
            dst,
            src,
            vlan: None,
            l3_offset: 14,
        }
    }
}

fn build_ethernet(l2: &L2, vlan: Option<u16>, packet: &[u8]) -> Vec<u8> {
    let ethertype = if packet.first().map(|b| b >> 4) == Some(4) {
        ETHERTYPE_IPV4
    } else {
        ETHERTYPE_IPV6
    };
    let mut out = Vec::with_capacity(packet.len() + 18);
    out.extend_from_slice(&l2.dst);
    out.extend_from_slice(&l2.src);
    if let Some(vid) = vlan {
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(packet);
    out
}

// ---------------------------------------------------------------------------------------------------------
// Fields the RFCs leave to the implementation: copied from the actual packet into the expected one before the
// byte comparison (checksums that cover them are then recomputed in the expected packet, so a wrong checksum in
// the actual packet still shows).
// ---------------------------------------------------------------------------------------------------------

fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from(chunk[0]) << 8
        };
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn fix_ipv4_header_checksum(header: &mut [u8]) {
    header[10] = 0;
    header[11] = 0;
    let c = internet_checksum(header);
    header[10..12].copy_from_slice(&c.to_be_bytes());
}

fn ipv4_is_unfragmented_df0(header: &[u8]) -> bool {
    let flags = u16::from_be_bytes([header[6], header[7]]);
    flags & 0x4000 == 0 && flags & 0x2000 == 0 && flags & 0x1fff == 0
}

fn is_icmpv4_error(t: u8) -> bool {
    matches!(t, 3 | 4 | 5 | 11 | 12)
}

/// Applies the harness conventions (tests/golden/README.md) to `expected` (an IP packet), using `actual`:
///
/// 1. ICMP errors the translator originates (outer source = a tenant's own_v4()/own_v6()): the outer IPv4
///    TOS, Identification, DF and TTL, or the IPv6 Traffic Class, Flow Label and Hop Limit, are the
///    translator's choice.
/// 2. Other IPv4 packets that are not fragments and have DF=0: the Identification is the translator's (RFC 7915
///    §5.1). Same for the IPv4 header inside a translated ICMPv4 error.
fn apply_conventions(expected: &mut [u8], actual: &[u8], own4: &[[u8; 4]], own6: &[[u8; 16]]) {
    if expected.is_empty() || actual.is_empty() || expected[0] >> 4 != actual[0] >> 4 {
        return;
    }
    match expected[0] >> 4 {
        4 => {
            let ihl = usize::from(expected[0] & 0x0f) * 4;
            if expected.len() < ihl + 8 || actual.len() < 20 || ihl < 20 {
                return;
            }
            let src: [u8; 4] = expected[12..16].try_into().unwrap();
            let originated =
                expected[9] == 1 && is_icmpv4_error(expected[ihl]) && own4.contains(&src);
            if originated {
                expected[1] = actual[1];
                expected[4..6].copy_from_slice(&actual[4..6]);
                expected[6] = (expected[6] & !0x40) | (actual[6] & 0x40);
                expected[8] = actual[8];
                fix_ipv4_header_checksum(&mut expected[..ihl]);
                return;
            }
            if ipv4_is_unfragmented_df0(&expected[..ihl]) {
                expected[4..6].copy_from_slice(&actual[4..6]);
                fix_ipv4_header_checksum(&mut expected[..ihl]);
            }
            // The IPv4 header inside a translated ICMPv4 error.
            let inner = ihl + 8;
            let aihl = usize::from(actual[0] & 0x0f) * 4;
            if expected[9] == 1
                && is_icmpv4_error(expected[ihl])
                && expected.len() >= inner + 20
                && expected[inner] >> 4 == 4
                && actual.len() >= aihl + 8 + 20
            {
                let iihl = usize::from(expected[inner] & 0x0f) * 4;
                if iihl >= 20
                    && expected.len() >= inner + iihl
                    && ipv4_is_unfragmented_df0(&expected[inner..inner + iihl])
                {
                    let a = aihl + 8;
                    expected[inner + 4..inner + 6].copy_from_slice(&actual[a + 4..a + 6]);
                    fix_ipv4_header_checksum(&mut expected[inner..inner + iihl]);
                    expected[ihl + 2] = 0;
                    expected[ihl + 3] = 0;
                    let c = internet_checksum(&expected[ihl..]);
                    expected[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
                }
            }
        }
        6 => {
            if expected.len() < 41 || actual.len() < 40 {
                return;
            }
            let src: [u8; 16] = expected[8..24].try_into().unwrap();
            let originated = expected[6] == 58 && expected[40] < 128 && own6.contains(&src);
            if originated {
                expected[0] = (expected[0] & 0xf0) | (actual[0] & 0x0f);
                expected[1..4].copy_from_slice(&actual[1..4]);
                expected[7] = actual[7];
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------------------
// Readable diffs
// ---------------------------------------------------------------------------------------------------------

/// One line per decoded field (addresses as addresses, numbers in decimal and hex where it helps), the payload
/// in 16-byte hex lines, and the packet quoted inside an ICMP error decoded the same way.
fn describe(packet: &[u8], ethernet: bool, prefix: &str, out: &mut Vec<String>) {
    let headers = if ethernet {
        LaxPacketHeaders::from_ethernet(packet).map_err(|e| format!("{e:?}"))
    } else {
        LaxPacketHeaders::from_ip(packet).map_err(|e| format!("{e:?}"))
    };
    let headers = match headers {
        Ok(h) => h,
        Err(e) => {
            out.push(format!("{prefix}undecodable: {e}"));
            hex_lines(packet, prefix, out);
            return;
        }
    };
    let mut line = |s: String| out.push(format!("{prefix}{s}"));
    if let Some(link) = &headers.link {
        line(format!("link: {link:?}"));
    }
    for ext in &headers.link_exts {
        line(format!("link ext: {ext:?}"));
    }
    match &headers.net {
        Some(NetHeaders::Ipv4(h, exts)) => {
            line("ipv4".to_string());
            line(format!(
                "  tos: 0x{:02x} (dscp {}, ecn {})",
                h.dscp.value() << 2 | h.ecn.value(),
                h.dscp.value(),
                h.ecn.value()
            ));
            line(format!("  total_len: {}", h.total_len));
            line(format!("  identification: 0x{:04x}", h.identification));
            line(format!("  dont_fragment: {}", h.dont_fragment));
            line(format!("  more_fragments: {}", h.more_fragments));
            line(format!(
                "  fragment_offset: {} bytes",
                u32::from(h.fragment_offset.value()) * 8
            ));
            line(format!("  ttl: {}", h.time_to_live));
            line(format!("  protocol: {:?}", h.protocol));
            line(format!("  header_checksum: 0x{:04x}", h.header_checksum));
            line(format!("  source: {}", Ipv4Addr::from(h.source)));
            line(format!("  destination: {}", Ipv4Addr::from(h.destination)));
            line(format!("  options: {:02x?}", h.options.as_slice()));
            if exts.auth.is_some() {
                line(format!("  auth: {:?}", exts.auth));
            }
        }
        Some(NetHeaders::Ipv6(h, exts)) => {
            line("ipv6".to_string());
            line(format!("  traffic_class: 0x{:02x}", h.traffic_class));
            line(format!("  flow_label: 0x{:05x}", h.flow_label.value()));
            line(format!("  payload_length: {}", h.payload_length));
            line(format!("  next_header: {:?}", h.next_header));
            line(format!("  hop_limit: {}", h.hop_limit));
            line(format!("  source: {}", Ipv6Addr::from(h.source)));
            line(format!("  destination: {}", Ipv6Addr::from(h.destination)));
            if let Some(x) = &exts.hop_by_hop_options {
                line(format!("  hop_by_hop: {x:?}"));
            }
            if let Some(x) = &exts.destination_options {
                line(format!("  destination_options: {x:?}"));
            }
            if let Some(x) = &exts.routing {
                line(format!("  routing: {x:?}"));
            }
            if let Some(f) = &exts.fragment {
                line("  fragment".to_string());
                line(format!("    next_header: {:?}", f.next_header));
                line(format!(
                    "    fragment_offset: {} bytes",
                    u32::from(f.fragment_offset.value()) * 8
                ));
                line(format!("    more_fragments: {}", f.more_fragments));
                line(format!("    identification: 0x{:08x}", f.identification));
            }
            if exts.auth.is_some() {
                line(format!("  auth: {:?}", exts.auth));
            }
        }
        Some(other) => line(format!("net: {other:?}")),
        None => {}
    }
    let payload = headers.payload.slice();
    // Offset of the payload in `packet` (the lax parser hands out sub-slices of it).
    let payload_start = (payload.as_ptr() as usize)
        .wrapping_sub(packet.as_ptr() as usize)
        .min(packet.len());
    let mut icmp_error = false;
    match &headers.transport {
        Some(TransportHeader::Udp(u)) => {
            line(format!(
                "udp ports {} -> {}, length {}, checksum 0x{:04x}",
                u.source_port, u.destination_port, u.length, u.checksum
            ));
        }
        Some(TransportHeader::Tcp(t)) => {
            line(format!(
                "tcp ports {} -> {}, seq {}, ack {}, checksum 0x{:04x}",
                t.source_port,
                t.destination_port,
                t.sequence_number,
                t.acknowledgment_number,
                t.checksum
            ));
            line(format!("  {t:?}"));
        }
        Some(TransportHeader::Icmpv4(h)) => {
            icmp_error = matches!(
                h.icmp_type,
                Icmpv4Type::DestinationUnreachable(_)
                    | Icmpv4Type::TimeExceeded(_)
                    | Icmpv4Type::ParameterProblem(_)
                    | Icmpv4Type::Redirect(_)
            );
            line(format!(
                "icmpv4 {:?}, checksum 0x{:04x}",
                h.icmp_type, h.checksum
            ));
        }
        Some(TransportHeader::Icmpv6(h)) => {
            icmp_error = h.icmp_type.type_u8() < 128;
            line(format!(
                "icmpv6 {:?}, checksum 0x{:04x}",
                h.icmp_type, h.checksum
            ));
        }
        Some(other) => line(format!("transport: {other:?}")),
        None => {}
    }
    if matches!(
        &headers.transport,
        Some(TransportHeader::Icmpv4(_) | TransportHeader::Icmpv6(_))
    ) && payload_start >= 8
    {
        // Bytes 4..8 of the ICMP header: identifier/sequence, pointer, MTU, RFC 4884 length.
        let rest = &packet[payload_start - 4..payload_start];
        line(format!("icmp bytes 4..8: {rest:02x?}"));
    }
    if let Some((err, layer)) = &headers.stop_err {
        line(format!("stopped at {layer:?}: {err:?}"));
    }
    line(format!("payload: {} bytes", payload.len()));
    if icmp_error && !payload.is_empty() {
        describe(payload, false, &format!("{prefix}[quoted] "), out);
    } else {
        hex_lines(payload, prefix, out);
    }
}

fn hex_lines(data: &[u8], prefix: &str, out: &mut Vec<String>) {
    for (i, chunk) in data.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        out.push(format!("{prefix}  {:04x}: {}", i * 16, hex.join(" ")));
    }
}

/// A line diff (longest common subsequence): `-` expected only, `+` actual only, unchanged lines left out
/// except one line of context before each change.
fn line_diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    let mut last_same: Option<&String> = None;
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            last_same = Some(&expected[i]);
            i += 1;
            j += 1;
            continue;
        }
        if let Some(ctx) = last_same.take() {
            let _ = writeln!(out, "      {ctx}");
        }
        if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "    + {}", actual[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "    - {}", expected[i]);
            i += 1;
        }
    }
    out
}

fn hex_dump(data: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in data.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "      {:04x}: {}", i * 16, hex.join(" "));
    }
    out
}

fn packet_diff(expected: &[u8], actual: &[u8], ethernet: bool) -> String {
    let (mut e, mut a) = (Vec::new(), Vec::new());
    describe(expected, ethernet, "", &mut e);
    describe(actual, ethernet, "", &mut a);
    let mut out = String::new();
    let _ = writeln!(out, "    field diff (- expected, + actual):");
    out.push_str(&line_diff(&e, &a));
    let _ = writeln!(out, "    expected ({} bytes):", expected.len());
    out.push_str(&hex_dump(expected));
    let _ = writeln!(out, "    actual ({} bytes):", actual.len());
    out.push_str(&hex_dump(actual));
    out
}

// ---------------------------------------------------------------------------------------------------------
// One case
// ---------------------------------------------------------------------------------------------------------

/// Runs one case; returns the failure report (empty if it passed).
fn run_case(dir: &Path) -> String {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut report = String::new();
    let toml = std::fs::read_to_string(dir.join("config.toml")).expect("config.toml readable");
    let config = match Config::from_toml_str(&toml) {
        Ok(c) => c,
        Err(e) => return format!("{name}: config.toml rejected:\n{e}\n"),
    };
    let snapshot = match Snapshot::compile(&config) {
        Ok(s) => s,
        Err(e) => return format!("{name}: config.toml does not compile:\n{e}\n"),
    };
    let own4: Vec<[u8; 4]> = snapshot.tenants().iter().map(|t| t.own_v4()).collect();
    let own6: Vec<[u8; 16]> = snapshot.tenants().iter().map(|t| t.own_v6()).collect();
    let mut pipeline = Pipeline::new(Arc::new(snapshot));

    let (link_in, inputs) = read_pcap(&dir.join("input.pcap"));
    let (link_out, expected) = read_pcap(&dir.join("expected.pcap"));
    let fates = read_fates(&dir.join("README.md"));
    assert_eq!(
        link_in, link_out,
        "{name}: input and expected link types differ"
    );
    let ethernet = match link_in {
        DataLink::ETHERNET => true,
        DataLink::RAW => false,
        other => panic!("{name}: unsupported link type {other:?}"),
    };
    assert_eq!(
        fates.len(),
        inputs.len(),
        "{name}: README lists {} packets, input.pcap has {}",
        fates.len(),
        inputs.len()
    );
    assert_eq!(
        fates.iter().map(|f| f.outputs).sum::<usize>(),
        expected.len(),
        "{name}: README's out column does not add up to expected.pcap's packet count"
    );

    let mut next_expected = 0;
    for (index, (input, fate)) in inputs.iter().zip(&fates).enumerate() {
        let number = index + 1;
        let l2 = ethernet.then(|| parse_ethernet(input));
        let l3 = match &l2 {
            Some(l2) => &input[l2.l3_offset..],
            None => &input[..],
        };
        let mut buf = vec![0u8; (HEADROOM + l3.len() + 512).max(FRAME_SIZE)];
        let mut frame = Frame::copy_from(&mut buf, l3).expect("frame buffer large enough");
        frame.meta.vlan = l2.as_ref().and_then(|l2| l2.vlan);

        let mut outputs: Vec<Vec<u8>> = Vec::new();
        let mut side_errors = Vec::new();
        let outcome = pipeline.process(&mut frame, &mut |o: Output<'_>| {
            let version = o.packet.first().map(|b| b >> 4);
            let side_ok = matches!((o.side, version), (Side::V4, Some(4)) | (Side::V6, Some(6)));
            if !side_ok {
                side_errors.push(format!(
                    "output on side {:?} holds an IP version {:?} packet",
                    o.side, version
                ));
            }
            outputs.push(match &l2 {
                Some(l2) => build_ethernet(l2, o.vlan, o.packet),
                None => o.packet.to_vec(),
            });
        });

        // The fate.
        let (kind, reason) = match outcome.kind {
            OutcomeKind::Translated { .. } => ("translated", None),
            OutcomeKind::IcmpError(r) => ("icmp_error", Some(r.as_str())),
            OutcomeKind::Dropped(r) => ("dropped", Some(r.as_str())),
            // One pipeline: NAT64 hands off between workers only.
            OutcomeKind::HandedOff { .. } => ("handed_off", None),
        };
        if kind != fate.kind || reason != fate.reason.as_deref() {
            let _ = writeln!(
                report,
                "{name} #{number}: fate {kind} {} (expected {} {})",
                reason.unwrap_or("-"),
                fate.kind,
                fate.reason.as_deref().unwrap_or("-")
            );
        }
        if let OutcomeKind::Translated { packets } = outcome.kind {
            if usize::from(packets) != outputs.len() {
                let _ = writeln!(
                    report,
                    "{name} #{number}: outcome says {packets} packets, {} emitted",
                    outputs.len()
                );
            }
        }
        for e in side_errors {
            let _ = writeln!(report, "{name} #{number}: {e}");
        }

        // The packets.
        let want = &expected[next_expected..next_expected + fate.outputs];
        next_expected += fate.outputs;
        if outputs.len() != want.len() {
            let _ = writeln!(
                report,
                "{name} #{number}: {} packets emitted, {} expected",
                outputs.len(),
                want.len()
            );
        }
        for (k, (got, exp)) in outputs.iter().zip(want).enumerate() {
            let mut exp = exp.clone();
            let (exp_off, got_off) = if ethernet {
                (
                    parse_ethernet(&exp).l3_offset,
                    parse_ethernet(got).l3_offset,
                )
            } else {
                (0, 0)
            };
            apply_conventions(&mut exp[exp_off..], &got[got_off..], &own4, &own6);
            if *got != exp {
                let _ = writeln!(
                    report,
                    "{name} #{number} output {}: differs from expected",
                    k + 1
                );
                report.push_str(&packet_diff(&exp, got, ethernet));
            }
        }
        for (k, got) in outputs.iter().enumerate().skip(want.len()) {
            let _ = writeln!(
                report,
                "{name} #{number} output {}: unexpected packet",
                k + 1
            );
            report.push_str(&packet_diff(&[], got, ethernet));
        }
    }
    report
}

#[test]
fn golden_pcap_pairs() {
    let only = std::env::var("GOLDEN_CASE").ok();
    let dirs: Vec<PathBuf> = case_dirs()
        .into_iter()
        .filter(|d| {
            only.as_deref()
                .is_none_or(|o| d.file_name().is_some_and(|n| n == o))
        })
        .collect();
    assert!(
        !dirs.is_empty(),
        "no golden cases found under {}",
        golden_dir().display()
    );
    let mut failed = Vec::new();
    let mut full_report = String::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let report = run_case(dir);
        if report.is_empty() {
            println!("golden {name}: ok");
        } else {
            println!("golden {name}: FAILED");
            failed.push(name);
            full_report.push_str(&report);
        }
    }
    if !failed.is_empty() {
        eprintln!("{full_report}");
        panic!(
            "{} of {} golden cases failed: {}",
            failed.len(),
            dirs.len(),
            failed.join(", ")
        );
    }
}

/// The conventions accept a translator-generated IPv4 Identification (outer and quoted header) and nothing else.
#[test]
fn conventions_accept_generated_identification_only() {
    let (_, expected) = read_pcap(
        &golden_dir()
            .join("icmp6_param_problem")
            .join("expected.pcap"),
    );
    let expected = &expected[0]; // ICMPv4 12/0: IPv4 + ICMPv4 + quoted IPv4 (DF=0) + UDP
    let mut actual = expected.clone();
    actual[4..6].copy_from_slice(&[0x12, 0x34]);
    fix_ipv4_header_checksum(&mut actual[..20]);
    actual[32..34].copy_from_slice(&[0x56, 0x78]);
    fix_ipv4_header_checksum(&mut actual[28..48]);
    actual[22..24].copy_from_slice(&[0, 0]);
    let c = internet_checksum(&actual[20..]);
    actual[22..24].copy_from_slice(&c.to_be_bytes());
    assert_ne!(&actual, expected);
    let mut normalized = expected.clone();
    apply_conventions(&mut normalized, &actual, &[], &[]);
    assert_eq!(normalized, actual);

    let mut wrong_ttl = actual.clone();
    wrong_ttl[8] -= 1;
    fix_ipv4_header_checksum(&mut wrong_ttl[..20]);
    let mut normalized = expected.clone();
    apply_conventions(&mut normalized, &wrong_ttl, &[], &[]);
    assert_ne!(normalized, wrong_ttl);
}

/// The conventions accept the outer header fields of originated ICMP errors, only when the source is ours.
#[test]
fn conventions_accept_originated_error_header_fields() {
    let (_, expected) = read_pcap(&golden_dir().join("ttl_expired").join("expected.pcap"));
    let own4 = [[192, 0, 2, 1]];
    let own6 = [[
        0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ]];

    let v4 = &expected[0]; // ICMPv4 11/0 from 192.0.2.1
    let mut actual = v4.clone();
    actual[1] = 0xc0; // TOS (precedence 6, RFC 1812 §4.3.2.5)
    actual[4..6].copy_from_slice(&[0xab, 0xcd]);
    actual[6] |= 0x40; // DF
    actual[8] = 255;
    fix_ipv4_header_checksum(&mut actual[..20]);
    let mut normalized = v4.clone();
    apply_conventions(&mut normalized, &actual, &own4, &own6);
    assert_eq!(normalized, actual);
    let mut normalized = v4.clone();
    apply_conventions(&mut normalized, &actual, &[], &own6);
    assert_ne!(
        normalized, actual,
        "not originated by us: TTL and TOS compared"
    );

    let v6 = &expected[1]; // ICMPv6 3/0 from 2001:db8:ffff::1
    let mut actual = v6.clone();
    actual[0..4].copy_from_slice(&[0x6c, 0x01, 0x23, 0x45]);
    actual[7] = 255;
    let mut normalized = v6.clone();
    apply_conventions(&mut normalized, &actual, &own4, &own6);
    assert_eq!(normalized, actual);
}
