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
use crate::server::memory::MemoryBudget;
use crate::server::{AppState, listener, router};
use crate::settings::{ConfigError, Source, is_plain_remote, vars};
use crate::text::clean_text;
use tracing_subscriber::EnvFilter;

/// The log filter of a run: `RUST_LOG` (`tracing` env-filter syntax), or `unset` when it is not
/// set. A filter that does not parse, or whose target or level is not one (`RUST_LOG=-1`,
/// `info,x=loud`, `garbage!`), is an error naming `RUST_LOG`, never a silent fallback.
pub fn log_filter(env: &dyn Source, unset: &str) -> Result<EnvFilter, ConfigError> {
    let var = vars::RUST_LOG.name;
    let text = env
        .get(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| unset.to_owned());
    let invalid = |why: &str| {
        ConfigError::new(
            var,
            format!(
                "`{}` is not a log filter ({why}): write e.g. `info` or `warn,defender_misp=debug`",
                clean_text(&text, 60)
            ),
        )
    };
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (target, level) = match directive.rsplit_once('=') {
            Some((t, l)) => (t, Some(l)),
            None if is_level(directive) => continue,
            None => (directive, None),
        };
        let target = target.split('[').next().unwrap_or_default();
        let path = !target.is_empty()
            && target.split("::").all(|seg| {
                seg.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        let span_only = target.is_empty() && directive.starts_with('[');
        if !(path || span_only) {
            return Err(invalid(
                "a target is a module path such as defender_misp::intel",
            ));
        }
        if level.is_some_and(|l| !is_level(l)) {
            return Err(invalid(
                "a level is off, error, warn, info, debug, trace or 0 to 5",
            ));
        }
    }
    EnvFilter::builder()
        .parse(&text)
        .map_err(|e| invalid(&e.to_string()))
}

/// Everything `serve` checks before it listens: the log filter and every setting.
pub fn serve_config(env: &dyn Source) -> Result<ServeConfig, ConfigError> {
    log_filter(env, "info")?;
    ServeConfig::from_env(env)
}

fn is_level(word: &str) -> bool {
    [
        "off", "error", "warn", "info", "debug", "trace", "0", "1", "2", "3", "4", "5",
    ]
    .iter()
    .any(|l| l.eq_ignore_ascii_case(word.trim()))
}

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
        alerts.prepare().await;
        Ok(Self {
            listener,
            state: AppState {
                engine,
                alerts,
                budget: MemoryBudget::new(config.listener.max_bytes_in_flight),
                listener: config.listener,
            },
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The signal handlers are installed here, before the first connection is accepted: a
        // busy runtime may poll the shutdown future only after the first requests, and a SIGTERM
        // before the handlers exist kills the process outright.
        let stop = shutdown_signal();
        tracing::info!(port = self.port(), "defender-misp ready");
        let settings = self.state.listener;
        listener::serve(self.listener, router(self.state), settings, stop).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

    #[test]
    fn an_invalid_log_filter_is_an_error_naming_rust_log() {
        for good in [
            "info",
            "warn,defender_misp=debug",
            "0",
            "defender_misp::intel=trace",
            "",
        ] {
            assert!(
                log_filter(&env(&[("RUST_LOG", good)]), "info").is_ok(),
                "{good}"
            );
        }
        for bad in [
            "garbage!",
            "-1",
            "18446744073709551616",
            "info,foo=bar",
            "[",
            "=info",
            "x=y=z",
        ] {
            let err = log_filter(&env(&[("RUST_LOG", bad)]), "info").unwrap_err();
            assert_eq!(err.variable, "RUST_LOG", "{bad}");
        }
        assert_eq!(
            log_filter(&env(&[]), "warn").unwrap().to_string(),
            "warn",
            "unset: the command's own default"
        );
    }

    /// Settings whose error may name a companion: one of a group that must be set together.
    fn companions(name: &str) -> &'static [&'static str] {
        match name {
            "SENTINEL_DCE_URL" | "SENTINEL_DCR_ID" | "SENTINEL_STREAM" => {
                &["SENTINEL_DCE_URL", "SENTINEL_DCR_ID", "SENTINEL_STREAM"]
            }
            _ => &[],
        }
    }

    #[test]
    fn every_declared_setting_at_zero_negative_overflow_or_garbage_is_taken_or_refused_by_name() {
        const KEY: &str = "walk-misp-key-0123456789";
        let bad = ["0", "-1", "18446744073709551616", "garbage\u{1b}[31m!\r\nx"];
        let (mut taken, mut refused) = (Vec::new(), 0);
        for d in vars::all() {
            let numeric = d.accepts.starts_with("between") || d.accepts.starts_with("at least");
            for value in bad {
                let mut pairs = vec![
                    ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
                    ("MISP_URL", "https://misp.example"),
                    ("MISP_API_KEY", KEY),
                ];
                pairs.retain(|(k, _)| *k != d.name);
                pairs.push((d.name, value));
                let result = serve_config(&env(&pairs));
                let Err(e) = result else {
                    assert!(
                        !numeric || value == "0",
                        "{}={value:?} was taken; it accepts {}",
                        d.name,
                        d.accepts
                    );
                    taken.push(format!("{}={value:?}", d.name));
                    continue;
                };
                refused += 1;
                let text = e.to_string();
                assert!(
                    e.variable == d.name || companions(d.name).contains(&e.variable),
                    "{}={value:?} refused naming {}: {text}",
                    d.name,
                    e.variable
                );
                if numeric {
                    assert!(text.contains(&d.accepts), "{text} (accepts {})", d.accepts);
                }
                assert!(
                    !text.chars().any(char::is_control),
                    "the error is one clean line: {text:?}"
                );
                assert!(!text.contains(KEY), "{text}");
            }
            if numeric {
                assert!(
                    !taken
                        .iter()
                        .any(|t| t.starts_with(&format!("{}=\"-1", d.name))),
                    "{} took -1",
                    d.name
                );
            }
        }
        assert!(refused > 100, "only {refused} refusals");
        // Only free text takes anything: the recommended action (cleaned where it is used).
        let garbage: Vec<&String> = taken.iter().filter(|t| t.contains("garbage")).collect();
        assert_eq!(
            garbage,
            ["DEFENDER_RECOMMENDED_ACTION=\"garbage\\u{1b}[31m!\\r\\nx\""],
            "garbage taken"
        );
        eprintln!("taken as valid: {}", taken.join(", "));
    }
}
