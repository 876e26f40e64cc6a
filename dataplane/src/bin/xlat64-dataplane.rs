//! `xlat64-dataplane --config FILE [--control-socket PATH]`: the live SIIT / stateful NAT64 appliance on AF_XDP.
//!
//! Starts one pinned worker per queue (each with sockets on every configured interface), loads the XDP
//! steering program on every interface, and runs until SIGTERM or SIGINT: then detaches the programs, lets
//! the workers drain, prints their counters and exits 0. SIGUSR1 prints the counters while running.
//! A bad config or a missing interface is a clear error and a non-zero exit with nothing left attached.
//!
//! With a control socket (`--control-socket`, or `[dataplane] control_socket`), the control process pushes
//! configurations that replace the file's tenants while traffic flows ([`dataplane::control_link`]); the
//! file's `[dataplane]` section stays (changing it needs a restart), and it may hold no tenants at all.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use dataplane::control_link::{Live, Server};
use dataplane::io::afxdp::{retry_while_busy, XskPort, XskSizes};
use dataplane::io::steer::{SteerProgram, STEER_V4, STEER_V6};
use dataplane::l2;
use dataplane::nat64::Nat64Capacity;
use dataplane::pipeline::Pipeline;
use dataplane::report::ReportHub;
use dataplane::tables::Snapshot;
use dataplane::worker::{self, Control, Egress, HandoffHub, WorkerConfig};
use mgmt_api::config::{parse_mac, InterfaceRole, PollMode};
use mgmt_api::Config;

/// How often the box's own addresses are re-read (traffic to them is never translated).
const ADDRESS_REFRESH: Duration = Duration::from_secs(1);

#[derive(Parser, Debug)]
#[command(
    name = "xlat64-dataplane",
    version,
    about = "xlat64's live SIIT / NAT64 translator on AF_XDP"
)]
struct Args {
    /// The configuration (TOML, with a [dataplane] section).
    #[arg(long, short)]
    config: PathBuf,
    /// Listen for the control process on this Unix socket (overrides `[dataplane] control_socket`).
    #[arg(long)]
    control_socket: Option<PathBuf>,
}

static TERM: AtomicBool = AtomicBool::new(false);
static USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::Relaxed);
}

extern "C" fn on_usr1(_: libc::c_int) {
    USR1.store(true, Ordering::Relaxed);
}

fn install_signals() {
    // SAFETY: the handlers only store to atomics (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
    }
}

struct Iface {
    name: String,
    role: InterfaceRole,
    ifindex: u32,
    mac: [u8; 6],
    static_mac: Option<[u8; 6]>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let cfg = Config::from_toml_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: invalid configuration:\n{e}", args.config.display()))?;
    let Some(dp) = cfg.dataplane.clone() else {
        bail!(
            "{}: no [dataplane] section: the live appliance needs its interfaces",
            args.config.display()
        );
    };
    let snapshot =
        Arc::new(Snapshot::compile(&cfg).map_err(|e| {
            anyhow::anyhow!("{}: invalid configuration:\n{e}", args.config.display())
        })?);
    let socket_path = args
        .control_socket
        .clone()
        .or_else(|| dp.control_socket.as_ref().map(PathBuf::from));
    // Stateful NAT64 state is per worker (each owns a slice of every pool4 address's ports): with several
    // workers, packets reaching a worker that does not own them go to their owner over the hand-off rings.
    // A pushed configuration may bring NAT64 tenants: with a control socket the rings are always there.
    let nat64 = snapshot.tenants().iter().any(|t| t.nat64.is_some()) || socket_path.is_some();
    let hub = if nat64 && dp.queues > 1 {
        Some(Arc::new(
            HandoffHub::new(dp.queues, dp.handoff_ring_size as usize)
                .context("creating the hand-off rings")?,
        ))
    } else {
        None
    };

    let mut ifaces = Vec::new();
    for i in &dp.interfaces {
        let Some(ifindex) = l2::ifindex(&i.name) else {
            bail!(
                "interface {:?} does not exist (dataplane.interfaces)",
                i.name
            );
        };
        let mac = l2::if_mac(&i.name).with_context(|| format!("interface {:?}", i.name))?;
        if let Some(n) = l2::rx_queues(&i.name) {
            if n > u32::from(dp.queues) {
                eprintln!(
                    "xlat64-dataplane: warning: {} has {n} receive queues but dataplane.queues = {}: traffic \
                     arriving on queues {}..{n} goes to the kernel untranslated (set queues = {n}, or reduce the \
                     interface's channels with ethtool -L)",
                    i.name, dp.queues, dp.queues
                );
            }
        }
        ifaces.push(Iface {
            name: i.name.clone(),
            role: i.role,
            ifindex,
            mac,
            static_mac: i.next_hop_mac.as_deref().and_then(parse_mac),
        });
    }
    let sock_of = |role: InterfaceRole| {
        ifaces
            .iter()
            .position(|i| i.role == role || i.role == InterfaceRole::Both)
            .expect("validation: both families have an interface")
    };
    let (v6i, v4i) = (sock_of(InterfaceRole::Ipv6), sock_of(InterfaceRole::Ipv4));
    let egress = |k: usize| Egress {
        sock: k,
        ifindex: ifaces[k].ifindex,
        src_mac: ifaces[k].mac,
        static_mac: ifaces[k].static_mac,
    };
    let names: Vec<String> = ifaces.iter().map(|i| i.name.clone()).collect();
    let ingress: Vec<u16> = names
        .iter()
        .map(|n| snapshot.interface_index(n).unwrap_or(u16::MAX))
        .collect();

    // Sockets first (nothing is attached yet if this fails).
    let mut ports = Vec::new();
    for q in 0..u32::from(dp.queues) {
        let port = retry_while_busy(Duration::from_secs(5), || {
            XskPort::new(&names, q, XskSizes { ring: dp.ring_size })
        })
        .with_context(|| format!("creating the AF_XDP sockets of queue {q}"))?;
        ports.push(port);
    }

    // The steering programs: one per interface, attached last. Dropping them detaches them.
    let (local4, local6) = l2::local_addresses().context("listing the box's addresses")?;
    let mut progs = Vec::new();
    for (k, i) in ifaces.iter().enumerate() {
        let mut p = SteerProgram::load().context("loading the XDP steering program")?;
        let fam = match i.role {
            InterfaceRole::Ipv6 => STEER_V6,
            InterfaceRole::Ipv4 => STEER_V4,
            InterfaceRole::Both => STEER_V6 | STEER_V4,
        };
        p.set_families(fam)?;
        p.add_snapshot(&snapshot)?;
        for a in &local4 {
            p.add_local4(*a)?;
        }
        for a in &local6 {
            p.add_local6(*a)?;
        }
        for (q, port) in ports.iter().enumerate() {
            p.set_xsk(q as u32, port.fd(k))?;
        }
        p.attach(i.ifindex)
            .with_context(|| format!("interface {:?}", i.name))?;
        progs.push(p);
    }

    let progs = Arc::new(Mutex::new(progs));
    install_signals();
    // Workers publish their counters and answer session queries here (read through `ctl.reports`).
    let reports = ReportHub::new(
        usize::from(dp.queues),
        ifaces.iter().map(|i| i.name.clone()).collect(),
    );
    let ctl = Arc::new(Control::new(usize::from(dp.queues)).with_reports(reports));
    let allowed = core_affinity::get_core_ids().unwrap_or_default();
    let mut handles = Vec::new();
    for (q, port) in ports.into_iter().enumerate() {
        let wcfg = WorkerConfig {
            queue: q as u32,
            batch: u32::from(dp.batch_size),
            busy_poll: dp.poll_mode == PollMode::Busy,
            poll_timeout_ms: dp.poll_timeout_ms as i32,
            core: if dp.cores.is_empty() {
                // Worker q on the q-th CPU this process may use.
                allowed.get(q % allowed.len().max(1)).map(|c| c.id)
            } else {
                Some(dp.cores[q % dp.cores.len()])
            },
            ingress: ingress.clone(),
            v6: egress(v6i),
            v4: egress(v4i),
        };
        // The control socket's Live builds new NAT64 tables of the same (default) size ahead of swaps.
        let pipeline = Pipeline::with_nat64_capacity(
            snapshot.clone(),
            q as u16,
            dp.queues,
            Nat64Capacity::default(),
        );
        let ctl = ctl.clone();
        let hub = hub.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("xlat64-q{q}"))
                .spawn(move || worker::run(port, pipeline, wcfg, ctl, hub))
                .context("starting a worker thread")?,
        );
    }
    let desc: Vec<String> = ifaces
        .iter()
        .map(|i| format!("{} ({:?})", i.name, i.role).to_lowercase())
        .collect();
    // The control socket last: a configuration pushed through it finds the workers running.
    let server = match &socket_path {
        Some(path) => {
            // Longer than the longest sleep of an idle worker in poll().
            let switch_timeout = Duration::from_millis(u64::from(dp.poll_timeout_ms) * 3)
                .max(Duration::from_secs(5));
            let live = Live::new(
                dp.clone(),
                &snapshot,
                Nat64Capacity::default(),
                ctl.clone(),
                progs.clone(),
                switch_timeout,
            );
            let server = Server::bind(path, Arc::new(live));
            match server {
                Ok(s) => Some(s),
                Err(e) => {
                    ctl.stop.store(true, Ordering::Relaxed);
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(e).with_context(|| format!("control socket {}", path.display()));
                }
            }
        }
        None => None,
    };
    println!(
        "xlat64-dataplane: ready: {} queue(s) on {}, {} tenant(s), {:?} polling, AF_XDP rings of {}{}{}",
        dp.queues,
        desc.join(", "),
        snapshot.tenants().len(),
        dp.poll_mode,
        dp.ring_size,
        match &hub {
            Some(_) => format!(", hand-off rings of {}", dp.handoff_ring_size),
            None => String::new(),
        },
        server
            .as_ref()
            .map(|s| format!(", control socket {}", s.path().display()))
            .unwrap_or_default()
    );

    let (mut cur4, mut cur6) = (local4, local6);
    let mut last_refresh = Instant::now();
    while !TERM.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        // The box's addresses may change while it runs: keep traffic to them out of the translator.
        if last_refresh.elapsed() >= ADDRESS_REFRESH {
            last_refresh = Instant::now();
            if let Ok((new4, new6)) = l2::local_addresses() {
                for p in progs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    for a in new4.iter().filter(|a| !cur4.contains(a)) {
                        let _ = p.add_local4(*a);
                    }
                    for a in cur4.iter().filter(|a| !new4.contains(a)) {
                        p.remove_local4(*a);
                    }
                    for a in new6.iter().filter(|a| !cur6.contains(a)) {
                        let _ = p.add_local6(*a);
                    }
                    for a in cur6.iter().filter(|a| !new6.contains(a)) {
                        p.remove_local6(*a);
                    }
                }
                (cur4, cur6) = (new4, new6);
            }
        }
        if USR1.swap(false, Ordering::Relaxed) {
            ctl.dump.fetch_add(1, Ordering::Relaxed);
        }
        if handles.iter().any(|h| h.is_finished()) {
            eprintln!("xlat64-dataplane: a worker stopped unexpectedly");
            break;
        }
    }
    // No more pushes; stop steering, then let the workers drain what they hold.
    drop(server);
    for p in progs.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
        p.detach();
    }
    ctl.stop.store(true, Ordering::Relaxed);
    let mut failed = false;
    for h in handles {
        match h.join() {
            Ok(r) => print!("{r}"),
            Err(_) => failed = true,
        }
    }
    if failed {
        bail!("a worker panicked");
    }
    println!("xlat64-dataplane: stopped");
    Ok(())
}
