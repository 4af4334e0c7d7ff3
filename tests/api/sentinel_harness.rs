//! What the Sentinel tests share, on the one harness ([`crate::helpers`]): the handler built from
//! settings as `serve` builds it, with MISP at an address that is never called, a programmable
//! Defender API, the Sentinel settings of the Logs Ingestion stub, and host-shaped `RaiseAlerts`
//! invocations.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::alert_helpers::queue_invocation;
pub use crate::helpers::{DEFENDER_TOKEN, MONITOR_TOKEN, logs};
use crate::helpers::{assert_no_secret, settings, start};

pub const DCR: &str = "dcr-00112233445566778899aabbccddeeff";
pub const STREAM: &str = "Custom-DefenderMispMatches_CL";

/// A Defender API that answers every call with one given answer and records the paths called.
pub struct DefenderStub {
    pub url: String,
    calls: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for DefenderStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type DefenderState = (Arc<Mutex<(u16, String)>>, Arc<Mutex<Vec<String>>>);

async fn defender(
    AxumState((answer, calls)): AxumState<DefenderState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let bearer = format!("Bearer {DEFENDER_TOKEN}");
    if headers
        .get(header::AUTHORIZATION)
        .is_none_or(|v| v != bearer.as_str())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    calls.lock().unwrap().push(uri.path().to_owned());
    let (status, body) = answer.lock().unwrap().clone();
    (StatusCode::from_u16(status).unwrap(), body).into_response()
}

impl DefenderStub {
    pub async fn start(status: u16, body: &str) -> Self {
        let answer = Arc::new(Mutex::new((status, body.to_owned())));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/api/alerts/CreateAlertByReference", post(defender))
            .route("/api/indicators", post(defender))
            .with_state((answer.clone(), calls.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, calls, server }
    }

    /// Paths called so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

/// The handler built from `settings` exactly as `serve` builds it, on a loopback port the system
/// picks, its MISP at an address no test calls (event links name it).
pub async fn start_handler(extra: &[(&str, String)]) -> String {
    let mut env = settings("https://misp.example.org", &[]);
    for (k, v) in extra {
        env.insert((*k).to_owned(), v.clone());
    }
    start(&env).await
}

/// The Sentinel settings for `stub`.
pub fn sentinel_settings(stub_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SENTINEL_DCE_URL", stub_url.to_owned()),
        ("SENTINEL_DCR_ID", DCR.to_owned()),
        ("SENTINEL_STREAM", STREAM.to_owned()),
    ]
}

/// What the handler answered: status and the `Logs` lines joined. No secret reaches the answer
/// or a log.
pub async fn post_match(address: &str, message: &Value, dequeue_count: u32) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{address}/RaiseAlerts"))
        .json(&queue_invocation(message, dequeue_count))
        .send()
        .await
        .expect("the handler answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_no_secret(&text);
    assert_no_secret(&logs());
    let body: Value = serde_json::from_str(&text).unwrap();
    let logs = body["Logs"]
        .as_array()
        .expect("Logs")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    (status, logs)
}

/// A match as `MatchEvents` writes it: a DeviceFileEvents record whose SHA256 is in MISP event 42.
pub fn a_match(n: u64) -> Value {
    json!({
        "matchId": format!("{n:032x}"),
        "deviceId": "1e5bc9d7e413ddd7902c2932e418702b84d0cc07",
        "deviceName": "ws-001.corp.example",
        "reportId": (1000 + n).to_string(),
        "timestamp": "2026-11-28T08:59:31.2914446Z",
        "category": "AdvancedHunting-DeviceFileEvents",
        "alertable": true,
        "hash": format!("{:064x}", 0xcafe00 + n),
        "hashType": "sha256",
        "hashFields": ["SHA256"],
        "fileName": "invoice.exe",
        "folderPath": "C:\\Users\\alice\\Downloads\\invoice.exe",
        "intel": [{
            "eventId": "42",
            "eventUuid": "5c7641bf-a4e8-4d5d-a653-03240a00020f",
            "eventInfo": "Synthetic dropper campaign",
            "threatLevelId": 1,
            "attributeUuid": "6d7641bf-a4e8-4d5d-a653-03240a00020f",
            "attributeType": "sha256",
            "tags": ["tlp:amber", "malware:dropper"]
        }],
        "intelOmitted": 0
    })
}
