//! [`AlertService`]: the clients, budgets and dedupe memories, and one method per action that
//! turns a match into an [`Outcome`]. Nothing here knows the host protocol.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use time::OffsetDateTime;

use super::alert_body::{self, AlertStyle};
use super::budget::{Budget, INDICATOR_WINDOWS, SENTINEL_WINDOWS, SIGHTING_WINDOWS, Window};
use super::config::{AlertConfig, IndicatorSettings};
use super::defender::{DefenderClient, DefenderError};
use super::indicator::{self, Quota};
use super::outcome::{Outcome, Report, deferred, throttled};
use super::retirement::{self, DefenderAlerts, MdeApi};
use super::sentinel::{self, ActionOutcomes, SentinelClient, SentinelError};
use super::sighting::{self, SightingClient, SightingError};
use crate::azure::auth::TokenSource;
use crate::http::{self, ClientOptions};
use crate::intel::config::MispSettings;
use crate::intel::misp::MispClient;
use crate::intel::policy::RetryPolicy;
use crate::matches::MatchRecord;

/// Mirrors `maxDequeueCount` in host.json: on the last delivery a 404 is recorded rather than
/// sending the match to the poison queue.
pub const HOST_MAX_DEQUEUE_COUNT: i64 = 40;
/// How long "already done for this matchId" is remembered.
pub const DONE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Entries each dedupe memory holds at most.
pub const DEDUPE_CAPACITY: u64 = 200_000;
/// One outbound call ends within this.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn memory<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(DEDUPE_CAPACITY)
        .time_to_live(ttl.max(Duration::from_secs(1)))
        .build()
}

/// An alert for a (device, hash) pair: being created since, or created.
#[derive(Debug, Clone, Copy)]
enum Claim {
    Pending(Instant),
    Created,
}

struct Indicators {
    settings: IndicatorSettings,
    budget: Budget,
    quota: Quota,
    done: Cache<String, ()>,
    hashes: Cache<String, ()>,
}

struct Sightings {
    client: SightingClient,
    budget: Budget,
    done: Cache<String, ()>,
}

struct Sentinel {
    client: SentinelClient,
    budget: Budget,
    done: Cache<String, ()>,
}

/// The alert actions, their clients, budgets and memories. One per process.
pub struct AlertService {
    config: AlertConfig,
    misp_url: url::Url,
    defender: DefenderClient,
    alert_budget: Budget,
    alerted: Cache<(String, String), Claim>,
    not_found: Cache<String, u32>,
    indicators: Option<Indicators>,
    sightings: Option<Sightings>,
    sentinel: Option<Sentinel>,
    /// Whether the MDE API answered as retired.
    mde: MdeApi,
}

impl AlertService {
    /// Tokens come from the credential `AZURE_AUTH` names, built when first needed. MISP
    /// requests (sightings) are retried under `retry`, the policy of lookups.
    pub fn new(
        config: AlertConfig,
        misp: &MispSettings,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let tokens = Arc::new(TokenSource::new(config.auth.clone()));
        Self::with_tokens(config, misp, retry, tokens)
    }

    pub fn with_tokens(
        config: AlertConfig,
        misp: &MispSettings,
        retry: RetryPolicy,
        tokens: Arc<TokenSource>,
    ) -> anyhow::Result<Self> {
        let http = http::client(&ClientOptions {
            timeout: CALL_TIMEOUT,
            ..ClientOptions::default()
        })?;
        let defender = DefenderClient::new(
            http.clone(),
            config.defender_url.clone(),
            config.defender_scope.clone(),
            tokens.clone(),
        );
        let indicators = config.indicator.clone().map(|settings| Indicators {
            budget: Budget::new("indicator", &INDICATOR_WINDOWS),
            quota: Quota::new(settings.max),
            done: memory(DONE_TTL),
            hashes: memory(Duration::from_secs(
                u64::from(settings.expiry_days) * 86_400,
            )),
            settings,
        });
        let sightings = match &config.sightings {
            None => None,
            Some(s) => Some(Sightings {
                client: SightingClient::new(MispClient::new(misp)?, s.api_key.clone(), retry),
                budget: Budget::new("sighting", &SIGHTING_WINDOWS),
                done: memory(DONE_TTL),
            }),
        };
        retirement::log_start(&config);
        let sentinel = config.sentinel.as_ref().map(|s| Sentinel {
            client: SentinelClient::new(http.clone(), s.ingest_url.clone(), tokens.clone()),
            budget: Budget::new("sentinel", &SENTINEL_WINDOWS),
            done: memory(DONE_TTL),
        });
        Ok(Self {
            alert_budget: Budget::new("alert", &[Window::per_minute(config.alerts_per_minute)]),
            alerted: memory(config.dedupe_window),
            not_found: memory(DONE_TTL),
            misp_url: misp.url.clone(),
            defender,
            indicators,
            sightings,
            sentinel,
            mde: MdeApi::default(),
            config,
        })
    }

    /// Runs every action on the match. `dequeue_count` is the queue's count for this delivery.
    /// The Sentinel row is written last, so it carries what the other actions did.
    pub async fn process(&self, m: &MatchRecord, dequeue_count: i64) -> Report {
        let (alert, indicator, sighting) = tokio::join!(
            self.alert(m, dequeue_count),
            self.indicator(m),
            self.sighting(m)
        );
        let done = ActionOutcomes {
            alert: &alert,
            indicator: &indicator,
            sighting: &sighting,
        };
        let sentinel = self.sentinel(m, done).await;
        Report {
            match_id: m.match_id.clone(),
            alert,
            indicator,
            sighting,
            sentinel,
        }
    }

    /// Whether the MDE action may call the API; `Err` is the outcome when it may not.
    fn mde_open(&self) -> Result<(), Outcome> {
        match self.mde.retired() {
            Some(why) => Err(Outcome::Skipped(MdeApi::skipped_text(why))),
            None => Ok(()),
        }
    }

    /// The outcome of an MDE call that answered as retired.
    fn mde_gone(&self, e: &DefenderError) -> Outcome {
        let why = e.to_string();
        self.mde.mark_retired(&why);
        Outcome::Skipped(MdeApi::skipped_text(&why))
    }

    async fn alert(&self, m: &MatchRecord, dequeue_count: i64) -> Outcome {
        let switch = self.config.defender_alerts;
        if !switch.enabled_on(retirement::today(), self.config.mde_retires) {
            if switch == DefenderAlerts::Auto {
                self.mde.note_auto_off(self.config.mde_retires);
            }
            return Outcome::Off;
        }
        if let Err(gone) = self.mde_open() {
            return gone;
        }
        if !m.alertable {
            return Outcome::Skipped("not alertable by reference".into());
        }
        let style = AlertStyle {
            severity: self.config.severity,
            category: self.config.category,
            recommended_action: &self.config.recommended_action,
            misp_url: &self.misp_url,
        };
        let body = match alert_body::build(m, &style) {
            Ok(b) => b,
            Err(field) => return Outcome::Skipped(format!("the match has no {field}")),
        };
        // Claim the (device, hash) pair first, so two messages in flight for the same file make
        // one call: the second waits for the first's outcome instead of racing it.
        let key = (body.machine_id.clone(), m.hash.as_str().to_owned());
        // A claim left by an invocation that was cancelled mid-call goes stale after two call
        // timeouts rather than blocking the pair for the whole window.
        let claim = self
            .alerted
            .entry(key.clone())
            .or_insert(Claim::Pending(Instant::now()))
            .await;
        if !claim.is_fresh() {
            match claim.into_value() {
                Claim::Created => return Outcome::Duplicate,
                Claim::Pending(since) if since.elapsed() < 2 * CALL_TIMEOUT => {
                    return Outcome::Deferred(
                        "an alert for this device and hash is in flight".into(),
                    );
                }
                Claim::Pending(_) => {
                    let now = Claim::Pending(Instant::now());
                    self.alerted.insert(key.clone(), now).await;
                }
            }
        }
        let outcome = self.create_alert(m, &body, dequeue_count).await;
        if outcome == Outcome::Done && !self.config.dedupe_window.is_zero() {
            self.alerted.insert(key, Claim::Created).await;
        } else {
            self.alerted.invalidate(&key).await;
        }
        outcome
    }

    async fn create_alert(
        &self,
        m: &MatchRecord,
        body: &alert_body::AlertBody,
        dequeue_count: i64,
    ) -> Outcome {
        if let Err(d) = self.alert_budget.try_take() {
            return deferred(&self.alert_budget, d);
        }
        match self.defender.create_alert(body).await {
            Ok(()) => Outcome::Done,
            Err(DefenderError::Throttled { retry_after }) => {
                throttled(&self.alert_budget, retry_after, "Defender")
            }
            Err(e @ DefenderError::Retired { .. }) => self.mde_gone(&e),
            Err(e @ DefenderError::NotFound(_)) => {
                let seen = self.not_found.get(&m.match_id).await.unwrap_or(0) + 1;
                self.not_found.insert(m.match_id.clone(), seen).await;
                if seen >= self.config.not_found_retries || dequeue_count >= HOST_MAX_DEQUEUE_COUNT
                {
                    Outcome::Recorded(format!("{e}; gave up after {seen} attempt(s)"))
                } else {
                    Outcome::Deferred(format!(
                        "{e}; attempt {seen} of {}",
                        self.config.not_found_retries
                    ))
                }
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn indicator(&self, m: &MatchRecord) -> Outcome {
        let Some(ind) = &self.indicators else {
            return Outcome::Off;
        };
        if let Err(gone) = self.mde_open() {
            return gone;
        }
        if ind.done.contains_key(&m.match_id) || ind.hashes.contains_key(m.hash.as_str()) {
            return Outcome::Duplicate;
        }
        if let Err(max) = ind.quota.take() {
            tracing::error!(
                max,
                "DEFENDER_INDICATOR_MAX reached: no more indicators from this process"
            );
            return Outcome::Recorded(format!(
                "refused: this process already created DEFENDER_INDICATOR_MAX={max} indicators (the tenant holds 15,000)"
            ));
        }
        if let Err(d) = ind.budget.try_take() {
            ind.quota.give_back();
            return deferred(&ind.budget, d);
        }
        let body = indicator::build(m, &ind.settings, &self.misp_url, OffsetDateTime::now_utc());
        match self.defender.submit_indicator(&body).await {
            Ok(()) => {
                ind.done.insert(m.match_id.clone(), ()).await;
                ind.hashes.insert(m.hash.as_str().to_owned(), ()).await;
                Outcome::Done
            }
            Err(e) => {
                ind.quota.give_back();
                match e {
                    DefenderError::Throttled { retry_after } => {
                        throttled(&ind.budget, retry_after, "Defender indicators")
                    }
                    e @ DefenderError::Retired { .. } => self.mde_gone(&e),
                    e => Outcome::Failed(e.to_string()),
                }
            }
        }
    }

    async fn sighting(&self, m: &MatchRecord) -> Outcome {
        let Some(s) = &self.sightings else {
            return Outcome::Off;
        };
        let mut uuids: Vec<&str> = m
            .intel
            .iter()
            .map(|h| h.attribute_uuid.as_str())
            .filter(|u| u.len() == 36 && uuid::Uuid::try_parse(u).is_ok())
            .collect();
        uuids.sort_unstable();
        uuids.dedup();
        if uuids.is_empty() {
            return Outcome::Skipped("no attribute uuid".into());
        }
        let when = sighting::unix_time(m.timestamp.as_deref());
        let mut added = 0;
        for uuid in uuids {
            let key = format!("{}/{uuid}", m.match_id);
            if s.done.contains_key(&key) {
                continue;
            }
            if let Err(d) = s.budget.try_take() {
                return deferred(&s.budget, d);
            }
            match s.client.add(uuid, when).await {
                Ok(()) => {
                    s.done.insert(key, ()).await;
                    added += 1;
                }
                Err(SightingError::Throttled { retry_after }) => {
                    return throttled(&s.budget, retry_after, "MISP");
                }
                Err(e) => return Outcome::Failed(e.to_string()),
            }
        }
        if added == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Done
        }
    }

    async fn sentinel(&self, m: &MatchRecord, done: ActionOutcomes<'_>) -> Outcome {
        let Some(s) = &self.sentinel else {
            return Outcome::Off;
        };
        if s.done.contains_key(&m.match_id) {
            return Outcome::Duplicate;
        }
        if let Err(d) = s.budget.try_take() {
            return deferred(&s.budget, d);
        }
        let rows = [sentinel::row(
            m,
            done,
            &self.misp_url,
            OffsetDateTime::now_utc(),
        )];
        match s.client.send(&rows).await {
            Ok(()) => {
                s.done.insert(m.match_id.clone(), ()).await;
                Outcome::Done
            }
            Err(SentinelError::Throttled { retry_after }) => {
                throttled(&s.budget, retry_after, "Logs Ingestion")
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
