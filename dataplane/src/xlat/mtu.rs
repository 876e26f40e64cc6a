//! MTU figures for Packet Too Big / Fragmentation Needed (RFC 7915 §4.2, §5.2; RFC 1191 plateaus).

/// IPv6 minimum link MTU (RFC 8200 §5).
pub const IPV6_MIN_MTU: u32 = 1280;

/// RFC 7915 §4.2: the MTU of an ICMPv6 Packet Too Big translated from an ICMPv4 Fragmentation Needed:
/// `min(advertised + 20, ipv6_mtu, ipv4_mtu + 20)`. An advertised MTU of 0 comes from a router that predates
/// RFC 1191: use the largest plateau below the quoted packet's total length instead. Never below 1280,
/// which IPv6 hosts would ignore anyway (RFC 8201 §4).
pub fn ptb_from_frag_needed(
    advertised: u16,
    quoted_total_len: u16,
    ipv6_mtu: u16,
    ipv4_mtu: u16,
    plateaus: &[u16],
) -> u32 {
    let mut advertised = u32::from(advertised);
    if advertised == 0 {
        advertised = plateaus
            .iter()
            .copied()
            .find(|&p| p < quoted_total_len)
            .map_or(u32::from(*plateaus.last().unwrap_or(&68)), u32::from);
    }
    let mtu = (advertised + 20)
        .min(u32::from(ipv6_mtu))
        .min(u32::from(ipv4_mtu) + 20);
    mtu.max(IPV6_MIN_MTU)
}

/// RFC 7915 §5.2: the MTU of an ICMPv4 Fragmentation Needed translated from an ICMPv6 Packet Too Big:
/// `min(advertised - 20, ipv4_mtu, ipv6_mtu - 20)`, 28 instead of 20 when the quoted packet carried a
/// Fragment Header (its IPv4 form is 28 bytes shorter). Capped to 16 bits.
pub fn frag_needed_from_ptb(
    advertised: u32,
    quoted_has_frag: bool,
    ipv4_mtu: u16,
    ipv6_mtu: u16,
) -> u16 {
    let delta = if quoted_has_frag { 28 } else { 20 };
    let mtu = advertised
        .saturating_sub(delta)
        .min(u32::from(ipv4_mtu))
        .min(u32::from(ipv6_mtu).saturating_sub(delta));
    mtu.min(u32::from(u16::MAX)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLATEAUS: [u16; 11] = [
        65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
    ];

    #[test]
    fn frag_needed_to_ptb_takes_the_minimum_and_clamps_at_1280() {
        assert_eq!(
            ptb_from_frag_needed(1400, 1500, 1500, 1500, &PLATEAUS),
            1420
        );
        assert_eq!(
            ptb_from_frag_needed(1480, 1500, 1500, 1500, &PLATEAUS),
            1500
        );
        assert_eq!(
            ptb_from_frag_needed(1400, 1500, 1500, 1300, &PLATEAUS),
            1320
        );
        assert_eq!(ptb_from_frag_needed(576, 1500, 1500, 1500, &PLATEAUS), 1280);
    }

    #[test]
    fn zero_mtu_uses_the_plateau_below_the_quoted_length() {
        // 1500-byte packet: largest plateau below it is 1492 → 1512, capped by the 1500 IPv6 MTU.
        assert_eq!(ptb_from_frag_needed(0, 1500, 9000, 9000, &PLATEAUS), 1512);
        assert_eq!(ptb_from_frag_needed(0, 1500, 1500, 9000, &PLATEAUS), 1500);
        assert_eq!(ptb_from_frag_needed(0, 4000, 9000, 9000, &PLATEAUS), 2022);
        assert_eq!(ptb_from_frag_needed(0, 60, 9000, 9000, &PLATEAUS), 1280);
    }

    #[test]
    fn ptb_to_frag_needed_subtracts_the_header_difference() {
        assert_eq!(frag_needed_from_ptb(1400, false, 1500, 1500), 1380);
        assert_eq!(frag_needed_from_ptb(1400, true, 1500, 1500), 1372);
        assert_eq!(frag_needed_from_ptb(1500, false, 1400, 1500), 1400);
        assert_eq!(frag_needed_from_ptb(9000, false, 9000, 1500), 1480);
        assert_eq!(frag_needed_from_ptb(10, false, 1500, 1500), 0);
        assert_eq!(frag_needed_from_ptb(u32::MAX, false, 65535, 65535), 65515);
    }
}
