//! `RaiseAlerts` end to end: host-shaped queue invocations into the real handler, tokens from
//! the real `ManagedIdentityCredential` against a stub identity endpoint, and stub Defender,
//! MISP and Logs Ingestion servers on loopback that check what they receive.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::alert_helpers::*;
use crate::helpers::{
    IDENTITY_HEADER, MONITOR_TOKEN, SIGHTING_KEY, TestApp, assert_no_secret, identity, logs,
    spawn_app_with, start,
};
use crate::stub_http::matchers::{header, method, path, query_param};
use crate::stub_http::{Mock, MockServer, ResponseTemplate};
use crate::stub_misp::MISP_KEY;

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "da637"}))
}

#[tokio::test]
async fn a_host_shaped_queue_message_makes_exactly_one_alert_with_a_managed_identity_token() {
    let app = spawn_app_with(vec![], &[]).await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;

    let reply = app.post_match(&a_match(1), 1).await;

    assert_eq!(reply.status, 200, "{}", reply.logs);
    assert!(reply.logs.contains("alert=done"), "{}", reply.logs);
    let all = app.defender.received_requests().await.unwrap();
    assert_eq!(all.len(), 1, "one call, and no indicator when it is off");
    assert_eq!(all[0].url.path(), ALERT_ROUTE);
    let body = json_body(&all[0]);
    let fields = body.as_object().unwrap();
    assert_eq!(fields.len(), 8, "{body}");
    assert!(
        fields.values().all(Value::is_string),
        "every field is a string: {body}"
    );
    assert_eq!(body["machineId"], DEVICE);
    assert_eq!(body["reportId"], "1001");
    assert_eq!(body["eventTime"], "2026-07-18T12:59:31.2914446Z");
    assert_eq!(body["severity"], "High");
    assert_eq!(body["category"], "Malware");
    assert_eq!(body["title"], "MISP event 42: Emotet wave");
    let description = body["description"].as_str().unwrap();
    for part in [
        &format!("{:064x}", 0xab01),
        "SHA256",
        "C:\\Users\\a\\evil.exe",
        EVENT_UUID,
        "Emotet wave",
        "tlp:amber, malware:emotet",
        &format!("{}/events/view/42", app.misp.uri()),
    ] {
        assert!(
            description.contains(part),
            "{part} missing from {description}"
        );
    }
    assert!(
        body["recommendedAction"]
            .as_str()
            .unwrap()
            .contains("Investigate the file and the device")
    );
    assert!(
        app.misp.received_requests().await.unwrap().is_empty(),
        "no sighting when off"
    );
    let token_requests = identity().received_requests().await.unwrap();
    assert!(token_requests.iter().any(|r| {
        r.headers
            .get("x-identity-header")
            .is_some_and(|v| v == IDENTITY_HEADER)
            && r.url
                .query()
                .unwrap_or("")
                .contains("resource=https%3A%2F%2Fapi.securitycenter.microsoft.com")
    }));
}

#[tokio::test]
async fn severity_follows_the_misp_threat_level_and_the_setting_overrides_it() {
    let app = spawn_app_with(vec![], &[]).await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;
    for (n, level) in [(1, 2), (2, 3), (3, 4)] {
        let mut m = a_match(n);
        m["intel"][0]["threatLevelId"] = json!(level);
        assert_eq!(app.post_match(&m, 1).await.status, 200);
    }
    let severities: Vec<Value> = app
        .defender_calls(ALERT_ROUTE)
        .await
        .iter()
        .map(|r| json_body(r)["severity"].clone())
        .collect();
    assert_eq!(severities, [json!("Medium"), json!("Low"), json!("Low")]);

    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERT_SEVERITY", "high"),
            ("DEFENDER_ALERT_CATEGORY", "Ransomware"),
        ],
    )
    .await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;
    let mut m = a_match(4);
    m["intel"][0]["threatLevelId"] = json!(3);
    assert_eq!(app.post_match(&m, 1).await.status, 200);
    let body = json_body(&app.defender_calls(ALERT_ROUTE).await[0]);
    assert_eq!(
        (body["severity"].as_str(), body["category"].as_str()),
        (Some("High"), Some("Ransomware"))
    );
}

#[tokio::test]
async fn hostile_misp_text_reaches_defender_flattened_and_bounded() {
    let app = spawn_app_with(vec![], &[("DEFENDER_RECOMMENDED_ACTION", "Call\nthe SOC")]).await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;
    let mut m = a_match(1);
    m["intel"][0]["eventInfo"] = json!(format!(
        "Fake\r\nTitle\u{7}\u{1b}[31m{}",
        "A".repeat(20_000)
    ));
    m["intel"][0]["tags"] = json!(["tlp:red\nINJECTED", "x".repeat(5000)]);
    m["intel"] = json!(vec![m["intel"][0].clone(); 10]);

    assert_eq!(app.post_match(&m, 1).await.status, 200);

    let body = json_body(&app.defender_calls(ALERT_ROUTE).await[0]);
    let title = body["title"].as_str().unwrap();
    let description = body["description"].as_str().unwrap();
    for text in [
        title,
        description,
        body["recommendedAction"].as_str().unwrap(),
    ] {
        assert!(
            !text.chars().any(char::is_control),
            "control character in {text:?}"
        );
    }
    assert!(title.starts_with("MISP event 42: Fake Title"), "{title}");
    assert!(title.chars().count() <= 256);
    assert!(description.chars().count() <= 8192);
    assert!(description.contains("tlp:red INJECTED"));
    assert_eq!(body["recommendedAction"], "Call the SOC");
}

#[tokio::test]
async fn a_burst_of_forty_matches_makes_at_most_fourteen_calls_and_defers_the_rest() {
    let app = spawn_app_with(vec![], &[]).await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;
    let mut statuses = HashMap::new();
    let mut deferred_logs = Vec::new();
    for n in 0..40 {
        let reply = app.post_match(&a_match(n), 1).await;
        *statuses.entry(reply.status).or_insert(0) += 1;
        if reply.status != 200 {
            deferred_logs.push(reply.logs);
        }
    }
    assert_eq!(app.defender_calls(ALERT_ROUTE).await.len(), 14);
    assert_eq!(statuses, HashMap::from([(200, 14), (503, 26)]));
    assert!(
        deferred_logs
            .iter()
            .all(|l| l.contains("alert=deferred (alert budget spent")),
        "{deferred_logs:?}"
    );
}

#[tokio::test]
async fn a_429_pauses_every_alert_for_its_retry_after() {
    let app = spawn_app_with(vec![], &[]).await;
    defender_answers(
        &app,
        ALERT_ROUTE,
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "120")
            .set_body_json(json!({"error":{"code":"TooManyRequests","message":"quota"}})),
    )
    .await;

    let first = app.post_match(&a_match(1), 1).await;
    let second = app.post_match(&a_match(2), 1).await;

    assert_eq!((first.status, second.status), (503, 503));
    assert!(
        first.logs.contains("Retry-After 120 s honoured"),
        "{}",
        first.logs
    );
    assert!(
        second.logs.contains("paused by Retry-After"),
        "{}",
        second.logs
    );
    assert_eq!(
        app.defender_calls(ALERT_ROUTE).await.len(),
        1,
        "no call while paused"
    );
}

#[tokio::test]
async fn forbidden_and_unauthorized_name_the_role_to_grant_and_nothing_secret_is_logged() {
    for status in [403, 401] {
        let app = spawn_app_with(vec![], &[]).await;
        let error = json!({"error":{"code":"Forbidden","message":"Missing application roles. API required roles: Alert.ReadWrite.All","target":"c0ffee"}});
        defender_answers(
            &app,
            ALERT_ROUTE,
            ResponseTemplate::new(status).set_body_json(error),
        )
        .await;

        let reply = app.post_match(&a_match(1), 1).await;

        assert_eq!(reply.status, 500, "{}", reply.logs);
        assert!(
            reply.logs.contains(&format!("HTTP {status}")),
            "{}",
            reply.logs
        );
        assert!(
            reply.logs.contains(
                "Grant the identity the WindowsDefenderATP application role Alert.ReadWrite.All"
            ),
            "{}",
            reply.logs
        );
    }
    let logged = logs();
    assert!(
        logged.contains("Alert.ReadWrite.All"),
        "the capture works: {logged}"
    );
    assert_no_secret(&logged);
}

#[tokio::test]
async fn a_404_is_retried_a_bounded_number_of_times_then_recorded_and_acknowledged() {
    let app = spawn_app_with(vec![], &[("DEFENDER_NOT_FOUND_RETRIES", "2")]).await;
    let not_found = json!({"error":{"code":"NotFound","message":"No event found"}});
    defender_answers(
        &app,
        ALERT_ROUTE,
        ResponseTemplate::new(404).set_body_json(not_found),
    )
    .await;

    let first = app.post_match(&a_match(1), 1).await;
    let second = app.post_match(&a_match(1), 2).await;
    // On the delivery before the poison queue, a 404 is recorded at once.
    let last_chance = app.post_match(&a_match(2), 40).await;

    assert_eq!(first.status, 503, "{}", first.logs);
    assert!(first.logs.contains("attempt 1 of 2"), "{}", first.logs);
    assert_eq!(second.status, 200, "{}", second.logs);
    assert!(
        second.logs.contains("alert=recorded") && second.logs.contains("gave up after 2"),
        "{}",
        second.logs
    );
    assert_eq!(last_chance.status, 200, "{}", last_chance.logs);
    assert_eq!(app.defender_calls(ALERT_ROUTE).await.len(), 3);
}

#[tokio::test]
async fn a_repeat_for_the_same_device_and_hash_is_acknowledged_without_a_second_alert() {
    let app = spawn_app_with(vec![], &[]).await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;
    let first = a_match(1);
    let mut later = a_match(1);
    later["matchId"] = json!("another-record-same-file");
    later["reportId"] = json!("5555");

    let replies = [
        app.post_match(&first, 1).await,
        app.post_match(&first, 2).await,
        app.post_match(&later, 1).await,
    ];

    assert!(replies.iter().all(|r| r.status == 200));
    assert!(
        replies[1].logs.contains("alert=duplicate") && replies[2].logs.contains("alert=duplicate")
    );
    assert_eq!(app.defender_calls(ALERT_ROUTE).await.len(), 1);
}

#[tokio::test]
async fn a_match_defender_cannot_alert_on_is_acknowledged_without_a_call() {
    let app = spawn_app_with(vec![], &[]).await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;
    let mut m = a_match(1);
    m["alertable"] = json!(false);
    let reply = app.post_match(&m, 1).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.logs.contains("alert=skipped (not alertable"),
        "{}",
        reply.logs
    );

    let off = spawn_app_with(vec![], &[("DEFENDER_ALERTS", "false")]).await;
    let reply = off.post_match(&a_match(2), 1).await;
    assert_eq!(reply.status, 200);
    assert!(reply.logs.contains("alert=off"), "{}", reply.logs);

    assert!(app.defender.received_requests().await.unwrap().is_empty());
    assert!(off.defender.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_audit_indicator_carries_the_hash_and_generates_alerts_once_per_hash() {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERTS", "false"),
            ("DEFENDER_INDICATOR_ACTION", "audit"),
            ("DEFENDER_INDICATOR_EXPIRY_DAYS", "7"),
            ("DEFENDER_INDICATOR_SEVERITY", "high"),
        ],
    )
    .await;
    defender_answers(&app, INDICATOR_ROUTE, ok()).await;
    let mut elsewhere = a_match(1);
    elsewhere["matchId"] = json!("same-hash-other-device");
    elsewhere["deviceId"] = json!("ffff");

    let first = app.post_match(&a_match(1), 1).await;
    let second = app.post_match(&elsewhere, 1).await;

    assert_eq!((first.status, second.status), (200, 200));
    assert!(first.logs.contains("indicator=done") && second.logs.contains("indicator=duplicate"));
    let calls = app.defender_calls(INDICATOR_ROUTE).await;
    assert_eq!(calls.len(), 1);
    let body = json_body(&calls[0]);
    assert_eq!(body["indicatorValue"], format!("{:064x}", 0xab01));
    assert_eq!(body["indicatorType"], "FileSha256");
    assert_eq!(body["action"], "Audit");
    assert_eq!(body["generateAlert"], true);
    assert_eq!(body["severity"], "High");
    assert_eq!(body["title"], "MISP event 42: Emotet wave");
    let expires = time::OffsetDateTime::parse(
        body["expirationTime"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((167..=168).contains(&days), "{days} hours");
    assert!(app.defender_calls(ALERT_ROUTE).await.is_empty());
}

#[tokio::test]
async fn past_defender_indicator_max_the_process_refuses_and_says_so() {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERTS", "false"),
            ("DEFENDER_INDICATOR_ACTION", "block"),
            ("DEFENDER_INDICATOR_MAX", "1"),
        ],
    )
    .await;
    defender_answers(&app, INDICATOR_ROUTE, ok()).await;

    let first = app.post_match(&a_match(1), 1).await;
    let second = app.post_match(&a_match(2), 1).await;

    assert_eq!((first.status, second.status), (200, 200));
    assert!(
        second.logs.contains("indicator=recorded (refused")
            && second.logs.contains("DEFENDER_INDICATOR_MAX=1"),
        "{}",
        second.logs
    );
    let calls = app.defender_calls(INDICATOR_ROUTE).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(json_body(&calls[0])["action"], "Block");
    assert_eq!(json_body(&calls[0])["generateAlert"], false);
}

async fn sighting_answers(app: &TestApp, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/sightings/add/{ATTRIBUTE_UUID}")))
        .and(header("authorization", SIGHTING_KEY))
        .and(header("accept", "application/json"))
        .respond_with(template)
        .mount(&app.misp)
        .await;
}

#[tokio::test]
async fn a_sighting_uses_its_own_key_type_zero_our_source_and_the_event_time() {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERTS", "false"),
            ("MISP_SIGHTINGS", "true"),
            ("MISP_SIGHTING_API_KEY", SIGHTING_KEY),
        ],
    )
    .await;
    let added = json!({"Sighting":{"id":"8","attribute_id":"8885","event_id":"60","org_id":"1","date_sighting":"1784379571","uuid":"5c7641bf-a4e8-4d5d-a653-03240a00020f","source":"defender-misp","type":"0"}});
    sighting_answers(&app, ResponseTemplate::new(200).set_body_json(added)).await;

    let reply = app.post_match(&a_match(1), 1).await;

    assert_eq!(reply.status, 200, "{}", reply.logs);
    assert!(reply.logs.contains("sighting=done"));
    let calls = calls(&app.misp, &format!("/sightings/add/{ATTRIBUTE_UUID}")).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        json_body(&calls[0]),
        json!({"type":"0","source":"defender-misp","timestamp":1_784_379_571})
    );
}

#[tokio::test]
async fn a_sighting_answer_with_a_message_and_no_sighting_is_a_failure() {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERTS", "false"),
            ("MISP_SIGHTINGS", "true"),
            ("MISP_SIGHTING_API_KEY", SIGHTING_KEY),
        ],
    )
    .await;
    let refused = json!({"message":"Could not add the Sighting. Reason: No valid attributes found that match the criteria."});
    sighting_answers(&app, ResponseTemplate::new(200).set_body_json(refused)).await;

    let reply = app.post_match(&a_match(1), 1).await;

    assert_eq!(reply.status, 500);
    assert!(
        reply
            .logs
            .contains("sighting=failed (MISP added no sighting: Could not add the Sighting"),
        "{}",
        reply.logs
    );
}

#[tokio::test]
async fn a_sighting_that_fails_once_is_retried_within_the_delivery_by_the_misp_retry_policy() {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERTS", "false"),
            ("MISP_SIGHTINGS", "true"),
            ("MISP_SIGHTING_API_KEY", SIGHTING_KEY),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/sightings/add/{ATTRIBUTE_UUID}")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.misp)
        .await;
    sighting_answers(
        &app,
        ResponseTemplate::new(200).set_body_json(json!({"Sighting":{"id":"9"}})),
    )
    .await;

    let reply = app.post_match(&a_match(1), 1).await;

    assert_eq!(reply.status, 200, "{}", reply.logs);
    assert!(reply.logs.contains("sighting=done"), "{}", reply.logs);
    assert_eq!(
        calls(&app.misp, &format!("/sightings/add/{ATTRIBUTE_UUID}"))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn sentinel_receives_every_match_alertable_or_not_with_a_monitor_token() {
    let app = spawn_app_with(
        vec![],
        &[
            ("SENTINEL_DCE_URL", "{defender}"),
            ("SENTINEL_DCR_ID", "dcr-0123abcd"),
            ("SENTINEL_STREAM", "Custom-DefenderMispMatches_CL"),
        ],
    )
    .await;
    let route = "/dataCollectionRules/dcr-0123abcd/streams/Custom-DefenderMispMatches_CL";
    Mock::given(method("POST"))
        .and(path(route))
        .and(query_param("api-version", "2023-01-01"))
        .and(header("authorization", format!("Bearer {MONITOR_TOKEN}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&app.defender)
        .await;
    let mut m = a_match(1);
    m["alertable"] = json!(false);

    let reply = app.post_match(&m, 1).await;

    assert_eq!(reply.status, 200, "{}", reply.logs);
    assert!(reply.logs.contains("sentinel=done"));
    let calls = app.defender_calls(route).await;
    assert_eq!(calls.len(), 1);
    let rows = json_body(&calls[0]);
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(rows[0]["MatchId"], m["matchId"]);
    assert_eq!(rows[0]["Hash"], m["hash"]);
    assert!(
        rows[0]["TimeGenerated"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(app.defender_calls(ALERT_ROUTE).await.is_empty());
}

#[tokio::test]
async fn an_action_that_succeeded_is_not_repeated_when_the_message_comes_back_for_another() {
    let app = spawn_app_with(
        vec![],
        &[
            ("MISP_SIGHTINGS", "true"),
            ("MISP_SIGHTING_API_KEY", SIGHTING_KEY),
            // One attempt per delivery, so that one 500 fails the sighting and the message returns.
            ("MISP_RETRY_ATTEMPTS", "1"),
        ],
    )
    .await;
    defender_answers(&app, ALERT_ROUTE, ok()).await;
    Mock::given(method("POST"))
        .and(path(format!("/sightings/add/{ATTRIBUTE_UUID}")))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.misp)
        .await;
    sighting_answers(
        &app,
        ResponseTemplate::new(200).set_body_json(json!({"Sighting":{"id":"9"}})),
    )
    .await;

    let first = app.post_match(&a_match(1), 1).await;
    let retry = app.post_match(&a_match(1), 2).await;

    assert_eq!(first.status, 500, "{}", first.logs);
    assert!(first.logs.contains("alert=done") && first.logs.contains("sighting=failed"));
    assert_eq!(retry.status, 200, "{}", retry.logs);
    assert!(retry.logs.contains("alert=duplicate") && retry.logs.contains("sighting=done"));
    assert_eq!(app.defender_calls(ALERT_ROUTE).await.len(), 1);
    assert_eq!(
        calls(&app.misp, &format!("/sightings/add/{ATTRIBUTE_UUID}"))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn serve_starts_with_three_settings_and_a_missing_credential_setting_is_named_on_first_use() {
    identity();
    let defender = MockServer::start().await;
    let env: HashMap<String, String> = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071".to_owned()),
        ("MISP_URL", "https://misp.example".to_owned()),
        ("MISP_API_KEY", MISP_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    start(&env).await;

    let mut env = env;
    env.insert("AZURE_AUTH".into(), "client-secret".into());
    env.insert(
        "AZURE_CLIENT_SECRET".into(),
        "client-secret-value-81f2".into(),
    );
    env.insert("DEFENDER_API_URL".into(), defender.uri());
    env.insert("DEFENDER_ALERTS".into(), "true".into());
    let address = start(&env).await;
    let reply = reqwest::Client::new()
        .post(format!("{address}/RaiseAlerts"))
        .json(&queue_invocation(&a_match(1), 1))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 500);
    let text = reply.text().await.unwrap();
    assert!(
        text.contains("AZURE_AUTH=client-secret needs AZURE_TENANT_ID, which is not set"),
        "{text}"
    );
    assert!(!text.contains("client-secret-value-81f2"));
    assert!(defender.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_message_that_is_not_a_match_is_refused_so_it_ends_in_the_poison_queue() {
    let app = spawn_app_with(vec![], &[]).await;
    let body = json!({"Data":{"match":"\"\\\"hello\\\"\""},"Metadata":{"DequeueCount":"3"}});

    let reply = app.post_raw(&body).await;

    assert_eq!(reply.status, 400);
    assert!(reply.logs.contains("misp-matches-poison"), "{}", reply.logs);
    assert!(app.defender.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_indicator_refused_for_a_missing_role_names_ti_readwrite_all() {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERTS", "false"),
            ("DEFENDER_INDICATOR_ACTION", "audit"),
        ],
    )
    .await;
    let error = json!({"error":{"code":"Forbidden","message":"Missing application roles. API required roles: Ti.ReadWrite.All, Ti.ReadWrite"}});
    defender_answers(
        &app,
        INDICATOR_ROUTE,
        ResponseTemplate::new(403).set_body_json(error),
    )
    .await;

    let reply = app.post_match(&a_match(1), 1).await;

    assert_eq!(reply.status, 500, "{}", reply.logs);
    assert!(
        reply
            .logs
            .contains("indicator=failed (Defender refused the token (HTTP 403)")
            && reply
                .logs
                .contains("WindowsDefenderATP application role Ti.ReadWrite.All"),
        "{}",
        reply.logs
    );
}
