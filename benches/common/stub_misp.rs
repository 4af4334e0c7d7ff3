//! A stub MISP for the load tool and the snapshot example: `POST /attributes/restSearch` with
//! a configurable latency, answering value lookups (a value matches either half of a composite)
//! and paged pulls without `value` (`limit`/`page`, 1-based). It knows `attributes` hash IOCs,
//! all `to_ids`, published and live; time filters (`timestamp`, `publish_timestamp`) match
//! nothing newer than the fixed attribute timestamp, so incremental pulls come back empty.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

pub const KEY: &str = "Stub0MispKey0For0Benchmarks0abcdefghijklm";
const ATTRIBUTE_TIMESTAMP: i64 = 1_700_000_000;

/// One IOC the stub serves.
#[derive(Clone)]
pub struct Ioc {
    pub kind: &'static str,
    pub value: String,
    pub event_id: u32,
}

struct Inner {
    iocs: Vec<Ioc>,
    by_half: HashMap<String, Vec<usize>>,
    latency: Duration,
    lookups: AtomicUsize,
    pulls: AtomicUsize,
}

/// A running stub; requests are counted by kind.
#[derive(Clone)]
pub struct StubMisp {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

impl StubMisp {
    pub async fn start(iocs: Vec<Ioc>, latency: Duration) -> Self {
        let mut by_half: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, ioc) in iocs.iter().enumerate() {
            for half in ioc.value.split('|') {
                by_half
                    .entry(half.to_ascii_lowercase())
                    .or_default()
                    .push(i);
            }
        }
        let inner = Arc::new(Inner {
            iocs,
            by_half,
            latency,
            lookups: AtomicUsize::new(0),
            pulls: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/attributes/restSearch", post(rest_search))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// restSearch requests with `value` (lookups) so far.
    pub fn lookups(&self) -> usize {
        self.inner.lookups.load(Ordering::SeqCst)
    }

    /// restSearch requests without `value` (snapshot pulls) so far.
    pub fn pulls(&self) -> usize {
        self.inner.pulls.load(Ordering::SeqCst)
    }
}

fn attribute(n: usize, ioc: &Ioc, context: bool) -> Value {
    let mut event = json!({"id": ioc.event_id.to_string(), "info": format!("Synthetic campaign {}", ioc.event_id),
        "org_id": "1", "orgc_id": "1", "uuid": format!("11111111-0000-4000-8000-{:012}", ioc.event_id),
        "distribution": "1", "publish_timestamp": (ATTRIBUTE_TIMESTAMP + 1).to_string()});
    if context {
        event["threat_level_id"] = json!("1");
        event["published"] = json!(true);
        event["Tag"] = json!([{"id": "4", "name": "tlp:amber", "local": 0}]);
    }
    json!({"id": (n + 1).to_string(), "event_id": ioc.event_id.to_string(), "object_id": "0",
        "category": "Payload delivery", "type": ioc.kind, "to_ids": true, "deleted": false,
        "uuid": format!("00000000-0000-4000-8000-{:012}", n + 1), "timestamp": ATTRIBUTE_TIMESTAMP.to_string(),
        "distribution": "5", "value": ioc.value, "Event": event})
}

fn since(body: &Value, key: &str) -> Option<i64> {
    body.get(key)
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
}

async fn rest_search(State(s): State<Arc<Inner>>, body: Bytes) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    tokio::time::sleep(s.latency).await;
    let hits: Vec<Value> = if let Some(values) = body.get("value").and_then(Value::as_array) {
        s.lookups.fetch_add(1, Ordering::SeqCst);
        let mut seen = Vec::new();
        for v in values.iter().filter_map(Value::as_str) {
            if let Some(ids) = s.by_half.get(&v.to_ascii_lowercase()) {
                seen.extend(ids.iter().copied());
            }
        }
        seen.sort_unstable();
        seen.dedup();
        seen.iter()
            .map(|&i| attribute(i, &s.iocs[i], true))
            .collect()
    } else {
        s.pulls.fetch_add(1, Ordering::SeqCst);
        let newer = ["timestamp", "publish_timestamp"]
            .iter()
            .filter_map(|k| since(&body, k))
            .any(|t| t > ATTRIBUTE_TIMESTAMP);
        let wants_live = body.get("to_ids").is_none_or(|v| v != &json!(0));
        if newer || !wants_live {
            Vec::new()
        } else {
            let limit = body
                .get("limit")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX) as usize;
            let page = body.get("page").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
            let start = (page - 1).saturating_mul(limit).min(s.iocs.len());
            let end = start.saturating_add(limit).min(s.iocs.len());
            (start..end)
                .map(|i| attribute(i, &s.iocs[i], false))
                .collect()
        }
    };
    let text = serde_json::to_vec(&json!({"response": {"Attribute": hits}})).unwrap();
    ([(header::CONTENT_TYPE, "application/json")], text)
}

/// `n` synthetic hash IOCs over `n / 50` events: a third each md5, sha1, sha256, every tenth a
/// `filename|sha256` composite. IOC `i` is the hash of program `first_program + i` (see
/// [`super::program`]), so a workload can be made to hit some of them.
pub fn iocs(n: usize, first_program: u64) -> Vec<Ioc> {
    (0..n)
        .map(|i| {
            let [s1, s256, m5] = super::program(first_program + i as u64);
            let event_id = (i / 50) as u32 + 1;
            let (kind, value) = match i % 3 {
                _ if i % 10 == 9 => ("filename|sha256", format!("dropper{i}.exe|{s256}")),
                0 => ("md5", m5),
                1 => ("sha1", s1),
                _ => ("sha256", s256),
            };
            Ioc {
                kind,
                value,
                event_id,
            }
        })
        .collect()
}
