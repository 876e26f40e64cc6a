//! Tenant classification: which tenant a packet belongs to, on each side.
//!
//! - IPv6 side: the destination address. Every tenant's pool6 and EAM IPv6 prefixes go into one
//!   longest-prefix-match table (validation keeps tenants' prefixes from overlapping).
//! - IPv4 side: the frame's VLAN picks a group of tenants in O(1) (a 4096-entry array indexed by VLAN ID, 0 for
//!   untagged); within it, the longest EAM IPv4 prefix containing the destination whose tenant takes the
//!   ingress interface, else the first tenant with a pool6 that takes it. A tenant bound to an interface is
//!   tried before one that takes any interface, so a catch-all tenant can sit beside interface-specific ones.

use super::lpm::{Lpm, PrefixKey};
use crate::frame::RxMeta;

/// Number of VLAN IDs (12 bits).
const VLAN_IDS: usize = 4096;

/// No tenant group for this VLAN.
const NO_GROUP: u16 = u16::MAX;

/// IPv6 side: destination prefix → tenant index.
#[derive(Debug, Clone, Default)]
pub(crate) struct V6Classifier {
    lpm: Lpm<u128, u16>,
    /// The table's only prefix `(network, mask, tenant)`, when it has exactly one (a single tenant with a
    /// pool6 and no EAMT): one masked compare instead of a table walk.
    single: Option<(u128, u128, u16)>,
    /// Mask of the table's longest prefix: two destinations equal under it classify alike (see
    /// [`V6Classifier::key_mask`]).
    key_mask: u128,
}

impl V6Classifier {
    /// From `(network, length, tenant index)`.
    pub(crate) fn new(prefixes: impl IntoIterator<Item = (u128, u8, u16)>) -> Self {
        let lpm = Lpm::new(prefixes);
        let single = match lpm.iter().collect::<Vec<_>>()[..] {
            [(net, len, &t)] => Some((net, u128::mask(len), t)),
            _ => None,
        };
        let key_mask = u128::mask(lpm.iter().map(|(_, len, _)| len).max().unwrap_or(0));
        V6Classifier {
            lpm,
            single,
            key_mask,
        }
    }

    /// The bits of a destination the answer depends on: every prefix in the table is at most this long, so
    /// it contains either both of two destinations equal under this mask or neither.
    #[inline]
    pub(crate) fn key_mask(&self) -> u128 {
        self.key_mask
    }

    #[inline(always)]
    pub(crate) fn classify(&self, dst: &[u8; 16]) -> Option<u16> {
        let dst = u128::from_be_bytes(*dst);
        if let Some((net, mask, t)) = self.single {
            return (dst & mask == net).then_some(t);
        }
        self.lpm.lookup(dst).map(|(t, _)| *t)
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
    /// The answer for every frame of the group, when it does not depend on the destination or the ingress:
    /// no EAM prefixes, and the first pool6 claim takes any interface (then, interface-bound claims sorting
    /// first, no claim is bound). The common single-tenant case, without a table walk.
    any: Option<u16>,
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
    /// The untagged group's `any`: the whole classification of an untagged frame in the single-tenant case,
    /// without the two table indirections.
    untagged_any: Option<u16>,
    /// Mask of the longest EAM IPv4 prefix of any group (0 without EAM entries): see
    /// [`V4Classifier::key_mask`].
    key_mask: u32,
}

impl Default for V4Classifier {
    fn default() -> Self {
        V4Classifier {
            by_vlan: vec![NO_GROUP; VLAN_IDS].into(),
            groups: Box::new([]),
            untagged_any: None,
            key_mask: 0,
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
                let any = match pool6.first() {
                    Some(c) if eam.is_empty() && c.ingress.is_none() => Some(c.tenant),
                    _ => None,
                };
                V4Group {
                    eam: Lpm::new(eam),
                    pool6: pool6.into(),
                    any,
                }
            })
            .collect();
        let groups: Box<[V4Group]> = groups;
        let untagged_any = groups
            .get(usize::from(by_vlan[0]))
            .and_then(|g: &V4Group| g.any);
        let longest = groups
            .iter()
            .flat_map(|g| g.eam.iter().map(|(_, len, _)| len))
            .max()
            .unwrap_or(0);
        V4Classifier {
            by_vlan: by_vlan.into(),
            groups,
            untagged_any,
            key_mask: u32::mask(longest),
        }
    }

    /// The bits of a destination the answer depends on, for frames of the same ingress and VLAN: the
    /// destination only matters through EAM prefixes, none longer than this mask (the pool6 fallback does
    /// not look at it).
    #[inline]
    pub(crate) fn key_mask(&self) -> u32 {
        self.key_mask
    }

    #[inline(always)]
    pub(crate) fn classify(&self, meta: RxMeta, dst: [u8; 4]) -> Option<u16> {
        // VLAN 0 (a priority tag) counts as untagged.
        let vid = usize::from(meta.vlan.unwrap_or(0));
        if vid == 0 && self.untagged_any.is_some() {
            return self.untagged_any;
        }
        let g = *self.by_vlan.get(vid)?;
        let group = self.groups.get(usize::from(g))?;
        if group.any.is_some() {
            return group.any;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The classifiers without their shortcuts (`single`, `any`): the reference.
    fn slow_v6(c: &V6Classifier, dst: &[u8; 16]) -> Option<u16> {
        c.lpm.lookup(u128::from_be_bytes(*dst)).map(|(t, _)| *t)
    }

    fn slow_v4(c: &V4Classifier, meta: RxMeta, dst: [u8; 4]) -> Option<u16> {
        let g = *c.by_vlan.get(usize::from(meta.vlan.unwrap_or(0)))?;
        let group = c.groups.get(usize::from(g))?;
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

    fn tenant(
        tenant: u16,
        vlan: Option<u16>,
        ingress: Option<u16>,
        eam4: Vec<(u32, u8)>,
    ) -> V4Tenant {
        V4Tenant {
            tenant,
            vlan,
            ingress,
            has_pool6: true,
            eam4,
        }
    }

    #[test]
    fn shortcuts_apply_only_where_the_answer_is_fixed() {
        let one = V6Classifier::new([(0x2001_0db8_0064u128 << 80, 96, 7)]);
        assert!(one.single.is_some());
        let two = V6Classifier::new([(1u128 << 127, 1, 0), (0, 1, 1)]);
        assert!(two.single.is_none());
        let c = V4Classifier::new(&[
            tenant(0, None, None, vec![]),
            tenant(1, Some(5), Some(2), vec![]),
            tenant(2, Some(5), None, vec![]),
            tenant(3, Some(6), None, vec![(0x0a00_0000, 8)]),
        ]);
        let any: Vec<Option<u16>> = c.groups.iter().map(|g| g.any).collect();
        // Untagged: one catch-all tenant. VLAN 5: an interface-bound tenant first. VLAN 6: an EAMT.
        assert_eq!(any, vec![Some(0), None, None]);
    }

    proptest! {
        #[test]
        fn shortcuts_agree_with_the_tables(
            dst6 in prop_oneof![Just(0x2001_0db8_0064u128 << 80), any::<u128>()],
            low in any::<u32>(),
            dst4 in prop_oneof![Just(0x0a00_0001u32), any::<u32>()],
            vlan in prop_oneof![Just(None), Just(Some(5)), Just(Some(6)), Just(Some(0)), any::<Option<u16>>()],
            ingress in 0u16..4,
        ) {
            let dst6 = (dst6 | u128::from(low)).to_be_bytes();
            for c in [
                V6Classifier::new([(0x2001_0db8_0064u128 << 80, 96, 7)]),
                V6Classifier::new([(0x2001_0db8_0064u128 << 80, 96, 7), (0x2001_0db8_0064u128 << 80, 120, 3)]),
                V6Classifier::new([]),
            ] {
                prop_assert_eq!(c.classify(&dst6), slow_v6(&c, &dst6));
            }
            let meta = RxMeta { ingress, vlan };
            for c in [
                V4Classifier::new(&[tenant(0, None, None, vec![])]),
                V4Classifier::new(&[
                    tenant(0, None, None, vec![]),
                    tenant(1, Some(5), Some(2), vec![]),
                    tenant(2, Some(5), None, vec![]),
                    tenant(3, Some(6), None, vec![(0x0a00_0000, 8)]),
                ]),
                V4Classifier::default(),
            ] {
                prop_assert_eq!(c.classify(meta, dst4.to_be_bytes()), slow_v4(&c, meta, dst4.to_be_bytes()));
            }
        }

        /// `key_mask`: two destinations that differ only outside it classify alike, and it is the mask of
        /// the longest prefix (no shorter: that would merge destinations a prefix tells apart). Random
        /// prefixes of random lengths around the first destination; the second is the first with every bit
        /// outside the mask changed at random.
        #[test]
        fn key_masks_cover_what_classification_looks_at(
            p6 in proptest::collection::vec((any::<u128>(), 0u8..=128), 0..6),
            p4 in proptest::collection::vec((any::<u32>(), 0u8..=32, 0u16..3, any::<bool>()), 0..6),
            dst6 in any::<u128>(),
            dst4 in any::<u32>(),
            noise6 in any::<u128>(),
            noise4 in any::<u32>(),
            vlan in prop_oneof![Just(None), Just(Some(5)), Just(Some(6))],
        ) {
            // Every IPv6 prefix contains `dst6` up to a random length: hits are likely.
            let p6: Vec<(u128, u8, u16)> = p6
                .iter()
                .enumerate()
                .map(|(i, &(r, len))| ((dst6 & u128::mask(len)) | (r & !u128::mask(len)), len, i as u16))
                .map(|(net, len, t)| (net & u128::mask(len), len, t))
                .collect();
            let c6 = V6Classifier::new(p6.iter().copied());
            let longest6 = c6.lpm.iter().map(|(_, l, _)| l).max().unwrap_or(0);
            prop_assert_eq!(c6.key_mask(), u128::mask(longest6));
            let other6 = (dst6 & c6.key_mask()) | (noise6 & !c6.key_mask());
            prop_assert_eq!(c6.classify(&dst6.to_be_bytes()), c6.classify(&other6.to_be_bytes()));
            let tenants: Vec<V4Tenant> = p4
                .iter()
                .enumerate()
                .map(|(i, &(r, len, v, bound))| {
                    let net = ((dst4 & u32::mask(len)) | (r & !u32::mask(len))) & u32::mask(len);
                    let vlan = [None, Some(5), Some(6)][usize::from(v)];
                    tenant(i as u16, vlan, bound.then_some(1), vec![(net, len)])
                })
                .collect();
            let c4 = V4Classifier::new(&tenants);
            let longest4 = tenants.iter().flat_map(|t| t.eam4.iter().map(|e| e.1)).max().unwrap_or(0);
            prop_assert_eq!(c4.key_mask(), u32::mask(longest4));
            let other4 = (dst4 & c4.key_mask()) | (noise4 & !c4.key_mask());
            for ingress in 0..2 {
                let meta = RxMeta { ingress, vlan };
                prop_assert_eq!(
                    c4.classify(meta, dst4.to_be_bytes()),
                    c4.classify(meta, other4.to_be_bytes())
                );
            }
        }
    }
}
