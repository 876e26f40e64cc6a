//! One worker per queue, pinned to a core: receive a batch from every interface's socket on its queue, run
//! each frame through [`Pipeline::process`], write the egress Ethernet header in front of each output inside
//! its UMEM chunk, and transmit the batch with one kick per socket.
//!
//! The translated packet (or the ICMP error built around it) stays in the chunk it arrived in. Other outputs
//! (fragments) are copied into a free chunk from the worker's free list; none free is a counted drop.

use std::fmt;

use hdrhistogram::Histogram;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::frame::{Frame, RxMeta, FRAME_SIZE};
use crate::io::afxdp::{chunk_of, RxDesc, XdpStats, XskPort, XDP_HEADROOM};
use crate::l2::{L2Error, Resolver};
use crate::pipeline::{Output, Pipeline};
use crate::stats::{Direction, Stats};
use crate::wire::ethernet::{parse_l2, write_l2, EtherType};
use crate::xlat::Side;

/// Signals from the main thread (written there, read by workers between batches; Relaxed is enough: each is
/// a standalone flag or counter, no data is published through them).
#[derive(Debug, Default)]
pub struct Control {
    /// Finish the current batch, let TX drain, exit.
    pub stop: AtomicBool,
    /// Incremented to ask every worker to print its counters.
    pub dump: AtomicU64,
}

/// Where one side's packets leave: a socket of the worker's port and the interface's addresses.
#[derive(Debug, Clone, Copy)]
pub struct Egress {
    /// Index of the socket in the worker's [`XskPort`].
    pub sock: usize,
    pub ifindex: u32,
    pub src_mac: [u8; 6],
    /// Static next-hop MAC from the config: no route or neighbour lookups.
    pub static_mac: Option<[u8; 6]>,
}

/// A worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub queue: u32,
    pub batch: u32,
    pub busy_poll: bool,
    pub poll_timeout_ms: i32,
    pub core: Option<usize>,
    /// Per socket: the ingress interface index the tenant classifier knows it by.
    pub ingress: Vec<u16>,
    pub v6: Egress,
    pub v4: Egress,
}

/// The worker's own counters (the translator's are in [`Stats`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct IoCounters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub batches: u64,
    /// Frames that were not Ethernet carrying IPv4/IPv6 (should not reach the socket: the XDP program passes
    /// them to the kernel).
    pub rx_not_ip: u64,
    /// TX ring full: output dropped.
    pub tx_ring_full: u64,
    /// No free chunk for an output that is not the input frame (a fragment).
    pub no_free_frame: u64,
    /// No room in front of an output for its Ethernet header.
    pub no_headroom: u64,
    /// Output dropped: next hop not resolved yet (resolution triggered).
    pub l2_unresolved: u64,
    /// Output dropped: no route to its destination.
    pub l2_no_route: u64,
    /// Output dropped: the route to its destination leaves through another interface than its side's.
    pub l2_wrong_interface: u64,
    /// Sleeps in poll() (interrupt mode).
    pub polls: u64,
}

/// What a worker hands back when it stops.
#[derive(Debug, Clone)]
pub struct WorkerReport {
    pub queue: u32,
    pub io: IoCounters,
    pub stats: Stats,
    pub arp_nd_probes: u64,
    /// The kernel's counters of each socket (interface name, counters).
    pub xdp: Vec<(String, XdpStats)>,
    /// Time to process one batch (receive to TX kick), nanoseconds.
    pub batch_ns: Histogram<u64>,
}

impl fmt::Display for WorkerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let io = &self.io;
        writeln!(
            f,
            "worker {}: rx {} tx {} batches {} polls {} | drops: tx_ring_full {} no_free_frame {} no_headroom {} \
             l2_unresolved {} l2_no_route {} l2_wrong_interface {} rx_not_ip {} | arp/nd probes {}",
            self.queue,
            io.rx_packets,
            io.tx_packets,
            io.batches,
            io.polls,
            io.tx_ring_full,
            io.no_free_frame,
            io.no_headroom,
            io.l2_unresolved,
            io.l2_no_route,
            io.l2_wrong_interface,
            io.rx_not_ip,
            self.arp_nd_probes
        )?;
        let h = &self.batch_ns;
        if !h.is_empty() {
            writeln!(
                f,
                "worker {}: batch latency ns: p50 {} p90 {} p99 {} p99.9 {} max {} ({} batches, mean {:.1} packets)",
                self.queue,
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
                h.len(),
                io.rx_packets as f64 / h.len() as f64
            )?;
        }
        for (name, x) in &self.xdp {
            writeln!(
                f,
                "worker {}: socket {name}: kernel rx_dropped {} rx_ring_full {} fill_ring_empty {} \
                 rx_invalid {} tx_invalid {} tx_ring_empty {}",
                self.queue,
                x.rx_dropped,
                x.rx_ring_full,
                x.rx_fill_ring_empty_descs,
                x.rx_invalid_descs,
                x.tx_invalid_descs,
                x.tx_ring_empty_descs
            )?;
        }
        for d in Direction::ALL {
            let s = self.stats.dir(d);
            write!(
                f,
                "worker {}: {}: received {} translated {} fragments_created {} icmp_errors_sent {}",
                self.queue,
                d.as_str(),
                s.received,
                s.translated,
                s.fragments_created,
                s.icmp_errors_sent
            )?;
            for r in crate::stats::DropReason::ALL {
                let n = s.dropped[*r as usize];
                if n > 0 {
                    write!(f, " {}={n}", r.as_str())?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// An output waiting for its Ethernet header and a TX slot: chunk, packet offset and length in it.
#[derive(Debug, Clone, Copy)]
struct Pending {
    chunk: u64,
    off: usize,
    len: usize,
    side: Side,
    vlan: Option<u16>,
}

struct Worker {
    port: XskPort,
    pipeline: Pipeline,
    cfg: WorkerConfig,
    resolver: Option<Resolver>,
    io: IoCounters,
    rx: Vec<(usize, RxDesc)>,
    pending: Vec<Pending>,
    batch_ns: Histogram<u64>,
    /// L2 failures logged so far (the first few are, to help set-up; the rest are only counted).
    l2_logged: u32,
}

/// Runs a worker until `ctl.stop`; returns its counters.
pub fn run(
    port: XskPort,
    pipeline: Pipeline,
    cfg: WorkerConfig,
    ctl: Arc<Control>,
) -> WorkerReport {
    if let Some(core) = cfg.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            eprintln!("worker {}: could not pin to core {core}", cfg.queue);
        }
    }
    let needs_resolver = cfg.v4.static_mac.is_none() || cfg.v6.static_mac.is_none();
    let resolver = if needs_resolver {
        match Resolver::new() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("worker {}: netlink unavailable ({e}): every output without a static MAC is dropped", cfg.queue);
                None
            }
        }
    } else {
        None
    };
    let mut w = Worker {
        port,
        pipeline,
        resolver,
        io: IoCounters::default(),
        rx: Vec::with_capacity(cfg.batch as usize),
        pending: Vec::with_capacity(8),
        l2_logged: 0,
        // 1 ns .. 10 s, 3 significant digits: fixed size, never resized on the packet path.
        batch_ns: Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds"),
        cfg,
    };
    let mut dump_seen = ctl.dump.load(Ordering::Relaxed);
    while !ctl.stop.load(Ordering::Relaxed) {
        let d = ctl.dump.load(Ordering::Relaxed);
        if d != dump_seen {
            dump_seen = d;
            eprint!("{}", w.report());
        }
        if !w.step() {
            w.idle();
        }
    }
    w.drain();
    w.report()
}

impl Worker {
    fn report(&self) -> WorkerReport {
        WorkerReport {
            queue: self.cfg.queue,
            io: self.io,
            stats: self.pipeline.stats().clone(),
            arp_nd_probes: self.resolver.as_ref().map_or(0, |r| r.probes()),
            xdp: (0..self.port.sockets().len())
                .filter_map(|k| {
                    let st = self.port.xdp_stats(k)?;
                    Some((self.port.sockets()[k].ifname.clone(), st))
                })
                .collect(),
            batch_ns: self.batch_ns.clone(),
        }
    }

    /// Waits for work: spins (busy mode, waking the kernel's RX when it asks) or sleeps in poll().
    fn idle(&mut self) {
        // Copy mode sends at most 32 frames per kick: finish what the last batch queued before sleeping.
        for _ in 0..64 {
            if !self.port.tx_in_flight() {
                break;
            }
            self.port.kick_outstanding();
            self.port.complete();
        }
        if self.cfg.busy_poll {
            for s in 0..self.port.sockets().len() {
                if self.port.fill_needs_wakeup(s) {
                    self.port.wake_rx(s);
                }
            }
            std::hint::spin_loop();
        } else {
            self.io.polls += 1;
            // Frames still in flight (the device is busy): come back soon to kick again.
            let timeout = if self.port.tx_in_flight() {
                1
            } else {
                self.cfg.poll_timeout_ms
            };
            self.port.poll(timeout);
        }
    }

    /// Lets outstanding TX complete (bounded), after the XDP programs stopped redirecting.
    fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            while self.step() {}
            self.port.complete();
            if self.port.sockets().iter().all(|s| s.tx_outstanding == 0) {
                break;
            }
            self.port.kick_outstanding();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// One batch. Returns false if nothing was received.
    fn step(&mut self) -> bool {
        self.port.complete();
        self.rx.clear();
        let mut got = 0u32;
        for s in 0..self.port.sockets().len() {
            if got >= self.cfg.batch {
                break;
            }
            got += self.port.rx(s, self.cfg.batch - got, &mut self.rx);
        }
        if got == 0 {
            self.port.refill_all();
            return false;
        }
        self.io.batches += 1;
        self.io.rx_packets += u64::from(got);
        let now = Instant::now();
        if let Some(r) = self.resolver.as_mut() {
            r.absorb(now);
        }
        let rx = std::mem::take(&mut self.rx);
        for &(sock, d) in &rx {
            self.one(sock, d, now);
        }
        self.rx = rx;
        self.port.flush_tx();
        self.port.refill_all();
        let ns = u64::try_from(now.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.batch_ns.saturating_record(ns);
        true
    }

    fn one(&mut self, sock: usize, d: RxDesc, now: Instant) {
        let chunk = chunk_of(d.addr);
        let off = (d.addr - chunk) as usize;
        let end = (off + d.len as usize).min(FRAME_SIZE);
        // SAFETY: the chunk came off our RX ring: the worker owns it until it goes on a TX or fill ring.
        let buf: &mut [u8] =
            unsafe { std::slice::from_raw_parts_mut(self.port.chunk_ptr(chunk), FRAME_SIZE) };
        let Ok(l2) = parse_l2(&buf[off..end]) else {
            self.io.rx_not_ip += 1;
            self.port.release(chunk);
            return;
        };
        let start = off + l2.l3_offset;
        let ip_len = match l2.ethertype {
            EtherType::IPV4 if end - start >= 4 => {
                usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]))
            }
            EtherType::IPV6 if end - start >= 6 => {
                40 + usize::from(u16::from_be_bytes([buf[start + 4], buf[start + 5]]))
            }
            _ => {
                self.io.rx_not_ip += 1;
                self.port.release(chunk);
                return;
            }
        };
        // Ethernet padding of short frames is not part of the packet.
        let end = end.min(start + ip_len);
        let mut frame = Frame::new(buf, start, end);
        frame.meta = RxMeta {
            ingress: self.cfg.ingress.get(sock).copied().unwrap_or(u16::MAX),
            vlan: l2.vlan,
        };
        let base = buf_addr(&frame);
        let mut in_frame: Option<Pending> = None;
        let port = &mut self.port;
        let io = &mut self.io;
        let pending = &mut self.pending;
        let mut emit = |o: Output<'_>| {
            let p = o.packet.as_ptr() as usize;
            if in_frame.is_none() && p >= base && p + o.packet.len() <= base + FRAME_SIZE {
                in_frame = Some(Pending {
                    chunk,
                    off: p - base,
                    len: o.packet.len(),
                    side: o.side,
                    vlan: o.vlan,
                });
                return;
            }
            let Some(c) = port.alloc() else {
                io.no_free_frame += 1;
                return;
            };
            let at = XDP_HEADROOM;
            if at + o.packet.len() > FRAME_SIZE {
                io.no_headroom += 1;
                port.release(c);
                return;
            }
            // SAFETY: c was just taken from the free list: ours, and no other slice of it exists.
            let dst = unsafe { std::slice::from_raw_parts_mut(port.chunk_ptr(c), FRAME_SIZE) };
            dst[at..at + o.packet.len()].copy_from_slice(o.packet);
            pending.push(Pending {
                chunk: c,
                off: at,
                len: o.packet.len(),
                side: o.side,
                vlan: o.vlan,
            });
        };
        self.pipeline.process(&mut frame, &mut emit);
        match in_frame {
            Some(p) => self.send(p, now),
            None => self.port.release(chunk),
        }
        let extra = std::mem::take(&mut self.pending);
        for &p in &extra {
            self.send(p, now);
        }
        self.pending = extra;
        self.pending.clear();
    }

    /// Writes the Ethernet header in front of the output and queues it for TX, or drops it (counted).
    fn send(&mut self, p: Pending, now: Instant) {
        let egress = match p.side {
            Side::V6 => self.cfg.v6,
            Side::V4 => self.cfg.v4,
        };
        // SAFETY: the chunk is the worker's (received, or taken from the free list) until put on a ring.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.port.chunk_ptr(p.chunk), FRAME_SIZE) };
        let pkt = &buf[p.off..p.off + p.len];
        let (dst, ethertype) = match p.side {
            Side::V4 if pkt.len() >= 20 => (
                IpAddr::from(<[u8; 4]>::try_from(&pkt[16..20]).expect("4 bytes")),
                EtherType::IPV4,
            ),
            Side::V6 if pkt.len() >= 40 => (
                IpAddr::from(<[u8; 16]>::try_from(&pkt[24..40]).expect("16 bytes")),
                EtherType::IPV6,
            ),
            _ => {
                self.io.rx_not_ip += 1;
                self.port.release(p.chunk);
                return;
            }
        };
        let mac = match egress.static_mac {
            Some(m) => Ok(m),
            None => match self.resolver.as_mut() {
                Some(r) => r.resolve(dst, egress.ifindex, now),
                None => Err(L2Error::NoRoute),
            },
        };
        let mac = match mac {
            Ok(m) => m,
            Err(e) => {
                if self.l2_logged < 10 {
                    self.l2_logged += 1;
                    eprintln!(
                        "worker {}: no MAC for {dst} on ifindex {}: {e:?} (dropped; further ones only counted)",
                        self.cfg.queue, egress.ifindex
                    );
                }
                match e {
                    L2Error::Unresolved => self.io.l2_unresolved += 1,
                    L2Error::NoRoute => self.io.l2_no_route += 1,
                    L2Error::WrongInterface => self.io.l2_wrong_interface += 1,
                }
                self.port.release(p.chunk);
                return;
            }
        };
        let l2len = if p.vlan.is_some() { 18 } else { 14 };
        if p.off < l2len {
            self.io.no_headroom += 1;
            self.port.release(p.chunk);
            return;
        }
        let at = p.off - l2len;
        write_l2(&mut buf[at..], mac, egress.src_mac, p.vlan, ethertype);
        if self
            .port
            .tx(egress.sock, p.chunk + at as u64, (l2len + p.len) as u32)
        {
            self.io.tx_packets += 1;
        } else {
            self.io.tx_ring_full += 1;
            self.port.release(p.chunk);
        }
    }
}

/// Address of the frame's buffer (to tell outputs inside it from outputs elsewhere).
fn buf_addr(frame: &Frame<'_>) -> usize {
    frame.buffer().as_ptr() as usize
}
