//! A fake dataplane for tests: serves the dataplane's Unix socket ([`mgmt_api::ipc`]) from threads with canned
//! answers: hello, `Applied` for every push, [`sample_stats`] for `GetStats`, and [`sample_sessions`] filtered
//! and paged by each `GetSessions` query (an unknown protocol is refused with `Error`, as the dataplane does).
//!
//! One implementation for every test: the crate's unit tests include this file with `#[path]`, the
//! integration tests with `mod fake_dataplane;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::IpAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use dataplane::stats::DropReason;
use mgmt_api::ipc::{read_message, write_message, FromDataplane, ToDataplane};
use mgmt_api::report::{
    DataplaneStats, LatencyHistogram, Nat64Tables, Pool4Usage, Session, SessionPage, SessionQuery,
    TranslatorCounters, WorkerStats, XdpSocketCounters, SESSIONS_DEFAULT_LIMIT, SESSIONS_MAX_LIMIT,
};

/// The version the fake says it runs, in its hello and in its stats.
pub const RUNNING_VERSION: u64 = 1;

/// The drop reason the canned counters give a non-zero value: 7 in worker 0's `demo` `v6_to_v4` row.
pub fn sample_drop_reason() -> &'static str {
    DropReason::ALL[0].as_str()
}

fn dropped(nonzero: u64) -> BTreeMap<String, u64> {
    DropReason::ALL
        .iter()
        .map(|r| {
            let v = if r.as_str() == sample_drop_reason() {
                nonzero
            } else {
                0
            };
            (r.as_str().to_owned(), v)
        })
        .collect()
}

fn io(rx: u64) -> BTreeMap<String, u64> {
    [
        ("rx_packets", rx),
        ("tx_packets", rx - 10),
        ("batches", rx / 25),
        ("tx_ring_full", 0),
        ("handed_off", 3),
        ("handoff_received", 2),
        ("handoff_ring_full", 0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Two workers; worker 0 has a SIIT tenant `demo`, untenanted frames, and a NAT64 tenant `mobile` (deploy/examples/nat64.toml).
pub fn sample_stats() -> DataplaneStats {
    let w0 = WorkerStats {
        worker: 0,
        io: io(1000),
        translator: vec![
            TranslatorCounters {
                tenant: Some("demo".into()),
                direction: "v6_to_v4".into(),
                received: 600,
                translated: 590,
                fragments_created: 4,
                icmp_errors_sent: 2,
                handed_off: 3,
                dropped: dropped(7),
            },
            TranslatorCounters {
                tenant: Some("demo".into()),
                direction: "v4_to_v6".into(),
                received: 395,
                translated: 395,
                dropped: dropped(0),
                ..TranslatorCounters::default()
            },
            TranslatorCounters {
                tenant: None,
                direction: "unknown".into(),
                received: 5,
                dropped: dropped(5),
                ..TranslatorCounters::default()
            },
        ],
        nat64: vec![Nat64Tables {
            tenant: "mobile".into(),
            sessions: 2,
            bib_entries: 2,
            pool4: vec![Pool4Usage {
                address: "203.0.113.1".parse().unwrap(),
                protocol: "tcp".into(),
                ports_in_use: 1,
                ports_total: 32256,
            }],
        }],
        batch_latency: LatencyHistogram {
            buckets: vec![(0.000_001, 10), (0.000_01, 35), (0.000_1, 40)],
            count: 40,
            sum_seconds: 0.0012,
        },
        xdp: vec![XdpSocketCounters {
            interface: "xv6".into(),
            rx_dropped: 1,
            rx_ring_full: 2,
            ..XdpSocketCounters::default()
        }],
    };
    let w1 = WorkerStats {
        worker: 1,
        io: io(500),
        translator: vec![TranslatorCounters {
            tenant: Some("demo".into()),
            direction: "v6_to_v4".into(),
            received: 500,
            translated: 500,
            dropped: dropped(0),
            ..TranslatorCounters::default()
        }],
        nat64: vec![Nat64Tables {
            tenant: "mobile".into(),
            sessions: 1,
            bib_entries: 1,
            pool4: vec![],
        }],
        batch_latency: LatencyHistogram {
            buckets: vec![(0.000_001, 0), (0.000_01, 20), (0.000_1, 20)],
            count: 20,
            sum_seconds: 0.0001,
        },
        xdp: vec![],
    };
    DataplaneStats {
        running_version: Some(RUNNING_VERSION),
        uptime_seconds: 42,
        interfaces: vec!["xv6".into(), "xv4".into()],
        workers: vec![w0, w1],
    }
}

/// Three sessions of tenant `mobile`: TCP and ICMP on worker 0, UDP on worker 1.
pub fn sample_sessions() -> Vec<Session> {
    let s = |worker, protocol: &str, port, state: &str| Session {
        tenant: "mobile".into(),
        worker,
        protocol: protocol.into(),
        ipv6_address: "2001:db8:1::10".parse().unwrap(),
        ipv6_port: port,
        ipv4_address: "203.0.113.1".parse().unwrap(),
        ipv4_port: port + 1000,
        remote_address: "198.51.100.7".parse().unwrap(),
        remote_port: 443,
        state: state.into(),
        expires_in_seconds: 100,
        static_binding: false,
    };
    vec![
        s(0, "tcp", 40000, "established"),
        s(0, "icmp", 7, "active"),
        s(1, "udp", 50000, "active"),
    ]
}

fn answer_sessions(q: &SessionQuery) -> FromDataplane {
    if let Some(p) = &q.protocol {
        if !["tcp", "udp", "icmp"].contains(&p.as_str()) {
            return FromDataplane::Error {
                message: format!("unknown protocol {p:?}"),
            };
        }
    }
    let matching: Vec<Session> = sample_sessions()
        .into_iter()
        .filter(|s| q.tenant.as_ref().is_none_or(|t| *t == s.tenant))
        .filter(|s| q.protocol.as_ref().is_none_or(|p| *p == s.protocol))
        .filter(|s| {
            q.address.is_none_or(|a| {
                a == IpAddr::V6(s.ipv6_address)
                    || a == IpAddr::V4(s.ipv4_address)
                    || a == IpAddr::V4(s.remote_address)
            })
        })
        .collect();
    let limit = q
        .limit
        .unwrap_or(SESSIONS_DEFAULT_LIMIT)
        .min(SESSIONS_MAX_LIMIT);
    FromDataplane::Sessions(SessionPage {
        total: matching.len() as u64,
        offset: q.offset,
        sessions: matching.into_iter().skip(q.offset).take(limit).collect(),
    })
}

/// The fake; stops listening (and removes its socket) when dropped.
pub struct FakeDataplane {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    queries: Arc<Mutex<Vec<SessionQuery>>>,
    accept: Option<JoinHandle<()>>,
}

impl FakeDataplane {
    /// Listens on `socket` (replacing a stale file).
    pub fn start(socket: &Path) -> FakeDataplane {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).expect("bind the fake dataplane's socket");
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let (st, qs) = (Arc::clone(&stop), Arc::clone(&queries));
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let qs = Arc::clone(&qs);
                // One thread per connection: the pusher keeps its connection open while queries come and go.
                std::thread::spawn(move || serve(conn, &qs));
            }
        });
        FakeDataplane {
            socket: socket.to_owned(),
            stop,
            queries,
            accept: Some(accept),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Every `GetSessions` query received, in order.
    pub fn queries(&self) -> Vec<SessionQuery> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for FakeDataplane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.socket);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn serve(conn: UnixStream, queries: &Mutex<Vec<SessionQuery>>) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(read_half);
    let mut w = conn;
    let hello = FromDataplane::Hello {
        running_version: Some(RUNNING_VERSION),
    };
    if write_message(&mut w, &hello).is_err() {
        return;
    }
    while let Ok(Some(msg)) = read_message::<_, ToDataplane>(&mut r) {
        let answer = match msg {
            ToDataplane::Apply { version, .. } => FromDataplane::Applied { version },
            ToDataplane::GetStats => FromDataplane::Stats(sample_stats()),
            ToDataplane::GetSessions(q) => {
                let a = answer_sessions(&q);
                queries.lock().unwrap().push(q);
                a
            }
        };
        if write_message(&mut w, &answer).is_err() {
            return;
        }
    }
}
