//! Reading a request body: at most a size, within a time (`SERVE_BODY_TIMEOUT_SECS`, counting
//! only the time spent waiting for the sender's bytes, not for the memory budget), as the chunks
//! it arrived in, whose bytes the [`Reservation`] accounts for as they arrive.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt;
use tokio::time::Instant;

use super::listener::ConnHandle;
use super::memory::Reservation;

/// Why a body could not be read; each has the status the host sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {0} bytes (MATCH_MAX_REQUEST_BYTES)")]
    TooLarge(usize),
    #[error(
        "the request body did not arrive within {} s (SERVE_BODY_TIMEOUT_SECS)",
        .0.as_secs()
    )]
    TimedOut(Duration),
    #[error("the request body was cut short")]
    Cut,
}

impl BodyError {
    pub fn status(self) -> StatusCode {
        match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Cut => StatusCode::BAD_REQUEST,
        }
    }
}

/// What a body read is allowed.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
    /// Bytes reserved per byte read (2: the body and what is decoded from it).
    pub reserve_per_byte: usize,
}

/// A body as it arrived: its chunks, joined into one buffer by [`Chunks::join`] (on the
/// blocking pool for a large one: copying a hundred megabytes takes a worker tens of
/// milliseconds).
#[derive(Debug, Default)]
pub struct Chunks {
    parts: Vec<Bytes>,
    len: usize,
}

impl Chunks {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One buffer of exactly the body's length; each chunk is freed once copied.
    pub fn join(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for part in self.parts {
            out.extend_from_slice(&part);
        }
        out
    }
}

/// Reads the whole body, chunk by chunk, each counted in the reservation as it arrives.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limits: BodyLimits,
    reservation: &mut Reservation,
    conn: Option<&ConnHandle>,
) -> Result<Chunks, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(BodyError::TooLarge(limits.max_bytes));
    }
    let _reading = conn.map(ConnHandle::reading_body);
    let mut chunks = Chunks::default();
    let mut stream = body.into_data_stream();
    let mut waited = Duration::ZERO;
    loop {
        let left = limits.timeout.saturating_sub(waited);
        let started = Instant::now();
        let next = tokio::time::timeout(left, stream.next()).await;
        waited += started.elapsed();
        let chunk = match next {
            Err(_) => return Err(BodyError::TimedOut(limits.timeout)),
            Ok(None) => return Ok(chunks),
            Ok(Some(Err(_))) => return Err(BodyError::Cut),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if chunks.len + chunk.len() > limits.max_bytes {
            return Err(BodyError::TooLarge(limits.max_bytes));
        }
        reservation
            .grow(chunk.len() * limits.reserve_per_byte)
            .await;
        chunks.len += chunk.len();
        chunks.parts.push(chunk);
    }
}
