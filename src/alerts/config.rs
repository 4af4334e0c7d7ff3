//! Alerting settings, parsed once at start from their declarations in [`crate::settings::vars`]
//! (`DEFENDER_*`, `ALERT_DEDUPE_WINDOW_SECS`, `MISP_SIGHTINGS`, `MISP_SIGHTING_API_KEY`,
//! `SENTINEL_*`, and the credential's, see [`crate::azure::auth`]). Every action but the Defender
//! alert is off unless configured, and the Defender alert by default only until the MDE API
//! retires ([`super::retirement`]); a missing credential setting is not checked here.

use std::time::Duration;

use url::Url;

use super::retirement::{self, DefenderAlerts};
use crate::azure::auth::AuthMethod;
use crate::azure::table::TableSettings;
use crate::http;
use crate::secret::Secret;
use crate::settings::{ConfigError, Source, http_url, is_plain_remote, vars};

pub const SENTINEL_SCOPE: &str = "https://monitor.azure.com/.default";

/// What an indicator does on the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndicatorAction {
    Audit,
    Block,
    BlockAndRemediate,
}

impl IndicatorAction {
    /// The API's `action` value.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Audit => "Audit",
            Self::Block => "Block",
            Self::BlockAndRemediate => "BlockAndRemediate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorSettings {
    pub action: IndicatorAction,
    pub expiry_days: u32,
    pub severity: &'static str,
    pub max: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SightingSettings {
    /// `None`: the main MISP key.
    pub api_key: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelSettings {
    /// `{DCE}/dataCollectionRules/{DCR}/streams/{stream}?api-version=2023-01-01`
    pub ingest_url: Url,
}

/// Everything `RaiseAlerts` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertConfig {
    pub auth: AuthMethod,
    pub defender_url: Url,
    pub defender_scope: String,
    /// `DEFENDER_ALERTS`; see [`DefenderAlerts::enabled_on`].
    pub defender_alerts: DefenderAlerts,
    /// `DEFENDER_API_RETIREMENT_DATE`.
    pub mde_retires: time::Date,
    pub severity: Option<&'static str>,
    pub category: &'static str,
    pub recommended_action: String,
    pub alerts_per_minute: u32,
    pub dedupe_window: Duration,
    pub not_found_retries: u32,
    pub indicator: Option<IndicatorSettings>,
    pub sightings: Option<SightingSettings>,
    pub sentinel: Option<SentinelSettings>,
    /// Where the alert state lives: the app's Table storage (`AzureWebJobsStorage`), or this
    /// process when no storage account is configured.
    pub state: Option<TableSettings>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self::from_env(&std::collections::HashMap::new()).expect("the defaults are valid")
    }
}

/// An https URL, or http to loopback (tests): a bearer token never travels in clear text.
fn token_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = http_url(var, value)?;
    if is_plain_remote(&url) {
        return Err(ConfigError::new(
            var,
            "must be https:// (http:// only to loopback)",
        ));
    }
    Ok(url)
}

impl AlertConfig {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let defender_url = token_url("DEFENDER_API_URL", &vars::DEFENDER_API_URL.require(env)?)?;
        Ok(Self {
            auth: AuthMethod::from_env(env)?,
            defender_url,
            defender_scope: scope(&vars::DEFENDER_TOKEN_SCOPE.require(env)?)?,
            defender_alerts: DefenderAlerts::from_env(env)?,
            mde_retires: retirement::retirement_date(env)?,
            severity: vars::DEFENDER_ALERT_SEVERITY.read(env)?,
            category: vars::DEFENDER_ALERT_CATEGORY
                .read(env)?
                .unwrap_or("Malware"),
            recommended_action: crate::text::clean_text(
                &vars::DEFENDER_RECOMMENDED_ACTION.require(env)?,
                1024,
            ),
            alerts_per_minute: vars::DEFENDER_ALERTS_PER_MINUTE.read(env)?,
            dedupe_window: vars::ALERT_DEDUPE_WINDOW_SECS.read(env)?,
            not_found_retries: vars::DEFENDER_NOT_FOUND_RETRIES.read(env)?,
            indicator: indicator_settings(env)?,
            sightings: {
                let api_key = vars::MISP_SIGHTING_API_KEY.try_read(env)?;
                vars::MISP_SIGHTINGS
                    .read(env)?
                    .then_some(SightingSettings { api_key })
            },
            sentinel: sentinel_settings(env)?,
            state: TableSettings::from_env(env)?,
        })
    }
}

/// A token scope: `https://<resource>/.default`.
fn scope(value: &str) -> Result<String, ConfigError> {
    let ok = url::Url::parse(value).is_ok_and(|u| {
        u.scheme() == "https" && u.host().is_some() && u.path().ends_with("/.default")
    });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::new(
            "DEFENDER_TOKEN_SCOPE",
            "must be a scope such as https://api.securitycenter.microsoft.com/.default",
        ))
    }
}

/// The indicator settings, checked whether or not indicators are on.
fn indicator_settings(env: &dyn Source) -> Result<Option<IndicatorSettings>, ConfigError> {
    let settings = IndicatorSettings {
        action: IndicatorAction::Audit,
        expiry_days: vars::DEFENDER_INDICATOR_EXPIRY_DAYS.read(env)?,
        severity: vars::DEFENDER_INDICATOR_SEVERITY
            .read(env)?
            .unwrap_or("Medium"),
        max: vars::DEFENDER_INDICATOR_MAX.read(env)?,
    };
    let action = match vars::DEFENDER_INDICATOR_ACTION.read(env)? {
        None | Some("off") => return Ok(None),
        Some("audit") => IndicatorAction::Audit,
        Some("block") => IndicatorAction::Block,
        Some(_) => IndicatorAction::BlockAndRemediate,
    };
    Ok(Some(IndicatorSettings { action, ..settings }))
}

fn sentinel_settings(env: &dyn Source) -> Result<Option<SentinelSettings>, ConfigError> {
    let dce = vars::SENTINEL_DCE_URL.read(env);
    let dcr = vars::SENTINEL_DCR_ID.read(env);
    let stream = vars::SENTINEL_STREAM.read(env);
    if dce.is_none() && dcr.is_none() && stream.is_none() {
        return Ok(None);
    }
    // Each value set is checked first, so a malformed one is named rather than a missing one.
    let dce = dce.map(|d| token_url("SENTINEL_DCE_URL", &d)).transpose()?;
    let plain = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    };
    if dcr.as_deref().is_some_and(|d| !plain(d)) {
        return Err(ConfigError::new(
            "SENTINEL_DCR_ID",
            "must be a dcr-… immutable id",
        ));
    }
    if stream.as_deref().is_some_and(|s| !plain(s)) {
        return Err(ConfigError::new(
            "SENTINEL_STREAM",
            "must be a stream name such as Custom-X_CL",
        ));
    }
    let need = |v: Option<String>, var: &'static str| {
        v.ok_or_else(|| ConfigError::new(var, "is required when any SENTINEL_* setting is set"))
    };
    let dce = dce.ok_or_else(|| {
        ConfigError::new(
            "SENTINEL_DCE_URL",
            "is required when any SENTINEL_* setting is set",
        )
    })?;
    let dcr = need(dcr, "SENTINEL_DCR_ID")?;
    let stream = need(stream, "SENTINEL_STREAM")?;
    let mut ingest_url = http::join(&dce, &format!("dataCollectionRules/{dcr}/streams/{stream}"));
    ingest_url.set_query(Some("api-version=2023-01-01"));
    Ok(Some(SentinelSettings { ingest_url }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

    #[test]
    fn nothing_set_means_alerts_on_until_the_retirement_date_and_every_option_off() {
        let c = AlertConfig::from_env(&env(&[])).unwrap();
        assert_eq!(c.defender_alerts, DefenderAlerts::Auto);
        assert_eq!(c.mde_retires, retirement::default_retirement_date());
        assert_eq!(
            c.defender_url.as_str(),
            "https://api.security.microsoft.com/"
        );
        assert_eq!(
            c.defender_scope,
            "https://api.securitycenter.microsoft.com/.default"
        );
        assert_eq!(c.category, "Malware");
        assert_eq!(c.severity, None);
        assert_eq!(c.alerts_per_minute, 14);
        assert_eq!(c.dedupe_window, Duration::from_secs(86_400));
        assert!(c.indicator.is_none() && c.sightings.is_none() && c.sentinel.is_none());
        assert_eq!(c.auth, AuthMethod::ManagedIdentity { client_id: None });
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("DEFENDER_ALERT_CATEGORY", "Phishy"),
            ("DEFENDER_ALERT_SEVERITY", "Critical"),
            ("DEFENDER_ALERTS_PER_MINUTE", "15"),
            ("DEFENDER_API_URL", "http://api.security.microsoft.com"),
            ("DEFENDER_INDICATOR_ACTION", "allow"),
            ("SENTINEL_DCE_URL", "https://dce.example"),
        ] {
            let err = AlertConfig::from_env(&env(&[(var, value)])).unwrap_err();
            let expected = if var == "SENTINEL_DCE_URL" {
                "SENTINEL_DCR_ID"
            } else {
                var
            };
            assert_eq!(err.variable, expected, "{var}={value}");
        }
        let err = AlertConfig::from_env(&env(&[
            ("DEFENDER_INDICATOR_ACTION", "audit"),
            ("DEFENDER_INDICATOR_MAX", "20000"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "DEFENDER_INDICATOR_MAX");
    }

    #[test]
    fn categories_match_any_case_and_sentinel_builds_the_ingestion_url() {
        let c = AlertConfig::from_env(&env(&[
            ("DEFENDER_ALERT_CATEGORY", "suspiciousactivity"),
            ("DEFENDER_INDICATOR_ACTION", "Block-And-Remediate"),
            (
                "SENTINEL_DCE_URL",
                "https://dce.westeurope-1.ingest.monitor.azure.com/",
            ),
            ("SENTINEL_DCR_ID", "dcr-0123abcd"),
            ("SENTINEL_STREAM", "Custom-DefenderMispMatches_CL"),
        ]))
        .unwrap();
        assert_eq!(c.category, "SuspiciousActivity");
        assert_eq!(
            c.indicator.unwrap().action,
            IndicatorAction::BlockAndRemediate
        );
        assert_eq!(
            c.sentinel.unwrap().ingest_url.as_str(),
            "https://dce.westeurope-1.ingest.monitor.azure.com/dataCollectionRules/dcr-0123abcd/streams/Custom-DefenderMispMatches_CL?api-version=2023-01-01"
        );
    }
}
