//! Stateful NAT64 (RFC 6146) tenant configuration: `mode = "nat64"`, `pool4`, `static_bib` and
//! `[tenants.nat64]`.
//!
//! ```
//! let cfg = mgmt_api::Config::from_toml_str(r#"
//!     [[tenants]]
//!     name = "mobile"
//!     id = 1
//!     mode = "nat64"
//!     pool6 = "64:ff9b::/96"
//!     [[tenants.pool4]]
//!     prefix = "203.0.113.0/28"
//!     udp = "20000-40000"
//!     [[tenants.static_bib]]
//!     protocol = "tcp"
//!     ipv4 = "203.0.113.1#80"
//!     ipv6 = "2001:db8::10#8080"
//!     [tenants.nat64]
//!     filtering = "address_dependent"
//!     timeouts = { udp = 600 }
//! "#).unwrap();
//! let t = &cfg.tenants[0];
//! assert_eq!(t.pool4[0].tcp, mgmt_api::config::PortRange::new(1024, 65535));
//! assert_eq!(t.nat64.timeouts.udp, 600);
//! assert_eq!(t.nat64.timeouts.tcp_established, 7440);
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Most IPv4 addresses one tenant's pool4 may hold: the dataplane keeps one bit per (address, port) and
/// protocol (a /20 with the default ranges is 33 MB per protocol, split between the workers).
pub const POOL4_MAX_ADDRS: u64 = 4096;

/// RFC 6146 §4: the UDP session timeout must not be below 2 minutes.
pub const UDP_TIMEOUT_MIN: u32 = 120;
/// RFC 6146 §4 (RFC 5382 REQ-5): the established TCP idle timeout must not be below 2 h 4 min.
pub const TCP_ESTABLISHED_TIMEOUT_MIN: u32 = 7440;
/// RFC 6146 §4: the transitory TCP timeout must not be below 4 minutes.
pub const TCP_TRANSITORY_TIMEOUT_MIN: u32 = 240;
/// RFC 6146 §3.5.2.2: an unsolicited IPv4 SYN is held at least 6 seconds.
pub const TCP_INCOMING_SYN_TIMEOUT_MIN: u32 = 6;
/// Most appliances in one cluster slice.
pub const APPLIANCE_SLICE_MAX: u16 = 64;
/// RFC 6146 §4: FRAGMENT_MIN, the least time fragments must be allowed to arrive over (2 s); also the
/// default of `timeouts.fragment` (Jool's `fragment-arrival-timeout` has the same floor).
pub const FRAGMENT_TIMEOUT_DEFAULT: u32 = 2;
/// RFC 8200 §4.5: a destination gives up reassembly 60 s after the first fragment arrived; holding a
/// fragment longer than that is pointless.
pub const FRAGMENT_TIMEOUT_MAX: u32 = 60;
/// Default `fragments_held_max` per tenant and worker: the size of the held-SYN store, enough for a burst of
/// reordered datagrams (a fragment is normally held for microseconds, until its first fragment arrives).
pub const FRAGMENTS_HELD_MAX_DEFAULT: u32 = 256;
/// Default `fragments_held_bytes` per tenant and worker: 256 KiB, about 170 full-size (1500-byte)
/// fragments, so with large fragments the byte limit binds before the count.
pub const FRAGMENTS_HELD_BYTES_DEFAULT: u32 = 256 << 10;
/// Upper bounds of the two (memory is preallocated per tenant and worker).
pub const FRAGMENTS_HELD_MAX_LIMIT: u32 = 65536;
pub const FRAGMENTS_HELD_BYTES_LIMIT: u32 = 64 << 20;

/// `mode`: how a tenant translates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantMode {
    /// Stateless (RFC 7915, RFC 6052, RFC 7757).
    #[default]
    Siit,
    /// Stateful NAT64 (RFC 6146): IPv6 clients share the tenant's pool4.
    Nat64,
}

impl TenantMode {
    pub fn is_siit(&self) -> bool {
        *self == TenantMode::Siit
    }
}

/// An inclusive port (or ICMP identifier) range, written `"first-last"` (or a single `"port"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub const fn new(first: u16, last: u16) -> Self {
        PortRange { first, last }
    }

    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// Number of ports in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number 0..=65535"))
        };
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(s)?;
                (p, p)
            }
        };
        if first > last {
            return Err(format!(
                "port range {s:?}: the first port is above the last"
            ));
        }
        Ok(PortRange { first, last })
    }
}

impl TryFrom<String> for PortRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<PortRange> for String {
    fn from(r: PortRange) -> String {
        r.to_string()
    }
}

fn default_tcp_udp_ports() -> PortRange {
    PortRange::new(1024, 65535)
}

fn default_icmp_ids() -> PortRange {
    PortRange::new(0, 65535)
}

/// `[[tenants.pool4]]`: IPv4 addresses the tenant's IPv6 clients share, with the ports of each protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool4Entry {
    /// Host bits zero. Every address of the prefix is used (a /30 gives 4 addresses).
    pub prefix: Ipv4Net,
    #[serde(default = "default_tcp_udp_ports")]
    pub tcp: PortRange,
    #[serde(default = "default_tcp_udp_ports")]
    pub udp: PortRange,
    /// ICMP echo identifiers.
    #[serde(default = "default_icmp_ids")]
    pub icmp: PortRange,
}

impl Pool4Entry {
    /// This prefix with the default ranges.
    pub fn new(prefix: Ipv4Net) -> Self {
        Pool4Entry {
            prefix,
            tcp: default_tcp_udp_ports(),
            udp: default_tcp_udp_ports(),
            icmp: default_icmp_ids(),
        }
    }

    /// The range of one protocol.
    pub fn range(&self, protocol: Nat64Protocol) -> PortRange {
        match protocol {
            Nat64Protocol::Tcp => self.tcp,
            Nat64Protocol::Udp => self.udp,
            Nat64Protocol::Icmp => self.icmp,
        }
    }
}

/// The protocols stateful NAT64 translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nat64Protocol {
    Tcp,
    Udp,
    /// ICMP echo: the identifier plays the port.
    Icmp,
}

impl Nat64Protocol {
    pub const ALL: [Nat64Protocol; 3] =
        [Nat64Protocol::Tcp, Nat64Protocol::Udp, Nat64Protocol::Icmp];
}

macro_rules! transport_addr {
    ($(#[$doc:meta])* $name:ident, $addr:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name {
            pub addr: $addr,
            pub port: u16,
        }

        impl $name {
            pub const fn new(addr: $addr, port: u16) -> Self {
                $name { addr, port }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{}", self.addr, self.port)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let (a, p) = s
                    .rsplit_once('#')
                    .ok_or_else(|| format!("{s:?} is not address#port"))?;
                let addr = a
                    .parse::<$addr>()
                    .map_err(|_| format!("{a:?} is not an address of this family"))?;
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("{p:?} is not a port number 0..=65535"))?;
                Ok($name { addr, port })
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(t: $name) -> String {
                t.to_string()
            }
        }
    };
}

transport_addr!(
    /// An IPv4 address and port written `addr#port` (Jool's notation).
    TransportAddr4,
    Ipv4Addr
);
transport_addr!(
    /// An IPv6 address and port written `addr#port` (no brackets needed).
    TransportAddr6,
    Ipv6Addr
);

/// `[[tenants.static_bib]]`: a permanent binding, so IPv4 clients can reach an IPv6 server
/// (`203.0.113.1#80` → `2001:db8::10#80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticBibEntry {
    pub protocol: Nat64Protocol,
    /// Inside one of the tenant's pool4 prefixes (the port may be outside the dynamic ranges).
    pub ipv4: TransportAddr4,
    pub ipv6: TransportAddr6,
}

/// RFC 6146 §3.5.1.2 / RFC 4787: which IPv4 packets a binding lets in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filtering {
    /// Any IPv4 host may send to a binding (RFC 4787 EIF, RFC 6146's default behaviour).
    #[default]
    EndpointIndependent,
    /// Only IPv4 hosts the IPv6 client has sent to (RFC 4787 ADF).
    AddressDependent,
}

/// `[tenants.nat64.timeouts]`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nat64Timeouts {
    /// UDP session idle timeout, >= 120 (RFC 6146 §4).
    pub udp: u32,
    /// TCP established idle timeout, >= 7440 (2 h 4 min).
    pub tcp_established: u32,
    /// TCP transitory (opening, closing) timeout, >= 240.
    pub tcp_transitory: u32,
    /// ICMP query (echo) session timeout, >= 1.
    pub icmp: u32,
    /// How long an unsolicited IPv4 SYN is held for a simultaneous open (RFC 6146 §3.5.2.2), >= 6.
    pub tcp_incoming_syn: u32,
    /// How long fragments may arrive over (RFC 6146 §3.4): a first fragment is remembered, and a later
    /// fragment that came before it is held, this long. 1..=60, default 2 (FRAGMENT_MIN).
    pub fragment: u32,
}

impl Default for Nat64Timeouts {
    fn default() -> Self {
        Nat64Timeouts {
            udp: 300,
            tcp_established: 7440,
            tcp_transitory: 240,
            icmp: 60,
            tcp_incoming_syn: 6,
            fragment: FRAGMENT_TIMEOUT_DEFAULT,
        }
    }
}

/// `appliance_slice = { index, count }`: this appliance owns slice `index` of `count` of every pool4
/// address's ports, so appliances of a cluster can share the same IPv4 addresses without sharing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplianceSlice {
    pub index: u16,
    pub count: u16,
}

impl Default for ApplianceSlice {
    fn default() -> Self {
        ApplianceSlice { index: 0, count: 1 }
    }
}

/// `[tenants.nat64]`: stateful NAT64 options; every field optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nat64Options {
    pub filtering: Filtering,
    pub timeouts: Nat64Timeouts,
    /// Most sessions of this tenant on this appliance (split evenly between workers). Absent: bounded by the
    /// workers' table capacity only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u32>,
    pub appliance_slice: ApplianceSlice,
    /// Log session creation and deletion (JSON lines).
    pub log_sessions: bool,
    /// RFC 7422 deterministic port blocks instead of per-flow allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_blocks: Option<PortBlocks>,
    /// RFC 6146 §3.4: non-first fragments that arrive before their first fragment are held, at most this
    /// many per worker (0: not held, dropped).
    pub fragments_held_max: u32,
    /// ... and at most this many bytes (of IP packets as received) per worker.
    pub fragments_held_bytes: u32,
}

impl Default for Nat64Options {
    fn default() -> Self {
        Nat64Options {
            filtering: Filtering::default(),
            timeouts: Nat64Timeouts::default(),
            max_sessions: None,
            appliance_slice: ApplianceSlice::default(),
            log_sessions: false,
            port_blocks: None,
            fragments_held_max: FRAGMENTS_HELD_MAX_DEFAULT,
            fragments_held_bytes: FRAGMENTS_HELD_BYTES_DEFAULT,
        }
    }
}

/// Most subscribers `port_blocks` may number (2^24).
pub const PORT_BLOCKS_MAX_SUBSCRIBER_BITS: u8 = 24;

/// `[tenants.nat64.port_blocks]`: RFC 7422 deterministic port blocks. Subscriber `i` (the `i`-th
/// `/prefix_len` inside `subscribers`) always gets pool4 address `i / B` and ports `first + (i % B) ×
/// block_size ..` of each protocol, where `B` is the number of blocks of one address's range and `first` its
/// first port: an operator can tell who used an address and port from the configuration alone, without
/// session logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortBlocks {
    /// Where subscribers' IPv6 addresses come from (host bits zero). Sources outside it get no binding.
    pub subscribers: ipnet::Ipv6Net,
    /// Each subscriber is one prefix of this length inside `subscribers` (at most 2^24 subscribers).
    pub prefix_len: u8,
    /// Ports (ICMP identifiers) per subscriber and protocol: a multiple of 32.
    pub block_size: u16,
}

impl PortBlocks {
    /// Number of subscribers.
    pub fn subscribers_count(&self) -> u64 {
        1u64 << (self
            .prefix_len
            .saturating_sub(self.subscribers.prefix_len()))
    }
}

impl Nat64Options {
    pub fn is_default(&self) -> bool {
        *self == Nat64Options::default()
    }
}

/// Validation of the NAT64 keys of tenant `t` (at pointer `p`), appending to `err`.
pub(super) fn validate_tenant(
    t: &super::Tenant,
    pool6: Option<ipnet::Ipv6Net>,
    p: &str,
    err: &mut dyn FnMut(String, String),
) {
    if t.mode.is_siit() {
        if !t.pool4.is_empty() {
            err(format!("{p}/pool4"), "only for mode = \"nat64\"".into());
        }
        if !t.static_bib.is_empty() {
            err(
                format!("{p}/static_bib"),
                "only for mode = \"nat64\"".into(),
            );
        }
        if !t.nat64.is_default() {
            err(format!("{p}/nat64"), "only for mode = \"nat64\"".into());
        }
        return;
    }
    if pool6.is_none() {
        err(
            format!("{p}/pool6"),
            "required for mode = \"nat64\" (or a tenant_id_prefix)".into(),
        );
    }
    if !t.eamt.is_empty() {
        err(
            format!("{p}/eamt"),
            "explicit address mappings are for mode = \"siit\"".into(),
        );
    }
    if t.pool4.is_empty() {
        err(
            format!("{p}/pool4"),
            "mode = \"nat64\" needs at least one pool4 prefix".into(),
        );
    }
    let mut total: u64 = 0;
    for (k, e) in t.pool4.iter().enumerate() {
        let n = e.prefix;
        if n.addr() != n.network() {
            err(
                format!("{p}/pool4/{k}/prefix"),
                format!("host bits must be zero (did you mean {}?)", n.trunc()),
            );
        }
        total += 1u64 << (32 - u32::from(n.prefix_len()));
        for (j, other) in t.pool4[..k].iter().enumerate() {
            if other.prefix.contains(&n.network()) || n.contains(&other.prefix.network()) {
                err(
                    format!("{p}/pool4/{k}/prefix"),
                    format!("overlaps pool4[{j}] ({})", other.prefix),
                );
                break;
            }
        }
    }
    if total > POOL4_MAX_ADDRS {
        err(
            format!("{p}/pool4"),
            format!("{total} addresses; at most {POOL4_MAX_ADDRS} per tenant"),
        );
    }
    let mut seen4 = std::collections::HashMap::new();
    let mut seen6 = std::collections::HashMap::new();
    for (k, s) in t.static_bib.iter().enumerate() {
        if !t.pool4.iter().any(|e| e.prefix.contains(&s.ipv4.addr)) {
            err(
                format!("{p}/static_bib/{k}/ipv4"),
                format!("{} is not in the tenant's pool4", s.ipv4.addr),
            );
        }
        if let Some(j) = seen4.insert((s.protocol, s.ipv4), k) {
            err(
                format!("{p}/static_bib/{k}/ipv4"),
                format!("duplicate: static_bib[{j}] binds {} too", s.ipv4),
            );
        }
        if let Some(j) = seen6.insert((s.protocol, s.ipv6), k) {
            err(
                format!("{p}/static_bib/{k}/ipv6"),
                format!("duplicate: static_bib[{j}] binds {} too", s.ipv6),
            );
        }
        if let Some(p6) = pool6 {
            if p6.contains(&s.ipv6.addr) {
                err(
                    format!("{p}/static_bib/{k}/ipv6"),
                    format!("{} is inside pool6 {p6}: not an IPv6 host", s.ipv6.addr),
                );
            }
        }
    }
    let o = &t.nat64;
    let to = &o.timeouts;
    let tp = format!("{p}/nat64/timeouts");
    let mut min = |name: &str, v: u32, min: u32, why: &str| {
        if v < min {
            err(
                format!("{tp}/{name}"),
                format!("{v} is below {min} ({why})"),
            );
        }
    };
    min("udp", to.udp, UDP_TIMEOUT_MIN, "RFC 6146 §4: 2 minutes");
    min(
        "tcp_established",
        to.tcp_established,
        TCP_ESTABLISHED_TIMEOUT_MIN,
        "RFC 6146 §4: 2 hours 4 minutes",
    );
    min(
        "tcp_transitory",
        to.tcp_transitory,
        TCP_TRANSITORY_TIMEOUT_MIN,
        "RFC 6146 §4: 4 minutes",
    );
    min("icmp", to.icmp, 1, "a session must live");
    min(
        "tcp_incoming_syn",
        to.tcp_incoming_syn,
        TCP_INCOMING_SYN_TIMEOUT_MIN,
        "RFC 6146 §3.5.2.2: 6 seconds",
    );
    if !(1..=FRAGMENT_TIMEOUT_MAX).contains(&to.fragment) {
        err(
            format!("{tp}/fragment"),
            format!(
                "{} is outside 1..={FRAGMENT_TIMEOUT_MAX} (RFC 8200 §4.5: reassembly gives up after 60 s)",
                to.fragment
            ),
        );
    }
    if o.fragments_held_max > FRAGMENTS_HELD_MAX_LIMIT {
        err(
            format!("{p}/nat64/fragments_held_max"),
            format!(
                "{} is above {FRAGMENTS_HELD_MAX_LIMIT} (preallocated per worker)",
                o.fragments_held_max
            ),
        );
    }
    if o.fragments_held_bytes > FRAGMENTS_HELD_BYTES_LIMIT {
        err(
            format!("{p}/nat64/fragments_held_bytes"),
            format!(
                "{} is above {FRAGMENTS_HELD_BYTES_LIMIT} (64 MiB, preallocated per worker)",
                o.fragments_held_bytes
            ),
        );
    }
    if o.max_sessions == Some(0) {
        err(
            format!("{p}/nat64/max_sessions"),
            "0 would refuse every session; omit the key for no limit".into(),
        );
    }
    if let Some(pb) = o.port_blocks {
        validate_port_blocks(t, &pb, &format!("{p}/nat64/port_blocks"), err);
    }
    let s = o.appliance_slice;
    if s.count == 0 || s.count > APPLIANCE_SLICE_MAX {
        err(
            format!("{p}/nat64/appliance_slice/count"),
            format!("{} is outside 1..={APPLIANCE_SLICE_MAX}", s.count),
        );
    } else if s.index >= s.count {
        err(
            format!("{p}/nat64/appliance_slice/index"),
            format!("{} is not below count ({})", s.index, s.count),
        );
    }
}

fn validate_port_blocks(
    t: &super::Tenant,
    pb: &PortBlocks,
    p: &str,
    err: &mut dyn FnMut(String, String),
) {
    let n = pb.subscribers;
    if n.addr() != n.network() {
        err(
            format!("{p}/subscribers"),
            format!("host bits must be zero (did you mean {}?)", n.trunc()),
        );
    }
    let bits = i32::from(pb.prefix_len) - i32::from(n.prefix_len());
    if pb.prefix_len > 128 || bits < 0 || bits > i32::from(PORT_BLOCKS_MAX_SUBSCRIBER_BITS) {
        err(
            format!("{p}/prefix_len"),
            format!(
                "must be between /{} and /{} (at most 2^{PORT_BLOCKS_MAX_SUBSCRIBER_BITS} subscribers) and at most 128",
                n.prefix_len(),
                u32::from(n.prefix_len()) + u32::from(PORT_BLOCKS_MAX_SUBSCRIBER_BITS)
            ),
        );
        return;
    }
    if pb.block_size == 0 || pb.block_size & 31 != 0 || pb.block_size > 32768 {
        err(
            format!("{p}/block_size"),
            format!("{} is not a multiple of 32 in 32..=32768", pb.block_size),
        );
        return;
    }
    let Some(first) = t.pool4.first() else {
        return;
    };
    let naddrs: u64 = t
        .pool4
        .iter()
        .map(|e| 1u64 << (32 - u32::from(e.prefix.prefix_len())))
        .sum();
    for proto in Nat64Protocol::ALL {
        let name = match proto {
            Nat64Protocol::Tcp => "tcp",
            Nat64Protocol::Udp => "udp",
            Nat64Protocol::Icmp => "icmp",
        };
        let range = first.range(proto);
        if let Some(k) = t.pool4.iter().position(|e| e.range(proto) != range) {
            err(
                p.to_string(),
                format!("port blocks need the same {name} range on every pool4 entry (pool4[{k}] differs)"),
            );
            return;
        }
        if range.first & 31 != 0 {
            err(
                p.to_string(),
                format!(
                    "port blocks need {name} ranges starting at a multiple of 32 ({} is not)",
                    range.first
                ),
            );
            return;
        }
        let blocks = naddrs * u64::from(range.len() / u32::from(pb.block_size));
        if blocks < pb.subscribers_count() {
            err(
                format!("{p}/block_size"),
                format!(
                    "{} subscribers need {} blocks of {} {name} ports; pool4 has {blocks}",
                    pb.subscribers_count(),
                    pb.subscribers_count(),
                    pb.block_size
                ),
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    const BASE: &str = r#"
[[tenants]]
name = "n"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "198.51.100.0/30"
"#;

    fn errs(extra: &str) -> Vec<String> {
        let cfg = Config::parse_toml(&format!("{BASE}{extra}")).unwrap_or_else(|e| panic!("{e}"));
        match cfg.validate() {
            Ok(()) => vec![],
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_and_round_trip() {
        let cfg = Config::from_toml_str(BASE).unwrap();
        let t = &cfg.tenants[0];
        assert_eq!(t.mode, TenantMode::Nat64);
        let p = t.pool4[0];
        assert_eq!(
            (p.tcp, p.udp, p.icmp),
            (
                PortRange::new(1024, 65535),
                PortRange::new(1024, 65535),
                PortRange::new(0, 65535)
            )
        );
        let o = t.nat64;
        assert_eq!(o.filtering, Filtering::EndpointIndependent);
        assert_eq!(
            (
                o.timeouts.udp,
                o.timeouts.tcp_established,
                o.timeouts.tcp_transitory
            ),
            (300, 7440, 240)
        );
        assert_eq!((o.timeouts.icmp, o.timeouts.tcp_incoming_syn), (60, 6));
        assert_eq!(o.appliance_slice, ApplianceSlice { index: 0, count: 1 });
        assert!(!o.log_sessions && o.max_sessions.is_none());
        assert_eq!(Config::from_toml_str(&cfg.to_toml_string()).unwrap(), cfg);
        assert_eq!(Config::from_json_str(&cfg.to_json_string()).unwrap(), cfg);
        // SIIT tenants serialize without the new keys.
        let siit =
            Config::from_toml_str("[[tenants]]\nname = \"s\"\nid = 2\npool6 = \"2001:db8::/96\"\n")
                .unwrap();
        let s = siit.to_toml_string();
        assert!(
            !s.contains("mode") && !s.contains("nat64") && !s.contains("pool4"),
            "{s}"
        );
    }

    #[test]
    fn every_key_parses() {
        let cfg = Config::from_toml_str(&format!(
            r#"{BASE}tcp = "2000-2999"
udp = "5000"
icmp = "1-2"
[[tenants.static_bib]]
protocol = "udp"
ipv4 = "198.51.100.1#53"
ipv6 = "2001:db8::53#5353"
[tenants.nat64]
filtering = "address_dependent"
max_sessions = 1000
log_sessions = true
appliance_slice = {{ index = 1, count = 3 }}
[tenants.nat64.timeouts]
udp = 120
tcp_established = 8000
tcp_transitory = 300
icmp = 30
tcp_incoming_syn = 10
"#
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let t = &cfg.tenants[0];
        assert_eq!(t.pool4[0].tcp, PortRange::new(2000, 2999));
        assert_eq!(t.pool4[0].udp, PortRange::new(5000, 5000));
        assert_eq!(t.pool4[0].icmp, PortRange::new(1, 2));
        assert_eq!(
            t.static_bib[0],
            StaticBibEntry {
                protocol: Nat64Protocol::Udp,
                ipv4: "198.51.100.1#53".parse().unwrap(),
                ipv6: TransportAddr6::new("2001:db8::53".parse().unwrap(), 5353),
            }
        );
        let o = t.nat64;
        assert_eq!(o.filtering, Filtering::AddressDependent);
        assert_eq!(o.max_sessions, Some(1000));
        assert!(o.log_sessions);
        assert_eq!(o.appliance_slice, ApplianceSlice { index: 1, count: 3 });
        assert_eq!(o.timeouts.tcp_incoming_syn, 10);
        assert_eq!(Config::from_toml_str(&cfg.to_toml_string()).unwrap(), cfg);
    }

    #[test]
    fn fragment_hold_knobs() {
        let o = Config::from_toml_str(BASE).unwrap().tenants[0].nat64;
        assert_eq!(
            (
                o.timeouts.fragment,
                o.fragments_held_max,
                o.fragments_held_bytes
            ),
            (2, 256, 262144)
        );
        let cfg = Config::from_toml_str(&format!(
            "{BASE}[tenants.nat64]\nfragments_held_max = 0\nfragments_held_bytes = 4096\ntimeouts = {{ fragment = 5 }}\n"
        ))
        .unwrap();
        let o = cfg.tenants[0].nat64;
        assert_eq!(
            (
                o.timeouts.fragment,
                o.fragments_held_max,
                o.fragments_held_bytes
            ),
            (5, 0, 4096)
        );
        assert_eq!(Config::from_toml_str(&cfg.to_toml_string()).unwrap(), cfg);
        let e = errs("[tenants.nat64]\nfragments_held_max = 65537\nfragments_held_bytes = 67108865\ntimeouts = { fragment = 0 }\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].contains("timeouts.fragment: 0 is outside 1..=60"),
            "{e:?}"
        );
        assert!(
            e[1].contains("fragments_held_max: 65537 is above 65536"),
            "{e:?}"
        );
        assert!(e[2].contains("fragments_held_bytes"), "{e:?}");
        assert!(errs("[tenants.nat64]\ntimeouts = { fragment = 61 }\n")[0].contains("outside"));
    }

    #[test]
    fn parse_errors_name_the_field() {
        let e = Config::parse_toml(&format!("{BASE}tcp = \"3000-2000\"\n")).unwrap_err();
        assert_eq!(e.0[0].pointer, "/tenants/0/pool4/0/tcp", "{e}");
        assert!(e.0[0].message.contains("above the last"), "{e}");
        let e = Config::parse_toml(&format!(
            "{BASE}[[tenants.static_bib]]\nprotocol = \"tcp\"\nipv4 = \"198.51.100.1\"\nipv6 = \"::1#1\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.0[0].pointer, "/tenants/0/static_bib/0/ipv4", "{e}");
        let e = Config::parse_toml(&format!(
            "{BASE}[tenants.nat64]\nfiltering = \"full_cone\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.0[0].pointer, "/tenants/0/nat64/filtering", "{e}");
    }

    #[test]
    fn rfc6146_minimum_timeouts() {
        let e = errs(
            "[tenants.nat64.timeouts]\nudp = 119\ntcp_established = 7439\ntcp_transitory = 239\nicmp = 0\ntcp_incoming_syn = 5\n",
        );
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(
            e[0].starts_with("tenants[0].nat64.timeouts.udp: 119 is below 120"),
            "{e:?}"
        );
        assert!(e[1].contains("tcp_established"));
        assert!(e[4].contains("tcp_incoming_syn"));
    }

    #[test]
    fn nat64_needs_pool6_and_pool4_and_no_eamt() {
        let cfg = Config::parse_toml(
            "[[tenants]]\nname = \"n\"\nid = 1\nmode = \"nat64\"\n[[tenants.eamt]]\nipv4 = \"192.0.2.0/24\"\nipv6 = \"2001:db8::/120\"\n",
        )
        .unwrap();
        let e = cfg.validate().unwrap_err();
        let ptrs: Vec<_> = e.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            ["/tenants/0/pool6", "/tenants/0/eamt", "/tenants/0/pool4"],
            "{e}"
        );
        // tenant_id_prefix gives it a pool6.
        let cfg = Config::from_toml_str(
            "[tenant_id_prefix]\nbase = \"2001:db8:100::/48\"\n[[tenants]]\nname = \"n\"\nid = 1\nmode = \"nat64\"\n[[tenants.pool4]]\nprefix = \"198.51.100.0/30\"\n",
        );
        assert!(cfg.is_ok(), "{cfg:?}");
    }

    #[test]
    fn nat64_keys_refused_on_siit_tenants() {
        let cfg = Config::parse_toml(
            "[[tenants]]\nname = \"s\"\nid = 1\npool6 = \"2001:db8::/96\"\n[[tenants.pool4]]\nprefix = \"198.51.100.0/30\"\n[tenants.nat64]\nlog_sessions = true\n",
        )
        .unwrap();
        let e = cfg.validate().unwrap_err();
        let ptrs: Vec<_> = e.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(ptrs, ["/tenants/0/pool4", "/tenants/0/nat64"], "{e}");
    }

    #[test]
    fn pool4_rules() {
        let e = errs("[[tenants.pool4]]\nprefix = \"198.51.100.1/30\"\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("pool4[1].prefix: host bits"), "{e:?}");
        assert!(e[1].contains("pool4[1].prefix: overlaps pool4[0]"), "{e:?}");
        let e = errs("[[tenants.pool4]]\nprefix = \"10.0.0.0/19\"\n");
        assert!(e[0].contains("at most 4096"), "{e:?}");
    }

    #[test]
    fn static_bib_rules() {
        let e = errs(
            r#"[[tenants.static_bib]]
protocol = "tcp"
ipv4 = "192.0.2.1#80"
ipv6 = "2001:db8::1#80"
[[tenants.static_bib]]
protocol = "tcp"
ipv4 = "198.51.100.1#80"
ipv6 = "2001:db8::1#80"
[[tenants.static_bib]]
protocol = "tcp"
ipv4 = "198.51.100.1#80"
ipv6 = "2001:db8:64::1#80"
[[tenants.static_bib]]
protocol = "udp"
ipv4 = "198.51.100.1#80"
ipv6 = "2001:db8::1#80"
"#,
        );
        // The UDP entry reuses the TCP entry's addresses: another protocol, no conflict.
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("static_bib[0].ipv4: 192.0.2.1 is not in the tenant's pool4"));
        assert!(e[1].contains("static_bib[1].ipv6: duplicate"));
        assert!(e[2].contains("static_bib[2].ipv4: duplicate"));
        assert!(e[3].contains("inside pool6"), "{e:?}");
    }

    #[test]
    fn appliance_slice_and_limits() {
        let e =
            errs("[tenants.nat64]\nappliance_slice = { index = 2, count = 2 }\nmax_sessions = 0\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("max_sessions"));
        assert!(e[1].contains("appliance_slice.index: 2 is not below count (2)"));
        let e = errs("[tenants.nat64]\nappliance_slice = { index = 0, count = 0 }\n");
        assert!(e[0].contains("appliance_slice.count"), "{e:?}");
    }

    #[test]
    fn port_blocks_rules() {
        let ok = "[tenants.nat64.port_blocks]\nsubscribers = \"2001:db8:1000::/48\"\nprefix_len = 56\nblock_size = 512\n";
        assert!(errs(ok).is_empty(), "{:?}", errs(ok));
        let cfg = Config::from_toml_str(&format!("{BASE}{ok}")).unwrap();
        let pb = cfg.tenants[0].nat64.port_blocks.unwrap();
        assert_eq!((pb.subscribers_count(), pb.block_size), (256, 512));
        assert_eq!(Config::from_toml_str(&cfg.to_toml_string()).unwrap(), cfg);
        // 4 addresses × 126 blocks of 512 ports < 512 subscribers.
        let e = errs("[tenants.nat64.port_blocks]\nsubscribers = \"2001:db8:1000::/47\"\nprefix_len = 56\nblock_size = 512\n");
        assert!(e[0].contains("port_blocks.block_size: 512 subscribers need 512 blocks of 512 tcp ports; pool4 has 504"), "{e:?}");
        let e = errs("[tenants.nat64.port_blocks]\nsubscribers = \"2001:db8:1000::/48\"\nprefix_len = 40\nblock_size = 2048\n");
        assert!(e[0].contains("prefix_len"), "{e:?}");
        let e = errs("[tenants.nat64.port_blocks]\nsubscribers = \"2001:db8:1000::/48\"\nprefix_len = 56\nblock_size = 100\n");
        assert!(e[0].contains("multiple of 32"), "{e:?}");
        let e = errs(&format!("tcp = \"1000-65535\"\n{ok}"));
        assert!(e[0].contains("starting at a multiple of 32"), "{e:?}");
    }

    #[test]
    fn ipv4_side_nat64_tenants_claim_only_pool4() {
        // Two NAT64 tenants on the same (untagged) IPv4 side: fine while their pool4 prefixes differ.
        let two = |second: &str| {
            format!(
                "{BASE}[[tenants]]\nname = \"m\"\nid = 2\nmode = \"nat64\"\npool6 = \"2001:db8:65::/96\"\n[[tenants.pool4]]\nprefix = \"{second}\"\n"
            )
        };
        assert!(Config::from_toml_str(&two("203.0.113.0/30")).is_ok());
        let cfg = Config::parse_toml(&two("198.51.100.2/31")).unwrap();
        let e = cfg.validate().unwrap_err();
        assert_eq!(e.0[0].pointer, "/tenants/1/pool4/0/prefix", "{e}");
        assert!(
            e.0[0].message.contains("could not tell the tenants apart"),
            "{e}"
        );
        // A SIIT tenant with a pool6 beside a NAT64 one: the SIIT one takes every other destination.
        let mixed =
            format!("{BASE}[[tenants]]\nname = \"s\"\nid = 2\npool6 = \"2001:db8:65::/96\"\n");
        assert!(Config::from_toml_str(&mixed).is_ok());
    }
}
