//! The invocation's deadline is the budget of its waits (issue 11, section 1): on the last attempt,
//! a short MISP problem is waited out instead of dead-lettering, and a batch fails at once only
//! when waiting cannot help. On tokio's paused clock, so a 30 s `Retry-After` costs nothing.

use std::time::Duration;

use tokio::time::Instant;

use crate::fixtures::*;
use crate::helpers::{TestApp, spawn_app_with};
use crate::host_sim::{self, Declared, HostResult, Retry};
use crate::stub_misp::{Fault, StubAttribute};

const NONE: [&str; 3] = ["", "", ""];
const LAST: Option<Retry> = Some(Retry { count: 3, max: 3 });

/// A batch of `n` events numbered from `first`, each with its own hash; `bad` in the first.
fn batch(first: u64, n: u64, bad: &str) -> Vec<Vec<u8>> {
    (first..first + n)
        .map(|i| {
            let own = sha256(&format!("waiting-{i}"));
            let hash = if i == first { bad } else { own.as_str() };
            envelope(&[device_event("DeviceFileEvents", i, ["", hash, ""], NONE)])
        })
        .collect()
}

async fn last_attempt(app: &TestApp, events: &[Vec<u8>]) -> HostResult {
    app.match_events_as(events, Declared::ManyBinary, LAST)
        .await
}

#[tokio::test(start_paused = true)]
async fn one_429_then_a_healthy_misp_dead_letters_nothing_even_for_batches_arriving_meanwhile() {
    let bad = sha256("waiting-429");
    let app = spawn_app_with(vec![StubAttribute::ids("sha256", bad.clone(), 7)], &[]).await;
    app.misp
        .set_fault(Fault::First(1, Box::new(Fault::RateLimited(1))));
    let runs: Vec<_> = (0..11u64)
        .map(|b| {
            let events = batch(b * 100, 10, &bad);
            let app = &app;
            async move { last_attempt(app, &events).await }
        })
        .collect();
    let results = futures::future::join_all(runs).await;
    for r in &results {
        assert_eq!(r.status, 200);
        assert!(r.dead_events().is_empty(), "{:?}", r.dead_events());
        assert_eq!(r.queue_messages().len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_that_ends_before_the_deadline_is_waited_out_and_a_later_one_fails_at_once() {
    let bad = sha256("waiting-retry-after");
    for (seconds, answered) in [(30, true), (120, false)] {
        let app = spawn_app_with(vec![StubAttribute::ids("sha256", bad.clone(), 7)], &[]).await;
        app.misp
            .set_fault(Fault::First(1, Box::new(Fault::RateLimited(seconds))));
        let started = Instant::now();
        let result = last_attempt(&app, &batch(0, 3, &bad)).await;
        let took = started.elapsed();
        if answered {
            assert!(
                result.dead_events().is_empty(),
                "{:?}",
                result.dead_events()
            );
            assert_eq!(result.queue_messages().len(), 1);
            assert!(took >= Duration::from_secs(seconds), "{took:?}");
        } else {
            assert_eq!(result.dead_events().len(), 3);
            let reason = result.dead_events()[0]["reason"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                reason.contains("rate limited")
                    && reason.contains("past this invocation's deadline"),
                "{reason}"
            );
            assert!(took < Duration::from_secs(1), "not waited for: {took:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn after_an_outage_every_batch_is_answered_once_misp_is_back() {
    let bad = sha256("waiting-outage");
    let app = spawn_app_with(vec![StubAttribute::ids("sha256", bad.clone(), 7)], &[]).await;
    // Enough failures to open the breaker (5) and fail one probe.
    app.misp
        .set_fault(Fault::First(6, Box::new(Fault::Status(500))));
    let mut dead_after = 0;
    for b in 0..8u64 {
        let result = last_attempt(&app, &batch(b * 100, 5, &bad)).await;
        if app.misp.requests() > 6 {
            dead_after += result.dead_events().len();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(dead_after, 0, "no batch after recovery is dead-lettered");
}

#[tokio::test(start_paused = true)]
async fn a_refused_key_fails_batches_at_once_without_waiting() {
    let app = spawn_app_with(
        vec![],
        &[("MISP_API_KEY", "WrongKeyWrongKeyWrongKeyWrongKeyWrongKey")],
    )
    .await;
    for round in 0..3 {
        let started = Instant::now();
        let result = last_attempt(&app, &batch(round * 10, 2, &sha256("k"))).await;
        assert_eq!(result.dead_events().len(), 2);
        let reason = result.dead_events()[0]["reason"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(reason.contains("refused the API key"), "{reason}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_waiting_on_a_cancelled_invocation_asks_misp_itself() {
    let bad = sha256("waiting-cancelled");
    let app = spawn_app_with(vec![StubAttribute::ids("sha256", bad.clone(), 7)], &[]).await;
    app.misp.set_fault(Fault::First(
        1,
        Box::new(Fault::Slow(Duration::from_secs(3))),
    ));
    let events = batch(0, 4, &bad);
    let body = host_sim::invocation(&events, Declared::ManyBinary, LAST, 1);
    let cancelled = app
        .client
        .post(format!("{}/MatchEvents", app.address))
        .timeout(Duration::from_millis(500))
        .json(&body)
        .send();
    let waiter = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last_attempt(&app, &events).await
    };
    let (first, second) = tokio::join!(cancelled, waiter);
    assert!(first.is_err(), "the first caller gave up");
    assert!(
        second.dead_events().is_empty(),
        "{:?}",
        second.dead_events()
    );
    assert_eq!(second.queue_messages().len(), 1);
}
