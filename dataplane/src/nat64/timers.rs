//! Time for the stateful translator. The packet path never reads a clock itself: the worker (live: a
//! monotonic clock, once per batch) or the offline reader (the capture's timestamps) tells the pipeline what
//! time it is ([`crate::pipeline::Pipeline::set_now`]), and expiry runs with a bounded amount of work per call
//! ([`crate::pipeline::Pipeline::run_timers`]). Sessions found expired by a lookup are treated as expired even
//! before the timer pass has reached them, so the behaviour does not depend on how often timers run.

use std::time::Instant;

/// Nanoseconds per second.
pub const NS: u64 = 1_000_000_000;

/// A source of time in nanoseconds that never goes backwards.
pub trait Clock {
    fn now_ns(&mut self) -> u64;
}

/// The live path's clock: nanoseconds since it was created.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            start: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ns(&mut self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// The offline clock: the timestamps of a capture's packets, never going backwards (a capture whose
/// timestamps jump back keeps the latest time seen).
#[derive(Debug, Clone, Copy, Default)]
pub struct PacketClock {
    now: u64,
}

impl PacketClock {
    /// Advances to a packet's timestamp (ns); earlier timestamps are ignored.
    pub fn observe(&mut self, ts_ns: u64) {
        self.now = self.now.max(ts_ns);
    }
}

impl Clock for PacketClock {
    fn now_ns(&mut self) -> u64 {
        self.now
    }
}

/// Seconds of configuration to clock nanoseconds.
#[inline]
pub fn secs(s: u32) -> u64 {
    u64::from(s) * NS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_clock_never_goes_back() {
        let mut c = PacketClock::default();
        c.observe(5 * NS);
        c.observe(3 * NS);
        assert_eq!(c.now_ns(), 5 * NS);
        let mut m = MonotonicClock::new();
        let a = m.now_ns();
        assert!(m.now_ns() >= a);
        assert_eq!(secs(6), 6 * NS);
    }
}
