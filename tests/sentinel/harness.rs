//! The rest of the Sentinel tests' world on loopback: an App Service managed-identity endpoint for
//! the real `ManagedIdentityCredential` (shared by the binary: azure_identity reads
//! `IDENTITY_ENDPOINT` from the process environment), a programmable Defender API, the handler
//! built as `serve` builds it, and host-shaped `RaiseAlerts` invocations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use defender_misp::startup::{Application, ServeConfig};
use serde_json::{Value, json};

pub const IDENTITY_HEADER: &str = "sentinel-identity-header-6a2d";
pub const MONITOR_TOKEN: &str = "sentinel-monitor-token-51c8";
pub const DEFENDER_TOKEN: &str = "sentinel-defender-token-0e47";
pub const MISP_KEY: &str = "sentinel-misp-key-9b13";
pub const DCR: &str = "dcr-00112233445566778899aabbccddeeff";
pub const STREAM: &str = "Custom-DefenderMispMatches_CL";
pub const SECRETS: [&str; 4] = [IDENTITY_HEADER, MONITOR_TOKEN, DEFENDER_TOKEN, MISP_KEY];

static IDENTITY: OnceLock<String> = OnceLock::new();
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Everything every test of this binary logged so far (the handler's tracing, info and above).
pub fn logs() -> String {
    LOGS.get()
        .map(|l| String::from_utf8_lossy(&l.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts the identity endpoint once, on a thread of its own that outlives every test runtime, and
/// points `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` at it. It hands out a token only for the right
/// header, API version and resource, so a bearer the stubs accept proves the credential path ran.
pub fn identity() -> &'static str {
    IDENTITY.get_or_init(|| {
        let sink = Sink(Arc::new(Mutex::new(Vec::new())));
        LOGS.set(sink.0.clone()).ok();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new().route("/msi/token", get(token));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(format!("http://{}", listener.local_addr().unwrap()))
                    .unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let url = rx.recv().expect("the identity endpoint starts");
        // SAFETY: set once, before any credential exists, while every test that could read the
        // environment waits on this OnceLock.
        unsafe {
            std::env::set_var("IDENTITY_ENDPOINT", format!("{url}/msi/token"));
            std::env::set_var("IDENTITY_HEADER", IDENTITY_HEADER);
        }
        url
    })
}

/// The query string of `uri` as a map.
pub fn query(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn token(headers: HeaderMap, uri: Uri) -> Response {
    let q = query(&uri);
    let right_header = headers
        .get("x-identity-header")
        .is_some_and(|v| v == IDENTITY_HEADER);
    if !right_header || q.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let token = match q.get("resource").map(String::as_str) {
        Some("https://monitor.azure.com") => MONITOR_TOKEN,
        Some("https://api.securitycenter.microsoft.com") => DEFENDER_TOKEN,
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    let expires = (time::OffsetDateTime::now_utc().unix_timestamp() + 86_400).to_string();
    axum::Json(json!({
        "access_token": token, "expires_on": expires, "token_type": "Bearer",
        "resource": q["resource"],
    }))
    .into_response()
}

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

/// The handler built from `settings` exactly as `serve` builds it, on a free loopback port.
pub async fn start_handler(settings: &[(&str, String)]) -> String {
    identity();
    let env: HashMap<String, String> = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "1".to_owned()),
        ("MISP_URL", "https://misp.example.org".to_owned()),
        ("MISP_API_KEY", MISP_KEY.to_owned()),
    ]
    .into_iter()
    .chain(settings.iter().cloned())
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut config = ServeConfig::from_env(&env).expect("settings");
    config.port = 0;
    let app = Application::build(config).await.expect("build");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// The Sentinel settings for `stub`.
pub fn sentinel_settings(stub_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SENTINEL_DCE_URL", stub_url.to_owned()),
        ("SENTINEL_DCR_ID", DCR.to_owned()),
        ("SENTINEL_STREAM", STREAM.to_owned()),
    ]
}

/// The body the host POSTs for a queue message whose text is `message` (indented JSON, as the
/// host writes a JObject): `Data.match` double-encoded, the message's top-level non-array
/// properties copied into `Metadata` as JSON text.
pub fn queue_invocation(message: &Value, dequeue_count: u32) -> Value {
    let text = serde_json::to_string_pretty(message).unwrap();
    let mut metadata = serde_json::Map::new();
    metadata.insert("DequeueCount".into(), json!(dequeue_count.to_string()));
    metadata.insert(
        "Id".into(),
        json!("\"7d1f2a4c-0000-4000-8000-00000000000a\""),
    );
    metadata.insert("InsertionTime".into(), json!("2026-11-28T09:00:00+00:00"));
    for (k, v) in message.as_object().into_iter().flatten() {
        if !v.is_array() && !v.is_null() {
            metadata.insert(k.clone(), json!(serde_json::to_string(v).unwrap()));
        }
    }
    metadata.insert(
        "sys".into(),
        json!({"MethodName": "RaiseAlerts", "UtcNow": "2026-11-28T09:00:01.5Z", "RandGuid": "0c4b5e1a-77aa-4f3e-9d2b-5b0a3c1d2e3f"}),
    );
    json!({"Data": {"match": serde_json::to_string(&text).unwrap()}, "Metadata": metadata})
}

/// What the handler answered: status and the `Logs` lines joined.
pub async fn post_match(address: &str, message: &Value, dequeue_count: u32) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{address}/RaiseAlerts"))
        .json(&queue_invocation(message, dequeue_count))
        .send()
        .await
        .expect("the handler answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let logged = logs();
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked: {text}");
        assert!(!logged.contains(secret), "a secret was logged");
    }
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
