//! [`AlertService`]: the clients, budgets and the alert state ([`Ledger`]), and one method per
//! action that turns a match into an [`Outcome`] (`actions`). Nothing here knows the host
//! protocol.

mod actions;

use std::sync::Arc;
use std::time::Duration;

use super::budget::{Budget, INDICATOR_WINDOWS, SENTINEL_WINDOWS, SIGHTING_WINDOWS, Window};
use super::config::{AlertConfig, IndicatorSettings};
use super::defender::{DefenderClient, DefenderError};
use super::indicator::Quota;
use super::ledger::{Claim, Ledger, LedgerError, SharedBudget, Ticket};
use super::outcome::{Outcome, Report, deferred, throttled};
use super::retirement::MdeApi;
use super::sentinel::{ActionOutcomes, SentinelClient};
use super::sighting::SightingClient;
use crate::azure::auth::TokenSource;
use crate::azure::table::TableClient;
use crate::http::{self, ClientOptions};
use crate::intel::config::MispSettings;
use crate::intel::misp::MispClient;
use crate::intel::policy::RetryPolicy;
use crate::matches::MatchRecord;

/// Mirrors `maxDequeueCount` in host.json: on the last delivery a 404 is recorded rather than
/// sending the match to the poison queue.
pub const HOST_MAX_DEQUEUE_COUNT: i64 = 40;
/// How long "already done for this matchId" is remembered: a replayed dead letter or poison
/// message repeats its matchId, and must not act twice.
pub const DONE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// One outbound call ends within this.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

struct Indicators {
    settings: IndicatorSettings,
    budget: SharedBudget,
    quota: Quota,
}

struct Sightings {
    client: SightingClient,
    budget: Budget,
}

struct Sentinel {
    client: SentinelClient,
    budget: Budget,
}

/// The alert actions, their clients, budgets and state. One per process.
pub struct AlertService {
    config: AlertConfig,
    misp_url: url::Url,
    defender: DefenderClient,
    /// Shared by every instance when the state is in Table storage (Defender's limits are the
    /// tenant's); sightings and Sentinel rows keep a per-process budget.
    alert_budget: SharedBudget,
    ledger: Ledger,
    not_found: moka::future::Cache<String, u32>,
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
            budget: SharedBudget::new("indicator", &INDICATOR_WINDOWS),
            quota: Quota::new(settings.max),
            settings,
        });
        let sightings = match &config.sightings {
            None => None,
            Some(s) => Some(Sightings {
                client: SightingClient::new(MispClient::new(misp)?, s.api_key.clone(), retry),
                budget: Budget::new("sighting", &SIGHTING_WINDOWS),
            }),
        };
        super::retirement::log_start(&config);
        let sentinel = config.sentinel.as_ref().map(|s| Sentinel {
            client: SentinelClient::new(http.clone(), s.ingest_url.clone(), tokens.clone()),
            budget: Budget::new("sentinel", &SENTINEL_WINDOWS),
        });
        let ledger = match &config.state {
            Some(table) => Ledger::table(TableClient::new(table.clone(), tokens)),
            None => Ledger::memory(),
        };
        Ok(Self {
            alert_budget: SharedBudget::new(
                "alert",
                &[Window::per_minute(config.alerts_per_minute)],
            ),
            ledger,
            not_found: moka::future::Cache::builder()
                .max_capacity(super::ledger::MEMORY_CAPACITY as u64)
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
            misp_url: misp.url.clone(),
            defender,
            indicators,
            sightings,
            sentinel,
            mde: MdeApi::default(),
            config,
        })
    }

    /// Gets the alert state ready: with Table storage, creates the table if it is missing (the
    /// Bicep creates it; an identity without the right to create it is warned about, and its
    /// first claim says whether the table is usable).
    pub async fn prepare(&self) {
        match self.ledger.shared() {
            None => tracing::warn!(
                "alert state is kept in this process only: set AzureWebJobsStorage (as the host does) for one alert per file across instances"
            ),
            Some(t) => match t.create_table().await {
                Ok(()) => {
                    tracing::info!(table = t.table(), endpoint = %t.endpoint(), "alert state in table storage")
                }
                Err(e) => {
                    tracing::warn!(error = %e, table = t.table(), "could not create the alert state table; it must exist already")
                }
            },
        }
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

    /// A claim, with what to answer when it is not this delivery's to act on.
    async fn claim(
        &self,
        kind: &'static str,
        key: &str,
        keep: Duration,
        busy: &str,
    ) -> Result<Ticket, Outcome> {
        match self.ledger.claim(kind, key, keep).await {
            Ok(Claim::Owned(t)) => Ok(t),
            Ok(Claim::Done) => Err(Outcome::Duplicate),
            Ok(Claim::Busy(_)) => Err(Outcome::Deferred(busy.to_owned())),
            Err(e) => Err(Outcome::Deferred(e.to_string())),
        }
    }

    /// Settles a claim, a few times if the state store fails (a done claim left pending could let
    /// another delivery act again once it goes stale).
    async fn settle(&self, ticket: Ticket, done: bool) {
        for attempt in 0..3u32 {
            match self.ledger.settle(&ticket, done).await {
                Ok(()) => return,
                Err(LedgerError(e)) if attempt == 2 => {
                    tracing::error!(error = %e, claim = ?ticket, done, "could not record a claim's outcome");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
            }
        }
    }

    /// The outcome of a 429: the budget paused for the `Retry-After`, here and, with Table
    /// storage, for every instance.
    async fn throttled(
        &self,
        budget: &SharedBudget,
        retry_after: Option<Duration>,
        who: &str,
    ) -> Outcome {
        let outcome = throttled(&budget.local, retry_after, who);
        if self.ledger.is_shared() {
            let wait = retry_after.unwrap_or(super::outcome::DEFAULT_RETRY_AFTER);
            if let Err(e) = self.ledger.pause(budget, wait).await {
                tracing::warn!(error = %e, "could not share a Retry-After with the other instances");
            }
        }
        outcome
    }

    /// One call from a shared budget, or the outcome when there is none now.
    async fn take(&self, budget: &SharedBudget) -> Result<(), Outcome> {
        match self.ledger.take(budget).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(d)) => Err(deferred(&budget.local, d)),
            Err(e) => Err(Outcome::Deferred(e.to_string())),
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
}

#[cfg(test)]
#[path = "../service_tests.rs"]
mod tests;
