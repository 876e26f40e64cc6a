//! The REST API (axum): thin handlers over [`crate::service::Service`]. Paths and bodies are mgmt_api's
//! ([`mgmt_api::api`]); this module maps them to service calls and service errors to HTTP statuses.
//!
//! - Errors are always [`ErrorBody`] JSON: the service's typed errors, axum's own rejections (bad query, wrong
//!   method, body too large) and unknown routes alike. Bad input is a 4xx, never a 500.
//! - Writes need `Authorization: Bearer TOKEN` (and reads too when configured; `POST /v1/trace` is a read).
//! - `GET /v1/config` carries the version as ETag; writes honour `If-Match` (412 when stale) and
//!   `?dry_run=true`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ipnet::Ipv4Net;
use mgmt_api::api::{
    self, ErrorBody, FieldError, RollbackRequest, Status, TraceRequest, TraceResponse, VersionList,
    VersionedConfig, WriteResult,
};
use mgmt_api::config::{
    EamEntry, Nat64Protocol, Pool4Entry, StaticBibEntry, Tenant, TransportAddr4,
};
use mgmt_api::report::{
    DataplaneStats, SessionPage, SessionQuery, SESSIONS_DEFAULT_LIMIT, SESSIONS_MAX_LIMIT,
};
use mgmt_api::Config;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::OpenApi;

use crate::dataplane_client::{DataplaneClient, QueryError};
use crate::service::{parse_ipv4_prefix, Service, ServiceError, WriteOptions};

/// What the handlers share.
pub struct ApiState {
    pub service: Arc<Service>,
    /// The bearer token; `None` turns authentication off (tests, or a deliberate local setup).
    pub token: Option<String>,
    /// Require the token for reads too.
    pub auth_reads: bool,
    /// Where `GET /v1/stats`, `/v1/sessions` and `/v1/status` ask the dataplane.
    pub dataplane: DataplaneClient,
}

/// An error answer: a status and the uniform body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                message: message.into(),
                errors: Vec::new(),
            },
        }
    }

    fn bad_field(pointer: &str, message: impl Into<String>) -> ApiError {
        ServiceError::BadRequest {
            message: String::new(),
            errors: vec![FieldError {
                pointer: pointer.to_owned(),
                message: message.into(),
            }],
        }
        .into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        let (status, code, errors) = match e {
            ServiceError::Invalid(errs) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                errs.iter().map(FieldError::from).collect(),
            ),
            ServiceError::BadRequest { errors, .. } => {
                (StatusCode::BAD_REQUEST, "bad_request", errors)
            }
            ServiceError::Conflict { .. } => {
                (StatusCode::PRECONDITION_FAILED, "version_conflict", vec![])
            }
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", vec![]),
            ServiceError::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists", vec![]),
            ServiceError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", vec![]),
        };
        let message = if message.is_empty() {
            errors
                .iter()
                .map(|e: &FieldError| format!("{}: {}", e.pointer, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            message
        };
        ApiError {
            status,
            body: ErrorBody {
                error: code.to_owned(),
                message,
                errors,
            },
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let message = e.to_string();
        match e {
            QueryError::NotConfigured | QueryError::Unreachable { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "dataplane_unavailable",
                message,
            ),
            QueryError::Refused(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "dataplane_error", message)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// `?dry_run=true` on every write.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WriteQuery {
    /// Validate and answer as if applied; store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn write_options(headers: &HeaderMap, q: &WriteQuery) -> ApiResult<WriteOptions> {
    let expected_version = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => {
            let s = v.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "If-Match is not ASCII",
                )
            })?;
            api::parse_if_match(s)
                .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m))?
        }
    };
    Ok(WriteOptions {
        expected_version,
        dry_run: q.dry_run,
    })
}

/// Parses a JSON body, naming the faulty field by its pointer.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = pointer_of(e.path());
        ApiError::bad_field(&pointer, e.inner().to_string())
    })?;
    de.end()
        .map_err(|e| ApiError::bad_field("", e.to_string()))?;
    Ok(v)
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn written(w: WriteResult, created: bool) -> Response {
    let status = if created && w.changed && !w.dry_run {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let version = if w.dry_run {
        w.previous_version
    } else {
        w.version
    };
    let mut r = (status, Json(w)).into_response();
    if let Ok(v) = HeaderValue::from_str(&api::etag(version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// Runs a write (which fsyncs the state directory) on the blocking pool, off the async workers.
async fn on_disk<T: Send + 'static>(
    s: &Arc<ApiState>,
    f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
) -> ApiResult<T> {
    let svc = Arc::clone(&s.service);
    tokio::task::spawn_blocking(move || f(&svc))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(ApiError::from)
}

// --- handlers -------------------------------------------------------------------------------------------------

/// The current configuration; its version is the ETag.
#[utoipa::path(get, path = "/v1/config", tag = "config",
    responses((status = 200, description = "The configuration (docs/config.md); ETag: its version", body = Object)))]
async fn get_config(State(s): State<Arc<ApiState>>) -> Response {
    let c = s.service.current();
    let mut r = Json(&c.config).into_response();
    if let Ok(v) = HeaderValue::from_str(&api::etag(c.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// Replaces the whole configuration atomically. JSON, or TOML with `Content-Type: application/toml`.
#[utoipa::path(put, path = "/v1/config", tag = "config", params(WriteQuery),
    request_body(content = Object, description = "The whole configuration (docs/config.md)"),
    responses(
        (status = 200, description = "Applied (or, dry run, would be)", body = WriteResult),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 412, description = "If-Match is not the current version", body = ErrorBody),
        (status = 422, description = "Invalid configuration: every faulty field by pointer", body = ErrorBody)))]
async fn put_config(
    State(s): State<Arc<ApiState>>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_field("", "the body is not UTF-8"))?;
    let is_toml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("toml"));
    let config = if is_toml {
        Config::parse_toml(text)
    } else {
        Config::parse_json(text)
    }
    .map_err(|errs| ApiError {
        status: StatusCode::BAD_REQUEST,
        body: ErrorBody {
            error: "bad_request".into(),
            message: errs.to_string(),
            errors: errs.iter().map(FieldError::from).collect(),
        },
    })?;
    Ok(written(
        on_disk(&s, move |svc| svc.put_config(config, opts)).await?,
        false,
    ))
}

/// The kept versions, oldest first.
#[utoipa::path(get, path = "/v1/config/versions", tag = "config",
    responses((status = 200, body = VersionList)))]
async fn get_versions(State(s): State<Arc<ApiState>>) -> Json<VersionList> {
    Json(s.service.versions())
}

/// One kept version's configuration.
#[utoipa::path(get, path = "/v1/config/versions/{version}", tag = "config",
    params(("version" = u64, Path)),
    responses((status = 200, body = VersionedConfig), (status = 404, body = ErrorBody)))]
async fn get_version(
    State(s): State<Arc<ApiState>>,
    Path(version): Path<String>,
) -> ApiResult<Json<VersionedConfig>> {
    let v = version.parse::<u64>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{version:?} is not a version number"),
        )
    })?;
    Ok(Json(s.service.version(v)?))
}

/// Makes a kept version's configuration current again, as a new version.
#[utoipa::path(post, path = "/v1/config/rollback", tag = "config", params(WriteQuery),
    request_body = RollbackRequest,
    responses((status = 200, body = WriteResult), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody)))]
async fn rollback(
    State(s): State<Arc<ApiState>>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let req: RollbackRequest = parse_body(&body)?;
    Ok(written(
        on_disk(&s, move |svc| svc.rollback(req.version, opts)).await?,
        false,
    ))
}

/// The tenants.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<Object>)))]
async fn list_tenants(State(s): State<Arc<ApiState>>) -> Json<Vec<Tenant>> {
    Json(s.service.tenants())
}

/// Adds a tenant (a `[[tenants]]` table of docs/config.md, as JSON).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", params(WriteQuery),
    request_body = Object,
    responses((status = 201, body = WriteResult), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_tenant(
    State(s): State<Arc<ApiState>>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let t: Tenant = parse_body(&body)?;
    Ok(written(
        on_disk(&s, move |svc| svc.create_tenant(t, opts)).await?,
        true,
    ))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant name")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_tenant(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(s.service.tenant(&tenant)?))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}", tag = "tenants", params(WriteQuery,
    ("tenant" = String, Path, description = "Tenant name")),
    responses((status = 200, body = WriteResult), (status = 404, body = ErrorBody)))]
async fn delete_tenant(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    Ok(written(
        on_disk(&s, move |svc| svc.delete_tenant(&tenant, opts)).await?,
        false,
    ))
}

fn prefix_param(name: &str, s: &str) -> ApiResult<Ipv4Net> {
    parse_ipv4_prefix(s).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{name} {s:?} is not an IPv4 prefix (write 192.0.2.0%2F24 in the URL)"),
        )
    })
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/eamt", tag = "eamt",
    params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
async fn list_eam(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<EamEntry>>> {
    Ok(Json(s.service.eam_entries(&tenant)?))
}

/// Adds an EAM entry `{ "ipv4": "192.0.2.0/24", "ipv6": "2001:db8:6::/120" }`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/eamt", tag = "eamt",
    params(WriteQuery, ("tenant" = String, Path)), request_body = Object,
    responses((status = 201, body = WriteResult), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_eam(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let e: EamEntry = parse_body(&body)?;
    Ok(written(
        on_disk(&s, move |svc| svc.create_eam_entry(&tenant, e, opts)).await?,
        true,
    ))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/eamt/{ipv4}", tag = "eamt",
    params(("tenant" = String, Path), ("ipv4" = String, Path, description = "The entry's IPv4 prefix, `/` as %2F")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_eam(
    State(s): State<Arc<ApiState>>,
    Path((tenant, ipv4)): Path<(String, String)>,
) -> ApiResult<Json<EamEntry>> {
    let p = prefix_param("ipv4", &ipv4)?;
    Ok(Json(s.service.eam_entry(&tenant, p)?))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/eamt/{ipv4}", tag = "eamt",
    params(WriteQuery, ("tenant" = String, Path), ("ipv4" = String, Path)),
    responses((status = 200, body = WriteResult), (status = 404, body = ErrorBody)))]
async fn delete_eam(
    State(s): State<Arc<ApiState>>,
    Path((tenant, ipv4)): Path<(String, String)>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let p = prefix_param("ipv4", &ipv4)?;
    Ok(written(
        on_disk(&s, move |svc| svc.delete_eam_entry(&tenant, p, opts)).await?,
        false,
    ))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/pool4", tag = "pool4",
    params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
async fn list_pool4(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<Pool4Entry>>> {
    Ok(Json(s.service.pool4_entries(&tenant)?))
}

/// Adds a pool4 entry `{ "prefix": "203.0.113.0/28", "tcp": "1024-65535", ... }` (NAT64 tenants).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/pool4", tag = "pool4",
    params(WriteQuery, ("tenant" = String, Path)), request_body = Object,
    responses((status = 201, body = WriteResult), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_pool4(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let e: Pool4Entry = parse_body(&body)?;
    Ok(written(
        on_disk(&s, move |svc| svc.create_pool4_entry(&tenant, e, opts)).await?,
        true,
    ))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/pool4/{prefix}", tag = "pool4",
    params(("tenant" = String, Path), ("prefix" = String, Path, description = "`/` as %2F")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_pool4(
    State(s): State<Arc<ApiState>>,
    Path((tenant, prefix)): Path<(String, String)>,
) -> ApiResult<Json<Pool4Entry>> {
    let p = prefix_param("prefix", &prefix)?;
    Ok(Json(s.service.pool4_entry(&tenant, p)?))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/pool4/{prefix}", tag = "pool4",
    params(WriteQuery, ("tenant" = String, Path), ("prefix" = String, Path)),
    responses((status = 200, body = WriteResult), (status = 404, body = ErrorBody)))]
async fn delete_pool4(
    State(s): State<Arc<ApiState>>,
    Path((tenant, prefix)): Path<(String, String)>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let p = prefix_param("prefix", &prefix)?;
    Ok(written(
        on_disk(&s, move |svc| svc.delete_pool4_entry(&tenant, p, opts)).await?,
        false,
    ))
}

fn bib_key(protocol: &str, ipv4: &str) -> ApiResult<(Nat64Protocol, TransportAddr4)> {
    let p: Nat64Protocol = serde_json::from_value(serde_json::Value::String(protocol.to_owned()))
        .map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("protocol {protocol:?} is not tcp, udp or icmp"),
        )
    })?;
    // `addr#port` (`#` written %23 in a URL) or `addr:port`.
    let normalized = match ipv4.rsplit_once(':') {
        Some((a, port)) if !ipv4.contains('#') => format!("{a}#{port}"),
        _ => ipv4.to_owned(),
    };
    let a = normalized
        .parse::<TransportAddr4>()
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m))?;
    Ok((p, a))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/bib", tag = "bib",
    params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
async fn list_bib(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<StaticBibEntry>>> {
    Ok(Json(s.service.bib_entries(&tenant)?))
}

/// Adds a static BIB entry `{ "protocol": "tcp", "ipv4": "203.0.113.1#80", "ipv6": "2001:db8::10#80" }`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/bib", tag = "bib",
    params(WriteQuery, ("tenant" = String, Path)), request_body = Object,
    responses((status = 201, body = WriteResult), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_bib(
    State(s): State<Arc<ApiState>>,
    Path(tenant): Path<String>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let e: StaticBibEntry = parse_body(&body)?;
    Ok(written(
        on_disk(&s, move |svc| svc.create_bib_entry(&tenant, e, opts)).await?,
        true,
    ))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/bib/{protocol}/{ipv4}", tag = "bib",
    params(("tenant" = String, Path), ("protocol" = String, Path, description = "tcp, udp or icmp"),
        ("ipv4" = String, Path, description = "`addr:port` or `addr%23port`")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_bib(
    State(s): State<Arc<ApiState>>,
    Path((tenant, protocol, ipv4)): Path<(String, String, String)>,
) -> ApiResult<Json<StaticBibEntry>> {
    let (p, a) = bib_key(&protocol, &ipv4)?;
    Ok(Json(s.service.bib_entry(&tenant, p, a)?))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/bib/{protocol}/{ipv4}", tag = "bib",
    params(WriteQuery, ("tenant" = String, Path), ("protocol" = String, Path), ("ipv4" = String, Path)),
    responses((status = 200, body = WriteResult), (status = 404, body = ErrorBody)))]
async fn delete_bib(
    State(s): State<Arc<ApiState>>,
    Path((tenant, protocol, ipv4)): Path<(String, String, String)>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let opts = write_options(&headers, &q)?;
    let (p, a) = bib_key(&protocol, &ipv4)?;
    Ok(written(
        on_disk(&s, move |svc| svc.delete_bib_entry(&tenant, p, a, opts)).await?,
        false,
    ))
}

/// Runs a dataplane query (a blocking socket exchange, at most its timeout) on the blocking pool.
async fn ask_dataplane<T: Send + 'static>(
    s: &Arc<ApiState>,
    f: impl FnOnce(&DataplaneClient) -> Result<T, QueryError> + Send + 'static,
) -> ApiResult<T> {
    let dp = s.dataplane.clone();
    tokio::task::spawn_blocking(move || f(&dp))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(ApiError::from)
}

/// The control process (configuration version, uptime) and whether the dataplane answers (asked now: up to
/// 2 s when it hangs).
#[utoipa::path(get, path = "/v1/status", tag = "status", responses((status = 200, body = Status)))]
async fn status(State(s): State<Arc<ApiState>>) -> Json<Status> {
    let mut st = s.service.status();
    if let Ok(stats) = ask_dataplane(&s, DataplaneClient::stats).await {
        st.dataplane_reachable = true;
        st.dataplane_workers = Some(stats.workers.len());
        st.dataplane_interfaces = stats.interfaces;
    }
    Json(st)
}

/// Every dataplane worker's counters, as the dataplane reports them (the numbers behind `/metrics`).
#[utoipa::path(get, path = "/v1/stats", tag = "dataplane",
    responses((status = 200, body = DataplaneStats),
        (status = 502, description = "The dataplane refused the query", body = ErrorBody),
        (status = 503, description = "No dataplane answered within 2 s", body = ErrorBody)))]
async fn stats(State(s): State<Arc<ApiState>>) -> ApiResult<Json<DataplaneStats>> {
    Ok(Json(ask_dataplane(&s, DataplaneClient::stats).await?))
}

/// `GET /v1/sessions` query parameters, as text: each is checked here so a bad value is a 400 naming it.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionsParams {
    /// Only this tenant's sessions (a tenant of the configuration).
    pub tenant: Option<String>,
    /// `tcp`, `udp` or `icmp`.
    pub protocol: Option<String>,
    /// Sessions any of whose addresses (IPv6 client, pool4 address, IPv4 remote) is this one.
    pub address: Option<String>,
    /// Matching sessions to skip (default 0).
    #[param(value_type = Option<u64>)]
    pub offset: Option<String>,
    /// Page size, 0 to 10000 (default 100).
    #[param(value_type = Option<u64>)]
    pub limit: Option<String>,
}

fn bad_param(name: &str, value: &str, want: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!("query parameter {name}={value:?}: {want}"),
    )
}

/// Checks the parameters and makes the dataplane's query of them.
fn session_query(svc: &Service, p: SessionsParams) -> ApiResult<SessionQuery> {
    let number = |name: &str, v: &str| {
        v.parse::<usize>()
            .map_err(|_| bad_param(name, v, "not a whole number"))
    };
    if let Some(t) = &p.tenant {
        svc.tenant(t)?;
    }
    if let Some(proto) = &p.protocol {
        if !["tcp", "udp", "icmp"].contains(&proto.as_str()) {
            return Err(bad_param("protocol", proto, "not tcp, udp or icmp"));
        }
    }
    let address = p
        .address
        .as_deref()
        .map(|a| {
            a.parse()
                .map_err(|_| bad_param("address", a, "not an IPv4 or IPv6 address"))
        })
        .transpose()?;
    let offset = p
        .offset
        .as_deref()
        .map(|v| number("offset", v))
        .transpose()?
        .unwrap_or(0);
    let limit = p
        .limit
        .as_deref()
        .map(|v| {
            number("limit", v).and_then(|n| {
                if n > SESSIONS_MAX_LIMIT {
                    Err(bad_param(
                        "limit",
                        v,
                        &format!("at most {SESSIONS_MAX_LIMIT}"),
                    ))
                } else {
                    Ok(n)
                }
            })
        })
        .transpose()?
        .unwrap_or(SESSIONS_DEFAULT_LIMIT);
    Ok(SessionQuery {
        tenant: p.tenant,
        protocol: p.protocol,
        address,
        offset,
        limit: Some(limit),
    })
}

/// One page of stateful NAT64 sessions, over all workers.
#[utoipa::path(get, path = "/v1/sessions", tag = "dataplane", params(SessionsParams),
    responses((status = 200, body = SessionPage),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 404, description = "Unknown tenant", body = ErrorBody),
        (status = 502, description = "The dataplane refused the query", body = ErrorBody),
        (status = 503, description = "No dataplane answered within 2 s", body = ErrorBody)))]
async fn sessions(
    State(s): State<Arc<ApiState>>,
    Query(p): Query<SessionsParams>,
) -> ApiResult<Json<SessionPage>> {
    let q = session_query(&s.service, p)?;
    Ok(Json(ask_dataplane(&s, move |dp| dp.sessions(&q)).await?))
}

/// How the current configuration translates a packet: direction, tenant, verdict, drop reason and the packets
/// out. Nothing is sent.
#[utoipa::path(post, path = "/v1/trace", tag = "trace", request_body = TraceRequest,
    responses((status = 200, body = TraceResponse), (status = 400, body = ErrorBody)))]
async fn trace(State(s): State<Arc<ApiState>>, body: Bytes) -> ApiResult<Json<TraceResponse>> {
    let req: TraceRequest = parse_body(&body)?;
    Ok(Json(s.service.trace(&req)?))
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "status",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "xlat64 control API", description = "Configuration, status, dataplane counters and sessions, and packet traces of the xlat64 translator. Writes need a bearer token."),
    paths(get_config, put_config, get_versions, get_version, rollback, list_tenants, create_tenant,
        get_tenant, delete_tenant, list_eam, create_eam, get_eam, delete_eam, list_pool4, create_pool4,
        get_pool4, delete_pool4, list_bib, create_bib, get_bib, delete_bib, status, stats, sessions, trace,
        openapi_json),
    components(schemas(ErrorBody, FieldError, WriteResult, VersionList, mgmt_api::api::VersionInfo,
        VersionedConfig, RollbackRequest, Status, TraceRequest, TraceResponse, mgmt_api::api::TraceIngress,
        mgmt_api::api::TraceOutput, mgmt_api::api::TraceTenant, mgmt_api::api::PacketEncoding,
        DataplaneStats, mgmt_api::report::WorkerStats, mgmt_api::report::TranslatorCounters,
        mgmt_api::report::Nat64Tables, mgmt_api::report::Pool4Usage, mgmt_api::report::LatencyHistogram,
        mgmt_api::report::XdpSocketCounters, SessionPage, mgmt_api::report::Session)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

/// The OpenAPI document of this router.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

// --- middleware ---------------------------------------------------------------------------------------------

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authenticate(State(s): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    // A trace changes nothing: it is a read, though it needs a body (POST).
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || (req.method() == Method::POST && req.uri().path() == "/v1/trace");
    if let Some(token) = &s.token {
        if !is_read || s.auth_reads {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let ok = given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()));
            if !ok {
                let mut r = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this request needs Authorization: Bearer TOKEN (the control process's --token-file)",
                )
                .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"xlat64\""),
                );
                return r;
            }
        }
    }
    next.run(req).await
}

/// Turns every error answer that is not already [`ErrorBody`] JSON (axum's rejections: bad query string,
/// wrong method, body too large, ...) into one.
async fn uniform_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned()
    } else {
        text
    };
    let mut r = ApiError::new(status, code, message).into_response();
    // Keep what the original answer said about allowed methods.
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        r.headers_mut().insert(header::ALLOW, allow.clone());
    }
    r
}

async fn no_route(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

/// The API's router. Tests call it with `tower::ServiceExt::oneshot`; `xlat64-control` serves it.
pub fn router(state: Arc<ApiState>) -> Router {
    let tenant = "/v1/tenants/{tenant}";
    Router::new()
        .route("/v1/config", get(get_config).put(put_config))
        .route("/v1/config/versions", get(get_versions))
        .route("/v1/config/versions/{version}", get(get_version))
        .route("/v1/config/rollback", post(rollback))
        .route("/v1/tenants", get(list_tenants).post(create_tenant))
        .route(tenant, get(get_tenant).delete(delete_tenant))
        .route(&format!("{tenant}/eamt"), get(list_eam).post(create_eam))
        .route(
            &format!("{tenant}/eamt/{{ipv4}}"),
            get(get_eam).delete(delete_eam),
        )
        .route(
            &format!("{tenant}/pool4"),
            get(list_pool4).post(create_pool4),
        )
        .route(
            &format!("{tenant}/pool4/{{prefix}}"),
            get(get_pool4).delete(delete_pool4),
        )
        .route(&format!("{tenant}/bib"), get(list_bib).post(create_bib))
        .route(
            &format!("{tenant}/bib/{{protocol}}/{{ipv4}}"),
            get(get_bib).delete(delete_bib),
        )
        .route("/v1/status", get(status))
        .route("/v1/stats", get(stats))
        .route("/v1/sessions", get(sessions))
        .route("/v1/trace", post(trace))
        .route("/v1/openapi.json", get(openapi_json))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ))
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(middleware::map_response(uniform_errors))
        .with_state(state)
}

#[cfg(test)]
mod tests;
