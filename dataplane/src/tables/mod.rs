//! Per-tenant configuration compiled into the lookup tables the translator reads.
//!
//! A [`Snapshot`] is built once per configuration change ([`Snapshot::compile`]) and shared read-only by the
//! workers (behind an `Arc`, swapped atomically). Everything the packet path calls on it — classification,
//! address mapping, RFC 6791 sources — works on flat arrays with masks and shifts, without allocating.

pub mod lpm;

mod classify;

use mgmt_api::config::{Config, ConfigError, ConfigErrors, EamHairpinMode};

use crate::frame::RxMeta;
use crate::wire::checksum;
use crate::xlat::eamt::{EamEntry, Eamt};
use crate::xlat::rfc6052::{is_global_v4, Rfc6052Prefix};
use crate::xlat::rfc6791::{Rfc6791Pool4, Rfc6791Pool6};
use classify::{V4Classifier, V4Tenant, V6Classifier};

/// RFC 7600: the IPv4 dummy address, the source of ICMPv4 errors when nothing better is configured.
pub const IPV4_DUMMY: [u8; 4] = [192, 0, 0, 8];

/// RFC 7757 §4.2: how IPv6 traffic between two EAM-mapped hosts is hairpinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HairpinMode {
    Off,
    Simple,
    Intrinsic,
}

impl From<EamHairpinMode> for HairpinMode {
    fn from(m: EamHairpinMode) -> Self {
        match m {
            EamHairpinMode::Off => HairpinMode::Off,
            EamHairpinMode::Simple => HairpinMode::Simple,
            EamHairpinMode::Intrinsic => HairpinMode::Intrinsic,
        }
    }
}

/// A tenant's translation options: plain copies of `[tenants.options]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlatOptions {
    pub zeroize_traffic_class: bool,
    pub override_tos: bool,
    pub tos: u8,
    pub amend_udp_checksum_zero: bool,
    pub lowest_ipv6_mtu: u16,
    pub ipv6_mtu: u16,
    pub ipv4_mtu: u16,
    /// Descending, without duplicates.
    pub mtu_plateaus: Vec<u16>,
    pub allow_wkp_non_global: bool,
    pub eam_hairpin_mode: HairpinMode,
    pub randomize_rfc6791: bool,
    pub icmp_errors: bool,
}

impl From<&mgmt_api::config::Options> for XlatOptions {
    fn from(o: &mgmt_api::config::Options) -> Self {
        let mut mtu_plateaus = o.mtu_plateaus.clone();
        mtu_plateaus.sort_unstable_by(|a, b| b.cmp(a));
        mtu_plateaus.dedup();
        XlatOptions {
            zeroize_traffic_class: o.zeroize_traffic_class,
            override_tos: o.override_tos,
            tos: o.tos,
            amend_udp_checksum_zero: o.amend_udp_checksum_zero,
            lowest_ipv6_mtu: o.lowest_ipv6_mtu,
            ipv6_mtu: o.ipv6_mtu,
            ipv4_mtu: o.ipv4_mtu,
            mtu_plateaus,
            allow_wkp_non_global: o.allow_wkp_non_global,
            eam_hairpin_mode: o.eam_hairpin_mode.into(),
            randomize_rfc6791: o.randomize_rfc6791,
            icmp_errors: o.icmp_errors,
        }
    }
}

impl Default for XlatOptions {
    fn default() -> Self {
        XlatOptions::from(&mgmt_api::config::Options::default())
    }
}

/// Why an address could not be mapped to the other family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrError {
    /// Neither the EAMT nor pool6 covers it.
    NoMapping,
    /// RFC 6052 §3.1: the Well-Known Prefix with a non-global IPv4 address (and `allow_wkp_non_global` off).
    WkpNonGlobal,
}

/// The common configuration, recognised once per snapshot so that the translator's fast path maps an
/// address with an OR or a compare instead of a table walk: a /96 pool6 (the Well-Known Prefix included) and
/// an empty EAMT. RFC 6052 §2.2 puts the IPv4 address in the last 32 bits of a /96, with no u-octet and no
/// suffix, so embedding is `prefix | v4` and extraction a compare of the top 96 bits and a truncation; and
/// since every address of a translated packet then carries the prefix, the TCP/UDP pseudo-header sum
/// changes by the same amount in every packet, computed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool96 {
    prefix: u128,
    /// RFC 6052 §3.1 applies (the Well-Known Prefix without `allow_wkp_non_global`).
    wkp_strict: bool,
    delta_v4_to_v6: u16,
    delta_v6_to_v4: u16,
}

impl Pool96 {
    fn new(prefix: u128, wkp_strict: bool) -> Self {
        // The pseudo-header gains the prefix twice (source and destination) IPv4 -> IPv6 and loses it the
        // other way. As representatives in 1..=0xffff, which `checksum::adjust_by` needs.
        let p = checksum::sum_u128(prefix);
        let twice = checksum::fold(p + p);
        Pool96 {
            // The last 32 bits are the IPv4 address's: zero here, so that `embed` is an OR and `extract_pair`
            // a masked compare.
            prefix: prefix & !u128::from(u32::MAX),
            wkp_strict,
            delta_v4_to_v6: if twice == 0 { 0xffff } else { twice },
            delta_v6_to_v4: if twice == 0xffff { 0xffff } else { !twice },
        }
    }

    /// RFC 6052 §2.2 (and §3.1): the IPv6 address of `v4` (network byte order as an integer).
    #[inline(always)]
    pub fn embed(&self, v4: u32) -> Option<u128> {
        if self.wkp_strict && !is_global_v4(v4.to_be_bytes()) {
            return None;
        }
        Some(self.prefix | u128::from(v4))
    }

    /// RFC 6052 §2.3 (and §3.1): the IPv4 address in `v6`, if it is under the prefix.
    #[inline(always)]
    pub fn extract(&self, v6: u128) -> Option<u32> {
        if v6 & !u128::from(u32::MAX) != self.prefix {
            return None;
        }
        let v4 = v6 as u32;
        if self.wkp_strict && !is_global_v4(v4.to_be_bytes()) {
            return None;
        }
        Some(v4)
    }

    /// [`Pool96::extract`] of a packet's source and destination at once: both under the prefix is one
    /// masked compare of their differences from it (the fast path needs both or neither), and the RFC 6052
    /// §3.1 check, when it applies, is one branch for the two.
    #[inline(always)]
    pub fn extract_pair(&self, src: u128, dst: u128) -> Option<(u32, u32)> {
        if ((src ^ self.prefix) | (dst ^ self.prefix)) & !u128::from(u32::MAX) != 0 {
            return None;
        }
        let (s, d) = (src as u32, dst as u32);
        if self.wkp_strict && !(is_global_v4(s.to_be_bytes()) && is_global_v4(d.to_be_bytes())) {
            return None;
        }
        Some((s, d))
    }

    /// How much the TCP/UDP pseudo-header's sum changes when both addresses go from IPv4 to this prefix:
    /// the `delta` of [`checksum::adjust_by`].
    #[inline(always)]
    pub fn pseudo_delta_v4_to_v6(&self) -> u16 {
        self.delta_v4_to_v6
    }

    /// The same, IPv6 to IPv4.
    #[inline(always)]
    pub fn pseudo_delta_v6_to_v4(&self) -> u16 {
        self.delta_v6_to_v4
    }
}

/// One tenant's compiled tables.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Position in [`Snapshot::tenants`].
    pub index: u16,
    pub id: u32,
    pub name: String,
    /// 802.1Q tag for this tenant's IPv4 egress (`ipv4_side.vlan`).
    pub vlan: Option<u16>,
    pub opts: XlatOptions,
    /// Stateful NAT64 (`mode = "nat64"`): pool4, static bindings, filtering and timeouts.
    pub nat64: Option<Box<crate::nat64::Nat64Config>>,
    /// Interface index from `ipv4_side.interface`.
    ingress: Option<u16>,
    pool6: Option<Rfc6052Prefix>,
    /// pool6 is the Well-Known Prefix and `allow_wkp_non_global` is off: RFC 6052 §3.1 applies.
    wkp_strict: bool,
    eamt: Eamt,
    rfc6791_v4: Rfc6791Pool4,
    rfc6791_v6: Rfc6791Pool6,
    own_v4: [u8; 4],
    own_v6: [u8; 16],
    pool96: Option<Pool96>,
}

impl Tenant {
    /// The fast path's mapping, when this tenant has the common configuration ([`Pool96`]).
    #[inline(always)]
    pub fn pool96(&self) -> Option<&Pool96> {
        self.pool96.as_ref()
    }

    /// [`Tenant::map_v4_to_v6`] for the fast path: the address as an integer (network byte order), `None` for
    /// any failure (the caller falls back to the general path, which names the reason).
    #[inline(always)]
    pub fn map_v4_to_v6_fast(&self, a: u32) -> Option<u128> {
        match &self.pool96 {
            Some(p) => p.embed(a),
            None => self.map_v4_to_v6_general(a),
        }
    }

    /// [`Tenant::map_v6_to_v4`] for the fast path, like [`Tenant::map_v4_to_v6_fast`].
    #[inline(always)]
    pub fn map_v6_to_v4_fast(&self, a: u128) -> Option<u32> {
        match &self.pool96 {
            Some(p) => p.extract(a),
            None => self.map_v6_to_v4_general(a),
        }
    }

    /// Out of line: the table walks would bloat every fast path they were inlined into.
    #[inline(never)]
    fn map_v4_to_v6_general(&self, a: u32) -> Option<u128> {
        self.map_v4_to_v6(a.to_be_bytes())
            .ok()
            .map(u128::from_be_bytes)
    }

    #[inline(never)]
    fn map_v6_to_v4_general(&self, a: u128) -> Option<u32> {
        self.map_v6_to_v4(&a.to_be_bytes())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// RFC 7757 §3.2 then RFC 6052 §2.3: EAMT longest-prefix match first, else pool6 extraction (with the
    /// RFC 6052 §3.1 check unless `allow_wkp_non_global`).
    #[inline]
    pub fn map_v6_to_v4(&self, a: &[u8; 16]) -> Result<[u8; 4], AddrError> {
        if let Some(v4) = self.eamt.v6_to_v4(a) {
            return Ok(v4);
        }
        let v4 = self
            .pool6
            .as_ref()
            .and_then(|p| p.extract(a))
            .ok_or(AddrError::NoMapping)?;
        self.check_wkp(v4)?;
        Ok(v4)
    }

    /// RFC 7757 §3.2 then RFC 6052 §2.2: EAMT first, else pool6 embedding (with the RFC 6052 §3.1 check).
    #[inline]
    pub fn map_v4_to_v6(&self, a: [u8; 4]) -> Result<[u8; 16], AddrError> {
        if let Some(v6) = self.eamt.v4_to_v6(a) {
            return Ok(v6);
        }
        let p = self.pool6.as_ref().ok_or(AddrError::NoMapping)?;
        self.check_wkp(a)?;
        Ok(p.embed(a))
    }

    /// RFC 6052 §2.2 only, skipping the EAMT: the source of a hairpinned packet's second pass (RFC 7757 §4),
    /// so the far end answers to the pool6 address the packet was sent with.
    #[inline]
    pub fn map_v4_to_v6_pool6(&self, a: [u8; 4]) -> Result<[u8; 16], AddrError> {
        let p = self.pool6.as_ref().ok_or(AddrError::NoMapping)?;
        self.check_wkp(a)?;
        Ok(p.embed(a))
    }

    #[inline]
    fn check_wkp(&self, v4: [u8; 4]) -> Result<(), AddrError> {
        if self.wkp_strict && !is_global_v4(v4) {
            Err(AddrError::WkpNonGlobal)
        } else {
            Ok(())
        }
    }

    /// False when no packet of this tenant can be hairpinned (RFC 7757 §4): hairpinning is off, or there is
    /// no EAM entry to hairpin to. Lets the pipeline skip the EAMT lookup.
    #[inline]
    pub fn may_hairpin(&self) -> bool {
        self.opts.eam_hairpin_mode != HairpinMode::Off && !self.eamt.is_empty()
    }

    /// True if an EAM IPv4 prefix contains `a` (RFC 7757 §4 hairpinning).
    #[inline]
    pub fn eam_covers_v4(&self, a: [u8; 4]) -> bool {
        self.eamt.covers_v4(a)
    }

    /// True if an EAM IPv6 prefix contains `a`.
    #[inline]
    pub fn eam_covers_v6(&self, a: &[u8; 16]) -> bool {
        self.eamt.covers_v6(a)
    }

    /// RFC 6791: source for a translated ICMPv6 error whose IPv6 source has no mapping: `rfc6791_v4` pool
    /// address number `key % pool size`, else [`Tenant::own_v4`].
    #[inline]
    pub fn rfc6791_v4(&self, key: u32) -> [u8; 4] {
        self.rfc6791_v4.pick(key).unwrap_or(self.own_v4)
    }

    /// Same for translated ICMPv4 errors: `rfc6791_v6` pool, else [`Tenant::own_v6`].
    #[inline]
    pub fn rfc6791_v6(&self, key: u32) -> [u8; 16] {
        self.rfc6791_v6.pick(key).unwrap_or(self.own_v6)
    }

    /// Source of ICMPv4 errors the translator originates: `own_ipv4`, else the first `rfc6791_v4` address,
    /// else 192.0.0.8 (RFC 7600 IPv4 dummy address).
    #[inline]
    pub fn own_v4(&self) -> [u8; 4] {
        self.own_v4
    }

    /// Source of ICMPv6 errors the translator originates, the first of:
    /// 1. `own_ipv6`;
    /// 2. the first `rfc6791_v6` address;
    /// 3. [`Tenant::own_v4`] mapped by the tenant's EAMT or pool6 (`map_v4_to_v6`);
    /// 4. 192.0.0.8 under the Well-Known Prefix, `64:ff9b::c000:8` (RFC 6052 embedding; an IPv4-mapped
    ///    `::ffff:192.0.0.8` is not a legal source on the wire).
    #[inline]
    pub fn own_v6(&self) -> [u8; 16] {
        self.own_v6
    }

    /// The tenant's RFC 6052 prefix: `pool6`, or the one derived from `tenant_id_prefix`.
    pub fn pool6(&self) -> Option<&Rfc6052Prefix> {
        self.pool6.as_ref()
    }

    pub fn eamt(&self) -> &Eamt {
        &self.eamt
    }

    /// Index of the ingress interface the tenant is bound to (`ipv4_side.interface`); `None`: any.
    pub fn ingress(&self) -> Option<u16> {
        self.ingress
    }
}

/// A compiled configuration: every tenant's tables and the classifiers that find them.
#[derive(Debug, Clone)]
pub struct Snapshot {
    tenants: Box<[Tenant]>,
    interfaces: Box<[String]>,
    /// (tenant id, index), sorted by id.
    by_id: Box<[(u32, u16)]>,
    v6: V6Classifier,
    v4: V4Classifier,
}

impl Default for Snapshot {
    /// No tenants: every packet is unclassified.
    fn default() -> Self {
        Snapshot {
            tenants: Box::new([]),
            interfaces: Box::new([]),
            by_id: Box::new([]),
            v6: V6Classifier::default(),
            v4: V4Classifier::default(),
        }
    }
}

fn intern(names: &mut Vec<String>, name: &str) -> u16 {
    let i = names.iter().position(|n| n == name).unwrap_or_else(|| {
        names.push(name.to_string());
        names.len() - 1
    });
    u16::try_from(i).expect("no more interfaces than tenants")
}

impl Snapshot {
    /// Validates (mgmt_api) then compiles. Interface names get indices 0.. in order of first appearance.
    pub fn compile(cfg: &Config) -> Result<Snapshot, ConfigErrors> {
        cfg.validate()?;
        let mut interfaces: Vec<String> = Vec::new();
        let mut tenants: Vec<Tenant> = Vec::with_capacity(cfg.tenants.len());
        let mut errors: Vec<ConfigError> = Vec::new();
        for (i, t) in cfg.tenants.iter().enumerate() {
            let index = u16::try_from(i).expect("validation caps the number of tenants");
            let opts = XlatOptions::from(&t.options);
            let ingress = t
                .ipv4_side
                .interface
                .as_deref()
                .map(|n| intern(&mut interfaces, n));
            // Validation guarantees the next two; a failure here is reported, not panicked on.
            let pool6 = match cfg.effective_pool6(t) {
                Some(n) => match Rfc6052Prefix::new(n.network().octets(), n.prefix_len()) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        errors.push(ConfigError::new(
                            format!("/tenants/{i}/pool6"),
                            e.to_string(),
                        ));
                        None
                    }
                },
                None => None,
            };
            let entries: Vec<EamEntry> = t
                .eamt
                .iter()
                .map(|e| EamEntry {
                    v4: e.ipv4.network().octets(),
                    len4: e.ipv4.prefix_len(),
                    v6: e.ipv6.network().octets(),
                    len6: e.ipv6.prefix_len(),
                })
                .collect();
            let eamt = Eamt::new(&entries).unwrap_or_else(|(k, e)| {
                errors.push(ConfigError::new(
                    format!("/tenants/{i}/eamt/{k}"),
                    e.to_string(),
                ));
                Eamt::default()
            });
            let pool4: Vec<([u8; 4], u8)> = t
                .rfc6791_v4
                .iter()
                .map(|n| (n.network().octets(), n.prefix_len()))
                .collect();
            let pool6_6791: Vec<([u8; 16], u8)> = t
                .rfc6791_v6
                .iter()
                .map(|n| (n.network().octets(), n.prefix_len()))
                .collect();
            let rfc6791_v4 = Rfc6791Pool4::new(&pool4);
            let rfc6791_v6 = Rfc6791Pool6::new(&pool6_6791);
            let nat64 = (t.mode == mgmt_api::config::TenantMode::Nat64)
                .then(|| Box::new(crate::nat64::Nat64Config::new(t)));
            // NAT64 tenants fall back to their first pool4 address before the RFC 7600 dummy.
            let own_v4 = t
                .own_ipv4
                .map(|a| a.octets())
                .or_else(|| rfc6791_v4.first())
                .or_else(|| nat64.as_ref().and_then(|c| c.pool4.first()))
                .unwrap_or(IPV4_DUMMY);
            let wkp_strict = pool6.is_some_and(|p| p.is_well_known()) && !opts.allow_wkp_non_global;
            let pool96 = match pool6 {
                Some(p) if p.len() == 96 && eamt.is_empty() => {
                    Some(Pool96::new(u128::from_be_bytes(p.addr()), wkp_strict))
                }
                _ => None,
            };
            let mut tenant = Tenant {
                index,
                id: t.id,
                name: t.name.clone(),
                vlan: t.ipv4_side.vlan,
                opts,
                nat64,
                ingress,
                pool6,
                wkp_strict,
                eamt,
                rfc6791_v4,
                rfc6791_v6,
                own_v4,
                own_v6: [0; 16],
                pool96,
            };
            tenant.own_v6 = t
                .own_ipv6
                .map(|a| a.octets())
                .or_else(|| tenant.rfc6791_v6.first())
                .or_else(|| tenant.map_v4_to_v6(own_v4).ok())
                .unwrap_or_else(|| Rfc6052Prefix::well_known().embed(IPV4_DUMMY));
            tenants.push(tenant);
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }

        let v6 = V6Classifier::new(tenants.iter().flat_map(|t| {
            let pool = t
                .pool6
                .map(|p| (u128::from_be_bytes(p.addr()), p.len(), t.index));
            let eams = t
                .eamt
                .entries()
                .iter()
                .map(|e| (u128::from_be_bytes(e.v6), e.len6, t.index));
            pool.into_iter().chain(eams)
        }));
        let v4_tenants: Vec<V4Tenant> = tenants
            .iter()
            .map(|t| V4Tenant {
                tenant: t.index,
                vlan: t.vlan,
                ingress: t.ingress,
                // A NAT64 tenant takes its pool4 prefixes only, not every destination.
                has_pool6: t.pool6.is_some() && t.nat64.is_none(),
                eam4: t
                    .eamt
                    .entries()
                    .iter()
                    .map(|e| (u32::from_be_bytes(e.v4), e.len4))
                    .chain(
                        cfg.tenants[usize::from(t.index)]
                            .pool4
                            .iter()
                            .map(|e| (u32::from(e.prefix.network()), e.prefix.prefix_len())),
                    )
                    .collect(),
            })
            .collect();
        let v4 = V4Classifier::new(&v4_tenants);
        let mut by_id: Vec<(u32, u16)> = tenants.iter().map(|t| (t.id, t.index)).collect();
        by_id.sort_unstable();
        Ok(Snapshot {
            tenants: tenants.into(),
            interfaces: interfaces.into(),
            by_id: by_id.into(),
            v6,
            v4,
        })
    }

    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The tenant at `index`.
    ///
    /// # Panics
    /// If `index` is not a tenant's index: a caller bug, never packet content.
    #[inline]
    pub fn tenant(&self, index: u16) -> &Tenant {
        &self.tenants[usize::from(index)]
    }

    /// The tenant with this configured `id`.
    pub fn tenant_by_id(&self, id: u32) -> Option<&Tenant> {
        let i = self.by_id.binary_search_by_key(&id, |&(id, _)| id).ok()?;
        Some(self.tenant(self.by_id[i].1))
    }

    /// IPv6 side: the tenant whose pool6 or EAM IPv6 prefix contains `dst` (longest match).
    #[inline(always)]
    pub fn classify_v6(&self, dst: &[u8; 16]) -> Option<&Tenant> {
        self.v6.classify(dst).map(|i| self.tenant(i))
    }

    /// IPv4 side: among tenants whose ipv4_side matches the frame (vlan equal to `meta.vlan`, interface index
    /// equal to `meta.ingress`; a tenant without vlan only takes untagged frames — VLAN 0, a priority tag,
    /// counts as untagged; without interface, any interface), the one whose EAM IPv4 prefix contains `dst`
    /// (longest match), else one with a pool6. Among tenants claiming the same prefix (or both with a pool6),
    /// one bound to the ingress interface goes before one that takes any interface.
    #[inline(always)]
    pub fn classify_v4(&self, meta: RxMeta, dst: [u8; 4]) -> Option<&Tenant> {
        self.v4.classify(meta, dst).map(|i| self.tenant(i))
    }

    /// The bits of an IPv6 destination [`Snapshot::classify_v6`] depends on: destinations equal under this
    /// mask get the same answer (what lets a batch remember a classification for a whole prefix).
    #[inline]
    pub fn classify_v6_key_mask(&self) -> u128 {
        self.v6.key_mask()
    }

    /// The bits of an IPv4 destination [`Snapshot::classify_v4`] depends on, for frames with the same
    /// [`RxMeta`]: (meta, destination under this mask) determine the answer.
    #[inline]
    pub fn classify_v4_key_mask(&self) -> u32 {
        self.v4.key_mask()
    }

    /// Index of the interface called `name` in this snapshot.
    pub fn interface_index(&self, name: &str) -> Option<u16> {
        self.interfaces
            .iter()
            .position(|n| n == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Interface names by index.
    pub fn interface_names(&self) -> &[String] {
        &self.interfaces
    }
}

#[cfg(test)]
mod tests;
