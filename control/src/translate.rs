//! `xlat64 translate`: offline translation of a capture file, through the same pipeline as the live path.
//!
//! Every packet of the input goes through [`Pipeline::process`]; every packet it emits (the translated packet,
//! its fragments, or an ICMP error the translator originated) is written to the output in order, with the input
//! packet's timestamp. In an Ethernet capture, outputs carry the input frame's MAC addresses, swapped for a
//! packet leaving on the side it came from (an ICMP error back to the sender), and the VLAN tag the pipeline
//! asks for.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dataplane::frame::{Frame, RxMeta, FRAME_SIZE, HEADROOM};
use dataplane::io::pcap::{PcapFileError, PcapSink, PcapSource, TsResolution};
use dataplane::io::{EthAddrs, Payload};
use dataplane::pipeline::{Outcome, OutcomeKind, Output, Pipeline};
use dataplane::stats::{Direction, DirectionStats, DropReason, Stats};
use dataplane::tables::Snapshot;
use dataplane::xlat::Side;
use mgmt_api::config::{Config, ConfigErrors};

/// Bytes kept free behind each packet: what a full-size 1500-byte packet leaves in a live frame.
const TAILROOM: usize = FRAME_SIZE - HEADROOM - 1500;

/// What `xlat64 translate` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateOptions {
    /// TOML configuration (the schema of `GET /v1/config`).
    pub config: PathBuf,
    /// Capture to translate.
    pub input: PathBuf,
    /// Capture to write.
    pub output: PathBuf,
    /// Print one line per input packet.
    pub explain: bool,
    /// Ingress interface of every packet (a name from the config's `ipv4_side.interface` entries).
    pub interface: Option<String>,
    /// After the last packet, run the stateful timers up to this time (held SYNs answered, sessions expired).
    pub run_timers_until: Option<TimersUntil>,
}

/// `--run-timers-until`: a capture time, or a time after the last packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimersUntil {
    /// `SECONDS`: a time on the capture's clock (seconds since the epoch, like its timestamps).
    At(Duration),
    /// `+SECONDS`: this long after the last packet.
    AfterLast(Duration),
}

impl std::str::FromStr for TimersUntil {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (relative, num) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let secs: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a number of seconds (SECONDS or +SECONDS)"))?;
        let d = Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{s:?}: seconds must be finite and not negative"))?;
        Ok(if relative {
            TimersUntil::AfterLast(d)
        } else {
            TimersUntil::At(d)
        })
    }
}

/// Why a translation run could not be done. All of these are the operator's to fix (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("{}: cannot read config: {err}", path.display())]
    ConfigRead { path: PathBuf, err: io::Error },
    #[error("{}: invalid config:\n{}", path.display(), indent(&errors.to_string()))]
    Config { path: PathBuf, errors: ConfigErrors },
    #[error(transparent)]
    Pcap(#[from] PcapFileError),
    #[error("cannot write the report: {0}")]
    Report(#[source] io::Error),
}

impl TranslateError {
    /// Process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

fn indent(lines: &str) -> String {
    let mut s = String::new();
    for (i, l) in lines.lines().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str("  ");
        s.push_str(l);
    }
    s
}

/// Loads, validates and compiles a configuration file.
pub fn load_snapshot(path: &Path) -> Result<Snapshot, TranslateError> {
    let text = std::fs::read_to_string(path).map_err(|err| TranslateError::ConfigRead {
        path: path.to_owned(),
        err,
    })?;
    let config_error = |errors| TranslateError::Config {
        path: path.to_owned(),
        errors,
    };
    let config = Config::from_toml_str(&text).map_err(config_error)?;
    Snapshot::compile(&config).map_err(config_error)
}

/// The counters of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Records read from the input.
    pub packets_in: u64,
    /// Records written to the output.
    pub packets_out: u64,
    /// The pipeline's counters, plus the frames the link layer already refused (not IP, too short for the
    /// Ethernet header) under `unclassified`.
    pub stats: Stats,
}

/// Runs a translation. `out` gets the explain lines (if asked) and the summary; `diag` gets notes about the
/// options (for example an interface the config does not name).
pub fn run(
    opts: &TranslateOptions,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<Report, TranslateError> {
    let snapshot = load_snapshot(&opts.config)?;
    let ingress = ingress_index(&snapshot, opts.interface.as_deref(), diag)
        .map_err(TranslateError::Report)?;
    let mut source = PcapSource::open(&opts.input)?;
    let mut sink = PcapSink::create_for(&opts.output, &source)?;
    let resolution = source.ts_resolution();
    let mut pipeline = Pipeline::new(Arc::new(snapshot));
    let mut link_drops = DirectionStats::default();
    let mut buf: Vec<u8> = Vec::with_capacity(FRAME_SIZE);
    let mut packets_in = 0;
    let mut line = String::new();
    // Ethernet addresses of the latest frame from each side, for packets the timers emit.
    let mut last_eth: [Option<EthAddrs>; 2] = [None, None];
    let mut last_ts = Duration::ZERO;

    while let Some(pkt) = source.next_packet()? {
        packets_in += 1;
        line.clear();
        let _ = write!(
            line,
            "{:>5} {}",
            pkt.number,
            timestamp(pkt.timestamp, resolution)
        );
        match pkt.payload {
            Payload::Ip(packet) => {
                buf.clear();
                buf.resize(FRAME_SIZE.max(HEADROOM + packet.len() + TAILROOM), 0);
                let Some(mut frame) = Frame::copy_from(&mut buf, packet) else {
                    unreachable!("the buffer was sized for the packet");
                };
                frame.meta = RxMeta {
                    ingress,
                    vlan: pkt.meta.vlan,
                };
                let in_side = match packet.first().map(|b| b >> 4) {
                    Some(4) => Some(Side::V4),
                    Some(6) => Some(Side::V6),
                    _ => None,
                };
                let eth = pkt.link.eth();
                let timestamp = pkt.timestamp;
                // The capture's timestamps are the clock: timers due before this packet fire first.
                let expired = run_timers(&mut pipeline, &mut sink, &last_eth, timestamp)?;
                if expired > 0 && opts.explain {
                    explain_timers(out, timestamp, resolution, expired)?;
                }
                if let (Some(side), Some(a)) = (in_side, eth) {
                    last_eth[side as usize] = Some(a);
                }
                let mut write_error = None;
                let outcome = pipeline.process(&mut frame, &mut |o: Output<'_>| {
                    if write_error.is_some() {
                        return;
                    }
                    let addrs = eth.map(|a| {
                        if Some(o.side) == in_side {
                            a.swapped()
                        } else {
                            a
                        }
                    });
                    if let Err(e) = sink.write(timestamp, addrs, o.vlan, o.packet) {
                        write_error = Some(e);
                    }
                });
                if let Some(e) = write_error {
                    return Err(e.into());
                }
                last_ts = timestamp;
                describe(&mut line, &pipeline, outcome);
            }
            Payload::NotIp { ethertype } => {
                link_drops.received += 1;
                link_drops.dropped[DropReason::NotIp as usize] += 1;
                let _ = write!(
                    line,
                    " - - dropped {} (ethertype 0x{ethertype:04x})",
                    DropReason::NotIp.as_str()
                );
            }
            Payload::LinkTruncated => {
                link_drops.received += 1;
                link_drops.dropped[DropReason::Truncated as usize] += 1;
                let _ = write!(
                    line,
                    " - - dropped {} (shorter than its Ethernet header)",
                    DropReason::Truncated.as_str()
                );
            }
        }
        if pkt.captured_len < pkt.orig_len {
            let _ = write!(
                line,
                " (captured {} of {} bytes)",
                pkt.captured_len, pkt.orig_len
            );
        }
        if opts.explain {
            writeln!(out, "{line}").map_err(TranslateError::Report)?;
        }
    }
    if let Some(until) = opts.run_timers_until {
        let at = match until {
            TimersUntil::At(t) => t,
            TimersUntil::AfterLast(d) => last_ts + d,
        };
        let expired = run_timers(&mut pipeline, &mut sink, &last_eth, at)?;
        if opts.explain {
            explain_timers(out, at, resolution, expired)?;
        }
    }
    let packets_out = sink.count();
    sink.finish()?;

    let mut stats = pipeline.stats().clone();
    stats.unclassified.add(&link_drops);
    let report = Report {
        packets_in,
        packets_out,
        stats,
    };
    write_summary(out, &report).map_err(TranslateError::Report)?;
    Ok(report)
}

/// Runs the stateful timers up to `at` (capture time), writing what they emit (ICMP errors for held SYNs)
/// with that timestamp. An output leaves on a side: it gets the addresses of the latest frame that came from
/// that side, swapped, or those of a frame from the other side as they were. Returns the expiries handled.
fn run_timers<W: Write>(
    pipeline: &mut Pipeline,
    sink: &mut PcapSink<W>,
    last_eth: &[Option<EthAddrs>; 2],
    at: Duration,
) -> Result<usize, TranslateError> {
    let now_ns = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
    let mut write_error = None;
    let expired = pipeline.run_timers_until(now_ns, &mut |o: Output<'_>| {
        if write_error.is_some() {
            return;
        }
        let other = match o.side {
            Side::V4 => Side::V6,
            Side::V6 => Side::V4,
        };
        let addrs = last_eth[o.side as usize]
            .map(EthAddrs::swapped)
            .or(last_eth[other as usize]);
        if let Err(e) = sink.write(at, addrs, o.vlan, o.packet) {
            write_error = Some(e);
        }
    });
    match write_error {
        Some(e) => Err(e.into()),
        None => Ok(expired),
    }
}

fn explain_timers(
    out: &mut dyn Write,
    at: Duration,
    resolution: TsResolution,
    expired: usize,
) -> Result<(), TranslateError> {
    writeln!(
        out,
        "    - {} timers: {expired} expired (sessions, bindings, held SYNs)",
        timestamp(at, resolution)
    )
    .map_err(TranslateError::Report)
}

/// The ingress interface index for `--interface NAME`. Without the option, or with a name the config does not
/// know, an index no tenant names: then only tenants without an `ipv4_side.interface` match IPv4 packets.
fn ingress_index(snapshot: &Snapshot, name: Option<&str>, diag: &mut dyn Write) -> io::Result<u16> {
    let names = snapshot.interface_names();
    let unnamed = u16::try_from(names.len()).unwrap_or(u16::MAX);
    match name {
        Some(name) => match snapshot.interface_index(name) {
            Some(i) => Ok(i),
            None => {
                writeln!(
                    diag,
                    "note: the config names no interface {name:?} (it names: {}); IPv4 packets will match only \
                     tenants without an ipv4_side.interface",
                    list(names)
                )?;
                Ok(unnamed)
            }
        },
        None => {
            if !names.is_empty() {
                writeln!(
                    diag,
                    "note: no --interface given; IPv4 packets will match only tenants without an \
                     ipv4_side.interface (the config names: {})",
                    list(names)
                )?;
            }
            Ok(unnamed)
        }
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `seconds.fraction` in the capture's resolution.
fn timestamp(t: Duration, resolution: TsResolution) -> String {
    match resolution {
        TsResolution::MicroSecond => format!("{}.{:06}", t.as_secs(), t.subsec_micros()),
        TsResolution::NanoSecond => format!("{}.{:09}", t.as_secs(), t.subsec_nanos()),
    }
}

/// Appends ` TENANT DIRECTION VERDICT [REASON]` for one packet.
fn describe(line: &mut String, pipeline: &Pipeline, outcome: Outcome) {
    let tenant = outcome
        .tenant
        .map(|i| pipeline.snapshot().tenant(i).name.as_str())
        .unwrap_or("-");
    let direction = outcome.direction.map(Direction::as_str).unwrap_or("-");
    let _ = write!(line, " {tenant} {direction} ");
    let _ = match outcome.kind {
        OutcomeKind::Translated { packets } if packets > 1 => {
            write!(line, "fragmented into {packets}")
        }
        OutcomeKind::Translated { .. } => write!(line, "translated"),
        OutcomeKind::IcmpError(reason) => write!(line, "icmp_error {}", reason.as_str()),
        OutcomeKind::Dropped(reason) => write!(line, "dropped {}", reason.as_str()),
        // One pipeline offline: never happens (NAT64 hands off between workers only).
        OutcomeKind::HandedOff { worker } => write!(line, "handed_off {worker}"),
    };
}

/// The closing summary: packet counts, counters per direction, and drops by reason.
pub fn write_summary(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(
        out,
        "summary: {} packets in, {} packets out",
        r.packets_in, r.packets_out
    )?;
    for d in Direction::ALL {
        let s = r.stats.dir(d);
        writeln!(
            out,
            "  {}: received {}, translated {} (+{} fragments), icmp errors {}, dropped {}",
            d.as_str(),
            s.received,
            s.translated,
            s.fragments_created,
            s.icmp_errors_sent,
            s.dropped_total()
        )?;
    }
    let u = &r.stats.unclassified;
    if u.received > 0 || u.dropped_total() > 0 {
        writeln!(
            out,
            "  not classified: received {}, dropped {}",
            u.received,
            u.dropped_total()
        )?;
    }
    let any = DropReason::ALL
        .iter()
        .any(|&reason| total_dropped(&r.stats, reason) > 0);
    if any {
        writeln!(
            out,
            "  drops by reason (including those answered with an ICMP error):"
        )?;
        for &reason in DropReason::ALL {
            let n = total_dropped(&r.stats, reason);
            if n > 0 {
                writeln!(out, "    {}: {n}", reason.as_str())?;
            }
        }
    }
    Ok(())
}

fn total_dropped(s: &Stats, reason: DropReason) -> u64 {
    let i = reason as usize;
    s.rows().map(|d| d.dropped[i]).sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_in_the_capture_resolution() {
        let t = Duration::new(1_700_000_000, 1_002_003);
        assert_eq!(timestamp(t, TsResolution::MicroSecond), "1700000000.001002");
        assert_eq!(
            timestamp(t, TsResolution::NanoSecond),
            "1700000000.001002003"
        );
    }

    #[test]
    fn config_errors_are_indented_one_per_line() {
        assert_eq!(indent("a: x\nb: y"), "  a: x\n  b: y");
    }

    #[test]
    fn summary_lists_directions_and_nonzero_reasons() {
        let mut stats = Stats::default();
        let d = stats.counters_mut(None, Direction::V6ToV4);
        d.received = 3;
        d.translated = 1;
        d.icmp_errors_sent = 1;
        d.dropped[DropReason::TtlExpired as usize] = 1;
        d.dropped[DropReason::NoTenant as usize] = 1;
        stats.unclassified.received = 1;
        stats.unclassified.dropped[DropReason::NotIp as usize] = 1;
        let report = Report {
            packets_in: 4,
            packets_out: 2,
            stats,
        };
        let mut out = Vec::new();
        write_summary(&mut out, &report).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "summary: 4 packets in, 2 packets out\n\
             \x20 v6_to_v4: received 3, translated 1 (+0 fragments), icmp errors 1, dropped 2\n\
             \x20 v4_to_v6: received 0, translated 0 (+0 fragments), icmp errors 0, dropped 0\n\
             \x20 not classified: received 1, dropped 1\n\
             \x20 drops by reason (including those answered with an ICMP error):\n\
             \x20   not_ip: 1\n\
             \x20   no_tenant: 1\n\
             \x20   ttl_expired: 1\n"
        );
    }
}
