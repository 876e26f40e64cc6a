//! Simulation of a multi-worker stateful NAT64 in one process: N pipelines (workers) share one snapshot and
//! nothing else. IPv6 flows (UDP, TCP, ICMP echo) arrive at random workers and are handed to their owner;
//! the IPv4 replies arrive at other random workers and are handed to the owner too. Checks: every packet is
//! translated exactly once, by the worker that owns it (at most one hand-off); a flow's bindings and sessions
//! exist in exactly one worker; the pool4 port of every binding lies in its worker's slice; hairpinned
//! packets reach the right client.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dataplane::frame::{Frame, FRAME_SIZE};
use dataplane::nat64::pool4::Owner;
use dataplane::nat64::Proto;
use dataplane::pipeline::{OutcomeKind, Pipeline};
use dataplane::stats::Direction;
use dataplane::tables::Snapshot;
use dataplane::xlat::Side;
use etherparse::PacketBuilder;
use mgmt_api::config::Config;

const WORKERS: u16 = 4;
const FLOWS: usize = 600;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn s6(v4: [u8; 4]) -> [u8; 16] {
    let mut a = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    a[12..].copy_from_slice(&v4);
    a
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Udp,
    Tcp,
    Icmp,
}

#[derive(Clone, Copy, Debug)]
struct Flow {
    kind: Kind,
    client: [u8; 16],
    cport: u16,
    server: [u8; 4],
    sport: u16,
    /// The binding, once the first packet went out.
    mapped: Option<([u8; 4], u16)>,
    /// Next step of the flow's script.
    step: usize,
    /// The worker that translated its packets.
    owner: Option<u16>,
}

/// TCP script: (from IPv6?, SYN, ACK, FIN).
const TCP_SCRIPT: [(bool, bool, bool, bool); 6] = [
    (true, true, false, false),
    (false, true, true, false),
    (true, false, true, false),
    (false, false, true, true),
    (true, false, true, true),
    (false, false, true, false),
];
const UDP_STEPS: usize = 6;

fn build(f: &Flow) -> (Vec<u8>, bool) {
    let mut v = Vec::new();
    match f.kind {
        Kind::Tcp => {
            let (from6, syn, ack, fin) = TCP_SCRIPT[f.step];
            if from6 {
                let mut b =
                    PacketBuilder::ipv6(f.client, s6(f.server), 64).tcp(f.cport, f.sport, 1, 1000);
                if syn {
                    b = b.syn();
                }
                if ack {
                    b = b.ack(1);
                }
                if fin {
                    b = b.fin();
                }
                b.write(&mut v, b"").unwrap();
            } else {
                let (t, tp) = f.mapped.unwrap();
                let mut b = PacketBuilder::ipv4(f.server, t, 64).tcp(f.sport, tp, 1, 1000);
                if syn {
                    b = b.syn();
                }
                if ack {
                    b = b.ack(1);
                }
                if fin {
                    b = b.fin();
                }
                b.write(&mut v, b"").unwrap();
            }
            (v, from6)
        }
        Kind::Udp => {
            let from6 = f.step & 1 == 0;
            if from6 {
                PacketBuilder::ipv6(f.client, s6(f.server), 64)
                    .udp(f.cport, f.sport)
                    .write(&mut v, b"question")
                    .unwrap();
            } else {
                let (t, tp) = f.mapped.unwrap();
                PacketBuilder::ipv4(f.server, t, 64)
                    .udp(f.sport, tp)
                    .write(&mut v, b"answer")
                    .unwrap();
            }
            (v, from6)
        }
        Kind::Icmp => {
            let from6 = f.step & 1 == 0;
            if from6 {
                PacketBuilder::ipv6(f.client, s6(f.server), 64)
                    .icmpv6_echo_request(f.cport, f.step as u16)
                    .write(&mut v, b"ping")
                    .unwrap();
            } else {
                let (t, id) = f.mapped.unwrap();
                PacketBuilder::ipv4(f.server, t, 64)
                    .icmpv4_echo_reply(id, f.step as u16)
                    .write(&mut v, b"pong")
                    .unwrap();
            }
            (v, from6)
        }
    }
}

fn steps(k: Kind) -> usize {
    match k {
        Kind::Tcp => TCP_SCRIPT.len(),
        _ => UDP_STEPS,
    }
}

/// Delivers `pkt` to worker `first`, following hand-offs. Returns (the worker that translated it, the
/// output packets, hand-offs taken).
fn deliver(workers: &mut [Pipeline], first: u16, pkt: &[u8]) -> (u16, Vec<(Vec<u8>, Side)>, usize) {
    let mut buf = vec![0u8; FRAME_SIZE];
    let mut frame = Frame::copy_from(&mut buf, pkt).unwrap();
    let mut w = first;
    let mut hops = 0;
    loop {
        let mut out = Vec::new();
        let o = workers[usize::from(w)]
            .process(&mut frame, &mut |o| out.push((o.packet.to_vec(), o.side)));
        match o.kind {
            OutcomeKind::HandedOff { worker } => {
                assert_ne!(worker, w, "handed to itself");
                assert!(out.is_empty(), "a handed-off packet emits nothing");
                hops += 1;
                assert!(
                    hops <= 2,
                    "more than two hand-offs (one per translation pass)"
                );
                w = worker;
            }
            OutcomeKind::Translated { packets: 1 } => return (w, out, hops),
            k => panic!("worker {w}: {k:?} for {pkt:02x?}"),
        }
    }
}

fn snapshot() -> Arc<Snapshot> {
    snapshot_with("")
}

fn snapshot_with(extra: &str) -> Arc<Snapshot> {
    let cfg = Config::from_toml_str(&format!(
        r#"
[[tenants]]
name = "sim"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "203.0.113.0/30"
{extra}
"#
    ))
    .unwrap();
    Arc::new(Snapshot::compile(&cfg).unwrap())
}

fn proto(k: Kind) -> Proto {
    match k {
        Kind::Udp => Proto::Udp,
        Kind::Tcp => Proto::Tcp,
        Kind::Icmp => Proto::Icmp,
    }
}

#[test]
fn every_packet_translated_once_by_its_owner_and_no_session_in_two_workers() {
    simulate(snapshot());
}

/// The same with RFC 7422 port blocks: 16 subscribers (one /64 each), owners follow the subscriber.
#[test]
fn with_port_blocks_too() {
    simulate(snapshot_with(
        "[tenants.nat64.port_blocks]\nsubscribers = \"2001:db8:1::/60\"\nprefix_len = 64\nblock_size = 1024\n",
    ));
}

fn simulate(snap: Arc<Snapshot>) {
    let pool = &snap.tenants()[0].nat64.as_ref().unwrap().pool4;
    let mut workers: Vec<Pipeline> = (0..WORKERS)
        .map(|w| Pipeline::new_worker(Arc::clone(&snap), w, WORKERS))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let servers: [[u8; 4]; 3] = [[198, 51, 100, 7], [198, 51, 100, 8], [192, 0, 2, 33]];
    let mut flows: Vec<Flow> = (0..FLOWS)
        .map(|i| {
            let kind = match i % 3 {
                0 => Kind::Udp,
                1 => Kind::Tcp,
                _ => Kind::Icmp,
            };
            let mut client = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            client[7] = (rng.next() % 16) as u8;
            client[12..].copy_from_slice(&(rng.next() as u32 % 64).to_be_bytes());
            Flow {
                kind,
                client,
                cport: 1024 + (rng.below(60000) as u16),
                server: servers[rng.below(3) as usize],
                sport: [53, 80, 443][rng.below(3) as usize],
                mapped: None,
                step: 0,
                owner: None,
            }
        })
        .collect();
    // Clients reuse ports across flows only with distinct (client, port, protocol) tuples.
    let mut seen = HashSet::new();
    flows.retain(|f| seen.insert((f.kind as u8, f.client, f.cport)));

    let mut live: Vec<usize> = (0..flows.len()).collect();
    let (mut packets, mut handoffs, mut translated_by) =
        (0usize, 0usize, HashMap::<u16, usize>::new());
    while !live.is_empty() {
        let k = rng.below(live.len() as u64) as usize;
        let fi = live[k];
        let f = flows[fi];
        let (pkt, from6) = build(&f);
        let first = rng.below(u64::from(WORKERS)) as u16;
        let (w, out, hops) = deliver(&mut workers, first, &pkt);
        packets += 1;
        handoffs += hops;
        *translated_by.entry(w).or_default() += 1;
        assert!(hops <= 1, "one hand-off at most without hairpinning");
        assert_eq!(hops == 0, w == first);
        let f = &mut flows[fi];
        match f.owner {
            None => f.owner = Some(w),
            Some(o) => assert_eq!(o, w, "flow {f:?}: all packets at one worker"),
        }
        assert_eq!(out.len(), 1);
        let (p, side) = &out[0];
        if from6 {
            assert_eq!(*side, Side::V4);
            let t: [u8; 4] = p[12..16].try_into().unwrap();
            let port = if f.kind == Kind::Icmp {
                u16::from_be_bytes([p[24], p[25]])
            } else {
                u16::from_be_bytes([p[20], p[21]])
            };
            assert_eq!(
                pool.owner_of(WORKERS, proto(f.kind), t, port),
                Owner::Worker(w),
                "binding allocated from the owner's slice"
            );
            if let Some(m) = f.mapped {
                assert_eq!(m, (t, port), "endpoint-independent mapping is stable");
            }
            f.mapped = Some((t, port));
        } else {
            assert_eq!(*side, Side::V6);
            assert_eq!(&p[24..40], &f.client);
            let port = if f.kind == Kind::Icmp {
                u16::from_be_bytes([p[44], p[45]])
            } else {
                u16::from_be_bytes([p[42], p[43]])
            };
            assert_eq!(port, f.cport);
        }
        f.step += 1;
        if f.step == steps(f.kind) {
            live.swap_remove(k);
        }
    }

    // Counters: each packet received once (by its owner), handed off by the others.
    let mut received = 0;
    let mut handed = 0;
    let mut translated = 0;
    for p in &workers {
        for d in Direction::ALL {
            received += p.stats().dir(d).received;
            handed += p.stats().dir(d).handed_off;
            translated += p.stats().dir(d).translated;
        }
    }
    assert_eq!(received as usize, packets);
    assert_eq!(translated as usize, packets);
    assert_eq!(handed as usize, handoffs);
    assert!(
        handoffs > packets / 2,
        "random arrival: most packets hand off ({handoffs} of {packets})"
    );
    assert_eq!(
        translated_by.len(),
        usize::from(WORKERS),
        "every worker owns flows"
    );

    // No binding or session in two workers; every binding in its owner's slice.
    let mut bib6 = HashSet::new();
    let mut bib4 = HashSet::new();
    let mut sessions = HashSet::new();
    let mut total_sessions = 0;
    for (w, p) in workers.iter().enumerate() {
        let st = p.nat64().unwrap();
        for (_, b) in st.bib.iter() {
            assert!(
                bib6.insert((b.tenant, b.proto, b.addr6, b.port6)),
                "binding in two workers"
            );
            assert!(
                bib4.insert((b.tenant, b.proto, b.addr4, b.port4)),
                "IPv4 address bound twice"
            );
            assert_eq!(
                pool.owner_of(WORKERS, b.proto, b.addr4, b.port4),
                Owner::Worker(w as u16)
            );
        }
        for (_, s) in st.sessions.iter() {
            let b = st.bib.get(s.bib);
            assert!(
                sessions.insert((b.proto, b.addr6, b.port6, s.remote4, s.rport)),
                "session in two workers"
            );
            total_sessions += 1;
        }
    }
    let flow_count = flows.len();
    assert_eq!(total_sessions, flow_count, "one session per flow");
    assert!(flows.iter().all(|f| f.owner.is_some()));
}

#[test]
fn hairpinned_packets_are_handed_to_the_destination_binding_owner() {
    let snap = snapshot();
    let mut workers: Vec<Pipeline> = (0..WORKERS)
        .map(|w| Pipeline::new_worker(Arc::clone(&snap), w, WORKERS))
        .collect();
    let mut rng = Rng(42);
    let server = [198, 51, 100, 7];
    // 40 clients get UDP bindings.
    let mut bound = Vec::new();
    for i in 0..40u16 {
        let mut client = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        client[15] = i as u8 + 1;
        let port = 2000 + i;
        let mut v = Vec::new();
        PacketBuilder::ipv6(client, s6(server), 64)
            .udp(port, 53)
            .write(&mut v, b"x")
            .unwrap();
        let (_, out, _) = deliver(&mut workers, rng.below(4) as u16, &v);
        let p = &out[0].0;
        bound.push((
            client,
            port,
            <[u8; 4]>::try_from(&p[12..16]).unwrap(),
            u16::from_be_bytes([p[20], p[21]]),
        ));
    }
    // Each client sends to another client's binding.
    let mut two_hops = 0;
    for i in 0..bound.len() {
        let (c, cp, _, _) = bound[i];
        let (d, dp, t, tp) = bound[(i + 7) % bound.len()];
        let mut v = Vec::new();
        PacketBuilder::ipv6(c, s6(t), 64)
            .udp(cp, tp)
            .write(&mut v, b"hairpin")
            .unwrap();
        let (_, out, hops) = deliver(&mut workers, rng.below(4) as u16, &v);
        two_hops += usize::from(hops == 2);
        let (p, side) = &out[0];
        assert_eq!(*side, Side::V6);
        assert_eq!(&p[24..40], &d);
        assert_eq!(u16::from_be_bytes([p[42], p[43]]), dp);
        assert_eq!(&p[8..24], &s6(bound[i].2), "from the sender's binding");
        assert_eq!(u16::from_be_bytes([p[40], p[41]]), bound[i].3);
    }
    assert!(two_hops > 0, "some hairpins cross workers twice");
}
