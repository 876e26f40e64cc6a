//! `xlat64-gen`: AF_XDP traffic generator and raw forwarder.
//!
//! ```text
//! xlat64-gen run     --tx-if G6 --rx-if G4 --dst-mac MAC --src 2001:db8:6::10 --dst 2001:db8:64::c000:20a --rate 100000
//! xlat64-gen search  --tx-if G6 --rx-if G4 --dst-mac MAC --src ... --dst ...      (RFC 8219 §7.1 throughput)
//! xlat64-gen forward --in A6 --out A4 --dst-mac MAC                                (raw AF_XDP forwarding)
//! ```
//!
//! `run` and `search` print a human summary on stderr and JSON on stdout (or into `--json FILE`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use perf::gen::{self, GenConfig, Generator, SearchConfig};
use perf::packet::{FlowSpec, Template};

#[derive(Parser, Debug)]
#[command(
    name = "xlat64-gen",
    version,
    about = "AF_XDP traffic generator (RFC 8219 throughput, latency) and raw AF_XDP forwarder"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// One trial at a fixed rate (or flat out).
    Run {
        #[command(flatten)]
        t: Traffic,
        /// Packets per second; 0: as fast as the generator can.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Trial length, seconds.
        #[arg(long, default_value_t = 2.0)]
        duration: f64,
    },
    /// RFC 8219 §7.1 throughput: binary search for the highest rate without loss.
    Search {
        #[command(flatten)]
        t: Traffic,
        /// Length of each trial, seconds (RFC 8219 asks for 60 s; short here to fit a shared machine).
        #[arg(long, default_value_t = 1.0)]
        trial: f64,
        /// Upper bound, packets per second; 0: the rate of a first flat-out trial.
        #[arg(long, default_value_t = 0)]
        max_rate: u64,
        /// Stop when the bounds are within this fraction of the upper bound.
        #[arg(long, default_value_t = 0.02)]
        resolution: f64,
        /// Most trials after the first.
        #[arg(long, default_value_t = 10)]
        max_steps: u32,
        /// Loss ratio still counted as "no loss" (RFC 8219: 0).
        #[arg(long, default_value_t = 0.0)]
        loss_tolerance: f64,
    },
    /// Raw AF_XDP forwarding: frames from --in leave on --out with new MAC addresses. Until SIGTERM/SIGINT.
    Forward {
        #[arg(long = "in")]
        in_if: String,
        #[arg(long = "out")]
        out_if: String,
        /// Destination MAC of the forwarded frames.
        #[arg(long)]
        dst_mac: String,
        #[arg(long, default_value_t = 64)]
        batch: u32,
        /// Spin instead of sleeping in poll() when idle.
        #[arg(long)]
        busy: bool,
        /// Entries of each AF_XDP ring (as the dataplane's `ring_size`).
        #[arg(long, default_value_t = 8192)]
        ring: u32,
        /// Pin to this CPU.
        #[arg(long)]
        core: Option<usize>,
    },
}

#[derive(Args, Debug)]
struct Traffic {
    /// Interface to send on.
    #[arg(long)]
    tx_if: String,
    /// Interface the traffic comes back on (may be the same).
    #[arg(long)]
    rx_if: String,
    /// Destination MAC (the device under test's interface).
    #[arg(long)]
    dst_mac: String,
    /// Source MAC; default: the sending interface's.
    #[arg(long)]
    src_mac: Option<String>,
    /// Source address (IPv6 or IPv4: sets the family).
    #[arg(long)]
    src: IpAddr,
    #[arg(long)]
    dst: IpAddr,
    /// Number of flows (UDP source ports src_port..src_port+flows).
    #[arg(long, default_value_t = 16)]
    flows: u16,
    #[arg(long, default_value_t = 10000)]
    src_port: u16,
    #[arg(long, default_value_t = 5001)]
    dst_port: u16,
    /// Frame size with FCS (RFC 2544 counting); default 84 for IPv6, 64 for IPv4 (RFC 8219 §5.1).
    #[arg(long)]
    frame_size: Option<usize>,
    /// Frames per batch.
    #[arg(long, default_value_t = 64)]
    batch: u32,
    /// Keep receiving this long after the last packet, milliseconds.
    #[arg(long, default_value_t = 300)]
    drain_ms: u64,
    /// Pin to this CPU.
    #[arg(long)]
    core: Option<usize>,
    /// Write the JSON result here instead of stdout.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A label copied into the JSON (e.g. the device under test).
    #[arg(long, default_value = "")]
    label: String,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn generator(t: &Traffic) -> Result<Generator> {
    gen::pin(t.core);
    let v6 = t.src.is_ipv6();
    let src_mac = match &t.src_mac {
        Some(m) => gen::parse_mac(m)?,
        None => dataplane::l2::if_mac(&t.tx_if).with_context(|| t.tx_if.clone())?,
    };
    let spec = FlowSpec {
        src_mac,
        dst_mac: gen::parse_mac(&t.dst_mac)?,
        src: t.src,
        dst: t.dst,
        src_port: t.src_port,
        dst_port: t.dst_port,
        flows: t.flows,
        frame_size: t.frame_size.unwrap_or(if v6 { 84 } else { 64 }),
    };
    let tpl = Template::new(&spec).map_err(anyhow::Error::msg)?;
    Generator::new(
        GenConfig {
            tx_if: t.tx_if.clone(),
            rx_if: t.rx_if.clone(),
            batch: t.batch,
            drain: Duration::from_millis(t.drain_ms),
        },
        tpl,
        t.dst_port,
    )
}

fn frame_size(t: &Traffic) -> usize {
    t.frame_size
        .unwrap_or(if t.src.is_ipv6() { 84 } else { 64 })
}

fn emit(t: &Traffic, v: serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(&v)?;
    match &t.json {
        Some(p) => std::fs::write(p, text + "\n").with_context(|| format!("{}", p.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
    match cli.cmd {
        Cmd::Run { t, rate, duration } => {
            let mut g = generator(&t)?;
            let r = g.trial(rate, Duration::from_secs_f64(duration));
            eprintln!("xlat64-gen: {}", gen::summary_line(&r));
            emit(
                &t,
                serde_json::json!({
                    "label": t.label, "mode": "run", "frame_size": frame_size(&t), "flows": t.flows,
                    "family": if t.src.is_ipv6() { "ipv6" } else { "ipv4" }, "trial": r,
                }),
            )
        }
        Cmd::Search {
            t,
            trial,
            max_rate,
            resolution,
            max_steps,
            loss_tolerance,
        } => {
            let mut g = generator(&t)?;
            let cfg = SearchConfig {
                trial: Duration::from_secs_f64(trial),
                max_rate,
                resolution,
                max_steps,
                loss_tolerance,
            };
            let r = gen::search(&mut g, &cfg, true);
            let lat = r
                .at_throughput
                .as_ref()
                .map(|t| t.latency_ns.clone())
                .unwrap_or_default();
            eprintln!(
                "xlat64-gen: {}: throughput {} pps ({:.3} Mpps){}, latency at throughput us: p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
                if t.label.is_empty() { "search" } else { &t.label },
                r.throughput_pps,
                r.throughput_pps as f64 / 1e6,
                if r.generator_limited { " (generator-limited)" } else { "" },
                lat.p50 as f64 / 1e3,
                lat.p99 as f64 / 1e3,
                lat.p999 as f64 / 1e3,
                lat.max as f64 / 1e3
            );
            emit(
                &t,
                serde_json::json!({
                    "label": t.label, "mode": "search", "frame_size": frame_size(&t), "flows": t.flows,
                    "family": if t.src.is_ipv6() { "ipv6" } else { "ipv4" }, "trial_s": trial,
                    "result": r,
                }),
            )
        }
        Cmd::Forward {
            in_if,
            out_if,
            dst_mac,
            batch,
            busy,
            ring,
            core,
        } => {
            gen::pin(core);
            let c = gen::forward(
                &in_if,
                &out_if,
                gen::parse_mac(&dst_mac)?,
                batch,
                busy,
                ring,
                &STOP,
            )?;
            println!(
                "xlat64-gen forward: rx {} tx {} tx_ring_full {}",
                c.rx, c.tx, c.tx_ring_full
            );
            Ok(())
        }
    }
}
