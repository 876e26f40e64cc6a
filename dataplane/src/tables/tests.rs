use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

fn v4(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().unwrap().octets()
}

fn snap(toml: &str) -> Snapshot {
    let cfg = Config::from_toml_str(toml).unwrap_or_else(|e| panic!("config:\n{e}"));
    Snapshot::compile(&cfg).unwrap_or_else(|e| panic!("compile:\n{e}"))
}

fn meta(vlan: Option<u16>, ingress: u16) -> RxMeta {
    RxMeta { ingress, vlan }
}

fn name_v4<'a>(s: &'a Snapshot, m: RxMeta, dst: &str) -> Option<&'a str> {
    s.classify_v4(m, v4(dst)).map(|t| t.name.as_str())
}

fn name_v6<'a>(s: &'a Snapshot, dst: &str) -> Option<&'a str> {
    s.classify_v6(&v6(dst)).map(|t| t.name.as_str())
}

const TWO_VLANS: &str = include_str!("../../../deploy/examples/two-tenants-vlan.toml");
const SINGLE: &str = include_str!("../../../deploy/examples/siit-single-tenant.toml");
const TENANT_ID: &str = include_str!("../../../deploy/examples/tenant-id-prefix.toml");

/// Two tenants with identical 10.0.0.0/24 EAM ranges on VLANs 100 and 200 classify and map independently.
#[test]
fn overlapping_ipv4_ranges_on_vlans_classify_independently() {
    let s = snap(TWO_VLANS);
    let v4a = s.interface_index("v4a").unwrap();
    let red = s.classify_v4(meta(Some(100), v4a), v4("10.0.0.5")).unwrap();
    let green = s.classify_v4(meta(Some(200), v4a), v4("10.0.0.5")).unwrap();
    assert_eq!((red.name.as_str(), red.vlan), ("red", Some(100)));
    assert_eq!((green.name.as_str(), green.vlan), ("green", Some(200)));
    // The same IPv4 address maps to each tenant's own IPv6 address...
    let red6 = red.map_v4_to_v6(v4("10.0.0.5")).unwrap();
    let green6 = green.map_v4_to_v6(v4("10.0.0.5")).unwrap();
    assert_eq!(red6, v6("2001:db8:a100::5"));
    assert_eq!(green6, v6("2001:db8:a200::5"));
    // ...which the IPv6 side attributes back to the right tenant, and maps back to the same IPv4 address.
    assert_eq!(s.classify_v6(&red6).unwrap().index, red.index);
    assert_eq!(s.classify_v6(&green6).unwrap().index, green.index);
    assert_eq!(red.map_v6_to_v4(&red6), Ok(v4("10.0.0.5")));
    assert_eq!(green.map_v6_to_v4(&green6), Ok(v4("10.0.0.5")));
    // Outside the EAM range the tenant's pool6 still claims the destination, per VLAN.
    assert_eq!(
        name_v4(&s, meta(Some(200), v4a), "198.51.100.1"),
        Some("green")
    );
    assert_eq!(name_v6(&s, "2001:db8:64:100::c633:6401"), Some("red"));
    // Untagged frames, unknown VLANs and other interfaces belong to nobody.
    assert_eq!(name_v4(&s, meta(None, v4a), "10.0.0.5"), None);
    assert_eq!(name_v4(&s, meta(Some(300), v4a), "10.0.0.5"), None);
    assert_eq!(name_v4(&s, meta(Some(100), v4a + 1), "10.0.0.5"), None);
    assert_eq!(name_v6(&s, "2001:db8:a300::5"), None);
}

#[test]
fn single_tenant_example() {
    let s = snap(SINGLE);
    assert_eq!(s.tenants().len(), 1);
    assert!(s.interface_names().is_empty());
    let t = s.tenant(0);
    // Keyless: untagged frames on any interface.
    assert_eq!(name_v4(&s, meta(None, 0), "8.8.8.8"), Some("default"));
    assert_eq!(name_v4(&s, meta(None, 3), "198.51.100.9"), Some("default"));
    assert_eq!(name_v4(&s, meta(Some(5), 0), "8.8.8.8"), None);
    // pool6 both ways (network-specific prefix: non-global addresses are fine).
    assert_eq!(
        t.map_v4_to_v6(v4("192.168.1.1")),
        Ok(v6("2001:db8:64::c0a8:101"))
    );
    assert_eq!(
        t.map_v6_to_v4(&v6("2001:db8:64::8.8.4.4")),
        Ok(v4("8.8.4.4"))
    );
    // EAMT before pool6, nested entries.
    assert_eq!(
        t.map_v4_to_v6(v4("198.51.100.9")),
        Ok(v6("2001:db8:100::9"))
    );
    assert_eq!(
        t.map_v4_to_v6(v4("198.51.100.80")),
        Ok(v6("2001:db8:80::80"))
    );
    assert_eq!(
        t.map_v6_to_v4(&v6("2001:db8:80::80")),
        Ok(v4("198.51.100.80"))
    );
    assert_eq!(
        t.map_v4_to_v6(v4("203.0.113.130")),
        Ok(v6("2001:db8:dddd:0:800::"))
    );
    assert_eq!(name_v6(&s, "2001:db8:dddd:0:800::"), Some("default"));
    assert_eq!(name_v6(&s, "2001:db8:64::1"), Some("default"));
    assert_eq!(name_v6(&s, "2001:db8:65::1"), None);
    assert_eq!(
        t.map_v6_to_v4(&v6("2001:db8:65::1")),
        Err(AddrError::NoMapping)
    );
    assert!(t.eam_covers_v4(v4("198.51.100.200")) && !t.eam_covers_v4(v4("198.51.101.1")));
    assert!(t.eam_covers_v6(&v6("2001:db8:100::1")) && !t.eam_covers_v6(&v6("2001:db8:64::1")));
    // Configured ICMP sources and the RFC 6791 pools.
    assert_eq!(t.own_v4(), v4("192.0.2.1"));
    assert_eq!(t.own_v6(), v6("2001:db8:ffff::1"));
    assert_eq!(t.rfc6791_v4(0), v4("192.0.2.248"));
    assert_eq!(t.rfc6791_v4(13), v4("192.0.2.253"));
    assert_eq!(t.rfc6791_v6(258), v6("2001:db8:ffff:6791::2"));
    assert!(t.opts.amend_udp_checksum_zero);
    assert_eq!(t.opts.eam_hairpin_mode, HairpinMode::Simple);
}

#[test]
fn tenant_id_embedding() {
    let s = snap(TENANT_ID);
    assert_eq!(
        s.interface_names(),
        ["v4blue".to_string(), "v4orange".to_string()]
    );
    let blue = s.tenant_by_id(7).unwrap();
    let orange = s.tenant_by_id(8).unwrap();
    assert!(s.tenant_by_id(9).is_none());
    // <base>:<ID>::W.X.Y.Z
    assert_eq!(blue.pool6().unwrap().to_string(), "2001:db8:100:7::/96");
    assert_eq!(
        blue.map_v4_to_v6(v4("192.0.2.33")),
        Ok(v6("2001:db8:100:7::c000:221"))
    );
    assert_eq!(name_v6(&s, "2001:db8:100:7::c000:221"), Some("blue"));
    assert_eq!(name_v6(&s, "2001:db8:100:8::c000:221"), Some("orange"));
    assert_eq!(name_v6(&s, "2001:db8:100:9::c000:221"), None);
    assert_eq!(
        orange.map_v6_to_v4(&v6("2001:db8:100:8::c000:221")),
        Ok(v4("192.0.2.33"))
    );
    // IPv4 side: by interface.
    let (ib, io) = (
        s.interface_index("v4blue").unwrap(),
        s.interface_index("v4orange").unwrap(),
    );
    assert_eq!((ib, io), (0, 1));
    assert_eq!(blue.ingress(), Some(0));
    assert_eq!(name_v4(&s, meta(None, ib), "198.51.100.1"), Some("blue"));
    assert_eq!(name_v4(&s, meta(None, io), "198.51.100.1"), Some("orange"));
    assert_eq!(name_v4(&s, meta(None, 7), "198.51.100.1"), None);
    assert_eq!(
        orange.map_v4_to_v6(v4("198.51.100.1")),
        Ok(v6("2001:db8:8000::1"))
    );
    assert_eq!(
        blue.map_v4_to_v6(v4("198.51.100.1")),
        Ok(v6("2001:db8:100:7::c633:6401"))
    );
    assert_eq!(orange.opts.eam_hairpin_mode, HairpinMode::Intrinsic);
    // ICMP sources: blue's from its RFC 6791 pool, then own_v4 mapped through pool6.
    assert_eq!(blue.own_v4(), v4("192.0.2.200"));
    assert_eq!(blue.own_v6(), v6("2001:db8:100:7::c000:2c8"));
    assert_eq!(blue.rfc6791_v6(5), blue.own_v6());
    assert_eq!(orange.own_v4(), IPV4_DUMMY);
    assert_eq!(orange.own_v6(), v6("2001:db8:100:8::c000:8"));
}

#[test]
fn well_known_prefix_refuses_non_global_ipv4() {
    let doc = |allow: bool| {
        format!(
            "[[tenants]]\nname = \"a\"\nid = 1\npool6 = \"64:ff9b::/96\"\n\
             [[tenants.eamt]]\nipv4 = \"192.0.2.224/31\"\nipv6 = \"64:ff9b::/127\"\n\
             [tenants.options]\nallow_wkp_non_global = {allow}\n"
        )
    };
    let s = snap(&doc(false));
    let t = s.tenant(0);
    assert_eq!(
        t.map_v4_to_v6(v4("192.0.2.33")),
        Err(AddrError::WkpNonGlobal)
    );
    assert_eq!(t.map_v4_to_v6(v4("10.1.1.1")), Err(AddrError::WkpNonGlobal));
    assert_eq!(
        t.map_v6_to_v4(&v6("64:ff9b::10.1.1.1")),
        Err(AddrError::WkpNonGlobal)
    );
    assert_eq!(t.map_v4_to_v6(v4("8.8.8.8")), Ok(v6("64:ff9b::808:808")));
    assert_eq!(t.map_v6_to_v4(&v6("64:ff9b::8.8.8.8")), Ok(v4("8.8.8.8")));
    // An explicit mapping is not an RFC 6052 embedding: no §3.1 check (RFC 7757 Appendix B).
    assert_eq!(t.map_v4_to_v6(v4("192.0.2.225")), Ok(v6("64:ff9b::1")));
    assert_eq!(t.map_v6_to_v4(&v6("64:ff9b::1")), Ok(v4("192.0.2.225")));
    // own_v6 chain: 192.0.0.8 is not global, so the tenant's own mapping fails and the WKP form is used.
    assert_eq!(t.own_v4(), IPV4_DUMMY);
    assert_eq!(t.own_v6(), v6("64:ff9b::c000:8"));

    let s = snap(&doc(true));
    let t = s.tenant(0);
    assert_eq!(
        t.map_v4_to_v6(v4("192.0.2.33")),
        Ok(v6("64:ff9b::192.0.2.33"))
    );
    assert_eq!(t.map_v6_to_v4(&v6("64:ff9b::10.1.1.1")), Ok(v4("10.1.1.1")));
}

#[test]
fn eamt_only_tenant_has_no_pool6_fallback() {
    let s = snap(
        "[[tenants]]\nname = \"e\"\nid = 3\nown_ipv4 = \"198.51.100.1\"\n\
         [[tenants.eamt]]\nipv4 = \"198.51.100.0/24\"\nipv6 = \"2001:db8:e::/120\"\n",
    );
    let t = s.tenant(0);
    assert!(t.pool6().is_none());
    assert_eq!(t.map_v4_to_v6(v4("198.51.100.7")), Ok(v6("2001:db8:e::7")));
    assert_eq!(
        t.map_v4_to_v6(v4("198.51.101.7")),
        Err(AddrError::NoMapping)
    );
    assert_eq!(
        t.map_v6_to_v4(&v6("2001:db8:f::7")),
        Err(AddrError::NoMapping)
    );
    assert_eq!(name_v4(&s, meta(None, 0), "198.51.100.7"), Some("e"));
    assert_eq!(name_v4(&s, meta(None, 0), "198.51.101.7"), None);
    // own_v6: own_ipv4 mapped by the EAMT.
    assert_eq!(t.own_v6(), v6("2001:db8:e::1"));
    // No RFC 6791 pools: the own addresses.
    assert_eq!(t.rfc6791_v4(99), v4("198.51.100.1"));
    assert_eq!(t.rfc6791_v6(99), v6("2001:db8:e::1"));
}

#[test]
fn own_v6_prefers_configured_then_rfc6791_pool() {
    let s = snap(
        "[[tenants]]\nname = \"a\"\nid = 1\npool6 = \"2001:db8:64::/96\"\nrfc6791_v6 = [\"2001:db8:ffff::/126\"]\n\
         [[tenants]]\nname = \"b\"\nid = 2\npool6 = \"2001:db8:65::/96\"\nown_ipv6 = \"2001:db8::b\"\n\
         rfc6791_v6 = [\"2001:db8:fffe::/126\"]\n[tenants.ipv4_side]\nvlan = 2\n",
    );
    assert_eq!(s.tenant(0).own_v6(), v6("2001:db8:ffff::"));
    assert_eq!(s.tenant(0).own_v4(), IPV4_DUMMY);
    assert_eq!(s.tenant(1).own_v6(), v6("2001:db8::b"));
    assert_eq!(s.tenant(1).rfc6791_v6(6), v6("2001:db8:fffe::2"));
}

/// A catch-all tenant (any interface) beside an interface-bound one on the same VLAN: the bound one wins
/// on its interface, the catch-all takes the rest; longer EAM prefixes still win first.
#[test]
fn interface_bound_tenants_go_before_catch_all() {
    let s = snap(
        "[[tenants]]\nname = \"all\"\nid = 1\npool6 = \"2001:db8:1::/96\"\n\
         [[tenants.eamt]]\nipv4 = \"10.0.0.0/24\"\nipv6 = \"2001:db8:a1::/120\"\n\
         [[tenants.eamt]]\nipv4 = \"10.9.0.0/16\"\nipv6 = \"2001:db8:a9::/112\"\n\
         [[tenants]]\nname = \"eth1\"\nid = 2\npool6 = \"2001:db8:2::/96\"\n\
         [tenants.ipv4_side]\ninterface = \"eth1\"\n\
         [[tenants.eamt]]\nipv4 = \"10.0.0.0/24\"\nipv6 = \"2001:db8:a2::/120\"\n\
         [[tenants.eamt]]\nipv4 = \"10.0.0.0/8\"\nipv6 = \"2001:db8:a8::/104\"\n",
    );
    let eth1 = s.interface_index("eth1").unwrap();
    assert_eq!(name_v4(&s, meta(None, eth1), "10.0.0.1"), Some("eth1"));
    assert_eq!(name_v4(&s, meta(None, eth1 + 1), "10.0.0.1"), Some("all"));
    assert_eq!(name_v4(&s, meta(None, eth1), "8.8.8.8"), Some("eth1"));
    assert_eq!(name_v4(&s, meta(None, eth1 + 1), "8.8.8.8"), Some("all"));
    // Longest prefix first: all's /16 beats eth1's /8 even on eth1.
    assert_eq!(name_v4(&s, meta(None, eth1), "10.9.1.1"), Some("all"));
    assert_eq!(name_v4(&s, meta(None, eth1), "10.8.1.1"), Some("eth1"));
    // A priority tag (VLAN 0) counts as untagged.
    assert_eq!(name_v4(&s, meta(Some(0), eth1), "10.0.0.1"), Some("eth1"));
}

#[test]
fn options_are_copied_and_plateaus_sorted() {
    let s = snap(
        "[[tenants]]\nname = \"a\"\nid = 1\n[tenants.options]\nzeroize_traffic_class = true\noverride_tos = true\n\
         tos = 7\nlowest_ipv6_mtu = 1300\nipv6_mtu = 9000\nipv4_mtu = 576\nmtu_plateaus = [296, 1492, 296, 65535]\n\
         eam_hairpin_mode = \"off\"\nrandomize_rfc6791 = true\nicmp_errors = false\n",
    );
    let o = &s.tenant(0).opts;
    assert_eq!(
        *o,
        XlatOptions {
            zeroize_traffic_class: true,
            override_tos: true,
            tos: 7,
            amend_udp_checksum_zero: false,
            lowest_ipv6_mtu: 1300,
            ipv6_mtu: 9000,
            ipv4_mtu: 576,
            mtu_plateaus: vec![65535, 1492, 296],
            allow_wkp_non_global: false,
            eam_hairpin_mode: HairpinMode::Off,
            randomize_rfc6791: true,
            icmp_errors: false,
        }
    );
    // Parsed but not normalized: compile sorts too.
    let mut cfg = Config::parse_toml(
        "[[tenants]]\nname = \"a\"\nid = 1\n[tenants.options]\nmtu_plateaus = [68, 1500]\n",
    )
    .unwrap();
    cfg.tenants[0].options.mtu_plateaus.push(1500);
    assert_eq!(
        Snapshot::compile(&cfg).unwrap().tenant(0).opts.mtu_plateaus,
        vec![1500, 68]
    );
    assert_eq!(XlatOptions::default().mtu_plateaus.len(), 11);
}

#[test]
fn compile_refuses_invalid_configs_with_every_error() {
    let cfg = Config::parse_toml(
        "[[tenants]]\nname = \"a\"\nid = 1\npool6 = \"2001:db8::/80\"\n\
         [[tenants]]\nname = \"a\"\nid = 2\n[tenants.ipv4_side]\nvlan = 4095\n",
    )
    .unwrap();
    let e = Snapshot::compile(&cfg).unwrap_err();
    let ptrs: Vec<&str> = e.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(
        ptrs,
        vec![
            "/tenants/0/pool6",
            "/tenants/1/name",
            "/tenants/1/ipv4_side/vlan"
        ],
        "{e}"
    );
}

#[test]
fn interface_indices_follow_first_appearance() {
    let s = snap(
        "[[tenants]]\nname = \"a\"\nid = 1\n[tenants.ipv4_side]\ninterface = \"z0\"\nvlan = 1\n\
         [[tenants]]\nname = \"b\"\nid = 2\n[tenants.ipv4_side]\ninterface = \"a0\"\n\
         [[tenants]]\nname = \"c\"\nid = 3\n[tenants.ipv4_side]\ninterface = \"z0\"\nvlan = 3\n",
    );
    assert_eq!(s.interface_names(), ["z0".to_string(), "a0".to_string()]);
    assert_eq!(s.interface_index("a0"), Some(1));
    assert_eq!(s.interface_index("nope"), None);
    assert_eq!(s.tenant(2).ingress(), Some(0));
    assert_eq!(s.tenant(1).index, 1);
}

#[test]
fn empty_snapshot_classifies_nothing() {
    let s = Snapshot::compile(&Config::default()).unwrap();
    assert!(s.tenants().is_empty());
    assert!(s.classify_v6(&v6("64:ff9b::1.2.3.4")).is_none());
    assert!(s.classify_v4(meta(None, 0), v4("1.2.3.4")).is_none());
    assert!(Snapshot::default()
        .classify_v4(meta(Some(4095), 0), v4("1.2.3.4"))
        .is_none());
}

#[test]
#[should_panic]
fn tenant_panics_on_a_bad_index() {
    let s = snap(SINGLE);
    let _ = s.tenant(1);
}

/// Every example in deploy/examples compiles.
#[test]
fn every_example_compiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let s = snap(&text);
            assert!(!s.tenants().is_empty(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 3);
}

mod pool96 {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The per-tenant pseudo-header deltas give the general incremental update's exact result, for
        /// prefixes whose sum is zero (::/96), a multiple of 0xffff (ffff::/96) or anything else.
        #[test]
        fn pseudo_deltas_match_the_general_update(
            prefix in prop_oneof![
                Just(0u128),
                Just(0xffffu128 << 112),
                Just(u128::from_be_bytes(crate::xlat::rfc6052::WKP)),
                any::<u128>().prop_map(|p| p & !0xffff_ffff),
            ],
            src in 0x0100_0000u32..0xe000_0000,
            dst in 0x0100_0000u32..0xe000_0000,
            csum in prop_oneof![Just(0u16), Just(0xffff), any::<u16>()],
        ) {
            let p = Pool96::new(prefix, false);
            let (src6, dst6) = (p.embed(src).unwrap(), p.embed(dst).unwrap());
            prop_assert_eq!(p.extract(src6), Some(src));
            let v4 = checksum::add(
                checksum::sum_addr_v4(&src.to_be_bytes()),
                checksum::sum_addr_v4(&dst.to_be_bytes()),
            );
            let v6 = checksum::add(checksum::sum_u128(src6), checksum::sum_u128(dst6));
            prop_assert_eq!(
                checksum::adjust_by(csum, p.pseudo_delta_v4_to_v6()),
                checksum::adjust(csum, v4, v6)
            );
            prop_assert_eq!(
                checksum::adjust_by(csum, p.pseudo_delta_v6_to_v4()),
                checksum::adjust(csum, v6, v4)
            );
        }

        /// `extract_pair` (the fast path's: one masked compare for both addresses) is `extract` of each,
        /// with and without RFC 6052 §3.1, for addresses inside the prefix, off it by one bit anywhere in
        /// the top 96, or arbitrary.
        #[test]
        fn extract_pair_is_extract_of_each(
            prefix in prop_oneof![
                Just(u128::from_be_bytes(crate::xlat::rfc6052::WKP)),
                any::<u128>().prop_map(|p| p & !0xffff_ffff),
            ],
            strict in any::<bool>(),
            a in (any::<u32>(), 0u32..100, any::<u128>()),
            b in (any::<u32>(), 0u32..100, any::<u128>()),
        ) {
            let p = Pool96::new(prefix, strict);
            // 0..96: one bit of the prefix flipped; 96..99: inside; 99: arbitrary.
            let addr = |(v4, k, any): (u32, u32, u128)| match k {
                0..96 => (prefix | u128::from(v4)) ^ (1u128 << (32 + k)),
                96..99 => prefix | u128::from(v4),
                _ => any,
            };
            let (src, dst) = (addr(a), addr(b));
            let each = p.extract(src).zip(p.extract(dst));
            prop_assert_eq!(p.extract_pair(src, dst), each);
        }
    }
}
