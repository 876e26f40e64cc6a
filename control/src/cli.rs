//! The `xlat64` subcommands that talk to the control process (`config`, `tenant`, `eam`, `pool4`, `bib`,
//! `trace`). Thin: each builds one REST request, the service behind it does the work and the checking, and
//! its answer (or its error, field by field) is printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use mgmt_api::api::{TraceRequest, TraceResponse, VersionList, WriteResult};
use mgmt_api::config::{EamEntry, Pool4Entry, StaticBibEntry, Tenant};
use mgmt_api::Config;
use serde_json::{json, Value};

use crate::client::{segment, Client, ClientError, SessionsFilter};
use crate::report_text::{sessions_text, stats_text};

/// Where the control process is.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The control process's REST API.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8064")]
    pub url: String,
    /// File holding the bearer token (needed for changes).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Format {
    #[default]
    Toml,
    Json,
}

/// Options of every change.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// Check and report what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse unless the running configuration is this version (optimistic concurrency).
    #[arg(long, value_name = "VERSION")]
    pub if_version: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the running configuration (its version on stderr).
    Get {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Replace the whole configuration with FILE (TOML, or JSON for *.json), atomically.
    Apply {
        file: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Show how FILE differs from the running configuration (exit 1 when it does).
    Diff { file: PathBuf },
    /// Check FILE against the control process's rules without applying it.
    Validate { file: PathBuf },
    /// List the kept versions.
    Versions,
    /// Make a kept version's configuration the running one (as a new version).
    Rollback {
        #[arg(value_name = "VERSION")]
        target: u64,
        #[command(flatten)]
        write: WriteArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    List,
    /// Print one tenant (TOML).
    Show {
        name: String,
    },
    /// Add a tenant from flags, or from a file holding one `[[tenants]]` table's fields (TOML or JSON).
    Add {
        name: String,
        #[arg(long)]
        id: Option<u32>,
        /// `siit` or `nat64`.
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        pool6: Option<String>,
        #[arg(long)]
        vlan: Option<u16>,
        #[arg(long)]
        interface: Option<String>,
        #[arg(long)]
        own_ipv4: Option<String>,
        #[arg(long)]
        own_ipv6: Option<String>,
        /// The tenant's fields (flags given as well override them).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        write: WriteArgs,
    },
    Del {
        name: String,
        #[command(flatten)]
        write: WriteArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum EamCmd {
    List {
        tenant: String,
    },
    /// Add `IPV4 <-> IPV6` (RFC 7757), e.g. `192.0.2.0/24 2001:db8:6::/120`.
    Add {
        tenant: String,
        ipv4: String,
        ipv6: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    Del {
        tenant: String,
        ipv4: String,
        #[command(flatten)]
        write: WriteArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum Pool4Cmd {
    List {
        tenant: String,
    },
    Add {
        tenant: String,
        prefix: String,
        /// TCP port range `first-last` (default 1024-65535).
        #[arg(long)]
        tcp: Option<String>,
        #[arg(long)]
        udp: Option<String>,
        /// ICMP identifier range (default 0-65535).
        #[arg(long)]
        icmp: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
    },
    Del {
        tenant: String,
        prefix: String,
        #[command(flatten)]
        write: WriteArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BibCmd {
    List {
        tenant: String,
    },
    /// Add a static binding, e.g. `tcp 203.0.113.1#80 2001:db8::10#80`.
    Add {
        tenant: String,
        protocol: String,
        ipv4: String,
        ipv6: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    Del {
        tenant: String,
        protocol: String,
        ipv4: String,
        #[command(flatten)]
        write: WriteArgs,
    },
}

/// `xlat64 trace`.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// The IPv4 or IPv6 packet (no link-layer header), hex (or base64 with --base64).
    pub packet: String,
    #[arg(long)]
    pub base64: bool,
    /// Ingress interface, as named in the configuration.
    #[arg(long)]
    pub interface: Option<String>,
    /// 802.1Q VLAN the packet came in with.
    #[arg(long)]
    pub vlan: Option<u16>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `xlat64 stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Print the dataplane's report as JSON (GET /v1/stats).
    #[arg(long)]
    pub json: bool,
}

/// `xlat64 sessions`.
#[derive(Debug, Clone, Args)]
pub struct SessionsArgs {
    /// Only this tenant's sessions.
    #[arg(long)]
    pub tenant: Option<String>,
    /// `tcp`, `udp` or `icmp`.
    #[arg(long)]
    pub protocol: Option<String>,
    /// Sessions any of whose addresses (IPv6 client, pool4 address, IPv4 remote) is this one.
    #[arg(long)]
    pub address: Option<String>,
    /// Matching sessions to skip.
    #[arg(long)]
    pub offset: Option<u64>,
    /// Page size (default 100, at most 10000).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Print the page as JSON (GET /v1/sessions).
    #[arg(long)]
    pub json: bool,
}

/// What went wrong in a CLI command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Local(String),
}

impl CliError {
    /// Prints the error, with each faulty field on its own line.
    pub fn report(&self, err: &mut dyn Write) {
        let _ = writeln!(err, "xlat64: error: {self}");
        if let CliError::Client(ClientError::Api { body, .. }) = self {
            for e in &body.errors {
                let p = if e.pointer.is_empty() {
                    "/"
                } else {
                    &e.pointer
                };
                let _ = writeln!(err, "  {p}: {}", e.message);
            }
        }
    }
}

type Result<T> = std::result::Result<T, CliError>;

fn client(remote: &Remote) -> Result<Client> {
    let token = match &remote.token_file {
        Some(p) => {
            Some(crate::server::read_token_file(p).map_err(|e| CliError::Local(format!("{e:#}")))?)
        }
        None => None,
    };
    Ok(Client::new(&remote.url, token))
}

/// A config file, parsed but not validated (the control process validates): TOML, or JSON for `*.json`.
fn read_config(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Local(format!("reading {}: {e}", path.display())))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        Config::parse_json(&text)
    } else {
        Config::parse_toml(&text)
    };
    parsed.map_err(|e| CliError::Local(format!("{}: {e}", path.display())))
}

fn print_write(out: &mut dyn Write, w: &WriteResult) {
    let _ = if w.dry_run && w.changed {
        writeln!(
            out,
            "dry run: would make version {} (running: {})",
            w.version, w.previous_version
        )
    } else if w.changed {
        writeln!(out, "version {} (was {})", w.version, w.previous_version)
    } else {
        writeln!(out, "unchanged: version {}", w.version)
    };
}

/// Fails when `value` does not serialize to TOML (only at the top level of a table).
fn toml_of<T: serde::Serialize>(value: &T) -> String {
    toml::to_string(value)
        .unwrap_or_else(|_| serde_json::to_string_pretty(value).unwrap_or_default())
}

/// `xlat64 config ...`. Returns the exit code (diff: 1 when different).
pub fn config(remote: &Remote, cmd: &ConfigCmd, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    match cmd {
        ConfigCmd::Get { format } => {
            let (version, cfg) = c.config()?;
            eprintln!("# configuration version {version}");
            let text = match format {
                Format::Toml => cfg.to_toml_string(),
                Format::Json => cfg.to_json_string() + "\n",
            };
            let _ = out.write_all(text.as_bytes());
        }
        ConfigCmd::Apply { file, write } => {
            let cfg = read_config(file)?;
            print_write(out, &c.put_config(&cfg, write.dry_run, write.if_version)?);
        }
        ConfigCmd::Validate { file } => {
            let cfg = read_config(file)?;
            let w = c.put_config(&cfg, true, None)?;
            let _ = if w.changed {
                writeln!(out, "valid: applying it would make version {}", w.version)
            } else {
                writeln!(out, "valid: identical to the running version {}", w.version)
            };
        }
        ConfigCmd::Diff { file } => {
            let mut want = read_config(file)?;
            want.normalize();
            let (version, have) = c.config()?;
            let lines = diff_lines(&have.to_toml_string(), &want.to_toml_string());
            if lines.iter().all(|l| l.starts_with(' ')) {
                let _ = writeln!(out, "no differences from version {version}");
                return Ok(0);
            }
            let _ = writeln!(out, "--- running (version {version})");
            let _ = writeln!(out, "+++ {}", file.display());
            for l in lines.iter().filter(|l| !l.starts_with(' ')) {
                let _ = writeln!(out, "{l}");
            }
            return Ok(1);
        }
        ConfigCmd::Versions => {
            let list: VersionList = c.versions()?;
            for v in &list.versions {
                let mark = if v.version == list.current { "*" } else { " " };
                let _ = writeln!(
                    out,
                    "{mark} {:>6}  {}  {}",
                    v.version, v.created_unix, v.origin
                );
            }
            if list.versions.is_empty() {
                let _ = writeln!(
                    out,
                    "* {:>6}  (nothing stored: the empty configuration)",
                    list.current
                );
            }
        }
        ConfigCmd::Rollback { target, write } => {
            let body = json!({ "version": target });
            print_write(
                out,
                &c.write(
                    "POST",
                    "/v1/config/rollback",
                    Some(&body),
                    write.dry_run,
                    write.if_version,
                )?,
            );
        }
    }
    Ok(0)
}

/// Line diff (longest common subsequence): each line prefixed `-`, `+` or ` `.
pub fn diff_lines(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!(" {}", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("-{}", a[i]));
            i += 1;
        } else {
            out.push(format!("+{}", b[j]));
            j += 1;
        }
    }
    out
}

fn tenant_path(name: &str) -> String {
    format!("/v1/tenants/{}", segment(name))
}

pub fn tenant(remote: &Remote, cmd: &TenantCmd, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    match cmd {
        TenantCmd::List => {
            let ts: Vec<Tenant> = c.get("/v1/tenants")?;
            for t in ts {
                let _ = writeln!(
                    out,
                    "{}\tid {}\t{:?}\tpool6 {}\teamt {}\tpool4 {}\tbib {}",
                    t.name,
                    t.id,
                    t.mode,
                    t.pool6.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    t.eamt.len(),
                    t.pool4.len(),
                    t.static_bib.len()
                );
            }
        }
        TenantCmd::Show { name } => {
            let t: Tenant = c.get(&tenant_path(name))?;
            let _ = write!(out, "{}", toml_of(&t));
        }
        TenantCmd::Add {
            name,
            id,
            mode,
            pool6,
            vlan,
            interface,
            own_ipv4,
            own_ipv6,
            file,
            write,
        } => {
            let mut body = match file {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .map_err(|e| CliError::Local(format!("reading {}: {e}", p.display())))?;
                    if p.extension().is_some_and(|e| e == "json") {
                        serde_json::from_str::<Value>(&text)
                            .map_err(|e| CliError::Local(format!("{}: {e}", p.display())))?
                    } else {
                        let v: toml::Value = toml::from_str(&text)
                            .map_err(|e| CliError::Local(format!("{}: {e}", p.display())))?;
                        serde_json::to_value(v).map_err(|e| CliError::Local(e.to_string()))?
                    }
                }
                None => json!({}),
            };
            let Some(obj) = body.as_object_mut() else {
                return Err(CliError::Local(
                    "the tenant file must hold one table".into(),
                ));
            };
            obj.insert("name".into(), json!(name));
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    obj.insert(k.into(), v);
                }
            };
            set("id", id.map(|v| json!(v)));
            set("mode", mode.as_ref().map(|v| json!(v)));
            set("pool6", pool6.as_ref().map(|v| json!(v)));
            set("own_ipv4", own_ipv4.as_ref().map(|v| json!(v)));
            set("own_ipv6", own_ipv6.as_ref().map(|v| json!(v)));
            if vlan.is_some() || interface.is_some() {
                let side = obj.entry("ipv4_side").or_insert_with(|| json!({}));
                if let Some(v) = vlan {
                    side["vlan"] = json!(v);
                }
                if let Some(i) = interface {
                    side["interface"] = json!(i);
                }
            }
            print_write(
                out,
                &c.write(
                    "POST",
                    "/v1/tenants",
                    Some(&body),
                    write.dry_run,
                    write.if_version,
                )?,
            );
        }
        TenantCmd::Del { name, write } => {
            print_write(
                out,
                &c.write(
                    "DELETE",
                    &tenant_path(name),
                    None,
                    write.dry_run,
                    write.if_version,
                )?,
            );
        }
    }
    Ok(0)
}

pub fn eam(remote: &Remote, cmd: &EamCmd, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    match cmd {
        EamCmd::List { tenant } => {
            let es: Vec<EamEntry> = c.get(&format!("{}/eamt", tenant_path(tenant)))?;
            for e in es {
                let _ = writeln!(out, "{}\t{}", e.ipv4, e.ipv6);
            }
        }
        EamCmd::Add {
            tenant,
            ipv4,
            ipv6,
            write,
        } => {
            let body = json!({ "ipv4": ipv4, "ipv6": ipv6 });
            let p = format!("{}/eamt", tenant_path(tenant));
            print_write(
                out,
                &c.write("POST", &p, Some(&body), write.dry_run, write.if_version)?,
            );
        }
        EamCmd::Del {
            tenant,
            ipv4,
            write,
        } => {
            let p = format!("{}/eamt/{}", tenant_path(tenant), segment(ipv4));
            print_write(
                out,
                &c.write("DELETE", &p, None, write.dry_run, write.if_version)?,
            );
        }
    }
    Ok(0)
}

pub fn pool4(remote: &Remote, cmd: &Pool4Cmd, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    match cmd {
        Pool4Cmd::List { tenant } => {
            let es: Vec<Pool4Entry> = c.get(&format!("{}/pool4", tenant_path(tenant)))?;
            for e in es {
                let v = serde_json::to_value(e).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{}\ttcp {}\tudp {}\ticmp {}",
                    e.prefix,
                    v["tcp"].as_str().unwrap_or("-"),
                    v["udp"].as_str().unwrap_or("-"),
                    v["icmp"].as_str().unwrap_or("-")
                );
            }
        }
        Pool4Cmd::Add {
            tenant,
            prefix,
            tcp,
            udp,
            icmp,
            write,
        } => {
            let mut body = json!({ "prefix": prefix });
            for (k, v) in [("tcp", tcp), ("udp", udp), ("icmp", icmp)] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            let p = format!("{}/pool4", tenant_path(tenant));
            print_write(
                out,
                &c.write("POST", &p, Some(&body), write.dry_run, write.if_version)?,
            );
        }
        Pool4Cmd::Del {
            tenant,
            prefix,
            write,
        } => {
            let p = format!("{}/pool4/{}", tenant_path(tenant), segment(prefix));
            print_write(
                out,
                &c.write("DELETE", &p, None, write.dry_run, write.if_version)?,
            );
        }
    }
    Ok(0)
}

pub fn bib(remote: &Remote, cmd: &BibCmd, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    match cmd {
        BibCmd::List { tenant } => {
            let es: Vec<StaticBibEntry> = c.get(&format!("{}/bib", tenant_path(tenant)))?;
            for e in es {
                let v = serde_json::to_value(e).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{}\t{}\t{}",
                    v["protocol"].as_str().unwrap_or("-"),
                    e.ipv4,
                    e.ipv6
                );
            }
        }
        BibCmd::Add {
            tenant,
            protocol,
            ipv4,
            ipv6,
            write,
        } => {
            let body = json!({ "protocol": protocol, "ipv4": ipv4, "ipv6": ipv6 });
            let p = format!("{}/bib", tenant_path(tenant));
            print_write(
                out,
                &c.write("POST", &p, Some(&body), write.dry_run, write.if_version)?,
            );
        }
        BibCmd::Del {
            tenant,
            protocol,
            ipv4,
            write,
        } => {
            let p = format!(
                "{}/bib/{}/{}",
                tenant_path(tenant),
                segment(protocol),
                segment(ipv4)
            );
            print_write(
                out,
                &c.write("DELETE", &p, None, write.dry_run, write.if_version)?,
            );
        }
    }
    Ok(0)
}

pub fn trace(remote: &Remote, args: &TraceArgs, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    let req = TraceRequest {
        packet: args.packet.clone(),
        encoding: if args.base64 {
            mgmt_api::api::PacketEncoding::Base64
        } else {
            mgmt_api::api::PacketEncoding::Hex
        },
        ingress: mgmt_api::api::TraceIngress {
            interface: args.interface.clone(),
            vlan: args.vlan,
        },
    };
    let body = serde_json::to_value(&req).expect("serializes");
    let a = c.send(
        "POST",
        "/v1/trace",
        Some(("application/json", body.to_string())),
        None,
    )?;
    if args.json {
        let _ = writeln!(out, "{}", a.body);
        return Ok(0);
    }
    let r: TraceResponse =
        serde_json::from_str(&a.body).map_err(|e| CliError::Local(e.to_string()))?;
    let _ = writeln!(out, "configuration version {}", r.config_version);
    for s in &r.steps {
        let _ = writeln!(out, "  {s}");
    }
    let _ = writeln!(
        out,
        "verdict: {}{}",
        r.verdict,
        r.drop_reason
            .as_deref()
            .map_or_else(String::new, |d| format!(" ({d})"))
    );
    for o in &r.outputs {
        let _ = writeln!(out, "out {}: {}", o.side, o.packet_hex);
    }
    Ok(0)
}

/// `xlat64 stats`: totals per direction, the drop reasons that counted something, one line per worker.
pub fn stats(remote: &Remote, args: &StatsArgs, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    if args.json {
        let a = c.send("GET", "/v1/stats", None, None)?;
        let _ = writeln!(out, "{}", a.body);
        return Ok(0);
    }
    let _ = write!(out, "{}", stats_text(&c.stats()?));
    Ok(0)
}

/// `xlat64 sessions`: one line per session, a header, and the total.
pub fn sessions(remote: &Remote, args: &SessionsArgs, out: &mut dyn Write) -> Result<u8> {
    let c = client(remote)?;
    let q = SessionsFilter {
        tenant: args.tenant.clone(),
        protocol: args.protocol.clone(),
        address: args.address.clone(),
        offset: args.offset,
        limit: args.limit,
    };
    if args.json {
        let a = c.send("GET", &crate::client::sessions_path(&q), None, None)?;
        let _ = writeln!(out, "{}", a.body);
        return Ok(0);
    }
    let _ = write!(out, "{}", sessions_text(&c.sessions(&q)?));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changes() {
        let d = diff_lines("a\nb\nc\n", "a\nx\nc\nd\n");
        assert_eq!(d, [" a", "-b", "+x", " c", "+d"]);
        assert!(diff_lines("a\n", "a\n").iter().all(|l| l.starts_with(' ')));
    }
}
