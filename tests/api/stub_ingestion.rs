//! A Logs Ingestion API stub on loopback that answers like the service, as Microsoft Learn describes it:
//!
//! - `POST {endpoint}/dataCollectionRules/{DCR immutable id}/streams/{stream}?api-version=2023-01-01`,
//!   a JSON array of objects, `Content-Encoding: gzip` optional, 204 when accepted
//!   (<https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview#rest-api-call>,
//!   <https://learn.microsoft.com/azure/azure-monitor/logs/tutorial-logs-ingestion-code>);
//! - each property is kept only when the stream declares a column of exactly that name, the rest
//!   dropped without an error (the stream "contains a full list of top-level properties that are
//!   contained in the JSON data you send",
//!   <https://learn.microsoft.com/azure/azure-monitor/data-collection/data-collection-rule-structure#stream-declarations>);
//!   a value whose JSON type does not fit the column lands as null, recorded as a mismatch;
//! - a call over 1 MB, compressed or not, is refused with 413
//!   (<https://learn.microsoft.com/azure/azure-monitor/fundamentals/service-limits#logs-ingestion-api>;
//!   the stub reads "1 MB" strictly, as 10^6 bytes);
//! - throttling answers 429 with `Retry-After`; a token that is not the granted one answers 403
//!   (the troubleshooting table: "Ensure that you have the correct permissions for your application
//!   to the DCR"), no or an unknown bearer 401.
//!
//! Unknown rule or stream: 404 (the stub's choice; the docs do not say). The declared columns come
//! from `infra/modules/sentinel/matches-table.json`, the file the Bicep loads.

use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

/// The largest call the stub accepts, before and after decompression.
pub const MAX_CALL_BYTES: usize = 1_000_000;

/// A column of the stream declaration.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: String,
}

/// The columns the Bicep declares, read from the one definition.
pub fn declared_columns() -> Vec<Column> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/infra/modules/sentinel/matches-table.json"
    );
    let text = std::fs::read_to_string(path).expect("the columns file");
    let list: Vec<Value> = serde_json::from_str(&text).expect("the columns file is JSON");
    list.iter()
        .map(|c| Column {
            name: c["name"].as_str().expect("a name").to_owned(),
            kind: c["type"].as_str().expect("a type").to_owned(),
        })
        .collect()
}

/// Whether a JSON value fits a stream column type. `null` fits every column.
pub fn fits(kind: &str, value: &Value) -> bool {
    match (kind, value) {
        (_, Value::Null) => true,
        ("string", Value::String(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("int", Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        ("long", Value::Number(n)) => n.as_i64().is_some(),
        ("real", Value::Number(_)) => true,
        ("dynamic", Value::Object(_) | Value::Array(_)) => true,
        ("datetime", Value::String(s)) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }
        _ => false,
    }
}

/// What the stub does with the next calls.
#[derive(Debug, Clone, Copy, Default)]
pub enum Mode {
    #[default]
    Accept,
    /// 429 with `Retry-After` for the next `n` calls.
    Throttle { n: u32, retry_after_secs: u64 },
}

/// One call as the stub saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub status: u16,
    pub gzip: bool,
    pub bytes: usize,
}

#[derive(Default)]
struct State {
    dcr: String,
    stream: String,
    columns: Vec<Column>,
    granted: String,
    known: Vec<String>,
    mode: Mode,
    calls: Vec<Call>,
    /// Rows as the table holds them: every declared column, null when absent or unfit.
    landed: Vec<Map<String, Value>>,
    /// Rows as sent (after decompression), for the contract checks.
    sent: Vec<Value>,
    dropped: Vec<String>,
    mismatches: Vec<String>,
}

/// The stub; aborted when dropped.
pub struct IngestionStub {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for IngestionStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl IngestionStub {
    /// A stub for rule `dcr` and `stream` that accepts the bearer `granted` and answers 403 to the
    /// other `known` bearers.
    pub async fn start(dcr: &str, stream: &str, granted: &str, known: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            dcr: dcr.into(),
            stream: stream.into(),
            columns: declared_columns(),
            granted: granted.into(),
            known: known.iter().map(|s| (*s).to_owned()).collect(),
            ..State::default()
        }));
        let app = Router::new()
            .route("/dataCollectionRules/{dcr}/streams/{stream}", post(ingest))
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

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }
    pub fn landed(&self) -> Vec<Map<String, Value>> {
        self.state.lock().unwrap().landed.clone()
    }
    pub fn sent(&self) -> Vec<Value> {
        self.state.lock().unwrap().sent.clone()
    }
    pub fn dropped(&self) -> Vec<String> {
        self.state.lock().unwrap().dropped.clone()
    }
    pub fn mismatches(&self) -> Vec<String> {
        self.state.lock().unwrap().mismatches.clone()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn ingest(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    Path((dcr, stream)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query(&uri);
    let mut s = state.lock().unwrap();
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let response = answer(&mut s, &dcr, &stream, &query, &headers, gzip, &body);
    s.calls.push(Call {
        status: response.status().as_u16(),
        gzip,
        bytes: body.len(),
    });
    response
}

fn answer(
    s: &mut State,
    dcr: &str,
    stream: &str,
    query: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
    gzip: bool,
    body: &[u8],
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match bearer {
        Some(t) if t == s.granted => {}
        Some(t) if s.known.iter().any(|k| k == t) => {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The authentication token provided does not have access to ingest data for the data collection rule",
            );
        }
        _ => {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidToken",
                "no valid bearer token",
            );
        }
    }
    if let Mode::Throttle {
        n,
        retry_after_secs,
    } = s.mode
    {
        s.mode = if n > 1 {
            Mode::Throttle {
                n: n - 1,
                retry_after_secs,
            }
        } else {
            Mode::Accept
        };
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "throttled",
        );
        r.headers_mut().insert(
            header::RETRY_AFTER,
            retry_after_secs.to_string().parse().unwrap(),
        );
        return r;
    }
    if query.get("api-version").map(String::as_str) != Some("2023-01-01") {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersion",
            "api-version 2023-01-01 expected",
        );
    }
    if dcr != s.dcr || stream != s.stream {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such data collection rule or stream",
        );
    }
    if body.len() > MAX_CALL_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
            "the call is over 1 MB",
        );
    }
    let text = if gzip {
        let mut out = Vec::new();
        let mut reader = flate2::read::GzDecoder::new(body).take(MAX_CALL_BYTES as u64 + 1);
        if reader.read_to_end(&mut out).is_err() {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidContent",
                "the body is not gzip",
            );
        }
        if out.len() > MAX_CALL_BYTES {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ContentLengthLimitExceeded",
                "the uncompressed call is over 1 MB",
            );
        }
        out
    } else {
        body.to_vec()
    };
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(&text) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidContent",
            "the body is not a JSON array",
        );
    };
    for row in rows {
        let Value::Object(fields) = &row else {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidContent",
                "an item is not a JSON object",
            );
        };
        let mut stored = Map::new();
        for c in &s.columns {
            let value = fields.get(&c.name).cloned().unwrap_or(Value::Null);
            if fits(&c.kind, &value) {
                stored.insert(c.name.clone(), value);
            } else {
                s.mismatches
                    .push(format!("{}: {} does not fit {}", c.name, value, c.kind));
                stored.insert(c.name.clone(), Value::Null);
            }
        }
        let declared: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
        for name in fields.keys().filter(|k| !declared.contains(k)) {
            s.dropped.push(name.clone());
        }
        s.landed.push(stored);
        s.sent.push(row);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The query string of `uri` as a map.
fn query(uri: &Uri) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}
