//! Microsoft Sentinel through the Azure Monitor Logs Ingestion API: every match, alertable or not,
//! as one row ([`row`]) `POST`ed (a JSON array) to `{DCE}/dataCollectionRules/{DCR}/streams/{stream}`
//! with a token for `https://monitor.azure.com/.default`. An analytics rule on the table
//! (`infra/modules/sentinel-rule.bicep`) turns the rows into alerts and incidents, so this path does
//! not depend on the MDE API that Microsoft retires on 2027-02-01.
//!
//! Each answer's meaning is [`crate::http`]'s. The service's answers (<https://learn.microsoft.com/azure/azure-monitor/logs/tutorial-logs-ingestion-code#troubleshooting>):
//! 204 accepted; 403 the identity lacks Monitoring Metrics Publisher on the rule; 413 a call over
//! 1 MB (compressed or not, <https://learn.microsoft.com/azure/azure-monitor/fundamentals/service-limits#logs-ingestion-api>);
//! 429 throttled, retry after `Retry-After`.

pub mod row;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::config::SENTINEL_SCOPE;
use crate::azure::auth::{AuthError, TokenSource};
use crate::http::{self, Credential, Failure};
use crate::text::clean_text;
pub use row::{ActionOutcomes, row};

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
            Err(
                Failure::NotFound
                | Failure::Conflict
                | Failure::Gone
                | Failure::PreconditionFailed
                | Failure::Rejected(_),
            ) => {
                let body = http::error_body(response).await;
                let detail = clean_text(&String::from_utf8_lossy(&body), 300);
                Err(SentinelError::Rejected { status, detail })
            }
        }
    }
}
