//! Answers in the host protocol: a status and an [`InvocationResponse`] body, always JSON, even
//! for a request the handler cannot read.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};

use super::body::BodyError;
use super::memory::Reservation;
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

/// A body that could not be read (over its limit, too slow, or cut): still a JSON answer, with
/// a status the host counts as failed, and the reason in the logs.
pub fn body_failed(e: BodyError) -> Response {
    let reason = format!("the request body could not be read: {e}");
    tracing::error!(%reason, "rejected invocation body");
    host_reply(e.status(), &InvocationResponse::with_logs(vec![reason]))
}

/// A host-protocol answer (`body`, an [`InvocationResponse`] serialized) whose bytes stay
/// counted in `reservation` until they are sent.
pub fn reserved_reply(status: StatusCode, body: Vec<u8>, mut reservation: Reservation) -> Response {
    reservation.set(body.len());
    let body = Body::new(Reserved {
        data: Some(Bytes::from(body)),
        _reservation: reservation,
    });
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A whole answer and the reservation that counts it, given back once the answer is sent.
struct Reserved {
    data: Option<Bytes>,
    _reservation: Reservation,
}

impl hyper::body::Body for Reserved {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
