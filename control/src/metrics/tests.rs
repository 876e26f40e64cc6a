//! The dataplane's canned report as metrics, parsed back with a Prometheus text parser; no dataplane; the docs.

use super::*;
use crate::fake_dataplane::{sample_drop_reason, sample_stats};
use prometheus_parse::{Sample, Scrape, Value};

fn metrics(name: &str) -> (Metrics, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("xlat64-metrics-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let service = Arc::new(Service::open(&dir, 5, None).unwrap());
    (Metrics::new(service, DataplaneClient::new(None)), dir)
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("a valid exposition")
}

/// The one sample of `name` whose labels include all of `labels`.
fn one<'a>(s: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> &'a Sample {
    let hits: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(hits.len(), 1, "{name} {labels:?}: {hits:?}");
    hits[0]
}

fn num(s: &Sample) -> f64 {
    match s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn the_report_as_metrics() {
    let (m, dir) = metrics("report");
    let text = m.render_with(Some(sample_stats()));
    let s = parse(&text);
    assert_eq!(num(one(&s, "xlat64_dataplane_up", &[])), 1.0);
    assert_eq!(num(one(&s, "xlat64_dataplane_config_version", &[])), 1.0);
    assert_eq!(num(one(&s, "xlat64_config_version", &[])), 0.0);
    let demo0 = [
        ("worker", "0"),
        ("tenant", "demo"),
        ("direction", "v6_to_v4"),
    ];
    assert_eq!(num(one(&s, "xlat64_packets_received_total", &demo0)), 600.0);
    assert_eq!(
        num(one(&s, "xlat64_packets_translated_total", &demo0)),
        590.0
    );
    assert_eq!(num(one(&s, "xlat64_fragments_created_total", &demo0)), 4.0);
    assert_eq!(num(one(&s, "xlat64_icmp_errors_sent_total", &demo0)), 2.0);
    assert_eq!(num(one(&s, "xlat64_packets_handed_off_total", &demo0)), 3.0);
    let mut with_reason = demo0.to_vec();
    with_reason.push(("reason", sample_drop_reason()));
    assert_eq!(
        num(one(&s, "xlat64_packets_dropped_total", &with_reason)),
        7.0
    );
    // Untenanted frames: tenant "".
    let none = [("worker", "0"), ("tenant", ""), ("direction", "unknown")];
    assert_eq!(num(one(&s, "xlat64_packets_received_total", &none)), 5.0);
    // Every reason of every row, zeros included: 4 rows.
    let dropped = s
        .samples
        .iter()
        .filter(|x| x.metric == "xlat64_packets_dropped_total")
        .count();
    assert_eq!(dropped, 4 * DropReason::ALL.len());
    assert_eq!(
        num(one(
            &s,
            "xlat64_worker_rx_packets_total",
            &[("worker", "1")]
        )),
        500.0
    );
    assert_eq!(
        num(one(
            &s,
            "xlat64_worker_tx_ring_full_total",
            &[("worker", "0")]
        )),
        0.0
    );
    let nat = [("worker", "0"), ("tenant", "mobile")];
    assert_eq!(num(one(&s, "xlat64_nat64_sessions", &nat)), 2.0);
    assert_eq!(
        num(one(&s, "xlat64_nat64_bib_entries", &[("worker", "1")])),
        1.0
    );
    let port = [
        ("worker", "0"),
        ("address", "203.0.113.1"),
        ("protocol", "tcp"),
    ];
    assert_eq!(num(one(&s, "xlat64_pool4_ports_in_use", &port)), 1.0);
    assert_eq!(num(one(&s, "xlat64_pool4_ports", &port)), 32256.0);
    let xdp = [("worker", "0"), ("interface", "xv6")];
    assert_eq!(num(one(&s, "xlat64_xdp_rx_ring_full_total", &xdp)), 2.0);
    // The histogram: cumulative buckets as reported, then +Inf = count.
    let h = one(&s, "xlat64_batch_duration_seconds", &[("worker", "0")]);
    let Value::Histogram(buckets) = &h.value else {
        panic!("{h:?}")
    };
    let got: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
    assert_eq!(
        got,
        [
            (0.000_001, 10.0),
            (0.000_01, 35.0),
            (0.000_1, 40.0),
            (f64::INFINITY, 40.0)
        ]
    );
    assert!(
        text.contains("xlat64_batch_duration_seconds_count{worker=\"1\"} 20"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_a_dataplane_every_reason_at_zero() {
    let (m, dir) = metrics("down");
    // No socket configured: the query fails, as an unreachable one does.
    let s = parse(&m.render());
    assert_eq!(num(one(&s, "xlat64_dataplane_up", &[])), 0.0);
    let dropped: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == "xlat64_packets_dropped_total")
        .collect();
    assert_eq!(dropped.len(), DropReason::ALL.len() * Direction::ALL.len());
    assert!(dropped.iter().all(|x| num(x) == 0.0));
    assert!(!s
        .samples
        .iter()
        .any(|x| x.metric == "xlat64_packets_received_total"));
    let _ = std::fs::remove_dir_all(dir);
}

/// docs/metrics.md names every metric family and every drop reason.
#[test]
fn every_metric_and_reason_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
        .unwrap();
    let (m, dir) = metrics("doc");
    let text = m.render_with(Some(sample_stats()));
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        let exposed = match kind {
            "counter" => format!("{name}_total"),
            "info" => format!("{name}_info"),
            _ => name.to_owned(),
        };
        let documented = if exposed.starts_with("xlat64_worker_") && kind == "counter" {
            "xlat64_worker_<name>_total".to_owned()
        } else {
            exposed
        };
        assert!(
            doc.contains(&format!("| `{documented}` |")),
            "{documented} is not in docs/metrics.md"
        );
    }
    for r in DropReason::ALL {
        assert!(
            doc.contains(&format!("| `{}` |", r.as_str())),
            "reason {}",
            r.as_str()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn buckets_made_per_bucket_with_inf() {
    let h = LatencyHistogram {
        buckets: vec![(1.0, 2), (2.0, 5)],
        count: 9,
        sum_seconds: 3.0,
    };
    assert_eq!(
        histogram_buckets(&h),
        [(1.0, 2), (2.0, 3), (f64::INFINITY, 4)]
    );
    let h = LatencyHistogram {
        buckets: vec![(1.0, 2), (f64::INFINITY, 3)],
        count: 3,
        sum_seconds: 3.0,
    };
    assert_eq!(histogram_buckets(&h), [(1.0, 2), (f64::INFINITY, 1)]);
    assert_eq!(metric_part("rx-Packets"), "rx_packets");
}
