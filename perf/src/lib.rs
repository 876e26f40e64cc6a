//! xlat64's performance tooling: an AF_XDP traffic generator with an RFC 8219 throughput search and
//! latency histograms ([`gen`]), the test frames it sends ([`packet`]), and a raw AF_XDP forwarder that
//! measures what the machine can do without translation ([`gen::forward`]).
//!
//! The binary is `xlat64-gen`; `perf/compare.sh` runs the comparison with the kernel and TAYGA.

pub mod gen;
pub mod packet;
