use super::*;

/// The annotated example of specs/config.md, with every key.
const FULL: &str = r#"
[tenant_id_prefix]
base = "2001:db8:100::/48"

[[tenants]]
name = "blue"
id = 7
pool6 = "2001:db8:100:7::/96"
own_ipv4 = "192.0.2.1"
own_ipv6 = "2001:db8::1"
rfc6791_v4 = ["192.0.2.200/29"]
rfc6791_v6 = ["2001:db8:ffff::/120"]

[tenants.ipv4_side]
vlan = 100
interface = "v4a"

[[tenants.eamt]]
ipv4 = "192.0.2.0/24"
ipv6 = "2001:db8:1::/120"

[tenants.options]
zeroize_traffic_class = true
override_tos = true
tos = 40
amend_udp_checksum_zero = true
lowest_ipv6_mtu = 1280
ipv6_mtu = 9000
ipv4_mtu = 1400
mtu_plateaus = [68, 1492, 65535, 1492]
allow_wkp_non_global = true
eam_hairpin_mode = "intrinsic"
randomize_rfc6791 = true
icmp_errors = false
"#;

fn tenant_toml(name: &str, id: u32, extra: &str) -> String {
    format!("[[tenants]]\nname = \"{name}\"\nid = {id}\n{extra}\n")
}

/// Validation errors of a TOML document that parses.
fn errors(toml: &str) -> ConfigErrors {
    let cfg = Config::parse_toml(toml).unwrap_or_else(|e| panic!("parse failed: {e}"));
    cfg.validate().expect_err("validation should fail")
}

fn pointers(e: &ConfigErrors) -> Vec<&str> {
    e.iter().map(|e| e.pointer.as_str()).collect()
}

/// Exactly one error, at `pointer`, whose message contains `needle`.
#[track_caller]
fn assert_one(toml: &str, pointer: &str, needle: &str) {
    let e = errors(toml);
    assert_eq!(pointers(&e), vec![pointer], "{e}");
    assert!(
        e.0[0].message.contains(needle),
        "message {:?} lacks {needle:?}",
        e.0[0].message
    );
}

#[track_caller]
fn assert_valid(toml: &str) -> Config {
    Config::from_toml_str(toml).unwrap_or_else(|e| panic!("expected valid, got:\n{e}"))
}

// --- parsing ---------------------------------------------------------------------------------------------------

#[test]
fn full_example_parses_with_every_field() {
    let cfg = assert_valid(FULL);
    assert_eq!(
        cfg.tenant_id_prefix.unwrap().base,
        "2001:db8:100::/48".parse().unwrap()
    );
    let t = &cfg.tenants[0];
    assert_eq!((t.name.as_str(), t.id), ("blue", 7));
    assert_eq!(t.pool6, Some("2001:db8:100:7::/96".parse().unwrap()));
    assert_eq!(t.own_ipv4, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(t.own_ipv6, Some("2001:db8::1".parse().unwrap()));
    assert_eq!(
        t.rfc6791_v4,
        vec!["192.0.2.200/29".parse::<Ipv4Net>().unwrap()]
    );
    assert_eq!(
        t.rfc6791_v6,
        vec!["2001:db8:ffff::/120".parse::<Ipv6Net>().unwrap()]
    );
    assert_eq!(
        t.ipv4_side,
        Ipv4Side {
            vlan: Some(100),
            interface: Some("v4a".into())
        }
    );
    assert_eq!(
        t.eamt,
        vec![EamEntry {
            ipv4: "192.0.2.0/24".parse().unwrap(),
            ipv6: "2001:db8:1::/120".parse().unwrap()
        }]
    );
    let o = &t.options;
    assert!(o.zeroize_traffic_class && o.override_tos && o.amend_udp_checksum_zero);
    assert!(o.allow_wkp_non_global && o.randomize_rfc6791 && !o.icmp_errors);
    assert_eq!(
        (o.tos, o.lowest_ipv6_mtu, o.ipv6_mtu, o.ipv4_mtu),
        (40, 1280, 9000, 1400)
    );
    assert_eq!(o.eam_hairpin_mode, EamHairpinMode::Intrinsic);
    // Stored sorted descending, deduplicated.
    assert_eq!(o.mtu_plateaus, vec![65535, 1492, 68]);
}

#[test]
fn options_default_as_documented() {
    let cfg = assert_valid(&tenant_toml("a", 1, ""));
    let o = &cfg.tenants[0].options;
    assert_eq!(*o, Options::default());
    assert!(!o.zeroize_traffic_class && !o.override_tos && !o.amend_udp_checksum_zero);
    assert!(!o.allow_wkp_non_global && !o.randomize_rfc6791 && o.icmp_errors);
    assert_eq!(
        (o.tos, o.lowest_ipv6_mtu, o.ipv6_mtu, o.ipv4_mtu),
        (0, 1280, 1500, 1500)
    );
    assert_eq!(
        o.mtu_plateaus,
        vec![65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68]
    );
    assert_eq!(o.eam_hairpin_mode, EamHairpinMode::Simple);
    // A partial options table keeps the other defaults.
    let cfg = assert_valid(&tenant_toml("a", 1, "[tenants.options]\nipv4_mtu = 1400\n"));
    assert_eq!(
        cfg.tenants[0].options,
        Options {
            ipv4_mtu: 1400,
            ..Options::default()
        }
    );
    // An empty document is an empty configuration.
    assert_eq!(assert_valid(""), Config::default());
}

#[test]
fn toml_and_json_round_trip() {
    let cfg = assert_valid(FULL);
    let toml = cfg.to_toml_string();
    assert_eq!(Config::from_toml_str(&toml).unwrap(), cfg, "{toml}");
    let json = cfg.to_json_string();
    assert!(
        json.contains("\"eam_hairpin_mode\": \"intrinsic\""),
        "{json}"
    );
    assert_eq!(Config::from_json_str(&json).unwrap(), cfg, "{json}");
    // Defaults are left out of the TOML.
    let small = assert_valid(&tenant_toml("a", 1, ""));
    assert_eq!(
        small.to_toml_string(),
        "[[tenants]]\nname = \"a\"\nid = 1\n"
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let cases = [
        ("colour = 1\n", ""),
        ("[tenant_id_prefix]\nbase = \"2001:db8::/32\"\nlen = 3\n", "/tenant_id_prefix/len"),
        ("[[tenants]]\nname = \"a\"\nid = 1\n[[tenants]]\nname = \"b\"\nid = 2\nbogus = 3\n", "/tenants/1/bogus"),
        ("[[tenants]]\nname = \"a\"\nid = 1\n[tenants.ipv4_side]\nvlna = 3\n", "/tenants/0/ipv4_side/vlna"),
        ("[[tenants]]\nname = \"a\"\nid = 1\n[[tenants.eamt]]\nipv4 = \"192.0.2.0/24\"\nipv6 = \"2001:db8::/120\"\nipv5 = 1\n",
         "/tenants/0/eamt/0/ipv5"),
        ("[[tenants]]\nname = \"a\"\nid = 1\n[tenants.options]\nmtu = 1500\n", "/tenants/0/options/mtu"),
    ];
    for (toml, pointer) in cases {
        let e = Config::from_toml_str(toml).expect_err(toml);
        assert_eq!(e.len(), 1, "{e}");
        if pointer.is_empty() {
            // Top level: serde names the key in the message.
            assert!(e.0[0].message.contains("unknown field `colour`"), "{e}");
        } else {
            assert_eq!(e.0[0].pointer, pointer, "{toml}");
            assert!(e.0[0].message.contains("unknown field"), "{e}");
        }
    }
}

#[test]
fn type_and_syntax_errors_name_the_field() {
    let e = Config::from_toml_str("[[tenants]]\nname = \"a\"\nid = \"x\"\n").unwrap_err();
    assert_eq!(e.0[0].pointer, "/tenants/0/id");
    assert!(e.0[0].message.contains("line 3"), "{e}");
    let e = Config::from_toml_str(
        "[[tenants]]\nname = \"a\"\nid = 1\n[[tenants.eamt]]\nipv4 = \"192.0.2.0/24\"\nipv6 = \"2001:db8::/zz\"\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string()
            .lines()
            .next()
            .unwrap()
            .split(':')
            .next()
            .unwrap(),
        "tenants[0].eamt[0].ipv6"
    );
    let e = Config::from_toml_str(
        "[[tenants]]\nname = \"a\"\nid = 1\n[tenants.options]\nmtu_plateaus = [1, 70000]\n",
    )
    .unwrap_err();
    assert_eq!(e.0[0].pointer, "/tenants/0/options/mtu_plateaus/1");
    let e = Config::from_toml_str(
        "[[tenants]]\nname = \"a\"\nid = 1\n[tenants.options]\neam_hairpin_mode = \"on\"\n",
    )
    .unwrap_err();
    assert_eq!(e.0[0].pointer, "/tenants/0/options/eam_hairpin_mode");
    assert!(
        e.0[0].message.contains("`off`, `simple`, `intrinsic`"),
        "{e}"
    );
    let e = Config::from_toml_str("[[tenants]]\nname = \"a\"\n").unwrap_err();
    assert_eq!(e.0[0].pointer, "/tenants/0");
    assert!(e.0[0].message.contains("missing field `id`"), "{e}");
    // Syntax: no field, but the line.
    let e = Config::from_toml_str("[[tenants]]\nname = \"a\"\nid = 1\n[[tenants\n").unwrap_err();
    assert_eq!(e.0[0].pointer, "");
    assert!(e.0[0].message.contains("line 4"), "{e}");
    assert!(!e.to_string().contains('\n'), "one error, one line: {e}");
}

#[test]
fn json_errors_name_the_field() {
    let e = Config::from_json_str(
        r#"{"tenants":[{"name":"a","id":1},{"name":"b","id":2,"eamt":[{"ipv4":"1.2.3.0/24","ipv6":"x"}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.0[0].pointer, "/tenants/1/eamt/0/ipv6");
    let e = Config::from_json_str(r#"{"tenants":[{"name":"a","id":1,"options":{"tos":300}}]}"#)
        .unwrap_err();
    assert_eq!(e.0[0].pointer, "/tenants/0/options/tos");
    let e = Config::from_json_str(r#"{"tenants":[]} x"#).unwrap_err();
    assert_eq!(e.0[0].pointer, "");
    assert!(e.0[0].message.contains("trailing"), "{e}");
    // Validation runs after JSON parsing too.
    let e = Config::from_json_str(r#"{"tenants":[{"name":"a","id":1,"pool6":"2001:db8::/80"}]}"#)
        .unwrap_err();
    assert_eq!(pointers(&e), vec!["/tenants/0/pool6"]);
}

#[test]
fn error_display_is_a_dotted_path() {
    let e = ConfigError::new("/tenants/1/eamt/3/ipv6", "bad");
    assert_eq!(e.to_string(), "tenants[1].eamt[3].ipv6: bad");
    assert_eq!(
        ConfigError::new("/tenant_id_prefix/base", "x").to_string(),
        "tenant_id_prefix.base: x"
    );
    assert_eq!(ConfigError::new("", "syntax").to_string(), "syntax");
    assert_eq!(pointer_to_path("/a~1b/c~0d/0"), "a/b.c~d[0]");
    let all = ConfigErrors(vec![
        ConfigError::new("/tenants/0/id", "one"),
        ConfigError::new("/tenants/1/name", "two"),
    ]);
    assert_eq!(all.to_string(), "tenants[0].id: one\ntenants[1].name: two");
    // REST bodies carry the pointer.
    assert_eq!(
        serde_json::to_string(&all.0[0]).unwrap(),
        r#"{"pointer":"/tenants/0/id","message":"one"}"#
    );
}

#[test]
fn tenant_id_prefix_derives_pool6() {
    let tip = TenantIdPrefix {
        base: "2001:db8:100::/48".parse().unwrap(),
    };
    assert_eq!(
        tip.pool6_for(7),
        Some("2001:db8:100:7::/96".parse().unwrap())
    );
    assert_eq!(
        tip.pool6_for(0xffff),
        Some("2001:db8:100:ffff::/96".parse().unwrap())
    );
    assert_eq!(tip.pool6_for(0x1_0000), None);
    let tip = TenantIdPrefix {
        base: "2001:db8::/32".parse().unwrap(),
    };
    assert_eq!(
        tip.pool6_for(0xabcd),
        Some("2001:db8:abcd::/96".parse().unwrap())
    );
    let tip = TenantIdPrefix {
        base: "2001:db8:100::/40".parse().unwrap(),
    };
    // ID in bits 40..56: 0x1234 -> bytes 5 and 6.
    assert_eq!(
        tip.pool6_for(0x1234),
        Some("2001:db8:112:3400::/96".parse().unwrap())
    );
    let tip = TenantIdPrefix {
        base: "2001:db8:100::/56".parse().unwrap(),
    };
    assert_eq!(tip.pool6_for(1), None);

    let cfg = assert_valid(
        "[tenant_id_prefix]\nbase = \"2001:db8:100::/48\"\n[[tenants]]\nname = \"a\"\nid = 7\n\
         [tenants.ipv4_side]\nvlan = 7\n\
         [[tenants]]\nname = \"b\"\nid = 8\npool6 = \"2001:db8:100:8::/96\"\n[tenants.ipv4_side]\nvlan = 8\n",
    );
    assert_eq!(
        cfg.effective_pool6(&cfg.tenants[0]),
        Some("2001:db8:100:7::/96".parse().unwrap())
    );
    assert_eq!(
        cfg.effective_pool6(&cfg.tenants[1]),
        Some("2001:db8:100:8::/96".parse().unwrap())
    );
}

// --- validation, one rule at a time ----------------------------------------------------------------------------

#[test]
fn tenant_names() {
    assert_valid(&tenant_toml("Blue_2.x-y", 1, ""));
    assert_one(&tenant_toml("", 1, ""), "/tenants/0/name", "1..=32");
    assert_one(
        &tenant_toml("has space", 1, ""),
        "/tenants/0/name",
        "[A-Za-z0-9_.-]",
    );
    assert_one(
        &tenant_toml(&"x".repeat(33), 1, ""),
        "/tenants/0/name",
        "1..=32",
    );
    assert_valid(&tenant_toml(&"x".repeat(32), 1, ""));
    let two = format!("{}{}", tenant_toml("a", 1, ""), tenant_toml("a", 2, ""));
    assert_one(
        &two,
        "/tenants/1/name",
        "duplicate tenant name \"a\" (also tenants[0])",
    );
}

#[test]
fn tenant_ids() {
    let two = format!("{}{}", tenant_toml("a", 5, ""), tenant_toml("b", 5, ""));
    assert_one(&two, "/tenants/1/id", "duplicate tenant id 5");
    assert_valid(&tenant_toml("a", 70000, ""));
    let with_tip = format!(
        "[tenant_id_prefix]\nbase = \"2001:db8:100::/48\"\n{}",
        tenant_toml("a", 70000, "")
    );
    assert_one(&with_tip, "/tenants/0/id", "65535");
}

#[test]
fn tenant_id_prefix_base() {
    let doc = |base: &str| format!("[tenant_id_prefix]\nbase = \"{base}\"\n");
    assert_valid(&doc("2001:db8:100::/48"));
    assert_valid(&doc("2001:db8::/32"));
    assert_one(
        &doc("2001:db8:100::/56"),
        "/tenant_id_prefix/base",
        "longer than /48",
    );
    assert_one(
        &doc("2001:db8:100::1/48"),
        "/tenant_id_prefix/base",
        "host bits",
    );
}

#[test]
fn pool6_rules() {
    let p = |pool6: &str| tenant_toml("a", 1, &format!("pool6 = \"{pool6}\""));
    for ok in [
        "2001:db8::/32",
        "2001:db8:100::/40",
        "2001:db8:122::/48",
        "2001:db8:122:300::/56",
        "2001:db8:122:344::/64",
        "2001:db8:122:344::/96",
        "64:ff9b::/96",
    ] {
        assert_valid(&p(ok));
    }
    assert_one(
        &p("2001:db8::/80"),
        "/tenants/0/pool6",
        "/80 is not one of /32, /40, /48, /56, /64, /96",
    );
    assert_one(&p("2001:db8::/33"), "/tenants/0/pool6", "RFC 6052");
    assert_one(&p("2001:db8:0:0:100::/96"), "/tenants/0/pool6", "u-octet");
    assert_one(
        &p("2001:db8::1:0:0/64"),
        "/tenants/0/pool6",
        "host bits must be zero (did you mean 2001:db8::/64?)",
    );
    // Both a pool6 and tenant_id_prefix: an error only if they differ.
    let tip = "[tenant_id_prefix]\nbase = \"2001:db8:100::/48\"\n";
    assert_valid(&format!(
        "{tip}{}",
        tenant_toml("a", 7, "pool6 = \"2001:db8:100:7::/96\"")
    ));
    assert_one(
        &format!(
            "{tip}{}",
            tenant_toml("a", 7, "pool6 = \"2001:db8:100:8::/96\"")
        ),
        "/tenants/0/pool6",
        "2001:db8:100:7::/96",
    );
}

#[test]
fn pool6_of_two_tenants_must_not_overlap() {
    let two = format!(
        "{}{}",
        tenant_toml("a", 1, "pool6 = \"2001:db8::/32\""),
        tenant_toml(
            "b",
            2,
            "pool6 = \"2001:db8:64::/96\"\n[tenants.ipv4_side]\nvlan = 2"
        )
    );
    assert_one(
        &two,
        "/tenants/1/pool6",
        "overlaps pool6 2001:db8::/32 of tenant \"a\" (tenants[0].pool6)",
    );
    // Disjoint is fine.
    let two = format!(
        "{}{}",
        tenant_toml("a", 1, "pool6 = \"2001:db8:1::/96\""),
        tenant_toml(
            "b",
            2,
            "pool6 = \"2001:db8:2::/96\"\n[tenants.ipv4_side]\nvlan = 2"
        )
    );
    assert_valid(&two);
    // A derived pool6 clashing with another tenant's explicit one: blamed on the explicit side (later).
    let clash = format!(
        "[tenant_id_prefix]\nbase = \"2001:db8:100::/48\"\n{}{}",
        tenant_toml("a", 7, "[tenants.ipv4_side]\nvlan = 7"),
        tenant_toml(
            "b",
            8,
            "pool6 = \"2001:db8:100::/48\"\n[tenants.ipv4_side]\nvlan = 8"
        ),
    );
    let e = errors(&clash);
    // b's pool6 differs from its derived one *and* overlaps a's.
    assert_eq!(
        pointers(&e),
        vec!["/tenants/1/pool6", "/tenants/1/pool6"],
        "{e}"
    );
    assert!(
        e.0[1]
            .message
            .contains("(from tenant_id_prefix) of tenant \"a\" (tenants[0].id)"),
        "{e}"
    );
}

#[test]
fn eam_rules() {
    let eam = |v4: &str, v6: &str| format!("[[tenants.eamt]]\nipv4 = \"{v4}\"\nipv6 = \"{v6}\"\n");
    let one = |v4: &str, v6: &str| tenant_toml("a", 1, &eam(v4, v6));
    assert_valid(&one("192.0.2.0/24", "2001:db8:1::/120"));
    assert_one(
        &one("192.0.2.1/24", "2001:db8:1::/120"),
        "/tenants/0/eamt/0/ipv4",
        "did you mean 192.0.2.0/24?",
    );
    assert_one(
        &one("192.0.2.0/24", "2001:db8:1::1/120"),
        "/tenants/0/eamt/0/ipv6",
        "host bits",
    );
    // RFC 7757 §3.2: the IPv6 suffix may be longer than the IPv4 suffix (Appendix B: /26 <-> /64)...
    assert_valid(&one("192.0.2.128/26", "2001:db8:dddd::/64"));
    assert_valid(&one("192.0.2.192/29", "2001:db8:eeee:8::/62"));
    assert_valid(&one("0.0.0.0/0", "2001:db8:ff00::/40"));
    // ...but not shorter.
    assert_one(
        &one("192.0.2.0/24", "2001:db8:1::/124"),
        "/tenants/0/eamt/0/ipv6",
        "RFC 7757 §3.2",
    );
    assert_one(
        &one("192.0.2.0/24", "2001:db8:1::/124"),
        "/tenants/0/eamt/0/ipv6",
        "/120 or shorter",
    );
    // Duplicates within a tenant; nesting is fine.
    let dup4 = tenant_toml(
        "a",
        1,
        &format!(
            "{}{}",
            eam("192.0.2.0/24", "2001:db8:1::/120"),
            eam("192.0.2.0/24", "2001:db8:2::/120")
        ),
    );
    assert_one(
        &dup4,
        "/tenants/0/eamt/1/ipv4",
        "duplicate IPv4 prefix 192.0.2.0/24 (also eamt[0])",
    );
    let dup6 = tenant_toml(
        "a",
        1,
        &format!(
            "{}{}",
            eam("192.0.2.0/24", "2001:db8:1::/120"),
            eam("198.51.100.0/24", "2001:db8:1::/120")
        ),
    );
    assert_one(&dup6, "/tenants/0/eamt/1/ipv6", "duplicate IPv6 prefix");
    let nested = tenant_toml(
        "a",
        1,
        &format!(
            "{}{}",
            eam("192.0.2.0/24", "2001:db8:aaaa::/120"),
            eam("192.0.2.8/29", "2001:db8:bbbb::/125")
        ),
    );
    assert_valid(&nested);
}

#[test]
fn eam_ipv6_must_not_overlap_other_tenants() {
    let eam = |v4: &str, v6: &str| format!("[[tenants.eamt]]\nipv4 = \"{v4}\"\nipv6 = \"{v6}\"\n");
    // A's EAM inside B's pool6: blamed on the EAM even though it comes first.
    let doc = format!(
        "{}{}",
        tenant_toml("a", 1, &eam("192.0.2.0/24", "2001:db8:64::100/120")),
        tenant_toml(
            "b",
            2,
            "pool6 = \"2001:db8:64::/96\"\n[tenants.ipv4_side]\nvlan = 2"
        ),
    );
    assert_one(
        &doc,
        "/tenants/0/eamt/0/ipv6",
        "overlaps pool6 2001:db8:64::/96 of tenant \"b\"",
    );
    // EAM vs EAM: the later one.
    let doc = format!(
        "{}{}",
        tenant_toml("a", 1, &eam("192.0.2.0/24", "2001:db8:1::/120")),
        tenant_toml(
            "b",
            2,
            &format!(
                "{}[tenants.ipv4_side]\nvlan = 2",
                eam("192.0.2.128/25", "2001:db8:1::80/121")
            )
        ),
    );
    assert_one(&doc, "/tenants/1/eamt/0/ipv6", "tenants[0].eamt[0].ipv6");
    // Within one tenant, an EAM inside its own pool6 is fine.
    assert_valid(&tenant_toml(
        "a",
        1,
        &format!(
            "pool6 = \"2001:db8:64::/96\"\n{}",
            eam("192.0.2.0/24", "2001:db8:64::100/120")
        ),
    ));
}

#[test]
fn ipv4_side_claims() {
    let eam = |v4: &str, v6: &str| format!("[[tenants.eamt]]\nipv4 = \"{v4}\"\nipv6 = \"{v6}\"\n");
    let side = |vlan: Option<u16>, iface: Option<&str>| {
        let mut s = String::from("[tenants.ipv4_side]\n");
        if let Some(v) = vlan {
            s += &format!("vlan = {v}\n");
        }
        if let Some(i) = iface {
            s += &format!("interface = \"{i}\"\n");
        }
        s
    };
    // The same 10.0.0.0/24 on two VLANs: fine.
    let ok = format!(
        "{}{}",
        tenant_toml(
            "a",
            1,
            &format!(
                "{}{}",
                eam("10.0.0.0/24", "2001:db8:a::/120"),
                side(Some(10), None)
            )
        ),
        tenant_toml(
            "b",
            2,
            &format!(
                "{}{}",
                eam("10.0.0.0/24", "2001:db8:b::/120"),
                side(Some(20), None)
            )
        ),
    );
    assert_valid(&ok);
    // The same key: an error at the later tenant's entry.
    let same = format!(
        "{}{}",
        tenant_toml(
            "a",
            1,
            &format!(
                "{}{}",
                eam("10.0.0.0/24", "2001:db8:a::/120"),
                side(Some(10), Some("v4a"))
            )
        ),
        tenant_toml(
            "b",
            2,
            &format!(
                "{}{}",
                eam("10.0.0.128/25", "2001:db8:b::/121"),
                side(Some(10), Some("v4a"))
            )
        ),
    );
    assert_one(
        &same,
        "/tenants/1/eamt/0/ipv4",
        "same ipv4_side (vlan 10, interface \"v4a\")",
    );
    // Both keyless with a pool6: both claim 0.0.0.0/0.
    let keyless = format!(
        "{}{}",
        tenant_toml("a", 1, "pool6 = \"2001:db8:1::/96\""),
        tenant_toml("b", 2, "pool6 = \"2001:db8:2::/96\""),
    );
    assert_one(&keyless, "/tenants/1/ipv4_side", "both have a pool6");
    // One pool6 and one EAM-only tenant on the same key: the EAM tenant wins its prefixes, fine.
    let mixed = format!(
        "{}{}",
        tenant_toml("a", 1, "pool6 = \"2001:db8:1::/96\""),
        tenant_toml("b", 2, &eam("10.0.0.0/24", "2001:db8:b::/120")),
    );
    assert_valid(&mixed);
    // Different interfaces, same VLAN: fine.
    let ifaces = format!(
        "{}{}",
        tenant_toml(
            "a",
            1,
            &format!(
                "pool6 = \"2001:db8:1::/96\"\n{}",
                side(Some(10), Some("v4a"))
            )
        ),
        tenant_toml(
            "b",
            2,
            &format!(
                "pool6 = \"2001:db8:2::/96\"\n{}",
                side(Some(10), Some("v4b"))
            )
        ),
    );
    assert_valid(&ifaces);
}

#[test]
fn ipv4_side_keys() {
    let side = |s: &str| tenant_toml("a", 1, &format!("[tenants.ipv4_side]\n{s}"));
    assert_valid(&side("vlan = 1"));
    assert_valid(&side("vlan = 4094\ninterface = \"eth0.4094\""));
    assert_one(&side("vlan = 0"), "/tenants/0/ipv4_side/vlan", "1..=4094");
    assert_one(
        &side("vlan = 4095"),
        "/tenants/0/ipv4_side/vlan",
        "1..=4094",
    );
    assert_one(
        &side("interface = \"\""),
        "/tenants/0/ipv4_side/interface",
        "interface name",
    );
    assert_one(
        &side("interface = \"sixteen-chars-xx\""),
        "/tenants/0/ipv4_side/interface",
        "1..=15",
    );
    assert_one(
        &side("interface = \"a/b\""),
        "/tenants/0/ipv4_side/interface",
        "interface name",
    );
    assert_valid(&side("interface = \"fifteen-chars-x\""));
}

#[test]
fn mtu_options() {
    let opt = |s: &str| tenant_toml("a", 1, &format!("[tenants.options]\n{s}"));
    assert_valid(&opt(
        "lowest_ipv6_mtu = 1280\nipv6_mtu = 1280\nipv4_mtu = 68\nmtu_plateaus = [68]",
    ));
    assert_one(
        &opt("lowest_ipv6_mtu = 1279"),
        "/tenants/0/options/lowest_ipv6_mtu",
        "1280",
    );
    assert_one(
        &opt("lowest_ipv6_mtu = 1500\nipv6_mtu = 1400"),
        "/tenants/0/options/lowest_ipv6_mtu",
        "larger than ipv6_mtu (1400)",
    );
    assert_one(&opt("ipv4_mtu = 67"), "/tenants/0/options/ipv4_mtu", "68");
    assert_one(
        &opt("mtu_plateaus = []"),
        "/tenants/0/options/mtu_plateaus",
        "empty",
    );
    assert_one(
        &opt("mtu_plateaus = [1500, 67, 68]"),
        "/tenants/0/options/mtu_plateaus/1",
        "68..=65535",
    );
    let e = errors(&opt("ipv6_mtu = 1000\nlowest_ipv6_mtu = 1000"));
    assert_eq!(
        pointers(&e),
        vec![
            "/tenants/0/options/lowest_ipv6_mtu",
            "/tenants/0/options/ipv6_mtu"
        ]
    );
}

#[test]
fn rfc6791_pools_need_zero_host_bits() {
    assert_one(
        &tenant_toml(
            "a",
            1,
            "rfc6791_v4 = [\"192.0.2.0/29\", \"192.0.2.201/29\"]",
        ),
        "/tenants/0/rfc6791_v4/1",
        "192.0.2.200/29",
    );
    assert_one(
        &tenant_toml("a", 1, "rfc6791_v6 = [\"2001:db8::1/120\"]"),
        "/tenants/0/rfc6791_v6/0",
        "host bits",
    );
}

#[test]
fn every_error_is_reported() {
    let doc = r#"
[tenant_id_prefix]
base = "2001:db8:100::/56"

[[tenants]]
name = "bad name"
id = 70000
pool6 = "2001:db8::/80"
[tenants.ipv4_side]
vlan = 5000
[[tenants.eamt]]
ipv4 = "192.0.2.1/24"
ipv6 = "2001:db8:1::/124"
[tenants.options]
ipv4_mtu = 10

[[tenants]]
name = "ok"
id = 70000
[[tenants.eamt]]
ipv4 = "198.51.100.0/24"
ipv6 = "2001:db8:2::/120"
[[tenants.eamt]]
ipv4 = "198.51.100.0/24"
ipv6 = "2001:db8:3::/120"
"#;
    let e = errors(doc);
    let got: HashSet<&str> = pointers(&e).into_iter().collect();
    let want: HashSet<&str> = [
        "/tenant_id_prefix/base",
        "/tenants/0/name",
        "/tenants/0/id",
        "/tenants/0/pool6",
        "/tenants/0/ipv4_side/vlan",
        "/tenants/0/eamt/0/ipv4",
        "/tenants/0/eamt/0/ipv6",
        "/tenants/0/options/ipv4_mtu",
        "/tenants/1/id",
        "/tenants/1/eamt/1/ipv4",
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{e}");
    // Both problems of tenants[1].id: the duplicate and the 16-bit limit.
    assert_eq!(e.at("/tenants/1/id").count(), 2, "{e}");
    // One line per error, each starting with its dotted path.
    let text = e.to_string();
    assert_eq!(text.lines().count(), e.len());
    assert!(
        text.lines()
            .any(|l| l.starts_with("tenants[0].eamt[0].ipv6: ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("tenant_id_prefix.base: ")),
        "{text}"
    );
    // from_toml_str reports the same.
    assert_eq!(Config::from_toml_str(doc).unwrap_err(), e);
}

#[test]
fn nesting_pairs_finds_every_nested_pair() {
    let b = |s: &str| Bits::v6(&s.parse().unwrap());
    let items = [
        b("2001:db8::/32"),
        b("2001:db8:1::/48"),
        b("2001:db9::/32"),
        b("2001:db8:1::/64"),
        b("::/0"),
    ];
    let mut pairs = Vec::new();
    nesting_pairs(&items, |a, c| pairs.push((a, c)));
    pairs.sort_unstable();
    assert_eq!(
        pairs,
        vec![(0, 1), (0, 3), (1, 3), (4, 0), (4, 1), (4, 2), (4, 3)]
    );
}

// --- dataplane ---------------------------------------------------------------------------------------------

const DP_TWO_ARM: &str = r#"
[dataplane]
interfaces = [
    { name = "xa6", role = "ipv6" },
    { name = "xa4", role = "ipv4", next_hop_mac = "02:00:00:00:00:04" },
]
"#;

#[test]
fn dataplane_defaults_and_round_trip() {
    let cfg = assert_valid(DP_TWO_ARM);
    let dp = cfg.dataplane.as_ref().unwrap();
    assert_eq!(dp.queues, 1);
    assert_eq!(dp.batch_size, 64);
    assert_eq!(dp.poll_mode, PollMode::Interrupt);
    assert_eq!(dp.poll_timeout_ms, 100);
    assert_eq!(dp.ring_size, 8192);
    assert_eq!(dp.handoff_ring_size, 256);
    assert!(dp.cores.is_empty());
    assert_eq!(dp.interfaces[1].role, InterfaceRole::Ipv4);
    assert_eq!(
        parse_mac(dp.interfaces[1].next_hop_mac.as_deref().unwrap()),
        Some([2, 0, 0, 0, 0, 4])
    );
    assert_eq!(Config::parse_toml(&cfg.to_toml_string()).unwrap(), cfg);
    assert_eq!(Config::parse_json(&cfg.to_json_string()).unwrap(), cfg);
    assert_valid(
        "[dataplane]\ninterfaces = [{ name = \"eth1\", role = \"both\" }]\npoll_mode = \"busy\"\ncores = [1]\n",
    );
}

#[test]
fn dataplane_errors_name_the_field() {
    assert_one(
        "[dataplane]\ninterfaces = []\n",
        "/dataplane/interfaces",
        "at least one",
    );
    assert_one(
        "[dataplane]\ninterfaces = [{ name = \"a\", role = \"ipv6\" }]\n",
        "/dataplane/interfaces",
        "no interface carries IPv4",
    );
    assert_one(
        "[dataplane]\ninterfaces = [{ name = \"a\", role = \"both\" }, { name = \"b\", role = \"ipv4\" }]\n",
        "/dataplane/interfaces",
        "pick one topology",
    );
    assert_one(
        "[dataplane]\ninterfaces = [{ name = \"a\", role = \"ipv6\" }, { name = \"a\", role = \"ipv4\" }]\n",
        "/dataplane/interfaces/1/name",
        "duplicate interface",
    );
    let e = errors(
        "[dataplane]\ninterfaces = [{ name = \"a\", role = \"both\" }, { name = \"b\", role = \"both\" }]\n",
    );
    assert_eq!(pointers(&e), vec!["/dataplane/interfaces/1/role"], "{e}");
    assert_one(
        "[dataplane]\ninterfaces = [{ name = \"a/b\", role = \"both\" }]\n",
        "/dataplane/interfaces/0/name",
        "not an interface name",
    );
    assert_one(
        "[dataplane]\ninterfaces = [{ name = \"a\", role = \"both\", next_hop_mac = \"02:00:00:00:00\" }]\n",
        "/dataplane/interfaces/0/next_hop_mac",
        "not a MAC",
    );
    let one_arm = "[dataplane]\ninterfaces = [{ name = \"a\", role = \"both\" }]\n";
    assert_one(
        &format!("{one_arm}queues = 0\n"),
        "/dataplane/queues",
        "outside",
    );
    assert_one(
        &format!("{one_arm}batch_size = 2000\n"),
        "/dataplane/batch_size",
        "outside",
    );
    assert_one(
        &format!("{one_arm}poll_timeout_ms = 0\n"),
        "/dataplane/poll_timeout_ms",
        "outside",
    );
    assert_one(
        &format!("{one_arm}control_socket = \"run/dp.sock\"\n"),
        "/dataplane/control_socket",
        "absolute path",
    );
    assert_one(
        &format!("{one_arm}ring_size = 3000\n"),
        "/dataplane/ring_size",
        "power of two",
    );
    assert_one(
        &format!("{one_arm}ring_size = 65536\n"),
        "/dataplane/ring_size",
        "power of two",
    );
    assert_one(
        &format!("{one_arm}handoff_ring_size = 8\n"),
        "/dataplane/handoff_ring_size",
        "outside",
    );
    assert_one(
        &format!("{one_arm}cores = [1, 5000]\n"),
        "/dataplane/cores/1",
        "CPU number",
    );
    let e = Config::parse_toml("[dataplane]\ninterfaces = [{ name = \"a\", role = \"v6\" }]\n")
        .unwrap_err();
    assert_eq!(pointers(&e), vec!["/dataplane/interfaces/0/role"], "{e}");
    let e = Config::parse_toml("[dataplane]\ninterfaces = []\npoll = 1\n").unwrap_err();
    assert!(e.to_string().contains("poll"), "{e}");
}

#[test]
fn mac_parsing() {
    assert_eq!(
        parse_mac("AA:bb:0c:00:00:01"),
        Some([0xaa, 0xbb, 0x0c, 0, 0, 1])
    );
    for bad in [
        "",
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:ff:00",
        "aa:bb:cc:dd:ee:f",
        "gg:bb:cc:dd:ee:ff",
    ] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
}
