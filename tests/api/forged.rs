//! Forged queue messages (issue 11, section 6): anyone who can write to `misp-matches` can put
//! anything there. Every field read from a message is checked and bounded before it reaches
//! Defender, MISP, Sentinel or the host's `Logs`.

use serde_json::{Value, json};

use crate::alert_helpers::{ALERT_ROUTE, ATTRIBUTE_UUID, a_match, queue_invocation};
use crate::helpers::{MONITOR_TOKEN, spawn_app_with};
use crate::stub_http::matchers::{header, method, path, path_prefix};
use crate::stub_http::{Mock, ResponseTemplate};

#[tokio::test]
async fn a_hostile_match_id_or_a_hash_that_does_not_fit_its_type_is_refused_in_one_clean_line() {
    let app = spawn_app_with(vec![], &[]).await;
    let hostile: [(&str, Value); 4] = [
        ("matchId", json!("a\r\nRaiseAlerts match=forged alert=done")),
        ("matchId", json!("x".repeat(60_000))),
        ("matchId", json!("../../sightings")),
        ("hash", json!("b".repeat(32))),
    ];
    for (field, value) in hostile {
        let mut m = a_match(1);
        m[field] = value;
        let reply = app.post_match(&m, 1).await;
        assert_eq!(reply.status, 400, "{field}: {}", reply.logs);
        assert!(reply.logs.contains("misp-matches-poison"), "{}", reply.logs);
        assert!(
            !reply.logs.contains('\n') && !reply.logs.contains('\r') && reply.logs.len() < 800,
            "one bounded line: {}",
            reply.logs
        );
    }
    assert!(
        app.defender_calls(ALERT_ROUTE).await.is_empty(),
        "nothing acted on"
    );
}

#[tokio::test]
async fn a_request_larger_than_any_queue_message_is_refused_unread() {
    let app = spawn_app_with(vec![], &[]).await;
    let mut m = a_match(1);
    m["intel"] = Value::Array(vec![m["intel"][0].clone(); 20_000]);
    let reply = app.post_raw(&queue_invocation(&m, 1)).await;
    assert_eq!(reply.status, 413, "{}", reply.logs);
    assert!(app.defender_calls(ALERT_ROUTE).await.is_empty());
}

#[tokio::test]
async fn many_intel_entries_make_at_most_ten_sightings_and_a_uuid_of_dashes_none() {
    let app = spawn_app_with(
        vec![],
        &[("DEFENDER_ALERTS", "false"), ("MISP_SIGHTINGS", "true")],
    )
    .await;
    let added = json!({"Sighting": {"id": "8", "type": "0", "source": "defender-misp"}});
    Mock::given(method("POST"))
        .and(path_prefix("/sightings/add/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(added))
        .mount(&app.misp)
        .await;
    let mut m = a_match(2);
    let entry = m["intel"][0].clone();
    let entries: Vec<Value> = (0..200u32)
        .map(|i| {
            let mut e = entry.clone();
            e["attributeUuid"] = json!(format!("6d7641bf-a4e8-4d5d-a653-{i:012}"));
            e
        })
        .collect();
    m["intel"] = Value::Array(entries);
    m["intel"][0]["attributeUuid"] = json!("-".repeat(36));
    let reply = app.post_match(&m, 1).await;
    assert_eq!(reply.status, 200, "{}", reply.logs);
    let sightings: Vec<String> = app
        .misp
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.url.path().to_owned())
        .filter(|p| p.starts_with("/sightings/add/"))
        .collect();
    assert_eq!(
        sightings.len(),
        9,
        "ten entries kept, one without a uuid: {sightings:?}"
    );
    assert!(
        sightings.iter().all(|p| !p.contains("----")),
        "{sightings:?}"
    );
    assert!(!sightings.contains(&format!("/sightings/add/{ATTRIBUTE_UUID}")));
}

#[tokio::test]
async fn control_and_bidi_characters_never_reach_the_sentinel_row_and_a_string_threat_level_is_read()
 {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_ALERTS", "false"),
            ("SENTINEL_DCE_URL", "{defender}"),
            ("SENTINEL_DCR_ID", "dcr-0123abcd"),
            ("SENTINEL_STREAM", "Custom-DefenderMispMatches_CL"),
        ],
    )
    .await;
    let route = "/dataCollectionRules/dcr-0123abcd/streams/Custom-DefenderMispMatches_CL";
    Mock::given(method("POST"))
        .and(path(route))
        .and(header("authorization", format!("Bearer {MONITOR_TOKEN}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&app.defender)
        .await;
    let mut m = a_match(3);
    m["deviceName"] = json!("ws-1\u{0}\u{1b}[31m\u{202e}exe.txt");
    m["fileName"] = json!("evil\r\n.exe");
    m["category"] = json!("AdvancedHunting-DeviceFileEvents\u{7}");
    m["intel"][0]["eventInfo"] = json!("Emotet\u{202e} wave\u{1b}]0;x\u{7}");
    m["intel"][0]["threatLevelId"] = json!("1");
    let reply = app.post_match(&m, 1).await;
    assert_eq!(reply.status, 200, "{}", reply.logs);
    let calls = app.defender_calls(route).await;
    assert_eq!(calls.len(), 1);
    let row: Value = serde_json::from_slice(&calls[0].body).unwrap();
    let text = row.to_string();
    for bad in ['\u{0}', '\u{1b}', '\u{202e}', '\u{7}', '\r', '\n'] {
        let escaped = serde_json::to_string(&bad.to_string()).unwrap();
        assert!(
            !text.contains(bad) && !text.contains(escaped.trim_matches('"')),
            "{bad:?} reached the row: {text}"
        );
    }
    assert_eq!(row[0]["MispThreatLevelId"], 1, "MISP writes \"1\"");
    assert_eq!(row[0]["MispThreatLevel"], "High");
}
