//! The MDE API retirement (2027-02-01, MC1220762): an answer that says the API is gone stops the
//! MDE actions for the life of the process, once, while Sentinel goes on; an event Defender has
//! not indexed yet is not mistaken for it; past the date an unset `DEFENDER_ALERTS` is off.

use serde_json::Value;

use crate::sentinel_harness::*;
use crate::stub_ingestion::IngestionStub;

const NOT_INDEXED: &str = r#"{"error":{"code":"NotFound","message":"No event found for the given report id","target":"5f1c"}}"#;

async fn handler_with(
    defender: &DefenderStub,
    stub: &IngestionStub,
    extra: &[(&'static str, &str)],
) -> String {
    let mut settings = sentinel_settings(&stub.url);
    settings.push(("DEFENDER_API_URL", defender.url.clone()));
    settings.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    start_handler(&settings).await
}

#[tokio::test]
async fn a_410_stops_both_mde_actions_for_the_process_and_the_message_is_acknowledged() {
    let defender = DefenderStub::start(410, "").await;
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let handler = handler_with(
        &defender,
        &stub,
        &[
            ("DEFENDER_ALERTS", "true"),
            ("DEFENDER_INDICATOR_ACTION", "audit"),
        ],
    )
    .await;

    let (first, first_logs) = post_match(&handler, &a_match(40), 1).await;
    let (second, second_logs) = post_match(&handler, &a_match(41), 1).await;

    assert_eq!((first, second), (200, 200), "{first_logs}\n{second_logs}");
    assert!(first_logs.contains("sentinel=done"), "{first_logs}");
    for logs in [&first_logs, &second_logs] {
        assert!(
            logs.contains("alert=skipped (the MDE API is retired (the Defender API answered as retired (HTTP 410)"),
            "{logs}"
        );
        assert!(
            logs.contains("indicator=skipped (the MDE API is retired"),
            "{logs}"
        );
    }
    let mut calls = defender.calls();
    calls.sort();
    assert_eq!(
        calls,
        ["/api/alerts/CreateAlertByReference", "/api/indicators"],
        "each once, on the first message, never again"
    );
    let said = logs()
        .lines()
        .filter(|l| l.contains("the MDE API answered as retired") && l.contains("HTTP 410"))
        .count();
    assert_eq!(said, 1, "said once, though both actions saw the answer");
    let rows = stub.landed();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0]["DefenderAlertOutcome"]
            .as_str()
            .is_some_and(|o| o.contains("MDE API is retired")),
        "{:?}",
        rows[0]
    );
}

#[tokio::test]
async fn a_404_without_defenders_error_body_is_the_endpoint_gone_not_a_missing_event() {
    let defender = DefenderStub::start(404, "<html><body>Not Found</body></html>").await;
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let handler = handler_with(&defender, &stub, &[("DEFENDER_ALERTS", "true")]).await;

    let (first, first_logs) = post_match(&handler, &a_match(50), 1).await;
    let (second, second_logs) = post_match(&handler, &a_match(51), 1).await;

    assert_eq!((first, second), (200, 200), "{first_logs}\n{second_logs}");
    assert!(
        first_logs.contains("no Defender error body"),
        "{first_logs}"
    );
    assert!(
        second_logs.contains("alert=skipped (the MDE API is retired"),
        "{second_logs}"
    );
    assert_eq!(defender.calls().len(), 1, "not called again");
    assert_eq!(stub.landed().len(), 2, "Sentinel goes on");
}

#[tokio::test]
async fn a_404_with_defenders_error_body_is_an_event_not_indexed_yet_and_calls_go_on() {
    let defender = DefenderStub::start(404, NOT_INDEXED).await;
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let handler = handler_with(&defender, &stub, &[("DEFENDER_ALERTS", "true")]).await;

    let (first, first_logs) = post_match(&handler, &a_match(60), 1).await;
    let (second, _) = post_match(&handler, &a_match(61), 1).await;

    assert_eq!((first, second), (503, 503), "{first_logs}");
    assert!(
        first_logs.contains("alert=deferred (Defender has no such event yet (404): NotFound"),
        "{first_logs}"
    );
    assert_eq!(defender.calls().len(), 2, "the API is still called");
    assert!(
        stub.landed()[0]["DefenderAlertOutcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("deferred")),
        "the row says what happened on this delivery"
    );
}

#[tokio::test]
async fn past_the_retirement_date_unset_defender_alerts_is_off_and_only_sentinel_alerts() {
    let defender = DefenderStub::start(200, "{}").await;
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let handler = handler_with(
        &defender,
        &stub,
        &[("DEFENDER_API_RETIREMENT_DATE", "2021-03-04")],
    )
    .await;

    let (status, logs) = post_match(&handler, &a_match(70), 1).await;

    assert_eq!(status, 200, "{logs}");
    assert!(
        logs.contains("alert=off") && logs.contains("sentinel=done"),
        "{logs}"
    );
    assert!(defender.calls().is_empty());
    assert_eq!(stub.landed()[0]["DefenderAlertOutcome"], Value::Null);
}

#[tokio::test]
async fn a_configured_mde_action_past_the_date_logs_one_warning_at_start() {
    let defender = DefenderStub::start(200, "{}").await;
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let date = "2022-05-06";
    handler_with(
        &defender,
        &stub,
        &[
            ("DEFENDER_API_RETIREMENT_DATE", date),
            ("DEFENDER_ALERTS", "true"),
        ],
    )
    .await;

    let logs = logs();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(&format!("retired since {date}")))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("WARN") && warnings[0].contains("DEFENDER_ALERTS=true"));
}
