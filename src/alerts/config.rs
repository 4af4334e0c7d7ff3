//! Alerting settings, parsed once at start. Every action but the Defender alert is off unless
//! configured; a missing credential setting is not checked here (see [`crate::auth`]).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AZURE_AUTH` and friends | `managed-identity` | the credential, see [`crate::auth`] |
//! | `DEFENDER_API_URL` | `https://api.security.microsoft.com` | Defender API base; regional and government hosts, or `http://` loopback for tests |
//! | `DEFENDER_TOKEN_SCOPE` | `https://api.securitycenter.microsoft.com/.default` | token scope for the Defender API |
//! | `DEFENDER_ALERTS` | auto | create an alert by reference for each alertable match; unset or `auto`: until `DEFENDER_API_RETIREMENT_DATE` |
//! | `DEFENDER_API_RETIREMENT_DATE` | 2027-02-01 | the day the MDE API stops working (MC1220762), see [`super::retirement`] |
//! | `DEFENDER_ALERT_SEVERITY` | from MISP `threat_level_id` | `Low`, `Medium` or `High` for every alert |
//! | `DEFENDER_ALERT_CATEGORY` | `Malware` | one of the documented alert categories |
//! | `DEFENDER_RECOMMENDED_ACTION` | [`DEFAULT_RECOMMENDED_ACTION`] | the alert's `recommendedAction` |
//! | `DEFENDER_ALERTS_PER_MINUTE` | 14 | alert calls per 60 s, at most 14 (Defender allows 15) |
//! | `ALERT_DEDUPE_WINDOW_SECS` | 86400 | no second alert for the same device and hash within this |
//! | `DEFENDER_NOT_FOUND_RETRIES` | 5 | 404 answers (event not yet indexed) before the match is recorded and dropped |
//! | `DEFENDER_INDICATOR_ACTION` | `off` | `off`, `audit`, `block` or `block-and-remediate` |
//! | `DEFENDER_INDICATOR_EXPIRY_DAYS` | 30 | indicator lifetime |
//! | `DEFENDER_INDICATOR_SEVERITY` | `Medium` | `Informational`, `Low`, `Medium` or `High` |
//! | `DEFENDER_INDICATOR_MAX` | 10000 | indicators this process creates at most (the tenant holds 15,000) |
//! | `MISP_SIGHTINGS` | false | add a MISP sighting for each matched attribute |
//! | `MISP_SIGHTING_API_KEY` | `MISP_API_KEY` | a key whose role has the sighting permission |
//! | `SENTINEL_DCE_URL` | unset | data collection endpoint; with the next two, sends every match to Sentinel |
//! | `SENTINEL_DCR_ID` | unset | immutable id of the data collection rule (`dcr-…`) |
//! | `SENTINEL_STREAM` | unset | stream name in the rule: `Custom-DefenderMispMatches_CL` as the Bicep deploys it |

use std::time::Duration;

use url::Url;

use super::retirement::{self, DefenderAlerts};
use crate::auth::AuthMethod;
use crate::config::{ConfigError, Source, flag, http_url, is_plain_remote, optional, parsed};
use crate::secret::Secret;

pub const DEFAULT_DEFENDER_API_URL: &str = "https://api.security.microsoft.com";
pub const DEFAULT_DEFENDER_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";
pub const SENTINEL_SCOPE: &str = "https://monitor.azure.com/.default";
pub const DEFAULT_RECOMMENDED_ACTION: &str = "Investigate the file and the device: read the MISP event named in the description, check where the file came from and what it did, and isolate the device if the file ran.";
/// Defender allows 15 CreateAlertByReference calls a minute; keep one in hand.
pub const ALERTS_PER_MINUTE: u32 = 14;
pub const DEDUPE_WINDOW_SECS: u64 = 86_400;
pub const NOT_FOUND_RETRIES: u32 = 5;
pub const INDICATOR_EXPIRY_DAYS: u32 = 30;
pub const INDICATOR_MAX: u64 = 10_000;
/// Active indicators a tenant may hold, not raisable.
pub const TENANT_INDICATOR_CAP: u64 = 15_000;

/// The categories CreateAlertByReference accepts (`defender.md` §4a).
pub const CATEGORIES: [&str; 16] = [
    "General",
    "CommandAndControl",
    "Collection",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Exfiltration",
    "Exploit",
    "Execution",
    "InitialAccess",
    "LateralMovement",
    "Malware",
    "Persistence",
    "PrivilegeEscalation",
    "Ransomware",
    "SuspiciousActivity",
];

/// One of the values a set accepts, matched ignoring case and returned as documented.
fn one_of(
    env: &dyn Source,
    var: &'static str,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, ConfigError> {
    let Some(v) = optional(env, var) else {
        return Ok(None);
    };
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(&v))
        .map(|a| Some(*a))
        .ok_or_else(|| ConfigError::new(var, format!("`{v}` is not one of {}", allowed.join(", "))))
}

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
        let defender_url = token_url(
            "DEFENDER_API_URL",
            &optional(env, "DEFENDER_API_URL").unwrap_or_else(|| DEFAULT_DEFENDER_API_URL.into()),
        )?;
        let alerts_per_minute = parsed(env, "DEFENDER_ALERTS_PER_MINUTE", ALERTS_PER_MINUTE)?;
        if !(1..=ALERTS_PER_MINUTE).contains(&alerts_per_minute) {
            return Err(ConfigError::new(
                "DEFENDER_ALERTS_PER_MINUTE",
                format!("must be between 1 and {ALERTS_PER_MINUTE} (Defender allows 15)"),
            ));
        }
        Ok(Self {
            auth: AuthMethod::from_env(env)?,
            defender_url,
            defender_scope: optional(env, "DEFENDER_TOKEN_SCOPE")
                .unwrap_or_else(|| DEFAULT_DEFENDER_SCOPE.into()),
            defender_alerts: DefenderAlerts::from_env(env)?,
            mde_retires: retirement::retirement_date(env)?,
            severity: one_of(env, "DEFENDER_ALERT_SEVERITY", &["Low", "Medium", "High"])?,
            category: one_of(env, "DEFENDER_ALERT_CATEGORY", &CATEGORIES)?.unwrap_or("Malware"),
            recommended_action: optional(env, "DEFENDER_RECOMMENDED_ACTION")
                .unwrap_or_else(|| DEFAULT_RECOMMENDED_ACTION.into()),
            alerts_per_minute,
            dedupe_window: Duration::from_secs(parsed(
                env,
                "ALERT_DEDUPE_WINDOW_SECS",
                DEDUPE_WINDOW_SECS,
            )?),
            not_found_retries: parsed(env, "DEFENDER_NOT_FOUND_RETRIES", NOT_FOUND_RETRIES)?,
            indicator: indicator_settings(env)?,
            sightings: flag(env, "MISP_SIGHTINGS", false)?.then(|| SightingSettings {
                api_key: optional(env, "MISP_SIGHTING_API_KEY").map(Secret::new),
            }),
            sentinel: sentinel_settings(env)?,
        })
    }
}

fn indicator_settings(env: &dyn Source) -> Result<Option<IndicatorSettings>, ConfigError> {
    let var = "DEFENDER_INDICATOR_ACTION";
    let action = match one_of(env, var, &["off", "audit", "block", "block-and-remediate"])? {
        None | Some("off") => return Ok(None),
        Some("audit") => IndicatorAction::Audit,
        Some("block") => IndicatorAction::Block,
        Some(_) => IndicatorAction::BlockAndRemediate,
    };
    let expiry_days = parsed(env, "DEFENDER_INDICATOR_EXPIRY_DAYS", INDICATOR_EXPIRY_DAYS)?;
    if !(1..=3650).contains(&expiry_days) {
        return Err(ConfigError::new(
            "DEFENDER_INDICATOR_EXPIRY_DAYS",
            "must be between 1 and 3650",
        ));
    }
    let max = parsed(env, "DEFENDER_INDICATOR_MAX", INDICATOR_MAX)?;
    if !(1..=TENANT_INDICATOR_CAP).contains(&max) {
        return Err(ConfigError::new(
            "DEFENDER_INDICATOR_MAX",
            format!("must be between 1 and {TENANT_INDICATOR_CAP} (the tenant's cap)"),
        ));
    }
    let severities = ["Informational", "Low", "Medium", "High"];
    Ok(Some(IndicatorSettings {
        action,
        expiry_days,
        severity: one_of(env, "DEFENDER_INDICATOR_SEVERITY", &severities)?.unwrap_or("Medium"),
        max,
    }))
}

fn sentinel_settings(env: &dyn Source) -> Result<Option<SentinelSettings>, ConfigError> {
    let dce = optional(env, "SENTINEL_DCE_URL");
    let dcr = optional(env, "SENTINEL_DCR_ID");
    let stream = optional(env, "SENTINEL_STREAM");
    if dce.is_none() && dcr.is_none() && stream.is_none() {
        return Ok(None);
    }
    let need = |v: Option<String>, var: &'static str| {
        v.ok_or_else(|| ConfigError::new(var, "is required when any SENTINEL_* setting is set"))
    };
    let dce = need(dce, "SENTINEL_DCE_URL")?;
    let dcr = need(dcr, "SENTINEL_DCR_ID")?;
    let stream = need(stream, "SENTINEL_STREAM")?;
    let plain = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    };
    if !plain(&dcr) {
        return Err(ConfigError::new(
            "SENTINEL_DCR_ID",
            "must be a dcr-… immutable id",
        ));
    }
    if !plain(&stream) {
        return Err(ConfigError::new(
            "SENTINEL_STREAM",
            "must be a stream name such as Custom-X_CL",
        ));
    }
    let mut ingest_url = token_url("SENTINEL_DCE_URL", &dce)?;
    let path = format!(
        "{}/dataCollectionRules/{dcr}/streams/{stream}",
        ingest_url.path().trim_end_matches('/')
    );
    ingest_url.set_path(&path);
    ingest_url.set_query(Some("api-version=2023-01-01"));
    Ok(Some(SentinelSettings { ingest_url }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env;

    #[test]
    fn nothing_set_means_alerts_on_until_the_retirement_date_and_every_option_off() {
        let c = AlertConfig::from_env(&env(&[])).unwrap();
        assert_eq!(c.defender_alerts, DefenderAlerts::Auto);
        assert_eq!(c.mde_retires, retirement::default_retirement_date());
        assert_eq!(
            c.defender_url.as_str(),
            "https://api.security.microsoft.com/"
        );
        assert_eq!(c.defender_scope, DEFAULT_DEFENDER_SCOPE);
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
