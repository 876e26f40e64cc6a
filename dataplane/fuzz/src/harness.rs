//! The fuzz harness: one input through `Pipeline::process` and the invariants every outcome must keep.
//!
//! Shared by the libFuzzer target (`fuzz_targets/pipeline.rs`), the stable-Rust corpus replay
//! (`dataplane/tests/fuzz_corpus.rs`) and the arbitrary-bytes property tests (`dataplane/tests/properties.rs`),
//! which include this file with `#[path]`. It uses only `dataplane`, `mgmt_api`, `etherparse` and `std`.
//!
//! Input layout: byte 0 selects a configuration (bits 0-1), an ingress `RxMeta` (bits 2-4) and a frame
//! head/tailroom layout (bits 5-7); the rest is the network-layer packet.
//!
//! Invariants (any violation panics, which is what the fuzzer reports):
//! - no panic inside the pipeline, whatever the bytes, metadata or buffer layout;
//! - exactly one packet counted as received, in the direction its IP version names (or `unclassified`);
//! - per direction: `received == translated + sum(dropped)`; `icmp_errors_sent` counts the `IcmpError`
//!   outcomes, `fragments_created` the extra packets;
//! - the outcome agrees with the counters and with what was emitted: `Translated { packets: n }` emits n
//!   packets, `IcmpError` exactly one (back on the ingress side), `Dropped` none;
//! - every emitted packet is well-formed: etherparse parses its IP header(s), the IPv4 total length or IPv6
//!   payload length agrees with its size, the IPv4 header checksum is right, it leaves on the side of its
//!   IP version, with the tenant's VLAN on the IPv4 side and none on the IPv6 side;
//! - ICMP errors the translator built (originated, or translated from an ICMP error of the other family)
//!   have a valid checksum and respect the size limits (576 bytes ICMPv4, 1280 bytes ICMPv6).

use std::sync::{Arc, OnceLock};

use dataplane::frame::{Frame, RxMeta, FRAME_SIZE, HEADROOM};
use dataplane::pipeline::{OutcomeKind, Pipeline};
use dataplane::stats::{Direction, DirectionStats, DropReason, Stats};
use dataplane::tables::Snapshot;
use dataplane::xlat::Side;
use mgmt_api::config::Config;

/// One site: SIIT with a /96 network-specific prefix, nested EAM entries, RFC 6791 pools, EAM hairpinning
/// (simple), UDP checksum-zero amendment (the deploy example `siit-single-tenant.toml`, extended).
pub const CONFIG_SINGLE: &str = r#"
[[tenants]]
name = "default"
id = 1
pool6 = "2001:db8:64::/96"
own_ipv4 = "192.0.2.1"
own_ipv6 = "2001:db8:ffff::1"
rfc6791_v4 = ["192.0.2.248/29"]
rfc6791_v6 = ["2001:db8:ffff:6791::/120"]
[[tenants.eamt]]
ipv4 = "198.51.100.0/24"
ipv6 = "2001:db8:100::/120"
[[tenants.eamt]]
ipv4 = "198.51.100.80/32"
ipv6 = "2001:db8:80::80/128"
[[tenants.eamt]]
ipv4 = "203.0.113.128/26"
ipv6 = "2001:db8:dddd::/64"
[[tenants.eamt]]
ipv4 = "192.0.2.0/28"
ipv6 = "2001:db8:1::/124"
[tenants.options]
amend_udp_checksum_zero = true
"#;

/// Three tenants: two with the same IPv4 space told apart by VLAN, one untagged on the Well-Known Prefix
/// (RFC 6052 §3.1 strict), with intrinsic hairpinning, random RFC 6791 choice and no ICMP errors.
pub const CONFIG_VLANS: &str = r#"
[[tenants]]
name = "red"
id = 100
pool6 = "2001:db8:64:100::/96"
rfc6791_v6 = ["2001:db8:ffff:100::/124"]
[tenants.ipv4_side]
vlan = 100
[[tenants.eamt]]
ipv4 = "10.0.0.0/24"
ipv6 = "2001:db8:a100::/120"

[[tenants]]
name = "green"
id = 200
pool6 = "2001:db8:64:200::/96"
[tenants.ipv4_side]
vlan = 200
[[tenants.eamt]]
ipv4 = "10.0.0.0/24"
ipv6 = "2001:db8:a200::/120"
[tenants.options]
eam_hairpin_mode = "intrinsic"
randomize_rfc6791 = true

[[tenants]]
name = "wkp"
id = 300
pool6 = "64:ff9b::/96"
rfc6791_v4 = ["192.0.2.0/30", "198.51.100.8/31"]
[[tenants.eamt]]
ipv4 = "192.0.2.128/25"
ipv6 = "2001:db8:300::/64"
[tenants.options]
icmp_errors = false
eam_hairpin_mode = "simple"
"#;

/// Tenants derived from a tenant-ID prefix, classified by ingress interface, with small MTUs (IPv4 side 576,
/// IPv6 side 1280), traffic class zeroed, TOS overridden and custom MTU plateaus.
pub const CONFIG_SMALL_MTU: &str = r#"
[tenant_id_prefix]
base = "2001:db8:100::/48"

[[tenants]]
name = "blue"
id = 7
rfc6791_v4 = ["192.0.2.200/29"]
[tenants.ipv4_side]
interface = "v4blue"
[tenants.options]
ipv4_mtu = 576
ipv6_mtu = 1280
zeroize_traffic_class = true
override_tos = true
tos = 32
mtu_plateaus = [1400, 1006, 508, 296, 68]

[[tenants]]
name = "orange"
id = 8
pool6 = "2001:db8:100:8::/96"
[tenants.ipv4_side]
interface = "v4orange"
[[tenants.eamt]]
ipv4 = "198.51.100.0/24"
ipv6 = "2001:db8:8000::/120"
[tenants.options]
eam_hairpin_mode = "intrinsic"
ipv4_mtu = 1280
ipv6_mtu = 1400
lowest_ipv6_mtu = 1300
"#;

/// Pool6 prefix lengths of [`multi_len_config`], tenant `i` having `POOL6_LENS[i]`.
pub const POOL6_LENS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// Pool6 of tenant `i` of [`multi_len_config`] (host bits and u-octet zero).
pub fn multi_len_pool6(i: usize) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = 0x20;
    p[1] = 0x01;
    p[2] = 0x0d;
    p[3] = 0xb0 + i as u8; // 2001:db0::/32, 2001:db1::/40, ...
    let len = usize::from(POOL6_LENS[i]);
    // A few non-zero bits inside the prefix, below the /32, so every length is really exercised.
    for (k, b) in p.iter_mut().enumerate().take(len / 8).skip(4) {
        if k != 8 {
            *b = 0x10 + k as u8;
        }
    }
    p
}

/// EAM entries of tenant `i` of [`multi_len_config`]: (IPv4 prefix, length, IPv6 prefix, length). The IPv4
/// prefixes are the same for every tenant (the VLAN tells them apart); the IPv6 ones are disjoint.
pub fn multi_len_eams(i: usize) -> [([u8; 4], u8, [u8; 16], u8); 3] {
    let v6 = |a: u16, b: u16| {
        let mut p = [0u8; 16];
        p[0..2].copy_from_slice(&0x2001u16.to_be_bytes());
        p[2..4].copy_from_slice(&(0x0dc0 + i as u16).to_be_bytes());
        p[4..6].copy_from_slice(&a.to_be_bytes());
        p[6..8].copy_from_slice(&b.to_be_bytes());
        p
    };
    [
        // Equal suffixes: 192.0.2.0/24 <-> 2001:dcI:1::/120 (the last octet carried over).
        (
            [192, 0, 2, 0],
            24,
            {
                let mut p = v6(1, 0);
                p[15] = 0;
                p
            },
            120,
        ),
        // Longer IPv6 suffix (RFC 7757 §3.2): 10.64.0.0/16 <-> 2001:dcI:2:3::/64.
        ([10, 64, 0, 0], 16, v6(2, 3), 64),
        // One host: 203.0.113.9/32 <-> 2001:dcI:9::9/128.
        (
            [203, 0, 113, 9],
            32,
            {
                let mut p = v6(9, 0);
                p[15] = 9;
                p
            },
            128,
        ),
    ]
}

/// VLAN of tenant `i` of [`multi_len_config`].
pub fn multi_len_vlan(i: usize) -> u16 {
    10 * (i as u16 + 1)
}

/// Six tenants, one per RFC 6052 prefix length (/32 ... /96), each with three EAM entries and its own VLAN,
/// and `options` (TOML lines) added to every tenant's `[tenants.options]`.
pub fn multi_len_config(options: &str) -> String {
    use std::fmt::Write;
    use std::net::{Ipv4Addr, Ipv6Addr};
    let mut s = String::new();
    for (i, len) in POOL6_LENS.iter().enumerate() {
        let _ = write!(
            s,
            "[[tenants]]\nname = \"len{}\"\nid = {}\npool6 = \"{}/{}\"\nown_ipv4 = \"192.0.0.{}\"\n\
             own_ipv6 = \"2001:db8:ffff::{}\"\n[tenants.ipv4_side]\nvlan = {}\n",
            len,
            i + 1,
            Ipv6Addr::from(multi_len_pool6(i)),
            len,
            170 + i,
            i + 1,
            multi_len_vlan(i),
        );
        for (v4, l4, v6, l6) in multi_len_eams(i) {
            let _ = write!(
                s,
                "[[tenants.eamt]]\nipv4 = \"{}/{l4}\"\nipv6 = \"{}/{l6}\"\n",
                Ipv4Addr::from(v4),
                Ipv6Addr::from(v6)
            );
        }
        let _ = write!(s, "[tenants.options]\n{options}\n\n");
    }
    s
}

/// Compiles a TOML configuration (panics on an invalid one: the harness's configs are fixed).
pub fn compile(toml: &str) -> Arc<Snapshot> {
    let cfg = Config::from_toml_str(toml).unwrap_or_else(|e| panic!("config: {e}"));
    Arc::new(Snapshot::compile(&cfg).unwrap_or_else(|e| panic!("config: {e}")))
}

/// The four configurations the first input byte chooses from.
pub fn configs() -> &'static [Arc<Snapshot>; 4] {
    static CONFIGS: OnceLock<[Arc<Snapshot>; 4]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        [
            compile(CONFIG_SINGLE),
            compile(CONFIG_VLANS),
            compile(CONFIG_SMALL_MTU),
            compile(&multi_len_config("eam_hairpin_mode = \"simple\"")),
        ]
    })
}

/// Ingress metadata variants (bits 2-4 of the selector byte).
pub const METAS: [RxMeta; 8] = [
    RxMeta {
        ingress: 0,
        vlan: None,
    },
    RxMeta {
        ingress: 0,
        vlan: Some(10),
    },
    RxMeta {
        ingress: 0,
        vlan: Some(20),
    },
    RxMeta {
        ingress: 0,
        vlan: Some(100),
    },
    RxMeta {
        ingress: 0,
        vlan: Some(200),
    },
    RxMeta {
        ingress: 1,
        vlan: None,
    },
    RxMeta {
        ingress: 2,
        vlan: Some(60),
    },
    RxMeta {
        ingress: 1,
        vlan: Some(4094),
    },
];

/// Buffer layouts (bits 5-7): (headroom, tailroom). `None` tailroom: fill up to [`FRAME_SIZE`] (at least 0).
/// Layouts with less than [`HEADROOM`] in front are frame-source bugs the translator must survive (`no_room`).
pub const ROOMS: [(usize, Option<usize>); 8] = [
    (HEADROOM, None),
    (HEADROOM, Some(0)),
    (0, Some(0)),
    (20, Some(0)),
    (28, Some(64)),
    (48, Some(3)),
    (HEADROOM, Some(70_000)),
    (256, Some(FRAME_SIZE)),
];

/// What one input did, for callers that want to look further.
#[derive(Debug)]
pub struct Run {
    pub kind: OutcomeKind,
    pub direction: Option<Direction>,
    pub tenant: Option<u16>,
    /// Emitted packets: bytes, side, VLAN.
    pub out: Vec<(Vec<u8>, Side, Option<u16>)>,
}

/// Runs a fuzz input (selector byte + packet) and checks every invariant. Empty input: nothing to do.
pub fn fuzz_one(data: &[u8]) -> Option<Run> {
    let (&sel, pkt) = data.split_first()?;
    let snap = &configs()[usize::from(sel & 3)];
    let meta = METAS[usize::from((sel >> 2) & 7)];
    let (head, tail) = ROOMS[usize::from(sel >> 5)];
    let tail = tail.unwrap_or_else(|| FRAME_SIZE.saturating_sub(head + pkt.len()));
    Some(check_packet(snap, pkt, meta, head, tail))
}

/// Runs `pkt` through a fresh pipeline over `snap` in a buffer with `head` bytes in front of the packet and
/// `tail` behind it, and checks every invariant (see the module docs). Panics on a violation.
pub fn check_packet(
    snap: &Arc<Snapshot>,
    pkt: &[u8],
    meta: RxMeta,
    head: usize,
    tail: usize,
) -> Run {
    let mut p = Pipeline::new(Arc::clone(snap));
    let mut buf = vec![0u8; head + pkt.len() + tail];
    buf[head..head + pkt.len()].copy_from_slice(pkt);
    let mut frame = Frame::new(&mut buf, head, head + pkt.len());
    frame.meta = meta;
    let mut out: Vec<(Vec<u8>, Side, Option<u16>)> = Vec::new();
    let o = p.process(&mut frame, &mut |o| {
        out.push((o.packet.to_vec(), o.side, o.vlan))
    });
    let ctx = || {
        format!(
            "outcome {o:?}, {} packet(s) out, input {pkt:02x?}",
            out.len()
        )
    };

    // Exactly one packet received, in the right direction.
    let stats: &Stats = p.stats();
    let want_dir = match pkt.first().map(|b| b >> 4) {
        Some(6) => Some(Direction::V6ToV4),
        Some(4) => Some(Direction::V4ToV6),
        _ => None,
    };
    assert_eq!(o.direction, want_dir, "direction: {}", ctx());
    let received: u64 = stats.rows().map(|d| d.received).sum::<u64>();
    assert_eq!(received, 1, "received once: {}", ctx());
    for d in stats.rows() {
        assert_eq!(
            d.received,
            d.translated + d.dropped_total(),
            "received == translated + dropped: {d:?}; {}",
            ctx()
        );
        assert!(d.icmp_errors_sent <= d.dropped_total(), "{}", ctx());
    }
    let st: &DirectionStats = match o.direction {
        Some(d) => stats.counters(o.tenant, d),
        None => &stats.unclassified,
    };
    assert_eq!(st.received, 1, "{}", ctx());
    if o.direction.is_none() {
        assert!(
            matches!(
                o.kind,
                OutcomeKind::Dropped(DropReason::NotIp | DropReason::Truncated)
            ),
            "{}",
            ctx()
        );
    }

    // The outcome agrees with the counters and the emitted packets.
    match o.kind {
        OutcomeKind::Translated { packets } => {
            assert!(packets >= 1, "{}", ctx());
            assert_eq!(out.len(), usize::from(packets), "{}", ctx());
            assert_eq!(st.translated, 1, "{}", ctx());
            assert_eq!(st.fragments_created, u64::from(packets) - 1, "{}", ctx());
            assert_eq!(st.icmp_errors_sent, 0, "{}", ctx());
            assert!(o.tenant.is_some(), "{}", ctx());
            // IPv4 in goes out on IPv6; IPv6 in goes out on IPv4 (or back to IPv6 when hairpinned).
            if o.direction == Some(Direction::V4ToV6) {
                assert!(out.iter().all(|(_, s, _)| *s == Side::V6), "{}", ctx());
            }
        }
        OutcomeKind::IcmpError(r) => {
            assert_eq!(out.len(), 1, "{}", ctx());
            assert_eq!(st.icmp_errors_sent, 1, "{}", ctx());
            assert_eq!(st.dropped[r as usize], 1, "{}", ctx());
            assert_eq!(st.translated, 0, "{}", ctx());
            let back = match o.direction {
                Some(Direction::V4ToV6) => Side::V4,
                _ => Side::V6,
            };
            assert_eq!(
                out[0].1,
                back,
                "ICMP error goes back where it came from: {}",
                ctx()
            );
            assert!(o.tenant.is_some(), "{}", ctx());
        }
        OutcomeKind::Dropped(r) => {
            assert!(out.is_empty(), "{}", ctx());
            assert_eq!(st.dropped[r as usize], 1, "{}", ctx());
            assert_eq!(st.dropped_total(), 1, "{}", ctx());
            assert_eq!(st.translated + st.icmp_errors_sent, 0, "{}", ctx());
        }
        // One pipeline (worker 0 of 1): NAT64 never hands off.
        OutcomeKind::HandedOff { worker } => panic!("handed off to worker {worker}: {}", ctx()),
    }

    // Every emitted packet is well-formed.
    let tenant_vlan = o.tenant.and_then(|t| snap.tenant(t).vlan);
    let in_icmp = input_is_icmp(pkt);
    for (b, side, vlan) in &out {
        if let Err(e) = well_formed(b) {
            panic!("emitted packet malformed: {e}; packet {b:02x?}; {}", ctx());
        }
        let want_side = if b[0] >> 4 == 4 { Side::V4 } else { Side::V6 };
        assert_eq!(*side, want_side, "side matches the IP version: {}", ctx());
        let want_vlan = if *side == Side::V4 { tenant_vlan } else { None };
        assert_eq!(*vlan, want_vlan, "VLAN: {}", ctx());
        // ICMP errors the translator built itself: checksum valid, size within the family's limit.
        let built = matches!(o.kind, OutcomeKind::IcmpError(_)) || in_icmp;
        if built {
            if let Err(e) = check_icmp_error(b) {
                panic!("emitted ICMP error: {e}; packet {b:02x?}; {}", ctx());
            }
        }
    }
    Run {
        kind: o.kind,
        direction: o.direction,
        tenant: o.tenant,
        out,
    }
}

/// The input is an ICMP message of its own family (ICMPv4 in IPv4, ICMPv6 in IPv6 after extension headers).
fn input_is_icmp(pkt: &[u8]) -> bool {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => pkt.get(9) == Some(&1),
        Some(6) => dataplane::wire::ipv6::parse_ext_headers(pkt).is_ok_and(|e| e.upper_proto == 58),
        _ => false,
    }
}

/// RFC 1071 sum, written out plainly (independent of `dataplane::wire::checksum`).
pub fn naive_sum(data: &[u8]) -> u32 {
    let mut s = 0u32;
    for c in data.chunks(2) {
        s = s.wrapping_add(u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)));
    }
    s
}

/// Folds a 32-bit sum to 16 bits; a valid checksum folds to 0xffff.
pub fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// IPv6 extension header numbers as etherparse knows them: a packet whose (first) upper-layer number is one
/// of these, copied from an IPv4 protocol field (RFC 7915 §4.1 says copy), has no real extension header to
/// parse, so only its fixed header is checked.
fn is_ext_header(n: u8) -> bool {
    etherparse::IpNumber(n).is_ipv6_ext_header_value()
}

/// Checks the IP layer of an emitted packet.
pub fn well_formed(b: &[u8]) -> Result<(), String> {
    match b.first().map(|v| v >> 4) {
        Some(4) => {
            // An IPv4 packet carrying AH (copied from an IPv6 Next Header, RFC 7915 §5.1) would have
            // etherparse look into the AH bytes, which the translator does not touch: header only then.
            let h = etherparse::Ipv4HeaderSlice::from_slice(b)
                .map_err(|e| format!("etherparse: {e}"))?;
            if h.protocol() != etherparse::IpNumber::AUTHENTICATION_HEADER {
                etherparse::Ipv4Slice::from_slice(b).map_err(|e| format!("etherparse: {e}"))?;
            }
            if usize::from(h.total_len()) != b.len() {
                return Err(format!(
                    "IPv4 total length {} != {}",
                    h.total_len(),
                    b.len()
                ));
            }
            let hl = usize::from(h.ihl()) * 4;
            if fold(naive_sum(&b[..hl])) != 0xffff {
                return Err("IPv4 header checksum".into());
            }
            // RFC 791: a fragment may not reach past the 65535 bytes of the reassembled datagram.
            let end = usize::from(h.fragments_offset().value()) * 8 + b.len() - hl;
            if end > 65535 {
                return Err(format!("IPv4 fragment ends at {end}, past 65535"));
            }
            Ok(())
        }
        Some(6) => {
            let h = etherparse::Ipv6HeaderSlice::from_slice(b)
                .map_err(|e| format!("etherparse: {e}"))?;
            if 40 + usize::from(h.payload_length()) != b.len() {
                return Err(format!(
                    "IPv6 payload length {} + 40 != {}",
                    h.payload_length(),
                    b.len()
                ));
            }
            let mut next = h.next_header().0;
            if next == 44 {
                // A Fragment Header the translator wrote: parse it, then look at what it carries.
                let fh = etherparse::Ipv6FragmentHeaderSlice::from_slice(&b[40..])
                    .map_err(|e| format!("fragment header: {e}"))?;
                // RFC 8200 §4.5: nor may an IPv6 fragment.
                let end = usize::from(fh.fragment_offset().value()) * 8 + b.len() - 48;
                if end > 65535 {
                    return Err(format!("IPv6 fragment ends at {end}, past 65535"));
                }
                next = fh.next_header().0;
                if is_ext_header(next) {
                    return Ok(());
                }
            } else if is_ext_header(next) {
                return Ok(());
            }
            etherparse::Ipv6Slice::from_slice(b).map_err(|e| format!("etherparse: {e}"))?;
            Ok(())
        }
        v => Err(format!("not IP: version {v:?}")),
    }
}

/// If `b` is an ICMP error (ICMPv4 3/11/12 in IPv4, ICMPv6 1..=4 in IPv6, unfragmented), checks its checksum
/// and size limit.
pub fn check_icmp_error(b: &[u8]) -> Result<(), String> {
    match b[0] >> 4 {
        4 => {
            let hl = usize::from(b[0] & 0xf) * 4;
            let frag = u16::from_be_bytes([b[6], b[7]]) & 0x3fff;
            if b[9] != 1 || frag != 0 || b.len() < hl + 8 || !matches!(b[hl], 3 | 11 | 12) {
                return Ok(());
            }
            if fold(naive_sum(&b[hl..])) != 0xffff {
                return Err("ICMPv4 error checksum".into());
            }
            if b.len() > 576 {
                return Err(format!("ICMPv4 error of {} bytes (> 576)", b.len()));
            }
            Ok(())
        }
        _ => {
            if b[6] != 58 || b.len() < 48 || !matches!(b[40], 1..=4) {
                return Ok(());
            }
            let icmp = &b[40..];
            let s = naive_sum(&b[8..40]) + 58 + icmp.len() as u32 + naive_sum(icmp);
            if fold(s) != 0xffff {
                return Err("ICMPv6 error checksum".into());
            }
            if b.len() > 1280 {
                return Err(format!("ICMPv6 error of {} bytes (> 1280)", b.len()));
            }
            Ok(())
        }
    }
}
