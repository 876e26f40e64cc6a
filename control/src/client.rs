//! A small blocking HTTP client for the control process's REST API (the `xlat64` CLI's transport).

use std::time::Duration;

use mgmt_api::api::{ErrorBody, VersionList, WriteResult};
use mgmt_api::report::{DataplaneStats, SessionPage};
use mgmt_api::Config;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;

/// Characters escaped in one path segment: all but unreserved ones (RFC 3986 §2.3).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One URL path segment, escaped (`192.0.2.0/24` → `192.0.2.0%2F24`).
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error.
    #[error("{status} {}: {}", body.error, body.message)]
    Api { status: u16, body: ErrorBody },
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
}

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// `base`: `http://127.0.0.1:8064` (a trailing `/` is fine).
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    /// One request. `body`: (content type, text).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
        if_match: Option<u64>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.request(method, &url);
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(v) = if_match {
            req = req.set("If-Match", &mgmt_api::api::etag(v));
        }
        let result = match body {
            Some((ct, text)) => req.set("Content-Type", ct).send_string(&text),
            None => req.call(),
        };
        match result {
            Ok(resp) => {
                let status = resp.status();
                let etag = resp.header("ETag").map(str::to_owned);
                let body = resp.into_string().map_err(|e| ClientError::Decode {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
                Ok(Answer { status, etag, body })
            }
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or(ErrorBody {
                    error: "http".into(),
                    message: text,
                    errors: Vec::new(),
                });
                Err(ClientError::Api { status, body })
            }
            Err(ureq::Error::Transport(t)) => Err(ClientError::Transport {
                url,
                message: t.to_string(),
            }),
        }
    }

    fn decode<T: DeserializeOwned>(&self, path: &str, a: &Answer) -> Result<T, ClientError> {
        serde_json::from_str(&a.body).map_err(|e| ClientError::Decode {
            url: format!("{}{path}", self.base),
            message: e.to_string(),
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let a = self.send("GET", path, None, None)?;
        self.decode(path, &a)
    }

    /// A JSON write (POST, PUT, DELETE) with `?dry_run=true` when asked.
    pub fn write(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        dry_run: bool,
        if_match: Option<u64>,
    ) -> Result<WriteResult, ClientError> {
        let p = if dry_run {
            format!("{path}?dry_run=true")
        } else {
            path.to_owned()
        };
        let a = self.send(
            method,
            &p,
            body.map(|b| ("application/json", b.to_string())),
            if_match,
        )?;
        self.decode(&p, &a)
    }

    /// The current configuration and its version (from the ETag).
    pub fn config(&self) -> Result<(u64, Config), ClientError> {
        let a = self.send("GET", "/v1/config", None, None)?;
        let version = a
            .etag
            .as_deref()
            .and_then(|e| mgmt_api::api::parse_if_match(e).ok().flatten())
            .ok_or_else(|| ClientError::Decode {
                url: format!("{}/v1/config", self.base),
                message: "no ETag with the configuration version".into(),
            })?;
        let cfg = self.decode("/v1/config", &a)?;
        Ok((version, cfg))
    }

    pub fn put_config(
        &self,
        config: &Config,
        dry_run: bool,
        if_match: Option<u64>,
    ) -> Result<WriteResult, ClientError> {
        let v = serde_json::to_value(config).expect("a Config serializes to JSON");
        self.write("PUT", "/v1/config", Some(&v), dry_run, if_match)
    }

    pub fn versions(&self) -> Result<VersionList, ClientError> {
        self.get("/v1/config/versions")
    }

    /// `GET /v1/stats`: the dataplane's counters.
    pub fn stats(&self) -> Result<DataplaneStats, ClientError> {
        self.get("/v1/stats")
    }

    /// `GET /v1/sessions` with the query's parameters (the control process checks their values).
    pub fn sessions(&self, q: &SessionsFilter) -> Result<SessionPage, ClientError> {
        self.get(&sessions_path(q))
    }
}

/// The parameters of `GET /v1/sessions`, as the operator wrote them (checked by the control process).
#[derive(Debug, Clone, Default)]
pub struct SessionsFilter {
    pub tenant: Option<String>,
    pub protocol: Option<String>,
    pub address: Option<String>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

/// `/v1/sessions?tenant=..&...`, each value escaped.
pub fn sessions_path(q: &SessionsFilter) -> String {
    let offset = q.offset.map(|v| v.to_string());
    let limit = q.limit.map(|v| v.to_string());
    let params: Vec<String> = [
        ("tenant", q.tenant.as_deref()),
        ("protocol", q.protocol.as_deref()),
        ("address", q.address.as_deref()),
        ("offset", offset.as_deref()),
        ("limit", limit.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={}", segment(v))))
    .collect();
    if params.is_empty() {
        "/v1/sessions".to_owned()
    } else {
        format!("/v1/sessions?{}", params.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_query_string() {
        assert_eq!(sessions_path(&SessionsFilter::default()), "/v1/sessions");
        let q = SessionsFilter {
            tenant: Some("a b".into()),
            address: Some("2001:db8::1".into()),
            limit: Some(5),
            ..SessionsFilter::default()
        };
        assert_eq!(
            sessions_path(&q),
            "/v1/sessions?tenant=a%20b&address=2001%3Adb8%3A%3A1&limit=5"
        );
    }
}
