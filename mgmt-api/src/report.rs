//! What the dataplane reports about itself: its counters (`GET /v1/stats`, the control process's `/metrics`)
//! and its stateful NAT64 sessions (`GET /v1/sessions`). The dataplane sends these over its Unix socket
//! ([`crate::ipc`]); the control process serves them as JSON unchanged.
//!
//! Names are the stable labels of the metrics: counter names in [`WorkerStats::io`] and drop reasons in
//! [`TranslatorCounters::dropped`] are snake_case and never renamed once released.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// Every worker's counters at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataplaneStats {
    /// Configuration version the dataplane runs (`null`: the file it was started with).
    pub running_version: Option<u64>,
    pub uptime_seconds: u64,
    /// Interfaces the dataplane translates on.
    pub interfaces: Vec<String>,
    pub workers: Vec<WorkerStats>,
}

/// One worker (one queue, one core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerStats {
    /// The worker's index (= its queue).
    pub worker: u32,
    /// The worker's input/output counters by name (`rx_packets`, `tx_packets`, `batches`, `tx_ring_full`,
    /// `handed_off`, `handoff_received`, `handoff_ring_full`, ...).
    pub io: BTreeMap<String, u64>,
    /// The translator's counters, one row per (tenant, direction).
    pub translator: Vec<TranslatorCounters>,
    /// Stateful NAT64 tables, per NAT64 tenant.
    pub nat64: Vec<Nat64Tables>,
    /// Time to process one batch, from receive to TX kick.
    pub batch_latency: LatencyHistogram,
    /// The kernel's counters of each AF_XDP socket.
    pub xdp: Vec<XdpSocketCounters>,
}

/// The translator's counters of one tenant in one direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranslatorCounters {
    /// `null`: packets no tenant claimed.
    pub tenant: Option<String>,
    /// `v6_to_v4`, `v4_to_v6`, or `unknown` for frames that were not IP at all.
    pub direction: String,
    pub received: u64,
    pub translated: u64,
    pub fragments_created: u64,
    pub icmp_errors_sent: u64,
    pub handed_off: u64,
    /// Every drop reason by label, zeros included.
    pub dropped: BTreeMap<String, u64>,
}

/// One NAT64 tenant's tables in one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Nat64Tables {
    pub tenant: String,
    pub sessions: u64,
    pub bib_entries: u64,
    /// Ports of the worker's slice, per pool4 address and protocol.
    pub pool4: Vec<Pool4Usage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pool4Usage {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Ipv4Addr,
    /// `tcp`, `udp` or `icmp` (identifiers).
    pub protocol: String,
    pub ports_in_use: u64,
    /// Ports of this worker's slice.
    pub ports_total: u64,
}

/// A latency distribution as Prometheus histogram buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencyHistogram {
    /// Cumulative buckets, ascending: `[upper bound in seconds, observations ≤ bound]`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

/// The kernel's counters of one AF_XDP socket (`XDP_STATISTICS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct XdpSocketCounters {
    pub interface: String,
    pub rx_dropped: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty: u64,
    pub rx_invalid: u64,
    pub tx_invalid: u64,
    pub tx_ring_empty: u64,
}

/// Default and largest page of [`SessionQuery`].
pub const SESSIONS_DEFAULT_LIMIT: usize = 100;
pub const SESSIONS_MAX_LIMIT: usize = 10_000;

/// Which sessions to list (`GET /v1/sessions?tenant=..&protocol=..&address=..&offset=..&limit=..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionQuery {
    /// Tenant name.
    pub tenant: Option<String>,
    /// `tcp`, `udp` or `icmp`.
    pub protocol: Option<String>,
    /// Matches a session any of whose addresses (IPv6 client, pool4 address, IPv4 remote) is this one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub address: Option<IpAddr>,
    /// Sessions to skip (of the matching ones, in worker order, then table order).
    #[serde(default)]
    pub offset: usize,
    /// Page size (default [`SESSIONS_DEFAULT_LIMIT`], at most [`SESSIONS_MAX_LIMIT`]).
    pub limit: Option<usize>,
}

/// One page of sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionPage {
    /// Sessions matching the query, over all workers.
    pub total: u64,
    pub offset: usize,
    pub sessions: Vec<Session>,
}

/// A stateful NAT64 session (RFC 6146 §3.2): the IPv6 client's transport address, the pool4 address it is
/// bound to, and the IPv4 remote it talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub tenant: String,
    pub worker: u32,
    /// `tcp`, `udp` or `icmp`.
    pub protocol: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ipv6_address: Ipv6Addr,
    pub ipv6_port: u16,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ipv4_address: Ipv4Addr,
    pub ipv4_port: u16,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub remote_address: Ipv4Addr,
    pub remote_port: u16,
    /// TCP: `v4_init`, `v6_init`, `established`, `v4_fin_rcv`, `v6_fin_rcv`, `v4_fin_v6_fin_rcv`, `trans`;
    /// UDP and ICMP: `active`.
    pub state: String,
    pub expires_in_seconds: u64,
    /// The binding is a static BIB entry.
    pub static_binding: bool,
}
