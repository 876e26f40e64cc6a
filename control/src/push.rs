//! Pushing the configuration to the dataplane over its Unix socket ([`mgmt_api::ipc`]).
//!
//! One thread connects (retrying every second), reads the dataplane's hello, and whenever the service holds a
//! version the dataplane has not acknowledged, sends it and waits for the answer. A restarted dataplane gets the
//! current version again on reconnect; a rejected version is not resent (the next version is). Version 0, the
//! empty start, is never pushed: a dataplane started from its own file keeps running it until the control
//! process holds a real configuration.

use std::io::{self, BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mgmt_api::ipc::{read_message, write_message, FromDataplane, ToDataplane};

use crate::service::Service;

/// Between connection attempts.
const RETRY: Duration = Duration::from_secs(1);
/// How often the service's version is compared with the acknowledged one.
const POLL: Duration = Duration::from_millis(50);
/// Longest wait for the dataplane's answer to one message.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The pushing thread; stopped (and joined) on drop.
pub struct Pusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pusher {
    pub fn spawn(service: Arc<Service>, socket: PathBuf) -> Pusher {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("dataplane-push".into())
            .spawn(move || run(&service, &socket, &s))
            .expect("spawn the push thread");
        Pusher {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) {
    let step = Duration::from_millis(20);
    let mut left = d;
    while !stop.load(Ordering::Relaxed) && !left.is_zero() {
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
}

fn run(service: &Service, socket: &std::path::Path, stop: &AtomicBool) {
    let mut reported = false;
    while !stop.load(Ordering::Relaxed) {
        match UnixStream::connect(socket) {
            Ok(stream) => {
                reported = false;
                if let Err(e) = session(service, stream, stop) {
                    eprintln!("xlat64-control: dataplane socket {}: {e}", socket.display());
                }
                service.set_dataplane_version(None);
            }
            Err(e) => {
                if !reported {
                    eprintln!(
                        "xlat64-control: cannot reach the dataplane at {}: {e} (retrying)",
                        socket.display()
                    );
                    reported = true;
                }
                sleep_unless_stopped(stop, RETRY);
            }
        }
    }
}

fn protocol(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.into())
}

fn session(service: &Service, stream: UnixStream, stop: &AtomicBool) -> io::Result<()> {
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    // Wait for the hello, checking the stop flag between short waits.
    w.set_read_timeout(Some(POLL))?;
    loop {
        match r.fill_buf() {
            Ok([]) => return Err(protocol("closed before hello")),
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
    w.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    let mut acked = match read_message::<_, FromDataplane>(&mut r)? {
        Some(FromDataplane::Hello { running_version }) => running_version,
        Some(other) => return Err(protocol(format!("expected hello, got {other:?}"))),
        None => return Err(protocol("closed before hello")),
    };
    service.set_dataplane_version(acked);
    let mut rejected = None;
    while !stop.load(Ordering::Relaxed) {
        let cur = service.current();
        if cur.version == 0 || Some(cur.version) == acked || Some(cur.version) == rejected {
            // Idle: wait up to POLL for the dataplane to go away (end of stream), so a restarted dataplane is
            // reconnected to and re-pushed without waiting for the next version.
            w.set_read_timeout(Some(POLL))?;
            match r.fill_buf() {
                Ok([]) => return Err(protocol("closed")),
                Ok(_) => return Err(protocol("unexpected message while idle")),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
            w.set_read_timeout(Some(ANSWER_TIMEOUT))?;
            continue;
        }
        write_message(
            &mut w,
            &ToDataplane::Apply {
                version: cur.version,
                config: cur.config.clone(),
            },
        )?;
        match read_message::<_, FromDataplane>(&mut r)? {
            Some(FromDataplane::Applied { version }) if version == cur.version => {
                acked = Some(version);
                service.set_dataplane_version(acked);
            }
            Some(FromDataplane::Rejected { version, errors }) if version == cur.version => {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                eprintln!(
                    "xlat64-control: the dataplane rejected version {version}: {}",
                    list.join("; ")
                );
                rejected = Some(version);
            }
            Some(other) => return Err(protocol(format!("unexpected answer {other:?}"))),
            None => return Err(protocol("closed")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::WriteOptions;
    use mgmt_api::config::Tenant;
    use mgmt_api::Config;
    use std::os::unix::net::UnixListener;
    use std::time::Instant;

    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fake dataplane: says hello with `running`, then answers `answers` Apply messages (rejecting version
    /// `reject`); returns the versions it was sent and the connection (dropping it is a dataplane restart).
    fn fake_dataplane(
        listener: &UnixListener,
        running: Option<u64>,
        answers: usize,
        reject: Option<u64>,
    ) -> (Vec<u64>, UnixStream) {
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        write_message(
            &mut w,
            &FromDataplane::Hello {
                running_version: running,
            },
        )
        .unwrap();
        let mut got = Vec::new();
        for _ in 0..answers {
            let Some(ToDataplane::Apply { version, config }) = read_message(&mut r).unwrap() else {
                break;
            };
            config.validate().unwrap();
            got.push(version);
            let answer = if Some(version) == reject {
                FromDataplane::Rejected {
                    version,
                    errors: vec![],
                }
            } else {
                FromDataplane::Applied { version }
            };
            write_message(&mut w, &answer).unwrap();
        }
        (got, w)
    }

    #[test]
    fn pushes_each_version_and_again_after_a_dataplane_restart() {
        let dir = std::env::temp_dir().join(format!("xlat64-push-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("dataplane.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let mut cfg = Config::default();
        let mut t = Tenant::new("a", 1);
        t.pool6 = Some("2001:db8:64::/96".parse().unwrap());
        cfg.tenants.push(t);
        let service = Arc::new(Service::open(&dir.join("state"), 5, Some(cfg.clone())).unwrap());
        let pusher = Pusher::spawn(Arc::clone(&service), sock.clone());

        // First dataplane: runs nothing; gets version 1, then 2; rejects 3.
        let svc = Arc::clone(&service);
        let writer = std::thread::spawn(move || {
            wait_for("ack of 1", || svc.status().dataplane_version == Some(1));
            let mut c2 = svc.current().config.clone();
            c2.tenants[0].id = 2;
            svc.put_config(c2.clone(), WriteOptions::default()).unwrap();
            wait_for("ack of 2", || svc.status().dataplane_version == Some(2));
            c2.tenants[0].id = 3;
            svc.put_config(c2, WriteOptions::default()).unwrap();
        });
        let (got, conn) = fake_dataplane(&listener, None, 3, Some(3));
        writer.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
        // The rejected version is not acknowledged.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(service.status().dataplane_version, Some(2));

        // The dataplane restarts (the connection drops): the current version is pushed again.
        drop(conn);
        let (got, conn) = fake_dataplane(&listener, Some(2), 1, None);
        assert_eq!(got, [3]);
        wait_for("ack of 3", || service.status().dataplane_version == Some(3));
        drop(conn);
        wait_for("disconnect seen", || {
            service.status().dataplane_version.is_none()
        });
        drop(pusher);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
