//! The configuration schema: one [`Config`] for TOML files and for the REST API's JSON, and its validation.
//!
//! Keys are snake_case and unknown keys are errors everywhere (`deny_unknown_fields`). Parsing
//! ([`Config::parse_toml`], [`Config::parse_json`]) names the field that failed to parse; validation
//! ([`Config::validate`]) reports every problem it finds, each with the JSON pointer of the field concerned
//! (`/tenants/1/eamt/3/ipv6`), displayed as a dotted path (`tenants[1].eamt[3].ipv6: <message>`).
//!
//! ```
//! let cfg = mgmt_api::Config::from_toml_str(r#"
//!     [[tenants]]
//!     name = "blue"
//!     id = 7
//!     pool6 = "2001:db8:64::/96"
//! "#).unwrap();
//! assert_eq!(cfg.tenants[0].options.ipv6_mtu, 1500);
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

mod nat64;
pub use nat64::{
    ApplianceSlice, Filtering, Nat64Options, Nat64Protocol, Nat64Timeouts, Pool4Entry, PortBlocks,
    PortRange, StaticBibEntry, TenantMode, TransportAddr4, TransportAddr6, POOL4_MAX_ADDRS,
};

/// RFC 6052 §2.2: the prefix lengths an IPv4-embedded IPv6 address may use.
pub const RFC6052_PREFIX_LENS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// Longest `tenant_id_prefix.base`: the 16-bit tenant ID must end at bit 64, before the RFC 6052 u-octet.
pub const TENANT_ID_BASE_MAX_LEN: u8 = 48;

/// Largest tenant ID when `tenant_id_prefix` is set (the ID is embedded in 16 bits).
pub const TENANT_ID_EMBEDDED_MAX: u32 = 0xffff;

/// Most tenants one configuration may hold (the dataplane numbers them with a `u16`).
pub const MAX_TENANTS: usize = u16::MAX as usize;

/// The whole configuration of one appliance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Derives each tenant's pool6 from its ID, 464XLAT data-centre style (`<base>:<ID>::W.X.Y.Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id_prefix: Option<TenantIdPrefix>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<Tenant>,
    /// How the live appliance (`xlat64-dataplane`) attaches to the network. Absent: offline use only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataplane: Option<Dataplane>,
}

/// Most interfaces the dataplane attaches to.
pub const MAX_DATAPLANE_INTERFACES: usize = 16;

/// Most queues (workers) per interface.
pub const MAX_DATAPLANE_QUEUES: u16 = 64;

/// `[dataplane]`: interfaces, workers and polling of the live appliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataplane {
    /// The interfaces translated traffic arrives and leaves on: one with role `both` (one-arm), or one `ipv6`
    /// and one `ipv4` (two-arm).
    pub interfaces: Vec<DataplaneInterface>,
    /// Queues per interface, each served by one worker thread (queue IDs 0..queues), 1..=64.
    #[serde(default = "default_queues")]
    pub queues: u16,
    /// CPU cores to pin the workers to, in queue order (worker q on `cores[q % len]`). Empty: worker q on the
    /// q-th CPU the process may run on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cores: Vec<usize>,
    /// Most frames a worker receives and processes in one pass, 1..=1024.
    #[serde(default = "default_batch_size")]
    pub batch_size: u16,
    /// `interrupt` (default: an idle worker sleeps in poll()) or `busy` (spins: lowest latency, one full core
    /// per worker).
    #[serde(default)]
    pub poll_mode: PollMode,
    /// `interrupt` mode: longest sleep in poll() before the worker looks at its control flags, 1..=1000 ms.
    #[serde(default = "default_poll_timeout_ms")]
    pub poll_timeout_ms: u32,
    /// Unix socket the dataplane listens on for the control process (`xlat64-control`): live config pushes
    /// and queries ([`crate::ipc`]). An absolute path; absent: no socket (the `--control-socket` flag wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket: Option<String>,
    /// Entries of each AF_XDP ring (RX, TX, fill, completion) of every socket, a power of two in
    /// 64..=32768. Deeper rings absorb longer stalls of a worker (preemption on a shared core) without loss,
    /// at the cost of memory (two rings' worth of 2 KiB frames per socket) and of latency while they are full.
    #[serde(default = "default_ring_size")]
    pub ring_size: u32,
    /// Slots of each hand-off ring between two workers (stateful NAT64 with `queues > 1`), 16..=65536.
    #[serde(default = "default_handoff_ring_size")]
    pub handoff_ring_size: u32,
}

fn default_queues() -> u16 {
    1
}

fn default_batch_size() -> u16 {
    64
}

fn default_poll_timeout_ms() -> u32 {
    100
}

fn default_ring_size() -> u32 {
    8192
}

fn default_handoff_ring_size() -> u32 {
    256
}

/// How a worker waits for packets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollMode {
    /// Sleep in poll() when idle.
    #[default]
    Interrupt,
    /// Spin on the rings.
    Busy,
}

/// Which translated traffic an interface carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceRole {
    /// The IPv6 side: IPv6 arrives here to be translated; translated IPv6 leaves here.
    Ipv6,
    /// The IPv4 side.
    Ipv4,
    /// Both (one-arm).
    Both,
}

/// `[[dataplane.interfaces]]`: one interface the dataplane attaches to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneInterface {
    /// Linux interface name (1..=15 bytes).
    pub name: String,
    pub role: InterfaceRole,
    /// Destination MAC of every frame sent on this interface (`aa:bb:cc:dd:ee:ff`), instead of the kernel's
    /// route and neighbour tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_mac: Option<String>,
}

/// Parses `aa:bb:cc:dd:ee:ff` (hex, case-insensitive).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split(':') {
        if n == 6 || part.len() != 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

/// `[tenant_id_prefix]`: pool6 = base | (id << (128 - L - 16)), length 96.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantIdPrefix {
    /// Length at most [`TENANT_ID_BASE_MAX_LEN`], host bits zero.
    pub base: Ipv6Net,
}

impl TenantIdPrefix {
    /// The /96 pool6 of tenant `id`: the ID sits in the 16 bits right after the base. `None` if the base is
    /// longer than [`TENANT_ID_BASE_MAX_LEN`] or the ID does not fit in 16 bits.
    pub fn pool6_for(&self, id: u32) -> Option<Ipv6Net> {
        let len = self.base.prefix_len();
        if len > TENANT_ID_BASE_MAX_LEN || id > TENANT_ID_EMBEDDED_MAX {
            return None;
        }
        let base = u128::from(self.base.network());
        let addr = base | (u128::from(id) << (128 - u32::from(len) - 16));
        Ipv6Net::new(Ipv6Addr::from(addr), 96).ok()
    }
}

/// `[[tenants]]`: one tenant's tables and options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Unique, 1..=32 characters of `[A-Za-z0-9_.-]`.
    pub name: String,
    /// Unique; at most 65535 when `tenant_id_prefix` is set.
    pub id: u32,
    /// RFC 6052 prefix (/32 /40 /48 /56 /64 /96, u-octet and host bits zero). Absent: derived from
    /// `tenant_id_prefix` if set, else the tenant translates by its EAMT only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool6: Option<Ipv6Net>,
    /// Source of ICMPv4 errors the translator originates itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_ipv4: Option<Ipv4Addr>,
    /// Source of ICMPv6 errors the translator originates itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_ipv6: Option<Ipv6Addr>,
    /// RFC 6791 pool: IPv4 sources for translated ICMPv6 errors whose IPv6 source has no mapping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rfc6791_v4: Vec<Ipv4Net>,
    /// IPv6 sources for translated ICMPv4 errors whose IPv4 source has no mapping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rfc6791_v6: Vec<Ipv6Net>,
    /// How the IPv4 side recognises this tenant.
    #[serde(default, skip_serializing_if = "Ipv4Side::is_unset")]
    pub ipv4_side: Ipv4Side,
    /// RFC 7757 explicit address mappings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eamt: Vec<EamEntry>,
    #[serde(default, skip_serializing_if = "Options::is_default")]
    pub options: Options,
    /// Stateless (`siit`, the default) or stateful (`nat64`, RFC 6146).
    #[serde(default, skip_serializing_if = "TenantMode::is_siit")]
    pub mode: TenantMode,
    /// NAT64: the IPv4 addresses (and ports) the tenant's IPv6 clients share.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pool4: Vec<Pool4Entry>,
    /// NAT64: permanent bindings for IPv6 servers reachable from IPv4.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_bib: Vec<StaticBibEntry>,
    /// NAT64 options.
    #[serde(default, skip_serializing_if = "Nat64Options::is_default")]
    pub nat64: Nat64Options,
}

impl Tenant {
    /// A tenant with this name and ID and nothing else (EAMT-only until given a pool6 or EAM entries).
    pub fn new(name: impl Into<String>, id: u32) -> Self {
        Tenant {
            name: name.into(),
            id,
            ..Tenant::default()
        }
    }
}

/// `[tenants.ipv4_side]`: which IPv4-side frames belong to the tenant. With neither key, the tenant is found by
/// destination address alone (its EAM IPv4 prefixes, and any address if it has a pool6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipv4Side {
    /// 802.1Q VLAN ID 1..=4094: frames with this tag belong to the tenant, and its IPv4 egress carries it.
    /// Absent: the tenant takes untagged frames only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Ingress interface name (1..=15 bytes, a valid Linux interface name). Absent: any interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

impl Ipv4Side {
    /// Neither key set.
    pub fn is_unset(&self) -> bool {
        self.vlan.is_none() && self.interface.is_none()
    }

    fn describe(&self) -> String {
        let vlan = match self.vlan {
            Some(v) => format!("vlan {v}"),
            None => "untagged".to_string(),
        };
        let iface = match &self.interface {
            Some(i) => format!("interface {i:?}"),
            None => "any interface".to_string(),
        };
        format!("{vlan}, {iface}")
    }
}

/// `[[tenants.eamt]]`: one RFC 7757 explicit address mapping.
///
/// RFC 7757 §3.2: the IPv4 and IPv6 suffixes (`32 - len4`, `128 - len6`) may differ as long as the IPv6 suffix
/// is at least as long as the IPv4 one: the IPv4 suffix is copied into the leftmost bits after the IPv6 prefix,
/// the remaining IPv6 bits are zero (IPv4 → IPv6) and ignored (IPv6 → IPv4). RFC 7757 Appendix B's
/// `192.0.2.128/26` ↔ `2001:db8:dddd::/64` maps `192.0.2.152` to `2001:db8:dddd:0:6000::`. An IPv4 suffix longer
/// than the IPv6 one would lose bits and is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EamEntry {
    pub ipv4: Ipv4Net,
    pub ipv6: Ipv6Net,
}

/// RFC 7757 §4: how IPv6 traffic between two EAM-mapped hosts is hairpinned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EamHairpinMode {
    Off,
    /// RFC 7757 §4.2.1.
    #[default]
    Simple,
    /// RFC 7757 §4.2.2.
    Intrinsic,
}

/// `[tenants.options]`: translation options; every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// v4→v6: IPv6 traffic class 0 instead of the IPv4 TOS.
    pub zeroize_traffic_class: bool,
    /// v6→v4: IPv4 TOS = `tos` instead of the IPv6 traffic class.
    pub override_tos: bool,
    pub tos: u8,
    /// v4→v6: compute a checksum for unfragmented IPv4 UDP with checksum 0 (else drop).
    pub amend_udp_checksum_zero: bool,
    /// v4→v6: IPv4 packets with DF=0 are fragmented to fit this (>= 1280).
    pub lowest_ipv6_mtu: u16,
    /// Egress MTU towards the IPv6 side (>= 1280).
    pub ipv6_mtu: u16,
    /// Egress MTU towards the IPv4 side (>= 68).
    pub ipv4_mtu: u16,
    /// RFC 1191 plateaus; non-empty, each 68..=65535. [`Config::normalize`] sorts them descending and drops
    /// duplicates.
    pub mtu_plateaus: Vec<u16>,
    /// RFC 6052 §3.1: allow 64:ff9b::/96 with non-global IPv4 addresses.
    pub allow_wkp_non_global: bool,
    pub eam_hairpin_mode: EamHairpinMode,
    /// Pick RFC 6791 pool addresses at random instead of by hash of the destination.
    pub randomize_rfc6791: bool,
    /// Originate ICMP errors (Time Exceeded, Packet Too Big, Parameter Problem...).
    pub icmp_errors: bool,
}

/// RFC 1191 §7's table of plateaus.
pub const DEFAULT_MTU_PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

impl Options {
    /// All fields at their defaults.
    pub fn is_default(&self) -> bool {
        *self == Options::default()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            zeroize_traffic_class: false,
            override_tos: false,
            tos: 0,
            amend_udp_checksum_zero: false,
            lowest_ipv6_mtu: 1280,
            ipv6_mtu: 1500,
            ipv4_mtu: 1500,
            mtu_plateaus: DEFAULT_MTU_PLATEAUS.to_vec(),
            allow_wkp_non_global: false,
            eam_hairpin_mode: EamHairpinMode::Simple,
            randomize_rfc6791: false,
            icmp_errors: true,
        }
    }
}

/// One problem with a configuration: the JSON pointer of the field (`/tenants/1/eamt/3/ipv6`; empty for the
/// document as a whole) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConfigError {
    pub pointer: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    /// The pointer as a dotted path: `/tenants/1/eamt/3/ipv6` → `tenants[1].eamt[3].ipv6`.
    pub fn path(&self) -> String {
        pointer_to_path(&self.pointer)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path(), self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors about this exact pointer.
    pub fn at<'a>(&'a self, pointer: &'a str) -> impl Iterator<Item = &'a ConfigError> + 'a {
        self.0.iter().filter(move |e| e.pointer == pointer)
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// `/tenants/1/eamt/3/ipv6` → `tenants[1].eamt[3].ipv6` (RFC 6901 escapes `~1` and `~0` undone).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// RFC 6901: one reference token, escaped.
fn escape_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&escape_token(key));
            }
            Segment::Enum { variant } => {
                out.push('/');
                out.push_str(&escape_token(variant));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// 1-based line and column of byte `offset` in `s`.
fn line_col(s: &str, offset: usize) -> (usize, usize) {
    let before = &s[..offset.min(s.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Config {
    /// Parses TOML and validates it. Every problem is reported; the result is [normalized](Config::normalize).
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigErrors> {
        let mut cfg = Config::parse_toml(s)?;
        cfg.validate()?;
        cfg.normalize();
        Ok(cfg)
    }

    /// Parses JSON (the REST API's body) and validates it, like [`Config::from_toml_str`].
    pub fn from_json_str(s: &str) -> Result<Config, ConfigErrors> {
        let mut cfg = Config::parse_json(s)?;
        cfg.validate()?;
        cfg.normalize();
        Ok(cfg)
    }

    /// Parses TOML without validating. A syntax error, a wrong type or an unknown key is one error naming the
    /// field (and the line and column).
    pub fn parse_toml(s: &str) -> Result<Config, ConfigErrors> {
        let de = toml::Deserializer::new(s);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let pointer = path_to_pointer(e.path());
            let inner = e.inner();
            let mut message = inner.message().trim_end().replace('\n', "; ");
            if let Some(span) = inner.span() {
                let (line, col) = line_col(s, span.start);
                message.push_str(&format!(" (line {line}, column {col})"));
            }
            ConfigErrors::from(ConfigError { pointer, message })
        })
    }

    /// Parses JSON without validating, like [`Config::parse_toml`].
    pub fn parse_json(s: &str) -> Result<Config, ConfigErrors> {
        let mut de = serde_json::Deserializer::from_str(s);
        let cfg: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            ConfigErrors::from(ConfigError::new(
                path_to_pointer(e.path()),
                e.inner().to_string(),
            ))
        })?;
        de.end()
            .map_err(|e| ConfigErrors::from(ConfigError::new("", e.to_string())))?;
        Ok(cfg)
    }

    /// The configuration as TOML (parses back to an equal `Config`).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self)
            .expect("every Config serializes to TOML (tables after values, no None in arrays)")
    }

    /// The configuration as pretty-printed JSON.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).expect("every Config serializes to JSON")
    }

    /// Puts stored values in canonical form: `mtu_plateaus` sorted descending without duplicates.
    pub fn normalize(&mut self) {
        for t in &mut self.tenants {
            let p = &mut t.options.mtu_plateaus;
            p.sort_unstable_by(|a, b| b.cmp(a));
            p.dedup();
        }
    }

    /// The pool6 a tenant translates with: its own, else the one derived from `tenant_id_prefix`.
    pub fn effective_pool6(&self, tenant: &Tenant) -> Option<Ipv6Net> {
        tenant
            .pool6
            .or_else(|| self.tenant_id_prefix.and_then(|p| p.pool6_for(tenant.id)))
    }

    /// Checks every rule of the schema and reports every problem found (not just the first).
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut v = Validator::default();
        v.run(self);
        if v.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(v.errors))
        }
    }
}

// --- validation -------------------------------------------------------------------------------------------

/// A prefix in the top `len` bits of a `u128`. IPv4 prefixes sit in the top 32 bits, so prefix lengths keep
/// their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Bits {
    addr: u128,
    len: u8,
}

fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

impl Bits {
    fn v6(n: &Ipv6Net) -> Self {
        let len = n.prefix_len();
        Bits {
            addr: u128::from(n.addr()) & mask128(len),
            len,
        }
    }

    fn v4(n: &Ipv4Net) -> Self {
        let len = n.prefix_len();
        Bits {
            addr: (u128::from(u32::from(n.addr())) << 96) & mask128(len),
            len,
        }
    }

    fn contains(&self, o: &Bits) -> bool {
        self.len <= o.len && (o.addr & mask128(self.len)) == self.addr
    }
}

/// Calls `pair(outer, inner)` for every two items whose prefixes nest (`outer` contains `inner`; equal prefixes
/// nest too). O(n log n) plus the number of pairs.
fn nesting_pairs(items: &[Bits], mut pair: impl FnMut(usize, usize)) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (items[i].addr, items[i].len, i));
    // Invariant: each element of `stack` contains the one above it.
    let mut stack: Vec<usize> = Vec::new();
    for i in order {
        while let Some(&top) = stack.last() {
            if items[top].contains(&items[i]) {
                break;
            }
            stack.pop();
        }
        for &outer in &stack {
            pair(outer, i);
        }
        stack.push(i);
    }
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
    reported: HashSet<String>,
}

/// What an IPv6-side prefix belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner6 {
    /// (tenant)
    Pool6(usize),
    /// (tenant, entry)
    Eam(usize, usize),
}

impl Owner6 {
    fn tenant(self) -> usize {
        match self {
            Owner6::Pool6(t) | Owner6::Eam(t, _) => t,
        }
    }

    /// Order used to pick which side of a conflict gets the error: EAM entries before pool6, then later ones.
    fn blame_rank(self) -> (u8, usize, usize) {
        match self {
            Owner6::Eam(t, e) => (1, t, e),
            Owner6::Pool6(t) => (0, t, 0),
        }
    }
}

fn is_valid_ifname(s: &str) -> bool {
    // Linux dev_valid_name(): 1..IFNAMSIZ-1 bytes, not "." or "..", no '/', ':' or whitespace.
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

fn is_valid_tenant_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Validator {
    fn err(&mut self, pointer: String, message: String) {
        self.errors.push(ConfigError { pointer, message });
    }

    /// Reports at most one error per pointer (overlap checks may find several partners for one field).
    fn err_once(&mut self, pointer: String, message: String) {
        if self.reported.insert(pointer.clone()) {
            self.err(pointer, message);
        }
    }

    fn run(&mut self, cfg: &Config) {
        if cfg.tenants.len() > MAX_TENANTS {
            self.err(
                "/tenants".into(),
                format!("at most {MAX_TENANTS} tenants, got {}", cfg.tenants.len()),
            );
        }
        if let Some(tip) = &cfg.tenant_id_prefix {
            self.tenant_id_prefix(tip);
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut ids: HashMap<u32, usize> = HashMap::new();
        for (i, t) in cfg.tenants.iter().enumerate() {
            let p = format!("/tenants/{i}");
            if !is_valid_tenant_name(&t.name) {
                self.err(
                    format!("{p}/name"),
                    format!("{:?} is not 1..=32 characters of [A-Za-z0-9_.-]", t.name),
                );
            }
            if let Some(&first) = names.get(t.name.as_str()) {
                self.err(
                    format!("{p}/name"),
                    format!("duplicate tenant name {:?} (also tenants[{first}])", t.name),
                );
            } else {
                names.insert(&t.name, i);
            }
            if let Some(&first) = ids.get(&t.id) {
                self.err(
                    format!("{p}/id"),
                    format!("duplicate tenant id {} (also tenants[{first}])", t.id),
                );
            } else {
                ids.insert(t.id, i);
            }
            if cfg.tenant_id_prefix.is_some() && t.id > TENANT_ID_EMBEDDED_MAX {
                self.err(
                    format!("{p}/id"),
                    format!(
                        "{} does not fit in 16 bits; tenant_id_prefix allows ids up to 65535",
                        t.id
                    ),
                );
            }
            self.tenant(cfg, i, t, &p);
        }
        self.ipv6_side(cfg);
        self.ipv4_side(cfg);
        if let Some(dp) = &cfg.dataplane {
            self.dataplane(dp);
        }
    }

    fn dataplane(&mut self, dp: &Dataplane) {
        let p = "/dataplane";
        if dp.interfaces.is_empty() {
            self.err(
                format!("{p}/interfaces"),
                "needs at least one interface (one with role \"both\", or one \"ipv6\" and one \"ipv4\")"
                    .into(),
            );
        }
        if dp.interfaces.len() > MAX_DATAPLANE_INTERFACES {
            self.err(
                format!("{p}/interfaces"),
                format!(
                    "at most {MAX_DATAPLANE_INTERFACES} interfaces, got {}",
                    dp.interfaces.len()
                ),
            );
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (k, i) in dp.interfaces.iter().enumerate() {
            let ip = format!("{p}/interfaces/{k}");
            if !is_valid_ifname(&i.name) {
                self.err(
                    format!("{ip}/name"),
                    format!(
                        "{:?} is not an interface name (1..=15 bytes, no '/', ':' or whitespace)",
                        i.name
                    ),
                );
            }
            if let Some(&first) = names.get(i.name.as_str()) {
                self.err(
                    format!("{ip}/name"),
                    format!(
                        "duplicate interface {:?} (also interfaces[{first}])",
                        i.name
                    ),
                );
            } else {
                names.insert(&i.name, k);
            }
            if let Some(mac) = &i.next_hop_mac {
                if parse_mac(mac).is_none() {
                    self.err(
                        format!("{ip}/next_hop_mac"),
                        format!("{mac:?} is not a MAC address like 02:00:00:00:00:01"),
                    );
                }
            }
        }
        if !dp.interfaces.is_empty() {
            let has = |r: InterfaceRole| dp.interfaces.iter().any(|i| i.role == r);
            let both = has(InterfaceRole::Both);
            if !both && !has(InterfaceRole::Ipv6) {
                self.err(
                    format!("{p}/interfaces"),
                    "no interface carries IPv6: give one role \"ipv6\" or \"both\"".into(),
                );
            }
            if !both && !has(InterfaceRole::Ipv4) {
                self.err(
                    format!("{p}/interfaces"),
                    "no interface carries IPv4: give one role \"ipv4\" or \"both\"".into(),
                );
            }
            if both && (has(InterfaceRole::Ipv6) || has(InterfaceRole::Ipv4)) {
                self.err(
                    format!("{p}/interfaces"),
                    "mixes role \"both\" (one-arm) with \"ipv6\"/\"ipv4\" (two-arm): pick one topology".into(),
                );
            }
            for r in [
                InterfaceRole::Ipv6,
                InterfaceRole::Ipv4,
                InterfaceRole::Both,
            ] {
                let with: Vec<usize> = (0..dp.interfaces.len())
                    .filter(|&k| dp.interfaces[k].role == r)
                    .collect();
                for &k in with.iter().skip(1) {
                    self.err(
                        format!("{p}/interfaces/{k}/role"),
                        format!(
                            "interfaces[{}] already has this role: one interface per role for now",
                            with[0]
                        ),
                    );
                }
            }
        }
        if !(1..=MAX_DATAPLANE_QUEUES).contains(&dp.queues) {
            self.err(
                format!("{p}/queues"),
                format!("{} is outside 1..={MAX_DATAPLANE_QUEUES}", dp.queues),
            );
        }
        if !(1..=1024).contains(&dp.batch_size) {
            self.err(
                format!("{p}/batch_size"),
                format!("{} is outside 1..=1024", dp.batch_size),
            );
        }
        if !(1..=1000).contains(&dp.poll_timeout_ms) {
            self.err(
                format!("{p}/poll_timeout_ms"),
                format!("{} is outside 1..=1000", dp.poll_timeout_ms),
            );
        }
        if let Some(path) = &dp.control_socket {
            // sun_path holds 108 bytes including the terminating NUL.
            if !path.starts_with('/') || path.len() > 107 || path.contains('\0') {
                self.err(
                    format!("{p}/control_socket"),
                    format!("{path:?} is not an absolute path of at most 107 bytes"),
                );
            }
        }
        if !(64..=32768).contains(&dp.ring_size) || !dp.ring_size.is_power_of_two() {
            self.err(
                format!("{p}/ring_size"),
                format!("{} is not a power of two in 64..=32768", dp.ring_size),
            );
        }
        if !(16..=65536).contains(&dp.handoff_ring_size) {
            self.err(
                format!("{p}/handoff_ring_size"),
                format!("{} is outside 16..=65536", dp.handoff_ring_size),
            );
        }
        for (k, &c) in dp.cores.iter().enumerate() {
            if c >= 4096 {
                self.err(
                    format!("{p}/cores/{k}"),
                    format!("core {c} is not a CPU number below 4096"),
                );
            }
        }
    }

    fn tenant_id_prefix(&mut self, tip: &TenantIdPrefix) {
        let base = tip.base;
        if base.prefix_len() > TENANT_ID_BASE_MAX_LEN {
            self.err(
                "/tenant_id_prefix/base".into(),
                format!(
                    "prefix length /{} is longer than /{TENANT_ID_BASE_MAX_LEN}: the 16-bit tenant id must end \
                     before bit 64 (the RFC 6052 u-octet)",
                    base.prefix_len()
                ),
            );
        }
        if base.addr() != base.network() {
            self.err(
                "/tenant_id_prefix/base".into(),
                format!("host bits must be zero (did you mean {}?)", base.trunc()),
            );
        }
    }

    fn tenant(&mut self, cfg: &Config, i: usize, t: &Tenant, p: &str) {
        if let Some(pool6) = t.pool6 {
            self.pool6(cfg, t, pool6, p);
        }
        for (k, n) in t.rfc6791_v4.iter().enumerate() {
            if n.addr() != n.network() {
                self.err(
                    format!("{p}/rfc6791_v4/{k}"),
                    format!("host bits must be zero (did you mean {}?)", n.trunc()),
                );
            }
        }
        for (k, n) in t.rfc6791_v6.iter().enumerate() {
            if n.addr() != n.network() {
                self.err(
                    format!("{p}/rfc6791_v6/{k}"),
                    format!("host bits must be zero (did you mean {}?)", n.trunc()),
                );
            }
        }
        if let Some(vlan) = t.ipv4_side.vlan {
            if !(1..=4094).contains(&vlan) {
                self.err(
                    format!("{p}/ipv4_side/vlan"),
                    format!("VLAN ID {vlan} is outside 1..=4094"),
                );
            }
        }
        if let Some(iface) = &t.ipv4_side.interface {
            if !is_valid_ifname(iface) {
                self.err(
                    format!("{p}/ipv4_side/interface"),
                    format!("{iface:?} is not an interface name (1..=15 bytes, no '/', ':' or whitespace)"),
                );
            }
        }
        self.eamt(i, t, p);
        self.options(&t.options, p);
        let mut errs = Vec::new();
        nat64::validate_tenant(t, cfg.effective_pool6(t), p, &mut |ptr, msg| {
            errs.push((ptr, msg))
        });
        for (ptr, msg) in errs {
            self.err(ptr, msg);
        }
    }

    fn pool6(&mut self, cfg: &Config, t: &Tenant, pool6: Ipv6Net, p: &str) {
        let ptr = format!("{p}/pool6");
        let len = pool6.prefix_len();
        if !RFC6052_PREFIX_LENS.contains(&len) {
            self.err(
                ptr.clone(),
                format!("prefix length /{len} is not one of /32, /40, /48, /56, /64, /96 (RFC 6052 §2.2)"),
            );
        }
        if pool6.addr() != pool6.network() {
            self.err(
                ptr.clone(),
                format!("host bits must be zero (did you mean {}?)", pool6.trunc()),
            );
        } else if u128::from(pool6.addr()) & (0xffu128 << 56) != 0 {
            self.err(
                ptr.clone(),
                "bits 64..71 (the u-octet) must be zero (RFC 6052 §2.2)".into(),
            );
        }
        if let Some(tip) = &cfg.tenant_id_prefix {
            if let Some(derived) = tip.pool6_for(t.id) {
                if derived != pool6 {
                    self.err(
                        ptr,
                        format!(
                            "differs from {derived}, the pool6 tenant_id_prefix gives id {}",
                            t.id
                        ),
                    );
                }
            }
        }
    }

    fn eamt(&mut self, _i: usize, t: &Tenant, p: &str) {
        let mut seen4: HashMap<Bits, usize> = HashMap::new();
        let mut seen6: HashMap<Bits, usize> = HashMap::new();
        for (k, e) in t.eamt.iter().enumerate() {
            let p4 = format!("{p}/eamt/{k}/ipv4");
            let p6 = format!("{p}/eamt/{k}/ipv6");
            if e.ipv4.addr() != e.ipv4.network() {
                self.err(
                    p4.clone(),
                    format!("host bits must be zero (did you mean {}?)", e.ipv4.trunc()),
                );
            }
            if e.ipv6.addr() != e.ipv6.network() {
                self.err(
                    p6.clone(),
                    format!("host bits must be zero (did you mean {}?)", e.ipv6.trunc()),
                );
            }
            let suffix4 = 32 - e.ipv4.prefix_len();
            let suffix6 = 128 - e.ipv6.prefix_len();
            if suffix4 > suffix6 {
                self.err(
                    p6.clone(),
                    format!(
                        "the IPv6 suffix ({suffix6} bits) is shorter than the IPv4 suffix ({suffix4} bits) of {}: \
                         RFC 7757 §3.2 needs an IPv6 suffix at least as long (make the IPv6 prefix /{} or shorter)",
                        e.ipv4,
                        128 - suffix4
                    ),
                );
            }
            let b4 = Bits::v4(&e.ipv4);
            if let Some(&first) = seen4.get(&b4) {
                self.err(
                    p4,
                    format!(
                        "duplicate IPv4 prefix {} (also eamt[{first}])",
                        e.ipv4.trunc()
                    ),
                );
            } else {
                seen4.insert(b4, k);
            }
            let b6 = Bits::v6(&e.ipv6);
            if let Some(&first) = seen6.get(&b6) {
                self.err(
                    p6,
                    format!(
                        "duplicate IPv6 prefix {} (also eamt[{first}])",
                        e.ipv6.trunc()
                    ),
                );
            } else {
                seen6.insert(b6, k);
            }
        }
    }

    fn options(&mut self, o: &Options, p: &str) {
        let p = format!("{p}/options");
        if o.lowest_ipv6_mtu < 1280 {
            self.err(
                format!("{p}/lowest_ipv6_mtu"),
                format!("{} is below the IPv6 minimum MTU 1280", o.lowest_ipv6_mtu),
            );
        } else if o.lowest_ipv6_mtu > o.ipv6_mtu {
            self.err(
                format!("{p}/lowest_ipv6_mtu"),
                format!(
                    "{} is larger than ipv6_mtu ({})",
                    o.lowest_ipv6_mtu, o.ipv6_mtu
                ),
            );
        }
        if o.ipv6_mtu < 1280 {
            self.err(
                format!("{p}/ipv6_mtu"),
                format!("{} is below the IPv6 minimum MTU 1280", o.ipv6_mtu),
            );
        }
        if o.ipv4_mtu < 68 {
            self.err(
                format!("{p}/ipv4_mtu"),
                format!("{} is below the IPv4 minimum MTU 68", o.ipv4_mtu),
            );
        }
        if o.mtu_plateaus.is_empty() {
            self.err(format!("{p}/mtu_plateaus"), "must not be empty".into());
        }
        for (k, &m) in o.mtu_plateaus.iter().enumerate() {
            if m < 68 {
                self.err(
                    format!("{p}/mtu_plateaus/{k}"),
                    format!("{m} is outside 68..=65535"),
                );
            }
        }
    }

    /// IPv6-side classification: no IPv6 address may belong to two tenants (pool6 and EAM IPv6 prefixes).
    fn ipv6_side(&mut self, cfg: &Config) {
        let mut items = Vec::new();
        let mut owners = Vec::new();
        for (i, t) in cfg.tenants.iter().enumerate() {
            if let Some(pool6) = cfg.effective_pool6(t) {
                items.push(Bits::v6(&pool6));
                owners.push(Owner6::Pool6(i));
            }
            for (k, e) in t.eamt.iter().enumerate() {
                items.push(Bits::v6(&e.ipv6));
                owners.push(Owner6::Eam(i, k));
            }
        }
        let mut found = Vec::new();
        nesting_pairs(&items, |a, b| {
            if owners[a].tenant() != owners[b].tenant() {
                found.push((a, b));
            }
        });
        for (a, b) in found {
            let (blame, other) = if owners[a].blame_rank() > owners[b].blame_rank() {
                (a, b)
            } else {
                (b, a)
            };
            let describe = |o: Owner6, bits: &Bits| -> (String, String) {
                let net = Ipv6Net::new(Ipv6Addr::from(bits.addr), bits.len).expect("len <= 128");
                match o {
                    Owner6::Pool6(t) if cfg.tenants[t].pool6.is_some() => (
                        format!("/tenants/{t}/pool6"),
                        format!("pool6 {net} of tenant {:?}", cfg.tenants[t].name),
                    ),
                    Owner6::Pool6(t) => (
                        format!("/tenants/{t}/id"),
                        format!(
                            "pool6 {net} (from tenant_id_prefix) of tenant {:?}",
                            cfg.tenants[t].name
                        ),
                    ),
                    Owner6::Eam(t, k) => (
                        format!("/tenants/{t}/eamt/{k}/ipv6"),
                        format!("EAM IPv6 prefix {net} of tenant {:?}", cfg.tenants[t].name),
                    ),
                }
            };
            let (ptr, what) = describe(owners[blame], &items[blame]);
            let (other_ptr, other_what) = describe(owners[other], &items[other]);
            self.err_once(
                ptr,
                format!(
                    "{what} overlaps {other_what} ({}): the IPv6 side could not tell the tenants apart",
                    pointer_to_path(&other_ptr)
                ),
            );
        }
    }

    /// IPv4-side classification: tenants with the same ipv4_side key must not claim overlapping destinations.
    fn ipv4_side(&mut self, cfg: &Config) {
        // Groups of tenants sharing a key, in order of first appearance.
        let mut index: HashMap<&Ipv4Side, usize> = HashMap::new();
        let mut groups: Vec<(&Ipv4Side, Vec<usize>)> = Vec::new();
        for (i, t) in cfg.tenants.iter().enumerate() {
            let g = *index.entry(&t.ipv4_side).or_insert_with(|| {
                groups.push((&t.ipv4_side, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        for (key, members) in &groups {
            if members.len() < 2 {
                continue;
            }
            // Both with a pool6: both claim 0.0.0.0/0.
            let mut first_pool6: Option<usize> = None;
            for &i in members {
                // NAT64 tenants claim only their pool4 prefixes (checked with the EAM prefixes below).
                if cfg.effective_pool6(&cfg.tenants[i]).is_none()
                    || cfg.tenants[i].mode == TenantMode::Nat64
                {
                    continue;
                }
                match first_pool6 {
                    None => first_pool6 = Some(i),
                    Some(f) => self.err(
                        format!("/tenants/{i}/ipv4_side"),
                        format!(
                            "same ipv4_side ({}) as tenants[{f}] ({:?}) and both have a pool6, so both claim every \
                             IPv4 destination: give one a different vlan or interface",
                            key.describe(),
                            cfg.tenants[f].name
                        ),
                    ),
                }
            }
            // EAM IPv4 prefixes of different tenants must not overlap.
            let mut items = Vec::new();
            let mut owners = Vec::new();
            // `(tenant, EAM entry)`, or `(tenant, POOL4 + pool4 entry)` for NAT64 pool4 prefixes.
            const POOL4: usize = usize::MAX / 2;
            for &i in members {
                for (k, e) in cfg.tenants[i].eamt.iter().enumerate() {
                    items.push(Bits::v4(&e.ipv4));
                    owners.push((i, k));
                }
                for (k, e) in cfg.tenants[i].pool4.iter().enumerate() {
                    items.push(Bits::v4(&e.prefix));
                    owners.push((i, POOL4 + k));
                }
            }
            let describe = |(t, k): (usize, usize)| -> (String, Ipv4Net) {
                if k >= POOL4 {
                    (
                        format!("/tenants/{t}/pool4/{}/prefix", k - POOL4),
                        cfg.tenants[t].pool4[k - POOL4].prefix,
                    )
                } else {
                    (
                        format!("/tenants/{t}/eamt/{k}/ipv4"),
                        cfg.tenants[t].eamt[k].ipv4,
                    )
                }
            };
            let mut found = Vec::new();
            nesting_pairs(&items, |a, b| {
                if owners[a].0 != owners[b].0 {
                    found.push((a, b));
                }
            });
            for (a, b) in found {
                let (blame, other) = if owners[a] > owners[b] {
                    (a, b)
                } else {
                    (b, a)
                };
                let (ptr, _) = describe(owners[blame]);
                let (other_ptr, other_net) = describe(owners[other]);
                let ot = owners[other].0;
                self.err_once(
                    ptr,
                    format!(
                        "overlaps {} ({other_net}) of tenant {:?}, which has the same ipv4_side \
                         ({}): the IPv4 side could not tell the tenants apart",
                        pointer_to_path(&other_ptr),
                        cfg.tenants[ot].name,
                        key.describe()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
