//! The harness of the alerting tests: a stub managed-identity endpoint shared by the whole
//! binary (azure_identity reads `IDENTITY_ENDPOINT` from the process environment), a stub
//! Defender and a stub MISP per test, and the handler itself on a real port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use defender_misp::config::Source;
use defender_misp::startup::{Application, ServeConfig};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const IDENTITY_HEADER: &str = "stub-identity-header-4c1e";
pub const DEFENDER_TOKEN: &str = "defender-bearer-token-7d1f";
pub const MONITOR_TOKEN: &str = "monitor-bearer-token-93ab";
pub const MISP_KEY: &str = "misp-api-key-5e2c";
pub const SIGHTING_KEY: &str = "misp-sighting-key-0b7a";
pub const DEFENDER_RESOURCE: &str = "https://api.securitycenter.microsoft.com";
pub const MONITOR_RESOURCE: &str = "https://monitor.azure.com";
pub const SECRETS: [&str; 5] = [
    IDENTITY_HEADER,
    DEFENDER_TOKEN,
    MONITOR_TOKEN,
    MISP_KEY,
    SIGHTING_KEY,
];

static IDENTITY: OnceLock<MockServer> = OnceLock::new();
static LOGS: OnceLock<Captured> = OnceLock::new();

/// Everything logged so far by every test in this binary, at debug level and above (the
/// handler's own lines, azure_identity's and reqwest's).
pub fn logs() -> String {
    LOGS.get().map(Captured::text).unwrap_or_default()
}

/// The stub App Service identity endpoint. It hands a token out only for the right
/// `x-identity-header`, API version and resource, so a bearer the Defender stub accepts proves
/// the real `ManagedIdentityCredential` fetched it. The first call sets `IDENTITY_ENDPOINT` and
/// `IDENTITY_HEADER` once, with the same values for every test, while every other test is
/// blocked in this same `get_or_init` (they all call it before anything else).
pub fn identity() -> &'static MockServer {
    IDENTITY.get_or_init(|| {
        let captured = Captured::default();
        tracing::subscriber::set_global_default(captured.subscriber())
            .expect("the only subscriber");
        LOGS.set(captured).ok();
        let server = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                // wiremock serves from its own thread, so the server outlives this runtime.
                let server = MockServer::builder().start().await;
                let expires =
                    (time::OffsetDateTime::now_utc().unix_timestamp() + 86_400).to_string();
                for (resource, token) in [
                    (DEFENDER_RESOURCE, DEFENDER_TOKEN),
                    (MONITOR_RESOURCE, MONITOR_TOKEN),
                ] {
                    Mock::given(method("GET"))
                        .and(path("/msi/token"))
                        .and(header("x-identity-header", IDENTITY_HEADER))
                        .and(query_param("api-version", "2019-08-01"))
                        .and(query_param("resource", resource))
                        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                            "access_token": token,
                            "expires_on": expires,
                            "token_type": "Bearer",
                            "resource": resource,
                        })))
                        .mount(&server)
                        .await;
                }
                server
            })
        })
        .join()
        .unwrap();
        // SAFETY: set once, before any credential exists, while every test that could read the
        // environment waits on this OnceLock.
        unsafe {
            std::env::set_var("IDENTITY_ENDPOINT", format!("{}/msi/token", server.uri()));
            std::env::set_var("IDENTITY_HEADER", IDENTITY_HEADER);
        }
        server
    })
}

pub struct TestApp {
    pub address: String,
    pub defender: MockServer,
    pub misp: MockServer,
    http: reqwest::Client,
}

/// What the handler answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub logs: String,
}

/// The handler with MISP and Defender pointed at fresh stubs. `extra` settings may name the
/// stubs as `{defender}` and `{misp}`.
pub async fn spawn_app(extra: &[(&str, &str)]) -> TestApp {
    identity();
    let defender = MockServer::start().await;
    let misp = MockServer::start().await;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("FUNCTIONS_CUSTOMHANDLER_PORT".into(), "1".into());
    env.insert("MISP_URL".into(), misp.uri());
    env.insert("MISP_API_KEY".into(), MISP_KEY.into());
    env.insert("DEFENDER_API_URL".into(), defender.uri());
    // Explicit: unset means "until the MDE API retirement date", and these tests outlive it.
    env.insert("DEFENDER_ALERTS".into(), "true".into());
    for (k, v) in extra {
        let v = v
            .replace("{defender}", &defender.uri())
            .replace("{misp}", &misp.uri());
        env.insert((*k).into(), v);
    }
    let address = start(&env).await;
    TestApp {
        address,
        defender,
        misp,
        http: reqwest::Client::new(),
    }
}

/// Builds `serve` from settings exactly as `main` does, on a free port.
pub async fn start(env: &dyn Source) -> String {
    let mut config = ServeConfig::from_env(env).expect("settings");
    config.port = 0;
    let app = Application::build(config).await.expect("build");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// The body the host sends for a queue message whose text is `message` (indented JSON, as the
/// host writes queue messages from JObjects): `Data.match` double-encoded, and the message's
/// top-level non-array properties copied into Metadata, double-encoded too.
pub fn queue_invocation(message: &Value, dequeue_count: u32) -> Value {
    let text = serde_json::to_string_pretty(message).unwrap();
    let mut metadata = serde_json::Map::new();
    metadata.insert("DequeueCount".into(), json!(dequeue_count.to_string()));
    metadata.insert(
        "Id".into(),
        json!("\"0b8a4bd7-65a4-4b59-9a7e-7a5d3a3e0c11\""),
    );
    metadata.insert(
        "PopReceipt".into(),
        json!("\"AgAAAAMAAAAAAAAAAgtnj8x+1QE=\""),
    );
    metadata.insert("InsertionTime".into(), json!("2026-07-18T13:00:00+00:00"));
    if let Some(fields) = message.as_object() {
        for (k, v) in fields {
            if !v.is_array() && !v.is_null() {
                metadata.insert(k.clone(), json!(serde_json::to_string(v).unwrap()));
            }
        }
    }
    metadata.insert(
        "sys".into(),
        json!({"MethodName":"RaiseAlerts","UtcNow":"2026-07-18T13:00:01.2205399Z","RandGuid":"24ad4c06-24ad-4e5b-8294-3da9714877e9"}),
    );
    json!({
        "Data": {"match": serde_json::to_string(&text).unwrap()},
        "Metadata": metadata,
    })
}

impl TestApp {
    /// POSTs a host-shaped queue invocation and checks the host contract on the answer.
    pub async fn post_match(&self, message: &Value, dequeue_count: u32) -> Reply {
        self.post_raw(&queue_invocation(message, dequeue_count))
            .await
    }

    pub async fn post_raw(&self, body: &Value) -> Reply {
        let response = self
            .http
            .post(format!("{}/RaiseAlerts", self.address))
            .header(
                "X-Azure-Functions-InvocationId",
                "6b4c0d2e-0000-4000-8000-000000000001",
            )
            .json(body)
            .send()
            .await
            .expect("the handler answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let text = response.text().await.unwrap();
        assert_no_secret(&text);
        assert_no_secret(&logs());
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["Outputs"], json!({}), "{text}");
        assert_eq!(body["ReturnValue"], Value::Null, "{text}");
        let logs = body["Logs"]
            .as_array()
            .expect("Logs is an array")
            .iter()
            .map(|l| l.as_str().expect("each log is a string").to_owned())
            .collect::<Vec<_>>()
            .join("\n");
        Reply { status, logs }
    }

    /// Requests the Defender stub received on `route`.
    pub async fn defender_calls(&self, route: &str) -> Vec<wiremock::Request> {
        calls(&self.defender, route).await
    }
}

pub async fn calls(server: &MockServer, route: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == route)
        .collect()
}

pub fn assert_no_secret(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

/// Defender's `CreateAlertByReference` answering `status` to the right bearer only.
pub async fn defender_answers(app: &TestApp, route: &str, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(route))
        .and(header("authorization", format!("Bearer {DEFENDER_TOKEN}")))
        .respond_with(template)
        .mount(&app.defender)
        .await;
}

pub const ALERT_ROUTE: &str = "/api/alerts/CreateAlertByReference";
pub const INDICATOR_ROUTE: &str = "/api/indicators";
pub const EVENT_UUID: &str = "5c7641bf-a4e8-4d5d-a653-03240a00020f";
pub const ATTRIBUTE_UUID: &str = "6d7641bf-a4e8-4d5d-a653-03240a00020f";
pub const DEVICE: &str = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";

/// An alertable match number `n`: its own hash, report id and matchId, on [`DEVICE`].
pub fn a_match(n: u64) -> Value {
    json!({
        "matchId": format!("{n:032x}"),
        "deviceId": DEVICE,
        "deviceName": "host-1.contoso.local",
        "reportId": format!("{}", 1000 + n),
        "timestamp": "2026-07-18T12:59:31.2914446Z",
        "category": "AdvancedHunting-DeviceFileEvents",
        "alertable": true,
        "hash": format!("{:064x}", 0xab00 + n),
        "hashType": "sha256",
        "hashFields": ["SHA256"],
        "fileName": "evil.exe",
        "folderPath": "C:\\Users\\a\\evil.exe",
        "intel": [{
            "eventId": "42",
            "eventUuid": EVENT_UUID,
            "eventInfo": "Emotet wave",
            "threatLevelId": 1,
            "attributeUuid": ATTRIBUTE_UUID,
            "attributeType": "sha256",
            "tags": ["tlp:amber", "malware:emotet"]
        }],
        "intelOmitted": 0
    })
}

pub fn json_body(r: &wiremock::Request) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}

/// Captures everything logged, so tests can assert that no secret ever was.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let sink = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
