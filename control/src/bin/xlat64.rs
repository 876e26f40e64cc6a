//! `xlat64`: the operator's command-line tool.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use control::cli::{
    self, BibCmd, ConfigCmd, EamCmd, Pool4Cmd, Remote, SessionsArgs, StatsArgs, TenantCmd,
    TraceArgs,
};
use control::translate::{self, TranslateOptions};

/// xlat64: an IPv6/IPv4 translator (SIIT, RFC 7915).
#[derive(Debug, Parser)]
#[command(name = "xlat64", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Translate a capture file offline, through the same pipeline as the live path.
    ///
    /// Reads a pcap file (LINKTYPE_ETHERNET with at most one 802.1Q tag, or LINKTYPE_RAW/IPV4/IPV6), writes
    /// every packet the translator emits (translated packets, fragments, ICMP errors it originates) to OUT in
    /// order with the input packet's timestamp, and prints a summary of the counters. Exit code 2 for an
    /// unreadable file or a bad config.
    Translate {
        /// Configuration file (TOML; the schema of GET /v1/config).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Capture to translate.
        #[arg(long = "in", value_name = "IN.pcap")]
        input: PathBuf,
        /// Capture to write (created or truncated).
        #[arg(long = "out", value_name = "OUT.pcap")]
        output: PathBuf,
        /// Print one line per input packet: number, timestamp, tenant, direction, verdict, drop reason.
        #[arg(long)]
        explain: bool,
        /// Ingress interface of every packet, as named in the config's ipv4_side.interface.
        #[arg(long, value_name = "NAME")]
        interface: Option<String>,
        /// After the last packet, run the stateful (NAT64) timers up to SECONDS on the capture's clock, or
        /// +SECONDS after the last packet: held IPv4 SYNs get their ICMP answer, sessions expire. The capture's
        /// timestamps are the clock throughout.
        #[arg(long, value_name = "SECONDS|+SECONDS")]
        run_timers_until: Option<translate::TimersUntil>,
    },
    /// The running configuration on the control process (xlat64-control): get, apply, diff, validate,
    /// versions, rollback.
    Config {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Tenants of the running configuration.
    Tenant {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        cmd: TenantCmd,
    },
    /// A tenant's EAM entries (RFC 7757).
    Eam {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        cmd: EamCmd,
    },
    /// A NAT64 tenant's pool4 entries.
    Pool4 {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        cmd: Pool4Cmd,
    },
    /// A NAT64 tenant's static BIB entries.
    Bib {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        cmd: BibCmd,
    },
    /// How the running configuration translates one packet (nothing is sent).
    Trace {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        args: TraceArgs,
    },
    /// The dataplane's counters: totals per direction, drop reasons that counted, one line per worker.
    Stats {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        args: StatsArgs,
    },
    /// The dataplane's stateful NAT64 sessions, one page (one line each, then the total).
    Sessions {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        args: SessionsArgs,
    },
    /// Print a shell completion script (e.g. `xlat64 completions bash > /etc/bash_completion.d/xlat64`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; `xlat64 man | man -l -`).
    Man,
    /// Convert another translator's configuration into ours (TOML on stdout, what could not be converted on
    /// stderr). Exit 2 if it cannot be read or converted.
    Import {
        /// The other translator: `jool` (its atomic configuration JSON) or `tayga` (tayga.conf).
        #[arg(long, value_enum)]
        from: ImportFrom,
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ImportFrom {
    Jool,
    Tayga,
}

/// Runs a subcommand that talks to the control process: exit 0, its own code (diff), or 1 on an error.
fn remote(run: impl FnOnce(&mut dyn Write) -> Result<u8, cli::CliError>) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let r = run(&mut out);
    let _ = out.flush();
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            e.report(&mut std::io::stderr());
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config { remote: r, cmd } => remote(|out| cli::config(&r, &cmd, out)),
        Command::Tenant { remote: r, cmd } => remote(|out| cli::tenant(&r, &cmd, out)),
        Command::Eam { remote: r, cmd } => remote(|out| cli::eam(&r, &cmd, out)),
        Command::Pool4 { remote: r, cmd } => remote(|out| cli::pool4(&r, &cmd, out)),
        Command::Bib { remote: r, cmd } => remote(|out| cli::bib(&r, &cmd, out)),
        Command::Trace { remote: r, args } => remote(|out| cli::trace(&r, &args, out)),
        Command::Stats { remote: r, args } => remote(|out| cli::stats(&r, &args, out)),
        Command::Sessions { remote: r, args } => remote(|out| cli::sessions(&r, &args, out)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "xlat64", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Import { from, file } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("xlat64: error: reading {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let result = match from {
                ImportFrom::Jool => control::import::from_jool(&text),
                ImportFrom::Tayga => control::import::from_tayga(&text),
            };
            match result {
                Ok(r) => {
                    for n in &r.notes {
                        eprintln!("xlat64: note: {}: {n}", file.display());
                    }
                    print!("{}", r.config.to_toml_string());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xlat64: error: {}: {e}", file.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("xlat64: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Translate {
            config,
            input,
            output,
            explain,
            interface,
            run_timers_until,
        } => {
            let opts = TranslateOptions {
                config,
                input,
                output,
                explain,
                interface,
                run_timers_until,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut diag = std::io::stderr();
            let result = translate::run(&opts, &mut out, &mut diag);
            let flushed = out.flush();
            match (result, flushed) {
                (Ok(_), Ok(())) => ExitCode::SUCCESS,
                (Ok(_), Err(e)) => {
                    eprintln!("xlat64: error: cannot write the report: {e}");
                    ExitCode::from(2)
                }
                (Err(e), _) => {
                    eprintln!("xlat64: error: {e}");
                    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
                }
            }
        }
    }
}
