//! The per-batch state of [`Pipeline::process_batch`](super::Pipeline::process_batch): what a worker need
//! not redo for every frame of an RX batch (VPP's per-frame-vector work).
//!
//! - The random-value counter lives in a register for the batch and is written back once.
//! - Each side remembers its last classification: frames of a batch mostly share their key, and an equal
//!   key gives the same tenant, so a hit is one compare instead of a table lookup. A key is all the
//!   classifier looks at: the IPv6 destination under the mask of the longest prefix in the table (a /96
//!   pool6 alone: the first 96 bits, so all flows into one pool6 share a key); the ingress, the VLAN and
//!   the IPv4 destination under the mask of the longest EAM prefix (none: the destination does not count).
//!   So a hit cannot differ from a lookup.
//! - Packets the fast path forwards for a side's cached tenant are counted in a local, added to [`Stats`]
//!   when that side's cached tenant changes (not merely its key), and at the end of the batch.

use crate::frame::{Frame, RxMeta};
use crate::stats::{Direction, Stats};
use crate::tables::{Snapshot, Tenant};
use crate::xlat::{v4_to_v6, v6_to_v4, Side};

/// Step of the random-value counter: odd, so the counter visits all 2^32 values before repeating (the
/// golden ratio's fraction, as in Fibonacci hashing, so consecutive counters differ in many bits).
pub const RNG_STEP: u32 = 0x9e37_79b9;

/// The random value of counter `c`: an odd multiply, then the high half folded into the low one (both
/// steps are bijections, so distinct counters give distinct values). Three instructions, which a batch
/// loop pays per packet instead of a state update through memory; the values are only as unpredictable as
/// the xorshift they replace (identifications, RFC 6791 picks and NAT64 port search starts need spread, not
/// secrecy: RFC 6056's port randomization is about off-path guessing, which the per-worker seed and the
/// mixing keep as hard as before).
#[inline(always)]
pub fn rng_value(c: u32) -> u32 {
    let x = c.wrapping_mul(0x2c1b_3c6d);
    x ^ (x >> 15)
}

/// One batch's state. `'s`: the snapshot the batch runs under (cached tenants point into it).
pub(super) struct Batch<'s> {
    snapshot: &'s Snapshot,
    /// The random-value counter (the pipeline's, written back after the batch); [`rng_value`] of it is
    /// computed only where a value is used.
    pub(super) rng: u32,
    /// Last IPv6-side classification the fast path could use: destination under `v6_mask` → tenant. Keys and
    /// masks are in memory byte order (`from_ne_bytes` of the big-endian bytes): only compared for equality.
    v6: Option<(u128, &'s Tenant)>,
    /// Last IPv4-side one: (ingress and VLAN, destination under `v4_mask`) → tenant.
    v4: Option<(RxMeta, u32, &'s Tenant)>,
    /// The destination bits the classifiers look at ([`Snapshot::classify_v6_key_mask`],
    /// [`Snapshot::classify_v4_key_mask`]): with a pool6-only tenant, every destination in its pool6 (or,
    /// IPv4 side, every destination of the frame's VLAN) is one key.
    v6_mask: u128,
    v4_mask: u32,
    /// Packets the fast path forwarded for the cached IPv6-side tenant (IPv6 → IPv4) since it was cached,
    /// not yet added to the counters; the same for the IPv4-side one.
    run6: u64,
    run4: u64,
}

impl<'s> Batch<'s> {
    pub(super) fn new(snapshot: &'s Snapshot, rng: u32) -> Self {
        Batch {
            snapshot,
            rng,
            v6: None,
            v4: None,
            // Keys are compared, never interpreted: as the destination bytes loaded in native order (no
            // byte swap per packet), masked by the masks' bytes loaded the same way.
            v6_mask: u128::from_ne_bytes(snapshot.classify_v6_key_mask().to_be_bytes()),
            v4_mask: u32::from_ne_bytes(snapshot.classify_v4_key_mask().to_be_bytes()),
            run6: 0,
            run4: 0,
        }
    }

    /// Advances the random-value counter (one per frame, as [`Pipeline::process`](super::Pipeline) does).
    #[inline(always)]
    pub(super) fn step_rng(&mut self) -> u32 {
        self.rng = self.rng.wrapping_add(RNG_STEP);
        self.rng
    }

    /// Classifies and translates `frame` if the translator's fast path takes it: a stateless tenant (one
    /// without NAT64) and a packet the fast path of its direction accepts. Counts it (received and
    /// translated) and returns the tenant, the direction and the side the packet leaves on. Otherwise says
    /// why not ([`Declined`]) and leaves the frame untouched and uncounted, except for an IPv6 packet the
    /// fast path translated that must now be hairpinned. `counter`: the frame's random-value counter.
    #[inline(always)]
    pub(super) fn fast(
        &mut self,
        stats: &mut Stats,
        frame: &mut Frame<'_>,
        counter: u32,
    ) -> Result<(&'s Tenant, Direction, Side), Declined<'s>> {
        let pkt = frame.packet();
        match pkt.first().map(|b| b >> 4) {
            Some(6) => {
                let Some(&dst) = pkt.get(24..40).and_then(|d| d.first_chunk::<16>()) else {
                    return Err(Declined::Untried);
                };
                let key = u128::from_ne_bytes(dst) & self.v6_mask;
                let t = match self.v6 {
                    Some((k, t)) if k == key => t,
                    _ => self.miss_v6(stats, dst, key).ok_or(Declined::Untried)?,
                };
                let side =
                    v6_to_v4::fast_path(frame, t, rng_value(counter)).ok_or(Declined::Tried)?;
                // RFC 7757 §4: a destination inside the tenant's EAM IPv4 prefixes goes back to the IPv6
                // side (only tenants with EAM entries and hairpinning on need the look).
                if t.may_hairpin() && frame.packet().get(16..20).is_some_and(eam_covered(t)) {
                    return Err(Declined::Hairpin(t));
                }
                self.run6 += 1;
                Ok((t, Direction::V6ToV4, side))
            }
            Some(4) => {
                let Some(&dst) = pkt.get(16..20).and_then(|d| d.first_chunk::<4>()) else {
                    return Err(Declined::Untried);
                };
                let meta = frame.meta;
                let key = u32::from_ne_bytes(dst) & self.v4_mask;
                let t = match self.v4 {
                    Some((m, k, t)) if k == key && m == meta => t,
                    _ => self
                        .miss_v4(stats, meta, dst, key)
                        .ok_or(Declined::Untried)?,
                };
                let side = v4_to_v6::fast_path(frame, t).ok_or(Declined::Tried)?;
                self.run4 += 1;
                Ok((t, Direction::V4ToV6, side))
            }
            _ => Err(Declined::Untried),
        }
    }

    /// IPv6 side, a key other than the cached one: classifies; a tenant the fast path can take becomes the
    /// cached one with this key. Its run goes on when the tenant is the same (another destination of the
    /// same tenant: the common case with many flows); otherwise the old run is counted first.
    #[inline(never)]
    fn miss_v6(&mut self, stats: &mut Stats, dst: [u8; 16], key: u128) -> Option<&'s Tenant> {
        let t = self.snapshot.classify_v6(&dst)?;
        if t.nat64.is_some() {
            return None;
        }
        if !self.v6.is_some_and(|(_, c)| std::ptr::eq(c, t)) {
            self.flush_v6(stats);
        }
        self.v6 = Some((key, t));
        Some(t)
    }

    /// IPv4 side, like [`Batch::miss_v6`].
    #[inline(never)]
    fn miss_v4(
        &mut self,
        stats: &mut Stats,
        meta: RxMeta,
        dst: [u8; 4],
        key: u32,
    ) -> Option<&'s Tenant> {
        let t = self.snapshot.classify_v4(meta, dst)?;
        if t.nat64.is_some() {
            return None;
        }
        if !self.v4.is_some_and(|(_, _, c)| std::ptr::eq(c, t)) {
            self.flush_v4(stats);
        }
        self.v4 = Some((meta, key, t));
        Some(t)
    }

    fn flush_v6(&mut self, stats: &mut Stats) {
        if let Some((_, t)) = self.v6 {
            add_run(stats, t.index, Direction::V6ToV4, self.run6);
        }
        self.run6 = 0;
    }

    fn flush_v4(&mut self, stats: &mut Stats) {
        if let Some((_, _, t)) = self.v4 {
            add_run(stats, t.index, Direction::V4ToV6, self.run4);
        }
        self.run4 = 0;
    }

    /// Adds both runs to `stats` (at the end of the batch).
    pub(super) fn flush(&mut self, stats: &mut Stats) {
        self.flush_v6(stats);
        self.flush_v4(stats);
    }
}

/// Why [`Batch::fast`] did not forward a frame.
pub(super) enum Declined<'s> {
    /// Not tried: no stateless tenant claims the frame, or it is too short to classify. The frame is as
    /// received.
    Untried,
    /// The fast path declined the packet; the frame is as received.
    Tried,
    /// The fast path translated the IPv6 packet of this tenant to IPv4, and its destination is one of the
    /// tenant's EAM addresses: it is to be hairpinned (second pass), not forwarded.
    Hairpin(&'s Tenant),
}

/// Whether an IPv4 destination (4 bytes) lies in one of `t`'s EAM prefixes.
fn eam_covered(t: &Tenant) -> impl Fn(&[u8]) -> bool + '_ {
    |d| d.first_chunk::<4>().is_some_and(|d| t.eam_covers_v4(*d))
}

/// `n` packets received and translated for `tenant` in direction `d`.
fn add_run(stats: &mut Stats, tenant: u16, d: Direction, n: u64) {
    let st = stats.counters_mut(Some(tenant), d);
    st.received += n;
    st.translated += n;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FRAME_SIZE;
    use etherparse::PacketBuilder;
    use mgmt_api::config::Config;

    fn snapshot() -> Snapshot {
        let toml = "[[tenants]]\nname = \"t\"\nid = 1\npool6 = \"2001:db8:64::/96\"\n";
        Snapshot::compile(&Config::from_toml_str(toml).expect("config")).expect("compiles")
    }

    fn udp4(dst: [u8; 4]) -> Vec<u8> {
        let mut p = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 7], dst, 64)
            .udp(53, 5000)
            .write(&mut p, b"batch")
            .expect("builds");
        p
    }

    fn udp6(dst4: [u8; 4]) -> Vec<u8> {
        let src = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 192, 0, 2, 5,
        ];
        let mut dst = src;
        dst[12..].copy_from_slice(&dst4);
        let mut p = Vec::new();
        PacketBuilder::ipv6(src, dst, 64)
            .udp(5000, 53)
            .write(&mut p, b"batch")
            .expect("builds");
        p
    }

    /// Plain UDP of a pool6-only tenant takes the loop's fast path both ways, counted in runs that reach the
    /// counters at the end (the tenant never changes); an ICMP message the fast path does not
    /// take comes back untouched and uncounted.
    #[test]
    fn plain_udp_takes_the_fast_path_and_runs_are_counted() {
        let snap = snapshot();
        let mut stats = Stats::for_tenants(1);
        let mut b = Batch::new(&snap, 7);
        let packets = [
            udp4([192, 0, 2, 5]),
            udp4([192, 0, 2, 5]),
            udp6([198, 51, 100, 7]),
            udp4([192, 0, 2, 6]), // another key, the same tenant: the run goes on
            udp6([198, 51, 100, 7]),
        ];
        for pkt in &packets {
            let mut buf = vec![0u8; FRAME_SIZE];
            let mut f = Frame::copy_from(&mut buf, pkt).expect("fits");
            let counter = b.step_rng();
            assert!(b.fast(&mut stats, &mut f, counter).is_ok(), "{pkt:02x?}");
        }
        assert_eq!(stats.counters(Some(0), Direction::V4ToV6).translated, 0);
        assert_eq!(stats.counters(Some(0), Direction::V6ToV4).translated, 0);
        let mut ping = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 7], [192, 0, 2, 5], 64)
            .icmpv4_raw(13, 0, [0; 4]) // timestamp: not the fast path's
            .write(&mut ping, &[0; 12])
            .expect("builds");
        let mut buf = vec![0u8; FRAME_SIZE];
        let mut f = Frame::copy_from(&mut buf, &ping).expect("fits");
        assert!(matches!(
            b.fast(&mut stats, &mut f, 1),
            Err(Declined::Tried)
        ));
        assert_eq!(f.packet(), &ping[..]);
        b.flush(&mut stats);
        assert_eq!(stats.counters(Some(0), Direction::V4ToV6).translated, 3);
        assert_eq!(stats.counters(Some(0), Direction::V6ToV4).translated, 2);
        assert_eq!(stats.counters(Some(0), Direction::V6ToV4).received, 2);
        assert_eq!(b.rng, 7u32.wrapping_add(5u32.wrapping_mul(RNG_STEP)));
    }

    #[test]
    fn rng_values_of_distinct_counters_are_distinct() {
        // A bijection on u32: checked on a window of consecutive counters (the way they are drawn) and
        // against the inverse of each step.
        let mut seen = std::collections::HashSet::new();
        let mut c = 0x2545_f491u32;
        for _ in 0..100_000 {
            c = c.wrapping_add(RNG_STEP);
            assert!(seen.insert(rng_value(c)));
        }
        // Low 16 bits (IPv4 identification) and high bits (NAT64 choices) both spread.
        let lows: std::collections::HashSet<u16> = seen.iter().map(|&v| v as u16).collect();
        assert!(
            lows.len() > 45_000,
            "{} distinct identifications",
            lows.len()
        );
        let tops = seen.iter().filter(|&&v| v >> 31 == 1).count();
        assert!(
            (45_000..55_000).contains(&tops),
            "{tops} with the top bit set"
        );
    }
}
