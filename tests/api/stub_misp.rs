//! A stub MISP on loopback that implements restSearch semantics (`docs/sources.md` §4): each value
//! matched exactly against value1 or value2 (the halves of a composite), case-insensitively;
//! `type`, `to_ids`, `published` filters applied only when sent (MISP adds none for json);
//! soft-deleted attributes excluded unless `deleted` asks for them; attributes marked
//! warninglisted excluded when `enforceWarninglist` is set (MISP drops what its enabled lists
//! hold); a wrong key gets 403. Network values (`ip-dst|port`, `domain|ip`, `hostname|port`) are
//! found through either half, as MISP's `value1`/`value2`; a CIDR value only by itself.
//! Faults can be switched on to answer like a broken server. It is a [`MockServer`] of
//! `stub_http` (never a wiremock one, see there) with restSearch mounted; tests mount other
//! MISP routes (sightings) on it like on any stub.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::stub_http::matchers::{method, path};
use crate::stub_http::{Mock, MockServer, Request, Respond, ResponseTemplate};

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
    /// On a warninglist MISP has enabled: left out when a search enforces them.
    pub warninglisted: bool,
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
            warninglisted: false,
        }
    }

    /// The same attribute, on one of the server's enabled warninglists.
    pub fn warninglisted(mut self) -> Self {
        self.warninglisted = true;
        self
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
    /// The first n requests fail with the inner fault; the later ones are answered.
    First(usize, Box<Fault>),
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

fn json_reply(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// `POST /attributes/restSearch`, answered from the stub's knowledge and the fault in force.
struct RestSearch(Arc<Mutex<State>>);

impl Respond for RestSearch {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        answer(&self.0, request)
    }
}

fn answer(state: &Mutex<State>, request: &Request) -> ResponseTemplate {
    let mut state = state.lock().unwrap();
    let key = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if key != Some(MISP_KEY) {
        return json_reply(
            403,
            &json!({
        "name": "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
        "message": "Authentication failed.", "url": "/attributes/restSearch"}),
        );
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    state.bodies.push(body.clone());
    let fault = match state.fault.clone() {
        Fault::Every(n, inner) if state.bodies.len().is_multiple_of(n) => *inner,
        Fault::Every(..) => Fault::None,
        Fault::First(n, inner) if state.bodies.len() <= n => *inner,
        Fault::First(..) => Fault::None,
        other => other,
    };
    match fault {
        Fault::None => {}
        Fault::Status(s) => {
            return json_reply(
                s,
                &json!({"name": "An Internal Error Has Occurred.", "message": "x", "url": "/attributes/restSearch"}),
            );
        }
        Fault::RateLimited(secs) => {
            return ResponseTemplate::new(429)
                .insert_header("Retry-After", secs.to_string())
                .insert_header("X-Rate-Limit-Reset", secs.to_string());
        }
        Fault::Html => {
            return ResponseTemplate::new(200)
                .set_body_raw("<html><body>Login</body></html>", "text/html");
        }
        Fault::Truncated => {
            return ResponseTemplate::new(200).set_body_raw(
                &b"{\"response\": {\"Attribute\": [{\"id\":"[..],
                "application/json",
            );
        }
        Fault::Slow(d) => {
            return json_reply(200, &json!({"response": {"Attribute": []}})).set_delay(d);
        }
        Fault::WrongShape => return json_reply(200, &json!({"Attribute": "nope"})),
        Fault::Every(..) | Fault::First(..) => unreachable!("resolved above"),
    }
    // No `value`: a pull of everything (the IOC snapshot), page by page when it asks.
    let values = filter_values(body.get("value"));
    let types = filter_values(body.get("type"));
    let to_ids = flag_filter(body.get("to_ids"));
    let published = flag_filter(body.get("published"));
    let deleted = flag_filter(body.get("deleted")).unwrap_or_else(|| vec![false]);
    let enforce = flag_filter(body.get("enforceWarninglist")).is_some_and(|f| f.contains(&true));
    let hits: Vec<Value> = state
        .attributes
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            values
                .as_ref()
                .is_none_or(|v| a.halves().iter().any(|h| v.contains(h)))
        })
        .filter(|(_, a)| {
            types
                .as_ref()
                .is_none_or(|t| t.contains(&a.kind.to_string()))
        })
        .filter(|(_, a)| to_ids.as_ref().is_none_or(|f| f.contains(&a.to_ids)))
        .filter(|(_, a)| published.as_ref().is_none_or(|f| f.contains(&a.published)))
        .filter(|(_, a)| deleted.contains(&a.deleted))
        .filter(|(_, a)| !(enforce && a.warninglisted))
        .map(|(n, a)| a.to_json(n + 1))
        .collect();
    let hits: Vec<Value> = match (body["limit"].as_u64(), body["page"].as_u64()) {
        (Some(limit), Some(page)) if page > 0 => hits
            .into_iter()
            .skip(((page - 1) * limit) as usize)
            .take(limit as usize)
            .collect(),
        _ => hits,
    };
    let count = hits.len().to_string();
    json_reply(200, &json!({"response": {"Attribute": hits}}))
        .insert_header("X-Result-Count", count)
}

/// The stub server with its knowledge and its switches. It derefs to its [`MockServer`], for
/// tests that mount other routes on it or read every request it received.
pub struct StubMisp {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl Deref for StubMisp {
    type Target = MockServer;
    fn deref(&self) -> &MockServer {
        &self.server
    }
}

impl StubMisp {
    pub async fn start(attributes: Vec<StubAttribute>) -> Self {
        let state = Arc::new(Mutex::new(State {
            attributes,
            ..State::default()
        }));
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/attributes/restSearch"))
            .respond_with(RestSearch(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    pub fn url(&self) -> String {
        self.server.uri()
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
