//! Stateful NAT64 through the pipeline, per RFC 6146 section: real packets built with etherparse, outputs
//! checked field by field and every checksum verified with a naive reference sum written here.

use std::sync::Arc;

use etherparse::PacketBuilder;
use mgmt_api::config::Config;

use super::session::TimerClass;
use super::tcp::TcpState;
use super::timers::NS;
use crate::frame::{Frame, RxMeta, FRAME_SIZE};
use crate::pipeline::{OutcomeKind, Pipeline};
use crate::stats::{Direction, DropReason};
use crate::tables::Snapshot;
use crate::xlat::Side;

pub(crate) const C6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
pub(crate) const C6B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6];
pub(crate) const S4: [u8; 4] = [198, 51, 100, 7];
pub(crate) const S4B: [u8; 4] = [198, 51, 100, 8];
const POOL4: [u8; 4] = [203, 0, 113, 1];

/// pool6 2001:db8:64::/96 + an IPv4 address.
pub(crate) fn s6(v4: [u8; 4]) -> [u8; 16] {
    let mut a = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    a[12..].copy_from_slice(&v4);
    a
}

pub(crate) fn snapshot(extra: &str) -> Arc<Snapshot> {
    let toml = format!(
        r#"
[[tenants]]
name = "n"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
own_ipv6 = "2001:db8:ffff::1"
{extra}
"#
    );
    let toml = if toml.contains("[[tenants.pool4]]") {
        toml
    } else {
        format!("{toml}\n[[tenants.pool4]]\nprefix = \"203.0.113.1/32\"\n")
    };
    let cfg = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    Arc::new(Snapshot::compile(&cfg).unwrap_or_else(|e| panic!("{e}")))
}

pub(crate) struct Nat {
    pub p: Pipeline,
}

pub(crate) struct Run {
    pub kind: OutcomeKind,
    pub out: Vec<(Vec<u8>, Side)>,
}

impl Run {
    #[track_caller]
    pub fn one(&self) -> &[u8] {
        assert_eq!(
            self.kind,
            OutcomeKind::Translated { packets: 1 },
            "{:?}",
            self.kind
        );
        assert_eq!(self.out.len(), 1);
        assert_checksums(&self.out[0].0);
        &self.out[0].0
    }

    #[track_caller]
    pub fn dropped(&self, r: DropReason) {
        assert_eq!(self.kind, OutcomeKind::Dropped(r));
        assert!(self.out.is_empty());
    }
}

impl Nat {
    pub fn new(extra: &str) -> Nat {
        Nat {
            p: Pipeline::new(snapshot(extra)),
        }
    }

    pub fn run(&mut self, pkt: &[u8]) -> Run {
        self.run_meta(pkt, RxMeta::default())
    }

    pub fn run_meta(&mut self, pkt: &[u8], meta: RxMeta) -> Run {
        let mut buf = vec![0u8; FRAME_SIZE.max(pkt.len() + 512)];
        let mut frame = Frame::copy_from(&mut buf, pkt).expect("fits");
        frame.meta = meta;
        let mut out = Vec::new();
        let o = self
            .p
            .process(&mut frame, &mut |o| out.push((o.packet.to_vec(), o.side)));
        Run { kind: o.kind, out }
    }

    pub fn at(&mut self, secs: u64) {
        self.p.set_now(secs * NS);
    }

    /// Runs timers until `secs`; the packets they emit.
    pub fn timers(&mut self, secs: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.p
            .run_timers_until(secs * NS, &mut |o| out.push(o.packet.to_vec()));
        out
    }

    pub fn sessions(&self) -> usize {
        self.p.nat64().map_or(0, |s| s.sessions.len())
    }

    pub fn bibs(&self) -> usize {
        self.p.nat64().map_or(0, |s| s.bib.len())
    }

    pub fn tcp_state(&self) -> TcpState {
        let st = self.p.nat64().unwrap();
        let mut it = st.sessions.iter();
        let (_, s) = it.next().expect("a session");
        assert!(it.next().is_none(), "one session");
        s.state
    }

    pub fn dropped(&self, d: Direction, r: DropReason) -> u64 {
        self.p.stats().dir(d).dropped[r as usize]
    }
}

// ---------- packets ----------

pub(crate) fn udp6(src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, b"nat64 payload")
        .unwrap();
    v
}

pub(crate) fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, b"reply payload")
        .unwrap();
    v
}

#[derive(Clone, Copy)]
pub(crate) enum F {
    Syn,
    SynAck,
    Ack,
    Fin,
    Rst,
}

type TcpStep = etherparse::PacketBuilderStep<etherparse::TcpHeader>;

fn tcp_flags(b: TcpStep, f: F) -> TcpStep {
    match f {
        F::Syn => b.syn(),
        F::SynAck => b.syn().ack(1),
        F::Ack => b.ack(1),
        F::Fin => b.fin().ack(1),
        F::Rst => b.rst(),
    }
}

pub(crate) fn tcp6(src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16, f: F) -> Vec<u8> {
    let mut v = Vec::new();
    tcp_flags(
        PacketBuilder::ipv6(src, dst, 64).tcp(sport, dport, 1000, 8192),
        f,
    )
    .write(&mut v, b"")
    .unwrap();
    v
}

pub(crate) fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, f: F) -> Vec<u8> {
    let mut v = Vec::new();
    tcp_flags(
        PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, 2000, 8192),
        f,
    )
    .write(&mut v, b"")
    .unwrap();
    v
}

fn echo6(src: [u8; 16], dst: [u8; 16], id: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .icmpv6_echo_request(id, 9)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

fn echo_reply4(src: [u8; 4], dst: [u8; 4], id: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .icmpv4_echo_reply(id, 9)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

// ---------- reading outputs ----------

pub(crate) fn v4_src(p: &[u8]) -> ([u8; 4], u16) {
    (
        p[12..16].try_into().unwrap(),
        u16::from_be_bytes([p[20], p[21]]),
    )
}

pub(crate) fn v4_dst(p: &[u8]) -> ([u8; 4], u16) {
    (
        p[16..20].try_into().unwrap(),
        u16::from_be_bytes([p[22], p[23]]),
    )
}

pub(crate) fn v6_src(p: &[u8]) -> ([u8; 16], u16) {
    (
        p[8..24].try_into().unwrap(),
        u16::from_be_bytes([p[40], p[41]]),
    )
}

pub(crate) fn v6_dst(p: &[u8]) -> ([u8; 16], u16) {
    (
        p[24..40].try_into().unwrap(),
        u16::from_be_bytes([p[42], p[43]]),
    )
}

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

/// Asserts every checksum of `pkt` (IPv4 header, TCP/UDP/ICMP/ICMPv6; the quoted packet of an ICMP error
/// too when it was quoted whole).
pub(crate) fn assert_checksums(pkt: &[u8]) {
    match pkt[0] >> 4 {
        4 => {
            let hl = usize::from(pkt[0] & 0xf) * 4;
            assert!(folds_to_ffff(naive_sum(&pkt[..hl])), "IPv4 header checksum");
            let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
            let proto = pkt[9];
            let l4 = &pkt[hl..total];
            let s = match proto {
                1 => naive_sum(l4),
                6 | 17 => {
                    naive_sum(&pkt[12..20]) + u32::from(proto) + l4.len() as u32 + naive_sum(l4)
                }
                _ => return,
            };
            assert!(folds_to_ffff(s), "IPv4 L4 checksum, protocol {proto}");
            if proto == 1 && matches!(l4[0], 3 | 11 | 12) && l4.len() >= 28 {
                let inner = &l4[8..];
                if usize::from(u16::from_be_bytes([inner[2], inner[3]])) == inner.len() {
                    assert_checksums(inner);
                }
            }
        }
        6 => {
            let next = pkt[6];
            let total = 40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            let l4 = &pkt[40..total];
            if !matches!(next, 6 | 17 | 58) {
                return;
            }
            let s = naive_sum(&pkt[8..40]) + u32::from(next) + l4.len() as u32 + naive_sum(l4);
            assert!(folds_to_ffff(s), "IPv6 L4 checksum, next header {next}");
            if next == 58 && l4[0] < 128 && l4.len() >= 48 {
                let inner = &l4[8..];
                if 40 + usize::from(u16::from_be_bytes([inner[4], inner[5]])) == inner.len() {
                    assert_checksums(inner);
                }
            }
        }
        v => panic!("not IP: version {v}"),
    }
}

// ---------- RFC 6146 §3.5.1: UDP, endpoint-independent mapping ----------

#[test]
fn rfc6146_3_5_1_1_udp_binding_and_session_both_ways() {
    let mut n = Nat::new("");
    let r = n.run(&udp6(C6, 5000, s6(S4), 53));
    let out = r.one();
    assert_eq!(r.out[0].1, Side::V4);
    let (src4, port4) = v4_src(out);
    assert_eq!(src4, POOL4);
    assert!(
        port4 >= 1024 && port4 % 2 == 0,
        "range and parity kept: {port4}"
    );
    assert_eq!(v4_dst(out), (S4, 53));
    assert_eq!(out[8], 63, "TTL decremented");
    assert_eq!(&out[28..], b"nat64 payload");
    assert_eq!((n.bibs(), n.sessions()), (1, 1));

    let r = n.run(&udp4(S4, 53, POOL4, port4));
    let back = r.one();
    assert_eq!(r.out[0].1, Side::V6);
    assert_eq!(v6_src(back), (s6(S4), 53));
    assert_eq!(v6_dst(back), (C6, 5000));
    assert_eq!(&back[48..], b"reply payload");
    assert_eq!(n.sessions(), 1);
}

#[test]
fn rfc6146_3_5_1_1_endpoint_independent_mapping() {
    let mut n = Nat::new("");
    let a = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    let b = v4_src(n.run(&udp6(C6, 5000, s6(S4B), 123)).one());
    assert_eq!(a, b, "same binding for every destination");
    let c = v4_src(n.run(&udp6(C6, 5001, s6(S4), 53)).one());
    assert_ne!(a.1, c.1);
    assert_eq!(c.1 % 2, 1, "odd source port, odd pool4 port");
    assert_eq!((n.bibs(), n.sessions()), (2, 3));
}

#[test]
fn rfc6146_3_5_1_2_endpoint_independent_filtering() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    // Another host, another port: let in (and a session created).
    let r = n.run(&udp4(S4B, 999, POOL4, port4));
    assert_eq!(v6_dst(r.one()), (C6, 5000));
    assert_eq!(v6_src(&r.out[0].0), (s6(S4B), 999));
    assert_eq!(n.sessions(), 2);
    // No binding at all: dropped.
    n.run(&udp4(S4, 53, POOL4, port4 ^ 2))
        .dropped(DropReason::Nat64NoBinding);
}

#[test]
fn rfc6146_3_5_1_2_address_dependent_filtering() {
    let mut n = Nat::new("[tenants.nat64]\nfiltering = \"address_dependent\"\n");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    n.run(&udp4(S4B, 53, POOL4, port4))
        .dropped(DropReason::Nat64Filtered);
    // The same host from another port: allowed (address-dependent, not address-and-port).
    assert_eq!(v6_dst(n.run(&udp4(S4, 54, POOL4, port4)).one()), (C6, 5000));
    // Once the client has sent to S4B, S4B gets in.
    n.run(&udp6(C6, 5000, s6(S4B), 7)).one();
    assert_eq!(v6_dst(n.run(&udp4(S4B, 8, POOL4, port4)).one()), (C6, 5000));
    assert_eq!(n.dropped(Direction::V4ToV6, DropReason::Nat64Filtered), 1);
    // Permission ends with the sessions to that host (even before the timer pass reaps them).
    n.run(&udp6(C6, 5000, s6(S4), 1)).one(); // keeps the binding alive
    n.at(250);
    n.run(&udp6(C6, 5000, s6(S4), 1)).one();
    n.at(400);
    n.run(&udp4(S4B, 9, POOL4, port4))
        .dropped(DropReason::Nat64Filtered);
}

#[test]
fn rfc6146_4_udp_timeout_and_binding_release() {
    let mut n = Nat::new("[tenants.nat64.timeouts]\nudp = 120\n");
    n.at(10);
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    n.at(100);
    n.run(&udp4(S4, 53, POOL4, port4)).one(); // refreshes: at least until 220, at most one step more
    n.timers(220);
    assert_eq!(n.sessions(), 1);
    assert!(n.timers(221).is_empty());
    assert_eq!(
        (n.sessions(), n.bibs()),
        (0, 0),
        "binding goes with its last session"
    );
    n.run(&udp4(S4, 53, POOL4, port4))
        .dropped(DropReason::Nat64NoBinding);
}

#[test]
fn lazy_expiry_without_a_timer_pass() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    n.at(301);
    n.run(&udp4(S4, 53, POOL4, port4))
        .dropped(DropReason::Nat64NoBinding);
    assert_eq!(n.sessions(), 0);
}

// ---------- RFC 6146 §3.5.3: ICMP query ----------

#[test]
fn rfc6146_3_5_3_icmp_echo_identifier_is_the_port() {
    let mut n = Nat::new("");
    let r = n.run(&echo6(C6, s6(S4), 0x1234));
    let out = r.one();
    assert_eq!(out[9], 1);
    assert_eq!(out[20], 8, "echo request");
    let id4 = u16::from_be_bytes([out[24], out[25]]);
    let r = n.run(&echo_reply4(S4, POOL4, id4));
    let back = r.one();
    assert_eq!(back[40], 129, "echo reply");
    assert_eq!(u16::from_be_bytes([back[44], back[45]]), 0x1234);
    assert_eq!(&back[24..40], &C6);
    // ICMP sessions last 60 s.
    n.timers(61);
    assert_eq!(n.sessions(), 0);
}

// ---------- RFC 6146 §3.5.2: TCP ----------

#[test]
fn rfc6146_3_5_2_2_v6_open_established_and_close() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
    assert_eq!(n.tcp_state(), TcpState::V6Init);
    assert_eq!(
        v6_dst(n.run(&tcp4(S4, 80, POOL4, port4, F::SynAck)).one()),
        (C6, 40000)
    );
    assert_eq!(n.tcp_state(), TcpState::Established);
    n.run(&tcp6(C6, 40000, s6(S4), 80, F::Ack)).one();
    n.run(&tcp4(S4, 80, POOL4, port4, F::Fin)).one();
    assert_eq!(n.tcp_state(), TcpState::V4FinRcv);
    n.run(&tcp6(C6, 40000, s6(S4), 80, F::Fin)).one();
    assert_eq!(n.tcp_state(), TcpState::V4FinV6FinRcv);
    n.run(&tcp4(S4, 80, POOL4, port4, F::Ack)).one();
    n.timers(240);
    assert_eq!(n.sessions(), 1);
    n.timers(241);
    assert_eq!(
        (n.sessions(), n.bibs()),
        (0, 0),
        "TCP_TRANS after both FINs"
    );
}

#[test]
fn rfc6146_3_5_2_2_v6_fin_first_and_rst() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
    n.run(&tcp4(S4, 80, POOL4, port4, F::SynAck)).one();
    n.run(&tcp6(C6, 40000, s6(S4), 80, F::Fin)).one();
    assert_eq!(n.tcp_state(), TcpState::V6FinRcv);
    n.run(&tcp4(S4, 80, POOL4, port4, F::Rst)).one();
    assert_eq!(n.tcp_state(), TcpState::Trans);
    // Anything but a RST revives a TRANS session.
    n.run(&tcp6(C6, 40000, s6(S4), 80, F::Ack)).one();
    assert_eq!(n.tcp_state(), TcpState::Established);
    n.run(&tcp6(C6, 40000, s6(S4), 80, F::Rst)).one();
    assert_eq!(n.tcp_state(), TcpState::Trans);
    n.timers(241);
    assert_eq!(n.sessions(), 0);
}

#[test]
fn rfc6146_3_5_2_2_established_idle_timeout_goes_through_trans() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
    n.run(&tcp4(S4, 80, POOL4, port4, F::SynAck)).one();
    n.timers(7440);
    assert_eq!(n.tcp_state(), TcpState::Established);
    n.timers(7441);
    assert_eq!(n.tcp_state(), TcpState::Trans);
    n.at(7500);
    n.run(&tcp4(S4, 80, POOL4, port4, F::Ack)).one();
    assert_eq!(n.tcp_state(), TcpState::Established);
    n.timers(7500 + 7440 + 1 + 240);
    assert_eq!(n.sessions(), 0);
}

#[test]
fn rfc6146_3_5_2_2_v6_init_times_out_in_tcp_trans() {
    let mut n = Nat::new("");
    n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one();
    n.timers(240);
    assert_eq!(n.sessions(), 1);
    n.timers(241);
    assert_eq!((n.sessions(), n.bibs()), (0, 0));
}

#[test]
fn tcp_segments_without_session_are_dropped() {
    let mut n = Nat::new("");
    n.run(&tcp6(C6, 40000, s6(S4), 80, F::Ack))
        .dropped(DropReason::Nat64TcpNoSession);
    assert_eq!(n.bibs(), 0, "no binding for a non-SYN");
    let (_, port4) = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
    // A non-SYN from another IPv4 host to the binding.
    n.run(&tcp4(S4B, 80, POOL4, port4, F::Ack))
        .dropped(DropReason::Nat64TcpNoSession);
    // An IPv4 SYN from another host, endpoint-independent filtering: V4 INIT.
    n.run(&tcp4(S4B, 81, POOL4, port4, F::Syn)).one();
    assert_eq!(n.sessions(), 2);
}

#[test]
fn rfc6146_3_5_2_2_v4_init_then_v6_syn_establishes() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
    let r = n.run(&tcp4(S4B, 5555, POOL4, port4, F::Syn));
    assert_eq!(v6_dst(r.one()), (C6, 40000));
    let st = n.p.nat64().unwrap();
    let s = st
        .sessions
        .iter()
        .find(|(_, s)| s.remote4 == S4B)
        .unwrap()
        .1;
    assert_eq!(
        (s.state, s.class),
        (TcpState::V4Init, TimerClass::TcpTransitory)
    );
    n.run(&tcp6(C6, 40000, s6(S4B), 5555, F::SynAck)).one();
    let st = n.p.nat64().unwrap();
    let s = st
        .sessions
        .iter()
        .find(|(_, s)| s.remote4 == S4B)
        .unwrap()
        .1;
    assert_eq!(s.state, TcpState::Established);
}

#[test]
fn rfc6146_3_5_2_2_unsolicited_v4_syn_held_then_port_unreachable() {
    let mut n = Nat::new("");
    n.at(100);
    let syn = tcp4(S4, 5555, POOL4, 3000, F::Syn);
    n.run(&syn).dropped(DropReason::Nat64SynHeld);
    n.run(&syn).dropped(DropReason::Nat64SynHeld); // a retransmission is held once
    assert!(n.timers(105).is_empty(), "held at least 6 s");
    let out = n.timers(106);
    assert_eq!(out.len(), 1);
    let icmp = &out[0];
    assert_checksums(icmp);
    assert_eq!(
        (icmp[9], icmp[20], icmp[21]),
        (1, 3, 3),
        "ICMP Port Unreachable"
    );
    assert_eq!(&icmp[16..20], &S4);
    assert_eq!(&icmp[28..28 + syn.len()], &syn[..], "quotes the SYN");
    assert!(n.timers(1000).is_empty());
    assert_eq!(n.p.stats().dir(Direction::V4ToV6).icmp_errors_sent, 1);
}

#[test]
fn rfc6146_3_5_2_2_simultaneous_open_claims_the_held_syn() {
    // Address-dependent filtering: the client's binding exists, the IPv4 peer's SYN is not let in but held;
    // the client's own SYN to that peer claims it (no ICMP error later) and the session is established.
    let mut n = Nat::new("[tenants.nat64]\nfiltering = \"address_dependent\"\n");
    let (_, port4) = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
    n.run(&tcp4(S4B, 6000, POOL4, port4, F::Syn))
        .dropped(DropReason::Nat64SynHeld);
    n.run(&tcp6(C6, 40000, s6(S4B), 6000, F::Syn)).one();
    let st = n.p.nat64().unwrap();
    assert!(st.held.is_empty());
    let s = st
        .sessions
        .iter()
        .find(|(_, s)| s.remote4 == S4B)
        .unwrap()
        .1;
    assert_eq!(s.state, TcpState::Established);
    assert!(n.timers(10).is_empty(), "no Port Unreachable");
    // The peer's retransmitted SYN now passes.
    assert_eq!(
        v6_dst(n.run(&tcp4(S4B, 6000, POOL4, port4, F::Syn)).one()),
        (C6, 40000)
    );
}

#[test]
fn held_syn_store_is_bounded() {
    let snap = snapshot("");
    let cap = super::Nat64Capacity {
        sessions: 16,
        held_syns: 2,
    };
    let mut n = Nat {
        p: Pipeline::with_nat64_capacity(snap, 0, 1, cap),
    };
    n.run(&tcp4(S4, 1, POOL4, 3000, F::Syn))
        .dropped(DropReason::Nat64SynHeld);
    n.run(&tcp4(S4, 2, POOL4, 3000, F::Syn))
        .dropped(DropReason::Nat64SynHeld);
    n.run(&tcp4(S4, 3, POOL4, 3000, F::Syn))
        .dropped(DropReason::Nat64SynStoreFull);
}

// ---------- static BIB, hairpinning ----------

const STATIC: &str = r#"
[[tenants.static_bib]]
protocol = "tcp"
ipv4 = "203.0.113.1#80"
ipv6 = "2001:db8:2::10#8080"
"#;
const SERVER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[test]
fn static_bib_lets_ipv4_clients_reach_an_ipv6_server() {
    let mut n = Nat::new(STATIC);
    assert_eq!(n.bibs(), 1);
    let r = n.run(&tcp4(S4, 5555, POOL4, 80, F::Syn));
    let out = r.one();
    assert_eq!(v6_dst(out), (SERVER6, 8080));
    assert_eq!(v6_src(out), (s6(S4), 5555));
    let r = n.run(&tcp6(SERVER6, 8080, s6(S4), 5555, F::SynAck));
    assert_eq!(v4_src(r.one()), (POOL4, 80));
    assert_eq!(n.tcp_state(), TcpState::Established);
    n.run(&tcp4(S4, 5555, POOL4, 80, F::Rst)).one();
    n.timers(1000);
    assert_eq!((n.sessions(), n.bibs()), (0, 1), "static bindings stay");
}

#[test]
fn rfc6146_3_8_hairpinning() {
    let mut n = Nat::new(STATIC);
    // Client A has a UDP binding...
    let (_, a4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    // ...client B sends to it through the translator: B's binding is used as the source.
    let r = n.run(&udp6(C6B, 7000, s6(POOL4), a4));
    let out = r.one();
    assert_eq!(r.out[0].1, Side::V6);
    assert_eq!(v6_dst(out), (C6, 5000));
    let (src6, b4) = v6_src(out);
    assert_eq!(src6, s6(POOL4));
    assert_eq!(out[7], 62, "two router hops");
    // A answers B through B's binding.
    let r = n.run(&udp6(C6, 5000, s6(POOL4), b4));
    assert_eq!(v6_dst(r.one()), (C6B, 7000));
    // An IPv6 client reaches the static server through pool4 as well.
    let r = n.run(&tcp6(C6B, 7001, s6(POOL4), 80, F::Syn));
    assert_eq!(v6_dst(r.one()), (SERVER6, 8080));
}

// ---------- exhaustion and limits ----------

#[test]
fn rfc6146_3_5_1_1_pool_exhaustion_answers_address_unreachable() {
    let mut n = Nat::new("[[tenants.pool4]]\nprefix = \"203.0.113.1/32\"\nudp = \"5000-5001\"\n");
    n.run(&udp6(C6, 6000, s6(S4), 53)).one();
    let (_, p) = v4_src(n.run(&udp6(C6, 6002, s6(S4), 53)).one());
    assert_eq!(p, 5001, "the other parity when one is exhausted");
    let r = n.run(&udp6(C6, 6004, s6(S4), 53));
    assert_eq!(
        r.kind,
        OutcomeKind::IcmpError(DropReason::Nat64PoolExhausted)
    );
    let icmp = &r.out[0].0;
    assert_eq!(r.out[0].1, Side::V6);
    assert_checksums(icmp);
    assert_eq!(
        (icmp[40], icmp[41]),
        (1, 3),
        "Destination Unreachable, Address Unreachable"
    );
    assert_eq!(&icmp[24..40], &C6);
    // Existing bindings still work.
    n.run(&udp6(C6, 6000, s6(S4B), 53)).one();
}

#[test]
fn tenant_session_limit() {
    let mut n = Nat::new("[tenants.nat64]\nmax_sessions = 2\n");
    n.run(&udp6(C6, 6000, s6(S4), 53)).one();
    n.run(&udp6(C6, 6000, s6(S4B), 53)).one();
    let r = n.run(&udp6(C6, 6001, s6(S4), 53));
    assert_eq!(
        r.kind,
        OutcomeKind::IcmpError(DropReason::Nat64SessionLimit)
    );
    assert_eq!(n.bibs(), 1, "no binding left behind");
    n.timers(301);
    n.run(&udp6(C6, 6001, s6(S4), 53)).one();
}

#[test]
fn worker_table_full() {
    let snap = snapshot("");
    let cap = super::Nat64Capacity {
        sessions: 1,
        held_syns: 1,
    };
    let mut n = Nat {
        p: Pipeline::with_nat64_capacity(snap, 0, 1, cap),
    };
    let (_, port4) = v4_src(n.run(&udp6(C6, 6000, s6(S4), 53)).one());
    let r = n.run(&udp6(C6, 6000, s6(S4B), 53));
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::Nat64TableFull));
    n.run(&udp4(S4B, 53, POOL4, port4))
        .dropped(DropReason::Nat64TableFull);
}

// ---------- ICMP errors (RFC 6146 §3.4, RFC 7915 §4.3, §5.3) ----------

#[test]
fn icmpv4_error_translated_through_the_session() {
    let mut n = Nat::new("");
    let sent = n.run(&udp6(C6, 5000, s6(S4), 53)).one().to_vec();
    let router = [192, 0, 2, 99];
    let mut err = Vec::new();
    PacketBuilder::ipv4(router, POOL4, 64)
        .icmpv4_raw(3, 1, [0; 4]) // host unreachable
        .write(&mut err, &sent)
        .unwrap();
    let r = n.run(&err);
    let out = r.one();
    assert_eq!(r.out[0].1, Side::V6);
    assert_eq!(
        (out[40], out[41]),
        (1, 0),
        "RFC 7915 §4.2: host unreachable → no route"
    );
    assert_eq!(&out[8..24], &s6(router));
    assert_eq!(&out[24..40], &C6);
    let inner = &out[48..];
    assert_eq!(v6_src(inner), (C6, 5000));
    assert_eq!(v6_dst(inner), (s6(S4), 53));
    // Nothing known about the quoted packet: dropped.
    let mut other = sent.clone();
    other[22..24].copy_from_slice(&99u16.to_be_bytes()); // another destination port
    let mut err = Vec::new();
    PacketBuilder::ipv4(router, POOL4, 64)
        .icmpv4_raw(3, 1, [0; 4])
        .write(&mut err, &other)
        .unwrap();
    n.run(&err).dropped(DropReason::Nat64IcmpNoSession);
}

#[test]
fn icmpv6_error_translated_through_the_session() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    let sent = n.run(&udp4(S4, 53, POOL4, port4)).one().to_vec();
    // The client answers the reply with Port Unreachable.
    let mut err = Vec::new();
    PacketBuilder::ipv6(C6, s6(S4), 64)
        .icmpv6_raw(1, 4, [0; 4])
        .write(&mut err, &sent)
        .unwrap();
    let r = n.run(&err);
    let out = r.one();
    assert_eq!(r.out[0].1, Side::V4);
    assert_eq!((out[20], out[21]), (3, 3), "ICMPv4 Port Unreachable");
    assert_eq!(
        &out[12..16],
        &POOL4,
        "the client has no IPv4 address: the binding's is used"
    );
    assert_eq!(&out[16..20], &S4);
    let inner = &out[28..];
    assert_eq!(v4_src(inner), (S4, 53));
    assert_eq!(v4_dst(inner), (POOL4, port4));
}

#[test]
fn icmp_error_about_an_echo() {
    let mut n = Nat::new("");
    let sent = n.run(&echo6(C6, s6(S4), 77)).one().to_vec();
    let mut err = Vec::new();
    PacketBuilder::ipv4([192, 0, 2, 99], POOL4, 64)
        .icmpv4_raw(11, 0, [0; 4])
        .write(&mut err, &sent)
        .unwrap();
    let out = n.run(&err).one().to_vec();
    assert_eq!(out[40], 3, "Time Exceeded");
    let inner = &out[48..];
    assert_eq!(&inner[8..24], &C6);
    assert_eq!(inner[40], 128);
    assert_eq!(u16::from_be_bytes([inner[44], inner[45]]), 77);
}

// ---------- workers ----------

#[test]
fn packets_of_another_worker_are_handed_off() {
    let snap = snapshot("");
    let mut w: Vec<Nat> = (0..4)
        .map(|i| Nat {
            p: Pipeline::new_worker(Arc::clone(&snap), i, 4),
        })
        .collect();
    let pkt = udp6(C6, 5000, s6(S4), 53);
    let owner = super::owner6_hash(super::Proto::Udp, &C6, 5000, 4);
    let other = (owner + 1) % 4;
    let r = w[usize::from(other)].run(&pkt);
    assert_eq!(r.kind, OutcomeKind::HandedOff { worker: owner });
    assert!(r.out.is_empty());
    assert_eq!(
        w[usize::from(other)]
            .p
            .stats()
            .dir(Direction::V6ToV4)
            .received,
        0
    );
    assert_eq!(
        w[usize::from(other)]
            .p
            .stats()
            .dir(Direction::V6ToV4)
            .handed_off,
        1
    );
    let (_, port4) = v4_src(w[usize::from(owner)].run(&pkt).one());
    assert_eq!(
        super::pool4::owner(Default::default(), 4, port4),
        super::pool4::Owner::Worker(owner),
        "allocated from the owner's slice"
    );
    let reply = udp4(S4, 53, POOL4, port4);
    let r = w[usize::from(other)].run(&reply);
    assert_eq!(r.kind, OutcomeKind::HandedOff { worker: owner });
    assert_eq!(v6_dst(w[usize::from(owner)].run(&reply).one()), (C6, 5000));
}

#[test]
fn foreign_appliance_slice_is_dropped() {
    let mut n = Nat::new("[tenants.nat64]\nappliance_slice = { index = 1, count = 2 }\n");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    assert_eq!((port4 / 32) % 2, 1, "allocated from slice 1");
    let foreign = port4 - 32;
    n.run(&udp4(S4, 53, POOL4, foreign))
        .dropped(DropReason::Nat64ForeignSlice);
}

#[test]
fn siit_tenants_beside_nat64_are_unaffected() {
    let toml = r#"
[[tenants]]
name = "s"
id = 2
pool6 = "2001:db8:46::/96"
[[tenants]]
name = "n"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "203.0.113.1/32"
"#;
    let snap = Arc::new(Snapshot::compile(&Config::from_toml_str(toml).unwrap()).unwrap());
    let mut n = Nat {
        p: Pipeline::new(snap),
    };
    // pool4 destination → the NAT64 tenant; any other → the SIIT one.
    n.run(&udp4(S4, 53, POOL4, 5000))
        .dropped(DropReason::Nat64NoBinding);
    let mut siit_dst = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0x46, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    siit_dst[12..].copy_from_slice(&[192, 0, 2, 1]);
    let r = n.run(&udp4(S4, 53, [192, 0, 2, 1], 5000));
    assert_eq!(v6_dst(r.one()).0, siit_dst);
}

#[test]
fn session_log_json_lines() {
    let mut n = Nat::new("[tenants.nat64]\nlog_sessions = true\n");
    n.at(7);
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    n.run(&udp6(C6, 5000, s6(S4), 53)).one(); // same session: no event
    n.timers(308);
    let mut lines = Vec::new();
    assert_eq!(n.p.drain_session_log(&mut |l| lines.push(l.to_string())), 2);
    assert_eq!(
        lines[0],
        format!(
            r#"{{"time_ns":7000000000,"event":"create","tenant":"n","protocol":"udp","ipv6":"2001:db8:1::5#5000","ipv4":"203.0.113.1#{port4}","remote":"198.51.100.7#53"}}"#
        )
    );
    assert!(
        lines[1].starts_with(r#"{"time_ns":308000000000,"event":"delete""#),
        "{}",
        lines[1]
    );
    assert_eq!(n.p.drain_session_log(&mut |_| ()), 0);
    // Off by default.
    let mut n = Nat::new("");
    n.run(&udp6(C6, 5000, s6(S4), 53)).one();
    assert_eq!(n.p.drain_session_log(&mut |_| ()), 0);
}

#[test]
fn bogus_ipv6_sources_get_no_binding() {
    let mut n = Nat::new("");
    let mut mcast = [0u8; 16];
    mcast[0] = 0xff;
    mcast[15] = 1;
    let mut lo = [0u8; 16];
    lo[15] = 1;
    for src in [[0u8; 16], lo, mcast] {
        n.run(&udp6(src, 5000, s6(S4), 53))
            .dropped(DropReason::SrcUntranslatable);
    }
    assert_eq!(n.bibs(), 0);
}

// ---------- fragments ----------

fn frag6(
    src: [u8; 16],
    dst: [u8; 16],
    ident: u32,
    offset: u16,
    more: bool,
    chunk: &[u8],
) -> Vec<u8> {
    let mut v = vec![0u8; 48];
    v[0] = 0x60;
    v[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
    v[6] = 44;
    v[7] = 64;
    v[8..24].copy_from_slice(&src);
    v[24..40].copy_from_slice(&dst);
    v[40] = 17;
    v[42..44].copy_from_slice(&(offset | u16::from(more)).to_be_bytes());
    v[44..48].copy_from_slice(&ident.to_be_bytes());
    v.extend_from_slice(chunk);
    v
}

fn frag4(whole: &[u8], offset: usize, len: usize, more: bool) -> Vec<u8> {
    let mut v = whole[..20].to_vec();
    v.extend_from_slice(&whole[20 + offset..20 + offset + len]);
    v[2..4].copy_from_slice(&((20 + len) as u16).to_be_bytes());
    let flags = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
    v[6..8].copy_from_slice(&flags.to_be_bytes());
    v[10..12].copy_from_slice(&[0, 0]);
    let c = !fold(naive_sum(&v[..20]));
    v[10..12].copy_from_slice(&c.to_be_bytes());
    v
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn big_udp6() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(C6, s6(S4), 64)
        .udp(5000, 53)
        .write(&mut v, &[0xab; 100])
        .unwrap();
    v
}

#[test]
fn fragments_v6_to_v4_follow_their_first_fragment() {
    let mut n = Nat::new("");
    let udp = big_udp6()[40..].to_vec(); // 108 bytes
    let r0 = n.run(&frag6(C6, s6(S4), 0x1234_5678, 0, true, &udp[..56]));
    let r1 = n.run(&frag6(C6, s6(S4), 0x1234_5678, 56, false, &udp[56..]));
    assert_eq!(r0.kind, OutcomeKind::Translated { packets: 1 });
    assert_eq!(r1.kind, OutcomeKind::Translated { packets: 1 });
    let (a, b) = (&r0.out[0].0, &r1.out[0].0);
    assert_eq!(
        u16::from_be_bytes([a[4], a[5]]),
        0x5678,
        "identification: low 16 bits"
    );
    assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0x2000, "MF, offset 0");
    assert_eq!(u16::from_be_bytes([b[6], b[7]]), 56 / 8, "offset 56");
    assert_eq!(&b[4..6], &a[4..6]);
    assert_eq!(&a[12..16], &POOL4);
    assert_eq!(&b[12..16], &POOL4);
    assert_eq!(&b[16..20], &S4);
    // The reassembled datagram's UDP checksum is right.
    let mut seg = a[20..].to_vec();
    seg.extend_from_slice(&b[20..]);
    assert_eq!(seg.len(), 108);
    let s = naive_sum(&a[12..20]) + 17 + seg.len() as u32 + naive_sum(&seg);
    assert!(folds_to_ffff(s), "UDP checksum of the reassembled datagram");
    assert_eq!(u16::from_be_bytes([seg[2], seg[3]]), 53);
    // A later fragment of an unknown datagram: held for its first fragment (RFC 6146 §3.4).
    n.run(&frag6(C6, s6(S4), 99, 56, false, &udp[56..]))
        .dropped(DropReason::Nat64FragmentHeld);
}

#[test]
fn fragments_v4_to_v6_follow_their_first_fragment() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    let mut whole = Vec::new();
    PacketBuilder::ipv4(S4, POOL4, 64)
        .udp(53, port4)
        .write(&mut whole, &[0xcd; 100])
        .unwrap();
    whole[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
    let r0 = n.run(&frag4(&whole, 0, 56, true));
    let r1 = n.run(&frag4(&whole, 56, 52, false));
    assert_eq!(
        r0.kind,
        OutcomeKind::Translated { packets: 1 },
        "{:?}",
        r0.kind
    );
    assert_eq!(
        r1.kind,
        OutcomeKind::Translated { packets: 1 },
        "{:?}",
        r1.kind
    );
    let (a, b) = (&r0.out[0].0, &r1.out[0].0);
    for p in [a, b] {
        assert_eq!(p[6], 44, "Fragment Header");
        assert_eq!(&p[24..40], &C6);
        assert_eq!(&p[8..24], &s6(S4));
        assert_eq!(u32::from_be_bytes([p[44], p[45], p[46], p[47]]), 0x4242);
    }
    assert_eq!(u16::from_be_bytes([a[42], a[43]]), 1, "offset 0, M");
    assert_eq!(u16::from_be_bytes([b[42], b[43]]), 56, "offset 56, last");
    let mut seg = a[48..].to_vec();
    seg.extend_from_slice(&b[48..]);
    assert_eq!(u16::from_be_bytes([seg[2], seg[3]]), 5000);
    let s = naive_sum(&a[8..40]) + 17 + seg.len() as u32 + naive_sum(&seg);
    assert!(folds_to_ffff(s), "UDP checksum of the reassembled datagram");
    // Fragmented IPv4 UDP without checksum cannot be translated.
    let mut nock = whole.clone();
    nock[26..28].copy_from_slice(&[0, 0]);
    n.run(&frag4(&nock, 0, 56, true))
        .dropped(DropReason::UdpChecksumZero);
    // Fragments expire with their first fragment's memory: a late one waits for a first fragment again.
    n.at(3);
    n.run(&frag4(&whole, 56, 52, false))
        .dropped(DropReason::Nat64FragmentHeld);
}

#[test]
fn fragments_follow_their_first_fragment_to_the_owner() {
    let snap = snapshot("");
    let mut w: Vec<Nat> = (0..4)
        .map(|i| Nat {
            p: Pipeline::new_worker(Arc::clone(&snap), i, 4),
        })
        .collect();
    let owner = usize::from(super::owner6_hash(super::Proto::Udp, &C6, 5000, 4));
    let other = (owner + 1) % 4;
    let udp = big_udp6()[40..].to_vec();
    let f0 = frag6(C6, s6(S4), 7, 0, true, &udp[..56]);
    let f1 = frag6(C6, s6(S4), 7, 56, false, &udp[56..]);
    for f in [&f0, &f1] {
        let r = w[other].run(f);
        assert_eq!(
            r.kind,
            OutcomeKind::HandedOff {
                worker: owner as u16
            }
        );
        let r = w[owner].run(f);
        assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
        assert_eq!(&r.out[0].0[12..16], &POOL4);
    }
}

// ---------- RFC 6146 §3.4: fragments that arrive before their first fragment are held ----------

/// A 164-byte UDP datagram from C6#5000 to S4#53 split at 56 and 112: its three IPv6 fragments.
fn three_frags6(ident: u32) -> [Vec<u8>; 3] {
    let mut v = Vec::new();
    PacketBuilder::ipv6(C6, s6(S4), 64)
        .udp(5000, 53)
        .write(&mut v, &(0..156).map(|i| i as u8).collect::<Vec<_>>())
        .unwrap();
    let udp = &v[40..];
    [
        frag6(C6, s6(S4), ident, 0, true, &udp[..56]),
        frag6(C6, s6(S4), ident, 56, true, &udp[56..112]),
        frag6(C6, s6(S4), ident, 112, false, &udp[112..]),
    ]
}

/// The IPv4 fragments' payloads, in offset order, and whether their datagram's UDP checksum is right.
fn reassembled4(frags: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut sorted: Vec<&[u8]> = frags.to_vec();
    sorted.sort_by_key(|p| u16::from_be_bytes([p[6], p[7]]) & 0x1fff);
    let mut seg = Vec::new();
    for p in &sorted {
        assert_eq!(&p[12..16], &POOL4);
        assert_eq!(&p[16..20], &S4);
        assert_eq!(
            usize::from(u16::from_be_bytes([p[6], p[7]]) & 0x1fff) * 8,
            seg.len()
        );
        seg.extend_from_slice(&p[20..]);
    }
    let s = naive_sum(&sorted[0][12..20]) + 17 + seg.len() as u32 + naive_sum(&seg);
    (seg, folds_to_ffff(s))
}

#[test]
fn held_fragment_v6_to_v4_last_then_first() {
    let mut n = Nat::new("");
    let [f0, f1, f2] = three_frags6(0xabcd);
    n.run(&f2).dropped(DropReason::Nat64FragmentHeld);
    n.run(&f1).dropped(DropReason::Nat64FragmentHeld);
    assert_eq!(n.p.nat64().unwrap().held_frags.len(), 2);
    let r = n.run(&f0);
    assert_eq!(
        r.kind,
        OutcomeKind::Translated { packets: 3 },
        "{:?}",
        r.kind
    );
    // The first fragment, then the held ones in arrival order (last, then middle).
    let offs: Vec<u16> = r
        .out
        .iter()
        .map(|(p, side)| {
            assert_eq!(*side, Side::V4);
            assert!(folds_to_ffff(naive_sum(&p[..20])), "IPv4 header checksum");
            u16::from_be_bytes([p[6], p[7]])
        })
        .collect();
    assert_eq!(offs, [0x2000, 112 / 8, 0x2000 | (56 / 8)]);
    let pkts: Vec<&[u8]> = r.out.iter().map(|(p, _)| &p[..]).collect();
    let (seg, ok) = reassembled4(&pkts);
    assert_eq!(seg.len(), 164);
    assert!(ok, "UDP checksum of the reassembled datagram");
    assert!(n.p.nat64().unwrap().held_frags.is_empty());
    // Counters: each held fragment counted when held and again when translated.
    let d = n.p.stats().dir(Direction::V6ToV4);
    assert_eq!((d.received, d.translated), (5, 3));
    assert_eq!(d.dropped[DropReason::Nat64FragmentHeld as usize], 2);
    assert_eq!(d.received, d.translated + d.dropped_total());
    // A later duplicate follows the first fragment directly.
    let r = n.run(&f2);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    assert_eq!(r.out[0].0[6..8], (112u16 / 8).to_be_bytes());
}

#[test]
fn held_fragment_v4_to_v6_middle_first() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    let mut whole = Vec::new();
    PacketBuilder::ipv4(S4, POOL4, 64)
        .udp(53, port4)
        .write(&mut whole, &[0x5a; 150])
        .unwrap();
    whole[4..6].copy_from_slice(&0x0707u16.to_be_bytes());
    let f0 = frag4(&whole, 0, 64, true);
    let f1 = frag4(&whole, 64, 64, true);
    let f2 = frag4(&whole, 128, 30, false);
    n.run(&f1).dropped(DropReason::Nat64FragmentHeld);
    let r = n.run(&f0);
    assert_eq!(
        r.kind,
        OutcomeKind::Translated { packets: 2 },
        "{:?}",
        r.kind
    );
    let (a, b) = (&r.out[0].0, &r.out[1].0);
    assert_eq!(u16::from_be_bytes([a[42], a[43]]), 1, "first: offset 0, M");
    assert_eq!(
        u16::from_be_bytes([b[42], b[43]]),
        64 | 1,
        "then the held middle one"
    );
    for p in [a, b] {
        assert_eq!(&p[24..40], &C6);
        assert_eq!(&p[8..24], &s6(S4));
        assert_eq!(u32::from_be_bytes([p[44], p[45], p[46], p[47]]), 0x0707);
    }
    let r = n.run(&f2);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
    let c = r.out[0].0.clone();
    let mut seg = a[48..].to_vec();
    seg.extend_from_slice(&b[48..]);
    seg.extend_from_slice(&c[48..]);
    assert_eq!(u16::from_be_bytes([seg[2], seg[3]]), 5000);
    let s = naive_sum(&a[8..40]) + 17 + seg.len() as u32 + naive_sum(&seg);
    assert!(folds_to_ffff(s), "UDP checksum of the reassembled datagram");
}

#[test]
fn a_released_held_fragment_too_big_for_ipv6_is_split() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    let mut whole = Vec::new();
    PacketBuilder::ipv4(S4, POOL4, 64)
        .udp(53, port4)
        .write(&mut whole, &[0x33; 2392])
        .unwrap();
    whole[4..6].copy_from_slice(&0x0909u16.to_be_bytes());
    n.run(&frag4(&whole, 1000, 1400, false))
        .dropped(DropReason::Nat64FragmentHeld);
    // The first fragment fits (1048 bytes as IPv6); the held one (1448) is split for the 1280-byte minimum
    // MTU (RFC 7915 §4: DF clear).
    let r = n.run(&frag4(&whole, 0, 1000, true));
    assert_eq!(
        r.kind,
        OutcomeKind::Translated { packets: 3 },
        "{:?}",
        r.kind
    );
    let offs: Vec<u16> = r
        .out
        .iter()
        .map(|(p, _)| {
            assert!(p.len() <= 1280);
            u16::from_be_bytes([p[42], p[43]])
        })
        .collect();
    assert_eq!(offs[0], 1, "first: offset 0, M");
    assert_eq!(
        offs[1] & !7,
        1000,
        "the held fragment's first piece at 1000"
    );
    assert_eq!(offs[1] & 1, 1, "M: more pieces follow");
    assert_eq!(offs[2] & 1, 0, "its last piece ends the datagram");
    let total: usize = r.out.iter().map(|(p, _)| p.len() - 48).sum();
    assert_eq!(total, 2400);
    let d = n.p.stats().dir(Direction::V4ToV6);
    assert_eq!(d.fragments_created, 1);
}

#[test]
fn held_fragments_are_bounded_per_tenant_and_worker() {
    let f = three_frags6;
    // Count: two fragments (104 and 100 bytes; 210 bytes allowed).
    let mut n = Nat::new("[tenants.nat64]\nfragments_held_max = 2\nfragments_held_bytes = 210\n");
    n.run(&f(1)[1]).dropped(DropReason::Nat64FragmentHeld);
    n.run(&f(2)[2]).dropped(DropReason::Nat64FragmentHeld);
    n.run(&f(3)[2]).dropped(DropReason::Nat64FragmentStoreFull);
    let r = n.run(&f(2)[0]);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 2 });
    n.run(&f(3)[1]).dropped(DropReason::Nat64FragmentHeld); // room again: 208 bytes
    assert_eq!(n.p.nat64().unwrap().held_frags.tenant_usage(0), (2, 208));
    // Bytes: 104 + 100 > 150.
    let mut n = Nat::new("[tenants.nat64]\nfragments_held_bytes = 150\n");
    n.run(&f(1)[1]).dropped(DropReason::Nat64FragmentHeld);
    n.run(&f(2)[2]).dropped(DropReason::Nat64FragmentStoreFull);
    let d = n.p.stats().dir(Direction::V6ToV4);
    assert_eq!(d.dropped[DropReason::Nat64FragmentStoreFull as usize], 1);
    // fragments_held_max = 0: nothing is held, and no memory is set aside for it.
    let mut off = Nat::new("[tenants.nat64]\nfragments_held_max = 0\n");
    off.run(&f(1)[2])
        .dropped(DropReason::Nat64FragmentUnmatched);
    let st = off.p.nat64().unwrap();
    assert!(st.release_buf.is_empty() && st.held_frags.memory() < 64);
}

#[test]
fn held_fragments_expire_after_the_fragment_timeout() {
    let mut n = Nat::new("[tenants.nat64]\ntimeouts = { fragment = 3 }\n");
    let [f0, f1, f2] = three_frags6(9);
    n.at(10);
    n.run(&f2).dropped(DropReason::Nat64FragmentHeld);
    n.at(11);
    n.run(&f1).dropped(DropReason::Nat64FragmentHeld);
    assert!(n.timers(12).is_empty());
    assert_eq!(n.p.nat64().unwrap().held_frags.len(), 2);
    assert!(
        n.timers(13).is_empty(),
        "expiry emits nothing (no first fragment: no Time Exceeded)"
    );
    assert_eq!(
        n.p.nat64().unwrap().held_frags.len(),
        1,
        "the last fragment went at 13 s"
    );
    let d = n.p.stats().dir(Direction::V6ToV4);
    assert_eq!(d.dropped[DropReason::Nat64FragmentExpired as usize], 1);
    assert_eq!(d.received, d.translated + d.dropped_total());
    // The first fragment releases only what is left.
    let r = n.run(&f0);
    assert_eq!(r.kind, OutcomeKind::Translated { packets: 2 });
    assert_eq!(
        u16::from_be_bytes([r.out[1].0[6], r.out[1].0[7]]),
        0x2000 | (56 / 8)
    );
    // ICMP fragments are not held: their first fragment is never translated.
    let icmp = frag6(C6, s6(S4), 77, 56, false, &[0; 16]);
    let mut icmp = icmp;
    let nh = 40; // the Fragment Header's Next Header
    icmp[nh] = 58;
    n.run(&icmp).dropped(DropReason::Nat64FragmentUnmatched);
}

#[test]
fn held_fragments_whose_first_fragment_goes_to_another_worker_are_dropped() {
    let snap = snapshot("");
    let mut w: Vec<Nat> = (0..4)
        .map(|i| Nat {
            p: Pipeline::new_worker(Arc::clone(&snap), i, 4),
        })
        .collect();
    let owner = usize::from(super::owner6_hash(super::Proto::Udp, &C6, 5000, 4));
    let other = (owner + 1) % 4;
    let [f0, f1, _] = three_frags6(5);
    w[other].run(&f1).dropped(DropReason::Nat64FragmentHeld);
    let r = w[other].run(&f0);
    assert_eq!(
        r.kind,
        OutcomeKind::HandedOff {
            worker: owner as u16
        }
    );
    assert!(r.out.is_empty());
    let d = w[other].p.stats().dir(Direction::V6ToV4);
    assert_eq!(
        d.dropped[DropReason::Nat64FragmentOwnerElsewhere as usize],
        1
    );
    assert!(w[other].p.nat64().unwrap().held_frags.is_empty());
    // On the owner, the same order works.
    w[owner].run(&f1).dropped(DropReason::Nat64FragmentHeld);
    assert_eq!(
        w[owner].run(&f0).kind,
        OutcomeKind::Translated { packets: 2 }
    );
}

mod fragment_orders {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever order a datagram's fragments arrive in, every fragment goes out exactly once, the first
        /// fragment's output is followed by the held ones in arrival order, and the IPv4 fragments reassemble
        /// into the datagram with a right UDP checksum.
        #[test]
        fn any_arrival_order_reassembles(
            pieces in 2usize..6,
            order in Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
        ) {
            let mut n = Nat::new("");
            let mut v = Vec::new();
            PacketBuilder::ipv6(C6, s6(S4), 64)
                .udp(5000, 53)
                .write(&mut v, &(0..(pieces * 24 - 8)).map(|i| (i * 7) as u8).collect::<Vec<_>>())
                .unwrap();
            let udp = v[40..].to_vec(); // pieces × 24 bytes
            let frags: Vec<Vec<u8>> = (0..pieces)
                .map(|k| frag6(C6, s6(S4), 0x77, (k * 24) as u16, k + 1 < pieces, &udp[k * 24..(k + 1) * 24]))
                .collect();
            let order: Vec<usize> = order.into_iter().filter(|&k| k < pieces).collect();
            let mut out: Vec<Vec<u8>> = Vec::new();
            let mut held: Vec<usize> = Vec::new();
            for &k in &order {
                let r = n.run(&frags[k]);
                if k != 0 && !order[..order.iter().position(|&x| x == k).unwrap()].contains(&0) {
                    prop_assert_eq!(r.kind, OutcomeKind::Dropped(DropReason::Nat64FragmentHeld));
                    held.push(k);
                    continue;
                }
                if k == 0 {
                    // The first fragment, then the held ones in arrival order.
                    prop_assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 + held.len() as u16 });
                    let offs: Vec<usize> = r.out.iter()
                        .map(|(p, _)| usize::from(u16::from_be_bytes([p[6], p[7]]) & 0x1fff) * 8)
                        .collect();
                    let want: Vec<usize> = std::iter::once(0).chain(held.iter().map(|&h| h * 24)).collect();
                    prop_assert_eq!(offs, want);
                } else {
                    prop_assert_eq!(r.kind, OutcomeKind::Translated { packets: 1 });
                }
                out.extend(r.out.into_iter().map(|(p, _)| p));
            }
            prop_assert_eq!(out.len(), pieces);
            let refs: Vec<&[u8]> = out.iter().map(|p| &p[..]).collect();
            let (seg, ok) = reassembled4(&refs);
            prop_assert_eq!(seg.len(), pieces * 24);
            prop_assert!(ok, "UDP checksum of the reassembled datagram");
            prop_assert!(n.p.nat64().unwrap().held_frags.is_empty());
        }
    }
}

// ---------- untrusted bytes never panic ----------

mod robustness {
    use super::*;
    use proptest::prelude::*;

    /// Valid packets of every kind the stateful paths handle, to be mutated.
    fn seeds(n: &mut Nat) -> Vec<Vec<u8>> {
        let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
        let sent4 = udp4(S4, 53, POOL4, port4);
        let sent6 = n.run(&sent4).one().to_vec();
        let mut err4 = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], POOL4, 64)
            .icmpv4_raw(3, 4, [0, 0, 5, 0])
            .write(&mut err4, n.run(&udp6(C6, 5000, s6(S4), 53)).one())
            .unwrap();
        let mut err6 = Vec::new();
        PacketBuilder::ipv6(C6, s6(S4), 64)
            .icmpv6_raw(1, 4, [0; 4])
            .write(&mut err6, &sent6)
            .unwrap();
        let udp = big_udp6()[40..].to_vec();
        vec![
            udp6(C6, 5000, s6(S4), 53),
            sent4,
            tcp6(C6, 4000, s6(S4), 80, F::Syn),
            tcp4(S4, 80, POOL4, port4, F::Syn),
            echo6(C6, s6(S4), 3),
            echo_reply4(S4, POOL4, 3),
            err4,
            err6,
            frag6(C6, s6(S4), 1, 0, true, &udp[..56]),
            frag6(C6, s6(S4), 1, 56, false, &udp[56..]),
            udp6(C6B, 7000, s6(POOL4), port4),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn mutated_packets_never_panic(
            which in 0usize..11,
            flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..6),
            cut in 0usize..200,
            worker in 0u16..2,
        ) {
            let snap = snapshot(STATIC);
            let cap = super::super::Nat64Capacity { sessions: 64, held_syns: 4 };
            let mut n = Nat { p: Pipeline::with_nat64_capacity(Arc::clone(&snap), 0, 1, cap) };
            let mut pkt = seeds(&mut n)[which].clone();
            for (at, b) in flips {
                let len = pkt.len();
                pkt[at % len] ^= b;
            }
            if cut < pkt.len() && cut % 3 == 0 {
                pkt.truncate(cut);
            }
            let _ = n.run(&pkt);
            let mut two = Nat { p: Pipeline::with_nat64_capacity(snap, worker, 2, cap) };
            let _ = two.run(&pkt);
            let _ = n.timers(10_000);
            let blocks = snapshot(&format!("{STATIC}{}", blocks_cfg(1024)));
            let mut b = Nat { p: Pipeline::with_nat64_capacity(blocks, worker, 2, cap) };
            let _ = b.run(&pkt);
            let _ = b.timers(10_000);
        }
    }
}

// ---------- configuration swaps, router duties ----------

#[test]
fn snapshot_swap_keeps_state_unless_nat64_config_changes() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    // Same NAT64 configuration (another option changed): sessions survive.
    n.p.set_snapshot(snapshot("[tenants.options]\nipv4_mtu = 1400\n"));
    assert_eq!(n.sessions(), 1);
    assert_eq!(v6_dst(n.run(&udp4(S4, 53, POOL4, port4)).one()), (C6, 5000));
    // Another pool4: a fresh state.
    n.p.set_snapshot(snapshot(
        "[[tenants.pool4]]\nprefix = \"203.0.113.1/32\"\nudp = \"2000-3000\"\n",
    ));
    assert_eq!(n.sessions(), 0);
    n.run(&udp4(S4, 53, POOL4, port4))
        .dropped(DropReason::Nat64NoBinding);
}

#[test]
fn static_icmp_binding_lets_ipv4_ping_an_ipv6_host() {
    let mut n = Nat::new(
        "[[tenants.static_bib]]\nprotocol = \"icmp\"\nipv4 = \"203.0.113.1#7\"\nipv6 = \"2001:db8:2::10#99\"\n",
    );
    let mut v = Vec::new();
    PacketBuilder::ipv4(S4, POOL4, 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut v, b"hello")
        .unwrap();
    let out = n.run(&v).one().to_vec();
    assert_eq!((out[40], &out[24..40]), (128, &SERVER6[..]));
    assert_eq!(u16::from_be_bytes([out[44], out[45]]), 99);
    let mut reply = Vec::new();
    PacketBuilder::ipv6(SERVER6, s6(S4), 64)
        .icmpv6_echo_reply(99, 1)
        .write(&mut reply, b"hello")
        .unwrap();
    let back = n.run(&reply).one().to_vec();
    assert_eq!((back[20], u16::from_be_bytes([back[24], back[25]])), (0, 7));
    assert_eq!(&back[12..16], &POOL4);
}

#[test]
fn router_duties_come_before_state() {
    let mut n = Nat::new("");
    // Hop limit 1: Time Exceeded, and no binding.
    let mut v = Vec::new();
    PacketBuilder::ipv6(C6, s6(S4), 1)
        .udp(5000, 53)
        .write(&mut v, b"x")
        .unwrap();
    let r = n.run(&v);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::TtlExpired));
    assert_checksums(&r.out[0].0);
    assert_eq!(n.bibs(), 0);
    // Too big for the IPv4 MTU with DF: Packet Too Big (MTU + 20), no binding.
    let mut n = Nat::new("[tenants.options]\nipv4_mtu = 1300\n");
    let mut v = Vec::new();
    PacketBuilder::ipv6(C6, s6(S4), 64)
        .udp(5000, 53)
        .write(&mut v, &[0; 1400])
        .unwrap();
    let r = n.run(&v);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::PacketTooBig));
    let icmp = &r.out[0].0;
    assert_eq!(
        (
            icmp[40],
            u32::from_be_bytes([icmp[44], icmp[45], icmp[46], icmp[47]])
        ),
        (2, 1320)
    );
    assert_eq!(n.bibs(), 0);
    // IPv4 TTL 1 towards a binding: Time Exceeded back to the IPv4 sender.
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&udp6(C6, 5000, s6(S4), 53)).one());
    let mut v = Vec::new();
    PacketBuilder::ipv4(S4, POOL4, 1)
        .udp(53, port4)
        .write(&mut v, b"x")
        .unwrap();
    let r = n.run(&v);
    assert_eq!(r.kind, OutcomeKind::IcmpError(DropReason::TtlExpired));
    assert_eq!(&r.out[0].0[16..20], &S4);
}

#[test]
fn icmpv6_error_about_tcp_from_an_ipv6_router() {
    let mut n = Nat::new("");
    let (_, port4) = v4_src(n.run(&tcp6(C6, 40000, s6(S4), 80, F::Syn)).one());
    let synack6 = n.run(&tcp4(S4, 80, POOL4, port4, F::SynAck)).one().to_vec();
    let router6 = [0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let mut err = Vec::new();
    PacketBuilder::ipv6(router6, s6(S4), 64)
        .icmpv6_raw(3, 0, [0; 4]) // hop limit exceeded in transit
        .write(&mut err, &synack6)
        .unwrap();
    let out = n.run(&err).one().to_vec();
    assert_eq!((out[20], out[21]), (11, 0));
    assert_eq!(&out[12..16], &POOL4, "the router has no IPv4 form");
    let inner = &out[28..];
    assert_eq!(v4_src(inner), (S4, 80));
    assert_eq!(v4_dst(inner), (POOL4, port4));
}

// ---------- RFC 7422 deterministic port blocks ----------

fn blocks_cfg(size: u16) -> String {
    format!(
        "[tenants.nat64.port_blocks]\nsubscribers = \"2001:db8:1::/60\"\nprefix_len = 64\nblock_size = {size}\n"
    )
}

/// Subscriber `i` of 2001:db8:1::/60 (one /64 each).
fn subscriber(i: u8, host: u8) -> [u8; 16] {
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, i, 0, 0, 0, 0, 0, 0, 0, host,
    ]
}

#[test]
fn rfc7422_each_subscriber_uses_its_own_block() {
    let mut n = Nat::new(&blocks_cfg(2048));
    for (i, host, sport) in [(0u8, 5u8, 5000u16), (0, 6, 5001), (3, 9, 40000), (15, 1, 1)] {
        let (a, p) = v4_src(n.run(&udp6(subscriber(i, host), sport, s6(S4), 53)).one());
        let base = 1024 + u16::from(i) * 2048;
        assert_eq!(a, POOL4);
        assert!((base..base + 2048).contains(&p), "subscriber {i}: port {p}");
        assert_eq!(p & 1, sport & 1, "parity");
        // The reply comes back to the right host.
        assert_eq!(
            v6_dst(n.run(&udp4(S4, 53, POOL4, p)).one()),
            (subscriber(i, host), sport)
        );
    }
    let outsider = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    n.run(&udp6(outsider, 5000, s6(S4), 53))
        .dropped(DropReason::Nat64NotSubscriber);
    // ICMP identifiers come from the subscriber's ICMP block (range 0-65535).
    let r = n.run(&echo6(subscriber(2, 1), s6(S4), 1));
    let id = u16::from_be_bytes([r.one()[24], r.one()[25]]);
    assert!((4096..6144).contains(&id), "{id}");
}

#[test]
fn rfc7422_block_exhaustion_is_per_subscriber() {
    let mut n = Nat::new(&blocks_cfg(32));
    for k in 0..32u16 {
        let (_, p) = v4_src(
            n.run(&udp6(subscriber(1, 1), 2000 + 2 * k, s6(S4), 53))
                .one(),
        );
        assert!((1056..1088).contains(&p), "{p}");
    }
    let r = n.run(&udp6(subscriber(1, 1), 3000, s6(S4), 53));
    assert_eq!(
        r.kind,
        OutcomeKind::IcmpError(DropReason::Nat64PoolExhausted)
    );
    // Another subscriber is unaffected.
    n.run(&udp6(subscriber(2, 1), 3000, s6(S4), 53)).one();
}

#[test]
fn rfc7422_owner_follows_the_subscriber() {
    let snap = snapshot(&blocks_cfg(2048));
    let mut w: Vec<Nat> = (0..4)
        .map(|i| Nat {
            p: Pipeline::new_worker(Arc::clone(&snap), i, 4),
        })
        .collect();
    for i in 0..16u8 {
        let pkt = udp6(subscriber(i, 7), 6000 + u16::from(i), s6(S4), 53);
        let owner = usize::from(i % 4);
        let other = (owner + 1) % 4;
        assert_eq!(
            w[other].run(&pkt).kind,
            OutcomeKind::HandedOff {
                worker: owner as u16
            }
        );
        let (_, p) = v4_src(w[owner].run(&pkt).one());
        let reply = udp4(S4, 53, POOL4, p);
        assert_eq!(
            w[other].run(&reply).kind,
            OutcomeKind::HandedOff {
                worker: owner as u16
            }
        );
        assert_eq!(v6_dst(w[owner].run(&reply).one()).0, subscriber(i, 7));
    }
}

/// `Pipeline::process_batch` (lookahead, then the frames in order) does exactly what `process` does frame by
/// frame: same outcomes, same packets, same state — across the 64-frame lookahead boundary, with new and
/// established flows both ways, ICMP echo and junk mixed in.
#[test]
fn process_batch_equals_process_one_by_one() {
    use crate::pipeline::Outcome;
    let mut one = Nat::new("");
    let mut batch = Nat::new("");
    batch.p.nat64_mut().unwrap().lookahead_min_sessions = 0;
    let client = |i: u8| {
        let mut a = C6;
        a[15] = i;
        a
    };
    let mut round: Vec<Vec<u8>> = (0..70u8)
        .map(|i| match i % 7 {
            5 => echo6(client(i / 2), s6(S4), 100 + u16::from(i)),
            6 if i == 13 => vec![0x60; 12],
            _ => udp6(client(i / 3), 4000 + u16::from(i % 5), s6(S4), 53),
        })
        .collect();
    for pass in 0..3 {
        let mut expected = Vec::new();
        let mut replies = Vec::new();
        for pkt in &round {
            let r = one.run(pkt);
            for (p, side) in &r.out {
                if *side == Side::V4 && p[9] == 17 {
                    let (src, sport) = v4_src(p);
                    let (dst, dport) = v4_dst(p);
                    replies.push(udp4(dst, dport, src, sport));
                }
            }
            expected.push((r.kind, r.out));
        }
        let mut bufs: Vec<Vec<u8>> = round.iter().map(|_| vec![0u8; FRAME_SIZE]).collect();
        let mut frames: Vec<Frame<'_>> = bufs
            .iter_mut()
            .zip(&round)
            .map(|(b, p)| Frame::copy_from(b, p).expect("fits"))
            .collect();
        let blank = Outcome {
            direction: None,
            tenant: None,
            kind: OutcomeKind::Translated { packets: 0 },
        };
        let mut outcomes = vec![blank; frames.len()];
        let mut got: Vec<Vec<(Vec<u8>, Side)>> = vec![Vec::new(); frames.len()];
        batch
            .p
            .process_batch(&mut frames, &mut outcomes, &mut |k, o| {
                got[k].push((o.packet.to_vec(), o.side))
            });
        for (k, (kind, out)) in expected.into_iter().enumerate() {
            assert_eq!(outcomes[k].kind, kind, "pass {pass}, frame {k}");
            assert_eq!(got[k], out, "pass {pass}, frame {k}");
        }
        assert_eq!(
            (one.sessions(), one.bibs()),
            (batch.sessions(), batch.bibs())
        );
        assert_eq!(one.p.stats(), batch.p.stats());
        // Next pass: the IPv4 replies, then the same IPv6 packets again (established).
        round = replies.into_iter().chain(round.clone()).collect();
    }
}
