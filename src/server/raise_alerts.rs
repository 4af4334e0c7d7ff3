//! `POST /RaiseAlerts`: one message of the `misp-matches` queue in, every alert action run on it
//! by the [`AlertService`](crate::alerts::AlertService), one answer: 2xx when no action needs
//! another try, 503 when one is deferred, 500 when one failed, 400 for a message that is not a
//! match (it reaches `misp-matches-poison` after `maxDequeueCount`).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::AppState;
use super::body::{self, BodyLimits};
use super::listener::ConnHandle;
use super::reply::{bad_request, body_failed, host_reply};
use crate::host::{InvocationRequest, InvocationResponse, TriggerMetadata};
use crate::matches::MatchRecord;

/// Trigger binding name of `RaiseAlerts` (function.json `name`).
pub const MATCH_BINDING: &str = "match";

/// Reads the queue message: `Data.match` is the message text double-encoded (a JSON string
/// holding a JSON string holding the match, often indented). Any depth up to three is accepted.
pub fn decode_match(value: &Value) -> Result<MatchRecord, String> {
    let mut v = value.clone();
    for _ in 0..3 {
        match v {
            Value::String(s) => {
                v = serde_json::from_str(&s).map_err(|e| format!("the message is not JSON: {e}"))?
            }
            Value::Object(_) => return MatchRecord::from_message(v),
            _ => break,
        }
    }
    Err("the message is not a JSON object".into())
}

/// The largest `RaiseAlerts` invocation read: a queue message holds 64 KB, and the host copies
/// its top-level properties into `Metadata` as well.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// `POST /RaiseAlerts`: one queue message, every action, one answer.
#[tracing::instrument(skip_all, fields(match_id = tracing::field::Empty))]
pub async fn raise_alerts(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut reservation = state.budget.reserve();
    let limits = BodyLimits {
        max_bytes: MAX_REQUEST_BYTES,
        timeout: state.listener.body_timeout,
        reserve_per_byte: 1,
    };
    let conn = parts.extensions.get::<ConnHandle>();
    let body = match body::read(body, &parts.headers, limits, &mut reservation, conn).await {
        Ok(body) => body,
        Err(e) => return body_failed(e),
    };
    let request: InvocationRequest = match serde_json::from_slice(&body.join()) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(format!(
                "RaiseAlerts: the request is not a host invocation: {e}"
            ));
        }
    };
    let Some(data) = request.data(MATCH_BINDING) else {
        return bad_request(format!(
            "RaiseAlerts: the request has no `{MATCH_BINDING}` trigger data"
        ));
    };
    let meta = TriggerMetadata::parse(&request.metadata);
    let m = match decode_match(data) {
        Ok(m) => m,
        // Not a match: no retry can fix it, but acknowledging would lose it silently. A 400 lets
        // the queue redeliver it up to maxDequeueCount times, then move it to
        // `misp-matches-poison`, where it can be read and replayed. That costs a few dequeues and
        // never loops forever.
        Err(reason) => {
            return bad_request(format!(
                "RaiseAlerts: message dequeued {} time(s) is unusable and goes to misp-matches-poison after maxDequeueCount: {reason}",
                meta.dequeue_count.unwrap_or(1)
            ));
        }
    };
    tracing::Span::current().record("match_id", m.match_id.as_str());

    let report = state
        .alerts
        .process(&m, meta.dequeue_count.unwrap_or(1))
        .await;
    let line = report.to_string();
    let status = if report.any_failed() {
        tracing::warn!(outcome = %line, "RaiseAlerts: an action failed, the message will be retried");
        StatusCode::INTERNAL_SERVER_ERROR
    } else if report.any_deferred() {
        tracing::info!(outcome = %line, "RaiseAlerts: deferred, the message comes back after its visibility timeout");
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        tracing::info!(outcome = %line, "RaiseAlerts: done");
        StatusCode::OK
    };
    host_reply(status, &InvocationResponse::with_logs(vec![line]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_double_encoded_indented_message_is_decoded() {
        let m = json!({
            "matchId": "m1", "deviceId": "d", "deviceName": null, "reportId": "1",
            "timestamp": "2026-07-18T12:59:31Z", "category": null, "alertable": true,
            "hash": "a".repeat(64), "hashType": "sha256", "hashFields": ["SHA256"],
            "fileName": null, "folderPath": null, "intel": []
        });
        let text = serde_json::to_string_pretty(&m).unwrap();
        let once = Value::String(text.clone());
        let twice = Value::String(serde_json::to_string(&text).unwrap());
        assert_eq!(decode_match(&twice).unwrap().match_id, "m1");
        assert_eq!(decode_match(&once).unwrap().match_id, "m1");
        assert!(decode_match(&Value::from("\"hello\"")).is_err());
        assert!(decode_match(&json!({"matchId": 3})).is_err());
    }
}
