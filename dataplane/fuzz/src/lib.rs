//! xlat64 fuzzing support: the harness shared by the fuzz target and the stable-Rust corpus replay.

pub mod harness;
