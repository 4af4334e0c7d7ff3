//! Microsoft Sentinel through the Azure Monitor Logs Ingestion API: every match, alertable or not,
//! as one row `POST`ed (a JSON array) to `{DCE}/dataCollectionRules/{DCR}/streams/{stream}` with a
//! token for `https://monitor.azure.com/.default`. This path does not depend on the MDE API that
//! Microsoft retires on 2027-02-01.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::config::SENTINEL_SCOPE;
use crate::azure::auth::{AuthError, TokenSource};
use crate::http::{self, Credential, Failure};
use crate::matches::MatchRecord;
use crate::text::clean_text;

/// Why the row was not ingested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentinelError {
    #[error("{0}")]
    Token(#[from] AuthError),
    #[error("Logs Ingestion throttled the call (429)")]
    Throttled { retry_after: Option<Duration> },
    #[error(
        "Logs Ingestion refused the token (HTTP {0}): grant the identity the Monitoring Metrics Publisher role on the data collection rule"
    )]
    Unauthorized(u16),
    #[error("Logs Ingestion rejected the row (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: String },
    #[error("Logs Ingestion server error (HTTP {0})")]
    Server(u16),
    #[error("Logs Ingestion unreachable: {0}")]
    Unreachable(String),
}

/// The row: the match's own fields plus `TimeGenerated`.
pub fn row(m: &MatchRecord, now: OffsetDateTime) -> Value {
    let mut row = serde_json::to_value(m).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut row {
        let time = now.format(&Rfc3339).unwrap_or_default();
        map.insert("TimeGenerated".into(), Value::String(time));
    }
    row
}

/// A Logs Ingestion client for one stream.
#[derive(Debug, Clone)]
pub struct SentinelClient {
    http: reqwest::Client,
    ingest_url: url::Url,
    tokens: Arc<TokenSource>,
}

impl SentinelClient {
    pub fn new(http: reqwest::Client, ingest_url: url::Url, tokens: Arc<TokenSource>) -> Self {
        Self {
            http,
            ingest_url,
            tokens,
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn send(&self, rows: &[Value]) -> Result<(), SentinelError> {
        let token = self.tokens.token(SENTINEL_SCOPE).await?;
        let url = self.ingest_url.clone();
        let response = http::post_json(&self.http, url, Credential::Bearer(&token), rows)
            .await
            .map_err(|t| SentinelError::Unreachable(t.to_string()))?;
        let status = response.status().as_u16();
        match http::classify(response.status(), response.headers()) {
            Ok(()) => Ok(()),
            Err(Failure::Throttled { retry_after }) => {
                Err(SentinelError::Throttled { retry_after })
            }
            Err(Failure::Unauthorized(status)) => Err(SentinelError::Unauthorized(status)),
            Err(Failure::Server(status)) => Err(SentinelError::Server(status)),
            Err(Failure::NotFound | Failure::Rejected(_)) => {
                let body = http::error_body(response).await;
                let detail = clean_text(&String::from_utf8_lossy(&body), 300);
                Err(SentinelError::Rejected { status, detail })
            }
        }
    }
}
