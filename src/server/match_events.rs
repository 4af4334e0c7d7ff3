//! `POST /MatchEvents`: one Event Hub batch from the host in; matches on the `matches` queue
//! output and dead letters on the `deadletter` blob output, or a 500 asking the host to retry.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::reply::{bad_request, body_rejected, host_reply};
use crate::deadletter::DeadLetterDoc;
use crate::engine::{BatchOutcome, EventInput};
use crate::host::{
    EventEncoding, InvocationRequest, InvocationResponse, TriggerMetadata, decode_events,
};

/// Trigger binding name of `MatchEvents` (function.json `name`).
pub const EVENTS_BINDING: &str = "events";
/// Output binding names of `MatchEvents`.
pub const MATCHES_OUTPUT: &str = "matches";
pub const DEADLETTER_OUTPUT: &str = "deadletter";

/// The batch as the engine takes it, with what the host said about it.
struct Batch {
    meta: TriggerMetadata,
    encoding: EventEncoding,
    inputs: Vec<EventInput>,
}

#[tracing::instrument(skip_all, fields(invocation = tracing::field::Empty))]
pub async fn match_events(
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
    let batch = match read_batch(body) {
        Ok(batch) => batch,
        Err(reason) => return bad_request(reason),
    };
    let outcome = state
        .engine
        .process(batch.inputs, batch.meta.retries_left())
        .await;
    answer(outcome, &batch.meta, batch.encoding, invocation_id)
}

/// The host's invocation request, decoded down to the engine's input; `Err` says why it cannot be.
fn read_batch(body: Bytes) -> Result<Batch, String> {
    let request: InvocationRequest = serde_json::from_slice(&body)
        .map_err(|e| format!("MatchEvents: the request is not a host invocation: {e}"))?;
    drop(body);
    let Some(trigger) = request.data(EVENTS_BINDING) else {
        return Err(format!(
            "MatchEvents: the request has no `{EVENTS_BINDING}` trigger data"
        ));
    };
    let (encoding, bodies) = decode_events(trigger).map_err(|e| format!("MatchEvents: {e}"))?;
    let meta = TriggerMetadata::parse(&request.metadata);
    let inputs = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| EventInput {
            bytes: b.bytes,
            meta: meta.event(i),
        })
        .collect();
    Ok(Batch {
        meta,
        encoding,
        inputs,
    })
}

/// The answer for a processed batch: a 500 with nothing written when the host should retry,
/// else a 200 with the matches and the dead-letter document.
fn answer(
    outcome: BatchOutcome,
    meta: &TriggerMetadata,
    encoding: EventEncoding,
    invocation_id: Option<String>,
) -> Response {
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
        tracing::warn!(%reason, retry = %meta.retry_text(), "asking the host to retry the batch");
        return host_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &InvocationResponse::with_logs(vec![line, reason]),
        );
    }
    let mut logs = vec![line];
    let dead = DeadLetterDoc::build(&outcome.dead, meta.partition_id.clone()).map(|mut doc| {
        doc.event_hub_name = meta.event_hub_name.clone();
        doc.invocation_id = invocation_id;
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
