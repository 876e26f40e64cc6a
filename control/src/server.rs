//! `xlat64-control`'s startup, as a library so tests run the real server in-process too: open the store, bind
//! the API and metrics listeners, serve until told to stop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use mgmt_api::Config;
use tokio::net::TcpListener;

use crate::dataplane_client::DataplaneClient;
use crate::metrics::{self, Metrics};
use crate::rest::{self, ApiState};
use crate::service::Service;

/// Everything `xlat64-control` is told on its command line.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    pub state_dir: PathBuf,
    /// `None`: no authentication (only for tests and deliberate local setups).
    pub token: Option<String>,
    pub auth_reads: bool,
    pub initial_config: Option<Config>,
    pub keep: usize,
    /// The dataplane's Unix socket: the configuration is pushed there ([`crate::push`]), counters and sessions
    /// are asked there ([`crate::dataplane_client`]).
    pub dataplane_socket: Option<PathBuf>,
}

/// Reads a bearer token file: one line, surrounding whitespace ignored, not empty.
pub fn read_token_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("the token file {} holds more than one word", path.display());
    }
    Ok(token.to_owned())
}

/// Reads a configuration file: TOML, or JSON if the name ends in `.json`. Every problem is reported.
pub fn read_config_file(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        Config::from_json_str(&text)
    } else {
        Config::from_toml_str(&text)
    };
    parsed.map_err(|e| anyhow::anyhow!("{}: invalid configuration:\n{e}", path.display()))
}

/// A running control process: its bound addresses and the handles to stop it.
pub struct Server {
    pub api_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub service: Arc<Service>,
    api: TcpListener,
    metrics: TcpListener,
    state: Arc<ApiState>,
    dataplane_socket: Option<PathBuf>,
}

impl Server {
    /// Opens the store and binds both listeners (port 0 picks a free port: see `api_addr`).
    pub async fn bind(opts: ServerOptions) -> Result<Server> {
        let service = Arc::new(
            Service::open(&opts.state_dir, opts.keep, opts.initial_config).with_context(|| {
                format!("opening the state directory {}", opts.state_dir.display())
            })?,
        );
        let api = TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("binding the API listener {}", opts.listen))?;
        let metrics = TcpListener::bind(opts.metrics_listen)
            .await
            .with_context(|| format!("binding the metrics listener {}", opts.metrics_listen))?;
        let state = Arc::new(ApiState {
            service: Arc::clone(&service),
            token: opts.token,
            auth_reads: opts.auth_reads,
            dataplane: DataplaneClient::new(opts.dataplane_socket.clone()),
        });
        Ok(Server {
            api_addr: api.local_addr()?,
            metrics_addr: metrics.local_addr()?,
            service,
            api,
            metrics,
            state,
            dataplane_socket: opts.dataplane_socket,
        })
    }

    /// Serves both listeners until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let pusher = self
            .dataplane_socket
            .map(|p| crate::push::Pusher::spawn(Arc::clone(&self.service), p));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let metrics_app = metrics::router(Arc::new(Metrics::new(
            Arc::clone(&self.service),
            self.state.dataplane.clone(),
        )));
        let mut rx2 = rx.clone();
        let m = tokio::spawn(async move {
            axum::serve(self.metrics, metrics_app)
                .with_graceful_shutdown(async move {
                    let _ = rx2.wait_for(|stop| *stop).await;
                })
                .await
        });
        let mut rx1 = rx;
        let api =
            axum::serve(self.api, rest::router(self.state)).with_graceful_shutdown(async move {
                let _ = rx1.wait_for(|stop| *stop).await;
            });
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        api.await.context("serving the API")?;
        m.await
            .context("the metrics task")?
            .context("serving metrics")?;
        // Stops and joins the push thread (it checks its stop flag at least every 50 ms).
        drop(pusher);
        Ok(())
    }
}
