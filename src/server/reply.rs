//! Answers in the host protocol: a status and an [`InvocationResponse`] body, always JSON, even
//! for a request the handler cannot read.

use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::host::InvocationResponse;

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
