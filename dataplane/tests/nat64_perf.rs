//! Rough single-worker figures for the stateful path (not a benchmark harness: run it in release to get
//! numbers, `cargo test --release -p xlat64-dataplane --test nat64_perf -- --ignored --nocapture`).
//! New-session rate: IPv6 UDP packets of distinct flows; established rate: the same packets again, and their
//! IPv4 replies. Each packet is copied into a frame first (as a NIC would have written it).

use std::sync::Arc;
use std::time::Instant;

use dataplane::frame::{Frame, FRAME_SIZE};
use dataplane::nat64::bib::BibEntry;
use dataplane::nat64::session::Session;
use dataplane::nat64::Nat64Capacity;
use dataplane::pipeline::{OutcomeKind, Pipeline};
use dataplane::tables::Snapshot;
use etherparse::PacketBuilder;
use mgmt_api::config::Config;

/// Flows (and sessions): `NAT64_PERF_FLOWS`, default 2^20.
fn flows() -> usize {
    std::env::var("NAT64_PERF_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20)
}

#[test]
#[ignore = "timing; run in release"]
fn established_and_new_session_rates() {
    let flows_n = flows();
    let cfg = Config::from_toml_str(
        r#"
[[tenants]]
name = "perf"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "203.0.113.0/24"
"#,
    )
    .unwrap();
    let snap = Arc::new(Snapshot::compile(&cfg).unwrap());
    let cap = Nat64Capacity {
        sessions: flows_n,
        held_syns: 256,
    };
    let mut p = Pipeline::with_nat64_capacity(snap, 0, 1, cap);
    let pkts: Vec<Vec<u8>> = (0..flows_n)
        .map(|i| {
            let mut src = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            src[12..].copy_from_slice(&((i / 16) as u32).to_be_bytes());
            let mut dst = [
                0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 198, 51, 100, 7,
            ];
            dst[15] = (i % 200) as u8 + 1;
            let mut v = Vec::new();
            PacketBuilder::ipv6(src, dst, 64)
                .udp(1024 + (i % 16) as u16 * 7, 53)
                .write(&mut v, &[0u8; 18])
                .unwrap();
            v
        })
        .collect();
    let mut buf = vec![0u8; FRAME_SIZE];
    let mut replies = Vec::with_capacity(flows_n);
    let mut run = |p: &mut Pipeline, pkts: &[Vec<u8>], keep: Option<&mut Vec<Vec<u8>>>| {
        let mut keep = keep;
        let t = Instant::now();
        for pkt in pkts {
            let mut f = Frame::copy_from(&mut buf, pkt).unwrap();
            let o = p.process(&mut f, &mut |o| {
                if let Some(k) = keep.as_deref_mut() {
                    // IPv4 reply: swap addresses and ports.
                    let mut r = o.packet.to_vec();
                    let (s, d) = (r[12..16].to_vec(), r[16..20].to_vec());
                    r[12..16].copy_from_slice(&d);
                    r[16..20].copy_from_slice(&s);
                    let (sp, dp) = (r[20..22].to_vec(), r[22..24].to_vec());
                    r[20..22].copy_from_slice(&dp);
                    r[22..24].copy_from_slice(&sp);
                    k.push(r);
                }
            });
            assert_eq!(o.kind, OutcomeKind::Translated { packets: 1 });
        }
        t.elapsed()
    };
    let new = run(&mut p, &pkts, Some(&mut replies));
    let est6 = run(&mut p, &pkts, None);
    let est4 = run(&mut p, &replies, None);
    let st = p.nat64().unwrap();
    assert_eq!(st.sessions.len(), flows_n);
    let mpps = |d: std::time::Duration| flows_n as f64 / d.as_secs_f64() / 1e6;
    let session_bytes = std::mem::size_of::<Session>() as f64
        + 4.0 * (st.sessions.capacity().next_power_of_two() as f64 / st.sessions.capacity() as f64);
    let bib_bytes = std::mem::size_of::<BibEntry>() as f64
        + 8.0 * (st.bib.capacity().next_power_of_two() as f64 / st.bib.capacity() as f64);
    println!(
        "{} flows, one worker: new sessions {:.2} M/s; established IPv6→IPv4 {:.2} Mpps, IPv4→IPv6 {:.2} Mpps; \
         {session_bytes:.0} B per session + {bib_bytes:.0} B per binding ({} bindings)",
        flows_n,
        mpps(new),
        mpps(est6),
        mpps(est4),
        st.bib.len(),
    );
}
