//! `xlat64 import --from jool FILE.json` and `--from tayga tayga.conf`: convert another translator's
//! configuration into ours, saying what cannot be converted. The result is validated like any candidate before
//! it is printed.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use mgmt_api::config::{
    EamEntry, EamHairpinMode, Filtering, Nat64Protocol, Pool4Entry, PortRange, StaticBibEntry,
    Tenant, TenantMode,
};
use mgmt_api::{Config, ConfigErrors};
use serde_json::Value;

/// A converted configuration and the notes about what was dropped or changed.
#[derive(Debug)]
pub struct Imported {
    pub config: Config,
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    /// A field of a JSON input, named by its path.
    #[error("{0}")]
    Content(String),
    #[error("the converted configuration is not valid:\n{0}")]
    Invalid(ConfigErrors),
}

fn v4_prefix(s: &str) -> Option<Ipv4Net> {
    s.parse::<Ipv4Net>()
        .ok()
        .or_else(|| s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from))
}

fn v6_prefix(s: &str) -> Option<Ipv6Net> {
    s.parse::<Ipv6Net>()
        .ok()
        .or_else(|| s.parse::<Ipv6Addr>().ok().map(Ipv6Net::from))
}

/// TAYGA's `tayga.conf` (one SIIT tenant, named `tayga`): `prefix` → `pool6`, `ipv4-addr` / `ipv6-addr` → the
/// tenant's own addresses (sources of the ICMP errors it originates), `map` → EAM entries, `wkpf-strict` →
/// `options.allow_wkp_non_global`. `dynamic-pool` has no equivalent (xlat64's SIIT has no dynamic address
/// assignment) and is reported, as are the host settings (`tun-device`, `data-dir`, ...).
pub fn from_tayga(text: &str) -> Result<Imported, ImportError> {
    let mut t = Tenant::new("tayga", 1);
    let mut notes = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        let bad = |m: String| ImportError::Syntax { line, message: m };
        let arg = |n: usize| -> Result<&str, ImportError> {
            words
                .get(n)
                .copied()
                .ok_or_else(|| bad(format!("{} needs {n} argument(s)", words[0])))
        };
        match words[0] {
            "prefix" => {
                let p = arg(1)?;
                t.pool6 = Some(
                    p.parse()
                        .map_err(|_| bad(format!("prefix {p:?} is not an IPv6 prefix")))?,
                );
            }
            "ipv4-addr" => {
                let a = arg(1)?;
                t.own_ipv4 = Some(
                    a.parse()
                        .map_err(|_| bad(format!("ipv4-addr {a:?} is not an IPv4 address")))?,
                );
            }
            "ipv6-addr" => {
                let a = arg(1)?;
                t.own_ipv6 = Some(
                    a.parse()
                        .map_err(|_| bad(format!("ipv6-addr {a:?} is not an IPv6 address")))?,
                );
            }
            "map" => {
                let (a, b) = (arg(1)?, arg(2)?);
                let ipv4 = v4_prefix(a).ok_or_else(|| bad(format!("map: {a:?} is not IPv4")))?;
                let ipv6 = v6_prefix(b).ok_or_else(|| bad(format!("map: {b:?} is not IPv6")))?;
                t.eamt.push(EamEntry { ipv4, ipv6 });
            }
            "wkpf-strict" => {
                let v = arg(1)?;
                t.options.allow_wkp_non_global = match v {
                    "yes" | "1" | "true" => false,
                    "no" | "0" | "false" => true,
                    _ => return Err(bad(format!("wkpf-strict {v:?} is not yes or no"))),
                };
            }
            "dynamic-pool" => notes.push(format!(
                "line {line}: dynamic-pool {} not converted: xlat64's SIIT maps addresses statically (pool6, \
                 EAM entries); for many IPv6 hosts sharing IPv4 addresses use a NAT64 tenant (mode = \"nat64\", pool4)",
                words.get(1).unwrap_or(&"")
            )),
            "tun-device" | "data-dir" => notes.push(format!(
                "line {line}: {} ignored: xlat64 takes packets from the NIC (AF_XDP), not a tun device, and keeps no \
                 dynamic-map state",
                words[0]
            )),
            "strict-frag-hdr" | "udp-cksum-mode" | "offlink-mtu" | "log" => notes.push(format!(
                "line {line}: {} not converted: see docs/config.md (options) for xlat64's behaviour",
                words[0]
            )),
            other => notes.push(format!("line {line}: unknown directive {other:?} ignored")),
        }
    }
    let mut config = Config {
        tenants: vec![t],
        ..Config::default()
    };
    config.validate().map_err(ImportError::Invalid)?;
    config.normalize();
    Ok(Imported { config, notes })
}

/// `1:00:00`, `5:30` or `90` → seconds.
fn jool_duration(s: &str) -> Option<u32> {
    s.split(':').try_fold(0u32, |acc, part| {
        Some(acc.checked_mul(60)? + part.trim().parse::<u32>().ok()?)
    })
}

fn jool_ports(s: &str) -> Option<PortRange> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    Some(PortRange::new(
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
    ))
}

fn jool_protocol(s: &str) -> Option<Nat64Protocol> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Some(Nat64Protocol::Tcp),
        "udp" => Some(Nat64Protocol::Udp),
        "icmp" => Some(Nat64Protocol::Icmp),
        _ => None,
    }
}

/// Jool's atomic configuration (the JSON of `jool file handle` / `jool_siit file handle`), as one tenant named
/// after the instance. A file with `pool4` or `bib` is a NAT64 instance, otherwise SIIT. Converted: `pool6`,
/// the translation options, the RFC 6791 prefixes, `eamt`, `pool4` (Jool's per-protocol entries merged per
/// prefix), `bib`, the NAT64 timeouts, `address-dependent-filtering`, `logging-session`. Everything else
/// (`denylist4`, marks, session synchronization, ...) is reported.
pub fn from_jool(text: &str) -> Result<Imported, ImportError> {
    let syntax = |m: String| ImportError::Syntax {
        line: 0,
        message: m,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| ImportError::Syntax {
        line: e.line(),
        message: e.to_string(),
    })?;
    let obj = doc
        .as_object()
        .ok_or_else(|| syntax("not a JSON object".into()))?;
    let name = obj
        .get("instance")
        .and_then(Value::as_str)
        .unwrap_or("jool")
        .to_owned();
    let mut t = Tenant::new(name, 1);
    let mut notes = Vec::new();
    let nat64 = obj.contains_key("pool4") || obj.contains_key("bib");
    if nat64 {
        t.mode = TenantMode::Nat64;
    }
    let str_of = |v: &Value, what: &str| -> Result<String, ImportError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| syntax(format!("{what}: expected a string, found {v}")))
    };
    let bool_of = |v: &Value, what: &str| -> Result<bool, ImportError> {
        v.as_bool()
            .ok_or_else(|| syntax(format!("{what}: expected true or false, found {v}")))
    };
    for (key, v) in obj {
        match key.as_str() {
            "comment" | "instance" | "pool4" | "bib" | "eamt" => {}
            "framework" => notes.push(format!(
                "framework {v} ignored: xlat64 takes packets from the NIC (AF_XDP)"
            )),
            "global" => {
                let g = v
                    .as_object()
                    .ok_or_else(|| syntax("global: expected an object".into()))?;
                for (k, v) in g {
                    let w = format!("global.{k}");
                    match k.as_str() {
                        "comment" => {}
                        "pool6" => {
                            let p = str_of(v, &w)?;
                            t.pool6 = Some(
                                p.parse()
                                    .map_err(|_| syntax(format!("{w}: {p:?} is not an IPv6 prefix")))?,
                            );
                        }
                        "zeroize-traffic-class" => t.options.zeroize_traffic_class = bool_of(v, &w)?,
                        "override-tos" => t.options.override_tos = bool_of(v, &w)?,
                        "tos" => {
                            t.options.tos = v
                                .as_u64()
                                .and_then(|n| u8::try_from(n).ok())
                                .ok_or_else(|| syntax(format!("{w}: expected 0..=255")))?
                        }
                        "mtu-plateaus" => {
                            t.options.mtu_plateaus = v
                                .as_array()
                                .and_then(|a| {
                                    a.iter()
                                        .map(|n| n.as_u64().and_then(|n| u16::try_from(n).ok()))
                                        .collect::<Option<Vec<u16>>>()
                                })
                                .ok_or_else(|| syntax(format!("{w}: expected a list of MTUs")))?
                        }
                        "lowest-ipv6-mtu" => {
                            t.options.lowest_ipv6_mtu = v
                                .as_u64()
                                .and_then(|n| u16::try_from(n).ok())
                                .ok_or_else(|| syntax(format!("{w}: expected an MTU")))?
                        }
                        "amend-udp-checksum-zero" => {
                            t.options.amend_udp_checksum_zero = bool_of(v, &w)?
                        }
                        "randomize-rfc6791-addresses" => t.options.randomize_rfc6791 = bool_of(v, &w)?,
                        "eam-hairpin-mode" => {
                            t.options.eam_hairpin_mode = match str_of(v, &w)?.as_str() {
                                "off" => EamHairpinMode::Off,
                                "simple" => EamHairpinMode::Simple,
                                "intrinsic" => EamHairpinMode::Intrinsic,
                                other => return Err(syntax(format!("{w}: unknown mode {other:?}"))),
                            }
                        }
                        "rfc6791v4-prefix" if !v.is_null() => {
                            let p = str_of(v, &w)?;
                            t.rfc6791_v4 = vec![v4_prefix(&p)
                                .ok_or_else(|| syntax(format!("{w}: {p:?} is not IPv4")))?];
                        }
                        "rfc6791v6-prefix" if !v.is_null() => {
                            let p = str_of(v, &w)?;
                            t.rfc6791_v6 = vec![v6_prefix(&p)
                                .ok_or_else(|| syntax(format!("{w}: {p:?} is not IPv6")))?];
                        }
                        "rfc6791v4-prefix" | "rfc6791v6-prefix" => {}
                        "udp-timeout" | "tcp-est-timeout" | "tcp-trans-timeout" | "icmp-timeout" => {
                            let d = str_of(v, &w)?;
                            let secs = jool_duration(&d)
                                .ok_or_else(|| syntax(format!("{w}: {d:?} is not H:M:S")))?;
                            let to = &mut t.nat64.timeouts;
                            match k.as_str() {
                                "udp-timeout" => to.udp = secs,
                                "tcp-est-timeout" => to.tcp_established = secs,
                                "tcp-trans-timeout" => to.tcp_transitory = secs,
                                _ => to.icmp = secs,
                            }
                        }
                        "address-dependent-filtering" => {
                            t.nat64.filtering = if bool_of(v, &w)? {
                                Filtering::AddressDependent
                            } else {
                                Filtering::EndpointIndependent
                            }
                        }
                        "logging-session" => t.nat64.log_sessions = bool_of(v, &w)?,
                        "manually-enabled" => {}
                        _ => notes.push(format!("{w} = {v} not converted (no xlat64 equivalent)")),
                    }
                }
            }
            "denylist4" | "blacklist4" => notes.push(format!(
                "{key} not converted: xlat64 translates only what its tables map; leave those addresses out of \
                 pool6/EAM, or filter them upstream"
            )),
            other => notes.push(format!("{other} not converted (unknown to this importer)")),
        }
    }
    for (i, e) in obj
        .get("eamt")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let w = format!("eamt[{i}]");
        let get = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| syntax(format!("{w}: no {k:?}")))
        };
        let (a, b) = (get("ipv4 prefix")?, get("ipv6 prefix")?);
        t.eamt.push(EamEntry {
            ipv4: v4_prefix(a).ok_or_else(|| syntax(format!("{w}: {a:?} is not IPv4")))?,
            ipv6: v6_prefix(b).ok_or_else(|| syntax(format!("{w}: {b:?} is not IPv6")))?,
        });
    }
    // Jool: one entry per (protocol, prefix, range); xlat64: one entry per prefix with a range per protocol.
    let mut seen: Vec<(Ipv4Net, Vec<Nat64Protocol>)> = Vec::new();
    for (i, e) in obj
        .get("pool4")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let w = format!("pool4[{i}]");
        let proto = e
            .get("protocol")
            .and_then(Value::as_str)
            .and_then(jool_protocol)
            .ok_or_else(|| syntax(format!("{w}: protocol must be TCP, UDP or ICMP")))?;
        let p = e.get("prefix").and_then(Value::as_str).unwrap_or("");
        let prefix = v4_prefix(p).ok_or_else(|| syntax(format!("{w}: {p:?} is not IPv4")))?;
        let range = match e.get("port range").and_then(Value::as_str) {
            Some(r) => jool_ports(r).ok_or_else(|| syntax(format!("{w}: bad port range {r:?}")))?,
            // Jool's defaults.
            None if proto == Nat64Protocol::Icmp => PortRange::new(0, 65535),
            None => PortRange::new(61001, 65535),
        };
        if e.get("mark").and_then(Value::as_u64).unwrap_or(0) != 0 {
            notes.push(format!(
                "{w}: mark not converted (xlat64 tells tenants apart by VLAN/interface)"
            ));
        }
        if e.get("max-iterations").is_some() {
            notes.push(format!("{w}: max-iterations not converted"));
        }
        let idx = match t.pool4.iter().position(|x| x.prefix == prefix) {
            Some(j) => j,
            None => {
                t.pool4.push(Pool4Entry::new(prefix));
                seen.push((prefix, Vec::new()));
                t.pool4.len() - 1
            }
        };
        let entry = &mut t.pool4[idx];
        match proto {
            Nat64Protocol::Tcp => entry.tcp = range,
            Nat64Protocol::Udp => entry.udp = range,
            Nat64Protocol::Icmp => entry.icmp = range,
        }
        if let Some((_, ps)) = seen.iter_mut().find(|(p, _)| *p == prefix) {
            if ps.contains(&proto) {
                notes.push(format!(
                    "{w}: a second {proto:?} range for {prefix}: only the last is kept"
                ));
            }
            ps.push(proto);
        }
    }
    for (prefix, ps) in &seen {
        for p in Nat64Protocol::ALL {
            if !ps.contains(&p) {
                notes.push(format!(
                    "pool4 {prefix}: Jool had no {p:?} entry for it; xlat64 gives it the default {p:?} range"
                ));
            }
        }
    }
    for (i, e) in obj
        .get("bib")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let w = format!("bib[{i}]");
        let protocol = e
            .get("protocol")
            .and_then(Value::as_str)
            .and_then(jool_protocol)
            .ok_or_else(|| syntax(format!("{w}: protocol must be TCP, UDP or ICMP")))?;
        let get = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| syntax(format!("{w}: no {k:?}")))
        };
        let (a4, a6) = (get("ipv4 address")?, get("ipv6 address")?);
        t.static_bib.push(StaticBibEntry {
            protocol,
            ipv4: a4
                .parse()
                .map_err(|m: String| syntax(format!("{w}: {m}")))?,
            ipv6: a6
                .parse()
                .map_err(|m: String| syntax(format!("{w}: {m}")))?,
        });
    }
    if !nat64 && t.nat64 != Default::default() {
        notes.push("NAT64 settings ignored: no pool4 or bib, so this is a SIIT instance".into());
    }
    let mut config = Config {
        tenants: vec![t],
        ..Config::default()
    };
    if !nat64 {
        config.tenants[0].nat64 = Default::default();
    }
    config.validate().map_err(ImportError::Invalid)?;
    config.normalize();
    Ok(Imported { config, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jool's documented sample NAT64 file (trimmed), with our addresses.
    const JOOL_NAT64: &str = r#"{
        "comment": "NAT64",
        "instance": "edge",
        "framework": "netfilter",
        "global": {
            "pool6": "2001:db8:64::/96",
            "manually-enabled": false,
            "zeroize-traffic-class": true,
            "tos": 254,
            "udp-timeout": "1:00:00",
            "tcp-est-timeout": "10:00:00",
            "tcp-trans-timeout": "5:00",
            "icmp-timeout": "5:30",
            "address-dependent-filtering": true,
            "ss-enabled": true
        },
        "pool4": [
            {"mark": 1, "protocol": "UDP", "prefix": "192.0.2.1", "port range": "61001-62000", "max-iterations": 1500},
            {"comment": "optional fields", "protocol": "TCP", "prefix": "192.0.2.2/31"},
            {"protocol": "ICMP", "prefix": "192.0.2.1/32", "port range": "1000-2000"}
        ],
        "bib": [
            {"protocol": "TCP", "ipv6 address": "2001:db8::1#80", "ipv4 address": "192.0.2.2#80"},
            {"protocol": "UDP", "ipv6 address": "2001:db8::2#10000", "ipv4 address": "192.0.2.1#61500"}
        ]
    }"#;

    const JOOL_SIIT: &str = r#"{
        "instance": "dc",
        "framework": "netfilter",
        "global": {"pool6": "2001:db8:64::/96", "eam-hairpin-mode": "intrinsic", "rfc6791v4-prefix": null},
        "eamt": [
            {"ipv6 prefix": "2001:db8:1::/128", "ipv4 prefix": "192.0.2.0"},
            {"ipv6 prefix": "2001:db8:3::/124", "ipv4 prefix": "192.0.2.16/28"}
        ],
        "denylist4": ["198.51.100.0"]
    }"#;

    #[test]
    fn jool_nat64_converts() {
        let r = from_jool(JOOL_NAT64).unwrap();
        let t = &r.config.tenants[0];
        assert_eq!(t.name, "edge");
        assert_eq!(t.mode, TenantMode::Nat64);
        assert_eq!(t.pool4.len(), 2);
        let p1 = t
            .pool4
            .iter()
            .find(|p| p.prefix == "192.0.2.1/32".parse().unwrap())
            .unwrap();
        assert_eq!(p1.udp, PortRange::new(61001, 62000));
        assert_eq!(p1.icmp, PortRange::new(1000, 2000));
        assert_eq!(t.static_bib.len(), 2);
        assert_eq!(t.nat64.timeouts.udp, 3600);
        assert_eq!(t.nat64.timeouts.tcp_established, 36000);
        assert_eq!(t.nat64.filtering, Filtering::AddressDependent);
        assert!(t.options.zeroize_traffic_class);
        let notes = r.notes.join(
            "
",
        );
        assert!(notes.contains("ss-enabled"), "{notes}");
        assert!(notes.contains("mark"), "{notes}");
        assert_eq!(
            Config::from_toml_str(&r.config.to_toml_string()).unwrap(),
            r.config
        );
    }

    #[test]
    fn jool_siit_converts() {
        let r = from_jool(JOOL_SIIT).unwrap();
        let t = &r.config.tenants[0];
        assert_eq!(t.mode, TenantMode::Siit);
        assert_eq!(t.eamt.len(), 2);
        assert_eq!(t.eamt[0].ipv4, "192.0.2.0/32".parse().unwrap());
        assert_eq!(t.options.eam_hairpin_mode, EamHairpinMode::Intrinsic);
        assert!(
            r.notes.iter().any(|n| n.starts_with("denylist4")),
            "{:?}",
            r.notes
        );
        assert!(from_jool("[").is_err());
    }

    const TAYGA: &str = "\
# tayga.conf
tun-device nat64
ipv4-addr 192.0.2.1
ipv6-addr 2001:db8:1::2
prefix 2001:db8:64::/96
dynamic-pool 192.0.2.128/25
data-dir /var/spool/tayga
map 192.0.2.42 2001:db8:1:4444::1
map 198.51.100.0/24 2001:db8:2::/120   # a prefix map
";

    #[test]
    fn tayga_conf_converts_with_notes() {
        let r = from_tayga(TAYGA).unwrap();
        let t = &r.config.tenants[0];
        assert_eq!(t.pool6, Some("2001:db8:64::/96".parse().unwrap()));
        assert_eq!(t.own_ipv4, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(t.eamt.len(), 2);
        assert_eq!(t.eamt[0].ipv4, "192.0.2.42/32".parse().unwrap());
        assert_eq!(t.eamt[0].ipv6, "2001:db8:1:4444::1/128".parse().unwrap());
        assert_eq!(r.notes.len(), 3, "{:?}", r.notes);
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("line 6: dynamic-pool")),
            "{:?}",
            r.notes
        );
        // The TOML parses back to the same configuration.
        assert_eq!(
            Config::from_toml_str(&r.config.to_toml_string()).unwrap(),
            r.config
        );
    }

    #[test]
    fn tayga_errors_name_the_line() {
        let e = from_tayga("prefix 2001:db8::/96\nmap 192.0.2.1\n").unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        let e = from_tayga("prefix 2001:db8::/95\n").unwrap_err();
        assert!(matches!(e, ImportError::Invalid(_)), "{e}");
    }
}
