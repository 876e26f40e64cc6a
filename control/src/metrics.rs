//! Prometheus `/metrics` (DESIGN §4.9), served on its own listener.
//!
//! What the control process knows today: its build, the configuration version it holds, and the dataplane's
//! drop counters with every (reason, direction) label set present from the start. The dataplane does not report
//! its counters to the control process yet, so those counters stay at 0 here; they are exported so dashboards
//! and alerts can be written against the full label set now (the values will be the workers' sums on scrape).

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use dataplane::stats::{Direction, DropReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::service::Service;

/// `{reason, direction}` of `xlat64_packets_dropped_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub reason: String,
    pub direction: String,
}

/// The control process's metrics.
pub struct Metrics {
    registry: Registry,
    service: Arc<Service>,
    config_version: Gauge,
    /// Kept so the dataplane's reports can feed it once they arrive.
    pub dropped: Family<DropLabels, Counter>,
}

/// The media type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Metrics {
    pub fn new(service: Arc<Service>) -> Metrics {
        let mut registry = Registry::default();
        registry.register(
            "xlat64_build",
            "xlat64's build: version of the control process",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let config_version = Gauge::default();
        registry.register(
            "xlat64_config_version",
            "Configuration version the control process holds (0: none stored yet)",
            config_version.clone(),
        );
        let dropped = Family::<DropLabels, Counter>::default();
        for &reason in DropReason::ALL {
            for direction in Direction::ALL {
                let _ = dropped.get_or_create(&DropLabels {
                    reason: reason.as_str().to_owned(),
                    direction: direction.as_str().to_owned(),
                });
            }
        }
        registry.register(
            "xlat64_packets_dropped",
            "Packets the dataplane dropped, by reason and direction (0 until the dataplane reports to control)",
            dropped.clone(),
        );
        Metrics {
            registry,
            service,
            config_version,
            dropped,
        }
    }

    /// The exposition text (OpenMetrics), with gauges read now.
    pub fn render(&self) -> String {
        let v = self.service.current().version;
        self.config_version
            .set(i64::try_from(v).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// `GET /metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let m = Arc::clone(&metrics);
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], m.render()).into_response() }
        }),
    )
}
