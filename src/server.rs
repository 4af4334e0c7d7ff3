//! The axum router the Functions host calls: `GET /` (readiness), `POST /MatchEvents`,
//! `POST /RaiseAlerts`. Every answer is JSON `{"Outputs","Logs","ReturnValue"}`; a failure the
//! host should retry is a 500 that still carries that body.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::alerts::AlertService;
use crate::deadletter::DeadLetterDoc;
use crate::engine::{Engine, EventInput};
use crate::host::{InvocationRequest, InvocationResponse, TriggerMetadata, decode_events};

/// Trigger binding name of `MatchEvents` (function.json `name`).
pub const EVENTS_BINDING: &str = "events";
/// Output binding names of `MatchEvents`.
pub const MATCHES_OUTPUT: &str = "matches";
pub const DEADLETTER_OUTPUT: &str = "deadletter";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub alerts: Arc<AlertService>,
}

/// Every route the handler serves.
pub fn router(state: AppState) -> Router {
    let body_limit = state.engine.limits().max_request_bytes;
    Router::new()
        .route("/", get(ready))
        .route("/MatchEvents", post(match_events))
        .route("/RaiseAlerts", post(crate::alerts::raise_alerts))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn ready() -> &'static str {
    "ready"
}

/// A host-protocol answer with the given status.
pub fn host_reply(status: StatusCode, response: &InvocationResponse) -> Response {
    let body = serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Answers a request the handler cannot read at all (not the host's envelope). The host counts
/// it failed, so a retry policy tries again.
pub fn bad_request(reason: String) -> Response {
    tracing::error!(%reason, "unreadable invocation request");
    host_reply(
        StatusCode::BAD_REQUEST,
        &InvocationResponse::with_logs(vec![reason]),
    )
}

/// A body that could not be read (over `MATCH_MAX_REQUEST_BYTES`, or cut): still a JSON answer,
/// with a status the host counts as failed, and the reason in the logs.
pub fn body_rejected(rejection: &BytesRejection) -> Response {
    let reason = format!("the request body could not be read: {rejection}");
    tracing::error!(%reason, "rejected invocation body");
    host_reply(
        rejection.status(),
        &InvocationResponse::with_logs(vec![reason]),
    )
}

#[tracing::instrument(skip_all, fields(invocation = tracing::field::Empty))]
async fn match_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let invocation_id = headers
        .get("x-azure-functions-invocationid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &invocation_id {
        tracing::Span::current().record("invocation", id.as_str());
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejected(&rejection),
    };
    let request: InvocationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(format!(
                "MatchEvents: the request is not a host invocation: {e}"
            ));
        }
    };
    drop(body);
    let Some(trigger) = request.data(EVENTS_BINDING) else {
        return bad_request(format!(
            "MatchEvents: the request has no `{EVENTS_BINDING}` trigger data"
        ));
    };
    let (encoding, bodies) = match decode_events(trigger) {
        Ok(decoded) => decoded,
        Err(e) => return bad_request(format!("MatchEvents: {e}")),
    };
    let meta = TriggerMetadata::parse(&request.metadata);
    let inputs: Vec<EventInput> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| EventInput {
            bytes: b.bytes,
            meta: meta.event(i),
        })
        .collect();

    let outcome = state.engine.process(inputs, meta.retries_left()).await;
    let summary = &outcome.summary;
    let partition = meta.partition_id.as_deref().unwrap_or("?");
    let line = match outcome.retry {
        // The host ignores outputs on a failed attempt: nothing is written, all is tried again.
        Some(_) => {
            format!("MatchEvents partition={partition} retry requested, nothing written: {summary}")
        }
        None => format!("MatchEvents partition={partition} {summary}"),
    };
    tracing::info!(
        partition = meta.partition_id.as_deref(),
        encoding = ?encoding,
        events = summary.events,
        records = summary.records,
        distinct = summary.distinct,
        cache_hits = summary.cache_hits,
        misp_requests = summary.misp_requests,
        matches = summary.matches,
        dead_lettered = summary.dead_lettered,
        ms = summary.millis as u64,
        "batch"
    );

    if let Some(reason) = outcome.retry {
        tracing::warn!(%reason, retry = ?meta.retry, "asking the host to retry the batch");
        let logs = vec![line, reason];
        return host_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &InvocationResponse::with_logs(logs),
        );
    }

    let mut logs = vec![line];
    let dead = DeadLetterDoc::build(&outcome.dead, meta.partition_id.clone()).map(|mut doc| {
        doc.event_hub_name = meta.event_hub_name.clone();
        doc.invocation_id = invocation_id.clone();
        logs.push(format!(
            "dead-lettered {} event(s): {}",
            doc.events.len(),
            doc.reason
        ));
        doc
    });
    let mut response = InvocationResponse::with_logs(logs);
    response.outputs.insert(
        MATCHES_OUTPUT.into(),
        serde_json::to_value(&outcome.matches).unwrap_or_else(|_| json!([])),
    );
    response.outputs.insert(
        DEADLETTER_OUTPUT.into(),
        dead.map(|d| serde_json::to_value(d).unwrap_or(Value::Null))
            .unwrap_or(Value::Null),
    );
    host_reply(StatusCode::OK, &response)
}
