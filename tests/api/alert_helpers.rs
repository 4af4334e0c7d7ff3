//! What the `RaiseAlerts` tests share: the queue invocation the host sends for a message, a
//! match to send, the stub Defender's answers, and reading what the stubs received.

use serde_json::{Value, json};

use crate::helpers::{DEFENDER_TOKEN, TestApp, assert_no_secret, logs};
use crate::stub_http::matchers::{header, method, path};
use crate::stub_http::{Mock, MockServer, Request, ResponseTemplate};

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

/// What the handler answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub logs: String,
}

impl TestApp {
    /// POSTs a host-shaped queue invocation and checks the host contract on the answer.
    pub async fn post_match(&self, message: &Value, dequeue_count: u32) -> Reply {
        self.post_raw(&queue_invocation(message, dequeue_count))
            .await
    }

    pub async fn post_raw(&self, body: &Value) -> Reply {
        let response = self
            .client
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
    pub async fn defender_calls(&self, route: &str) -> Vec<Request> {
        calls(&self.defender, route).await
    }
}

pub async fn calls(server: &MockServer, route: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == route)
        .collect()
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

pub fn json_body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}
