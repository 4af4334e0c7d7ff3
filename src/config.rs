//! The configuration of a run, parsed once at start: [`ServeConfig`] for `serve`, [`MatchConfig`]
//! for matching anywhere (`serve`, `scan`, `replay`). Each part is its subsystem's own settings
//! type, built from the declarations in [`crate::settings::vars`]; a bad value stops the run with
//! an error naming the variable.

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

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub port: u16,
    pub misp: MispSettings,
    pub matching: MatchConfig,
    pub alerts: AlertConfig,
}

impl ServeConfig {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            port: handler_port(env)?,
            misp: MispSettings::from_env(env)?,
            matching: MatchConfig::from_env(env)?,
            alerts: AlertConfig::from_env(env)?,
        })
    }
}

/// The port the host tells the handler to listen on.
pub fn handler_port(env: &dyn Source) -> Result<u16, ConfigError> {
    let raw = vars::FUNCTIONS_CUSTOMHANDLER_PORT.require(env)?;
    match raw.parse::<u16>() {
        Ok(0) | Err(_) => Err(ConfigError::new(
            "FUNCTIONS_CUSTOMHANDLER_PORT",
            format!("`{raw}` is not a TCP port (1-65535)"),
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
