//! `POST /MatchEvents`: decoding, matching, outputs.

use serde_json::Value;

use crate::fixtures::*;
use crate::helpers::{hashes_of, spawn_app};
use crate::host_sim::Declared;
use crate::stub_misp::StubAttribute;

const NONE: [&str; 3] = ["", "", ""];

#[tokio::test]
async fn plain_composite_and_malware_sample_attributes_all_match_a_bare_hash() {
    let (plain, composite, sample, object) = (
        sha256("plain"),
        sha1("composite"),
        md5("sample"),
        sha256("object"),
    );
    let app = spawn_app(vec![
        StubAttribute::ids("sha256", plain.clone(), 1),
        StubAttribute::ids("filename|sha1", format!("evil.exe|{composite}"), 2),
        StubAttribute::ids("malware-sample", format!("evil.zip|{sample}"), 3),
        StubAttribute::ids("sha256", object.clone(), 4),
    ])
    .await;
    let events = vec![
        envelope(&[device_event(
            "DeviceFileEvents",
            1,
            [&composite, &plain, &sample],
            NONE,
        )]),
        envelope(&[device_event(
            "DeviceProcessEvents",
            2,
            ["", "", ""],
            ["", &object, ""],
        )]),
    ];
    let result = app.match_events(&events).await;
    assert_eq!(result.status, 200);
    let messages = result.queue_messages();
    let mut expected = vec![
        plain.clone(),
        composite.clone(),
        sample.clone(),
        object.clone(),
    ];
    expected.sort();
    assert_eq!(hashes_of(&messages), expected);
    let composite_match = messages
        .iter()
        .find(|m| m["hash"] == composite.as_str())
        .unwrap();
    assert_eq!(
        composite_match["intel"][0]["attributeType"],
        "filename|sha1"
    );
    assert_eq!(composite_match["hashType"], "sha1");
    assert_eq!(composite_match["hashFields"], serde_json::json!(["SHA1"]));
    let object_match = messages
        .iter()
        .find(|m| m["hash"] == object.as_str())
        .unwrap();
    assert_eq!(
        object_match["hashFields"],
        serde_json::json!(["InitiatingProcessSHA256"])
    );
    assert_eq!(object_match["fileName"], "cmd.exe");
    assert!(result.dead_letter().is_none());
    assert_eq!(app.misp.requests(), 1, "one batch, one restSearch");
}

#[tokio::test]
async fn the_match_carries_the_documented_fields() {
    let bad = sha256("documented");
    let app = spawn_app(vec![StubAttribute::ids("sha256", bad.clone(), 7)]).await;
    let result = app
        .match_events(&[envelope(&[device_event(
            "DeviceFileEvents",
            8132,
            ["", &bad, ""],
            NONE,
        )])])
        .await;
    let m = &result.queue_messages()[0];
    for field in [
        "matchId",
        "deviceId",
        "deviceName",
        "reportId",
        "timestamp",
        "category",
        "alertable",
        "hash",
        "hashType",
        "hashFields",
        "fileName",
        "folderPath",
        "intel",
    ] {
        assert!(m.get(field).is_some(), "missing {field} in {m}");
    }
    assert_eq!(m["reportId"], "8132");
    assert_eq!(m["deviceId"], DEVICE);
    assert_eq!(m["timestamp"], TIMESTAMP);
    assert_eq!(m["category"], "AdvancedHunting-DeviceFileEvents");
    assert_eq!(m["alertable"], true);
    let intel = &m["intel"][0];
    assert_eq!(intel["eventId"], "7");
    assert_eq!(intel["eventUuid"], "11111111-0000-4000-8000-000000000007");
    assert_eq!(intel["eventInfo"], "Test event 7");
    assert_eq!(intel["threatLevelId"], 1);
    assert_eq!(intel["attributeType"], "sha256");
    assert!(intel["attributeUuid"].as_str().unwrap().len() == 36);
    assert_eq!(intel["tags"], serde_json::json!(["tlp:amber"]));
}

#[tokio::test]
async fn a_redelivered_event_gives_the_same_match_id() {
    let bad = sha1("redelivered");
    let app = spawn_app(vec![StubAttribute::ids("sha1", bad.clone(), 1)]).await;
    let body = envelope(&[device_event(
        "DeviceImageLoadEvents",
        5,
        [&bad, "", ""],
        NONE,
    )]);
    let first = app
        .match_events(std::slice::from_ref(&body))
        .await
        .queue_messages();
    let second = app
        .match_events(&[body.clone(), body])
        .await
        .queue_messages();
    assert_eq!(
        second.len(),
        1,
        "duplicate records in one batch give one match"
    );
    assert_eq!(first[0]["matchId"], second[0]["matchId"]);
}

#[tokio::test]
async fn non_ids_deleted_and_unpublished_attributes_never_match() {
    let (not_ids, deleted, unpublished, good) = (
        sha256("not-ids"),
        sha256("deleted"),
        sha256("unpublished"),
        sha256("good"),
    );
    let mut a = StubAttribute::ids("sha256", not_ids.clone(), 1);
    a.to_ids = false;
    let mut b = StubAttribute::ids("sha256", deleted.clone(), 2);
    b.deleted = true;
    let mut c = StubAttribute::ids("sha256", unpublished.clone(), 3);
    c.published = false;
    let app = spawn_app(vec![a, b, c, StubAttribute::ids("sha256", good.clone(), 4)]).await;
    let events: Vec<Vec<u8>> = [&not_ids, &deleted, &unpublished, &good]
        .iter()
        .enumerate()
        .map(|(i, h)| {
            envelope(&[device_event(
                "DeviceFileEvents",
                i as u64,
                ["", h, ""],
                NONE,
            )])
        })
        .collect();
    let result = app.match_events(&events).await;
    assert_eq!(hashes_of(&result.queue_messages()), vec![good]);
}

#[tokio::test]
async fn unpublished_events_match_when_published_only_is_off() {
    let unpublished = sha256("draft");
    let mut a = StubAttribute::ids("sha256", unpublished.clone(), 3);
    a.published = false;
    let app = crate::helpers::spawn_app_with(vec![a], &[("MISP_PUBLISHED_ONLY", "false")]).await;
    let result = app
        .match_events(&[envelope(&[device_event(
            "DeviceFileEvents",
            1,
            ["", &unpublished, ""],
            NONE,
        )])])
        .await;
    assert_eq!(result.queue_messages().len(), 1);
    assert!(app.misp.bodies()[0].get("published").is_none());
}

#[tokio::test]
async fn the_request_sends_every_filter_explicitly() {
    let app = spawn_app(vec![]).await;
    let h = sha1("filters");
    app.match_events(&[envelope(&[device_event(
        "DeviceFileEvents",
        1,
        [&h.to_uppercase(), "", ""],
        NONE,
    )])])
    .await;
    let body = &app.misp.bodies()[0];
    assert_eq!(
        body["value"],
        serde_json::json!([h]),
        "lowercase, validated values only"
    );
    assert_eq!(body["to_ids"], 1);
    assert_eq!(body["deleted"], 0);
    assert_eq!(body["published"], 1);
    assert_eq!(body["enforceWarninglist"], 1);
    assert_eq!(body["includeContext"], 1);
    assert_eq!(body["includeEventTags"], 1);
    let types: Vec<&str> = body["type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "md5",
        "sha1",
        "sha256",
        "filename|md5",
        "filename|sha1",
        "filename|sha256",
        "malware-sample",
    ] {
        assert!(types.contains(&t), "type {t} missing from {types:?}");
    }
}

#[tokio::test]
async fn uppercase_hashes_match_and_invalid_and_empty_file_hashes_are_never_sent() {
    let bad = md5("upper");
    let app = spawn_app(vec![StubAttribute::ids("md5", bad.clone(), 1)]).await;
    let record = device_event(
        "DeviceFileEvents",
        1,
        [
            "not-hex-but-forty-chars-long-xxxxxxxxxxx",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            &bad.to_uppercase(),
        ],
        [
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "abc",
            "d41d8cd98f00b204e9800998ecf8427e",
        ],
    );
    let result = app.match_events(&[envelope(&[record])]).await;
    assert_eq!(hashes_of(&result.queue_messages()), vec![bad.clone()]);
    assert_eq!(app.misp.bodies()[0]["value"], serde_json::json!([bad]));
    let line = &result.logs()[0];
    assert!(
        line.contains("invalid=2") && line.contains("empty=3"),
        "{line}"
    );
}

#[tokio::test]
async fn allowlisted_hashes_are_never_looked_up() {
    let (trusted, other) = (sha256("trusted-tool"), sha256("other"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allow.txt");
    std::fs::write(&path, format!("# our tools\n{}\n", trusted.to_uppercase())).unwrap();
    let app = crate::helpers::spawn_app_with(
        vec![StubAttribute::ids("sha256", trusted.clone(), 1)],
        &[("MATCH_ALLOWLIST", path.to_str().unwrap())],
    )
    .await;
    let result = app
        .match_events(&[envelope(&[device_event(
            "DeviceFileEvents",
            1,
            ["", &trusted, ""],
            ["", &other, ""],
        )])])
        .await;
    assert!(result.queue_messages().is_empty());
    assert_eq!(app.misp.bodies()[0]["value"], serde_json::json!([other]));
}

#[tokio::test]
async fn every_hash_bearing_table_is_read() {
    let h = |s: &str| (sha1(s), sha256(s), md5(s));
    let (f, p, i, e, n, c, m, a) = (
        h("file"),
        h("proc"),
        h("image"),
        h("devev"),
        h("net"),
        h("cert"),
        h("mail"),
        h("evidence"),
    );
    let attrs = vec![
        StubAttribute::ids("md5", f.2.clone(), 1),
        StubAttribute::ids("sha256", p.1.clone(), 1),
        StubAttribute::ids("sha1", i.0.clone(), 1),
        StubAttribute::ids("sha1", e.0.clone(), 1),
        StubAttribute::ids("sha1", n.0.clone(), 1),
        StubAttribute::ids("sha1", c.0.clone(), 1),
        StubAttribute::ids("sha256", m.1.clone(), 1),
        StubAttribute::ids("sha256", a.1.clone(), 1),
    ];
    let app = spawn_app(attrs).await;
    let records = vec![
        device_event("DeviceFileEvents", 1, ["", "", &f.2], NONE),
        device_event("DeviceProcessEvents", 2, ["", &p.1, ""], NONE),
        device_event("DeviceImageLoadEvents", 3, [&i.0, "", ""], NONE),
        device_event("DeviceEvents", 4, [&e.0, "", ""], NONE),
        network_event(5, &n.0),
        certificate_info(6, &c.0),
        email_attachment("mail-1", &m.1),
        alert_evidence("", &a.1),
        logon_info(),
    ];
    let result = app.match_events(&[envelope(&records)]).await;
    let messages = result.queue_messages();
    assert_eq!(messages.len(), 8);
    let alertable = |cat: &str| {
        messages
            .iter()
            .find(|m| m["category"] == format!("AdvancedHunting-{cat}"))
            .unwrap()["alertable"]
            .as_bool()
            .unwrap()
    };
    assert!(alertable("DeviceNetworkEvents"));
    assert!(
        !alertable("DeviceFileCertificateInfo"),
        "not an event table"
    );
    assert!(!alertable("EmailAttachmentInfo"), "no device");
    assert!(!alertable("AlertEvidence"));
    let mail = messages
        .iter()
        .find(|m| m["category"] == "AdvancedHunting-EmailAttachmentInfo")
        .unwrap();
    assert_eq!(mail["reportId"], "mail-1");
    assert_eq!(mail["deviceId"], Value::Null);
}

#[tokio::test]
async fn the_cache_saves_requests_and_a_warm_batch_makes_none() {
    let bad = sha256("cached");
    let app = spawn_app(vec![StubAttribute::ids("sha256", bad.clone(), 1)]).await;
    let batch = vec![envelope(&[device_event(
        "DeviceFileEvents",
        1,
        [&sha1("x"), &bad, &md5("y")],
        NONE,
    )])];
    let cold = app.match_events(&batch).await;
    assert_eq!(app.misp.requests(), 1);
    let warm = app.match_events(&batch).await;
    assert_eq!(app.misp.requests(), 1, "hits and misses both cached");
    assert_eq!(cold.queue_messages(), warm.queue_messages());
    assert!(
        warm.logs()[0].contains("cache-hits=3 misp-requests=0"),
        "{}",
        warm.logs()[0]
    );
}

#[tokio::test]
async fn hashes_are_sent_in_chunks_of_misp_chunk_size() {
    let app = crate::helpers::spawn_app_with(vec![], &[("MISP_CHUNK_SIZE", "10")]).await;
    let records: Vec<Value> = (0..25)
        .map(|i| {
            device_event(
                "DeviceFileEvents",
                i,
                ["", &sha256(&format!("c{i}")), ""],
                NONE,
            )
        })
        .collect();
    app.match_events(&[envelope(&records)]).await;
    let sizes: Vec<usize> = app
        .misp
        .bodies()
        .iter()
        .map(|b| b["value"].as_array().unwrap().len())
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort();
    assert_eq!(sorted, vec![5, 10, 10]);
}

#[tokio::test]
async fn malformed_bodies_are_dead_lettered_while_the_rest_of_the_batch_matches() {
    let bad = sha256("still-matched");
    let app = spawn_app(vec![StubAttribute::ids("sha256", bad.clone(), 1)]).await;
    let events = vec![
        b"hello world".to_vec(),
        envelope(&[device_event("DeviceFileEvents", 1, ["", &bad, ""], NONE)]),
        br#"{"deviceId":"dev-1","temp":21.5}"#.to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        Vec::new(),
    ];
    let result = app.match_events(&events).await;
    assert_eq!(result.status, 200);
    assert_eq!(hashes_of(&result.queue_messages()), vec![bad]);
    let dead = result.dead_letter().expect("a dead letter");
    assert_eq!(dead["partitionId"], "0");
    let events_out = dead["events"].as_array().unwrap();
    assert_eq!(events_out.len(), 4);
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(events_out[2]["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, vec![0xff, 0xfe, 0x00, 0x7b], "exact bytes kept");
    assert_eq!(events_out[0]["sequenceNumber"], 42);
    assert_eq!(events_out[1]["sequenceNumber"], 44);
    assert_eq!(events_out[1]["offset"], (44 * 512).to_string());
    assert!(
        events_out[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert!(
        events_out[1]["reason"]
            .as_str()
            .unwrap()
            .contains("not Defender records")
    );
    assert_eq!(events_out[3]["reason"], "empty body");
    assert!(
        events_out[0]["enqueuedTime"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-01T12:00:")
    );
}

#[tokio::test]
async fn string_unset_and_single_dispatch_bodies_are_decoded_from_their_shape() {
    let bad = sha1("shapes");
    let app = spawn_app(vec![StubAttribute::ids("sha1", bad.clone(), 1)]).await;
    let body = envelope(&[device_event("DeviceFileEvents", 1, [&bad, "", ""], NONE)]);
    for declared in [
        Declared::ManyString,
        Declared::ManyUnset,
        Declared::OneString,
    ] {
        let result = app
            .match_events_as(std::slice::from_ref(&body), declared, None)
            .await;
        assert_eq!(result.status, 200, "{declared:?}");
        assert_eq!(
            hashes_of(&result.queue_messages()),
            vec![bad.clone()],
            "{declared:?}"
        );
    }
    // JSON lines in one body (the Storage export's shape), CRLF.
    let record =
        serde_json::to_string(&device_event("DeviceFileEvents", 2, [&bad, "", ""], NONE)).unwrap();
    let lines = format!("{record}\r\n{record}\r\n").into_bytes();
    let result = app.match_events(&[lines]).await;
    assert_eq!(result.queue_messages().len(), 1);
}

#[tokio::test]
async fn readiness_answers_at_once_and_the_answer_always_has_the_three_keys() {
    let app = spawn_app(vec![]).await;
    let ready = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let result = app.match_events(&[envelope(&[logon_info()])]).await;
    let body = result.body.as_object().unwrap();
    assert!(
        body.contains_key("Outputs")
            && body.contains_key("Logs")
            && body.contains_key("ReturnValue")
    );
    assert_eq!(body["ReturnValue"], Value::Null);
    assert_eq!(result.queue_messages().len(), 0);
}

#[tokio::test]
async fn a_request_that_is_not_a_host_invocation_fails_with_a_json_reason() {
    let app = spawn_app(vec![]).await;
    let result = crate::host_sim::invoke(
        &app.client,
        &app.address,
        "MatchEvents",
        &serde_json::json!({"Data": {}}),
    )
    .await;
    assert_eq!(result.status, 400);
    assert!(result.logs()[0].contains("no `events` trigger data"));
}

#[tokio::test]
async fn a_batch_of_large_events_beyond_two_megabytes_is_accepted() {
    let bad = sha256("large");
    let app = spawn_app(vec![StubAttribute::ids("sha256", bad.clone(), 1)]).await;
    let mut records = vec![device_event("DeviceFileEvents", 1, ["", &bad, ""], NONE)];
    records.extend((0..400).map(|i| device_event("DeviceProcessEvents", i, ["", "", ""], NONE)));
    let big = envelope(&records);
    assert!(big.len() > 300_000);
    let events = vec![big; 10];
    let result = app.match_events(&events).await;
    assert_eq!(result.status, 200);
    assert_eq!(result.queue_messages().len(), 1);
}

#[tokio::test]
async fn a_batch_sent_with_content_length_instead_of_chunked_is_read_the_same() {
    let bad = sha256("content-length");
    let app = spawn_app(vec![StubAttribute::ids("sha256", bad.clone(), 1)]).await;
    let events = vec![envelope(&[device_event(
        "DeviceFileEvents",
        1,
        ["", &bad, ""],
        NONE,
    )])];
    // Under Core Tools the host buffers the body and sends a Content-Length.
    let body = serde_json::to_vec(&crate::host_sim::invocation(
        &events,
        Declared::ManyBinary,
        None,
        1,
    ))
    .unwrap();
    let response = app
        .client
        .post(format!("{}/MatchEvents", app.address))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["Outputs"]["matches"][0]["hash"], bad.as_str());
}
