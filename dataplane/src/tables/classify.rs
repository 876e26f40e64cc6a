//! Tenant classification: which tenant a packet belongs to, on each side.
//!
//! - IPv6 side: the destination address. Every tenant's pool6 and EAM IPv6 prefixes go into one
//!   longest-prefix-match table (validation keeps tenants' prefixes from overlapping).
//! - IPv4 side: the frame's VLAN picks a group of tenants in O(1) (a 4096-entry array indexed by VLAN ID, 0 for
//!   untagged); within it, the longest EAM IPv4 prefix containing the destination whose tenant takes the
//!   ingress interface, else the first tenant with a pool6 that takes it. A tenant bound to an interface is
//!   tried before one that takes any interface, so a catch-all tenant can sit beside interface-specific ones.

use super::lpm::Lpm;
use crate::frame::RxMeta;

/// Number of VLAN IDs (12 bits).
const VLAN_IDS: usize = 4096;

/// No tenant group for this VLAN.
const NO_GROUP: u16 = u16::MAX;

/// IPv6 side: destination prefix → tenant index.
#[derive(Debug, Clone, Default)]
pub(crate) struct V6Classifier {
    lpm: Lpm<u128, u16>,
}

impl V6Classifier {
    /// From `(network, length, tenant index)`.
    pub(crate) fn new(prefixes: impl IntoIterator<Item = (u128, u8, u16)>) -> Self {
        V6Classifier {
            lpm: Lpm::new(prefixes),
        }
    }

    #[inline]
    pub(crate) fn classify(&self, dst: &[u8; 16]) -> Option<u16> {
        self.lpm.lookup(u128::from_be_bytes(*dst)).map(|(t, _)| *t)
    }
}

/// A tenant's claim on IPv4-side frames of its VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Claim {
    /// Interface index the tenant is bound to; `None`: any.
    ingress: Option<u16>,
    tenant: u16,
}

impl Claim {
    #[inline]
    fn takes(&self, ingress: u16) -> bool {
        self.ingress.is_none_or(|i| i == ingress)
    }
}

/// The tenants of one VLAN (or of untagged frames).
#[derive(Debug, Clone, Default)]
struct V4Group {
    eam: Lpm<u32, Claim>,
    /// Tenants with a pool6 (they take any destination), interface-bound ones first.
    pool6: Box<[Claim]>,
}

/// What the IPv4-side classifier needs to know about a tenant.
#[derive(Debug, Clone)]
pub(crate) struct V4Tenant {
    pub tenant: u16,
    /// VLAN ID 1..=4094, or `None` for untagged frames.
    pub vlan: Option<u16>,
    pub ingress: Option<u16>,
    pub has_pool6: bool,
    /// EAM IPv4 prefixes `(network, length)`.
    pub eam4: Vec<(u32, u8)>,
}

/// IPv4 side: (VLAN, ingress interface, destination) → tenant index.
#[derive(Debug, Clone)]
pub(crate) struct V4Classifier {
    /// VLAN ID (0: untagged) → index into `groups`, or [`NO_GROUP`].
    by_vlan: Box<[u16]>,
    groups: Box<[V4Group]>,
}

impl Default for V4Classifier {
    fn default() -> Self {
        V4Classifier {
            by_vlan: vec![NO_GROUP; VLAN_IDS].into(),
            groups: Box::new([]),
        }
    }
}

impl V4Classifier {
    pub(crate) fn new(tenants: &[V4Tenant]) -> Self {
        let mut by_vlan = vec![NO_GROUP; VLAN_IDS];
        let mut eams: Vec<Vec<(u32, u8, Claim)>> = Vec::new();
        let mut pools: Vec<Vec<Claim>> = Vec::new();
        for t in tenants {
            let vid = usize::from(t.vlan.unwrap_or(0));
            let Some(slot) = by_vlan.get_mut(vid) else {
                continue; // not a VLAN ID: no frame can match (validation refuses it anyway)
            };
            if *slot == NO_GROUP {
                *slot = u16::try_from(eams.len()).expect("at most 4096 groups");
                eams.push(Vec::new());
                pools.push(Vec::new());
            }
            let g = usize::from(*slot);
            let claim = Claim {
                ingress: t.ingress,
                tenant: t.tenant,
            };
            eams[g].extend(t.eam4.iter().map(|&(net, len)| (net, len, claim)));
            if t.has_pool6 {
                pools[g].push(claim);
            }
        }
        let groups = eams
            .into_iter()
            .zip(pools)
            .map(|(mut eam, mut pool6)| {
                // Interface-bound claims first (stable sorts: otherwise in tenant order). The Lpm keeps this
                // order among equal prefixes.
                eam.sort_by_key(|(_, _, c)| c.ingress.is_none());
                pool6.sort_by_key(|c| c.ingress.is_none());
                V4Group {
                    eam: Lpm::new(eam),
                    pool6: pool6.into(),
                }
            })
            .collect();
        V4Classifier {
            by_vlan: by_vlan.into(),
            groups,
        }
    }

    #[inline]
    pub(crate) fn classify(&self, meta: RxMeta, dst: [u8; 4]) -> Option<u16> {
        // VLAN 0 (a priority tag) counts as untagged.
        let vid = usize::from(meta.vlan.unwrap_or(0));
        let g = *self.by_vlan.get(vid)?;
        let group = self.groups.get(usize::from(g))?;
        let dst = u32::from_be_bytes(dst);
        if let Some((c, _)) = group.eam.find(dst, |c| c.takes(meta.ingress)) {
            return Some(c.tenant);
        }
        group
            .pool6
            .iter()
            .find(|c| c.takes(meta.ingress))
            .map(|c| c.tenant)
    }
}
