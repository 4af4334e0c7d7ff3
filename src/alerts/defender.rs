//! The Defender for Endpoint API: `CreateAlertByReference`
//! (<https://learn.microsoft.com/defender-endpoint/api/create-alert-by-reference>) and
//! `POST /api/indicators` (<https://learn.microsoft.com/defender-endpoint/api/post-ti-indicator>).
//! [`DefenderClient`] holds one shared `reqwest::Client`, the base URL and the token source; each
//! meaning of [`crate::http`] becomes a [`DefenderError`] in [`DefenderError::from_status`]. Error
//! texts quote Defender's error code and message, cleaned and bounded, never a token.
//!
//! Defender's errors carry `{"error":{"code","message","target"}}`
//! (<https://learn.microsoft.com/defender-endpoint/api/common-errors>): a 404 with that body is
//! Defender saying it has no such event (yet); a 404 without it is not the API answering, which is
//! what an endpoint that no longer exists looks like. That, a 410, or an error that says the API is
//! retired or deprecated is [`DefenderError::Retired`] (Microsoft retires the API on 2027-02-01,
//! MC1220762).

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
    #[error("Defender throttled the call (429){}", crate::text::retry_after_text(*.retry_after))]
    Throttled { retry_after: Option<Duration> },
    #[error("Defender has no such event yet (404): {0}")]
    NotFound(String),
    /// The endpoint itself is gone: not worth another call from this process.
    #[error("the Defender API answered as retired (HTTP {status}): {detail}")]
    Retired { status: u16, detail: String },
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

impl DefenderError {
    /// The one place a Defender status becomes a meaning. `grant` names the app role the call needs.
    pub fn from_status(
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
        grant: &'static str,
    ) -> Self {
        let envelope = error_envelope(body);
        let detail = error_detail(envelope.as_ref());
        let says_retired = envelope.as_ref().is_some_and(|(code, message)| {
            let text = format!("{code} {message}").to_ascii_lowercase();
            (text.contains("retire") || text.contains("deprecat"))
                && (text.contains("api") || text.contains("endpoint"))
        });
        let retired = |detail| Self::Retired {
            status: status.as_u16(),
            detail,
        };
        match http::classify(status, headers) {
            Err(Failure::Throttled { retry_after }) => Self::Throttled { retry_after },
            Err(Failure::Gone) => retired(detail),
            Err(Failure::NotFound) if envelope.is_none() => {
                retired("no Defender error body: the endpoint itself was not found".into())
            }
            Err(f) if says_retired && !matches!(f, Failure::Server(_)) => retired(detail),
            Err(Failure::NotFound) => Self::NotFound(detail),
            Err(Failure::Unauthorized(status)) => Self::Unauthorized {
                status,
                grant,
                detail,
            },
            Err(Failure::Server(status)) => Self::Server(status),
            Err(f @ (Failure::Conflict | Failure::PreconditionFailed | Failure::Rejected(_))) => {
                Self::Rejected {
                    status: f.status(),
                    detail,
                }
            }
            Ok(()) => Self::Rejected {
                status: status.as_u16(),
                detail: "a success status read as an error".into(),
            },
        }
    }
}

/// Defender's error body `{"error":{"code","message"}}`: `(code, message)`, or `None` when the
/// body is not one (no JSON, no `error` object, or neither a code nor a message).
fn error_envelope(body: &[u8]) -> Option<(String, String)> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    let err = parsed.get("error")?;
    let field = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (code, message) = (field("code"), field("message"));
    (!code.is_empty() || !message.is_empty()).then_some((code, message))
}

/// The error body as `code: message`, cleaned and bounded.
fn error_detail(envelope: Option<&(String, String)>) -> String {
    let text = match envelope {
        None => "no error body".to_owned(),
        Some((code, message)) => format!("{code}: {message}"),
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
        let not_indexed =
            br#"{"error":{"code":"NotFound","message":"Event not found","target":"x"}}"#;
        assert!(matches!(
            DefenderError::from_status(StatusCode::NOT_FOUND, &h, not_indexed, ALERT_ROLE),
            DefenderError::NotFound(d) if d == "NotFound: Event not found"
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

    #[test]
    fn a_gone_endpoint_is_told_apart_from_an_event_not_found_by_the_answer() {
        let h = HeaderMap::new();
        for (status, body) in [
            (StatusCode::GONE, &b""[..]),
            (StatusCode::NOT_FOUND, b"<html><body>404 - Not Found</body></html>"),
            (StatusCode::NOT_FOUND, b""),
            (
                StatusCode::BAD_REQUEST,
                br#"{"error":{"code":"ApiRetired","message":"This API has been retired"}}"#,
            ),
            (
                StatusCode::FORBIDDEN,
                br#"{"error":{"code":"Forbidden","message":"The MDE API is deprecated; use Microsoft Graph"}}"#,
            ),
        ] {
            let e = DefenderError::from_status(status, &h, body, ALERT_ROLE);
            assert!(matches!(e, DefenderError::Retired { .. }), "{status}: {e:?}");
        }
        let forbidden = br#"{"error":{"code":"Forbidden","message":"Missing application roles"}}"#;
        assert!(matches!(
            DefenderError::from_status(StatusCode::FORBIDDEN, &h, forbidden, ALERT_ROLE),
            DefenderError::Unauthorized { .. }
        ));
    }
}
