//! The one service layer (DESIGN §4.8): every way of changing or reading the configuration — REST handlers, the
//! CLI through them — goes through [`Service`], which returns typed errors.
//!
//! Every write, whole-config or per-object, works the same way: under one lock, check the expected version
//! (optimistic concurrency), apply the change to a copy of the current configuration, validate the whole
//! candidate (mgmt_api's rules, then the dataplane's compiler), and only then store it durably as a new version
//! and make it current. A dry run stops before storing. Nothing is ever half-applied.

pub mod store;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine as _;
use dataplane::frame::{Frame, RxMeta, FRAME_SIZE, HEADROOM};
use dataplane::pipeline::{OutcomeKind, Pipeline};
use dataplane::tables::Snapshot;
use dataplane::xlat::Side;
use ipnet::Ipv4Net;
use mgmt_api::api::{
    FieldError, PacketEncoding, Status, TraceOutput, TraceRequest, TraceResponse, TraceTenant,
    VersionList, VersionedConfig, WriteResult,
};
use mgmt_api::config::{
    EamEntry, Nat64Protocol, Pool4Entry, StaticBibEntry, Tenant, TransportAddr4,
};
use mgmt_api::{Config, ConfigErrors};

pub use store::{Store, StoreError, DEFAULT_KEEP};

/// What can go wrong in a service call. Each maps to one HTTP status (see `control::rest`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The candidate configuration breaks the schema's rules: every problem, with its JSON pointer.
    #[error("invalid configuration: {0}")]
    Invalid(ConfigErrors),
    /// The request itself is malformed (a field named by its pointer in the request body).
    #[error("{message}")]
    BadRequest {
        message: String,
        errors: Vec<FieldError>,
    },
    /// Optimistic concurrency: the caller's version is not the current one.
    #[error("version conflict: the request expects version {expected}, the current version is {current}")]
    Conflict { expected: u64, current: u64 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
}

impl ServiceError {
    fn bad_field(pointer: &str, message: impl Into<String>) -> ServiceError {
        let message = message.into();
        ServiceError::BadRequest {
            message: format!("{pointer}: {message}"),
            errors: vec![FieldError {
                pointer: pointer.to_owned(),
                message,
            }],
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The configuration in force: its version, the validated config and its compiled tables.
#[derive(Debug)]
pub struct Current {
    pub version: u64,
    pub config: Config,
    pub snapshot: Arc<Snapshot>,
}

/// How a write is made: against which version, and whether for real.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `Some(v)`: refuse with [`ServiceError::Conflict`] unless `v` is the current version.
    pub expected_version: Option<u64>,
    pub dry_run: bool,
}

struct State {
    store: Store,
    current: Arc<Current>,
}

/// The control process's configuration store and everything built on it.
pub struct Service {
    state: Mutex<State>,
    started: Instant,
    /// The version the dataplane acknowledged (`None`: not connected, or it runs a configuration of its own).
    dataplane_version: Mutex<Option<u64>>,
}

/// Validates and compiles a candidate: mgmt_api's rules, then the dataplane's tables (which must accept every
/// configuration mgmt_api accepts; a refusal is reported the same way).
fn check(mut config: Config) -> Result<(Config, Snapshot)> {
    config.validate().map_err(ServiceError::Invalid)?;
    config.normalize();
    let snapshot = Snapshot::compile(&config).map_err(ServiceError::Invalid)?;
    Ok((config, snapshot))
}

impl Service {
    /// Opens the store in `state_dir` (keeping the last `keep` versions) and makes its latest version current.
    /// An empty store starts with `initial` as version 1 if given, else with the empty configuration as
    /// version 0 (stored nowhere: it translates nothing).
    pub fn open(state_dir: &Path, keep: usize, initial: Option<Config>) -> Result<Service> {
        let mut store = Store::open(state_dir, keep)?;
        let current = match store.latest().map(|v| v.version) {
            Some(v) => {
                let stored = store
                    .load(v)?
                    .expect("the latest version is one the store keeps");
                let (config, snapshot) = check(stored.config)?;
                Current {
                    version: v,
                    config,
                    snapshot: Arc::new(snapshot),
                }
            }
            None => match initial {
                Some(cfg) => {
                    let (config, snapshot) = check(cfg)?;
                    store.save(1, "initial configuration", &config)?;
                    Current {
                        version: 1,
                        config,
                        snapshot: Arc::new(snapshot),
                    }
                }
                None => Current {
                    version: 0,
                    config: Config::default(),
                    snapshot: Arc::new(Snapshot::default()),
                },
            },
        };
        Ok(Service {
            state: Mutex::new(State {
                store,
                current: Arc::new(current),
            }),
            started: Instant::now(),
            dataplane_version: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied state: `current` is replaced only after
        // the store has the new version. So a poisoned lock is safe to take over.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<Current> {
        Arc::clone(&self.lock().current)
    }

    pub fn versioned_config(&self) -> VersionedConfig {
        let c = self.current();
        VersionedConfig {
            version: c.version,
            config: c.config.clone(),
        }
    }

    pub fn status(&self) -> Status {
        let c = self.current();
        Status {
            config_version: c.version,
            dataplane_version: self.dataplane_version(),
            // Only the REST front asks the dataplane; the service knows what the push connection saw.
            dataplane_reachable: false,
            dataplane_workers: None,
            dataplane_interfaces: Vec::new(),
            uptime_seconds: self.started.elapsed().as_secs(),
            build_version: env!("CARGO_PKG_VERSION").to_owned(),
            tenants: c.config.tenants.len(),
        }
    }

    /// The version the dataplane runs, as it acknowledged it.
    pub fn dataplane_version(&self) -> Option<u64> {
        *self
            .dataplane_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Called by the push thread when the dataplane acknowledges a version (or goes away: `None`).
    pub fn set_dataplane_version(&self, v: Option<u64>) {
        *self
            .dataplane_version
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = v;
    }

    /// The one write path: `change` edits a copy of the current configuration; the result is validated whole
    /// and stored as the next version (unless a dry run, or unchanged).
    pub fn write<R>(
        &self,
        opts: WriteOptions,
        origin: &str,
        change: impl FnOnce(&mut Config) -> Result<R>,
    ) -> Result<(WriteResult, R)> {
        let mut state = self.lock();
        let cur = Arc::clone(&state.current);
        if let Some(expected) = opts.expected_version {
            if expected != cur.version {
                return Err(ServiceError::Conflict {
                    expected,
                    current: cur.version,
                });
            }
        }
        let mut candidate = cur.config.clone();
        let r = change(&mut candidate)?;
        let (candidate, snapshot) = check(candidate)?;
        let changed = candidate != cur.config;
        let version = if changed {
            cur.version + 1
        } else {
            cur.version
        };
        let result = WriteResult {
            version,
            previous_version: cur.version,
            dry_run: opts.dry_run,
            changed,
        };
        if opts.dry_run || !changed {
            return Ok((result, r));
        }
        state.store.save(version, origin, &candidate)?;
        state.current = Arc::new(Current {
            version,
            config: candidate,
            snapshot: Arc::new(snapshot),
        });
        Ok((result, r))
    }

    /// Replaces the whole configuration.
    pub fn put_config(&self, config: Config, opts: WriteOptions) -> Result<WriteResult> {
        self.write(opts, "PUT /v1/config", |c| {
            *c = config;
            Ok(())
        })
        .map(|(w, ())| w)
    }

    /// The kept versions, oldest first (version 0, the empty start, is never stored).
    pub fn versions(&self) -> VersionList {
        let s = self.lock();
        VersionList {
            current: s.current.version,
            versions: s.store.versions().to_vec(),
        }
    }

    /// A kept version's configuration.
    pub fn version(&self, version: u64) -> Result<VersionedConfig> {
        let s = self.lock();
        if version == s.current.version {
            return Ok(VersionedConfig {
                version,
                config: s.current.config.clone(),
            });
        }
        let stored = s
            .store
            .load(version)?
            .ok_or_else(|| ServiceError::NotFound(format!("configuration version {version}")))?;
        Ok(VersionedConfig {
            version,
            config: stored.config,
        })
    }

    /// Makes a kept version's configuration current again, as a new version (history only moves forward).
    pub fn rollback(&self, version: u64, opts: WriteOptions) -> Result<WriteResult> {
        let target = self.version(version)?.config;
        self.write(opts, &format!("rollback to {version}"), |c| {
            *c = target;
            Ok(())
        })
        .map(|(w, ())| w)
    }

    // --- tenants ------------------------------------------------------------------------------------------

    pub fn tenants(&self) -> Vec<Tenant> {
        self.current().config.tenants.clone()
    }

    pub fn tenant(&self, name: &str) -> Result<Tenant> {
        let c = self.current();
        find_tenant(&c.config, name).map(|i| c.config.tenants[i].clone())
    }

    pub fn create_tenant(&self, tenant: Tenant, opts: WriteOptions) -> Result<WriteResult> {
        let origin = format!("create tenant {:?}", tenant.name);
        self.write_object(opts, &origin, |c| {
            if c.tenants.iter().any(|t| t.name == tenant.name) {
                return Err(ServiceError::AlreadyExists(format!(
                    "tenant {:?}",
                    tenant.name
                )));
            }
            c.tenants.push(tenant);
            Ok(format!("/tenants/{}", c.tenants.len() - 1))
        })
    }

    pub fn delete_tenant(&self, name: &str, opts: WriteOptions) -> Result<WriteResult> {
        self.write(opts, &format!("delete tenant {name:?}"), |c| {
            let i = find_tenant(c, name)?;
            c.tenants.remove(i);
            Ok(())
        })
        .map(|(w, ())| w)
    }

    /// A per-object create: `change` returns the pointer of the new object in the candidate; validation errors
    /// inside it are reported relative to the request body (the object), the others as they are.
    fn write_object(
        &self,
        opts: WriteOptions,
        origin: &str,
        change: impl FnOnce(&mut Config) -> Result<String>,
    ) -> Result<WriteResult> {
        let mut at = None;
        let r = self.write(opts, origin, |c| {
            let p = change(c)?;
            at = Some(p);
            Ok(())
        });
        match (r, at) {
            (Ok((w, ())), _) => Ok(w),
            (Err(ServiceError::Invalid(errs)), Some(prefix)) => {
                Err(ServiceError::Invalid(relative_to(errs, &prefix)))
            }
            (Err(e), _) => Err(e),
        }
    }

    // --- EAM entries --------------------------------------------------------------------------------------

    pub fn eam_entries(&self, tenant: &str) -> Result<Vec<EamEntry>> {
        Ok(self.tenant(tenant)?.eamt)
    }

    pub fn eam_entry(&self, tenant: &str, ipv4: Ipv4Net) -> Result<EamEntry> {
        self.tenant(tenant)?
            .eamt
            .into_iter()
            .find(|e| e.ipv4 == ipv4)
            .ok_or_else(|| ServiceError::NotFound(format!("EAM entry {ipv4} of tenant {tenant:?}")))
    }

    pub fn create_eam_entry(
        &self,
        tenant: &str,
        entry: EamEntry,
        opts: WriteOptions,
    ) -> Result<WriteResult> {
        let origin = format!("create EAM entry {} of tenant {tenant:?}", entry.ipv4);
        self.write_object(opts, &origin, |c| {
            let i = find_tenant(c, tenant)?;
            let t = &mut c.tenants[i];
            if t.eamt.iter().any(|e| e.ipv4 == entry.ipv4) {
                return Err(ServiceError::AlreadyExists(format!(
                    "EAM entry {} of tenant {tenant:?}",
                    entry.ipv4
                )));
            }
            t.eamt.push(entry);
            Ok(format!("/tenants/{i}/eamt/{}", t.eamt.len() - 1))
        })
    }

    pub fn delete_eam_entry(
        &self,
        tenant: &str,
        ipv4: Ipv4Net,
        opts: WriteOptions,
    ) -> Result<WriteResult> {
        let origin = format!("delete EAM entry {ipv4} of tenant {tenant:?}");
        self.write(opts, &origin, |c| {
            let i = find_tenant(c, tenant)?;
            let t = &mut c.tenants[i];
            let j = t.eamt.iter().position(|e| e.ipv4 == ipv4).ok_or_else(|| {
                ServiceError::NotFound(format!("EAM entry {ipv4} of tenant {tenant:?}"))
            })?;
            t.eamt.remove(j);
            Ok(())
        })
        .map(|(w, ())| w)
    }

    // --- pool4 entries ------------------------------------------------------------------------------------

    pub fn pool4_entries(&self, tenant: &str) -> Result<Vec<Pool4Entry>> {
        Ok(self.tenant(tenant)?.pool4)
    }

    pub fn pool4_entry(&self, tenant: &str, prefix: Ipv4Net) -> Result<Pool4Entry> {
        self.tenant(tenant)?
            .pool4
            .into_iter()
            .find(|e| e.prefix == prefix)
            .ok_or_else(|| {
                ServiceError::NotFound(format!("pool4 entry {prefix} of tenant {tenant:?}"))
            })
    }

    pub fn create_pool4_entry(
        &self,
        tenant: &str,
        entry: Pool4Entry,
        opts: WriteOptions,
    ) -> Result<WriteResult> {
        let origin = format!("create pool4 entry {} of tenant {tenant:?}", entry.prefix);
        self.write_object(opts, &origin, |c| {
            let i = find_tenant(c, tenant)?;
            let t = &mut c.tenants[i];
            if t.pool4.iter().any(|e| e.prefix == entry.prefix) {
                return Err(ServiceError::AlreadyExists(format!(
                    "pool4 entry {} of tenant {tenant:?}",
                    entry.prefix
                )));
            }
            t.pool4.push(entry);
            Ok(format!("/tenants/{i}/pool4/{}", t.pool4.len() - 1))
        })
    }

    pub fn delete_pool4_entry(
        &self,
        tenant: &str,
        prefix: Ipv4Net,
        opts: WriteOptions,
    ) -> Result<WriteResult> {
        let origin = format!("delete pool4 entry {prefix} of tenant {tenant:?}");
        self.write(opts, &origin, |c| {
            let i = find_tenant(c, tenant)?;
            let t = &mut c.tenants[i];
            let j = t
                .pool4
                .iter()
                .position(|e| e.prefix == prefix)
                .ok_or_else(|| {
                    ServiceError::NotFound(format!("pool4 entry {prefix} of tenant {tenant:?}"))
                })?;
            t.pool4.remove(j);
            Ok(())
        })
        .map(|(w, ())| w)
    }

    // --- static BIB entries -------------------------------------------------------------------------------

    pub fn bib_entries(&self, tenant: &str) -> Result<Vec<StaticBibEntry>> {
        Ok(self.tenant(tenant)?.static_bib)
    }

    pub fn bib_entry(
        &self,
        tenant: &str,
        protocol: Nat64Protocol,
        ipv4: TransportAddr4,
    ) -> Result<StaticBibEntry> {
        self.tenant(tenant)?
            .static_bib
            .into_iter()
            .find(|e| e.protocol == protocol && e.ipv4 == ipv4)
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "static BIB entry {} {ipv4} of tenant {tenant:?}",
                    protocol_str(protocol)
                ))
            })
    }

    pub fn create_bib_entry(
        &self,
        tenant: &str,
        entry: StaticBibEntry,
        opts: WriteOptions,
    ) -> Result<WriteResult> {
        let what = format!(
            "static BIB entry {} {} of tenant {tenant:?}",
            protocol_str(entry.protocol),
            entry.ipv4
        );
        self.write_object(opts, &format!("create {what}"), |c| {
            let i = find_tenant(c, tenant)?;
            let t = &mut c.tenants[i];
            if t.static_bib
                .iter()
                .any(|e| e.protocol == entry.protocol && e.ipv4 == entry.ipv4)
            {
                return Err(ServiceError::AlreadyExists(what.clone()));
            }
            t.static_bib.push(entry);
            Ok(format!(
                "/tenants/{i}/static_bib/{}",
                t.static_bib.len() - 1
            ))
        })
    }

    pub fn delete_bib_entry(
        &self,
        tenant: &str,
        protocol: Nat64Protocol,
        ipv4: TransportAddr4,
        opts: WriteOptions,
    ) -> Result<WriteResult> {
        let what = format!(
            "static BIB entry {} {ipv4} of tenant {tenant:?}",
            protocol_str(protocol)
        );
        self.write(opts, &format!("delete {what}"), |c| {
            let i = find_tenant(c, tenant)?;
            let t = &mut c.tenants[i];
            let j = t
                .static_bib
                .iter()
                .position(|e| e.protocol == protocol && e.ipv4 == ipv4)
                .ok_or_else(|| ServiceError::NotFound(what.clone()))?;
            t.static_bib.remove(j);
            Ok(())
        })
        .map(|(w, ())| w)
    }

    // --- trace --------------------------------------------------------------------------------------------

    /// Runs one packet through a fresh pipeline built from the current configuration's tables and reports what
    /// happened. Nothing is sent. The pipeline is new for each trace, so stateful NAT64 has no sessions: an
    /// IPv4 packet towards a dynamic binding is traced as the dataplane would treat it with no session.
    pub fn trace(&self, req: &TraceRequest) -> Result<TraceResponse> {
        let packet = decode_packet(&req.packet, req.encoding)?;
        if packet.is_empty() {
            return Err(ServiceError::bad_field("/packet", "the packet is empty"));
        }
        let max = FRAME_SIZE - HEADROOM;
        if packet.len() > max {
            return Err(ServiceError::bad_field(
                "/packet",
                format!(
                    "the packet is {} bytes; at most {max} are traced",
                    packet.len()
                ),
            ));
        }
        let cur = self.current();
        let mut steps = Vec::new();
        let ingress = match &req.ingress.interface {
            None => 0,
            Some(name) => cur.snapshot.interface_index(name).ok_or_else(|| {
                let known = cur.snapshot.interface_names().join(", ");
                ServiceError::bad_field(
                    "/ingress/interface",
                    format!(
                        "no interface {name:?} in configuration version {} (known: [{known}])",
                        cur.version
                    ),
                )
            })?,
        };
        if let Some(v) = req.ingress.vlan {
            if v > 4094 {
                return Err(ServiceError::bad_field(
                    "/ingress/vlan",
                    format!("VLAN {v} is outside 0..=4094"),
                ));
            }
        }
        steps.push(format!(
            "ingress: interface {} (index {ingress}), {}, {} bytes",
            req.ingress.interface.as_deref().unwrap_or("(default)"),
            req.ingress
                .vlan
                .map_or_else(|| "untagged".to_owned(), |v| format!("VLAN {v}")),
            packet.len()
        ));
        let mut pipeline = Pipeline::new(Arc::clone(&cur.snapshot));
        let mut buf = vec![0u8; FRAME_SIZE];
        let mut frame = Frame::copy_from(&mut buf, &packet).expect("length checked above");
        frame.meta = RxMeta {
            ingress,
            vlan: req.ingress.vlan,
        };
        let mut outputs = Vec::new();
        let outcome = pipeline.process(&mut frame, &mut |o| {
            outputs.push(TraceOutput {
                side: match o.side {
                    Side::V4 => "v4",
                    Side::V6 => "v6",
                }
                .to_owned(),
                vlan: o.vlan,
                packet_hex: hex::encode(o.packet),
            });
        });
        let direction = outcome.direction.map(|d| d.as_str().to_owned());
        steps.push(format!(
            "parse: {}",
            direction.as_deref().unwrap_or("not an IPv4 or IPv6 packet")
        ));
        let tenant = outcome.tenant.map(|i| {
            let t = cur.snapshot.tenant(i);
            TraceTenant {
                id: t.id,
                name: t.name.clone(),
            }
        });
        match &tenant {
            Some(t) => steps.push(format!("classify: tenant {:?} (id {})", t.name, t.id)),
            None => steps.push("classify: no tenant".to_owned()),
        }
        let (verdict, reason) = match outcome.kind {
            OutcomeKind::Translated { packets } => {
                steps.push(format!("translate: {packets} packet(s) out"));
                ("translated", None)
            }
            OutcomeKind::IcmpError(r) => {
                steps.push(format!(
                    "translate: refused ({}); ICMP error back to the sender",
                    r.as_str()
                ));
                ("icmp_error", Some(r.as_str().to_owned()))
            }
            OutcomeKind::Dropped(r) => {
                steps.push(format!("drop: {}", r.as_str()));
                ("dropped", Some(r.as_str().to_owned()))
            }
            OutcomeKind::HandedOff { worker } => {
                steps.push(format!("hand-off: worker {worker} owns the session"));
                ("handed_off", None)
            }
        };
        for (n, o) in outputs.iter().enumerate() {
            steps.push(format!(
                "emit {n}: {} side{}, {} bytes",
                o.side,
                o.vlan.map_or_else(String::new, |v| format!(" VLAN {v}")),
                o.packet_hex.len() / 2
            ));
        }
        Ok(TraceResponse {
            config_version: cur.version,
            direction,
            tenant,
            verdict: verdict.to_owned(),
            drop_reason: reason,
            outputs,
            steps,
        })
    }
}

fn find_tenant(c: &Config, name: &str) -> Result<usize> {
    c.tenants
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| ServiceError::NotFound(format!("tenant {name:?}")))
}

/// `tcp`, `udp`, `icmp`: as in the schema and the URLs.
pub fn protocol_str(p: Nat64Protocol) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{p:?}").to_lowercase())
}

/// Errors under `prefix` become pointers into the object itself (`/tenants/0/eamt/2/ipv6` → `/ipv6`).
fn relative_to(errs: ConfigErrors, prefix: &str) -> ConfigErrors {
    ConfigErrors(
        errs.0
            .into_iter()
            .map(|mut e| {
                if e.pointer == prefix {
                    e.pointer = String::new();
                } else if let Some(rest) = e.pointer.strip_prefix(prefix) {
                    if rest.starts_with('/') {
                        e.pointer = rest.to_owned();
                    }
                }
                e
            })
            .collect(),
    )
}

fn decode_packet(text: &str, encoding: PacketEncoding) -> Result<Vec<u8>> {
    match encoding {
        PacketEncoding::Hex => {
            let clean: String = text
                .chars()
                .filter(|c| !c.is_whitespace() && *c != ':')
                .collect();
            let clean = clean
                .strip_prefix("0x")
                .or_else(|| clean.strip_prefix("0X"))
                .unwrap_or(&clean);
            hex::decode(clean)
                .map_err(|e| ServiceError::bad_field("/packet", format!("not hex: {e}")))
        }
        PacketEncoding::Base64 => {
            let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&clean))
                .map_err(|e| ServiceError::bad_field("/packet", format!("not base64: {e}")))
        }
    }
}

/// `192.0.2.0/24`, or a bare address as its /32.
pub fn parse_ipv4_prefix(s: &str) -> Option<Ipv4Net> {
    s.parse::<Ipv4Net>()
        .ok()
        .or_else(|| s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from))
}

#[cfg(test)]
pub(crate) mod tests;
