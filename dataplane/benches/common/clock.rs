//! A criterion measurement that can read the bench thread's CPU time instead of the wall clock.
//!
//! This machine is shared: when other jobs keep both vCPUs busy, wall-clock time counts the time the bench
//! thread waits for a CPU. `XLAT64_BENCH_CLOCK=thread` measures `CLOCK_THREAD_CPUTIME_ID` instead, the time
//! the thread actually ran (still subject to cache and hypervisor interference, but not to queueing). The
//! default is the wall clock (`CLOCK_MONOTONIC`), criterion's usual measurement.

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::Throughput;

use libc::{clock_gettime, timespec, CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID};

/// The clock the benchmark reads, nanoseconds.
pub struct Clock {
    id: libc::clockid_t,
}

impl Clock {
    /// From `XLAT64_BENCH_CLOCK` (`thread` or `wall`, default `wall`).
    pub fn from_env() -> Clock {
        let thread = std::env::var("XLAT64_BENCH_CLOCK").is_ok_and(|v| v == "thread");
        Clock {
            id: if thread {
                CLOCK_THREAD_CPUTIME_ID
            } else {
                CLOCK_MONOTONIC
            },
        }
    }

    /// Suffix for benchmark group names, so that results of the two clocks are saved apart.
    pub fn suffix(&self) -> &'static str {
        if self.id == CLOCK_THREAD_CPUTIME_ID {
            "_cpu"
        } else {
            ""
        }
    }

    fn now(&self) -> u64 {
        let mut ts = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `struct timespec`; both clock IDs exist on every Linux.
        let rc = unsafe { clock_gettime(self.id, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime({})", self.id);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

impl Measurement for Clock {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now()
    }

    fn end(&self, start: u64) -> u64 {
        self.now() - start
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Formats nanoseconds and elements per second like criterion's wall-clock formatter.
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e-3, "µs")
        } else if typical < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per_iteration = match *throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                n as f64
            }
        };
        for v in values {
            *v = per_iteration * 1e9 / *v / 1e6;
        }
        match throughput {
            Throughput::Elements(_) => "Melem/s",
            _ => "MB/s",
        }
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
