//! Property tests of the translator through its entry point, `Pipeline::process`.
//!
//! 1. Valid packets (IPv4 and IPv6; UDP, TCP, ICMP echo request/reply; addresses anywhere in six tenants'
//!    pool6 prefixes of every RFC 6052 length and their EAM ranges; payloads 0..1400; TTL 2..255; any TOS;
//!    DF on/off; IPv4 fragments, IPv6 Fragment Headers; hop-by-hop, destination options and routing headers)
//!    translate to exactly the expected packet(s): every header field predicted by an oracle written here
//!    (addresses by a bit-by-bit RFC 6052 / RFC 7757 mapping, not the translator's), checksums verified by a
//!    naive RFC 1071 sum and by etherparse, output parsed by etherparse.
//! 2. Round trips 6→4→6 and 4→6→4 restore addresses, ports, payload and TOS, with the TTL down by two.
//! 3. Arbitrary bytes and mutated valid packets never panic and keep the fuzz harness's invariants (one
//!    outcome per packet, counters that add up, well-formed output), also over long sequences on one pipeline.

use std::sync::{Arc, OnceLock};

use dataplane::frame::{Frame, RxMeta, FRAME_SIZE, HEADROOM};
use dataplane::pipeline::{Outcome, OutcomeKind, Pipeline};
use dataplane::stats::{Direction, DropReason};
use dataplane::tables::Snapshot;
use dataplane::xlat::Side;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use proptest::prelude::*;

#[path = "../fuzz/src/harness.rs"]
#[allow(
    dead_code,
    reason = "shared with the fuzz target; not every helper is used here"
)]
mod harness;

use harness::{fold, naive_sum, POOL6_LENS};

const TENANTS: usize = POOL6_LENS.len();
/// `ipv4_mtu` of [`cfg_sized`]: IPv6 packets above it get Packet Too Big or are split.
const MTU4: usize = 1280;
/// `ipv6_mtu` of [`cfg_sized`]: IPv4 DF packets above it get Fragmentation Needed.
const MTU6: usize = 1400;
/// `lowest_ipv6_mtu` (default): IPv4 DF=0 packets above it are split into IPv6 fragments.
const LOWEST6: usize = 1280;

/// Six tenants (pool6 /32 ... /96), no hairpinning, IPv4 MTU 1280, IPv6 MTU 1400.
fn cfg_sized() -> &'static Arc<Snapshot> {
    static C: OnceLock<Arc<Snapshot>> = OnceLock::new();
    C.get_or_init(|| {
        harness::compile(&harness::multi_len_config(
            "eam_hairpin_mode = \"off\"\nipv4_mtu = 1280\nipv6_mtu = 1400",
        ))
    })
}

/// The same tenants with default MTUs (1500 both sides), no hairpinning: for round trips.
fn cfg_plain() -> &'static Arc<Snapshot> {
    static C: OnceLock<Arc<Snapshot>> = OnceLock::new();
    C.get_or_init(|| harness::compile(&harness::multi_len_config("eam_hairpin_mode = \"off\"")))
}

// ---------- the address oracle: RFC 6052 and RFC 7757 bit by bit ----------

/// RFC 6052 §2.2: the IPv4 address's 32 bits go right after the prefix, skipping bits 64..71 (the u-octet).
fn embed(prefix: [u8; 16], len: u8, v4: u32) -> [u8; 16] {
    let mut a = u128::from_be_bytes(prefix);
    let mut pos = u32::from(len);
    for i in (0..32).rev() {
        if (64..72).contains(&pos) {
            pos = 72;
        }
        if v4 >> i & 1 == 1 {
            a |= 1u128 << (127 - pos);
        }
        pos += 1;
    }
    a.to_be_bytes()
}

/// Bits of an RFC 6052 address that carry neither prefix nor IPv4 address (u-octet and suffix): the
/// translator must ignore them.
fn embed_free_bits(len: u8) -> u128 {
    let mut used = 0u128;
    let mut pos = u32::from(len);
    for _ in 0..32 {
        if (64..72).contains(&pos) {
            pos = 72;
        }
        used |= 1u128 << (127 - pos);
        pos += 1;
    }
    let prefix = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    !(used | prefix)
}

/// EAM entry `k` of tenant `t`: the IPv4 host `host` (suffix bits only used) and its IPv6 address
/// (RFC 7757 §3.2: the IPv4 suffix right after the IPv6 prefix, remaining bits zero).
fn eam_pair(t: usize, k: usize, host: u32) -> (u32, [u8; 16]) {
    let (p4, l4, p6, l6) = harness::multi_len_eams(t)[k];
    let suffix_len = 32 - u32::from(l4);
    let mask4 = if suffix_len == 0 {
        0
    } else {
        u32::MAX >> (32 - suffix_len)
    };
    let v4 = u32::from_be_bytes(p4) | (host & mask4);
    let shift = 128 - u32::from(l6) - suffix_len;
    let v6 = u128::from_be_bytes(p6) | (u128::from(host & mask4) << shift);
    (v4, v6.to_be_bytes())
}

/// Bits of an EAM IPv6 address past the IPv4 suffix (ignored by the translator).
fn eam_free_bits(t: usize, k: usize) -> u128 {
    let (_, l4, _, l6) = harness::multi_len_eams(t)[k];
    let free = 128 - u32::from(l6) - (32 - u32::from(l4));
    if free == 0 {
        0
    } else {
        u128::MAX >> (128 - free)
    }
}

/// True if an EAM IPv4 prefix (the same for every tenant) holds `v4`.
fn in_eam_v4(v4: u32) -> bool {
    harness::multi_len_eams(0).iter().any(|&(p4, l4, _, _)| {
        let m = if l4 == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(l4))
        };
        v4 & m == u32::from_be_bytes(p4)
    })
}

#[derive(Debug, Clone, Copy)]
enum Host {
    /// Under pool6 (an IPv4 address outside every EAM range).
    Pool6(u32),
    /// EAM entry `k`, host bits.
    Eam(usize, u32),
}

impl Host {
    fn v4(self, t: usize) -> [u8; 4] {
        match self {
            Host::Pool6(v4) => v4.to_be_bytes(),
            Host::Eam(k, h) => eam_pair(t, k, h).0.to_be_bytes(),
        }
    }

    fn v6(self, t: usize) -> [u8; 16] {
        match self {
            Host::Pool6(v4) => embed(harness::multi_len_pool6(t), POOL6_LENS[t], v4),
            Host::Eam(k, h) => eam_pair(t, k, h).1,
        }
    }

    /// The IPv6 address with `noise` in the bits the translator ignores.
    fn v6_noisy(self, t: usize, noise: u128) -> [u8; 16] {
        let free = match self {
            Host::Pool6(_) => embed_free_bits(POOL6_LENS[t]),
            Host::Eam(k, _) => eam_free_bits(t, k),
        };
        (u128::from_be_bytes(self.v6(t)) | (noise & free)).to_be_bytes()
    }
}

/// `a` moved into the unicast space RFC 7915 translates: first octet 1..=126 or 128..=223 (never 0/8,
/// loopback, multicast or 240/4, which the translator drops on purpose; tested in xlat/tests.rs).
fn unicast(a: u32) -> u32 {
    let mut first = 1 + (a >> 24) % 222;
    if first >= 127 {
        first += 1;
    }
    (first << 24) | (a & 0x00ff_ffff)
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        // Outside the EAM ranges (all within 192/3): flipping the top bit lands in 64..=95.
        any::<u32>().prop_map(|a| {
            let a = unicast(a);
            Host::Pool6(if in_eam_v4(a) { a ^ 0x8000_0000 } else { a })
        }),
        (0usize..3, any::<u32>()).prop_map(|(k, h)| Host::Eam(k, h)),
    ]
}

// ---------- packet specs and builders ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Udp,
    Tcp,
    EchoRequest,
    EchoReply,
}

impl L4 {
    fn is_icmp(self) -> bool {
        matches!(self, L4::EchoRequest | L4::EchoReply)
    }

    fn header_len(self) -> usize {
        if self == L4::Tcp {
            20
        } else {
            8
        }
    }

    fn proto(self, v6: bool) -> u8 {
        match (self, v6) {
            (L4::Udp, _) => 17,
            (L4::Tcp, _) => 6,
            (_, false) => 1,
            (_, true) => 58,
        }
    }

    /// ICMP type in the given family.
    fn icmp_type(self, v6: bool) -> u8 {
        match (self, v6) {
            (L4::EchoRequest, false) => 8,
            (L4::EchoReply, false) => 0,
            (L4::EchoRequest, true) => 128,
            _ => 129,
        }
    }
}

/// How the generated packet is fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frag {
    None,
    /// IPv6: a Fragment Header with offset 0 and M clear. IPv4: same as `None`.
    Atomic,
    /// The first fragment: offset 0, M set, the first `units` * 8 bytes (at least the L4 header).
    First {
        units: usize,
    },
    /// A later fragment at `offset` * 8 bytes.
    Later {
        offset: u16,
        more: bool,
    },
}

#[derive(Debug, Clone)]
struct Spec {
    tenant: usize,
    l4: L4,
    src: Host,
    dst: Host,
    sport: u16,
    dport: u16,
    seq: u32,
    payload: Vec<u8>,
    ttl: u8,
    tos: u8,
    df: bool,
    ident: u32,
    frag: Frag,
    /// IPv6 extension headers before the Fragment Header: (type 0 / 60 / 43, length in 8-byte units - 1).
    exts: Vec<(u8, u8)>,
    /// IPv4: words of NOP options.
    v4_opts: usize,
    /// IPv6 → IPv4: bits set in the address parts the translator ignores.
    noise: u128,
}

fn l4_kind() -> impl Strategy<Value = L4> {
    prop_oneof![
        Just(L4::Udp),
        Just(L4::Tcp),
        Just(L4::EchoRequest),
        Just(L4::EchoReply)
    ]
}

fn frag_kind() -> impl Strategy<Value = Frag> {
    prop_oneof![
        4 => Just(Frag::None),
        1 => Just(Frag::Atomic),
        1 => (0usize..200).prop_map(|units| Frag::First { units }),
        1 => (1u16..8192, any::<bool>()).prop_map(|(offset, more)| Frag::Later { offset, more }),
    ]
}

fn ext_headers() -> impl Strategy<Value = Vec<(u8, u8)>> {
    // RFC 8200 §4.1 order: hop-by-hop first, then destination options, routing.
    (
        proptest::option::weighted(0.3, 0u8..3),
        proptest::option::weighted(0.3, 0u8..3),
        proptest::option::weighted(0.3, 0u8..3),
    )
        .prop_map(|(h, d, r)| {
            let mut v = Vec::new();
            if let Some(l) = h {
                v.push((0, l));
            }
            if let Some(l) = d {
                v.push((60, l));
            }
            if let Some(l) = r {
                v.push((43, 2 * l)); // routing type 4 with `l` segments
            }
            v
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            0..TENANTS,
            l4_kind(),
            host(),
            host(),
            any::<(u16, u16, u32)>(),
        ),
        proptest::collection::vec(any::<u8>(), 0..1400),
        (2u8..=255, any::<u8>(), any::<bool>(), any::<u32>()),
        (
            frag_kind(),
            ext_headers(),
            0usize..4,
            any::<u128>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (tenant, l4, src, dst, (sport, dport, seq)),
                payload,
                (ttl, tos, df, ident),
                (frag, exts, v4_opts, noise, noisy),
            )| Spec {
                tenant,
                l4,
                src,
                dst,
                sport,
                dport,
                seq,
                payload,
                ttl,
                tos,
                df,
                ident,
                frag,
                exts,
                v4_opts,
                noise: if noisy { noise } else { 0 },
            },
        )
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// The whole upper-layer message (header + payload) with its checksum over `pseudo` (the pseudo-header sum,
/// 0 for ICMPv4).
fn l4_message(s: &Spec, v6: bool, pseudo_addrs: u32) -> Vec<u8> {
    let mut m = vec![0u8; s.l4.header_len()];
    match s.l4 {
        L4::Udp => {
            put16(&mut m, 0, s.sport);
            put16(&mut m, 2, s.dport);
            put16(&mut m, 4, (8 + s.payload.len()) as u16);
        }
        L4::Tcp => {
            put16(&mut m, 0, s.sport);
            put16(&mut m, 2, s.dport);
            m[4..8].copy_from_slice(&s.seq.to_be_bytes());
            m[8..12].copy_from_slice(&s.seq.rotate_left(7).to_be_bytes());
            m[12] = 5 << 4;
            m[13] = 0x18; // PSH ACK
            put16(&mut m, 14, 0xffff);
        }
        _ => {
            m[0] = s.l4.icmp_type(v6);
            put16(&mut m, 4, s.sport);
            put16(&mut m, 6, s.dport);
        }
    }
    m.extend_from_slice(&s.payload);
    let with_pseudo = !matches!((s.l4.is_icmp(), v6), (true, false));
    let sum = if with_pseudo {
        pseudo_addrs + u32::from(s.l4.proto(v6)) + m.len() as u32
    } else {
        0
    } + naive_sum(&m);
    let mut c = !fold(sum);
    if s.l4 == L4::Udp && c == 0 {
        c = 0xffff;
    }
    let at = match s.l4 {
        L4::Udp => 6,
        L4::Tcp => 16,
        _ => 2,
    };
    put16(&mut m, at, c);
    m
}

/// The part of `msg` this fragment carries.
fn fragment_data(s: &Spec, msg: &[u8]) -> Vec<u8> {
    match s.frag {
        Frag::None | Frag::Atomic => msg.to_vec(),
        Frag::First { units } => {
            let n = (units * 8).max(s.l4.header_len().next_multiple_of(8));
            msg[..n.min(msg.len())].to_vec()
        }
        Frag::Later { more, .. } => {
            let mut d = s.payload.clone();
            if more {
                d.truncate(d.len() & !7);
            }
            d
        }
    }
}

fn frag_offset_bytes(s: &Spec) -> u16 {
    match s.frag {
        Frag::Later { offset, .. } => offset * 8,
        _ => 0,
    }
}

fn frag_more(s: &Spec) -> bool {
    match s.frag {
        Frag::First { .. } => true,
        Frag::Later { more, .. } => more,
        _ => false,
    }
}

/// A real fragment (not a whole packet): IPv4 MF or offset, IPv6 Fragment Header other than atomic.
fn is_fragment(s: &Spec) -> bool {
    matches!(s.frag, Frag::First { .. } | Frag::Later { .. })
}

struct Built {
    pkt: Vec<u8>,
    /// The whole upper-layer message (what a fragment is part of).
    msg: Vec<u8>,
    /// Bytes of the upper-layer part in this packet.
    data: Vec<u8>,
}

fn build_v4(s: &Spec) -> Built {
    let t = s.tenant;
    let (src, dst) = (s.src.v4(t), s.dst.v4(t));
    let msg = l4_message(s, false, naive_sum(&src) + naive_sum(&dst));
    let data = fragment_data(s, &msg);
    let hl = 20 + 4 * s.v4_opts;
    let mut p = vec![0u8; hl];
    p[0] = 0x40 | (hl / 4) as u8;
    p[1] = s.tos;
    put16(&mut p, 2, (hl + data.len()) as u16);
    put16(&mut p, 4, s.ident as u16);
    let f = (u16::from(s.df) << 14) | (u16::from(frag_more(s)) << 13) | (frag_offset_bytes(s) >> 3);
    put16(&mut p, 6, f);
    p[8] = s.ttl;
    p[9] = s.l4.proto(false);
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..hl].fill(1); // NOP options
    let c = !fold(naive_sum(&p));
    put16(&mut p, 10, c);
    p.extend_from_slice(&data);
    Built { pkt: p, msg, data }
}

fn build_v6(s: &Spec) -> Built {
    let t = s.tenant;
    let (src, dst) = (
        s.src.v6_noisy(t, s.noise),
        s.dst.v6_noisy(t, s.noise.rotate_left(64)),
    );
    let msg = l4_message(s, true, naive_sum(&src) + naive_sum(&dst));
    let data = fragment_data(s, &msg);
    let proto = s.l4.proto(true);
    // Extension headers, each naming the next; the last one names the Fragment Header or the L4 protocol.
    let mut kinds: Vec<u8> = s.exts.iter().map(|e| e.0).collect();
    if s.frag != Frag::None {
        kinds.push(44);
    }
    let mut p = vec![0u8; 40];
    p[0] = 0x60 | (s.tos >> 4);
    p[1] = s.tos << 4 | 0x0a; // and a flow label, which the translator drops
    p[2] = 0xbc;
    p[3] = 0xde;
    p[6] = kinds.first().copied().unwrap_or(proto);
    p[7] = s.ttl;
    p[8..24].copy_from_slice(&src);
    p[24..40].copy_from_slice(&dst);
    for (i, &(kind, len)) in s.exts.iter().enumerate() {
        let next = kinds.get(i + 1).copied().unwrap_or(proto);
        let n = 8 * (usize::from(len) + 1);
        let mut e = vec![0u8; n];
        e[0] = next;
        e[1] = len;
        if kind == 43 {
            e[2] = 4; // segment routing
            e[3] = 0; // segments left 0: translated, the header dropped (RFC 7915 §5.1)
        } else {
            e[2] = 1; // PadN
            e[3] = (n - 4) as u8;
        }
        p.extend_from_slice(&e);
    }
    if s.frag != Frag::None {
        let mut fh = [0u8; 8];
        fh[0] = proto;
        put16(&mut fh, 2, frag_offset_bytes(s) | u16::from(frag_more(s)));
        fh[4..8].copy_from_slice(&s.ident.to_be_bytes());
        p.extend_from_slice(&fh);
    }
    p.extend_from_slice(&data);
    let plen = (p.len() - 40) as u16;
    put16(&mut p, 4, plen);
    Built { pkt: p, msg, data }
}

// ---------- running ----------

struct Out {
    kind: OutcomeKind,
    direction: Option<Direction>,
    pkts: Vec<(Vec<u8>, Side, Option<u16>)>,
}

fn run(snap: &Arc<Snapshot>, pkt: &[u8], meta: RxMeta) -> Out {
    let mut p = Pipeline::new(Arc::clone(snap));
    let mut buf = vec![0u8; FRAME_SIZE.max(HEADROOM + pkt.len() + 64)];
    let mut frame = Frame::copy_from(&mut buf, pkt).expect("fits");
    frame.meta = meta;
    let mut pkts = Vec::new();
    let o = p.process(&mut frame, &mut |o| {
        pkts.push((o.packet.to_vec(), o.side, o.vlan))
    });
    Out {
        kind: o.kind,
        direction: o.direction,
        pkts,
    }
}

fn meta_of(t: usize) -> RxMeta {
    RxMeta {
        ingress: 0,
        vlan: Some(harness::multi_len_vlan(t)),
    }
}

/// Checks the translated upper-layer part `got` (the data of one packet, `hdr_first` = the L4 header is in
/// it) against the input's `data`: the same bytes except type and checksum, and a checksum valid over the
/// whole message with the new pseudo-header. `msg` is the whole input message (for first fragments).
fn check_l4(
    s: &Spec,
    v6_out: bool,
    got: &[u8],
    input: &Built,
    pseudo_addrs: u32,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), input.data.len());
    if frag_offset_bytes(s) != 0 {
        prop_assert_eq!(
            got,
            &input.data[..],
            "a later fragment's bytes are copied as they are"
        );
        return Ok(());
    }
    let ck = match s.l4 {
        L4::Udp => 6,
        L4::Tcp => 16,
        _ => 2,
    };
    // Everything but the checksum (and the ICMP type) is unchanged: ports, sequence numbers, payload.
    let skip_type = usize::from(s.l4.is_icmp());
    prop_assert_eq!(&got[skip_type..ck], &input.data[skip_type..ck]);
    prop_assert_eq!(&got[ck + 2..], &input.data[ck + 2..]);
    if s.l4.is_icmp() {
        prop_assert_eq!(
            got[0],
            s.l4.icmp_type(v6_out),
            "echo type mapped (RFC 7915 §4.2, §5.2)"
        );
    }
    // The checksum covers the whole message: this packet's part, then the rest as the input had it.
    let mut whole = got.to_vec();
    whole.extend_from_slice(&input.msg[got.len()..]);
    let with_pseudo = !s.l4.is_icmp() || v6_out;
    let sum = if with_pseudo {
        pseudo_addrs + u32::from(s.l4.proto(v6_out)) + whole.len() as u32
    } else {
        0
    } + naive_sum(&whole);
    prop_assert_eq!(fold(sum), 0xffff, "L4 checksum over the whole message");
    if s.l4 == L4::Udp {
        prop_assert_ne!(
            u16::from_be_bytes([got[6], got[7]]),
            0,
            "UDP checksum 0 means none"
        );
    }
    Ok(())
}

/// Cross-checks an unfragmented output with etherparse: it parses to the expected transport and
/// etherparse's own checksum calculation agrees.
fn etherparse_check(s: &Spec, pkt: &[u8]) -> Result<(), TestCaseError> {
    let p =
        SlicedPacket::from_ip(pkt).map_err(|e| TestCaseError::fail(format!("etherparse: {e}")))?;
    let (src4, dst4, src6, dst6) = match &p.net {
        Some(NetSlice::Ipv4(ip)) => (
            Some(ip.header().source()),
            Some(ip.header().destination()),
            None,
            None,
        ),
        Some(NetSlice::Ipv6(ip)) => (
            None,
            None,
            Some(ip.header().source()),
            Some(ip.header().destination()),
        ),
        _ => return Err(TestCaseError::fail("no IP layer")),
    };
    match (&p.transport, s.l4) {
        (Some(TransportSlice::Udp(u)), L4::Udp) => {
            let h = u.to_header();
            let c = match (src4, src6) {
                (Some(a), _) => h.calc_checksum_ipv4_raw(a, dst4.unwrap(), u.payload()),
                (_, Some(a)) => h.calc_checksum_ipv6_raw(a, dst6.unwrap(), u.payload()),
                _ => unreachable!(),
            }
            .unwrap();
            prop_assert_eq!(c, u.checksum(), "etherparse UDP checksum");
            prop_assert_eq!((u.source_port(), u.destination_port()), (s.sport, s.dport));
        }
        (Some(TransportSlice::Tcp(t)), L4::Tcp) => {
            let c = match (src4, src6) {
                (Some(a), _) => t.calc_checksum_ipv4(a, dst4.unwrap()),
                (_, Some(a)) => t.calc_checksum_ipv6(a, dst6.unwrap()),
                _ => unreachable!(),
            }
            .unwrap();
            prop_assert_eq!(c, t.checksum(), "etherparse TCP checksum");
            prop_assert_eq!((t.source_port(), t.destination_port()), (s.sport, s.dport));
            prop_assert_eq!(t.sequence_number(), s.seq);
        }
        (Some(TransportSlice::Icmpv4(i)), L4::EchoRequest | L4::EchoReply) => {
            prop_assert_eq!(fold(naive_sum(i.slice())), 0xffff, "ICMPv4 checksum");
            prop_assert_eq!(i.type_u8(), s.l4.icmp_type(false));
        }
        (Some(TransportSlice::Icmpv6(i)), L4::EchoRequest | L4::EchoReply) => {
            prop_assert!(
                i.is_checksum_valid(src6.unwrap(), dst6.unwrap()),
                "etherparse ICMPv6 checksum"
            );
            prop_assert_eq!(i.type_u8(), s.l4.icmp_type(true));
        }
        (t, l4) => return Err(TestCaseError::fail(format!("transport {t:?} for {l4:?}"))),
    }
    Ok(())
}

// ---------- 1. valid packets: exactly the expected translation ----------

/// IPv6 → IPv4, with the oracle's prediction.
fn check_v6_to_v4(s: &Spec) -> Result<(), TestCaseError> {
    let t = s.tenant;
    let input = build_v6(s);
    let r = run(cfg_sized(), &input.pkt, RxMeta::default());
    prop_assert_eq!(r.direction, Some(Direction::V6ToV4));
    harness::check_packet(cfg_sized(), &input.pkt, RxMeta::default(), HEADROOM, 64);
    if usize::from(frag_offset_bytes(s)) + input.data.len() > 65535 {
        // RFC 8200 §4.5: a fragment that would reassemble beyond 64 KiB is impossible.
        prop_assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::FragmentInvalid));
        return Ok(());
    }

    if s.l4.is_icmp() && is_fragment(s) {
        prop_assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::IcmpFragmented));
        return Ok(());
    }
    let ext_len: usize = s
        .exts
        .iter()
        .map(|e| 8 * (usize::from(e.1) + 1))
        .sum::<usize>()
        + if s.frag == Frag::None { 0 } else { 8 };
    let l4_len = input.data.len();
    let len4 = 20 + l4_len;
    let (src4, dst4) = (s.src.v4(t), s.dst.v4(t));
    if len4 > MTU4 {
        if s.frag == Frag::None {
            // RFC 7915 §5.1 / RFC 4443: Packet Too Big, MTU = IPv4 MTU + 20, from the tenant's own address.
            prop_assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::PacketTooBig));
            let (e, side, _) = &r.pkts[0];
            prop_assert_eq!(*side, Side::V6);
            prop_assert_eq!(e.len(), 1280);
            prop_assert_eq!((e[40], e[41]), (2, 0));
            prop_assert_eq!(
                u32::from_be_bytes([e[44], e[45], e[46], e[47]]),
                MTU4 as u32 + 20
            );
            let mut own6 = [0u8; 16];
            own6[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff]);
            own6[15] = t as u8 + 1;
            prop_assert_eq!(&e[8..24], &own6[..]);
            prop_assert_eq!(&e[24..40], &input.pkt[8..24]);
            prop_assert_eq!(&e[48..], &input.pkt[..1280 - 48], "quotes as much as fits");
            return Ok(());
        }
        // Already a fragment (or atomic): split into IPv4 fragments of at most the IPv4 MTU.
        let max_data = (MTU4 - 20) & !7;
        let n = l4_len.div_ceil(max_data);
        prop_assert_eq!(r.kind, OutcomeKind::Translated { packets: n as u16 });
        let mut data = Vec::new();
        for (i, (f, side, vlan)) in r.pkts.iter().enumerate() {
            prop_assert_eq!(*side, Side::V4);
            prop_assert_eq!(*vlan, Some(harness::multi_len_vlan(t)));
            prop_assert!(f.len() <= MTU4);
            prop_assert_eq!(fold(naive_sum(&f[..20])), 0xffff);
            prop_assert_eq!(u16::from_be_bytes([f[4], f[5]]), s.ident as u16);
            let flags = u16::from_be_bytes([f[6], f[7]]);
            prop_assert_eq!(flags & 0x4000, 0, "DF clear");
            prop_assert_eq!(
                usize::from(flags & 0x1fff) * 8,
                usize::from(frag_offset_bytes(s)) + i * max_data
            );
            prop_assert_eq!(flags & 0x2000 != 0, frag_more(s) || i + 1 < n, "MF");
            prop_assert_eq!(&f[12..16], &src4);
            prop_assert_eq!(&f[16..20], &dst4);
            prop_assert_eq!(f[8], s.ttl - 1);
            data.extend_from_slice(&f[20..]);
        }
        return check_l4(s, false, &data, &input, naive_sum(&src4) + naive_sum(&dst4));
    }

    prop_assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    let (o, side, vlan) = &r.pkts[0];
    prop_assert_eq!(*side, Side::V4);
    prop_assert_eq!(*vlan, Some(harness::multi_len_vlan(t)));
    prop_assert_eq!(
        o.len(),
        len4,
        "the IPv6 header and {} bytes of extension headers go",
        ext_len
    );
    // RFC 7915 §5.1, field by field.
    prop_assert_eq!(o[0], 0x45);
    prop_assert_eq!(o[1], s.tos, "TOS = traffic class");
    prop_assert_eq!(usize::from(u16::from_be_bytes([o[2], o[3]])), len4);
    let flags = u16::from_be_bytes([o[6], o[7]]);
    if s.frag == Frag::None && len4 > 1260 {
        prop_assert_eq!(u16::from_be_bytes([o[4], o[5]]), 0, "identification 0");
        prop_assert_eq!(flags, 0x4000, "DF set above 1260 bytes, no fragment");
    } else if s.frag == Frag::None {
        // Identification from the translator's generator: any value.
        prop_assert_eq!(
            flags,
            0,
            "DF clear up to 1260 bytes (RFC 7915 §5.1), no fragment"
        );
    } else {
        prop_assert_eq!(
            u16::from_be_bytes([o[4], o[5]]),
            s.ident as u16,
            "identification's low bits"
        );
        prop_assert_eq!(flags & 0x4000, 0, "DF clear");
        prop_assert_eq!(flags & 0x2000 != 0, frag_more(s));
        prop_assert_eq!((flags & 0x1fff) * 8, frag_offset_bytes(s));
    }
    prop_assert_eq!(o[8], s.ttl - 1);
    prop_assert_eq!(o[9], s.l4.proto(false));
    prop_assert_eq!(fold(naive_sum(&o[..20])), 0xffff, "IPv4 header checksum");
    prop_assert_eq!(&o[12..16], &src4, "source: {:?}", s.src);
    prop_assert_eq!(&o[16..20], &dst4, "destination: {:?}", s.dst);
    check_l4(
        s,
        false,
        &o[20..],
        &input,
        naive_sum(&src4) + naive_sum(&dst4),
    )?;
    if !is_fragment(s) {
        etherparse_check(s, o)?;
    }
    Ok(())
}

/// IPv4 → IPv6, with the oracle's prediction.
fn check_v4_to_v6(s: &Spec) -> Result<(), TestCaseError> {
    let t = s.tenant;
    let input = build_v4(s);
    let meta = meta_of(t);
    let r = run(cfg_sized(), &input.pkt, meta);
    prop_assert_eq!(r.direction, Some(Direction::V4ToV6));
    harness::check_packet(cfg_sized(), &input.pkt, meta, HEADROOM, 64);
    if usize::from(frag_offset_bytes(s)) + input.data.len() > 65535 {
        // RFC 791: the reassembled datagram may not exceed 65535 bytes.
        prop_assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::FragmentInvalid));
        return Ok(());
    }

    if s.l4.is_icmp() && is_fragment(s) {
        prop_assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::IcmpFragmented));
        return Ok(());
    }
    let l4_len = input.data.len();
    let (src6, dst6) = (s.src.v6(t), s.dst.v6(t));
    let mut with_frag = is_fragment(s);
    let mut split = false;
    if !s.df && if with_frag { 48 } else { 40 } + l4_len > LOWEST6 {
        split = true;
        with_frag = true;
    }
    let hdr6 = if with_frag { 48 } else { 40 };
    if s.df && hdr6 + l4_len > MTU6 {
        // RFC 7915 §4 / RFC 1191: Fragmentation Needed with the MTU the IPv4 side can use; RFC 1812
        // §4.3.2.7: not to a source that names no single host, nor about a packet to a multicast address,
        // nor about a non-initial fragment.
        let (s4, d4) = (s.src.v4(t), s.dst.v4(t));
        if s4[0] == 0 || s4[0] == 127 || s4[0] >= 224 || d4[0] >= 224 || frag_offset_bytes(s) != 0 {
            prop_assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::PacketTooBig));
            return Ok(());
        }
        prop_assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::PacketTooBig));
        let (e, side, vlan) = &r.pkts[0];
        prop_assert_eq!(*side, Side::V4);
        prop_assert_eq!(*vlan, Some(harness::multi_len_vlan(t)));
        prop_assert_eq!(e.len(), 576);
        prop_assert_eq!((e[20], e[21]), (3, 4));
        prop_assert_eq!(
            usize::from(u16::from_be_bytes([e[26], e[27]])),
            MTU6 - (hdr6 - 20)
        );
        prop_assert_eq!(&e[12..16], &[192, 0, 0, 170 + t as u8]);
        prop_assert_eq!(&e[16..20], &input.pkt[12..16]);
        prop_assert_eq!(&e[28..], &input.pkt[..576 - 28]);
        return Ok(());
    }
    let checks_v6 = |o: &[u8]| -> Result<(), TestCaseError> {
        prop_assert_eq!(o[0] >> 4, 6);
        prop_assert_eq!((o[0] << 4) | (o[1] >> 4), s.tos, "traffic class = TOS");
        prop_assert_eq!(o[1] & 0xf | o[2] | o[3], 0, "flow label 0");
        prop_assert_eq!(usize::from(u16::from_be_bytes([o[4], o[5]])) + 40, o.len());
        prop_assert_eq!(o[7], s.ttl - 1, "hop limit");
        prop_assert_eq!(&o[8..24], &src6, "source: {:?}", s.src);
        prop_assert_eq!(&o[24..40], &dst6, "destination: {:?}", s.dst);
        Ok(())
    };
    let pseudo6 = naive_sum(&src6) + naive_sum(&dst6);
    if !with_frag {
        prop_assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
        let (o, side, vlan) = &r.pkts[0];
        prop_assert_eq!((*side, *vlan), (Side::V6, None));
        checks_v6(o)?;
        prop_assert_eq!(o.len(), 40 + l4_len);
        prop_assert_eq!(o[6], s.l4.proto(true));
        check_l4(s, true, &o[40..], &input, pseudo6)?;
        return etherparse_check(s, o);
    }
    // With a Fragment Header: one packet, or split to lowest_ipv6_mtu.
    let n = if split {
        l4_len.div_ceil((LOWEST6 - 48) & !7)
    } else {
        1
    };
    prop_assert_eq!(r.kind, OutcomeKind::Translated { packets: n as u16 });
    let max_data = if split { (LOWEST6 - 48) & !7 } else { l4_len };
    let mut data = Vec::new();
    for (i, (o, side, _)) in r.pkts.iter().enumerate() {
        prop_assert_eq!(*side, Side::V6);
        checks_v6(o)?;
        prop_assert!(!split || o.len() <= LOWEST6);
        prop_assert_eq!(o[6], 44);
        prop_assert_eq!(o[40], s.l4.proto(true));
        let off_m = u16::from_be_bytes([o[42], o[43]]);
        prop_assert_eq!(
            usize::from(off_m & !7),
            usize::from(frag_offset_bytes(s)) + i * max_data
        );
        prop_assert_eq!(off_m & 1 == 1, frag_more(s) || i + 1 < n, "M flag");
        prop_assert_eq!(
            u32::from_be_bytes([o[44], o[45], o[46], o[47]]),
            u32::from(s.ident as u16),
            "identification from IPv4"
        );
        etherparse::Ipv6Slice::from_slice(o)
            .map_err(|e| TestCaseError::fail(format!("etherparse: {e}")))?;
        data.extend_from_slice(&o[48..]);
    }
    check_l4(s, true, &data, &input, pseudo6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_ipv6_packets_translate_to_exactly_the_expected_ipv4(s in spec()) {
        check_v6_to_v4(&s)?;
    }

    #[test]
    fn valid_ipv4_packets_translate_to_exactly_the_expected_ipv6(s in spec()) {
        check_v4_to_v6(&s)?;
    }
}

// ---------- 2. round trips ----------

/// Reassembles the upper-layer part of translated packets (one, or fragments in order) and returns the first
/// packet's header bytes (up to the L4 part) and the data.
fn gather(pkts: &[(Vec<u8>, Side, Option<u16>)]) -> (Vec<u8>, Vec<u8>) {
    let mut data = Vec::new();
    let mut hdr = Vec::new();
    for (i, (p, _, _)) in pkts.iter().enumerate() {
        let hl = if p[0] >> 4 == 4 {
            usize::from(p[0] & 0xf) * 4
        } else if p[6] == 44 {
            48
        } else {
            40
        };
        if i == 0 {
            hdr = p[..hl].to_vec();
        }
        data.extend_from_slice(&p[hl..]);
    }
    (hdr, data)
}

/// Ones'-complement equality of two checksums (0x0000 and 0xffff are the same number).
fn same_checksum(a: &[u8], b: &[u8]) -> bool {
    u16::from_be_bytes([a[0], a[1]]) % 0xffff == u16::from_be_bytes([b[0], b[1]]) % 0xffff
}

fn round_trip_spec() -> impl Strategy<Value = Spec> {
    (spec(), 3u8..=255).prop_map(|(mut s, ttl)| {
        s.ttl = ttl;
        s.noise = 0;
        if s.l4.is_icmp() {
            // An ICMP message that is (or would be split into) fragments cannot cross back: the ICMPv6
            // checksum covers the whole message (dropped as `icmp_fragmented`, checked in part 1).
            s.frag = Frag::None;
            s.df = true;
        }
        if let Frag::Later { offset, more } = s.frag {
            // Within 64 KiB, or it is dropped as `fragment_invalid` (checked in part 1).
            let max = ((65535 - s.payload.len()) / 8) as u16;
            s.frag = Frag::Later {
                offset: offset.min(max),
                more,
            };
        }
        s
    })
}

/// Compares a round-tripped upper-layer part with the original: all bytes equal, except the checksum,
/// which must be the same number.
fn same_l4(s: &Spec, back: &[u8], orig: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(back.len(), orig.len());
    if frag_offset_bytes(s) != 0 {
        prop_assert_eq!(back, orig);
        return Ok(());
    }
    let ck = match s.l4 {
        L4::Udp => 6,
        L4::Tcp => 16,
        _ => 2,
    };
    prop_assert_eq!(&back[..ck], &orig[..ck], "ports / type restored");
    prop_assert!(
        same_checksum(&back[ck..ck + 2], &orig[ck..ck + 2]),
        "checksum restored"
    );
    prop_assert_eq!(&back[ck + 2..], &orig[ck + 2..], "payload restored");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_6_to_4_to_6(s in round_trip_spec()) {
        let t = s.tenant;
        let input = build_v6(&s);
        let a = run(cfg_plain(), &input.pkt, RxMeta::default());
        prop_assert!(matches!(a.kind, OutcomeKind::Translated { .. }), "{:?}", a.kind);
        let mut back = Vec::new();
        for (p, side, _) in &a.pkts {
            prop_assert_eq!(*side, Side::V4);
            let b = run(cfg_plain(), p, meta_of(t));
            prop_assert!(matches!(b.kind, OutcomeKind::Translated { .. }), "{:?}", b.kind);
            back.extend(b.pkts);
        }
        let (hdr, data) = gather(&back);
        prop_assert_eq!(&hdr[8..40], &input.pkt[8..40], "addresses restored");
        prop_assert_eq!(hdr[7], s.ttl - 2, "hop limit down by two");
        prop_assert_eq!((hdr[0] << 4) | (hdr[1] >> 4), s.tos, "traffic class restored");
        same_l4(&s, &data, &input.data)?;
        if is_fragment(&s) {
            prop_assert_eq!(hdr[6], 44);
            prop_assert_eq!(u16::from_be_bytes([hdr[46], hdr[47]]), s.ident as u16);
        }
    }

    #[test]
    fn round_trip_4_to_6_to_4(s in round_trip_spec()) {
        let t = s.tenant;
        let input = build_v4(&s);
        let a = run(cfg_plain(), &input.pkt, meta_of(t));
        prop_assert!(matches!(a.kind, OutcomeKind::Translated { .. }), "{:?}", a.kind);
        let mut back = Vec::new();
        for (p, side, _) in &a.pkts {
            prop_assert_eq!(*side, Side::V6);
            let b = run(cfg_plain(), p, RxMeta::default());
            prop_assert!(matches!(b.kind, OutcomeKind::Translated { .. }), "{:?}", b.kind);
            for (_, side, vlan) in &b.pkts {
                prop_assert_eq!((*side, *vlan), (Side::V4, Some(harness::multi_len_vlan(t))));
            }
            back.extend(b.pkts);
        }
        let (hdr, data) = gather(&back);
        prop_assert_eq!(&hdr[12..20], &input.pkt[12..20], "addresses restored");
        prop_assert_eq!(hdr[8], s.ttl - 2, "TTL down by two");
        prop_assert_eq!(hdr[1], s.tos, "TOS restored");
        prop_assert_eq!(hdr[9], input.pkt[9], "protocol restored");
        same_l4(&s, &data, &input.data)?;
        if a.pkts[0].0[6] == 44 {
            prop_assert_eq!(u16::from_be_bytes([hdr[4], hdr[5]]), s.ident as u16, "identification");
        }
    }
}

// ---------- 3. arbitrary and mutated input ----------

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    /// A length field lies: IPv4 IHL or total length, IPv6 payload length, UDP length, an extension
    /// header's length, a TCP data offset (by position in the packet).
    LenLie(usize, u16),
    /// Recompute the IPv4 header checksum (so mutations get past its check).
    FixIpv4Checksum,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Mutation::SetByte(p, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        (0usize..8, any::<u16>()).prop_map(|(w, v)| Mutation::LenLie(w, v)),
        Just(Mutation::FixIpv4Checksum),
    ]
}

fn mutate(pkt: &mut Vec<u8>, m: &Mutation) {
    let n = pkt.len();
    match *m {
        Mutation::FlipBit(p, b) if n > 0 => pkt[p % n] ^= 1 << b,
        Mutation::SetByte(p, v) if n > 0 => pkt[p % n] = v,
        Mutation::Truncate(l) => pkt.truncate(l % (n + 1)),
        Mutation::Extend(ref v) => pkt.extend_from_slice(v),
        Mutation::LenLie(which, v) if n >= 40 => {
            let v6 = pkt[0] >> 4 == 6;
            let (at, wide) = match (v6, which) {
                (false, 0) => (0, false),   // version/IHL
                (false, 1) => (2, true),    // total length
                (false, 2) => (24, true),   // UDP length (no options)
                (false, 3) => (32, false),  // TCP data offset
                (true, 0 | 1) => (4, true), // payload length
                (true, 2) => (41, false),   // first extension header's length
                (true, 3) => (44, true),    // UDP length after 40 bytes
                _ => (usize::from(v) % n, false),
            };
            if at + usize::from(wide) >= n {
                // Too short for this field: nothing to lie about.
            } else if wide {
                pkt[at..at + 2].copy_from_slice(&v.to_be_bytes());
            } else if at == 0 {
                pkt[0] = (pkt[0] & 0xf0) | (v as u8 & 0xf);
            } else {
                pkt[at] = v as u8;
            }
        }
        Mutation::FixIpv4Checksum if n >= 20 && pkt[0] >> 4 == 4 => {
            let hl = (usize::from(pkt[0] & 0xf) * 4).clamp(20, n);
            pkt[10] = 0;
            pkt[11] = 0;
            let c = !fold(naive_sum(&pkt[..hl]));
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// A valid packet of either family for a random configuration of the harness (the multi-length one, whose
/// addresses the spec knows), wrapped with a selector byte.
fn mutated_input() -> impl Strategy<Value = Vec<u8>> {
    (
        spec(),
        any::<bool>(),
        proptest::collection::vec(mutation(), 1..6),
        0u8..8,
    )
        .prop_map(|(s, v6, muts, room)| {
            let mut pkt = if v6 { build_v6(&s) } else { build_v4(&s) }.pkt;
            for m in &muts {
                mutate(&mut pkt, m);
            }
            // Configuration 3 is the six-tenant one; meta 1 and 2 are VLAN 10 and 20 (tenants 0 and 1).
            let meta = if s.tenant == 0 { 1 } else { 2 };
            let mut data = vec![3 | (meta << 2) | (room << 5)];
            data.extend_from_slice(&pkt);
            data
        })
}

/// Random bytes behind a valid-looking start (version nibble, plausible lengths), so they get past the
/// first checks now and then.
fn arbitrary_input() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop_oneof![Just(0x45u8), Just(0x60u8), any::<u8>()],
        proptest::collection::vec(any::<u8>(), 0..1600),
    )
        .prop_map(|(sel, first, rest)| {
            let mut v = vec![sel, first];
            v.extend_from_slice(&rest);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_keep_the_invariants(data in arbitrary_input()) {
        harness::fuzz_one(&data);
    }

    #[test]
    fn mutated_valid_packets_never_panic_and_keep_the_invariants(data in mutated_input()) {
        harness::fuzz_one(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// One pipeline, many packets: the counters are exactly the sum of the outcomes.
    #[test]
    fn counters_add_up_over_a_sequence(
        inputs in proptest::collection::vec(prop_oneof![mutated_input(), arbitrary_input()], 1..64),
    ) {
        let snap = &harness::configs()[3];
        let mut p = Pipeline::new(Arc::clone(snap));
        let mut want = dataplane::stats::Stats::for_tenants(snap.tenants().len());
        for data in &inputs {
            let pkt = &data[1..];
            let mut buf = vec![0u8; HEADROOM + pkt.len() + 64];
            let mut frame = Frame::copy_from(&mut buf, pkt).expect("fits");
            frame.meta = harness::METAS[usize::from((data[0] >> 2) & 7)];
            let mut emitted = 0usize;
            let o = p.process(&mut frame, &mut |_| emitted += 1);
            let d = match o.direction {
                Some(d) => want.counters_mut(o.tenant, d),
                None => &mut want.unclassified,
            };
            d.received += 1;
            match o.kind {
                OutcomeKind::Translated { packets } => {
                    prop_assert_eq!(emitted, usize::from(packets));
                    d.translated += 1;
                    d.fragments_created += u64::from(packets) - 1;
                }
                OutcomeKind::IcmpError(r) => {
                    prop_assert_eq!(emitted, 1);
                    d.icmp_errors_sent += 1;
                    d.dropped[r as usize] += 1;
                }
                OutcomeKind::Dropped(r) => {
                    prop_assert_eq!(emitted, 0);
                    d.dropped[r as usize] += 1;
                }
                // One pipeline (worker 0 of 1): NAT64 never hands off.
                OutcomeKind::HandedOff { worker } => {
                    prop_assert!(false, "handed off to worker {}", worker);
                }
            }
        }
        prop_assert_eq!(p.stats(), &want);
        for d in p.stats().rows() {
            prop_assert_eq!(d.received, d.translated + d.dropped_total());
        }
        let total: u64 = p.stats().rows().map(|d| d.received).sum::<u64>();
        prop_assert_eq!(total, inputs.len() as u64);
    }

    /// The batch path a worker runs: the same sequence through `Pipeline::process_batch`, cut into batches
    /// of random sizes, with packets repeated so that runs of frames share a classification key, gives the
    /// same outcomes, the same packets (bytes, side, VLAN) and the same counters as `Pipeline::process`
    /// frame by frame; and its counters add up over the outcomes exactly as in
    /// `counters_add_up_over_a_sequence`. Both hairpin settings: with it on, IPv6 → IPv4 packets of tenants
    /// with EAM entries take the general path, with it off the batch loop's fast path.
    #[test]
    fn batch_path_equals_per_packet_and_counters_add_up(
        inputs in proptest::collection::vec(
            prop_oneof![valid_input(), mutated_input(), arbitrary_input()],
            1..48,
        ),
        repeats in proptest::collection::vec(1usize..5, 48),
        metas in proptest::collection::vec(proptest::option::of(0u8..8), 1..8),
        cut in 1usize..70,
        hairpin in any::<bool>(),
    ) {
        let snap = if hairpin { &harness::configs()[3] } else { hairpin_off_config() };
        // Some copies arrive with another ingress/VLAN than their tenant's: the same destination then
        // classifies differently (or not at all), which a classification cache must notice.
        let seq: Vec<Vec<u8>> = inputs
            .iter()
            .zip(&repeats)
            .flat_map(|(d, &r)| std::iter::repeat_n(d, r))
            .zip(metas.iter().cycle())
            .map(|(d, m)| {
                let mut d = d.clone();
                if let Some(m) = m {
                    d[0] = (d[0] & !(7 << 2)) | (m << 2);
                }
                d
            })
            .collect();
        type Out = Vec<(Vec<u8>, Side, Option<u16>)>;
        fn frame_of<'b>(buf: &'b mut Vec<u8>, data: &[u8]) -> Frame<'b> {
            let pkt = &data[1..];
            buf.resize(HEADROOM + pkt.len() + 64, 0);
            let mut f = Frame::copy_from(buf, pkt).expect("fits");
            f.meta = harness::METAS[usize::from((data[0] >> 2) & 7)];
            f
        }
        // Frame by frame.
        let mut one = Pipeline::new(Arc::clone(snap));
        let mut want: Vec<(Outcome, Out)> = Vec::new();
        for data in &seq {
            let mut buf = Vec::new();
            let mut frame = frame_of(&mut buf, data);
            let mut out = Out::new();
            let o = one.process(&mut frame, &mut |o| out.push((o.packet.to_vec(), o.side, o.vlan)));
            want.push((o, out));
        }
        // In batches of `cut` frames (the last one shorter).
        let mut batch = Pipeline::new(Arc::clone(snap));
        let mut got: Vec<(Outcome, Out)> = Vec::new();
        let mut counted = dataplane::stats::Stats::for_tenants(snap.tenants().len());
        for part in seq.chunks(cut) {
            let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); part.len()];
            let mut frames: Vec<Frame<'_>> =
                bufs.iter_mut().zip(part).map(|(b, d)| frame_of(b, d)).collect();
            let mut outcomes = vec![BLANK; part.len()];
            let mut outs: Vec<Out> = vec![Out::new(); part.len()];
            batch.process_batch(&mut frames, &mut outcomes, &mut |k, o| {
                outs[k].push((o.packet.to_vec(), o.side, o.vlan))
            });
            for (o, out) in outcomes.into_iter().zip(outs) {
                let d = match o.direction {
                    Some(d) => counted.counters_mut(o.tenant, d),
                    None => &mut counted.unclassified,
                };
                d.received += 1;
                match o.kind {
                    OutcomeKind::Translated { packets } => {
                        prop_assert_eq!(out.len(), usize::from(packets));
                        d.translated += 1;
                        d.fragments_created += u64::from(packets) - 1;
                    }
                    OutcomeKind::IcmpError(r) => {
                        prop_assert_eq!(out.len(), 1);
                        d.icmp_errors_sent += 1;
                        d.dropped[r as usize] += 1;
                    }
                    OutcomeKind::Dropped(r) => {
                        prop_assert_eq!(out.len(), 0);
                        d.dropped[r as usize] += 1;
                    }
                    OutcomeKind::HandedOff { worker } => {
                        prop_assert!(false, "handed off to worker {}", worker);
                    }
                }
                got.push((o, out));
            }
        }
        prop_assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(g, w, "frame {}", k);
        }
        prop_assert_eq!(batch.stats(), one.stats());
        prop_assert_eq!(batch.stats(), &counted);
        let total: u64 = batch.stats().rows().map(|d| d.received).sum::<u64>();
        prop_assert_eq!(total, seq.len() as u64);
    }
}

/// An outcome slot before the pipeline fills it.
const BLANK: Outcome = Outcome {
    direction: None,
    tenant: None,
    kind: OutcomeKind::Translated { packets: 0 },
};

/// Configuration 3 without hairpinning: IPv6 → IPv4 packets of every tenant may take the batch loop's fast
/// path.
fn hairpin_off_config() -> &'static Arc<Snapshot> {
    static SNAP: OnceLock<Arc<Snapshot>> = OnceLock::new();
    SNAP.get_or_init(|| harness::compile(&harness::multi_len_config("eam_hairpin_mode = \"off\"")))
}

/// A valid packet of configuration 3's tenants, unmutated (most take the translator's fast path).
fn valid_input() -> impl Strategy<Value = Vec<u8>> {
    (spec(), any::<bool>()).prop_map(|(s, v6)| {
        let pkt = if v6 { build_v6(&s) } else { build_v4(&s) }.pkt;
        let meta = if s.tenant == 0 { 1 } else { 2 };
        let mut data = vec![3 | (meta << 2)];
        data.extend_from_slice(&pkt);
        data
    })
}

// ---------- fixed cases the oracle relies on ----------

#[test]
fn oracle_embeds_like_rfc6052_examples() {
    // RFC 6052 §2.4's table, 192.0.2.33 under 2001:db8::/L.
    let v4 = u32::from_be_bytes([192, 0, 2, 33]);
    let p = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let cases = [
        (32, "2001:db8:c000:221::"),
        (40, "2001:db8:1c0:2:21::"),
        (48, "2001:db8:122:c000:2:2100::"),
        (56, "2001:db8:122:3c0:0:221::"),
        (64, "2001:db8:122:344:c0:2:2100:0"),
        (96, "2001:db8:122:344::192.0.2.33"),
    ];
    for (len, want) in cases {
        let mut prefix = p("2001:db8:122:344::");
        let keep = usize::from(len) / 8;
        prefix[keep..].fill(0);
        assert_eq!(embed(prefix, len, v4), p(want), "/{len}");
    }
}
