//! Session log (`log_sessions = true`): one event per session created or deleted, so an operator can tell
//! which IPv6 client used which pool4 address and port at a given time. Events wait in a bounded per-worker
//! buffer (filled without allocating once it has grown to its capacity) until the worker drains them as JSON
//! lines ([`crate::pipeline::Pipeline::drain_session_log`]); a full buffer drops events and counts them.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::Proto;

/// Events a worker keeps before they are drained.
pub const LOG_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Deleted,
}

/// One session created or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEvent {
    pub kind: EventKind,
    /// Clock value (ns).
    pub time_ns: u64,
    pub tenant: u16,
    pub proto: Proto,
    pub addr6: [u8; 16],
    pub port6: u16,
    pub addr4: [u8; 4],
    pub port4: u16,
    pub remote4: [u8; 4],
    pub rport: u16,
}

impl SessionEvent {
    /// Appends the event as one JSON object (no newline) to `out`:
    /// `{"time_ns":…,"event":"create","tenant":"…","protocol":"udp","ipv6":"2001:db8::5#5000",
    /// "ipv4":"203.0.113.1#40000","remote":"198.51.100.7#53"}`.
    pub fn write_json(&self, tenant_name: &str, out: &mut String) {
        let event = match self.kind {
            EventKind::Created => "create",
            EventKind::Deleted => "delete",
        };
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        };
        // Tenant names are [A-Za-z0-9_.-] (validated): no escaping needed.
        let _ = write!(
            out,
            r#"{{"time_ns":{},"event":"{event}","tenant":"{tenant_name}","protocol":"{proto}","ipv6":"{}#{}","ipv4":"{}#{}","remote":"{}#{}"}}"#,
            self.time_ns,
            Ipv6Addr::from(self.addr6),
            self.port6,
            Ipv4Addr::from(self.addr4),
            self.port4,
            Ipv4Addr::from(self.remote4),
            self.rport,
        );
    }
}

/// A worker's pending events.
#[derive(Debug, Default)]
pub struct SessionLog {
    events: Vec<SessionEvent>,
    /// Events lost to a full buffer.
    pub dropped: u64,
}

impl SessionLog {
    pub fn new() -> Self {
        SessionLog {
            events: Vec::with_capacity(LOG_CAPACITY),
            dropped: 0,
        }
    }

    #[inline]
    pub fn push(&mut self, e: SessionEvent) {
        if self.events.len() < LOG_CAPACITY {
            self.events.push(e);
        } else {
            self.dropped += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Hands every pending event to `f`, oldest first, and empties the buffer (keeping its capacity).
    pub fn drain(&mut self, mut f: impl FnMut(&SessionEvent)) {
        for e in &self.events {
            f(e);
        }
        self.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_and_bound() {
        let e = SessionEvent {
            kind: EventKind::Created,
            time_ns: 5,
            tenant: 0,
            proto: Proto::Udp,
            addr6: "2001:db8::5".parse::<Ipv6Addr>().unwrap().octets(),
            port6: 5000,
            addr4: [203, 0, 113, 1],
            port4: 40000,
            remote4: [198, 51, 100, 7],
            rport: 53,
        };
        let mut s = String::new();
        e.write_json("blue", &mut s);
        assert_eq!(
            s,
            r#"{"time_ns":5,"event":"create","tenant":"blue","protocol":"udp","ipv6":"2001:db8::5#5000","ipv4":"203.0.113.1#40000","remote":"198.51.100.7#53"}"#
        );
        let mut log = SessionLog::new();
        for _ in 0..LOG_CAPACITY + 3 {
            log.push(e);
        }
        assert_eq!((log.len(), log.dropped), (LOG_CAPACITY, 3));
        let mut n = 0;
        log.drain(|_| n += 1);
        assert_eq!((n, log.len()), (LOG_CAPACITY, 0));
    }
}
