//! xlat64's control side: the control process `xlat64-control` and the `xlat64` command-line tool.
//!
//! The binaries are thin: their logic lives here so tests call it directly.
//!
//! - [`service`]: the one service layer: the versioned, durable configuration store, per-object operations,
//!   packet traces. Every front (REST, and the CLI through REST) calls it.
//! - [`dataplane_client`]: queries to the dataplane (its counters, its NAT64 sessions), one short connection
//!   each.
//! - [`push`]: the configuration pushed to the dataplane over its Unix socket, acknowledgements tracked.
//! - [`rest`]: the REST API (axum): `router(state)`, thin handlers over the service, the OpenAPI document.
//! - [`client`], [`cli`]: the `xlat64` subcommands that talk to `xlat64-control` over HTTP.
//! - [`import`]: `xlat64 import`: other translators' configurations converted into ours.
//! - [`metrics`]: Prometheus `/metrics` on its own listener.
//! - [`server`]: `xlat64-control`'s listeners and startup.
//! - [`report_text`], [`table`]: the dataplane's reports as the CLI's plain-text tables.
//! - [`translate`]: `xlat64 translate`, offline translation of a capture file.

pub mod cli;
pub mod client;
pub mod dataplane_client;
pub mod import;
pub mod metrics;
pub mod push;
pub mod report_text;
pub mod rest;
pub mod server;
pub mod service;
pub mod table;
pub mod translate;

/// The fake dataplane the tests serve the socket with (one implementation, shared with the integration tests).
#[cfg(test)]
#[path = "../tests/fake_dataplane/mod.rs"]
mod fake_dataplane;
