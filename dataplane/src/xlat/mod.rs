//! Stateless IP/ICMP translation (SIIT): RFC 7915 header rules, RFC 6052 and RFC 7757 (EAMT) address mapping,
//! RFC 6791 sources for ICMP errors.
//!
//! Everything here is a pure function of a [`Frame`](crate::frame::Frame) and the tenant's tables: it rewrites
//! the frame in place and returns a [`Verdict`]. No I/O, no allocation, no panics on any input.

pub mod eamt;
pub mod fragment;
pub mod icmp_error;
pub mod icmp_map;
pub mod l4;
pub mod mtu;
pub mod originate;
pub mod rfc6052;
pub mod rfc6791;
pub mod v4_to_v6;
pub mod v6_to_v4;

use crate::stats::DropReason;

/// Which side of the translator a packet leaves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    V4,
    V6,
}

/// What to do with a frame after translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The frame holds the translated packet; send it out on `Side`.
    Forward(Side),
    /// The frame holds the translated packet, which is larger than `mtu` and must be split into fragments of
    /// at most `mtu` bytes by [`fragment`]: IPv6 (it already carries a Fragment Header) from IPv4 DF=0
    /// packets, or IPv4 (DF clear) from IPv6 packets the translator may not refuse with Packet Too Big.
    Fragment { mtu: u16 },
    /// The frame was rewritten into an ICMP error for the original sender (the translator originated it);
    /// send it back out on `Side` (the side the packet came from). `reason` says why the original packet did
    /// not pass.
    IcmpError(Side, DropReason),
    /// Not translated, for this reason.
    Drop(DropReason),
    /// Stateful NAT64: another worker owns the packet's session (RFC 6146 state is per worker); pass the
    /// frame to that worker unchanged (or, for a hairpinned packet, as the IPv4 packet it became).
    HandOff(u16),
}

#[cfg(test)]
mod tests;
