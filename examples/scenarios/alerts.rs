//! Section 5 of issue 11: two handlers (two Functions instances) fed the same 20 matches at once,
//! in front of one stub Defender; how many alert calls they make, for how many distinct
//! (device, hash) pairs. With `--storage`, both share that storage account (Azurite). Shared
//! with `tests/api`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::child::Handler;
use crate::host::hex;
use crate::misp::{Act, KEY, Misp};

const IDENTITY_HEADER: &str = "scenario-identity-header";

#[derive(Default)]
struct Calls(Mutex<Vec<(Instant, String)>>);

async fn create_alert(State(calls): State<Arc<Calls>>, body: axum::body::Bytes) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let report = v["reportId"].as_str().unwrap_or("?").to_owned();
    calls.0.lock().unwrap().push((Instant::now(), report));
    "{}"
}

async fn token() -> axum::Json<Value> {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    axum::Json(
        json!({"access_token": "scenario-token", "expires_on": expires.to_string(),
        "token_type": "Bearer", "resource": "https://api.securitycenter.microsoft.com"}),
    )
}

/// Defender and the App Service identity endpoint, on one loopback server.
async fn stubs() -> (String, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let app = Router::new()
        .route("/api/alerts/CreateAlertByReference", post(create_alert))
        .route("/msi/token", get(token))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

/// Match `n` of run `run`, on (device, file) pair `n % pairs` (four devices); every match has
/// its own report id and matchId. New to every run (the state in a storage account outlives one).
fn a_match(run: u64, n: u64, pairs: u64) -> Value {
    let pair = n % pairs;
    json!({
        "matchId": hex(32, n, 11 + run), "deviceId": hex(40, pair % 4, 12 + run), "deviceName": "wks.corp.example",
        "reportId": (5000 + n).to_string(), "timestamp": "2026-07-18T12:59:31.2914446Z",
        "category": "AdvancedHunting-DeviceFileEvents", "alertable": true, "hash": hex(64, pair, 13 + run),
        "hashType": "sha256", "hashFields": ["SHA256"], "fileName": "evil.exe", "folderPath": "C:\\evil.exe",
        "intel": [{"eventId": "42", "eventUuid": "5c7641bf-a4e8-4d5d-a653-03240a00020f", "eventInfo": "Scenario",
            "threatLevelId": 1, "attributeUuid": "6d7641bf-a4e8-4d5d-a653-03240a00020f", "attributeType": "sha256",
            "tags": ["tlp:amber"]}],
        "intelOmitted": 0
    })
}

fn queue_invocation(message: &Value) -> Value {
    let text = serde_json::to_string_pretty(message).unwrap();
    json!({"Data": {"match": serde_json::to_string(&text).unwrap()},
           "Metadata": {"DequeueCount": "1", "Id": "\"0b8a4bd7-65a4-4b59-9a7e-7a5d3a3e0c11\""}})
}

/// What the two instances did.
#[derive(Debug)]
pub struct AlertRun {
    pub answers: BTreeMap<u16, usize>,
    /// Matches still not acknowledged after the last round.
    pub unacknowledged: usize,
    pub calls: usize,
    pub distinct_pairs: usize,
    pub duplicates: usize,
    pub most_in_60s: usize,
}

/// Two handlers, each sent the same `matches` matches (on `pairs` distinct files) at once; then,
/// `rounds - 1` times, every message not acknowledged is delivered again (to both), as the queue
/// would after its visibility timeout.
pub async fn two_instances(
    binary: &Path,
    storage: Option<&str>,
    matches: u64,
    pairs: u64,
    rounds: usize,
) -> AlertRun {
    let misp = Misp::start(|_, _| Act::Answer).await;
    let (stub, calls) = stubs().await;
    let mut settings: Vec<(String, String)> = [
        ("MISP_URL", misp.url.as_str()),
        ("MISP_API_KEY", KEY),
        ("DEFENDER_API_URL", stub.as_str()),
        ("DEFENDER_ALERTS", "true"),
        ("IDENTITY_HEADER", IDENTITY_HEADER),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    settings.push(("IDENTITY_ENDPOINT".into(), format!("{stub}/msi/token")));
    // A table of its own, so that no earlier run's state or budget counts.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    if let Some(s) = storage {
        settings.push(("AzureWebJobsStorage".into(), s.to_owned()));
        settings.push(("ALERT_STATE_TABLE".into(), format!("scenario{run}")));
    }
    let a = Handler::start(binary, "instance-a", &settings).await;
    let b = Handler::start(binary, "instance-b", &settings).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut pending: Vec<u64> = (0..matches).collect();
    for round in 0..rounds {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut sends = Vec::new();
        for &n in &pending {
            for base in [&a.base, &b.base] {
                let request = client
                    .post(format!("{base}/RaiseAlerts"))
                    .json(&queue_invocation(&a_match(run, n, pairs)));
                sends.push(tokio::spawn(async move {
                    let status = request.send().await.map(|r| r.status().as_u16());
                    (n, status.unwrap_or(0))
                }));
            }
        }
        let mut again = Vec::new();
        for s in sends {
            let (n, status) = s.await.unwrap();
            *statuses.entry(status).or_default() += 1;
            if status != 200 && !again.contains(&n) {
                again.push(n);
            }
        }
        pending = again;
    }
    let wall = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = calls.0.lock().unwrap().clone();
    let mut per_pair: HashMap<u64, usize> = HashMap::new();
    for (_, report) in &calls {
        let n: u64 = report.parse::<u64>().unwrap_or(0).saturating_sub(5000);
        *per_pair.entry(n % pairs).or_default() += 1;
    }
    let duplicates: usize = per_pair.values().map(|c| c - 1).sum();
    let most_in_60s = calls
        .iter()
        .map(|(t, _)| {
            calls
                .iter()
                .filter(|(u, _)| *u >= *t && *u < *t + Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap_or(0);
    println!(
        "two-instances: storage={} matches={matches} files={pairs} deliveries={} answers={statuses:?} alert-calls={} files-alerted={} duplicate-alerts={duplicates} most-calls-in-60s={most_in_60s} wall={:.2}s",
        storage.unwrap_or("none"),
        statuses.values().sum::<usize>(),
        calls.len(),
        per_pair.len(),
        wall.as_secs_f64()
    );
    AlertRun {
        unacknowledged: pending.len(),
        answers: statuses,
        calls: calls.len(),
        distinct_pairs: per_pair.len(),
        duplicates,
        most_in_60s,
    }
}
