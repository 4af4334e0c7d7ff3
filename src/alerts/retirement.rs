//! The Defender for Endpoint API retirement: Microsoft's Message Center notice MC1220762 says the
//! MDE and XDR APIs, `CreateAlertByReference` and `/api/indicators` among them, "will no longer
//! function" after 2027-02-01. Three things follow here:
//!
//! - `DEFENDER_ALERTS` unset means *auto*: on before `DEFENDER_API_RETIREMENT_DATE` (default
//!   2027-02-01), off from that day on, decided at every message, so a process that runs across the
//!   date stops by itself. `true` and `false` keep their meaning.
//! - At start, a configured MDE action past the date gets one warning, and no alert path at all
//!   past the date (no Sentinel) gets an error ([`start_warnings`]).
//! - An answer that says the API is gone (410, a 404 without Defender's error body, an error that
//!   says retired or deprecated: [`crate::alerts::defender::DefenderError::Retired`]) stops the MDE
//!   actions for the life of the process ([`MdeApi`]); the message is acknowledged, not retried.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::settings::{ConfigError, Source, vars};

/// The day MC1220762 gives for the end of the MDE API: the declared default of
/// `DEFENDER_API_RETIREMENT_DATE`.
pub fn default_retirement_date() -> Date {
    let text = vars::DEFENDER_API_RETIREMENT_DATE
        .default
        .expect("a declared default");
    parse_date(text).expect("a valid declared date")
}

/// `DEFENDER_API_RETIREMENT_DATE`, `YYYY-MM-DD`.
pub fn retirement_date(env: &dyn Source) -> Result<Date, ConfigError> {
    let var = vars::DEFENDER_API_RETIREMENT_DATE.name;
    let text = vars::DEFENDER_API_RETIREMENT_DATE.require(env)?;
    parse_date(&text)
        .ok_or_else(|| ConfigError::new(var, format!("`{text}` is not a date as YYYY-MM-DD")))
}

/// A `YYYY-MM-DD` date.
fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]")).ok()
}

/// `DEFENDER_ALERTS`: `true`, `false`, or unset / `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefenderAlerts {
    On,
    Off,
    /// On before the retirement date, off from that day on.
    Auto,
}

impl DefenderAlerts {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(match vars::DEFENDER_ALERTS.read(env)? {
            None | Some("auto") => Self::Auto,
            Some("true" | "1" | "yes" | "on") => Self::On,
            Some(_) => Self::Off,
        })
    }

    /// Whether the alert action runs on `today`.
    pub fn enabled_on(self, today: Date, retires: Date) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => today < retires,
        }
    }
}

/// Today, UTC.
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// What the settings mean for the MDE API on `today`: the lines `serve` logs at start (at most one
/// warning for the configured MDE actions, and one error when nothing would raise an alert).
pub fn start_warnings(
    alerts: DefenderAlerts,
    indicators: bool,
    sentinel: bool,
    retires: Date,
    today: Date,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut configured = Vec::new();
    if alerts == DefenderAlerts::On {
        configured.push("DEFENDER_ALERTS=true (CreateAlertByReference)");
    }
    if indicators {
        configured.push("DEFENDER_INDICATOR_ACTION (/api/indicators)");
    }
    if today >= retires {
        if !configured.is_empty() {
            lines.push(format!(
                "the MDE API is retired since {retires} (Microsoft MC1220762) but {} is configured: \
                 its calls are expected to fail, and the handler stops calling it at the first answer that says it is gone; \
                 alerts come from Sentinel (SENTINEL_* settings and the analytics rule, docs/alerting.md)",
                configured.join(" and ")
            ));
        }
        if !sentinel && !alerts.enabled_on(today, retires) && !indicators {
            lines.push(format!(
                "no alert path: the MDE API is retired since {retires} and SENTINEL_DCE_URL, SENTINEL_DCR_ID and SENTINEL_STREAM are not set, \
                 so matches raise no alert anywhere (set them, or deploy with enableSentinel=true)"
            ));
        }
    } else if !sentinel {
        let days = (retires - today).whole_days();
        lines.push(format!(
            "the MDE API that raises Defender alerts retires on {retires} (in {days} days, Microsoft MC1220762) and Sentinel is not configured: \
             after that day no alert is raised; set SENTINEL_DCE_URL, SENTINEL_DCR_ID and SENTINEL_STREAM (docs/alerting.md)"
        ));
    }
    lines
}

/// Logs [`start_warnings`] for `config` as of today.
pub fn log_start(config: &super::AlertConfig) {
    let lines = start_warnings(
        config.defender_alerts,
        config.indicator.is_some(),
        config.sentinel.is_some(),
        config.mde_retires,
        today(),
    );
    for line in lines {
        if line.starts_with("no alert path") {
            tracing::error!("{line}");
        } else {
            tracing::warn!("{line}");
        }
    }
}

/// What this process learnt about the MDE API: whether it answered as retired, said once.
#[derive(Debug, Default)]
pub struct MdeApi {
    retired: OnceLock<String>,
    auto_off_said: AtomicBool,
}

impl MdeApi {
    /// Why the API counts as retired, once an answer said so.
    pub fn retired(&self) -> Option<&str> {
        self.retired.get().map(String::as_str)
    }

    /// Remembers that the API answered as retired; the first time, says so in the log.
    pub fn mark_retired(&self, why: &str) {
        let mut first = false;
        self.retired.get_or_init(|| {
            first = true;
            why.to_owned()
        });
        if first {
            tracing::error!(
                reason = why,
                "the MDE API answered as retired: this process no longer calls CreateAlertByReference or /api/indicators; \
                 the other actions go on, and alerts come from Sentinel"
            );
        }
    }

    /// Says once that `DEFENDER_ALERTS` (unset) turned the Defender alert off on the retirement date.
    pub fn note_auto_off(&self, retires: Date) {
        if !self.auto_off_said.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %retires,
                "DEFENDER_ALERTS is unset and the MDE API retirement date has come: no more Defender alerts by reference; alerts come from Sentinel"
            );
        }
    }

    /// The outcome text of an MDE action skipped because the API is gone.
    pub fn skipped_text(why: &str) -> String {
        format!("the MDE API is retired ({why}); not called again by this process")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;
    use time::Month;

    fn day(y: i32, m: Month, d: u8) -> Date {
        Date::from_calendar_date(y, m, d).unwrap()
    }

    #[test]
    fn unset_defender_alerts_is_on_before_the_retirement_date_and_off_from_it() {
        let auto = DefenderAlerts::from_env(&env(&[])).unwrap();
        let retires = retirement_date(&env(&[])).unwrap();
        assert_eq!(auto, DefenderAlerts::Auto);
        assert_eq!(retires, day(2027, Month::February, 1));
        assert!(auto.enabled_on(day(2027, Month::January, 31), retires));
        assert!(!auto.enabled_on(retires, retires));
        let on = DefenderAlerts::from_env(&env(&[("DEFENDER_ALERTS", "TRUE")])).unwrap();
        assert!(on.enabled_on(day(2030, Month::May, 5), retires));
        assert_eq!(
            DefenderAlerts::from_env(&env(&[("DEFENDER_ALERTS", "Auto")])).unwrap(),
            DefenderAlerts::Auto
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for value in ["2027-13-01", "2027-02", "soon", "2027-02-30"] {
            let e = retirement_date(&env(&[("DEFENDER_API_RETIREMENT_DATE", value)])).unwrap_err();
            assert_eq!(e.variable, "DEFENDER_API_RETIREMENT_DATE", "{value}");
        }
        let e = DefenderAlerts::from_env(&env(&[("DEFENDER_ALERTS", "sometimes")])).unwrap_err();
        assert_eq!(e.variable, "DEFENDER_ALERTS");
        assert_eq!(
            retirement_date(&env(&[("DEFENDER_API_RETIREMENT_DATE", "2027-05-01")])).unwrap(),
            day(2027, Month::May, 1)
        );
    }

    #[test]
    fn a_configured_mde_action_past_the_date_gets_one_warning_and_no_path_an_error() {
        let retires = default_retirement_date();
        let after = day(2027, Month::March, 1);
        let both = start_warnings(DefenderAlerts::On, true, true, retires, after);
        assert_eq!(both.len(), 1, "{both:?}");
        assert!(
            both[0].contains("DEFENDER_ALERTS=true")
                && both[0].contains("DEFENDER_INDICATOR_ACTION")
        );
        assert!(start_warnings(DefenderAlerts::Auto, false, true, retires, after).is_empty());
        let none = start_warnings(DefenderAlerts::Auto, false, false, retires, after);
        assert!(
            none.len() == 1 && none[0].starts_with("no alert path"),
            "{none:?}"
        );
        let before = start_warnings(
            DefenderAlerts::Auto,
            false,
            false,
            retires,
            day(2026, Month::November, 28),
        );
        assert!(before[0].contains("in 65 days"), "{before:?}");
        assert!(
            start_warnings(
                DefenderAlerts::Auto,
                false,
                true,
                retires,
                day(2026, Month::November, 28)
            )
            .is_empty()
        );
    }

    #[test]
    fn the_api_counts_as_retired_from_the_first_answer_that_says_so() {
        let api = MdeApi::default();
        assert_eq!(api.retired(), None);
        api.mark_retired("HTTP 410");
        api.mark_retired("HTTP 404");
        assert_eq!(api.retired(), Some("HTTP 410"));
    }
}
