//! The Functions host's side: Defender events, the invocation body the host sends for a batch
//! (binary many, a partition, a `RetryContext`), and what its answer means.
//! Shared with `tests/api` (its ignored load tests), which use part of it.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// Lowercase hex of `len` characters, different for every (seed, salt).
pub fn hex(len: usize, seed: u64, salt: u64) -> String {
    use std::fmt::Write;
    let mut state = seed.wrapping_mul(0x9e3779b97f4a7c15) ^ salt.wrapping_mul(0xbf58476d1ce4e5b9);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        write!(out, "{:016x}", state ^ (state >> 29)).unwrap();
    }
    out.truncate(len);
    out
}

/// One DeviceFileEvents record: the file's SHA256 and the initiating process's SHA256.
pub fn record(report_id: u64, device: &str, file: &str, initiating: &str) -> Value {
    json!({
        "time": "2026-07-18T13:01:51.2820995Z", "tenantId": "4b8c18bd-2f9f-4227-af55-9f1061cf9c32",
        "operationName": "Publish", "category": "AdvancedHunting-DeviceFileEvents",
        "properties": {
            "Timestamp": "2026-07-18T12:59:31.2914446Z", "DeviceId": device, "DeviceName": "wks-1.corp.example",
            "ReportId": report_id, "ActionType": "FileCreated", "FileName": "setup.exe",
            "FolderPath": "C:\\Users\\alice\\Downloads\\setup.exe", "SHA256": file,
            "InitiatingProcessSHA256": initiating, "InitiatingProcessFileName": "explorer.exe",
            "InitiatingProcessFolderPath": "c:\\windows\\explorer.exe"
        }
    })
}

pub fn event(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "records": records })).unwrap()
}

fn enc(v: Value) -> Value {
    Value::String(serde_json::to_string(&v).unwrap())
}

/// The invocation's `Metadata` for `n` events from `first_seq` on `partition`, on the last attempt
/// of a retry policy of 3 (`RetryCount` 3 of `MaxRetryCount` 3).
pub fn metadata(n: usize, first_seq: i64, partition: u32) -> Map<String, Value> {
    let seqs: Vec<i64> = (first_seq..first_seq + n as i64).collect();
    let ctx = json!({"IsCheckpointingAfterInvocation": true, "FullyQualifiedNamespace": "myns.servicebus.windows.net",
        "EventHubName": "defender", "ConsumerGroup": "defender-misp", "PartitionId": partition.to_string()});
    let offsets: Vec<String> = seqs.iter().map(|s| (s * 4096).to_string()).collect();
    let times: Vec<String> = seqs
        .iter()
        .map(|s| format!("2024-05-01T12:00:{:02}.5", s % 60))
        .collect();
    let mut meta = Map::new();
    meta.insert("TriggerPartitionContext".into(), ctx.clone());
    meta.insert("PartitionContext".into(), ctx);
    meta.insert("OffsetStringArray".into(), enc(json!(offsets)));
    meta.insert("SequenceNumberArray".into(), enc(json!(seqs)));
    meta.insert("EnqueuedTimeUtcArray".into(), enc(json!(times)));
    meta.insert(
        "RetryContext".into(),
        json!({"RetryCount": 3, "MaxRetryCount": 3, "Exception": null}),
    );
    meta
}

/// The whole invocation body for small batches.
pub fn invocation(events: &[Vec<u8>], first_seq: i64, partition: u32) -> Vec<u8> {
    let data = enc(Value::Array(
        events
            .iter()
            .map(|e| Value::String(STANDARD.encode(e)))
            .collect(),
    ));
    let meta = metadata(events.len(), first_seq, partition);
    serde_json::to_vec(&json!({"Data": {"events": data}, "Metadata": meta})).unwrap()
}

/// What the handler's answer says about a batch.
#[derive(Debug, Default, Clone)]
pub struct Answer {
    pub status: u16,
    pub events: usize,
    pub matched: usize,
    pub clean: usize,
    pub dead: usize,
    /// Report ids of the records of matched and of dead-lettered events.
    pub matched_reports: HashSet<u64>,
    pub dead_reports: HashSet<u64>,
    /// Dead-letter reasons and how many events had each.
    pub reasons: BTreeMap<String, usize>,
    pub took: Duration,
    /// The transport error when there was no answer.
    pub error: Option<String>,
}

fn field(line: &str, name: &str) -> usize {
    line.split([' ', '(', ')'])
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn report_ids(body: &[u8]) -> Vec<u64> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["records"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["properties"]["ReportId"].as_u64())
        .collect()
}

impl Answer {
    pub fn read(status: u16, body: &[u8], took: Duration) -> Self {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let line = body["Logs"]
            .as_array()
            .and_then(|l| l.first())
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let mut a = Answer {
            status,
            events: field(&line, "events"),
            matched: field(&line, "matched"),
            clean: field(&line, "clean"),
            dead: field(&line, "dead-lettered"),
            took,
            ..Answer::default()
        };
        for m in body["Outputs"]["matches"].as_array().into_iter().flatten() {
            if let Some(r) = m["reportId"].as_str().and_then(|r| r.parse().ok()) {
                a.matched_reports.insert(r);
            }
        }
        for e in body["Outputs"]["deadletter"]["events"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let reason = e["reason"].as_str().unwrap_or("?");
            // Reasons carry counts and durations; group by their words.
            let key: String = reason
                .split_whitespace()
                .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
                .collect::<Vec<_>>()
                .join(" ");
            *a.reasons.entry(key).or_default() += 1;
            let bytes = STANDARD
                .decode(e["body"].as_str().unwrap_or(""))
                .unwrap_or_default();
            a.dead_reports.extend(report_ids(&bytes));
        }
        a
    }

    /// Events whose record both reached a match and was dead-lettered.
    pub fn matched_and_dead(&self) -> usize {
        self.dead_reports
            .intersection(&self.matched_reports)
            .count()
    }
}

/// POSTs an invocation as the host does and reads the answer; `timeout` cancels it.
pub async fn invoke(
    client: &reqwest::Client,
    base: &str,
    body: reqwest::Body,
    timeout: Option<Duration>,
) -> Answer {
    let started = Instant::now();
    let mut request = client
        .post(format!("{base}/MatchEvents"))
        .header("X-Azure-Functions-InvocationId", uuid_like(started))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body);
    if let Some(t) = timeout {
        request = request.timeout(t);
    }
    let result = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes))
    }
    .await;
    match result {
        Ok((status, bytes)) => Answer::read(status, &bytes, started.elapsed()),
        Err(e) => Answer {
            error: Some(if e.is_timeout() {
                "timed out".into()
            } else {
                "no answer".into()
            }),
            took: started.elapsed(),
            ..Answer::default()
        },
    }
}

fn uuid_like(t: Instant) -> String {
    let n = t.elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
    let h = hex(32, n, 7);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
