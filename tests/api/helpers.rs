//! `spawn_app()`: the real router on a real loopback port, configured from a settings map as the
//! Functions host would set app settings, in front of a stub MISP.

use std::collections::HashMap;

use defender_misp::alerts::AlertConfig;
use defender_misp::config::{MatchConfig, ServeConfig};
use defender_misp::intel::config::MispSettings;
use defender_misp::startup::Application;
use serde_json::Value;

use crate::host_sim::{self, Declared, HostResult, Retry};
use crate::stub_misp::{MISP_KEY, StubAttribute, StubMisp};

pub struct TestApp {
    pub address: String,
    pub misp: StubMisp,
    pub client: reqwest::Client,
}

pub fn settings(misp_url: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
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

pub async fn spawn_app(attributes: Vec<StubAttribute>) -> TestApp {
    spawn_app_with(attributes, &[]).await
}

/// Sends the handler's logs to the test output at debug level, so that the CI log scan sees
/// everything the handler and its HTTP clients log.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug,hyper=info,hyper_util=info,h2=info,wiremock=info")
        .with_ansi(false)
        .with_test_writer()
        .try_init();
}

pub async fn spawn_app_with(attributes: Vec<StubAttribute>, extra: &[(&str, &str)]) -> TestApp {
    init_logs();
    let misp = StubMisp::start(attributes).await;
    let env = settings(&misp.url(), extra);
    let config = ServeConfig {
        port: 0,
        misp: MispSettings::from_env(&env).expect("valid MISP settings"),
        matching: MatchConfig::from_env(&env).expect("valid matching settings"),
        alerts: AlertConfig::from_env(&env).expect("valid alert settings"),
    };
    let app = Application::build(config).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        misp,
        client: reqwest::Client::new(),
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
