//! A host simulator built from the host's source (`docs/sources.md` §1): it builds invocation
//! requests exactly as the Functions host does for an Event Hub trigger (Data as a JSON string
//! holding a JSON array of base64 bodies; every `*Array` metadata value double-encoded; DateTimes
//! without `Z`; RetryContext as an object), sends them chunked with the host's headers, and reads
//! the answer as the host would: only a 2xx with `application/json` counts, output keys are
//! case-sensitive, and a queue output that is a JSON array becomes one message per element.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// How function.json declares the trigger, which decides the wire shape of `Data.events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    ManyBinary,
    ManyString,
    ManyUnset,
    OneString,
}

/// The retry state the host reports.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub count: i64,
    pub max: i64,
}

pub fn partition_context(partition: &str) -> Value {
    json!({"IsCheckpointingAfterInvocation": true, "FullyQualifiedNamespace": "myns.servicebus.windows.net",
           "EventHubName": "defender", "ConsumerGroup": "defender-misp", "PartitionId": partition})
}

fn enc(v: Value) -> Value {
    Value::String(serde_json::to_string(&v).unwrap())
}

/// The invocation body for `events` on partition 0 starting at sequence number `first_seq`.
pub fn invocation(
    events: &[Vec<u8>],
    declared: Declared,
    retry: Option<Retry>,
    first_seq: i64,
) -> Value {
    let n = events.len() as i64;
    let data = match declared {
        Declared::ManyBinary => enc(Value::Array(
            events
                .iter()
                .map(|e| Value::String(STANDARD.encode(e)))
                .collect(),
        )),
        Declared::ManyString => enc(Value::Array(
            events
                .iter()
                .map(|e| Value::String(String::from_utf8_lossy(e).into_owned()))
                .collect(),
        )),
        Declared::ManyUnset => enc(Value::Array(
            events
                .iter()
                .map(|e| serde_json::from_slice(e).expect("unset dataType needs JSON bodies"))
                .collect(),
        )),
        Declared::OneString => enc(Value::String(
            String::from_utf8_lossy(&events[0]).into_owned(),
        )),
    };
    let mut meta = Map::new();
    meta.insert("TriggerPartitionContext".into(), partition_context("0"));
    meta.insert("PartitionContext".into(), partition_context("0"));
    if declared == Declared::OneString {
        meta.insert("PartitionKey".into(), enc(json!("dev-1")));
        meta.insert("Offset".into(), enc(json!(first_seq * 512)));
        meta.insert(
            "OffsetString".into(),
            enc(json!((first_seq * 512).to_string())),
        );
        meta.insert("SequenceNumber".into(), enc(json!(first_seq)));
        meta.insert("EnqueuedTimeUtc".into(), json!("2024-05-01T12:00:00"));
        meta.insert("Properties".into(), json!({}));
    } else {
        let seqs: Vec<i64> = (first_seq..first_seq + n).collect();
        meta.insert(
            "PartitionKeyArray".into(),
            enc(Value::Array(vec![Value::Null; events.len()])),
        );
        meta.insert(
            "OffsetArray".into(),
            enc(json!(
                seqs.iter()
                    .map(|s| (s * 512).to_string())
                    .collect::<Vec<_>>()
            )),
        );
        meta.insert(
            "OffsetStringArray".into(),
            enc(json!(
                seqs.iter()
                    .map(|s| (s * 512).to_string())
                    .collect::<Vec<_>>()
            )),
        );
        meta.insert("SequenceNumberArray".into(), enc(json!(seqs)));
        meta.insert(
            "EnqueuedTimeUtcArray".into(),
            enc(json!(
                seqs.iter()
                    .map(|s| format!("2024-05-01T12:00:{:02}.5", s % 60))
                    .collect::<Vec<_>>()
            )),
        );
        meta.insert(
            "PropertiesArray".into(),
            enc(Value::Array(vec![json!({}); events.len()])),
        );
        meta.insert(
            "SystemPropertiesArray".into(),
            enc(json!(
                seqs.iter()
                    .map(|s| json!({"x-opt-sequence-number": s, "SequenceNumber": s}))
                    .collect::<Vec<_>>()
            )),
        );
    }
    meta.insert(
        "sys".into(),
        json!({"MethodName": "MatchEvents", "UtcNow": "2024-05-01T12:00:02.2205399Z", "RandGuid": "24ad4c06-24ad-4e5b-8294-3da9714877e9"}),
    );
    if let Some(r) = retry {
        meta.insert(
            "RetryContext".into(),
            json!({"RetryCount": r.count, "MaxRetryCount": r.max, "Exception": null, "Instance": null, "State": {}}),
        );
    }
    json!({"Data": {"events": data}, "Metadata": meta})
}

/// What the host makes of the handler's answer.
#[derive(Debug)]
pub struct HostResult {
    pub status: u16,
    /// The parsed body (also on failure, for the test's eyes; the host ignores it then).
    pub body: Value,
    pub succeeded: bool,
}

impl HostResult {
    fn output(&self, name: &str) -> Option<&Value> {
        let outputs = self
            .body
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("outputs"))?
            .1;
        outputs.get(name).filter(|v| !v.is_null())
    }

    /// The queue messages the host would write for the `matches` binding.
    pub fn queue_messages(&self) -> Vec<Value> {
        match self.output("matches") {
            Some(Value::Array(items)) => items.clone(),
            Some(other) => vec![other.clone()],
            None => vec![],
        }
    }

    /// The blob the host would write for the `deadletter` binding.
    pub fn dead_letter(&self) -> Option<Value> {
        self.output("deadletter").cloned()
    }

    pub fn logs(&self) -> Vec<String> {
        self.body
            .get("Logs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Dead-lettered events, from the blob (empty when none).
    pub fn dead_events(&self) -> Vec<Value> {
        self.dead_letter()
            .and_then(|d| d.get("events").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    }
}

/// Sends an invocation as the host does: POST /<function>, chunked, with the host's headers.
pub async fn invoke(
    client: &reqwest::Client,
    base: &str,
    function: &str,
    body: &Value,
) -> HostResult {
    let bytes = serde_json::to_vec(body).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = client
        .post(format!("{base}/{function}"))
        .header("X-Azure-Functions-HostVersion", "4.1045.200.25556")
        .header(
            "X-Azure-Functions-InvocationId",
            "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        )
        .header("User-Agent", "Azure-Functions-Host/4.1045.200.25556")
        .header("Content-Type", "application/json; charset=utf-8")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("the handler answers");
    let status = response.status().as_u16();
    let json_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/json"));
    let text = response.text().await.unwrap();
    assert!(
        !text.is_empty(),
        "the host hangs on an empty body; the handler must always answer JSON"
    );
    assert!(
        json_type,
        "the host rejects a response that is not application/json"
    );
    let body: Value = serde_json::from_str(&text).expect("the answer is JSON");
    HostResult {
        status,
        succeeded: (200..300).contains(&status),
        body,
    }
}
