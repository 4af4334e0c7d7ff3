//! One phase of the load: batches POSTed to `/MatchEvents` with a fixed number in flight, each
//! answer checked (2xx, host-shaped), latencies kept, MISP requests counted; optionally each
//! answer's matches reduced to comparable keys, so two handlers' answers can be checked equal.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use crate::common::stub_misp::StubMisp;

/// What a phase measured.
pub struct Phase {
    pub events: usize,
    pub batches: usize,
    pub concurrency: usize,
    pub wall: Duration,
    pub latencies: Vec<Duration>,
    pub misp_lookups: usize,
    /// Per batch, in sending order: its matches as sorted keys (empty when not collected).
    pub matches: Vec<Vec<String>>,
}

impl Phase {
    pub fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1]
    }

    pub fn line(&self, name: &str) {
        println!(
            "{name:<7} c={} events={:>7} batches={:>5} wall={:>7.2}s events/s={:>9.0} batches/s={:>7.1} p50={:>6.1}ms p99={:>6.1}ms max={:>6.1}ms misp_requests={} per_1000_events={:.2}",
            self.concurrency,
            self.events,
            self.batches,
            self.wall.as_secs_f64(),
            self.events as f64 / self.wall.as_secs_f64(),
            self.batches as f64 / self.wall.as_secs_f64(),
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0)),
            self.misp_lookups,
            self.misp_lookups as f64 * 1000.0 / self.events as f64,
        );
    }

    /// The `n` slowest batches, as "#index ms", slowest first: where a tail comes from (every
    /// Nth batch, the first ones, or scattered).
    pub fn slowest(&self, n: usize) -> String {
        let mut by_time: Vec<(usize, Duration)> =
            self.latencies.iter().copied().enumerate().collect();
        by_time.sort_by_key(|b| std::cmp::Reverse(b.1));
        by_time
            .iter()
            .take(n)
            .map(|(i, t)| format!("#{i} {:.1}", ms(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn match_count(&self) -> usize {
        self.matches.iter().map(Vec::len).sum()
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A match as a comparable key: matchId, hash, the columns it was found in, and the MISP events
/// of its intel, sorted.
fn match_key(m: &Value) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or("?").to_owned();
    let fields: Vec<&str> = m["hashFields"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut events: Vec<&str> = m["intel"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["eventId"].as_str()).collect())
        .unwrap_or_default();
    events.sort_unstable();
    format!(
        "{} {} [{}] events [{}]",
        s("matchId"),
        s("hash"),
        fields.join(","),
        events.join(",")
    )
}

/// The sorted match keys of a host answer.
fn match_keys(body: &[u8]) -> Vec<String> {
    let answer: Value = serde_json::from_slice(body).expect("a JSON answer");
    let mut keys: Vec<String> = answer["Outputs"]["matches"]
        .as_array()
        .expect("Outputs.matches is an array")
        .iter()
        .map(match_key)
        .collect();
    keys.sort();
    keys
}

/// How a phase is sent.
pub struct Sender<'a> {
    pub client: &'a reqwest::Client,
    pub url: &'a str,
    pub events_each: usize,
    pub misp: &'a StubMisp,
}

impl Sender<'_> {
    /// POSTs every body, `concurrency` at a time; `collect` keeps each answer's match keys.
    pub async fn send_all(&self, bodies: &[Vec<u8>], concurrency: usize, collect: bool) -> Phase {
        let before = self.misp.lookups();
        let started = Instant::now();
        let mut answers: Vec<(usize, Duration, Vec<String>)> =
            futures::stream::iter(bodies.iter().enumerate())
                .map(|(i, body)| self.send_one(i, body, collect))
                .buffer_unordered(concurrency)
                .collect()
                .await;
        let wall = started.elapsed();
        answers.sort_by_key(|(i, ..)| *i);
        Phase {
            events: bodies.len() * self.events_each,
            batches: bodies.len(),
            concurrency,
            wall,
            latencies: answers.iter().map(|(_, t, _)| *t).collect(),
            misp_lookups: self.misp.lookups() - before,
            matches: answers.into_iter().map(|(.., m)| m).collect(),
        }
    }

    /// Whether one body is answered 2xx with nothing dead-lettered (a snapshot still loading
    /// leaves its hashes unanswered: a 500 asking the host to retry, or a dead letter).
    pub async fn answers_clean(&self, body: &[u8]) -> bool {
        let Ok(response) = self
            .client
            .post(self.url)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(body.to_vec())
            .send()
            .await
        else {
            return false;
        };
        let ok = response.status().is_success();
        let answer: Value = match response.bytes().await {
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        ok && answer["Outputs"]["deadletter"].is_null() && answer["Outputs"]["matches"].is_array()
    }

    async fn send_one(
        &self,
        i: usize,
        body: &[u8],
        collect: bool,
    ) -> (usize, Duration, Vec<String>) {
        let t = Instant::now();
        let response = self
            .client
            .post(self.url)
            .header(
                "X-Azure-Functions-InvocationId",
                format!("00000000-0000-4000-8000-{i:012}"),
            )
            .header("Content-Type", "application/json; charset=utf-8")
            .body(body.to_vec())
            .send()
            .await
            .expect("the handler answers");
        let status = response.status();
        let text = response.bytes().await.expect("a body");
        let elapsed = t.elapsed();
        assert!(
            status.is_success(),
            "HTTP {status}: {}",
            String::from_utf8_lossy(&text)
        );
        assert!(text.starts_with(b"{\"Outputs\""), "a host answer");
        let keys = if collect {
            match_keys(&text)
        } else {
            Vec::new()
        };
        (i, elapsed, keys)
    }
}

/// Where two handlers' answers to the same batches differ: (batch, only in the first, only in
/// the second), at most `limit` batches.
pub fn differences(
    a: &[Vec<String>],
    b: &[Vec<String>],
    limit: usize,
) -> Vec<(usize, Vec<String>, Vec<String>)> {
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .take(limit)
        .map(|(i, (x, y))| {
            let only = |p: &[String], q: &[String]| -> Vec<String> {
                p.iter().filter(|k| !q.contains(k)).cloned().collect()
            };
            (i, only(x, y), only(y, x))
        })
        .collect()
}
