//! xlat64's contract with the outside world.
//!
//! - [`config`]: the configuration schema, the same for TOML files (`xlat64-dataplane --config FILE`) and the
//!   REST API's JSON (`PUT /v1/config`), and its validation. Every problem is reported with the JSON pointer of
//!   the field it concerns; nothing is applied if anything is wrong.
//! - [`api`]: the REST API's paths, request and response bodies, and error shape.
//! - [`ipc`]: the control process ⇄ dataplane messages (config push and acknowledgement).

pub mod api;
pub mod config;
pub mod ipc;
pub mod report;

pub use config::{Config, ConfigError, ConfigErrors};
