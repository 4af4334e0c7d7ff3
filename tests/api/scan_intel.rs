//! `scan` against its threat intel: the same rules as `serve` in feed mode (unpublished events,
//! warninglists, `empty-hashes` among them) and against MISP (the warninglist folder on top of
//! MISP's own), feeds that cannot be used, and a MISP that accepts connections but never
//! answers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixtures::*;
use crate::scan::{bin, lines, write_feed};
use crate::stub_misp::{MISP_KEY, StubAttribute, StubMisp};

const NONE: [&str; 3] = ["", "", ""];

fn warninglists() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/warninglists")
}

/// A feed of two events: a published one knowing `bad`, an unpublished draft knowing `draft`.
fn feed_with_draft(dir: &Path, bad: &str, draft: &str) -> PathBuf {
    let feed = dir.join("feed");
    write_feed(
        &feed,
        &[json!({"type": "sha256", "to_ids": true, "value": bad})],
    );
    let uuid = "5f0c6a2e-7777-4222-8333-444455556666";
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(feed.join("manifest.json")).unwrap()).unwrap();
    manifest[uuid] = json!({"info": "draft", "timestamp": 2});
    std::fs::write(feed.join("manifest.json"), manifest.to_string()).unwrap();
    let event = json!({"Event": {"uuid": uuid, "info": "Draft", "published": false,
        "Attribute": [{"type": "sha256", "to_ids": true, "value": draft}]}});
    std::fs::write(feed.join(format!("{uuid}.json")), event.to_string()).unwrap();
    feed
}

fn export(dir: &Path, hashes: &[&str]) -> PathBuf {
    let path = dir.join("export.json");
    let records: Vec<_> = hashes
        .iter()
        .enumerate()
        .map(|(n, h)| device_event("DeviceFileEvents", n as u64 + 1, ["", h, ""], NONE))
        .collect();
    std::fs::write(&path, envelope(&records)).unwrap();
    path
}

#[test]
fn an_unpublished_feed_event_matches_only_when_published_only_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, draft) = (sha256("published"), sha256("draft"));
    let feed = feed_with_draft(dir.path(), &bad, &draft);
    let file = export(dir.path(), &[&bad, &draft]);
    let run = |published_only: &str| {
        bin()
            .args(["scan", "--quiet"])
            .arg(&file)
            .arg("--misp-feed")
            .arg(&feed)
            .env("MISP_PUBLISHED_ONLY", published_only)
            .output()
            .unwrap()
    };
    let out = run("true");
    assert_eq!(out.status.code(), Some(0));
    let matched: Vec<String> = lines(&out.stdout)
        .iter()
        .map(|m| m["hash"].to_string())
        .collect();
    assert_eq!(matched, [format!("\"{bad}\"")]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("1 unpublished event(s) not matched (MISP_PUBLISHED_ONLY=true)"),
        "{text}"
    );
    assert!(
        text.contains("misp-requests=0"),
        "a feed asks no server: {text}"
    );
    let m = &lines(&out.stdout)[0];
    assert_eq!(
        m["intel"][0]["eventId"], "",
        "a feed event carries no numeric id"
    );
    assert_eq!(
        m["intel"][0]["eventUuid"],
        "5f0c6a2e-9999-4222-8333-444455556666"
    );
    assert_eq!(lines(&run("false").stdout).len(), 2);
}

#[test]
fn a_warninglist_folder_keeps_listed_hashes_from_matching_in_feed_mode() {
    let dir = tempfile::tempdir().unwrap();
    let known = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let bad = sha256("really bad");
    let feed = dir.path().join("feed");
    write_feed(
        &feed,
        &[
            json!({"type": "sha256", "to_ids": true, "value": known}),
            json!({"type": "filename|sha256", "to_ids": true, "value": format!("x.exe|{bad}")}),
            json!({"type": "md5", "to_ids": true, "value": "d41d8cd98f00b204e9800998ecf8427e"}),
        ],
    );
    let file = export(dir.path(), &[known, &bad]);
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&file)
        .arg("--misp-feed")
        .arg(&feed)
        .env("MISP_WARNINGLISTS_DIR", warninglists())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let matches = lines(&out.stdout);
    assert_eq!(matches.len(), 1, "{text}");
    assert_eq!(matches[0]["hash"], bad.as_str());
    assert!(text.contains("warninglists "), "{text}");
    assert!(
        text.contains("2 on a warninglist (fixture-empty-hashes: 1, fixture-known-software: 1)"),
        "{text}"
    );
    // A folder that holds no list is a configuration error naming the variable.
    let empty = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&file)
        .arg("--misp-feed")
        .arg(&feed)
        .env("MISP_WARNINGLISTS_DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MISP_WARNINGLISTS_DIR"));
}

#[tokio::test]
async fn against_misp_the_folder_applies_on_top_of_misps_own_warninglists() {
    let known = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let bad = sha256("online bad");
    let misp = StubMisp::start(vec![
        StubAttribute::ids("sha256", known, 3),
        StubAttribute::ids("sha256", bad.clone(), 4),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = export(dir.path(), &[known, &bad]);
    let url = misp.url();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["scan", "--quiet"])
            .arg(&file)
            .env("MISP_URL", url)
            .env("MISP_API_KEY", MISP_KEY)
            .env("MISP_WARNINGLISTS_DIR", warninglists())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let matches = lines(&out.stdout);
    assert_eq!(matches.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(matches[0]["intel"][0]["eventId"], "4");
    assert_eq!(
        misp.bodies()[0]["enforceWarninglist"],
        1,
        "MISP's own lists too"
    );
}

#[test]
fn an_empty_manifest_is_an_error_and_an_unreadable_event_file_makes_the_scan_partial() {
    let dir = tempfile::tempdir().unwrap();
    let file = export(dir.path(), &[&sha256("x")]);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("manifest.json"), "{}").unwrap();
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&file)
        .arg("--misp-feed")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("lists no events, so nothing could ever match"),
        "{text}"
    );

    let bad = sha256("x");
    let feed = feed_with_draft(dir.path(), &bad, &sha256("draft"));
    let draft = std::fs::read_dir(&feed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("7777"))
        .unwrap();
    std::fs::remove_file(&draft).unwrap();
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&file)
        .arg("--misp-feed")
        .arg(&feed)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        lines(&out.stdout).len(),
        1,
        "the readable event still matches"
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "the cause once: {text}"
    );
    assert!(
        text.contains("partial scan: 1 feed event file(s) skipped"),
        "{text}"
    );
}

#[test]
fn distinct_counts_hashes_across_a_whole_json_lines_file() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    write_feed(
        &feed,
        &[json!({"type": "sha256", "to_ids": true, "value": sha256("none")})],
    );
    // 70 distinct hashes repeated over 7,000 lines: several decoding blocks of 1 MiB.
    let path = dir.path().join("PT1H.json");
    let text: String = (0..7_000)
        .map(|n| {
            let h = sha256(&(n % 70).to_string());
            format!(
                "{}\n",
                device_event("DeviceFileEvents", n, ["", &h, ""], NONE)
            )
        })
        .collect();
    assert!(text.len() > 3 << 20);
    std::fs::write(&path, text).unwrap();
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&path)
        .arg("--misp-feed")
        .arg(&feed)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains(" distinct=70 "), "{text}");
    assert!(text.contains("events=7000 "), "{text}");
}

/// Accepts connections and reads requests, never answers: a MISP behind a hung proxy.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_misp_that_never_answers_stops_the_scan_with_its_reason_and_right_counters() {
    let (url, server) = silent_server().await;
    let dir = tempfile::tempdir().unwrap();
    let first = export(dir.path(), &[&sha256("a"), &sha256("b")]);
    let second = dir.path().join("second.json");
    std::fs::copy(&first, &second).unwrap();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["scan", "--quiet"])
            .arg(&first)
            .arg(&second)
            .env("MISP_URL", url)
            .env("MISP_API_KEY", MISP_KEY)
            .env("MISP_TIMEOUT_SECS", "1")
            .env("MISP_DEADLINE_SECS", "2")
            .env("MISP_RETRY_ATTEMPTS", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.abort();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(started.elapsed() < Duration::from_secs(30), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("scan stopped: threat intel did not answer"),
        "{text}"
    );
    assert!(
        text.contains("every later input, were not checked"),
        "{text}"
    );
    assert!(
        text.contains("misp-requests=1 "),
        "the request that timed out counts: {text}"
    );
    assert!(text.contains("unanswered=2 "), "{text}");
    assert!(!text.contains(MISP_KEY));
}

/// Without a terminal there is no progress bar: a line says what the scan waits on, once it has
/// waited 10 s, before the deadline's outcome.
#[tokio::test]
async fn a_scan_waiting_on_misp_says_so_before_the_deadline() {
    let (url, server) = silent_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = export(dir.path(), &[&sha256("slow")]);
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["scan"])
            .arg(&file)
            .env("MISP_URL", url)
            .env("MISP_API_KEY", MISP_KEY)
            .env("MISP_TIMEOUT_SECS", "30")
            .env("MISP_DEADLINE_SECS", "14")
            .env("MISP_RETRY_ATTEMPTS", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.abort();
    let text = String::from_utf8_lossy(&out.stderr);
    let notice = text
        .find("waiting for MISP: no answer for 1")
        .filter(|_| text.contains("(a lookup gives up after MISP_DEADLINE_SECS=14s)"))
        .unwrap_or_else(|| panic!("{text}"));
    let outcome = text
        .find("scan stopped: ")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(notice < outcome, "{text}");
    assert!(
        text.contains("the lookup deadline of 14s passed before MISP answered"),
        "rounded: {text}"
    );
}
