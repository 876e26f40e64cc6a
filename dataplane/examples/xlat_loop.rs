//! Translates N packets of one benchmark case, in batches of 64 frames, for instruction counting under
//! callgrind (`perf/instructions.sh` runs it for N and 2N packets and takes the difference, which cancels
//! start-up: config parsing, table compilation, allocation).
//!
//! `xlat_loop CASE N [--per-packet | --copy-only]`: CASE one of the names `xlat_loop --list` prints; N a
//! multiple of 64. By default each batch goes through `Pipeline::process_batch` (what a worker runs);
//! `--per-packet` calls `Pipeline::process` frame by frame instead, `--copy-only` runs the same loop
//! without the translation (the frame copy baseline).

use std::process::ExitCode;
use std::sync::Arc;

use dataplane::pipeline::Pipeline;

#[path = "../benches/common/mod.rs"]
mod common;
use common::{case, check, frames, run_batch, Mode, BATCH, CASES};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for c in CASES {
            println!("{c}");
        }
        return ExitCode::SUCCESS;
    }
    let (Some(name), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: xlat_loop CASE N [--per-packet | --copy-only] | --list");
        return ExitCode::FAILURE;
    };
    let mode = match args.get(2).map(String::as_str) {
        None => Mode::Batch,
        Some("--per-packet") => Mode::PerPacket,
        Some("--copy-only") => Mode::Copy,
        Some(other) => {
            eprintln!("unknown option {other:?}: --per-packet or --copy-only");
            return ExitCode::FAILURE;
        }
    };
    let Some(case) = case(name) else {
        eprintln!("no case {name:?}; --list shows them");
        return ExitCode::FAILURE;
    };
    if n % BATCH != 0 {
        eprintln!("N must be a multiple of {BATCH}");
        return ExitCode::FAILURE;
    }
    check(&case);

    let mut p = Pipeline::new(Arc::clone(&case.snapshot));
    let mut bufs = frames();
    let (mut bytes, mut translated) = (0, 0);
    for _ in 0..n / BATCH {
        let (b, t) = run_batch(mode, &mut p, &mut bufs, &case.templates);
        bytes += b;
        translated += t;
    }
    if translated != n {
        eprintln!("{name}: {translated} of {n} packets translated");
        return ExitCode::FAILURE;
    }
    println!("{name}: {n} packets, {bytes} bytes out");
    ExitCode::SUCCESS
}
