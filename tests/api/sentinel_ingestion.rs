//! The Logs Ingestion stub behaves like the service, and the handler answers each of its refusals
//! as `docs/alerting.md` says.

use std::io::Write;

use serde_json::{Value, json};

use crate::sentinel_harness::*;
use crate::stub_ingestion::{IngestionStub, MAX_CALL_BYTES, Mode};

fn url(stub: &IngestionStub) -> String {
    format!(
        "{}/dataCollectionRules/{DCR}/streams/{STREAM}?api-version=2023-01-01",
        stub.url
    )
}

async fn post(stub: &IngestionStub, bearer: Option<&str>, gzip: bool, body: Vec<u8>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(url(stub))
        .header("content-type", "application/json");
    if let Some(b) = bearer {
        request = request.bearer_auth(b);
    }
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    request.body(body).send().await.unwrap().status().as_u16()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn the_stub_keeps_only_exactly_named_columns_and_drops_the_rest_without_an_error() {
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let rows = json!([{"MatchId": "m1", "matchId": "m2", "Extra": 1, "MispHits": "3"}]);

    let status = post(
        &stub,
        Some(MONITOR_TOKEN),
        false,
        rows.to_string().into_bytes(),
    )
    .await;

    assert_eq!(status, 204);
    let landed = &stub.landed()[0];
    assert_eq!(landed["MatchId"], "m1");
    assert_eq!(
        landed["DeviceId"],
        Value::Null,
        "a declared column not sent is null"
    );
    assert_eq!(
        landed["MispHits"],
        Value::Null,
        "a string does not fit an int"
    );
    assert_eq!(stub.dropped(), ["Extra", "matchId"]);
    assert_eq!(stub.mismatches(), ["MispHits: \"3\" does not fit int"]);
}

#[tokio::test]
async fn a_call_over_1_mb_is_refused_with_413_compressed_or_not_and_gzip_is_accepted() {
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let big = json!([{"MatchId": "x".repeat(MAX_CALL_BYTES)}])
        .to_string()
        .into_bytes();
    let small = json!([{"MatchId": "zipped"}]).to_string().into_bytes();
    let compressed_big = gzip(&big);
    assert!(compressed_big.len() < MAX_CALL_BYTES / 100);

    assert_eq!(post(&stub, Some(MONITOR_TOKEN), false, big).await, 413);
    assert_eq!(
        post(&stub, Some(MONITOR_TOKEN), true, compressed_big).await,
        413
    );
    assert_eq!(
        post(&stub, Some(MONITOR_TOKEN), true, gzip(&small)).await,
        204
    );
    assert_eq!(
        post(&stub, Some(MONITOR_TOKEN), true, small).await,
        400,
        "not gzip"
    );

    assert_eq!(stub.landed().len(), 1);
    assert_eq!(stub.landed()[0]["MatchId"], "zipped");
    let calls = stub.calls();
    assert!(calls[0].bytes > MAX_CALL_BYTES && !calls[0].gzip);
    assert!(calls[1].bytes < MAX_CALL_BYTES && calls[1].gzip && calls[2].gzip);
}

#[tokio::test]
async fn no_bearer_is_401_and_a_token_without_the_role_is_403() {
    let stub = IngestionStub::start(DCR, STREAM, "a-token-with-the-role", &[MONITOR_TOKEN]).await;
    let row = json!([{"MatchId": "m"}]).to_string().into_bytes();
    assert_eq!(post(&stub, None, false, row.clone()).await, 401);
    assert_eq!(post(&stub, Some("forged"), false, row).await, 401);

    let handler = start_handler(&{
        let mut s = sentinel_settings(&stub.url);
        s.push(("DEFENDER_ALERTS", "false".into()));
        s
    })
    .await;
    let (status, logs) = post_match(&handler, &a_match(20), 1).await;

    assert_eq!(status, 500, "{logs}");
    assert!(
        logs.contains("sentinel=failed (Logs Ingestion refused the token (HTTP 403)")
            && logs.contains("Monitoring Metrics Publisher"),
        "{logs}"
    );
    assert!(stub.landed().is_empty());
}

#[tokio::test]
async fn a_429_defers_the_message_and_pauses_the_action_for_its_retry_after() {
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    stub.set_mode(Mode::Throttle {
        n: 1,
        retry_after_secs: 7,
    });
    let handler = start_handler(&{
        let mut s = sentinel_settings(&stub.url);
        s.push(("DEFENDER_ALERTS", "false".into()));
        s
    })
    .await;

    let (first, first_logs) = post_match(&handler, &a_match(30), 1).await;
    let (second, second_logs) = post_match(&handler, &a_match(31), 1).await;

    assert_eq!(first, 503, "{first_logs}");
    assert!(
        first_logs.contains(
            "sentinel=deferred (Logs Ingestion throttled (429), Retry-After 7 s honoured)"
        ),
        "{first_logs}"
    );
    assert_eq!(second, 503, "{second_logs}");
    assert!(
        second_logs.contains("paused by Retry-After"),
        "{second_logs}"
    );
    assert_eq!(stub.calls().len(), 1, "no call while paused");
    assert_eq!(stub.calls()[0].status, 429);
}
