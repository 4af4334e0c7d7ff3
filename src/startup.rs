//! Building the application from configuration, and running `serve`.
//!
//! [`Application::build`] binds the listener before anything else, so tests bind port 0 and read
//! the real port from [`Application::port`]. The server stops gracefully on SIGTERM or Ctrl-C.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::alerts::AlertService;
use crate::config::ServeConfig;
use crate::engine::Engine;
use crate::intel::ThreatIntel;
use crate::intel::config::MispMode;
use crate::intel::misp::MispIntel;
use crate::intel::resolver::Resolver;
use crate::intel::snapshot::SnapshotIntel;
use crate::server::{AppState, router};
use crate::settings::is_plain_remote;

/// A bound, ready-to-run handler.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        // The host calls 127.0.0.1 only; nothing else should reach the handler.
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        if is_plain_remote(&config.misp.url) {
            tracing::warn!(url = %config.misp.url, "MISP_URL is plain http beyond loopback: the API key travels in clear text");
        }
        if !config.misp.verify_tls {
            tracing::warn!("MISP_VERIFY_TLS=false: the MISP server's certificate is not checked");
        }
        let online = Arc::new(MispIntel::new(&config.misp)?);
        let mut lookup = config.matching.lookup.clone();
        let intel: Arc<dyn ThreatIntel> = match config.misp.snapshot.mode {
            MispMode::Online => online,
            mode => {
                // The snapshot answers a miss in microseconds: caching misses would only delay
                // new IOCs beyond the refresh interval.
                lookup.miss_ttl = std::time::Duration::ZERO;
                let snapshot = SnapshotIntel::new(online, &config.misp, lookup.retry);
                snapshot.spawn_refresher();
                tracing::info!(?mode, "IOC snapshot loading in the background");
                Arc::new(snapshot)
            }
        };
        let resolver = Arc::new(Resolver::new(intel, lookup));
        let engine = Arc::new(Engine::new(
            resolver,
            config.matching.allowlist.clone(),
            config.matching.limits,
        ));
        let alerts = Arc::new(AlertService::new(
            config.alerts.clone(),
            &config.misp,
            config.matching.lookup.retry,
        )?);
        Ok(Self {
            listener,
            state: AppState { engine, alerts },
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The signal handlers are installed here, before the first connection is accepted: axum
        // polls the shutdown future on a task of its own, which a busy runtime may reach only
        // after the first requests, and a SIGTERM before that killed the process outright.
        let stop = shutdown_signal();
        tracing::info!(port = self.port(), "defender-misp ready");
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(stop)
            .await
    }
}

/// Resolves on SIGTERM (how the Functions host stops the handler) or Ctrl-C. The handlers are
/// installed when this is called, not when it is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut signals = {
        use tokio::signal::unix::{SignalKind, signal};
        [SignalKind::terminate(), SignalKind::interrupt()].map(|kind| signal(kind).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let [terminate, interrupt] = &mut signals;
            tokio::select! {
                _ = received(terminate) => {},
                _ = received(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight invocations");
    }
}

/// The next signal of a stream, or never when it could not be installed.
#[cfg(unix)]
async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
