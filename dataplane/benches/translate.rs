//! Packets per second per core through `Pipeline::process`, one batch of 64 frames per iteration (see
//! `common/mod.rs` for the cases and the exact packet sizes).
//!
//! Two groups:
//! - `translate/<case>`: copy the template into each frame (standing in for the NIC), translate, emit;
//! - `copy/<case>`: the same loop without the translation, to show what the copy and the loop cost.
//!
//! `cargo bench -p xlat64-dataplane --bench translate -- --measurement-time 3 --warm-up-time 1`
//! (docs/benchmarks.md has the results and how to read them). With `XLAT64_BENCH_CLOCK=thread` the groups
//! are `translate_cpu` / `copy_cpu` and measure the thread's CPU time instead of the wall clock
//! (`common/clock.rs`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::pipeline::Pipeline;

#[path = "common/clock.rs"]
mod clock;
mod common;
use clock::Clock;
use common::{case, check, frames, run_batch, BATCH, CASES};

fn bench(c: &mut Criterion<Clock>) {
    let suffix = Clock::from_env().suffix();
    let cases: Vec<_> = CASES
        .iter()
        .map(|n| case(n).expect("listed case"))
        .collect();
    for case in &cases {
        check(case);
    }

    let mut g = c.benchmark_group(format!("translate{suffix}"));
    g.throughput(Throughput::Elements(BATCH as u64));
    for case in &cases {
        let mut p = Pipeline::new(Arc::clone(&case.snapshot));
        let mut bufs = frames();
        g.bench_function(case.name, |b| {
            b.iter(|| black_box(run_batch::<true>(&mut p, &mut bufs, &case.templates)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("copy{suffix}"));
    g.throughput(Throughput::Elements(BATCH as u64));
    for case in &cases {
        let mut p = Pipeline::new(Arc::clone(&case.snapshot));
        let mut bufs = frames();
        g.bench_function(case.name, |b| {
            b.iter(|| black_box(run_batch::<false>(&mut p, &mut bufs, &case.templates)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = bench
}
criterion_main!(benches);
