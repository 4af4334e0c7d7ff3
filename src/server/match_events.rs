//! `POST /MatchEvents`: one Event Hub batch from the host in; matches on the `matches` queue
//! output and dead letters on the `deadletter` blob output, or a 500 asking the host to retry.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::body::{self, BodyLimits};
use super::listener::ConnHandle;
use super::reply::{bad_request, body_failed, reserved_reply};
use crate::deadletter::DeadLetterDoc;
use crate::engine::{BatchOutcome, EventInput};
use crate::host::{
    EventEncoding, InvocationError, InvocationResponse, TriggerMetadata, decode_invocation,
};
use crate::text::clean_text;

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
pub async fn match_events(State(state): State<AppState>, request: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let invocation_id = parts
        .headers
        .get("x-azure-functions-invocationid")
        .and_then(|v| v.to_str().ok())
        .map(|v| clean_text(v, 64));
    if let Some(id) = &invocation_id {
        tracing::Span::current().record("invocation", id.as_str());
    }
    let mut reservation = state.budget.reserve();
    let limits = BodyLimits {
        max_bytes: state.engine.limits().max_request_bytes,
        timeout: state.listener.body_timeout,
        reserve_per_byte: 2,
    };
    let conn = parts.extensions.get::<ConnHandle>();
    let bytes = match body::read(body, &parts.headers, limits, &mut reservation, conn).await {
        Ok(bytes) => bytes,
        Err(e) => return body_failed(e),
    };
    let body_len = bytes.len();
    let read = arrived.elapsed();
    // Decoding is CPU work: off the async workers, so `GET /` and the other invocations go on.
    let batch = match state
        .engine
        .cpu()
        .run(body_len, move || read_batch(bytes.join()))
        .await
    {
        Ok(batch) => batch,
        Err(reason) => return bad_request(reason),
    };
    reservation.shrink(body_len);
    let decoded = arrived.elapsed();
    let outcome = state
        .engine
        .process(batch.inputs, batch.meta.retries_left())
        .await;
    let (meta, encoding) = (batch.meta, batch.encoding);
    let (status, body) = state
        .engine
        .cpu()
        .run(body_len, move || {
            let timing = Timing {
                arrived,
                read,
                decoded,
            };
            let (status, response) = answer(outcome, &meta, encoding, invocation_id, timing);
            (
                status,
                serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
            )
        })
        .await;
    reserved_reply(status, body, reservation)
}

/// The host's invocation request, decoded down to the engine's input; `Err` says why it cannot
/// be. The body is consumed (and reused while decoding).
fn read_batch(body: Vec<u8>) -> Result<Batch, String> {
    let invocation = decode_invocation(body, EVENTS_BINDING).map_err(|e| match e {
        InvocationError::Envelope(e) => {
            format!("MatchEvents: the request is not a host invocation: {e}")
        }
        InvocationError::Trigger(e) => format!("MatchEvents: {e}"),
    })?;
    let meta = invocation.metadata;
    let inputs = invocation
        .events
        .into_iter()
        .enumerate()
        .map(|(i, b)| EventInput {
            bytes: b.bytes,
            meta: meta.event(i),
        })
        .collect();
    Ok(Batch {
        meta,
        encoding: invocation.encoding,
        inputs,
    })
}

/// When an invocation arrived, and how long after that its body was read and decoded: logged
/// with the engine's own time, so that a slow answer tells where its time went.
struct Timing {
    arrived: Instant,
    read: Duration,
    decoded: Duration,
}

/// The answer for a processed batch: a 500 with nothing written when the host should retry,
/// else a 200 with the matches and the dead-letter document.
fn answer(
    outcome: BatchOutcome,
    meta: &TriggerMetadata,
    encoding: EventEncoding,
    invocation_id: Option<String>,
    timing: Timing,
) -> (StatusCode, InvocationResponse) {
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
        read_us = timing.read.as_micros() as u64,
        decoded_us = timing.decoded.as_micros() as u64,
        handler_us = timing.arrived.elapsed().as_micros() as u64,
        "batch"
    );
    if let Some(reason) = outcome.retry {
        tracing::warn!(%reason, retry = %meta.retry_text(), "asking the host to retry the batch");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            InvocationResponse::with_logs(vec![line, reason]),
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
    (StatusCode::OK, response)
}
