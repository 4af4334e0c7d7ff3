//! A stub MISP on loopback that implements restSearch semantics (`docs/sources.md` §4): each value
//! matched exactly against value1 or value2 (the halves of a composite), case-insensitively;
//! `type`, `to_ids`, `published` filters applied only when sent (MISP adds none for json);
//! soft-deleted attributes excluded unless `deleted` asks for them; a wrong key gets 403.
//! Faults can be switched on to answer like a broken server.
//!
//! It is a small axum server on its own task, not a wiremock `MockServer`: wiremock's `Drop`
//! blocks on a tokio lock with `futures::executor::block_on`, which never completes on a runtime
//! thread whose cooperative budget is spent, and that hung the load test at its end.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const MISP_KEY: &str = "Tst0MispKey0Never0Logged0abcdefghijklmnop";

/// One attribute the stub knows.
#[derive(Debug, Clone)]
pub struct StubAttribute {
    pub kind: &'static str,
    pub value: String,
    pub to_ids: bool,
    pub deleted: bool,
    pub published: bool,
    pub event_id: u32,
    pub info: String,
    pub threat_level: u8,
}

impl StubAttribute {
    pub fn ids(kind: &'static str, value: impl Into<String>, event_id: u32) -> Self {
        Self {
            kind,
            value: value.into(),
            to_ids: true,
            deleted: false,
            published: true,
            event_id,
            info: format!("Test event {event_id}"),
            threat_level: 1,
        }
    }

    fn halves(&self) -> Vec<String> {
        self.value
            .split('|')
            .map(|s| s.to_ascii_lowercase())
            .collect()
    }

    fn uuid(&self, n: usize) -> String {
        format!("00000000-0000-4000-8000-{n:012}")
    }

    fn to_json(&self, n: usize) -> Value {
        json!({
            "id": n.to_string(), "event_id": self.event_id.to_string(), "object_id": "0", "object_relation": null,
            "category": "Payload delivery", "type": self.kind, "to_ids": self.to_ids, "uuid": self.uuid(n),
            "timestamp": "1700000000", "distribution": "5", "sharing_group_id": "0", "comment": "",
            "deleted": self.deleted, "disable_correlation": false, "first_seen": null, "last_seen": null,
            "value": self.value,
            "Event": {
                "id": self.event_id.to_string(), "orgc_id": "1", "org_id": "1", "date": "2026-11-01",
                "threat_level_id": self.threat_level.to_string(), "info": self.info, "published": self.published,
                "uuid": format!("11111111-0000-4000-8000-{:012}", self.event_id), "analysis": "2",
                "timestamp": "1700000000", "distribution": "1", "publish_timestamp": "1700000001",
                "sharing_group_id": "0", "extends_uuid": "",
                "Tag": [{"local": 0, "id": "4", "name": "tlp:amber", "colour": "#FFC000", "numerical_value": null}],
                "Orgc": {"id": "1", "name": "Test CERT", "uuid": "22222222-0000-4000-8000-000000000000", "local": true}
            },
            "Tag": [{"id": "4", "name": "tlp:amber", "colour": "#FFC000", "numerical_value": null, "inherited": 1}]
        })
    }
}

/// How the stub misbehaves.
#[derive(Debug, Clone, Default)]
pub enum Fault {
    #[default]
    None,
    Status(u16),
    RateLimited(u64),
    Html,
    Truncated,
    Slow(std::time::Duration),
    WrongShape,
    /// Every n-th request fails with the inner fault; the others are answered.
    Every(usize, Box<Fault>),
}

#[derive(Default)]
struct State {
    attributes: Vec<StubAttribute>,
    fault: Fault,
    bodies: Vec<Value>,
}

fn filter_values(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(a) => Some(
            a.iter()
                .map(|x| x.to_string().trim_matches('"').to_ascii_lowercase())
                .collect(),
        ),
        Value::Null => None,
        x => Some(vec![x.to_string().trim_matches('"').to_ascii_lowercase()]),
    }
}

fn flag_filter(v: Option<&Value>) -> Option<Vec<bool>> {
    filter_values(v).map(|vals| vals.iter().map(|s| s == "1" || s == "true").collect())
}

fn json_reply(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status");
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `POST /attributes/restSearch`. The fault in force is read under the lock; a slow answer waits
/// after the lock is released, so other requests are served meanwhile.
async fn rest_search(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (delay, reply) = answer(&state, &headers, &body);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    reply
}

fn answer(
    state: &Mutex<State>,
    headers: &HeaderMap,
    body: &[u8],
) -> (Option<std::time::Duration>, Response) {
    let mut state = state.lock().unwrap();
    {
        let key = headers.get("authorization").and_then(|v| v.to_str().ok());
        if key != Some(MISP_KEY) {
            return (
                None,
                json_reply(
                    403,
                    &json!({
                "name": "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
                "message": "Authentication failed.", "url": "/attributes/restSearch"}),
                ),
            );
        }
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        state.bodies.push(body.clone());
        let fault = match state.fault.clone() {
            Fault::Every(n, inner) if state.bodies.len().is_multiple_of(n) => *inner,
            Fault::Every(..) => Fault::None,
            other => other,
        };
        match fault {
            Fault::None => {}
            Fault::Status(s) => {
                return (
                    None,
                    json_reply(
                        s,
                        &json!({"name": "An Internal Error Has Occurred.", "message": "x", "url": "/attributes/restSearch"}),
                    ),
                );
            }
            Fault::RateLimited(secs) => {
                let secs = secs.to_string();
                let reply = (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("Retry-After", secs.clone()), ("X-Rate-Limit-Reset", secs)],
                )
                    .into_response();
                return (None, reply);
            }
            Fault::Html => {
                let reply = (
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body>Login</body></html>",
                )
                    .into_response();
                return (None, reply);
            }
            Fault::Truncated => {
                let reply = (
                    [(header::CONTENT_TYPE, "application/json")],
                    &b"{\"response\": {\"Attribute\": [{\"id\":"[..],
                )
                    .into_response();
                return (None, reply);
            }
            Fault::Slow(d) => {
                return (
                    Some(d),
                    json_reply(200, &json!({"response": {"Attribute": []}})),
                );
            }
            Fault::WrongShape => {
                return (None, json_reply(200, &json!({"Attribute": "nope"})));
            }
            Fault::Every(..) => unreachable!("resolved above"),
        }
        let values = filter_values(body.get("value")).unwrap_or_default();
        let types = filter_values(body.get("type"));
        let to_ids = flag_filter(body.get("to_ids"));
        let published = flag_filter(body.get("published"));
        let deleted = flag_filter(body.get("deleted")).unwrap_or_else(|| vec![false]);
        let hits: Vec<Value> = state
            .attributes
            .iter()
            .enumerate()
            .filter(|(_, a)| a.halves().iter().any(|h| values.contains(h)))
            .filter(|(_, a)| {
                types
                    .as_ref()
                    .is_none_or(|t| t.contains(&a.kind.to_string()))
            })
            .filter(|(_, a)| to_ids.as_ref().is_none_or(|f| f.contains(&a.to_ids)))
            .filter(|(_, a)| published.as_ref().is_none_or(|f| f.contains(&a.published)))
            .filter(|(_, a)| deleted.contains(&a.deleted))
            .map(|(n, a)| a.to_json(n + 1))
            .collect();
        let count = hits.len().to_string();
        let mut reply = json_reply(200, &json!({"response": {"Attribute": hits}}));
        reply
            .headers_mut()
            .insert("X-Result-Count", count.parse().expect("a header value"));
        (None, reply)
    }
}

/// The stub server with its knowledge and its switches.
pub struct StubMisp {
    url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StubMisp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StubMisp {
    pub async fn start(attributes: Vec<StubAttribute>) -> Self {
        let state = Arc::new(Mutex::new(State {
            attributes,
            ..State::default()
        }));
        let app = Router::new()
            .route("/attributes/restSearch", post(rest_search))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the stub serves");
        });
        Self { url, state, server }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn set_fault(&self, fault: Fault) {
        self.state.lock().unwrap().fault = fault;
    }

    /// restSearch requests received so far.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().bodies.len()
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.state.lock().unwrap().bodies.clone()
    }
}

/// Spends the task's whole cooperative budget (tokio grants 128 operations per poll) without
/// yielding, as the end of a busy test does.
async fn spend_the_task_budget() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..128 {
        tx.send(i).unwrap();
    }
    tokio::task::yield_now().await;
    for _ in 0..128 {
        rx.recv().await;
    }
}

/// The load test hung at its end: a wiremock `MockServer` dropped on a task whose budget is spent
/// never returns (checked: this test hangs with one in place of the stub). The stub must drop at
/// once whatever the budget; a watchdog turns a hang into a failure.
#[test]
fn the_stub_drops_at_once_even_when_the_task_budget_is_spent() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let misp = StubMisp::start(Vec::new()).await;
            spend_the_task_budget().await;
            drop(misp);
        });
        let _ = done.send(());
    });
    assert!(
        finished
            .recv_timeout(std::time::Duration::from_secs(20))
            .is_ok(),
        "dropping the stub MISP did not return"
    );
}
