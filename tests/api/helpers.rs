//! The one harness of the integration tests: [`spawn_app_with`] builds `serve` from a settings
//! map exactly as `main` does (as the Functions host would set app settings) and runs it on a
//! real loopback port, in front of a stub MISP that implements restSearch and a stub Defender
//! (which also serves as the Logs Ingestion endpoint when a test points `SENTINEL_DCE_URL` at
//! it). Tokens come from the real `ManagedIdentityCredential` against a stub App Service identity
//! endpoint shared by the whole binary. Everything logged is both written to the test output
//! (for `scripts/scan-logs`) and captured, so tests can assert that no secret ever was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use defender_misp::config::ServeConfig;
use defender_misp::settings::Source;
use defender_misp::startup::Application;
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

use crate::host_sim::{self, Declared, HostResult, Retry};
use crate::stub_http::matchers::{header, method, path, query_param};
use crate::stub_http::{Mock, MockServer, ResponseTemplate};
use crate::stub_misp::{MISP_KEY, StubAttribute, StubMisp};

pub const IDENTITY_HEADER: &str = "stub-identity-header-4c1e";
pub const DEFENDER_TOKEN: &str = "defender-bearer-token-7d1f";
pub const MONITOR_TOKEN: &str = "monitor-bearer-token-93ab";
pub const STORAGE_TOKEN: &str = "storage-bearer-token-5e2c";
pub const SIGHTING_KEY: &str = "misp-sighting-key-0b7a";
pub const DEFENDER_RESOURCE: &str = "https://api.securitycenter.microsoft.com";
pub const MONITOR_RESOURCE: &str = "https://monitor.azure.com";
pub const STORAGE_RESOURCE: &str = "https://storage.azure.com";
/// Every secret the tests hand the handler; none may reach an answer or a log.
pub const SECRETS: [&str; 6] = [
    IDENTITY_HEADER,
    DEFENDER_TOKEN,
    MONITOR_TOKEN,
    STORAGE_TOKEN,
    MISP_KEY,
    SIGHTING_KEY,
];

/// The handler, its stubs, and a client to call it as the host does.
pub struct TestApp {
    pub address: String,
    pub misp: StubMisp,
    pub defender: MockServer,
    pub client: reqwest::Client,
}

pub async fn spawn_app(attributes: Vec<StubAttribute>) -> TestApp {
    spawn_app_with(attributes, &[]).await
}

/// The handler with a stub MISP that knows `attributes` and a fresh stub Defender; `extra`
/// settings are added to the three `serve` needs, and may name the stubs as `{misp}` and
/// `{defender}`.
pub async fn spawn_app_with(attributes: Vec<StubAttribute>, extra: &[(&str, &str)]) -> TestApp {
    init();
    let misp = StubMisp::start(attributes).await;
    let defender = MockServer::start().await;
    let mut env = settings(
        &misp.url(),
        &[
            ("DEFENDER_API_URL", &defender.uri()),
            // Explicit: unset means "until the MDE API retirement date", and these tests outlive it.
            ("DEFENDER_ALERTS", "true"),
        ],
    );
    for (k, v) in extra {
        let v = v
            .replace("{defender}", &defender.uri())
            .replace("{misp}", &misp.url());
        env.insert((*k).into(), v);
    }
    let address = start(&env).await;
    TestApp {
        address,
        misp,
        defender,
        client: reqwest::Client::new(),
    }
}

/// What `serve` needs (the port is replaced by one the system picks), plus `extra`.
pub fn settings(misp_url: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
        ("MISP_URL", misp_url),
        ("MISP_API_KEY", MISP_KEY),
        ("MISP_TIMEOUT_SECS", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// Builds `serve` from settings exactly as `main` does, on a port the system picks (the
/// listener is bound first, its port read back), and runs it on this runtime.
pub async fn start(env: &dyn Source) -> String {
    init();
    let mut config = ServeConfig::from_env(env).expect("valid settings");
    config.port = 0;
    let app = Application::build(config).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

static INIT: OnceLock<MockServer> = OnceLock::new();
static LOGS: OnceLock<Captured> = OnceLock::new();

/// Logging and the identity endpoint, set up once for the binary before any app is built.
fn init() {
    identity();
}

/// The stub App Service identity endpoint. It hands a token out only for the right
/// `x-identity-header`, API version and resource, so a bearer the Defender stub accepts proves
/// the real `ManagedIdentityCredential` fetched it. It serves from a thread of its own for the
/// life of the binary. The first call also installs the log subscriber and sets
/// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`, once, with the same values for every test, while
/// every other caller waits in this `get_or_init` (every app is built after it).
pub fn identity() -> &'static MockServer {
    INIT.get_or_init(|| {
        let captured = Captured::default();
        tracing::subscriber::set_global_default(captured.subscriber())
            .expect("the only subscriber");
        LOGS.set(captured).ok();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let server = MockServer::start().await;
                mount_tokens(&server).await;
                tx.send(server.view()).unwrap();
                std::future::pending::<()>().await;
            });
        });
        let server = rx.recv().expect("the identity endpoint starts");
        // SAFETY: set once, before any credential exists, while every caller that could build
        // one waits on this OnceLock.
        unsafe {
            std::env::set_var("IDENTITY_ENDPOINT", format!("{}/msi/token", server.uri()));
            std::env::set_var("IDENTITY_HEADER", IDENTITY_HEADER);
        }
        server
    })
}

async fn mount_tokens(server: &MockServer) {
    let expires = (time::OffsetDateTime::now_utc().unix_timestamp() + 86_400).to_string();
    for (resource, token) in [
        (DEFENDER_RESOURCE, DEFENDER_TOKEN),
        (MONITOR_RESOURCE, MONITOR_TOKEN),
        (STORAGE_RESOURCE, STORAGE_TOKEN),
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
            .mount(server)
            .await;
    }
}

/// Everything logged so far by every test in this binary, at debug level and above (the
/// handler's own lines, azure_identity's and reqwest's).
pub fn logs() -> String {
    LOGS.get().map(Captured::text).unwrap_or_default()
}

pub fn assert_no_secret(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

/// Captures everything logged, so tests can assert that no secret ever was.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Debug and above, less the HTTP stacks' chatter, to the test output and to the capture
    /// (as JSON there: two layers with one field formatter would write each span field twice).
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let sink = self.clone();
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,hyper=info,hyper_util=info,h2=info,axum=info",
        );
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_test_writer(),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(move || sink.clone()),
            )
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

impl TestApp {
    /// Sends a batch of event bodies as the host would, binary many, no retry policy.
    pub async fn match_events(&self, events: &[Vec<u8>]) -> HostResult {
        self.match_events_as(events, Declared::ManyBinary, None)
            .await
    }

    pub async fn match_events_as(
        &self,
        events: &[Vec<u8>],
        declared: Declared,
        retry: Option<Retry>,
    ) -> HostResult {
        let body = host_sim::invocation(events, declared, retry, 42);
        let result = host_sim::invoke(&self.client, &self.address, "MatchEvents", &body).await;
        if result.succeeded {
            assert_accounting(&result, events.len());
        }
        result
    }
}

/// The accounting invariant, read from the answer: every event is matched, clean or
/// dead-lettered, once.
pub fn assert_accounting(result: &HostResult, events: usize) {
    let line = result
        .logs()
        .into_iter()
        .find(|l| l.starts_with("MatchEvents"))
        .expect("a summary line");
    let field = |name: &str| summary_field(&line, name);
    assert_eq!(field("events"), events, "{line}");
    assert_eq!(
        field("matched") + field("clean") + field("dead-lettered"),
        events,
        "{line}"
    );
    assert_eq!(field("dead-lettered"), result.dead_events().len(), "{line}");
}

pub fn hashes_of(messages: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = messages
        .iter()
        .map(|m| m["hash"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

/// A counter from a batch summary line (`name=N`).
pub fn summary_field(line: &str, name: &str) -> usize {
    let start = line
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("{name} in {line}"))
        + name.len()
        + 1;
    line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
