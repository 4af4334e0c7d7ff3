//! Section 1 of issue 11: what the handler makes of short MISP problems, on the last attempt
//! (`RetryContext` with no retries left) and default settings. Each scenario starts its own MISP
//! stub and handler, sends host-shaped batches of 100 events and prints one line of figures.
//! Shared with `tests/api` (its ignored load tests), which use part of it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::child::Handler;
use crate::host::{self, Answer, event, hex, record};
use crate::misp::{Act, BAD_PREFIX, KEY, Misp};

const EVENTS: usize = 100;
const DEVICE: &str = "56fb3abc73b440dd56cdc9873677877cd4ab0851";

/// A batch of [`EVENTS`] events, each with its own file hash (one in 25 known to MISP) and an
/// initiating-process hash from a pool of 20 (two known), numbered from `first`.
fn batch(first: u64) -> Vec<Vec<u8>> {
    (first..first + EVENTS as u64)
        .map(|n| {
            let mut file = hex(64, n, 1);
            if n % 25 == 0 {
                file.replace_range(..BAD_PREFIX.len(), BAD_PREFIX);
            }
            let mut pooled = hex(64, n % 20, 2);
            if n % 20 < 2 {
                pooled.replace_range(..BAD_PREFIX.len(), BAD_PREFIX);
            }
            event(&[record(n, DEVICE, &file, &pooled)])
        })
        .collect()
}

fn settings(misp: &Misp) -> Vec<(String, String)> {
    vec![
        ("MISP_URL".into(), misp.url.clone()),
        ("MISP_API_KEY".into(), KEY.into()),
    ]
}

async fn send(handler: &Handler, first: u64, partition: u32, timeout: Option<Duration>) -> Answer {
    let body = host::invocation(&batch(first), first as i64, partition);
    host::invoke(&reqwest::Client::new(), &handler.base, body.into(), timeout).await
}

/// Totals over answers.
#[derive(Debug, Default)]
pub struct Tally {
    pub events: usize,
    pub matched: usize,
    pub clean: usize,
    pub dead: usize,
    pub matched_and_dead: usize,
    pub unanswered_batches: usize,
    pub reasons: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, a: &Answer) {
        if a.error.is_some() || a.status != 200 {
            self.unanswered_batches += 1;
        }
        self.events += a.events;
        self.matched += a.matched;
        self.clean += a.clean;
        self.dead += a.dead;
        self.matched_and_dead += a.matched_and_dead();
        for (k, v) in &a.reasons {
            *self.reasons.entry(k.clone()).or_default() += v;
        }
    }

    fn line(&self) -> String {
        format!(
            "events={} matched={} clean={} dead-lettered={} matched-and-dead={} unanswered-batches={} reasons={:?}",
            self.events,
            self.matched,
            self.clean,
            self.dead,
            self.matched_and_dead,
            self.unanswered_batches,
            self.reasons
        )
    }
}

/// One 429 (`Retry-After: 1`) after a warm-up, then a healthy MISP; ten more batches arrive
/// within that second.
pub async fn one_429(binary: &Path) {
    let misp = Misp::start(|n, _| match n {
        1 => Act::RateLimited(1),
        _ => Act::Answer,
    })
    .await;
    let handler = Handler::start(binary, "one-429", &settings(&misp)).await;
    // The warm-up caches the pooled hashes (a batch of the pool only).
    send(&handler, 1_000_000, 0, None).await;
    let started = Instant::now();
    let first = tokio::spawn({
        let base = handler.base.clone();
        async move { send_to(&base, 0, 0).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut rest = Vec::new();
    for i in 1..=10u64 {
        let base = handler.base.clone();
        rest.push(tokio::spawn(async move {
            send_to(&base, i * 1000, i as u32 % 8).await
        }));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut tally = Tally::default();
    tally.add(&first.await.unwrap());
    for r in rest {
        tally.add(&r.await.unwrap());
    }
    println!(
        "one-429: {} misp-requests={} wall={:.2}s",
        tally.line(),
        misp.requests(),
        started.elapsed().as_secs_f64()
    );
}

async fn send_to(base: &str, first: u64, partition: u32) -> Answer {
    let body = host::invocation(&batch(first), first as i64, partition);
    host::invoke(&reqwest::Client::new(), base, body.into(), None).await
}

/// MISP answers 500 for 2 s, then recovers; a batch starts every 0.5 s for 30 s.
pub async fn outage(binary: &Path) {
    let misp = Misp::start(|_, t| {
        if t < Duration::from_secs(2) {
            Act::Status(500)
        } else {
            Act::Answer
        }
    })
    .await;
    let handler = Handler::start(binary, "outage", &settings(&misp)).await;
    misp.restart_clock();
    let mut runs = Vec::new();
    for i in 0..60u64 {
        let started = misp.elapsed();
        let base = handler.base.clone();
        runs.push((
            started,
            tokio::spawn(async move { send_to(&base, i * 1000, (i % 8) as u32).await }),
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (mut before, mut after) = (Tally::default(), Tally::default());
    for (started, run) in runs {
        let answer = run.await.unwrap();
        if started < Duration::from_secs(2) {
            before.add(&answer);
        } else {
            after.add(&answer);
        }
    }
    println!(
        "outage-2s: batches starting during the outage: {}",
        before.line()
    );
    println!(
        "outage-2s: batches starting after recovery:    {}",
        after.line()
    );
}

/// One 429 with `Retry-After: seconds`, then a healthy MISP; one batch.
pub async fn retry_after(binary: &Path, seconds: u64) {
    let misp = Misp::start(move |n, _| match n {
        0 => Act::RateLimited(seconds),
        _ => Act::Answer,
    })
    .await;
    let handler = Handler::start(binary, "retry-after", &settings(&misp)).await;
    let answer = send(&handler, 0, 0, None).await;
    let mut tally = Tally::default();
    tally.add(&answer);
    println!(
        "retry-after-{seconds}s: {} answered-in={:.2}s misp-requests={}",
        tally.line(),
        answer.took.as_secs_f64(),
        misp.requests()
    );
}

const PHASES: [&str; 6] = ["ok", "down", "429", "html", "truncated", "reset"];
const PHASE: Duration = Duration::from_secs(2);

fn phase(t: Duration) -> usize {
    (t.as_millis() / PHASE.as_millis()) as usize % PHASES.len()
}

/// MISP cycles ok / down / 429 / HTML / truncated / reset in 2 s phases for `seconds`; eight
/// partitions each send a batch, wait for its answer, and send the next (at most five a second).
pub async fn flapping(binary: &Path, seconds: u64) -> (Tally, Tally) {
    let misp = Misp::start(|_, t| match PHASES[phase(t)] {
        "ok" => Act::Answer,
        "down" => Act::Status(503),
        "429" => Act::RateLimited(1),
        "html" => Act::Html,
        "truncated" => Act::Truncated,
        _ => Act::Reset,
    })
    .await;
    let handler = Arc::new(Handler::start(binary, "flapping", &settings(&misp)).await);
    misp.restart_clock();
    let end = Duration::from_secs(seconds);
    let mut partitions = Vec::new();
    for p in 0..8u32 {
        let (misp, handler) = (misp.clone(), handler.clone());
        partitions.push(tokio::spawn(async move {
            let mut seen: Vec<(usize, Answer)> = Vec::new();
            let mut n = 0u64;
            while misp.elapsed() < end {
                let started = misp.elapsed();
                let first = (u64::from(p) << 32) + n * EVENTS as u64;
                let answer = send_to(&handler.base, first, p).await;
                seen.push((phase(started), answer));
                n += 1;
                let spent = misp.elapsed() - started;
                tokio::time::sleep(Duration::from_millis(200).saturating_sub(spent)).await;
            }
            seen
        }));
    }
    let (mut all, mut while_ok) = (Tally::default(), Tally::default());
    for p in partitions {
        for (ph, answer) in p.await.unwrap() {
            all.add(&answer);
            if ph == 0 {
                while_ok.add(&answer);
            }
        }
    }
    let pct = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
    println!(
        "flapping-{seconds}s: all batches: {} dead-lettered={:.1}% misp-requests={}",
        all.line(),
        pct(all.dead, all.events),
        misp.requests()
    );
    println!(
        "flapping-{seconds}s: batches starting while MISP answers: {} answered={:.1}%",
        while_ok.line(),
        pct(while_ok.matched + while_ok.clean, while_ok.events)
    );
    (all, while_ok)
}

/// MISP answers after 3 s. Batch A asks first and is cancelled by its caller at 0.5 s; batch B,
/// sent 0.1 s after A with the same hashes, waits on A's request.
pub async fn cancelled_leader(binary: &Path) {
    let misp = Misp::start(|_, _| Act::Slow(Duration::from_secs(3))).await;
    let handler = Arc::new(Handler::start(binary, "cancelled-leader", &settings(&misp)).await);
    let a = tokio::spawn({
        let h = handler.clone();
        async move { send(&h, 0, 0, Some(Duration::from_millis(500))).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = send(&handler, 0, 1, None).await;
    let a = a.await.unwrap();
    let mut tally = Tally::default();
    tally.add(&b);
    println!(
        "cancelled-leader: leader {}; waiter: {} answered-in={:.2}s misp-requests={}",
        a.error.as_deref().unwrap_or("answered"),
        tally.line(),
        b.took.as_secs_f64(),
        misp.requests()
    );
}
