//! Batch lookahead: before a batch is translated, the BIB and session entries its packets will look up are
//! brought into the cache, so that the cache misses of 64 packets overlap instead of following each other.
//!
//! With a million sessions a lookup costs three dependent misses (binding bucket, binding, session — the head
//! of the binding's session list), or four for a binding with many sessions (binding bucket, binding, session
//! bucket, session): each address comes out of the previous load. [`Lookahead`] walks the batch up to four
//! times, one level per pass, and prefetches the next level of every packet before any packet waits for it. It changes no state
//! and decides nothing: a packet it misreads (an extension header, a fragment, an unknown tenant) is simply not
//! prefetched, and the packet path then does the real work as always.

use super::bib::BibTable;
use super::session::SessionTable;
use super::{Proto, NIL};
use crate::tables::Tenant;
use crate::wire::bytes::read_u16;
use crate::wire::ip_proto;
use crate::xlat::v4_to_v6::{self, unicast_u32};

/// Below this many sessions on the worker the lookahead is skipped: the tables (86 bytes per session)
/// then stay in the core's L2 cache, where the prefetches have nothing to hide and the extra parsing and
/// hashing only cost (measured: 4 Ki sessions 12–25 % slower with it, 1 Mi sessions 2.4–2.8× faster).
pub const MIN_SESSIONS: usize = 1 << 15;

/// Hints the CPU to load the cache line holding `p` (no effect where there is no prefetch instruction).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The lookup keys of one packet, and how far its lookahead got.
#[derive(Debug, Clone, Copy)]
pub struct Peek {
    stage: Stage,
    from_v6: bool,
    tenant: u16,
    proto: Proto,
    addr6: [u8; 16],
    /// The IPv6 source port (from IPv6), or the pool4 port (from IPv4).
    port: u16,
    addr4: [u8; 4],
    remote4: [u8; 4],
    rport: u16,
    /// Binding bucket, then binding index, then session bucket.
    at: u32,
    /// The binding bucket (pass 3 searches it without hashing the key again).
    bucket: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Skip,
    Bucket,
    Binding,
    SessionBucket,
}

impl Peek {
    pub const NONE: Peek = Peek {
        stage: Stage::Skip,
        from_v6: false,
        tenant: 0,
        proto: Proto::Udp,
        addr6: [0; 16],
        port: 0,
        addr4: [0; 4],
        remote4: [0; 4],
        rport: 0,
        at: 0,
        bucket: 0,
    };

    /// An IPv6 packet of NAT64 tenant `t`: TCP, UDP or ICMPv6 echo right behind the fixed header (anything
    /// else is not looked ahead).
    #[inline]
    pub fn v6(t: &Tenant, pkt: &[u8]) -> Peek {
        let Some(h) = pkt.get(..48) else {
            return Peek::NONE;
        };
        let (proto, port, rport) = match h[6] {
            ip_proto::TCP => (Proto::Tcp, read_u16(&h[40..]), read_u16(&h[42..])),
            ip_proto::UDP => (Proto::Udp, read_u16(&h[40..]), read_u16(&h[42..])),
            ip_proto::ICMPV6 if matches!(h[40], 128 | 129) => (Proto::Icmp, read_u16(&h[44..]), 0),
            _ => return Peek::NONE,
        };
        let addr6: [u8; 16] = h[8..24].try_into().expect("16 bytes");
        let dst = u128::from_be_bytes(h[24..40].try_into().expect("16 bytes"));
        // The fast paths' mapping (with a /96 pool6, a compare and a shift).
        let Some(remote4) = t.map_v6_to_v4_fast(dst).filter(|&a| unicast_u32(a)) else {
            return Peek::NONE;
        };
        let remote4 = remote4.to_be_bytes();
        Peek {
            stage: Stage::Bucket,
            from_v6: true,
            tenant: t.index,
            proto,
            addr6,
            port,
            addr4: [0; 4],
            remote4,
            rport,
            at: 0,
            bucket: 0,
        }
    }

    /// An IPv4 packet of NAT64 tenant `t`: an unfragmented (or first fragment) TCP, UDP or ICMP echo packet.
    #[inline]
    pub fn v4(t: &Tenant, pkt: &[u8]) -> Peek {
        let Some(&vihl) = pkt.first() else {
            return Peek::NONE;
        };
        let ihl = usize::from(vihl & 0xf) * 4;
        let Some(h) = pkt.get(..ihl + 8).filter(|_| ihl >= 20) else {
            return Peek::NONE;
        };
        if read_u16(&h[6..]) & 0x1fff != 0 {
            return Peek::NONE;
        }
        let (proto, port, rport) = match h[9] {
            ip_proto::TCP => (Proto::Tcp, read_u16(&h[ihl + 2..]), read_u16(&h[ihl..])),
            ip_proto::UDP => (Proto::Udp, read_u16(&h[ihl + 2..]), read_u16(&h[ihl..])),
            ip_proto::ICMP if matches!(h[ihl], 0 | 8) => (Proto::Icmp, read_u16(&h[ihl + 4..]), 0),
            _ => return Peek::NONE,
        };
        if !v4_to_v6::is_unicast_v4(h[12..16].try_into().expect("4 bytes")) {
            return Peek::NONE;
        }
        Peek {
            stage: Stage::Bucket,
            from_v6: false,
            tenant: t.index,
            proto,
            addr6: [0; 16],
            port,
            addr4: h[16..20].try_into().expect("4 bytes"),
            remote4: h[12..16].try_into().expect("4 bytes"),
            rport,
            at: 0,
            bucket: 0,
        }
    }
}

/// The passes over a batch's [`Peek`]s, one level of the lookup each.
pub struct Lookahead;

impl Lookahead {
    /// Pass 1: hash, prefetch the binding bucket.
    #[inline]
    pub fn buckets(bib: &BibTable, peeks: &mut [Peek]) {
        for p in peeks.iter_mut().filter(|p| p.stage == Stage::Bucket) {
            p.at = if p.from_v6 {
                bib.prefetch_bucket6(p.tenant, p.proto, &p.addr6, p.port)
            } else {
                bib.prefetch_bucket4(p.tenant, p.proto, p.addr4, p.port)
            };
            p.bucket = p.at;
            p.stage = Stage::Binding;
        }
    }

    /// Pass 2: read the bucket, prefetch the first binding of its chain.
    #[inline]
    pub fn bindings(bib: &BibTable, peeks: &mut [Peek]) {
        for p in peeks.iter_mut().filter(|p| p.stage == Stage::Binding) {
            let i = bib.prefetch_head(p.from_v6, p.at);
            if i == NIL {
                p.stage = Stage::Skip;
            } else {
                p.at = i;
            }
        }
    }

    /// Pass 3: find the binding (now cached); prefetch the head of its session list if it has few sessions,
    /// else hash the session key and prefetch the session bucket.
    #[inline]
    pub fn session_buckets(bib: &BibTable, sessions: &SessionTable, peeks: &mut [Peek]) {
        for p in peeks.iter_mut().filter(|p| p.stage == Stage::Binding) {
            let b = if p.from_v6 {
                bib.find6_at(p.bucket, p.tenant, p.proto, &p.addr6, p.port)
            } else {
                bib.find4_at(p.bucket, p.tenant, p.proto, p.addr4, p.port)
            };
            match b.map(|b| (b, bib.get(b))) {
                // Searched through the binding's list (`Nat64State::find_session`): its head is the session
                // (in the common case of one per binding), fetched now; nothing left for pass 4.
                Some((_, e)) if !e.is_hashed() => {
                    sessions.prefetch_session(e.sessions);
                    p.stage = Stage::Skip;
                }
                Some((b, _)) => {
                    p.at = sessions.prefetch_bucket(b, p.remote4, p.rport);
                    p.stage = Stage::SessionBucket;
                }
                None => p.stage = Stage::Skip,
            }
        }
    }

    /// Pass 4: read the session bucket, prefetch the first session of its chain.
    #[inline]
    pub fn sessions(sessions: &SessionTable, peeks: &[Peek]) {
        for p in peeks.iter().filter(|p| p.stage == Stage::SessionBucket) {
            sessions.prefetch_head(p.at);
        }
    }
}
