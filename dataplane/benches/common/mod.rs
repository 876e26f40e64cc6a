//! Benchmark cases shared by `benches/translate.rs` (criterion, time) and `examples/xlat_loop.rs`
//! (callgrind, instructions): the configs, the template packets and the batch loop a worker runs.
//!
//! Packet sizes: "64-byte UDP" is a 64-byte Ethernet frame on the IPv4 side (14 header + 46 IP + 4 FCS), so
//! the IPv4 packet is 46 bytes (20 IPv4 + 8 UDP + 18 payload) and its IPv6 counterpart 66 bytes (40 + 8 + 18).
//! TCP: 20 + 20 + 6 payload = 46 bytes (IPv6: 66). ICMP echo: 20 + 8 + 18 = 46 (IPv6: 66). ICMP errors
//! quote a whole 64-byte-frame UDP packet: ICMPv4 port unreachable = 20 + 8 + 46 = 74 bytes, its ICMPv6
//! counterpart 40 + 8 + 66 = 114. The translator sees network-layer packets: no Ethernet header, no FCS.
//!
//! Packets are built here byte by byte, checksums from a naive RFC 1071 sum, independent of `wire::checksum`.

use std::sync::Arc;

use dataplane::frame::{Frame, RxMeta, FRAME_SIZE, HEADROOM};
use dataplane::pipeline::{Outcome, OutcomeKind, Pipeline};
use dataplane::tables::Snapshot;
use mgmt_api::config::Config;

/// Frames per batch, as a worker takes them from its RX ring.
pub const BATCH: usize = 64;

/// One benchmark case: a configuration and the packets a batch is made of (one template repeated, or one
/// per frame).
pub struct Case {
    pub name: &'static str,
    pub snapshot: Arc<Snapshot>,
    /// Network-layer packets and the receive metadata (VLAN) of the frame they arrive in.
    pub templates: Vec<(Vec<u8>, RxMeta)>,
}

/// Every case name, in the order the benchmark and the report list them.
pub const CASES: &[&str] = &[
    "udp_4to6",
    "udp_6to4",
    "tcp_4to6",
    "tcp_6to4",
    "icmp_echo_4to6",
    "icmp_echo_6to4",
    "icmp_err_4to6",
    "icmp_err_6to4",
    "udp_eam_4to6",
    "udp_eam_6to4",
    "flows_udp_4to6",
    "flows_udp_6to4",
    "mt_udp_4to6",
    "mt_udp_6to4",
];

// ---------- addresses ----------

/// Single tenant, pool6 only (the common SIIT set-up): both sides' addresses are RFC 6052 embeddings.
const POOL6: [u8; 12] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0];
const CLIENT4: [u8; 4] = [192, 0, 2, 5];
const SERVER4: [u8; 4] = [198, 51, 100, 7];

fn embed(prefix: [u8; 12], v4: [u8; 4]) -> [u8; 16] {
    let mut a = [0; 16];
    a[..12].copy_from_slice(&prefix);
    a[12..].copy_from_slice(&v4);
    a
}

/// The EAM form of the client: 2001:db8:1::5 <-> 192.0.2.5 (192.0.2.0/24 <-> 2001:db8:1::/120).
const CLIENT6_EAM: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];

const SINGLE: &str = r#"
[[tenants]]
name = "bench"
id = 1
pool6 = "2001:db8:64::/96"
"#;

const SINGLE_EAM: &str = r#"
[[tenants]]
name = "bench"
id = 1
pool6 = "2001:db8:64::/96"
[[tenants.eamt]]
ipv4 = "192.0.2.0/24"
ipv6 = "2001:db8:1::/120"
"#;

/// Multi-tenant: this many tenants, each on its own VLAN with its own pool6, each with this many EAM entries.
/// All tenants number their EAM hosts 10.0.0.0/18 (allowed: the VLAN tells them apart on the IPv4 side).
pub const MT_TENANTS: usize = 16;
pub const MT_EAMS: usize = 64;

fn mt_config() -> String {
    let mut s = String::new();
    for i in 0..MT_TENANTS {
        s += &format!(
            "[[tenants]]\nname = \"t{i}\"\nid = {}\npool6 = \"2001:db8:100:{i:x}::/96\"\n\
             [tenants.ipv4_side]\nvlan = {}\n",
            i + 1,
            100 + i
        );
        for j in 0..MT_EAMS {
            s += &format!(
                "[[tenants.eamt]]\nipv4 = \"10.0.{j}.0/24\"\nipv6 = \"2001:db8:e{i:x}:{j:x}::/120\"\n"
            );
        }
    }
    s
}

/// Tenant `i`'s pool6 form of an IPv4 address.
fn mt_pool6(i: usize, v4: [u8; 4]) -> [u8; 16] {
    let mut a = [0; 16];
    a[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00]);
    a[6..8].copy_from_slice(&(i as u16).to_be_bytes());
    a[12..].copy_from_slice(&v4);
    a
}

/// Tenant `i`'s EAM host `j` (2001:db8:eI:J::5 <-> 10.0.J.5).
fn mt_eam(i: usize, j: usize) -> ([u8; 16], [u8; 4]) {
    let mut a = [0; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[4..6].copy_from_slice(&(0xe0 + i as u16).to_be_bytes());
    a[6..8].copy_from_slice(&(j as u16).to_be_bytes());
    a[15] = 5;
    (a, [10, 0, j as u8, 5])
}

fn snapshot(toml: &str) -> Arc<Snapshot> {
    let cfg = Config::from_toml_str(toml).unwrap_or_else(|e| panic!("bench config: {e}"));
    Arc::new(Snapshot::compile(&cfg).unwrap_or_else(|e| panic!("bench config: {e}")))
}

// ---------- packets ----------

const UDP: u8 = 17;
const TCP: u8 = 6;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Payload of the 64-byte-frame cases (18 bytes: 46 - 20 - 8).
const PAYLOAD18: &[u8; 18] = b"xlat64 bench data.";
/// TCP payload (6 bytes: 46 - 20 - 20).
const PAYLOAD6: &[u8; 6] = b"xlat64";

/// RFC 1071 sum, word by word, folded.
fn naive_sum(parts: &[&[u8]]) -> u16 {
    let mut s: u64 = 0;
    for p in parts {
        for w in p.chunks(2) {
            s += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn pseudo4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

fn pseudo6(src: [u8; 16], dst: [u8; 16], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    p
}

/// Fills the checksum at `seg[at..at + 2]` over `pseudo` and `seg` (UDP: 0 is sent as 0xffff).
fn fill_l4_checksum(seg: &mut [u8], at: usize, pseudo: &[u8]) {
    seg[at..at + 2].fill(0);
    let mut c = !naive_sum(&[pseudo, seg]);
    if c == 0 {
        c = 0xffff;
    }
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The transport segment for `proto` (checksum not yet filled), and where its checksum field is.
fn segment(proto: u8, echo_type: u8) -> (Vec<u8>, usize) {
    match proto {
        UDP => {
            let mut s = vec![0x13, 0x88, 0x00, 0x35]; // 5000 -> 53
            s.extend_from_slice(&((8 + PAYLOAD18.len()) as u16).to_be_bytes());
            s.extend_from_slice(&[0, 0]);
            s.extend_from_slice(PAYLOAD18);
            (s, 6)
        }
        TCP => {
            let mut s = vec![0xc3, 0x50, 0x00, 0x50]; // 50000 -> 80
            s.extend_from_slice(&0x1234_5678u32.to_be_bytes()); // sequence
            s.extend_from_slice(&0x9abc_def0u32.to_be_bytes()); // acknowledgment
            s.extend_from_slice(&[0x50, 0x18]); // data offset 5, PSH+ACK
            s.extend_from_slice(&[0xfa, 0xf0]); // window
            s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            s.extend_from_slice(PAYLOAD6);
            (s, 16)
        }
        _ => {
            // ICMP / ICMPv6 echo request: type, code 0, checksum, identifier, sequence, payload.
            let mut s = vec![echo_type, 0, 0, 0, 0x12, 0x34, 0x00, 0x01];
            s.extend_from_slice(PAYLOAD18);
            (s, 2)
        }
    }
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut p = vec![0x45, 0x00];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0x1c, 0x46, 0x40, 0x00, 64, proto, 0, 0]); // ident, DF, TTL 64
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = !naive_sum(&[&p]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0x00, 0x00, 0x00];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

/// An IPv4 packet: UDP, TCP or ICMP echo request, 46 bytes.
pub fn packet4(src: [u8; 4], dst: [u8; 4], proto: u8) -> Vec<u8> {
    let (mut s, at) = segment(proto, 8);
    let pseudo = if proto == ICMP {
        Vec::new() // ICMPv4: no pseudo-header
    } else {
        pseudo4(src, dst, proto, s.len())
    };
    fill_l4_checksum(&mut s, at, &pseudo);
    ipv4(src, dst, proto, &s)
}

/// An IPv6 packet: UDP, TCP or ICMPv6 echo request, 66 bytes.
pub fn packet6(src: [u8; 16], dst: [u8; 16], proto: u8) -> Vec<u8> {
    let (mut s, at) = segment(proto, 128);
    let pseudo = pseudo6(src, dst, proto, s.len());
    fill_l4_checksum(&mut s, at, &pseudo);
    ipv6(src, dst, proto, &s)
}

/// ICMPv4 Destination Unreachable / Port Unreachable (type 3 code 3) from `src`, quoting the whole `quoted`
/// packet: 20 + 8 + quoted bytes.
fn icmp4_port_unreachable(src: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let dst: [u8; 4] = quoted[12..16].try_into().unwrap();
    let mut s = vec![3, 3, 0, 0, 0, 0, 0, 0];
    s.extend_from_slice(quoted);
    fill_l4_checksum(&mut s, 2, &[]);
    ipv4(src, dst, ICMP, &s)
}

/// ICMPv6 Destination Unreachable / Port Unreachable (type 1 code 4) from `src`: 40 + 8 + quoted bytes.
fn icmp6_port_unreachable(src: [u8; 16], quoted: &[u8]) -> Vec<u8> {
    let dst: [u8; 16] = quoted[8..24].try_into().unwrap();
    let mut s = vec![1, 4, 0, 0, 0, 0, 0, 0];
    s.extend_from_slice(quoted);
    let pseudo = pseudo6(src, dst, ICMPV6, s.len());
    fill_l4_checksum(&mut s, 2, &pseudo);
    ipv6(src, dst, ICMPV6, &s)
}

fn untagged(p: Vec<u8>) -> Vec<(Vec<u8>, RxMeta)> {
    vec![(p, RxMeta::default())]
}

/// Builds the case called `name`; `None` if there is none.
pub fn case(name: &str) -> Option<Case> {
    let name = *CASES.iter().find(|c| **c == name)?;
    let client6 = embed(POOL6, CLIENT4);
    let server6 = embed(POOL6, SERVER4);
    let (toml, templates) = match name {
        // IPv4 side: the server answers the client. IPv6 side: the client talks to the server.
        "udp_4to6" => (SINGLE, untagged(packet4(SERVER4, CLIENT4, UDP))),
        "udp_6to4" => (SINGLE, untagged(packet6(client6, server6, UDP))),
        "tcp_4to6" => (SINGLE, untagged(packet4(SERVER4, CLIENT4, TCP))),
        "tcp_6to4" => (SINGLE, untagged(packet6(client6, server6, TCP))),
        "icmp_echo_4to6" => (SINGLE, untagged(packet4(SERVER4, CLIENT4, ICMP))),
        "icmp_echo_6to4" => (SINGLE, untagged(packet6(client6, server6, ICMPV6))),
        // The server's port unreachable for the client's UDP packet (as it looked on the IPv4 side), and the
        // client's for the server's (as it looked on the IPv6 side).
        "icmp_err_4to6" => (
            SINGLE,
            untagged(icmp4_port_unreachable(
                SERVER4,
                &packet4(CLIENT4, SERVER4, UDP),
            )),
        ),
        "icmp_err_6to4" => (
            SINGLE,
            untagged(icmp6_port_unreachable(
                client6,
                &packet6(server6, client6, UDP),
            )),
        ),
        "udp_eam_4to6" => (SINGLE_EAM, untagged(packet4(SERVER4, CLIENT4, UDP))),
        "udp_eam_6to4" => (SINGLE_EAM, untagged(packet6(CLIENT6_EAM, server6, UDP))),
        // The common SIIT set-up with 64 flows: frame k is addressed to IPv4 host 192.0.2.(10 + k) (its
        // pool6 form IPv6 → IPv4), so no two frames of a batch share a destination.
        "flows_udp_4to6" | "flows_udp_6to4" => {
            let t = (0..BATCH)
                .map(|k| {
                    let host = [192, 0, 2, 10 + k as u8];
                    let p = if name == "flows_udp_4to6" {
                        packet4(SERVER4, host, UDP)
                    } else {
                        packet6(client6, embed(POOL6, host), UDP)
                    };
                    (p, RxMeta::default())
                })
                .collect();
            (SINGLE, t)
        }
        // One packet per frame of the batch, spread over the tenants and their EAM entries: tenant k % 16,
        // EAM host (7k) % 64.
        "mt_udp_4to6" | "mt_udp_6to4" => {
            let v4_to_v6 = name == "mt_udp_4to6";
            let t = (0..BATCH)
                .map(|k| {
                    let (i, j) = (k % MT_TENANTS, (7 * k) % MT_EAMS);
                    let (host6, host4) = mt_eam(i, j);
                    if v4_to_v6 {
                        let meta = RxMeta {
                            ingress: 0,
                            vlan: Some(100 + i as u16),
                        };
                        (packet4(SERVER4, host4, UDP), meta)
                    } else {
                        let p = packet6(host6, mt_pool6(i, SERVER4), UDP);
                        (p, RxMeta::default())
                    }
                })
                .collect();
            return Some(Case {
                name,
                snapshot: snapshot(&mt_config()),
                templates: t,
            });
        }
        _ => unreachable!("every name in CASES has a packet"),
    };
    Some(Case {
        name,
        snapshot: snapshot(toml),
        templates,
    })
}

/// The frame buffers of one batch: `BATCH` chunks of `FRAME_SIZE` bytes, like a worker's share of UMEM.
pub fn frames() -> Vec<u8> {
    vec![0; BATCH * FRAME_SIZE]
}

/// What [`run_batch`] does with a batch after copying the packets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: the copy and frame set-up alone, the baseline to subtract.
    Copy,
    /// [`Pipeline::process`] frame by frame.
    PerPacket,
    /// [`Pipeline::process_batch`] on the whole batch: what a worker runs.
    Batch,
}

impl Mode {
    /// The benchmark group / report name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Copy => "copy",
            Mode::PerPacket => "per_packet",
            Mode::Batch => "batch",
        }
    }
}

/// One batch as a worker runs it: each frame gets a template packet copied in behind `HEADROOM` (standing
/// in for the NIC's DMA) and becomes a [`Frame`] of the batch; then, by `mode`, the batch goes through
/// [`Pipeline::process_batch`], or each frame through [`Pipeline::process`], or nothing happens (the
/// baseline: the same copy and set-up). Output is "sent" by adding its length to the returned sum.
/// Returns (bytes emitted, packets translated).
#[inline]
pub fn run_batch(
    mode: Mode,
    p: &mut Pipeline,
    bufs: &mut [u8],
    templates: &[(Vec<u8>, RxMeta)],
) -> (usize, usize) {
    let mut chunks = bufs.chunks_exact_mut(FRAME_SIZE).enumerate();
    let mut frames: [Frame<'_>; BATCH] = std::array::from_fn(|_| {
        let (k, chunk) = chunks.next().expect("BATCH frame buffers");
        let (tpl, meta) = &templates[k % templates.len()];
        let end = HEADROOM + tpl.len();
        chunk[HEADROOM..end].copy_from_slice(tpl);
        let mut frame = Frame::new(chunk, HEADROOM, end);
        frame.meta = *meta;
        frame
    });
    let mut bytes = 0;
    let mut translated = 0;
    match mode {
        Mode::Copy => {
            let frames = std::hint::black_box(&mut frames);
            for f in frames.iter() {
                bytes += f.len();
                translated += 1;
            }
        }
        Mode::PerPacket => {
            for frame in &mut frames {
                let o = p.process(frame, &mut |out| bytes += out.packet.len());
                translated += usize::from(matches!(o.kind, OutcomeKind::Translated { .. }));
            }
        }
        Mode::Batch => {
            let mut outcomes = [BLANK; BATCH];
            p.process_batch(&mut frames, &mut outcomes, &mut |_, out| {
                bytes += out.packet.len()
            });
            translated = outcomes
                .iter()
                .filter(|o| matches!(o.kind, OutcomeKind::Translated { .. }))
                .count();
        }
    }
    (bytes, translated)
}

/// An outcome slot before the pipeline fills it.
const BLANK: Outcome = Outcome {
    direction: None,
    tenant: None,
    kind: OutcomeKind::Translated { packets: 0 },
};

/// The IPv4 header checksum and the transport checksum (UDP, TCP, ICMP, ICMPv6) of an unfragmented packet
/// without extension headers are right.
fn checksums_ok(pkt: &[u8]) -> bool {
    match pkt[0] >> 4 {
        4 => {
            let (src, dst) = (
                pkt[12..16].try_into().unwrap(),
                pkt[16..20].try_into().unwrap(),
            );
            let l4 = &pkt[20..];
            let pseudo = match pkt[9] {
                ICMP => Vec::new(),
                proto => pseudo4(src, dst, proto, l4.len()),
            };
            naive_sum(&[&pkt[..20]]) == 0xffff && naive_sum(&[&pseudo, l4]) == 0xffff
        }
        _ => {
            let (src, dst) = (
                pkt[8..24].try_into().unwrap(),
                pkt[24..40].try_into().unwrap(),
            );
            let l4 = &pkt[40..];
            naive_sum(&[&pseudo6(src, dst, pkt[6], l4.len()), l4]) == 0xffff
        }
    }
}

/// Runs one batch of `case` and panics unless every packet was translated into one packet. Also checks the
/// outputs' sizes: IPv4 → IPv6 grows by 20 bytes, IPv6 → IPv4 shrinks by 20, ICMP errors by 40 (outer and
/// inner header).
pub fn check(case: &Case) {
    let mut p = Pipeline::new(Arc::clone(&case.snapshot));
    let mut bufs = frames();
    let mut bytes = 0;
    for mode in [Mode::PerPacket, Mode::Batch] {
        let (b, translated) = run_batch(mode, &mut p, &mut bufs, &case.templates);
        assert_eq!(
            translated,
            BATCH,
            "{} ({}): not every packet translated",
            case.name,
            mode.name()
        );
        assert!(
            mode == Mode::PerPacket || b == bytes,
            "{}: batch and per-packet outputs differ in size",
            case.name
        );
        bytes = b;
    }
    for (tpl, meta) in &case.templates {
        let mut buf = vec![0; FRAME_SIZE];
        let mut frame = Frame::copy_from(&mut buf, tpl).expect("fits");
        frame.meta = *meta;
        p.process(&mut frame, &mut |out| {
            assert!(checksums_ok(out.packet), "{}: bad checksum", case.name)
        });
        let mut buf = vec![0; FRAME_SIZE];
        let mut frame = Frame::copy_from(&mut buf, tpl).expect("fits");
        frame.meta = *meta;
        p.process_batch(&mut [frame], &mut [BLANK], &mut |_, out| {
            assert!(
                checksums_ok(out.packet),
                "{}: bad checksum (batch)",
                case.name
            )
        });
    }
    let grow: isize = match (case.name.contains("_4to6"), case.name.contains("icmp_err")) {
        (true, false) => 20,
        (true, true) => 40,
        (false, false) => -20,
        (false, true) => -40,
    };
    let input: usize = (0..BATCH)
        .map(|k| case.templates[k % case.templates.len()].0.len())
        .sum();
    assert_eq!(
        bytes as isize,
        input as isize + grow * BATCH as isize,
        "{}: output sizes",
        case.name
    );
}
