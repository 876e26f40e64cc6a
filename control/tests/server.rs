//! The real `xlat64-control` binary over HTTP on 127.0.0.1 (ports picked by the kernel), its `/metrics` read by a
//! real Prometheus text-format parser, and the real `xlat64` CLI against it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};

mod fake_dataplane;
use fake_dataplane::{sample_drop_reason, sample_sessions, sample_stats, FakeDataplane};

const TOKEN: &str = "t0ken-for-tests";
const DEMO_TOML: &str = include_str!("../../deploy/examples/demo.toml");
const NAT64_TOML: &str = include_str!("../../deploy/examples/nat64.toml");

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("xlat64-server-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `xlat64-control`, killed when dropped.
struct Control {
    child: Child,
    api: String,
    metrics: String,
    dir: PathBuf,
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(test: &str, initial: Option<&str>) -> Control {
    let dir = scratch(test);
    start_in(dir, initial)
}

fn start_in(dir: PathBuf, initial: Option<&str>) -> Control {
    start_with(dir, initial, None)
}

/// `dataplane`: the socket to give as `--dataplane-socket`.
fn start_with(dir: PathBuf, initial: Option<&str>, dataplane: Option<&Path>) -> Control {
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlat64-control"));
    cmd.args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(toml) = initial {
        std::fs::write(dir.join("initial.toml"), toml).unwrap();
        cmd.arg("--initial-config").arg(dir.join("initial.toml"));
    }
    if let Some(sock) = dataplane {
        cmd.arg("--dataplane-socket").arg(sock);
    }
    let mut child = cmd.spawn().expect("start xlat64-control");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut api, mut metrics) = (None, None);
    while api.is_none() || metrics.is_none() {
        let line = lines
            .next()
            .expect("xlat64-control exited before listening")
            .unwrap();
        if let Some(a) = line.strip_prefix("xlat64-control: api listening on ") {
            api = Some(a.to_owned());
        }
        if let Some(m) = line.strip_prefix("xlat64-control: metrics listening on ") {
            metrics = Some(m.to_owned());
        }
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Control {
        child,
        api: api.unwrap(),
        metrics: metrics.unwrap(),
        dir,
    }
}

/// (status, ETag, JSON body) of one request.
fn http(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut req = ureq::request(method, url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let r = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let etag = resp.header("ETag").map(str::to_owned);
    let text = resp.into_string().unwrap();
    (
        status,
        etag,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn scrape(c: &Control) -> prometheus_parse::Scrape {
    let resp = ureq::get(&c.metrics).call().expect("GET /metrics");
    assert!(
        resp.content_type().contains("text"),
        "{}",
        resp.content_type()
    );
    let text = resp.into_string().unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("a valid exposition")
}

fn value(v: &prometheus_parse::Value) -> f64 {
    use prometheus_parse::Value::*;
    match v {
        Counter(x) | Gauge(x) | Untyped(x) => *x,
        other => panic!("unexpected sample {other:?}"),
    }
}

#[test]
fn rest_over_http_and_metrics() {
    let c = start("rest", Some(DEMO_TOML));
    let (status, etag, body) = http("GET", &format!("{}/v1/config", c.api), None, None);
    assert_eq!(status, 200);
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(body["tenants"][0]["name"], "demo");

    // A write without the token: 401; with it: a new version.
    let eam = json!({"ipv4": "192.0.3.0/24", "ipv6": "2001:db8:7::/120"});
    let url = format!("{}/v1/tenants/demo/eamt", c.api);
    let (status, _, body) = http("POST", &url, None, Some(eam.clone()));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, etag, body) = http("POST", &url, Some(TOKEN), Some(eam));
    assert_eq!(status, 201, "{body}");
    assert_eq!(etag.as_deref(), Some("\"2\""));
    // Bad input: 422 with the pointer, nothing applied.
    let (status, _, body) = http(
        "PUT",
        &format!("{}/v1/config", c.api),
        Some(TOKEN),
        Some(json!({"tenants": [{"name": "x", "id": 1, "pool6": "2001:db8::/33"}]})),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/tenants/0/pool6");
    let (_, _, body) = http("GET", &format!("{}/v1/status", c.api), None, None);
    assert_eq!(body["config_version"], 2);
    let (status, _, body) = http("GET", &format!("{}/v1/openapi.json", c.api), None, None);
    assert_eq!(status, 200);
    assert!(body["paths"]["/v1/trace"]["post"].is_object());

    let s = scrape(&c);
    let find = |name: &str| -> Vec<&prometheus_parse::Sample> {
        s.samples.iter().filter(|x| x.metric == name).collect()
    };
    let version = find("xlat64_config_version");
    assert_eq!(version.len(), 1);
    assert_eq!(value(&version[0].value), 2.0);
    let build = find("xlat64_build_info");
    assert_eq!(build.len(), 1, "{:?}", s.samples);
    assert_eq!(
        build[0].labels.get("version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let dropped = find("xlat64_packets_dropped_total");
    let reasons = dataplane::stats::DropReason::ALL;
    assert_eq!(dropped.len(), reasons.len() * 2);
    for r in reasons {
        for d in dataplane::stats::Direction::ALL {
            let hit: Vec<_> = dropped
                .iter()
                .filter(|x| {
                    x.labels.get("reason") == Some(r.as_str())
                        && x.labels.get("direction") == Some(d.as_str())
                })
                .collect();
            assert_eq!(hit.len(), 1, "{} {}", r.as_str(), d.as_str());
            assert_eq!(value(&hit[0].value), 0.0);
        }
    }
}

#[test]
fn versions_survive_a_restart() {
    let dir = scratch("restart");
    let c = start_in(dir.clone(), Some(DEMO_TOML));
    let (status, _, _) = http(
        "DELETE",
        &format!("{}/v1/tenants/demo", c.api),
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 200);
    drop(c);
    // The initial config is ignored now: the store has versions.
    let c = start_in(dir, Some(DEMO_TOML));
    let (_, etag, body) = http("GET", &format!("{}/v1/config", c.api), None, None);
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert!(
        body.get("tenants").is_none_or(|t| t == &json!([])),
        "{body}"
    );
    let (_, _, body) = http("GET", &format!("{}/v1/config/versions", c.api), None, None);
    assert_eq!(body["versions"].as_array().unwrap().len(), 2);
}

// --- the CLI --------------------------------------------------------------------------------------------------

fn xlat64(c: &Control, args: &[&str]) -> Output {
    let token = c.dir.join("token");
    Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .args(args)
        .args(["--url", &c.api, "--token-file"])
        .arg(&token)
        .output()
        .expect("run xlat64")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fails(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn cli_config_commands() {
    let c = start("cli-config", None);
    let dir = c.dir.clone();
    let demo = dir.join("demo.toml");
    std::fs::write(&demo, DEMO_TOML).unwrap();
    let f = demo.to_str().unwrap();

    let out = ok(&xlat64(&c, &["config", "get"]));
    assert_eq!(out.trim(), "");
    let out = ok(&xlat64(&c, &["config", "validate", f]));
    assert!(
        out.contains("valid: applying it would make version 1"),
        "{out}"
    );
    let o = xlat64(&c, &["config", "diff", f]);
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("+name = \"demo\""), "{out}");
    let out = ok(&xlat64(&c, &["config", "apply", "--dry-run", f]));
    assert!(out.contains("dry run: would make version 1"), "{out}");
    let out = ok(&xlat64(&c, &["config", "apply", "--if-version", "0", f]));
    assert!(out.contains("version 1 (was 0)"), "{out}");
    let out = ok(&xlat64(&c, &["config", "diff", f]));
    assert!(out.contains("no differences from version 1"), "{out}");
    // A stale --if-version: refused.
    let err = fails(&xlat64(&c, &["config", "apply", "--if-version", "0", f]), 1);
    assert!(err.contains("412 version_conflict"), "{err}");
    let out = ok(&xlat64(&c, &["config", "get", "--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tenants"][0]["name"], "demo");

    // An invalid file: every field named, nothing applied.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        DEMO_TOML.replace("2001:db8:64::/96", "2001:db8:64::/95"),
    )
    .unwrap();
    let err = fails(
        &xlat64(&c, &["config", "validate", bad.to_str().unwrap()]),
        1,
    );
    assert!(err.contains("/tenants/0/pool6:"), "{err}");
    let err = fails(&xlat64(&c, &["config", "apply", bad.to_str().unwrap()]), 1);
    assert!(err.contains("422 invalid_config"), "{err}");

    ok(&xlat64(&c, &["tenant", "del", "demo"]));
    let out = ok(&xlat64(&c, &["config", "versions"]));
    assert!(out.contains("delete tenant"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("*") && l.contains(" 2 ")),
        "{out}"
    );
    let out = ok(&xlat64(&c, &["config", "rollback", "1"]));
    assert!(out.contains("version 3 (was 2)"), "{out}");
    let out = ok(&xlat64(&c, &["tenant", "list"]));
    assert!(out.starts_with("demo\tid 1"), "{out}");
    let err = fails(&xlat64(&c, &["config", "rollback", "99"]), 1);
    assert!(err.contains("404 not_found"), "{err}");

    // Without the token: a write is refused.
    let o = Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .args(["tenant", "del", "demo", "--url", &c.api])
        .output()
        .unwrap();
    let err = fails(&o, 1);
    assert!(err.contains("401 unauthorized"), "{err}");
}

#[test]
fn cli_object_commands_and_trace() {
    let c = start("cli-objects", Some(DEMO_TOML));
    let out = ok(&xlat64(
        &c,
        &[
            "tenant",
            "add",
            "blue",
            "--id",
            "2",
            "--pool6",
            "2001:db8:65::/96",
            "--vlan",
            "20",
        ],
    ));
    assert!(out.contains("version 2 (was 1)"), "{out}");
    let err = fails(
        &xlat64(
            &c,
            &[
                "tenant",
                "add",
                "red",
                "--id",
                "3",
                "--pool6",
                "2001:db8:65::/96",
                "--vlan",
                "30",
            ],
        ),
        1,
    );
    assert!(err.contains("/pool6:"), "{err}");
    let out = ok(&xlat64(&c, &["tenant", "show", "blue"]));
    assert!(out.contains("pool6 = \"2001:db8:65::/96\""), "{out}");

    ok(&xlat64(
        &c,
        &["eam", "add", "demo", "192.0.3.0/24", "2001:db8:7::/120"],
    ));
    let out = ok(&xlat64(&c, &["eam", "list", "demo"]));
    assert_eq!(
        out,
        "192.0.2.0/24\t2001:db8:6::/120\n192.0.3.0/24\t2001:db8:7::/120\n"
    );
    ok(&xlat64(&c, &["eam", "del", "demo", "192.0.3.0/24"]));
    let err = fails(&xlat64(&c, &["eam", "del", "demo", "192.0.3.0/24"]), 1);
    assert!(err.contains("404"), "{err}");

    // A NAT64 tenant on its own VLAN: pool4 and static BIB.
    let tenant_file = c.dir.join("mobile.toml");
    std::fs::write(
        &tenant_file,
        "id = 5\nmode = \"nat64\"\npool6 = \"2001:db8:66::/96\"\n[[pool4]]\nprefix = \"198.51.100.64/30\"\n",
    )
    .unwrap();
    let tf = tenant_file.to_str().unwrap();
    ok(&xlat64(
        &c,
        &["tenant", "add", "mobile", "--file", tf, "--vlan", "50"],
    ));
    ok(&xlat64(
        &c,
        &[
            "pool4",
            "add",
            "mobile",
            "198.51.100.0/30",
            "--tcp",
            "2000-3000",
        ],
    ));
    let out = ok(&xlat64(&c, &["pool4", "list", "mobile"]));
    assert!(out.contains("\n198.51.100.0/30\ttcp 2000-3000"), "{out}");
    ok(&xlat64(
        &c,
        &[
            "bib",
            "add",
            "mobile",
            "tcp",
            "198.51.100.1#80",
            "2001:db8:2::10#80",
        ],
    ));
    let out = ok(&xlat64(&c, &["bib", "list", "mobile"]));
    assert_eq!(out, "tcp\t198.51.100.1#80\t2001:db8:2::10#80\n");
    ok(&xlat64(
        &c,
        &["bib", "del", "mobile", "tcp", "198.51.100.1#80"],
    ));
    ok(&xlat64(
        &c,
        &["pool4", "del", "mobile", "198.51.100.0/30", "--dry-run"],
    ));
    assert!(ok(&xlat64(&c, &["pool4", "list", "mobile"])).contains("198.51.100.0/30"));

    // trace: the demo's echo request, translated to 192.0.2.16 -> 198.51.100.10.
    let echo = concat!(
        "6000000000083a40",
        "20010db8000600000000000000000010",
        "20010db800640000000000 00c633640a",
        "8000 CSUM 12340001"
    );
    let echo = echo.replace(' ', "");
    let echo = echo.replace("CSUM", &icmp6_checksum(&echo));
    let out = ok(&xlat64(&c, &["trace", &echo]));
    assert!(out.contains("verdict: translated"), "{out}");
    assert!(out.contains("tenant \"demo\""), "{out}");
    let line = out.lines().find(|l| l.starts_with("out v4: ")).expect(&out);
    assert_eq!(&line[8 + 24..8 + 40], "c0000210c633640a", "{out}");
    let err = fails(&xlat64(&c, &["trace", "nothex"]), 1);
    assert!(err.contains("/packet"), "{err}");
}

/// Fills in the ICMPv6 checksum of the hex packet (the 4 hex digits `CSUM` are zero for the sum).
fn icmp6_checksum(hex_with_placeholder: &str) -> String {
    let bytes = hex::decode(hex_with_placeholder.replace("CSUM", "0000")).unwrap();
    let (src, dst, payload) = (&bytes[8..24], &bytes[24..40], &bytes[40..]);
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(src);
    add(dst);
    add(&(payload.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(payload);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    format!("{:04x}", !(sum as u16))
}

#[test]
fn completions_and_man_page() {
    let o = Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let out = ok(&o);
    assert!(
        out.contains("complete") && out.contains("rollback"),
        "{out}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .arg("man")
        .output()
        .unwrap();
    let out = ok(&o);
    assert!(
        out.starts_with(".ie") || out.contains(".TH xlat64"),
        "{}",
        &out[..out.len().min(200)]
    );
}

#[test]
fn bad_initial_config_or_token_file_is_a_clear_error() {
    let dir = scratch("bad-start");
    std::fs::write(dir.join("token"), "t\n").unwrap();
    std::fs::write(
        dir.join("bad.toml"),
        DEMO_TOML.replace("2001:db8:64::/96", "2001:db8:64::/95"),
    )
    .unwrap();
    let run = |token: &str, config: &str| {
        Command::new(env!("CARGO_BIN_EXE_xlat64-control"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--token-file")
            .arg(dir.join(token))
            .arg("--initial-config")
            .arg(dir.join(config))
            .output()
            .unwrap()
    };
    let o = run("token", "bad.toml");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tenants[0].pool6"), "{err}");
    let o = run("missing-token", "bad.toml");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("token file"), "{err}");
    // Nothing was stored.
    assert!(
        !dir.join("state/versions").exists()
            || std::fs::read_dir(dir.join("state/versions"))
                .unwrap()
                .count()
                == 0
    );
}

#[test]
fn import_from_tayga() {
    let dir = scratch("import");
    let conf = dir.join("tayga.conf");
    std::fs::write(
        &conf,
        "tun-device nat64\nipv4-addr 192.0.2.1\nprefix 2001:db8:64::/96\ndynamic-pool 192.0.2.128/25\nmap 192.0.2.42 2001:db8:1::42\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .args(["import", "--from", "tayga"])
        .arg(&conf)
        .output()
        .unwrap();
    let out = ok(&o);
    let cfg = mgmt_api::Config::from_toml_str(&out).expect("valid TOML config");
    assert_eq!(cfg.tenants[0].eamt.len(), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("dynamic-pool"), "{err}");
}

#[test]
fn import_from_jool() {
    let dir = scratch("import-jool");
    let file = dir.join("jool.json");
    std::fs::write(
        &file,
        r#"{"instance": "dc", "framework": "netfilter",
            "global": {"pool6": "2001:db8:64::/96", "ss-enabled": false},
            "eamt": [{"ipv6 prefix": "2001:db8:3::/124", "ipv4 prefix": "192.0.2.16/28"}]}"#,
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .args(["import", "--from", "jool"])
        .arg(&file)
        .output()
        .unwrap();
    let out = ok(&o);
    let cfg = mgmt_api::Config::from_toml_str(&out).expect("valid TOML config");
    assert_eq!(cfg.tenants[0].name, "dc");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ss-enabled"), "{err}");
    std::fs::write(
        &file,
        r#"{"eamt": [{"ipv4 prefix": "x", "ipv6 prefix": "::/128"}]}"#,
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .args(["import", "--from", "jool"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("eamt[0]"));
}

/// `--dataplane-socket`: the running binary pushes its version to a (fake) dataplane and reports the
/// acknowledgement in /v1/status.
#[test]
fn pushes_to_the_dataplane_socket() {
    use mgmt_api::ipc::{read_message, write_message, FromDataplane, ToDataplane};
    use std::os::unix::net::UnixListener;
    let dir = scratch("push");
    let sock = dir.join("dp.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(dir.join("initial.toml"), DEMO_TOML).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xlat64-control"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--initial-config")
        .arg(dir.join("initial.toml"))
        .arg("--dataplane-socket")
        .arg(&sock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let api = loop {
        let l = lines.next().expect("listening line").unwrap();
        if let Some(a) = l.strip_prefix("xlat64-control: api listening on ") {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let (s, _) = listener.accept().unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    write_message(
        &mut w,
        &FromDataplane::Hello {
            running_version: None,
        },
    )
    .unwrap();
    let Some(ToDataplane::Apply { version, config }) = read_message(&mut r).unwrap() else {
        panic!("no apply");
    };
    assert_eq!(version, 1);
    assert_eq!(config.tenants[0].name, "demo");
    write_message(&mut w, &FromDataplane::Applied { version }).unwrap();
    let t = std::time::Instant::now();
    loop {
        let (_, _, body) = http("GET", &format!("{api}/v1/status"), None, None);
        if body["dataplane_version"] == 1 {
            break;
        }
        assert!(t.elapsed().as_secs() < 10, "{body}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// --- the dataplane's reports ----------------------------------------------------------------------------------

fn sample<'a>(
    s: &'a prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> &'a prometheus_parse::Sample {
    let hits: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(hits.len(), 1, "{name} {labels:?}: {hits:?}");
    hits[0]
}

/// The real binary with a fake dataplane: `/v1/stats`, `/v1/sessions`, `/metrics` carry its report; once it is
/// gone, 503 and `xlat64_dataplane_up 0` with every drop reason still at 0.
#[test]
fn stats_sessions_and_metrics_from_the_dataplane() {
    let dir = scratch("dp-report");
    let fake = FakeDataplane::start(&dir.join("dp.sock"));
    let c = start_with(dir.clone(), Some(NAT64_TOML), Some(fake.socket()));

    let (status, _, body) = http("GET", &format!("{}/v1/stats", c.api), None, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::to_value(sample_stats()).unwrap());
    let (status, _, body) = http(
        "GET",
        &format!("{}/v1/sessions?protocol=udp&tenant=mobile", c.api),
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(
        body["sessions"][0],
        serde_json::to_value(&sample_sessions()[2]).unwrap()
    );
    for bad in [
        "limit=20000",
        "protocol=gre",
        "address=nowhere",
        "offset=-3",
    ] {
        let (status, _, body) = http("GET", &format!("{}/v1/sessions?{bad}", c.api), None, None);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
    let (_, _, body) = http("GET", &format!("{}/v1/status", c.api), None, None);
    assert_eq!(body["dataplane_reachable"], true);
    assert_eq!(body["dataplane_workers"], 2);

    let s = scrape(&c);
    assert_eq!(value(&sample(&s, "xlat64_dataplane_up", &[]).value), 1.0);
    let row = [
        ("worker", "0"),
        ("tenant", "demo"),
        ("direction", "v6_to_v4"),
        ("reason", sample_drop_reason()),
    ];
    assert_eq!(
        value(&sample(&s, "xlat64_packets_dropped_total", &row).value),
        7.0
    );
    let rx = sample(&s, "xlat64_worker_rx_packets_total", &[("worker", "0")]);
    assert_eq!(value(&rx.value), 1000.0);
    let h = sample(&s, "xlat64_batch_duration_seconds", &[("worker", "0")]);
    let prometheus_parse::Value::Histogram(buckets) = &h.value else {
        panic!("{h:?}");
    };
    let b = buckets.iter().find(|b| b.less_than == 0.000_01).unwrap();
    assert_eq!(b.count, 35.0);

    // The dataplane goes away.
    drop(fake);
    let (status, _, body) = http("GET", &format!("{}/v1/stats", c.api), None, None);
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("dataplane_unavailable"))
    );
    let (status, _, body) = http("GET", &format!("{}/v1/sessions", c.api), None, None);
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("dataplane_unavailable"))
    );
    let s = scrape(&c);
    assert_eq!(value(&sample(&s, "xlat64_dataplane_up", &[]).value), 0.0);
    let dropped: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == "xlat64_packets_dropped_total")
        .collect();
    assert_eq!(
        dropped.len(),
        dataplane::stats::DropReason::ALL.len() * dataplane::stats::Direction::ALL.len()
    );
    assert!(dropped.iter().all(|x| value(&x.value) == 0.0));
    let (_, _, body) = http("GET", &format!("{}/v1/status", c.api), None, None);
    assert_eq!(body["dataplane_reachable"], false);
}

/// `xlat64 stats` and `xlat64 sessions` (tables and --json) against the real binaries and a fake dataplane;
/// exit 1 with the API's error when the dataplane is gone or a value is bad.
#[test]
fn cli_stats_and_sessions() {
    let dir = scratch("cli-dp");
    let fake = FakeDataplane::start(&dir.join("dp.sock"));
    let c = start_with(dir.clone(), Some(NAT64_TOML), Some(fake.socket()));

    let text = ok(&xlat64(&c, &["stats"]));
    assert!(
        text.starts_with("dataplane: configuration version 1, up 42 s, 2 workers"),
        "{text}"
    );
    let v6: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("v6_to_v4"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(v6, ["v6_to_v4", "1100", "1090", "7", "4", "2", "3"]);
    assert!(text.lines().any(|l| l.starts_with("DROP_REASON")));
    assert!(text.lines().any(|l| l.starts_with("WORKER")));
    let json: Value = serde_json::from_str(&ok(&xlat64(&c, &["stats", "--json"]))).unwrap();
    assert_eq!(json, serde_json::to_value(sample_stats()).unwrap());

    let text = ok(&xlat64(&c, &["sessions"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TENANT"), "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[4], "1-3 shown of 3 sessions");
    let text = ok(&xlat64(
        &c,
        &[
            "sessions",
            "--protocol",
            "tcp",
            "--address",
            "2001:db8:1::10",
            "--limit",
            "1",
        ],
    ));
    assert!(text.contains("[2001:db8:1::10]:40000"), "{text}");
    assert!(text.ends_with("1-1 shown of 1 sessions\n"), "{text}");
    let text = ok(&xlat64(&c, &["sessions", "--offset", "5"]));
    assert!(text.ends_with("0 shown of 3 sessions\n"), "{text}");
    let json: Value = serde_json::from_str(&ok(&xlat64(
        &c,
        &["sessions", "--json", "--tenant", "mobile"],
    )))
    .unwrap();
    assert_eq!(json["total"], 3);
    let q = fake.queries();
    assert_eq!(q.last().unwrap().tenant.as_deref(), Some("mobile"));

    let err = fails(&xlat64(&c, &["sessions", "--protocol", "gre"]), 1);
    assert!(
        err.contains("400 bad_request") && err.contains("protocol"),
        "{err}"
    );
    let err = fails(&xlat64(&c, &["sessions", "--tenant", "nobody"]), 1);
    assert!(err.contains("404 not_found"), "{err}");
    drop(fake);
    let err = fails(&xlat64(&c, &["stats"]), 1);
    assert!(err.contains("503 dataplane_unavailable"), "{err}");
    let err = fails(&xlat64(&c, &["sessions"]), 1);
    assert!(err.contains("503 dataplane_unavailable"), "{err}");
}
