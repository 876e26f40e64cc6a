//! Fuzz target over the translator's entry point, `Pipeline::process`.
//!
//! Byte 0 picks a configuration, an ingress (VLAN / interface) and a frame layout; the rest is the packet.
//! See `src/harness.rs` for the invariants checked on every input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xlat64_fuzz::harness::fuzz_one(data);
});
