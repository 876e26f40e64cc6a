//! Translator tests over real packets: inputs built with etherparse, outputs parsed back with etherparse, and
//! every checksum checked with a naive reference sum written here (independent of `wire::checksum`).

use std::sync::Arc;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use mgmt_api::config::Config;

use crate::frame::{Frame, RxMeta, FRAME_SIZE};
use crate::pipeline::{OutcomeKind, Pipeline};
use crate::stats::{Direction, DropReason};
use crate::tables::Snapshot;
use crate::xlat::Side;

const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
const CLIENT4: [u8; 4] = [192, 0, 2, 5];
const SERVER4: [u8; 4] = [198, 51, 100, 7];
const SERVER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 198, 51, 100, 7,
];
const OWN4: [u8; 4] = [192, 0, 2, 254];
const OWN6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
];

fn config(options: &str) -> Arc<Snapshot> {
    let toml = format!(
        r#"
[[tenants]]
name = "t"
id = 1
pool6 = "2001:db8:64::/96"
own_ipv4 = "192.0.2.254"
own_ipv6 = "2001:db8:ffff::1"
[[tenants.eamt]]
ipv4 = "192.0.2.0/28"
ipv6 = "2001:db8:1::/124"
[tenants.options]
{options}
"#
    );
    let cfg = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(Snapshot::compile(&cfg).unwrap_or_else(|e| panic!("{e}")))
}

struct Run {
    kind: OutcomeKind,
    direction: Option<Direction>,
    out: Vec<(Vec<u8>, Side)>,
}

fn run_meta(snap: &Arc<Snapshot>, pkt: &[u8], meta: RxMeta) -> Run {
    let mut p = Pipeline::new(Arc::clone(snap));
    let mut buf = vec![0u8; FRAME_SIZE.max(pkt.len() + 512)];
    let mut frame = Frame::copy_from(&mut buf, pkt).expect("fits");
    frame.meta = meta;
    let mut out = Vec::new();
    let o = p.process(&mut frame, &mut |o| out.push((o.packet.to_vec(), o.side)));
    Run {
        kind: o.kind,
        direction: o.direction,
        out,
    }
}

fn run(snap: &Arc<Snapshot>, pkt: &[u8]) -> Run {
    run_meta(snap, pkt, RxMeta::default())
}

// ---------- naive reference checksums ----------

fn naive_sum(data: &[u8]) -> u32 {
    let mut s = 0u32;
    for c in data.chunks(2) {
        s += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
    }
    s
}

fn folds_to_ffff(mut s: u32) -> bool {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

/// Asserts every checksum in `pkt` (IPv4 header, TCP/UDP/ICMP/ICMPv6) is right. Returns the L4 protocol.
fn assert_checksums(pkt: &[u8]) -> u8 {
    match pkt[0] >> 4 {
        4 => {
            let hl = usize::from(pkt[0] & 0xf) * 4;
            assert!(folds_to_ffff(naive_sum(&pkt[..hl])), "IPv4 header checksum");
            let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
            let proto = pkt[9];
            let frag = u16::from_be_bytes([pkt[6], pkt[7]]);
            if frag & 0x3fff != 0 {
                return proto; // fragment: the checksum covers the reassembled packet
            }
            let l4 = &pkt[hl..total];
            let s = match proto {
                1 => naive_sum(l4),
                6 | 17 => {
                    naive_sum(&pkt[12..20]) + u32::from(proto) + l4.len() as u32 + naive_sum(l4)
                }
                _ => return proto,
            };
            assert!(folds_to_ffff(s), "IPv4 L4 checksum, protocol {proto}");
            proto
        }
        6 => {
            let mut next = pkt[6];
            let mut off = 40;
            if next == 44 {
                let fo = u16::from_be_bytes([pkt[42], pkt[43]]);
                next = pkt[40];
                off = 48;
                if fo != 0 {
                    return next;
                }
            }
            let total = 40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            let l4 = &pkt[off..total];
            if !matches!(next, 6 | 17 | 58) {
                return next;
            }
            let s = naive_sum(&pkt[8..40]) + u32::from(next) + l4.len() as u32 + naive_sum(l4);
            assert!(folds_to_ffff(s), "IPv6 L4 checksum, next header {next}");
            next
        }
        v => panic!("not IP: version {v}"),
    }
}

// ---------- packet builders ----------

fn udp6(src: [u8; 16], dst: [u8; 16], hop: u8, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6(src, dst, hop).udp(5000, 53);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn udp4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src, dst, ttl).udp(53, 5000);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn set_ipv4_flags(pkt: &mut [u8], df: bool) {
    let f: u16 = if df { 0x4000 } else { 0 };
    pkt[6..8].copy_from_slice(&f.to_be_bytes());
    pkt[10..12].copy_from_slice(&[0, 0]);
    let mut s = naive_sum(&pkt[..20]);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    pkt[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
}

fn ipv4_header_checksum(pkt: &mut [u8]) {
    set_ipv4_flags(pkt, u16::from_be_bytes([pkt[6], pkt[7]]) & 0x4000 != 0);
}

// ---------- fast path ----------

#[test]
fn udp_v6_to_v4_rfc7915_5_1_fields_and_checksum() {
    let snap = config("");
    let pkt = udp6(CLIENT6, SERVER6, 64, b"hello over the translator");
    let r = run(&snap, &pkt);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    assert_eq!(r.direction, Some(Direction::V6ToV4));
    let (out, side) = &r.out[0];
    assert_eq!(*side, Side::V4);
    assert_eq!(assert_checksums(out), 17);
    let p = SlicedPacket::from_ip(out).unwrap();
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    let h = ip.header();
    assert_eq!(h.source(), CLIENT4);
    assert_eq!(h.destination(), SERVER4);
    assert_eq!(h.ttl(), 63);
    assert!(!h.dont_fragment(), "§5.1: DF clear up to 1260 bytes");
    // And above 1260 bytes DF is set, identification 0.
    let big = run(&snap, &udp6(CLIENT6, SERVER6, 64, &[7; 1300]))
        .out
        .remove(0)
        .0;
    assert_eq!(big.len(), 1328);
    assert_eq!((big[6] & 0x40, &big[4..6]), (0x40, &[0u8, 0][..]));
    let Some(TransportSlice::Udp(u)) = p.transport else {
        panic!("not UDP")
    };
    assert_eq!(u.payload(), b"hello over the translator");
    assert_eq!(out.len(), pkt.len() - 20);
}

#[test]
fn udp_v4_to_v6_and_round_trip() {
    let snap = config("");
    let mut pkt = udp4(SERVER4, CLIENT4, 64, b"reply");
    pkt[1] = 0xb8; // DSCP EF: copied into the traffic class
    ipv4_header_checksum(&mut pkt);
    let r = run(&snap, &pkt);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    let (out, side) = &r.out[0];
    assert_eq!(*side, Side::V6);
    assert_eq!(assert_checksums(out), 17);
    let p = SlicedPacket::from_ip(out).unwrap();
    let Some(NetSlice::Ipv6(ip)) = p.net else {
        panic!("not IPv6")
    };
    let h = ip.header();
    assert_eq!(h.source(), SERVER6);
    assert_eq!(h.destination(), CLIENT6);
    assert_eq!(h.hop_limit(), 63);
    assert_eq!(h.traffic_class(), 0xb8);
    assert_eq!(u32::from(h.flow_label()), 0);
    // And back: 4→6→4 restores addresses and payload, TTL down by two. (From the IPv6 side this packet is
    // addressed to an EAM host, so with hairpinning on it would go straight back to IPv6: see below.)
    let back = run(&config("eam_hairpin_mode = \"off\""), out);
    let (b, _) = &back.out[0];
    assert_eq!(&b[12..20], &pkt[12..20]);
    assert_eq!(&b[20..], &pkt[20..]);
    assert_eq!(b[8], 62);
}

#[test]
fn tcp_both_ways_keeps_checksums_valid() {
    let snap = config("");
    let mut v = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, 20)
        .tcp(40000, 80, 7, 1000)
        .syn()
        .write(&mut v, b"GET /")
        .unwrap();
    let r = run(&snap, &v);
    assert_eq!(assert_checksums(&r.out[0].0), 6);
    let mut w = Vec::new();
    PacketBuilder::ipv4(SERVER4, CLIENT4, 20)
        .tcp(80, 40000, 9, 1000)
        .ack(8)
        .write(&mut w, b"200 OK")
        .unwrap();
    let r = run(&snap, &w);
    assert_eq!(assert_checksums(&r.out[0].0), 6);
}

#[test]
fn icmp_echo_both_ways_rfc7915_4_2_5_2() {
    let snap = config("");
    let mut v = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, 64)
        .icmpv6_echo_request(0x1234, 7)
        .write(&mut v, b"ping data")
        .unwrap();
    let r = run(&snap, &v);
    let out = &r.out[0].0;
    assert_eq!(assert_checksums(out), 1);
    assert_eq!(out[20], 8, "echo request");
    assert_eq!(
        &out[24..28],
        &[0x12, 0x34, 0, 7],
        "identifier and sequence kept"
    );
    let mut w = Vec::new();
    PacketBuilder::ipv4(SERVER4, CLIENT4, 64)
        .icmpv4_raw(0, 0, [0x12, 0x34, 0, 7])
        .write(&mut w, b"pong")
        .unwrap();
    let r = run(&snap, &w);
    let out = &r.out[0].0;
    assert_eq!(assert_checksums(out), 58);
    assert_eq!(out[40], 129, "echo reply");
}

#[test]
fn non_ip_and_garbage_are_counted_drops() {
    let snap = config("");
    for bytes in [
        &[][..],
        &[0x00; 30][..],
        &[0x45, 0, 0][..],
        &[0x60; 20][..],
        &[0x4f; 60][..],
    ] {
        let r = run_meta(&snap, bytes, RxMeta::default());
        assert!(matches!(r.kind, OutcomeKind::Dropped(_)), "{bytes:?}");
        assert!(r.out.is_empty());
    }
}

// ---------- addresses ----------

#[test]
fn eam_hairpinning_rfc7757_4() {
    // The EAM host 2001:db8:1::5 (192.0.2.5) talks to the EAM host 2001:db8:1::6 by its IPv4 address, i.e.
    // through pool6: 2001:db8:64::192.0.2.6.
    let other_eam_v4 = [192, 0, 2, 6];
    let mut via_pool6 = SERVER6;
    via_pool6[12..].copy_from_slice(&other_eam_v4);
    let pkt = udp6(CLIENT6, via_pool6, 64, b"neighbour");
    for (mode, hop) in [("simple", 62), ("intrinsic", 63)] {
        let r = run(&config(&format!("eam_hairpin_mode = \"{mode}\"")), &pkt);
        assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 }, "{mode}");
        let (out, side) = &r.out[0];
        assert_eq!(*side, Side::V6, "{mode}: back to the IPv6 side");
        assert_eq!(assert_checksums(out), 17);
        let mut src_via_pool6 = SERVER6;
        src_via_pool6[12..].copy_from_slice(&CLIENT4);
        assert_eq!(
            &out[8..24],
            &src_via_pool6,
            "{mode}: source through pool6, so the answer comes back"
        );
        let mut eam6 = CLIENT6;
        eam6[15] = 6;
        assert_eq!(&out[24..40], &eam6, "{mode}: destination through the EAMT");
        assert_eq!(out[7], hop, "{mode}: hop limit");
    }
    let r = run(&config("eam_hairpin_mode = \"off\""), &pkt);
    assert_eq!(r.out[0].1, Side::V4);
}

#[test]
fn untranslatable_addresses_are_dropped_by_reason() {
    let snap = config("");
    let stranger = [
        0x20, 0x01, 0x0d, 0xb8, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
    ];
    let r = run(&snap, &udp6(stranger, SERVER6, 64, b"x"));
    assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::SrcUntranslatable));
    let r = run(&snap, &udp6(CLIENT6, stranger, 64, b"x"));
    assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::NoTenant));
}

#[test]
fn broadcast_multicast_loopback_and_this_network_are_never_translated() {
    let snap = config("");
    for dst in [
        [255, 255, 255, 255],
        [224, 0, 0, 1],
        [239, 1, 2, 3],
        [127, 0, 0, 1],
        [0, 0, 0, 0],
        [240, 0, 0, 1],
    ] {
        let r = run(&snap, &udp4(SERVER4, dst, 64, b"x"));
        assert_eq!(
            r.kind,
            OutcomeKind::Dropped(DropReason::DstUntranslatable),
            "{dst:?}"
        );
        let mut v6dst = SERVER6;
        v6dst[12..].copy_from_slice(&dst);
        let r = run(&snap, &udp6(CLIENT6, v6dst, 64, b"x"));
        assert_eq!(
            r.kind,
            OutcomeKind::Dropped(DropReason::DstUntranslatable),
            "{dst:?} via pool6"
        );
    }
    let r = run(&snap, &udp4([127, 0, 0, 1], CLIENT4, 64, b"x"));
    assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::SrcUntranslatable));
}

// ---------- errors the translator originates ----------

#[test]
fn ttl_1_is_answered_with_time_exceeded_from_own_address() {
    let snap = config("");
    let pkt = udp4(SERVER4, CLIENT4, 1, b"expiring");
    let r = run(&snap, &pkt);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::TtlExpired));
    let (out, side) = &r.out[0];
    assert_eq!(*side, Side::V4);
    assert_eq!(assert_checksums(out), 1);
    assert_eq!(&out[12..16], &OWN4);
    assert_eq!(&out[16..20], &SERVER4);
    assert_eq!((out[20], out[21]), (11, 0));
    assert_eq!(&out[28..], &pkt[..], "quotes the whole (short) packet");

    let pkt6 = udp6(CLIENT6, SERVER6, 1, b"expiring");
    let r = run(&snap, &pkt6);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::TtlExpired));
    let (out, side) = &r.out[0];
    assert_eq!(*side, Side::V6);
    assert_eq!(assert_checksums(out), 58);
    assert_eq!(&out[8..24], &OWN6);
    assert_eq!(&out[24..40], &CLIENT6);
    assert_eq!((out[40], out[41]), (3, 0));
    assert_eq!(&out[48..], &pkt6[..]);
}

#[test]
fn icmp_errors_originate_option_off_means_silent_drop() {
    let snap = config("icmp_errors = false");
    let r = run(&snap, &udp4(SERVER4, CLIENT4, 1, b"x"));
    assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::TtlExpired));
    assert!(r.out.is_empty());
}

#[test]
fn df_packet_too_big_for_ipv6_gets_fragmentation_needed() {
    let snap = config("ipv6_mtu = 1280");
    let pkt = udp4(SERVER4, CLIENT4, 64, &[0xab; 1300]);
    let r = run(&snap, &pkt);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::PacketTooBig));
    let out = &r.out[0].0;
    assert_eq!(assert_checksums(out), 1);
    assert_eq!((out[20], out[21]), (3, 4));
    assert_eq!(
        u16::from_be_bytes([out[26], out[27]]),
        1260,
        "IPv6 MTU - 20"
    );
    assert!(
        out.len() <= 576,
        "RFC 1812: ICMPv4 errors at most 576 bytes"
    );
}

#[test]
fn df0_packet_is_fragmented_to_lowest_ipv6_mtu() {
    let snap = config("");
    let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let mut pkt = udp4(SERVER4, CLIENT4, 64, &payload);
    set_ipv4_flags(&mut pkt, false);
    let r = run(&snap, &pkt);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 3 });
    let mut data = Vec::new();
    let mut expect_off = 0;
    for (i, (f, _)) in r.out.iter().enumerate() {
        assert!(f.len() <= 1280, "fragment {i} is {} bytes", f.len());
        assert_eq!(f[6], 44, "fragment header");
        let fo = u16::from_be_bytes([f[42], f[43]]);
        assert_eq!(usize::from(fo & !7), expect_off);
        assert_eq!(fo & 1 == 1, i + 1 < r.out.len(), "M flag");
        assert_eq!(
            &f[44..48],
            &[0, 0, pkt[4], pkt[5]],
            "identification from IPv4"
        );
        let body = &f[48..];
        expect_off += body.len();
        data.extend_from_slice(body);
    }
    // Reassembled: the UDP datagram, checksum valid against the IPv6 pseudo-header.
    let s = naive_sum(&SERVER6) + naive_sum(&CLIENT6) + 17 + data.len() as u32 + naive_sum(&data);
    assert!(folds_to_ffff(s));
    assert_eq!(&data[8..], &payload[..]);
}

#[test]
fn ipv6_packet_too_big_for_ipv4_side_gets_ptb_with_ipv4_mtu_plus_20() {
    let snap = config("ipv4_mtu = 1400");
    let pkt = udp6(CLIENT6, SERVER6, 64, &[1; 1452]);
    let r = run(&snap, &pkt);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::PacketTooBig));
    let out = &r.out[0].0;
    assert_eq!(assert_checksums(out), 58);
    assert_eq!((out[40], out[41]), (2, 0));
    assert_eq!(
        u32::from_be_bytes([out[44], out[45], out[46], out[47]]),
        1420
    );
    assert_eq!(out.len(), 1280);
}

#[test]
fn routing_header_with_segments_left_gets_parameter_problem() {
    let snap = config("");
    // IPv6 | routing header (type 0... use type 4 segments left 1, 24 bytes) | UDP
    let udp = udp6(CLIENT6, SERVER6, 64, b"x");
    let mut pkt = udp[..40].to_vec();
    pkt[6] = 43;
    let rh = [
        17u8, 2, 4, 1, 0, 0, 0, 0, /* one address */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ];
    pkt.extend_from_slice(&rh);
    pkt.extend_from_slice(&udp[40..]);
    let plen = (pkt.len() - 40) as u16;
    pkt[4..6].copy_from_slice(&plen.to_be_bytes());
    let r = run(&snap, &pkt);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::Ipv6SegmentsLeft));
    let out = &r.out[0].0;
    assert_eq!((out[40], out[41]), (4, 0));
    assert_eq!(
        u32::from_be_bytes([out[44], out[45], out[46], out[47]]),
        43,
        "points at Segments Left"
    );
}

#[test]
fn udp_zero_checksum_dropped_or_amended() {
    let mut pkt = udp4(SERVER4, CLIENT4, 64, b"no checksum");
    pkt[26..28].copy_from_slice(&[0, 0]);
    let r = run(&config(""), &pkt);
    assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::UdpChecksumZero));
    let r = run(&config("amend_udp_checksum_zero = true"), &pkt);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    assert_eq!(assert_checksums(&r.out[0].0), 17);
}

// ---------- ICMP errors crossing the translator ----------

/// An ICMPv4 error from `from` quoting `quoted` (an IPv4 packet), with a valid checksum.
fn icmp4_error(
    from: [u8; 4],
    to: [u8; 4],
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(from, to, 64)
        .icmpv4_raw(ty, code, rest)
        .write(&mut v, quoted)
        .unwrap();
    v
}

#[test]
fn icmpv4_port_unreachable_becomes_icmpv6_with_inner_packet_translated() {
    let snap = config("");
    // The packet the IPv6 client sent, as it left the translator towards IPv4.
    let sent = run(&snap, &udp6(CLIENT6, SERVER6, 64, b"query"))
        .out
        .remove(0)
        .0;
    let err = icmp4_error(SERVER4, CLIENT4, 3, 3, [0; 4], &sent);
    let r = run(&snap, &err);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    let out = &r.out[0].0;
    assert_eq!(assert_checksums(out), 58);
    assert_eq!((out[40], out[41]), (1, 4), "port unreachable");
    assert_eq!(&out[8..24], &SERVER6);
    assert_eq!(&out[24..40], &CLIENT6);
    // Inner: IPv6 again, addresses as the client sent them, UDP checksum valid again.
    let inner = &out[48..];
    assert_eq!(inner[0] >> 4, 6);
    assert_eq!(&inner[8..24], &CLIENT6);
    assert_eq!(&inner[24..40], &SERVER6);
    assert_eq!(assert_checksums(inner), 17);
}

#[test]
fn icmpv6_packet_too_big_becomes_fragmentation_needed() {
    let snap = config("");
    let sent = run(&snap, &udp4(SERVER4, CLIENT4, 64, b"data"))
        .out
        .remove(0)
        .0;
    let mut v = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, 64)
        .icmpv6_raw(2, 0, 1400u32.to_be_bytes())
        .write(&mut v, &sent)
        .unwrap();
    let r = run(&snap, &v);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    let out = &r.out[0].0;
    assert_eq!(assert_checksums(out), 1);
    assert_eq!((out[20], out[21]), (3, 4));
    assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1380);
    let inner = &out[28..];
    assert_eq!(&inner[12..16], &SERVER4);
    assert_eq!(&inner[16..20], &CLIENT4);
    assert_eq!(assert_checksums(inner), 17);
}

#[test]
fn icmp_error_with_bad_checksum_or_nested_error_is_dropped() {
    let snap = config("");
    let sent = run(&snap, &udp6(CLIENT6, SERVER6, 64, b"q"))
        .out
        .remove(0)
        .0;
    let mut err = icmp4_error(SERVER4, CLIENT4, 3, 3, [0; 4], &sent);
    err[22] ^= 0xff;
    assert_eq!(
        run(&snap, &err).kind,
        OutcomeKind::Dropped(DropReason::IcmpChecksumInvalid)
    );
    let inner_err = icmp4_error(CLIENT4, SERVER4, 3, 3, [0; 4], &sent);
    let nested = icmp4_error(SERVER4, CLIENT4, 11, 0, [0; 4], &inner_err);
    assert_eq!(
        run(&snap, &nested).kind,
        OutcomeKind::Dropped(DropReason::IcmpErrorNested)
    );
}

#[test]
fn rfc4884_extension_keeps_its_place_and_length_is_converted() {
    let snap = config("");
    let sent = run(&snap, &udp6(CLIENT6, SERVER6, 64, b"q"))
        .out
        .remove(0)
        .0;
    // Original datagram padded to 128 bytes (32 words), then a 12-byte extension structure.
    let mut body = sent.clone();
    body.resize(128, 0);
    let ext = [0x20, 0, 0xab, 0xcd, 0, 8, 1, 1, 0xde, 0xad, 0xbe, 0xef];
    body.extend_from_slice(&ext);
    let err = icmp4_error(SERVER4, CLIENT4, 11, 0, [0, 32, 0, 0], &body);
    let r = run(&snap, &err);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    let out = &r.out[0].0;
    assert_eq!(assert_checksums(out), 58);
    let words = usize::from(out[44]);
    assert_eq!(
        words * 8,
        152,
        "128 + 20 bytes of header growth, padded to 64-bit words"
    );
    assert_eq!(&out[48 + words * 8..], &ext);
}

// ---------- tenants ----------

#[test]
fn overlapping_ipv4_tenants_are_told_apart_by_vlan() {
    let toml = r#"
[[tenants]]
name = "red"
id = 1
pool6 = "2001:db8:100:1::/96"
[tenants.ipv4_side]
vlan = 10
[[tenants.eamt]]
ipv4 = "10.0.0.0/24"
ipv6 = "2001:db8:aaaa::/120"

[[tenants]]
name = "blue"
id = 2
pool6 = "2001:db8:100:2::/96"
[tenants.ipv4_side]
vlan = 20
[[tenants.eamt]]
ipv4 = "10.0.0.0/24"
ipv6 = "2001:db8:bbbb::/120"
"#;
    let snap = Arc::new(Snapshot::compile(&Config::from_toml_str(toml).unwrap()).unwrap());
    let pkt = udp4([10, 0, 0, 9], [10, 0, 0, 7], 64, b"same addresses");
    for (vlan, prefix, name) in [(10, [0xaa, 0xaa], "red"), (20, [0xbb, 0xbb], "blue")] {
        let r = run_meta(
            &snap,
            &pkt,
            RxMeta {
                ingress: 0,
                vlan: Some(vlan),
            },
        );
        assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 }, "{name}");
        let out = &r.out[0].0;
        assert_eq!(
            &out[28..30],
            &prefix,
            "{name}: destination from its own EAMT"
        );
        assert_eq!(out[39], 7);
    }
    let r = run_meta(
        &snap,
        &pkt,
        RxMeta {
            ingress: 0,
            vlan: Some(30),
        },
    );
    assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::NoTenant));
}
