//! Packets per second per core through the translator, one batch of 64 frames per iteration (see
//! `common/mod.rs` for the cases and the exact packet sizes).
//!
//! Three groups, each copying the template into every frame first (standing in for the NIC):
//! - `batch/<case>`: the batch through `Pipeline::process_batch` (what a worker runs), emit;
//! - `per_packet/<case>`: each frame through `Pipeline::process`, emit;
//! - `copy/<case>`: the same loop without the translation, to show what the copy and the loop cost.
//!
//! `cargo bench -p xlat64-dataplane --bench translate -- --measurement-time 3 --warm-up-time 1`
//! (docs/benchmarks.md has the results and how to read them). With `XLAT64_BENCH_CLOCK=thread` the groups
//! are `batch_cpu` / `per_packet_cpu` / `copy_cpu` and measure the thread's CPU time instead of the wall
//! clock (`common/clock.rs`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::pipeline::Pipeline;

#[path = "common/clock.rs"]
mod clock;
mod common;
use clock::Clock;
use common::{case, check, frames, run_batch, Mode, BATCH, CASES};

fn bench(c: &mut Criterion<Clock>) {
    let suffix = Clock::from_env().suffix();
    let cases: Vec<_> = CASES
        .iter()
        .map(|n| case(n).expect("listed case"))
        .collect();
    for case in &cases {
        check(case);
    }

    // One group per mode; in each, one benchmark per case. `batch` against `per_packet` in the same run is
    // the gain of the batch path; `copy` is what both include.
    for mode in [Mode::Batch, Mode::PerPacket, Mode::Copy] {
        let mut g = c.benchmark_group(format!("{}{suffix}", mode.name()));
        g.throughput(Throughput::Elements(BATCH as u64));
        for case in &cases {
            let mut p = Pipeline::new(Arc::clone(&case.snapshot));
            let mut bufs = frames();
            g.bench_function(case.name, |b| {
                b.iter(|| black_box(run_batch(mode, &mut p, &mut bufs, &case.templates)))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = bench
}
criterion_main!(benches);
