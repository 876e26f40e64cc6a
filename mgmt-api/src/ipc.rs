//! Control ⇄ dataplane messages over a Unix stream socket: newline-delimited JSON, one message per line.
//!
//! The dataplane listens; the control process connects. On connect the dataplane says [`FromDataplane::Hello`]
//! with the version it runs; the control process then sends [`ToDataplane::Apply`] whenever the version it
//! holds differs from the one the dataplane acknowledged, and the dataplane answers each with
//! [`FromDataplane::Applied`] (compiled and swapped in) or [`FromDataplane::Rejected`] (nothing changed).
//!
//! Queries ([`ToDataplane::GetStats`], [`ToDataplane::GetSessions`]) may come on the same connection or on
//! others: the dataplane serves several connections at once, each starting with its hello, and answers each
//! message on the connection it came from, in order. A message it cannot serve is answered with
//! [`FromDataplane::Error`].

use std::io::{self, BufRead, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::report::{DataplaneStats, SessionPage, SessionQuery};
use crate::Config;

/// Longest message accepted (a whole configuration, as JSON).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToDataplane {
    /// Run this configuration.
    Apply { version: u64, config: Config },
    /// Every worker's counters: answered with [`FromDataplane::Stats`].
    GetStats,
    /// One page of NAT64 sessions: answered with [`FromDataplane::Sessions`].
    GetSessions(SessionQuery),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromDataplane {
    /// First message on a connection: the version running (`None`: started from a file, or nothing yet).
    Hello {
        running_version: Option<u64>,
    },
    Applied {
        version: u64,
    },
    Rejected {
        version: u64,
        errors: Vec<ConfigError>,
    },
    Stats(DataplaneStats),
    Sessions(SessionPage),
    /// The message could not be served (e.g. a query the dataplane does not know, or bad query values).
    Error {
        message: String,
    },
}

/// Writes one message and its newline, then flushes.
pub fn write_message<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// Reads one message; `Ok(None)` at end of stream. A line over [`MAX_MESSAGE_BYTES`] or one that does not
/// parse is an `InvalidData` error.
pub fn read_message<R: BufRead, T: DeserializeOwned>(r: &mut R) -> io::Result<Option<T>> {
    let mut line = Vec::new();
    let mut limited = io::Read::take(&mut *r, MAX_MESSAGE_BYTES as u64 + 1);
    let n = limited.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            if n > MAX_MESSAGE_BYTES {
                "message too long"
            } else {
                "connection closed mid-message"
            },
        ));
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        let apply = ToDataplane::Apply {
            version: 3,
            config: Config::default(),
        };
        write_message(&mut buf, &apply).unwrap();
        write_message(&mut buf, &FromDataplane::Applied { version: 3 }).unwrap();
        let mut r = io::BufReader::new(&buf[..]);
        assert_eq!(read_message::<_, ToDataplane>(&mut r).unwrap(), Some(apply));
        assert_eq!(
            read_message::<_, FromDataplane>(&mut r).unwrap(),
            Some(FromDataplane::Applied { version: 3 })
        );
        assert_eq!(read_message::<_, FromDataplane>(&mut r).unwrap(), None);
        let mut buf = Vec::new();
        let q = ToDataplane::GetSessions(SessionQuery {
            protocol: Some("tcp".into()),
            limit: Some(5),
            ..SessionQuery::default()
        });
        write_message(&mut buf, &q).unwrap();
        write_message(&mut buf, &ToDataplane::GetStats).unwrap();
        let stats = FromDataplane::Stats(DataplaneStats {
            running_version: Some(2),
            ..DataplaneStats::default()
        });
        write_message(&mut buf, &stats).unwrap();
        let mut r = io::BufReader::new(&buf[..]);
        assert_eq!(read_message::<_, ToDataplane>(&mut r).unwrap(), Some(q));
        assert_eq!(
            read_message::<_, ToDataplane>(&mut r).unwrap(),
            Some(ToDataplane::GetStats)
        );
        assert_eq!(
            read_message::<_, FromDataplane>(&mut r).unwrap(),
            Some(stats)
        );
        let mut r = io::BufReader::new(&b"{\"type\":\"applied\""[..]);
        assert!(read_message::<_, FromDataplane>(&mut r).is_err());
    }
}
