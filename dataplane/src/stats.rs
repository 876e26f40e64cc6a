//! Per-worker counters. One list of drop reasons ([`DropReason`]): every exit of the packet path names one.
//!
//! Counters are plain `u64`s owned by one worker (no atomics on the packet path); exporters sum them on read.

/// Declares [`DropReason`] with its metric label and help text, in one place (VPP's `foreach_*_error` idea).
macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $name:ident = $label:literal, )*) => {
        /// Why the packet path dropped (or did not translate) a packet. The label is the Prometheus
        /// `reason` label of `xlat64_packets_dropped_total`.
        #[repr(u16)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DropReason {
            $( $(#[$doc])* $name, )*
        }

        impl DropReason {
            /// Every reason, in declaration order (index = `reason as usize`).
            pub const ALL: &'static [DropReason] = &[ $( DropReason::$name, )* ];
            /// Number of reasons: the length of a counter array.
            pub const COUNT: usize = Self::ALL.len();

            /// The metric label (snake_case, stable).
            pub const fn as_str(self) -> &'static str {
                match self { $( DropReason::$name => $label, )* }
            }
        }
    };
}

drop_reasons! {
    // --- parsing: malformed or truncated input ---
    /// Shorter than the headers it claims to have.
    Truncated = "truncated",
    /// Not IPv4 or IPv6 (link-layer type or IP version).
    NotIp = "not_ip",
    /// IPv4 header invalid: IHL < 5, total length inconsistent with the buffer.
    Ipv4HeaderInvalid = "ipv4_header_invalid",
    /// IPv4 header checksum wrong.
    Ipv4ChecksumInvalid = "ipv4_checksum_invalid",
    /// IPv6 header invalid: payload length inconsistent with the buffer.
    Ipv6HeaderInvalid = "ipv6_header_invalid",
    /// IPv6 extension header chain truncated or malformed.
    Ipv6ExtHeaderInvalid = "ipv6_ext_header_invalid",
    /// Upper-layer header (TCP/UDP/ICMP) shorter than its minimum in the first fragment.
    L4HeaderTruncated = "l4_header_truncated",

    // --- classification ---
    /// No tenant claims the packet (IPv6 destination prefix, IPv4 ingress/VLAN/destination).
    NoTenant = "no_tenant",

    // --- addresses (RFC 6052, RFC 7757) ---
    /// Source address has no mapping (not in pool6 nor in the EAMT).
    SrcUntranslatable = "src_untranslatable",
    /// Destination address has no mapping.
    DstUntranslatable = "dst_untranslatable",
    /// RFC 6052 §3.1: the well-known prefix must not carry non-global IPv4 addresses.
    WkpNonGlobal = "wkp_non_global",

    // --- header rules (RFC 7915 §4.1, §5.1) ---
    /// TTL or hop limit would reach 0: answered with ICMP Time Exceeded when allowed.
    TtlExpired = "ttl_expired",
    /// RFC 7915 §4.1: unexpired IPv4 source route option (answered with Source Route Failed).
    Ipv4SourceRoute = "ipv4_source_route",
    /// RFC 7915 §5.1: routing header with segments left ≠ 0 (answered with Parameter Problem).
    Ipv6SegmentsLeft = "ipv6_segments_left",
    /// Packet larger than the egress MTU and may not be fragmented (answered with Packet Too Big /
    /// Fragmentation Needed when allowed).
    PacketTooBig = "packet_too_big",
    /// Frame buffer lacks the head- or tailroom the translation needs (a bug in the frame source).
    NoRoom = "no_room",

    // --- ICMP (RFC 7915 §4.2, §4.3, §5.2, §5.3) ---
    /// ICMP type with no translation (e.g. timestamp, router advertisement, MLD, redirect).
    IcmpUntranslatableType = "icmp_untranslatable_type",
    /// ICMP error code with no translation (e.g. Destination Unreachable code 12+ without mapping).
    IcmpUntranslatableCode = "icmp_untranslatable_code",
    /// Parameter Problem whose pointer has no counterpart.
    IcmpUntranslatablePointer = "icmp_untranslatable_pointer",
    /// ICMP checksum of a message the translator rebuilds was wrong on arrival.
    IcmpChecksumInvalid = "icmp_checksum_invalid",
    /// The packet inside an ICMP error is malformed or cannot be translated.
    IcmpInnerInvalid = "icmp_inner_invalid",
    /// An ICMP error inside an ICMP error (RFC 7915: not translated).
    IcmpErrorNested = "icmp_error_nested",
    /// ICMP message that arrived fragmented: the ICMPv6 checksum covers the whole message length and the
    /// pseudo-header, which a stateless translator cannot rebuild from one fragment.
    IcmpFragmented = "icmp_fragmented",
    /// RFC 7915 §4.2, §5.2: single-hop protocols (IGMP) are not translated.
    SingleHop = "single_hop",

    // --- transport checksums and fragments ---
    /// IPv4 UDP with checksum 0 (RFC 7915 §4.5), not amended (option off, or a fragment).
    UdpChecksumZero = "udp_checksum_zero",
    /// Fragment fields impossible (offset beyond 64 KiB, first fragment too short for its header).
    FragmentInvalid = "fragment_invalid",

    // --- stateful NAT64 (RFC 6146) ---
    /// A protocol stateful NAT64 does not translate (not TCP, UDP or ICMP).
    Nat64UnsupportedProtocol = "nat64_unsupported_protocol",
    /// A fragment stateful mode cannot translate (a hairpinned fragment).
    Nat64Fragment = "nat64_fragment",
    /// IPv4 packet to a pool4 transport address without a binding.
    Nat64NoBinding = "nat64_no_binding",
    /// IPv4 packet refused by address-dependent filtering (RFC 6146 §3.5.1.2).
    Nat64Filtered = "nat64_filtered",
    /// TCP segment other than a SYN without a session (RFC 6146 §3.5.2.2).
    Nat64TcpNoSession = "nat64_tcp_no_session",
    /// No free pool4 port for a new binding (answered with ICMPv6 Address Unreachable, RFC 6146 §3.5.1.1).
    Nat64PoolExhausted = "nat64_pool_exhausted",
    /// The worker's binding or session table is full (answered like pool exhaustion from the IPv6 side).
    Nat64TableFull = "nat64_table_full",
    /// The tenant's `max_sessions` reached (answered like pool exhaustion from the IPv6 side).
    Nat64SessionLimit = "nat64_session_limit",
    /// IPv4 SYN held for a simultaneous open (RFC 6146 §3.5.2.2): not forwarded (yet).
    Nat64SynHeld = "nat64_syn_held",
    /// IPv4 SYN that could not be held: the store is full.
    Nat64SynStoreFull = "nat64_syn_store_full",
    /// Held IPv4 SYN no IPv6 SYN claimed in time (answered with ICMP Port Unreachable).
    Nat64SynExpired = "nat64_syn_expired",
    /// ICMP error whose quoted packet has no session.
    Nat64IcmpNoSession = "nat64_icmp_no_session",
    /// IPv4 packet to a port of another appliance's slice (`appliance_slice`).
    Nat64ForeignSlice = "nat64_foreign_slice",
    /// Hand-off ring to the owning worker full.
    HandOffRingFull = "handoff_ring_full",
    /// A non-first fragment whose first fragment this worker has not seen (or has forgotten), and which is
    /// not held: not TCP or UDP (their first fragments are never translated), or `fragments_held_max = 0`.
    Nat64FragmentUnmatched = "nat64_fragment_unmatched",
    /// A non-first TCP or UDP fragment that arrived before its first fragment: held (copied into the
    /// worker's fragment store) until the first fragment arrives or `timeouts.fragment` runs out. Not
    /// forwarded yet; when it leaves the store it is counted again (received, and translated or dropped).
    Nat64FragmentHeld = "nat64_fragment_held",
    /// A non-first fragment that could not be held: the tenant's `fragments_held_max` or
    /// `fragments_held_bytes` on this worker is used up.
    Nat64FragmentStoreFull = "nat64_fragment_store_full",
    /// A held fragment whose first fragment did not arrive within `timeouts.fragment`.
    Nat64FragmentExpired = "nat64_fragment_expired",
    /// A held fragment whose first fragment belongs to another worker (hand-off): the worker that holds it
    /// cannot translate it, and held fragments are not handed over.
    Nat64FragmentOwnerElsewhere = "nat64_fragment_owner_elsewhere",
    /// With RFC 7422 port blocks: an IPv6 source outside `port_blocks.subscribers`.
    Nat64NotSubscriber = "nat64_not_subscriber",
}

/// Which way a packet crossed the translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    V6ToV4 = 0,
    V4ToV6 = 1,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::V6ToV4, Direction::V4ToV6];

    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::V6ToV4 => "v6_to_v4",
            Direction::V4ToV6 => "v4_to_v6",
        }
    }
}

/// Counters of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets received on this direction's ingress side.
    pub received: u64,
    /// Packets translated and forwarded (a packet split into fragments counts once).
    pub translated: u64,
    /// Extra packets created by fragmentation.
    pub fragments_created: u64,
    /// ICMP errors the translator originated back to the sender.
    pub icmp_errors_sent: u64,
    /// Packets passed to the worker that owns their session (counted by the worker that passed them; the
    /// owner counts them as received).
    pub handed_off: u64,
    /// Drops (or refusals answered with an ICMP error), by reason.
    pub dropped: [u64; DropReason::COUNT],
}

impl Default for DirectionStats {
    fn default() -> Self {
        DirectionStats {
            received: 0,
            translated: 0,
            fragments_created: 0,
            icmp_errors_sent: 0,
            handed_off: 0,
            dropped: [0; DropReason::COUNT],
        }
    }
}

impl DirectionStats {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub fn add(&mut self, other: &DirectionStats) {
        self.received += other.received;
        self.translated += other.translated;
        self.fragments_created += other.fragments_created;
        self.icmp_errors_sent += other.icmp_errors_sent;
        self.handed_off += other.handed_off;
        for (a, b) in self.dropped.iter_mut().zip(other.dropped.iter()) {
            *a += b;
        }
    }
}

/// One worker's counters, per tenant and direction. Packets no tenant claimed count in `untenanted`; packets
/// that are neither IPv4 nor IPv6 count under `not_ip` in `unclassified`.
///
/// A packet is counted once, in the row of the tenant that classified it: per-direction totals are summed on
/// read ([`Stats::dir`]), so the packet path increments one row only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `tenants[t][d]`: tenant index `t` of the running snapshot, direction `d`.
    pub tenants: Vec<[DirectionStats; 2]>,
    /// Per direction: packets dropped before or at classification (no tenant known).
    pub untenanted: [DirectionStats; 2],
    /// Packets dropped before a direction was known (not IP at all).
    pub unclassified: DirectionStats,
}

impl Stats {
    /// Counters for a snapshot with `tenants` tenants, all zero.
    pub fn for_tenants(tenants: usize) -> Stats {
        Stats {
            tenants: vec![Default::default(); tenants],
            ..Stats::default()
        }
    }

    /// The row of `tenant` (or of no tenant) in direction `d`. A tenant index beyond the rows (a snapshot
    /// swapped in without [`Stats::remap`]) counts as no tenant rather than panicking.
    #[inline]
    pub fn counters_mut(&mut self, tenant: Option<u16>, d: Direction) -> &mut DirectionStats {
        match tenant.and_then(|t| self.tenants.get_mut(usize::from(t))) {
            Some(row) => &mut row[d as usize],
            None => &mut self.untenanted[d as usize],
        }
    }

    /// The counters of `tenant` (or of no tenant) in direction `d`.
    pub fn counters(&self, tenant: Option<u16>, d: Direction) -> &DirectionStats {
        match tenant.and_then(|t| self.tenants.get(usize::from(t))) {
            Some(row) => &row[d as usize],
            None => &self.untenanted[d as usize],
        }
    }

    /// Direction `d` summed over every tenant and the untenanted row.
    pub fn dir(&self, d: Direction) -> DirectionStats {
        let mut sum = self.untenanted[d as usize].clone();
        for row in &self.tenants {
            sum.add(&row[d as usize]);
        }
        sum
    }

    /// Every row: each tenant's two directions, the untenanted ones, then the unclassified one.
    pub fn rows(&self) -> impl Iterator<Item = &DirectionStats> {
        self.tenants
            .iter()
            .flatten()
            .chain(self.untenanted.iter())
            .chain([&self.unclassified])
    }

    /// Adds `other` row by row (tenant `t` to tenant `t`: both must count under the same snapshot).
    pub fn add(&mut self, other: &Stats) {
        if self.tenants.len() < other.tenants.len() {
            self.tenants.resize(other.tenants.len(), Default::default());
        }
        for (a, b) in self.tenants.iter_mut().zip(&other.tenants) {
            for (x, y) in a.iter_mut().zip(b) {
                x.add(y);
            }
        }
        for (a, b) in self.untenanted.iter_mut().zip(other.untenanted.iter()) {
            a.add(b);
        }
        self.unclassified.add(&other.unclassified);
    }

    /// A new snapshot with `tenants` tenants was swapped in: tenant `t`'s row moves to `new_index(t)`, rows of
    /// tenants that no longer exist are dropped (their series end), new tenants start at zero.
    pub fn remap(&mut self, tenants: usize, new_index: impl Fn(u16) -> Option<u16>) {
        let mut rows = vec![<[DirectionStats; 2]>::default(); tenants];
        for (t, row) in self.tenants.drain(..).enumerate() {
            if let Some(n) = u16::try_from(t).ok().and_then(&new_index) {
                if let Some(slot) = rows.get_mut(usize::from(n)) {
                    *slot = row;
                }
            }
        }
        self.tenants = rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_snake_case_and_indexed_in_order() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(seen.insert(r.as_str()), "duplicate label {}", r.as_str());
            assert!(r
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()));
        }
        assert_eq!(DropReason::COUNT, seen.len());
    }

    #[test]
    fn tenant_rows_sum_into_directions_and_follow_a_remap() {
        let mut s = Stats::for_tenants(2);
        s.counters_mut(Some(0), Direction::V6ToV4).translated = 3;
        s.counters_mut(Some(1), Direction::V6ToV4).translated = 4;
        s.counters_mut(None, Direction::V6ToV4).translated = 5;
        // Out of range: counted as untenanted, no panic.
        s.counters_mut(Some(9), Direction::V6ToV4).translated += 1;
        assert_eq!(s.dir(Direction::V6ToV4).translated, 13);
        assert_eq!(s.dir(Direction::V4ToV6).translated, 0);
        assert_eq!(s.rows().count(), 2 * 2 + 2 + 1);
        // Tenant 0 removed, tenant 1 becomes 0, a new tenant 1 appears.
        s.remap(2, |t| (t == 1).then_some(0));
        assert_eq!(s.counters(Some(0), Direction::V6ToV4).translated, 4);
        assert_eq!(s.counters(Some(1), Direction::V6ToV4).translated, 0);
        assert_eq!(s.counters(None, Direction::V6ToV4).translated, 6);
    }
}
