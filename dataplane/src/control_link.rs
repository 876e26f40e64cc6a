//! The dataplane's end of the control socket ([`mgmt_api::ipc`]): a Unix stream socket the control process
//! (`xlat64-control`) connects to, to push configurations and ask for counters and sessions.
//!
//! [`Server`] listens (mode 0600) and serves every connection on a thread of its own (this is not the packet
//! path): a hello with the running version, then one answer per message, in order. What a message does is the
//! [`Handler`]'s business; [`Live`] is the appliance's: it applies a configuration without stopping traffic
//! (`docs/push.md`):
//!
//! 1. refuse what cannot change while running (the `[dataplane]` section: interfaces, queues, cores, ...);
//! 2. validate and compile the new snapshot (nothing has changed if this fails);
//! 3. add the prefixes the new configuration steers to every interface's XDP maps;
//! 4. publish the snapshot to the workers ([`Control::publish`]), which switch between two batches, carrying
//!    their NAT64 state over, and wait until every worker runs it;
//! 5. remove the prefixes only the old configuration steered.
//!
//! So a packet the kernel hands to the workers always finds a worker configuration that translates it, and
//! a destination both configurations translate never goes to the kernel in between. Every step is one line on
//! stdout.

use std::io::{self, BufReader};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mgmt_api::config::{ConfigError, Dataplane};
use mgmt_api::ipc::{read_message, write_message, FromDataplane, ToDataplane};
use mgmt_api::Config;

use crate::io::steer::{SteerProgram, SteerSet};
use crate::nat64::carry::{self, Fresh};
use crate::nat64::Nat64Capacity;
use crate::tables::Snapshot;
use crate::worker::Control;

/// How often the accepting thread looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// What the socket's messages do.
pub trait Handler: Send + Sync {
    /// The version running (`None`: the start configuration, or an apply that did not complete).
    fn running_version(&self) -> Option<u64>;
    /// Runs `config` as `version`, or explains why not (nothing changed then).
    fn apply(&self, version: u64, config: Config) -> Result<(), Vec<ConfigError>>;
    /// Answers a query (`GetStats`, `GetSessions`; [`crate::report::ReportHub`] in the live appliance).
    fn query(&self, msg: &ToDataplane) -> FromDataplane;
}

/// The answer to queries a dataplane without reports cannot serve.
pub fn not_available() -> FromDataplane {
    FromDataplane::Error {
        message: "not available".into(),
    }
}

/// The listening socket and its accepting thread. Dropping it stops accepting and removes the socket file
/// (connections being served finish on their own threads).
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `path` (mode 0600). A stale socket file (nothing accepts on it) is removed first; a live one,
    /// or a file that is not a socket, is an error.
    pub fn bind(path: &Path, handler: Arc<dyn Handler>) -> io::Result<Server> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use (another dataplane running?)", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("control-socket".into())
            .spawn(move || accept_loop(&listener, &handler, &s))?;
        Ok(Server {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: &UnixListener, handler: &Arc<dyn Handler>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let h = handler.clone();
                let spawned = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn(move || {
                        if let Err(e) = serve(stream, &*h) {
                            println!("xlat64-dataplane: control connection: {e}");
                        }
                    });
                if let Err(e) = spawned {
                    println!("xlat64-dataplane: control connection refused: no thread: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                println!("xlat64-dataplane: control socket accept: {e}");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// One connection: hello, then one answer per message until the peer closes.
pub fn serve(stream: UnixStream, handler: &dyn Handler) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    write_message(
        &mut w,
        &FromDataplane::Hello {
            running_version: handler.running_version(),
        },
    )?;
    loop {
        let msg = match read_message::<_, ToDataplane>(&mut r) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            // A line that does not parse was read whole: say so and go on. A line that never ends cannot be
            // skipped: the connection closes.
            Err(e)
                if e.kind() == io::ErrorKind::InvalidData
                    && e.get_ref().is_some_and(|i| i.is::<serde_json::Error>()) =>
            {
                write_message(
                    &mut w,
                    &FromDataplane::Error {
                        message: format!("not a message: {e}"),
                    },
                )?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let answer = match msg {
            ToDataplane::Apply { version, config } => match handler.apply(version, config) {
                Ok(()) => FromDataplane::Applied { version },
                Err(errors) => FromDataplane::Rejected { version, errors },
            },
            q => handler.query(&q),
        };
        write_message(&mut w, &answer)?;
    }
}

/// The `[dataplane]` fields that differ between `running` and `wanted` (all of them need a restart).
pub fn restart_needed(running: &Dataplane, wanted: &Dataplane) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, same: bool, now: String| {
        if !same {
            errors.push(ConfigError::new(
                format!("/dataplane/{field}"),
                format!(
                    "differs from the running dataplane's ({now}): restart the dataplane to change it"
                ),
            ));
        }
    };
    let names = |d: &Dataplane| {
        d.interfaces
            .iter()
            .map(|i| format!("{} ({:?})", i.name, i.role).to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    };
    check(
        "interfaces",
        running.interfaces == wanted.interfaces,
        names(running),
    );
    check(
        "queues",
        running.queues == wanted.queues,
        running.queues.to_string(),
    );
    check(
        "cores",
        running.cores == wanted.cores,
        format!("{:?}", running.cores),
    );
    check(
        "batch_size",
        running.batch_size == wanted.batch_size,
        running.batch_size.to_string(),
    );
    check(
        "poll_mode",
        running.poll_mode == wanted.poll_mode,
        format!("{:?}", running.poll_mode).to_lowercase(),
    );
    check(
        "poll_timeout_ms",
        running.poll_timeout_ms == wanted.poll_timeout_ms,
        running.poll_timeout_ms.to_string(),
    );
    check(
        "control_socket",
        running.control_socket == wanted.control_socket,
        format!("{:?}", running.control_socket),
    );
    errors
}

/// What the live appliance runs (beside the version).
struct Running {
    /// The latest snapshot published to the workers.
    snapshot: Arc<Snapshot>,
    /// The prefixes in the XDP maps.
    steered: SteerSet,
}

/// The running appliance as a [`Handler`]: applies configurations live (see the module doc).
pub struct Live {
    dataplane: Dataplane,
    ctl: Arc<Control>,
    /// One steering program per interface (shared with the main thread, which keeps the local-address maps).
    steer: Arc<Mutex<Vec<SteerProgram>>>,
    /// Held for a whole apply: applies run one at a time.
    running: Mutex<Running>,
    /// The version running, apart so that hellos and queries do not wait for an apply in progress.
    version: Mutex<Option<u64>>,
    /// Longest wait for every worker to switch.
    switch_timeout: Duration,
    /// The workers' count and NAT64 table size, to build their new tables ahead.
    workers: u16,
    nat64_capacity: Nat64Capacity,
}

impl Live {
    /// The appliance started with `dataplane` and `snapshot` (its maps filled from it), its workers
    /// (`dataplane.queues`, NAT64 tables of `nat64_capacity`) signalled through `ctl`. `switch_timeout` must
    /// exceed the workers' longest sleep (`poll_timeout_ms`).
    pub fn new(
        dataplane: Dataplane,
        snapshot: &Arc<Snapshot>,
        nat64_capacity: Nat64Capacity,
        ctl: Arc<Control>,
        steer: Arc<Mutex<Vec<SteerProgram>>>,
        switch_timeout: Duration,
    ) -> Live {
        Live {
            workers: dataplane.queues,
            nat64_capacity,
            dataplane,
            ctl,
            steer,
            running: Mutex::new(Running {
                snapshot: snapshot.clone(),
                steered: SteerSet::of(snapshot),
            }),
            version: Mutex::new(None),
            switch_timeout,
        }
    }

    fn set_version(&self, v: Option<u64>) {
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    fn log(version: u64, what: impl std::fmt::Display) {
        println!("xlat64-dataplane: apply version {version}: {what}");
    }

    fn reject(version: u64, errors: Vec<ConfigError>) -> Result<(), Vec<ConfigError>> {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Live::log(
            version,
            format_args!("rejected, nothing changed: {}", list.join("; ")),
        );
        Err(errors)
    }
}

impl Handler for Live {
    fn running_version(&self) -> Option<u64> {
        *self.version.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, version: u64, mut config: Config) -> Result<(), Vec<ConfigError>> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        Live::log(
            version,
            format_args!("received, {} tenant(s)", config.tenants.len()),
        );
        if let Some(dp) = &config.dataplane {
            let errors = restart_needed(&self.dataplane, dp);
            if !errors.is_empty() {
                return Live::reject(version, errors);
            }
        }
        if let Err(e) = config.validate() {
            return Live::reject(version, e.0);
        }
        config.normalize();
        let snapshot = match Snapshot::compile(&config) {
            Ok(s) => Arc::new(s),
            Err(e) => return Live::reject(version, e.0),
        };
        let want = SteerSet::of(&snapshot);
        let add = want.minus(&running.steered);
        let gone = running.steered.minus(&want);
        Live::log(
            version,
            format_args!(
                "compiled: {} tenant(s); XDP maps: {} prefix(es) to add, {} to remove",
                snapshot.tenants().len(),
                add.len(),
                gone.len()
            ),
        );
        {
            let progs = self.steer.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = progs.iter().find_map(|p| p.add_set(&add).err()) {
                // Every prefix of `add` was absent before: removing them all restores the maps.
                for p in progs.iter() {
                    p.remove_set(&add);
                }
                return Live::reject(
                    version,
                    vec![ConfigError::new(
                        "",
                        format!("updating the XDP steering maps: {e}"),
                    )],
                );
            }
        }
        Live::log(
            version,
            format_args!("XDP maps: added {} prefix(es)", add.len()),
        );
        // The workers' new NAT64 tables, built here rather than on the workers (when their state is not kept).
        let fresh: Vec<Fresh> = if carry::same_nat64(&running.snapshot, &snapshot) {
            Vec::new()
        } else {
            (0..self.workers)
                .map(|q| Fresh::build(&snapshot, q, self.workers, self.nat64_capacity))
                .collect()
        };
        running.snapshot = snapshot.clone();
        let epoch = self.ctl.publish_with(snapshot, fresh);
        Live::log(
            version,
            format_args!("published to the workers as configuration epoch {epoch}"),
        );
        if let Err(behind) = self.ctl.wait_switched(epoch, self.switch_timeout) {
            // The workers behind switch when they come round; until then both configurations' prefixes stay
            // steered. Which version runs is unknown: say none, so the control process pushes again.
            self.set_version(None);
            running.steered = SteerSet {
                v6: running.steered.v6.union(&want.v6).copied().collect(),
                v4: running.steered.v4.union(&want.v4).copied().collect(),
            };
            return Live::reject(
                version,
                vec![ConfigError::new(
                    "",
                    format!(
                        "worker(s) {behind:?} did not switch within {:?} (stuck or stopped): they will run this \
                         configuration when they come round; the running version is unknown until one is applied",
                        self.switch_timeout
                    ),
                )],
            );
        }
        Live::log(
            version,
            format_args!(
                "every worker runs configuration epoch {epoch} ({} ms)",
                started.elapsed().as_millis()
            ),
        );
        {
            let progs = self.steer.lock().unwrap_or_else(|e| e.into_inner());
            for p in progs.iter() {
                p.remove_set(&gone);
            }
        }
        self.set_version(Some(version));
        running.steered = want;
        Live::log(
            version,
            format_args!(
                "XDP maps: removed {} prefix(es); applied in {} ms",
                gone.len(),
                started.elapsed().as_millis()
            ),
        );
        Ok(())
    }

    fn query(&self, msg: &ToDataplane) -> FromDataplane {
        let Some(hub) = self.ctl.reports.as_deref() else {
            return not_available();
        };
        match msg {
            ToDataplane::GetStats => FromDataplane::Stats(hub.stats(self.running_version())),
            ToDataplane::GetSessions(q) => match hub.sessions(q) {
                Ok(page) => FromDataplane::Sessions(page),
                Err(message) => FromDataplane::Error { message },
            },
            ToDataplane::Apply { .. } => FromDataplane::Error {
                message: "apply is not a query".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts versions below 10, rejects the others.
    struct Fake {
        version: Mutex<Option<u64>>,
    }

    impl Handler for Fake {
        fn running_version(&self) -> Option<u64> {
            *self.version.lock().unwrap()
        }
        fn apply(&self, version: u64, config: Config) -> Result<(), Vec<ConfigError>> {
            config.validate().map_err(|e| e.0)?;
            if version >= 10 {
                return Err(vec![ConfigError::new("/x", "too new")]);
            }
            *self.version.lock().unwrap() = Some(version);
            Ok(())
        }
        fn query(&self, _msg: &ToDataplane) -> FromDataplane {
            not_available()
        }
    }

    fn connect(path: &Path) -> (BufReader<UnixStream>, UnixStream) {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (BufReader::new(s.try_clone().unwrap()), s)
    }

    fn ask(r: &mut BufReader<UnixStream>, w: &mut UnixStream, m: &ToDataplane) -> FromDataplane {
        write_message(w, m).unwrap();
        read_message(r).unwrap().unwrap()
    }

    #[test]
    fn hello_apply_reject_query_and_bad_lines_on_several_connections() {
        let dir = std::env::temp_dir().join(format!("xlat64-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dp.sock");
        // A stale socket file (nobody listens) is replaced.
        drop(UnixListener::bind(&path).unwrap());
        let h = Arc::new(Fake {
            version: Mutex::new(None),
        });
        let server = Server::bind(&path, h.clone()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second server on a live socket is refused.
        assert!(Server::bind(&path, h.clone()).is_err());

        let (mut r1, mut w1) = connect(&path);
        let (mut r2, mut w2) = connect(&path);
        for r in [&mut r1, &mut r2] {
            let hello: FromDataplane = read_message(r).unwrap().unwrap();
            assert_eq!(
                hello,
                FromDataplane::Hello {
                    running_version: None
                }
            );
        }
        let apply = |version| ToDataplane::Apply {
            version,
            config: Config::default(),
        };
        assert_eq!(
            ask(&mut r1, &mut w1, &apply(3)),
            FromDataplane::Applied { version: 3 }
        );
        let FromDataplane::Rejected { version, errors } = ask(&mut r2, &mut w2, &apply(12)) else {
            panic!("expected rejected");
        };
        assert_eq!((version, errors[0].pointer.as_str()), (12, "/x"));
        assert_eq!(
            ask(&mut r2, &mut w2, &ToDataplane::GetStats),
            not_available()
        );
        // A line that is not a message is answered with an error; the connection goes on.
        std::io::Write::write_all(&mut w1, b"{\"type\":\"nonsense\"}\n").unwrap();
        let e: FromDataplane = read_message(&mut r1).unwrap().unwrap();
        assert!(matches!(e, FromDataplane::Error { .. }), "{e:?}");
        assert_eq!(
            ask(&mut r1, &mut w1, &apply(4)),
            FromDataplane::Applied { version: 4 }
        );
        // A new connection's hello says what runs.
        let (mut r3, w3) = connect(&path);
        let hello: FromDataplane = read_message(&mut r3).unwrap().unwrap();
        assert_eq!(
            hello,
            FromDataplane::Hello {
                running_version: Some(4)
            }
        );
        drop(server);
        assert!(!path.exists(), "socket file removed on drop");
        // Connections being served finish on their own: this one still answers.
        let mut w3 = w3;
        assert_eq!(
            ask(&mut r3, &mut w3, &ToDataplane::GetStats),
            not_available()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dataplane_changes_need_a_restart() {
        let a = Config::from_toml_str(
            "[dataplane]\ninterfaces = [{ name = \"a\", role = \"both\" }]\nqueues = 2\n",
        )
        .unwrap()
        .dataplane
        .unwrap();
        assert!(restart_needed(&a, &a).is_empty());
        let mut b = a.clone();
        b.queues = 3;
        b.interfaces[0].name = "b".into();
        let e = restart_needed(&a, &b);
        let pointers: Vec<&str> = e.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/dataplane/interfaces", "/dataplane/queues"]);
        assert!(e[0].message.contains("restart the dataplane"), "{}", e[0]);
        assert!(e[0].message.contains("a (both)"), "{}", e[0]);
    }
}
