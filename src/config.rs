//! The configuration of a run, parsed once at start: [`ServeConfig`] for `serve`, [`MatchConfig`]
//! for matching anywhere (`serve`, `scan`, `replay`). Each part is its subsystem's own settings
//! type, built from the declarations in [`crate::settings::vars`]; a bad value stops the run with
//! an error naming the variable.

use std::time::Duration;

use crate::alerts::AlertConfig;
use crate::engine::config::{Allowlist, Limits};
use crate::intel::config::{LookupSettings, MispSettings};
use crate::settings::{ConfigError, Source, vars};

/// Everything `MatchEvents` needs, and what `scan` and `replay` match with.
#[derive(Debug, Clone)]
pub struct MatchConfig {
    pub lookup: LookupSettings,
    pub limits: Limits,
    pub allowlist: Allowlist,
}

impl MatchConfig {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            lookup: LookupSettings::from_env(env)?,
            limits: Limits::from_env(env)?,
            allowlist: Allowlist::from_env(env)?,
        })
    }
}

/// How `serve` holds its connections and the bodies it reads (`SERVE_*`,
/// `MATCH_MAX_BYTES_IN_FLIGHT`); see `server::listener`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerSettings {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_bytes_in_flight: usize,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        Self {
            header_timeout: vars::SERVE_HEADER_TIMEOUT_SECS.default(),
            body_timeout: vars::SERVE_BODY_TIMEOUT_SECS.default(),
            idle_timeout: vars::SERVE_IDLE_TIMEOUT_SECS.default(),
            max_connections: vars::SERVE_MAX_CONNECTIONS.default,
            max_bytes_in_flight: vars::MATCH_MAX_BYTES_IN_FLIGHT.default,
        }
    }
}

impl ListenerSettings {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            header_timeout: vars::SERVE_HEADER_TIMEOUT_SECS.read(env)?,
            body_timeout: vars::SERVE_BODY_TIMEOUT_SECS.read(env)?,
            idle_timeout: vars::SERVE_IDLE_TIMEOUT_SECS.read(env)?,
            max_connections: vars::SERVE_MAX_CONNECTIONS.read(env)?,
            max_bytes_in_flight: vars::MATCH_MAX_BYTES_IN_FLIGHT.read(env)?,
        })
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub port: u16,
    pub misp: MispSettings,
    pub matching: MatchConfig,
    pub alerts: AlertConfig,
    pub listener: ListenerSettings,
}

impl ServeConfig {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            port: handler_port(env)?,
            misp: MispSettings::from_env(env)?,
            matching: MatchConfig::from_env(env)?,
            alerts: AlertConfig::from_env(env)?,
            listener: ListenerSettings::from_env(env)?,
        })
    }
}

/// The port the host tells the handler to listen on.
pub fn handler_port(env: &dyn Source) -> Result<u16, ConfigError> {
    let raw = vars::FUNCTIONS_CUSTOMHANDLER_PORT.require(env)?;
    match raw.parse::<u16>() {
        Ok(0) | Err(_) => Err(ConfigError::new(
            "FUNCTIONS_CUSTOMHANDLER_PORT",
            format!(
                "`{}` is not a TCP port (1-65535)",
                crate::text::clean_text(&raw, 40)
            ),
        )),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

    #[test]
    fn the_port_must_be_a_real_port() {
        assert_eq!(
            handler_port(&env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "8080")])),
            Ok(8080)
        );
        for bad in ["", "0", "70000", "http"] {
            let err = handler_port(&env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", bad)])).unwrap_err();
            assert_eq!(err.variable, "FUNCTIONS_CUSTOMHANDLER_PORT");
        }
    }
}
