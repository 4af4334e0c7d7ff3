//! The reliability load tests of issue 11, ignored unless asked for (`scripts/test` runs them
//! with `--ignored`): the real `defender-misp serve` binary as a child process, driven by the
//! scenario driver of `examples/scenarios` (which `cargo run --example scenarios` runs against any
//! binary, for before/after figures). Each prints its figures; each takes well under a minute.
//!
//! - flapping MISP: ok / down / 429 / HTML / truncated / reset in 2 s phases, 8 partitions;
//! - memory: six concurrent batches of 100 events of 1 MB;
//! - two instances on one Azurite, fed the same matches.

use std::path::Path;

const BINARY: &str = env!("CARGO_BIN_EXE_defender-misp");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run by scripts/test"]
async fn with_misp_flapping_nine_in_ten_events_of_batches_started_while_it_answers_are_answered() {
    let (all, while_ok) = crate::breaker::flapping(Path::new(BINARY), 24).await;
    assert_eq!(all.unanswered_batches, 0, "every batch got an answer");
    assert!(while_ok.events > 0);
    let answered = while_ok.matched + while_ok.clean;
    assert!(
        answered * 10 >= while_ok.events * 9,
        "{answered} of {} events answered",
        while_ok.events
    );
    assert_eq!(
        all.matched + all.clean + all.dead,
        all.events,
        "nothing lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run by scripts/test"]
async fn six_concurrent_100_mb_batches_stay_under_1_gib_and_every_event_is_accounted_for() {
    let run = crate::memory::six_big_batches(Path::new(BINARY), 6, 100).await;
    assert_eq!(run.statuses, vec!["200"; 6]);
    assert_eq!(run.accounted, run.events, "{run:?}");
    assert!(run.peak_rss_mib < 1024, "{run:?}");
}

/// Needs Azurite's table service on 127.0.0.1:10002; `scripts/test` starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: run by scripts/test"]
async fn two_instances_on_one_azurite_raise_one_alert_per_file_within_the_defender_budget() {
    let binary = Path::new(BINARY);
    // Twenty matches on ten files, sent to both instances, redelivered until acknowledged.
    let run =
        crate::alerts::two_instances(binary, Some("UseDevelopmentStorage=true"), 20, 10, 8).await;
    assert_eq!(run.unacknowledged, 0, "{run:?}");
    assert_eq!(run.distinct_pairs, 10, "{run:?}");
    assert_eq!(run.calls, 10, "one alert per (device, hash): {run:?}");
    assert_eq!(run.duplicates, 0, "{run:?}");
    // Twenty files: the budget (14 a minute) binds across both instances.
    let run =
        crate::alerts::two_instances(binary, Some("UseDevelopmentStorage=true"), 20, 20, 1).await;
    assert_eq!(run.duplicates, 0, "{run:?}");
    assert!(run.most_in_60s <= 15 && run.calls == 14, "{run:?}");
}
