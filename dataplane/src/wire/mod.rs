//! Zero-copy views over packet bytes (smoltcp's `src/wire/` style).
//!
//! Every view is a thin wrapper `Xxx<T: AsRef<[u8]>> { buffer: T }`:
//!
//! - `new_unchecked(buffer)` wraps without looking; accessors may then panic on a short or inconsistent buffer.
//! - `new_checked(buffer)` validates the lengths once ([`Error::Truncated`] / [`Error::Malformed`]); after it no
//!   getter panics, whatever the bytes are. Setters that change a length field (IPv4 IHL and total length, TCP
//!   data offset) are the caller's promise: the slicing accessors trust those fields again afterwards.
//! - getters need `T: AsRef<[u8]>`, setters (`set_*`, `*_mut`) need `T: AsMut<[u8]>`.
//! - a private `mod field` names the byte ranges, so the layout reads like the RFC's header diagram.
//!
//! Nothing here allocates: the translator runs these on every packet (a budget of ~150 instructions per packet),
//! and the fuzzers and property tests hold them to "untrusted bytes never panic" (DESIGN.md §4.10).

pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

pub use ethernet::{EtherType, EthernetFrame, L2Info, VlanTag};
pub use icmpv4::{icmpv4_type, Icmpv4Packet};
pub use icmpv6::{icmpv6_type, Icmpv6Packet};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{FragInfo, Ipv6ExtHeaders, Ipv6FragHeader, Ipv6Packet, RoutingInfo};
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

/// A byte range of a header field, e.g. `4..6` for the IPv6 Payload Length.
pub type Field = core::ops::Range<usize>;

/// Why a buffer is not a valid view of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the header (or the length a header field claims) does.
    #[error("packet truncated")]
    Truncated,
    /// A field holds a value the format forbids (wrong version, a length below the header size, ...).
    #[error("packet malformed")]
    Malformed,
}

/// IP protocol numbers / IPv6 Next Header values (IANA "Assigned Internet Protocol Numbers").
pub mod ip_proto {
    /// IPv6 Hop-by-Hop Options (RFC 8200 §4.3).
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv6 Routing Header (RFC 8200 §4.4).
    pub const ROUTING: u8 = 43;
    /// IPv6 Fragment Header (RFC 8200 §4.5).
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    /// No Next Header (RFC 8200 §4.7).
    pub const NONXT: u8 = 59;
    /// IPv6 Destination Options (RFC 8200 §4.6).
    pub const DSTOPTS: u8 = 60;
}

/// Big-endian field access shared by the views. The callers slice with constant [`Field`] ranges, so after
/// inlining the length checks below fold away and only the one bounds check of the slicing remains.
pub(crate) mod bytes {
    #[inline(always)]
    pub fn read_u16(b: &[u8]) -> u16 {
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline(always)]
    pub fn read_u32(b: &[u8]) -> u32 {
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    #[inline(always)]
    pub fn read_array<const N: usize>(b: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[..N]);
        a
    }

    #[inline(always)]
    pub fn write_u16(b: &mut [u8], v: u16) {
        b[..2].copy_from_slice(&v.to_be_bytes());
    }

    #[inline(always)]
    pub fn write_u32(b: &mut [u8], v: u32) {
        b[..4].copy_from_slice(&v.to_be_bytes());
    }
}
