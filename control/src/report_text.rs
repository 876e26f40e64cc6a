//! The `xlat64 stats` and `xlat64 sessions` texts: the dataplane's reports as plain-text tables.

use std::collections::{BTreeMap, BTreeSet};

use mgmt_api::report::{DataplaneStats, Session, SessionPage};

use crate::table::Table;

/// The text of `xlat64 stats`.
pub fn stats_text(s: &DataplaneStats) -> String {
    let mut text = format!(
        "dataplane: configuration version {}, up {} s, {} workers, interfaces {}\n\n",
        s.running_version
            .map_or_else(|| "from its file".to_owned(), |v| v.to_string()),
        s.uptime_seconds,
        s.workers.len(),
        if s.interfaces.is_empty() {
            "-".to_owned()
        } else {
            s.interfaces.join(", ")
        }
    );
    // Per direction: [received, translated, dropped, fragments, icmp errors, handed off].
    let mut by_direction: BTreeMap<&str, [u64; 6]> = BTreeMap::new();
    // Per (reason, direction): packets.
    let mut drops: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for w in &s.workers {
        for row in &w.translator {
            let d = by_direction.entry(row.direction.as_str()).or_default();
            let dropped: u64 = row.dropped.values().sum();
            for (i, v) in [
                row.received,
                row.translated,
                dropped,
                row.fragments_created,
                row.icmp_errors_sent,
                row.handed_off,
            ]
            .into_iter()
            .enumerate()
            {
                d[i] += v;
            }
            for (reason, &n) in &row.dropped {
                if n > 0 {
                    *drops.entry((reason, &row.direction)).or_default() += n;
                }
            }
        }
    }
    let mut t = Table::new(&[
        "DIRECTION",
        "RECEIVED",
        "TRANSLATED",
        "DROPPED",
        "FRAGMENTS",
        "ICMP_ERRORS",
        "HANDED_OFF",
    ]);
    for (d, v) in &by_direction {
        let mut row = vec![(*d).to_owned()];
        row.extend(v.iter().map(u64::to_string));
        t.row(row);
    }
    text += &t.render();
    text += "\n";
    if drops.is_empty() {
        text += "no drops\n";
    } else {
        let mut t = Table::new(&["DROP_REASON", "DIRECTION", "PACKETS"]);
        for ((reason, d), n) in &drops {
            t.row(vec![(*reason).to_owned(), (*d).to_owned(), n.to_string()]);
        }
        text += &t.render();
    }
    text += "\n";
    // One line per worker: its I/O counters (every name any worker reports), NAT64 sessions, batches' mean time.
    let names: BTreeSet<&str> = s
        .workers
        .iter()
        .flat_map(|w| w.io.keys().map(String::as_str))
        .collect();
    let mut header = vec!["WORKER".to_owned()];
    header.extend(names.iter().map(|n| n.to_uppercase()));
    header.push("SESSIONS".into());
    header.push("MEAN_BATCH_US".into());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = Table::new(&header);
    for w in &s.workers {
        let mut row = vec![w.worker.to_string()];
        row.extend(
            names
                .iter()
                .map(|n| w.io.get(*n).map_or_else(|| "-".to_owned(), u64::to_string)),
        );
        row.push(w.nat64.iter().map(|t| t.sessions).sum::<u64>().to_string());
        let h = &w.batch_latency;
        row.push(if h.count == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", h.sum_seconds / h.count as f64 * 1e6)
        });
        t.row(row);
    }
    text += &t.render();
    text
}

fn transport(addr: std::net::IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(addr, port).to_string()
}

/// The text of `xlat64 sessions`.
pub fn sessions_text(p: &SessionPage) -> String {
    let mut t = Table::new(&[
        "TENANT",
        "WORKER",
        "PROTO",
        "IPV6",
        "IPV4",
        "REMOTE",
        "STATE",
        "EXPIRES_S",
        "STATIC",
    ]);
    for s in &p.sessions {
        let Session {
            tenant,
            worker,
            protocol,
            state,
            expires_in_seconds,
            static_binding,
            ..
        } = s;
        t.row(vec![
            tenant.clone(),
            worker.to_string(),
            protocol.clone(),
            transport(s.ipv6_address.into(), s.ipv6_port),
            transport(s.ipv4_address.into(), s.ipv4_port),
            transport(s.remote_address.into(), s.remote_port),
            state.clone(),
            expires_in_seconds.to_string(),
            if *static_binding { "yes" } else { "no" }.to_owned(),
        ]);
    }
    let mut text = t.render();
    let shown = p.sessions.len();
    text += &if shown == 0 {
        format!("0 shown of {} sessions\n", p.total)
    } else {
        format!(
            "{}-{} shown of {} sessions\n",
            p.offset + 1,
            p.offset + shown,
            p.total
        )
    };
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_sessions_text() {
        let s = crate::fake_dataplane::sample_stats();
        let text = stats_text(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "dataplane: configuration version 1, up 42 s, 2 workers, interfaces xv6, xv4"
        );
        let v6 = lines.iter().find(|l| l.starts_with("v6_to_v4")).unwrap();
        let cols: Vec<&str> = v6.split_whitespace().collect();
        // received 600 + 500, translated 590 + 500, dropped 7, fragments 4, icmp 2, handed off 3.
        assert_eq!(cols, ["v6_to_v4", "1100", "1090", "7", "4", "2", "3"]);
        let reason = crate::fake_dataplane::sample_drop_reason();
        let drop_lines: Vec<&&str> = lines.iter().filter(|l| l.starts_with(reason)).collect();
        assert_eq!(drop_lines.len(), 2, "{text}");
        assert!(drop_lines[0]
            .split_whitespace()
            .eq([reason, "unknown", "5"]));
        let w1 = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some("1"))
            .unwrap();
        assert!(w1.split_whitespace().any(|c| c == "500"), "{w1}");

        let page = SessionPage {
            total: 7,
            offset: 3,
            sessions: crate::fake_dataplane::sample_sessions(),
        };
        let text = sessions_text(&page);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TENANT"));
        assert_eq!(lines.len(), 5);
        assert!(lines[1].contains("[2001:db8:1::10]:40000"), "{}", lines[1]);
        assert!(lines[1].contains("198.51.100.7:443"));
        assert_eq!(lines[4], "4-6 shown of 7 sessions");
    }
}
