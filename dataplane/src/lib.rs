//! xlat64's packet path.
//!
//! - [`wire`]: zero-copy views over packet bytes (smoltcp style: one length check, then no accessor panics).
//! - [`xlat`]: the stateless translator (RFC 7915, RFC 6052, RFC 7757, RFC 6791). Pure functions: a frame and
//!   the config snapshot in, a [`xlat::Verdict`] out. No I/O, no allocation.
//! - [`tables`]: per-tenant configuration compiled into the lookup tables the translator reads.
//! - [`pipeline`]: one packet (or batch) through classify ▶ translate ▶ emit, shared by the live and offline paths.
//! - [`nat64`]: stateful NAT64 (RFC 6146): pool4 slices, per-worker BIB and session tables, TCP states.
//! - [`io`]: frame sources and sinks (pcap files for offline translation).
//! - [`stats`]: counters, with one list of drop reasons.
//! - [`worker`]: the AF_XDP workers; [`control_link`]: the control socket (live configuration pushes).
//! - [`report`]: the workers publish their counters and answer session queries for the control socket.

pub mod control_link;
pub mod frame;
pub mod io;
pub mod l2;
pub mod nat64;
pub mod pipeline;
pub mod report;
pub mod stats;
pub mod tables;
pub mod wire;
pub mod worker;
pub mod xlat;
