//! ICMP type, code and pointer mappings (RFC 7915 §4.2 and §5.2). Pure tables: the header rewriting lives in
//! `v4_to_v6` / `v6_to_v4`, the inner-packet work in `icmp_error`.

use crate::stats::DropReason;
use crate::wire::{icmpv4_type as t4, icmpv6_type as t6};

/// What an ICMP header becomes on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpMapping {
    /// Echo request/reply: identifier and sequence are kept.
    Echo { msg_type: u8 },
    /// An error message: the inner packet is translated too.
    Error { msg_type: u8, code: u8, rest: Rest },
}

/// How the second word of an error's ICMP header is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// Unused: zero (RFC 4884 length attribute, if any, is handled by the error translation).
    Unused,
    /// Parameter Problem pointer, already mapped.
    Pointer(u8),
    /// Packet Too Big / Fragmentation Needed: the MTU needs computing (see [`super::mtu`]).
    Mtu,
}

/// True for ICMPv4 error message types (RFC 792), which never get an error in response.
pub fn is_icmpv4_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        t4::DEST_UNREACH | t4::SOURCE_QUENCH | t4::REDIRECT | t4::TIME_EXCEEDED | t4::PARAM_PROBLEM
    )
}

/// True for ICMPv6 error message types (RFC 4443 §2.1: types 0..=127).
pub fn is_icmpv6_error(msg_type: u8) -> bool {
    msg_type < 128
}

/// What the fast path does with an ICMP message (either family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpTriage {
    /// An error message: the slow path translates it with its inner packet.
    Error,
    /// Echo request or reply, translated on the fast path into this type.
    Echo(u8),
}

/// RFC 7915 §4.2 / §5.2 triage of the ICMP message at the start of `icmp`, shared by both directions (`is_error`
/// and `map` are the family's own): errors go to the slow path, echo stays on the fast one, everything else is
/// dropped by reason. Fragmented ICMP is refused: the ICMPv6 checksum covers the whole message and its length,
/// which a stateless translator cannot know from one fragment.
#[inline]
pub fn triage(
    icmp: &[u8],
    first: bool,
    fragmented: bool,
    is_error: fn(u8) -> bool,
    map: fn(u8, u8) -> Result<IcmpMapping, DropReason>,
) -> Result<IcmpTriage, DropReason> {
    if !first {
        return Err(DropReason::IcmpFragmented);
    }
    if icmp.len() < 8 {
        return Err(DropReason::L4HeaderTruncated);
    }
    if is_error(icmp[0]) {
        return Ok(IcmpTriage::Error);
    }
    if fragmented {
        return Err(DropReason::IcmpFragmented);
    }
    match map(icmp[0], icmp[1])? {
        IcmpMapping::Echo { msg_type } => Ok(IcmpTriage::Echo(msg_type)),
        IcmpMapping::Error { .. } => Err(DropReason::IcmpUntranslatableType),
    }
}

/// RFC 7915 §4.2: the ICMPv6 counterpart of an ICMPv4 message.
pub fn v4_to_v6(msg_type: u8, code: u8, pointer: u8) -> Result<IcmpMapping, DropReason> {
    use DropReason::*;
    match msg_type {
        t4::ECHO_REQUEST => Ok(IcmpMapping::Echo {
            msg_type: t6::ECHO_REQUEST,
        }),
        t4::ECHO_REPLY => Ok(IcmpMapping::Echo {
            msg_type: t6::ECHO_REPLY,
        }),
        t4::DEST_UNREACH => {
            let err = |msg_type, code, rest| {
                Ok(IcmpMapping::Error {
                    msg_type,
                    code,
                    rest,
                })
            };
            match code {
                // Net/host unreachable, source route failed, unknown net/host, isolated, TOS variants:
                // "No route to destination".
                0 | 1 | 5 | 6 | 7 | 8 | 11 | 12 => err(t6::DEST_UNREACH, 0, Rest::Unused),
                // Protocol unreachable: Parameter Problem "unrecognized Next Header", pointing at Next Header.
                2 => err(t6::PARAM_PROBLEM, 1, Rest::Pointer(6)),
                3 => err(t6::DEST_UNREACH, 4, Rest::Unused),
                4 => err(t6::PACKET_TOO_BIG, 0, Rest::Mtu),
                // Administratively prohibited (net, host, communication) and precedence cutoff.
                9 | 10 | 13 | 15 => err(t6::DEST_UNREACH, 1, Rest::Unused),
                // 14, host precedence violation, and unknown codes have no counterpart.
                _ => Err(IcmpUntranslatableCode),
            }
        }
        t4::TIME_EXCEEDED => Ok(IcmpMapping::Error {
            msg_type: t6::TIME_EXCEEDED,
            code,
            rest: Rest::Unused,
        }),
        t4::PARAM_PROBLEM => match code {
            // Pointer indicates the error, and "bad length".
            0 | 2 => Ok(IcmpMapping::Error {
                msg_type: t6::PARAM_PROBLEM,
                code: 0,
                rest: Rest::Pointer(pointer_v4_to_v6(pointer).ok_or(IcmpUntranslatablePointer)?),
            }),
            // Missing a required option: no counterpart.
            _ => Err(IcmpUntranslatableCode),
        },
        // Timestamp, information, address mask (obsolete), router advertisement/solicitation (single-hop),
        // source quench (deprecated), redirect (single-hop), alternate host address, and unknown types.
        _ => Err(IcmpUntranslatableType),
    }
}

/// RFC 7915 §5.2: the ICMPv4 counterpart of an ICMPv6 message.
pub fn v6_to_v4(msg_type: u8, code: u8, pointer: u32) -> Result<IcmpMapping, DropReason> {
    use DropReason::*;
    let err = |msg_type, code, rest| {
        Ok(IcmpMapping::Error {
            msg_type,
            code,
            rest,
        })
    };
    match msg_type {
        t6::ECHO_REQUEST => Ok(IcmpMapping::Echo {
            msg_type: t4::ECHO_REQUEST,
        }),
        t6::ECHO_REPLY => Ok(IcmpMapping::Echo {
            msg_type: t4::ECHO_REPLY,
        }),
        t6::DEST_UNREACH => match code {
            // No route, beyond scope of source address, address unreachable: Host Unreachable.
            0 | 2 | 3 => err(t4::DEST_UNREACH, 1, Rest::Unused),
            // Administratively prohibited: Host Administratively Prohibited.
            1 => err(t4::DEST_UNREACH, 10, Rest::Unused),
            4 => err(t4::DEST_UNREACH, 3, Rest::Unused),
            _ => Err(IcmpUntranslatableCode),
        },
        t6::PACKET_TOO_BIG => err(t4::DEST_UNREACH, 4, Rest::Mtu),
        t6::TIME_EXCEEDED => err(t4::TIME_EXCEEDED, code, Rest::Unused),
        t6::PARAM_PROBLEM => match code {
            0 => err(
                t4::PARAM_PROBLEM,
                0,
                Rest::Pointer(pointer_v6_to_v4(pointer).ok_or(IcmpUntranslatablePointer)?),
            ),
            // Unrecognized Next Header: Protocol Unreachable.
            1 => err(t4::DEST_UNREACH, 2, Rest::Unused),
            // Unrecognized IPv6 option and unknown codes.
            _ => Err(IcmpUntranslatableCode),
        },
        // MLD, neighbour discovery (single-hop) and unknown informational or error types.
        _ => Err(IcmpUntranslatableType),
    }
}

/// RFC 7915 §4.2, Figure 3: IPv4 header byte offset → IPv6 header byte offset.
pub fn pointer_v4_to_v6(pointer: u8) -> Option<u8> {
    match pointer {
        0 => Some(0),        // version/IHL → version/traffic class
        1 => Some(1),        // type of service → traffic class
        2 | 3 => Some(4),    // total length → payload length
        8 => Some(7),        // TTL → hop limit
        9 => Some(6),        // protocol → next header
        12..=15 => Some(8),  // source address
        16..=19 => Some(24), // destination address
        _ => None,           // identification, flags/offset, checksum, options
    }
}

/// RFC 7915 §5.2, Figure 6: IPv6 header byte offset → IPv4 header byte offset.
pub fn pointer_v6_to_v4(pointer: u32) -> Option<u8> {
    match pointer {
        0 => Some(0),        // version/traffic class → version/IHL
        1 => Some(1),        // traffic class/flow label → type of service
        4 | 5 => Some(2),    // payload length → total length
        6 => Some(9),        // next header → protocol
        7 => Some(8),        // hop limit → TTL
        8..=23 => Some(12),  // source address
        24..=39 => Some(16), // destination address
        _ => None,           // flow label, and anything beyond the fixed header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err6(msg_type: u8, code: u8) -> Result<IcmpMapping, DropReason> {
        v4_to_v6(msg_type, code, 0)
    }

    #[test]
    fn rfc7915_4_2_dest_unreachable_codes() {
        let no_route = Ok(IcmpMapping::Error {
            msg_type: 1,
            code: 0,
            rest: Rest::Unused,
        });
        for code in [0, 1, 5, 6, 7, 8, 11, 12] {
            assert_eq!(err6(3, code), no_route, "code {code}");
        }
        assert_eq!(
            err6(3, 2),
            Ok(IcmpMapping::Error {
                msg_type: 4,
                code: 1,
                rest: Rest::Pointer(6)
            })
        );
        assert_eq!(
            err6(3, 3),
            Ok(IcmpMapping::Error {
                msg_type: 1,
                code: 4,
                rest: Rest::Unused
            })
        );
        assert_eq!(
            err6(3, 4),
            Ok(IcmpMapping::Error {
                msg_type: 2,
                code: 0,
                rest: Rest::Mtu
            })
        );
        for code in [9, 10, 13, 15] {
            assert_eq!(
                err6(3, code),
                Ok(IcmpMapping::Error {
                    msg_type: 1,
                    code: 1,
                    rest: Rest::Unused
                })
            );
        }
        assert_eq!(err6(3, 14), Err(DropReason::IcmpUntranslatableCode));
        assert_eq!(err6(3, 16), Err(DropReason::IcmpUntranslatableCode));
    }

    #[test]
    fn rfc7915_4_2_other_types() {
        assert_eq!(err6(8, 0), Ok(IcmpMapping::Echo { msg_type: 128 }));
        assert_eq!(err6(0, 0), Ok(IcmpMapping::Echo { msg_type: 129 }));
        assert_eq!(
            err6(11, 1),
            Ok(IcmpMapping::Error {
                msg_type: 3,
                code: 1,
                rest: Rest::Unused
            })
        );
        for t in [4, 5, 6, 9, 10, 13, 14, 15, 16, 17, 18, 42] {
            assert_eq!(
                err6(t, 0),
                Err(DropReason::IcmpUntranslatableType),
                "type {t}"
            );
        }
        assert_eq!(
            v4_to_v6(12, 0, 9),
            Ok(IcmpMapping::Error {
                msg_type: 4,
                code: 0,
                rest: Rest::Pointer(6)
            })
        );
        assert_eq!(
            v4_to_v6(12, 2, 16),
            Ok(IcmpMapping::Error {
                msg_type: 4,
                code: 0,
                rest: Rest::Pointer(24)
            })
        );
        assert_eq!(
            v4_to_v6(12, 0, 10),
            Err(DropReason::IcmpUntranslatablePointer)
        );
        assert_eq!(v4_to_v6(12, 1, 0), Err(DropReason::IcmpUntranslatableCode));
    }

    #[test]
    fn rfc7915_5_2_mappings() {
        let m = |t, c, p| v6_to_v4(t, c, p);
        assert_eq!(m(128, 0, 0), Ok(IcmpMapping::Echo { msg_type: 8 }));
        assert_eq!(m(129, 0, 0), Ok(IcmpMapping::Echo { msg_type: 0 }));
        for c in [0, 2, 3] {
            assert_eq!(
                m(1, c, 0),
                Ok(IcmpMapping::Error {
                    msg_type: 3,
                    code: 1,
                    rest: Rest::Unused
                })
            );
        }
        assert_eq!(
            m(1, 1, 0),
            Ok(IcmpMapping::Error {
                msg_type: 3,
                code: 10,
                rest: Rest::Unused
            })
        );
        assert_eq!(
            m(1, 4, 0),
            Ok(IcmpMapping::Error {
                msg_type: 3,
                code: 3,
                rest: Rest::Unused
            })
        );
        assert_eq!(m(1, 5, 0), Err(DropReason::IcmpUntranslatableCode));
        assert_eq!(
            m(2, 0, 1400),
            Ok(IcmpMapping::Error {
                msg_type: 3,
                code: 4,
                rest: Rest::Mtu
            })
        );
        assert_eq!(
            m(3, 1, 0),
            Ok(IcmpMapping::Error {
                msg_type: 11,
                code: 1,
                rest: Rest::Unused
            })
        );
        assert_eq!(
            m(4, 0, 7),
            Ok(IcmpMapping::Error {
                msg_type: 12,
                code: 0,
                rest: Rest::Pointer(8)
            })
        );
        assert_eq!(
            m(4, 0, 30),
            Ok(IcmpMapping::Error {
                msg_type: 12,
                code: 0,
                rest: Rest::Pointer(16)
            })
        );
        assert_eq!(m(4, 0, 2), Err(DropReason::IcmpUntranslatablePointer));
        assert_eq!(m(4, 0, 40), Err(DropReason::IcmpUntranslatablePointer));
        assert_eq!(
            m(4, 1, 0),
            Ok(IcmpMapping::Error {
                msg_type: 3,
                code: 2,
                rest: Rest::Unused
            })
        );
        assert_eq!(m(4, 2, 0), Err(DropReason::IcmpUntranslatableCode));
        for t in [130, 131, 132, 133, 134, 135, 136, 137, 200, 100] {
            assert_eq!(
                m(t, 0, 0),
                Err(DropReason::IcmpUntranslatableType),
                "type {t}"
            );
        }
    }

    #[test]
    fn pointer_tables_match_figures_3_and_6() {
        let v4: Vec<Option<u8>> = (0..=20).map(pointer_v4_to_v6).collect();
        let n = None;
        let s = Some;
        assert_eq!(
            v4,
            [
                s(0),
                s(1),
                s(4),
                s(4),
                n,
                n,
                n,
                n,
                s(7),
                s(6),
                n,
                n,
                s(8),
                s(8),
                s(8),
                s(8),
                s(24),
                s(24),
                s(24),
                s(24),
                n
            ]
        );
        assert_eq!(pointer_v6_to_v4(3), None);
        assert_eq!(pointer_v6_to_v4(23), Some(12));
        assert_eq!(pointer_v6_to_v4(24), Some(16));
        assert_eq!(pointer_v6_to_v4(39), Some(16));
    }
}
