//! Network indicators (issue 15) end to end: a record of each table that carries them, against
//! a MISP holding each network type (composites, a CIDR, a subdomain, IPv6, an IDN, a private
//! address and a warninglisted one), online through `POST /MatchEvents` and in feed mode
//! through `scan --misp-feed`. The same records give the same matches in both modes, but for
//! what online mode cannot do: a CIDR value is found only in feed (and snapshot) mode.

use serde_json::{Value, json};

use crate::fixtures::{DEVICE, TIMESTAMP, envelope, record};
use crate::helpers::{spawn_app, spawn_app_with, summary_field};
use crate::scan::{bin, lines, write_feed};
use crate::stub_misp::StubAttribute;

/// The intel: (type, value, on a warninglist MISP enforces).
const WORLD: [(&str, &str, bool); 13] = [
    ("ip-dst", "1.2.3.40", false),
    ("ip-dst|port", "1.2.3.41|8443", false),
    ("domain", "evil.test", false),
    ("hostname", "exact.test", false),
    ("domain|ip", "mixed.test|1.2.3.42", false),
    ("hostname|port", "svc.test|8080", false),
    ("url", "https://evil.test/payload.bin", false),
    ("email-src", "phish@sender.test", false),
    ("ip-dst", "2d00::7", false),
    ("domain", "xn--bcher-kva.test", false),
    ("ip-dst", "1.2.3.128/25", false),
    ("ip-src", "10.0.0.5", false),
    // In tests/data/warninglists' fixture-resolvers (1.2.3.0/28).
    ("ip-src", "1.2.3.5", true),
];

fn row(table: &str, report_id: u64, columns: Value) -> Value {
    let mut props = json!({"Timestamp": TIMESTAMP, "DeviceId": DEVICE, "DeviceName": "ws-1",
        "ReportId": report_id, "LocalIP": "1.2.3.40"});
    for (k, v) in columns.as_object().unwrap() {
        props[k] = v.clone();
    }
    record(table, props)
}

/// One record per table and case; each is its own event.
fn records() -> Vec<Value> {
    vec![
        row(
            "DeviceNetworkEvents",
            1,
            json!({"RemoteIP": "1.2.3.40", "RemotePort": 443, "RemoteUrl": "a.b.evil.test"}),
        ),
        row(
            "DeviceNetworkEvents",
            2,
            json!({"RemoteIP": "1.2.3.41", "RemotePort": 8443}),
        ),
        row(
            "DeviceNetworkEvents",
            3,
            json!({"RemoteIP": "1.2.3.41", "RemotePort": 443}),
        ),
        row(
            "DeviceNetworkEvents",
            4,
            json!({"RemoteIP": "10.0.0.5", "RemoteUrl": "sub.exact.test"}),
        ),
        row(
            "DeviceNetworkEvents",
            5,
            json!({"RemoteIP": "1.2.3.200", "RemotePort": 443}),
        ),
        row(
            "DeviceFileEvents",
            6,
            json!({"FileOriginUrl": "https://evil.test/payload.bin",
            "FileOriginReferrerUrl": "https://mixed.test/", "FileOriginIP": "2d00:0::7"}),
        ),
        row(
            "DeviceEvents",
            7,
            json!({"RemoteIP": "1.2.3.42", "RemoteUrl": "SVC.test", "RemotePort": "8080"}),
        ),
        row(
            "DeviceLogonEvents",
            8,
            json!({"RemoteIP": "::ffff:1.2.3.40", "RemotePort": 0}),
        ),
        record(
            "EmailEvents",
            json!({"Timestamp": TIMESTAMP, "ReportId": "e-9", "SenderIPv4": "1.2.3.5",
            "SenderFromDomain": "exact.test", "SenderFromAddress": "Phish@Sender.test"}),
        ),
        record(
            "EmailUrlInfo",
            json!({"Timestamp": TIMESTAMP, "ReportId": "e-10",
            "Url": "https://bücher.test/x", "UrlDomain": "BÜCHER.test"}),
        ),
        record(
            "UrlClickEvents",
            json!({"Timestamp": TIMESTAMP, "ReportId": "e-11",
            "Url": "http://x.evil.test/landing", "IPAddress": "1.2.3.40"}),
        ),
    ]
}

/// What online mode matches: (report id, indicator value, port, columns, attribute values).
fn expected_online() -> Vec<String> {
    let mut v: Vec<String> = [
        "1 1.2.3.40 443 RemoteIP [1.2.3.40]",
        "1 a.b.evil.test 443 RemoteUrl [evil.test]",
        "2 1.2.3.41 8443 RemoteIP [1.2.3.41|8443]",
        "6 https://evil.test/payload.bin 443 FileOriginUrl [https://evil.test/payload.bin]",
        "6 evil.test 443 FileOriginUrl [evil.test]",
        "6 mixed.test 443 FileOriginReferrerUrl [mixed.test|1.2.3.42]",
        "6 2d00::7 - FileOriginIP [2d00::7]",
        "7 1.2.3.42 8080 RemoteIP [mixed.test|1.2.3.42]",
        "7 svc.test 8080 RemoteUrl [svc.test|8080]",
        "8 1.2.3.40 0 RemoteIP [1.2.3.40]",
        "e-9 exact.test - SenderFromDomain [exact.test]",
        "e-9 phish@sender.test - SenderFromAddress [phish@sender.test]",
        "e-10 xn--bcher-kva.test 443 Url,UrlDomain [xn--bcher-kva.test]",
        "e-11 x.evil.test 80 Url [evil.test]",
    ]
    .map(str::to_owned)
    .to_vec();
    v.sort();
    v
}

fn described(messages: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = messages
        .iter()
        .map(|m| {
            let values: Vec<&str> = m["intel"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["value"].as_str().unwrap())
                .collect();
            let columns: Vec<&str> = m["indicatorColumns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let port = m["indicatorPort"]
                .as_u64()
                .map_or("-".to_owned(), |p| p.to_string());
            assert!(m["hash"].is_null() && m["hashType"].is_null(), "{m}");
            format!(
                "{} {} {port} {} [{}]",
                m["reportId"].as_str().unwrap(),
                m["indicatorValue"].as_str().unwrap(),
                columns.join(","),
                values.join(",")
            )
        })
        .collect();
    v.sort();
    v
}

fn stub_world() -> Vec<StubAttribute> {
    WORLD
        .iter()
        .enumerate()
        .map(|(n, (kind, value, listed))| {
            let a = StubAttribute::ids(kind, *value, n as u32 + 1);
            if *listed { a.warninglisted() } else { a }
        })
        .collect()
}

#[tokio::test]
async fn online_every_table_matches_each_network_type_in_one_request_and_none_when_warm() {
    let app = spawn_app(stub_world()).await;
    let events: Vec<Vec<u8>> = records()
        .iter()
        .map(|r| envelope(std::slice::from_ref(r)))
        .collect();
    let result = app.match_events(&events).await;
    assert_eq!(result.status, 200);
    assert_eq!(described(&result.queue_messages()), expected_online());
    assert_eq!(app.misp.requests(), 1, "one restSearch for the cold batch");
    let body = &app.misp.bodies()[0];
    assert_eq!(body["enforceWarninglist"], 1);
    let types: Vec<&str> = body["type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "ip-dst|port",
        "domain|ip",
        "hostname|port",
        "url",
        "email-src",
    ] {
        assert!(types.contains(&t), "{t} asked for");
    }
    let values: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        values.contains(&"b.evil.test") && values.contains(&"evil.test"),
        "parents asked for"
    );
    assert!(
        !values
            .iter()
            .any(|v| v.contains('|') || *v == "8443" || *v == "10.0.0.5"),
        "{values:?}"
    );
    assert!(!values.contains(&"1.2.3.128/25"));
    let line = result
        .logs()
        .into_iter()
        .find(|l| l.starts_with("MatchEvents"))
        .unwrap();
    assert_eq!(
        summary_field(&line, "never-looked-up"),
        1,
        "10.0.0.5: {line}"
    );

    let again = app.match_events(&events).await;
    assert_eq!(described(&again.queue_messages()), expected_online());
    assert_eq!(app.misp.requests(), 1, "warm: no request");
}

#[tokio::test]
async fn an_allowlisted_name_covers_its_subdomains_and_urls_online() {
    let dir = tempfile::tempdir().unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "# ours\nevil.test\n1.2.3.40\n").unwrap();
    let app = spawn_app_with(
        stub_world(),
        &[("MATCH_ALLOWLIST", allow.to_str().unwrap())],
    )
    .await;
    let events: Vec<Vec<u8>> = records()
        .iter()
        .map(|r| envelope(std::slice::from_ref(r)))
        .collect();
    let result = app.match_events(&events).await;
    let got = described(&result.queue_messages());
    let expected: Vec<String> = expected_online()
        .into_iter()
        .filter(|l| !l.contains("evil.test") && !l.contains(" 1.2.3.40 "))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn feed_mode_matches_the_same_plus_networks_and_applies_the_warninglist_folder() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    let attributes: Vec<Value> = WORLD
        .iter()
        .map(|(kind, value, _)| json!({"type": kind, "to_ids": true, "value": value}))
        .collect();
    write_feed(&feed, &attributes);
    let file = dir.path().join("export.json");
    let lines_text: Vec<String> = records().iter().map(Value::to_string).collect();
    std::fs::write(&file, lines_text.join("\n")).unwrap();
    let lists =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/warninglists");
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&file)
        .arg("--misp-feed")
        .arg(&feed)
        .env("MISP_WARNINGLISTS_DIR", lists)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut expected = expected_online();
    expected.push("5 1.2.3.200 443 RemoteIP [1.2.3.128/25]".to_owned());
    expected.sort();
    assert_eq!(described(&lines(&out.stdout)), expected, "{stderr}");
    // The summary counts the network values: 21 found, 10.0.0.5 never looked up.
    assert!(
        stderr.contains("indicators=21 invalid-indicators=0 never-looked-up=1"),
        "{stderr}"
    );
    // 12 attributes admitted; `domain|ip` is indexed under its two values.
    assert!(
        stderr.contains("0 file-hash IOCs, 13 network values"),
        "{stderr}"
    );
    assert!(
        stderr.contains("attributes left out: 1 on a warninglist (fixture-resolvers: 1)"),
        "{stderr}"
    );
    assert!(!stderr.contains("nothing can match"), "{stderr}");
}

#[tokio::test]
async fn snapshot_mode_matches_the_same_records_locally_networks_included() {
    let extra = [("MISP_MODE", "snapshot"), ("MISP_SNAPSHOT_PAGE_SIZE", "4")];
    let app = spawn_app_with(stub_world(), &extra).await;
    let events: Vec<Vec<u8>> = records()
        .iter()
        .map(|r| envelope(std::slice::from_ref(r)))
        .collect();
    // Until the first load completes, batches are dead-lettered ("snapshot has not finished").
    let mut result = app.match_events(&events).await;
    for _ in 0..200 {
        if result.dead_events().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        result = app.match_events(&events).await;
    }
    assert!(result.dead_events().is_empty(), "the snapshot loaded");
    let pulls = app
        .misp
        .bodies()
        .iter()
        .filter(|b| b.get("value").is_none())
        .count();
    assert!(pulls >= 4, "13 attributes in pages of 4: {pulls}");
    let mut expected = expected_online();
    expected.push("5 1.2.3.200 443 RemoteIP [1.2.3.128/25]".to_owned());
    expected.sort();
    assert_eq!(described(&result.queue_messages()), expected);
    let confirm = app.misp.bodies().last().unwrap().clone();
    let asked = confirm["value"].as_array().unwrap();
    assert!(
        !asked.contains(&json!("x.evil.test")),
        "misses are not asked: {asked:?}"
    );
}

#[tokio::test]
async fn a_network_dead_letter_matches_on_replay_and_a_network_poison_message_reads_back() {
    use crate::host_sim::{Declared, Retry};
    use crate::stub_misp::{Fault, MISP_KEY};
    let app = spawn_app(stub_world()).await;
    app.misp.set_fault(Fault::Status(503));
    let events = vec![envelope(&[records()[0].clone()])];
    let retry = Some(Retry { count: 3, max: 3 });
    let result = app
        .match_events_as(&events, Declared::ManyBinary, retry)
        .await;
    let doc = result
        .dead_letter()
        .expect("dead-lettered while MISP was down");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deadletter.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    app.misp.set_fault(Fault::None);
    let url = app.misp.url();
    let p = path.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["replay", &p])
            .env("MISP_URL", &url)
            .env("MISP_API_KEY", MISP_KEY)
            .env_remove("AzureWebJobsStorage")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let replayed = lines(&out.stdout);
    let expected: Vec<String> = expected_online()
        .into_iter()
        .filter(|l| l.starts_with("1 "))
        .collect();
    assert_eq!(described(&replayed), expected);

    // The same matches saved from the poison queue read back unchanged.
    let poison = dir.path().join("poison.jsonl");
    let text: Vec<String> = replayed.iter().map(Value::to_string).collect();
    std::fs::write(&poison, text.join("\n")).unwrap();
    let out = bin()
        .args(["replay"])
        .arg(&poison)
        .env_remove("AzureWebJobsStorage")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines(&out.stdout), replayed);
}

#[test]
fn a_portal_csv_export_without_a_table_column_matches_by_column_name() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    write_feed(
        &feed,
        &[json!({"type": "ip-dst|port", "to_ids": true, "value": "1.2.3.41|8443"})],
    );
    let file = dir.path().join("export.csv");
    std::fs::write(
        &file,
        "Timestamp,DeviceId,ReportId,RemoteIP,RemotePort,LocalIP\n\
         2026-07-18T12:59:31Z,d1,7,1.2.3.41,8443,1.2.3.99\n\
         2026-07-18T12:59:32Z,d1,8,1.2.3.41,443,1.2.3.99\n",
    )
    .unwrap();
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&file)
        .arg("--misp-feed")
        .arg(&feed)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let matches = lines(&out.stdout);
    assert_eq!(
        matches.len(),
        1,
        "the port agrees on one row only: {stderr}"
    );
    assert_eq!(matches[0]["reportId"], "7");
    assert_eq!(matches[0]["indicatorValue"], "1.2.3.41");
}
