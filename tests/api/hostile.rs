//! Hostile batches: none panics, each event gets an outcome, each failure its reason.

use serde_json::{Value, json};

use crate::fixtures::*;
use crate::helpers::{spawn_app, spawn_app_with};
use crate::host_sim;

const NONE: [&str; 3] = ["", "", ""];

fn reasons(result: &host_sim::HostResult) -> Vec<String> {
    result
        .dead_events()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn hostile_bodies_are_dead_lettered_with_their_reason_and_the_rest_proceeds() {
    let bad = sha1("hostile");
    let app = spawn_app(vec![crate::stub_misp::StubAttribute::ids(
        "sha1",
        bad.clone(),
        1,
    )])
    .await;
    let nested = format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000));
    let duplicate = format!(
        r#"{{"properties":{{"SHA1":"{bad}","SHA1":"{}"}}}}"#,
        sha1("other")
    );
    let events: Vec<Vec<u8>> = vec![
        vec![0xc3, 0x28, 0xa0, 0xa1], // invalid UTF-8
        Vec::new(),                   // empty
        nested.into_bytes(),          // deeply nested, not records
        duplicate.into_bytes(),       // duplicate keys
        br#"{"records":[{"properties":{"ReportId":123456789012345678901234567890,"SHA1":12}}]}"#
            .to_vec(),
        envelope(&[device_event(
            "DeviceFileEvents",
            1,
            [&bad, "zz", &"f".repeat(31)],
            NONE,
        )]),
    ];
    let result = app.match_events(&events).await;
    assert_eq!(result.status, 200);
    assert_eq!(
        result.queue_messages().len(),
        1,
        "the good event still matches"
    );
    let reasons = reasons(&result);
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("not JSON"), "{}", reasons[0]);
    assert_eq!(reasons[1], "empty body");
    assert!(
        reasons[2].contains("MATCH_MAX_JSON_DEPTH"),
        "{}",
        reasons[2]
    );
    assert!(reasons[3].contains("duplicate field"), "{}", reasons[3]);
}

#[tokio::test]
async fn invalid_base64_in_a_binary_batch_is_dead_lettered_alone() {
    let bad = sha1("b64");
    let app = spawn_app(vec![crate::stub_misp::StubAttribute::ids(
        "sha1",
        bad.clone(),
        1,
    )])
    .await;
    let good = envelope(&[device_event("DeviceFileEvents", 1, [&bad, "", ""], NONE)]);
    use base64::Engine;
    let array = json!([
        base64::engine::general_purpose::STANDARD.encode(&good),
        "%%%not-base64%%%"
    ]);
    let mut body = host_sim::invocation(
        &[good.clone(), good],
        host_sim::Declared::ManyBinary,
        None,
        1,
    );
    body["Data"]["events"] = Value::String(array.to_string());
    let result = host_sim::invoke(&app.client, &app.address, "MatchEvents", &body).await;
    assert_eq!(result.status, 200);
    assert_eq!(result.queue_messages().len(), 1);
    let reasons = reasons(&result);
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("not JSON"));
    crate::helpers::assert_accounting(&result, 2);
}

#[tokio::test]
async fn size_limits_dead_letter_the_event_and_say_which_limit() {
    let app = spawn_app_with(
        vec![],
        &[
            ("MATCH_MAX_EVENT_BYTES", "2000000"),
            ("MATCH_MAX_RECORDS_PER_EVENT", "10000"),
            ("MATCH_MAX_EVENTS", "5"),
        ],
    )
    .await;
    let mut big_record = device_event("DeviceFileEvents", 1, NONE, NONE);
    big_record["properties"]["ProcessCommandLine"] = Value::String("A".repeat(1_000_000));
    let wide: serde_json::Map<String, Value> =
        (0..1000).map(|i| (format!("Field{i}"), json!(i))).collect();
    let ten_thousand: Vec<Value> = (0..10_000)
        .map(|_| json!({"category": "AdvancedHunting-DeviceInfo", "properties": {}}))
        .collect();
    let events = vec![
        envelope(&[big_record]), // a 1 MB record: fine
        serde_json::to_vec(&json!({"properties": wide})).unwrap(), // 1,000 fields: fine
        envelope(&ten_thousand), // 10,000 records: fine
        envelope(&[ten_thousand.as_slice(), &[logon_info()]].concat()), // 10,001: over
        vec![b' '; 2_100_000],   // over the event size
        envelope(&[logon_info()]), // the sixth event: over MATCH_MAX_EVENTS
    ];
    let result = app.match_events(&events).await;
    assert_eq!(result.status, 200);
    let reasons = reasons(&result);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].contains("more than 10000 records"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].contains("MATCH_MAX_EVENT_BYTES"),
        "{}",
        reasons[1]
    );
    assert!(reasons[2].contains("MATCH_MAX_EVENTS"), "{}", reasons[2]);
}

#[tokio::test]
async fn a_request_over_the_body_limit_gets_a_json_answer_not_a_crash() {
    let app = spawn_app_with(vec![], &[("MATCH_MAX_REQUEST_BYTES", "1048576")]).await;
    let events = vec![vec![b'{'; 2_000_000]];
    let body = host_sim::invocation(&events, host_sim::Declared::ManyBinary, None, 1);
    let result = host_sim::invoke(&app.client, &app.address, "MatchEvents", &body).await;
    assert_eq!(result.status, 413);
    assert!(result.logs()[0].contains("could not be read"));
    // And the handler is still serving.
    let ok = app.match_events(&[envelope(&[logon_info()])]).await;
    assert_eq!(ok.status, 200);
}
