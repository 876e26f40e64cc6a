//! Prometheus `/metrics` (DESIGN §4.9), served on its own listener. Every metric is listed in docs/metrics.md.
//!
//! Each scrape asks the dataplane for its counters ([`DataplaneClient::stats`], one short connection, at most
//! [`crate::dataplane_client::QUERY_TIMEOUT`]) and exposes them as they are: the dataplane's counters are
//! already running totals, so nothing is accumulated here and a restarted control process loses nothing. When
//! the dataplane does not answer, `xlat64_dataplane_up` is 0 and the per-worker series are absent, but every
//! drop reason is still exposed (at 0, labelled only by reason and direction) so alerts written against them
//! keep evaluating.
//!
//! The dataplane's per-worker I/O counters (`rx_packets`, `tx_ring_full`, ...) each become their own counter
//! family `xlat64_worker_<name>_total{worker}` rather than one family with a `counter` label: Prometheus practice
//! is that summing a family over a label must mean something, and received packets plus ring-full events does
//! not. New counters the dataplane adds appear without a change here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use dataplane::stats::{Direction, DropReason};
use mgmt_api::report::{DataplaneStats, LatencyHistogram};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::dataplane_client::DataplaneClient;
use crate::service::Service;

/// The control process's metrics: what it holds itself, and what the dataplane reports at scrape time.
pub struct Metrics {
    service: Arc<Service>,
    dataplane: DataplaneClient,
}

/// The media type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label set, in the order the labels are written.
type Labels = Vec<(&'static str, String)>;

impl Metrics {
    pub fn new(service: Arc<Service>, dataplane: DataplaneClient) -> Metrics {
        Metrics { service, dataplane }
    }

    /// Asks the dataplane (blocking, at most the query timeout) and renders the exposition text.
    pub fn render(&self) -> String {
        self.render_with(self.dataplane.stats().ok())
    }

    /// The exposition text (OpenMetrics) for this dataplane report (`None`: the dataplane did not answer).
    pub fn render_with(&self, stats: Option<DataplaneStats>) -> String {
        let mut registry = Registry::default();
        registry.register(
            "xlat64_build",
            "xlat64's build: version of the control process",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let version = self.service.current().version;
        registry.register(
            "xlat64_config_version",
            "Configuration version the control process holds (0: none stored yet)",
            ConstGauge::new(i64::try_from(version).unwrap_or(i64::MAX)),
        );
        registry.register_collector(Box::new(Report { stats }));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// One scrape's dataplane report, encoded as metric families.
#[derive(Debug)]
struct Report {
    stats: Option<DataplaneStats>,
}

/// Sums samples by label set: a family must not repeat one, even if a report did.
#[derive(Default)]
struct Samples<V>(BTreeMap<Labels, V>);

impl<V: Copy + std::ops::Add<Output = V>> Samples<V> {
    fn add(&mut self, labels: Labels, v: V) {
        self.0
            .entry(labels)
            .and_modify(|x| *x = *x + v)
            .or_insert(v);
    }
}

fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &Samples<u64>,
) -> std::fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in &samples.0 {
        family
            .encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(v, None)?;
    }
    Ok(())
}

fn gauges(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &Samples<u64>,
) -> std::fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in &samples.0 {
        family.encode_family(labels)?.encode_gauge(v)?;
    }
    Ok(())
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

/// The report's cumulative buckets as the encoder wants them (per bucket; it sums them back), ending in +Inf.
fn histogram_buckets(h: &LatencyHistogram) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(h.buckets.len() + 1);
    let mut below = 0u64;
    for &(le, cumulative) in &h.buckets {
        out.push((le, cumulative.saturating_sub(below)));
        below = below.max(cumulative);
    }
    if out.last().is_none_or(|&(le, _)| le != f64::INFINITY) {
        out.push((f64::INFINITY, h.count.saturating_sub(below)));
    }
    out
}

/// A dataplane counter name as part of a metric name: `[a-z0-9_]` only.
fn metric_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn worker_tenant(worker: u32, tenant: &str) -> Labels {
    vec![
        ("worker", worker.to_string()),
        ("tenant", tenant.to_owned()),
    ]
}

impl Collector for Report {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        gauge(
            &mut enc,
            "xlat64_dataplane_up",
            "1 if the dataplane answered this scrape's query, else 0",
            i64::from(self.stats.is_some()),
        )?;
        let Some(stats) = &self.stats else {
            return counters(
                &mut enc,
                "xlat64_packets_dropped",
                DROPPED_HELP,
                &every_reason_at_zero(),
            );
        };
        if let Some(v) = stats.running_version {
            gauge(
                &mut enc,
                "xlat64_dataplane_config_version",
                "Configuration version the dataplane runs (absent: it runs the file it was started with)",
                i64::try_from(v).unwrap_or(i64::MAX),
            )?;
        }
        gauge(
            &mut enc,
            "xlat64_dataplane_uptime_seconds",
            "Seconds since the dataplane started",
            i64::try_from(stats.uptime_seconds).unwrap_or(i64::MAX),
        )?;
        translator(&mut enc, stats)?;
        io(&mut enc, stats)?;
        nat64(&mut enc, stats)?;
        latency(&mut enc, stats)?;
        xdp(&mut enc, stats)
    }
}

const DROPPED_HELP: &str =
    "Packets the dataplane dropped, by reason (docs/metrics.md), worker, tenant and direction";

fn with_reason(labels: &Labels, reason: &str) -> Labels {
    let mut l = Vec::with_capacity(labels.len() + 1);
    l.push(("reason", reason.to_owned()));
    l.extend(labels.iter().cloned());
    l
}

/// Without a report: every (reason, direction) at 0, so the family and all its reasons always exist.
fn every_reason_at_zero() -> Samples<u64> {
    let mut dropped = Samples::default();
    for &reason in DropReason::ALL {
        for direction in Direction::ALL {
            dropped.add(
                vec![
                    ("reason", reason.as_str().to_owned()),
                    ("direction", direction.as_str().to_owned()),
                ],
                0,
            );
        }
    }
    dropped
}

fn translator(enc: &mut DescriptorEncoder, stats: &DataplaneStats) -> std::fmt::Result {
    let mut received = Samples::default();
    let mut translated = Samples::default();
    let mut fragments = Samples::default();
    let mut icmp_errors = Samples::default();
    let mut handed_off = Samples::default();
    let mut dropped = Samples::default();
    for w in &stats.workers {
        for row in &w.translator {
            let mut labels = worker_tenant(w.worker, row.tenant.as_deref().unwrap_or(""));
            labels.push(("direction", row.direction.clone()));
            received.add(labels.clone(), row.received);
            translated.add(labels.clone(), row.translated);
            fragments.add(labels.clone(), row.fragments_created);
            icmp_errors.add(labels.clone(), row.icmp_errors_sent);
            handed_off.add(labels.clone(), row.handed_off);
            // Every known reason, even if this dataplane's report left some out; and those it knows that
            // this build does not (a newer dataplane).
            for &reason in DropReason::ALL {
                let v = row.dropped.get(reason.as_str()).copied().unwrap_or(0);
                dropped.add(with_reason(&labels, reason.as_str()), v);
            }
            for (reason, &v) in &row.dropped {
                if !DropReason::ALL.iter().any(|r| r.as_str() == reason) {
                    dropped.add(with_reason(&labels, reason), v);
                }
            }
        }
    }
    if dropped.0.is_empty() {
        // A dataplane with no rows yet: still every reason.
        dropped = every_reason_at_zero();
    }
    counters(
        enc,
        "xlat64_packets_received",
        "Packets the translator received, by worker, tenant (empty: no tenant claimed it) and direction",
        &received,
    )?;
    counters(
        enc,
        "xlat64_packets_translated",
        "Packets translated and sent (fragments of one packet count once)",
        &translated,
    )?;
    counters(enc, "xlat64_packets_dropped", DROPPED_HELP, &dropped)?;
    counters(
        enc,
        "xlat64_fragments_created",
        "Fragments the translator made of packets too big for the next link",
        &fragments,
    )?;
    counters(
        enc,
        "xlat64_icmp_errors_sent",
        "ICMP errors the translator sent back to a packet's sender",
        &icmp_errors,
    )?;
    counters(
        enc,
        "xlat64_packets_handed_off",
        "Packets handed to the worker that owns their NAT64 state",
        &handed_off,
    )
}

fn io(enc: &mut DescriptorEncoder, stats: &DataplaneStats) -> std::fmt::Result {
    let mut families: BTreeMap<String, Samples<u64>> = BTreeMap::new();
    for w in &stats.workers {
        for (name, &v) in &w.io {
            families
                .entry(metric_part(name))
                .or_default()
                .add(vec![("worker", w.worker.to_string())], v);
        }
    }
    for (name, samples) in &families {
        counters(
            enc,
            &format!("xlat64_worker_{name}"),
            &format!("The dataplane worker's {name} counter (docs/metrics.md)"),
            samples,
        )?;
    }
    Ok(())
}

fn nat64(enc: &mut DescriptorEncoder, stats: &DataplaneStats) -> std::fmt::Result {
    let mut sessions = Samples::default();
    let mut bib = Samples::default();
    let mut in_use = Samples::default();
    let mut total = Samples::default();
    for w in &stats.workers {
        for t in &w.nat64 {
            sessions.add(worker_tenant(w.worker, &t.tenant), t.sessions);
            bib.add(worker_tenant(w.worker, &t.tenant), t.bib_entries);
            for p in &t.pool4 {
                let mut l = worker_tenant(w.worker, &t.tenant);
                l.push(("address", p.address.to_string()));
                l.push(("protocol", p.protocol.clone()));
                in_use.add(l.clone(), p.ports_in_use);
                total.add(l, p.ports_total);
            }
        }
    }
    gauges(
        enc,
        "xlat64_nat64_sessions",
        "Stateful NAT64 sessions, by worker and tenant",
        &sessions,
    )?;
    gauges(
        enc,
        "xlat64_nat64_bib_entries",
        "Stateful NAT64 bindings (BIB entries, static ones included), by worker and tenant",
        &bib,
    )?;
    gauges(
        enc,
        "xlat64_pool4_ports_in_use",
        "Ports (ICMP: identifiers) of the worker's pool4 slice bound now",
        &in_use,
    )?;
    gauges(
        enc,
        "xlat64_pool4_ports",
        "Ports (ICMP: identifiers) of the worker's pool4 slice",
        &total,
    )
}

fn latency(enc: &mut DescriptorEncoder, stats: &DataplaneStats) -> std::fmt::Result {
    let mut family = enc.encode_descriptor(
        "xlat64_batch_duration_seconds",
        "Time a worker takes for one batch, from receive to TX kick",
        None,
        MetricType::Histogram,
    )?;
    for w in &stats.workers {
        let h = &w.batch_latency;
        family
            .encode_family(&vec![("worker", w.worker.to_string())])?
            .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &histogram_buckets(h), None)?;
    }
    Ok(())
}

fn xdp(enc: &mut DescriptorEncoder, stats: &DataplaneStats) -> std::fmt::Result {
    type Field = fn(&mgmt_api::report::XdpSocketCounters) -> u64;
    let fields: [(&str, &str, Field); 6] = [
        (
            "rx_dropped",
            "Frames the kernel dropped for the AF_XDP socket (XDP_STATISTICS rx_dropped)",
            |x| x.rx_dropped,
        ),
        (
            "rx_ring_full",
            "Frames dropped because the socket's RX ring was full",
            |x| x.rx_ring_full,
        ),
        (
            "rx_fill_ring_empty",
            "Times the socket's fill ring was empty (no buffer for a frame)",
            |x| x.rx_fill_ring_empty,
        ),
        (
            "rx_invalid",
            "Frames dropped as invalid descriptors on receive",
            |x| x.rx_invalid,
        ),
        (
            "tx_invalid",
            "Invalid descriptors on the socket's TX ring",
            |x| x.tx_invalid,
        ),
        (
            "tx_ring_empty",
            "Times the kernel found the socket's TX ring empty",
            |x| x.tx_ring_empty,
        ),
    ];
    for (name, help, get) in fields {
        let mut samples = Samples::default();
        for w in &stats.workers {
            for x in &w.xdp {
                samples.add(
                    vec![
                        ("worker", w.worker.to_string()),
                        ("interface", x.interface.clone()),
                    ],
                    get(x),
                );
            }
        }
        counters(enc, &format!("xlat64_xdp_{name}"), help, &samples)?;
    }
    Ok(())
}

/// `GET /metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let m = Arc::clone(&metrics);
            async move {
                // The dataplane query blocks (up to its timeout): off the async workers.
                match tokio::task::spawn_blocking(move || m.render()).await {
                    Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests;
