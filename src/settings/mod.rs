//! Settings: every environment variable (Functions app setting) the program reads is declared
//! once in [`vars`], with its default and the values it accepts, and read only through the kinds
//! declared here ([`Number`], [`Seconds`], [`Flag`], [`Choice`], [`Text`], [`SecretText`]). A
//! bad value is a [`ConfigError`] that names its variable and what it accepts; a secret's value
//! is never echoed.
//!
//! Each subsystem owns its settings type and builds it from these declarations
//! (`intel::config`, `engine::config`, `alerts::config`, `azure::auth`, `azure::queue`);
//! [`crate::config`] puts them together for `serve`, `scan` and `replay`. This module knows none
//! of them.

mod kinds;
pub mod vars;

use std::collections::HashMap;

use url::Url;

pub use kinds::{Choice, Declared, Flag, Number, Seconds, SecretText, Text};

/// Where settings come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

/// A setting that could not be used. Its text names the variable and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    /// The problem is kept to one clean line (a bad value may hold anything, a newline or an
    /// escape sequence included) of at most 400 characters.
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: crate::text::clean_text(&problem.into(), 400),
        }
    }
}

/// A variable's value, with blank treated as unset (app settings are often left empty).
fn optional(env: &dyn Source, var: &'static str) -> Option<String> {
    env.get(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// An `http(s)` URL; plain `http` to a non-loopback host is allowed but reported by [`is_plain_remote`].
/// A URL with a user name or password (`user:password@host`) is refused, without echoing it:
/// URLs are logged, and credentials go in their own settings.
pub fn http_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(var, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            var,
            "must be an http:// or https:// URL with a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            var,
            "must not hold a user name or password (`user:password@`): URLs are logged; a key goes in its own setting",
        ));
    }
    Ok(url)
}

/// A GUID (an Entra client or tenant id), in its canonical lowercase form.
pub fn guid(var: &'static str, value: &str) -> Result<String, ConfigError> {
    uuid::Uuid::try_parse(value.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ConfigError::new(var, "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"))
}

/// Whether a URL sends traffic in clear text beyond this machine.
pub fn is_plain_remote(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    url.scheme() == "http" && !loopback
}

/// Settings from pairs, as tests write them.
#[cfg(test)]
pub(crate) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_flagged_only_beyond_loopback() {
        assert!(is_plain_remote(&Url::parse("http://misp.corp").unwrap()));
        assert!(!is_plain_remote(&Url::parse("http://127.0.0.1:9").unwrap()));
        assert!(!is_plain_remote(&Url::parse("http://localhost:9").unwrap()));
        assert!(!is_plain_remote(&Url::parse("https://misp.corp").unwrap()));
    }

    #[test]
    fn a_url_with_a_user_or_password_is_refused_without_echoing_them() {
        let err = http_url("MISP_URL", "https://admin:hunter2@misp.example/").unwrap_err();
        assert_eq!(err.variable, "MISP_URL");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        assert!(!format!("{err}").contains("admin"));
        assert!(http_url("MISP_URL", "https://admin@misp.example/").is_err());
        assert!(http_url("MISP_URL", "https://misp.example:8443/misp").is_ok());
    }

    #[test]
    fn a_guid_is_read_in_its_canonical_form() {
        assert_eq!(
            guid("X", " 5C7641BF-A4E8-4D5D-A653-03240A00020F ").unwrap(),
            "5c7641bf-a4e8-4d5d-a653-03240a00020f"
        );
        assert!(guid("X", "------------------------------------").is_err());
        assert!(guid("X", "garbage").is_err());
    }

    #[test]
    fn every_variable_is_declared_once() {
        let all = vars::all();
        let mut names: Vec<&str> = all.iter().map(|d| d.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a variable declared twice");
        assert!(names.contains(&"MISP_URL") && names.contains(&"SENTINEL_STREAM"));
        assert!(
            all.iter().all(|d| !d.doc.is_empty()),
            "every one documented"
        );
    }
}
