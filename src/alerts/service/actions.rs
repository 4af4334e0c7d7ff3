//! The four actions of [`AlertService`], each claiming what it acts on in the alert state first
//! (so no two deliveries, on one instance or two, act on the same match or file) and settling
//! the claim with its outcome.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{AlertService, DONE_TTL, HOST_MAX_DEQUEUE_COUNT};
use crate::alerts::alert_body::{self, AlertStyle};
use crate::alerts::defender::DefenderError;
use crate::alerts::indicator;
use crate::alerts::outcome::{Outcome, deferred};
use crate::alerts::retirement::{self, DefenderAlerts};
use crate::alerts::sentinel::{self, ActionOutcomes, SentinelError};
use crate::alerts::sighting::{self, SightingError};
use crate::matches::MatchRecord;

/// The row key of a (device, file) pair: hex, so any device id fits a table key.
fn file_key(device: &str, hash: &str) -> String {
    let digest = Sha256::digest(format!("{device}\u{1f}{hash}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl AlertService {
    pub(super) async fn alert(&self, m: &MatchRecord, dequeue_count: i64) -> Outcome {
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
        // One alert per match ever (a replayed dead letter repeats its matchId), and one per
        // device and file within the dedupe window; both claimed before the call, so two
        // messages in flight for the same file make one call.
        let busy = "this match is being alerted on by another delivery";
        let by_match = match self.claim("alert-match", &m.match_id, DONE_TTL, busy).await {
            Ok(t) => t,
            Err(o) => return o,
        };
        let key = file_key(&body.machine_id, m.value());
        let busy = "an alert for this device and hash is in flight";
        let window = self.config.dedupe_window;
        let by_file = match self.claim("alert", &key, window, busy).await {
            Ok(t) => t,
            Err(o) => {
                self.settle(by_match, o == Outcome::Duplicate).await;
                return o;
            }
        };
        let outcome = self.create_alert(m, &body, dequeue_count).await;
        let done = outcome == Outcome::Done;
        self.settle(by_file, done).await;
        self.settle(by_match, done).await;
        outcome
    }

    async fn create_alert(
        &self,
        m: &MatchRecord,
        body: &alert_body::AlertBody,
        dequeue_count: i64,
    ) -> Outcome {
        if let Err(o) = self.take(&self.alert_budget).await {
            return o;
        }
        match self.defender.create_alert(body).await {
            Ok(()) => Outcome::Done,
            Err(DefenderError::Throttled { retry_after }) => {
                self.throttled(&self.alert_budget, retry_after, "Defender")
                    .await
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

    pub(super) async fn indicator(&self, m: &MatchRecord) -> Outcome {
        let Some(ind) = &self.indicators else {
            return Outcome::Off;
        };
        if let Err(gone) = self.mde_open() {
            return gone;
        }
        let Some((value, _)) = super::super::indicator::indicator_of(m) else {
            return Outcome::Skipped("Defender has no indicator type for a sender address".into());
        };
        let keep = std::time::Duration::from_secs(u64::from(ind.settings.expiry_days) * 86_400);
        let busy = "an indicator for this value is being submitted";
        let claim = match self.claim("indicator", &value, keep, busy).await {
            Ok(t) => t,
            Err(o) => return o,
        };
        let outcome = self.submit_indicator(m).await;
        self.settle(claim, outcome == Outcome::Done).await;
        outcome
    }

    async fn submit_indicator(&self, m: &MatchRecord) -> Outcome {
        let Some(ind) = &self.indicators else {
            return Outcome::Off;
        };
        if let Err(max) = ind.quota.take() {
            tracing::error!(
                max,
                "DEFENDER_INDICATOR_MAX reached: no more indicators from this process"
            );
            return Outcome::Recorded(format!(
                "refused: this process already created DEFENDER_INDICATOR_MAX={max} indicators (the tenant holds 15,000)"
            ));
        }
        if let Err(o) = self.take(&ind.budget).await {
            ind.quota.give_back();
            return o;
        }
        let Some(body) =
            indicator::build(m, &ind.settings, &self.misp_url, OffsetDateTime::now_utc())
        else {
            ind.quota.give_back();
            return Outcome::Skipped("Defender has no indicator type for a sender address".into());
        };
        match self.defender.submit_indicator(&body).await {
            Ok(()) => Outcome::Done,
            Err(e) => {
                ind.quota.give_back();
                match e {
                    DefenderError::Throttled { retry_after } => {
                        self.throttled(&ind.budget, retry_after, "Defender indicators")
                            .await
                    }
                    e @ DefenderError::Retired { .. } => self.mde_gone(&e),
                    e => Outcome::Failed(e.to_string()),
                }
            }
        }
    }

    pub(super) async fn sighting(&self, m: &MatchRecord) -> Outcome {
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
            let key = format!("{}-{uuid}", m.match_id);
            let busy = "this sighting is being added by another delivery";
            let claim = match self.claim("sighting", &key, DONE_TTL, busy).await {
                Ok(t) => t,
                Err(Outcome::Duplicate) => continue,
                Err(o) => return o,
            };
            if let Err(d) = s.budget.try_take() {
                self.settle(claim, false).await;
                return deferred(&s.budget, d);
            }
            let result = s.client.add(uuid, when).await;
            self.settle(claim, result.is_ok()).await;
            match result {
                Ok(()) => added += 1,
                Err(SightingError::Throttled { retry_after }) => {
                    return crate::alerts::outcome::throttled(&s.budget, retry_after, "MISP");
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

    pub(super) async fn sentinel(&self, m: &MatchRecord, done: ActionOutcomes<'_>) -> Outcome {
        let Some(s) = &self.sentinel else {
            return Outcome::Off;
        };
        let busy = "this match's Sentinel row is being written by another delivery";
        let claim = match self.claim("sentinel", &m.match_id, DONE_TTL, busy).await {
            Ok(t) => t,
            Err(o) => return o,
        };
        if let Err(d) = s.budget.try_take() {
            self.settle(claim, false).await;
            return deferred(&s.budget, d);
        }
        let rows = [sentinel::row(
            m,
            done,
            &self.misp_url,
            OffsetDateTime::now_utc(),
        )];
        let result = s.client.send(&rows).await;
        self.settle(claim, result.is_ok()).await;
        match result {
            Ok(()) => Outcome::Done,
            Err(SentinelError::Throttled { retry_after }) => {
                crate::alerts::outcome::throttled(&s.budget, retry_after, "Logs Ingestion")
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}
