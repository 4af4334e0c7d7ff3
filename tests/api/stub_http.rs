//! A stub HTTP server on loopback for the integration tests: an axum server on its own task that
//! records every request and answers with the first mounted [`Mock`] that matches it (by priority,
//! then mount order; 404 when none does). Its API is the part of wiremock's the tests use
//! (`Mock::given(…).and(…).respond_with(…).mount(&server)`, `received_requests`), so tests read
//! the same; but it is not a wiremock `MockServer`, whose `Drop` blocks on a tokio lock with
//! `futures::executor::block_on` and so never returns on a runtime thread whose cooperative
//! budget is spent (that hung the load test). Dropping this server only aborts its task.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A request as the stub received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: url::Url,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// What a stub answers.
#[derive(Debug, Clone)]
pub struct ResponseTemplate {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Option<Duration>,
}

impl ResponseTemplate {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: None,
        }
    }

    pub fn set_body_json(self, body: impl Serialize) -> Self {
        let bytes = serde_json::to_vec(&body).expect("a JSON body");
        self.set_body_raw(bytes, "application/json")
    }

    pub fn set_body_raw(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = body.into();
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("content-type".into(), content_type.into()));
        self
    }

    pub fn insert_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// Answers only after `delay` (the server keeps serving other requests meanwhile).
    pub fn set_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).expect("a valid status");
        let mut response = (status, self.body).into_response();
        for (k, v) in self.headers {
            response.headers_mut().insert(
                HeaderName::try_from(k).expect("a header name"),
                HeaderValue::try_from(v).expect("a header value"),
            );
        }
        response
    }
}

/// Computes the answer to a request.
pub trait Respond: Send + Sync {
    fn respond(&self, request: &Request) -> ResponseTemplate;
}

impl Respond for ResponseTemplate {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.clone()
    }
}

/// What a request must have for a mock to answer it.
pub mod matchers {
    /// One condition on a request.
    #[derive(Debug, Clone)]
    pub enum Matcher {
        Method(String),
        Path(String),
        PathPrefix(String),
        Header(String, String),
        QueryParam(String, String),
    }

    pub fn method(m: &str) -> Matcher {
        Matcher::Method(m.to_ascii_uppercase())
    }

    pub fn path(p: impl Into<String>) -> Matcher {
        Matcher::Path(p.into())
    }

    pub fn path_prefix(p: impl Into<String>) -> Matcher {
        Matcher::PathPrefix(p.into())
    }

    pub fn header(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher::Header(name.into(), value.into())
    }

    pub fn query_param(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher::QueryParam(name.into(), value.into())
    }

    impl Matcher {
        pub(super) fn matches(&self, r: &super::Request) -> bool {
            match self {
                Matcher::Method(m) => r.method.as_str() == m,
                Matcher::Path(p) => r.url.path() == p,
                Matcher::PathPrefix(p) => r.url.path().starts_with(p.as_str()),
                Matcher::Header(k, v) => r
                    .headers
                    .get_all(k.as_str())
                    .iter()
                    .any(|h| h.to_str().is_ok_and(|h| h == v)),
                Matcher::QueryParam(k, v) => {
                    r.url.query_pairs().any(|(qk, qv)| qk == *k && qv == *v)
                }
            }
        }
    }
}

use matchers::Matcher;

/// Conditions being gathered for a mock.
pub struct MockBuilder {
    matchers: Vec<Matcher>,
}

impl MockBuilder {
    pub fn and(mut self, matcher: Matcher) -> Self {
        self.matchers.push(matcher);
        self
    }

    pub fn respond_with(self, responder: impl Respond + 'static) -> Mock {
        Mock {
            matchers: self.matchers,
            responder: Arc::new(responder),
            limit: None,
            priority: 5,
        }
    }
}

/// A rule of a stub server: conditions, an answer, how many times, and its priority.
#[derive(Clone)]
pub struct Mock {
    matchers: Vec<Matcher>,
    responder: Arc<dyn Respond>,
    limit: Option<usize>,
    priority: u8,
}

impl Mock {
    pub fn given(matcher: Matcher) -> MockBuilder {
        MockBuilder {
            matchers: vec![matcher],
        }
    }

    /// Answers at most `n` requests, then lets the next mock answer.
    pub fn up_to_n_times(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Lower numbers are tried first (default 5).
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    pub async fn mount(self, server: &MockServer) {
        let mut shared = server.shared.lock().unwrap();
        shared.mocks.push(self);
        // A stable sort keeps mount order among equal priorities.
        shared.mocks.sort_by_key(|m| m.priority);
    }
}

#[derive(Default)]
struct Shared {
    mocks: Vec<Mock>,
    received: Vec<Request>,
}

/// A stub server; dropping it stops it at once.
pub struct MockServer {
    uri: String,
    shared: Arc<Mutex<Shared>>,
    task: Option<tokio::task::AbortHandle>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl MockServer {
    /// A server on a loopback port the system chose, serving from a task of the current runtime.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let uri = format!("http://{}", listener.local_addr().expect("bound"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .fallback(answer)
            .with_state((uri.clone(), shared.clone()));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the stub serves");
        });
        Self {
            uri,
            shared,
            task: Some(task.abort_handle()),
        }
    }

    /// Another handle on the same server that does not stop it when dropped.
    pub fn view(&self) -> Self {
        Self {
            uri: self.uri.clone(),
            shared: self.shared.clone(),
            task: None,
        }
    }

    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// Every request received so far, in order.
    pub async fn received_requests(&self) -> Option<Vec<Request>> {
        Some(self.shared.lock().unwrap().received.clone())
    }
}

/// Records the request and answers with the first mock that matches and has uses left. The lock
/// is released before a delayed answer waits.
async fn answer(
    State((base, shared)): State<(String, Arc<Mutex<Shared>>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let request = Request {
        method,
        url: url::Url::parse(&format!("{base}{path}")).expect("a request URL"),
        headers,
        body: body.to_vec(),
    };
    let template = {
        let mut shared = shared.lock().unwrap();
        shared.received.push(request.clone());
        let mock = shared.mocks.iter_mut().find(|m| {
            m.limit != Some(0) && m.matchers.iter().all(|matcher| matcher.matches(&request))
        });
        mock.map(|m| {
            if let Some(n) = &mut m.limit {
                *n -= 1;
            }
            m.responder.clone()
        })
    };
    let template = match template {
        Some(responder) => responder.respond(&request),
        None => ResponseTemplate::new(404),
    };
    if let Some(delay) = template.delay {
        tokio::time::sleep(delay).await;
    }
    template.into_response()
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
/// never returns (checked: this test hangs with one in place of these stubs). Every stub here
/// must drop at once whatever the budget; a watchdog turns a hang into a failure.
#[test]
fn the_stubs_drop_at_once_even_when_the_task_budget_is_spent() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = MockServer::start().await;
            let misp = crate::stub_misp::StubMisp::start(Vec::new()).await;
            spend_the_task_budget().await;
            drop(server);
            drop(misp);
        });
        let _ = done.send(());
    });
    assert!(
        finished
            .recv_timeout(std::time::Duration::from_secs(20))
            .is_ok(),
        "dropping a stub server did not return"
    );
}

#[tokio::test]
async fn mocks_answer_by_priority_and_uses_left_and_everything_is_recorded() {
    use matchers::{header, method, path, query_param};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/a"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/a"))
        .and(header("authorization", "Bearer t"))
        .and(query_param("v", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": 1})))
        .mount(&server)
        .await;
    let client = reqwest::Client::new();
    let post = |auth: &'static str| {
        client
            .post(format!("{}/a?v=1", server.uri()))
            .header("authorization", auth)
            .body("x")
            .send()
    };
    assert_eq!(post("Bearer t").await.unwrap().status(), 500);
    let ok = post("Bearer t").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/json");
    assert_eq!(ok.text().await.unwrap(), r#"{"ok":1}"#);
    assert_eq!(post("Bearer other").await.unwrap().status(), 404);
    let seen = server.received_requests().await.unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        (seen[2].url.path(), seen[2].body.as_slice()),
        ("/a", &b"x"[..])
    );
}
