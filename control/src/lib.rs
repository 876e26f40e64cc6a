//! xlat64's control side: the `xlat64` command-line tool (and, later, the control process `xlat64-control`).
//!
//! The binaries are thin: their logic lives here so tests call it directly.
//!
//! - [`translate`]: `xlat64 translate`, offline translation of a capture file.

pub mod translate;
