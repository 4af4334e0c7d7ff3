//! MISP sightings: `POST {MISP_URL}/sightings/add/{attributeUuid}` with type `"0"` (seen), source
//! `defender-misp` and the event time (MISP's OpenAPI, "addSighting":
//! <https://www.misp-project.org/openapi/#tag/Sightings/operation/addSighting>), through the
//! existing [`MispClient`] and under the retry policy of lookups, with `MISP_SIGHTING_API_KEY`
//! when set. MISP answers 200 with a `message` and no `Sighting` when it added nothing; that is a
//! failure here, and not retried.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::intel::IntelError;
use crate::intel::misp::MispClient;
use crate::intel::policy::RetryPolicy;
use crate::secret::Secret;
use crate::text::clean_text;

pub const SIGHTING_SOURCE: &str = "defender-misp";

/// Why a sighting was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SightingError {
    #[error(
        "MISP refused the sighting (HTTP {0}): use a key whose role has the sighting permission (a read-only key cannot add sightings)"
    )]
    Unauthorized(u16),
    #[error("MISP throttled the sighting")]
    Throttled { retry_after: Option<Duration> },
    #[error("MISP added no sighting: {0}")]
    NotAdded(String),
    #[error("{0}")]
    Misp(String),
}

impl From<IntelError> for SightingError {
    fn from(e: IntelError) -> Self {
        match e {
            IntelError::Unauthorized(status) => Self::Unauthorized(status),
            IntelError::RateLimited { retry_after } => Self::Throttled { retry_after },
            IntelError::InvalidResponse(detail) => Self::Misp(format!(
                "MISP answered with something that is not a sighting: {detail}"
            )),
            other => Self::Misp(other.to_string()),
        }
    }
}

/// The Unix time of a Defender timestamp such as `2026-07-18T12:59:31.2914446Z`.
pub fn unix_time(timestamp: Option<&str>) -> Option<i64> {
    timestamp
        .and_then(|t| OffsetDateTime::parse(t.trim(), &Rfc3339).ok())
        .map(OffsetDateTime::unix_timestamp)
}

/// The request body; without a time MISP uses its own clock.
pub fn body(timestamp: Option<i64>) -> Value {
    let mut body = json!({"type": "0", "source": SIGHTING_SOURCE});
    if let Some(t) = timestamp {
        body["timestamp"] = json!(t);
    }
    body
}

/// Adds sightings to MISP attributes, each request under the retry policy of lookups.
#[derive(Debug, Clone)]
pub struct SightingClient {
    misp: MispClient,
    key: Option<Secret>,
    retry: RetryPolicy,
}

/// Retries of one sighting wait only while they end within this of its first attempt.
pub const RETRY_WITHIN: Duration = Duration::from_secs(30);

impl SightingClient {
    pub fn new(misp: MispClient, key: Option<Secret>, retry: RetryPolicy) -> Self {
        Self { misp, key, retry }
    }

    #[tracing::instrument(skip_all)]
    pub async fn add(
        &self,
        attribute_uuid: &str,
        timestamp: Option<i64>,
    ) -> Result<(), SightingError> {
        let path = format!("sightings/add/{attribute_uuid}");
        let body = body(timestamp);
        let request = || async {
            let answer = async {
                let response = self.misp.post_json(&path, &body, self.key.as_ref()).await?;
                self.misp.read_json::<Value>(response).await
            };
            (answer.await, 1)
        };
        let deadline = tokio::time::Instant::now() + RETRY_WITHIN;
        let (answer, _) = self
            .retry
            .run("MISP sighting", Some(deadline), None, request)
            .await;
        let answer = answer?;
        if answer.get("Sighting").is_some_and(Value::is_object) {
            return Ok(());
        }
        let message = answer
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no Sighting in the answer");
        Err(SightingError::NotAdded(clean_text(message, 300)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_type_zero_as_a_string_the_source_and_the_event_time() {
        let t = unix_time(Some("2026-07-18T12:59:31.2914446Z"));
        assert_eq!(t, Some(1_784_379_571));
        assert_eq!(
            body(t),
            json!({"type":"0","source":"defender-misp","timestamp":1_784_379_571})
        );
        assert_eq!(unix_time(Some("yesterday")), None);
        assert_eq!(body(None), json!({"type":"0","source":"defender-misp"}));
    }
}
