use super::*;
use std::path::PathBuf;

pub(crate) const DEMO_TOML: &str = include_str!("../../../deploy/examples/demo.toml");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xlat64-service-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn demo() -> Config {
    Config::from_toml_str(DEMO_TOML).unwrap()
}

fn eam(v4: &str, v6: &str) -> EamEntry {
    EamEntry {
        ipv4: v4.parse().unwrap(),
        ipv6: v6.parse().unwrap(),
    }
}

const NOW: WriteOptions = WriteOptions {
    expected_version: None,
    dry_run: false,
};

#[test]
fn initial_config_is_version_1_and_survives_a_restart() {
    let dir = tmpdir("restart");
    let s = Service::open(&dir, 5, Some(demo())).unwrap();
    assert_eq!(s.current().version, 1);
    let w = s
        .create_eam_entry("demo", eam("192.0.3.0/24", "2001:db8:7::/120"), NOW)
        .unwrap();
    assert_eq!((w.previous_version, w.version, w.changed), (1, 2, true));
    drop(s);
    // The initial config is ignored once the store has versions.
    let s = Service::open(&dir, 5, Some(Config::default())).unwrap();
    assert_eq!(s.current().version, 2);
    assert_eq!(s.eam_entries("demo").unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn empty_store_starts_at_version_0() {
    let dir = tmpdir("empty");
    let s = Service::open(&dir, 5, None).unwrap();
    assert_eq!(s.current().version, 0);
    assert!(s.versions().versions.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_candidate_changes_nothing_and_names_the_field() {
    let dir = tmpdir("invalid");
    let s = Service::open(&dir, 5, Some(demo())).unwrap();
    let mut bad = demo();
    bad.tenants[0].pool6 = Some("2001:db8:64::/95".parse().unwrap());
    let e = s.put_config(bad, NOW).unwrap_err();
    let ServiceError::Invalid(errs) = e else {
        panic!("{e}")
    };
    assert!(errs.at("/tenants/0/pool6").next().is_some(), "{errs}");
    assert_eq!(s.current().version, 1);
    assert_eq!(s.versions().versions.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn conflict_dry_run_and_unchanged() {
    let dir = tmpdir("conflict");
    let s = Service::open(&dir, 5, Some(demo())).unwrap();
    let stale = WriteOptions {
        expected_version: Some(7),
        dry_run: false,
    };
    let e = s.delete_tenant("demo", stale).unwrap_err();
    assert!(
        matches!(
            e,
            ServiceError::Conflict {
                expected: 7,
                current: 1
            }
        ),
        "{e}"
    );
    let dry = WriteOptions {
        expected_version: Some(1),
        dry_run: true,
    };
    let w = s.delete_tenant("demo", dry).unwrap();
    assert_eq!((w.version, w.dry_run, w.changed), (2, true, true));
    assert_eq!(s.current().version, 1);
    assert_eq!(s.tenants().len(), 1);
    let w = s.put_config(demo(), NOW).unwrap();
    assert_eq!((w.version, w.changed), (1, false));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rollback_makes_a_new_version_and_old_ones_are_pruned() {
    let dir = tmpdir("rollback");
    let s = Service::open(&dir, 3, Some(demo())).unwrap();
    s.delete_tenant("demo", NOW).unwrap(); // 2
    let mut t = Tenant::new("blue", 2);
    t.pool6 = Some("2001:db8:65::/96".parse().unwrap());
    s.create_tenant(t.clone(), NOW).unwrap(); // 3
    assert!(matches!(
        s.create_tenant(t, NOW).unwrap_err(),
        ServiceError::AlreadyExists(_)
    ));
    let w = s.rollback(1, NOW).unwrap(); // 4
    assert_eq!(w.version, 4);
    assert_eq!(s.current().config, demo());
    let kept: Vec<u64> = s.versions().versions.iter().map(|v| v.version).collect();
    assert_eq!(kept, [2, 3, 4]);
    assert_eq!(s.versions().versions[2].origin, "rollback to 1");
    assert!(matches!(
        s.rollback(1, NOW).unwrap_err(),
        ServiceError::NotFound(_)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn per_object_errors_point_into_the_object() {
    let dir = tmpdir("relative");
    let s = Service::open(&dir, 3, Some(demo())).unwrap();
    // IPv6 suffix shorter than the IPv4 suffix (RFC 7757 §3.2).
    let e = s
        .create_eam_entry("demo", eam("10.0.0.0/8", "2001:db8:9::/120"), NOW)
        .unwrap_err();
    let ServiceError::Invalid(errs) = e else {
        panic!("{e}")
    };
    assert!(
        errs.iter()
            .all(|e| !e.pointer.starts_with("/tenants/0/eamt/1")),
        "{errs:?}"
    );
    assert!(!errs.is_empty());
    assert!(matches!(
        s.delete_eam_entry("demo", "10.9.0.0/16".parse().unwrap(), NOW)
            .unwrap_err(),
        ServiceError::NotFound(_)
    ));
    assert!(matches!(
        s.eam_entries("nobody").unwrap_err(),
        ServiceError::NotFound(_)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_translates_an_echo_request_and_reports_drops() {
    let dir = tmpdir("trace");
    let s = Service::open(&dir, 3, Some(demo())).unwrap();
    // 2001:db8:6::10 -> 2001:db8:64::198.51.100.10, ICMPv6 echo request.
    let req = TraceRequest {
        packet: echo6(),
        encoding: PacketEncoding::Hex,
        ingress: Default::default(),
    };
    let r = s.trace(&req).unwrap();
    assert_eq!(r.verdict, "translated", "{r:?}");
    assert_eq!(r.direction.as_deref(), Some("v6_to_v4"));
    assert_eq!(r.tenant.as_ref().unwrap().name, "demo");
    assert_eq!(r.outputs.len(), 1);
    assert!(r.outputs[0].packet_hex.starts_with("45"));
    // Source 192.0.2.16, destination 198.51.100.10.
    assert_eq!(&r.outputs[0].packet_hex[24..40], "c0000210c633640a");
    let bad = TraceRequest {
        packet: "zz".into(),
        ..req.clone()
    };
    let e = s.trace(&bad).unwrap_err();
    assert!(
        matches!(&e, ServiceError::BadRequest { errors, .. } if errors[0].pointer == "/packet")
    );
    let garbage = TraceRequest {
        packet: "60000000".into(),
        ..req
    };
    let r = s.trace(&garbage).unwrap();
    assert_eq!(r.verdict, "dropped");
    assert!(r.drop_reason.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ICMPv6 echo request 2001:db8:6::10 -> 2001:db8:64::198.51.100.10 (the demo's hosts), as hex.
pub(crate) fn echo6() -> String {
    let src: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let dst: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 198, 51, 100, 10,
    ];
    let mut icmp = vec![128u8, 0, 0, 0, 0x12, 0x34, 0, 1];
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src);
    add(&dst);
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(&icmp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0, 0, icmp.len() as u8, 58, 64];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&icmp);
    hex::encode(p)
}

#[test]
fn concurrent_writers_with_the_same_expected_version_one_wins() {
    let dir = tmpdir("race");
    let s = std::sync::Arc::new(Service::open(&dir, 50, Some(demo())).unwrap());
    let results: Vec<_> = (0..8u8)
        .map(|i| {
            let s = std::sync::Arc::clone(&s);
            std::thread::spawn(move || {
                let e = eam(&format!("10.{i}.0.0/24"), &format!("2001:db8:a:{i}::/120"));
                let opts = WriteOptions {
                    expected_version: Some(1),
                    dry_run: false,
                };
                s.create_eam_entry("demo", e, opts)
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    let lost = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(ServiceError::Conflict {
                    expected: 1,
                    current: 2
                })
            )
        })
        .count();
    assert_eq!((won, lost), (1, 7));
    assert_eq!(s.current().version, 2);
    assert_eq!(s.eam_entries("demo").unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
