//! The generator: one thread, one UMEM, an AF_XDP socket on the sending interface and one on the receiving
//! interface (queue 0 of each; the veths of the test topologies have one queue). Each trial sends at a set
//! rate (or flat out), stamps every packet, and counts and timestamps what comes back on the far side.
//!
//! The receiving interface gets the steering program of the dataplane with "everything unicast IP" in its
//! maps, so ARP/ND and multicast still reach the kernel while the test traffic reaches the socket.

use std::io;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use dataplane::frame::FRAME_SIZE;
use dataplane::io::afxdp::{chunk_of, RxDesc, XskPort, XskSizes, XDP_HEADROOM};
use dataplane::io::steer::{SteerProgram, STEER_V4, STEER_V6};

use crate::packet::{parse, Template};

/// CLOCK_MONOTONIC in nanoseconds.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Pins the calling thread.
pub fn pin(core: Option<usize>) {
    if let Some(c) = core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
            eprintln!("xlat64-gen: could not pin to core {c}");
        }
    }
}

/// Attaches the "steer every unicast IP packet to queue 0's socket" program to `ifname`.
pub fn steer_all(ifname: &str, xsk_fd: i32) -> anyhow::Result<SteerProgram> {
    let ifindex = dataplane::l2::ifindex(ifname)
        .ok_or_else(|| anyhow::anyhow!("interface {ifname:?} does not exist"))?;
    let mut p = SteerProgram::load()?;
    p.set_families(STEER_V6 | STEER_V4)?;
    p.add_prefix6([0; 16], 0)?;
    p.add_prefix4([0; 4], 0)?;
    p.set_xsk(0, xsk_fd)?;
    p.attach(ifindex)?;
    Ok(p)
}

/// Copy-mode AF_XDP transmits through skbs charged to the socket's send buffer, and a frame completes only
/// when its skb is freed — for a device that forwards the skb itself (the kernel), at the far end of the path.
/// With the default buffer (~200 KiB, a few hundred frames) the generator would then be held back by its own
/// socket instead of meeting the device's limit, so make it large (SO_SNDBUFFORCE needs CAP_NET_ADMIN).
fn raise_sndbuf(fd: i32) {
    let size: libc::c_int = 64 << 20;
    for opt in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
        // SAFETY: setsockopt with a correctly sized int on our own socket.
        let ret = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if ret == 0 {
            return;
        }
    }
}

/// Latency percentiles of a trial, nanoseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            samples: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One trial's result.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Offered rate, packets per second (0: flat out).
    pub rate_pps: u64,
    pub duration_s: f64,
    pub sent: u64,
    pub received: u64,
    /// sent − received (never negative; duplicates would hide losses, and are counted apart).
    pub lost: u64,
    pub loss_ratio: f64,
    /// What the generator really sent per second (below `rate_pps` if it could not keep up).
    pub tx_pps: f64,
    /// Received per second of the sending period.
    pub rx_pps: f64,
    /// Received as IPv4 / IPv6 (a translator changes the family).
    pub rx_ipv4: u64,
    pub rx_ipv6: u64,
    /// Received with a sequence number lower than one seen before.
    pub reordered: u64,
    /// Frames on the receive socket that were not ours (other ports, not UDP...).
    pub foreign: u64,
    /// Send attempts refused for a full TX ring or no free frame (the generator's own limit).
    pub tx_stalls: u64,
    pub latency_ns: Latency,
}

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub tx_if: String,
    pub rx_if: String,
    pub batch: u32,
    /// Time to keep receiving after the last packet was sent.
    pub drain: Duration,
}

pub struct Generator {
    port: XskPort,
    tx_sock: usize,
    rx_sock: usize,
    _steer: SteerProgram,
    template: Template,
    dst_port: u16,
    cfg: GenConfig,
    seq: u32,
    rx: Vec<(usize, RxDesc)>,
}

impl Generator {
    pub fn new(cfg: GenConfig, template: Template, dst_port: u16) -> anyhow::Result<Generator> {
        let mut names = vec![cfg.tx_if.clone()];
        if cfg.rx_if != cfg.tx_if {
            names.push(cfg.rx_if.clone());
        }
        let port = XskPort::new(&names, 0, XskSizes { ring: 4096 })
            .map_err(|e| anyhow::anyhow!("AF_XDP sockets on {names:?}: {e}"))?;
        let rx_sock = names.len() - 1;
        raise_sndbuf(port.fd(0));
        let steer = steer_all(&cfg.rx_if, port.fd(rx_sock))?;
        Ok(Generator {
            port,
            tx_sock: 0,
            rx_sock,
            _steer: steer,
            template,
            dst_port,
            rx: Vec::with_capacity(cfg.batch as usize),
            cfg,
            seq: 0,
        })
    }

    /// Receives what is there; returns how many frames were looked at.
    fn receive(&mut self, st: &mut RxState) -> u32 {
        self.rx.clear();
        let n = self.port.rx(self.rx_sock, self.cfg.batch, &mut self.rx);
        if n == 0 {
            if self.port.fill_needs_wakeup(self.rx_sock) {
                self.port.wake_rx(self.rx_sock);
            }
            return 0;
        }
        let now = now_ns();
        for &(_, d) in &self.rx {
            let chunk = chunk_of(d.addr);
            let off = (d.addr - chunk) as usize;
            let end = (off + d.len as usize).min(FRAME_SIZE);
            // SAFETY: the chunk came off our RX ring: ours until released below; no other slice of it.
            let buf = unsafe { std::slice::from_raw_parts(self.port.chunk_ptr(chunk), FRAME_SIZE) };
            match parse(&buf[off..end], self.dst_port) {
                Some(r) if r.seq.wrapping_sub(st.first_seq) < st.span => {
                    st.received += 1;
                    if r.v6 {
                        st.rx_ipv6 += 1;
                    } else {
                        st.rx_ipv4 += 1;
                    }
                    let rel = r.seq.wrapping_sub(st.first_seq);
                    if st.any && rel < st.max_rel {
                        st.reordered += 1;
                    } else {
                        st.max_rel = rel;
                        st.any = true;
                    }
                    st.hist
                        .saturating_record(now.saturating_sub(r.ts_ns).max(1));
                }
                _ => st.foreign += 1,
            }
            self.port.release(chunk);
        }
        self.port.refill(self.rx_sock);
        n
    }

    /// One trial: `rate_pps` (0 = as fast as possible) for `duration`.
    pub fn trial(&mut self, rate_pps: u64, duration: Duration) -> Trial {
        // Leftovers of the previous trial (late frames) are not this trial's.
        let mut junk = RxState::new(0, 0);
        let t_flush = now_ns() + 20_000_000;
        while now_ns() < t_flush {
            self.port.complete();
            self.receive(&mut junk);
        }
        let first_seq = self.seq;
        // Sequence numbers this trial may use (receives outside the window are foreign).
        let mut st = RxState::new(first_seq, u32::MAX / 2);
        let mut sent = 0u64;
        let mut stalls = 0u64;
        let dur_ns = duration.as_nanos() as u64;
        let t0 = now_ns();
        let len = self.template.len() as u32;
        let mut now = t0;
        while now - t0 < dur_ns {
            self.port.complete();
            let due = if rate_pps == 0 {
                u64::from(self.cfg.batch)
            } else {
                ((now - t0) as u128 * u128::from(rate_pps) / 1_000_000_000) as u64 - sent
            };
            let n = due.min(u64::from(self.cfg.batch)) as u32;
            let mut queued = 0u32;
            for _ in 0..n {
                let Some(c) = self.port.alloc() else {
                    stalls += 1;
                    break;
                };
                let off = XDP_HEADROOM;
                // SAFETY: c was just taken from the free list: ours, no other slice of it exists.
                let buf =
                    unsafe { std::slice::from_raw_parts_mut(self.port.chunk_ptr(c), FRAME_SIZE) };
                self.template.stamp(&mut buf[off..], self.seq, now);
                if !self.port.tx(self.tx_sock, c + off as u64, len) {
                    self.port.release(c);
                    stalls += 1;
                    break;
                }
                self.seq = self.seq.wrapping_add(1);
                queued += 1;
            }
            if queued > 0 {
                self.port.flush_tx();
                sent += u64::from(queued);
            } else if self.port.tx_in_flight() {
                self.port.kick_outstanding();
            }
            let got = self.receive(&mut st);
            if n == 0 && got == 0 {
                // Ahead of schedule: let the receive side's kernel thread (threaded NAPI) have the core.
                std::thread::yield_now();
            }
            now = now_ns();
        }
        let t_end = now;
        // Drain: what is still on its way.
        let drain_end = t_end + self.cfg.drain.as_nanos() as u64;
        while now_ns() < drain_end && st.received < sent {
            self.port.complete();
            if self.port.tx_in_flight() {
                self.port.kick_outstanding();
            }
            self.receive(&mut st);
        }
        let secs = (t_end - t0) as f64 / 1e9;
        let lost = sent.saturating_sub(st.received);
        Trial {
            rate_pps,
            duration_s: secs,
            sent,
            received: st.received,
            lost,
            loss_ratio: if sent == 0 {
                0.0
            } else {
                lost as f64 / sent as f64
            },
            tx_pps: sent as f64 / secs,
            rx_pps: st.received as f64 / secs,
            rx_ipv4: st.rx_ipv4,
            rx_ipv6: st.rx_ipv6,
            reordered: st.reordered,
            foreign: st.foreign,
            tx_stalls: stalls,
            latency_ns: Latency::of(&st.hist),
        }
    }
}

struct RxState {
    first_seq: u32,
    span: u32,
    received: u64,
    rx_ipv4: u64,
    rx_ipv6: u64,
    reordered: u64,
    foreign: u64,
    max_rel: u32,
    any: bool,
    hist: Histogram<u64>,
}

impl RxState {
    fn new(first_seq: u32, span: u32) -> RxState {
        RxState {
            first_seq,
            span,
            received: 0,
            rx_ipv4: 0,
            rx_ipv6: 0,
            reordered: 0,
            foreign: 0,
            max_rel: 0,
            any: false,
            // 1 ns .. 10 s, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds"),
        }
    }
}

/// Settings of the RFC 8219 §7.1 (RFC 2544 §26.1) throughput search.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    pub trial: Duration,
    /// Upper bound; 0: the rate of a first flat-out trial.
    pub max_rate: u64,
    /// Stop when the bounds are this close (fraction of the upper bound).
    pub resolution: f64,
    /// Most trials after the first.
    pub max_steps: u32,
    /// Loss ratio still counted as a pass (RFC 8219: 0).
    pub loss_tolerance: f64,
}

/// The search's result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Highest rate that passed, packets per second (0 if none did).
    pub throughput_pps: u64,
    /// True if even the flat-out rate passed: the generator, not the device under test, was the limit.
    pub generator_limited: bool,
    pub loss_tolerance: f64,
    /// The passing trial at `throughput_pps` (its latency is the RFC 8219 §7.2 latency at throughput).
    pub at_throughput: Option<Trial>,
    pub trials: Vec<Trial>,
}

/// Binary search for the highest rate whose trial loses at most `loss_tolerance` of its packets.
pub fn search(g: &mut Generator, cfg: &SearchConfig, log: bool) -> SearchResult {
    let pass = |t: &Trial| t.sent > 0 && t.loss_ratio <= cfg.loss_tolerance;
    let mut trials = Vec::new();
    let mut best: Option<Trial> = None;
    let (mut lo, mut hi);
    let mut generator_limited = false;
    if cfg.max_rate == 0 {
        let t = g.trial(0, cfg.trial);
        if log {
            eprintln!("{}", summary_line(&t));
        }
        hi = t.tx_pps as u64;
        if pass(&t) {
            generator_limited = true;
            lo = hi;
            best = Some(t.clone());
        } else {
            // Below what was received at full load, nothing is known yet.
            lo = 0;
        }
        trials.push(t);
    } else {
        hi = cfg.max_rate;
        lo = 0;
    }
    let mut steps = 0;
    while !generator_limited && steps < cfg.max_steps && hi > 0 {
        if (hi - lo) as f64 <= cfg.resolution * hi as f64 {
            break;
        }
        let mid = (lo + hi) / 2;
        let t = g.trial(mid, cfg.trial);
        if log {
            eprintln!("{}", summary_line(&t));
        }
        if pass(&t) {
            lo = mid;
            best = Some(t.clone());
        } else {
            hi = mid;
        }
        trials.push(t);
        steps += 1;
    }
    SearchResult {
        throughput_pps: best.as_ref().map_or(0, |t| t.rate_pps.max(t.tx_pps as u64)),
        generator_limited,
        loss_tolerance: cfg.loss_tolerance,
        at_throughput: best,
        trials,
    }
}

/// One line per trial for humans.
pub fn summary_line(t: &Trial) -> String {
    let l = &t.latency_ns;
    format!(
        "rate {:>9} pps: sent {:>9} ({:>9.0} pps) received {:>9} (v4 {} v6 {}) lost {:>8} ({:.4}%) | latency us p50 {:.1} p99 {:.1} max {:.1}",
        if t.rate_pps == 0 { "max".to_string() } else { t.rate_pps.to_string() },
        t.sent,
        t.tx_pps,
        t.received,
        t.rx_ipv4,
        t.rx_ipv6,
        t.lost,
        t.loss_ratio * 100.0,
        l.p50 as f64 / 1e3,
        l.p99 as f64 / 1e3,
        l.max as f64 / 1e3
    )
}

/// The raw forwarder's counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FwdCounters {
    pub rx: u64,
    pub tx: u64,
    pub tx_ring_full: u64,
}

/// Raw AF_XDP forwarding, the ceiling of a machine: every frame received on `in_if` leaves on `out_if`
/// unchanged but for its Ethernet addresses (`dst_mac`, and `out_if`'s own as source), the same per-packet
/// work an L3 forwarder must do at least. The same ring discipline and UMEM sharing as the appliance.
pub fn forward(
    in_if: &str,
    out_if: &str,
    dst_mac: [u8; 6],
    batch: u32,
    busy: bool,
    ring: u32,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<FwdCounters> {
    let names = vec![in_if.to_string(), out_if.to_string()];
    let mut port = XskPort::new(&names, 0, XskSizes { ring })
        .map_err(|e| anyhow::anyhow!("AF_XDP sockets on {names:?}: {e}"))?;
    let src_mac = dataplane::l2::if_mac(out_if)?;
    let _steer = steer_all(in_if, port.fd(0))?;
    let mut c = FwdCounters::default();
    let mut rx = Vec::with_capacity(batch as usize);
    println!("xlat64-gen forward: ready: {in_if} -> {out_if}");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        port.complete();
        rx.clear();
        let n = port.rx(0, batch, &mut rx);
        if n == 0 {
            for _ in 0..64 {
                if !port.tx_in_flight() {
                    break;
                }
                port.kick_outstanding();
                port.complete();
            }
            port.refill(0);
            if busy {
                if port.fill_needs_wakeup(0) {
                    port.wake_rx(0);
                }
                std::hint::spin_loop();
            } else {
                port.poll(if port.tx_in_flight() { 1 } else { 100 }, None);
            }
            continue;
        }
        c.rx += u64::from(n);
        for &(_, d) in &rx {
            let chunk = chunk_of(d.addr);
            let off = (d.addr - chunk) as usize;
            // SAFETY: received chunk, ours until it goes on a ring.
            let buf = unsafe { std::slice::from_raw_parts_mut(port.chunk_ptr(chunk), FRAME_SIZE) };
            if d.len >= 14 {
                buf[off..off + 6].copy_from_slice(&dst_mac);
                buf[off + 6..off + 12].copy_from_slice(&src_mac);
            }
            if port.tx(1, d.addr, d.len) {
                c.tx += 1;
            } else {
                c.tx_ring_full += 1;
                port.release(chunk);
            }
        }
        port.flush_tx();
        port.refill(0);
    }
    Ok(c)
}

/// An error for a bad MAC string.
pub fn parse_mac(s: &str) -> io::Result<[u8; 6]> {
    let mut m = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad MAC {s:?}"),
        ));
    }
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad MAC {s:?}")))?;
    }
    Ok(m)
}
