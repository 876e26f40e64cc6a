//! The REST API's contract: paths, request and response bodies (JSON). `xlat64-control` serves them, the `xlat64`
//! CLI sends them. With the `openapi` feature every type is also a utoipa schema (`GET /v1/openapi.json`).
//!
//! Conventions:
//! - The configuration's version is the ETag of `GET /v1/config` (`"7"`); writes take `If-Match: "7"` and answer
//!   `412` when the configuration has moved on. Every write answers with the new version.
//! - Every write may be a dry run (`?dry_run=true`): validated, answered as if applied, stored nowhere.
//! - Errors are one JSON shape, [`ErrorBody`], with the JSON pointer of each faulty field.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// Every route of the API as (method, path template), in the router's syntax. The OpenAPI document and the
/// router are both checked against this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/config"),
    ("PUT", "/v1/config"),
    ("GET", "/v1/config/versions"),
    ("GET", "/v1/config/versions/{version}"),
    ("POST", "/v1/config/rollback"),
    ("GET", "/v1/tenants"),
    ("POST", "/v1/tenants"),
    ("GET", "/v1/tenants/{tenant}"),
    ("DELETE", "/v1/tenants/{tenant}"),
    ("GET", "/v1/tenants/{tenant}/eamt"),
    ("POST", "/v1/tenants/{tenant}/eamt"),
    ("GET", "/v1/tenants/{tenant}/eamt/{ipv4}"),
    ("DELETE", "/v1/tenants/{tenant}/eamt/{ipv4}"),
    ("GET", "/v1/tenants/{tenant}/pool4"),
    ("POST", "/v1/tenants/{tenant}/pool4"),
    ("GET", "/v1/tenants/{tenant}/pool4/{prefix}"),
    ("DELETE", "/v1/tenants/{tenant}/pool4/{prefix}"),
    ("GET", "/v1/tenants/{tenant}/bib"),
    ("POST", "/v1/tenants/{tenant}/bib"),
    ("GET", "/v1/tenants/{tenant}/bib/{protocol}/{ipv4}"),
    ("DELETE", "/v1/tenants/{tenant}/bib/{protocol}/{ipv4}"),
    ("GET", "/v1/status"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/sessions"),
    ("POST", "/v1/trace"),
    ("GET", "/v1/openapi.json"),
];

/// Largest request body accepted (bytes); beyond it the answer is `413`.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The configuration's version as an ETag: `"7"`.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// Parses an `If-Match` value: `"7"`, `W/"7"` or `7` → `Some(7)`; `*` → `None` (any version).
pub fn parse_if_match(value: &str) -> Result<Option<u64>, String> {
    let v = value.trim();
    if v == "*" {
        return Ok(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    v.parse::<u64>()
        .map(Some)
        .map_err(|_| format!("If-Match {value:?} is not a configuration version such as \"7\""))
}

/// One problem with a request field: the JSON pointer (into the request body, or into the whole configuration
/// the request would produce) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// RFC 6901 JSON pointer; empty for the document as a whole.
    pub pointer: String,
    pub message: String,
}

impl From<&ConfigError> for FieldError {
    fn from(e: &ConfigError) -> Self {
        FieldError {
            pointer: e.pointer.clone(),
            message: e.message.clone(),
        }
    }
}

/// The body of every error answer (4xx and 5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Machine-readable kind: `invalid_config`, `bad_request`, `version_conflict`, `not_found`,
    /// `already_exists`, `unauthorized`, `payload_too_large`, `method_not_allowed`, `internal`,
    /// `dataplane_unavailable` (503: the dataplane did not answer), `dataplane_error` (502: it refused the query).
    pub error: String,
    /// One sentence for a person.
    pub message: String,
    /// The faulty fields, when the problem is in the request's content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// `GET /v1/config` (also the ETag) and `GET /v1/config/versions/{version}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionedConfig {
    pub version: u64,
    /// The configuration (docs/config.md), as `PUT /v1/config` takes it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: crate::Config,
}

/// What a write did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriteResult {
    /// The version now running (dry run: the version the write would create).
    pub version: u64,
    /// The version before the write.
    pub previous_version: u64,
    pub dry_run: bool,
    /// False when the candidate equals the current configuration: no new version is created.
    pub changed: bool,
}

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub version: u64,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    /// What made it: `PUT /v1/config`, `rollback to 3`, `create tenant "blue"`, ...
    pub origin: String,
}

/// `GET /v1/config/versions`: the kept versions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionList {
    pub current: u64,
    pub versions: Vec<VersionInfo>,
}

/// `POST /v1/config/rollback`: make a kept version's configuration the current one (as a new version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub version: u64,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// The configuration version the control process holds.
    pub config_version: u64,
    /// The version the dataplane acknowledged on the push connection; `null` while disconnected.
    pub dataplane_version: Option<u64>,
    /// The dataplane answered a stats query for this status.
    #[serde(default)]
    pub dataplane_reachable: bool,
    /// Its workers (`null` when unreachable).
    #[serde(default)]
    pub dataplane_workers: Option<usize>,
    /// The interfaces it translates on (empty when unreachable).
    #[serde(default)]
    pub dataplane_interfaces: Vec<String>,
    pub uptime_seconds: u64,
    /// xlat64's version (`CARGO_PKG_VERSION`).
    pub build_version: String,
    pub tenants: usize,
}

/// `POST /v1/trace`: a packet to run through the translator of the current configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// The IPv4 or IPv6 packet (no link-layer header), as hex (whitespace and `:` allowed) or base64.
    pub packet: String,
    #[serde(default)]
    pub encoding: PacketEncoding,
    #[serde(default)]
    pub ingress: TraceIngress,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PacketEncoding {
    #[default]
    Hex,
    Base64,
}

/// Where the traced packet comes in: the IPv4 side tells tenants apart by interface and VLAN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceIngress {
    /// An interface named in the configuration (`ipv4_side.interface` or `dataplane.interfaces`).
    pub interface: Option<String>,
    /// The 802.1Q VLAN the frame carried.
    pub vlan: Option<u16>,
}

/// `POST /v1/trace`: what the translator did with the packet. Nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceResponse {
    /// The configuration version traced against.
    pub config_version: u64,
    /// `v6_to_v4`, `v4_to_v6`, or `null` when the packet was not IP.
    pub direction: Option<String>,
    pub tenant: Option<TraceTenant>,
    /// `translated`, `icmp_error` (the translator answers the sender), `dropped`, `handed_off`.
    pub verdict: String,
    /// The drop reason (`icmp_error` and `dropped`), as in `xlat64_packets_dropped_total{reason}`.
    pub drop_reason: Option<String>,
    /// Every packet the translator emitted, in order.
    pub outputs: Vec<TraceOutput>,
    /// Steps in order, one line each.
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceTenant {
    pub id: u32,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceOutput {
    /// `v4` or `v6`: the side the packet leaves on.
    pub side: String,
    pub vlan: Option<u16>,
    /// The packet (network layer), hex.
    pub packet_hex: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match("\"7\""), Ok(Some(7)));
        assert_eq!(parse_if_match("W/\"7\""), Ok(Some(7)));
        assert_eq!(parse_if_match(" 12 "), Ok(Some(12)));
        assert_eq!(parse_if_match("*"), Ok(None));
        assert!(parse_if_match("\"x\"").is_err());
        assert_eq!(etag(3), "\"3\"");
    }
}
