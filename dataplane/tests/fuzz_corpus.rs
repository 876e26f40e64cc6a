//! Replays the committed fuzz corpus (`dataplane/fuzz/corpus-seed/`) and every input that once crashed the
//! fuzzer (`dataplane/fuzz/regressions/`) through the pipeline, with the fuzz target's own invariants
//! (`dataplane/fuzz/src/harness.rs`). Runs on stable Rust, so CI exercises the corpus without a fuzzer.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/harness.rs"]
#[allow(
    dead_code,
    reason = "shared with the fuzz target; not every helper is used here"
)]
mod harness;

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    v.sort();
    v
}

fn replay(dir: &str) -> usize {
    let list = files(dir);
    for path in &list {
        let data = std::fs::read(path).expect("readable");
        let r = std::panic::catch_unwind(|| harness::fuzz_one(&data));
        if r.is_err() {
            panic!(
                "{} breaks an invariant (see the panic above)",
                path.display()
            );
        }
    }
    list.len()
}

#[test]
fn seed_corpus_keeps_every_invariant() {
    let n = replay("fuzz/corpus-seed");
    assert!(n >= 50, "the seed corpus has only {n} files");
}

#[test]
fn fuzzer_regressions_stay_fixed() {
    replay("fuzz/regressions");
}

#[test]
fn the_harness_covers_its_configurations() {
    // Every selector byte names a valid configuration, metadata and layout, and an empty packet after it is
    // a counted drop, whatever the combination.
    for sel in 0..=255u8 {
        let r = harness::fuzz_one(&[sel]).expect("a selector byte");
        assert_eq!(r.direction, None);
    }
}
