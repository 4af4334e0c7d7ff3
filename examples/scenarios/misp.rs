//! A scripted MISP on a raw loopback socket, so that it can fail the way a real one does: a
//! status, a 429 with `Retry-After`, an HTML page with status 200, JSON cut short, a connection
//! reset, or a slow answer. A script maps (request number, time since start) to what to do.
//!
//! It answers `POST /attributes/restSearch` lookups (a `value` list): every value whose hex starts
//! with [`BAD_PREFIX`] is a hit, with event context as MISP sends it.
//! Shared with `tests/api` (its ignored load tests), which use part of it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const KEY: &str = "Scenario0MispKey0Never0Logged0abcdefghijk";
/// Hashes starting with this are known to the stub.
pub const BAD_PREFIX: &str = "baddad";

/// What the stub does with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Answer,
    Status(u16),
    /// 429 with `Retry-After` in seconds.
    RateLimited(u64),
    /// 200 with an HTML page (a proxy's or a login page).
    Html,
    /// 200, JSON content type, the body cut half way and the connection closed.
    Truncated,
    /// The connection reset (RST) without an answer.
    Reset,
    /// The answer after a delay.
    Slow(Duration),
}

pub type Script = dyn Fn(usize, Duration) -> Act + Send + Sync;

struct Inner {
    script: Box<Script>,
    started: Mutex<Instant>,
    requests: AtomicUsize,
}

/// A running stub.
#[derive(Clone)]
pub struct Misp {
    inner: Arc<Inner>,
    pub url: String,
}

impl Misp {
    pub async fn start(script: impl Fn(usize, Duration) -> Act + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            script: Box::new(script),
            started: Mutex::new(Instant::now()),
            requests: AtomicUsize::new(0),
        });
        let state = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone()));
            }
        });
        Self { inner, url }
    }

    /// restSearch requests received so far.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Time since the stub started, or since [`Self::restart_clock`] (what the script sees).
    pub fn elapsed(&self) -> Duration {
        self.inner.started.lock().unwrap().elapsed()
    }

    /// Starts the script's clock again, from now.
    pub fn restart_clock(&self) {
        *self.inner.started.lock().unwrap() = Instant::now();
    }
}

/// Reads one request (headers, then `Content-Length` bytes); `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let mut chunk = [0u8; 64 * 1024];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + length].to_vec();
            buf.drain(..end + 4 + length);
            return Some(body);
        }
        let mut chunk = [0u8; 64 * 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(mut stream: TcpStream, inner: Arc<Inner>) {
    let mut buf = Vec::new();
    while let Some(body) = read_request(&mut stream, &mut buf).await {
        let n = inner.requests.fetch_add(1, Ordering::SeqCst);
        let elapsed = inner.started.lock().unwrap().elapsed();
        let act = (inner.script)(n, elapsed);
        let reply = match act {
            Act::Reset => {
                reset(&stream);
                return;
            }
            Act::Slow(d) => {
                tokio::time::sleep(d).await;
                response(200, "application/json", &answer(&body), "")
            }
            Act::Answer => response(200, "application/json", &answer(&body), ""),
            Act::Status(s) => response(s, "application/json", br#"{"message":"error"}"#, ""),
            Act::RateLimited(secs) => response(
                429,
                "application/json",
                br#"{"message":"Rate limit exceeded."}"#,
                &format!("Retry-After: {secs}\r\n"),
            ),
            Act::Html => response(
                200,
                "text/html",
                b"<html><body><h1>Please log in</h1></body></html>",
                "",
            ),
            Act::Truncated => {
                let full = answer(&body);
                let mut head = response(200, "application/json", &full, "");
                head.truncate(head.len() - full.len() / 2);
                let _ = stream.write_all(&head).await;
                return;
            }
        };
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// Makes dropping the stream send a reset (RST) rather than a FIN.
#[expect(
    deprecated,
    reason = "a zero SO_LINGER is the point here: the drop must reset the connection"
)]
fn reset(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

fn response(status: u16, content_type: &str, body: &[u8], extra: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The restSearch answer for a lookup body: a hit for each value starting with [`BAD_PREFIX`].
fn answer(body: &[u8]) -> Vec<u8> {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let hits: Vec<Value> = request["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|v| v.starts_with(BAD_PREFIX))
        .enumerate()
        .map(|(i, v)| attribute(i, v))
        .collect();
    serde_json::to_vec(&json!({"response": {"Attribute": hits}})).unwrap()
}

fn attribute(n: usize, value: &str) -> Value {
    let kind = match value.len() {
        32 => "md5",
        40 => "sha1",
        _ => "sha256",
    };
    json!({"id": (n + 1).to_string(), "event_id": "42", "object_id": "0", "category": "Payload delivery",
        "type": kind, "to_ids": true, "deleted": false, "uuid": format!("00000000-0000-4000-8000-{:012}", n + 1),
        "timestamp": "1700000000", "distribution": "5", "value": value,
        "Event": {"id": "42", "info": "Scenario campaign", "org_id": "1", "orgc_id": "1",
            "uuid": "11111111-0000-4000-8000-000000000042", "distribution": "1", "threat_level_id": "1",
            "published": true, "publish_timestamp": "1700000001",
            "Tag": [{"id": "4", "name": "tlp:amber", "local": 0}]}})
}
