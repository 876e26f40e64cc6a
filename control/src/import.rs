//! `xlat64 import --from tayga tayga.conf`: converts another translator's configuration into ours, saying
//! what cannot be converted. The result is validated like any candidate before it is printed.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use mgmt_api::config::{EamEntry, Tenant};
use mgmt_api::{Config, ConfigErrors};

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

#[cfg(test)]
mod tests {
    use super::*;

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
