//! Queries to the dataplane over its Unix socket ([`mgmt_api::ipc`]): its counters and its NAT64 sessions.
//!
//! Each query is one short connection of its own (connect, read the hello, ask, read the answer, close), apart
//! from the push thread's long-lived one ([`crate::push`]): nothing to reconnect after a dataplane restart, and
//! a stuck query cannot hold up configuration pushes. The whole exchange has one deadline
//! ([`QUERY_TIMEOUT`]), so a hung dataplane costs a scrape or a request at most that long.

use std::io::{self, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mgmt_api::ipc::{read_message, write_message, FromDataplane, ToDataplane};
use mgmt_api::report::{DataplaneStats, SessionPage, SessionQuery};

/// Longest a query may take, from connect to the last byte of the answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The control process was started without `--dataplane-socket`.
    #[error("no dataplane socket configured (xlat64-control --dataplane-socket)")]
    NotConfigured,
    /// Connecting, writing or reading failed, timed out, or the answer was not the protocol's.
    #[error("dataplane at {socket} unreachable: {message}")]
    Unreachable { socket: String, message: String },
    /// The dataplane answered with an error (a query it does not serve, or values it refused).
    #[error("the dataplane refused the query: {0}")]
    Refused(String),
}

/// Where the dataplane listens; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DataplaneClient {
    socket: Option<PathBuf>,
}

/// Reads from a stream with every read bounded by what is left of one deadline.
struct DeadlineReader<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut s: &UnixStream = self.stream;
        s.read(buf)
    }
}

impl DataplaneClient {
    /// `None`: no dataplane; every query answers [`QueryError::NotConfigured`].
    pub fn new(socket: Option<PathBuf>) -> DataplaneClient {
        DataplaneClient { socket }
    }

    pub fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    /// Every worker's counters.
    pub fn stats(&self) -> Result<DataplaneStats, QueryError> {
        match self.ask(&ToDataplane::GetStats)? {
            FromDataplane::Stats(s) => Ok(s),
            other => Err(self.unexpected(&other)),
        }
    }

    /// One page of NAT64 sessions. The query is passed as is: check its values first.
    pub fn sessions(&self, q: &SessionQuery) -> Result<SessionPage, QueryError> {
        match self.ask(&ToDataplane::GetSessions(q.clone()))? {
            FromDataplane::Sessions(p) => Ok(p),
            other => Err(self.unexpected(&other)),
        }
    }

    fn unreachable(&self, message: impl Into<String>) -> QueryError {
        QueryError::Unreachable {
            socket: self
                .socket
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            message: message.into(),
        }
    }

    fn unexpected(&self, answer: &FromDataplane) -> QueryError {
        let kind = serde_json::to_value(answer)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned))
            .unwrap_or_default();
        self.unreachable(format!("unexpected answer of type {kind:?}"))
    }

    /// One connection: hello, the question, the answer (`Error` becomes [`QueryError::Refused`]).
    fn ask(&self, question: &ToDataplane) -> Result<FromDataplane, QueryError> {
        let socket = self.socket.as_deref().ok_or(QueryError::NotConfigured)?;
        let deadline = Instant::now() + QUERY_TIMEOUT;
        // A Unix-socket connect does not wait for the peer's accept: it succeeds or fails at once.
        let stream = UnixStream::connect(socket).map_err(|e| self.unreachable(e.to_string()))?;
        stream
            .set_write_timeout(Some(QUERY_TIMEOUT))
            .map_err(|e| self.unreachable(e.to_string()))?;
        let mut r = BufReader::new(DeadlineReader {
            stream: &stream,
            deadline,
        });
        let mut read = |what: &str| -> Result<FromDataplane, QueryError> {
            match read_message::<_, FromDataplane>(&mut r) {
                Ok(Some(m)) => Ok(m),
                Ok(None) => Err(self.unreachable(format!("closed before the {what}"))),
                Err(e) => Err(self.unreachable(format!("reading the {what}: {e}"))),
            }
        };
        match read("hello")? {
            FromDataplane::Hello { .. } => {}
            other => return Err(self.unexpected(&other)),
        }
        write_message(&mut &stream, question)
            .map_err(|e| self.unreachable(format!("sending the query: {e}")))?;
        match read("answer")? {
            FromDataplane::Error { message } => Err(QueryError::Refused(message)),
            answer => Ok(answer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_dataplane::{sample_sessions, sample_stats, FakeDataplane};
    use std::os::unix::net::UnixListener;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xlat64-dpc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn stats_and_sessions_from_a_fake_dataplane() {
        let d = dir("ok");
        let fake = FakeDataplane::start(&d.join("dp.sock"));
        let c = DataplaneClient::new(Some(fake.socket().to_owned()));
        assert_eq!(c.stats().unwrap(), sample_stats());
        let q = SessionQuery {
            protocol: Some("udp".into()),
            ..SessionQuery::default()
        };
        let page = c.sessions(&q).unwrap();
        let udp: Vec<_> = sample_sessions()
            .into_iter()
            .filter(|s| s.protocol == "udp")
            .collect();
        assert_eq!(page.total, udp.len() as u64);
        assert_eq!(page.sessions, udp);
        assert_eq!(fake.queries().last(), Some(&q));
        // The fake refuses an unknown protocol as the dataplane does: Refused, not Unreachable.
        let bad = SessionQuery {
            protocol: Some("sctp".into()),
            ..SessionQuery::default()
        };
        assert!(matches!(c.sessions(&bad), Err(QueryError::Refused(_))));
        drop(fake);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn unreachable_unconfigured_and_hung() {
        assert!(matches!(
            DataplaneClient::new(None).stats(),
            Err(QueryError::NotConfigured)
        ));
        let d = dir("down");
        let c = DataplaneClient::new(Some(d.join("nobody.sock")));
        assert!(matches!(c.stats(), Err(QueryError::Unreachable { .. })));
        // A dataplane that accepts but never speaks: the query gives up at the deadline.
        let listener = UnixListener::bind(d.join("hung.sock")).unwrap();
        let c = DataplaneClient::new(Some(d.join("hung.sock")));
        let t = Instant::now();
        let e = c.stats().unwrap_err();
        assert!(matches!(e, QueryError::Unreachable { .. }), "{e}");
        assert!(t.elapsed() >= QUERY_TIMEOUT, "{:?}", t.elapsed());
        assert!(t.elapsed() < QUERY_TIMEOUT * 2, "{:?}", t.elapsed());
        drop(listener);
        let _ = std::fs::remove_dir_all(&d);
    }
}
