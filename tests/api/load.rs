//! Load under faults: 1,000 host-shaped batches sent concurrently while MISP fails every 7th
//! request, with the host's retry policy simulated. Every event must end matched, clean or
//! dead-lettered; memory must stay bounded. Bounded in count and time, loopback only.
//! Run by `.ci/run`: `cargo test --test api load -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::fixtures::*;
use crate::helpers::spawn_app_with;
use crate::host_sim::{self, Declared, Retry};

const NONE: [&str; 3] = ["", "", ""];
use crate::stub_misp::{Fault, StubAttribute};

const BATCHES: usize = 1000;
const EVENTS_PER_BATCH: usize = 20;
const CONCURRENCY: usize = 32;
const MAX_RETRIES: i64 = 3;

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run explicitly by .ci/run"]
async fn every_event_is_accounted_for_under_load_and_intermittent_misp_faults() {
    let pool: Vec<String> = (0..5000).map(|i| sha256(&format!("pool{i}"))).collect();
    let bad: Vec<StubAttribute> = pool
        .iter()
        .step_by(100)
        .map(|h| StubAttribute::ids("sha256", h.clone(), 1))
        .collect();
    let app = spawn_app_with(
        bad,
        &[
            ("MISP_CHUNK_SIZE", "1000"),
            ("MISP_BREAKER_FAILURES", "1000"),
        ],
    )
    .await;
    app.misp
        .set_fault(Fault::Every(7, Box::new(Fault::Status(503))));
    let rss_before = peak_rss_kb();
    let started = Instant::now();

    let batches: Vec<Vec<Vec<u8>>> = (0..BATCHES)
        .map(|b| {
            (0..EVENTS_PER_BATCH)
                .map(|e| {
                    let n = b * EVENTS_PER_BATCH + e;
                    if n.is_multiple_of(997) {
                        return b"garbage".to_vec();
                    }
                    let h = &pool[(n * 7919) % pool.len()];
                    envelope(&[device_event(
                        "DeviceFileEvents",
                        n as u64,
                        ["", h, ""],
                        NONE,
                    )])
                })
                .collect()
        })
        .collect();

    let outcomes: Vec<(usize, usize, usize, usize, usize)> =
        futures::stream::iter(batches.into_iter().enumerate())
            .map(|(b, events)| {
                let client = app.client.clone();
                let base = app.address.clone();
                async move {
                    let mut attempts = 0;
                    loop {
                        let retry = Some(Retry {
                            count: attempts,
                            max: MAX_RETRIES,
                        });
                        let body = host_sim::invocation(
                            &events,
                            Declared::ManyBinary,
                            retry,
                            (b * EVENTS_PER_BATCH) as i64,
                        );
                        let result = host_sim::invoke(&client, &base, "MatchEvents", &body).await;
                        if result.succeeded {
                            crate::helpers::assert_accounting(&result, events.len());
                            let line = result.logs()[0].clone();
                            let field = |name: &str| crate::helpers::summary_field(&line, name);
                            return (
                                events.len(),
                                field("matched"),
                                field("clean"),
                                field("dead-lettered"),
                                attempts as usize,
                            );
                        }
                        assert_eq!(result.status, 500);
                        attempts += 1;
                        assert!(
                            attempts <= MAX_RETRIES,
                            "the last attempt must not ask for a retry"
                        );
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;

    let elapsed = started.elapsed();
    let sent: usize = outcomes.iter().map(|o| o.0).sum();
    let matched: usize = outcomes.iter().map(|o| o.1).sum();
    let clean: usize = outcomes.iter().map(|o| o.2).sum();
    let dead: usize = outcomes.iter().map(|o| o.3).sum();
    let retried: usize = outcomes.iter().filter(|o| o.4 > 0).count();
    let rss_after = peak_rss_kb();
    println!(
        "load: batches={BATCHES} events={sent} matched={matched} clean={clean} dead-lettered={dead} lost={} \
         batches-retried-by-host={retried} misp-requests={} seconds={:.1} events/s={:.0} peak-rss-mb={} (before {})",
        sent - matched - clean - dead,
        app.misp.requests(),
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        rss_after / 1024,
        rss_before / 1024
    );
    assert_eq!(sent, BATCHES * EVENTS_PER_BATCH);
    assert_eq!(matched + clean + dead, sent, "no event lost");
    assert!(dead >= sent / 997, "the garbage events are dead-lettered");
    assert!(matched > 0);
    assert!(
        rss_after < 1024 * 1024,
        "peak RSS stayed under 1 GiB: {} MB",
        rss_after / 1024
    );
    assert!(elapsed < Duration::from_secs(600), "bounded in time");
}
