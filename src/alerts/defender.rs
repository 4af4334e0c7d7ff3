//! The Defender for Endpoint API: `CreateAlertByReference` and `POST /api/indicators`
//! (<https://learn.microsoft.com/defender-endpoint/api/create-alert-by-reference>,
//! <https://learn.microsoft.com/defender-endpoint/api/post-ti-indicator>). [`DefenderClient`]
//! holds one shared `reqwest::Client`, the base URL and the token source; each meaning of
//! [`crate::http`] becomes a [`DefenderError`] in [`DefenderError::from_status`]. Error texts
//! quote Defender's error code and message, cleaned and bounded, never a token.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::azure::auth::{AuthError, TokenSource};
use crate::http::{self, Credential, Failure};
use crate::text::clean_text;

/// Why Defender did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefenderError {
    #[error("{0}")]
    Token(#[from] AuthError),
    #[error("Defender throttled the call (429){}", retry_text(*.retry_after))]
    Throttled { retry_after: Option<Duration> },
    #[error("Defender has no such event yet (404): {0}")]
    NotFound(String),
    #[error(
        "Defender refused the token (HTTP {status}): {detail}. Grant the identity the WindowsDefenderATP application role {grant}"
    )]
    Unauthorized {
        status: u16,
        grant: &'static str,
        detail: String,
    },
    #[error("Defender rejected the request (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: String },
    #[error("Defender server error (HTTP {0})")]
    Server(u16),
    #[error("Defender unreachable: {0}")]
    Unreachable(String),
}

fn retry_text(d: Option<Duration>) -> String {
    d.map(|d| format!(", Retry-After {} s", d.as_secs()))
        .unwrap_or_default()
}

impl DefenderError {
    /// The one place a Defender status becomes a meaning. `grant` names the app role the call needs.
    pub fn from_status(
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
        grant: &'static str,
    ) -> Self {
        let detail = error_detail(body);
        match http::classify(status, headers) {
            Err(Failure::Throttled { retry_after }) => Self::Throttled { retry_after },
            Err(Failure::NotFound) => Self::NotFound(detail),
            Err(Failure::Unauthorized(status)) => Self::Unauthorized {
                status,
                grant,
                detail,
            },
            Err(Failure::Server(status)) => Self::Server(status),
            Err(Failure::Rejected(status)) => Self::Rejected { status, detail },
            Ok(()) => Self::Rejected {
                status: status.as_u16(),
                detail: "a success status read as an error".into(),
            },
        }
    }
}

/// `{"error":{"code","message"}}` as `code: message`, cleaned and bounded.
fn error_detail(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let field = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let text = match (field("code"), field("message")) {
        ("", "") => "no error body".to_owned(),
        (code, message) => format!("{code}: {message}"),
    };
    clean_text(&text, 300)
}

/// The app role each call needs.
pub const ALERT_ROLE: &str = "Alert.ReadWrite.All";
pub const INDICATOR_ROLE: &str = "Ti.ReadWrite.All";

/// A Defender API client.
#[derive(Debug, Clone)]
pub struct DefenderClient {
    http: reqwest::Client,
    base_url: url::Url,
    scope: String,
    tokens: Arc<TokenSource>,
}

impl DefenderClient {
    pub fn new(
        http: reqwest::Client,
        base_url: url::Url,
        scope: String,
        tokens: Arc<TokenSource>,
    ) -> Self {
        Self {
            http,
            base_url,
            scope,
            tokens,
        }
    }

    /// `POST /api/alerts/CreateAlertByReference`.
    #[tracing::instrument(skip_all)]
    pub async fn create_alert(&self, body: &impl Serialize) -> Result<(), DefenderError> {
        self.post("api/alerts/CreateAlertByReference", body, ALERT_ROLE)
            .await
    }

    /// `POST /api/indicators` (submit or update).
    #[tracing::instrument(skip_all)]
    pub async fn submit_indicator(&self, body: &impl Serialize) -> Result<(), DefenderError> {
        self.post("api/indicators", body, INDICATOR_ROLE).await
    }

    async fn post(
        &self,
        path: &str,
        body: &impl Serialize,
        grant: &'static str,
    ) -> Result<(), DefenderError> {
        let token = self.tokens.token(&self.scope).await?;
        let url = http::join(&self.base_url, path);
        let response = http::post_json(&self.http, url, Credential::Bearer(&token), body)
            .await
            .map_err(|t| DefenderError::Unreachable(t.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let headers = response.headers().clone();
        let bytes = http::error_body(response).await;
        Err(DefenderError::from_status(status, &headers, &bytes, grant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn statuses_map_to_meanings_and_forbidden_names_the_role_to_grant() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("42"));
        let body = br#"{"error":{"code":"Forbidden","message":"Missing application roles.\nAPI required roles: Alert.ReadWrite.All","target":"x"}}"#;
        let e = DefenderError::from_status(StatusCode::FORBIDDEN, &h, body, ALERT_ROLE);
        let text = e.to_string();
        assert!(text.contains("HTTP 403") && text.contains("Alert.ReadWrite.All"));
        assert!(!text.contains('\n'));
        assert_eq!(
            DefenderError::from_status(StatusCode::TOO_MANY_REQUESTS, &h, b"", ALERT_ROLE),
            DefenderError::Throttled {
                retry_after: Some(Duration::from_secs(42))
            }
        );
        assert!(matches!(
            DefenderError::from_status(StatusCode::NOT_FOUND, &h, b"<html>", ALERT_ROLE),
            DefenderError::NotFound(d) if d == "no error body"
        ));
        assert_eq!(
            DefenderError::from_status(StatusCode::BAD_GATEWAY, &h, b"", ALERT_ROLE),
            DefenderError::Server(502)
        );
        assert!(matches!(
            DefenderError::from_status(StatusCode::BAD_REQUEST, &h, b"", ALERT_ROLE),
            DefenderError::Rejected { status: 400, .. }
        ));
    }
}
