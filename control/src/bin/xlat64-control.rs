//! `xlat64-control`: the control process. Holds the versioned configuration (durably, in --state-dir), serves
//! the REST API (--listen, 127.0.0.1 by default) and Prometheus metrics (--metrics-listen, its own listener).
//! Stops on SIGTERM or SIGINT after the requests in flight.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use control::server::{read_config_file, read_token_file, Server, ServerOptions};
use control::service::DEFAULT_KEEP;

#[derive(Debug, Parser)]
#[command(
    name = "xlat64-control",
    version,
    about = "xlat64's control process: REST API, config store, /metrics"
)]
struct Args {
    /// Address of the REST API.
    #[arg(long, default_value = "127.0.0.1:8064")]
    listen: SocketAddr,
    /// Address of the Prometheus /metrics endpoint.
    #[arg(long, default_value = "127.0.0.1:9864")]
    metrics_listen: SocketAddr,
    /// Where configuration versions are stored (created if missing).
    #[arg(long, default_value = "/var/lib/xlat64")]
    state_dir: PathBuf,
    /// File holding the bearer token every write must present (`Authorization: Bearer TOKEN`).
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    /// Require the token for reads too.
    #[arg(long)]
    auth_reads: bool,
    /// Configuration (TOML, or JSON for *.json) stored as version 1 when the state directory holds none;
    /// ignored otherwise.
    #[arg(long, value_name = "FILE")]
    initial_config: Option<PathBuf>,
    /// The dataplane's Unix socket: the configuration is pushed there and its acknowledgements tracked
    /// (GET /v1/status: dataplane_version).
    #[arg(long, value_name = "PATH")]
    dataplane_socket: Option<PathBuf>,
    /// How many configuration versions to keep.
    #[arg(long, default_value_t = DEFAULT_KEEP)]
    keep: usize,
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let token = read_token_file(&args.token_file)?;
    let initial_config = args
        .initial_config
        .as_deref()
        .map(read_config_file)
        .transpose()?;
    let server = Server::bind(ServerOptions {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        state_dir: args.state_dir,
        token: Some(token),
        auth_reads: args.auth_reads,
        initial_config,
        keep: args.keep,
        dataplane_socket: args.dataplane_socket,
    })
    .await?;
    // Tests and scripts read these two lines to find ports chosen with :0.
    println!(
        "xlat64-control: api listening on http://{}",
        server.api_addr
    );
    println!(
        "xlat64-control: metrics listening on http://{}/metrics",
        server.metrics_addr
    );
    println!(
        "xlat64-control: configuration version {}",
        server.service.current().version
    );
    server.serve(shutdown_signal()).await
}
