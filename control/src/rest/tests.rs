//! The router through `oneshot`: every route's success, its 4xx with the field pointer, 412 on a stale
//! If-Match, dry runs that store nothing, rollback, authentication and the uniform error body.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::fake_dataplane::{sample_sessions, sample_stats, FakeDataplane};

const TOKEN: &str = "s3cret";
const DEMO_TOML: &str = include_str!("../../../deploy/examples/demo.toml");
const NAT64_TOML: &str = include_str!("../../../deploy/examples/nat64.toml");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xlat64-rest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

struct T {
    router: Router,
    service: Arc<Service>,
    dir: PathBuf,
}

impl Drop for T {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup(name: &str, toml: &str) -> T {
    setup_auth(name, toml, false)
}

fn setup_auth(name: &str, toml: &str, auth_reads: bool) -> T {
    setup_full(name, toml, auth_reads, DataplaneClient::new(None))
}

/// With a fake dataplane serving its socket in the test's directory (dropped after the router's use).
fn setup_fake(name: &str, toml: &str, auth_reads: bool) -> (T, FakeDataplane) {
    let sock = std::env::temp_dir().join(format!("xlat64-rest-{name}-{}.sock", std::process::id()));
    let fake = FakeDataplane::start(&sock);
    let t = setup_full(name, toml, auth_reads, DataplaneClient::new(Some(sock)));
    (t, fake)
}

fn setup_full(name: &str, toml: &str, auth_reads: bool, dataplane: DataplaneClient) -> T {
    let dir = tmpdir(name);
    let cfg = Config::from_toml_str(toml).unwrap();
    let service = Arc::new(Service::open(&dir, 5, Some(cfg)).unwrap());
    let router = router(Arc::new(ApiState {
        service: Arc::clone(&service),
        token: Some(TOKEN.to_owned()),
        auth_reads,
        dataplane,
    }));
    T {
        router,
        service,
        dir,
    }
}

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

impl T {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> Answer {
        self.call_with(
            method,
            uri,
            body.map(|b| b.to_string()),
            &[("authorization", "Bearer s3cret")],
        )
        .await
    }

    async fn call_with(
        &self,
        method: &str,
        uri: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            assert_eq!(ct.as_deref(), Some("application/json"), "{method} {uri}");
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer { status, etag, body }
    }
}

fn assert_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"], code, "{}", a.body);
    assert!(
        a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        a.body
    );
}

fn pointers(a: &Answer) -> Vec<String> {
    a.body["errors"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|e| e["pointer"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn get_put_config_with_etag_dry_run_and_conflict() {
    let t = setup("config", DEMO_TOML);
    let a = t.call("GET", "/v1/config", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.etag.as_deref(), Some("\"1\""));
    assert_eq!(a.body["tenants"][0]["name"], "demo");

    let mut cfg = a.body.clone();
    cfg["tenants"][0]["id"] = json!(9);
    // Dry run: answered as if applied, nothing stored.
    let a = t
        .call("PUT", "/v1/config?dry_run=true", Some(cfg.clone()))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"version": 2, "previous_version": 1, "dry_run": true, "changed": true})
    );
    assert_eq!(t.service.current().version, 1);
    assert_eq!(t.service.versions().versions.len(), 1);

    // If-Match with the current version: applied.
    let a = t
        .call_with(
            "PUT",
            "/v1/config",
            Some(cfg.to_string()),
            &[("authorization", "Bearer s3cret"), ("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.etag.as_deref(), Some("\"2\""));
    assert_eq!(t.service.current().config.tenants[0].id, 9);

    // Stale If-Match: 412, nothing applied.
    cfg["tenants"][0]["id"] = json!(10);
    let a = t
        .call_with(
            "PUT",
            "/v1/config",
            Some(cfg.to_string()),
            &[("authorization", "Bearer s3cret"), ("if-match", "\"1\"")],
        )
        .await;
    assert_error(&a, StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(t.service.current().version, 2);

    // Bad If-Match: 400.
    let a = t
        .call_with(
            "PUT",
            "/v1/config",
            Some(cfg.to_string()),
            &[
                ("authorization", "Bearer s3cret"),
                ("if-match", "yesterday"),
            ],
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");

    // TOML body.
    let a = t
        .call_with(
            "PUT",
            "/v1/config",
            Some(DEMO_TOML.to_owned()),
            &[
                ("authorization", "Bearer s3cret"),
                ("content-type", "application/toml"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["version"], 3);
}

#[tokio::test]
async fn invalid_config_names_every_field_and_applies_nothing() {
    let t = setup("invalid", DEMO_TOML);
    let mut cfg = serde_json::to_value(&t.service.current().config).unwrap();
    cfg["tenants"][0]["pool6"] = json!("2001:db8:64::/95");
    cfg["tenants"][0]["eamt"][0]["ipv6"] = json!("2001:db8:6::/126");
    let a = t.call("PUT", "/v1/config", Some(cfg)).await;
    assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
    let p = pointers(&a);
    assert!(p.contains(&"/tenants/0/pool6".to_owned()), "{p:?}");
    assert!(
        p.iter().any(|p| p.starts_with("/tenants/0/eamt/0")),
        "{p:?}"
    );
    assert_eq!(t.service.current().version, 1);

    // A wrong type: 400 with the pointer.
    let a = t
        .call(
            "PUT",
            "/v1/config",
            Some(json!({"tenants": [{"name": "x", "id": "seven"}]})),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(pointers(&a), ["/tenants/0/id"]);
    // Not JSON at all.
    let a = t
        .call_with(
            "PUT",
            "/v1/config",
            Some("{".into()),
            &[("authorization", "Bearer s3cret")],
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    // Too large: 413, JSON body.
    let big = format!(
        "{{\"tenants\": [], \"x\": \"{}\"}}",
        "a".repeat(api::MAX_BODY_BYTES)
    );
    let a = t
        .call_with(
            "PUT",
            "/v1/config",
            Some(big),
            &[("authorization", "Bearer s3cret")],
        )
        .await;
    assert_error(&a, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // A bad query string.
    let a = t
        .call("PUT", "/v1/config?dry_run=perhaps", Some(json!({})))
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(t.service.current().version, 1);
}

#[tokio::test]
async fn writes_need_the_token_reads_optionally() {
    let t = setup("auth", DEMO_TOML);
    let a = t.call_with("DELETE", "/v1/tenants/demo", None, &[]).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "unauthorized");
    let a = t
        .call_with(
            "DELETE",
            "/v1/tenants/demo",
            None,
            &[("authorization", "Bearer wrong")],
        )
        .await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(t.service.tenants().len(), 1);
    let a = t.call_with("GET", "/v1/tenants", None, &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    // A trace changes nothing: a read.
    let echo = json!({"packet": crate::service::tests::echo6()}).to_string();
    let a = t
        .call_with("POST", "/v1/trace", Some(echo.clone()), &[])
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let t = setup_auth("auth-reads", DEMO_TOML, true);
    let a = t.call_with("GET", "/v1/tenants", None, &[]).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "unauthorized");
    let a = t.call("GET", "/v1/tenants", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = t.call_with("POST", "/v1/trace", Some(echo), &[]).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn versions_and_rollback() {
    let t = setup("rollback", DEMO_TOML);
    let a = t.call("DELETE", "/v1/tenants/demo", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["version"], 2);
    let a = t.call("GET", "/v1/config/versions", None).await;
    assert_eq!(a.body["current"], 2);
    assert_eq!(a.body["versions"].as_array().unwrap().len(), 2);
    assert_eq!(a.body["versions"][1]["origin"], "delete tenant \"demo\"");
    let a = t.call("GET", "/v1/config/versions/1", None).await;
    assert_eq!(a.body["config"]["tenants"][0]["name"], "demo");
    let a = t.call("GET", "/v1/config/versions/99", None).await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    let a = t.call("GET", "/v1/config/versions/x", None).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");

    // Dry-run rollback: nothing changes.
    let a = t
        .call(
            "POST",
            "/v1/config/rollback?dry_run=true",
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(t.service.current().version, 2);
    let a = t
        .call("POST", "/v1/config/rollback", Some(json!({"version": 1})))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["version"], 3);
    assert_eq!(t.service.tenants()[0].name, "demo");
    let a = t
        .call("POST", "/v1/config/rollback", Some(json!({"version": 42})))
        .await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    let a = t
        .call("POST", "/v1/config/rollback", Some(json!({"versio": 1})))
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    let a = t
        .call_with(
            "POST",
            "/v1/config/rollback",
            Some("{\"version\": 1}".into()),
            &[("authorization", "Bearer s3cret"), ("if-match", "\"2\"")],
        )
        .await;
    assert_error(&a, StatusCode::PRECONDITION_FAILED, "version_conflict");
}

#[tokio::test]
async fn tenants_crud() {
    let t = setup("tenants", DEMO_TOML);
    let blue =
        json!({"name": "blue", "id": 2, "pool6": "2001:db8:65::/96", "ipv4_side": {"vlan": 20}});
    let a = t
        .call("POST", "/v1/tenants?dry_run=true", Some(blue.clone()))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(t.service.tenants().len(), 1);
    let a = t.call("POST", "/v1/tenants", Some(blue.clone())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.etag.as_deref(), Some("\"2\""));
    let a = t.call("POST", "/v1/tenants", Some(blue)).await;
    assert_error(&a, StatusCode::CONFLICT, "already_exists");
    let a = t.call("GET", "/v1/tenants", None).await;
    assert_eq!(a.body.as_array().unwrap().len(), 2);
    let a = t.call("GET", "/v1/tenants/blue", None).await;
    assert_eq!(a.body["pool6"], "2001:db8:65::/96");
    let a = t.call("GET", "/v1/tenants/nobody", None).await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    // An overlapping pool6: 422, pointer into the new tenant (the request body).
    let a = t
        .call("POST", "/v1/tenants", Some(json!({"name": "red", "id": 3, "pool6": "2001:db8:65::/96", "ipv4_side": {"vlan": 30}})))
        .await;
    assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
    assert!(pointers(&a).iter().any(|p| p == "/pool6"), "{}", a.body);
    let a = t
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"name": "red", "id": "x"})),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(pointers(&a), ["/id"]);
    let a = t.call("DELETE", "/v1/tenants/blue", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = t.call("DELETE", "/v1/tenants/blue", None).await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(t.service.current().version, 3);
}

#[tokio::test]
async fn eam_crud() {
    let t = setup("eam", DEMO_TOML);
    let a = t.call("GET", "/v1/tenants/demo/eamt", None).await;
    assert_eq!(
        a.body,
        json!([{"ipv4": "192.0.2.0/24", "ipv6": "2001:db8:6::/120"}])
    );
    let e = json!({"ipv4": "192.0.3.0/24", "ipv6": "2001:db8:7::/120"});
    let a = t
        .call("POST", "/v1/tenants/demo/eamt", Some(e.clone()))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = t
        .call("GET", "/v1/tenants/demo/eamt/192.0.3.0%2F24", None)
        .await;
    assert_eq!(a.body, e);
    let a = t
        .call("GET", "/v1/tenants/demo/eamt/192.0.4.0%2F24", None)
        .await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    let a = t.call("GET", "/v1/tenants/demo/eamt/banana", None).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    // IPv6 suffix shorter than the IPv4 suffix: the pointer is into the entry.
    let a = t
        .call(
            "POST",
            "/v1/tenants/demo/eamt",
            Some(json!({"ipv4": "10.0.0.0/8", "ipv6": "2001:db8:9::/120"})),
        )
        .await;
    assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
    assert!(
        pointers(&a)
            .iter()
            .all(|p| !p.starts_with("/tenants/0/eamt/1")),
        "{}",
        a.body
    );
    let a = t
        .call(
            "POST",
            "/v1/tenants/demo/eamt",
            Some(json!({"ipv4": "10.0.0.0/8", "ipv6": 5})),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(pointers(&a), ["/ipv6"]);
    let a = t
        .call("DELETE", "/v1/tenants/demo/eamt/192.0.3.0%2F24", None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = t.call("GET", "/v1/tenants/nobody/eamt", None).await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(t.service.current().version, 3);
}

#[tokio::test]
async fn pool4_and_bib_crud() {
    let t = setup("nat64", NAT64_TOML);
    let tenant = t.service.tenants()[0].name.clone();
    let base = format!("/v1/tenants/{tenant}");
    let a = t.call("GET", &format!("{base}/pool4"), None).await;
    assert_eq!(a.status, StatusCode::OK);
    let before = a.body.as_array().unwrap().len();
    let e = json!({"prefix": "192.0.2.128/28"});
    let a = t.call("POST", &format!("{base}/pool4"), Some(e)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = t
        .call("GET", &format!("{base}/pool4/192.0.2.128%2F28"), None)
        .await;
    assert_eq!(a.body["prefix"], "192.0.2.128/28", "{}", a.body);
    let a = t
        .call(
            "POST",
            &format!("{base}/pool4"),
            Some(json!({"prefix": "192.0.2.129/28"})),
        )
        .await;
    assert!(a.status.is_client_error(), "{}", a.body);
    assert!(!pointers(&a).is_empty(), "{}", a.body);

    let bib = json!({"protocol": "tcp", "ipv4": "192.0.2.130#80", "ipv6": "2001:db8::10#8080"});
    let a = t
        .call("POST", &format!("{base}/bib"), Some(bib.clone()))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = t
        .call("GET", &format!("{base}/bib/tcp/192.0.2.130:80"), None)
        .await;
    assert_eq!(a.body, bib);
    let a = t
        .call("GET", &format!("{base}/bib/tcp/192.0.2.130%2380"), None)
        .await;
    assert_eq!(a.body, bib);
    let a = t
        .call("GET", &format!("{base}/bib/sctp/192.0.2.130:80"), None)
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    let a = t
        .call(
            "POST",
            &format!("{base}/bib"),
            Some(json!({"protocol": "tcp", "ipv4": "192.0.2.130", "ipv6": "2001:db8::10#8080"})),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(pointers(&a), ["/ipv4"]);
    let a = t
        .call("DELETE", &format!("{base}/bib/tcp/192.0.2.130:80"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = t
        .call("DELETE", &format!("{base}/pool4/192.0.2.128%2F28"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = t.call("GET", &format!("{base}/pool4"), None).await;
    assert_eq!(a.body.as_array().unwrap().len(), before);
}

#[tokio::test]
async fn status_trace_openapi_and_unknown_routes() {
    let t = setup("misc", DEMO_TOML);
    let a = t.call("GET", "/v1/status", None).await;
    assert_eq!(a.body["config_version"], 1);
    assert_eq!(a.body["tenants"], 1);
    assert!(a.body["uptime_seconds"].is_u64());

    let echo = crate::service::tests::echo6();
    let a = t
        .call("POST", "/v1/trace", Some(json!({"packet": echo})))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["verdict"], "translated");
    assert_eq!(a.body["direction"], "v6_to_v4");
    assert_eq!(a.body["tenant"]["name"], "demo");
    assert!(a.body["outputs"][0]["packet_hex"]
        .as_str()
        .unwrap()
        .starts_with("45"));
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(hex::decode(&echo).unwrap())
    };
    let a = t
        .call(
            "POST",
            "/v1/trace",
            Some(json!({"packet": b64, "encoding": "base64", "ingress": {"vlan": null}})),
        )
        .await;
    assert_eq!(a.body["verdict"], "translated", "{}", a.body);
    let a = t
        .call("POST", "/v1/trace", Some(json!({"packet": "xyz"})))
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(pointers(&a), ["/packet"]);
    let a = t
        .call(
            "POST",
            "/v1/trace",
            Some(json!({"packet": echo, "ingress": {"interface": "eth9"}})),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(pointers(&a), ["/ingress/interface"]);
    let a = t
        .call(
            "POST",
            "/v1/trace",
            Some(json!({"packet": echo, "ingress": {"vlan": 70000}})),
        )
        .await;
    assert_eq!(pointers(&a), ["/ingress/vlan"]);

    let a = t.call("GET", "/v1/nothing", None).await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    let a = t.call("PATCH", "/v1/config", None).await;
    assert_error(&a, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    let a = t.call("GET", "/v1/openapi.json", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body["openapi"].as_str().unwrap().starts_with("3."));
}

/// The OpenAPI document lists exactly the routes of `mgmt_api::api::ROUTES`, and the router serves each one
/// (no "no route" answer).
#[tokio::test]
async fn openapi_matches_the_router() {
    let doc = serde_json::to_value(openapi()).unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut listed: Vec<(String, String)> = api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    listed.sort();
    assert_eq!(documented, listed);

    // With a dataplane, so the dataplane's routes answer too.
    let (t, _fake) = setup_fake("routes", DEMO_TOML, false);
    for (method, path) in api::ROUTES {
        let uri = path
            .replace("{tenant}", "demo")
            .replace("{version}", "1")
            .replace("{ipv4}", "192.0.2.0%2F24")
            .replace("{prefix}", "192.0.2.0%2F24")
            .replace("{protocol}", "tcp");
        let a = t.call(method, &uri, Some(json!({}))).await;
        let no_route = a.status == StatusCode::NOT_FOUND
            && a.body["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("no route");
        let wrong_method = a.status == StatusCode::METHOD_NOT_ALLOWED;
        assert!(!no_route && !wrong_method, "{method} {uri}: {}", a.body);
        assert!(!a.status.is_server_error(), "{method} {uri}: {}", a.body);
    }
}

/// `/v1/stats` and `/v1/sessions` pass the dataplane's answers through; `/v1/status` reports it reachable.
#[tokio::test]
async fn stats_sessions_and_status_from_the_dataplane() {
    let (t, fake) = setup_fake("dp", NAT64_TOML, false);
    let a = t.call("GET", "/v1/stats", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let got: DataplaneStats = serde_json::from_value(a.body).unwrap();
    assert_eq!(got, sample_stats());

    let a = t.call("GET", "/v1/sessions", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let page: SessionPage = serde_json::from_value(a.body).unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.sessions, sample_sessions());
    // Every parameter reaches the dataplane, checked and typed; the default page size is explicit.
    let a = t
        .call(
            "GET",
            "/v1/sessions?tenant=mobile&protocol=tcp&address=198.51.100.7&offset=0&limit=5",
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["total"], 1);
    assert_eq!(a.body["sessions"][0]["protocol"], "tcp");
    let q = fake.queries();
    assert_eq!(q[0].limit, Some(SESSIONS_DEFAULT_LIMIT));
    assert_eq!(
        q[1],
        SessionQuery {
            tenant: Some("mobile".into()),
            protocol: Some("tcp".into()),
            address: Some("198.51.100.7".parse().unwrap()),
            offset: 0,
            limit: Some(5),
        }
    );
    let a = t.call("GET", "/v1/sessions?offset=2&limit=1", None).await;
    assert_eq!(a.body["total"], 3);
    assert_eq!(a.body["offset"], 2);
    assert_eq!(a.body["sessions"].as_array().unwrap().len(), 1);

    let a = t.call("GET", "/v1/status", None).await;
    assert_eq!(a.body["dataplane_reachable"], true, "{}", a.body);
    assert_eq!(a.body["dataplane_workers"], 2);
    assert_eq!(a.body["dataplane_interfaces"], json!(["xv6", "xv4"]));
}

/// Bad session queries are 400 naming the parameter (an unknown tenant 404), and never reach the dataplane.
#[tokio::test]
async fn bad_session_queries() {
    let (t, fake) = setup_fake("badq", NAT64_TOML, false);
    for (q, word) in [
        ("protocol=sctp", "protocol"),
        ("protocol=TCP", "protocol"),
        ("address=203.0.113", "address"),
        ("address=", "address"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("limit=10001", "limit"),
        ("limit=1.5", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("colour=blue", "colour"),
    ] {
        let a = t.call("GET", &format!("/v1/sessions?{q}"), None).await;
        assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            a.body["message"].as_str().unwrap().contains(word),
            "{q}: {}",
            a.body
        );
    }
    let a = t.call("GET", "/v1/sessions?tenant=nobody", None).await;
    assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    assert!(fake.queries().is_empty());
    let a = t.call("GET", "/v1/sessions?limit=10000", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// No dataplane (none configured, or nobody listening): 503 `dataplane_unavailable`, and the status says so.
#[tokio::test]
async fn dataplane_down_is_503() {
    let nobody =
        std::env::temp_dir().join(format!("xlat64-rest-nobody-{}.sock", std::process::id()));
    for (name, dp) in [
        ("down-none", DataplaneClient::new(None)),
        ("down-gone", DataplaneClient::new(Some(nobody))),
    ] {
        let t = setup_full(name, NAT64_TOML, false, dp);
        for uri in ["/v1/stats", "/v1/sessions", "/v1/sessions?protocol=udp"] {
            let a = t.call("GET", uri, None).await;
            assert_error(&a, StatusCode::SERVICE_UNAVAILABLE, "dataplane_unavailable");
        }
        let a = t.call("GET", "/v1/status", None).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body["dataplane_reachable"], false);
        assert_eq!(a.body["dataplane_workers"], Value::Null);
        // Bad values are still 400 first.
        let a = t.call("GET", "/v1/sessions?limit=x", None).await;
        assert_error(&a, StatusCode::BAD_REQUEST, "bad_request");
    }
}

/// The dataplane's reads follow `--auth-reads` like every other read.
#[tokio::test]
async fn dataplane_reads_follow_auth_reads() {
    let (t, _fake) = setup_fake("dpauth", NAT64_TOML, true);
    for uri in ["/v1/stats", "/v1/sessions"] {
        let a = t.call_with("GET", uri, None, &[]).await;
        assert_error(&a, StatusCode::UNAUTHORIZED, "unauthorized");
        let a = t.call("GET", uri, None).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.body);
    }
}
