//! `defender-misp scan`: the real binary over files and folders, against a feed folder and
//! against a MISP server.

use std::process::Command;

use serde_json::{Value, json};

use crate::fixtures::*;
use crate::stub_misp::{MISP_KEY, StubAttribute, StubMisp};

const NONE: [&str; 3] = ["", "", ""];

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_defender-misp"))
}

/// A feed folder of one published event holding `attributes`.
pub fn write_feed(dir: &std::path::Path, attributes: &[Value]) {
    std::fs::create_dir_all(dir).unwrap();
    let uuid = "5f0c6a2e-9999-4222-8333-444455556666";
    std::fs::write(
        dir.join("manifest.json"),
        json!({uuid: {"info": "t", "timestamp": 1}}).to_string(),
    )
    .unwrap();
    let event = json!({"Event": {"uuid": uuid, "info": "Feed test", "threat_level_id": "2",
        "published": true, "Tag": [{"name": "tlp:green"}], "Attribute": attributes}});
    std::fs::write(dir.join(format!("{uuid}.json")), event.to_string()).unwrap();
}

pub fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn scan_of_the_bundled_sample_prints_its_four_matches() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = bin()
        .args([
            "scan",
            "--quiet",
            &format!("{root}/samples/records"),
            "--misp-feed",
            &format!("{root}/samples/feed"),
        ])
        .env_remove("MISP_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matches = lines(&out.stdout);
    assert_eq!(matches.len(), 4);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("matches=4"), "{stderr}");
}

#[test]
fn scan_reads_json_lines_and_envelopes_in_folders_against_a_feed() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, ids_off) = (sha256("scan-bad"), sha256("scan-ids-off"));
    let feed = dir.path().join("feed");
    std::fs::create_dir(&feed).unwrap();
    let uuid = "5f0c6a2e-1111-4222-8333-444455556666";
    std::fs::write(
        feed.join("manifest.json"),
        json!({uuid: {"info": "t", "timestamp": 1}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        feed.join(format!("{uuid}.json")),
        json!({"Event": {"uuid": uuid, "info": "Scan test", "threat_level_id": "2", "published": true, "Attribute": [
            {"type": "filename|sha256", "to_ids": true, "value": format!("x.exe|{bad}"), "uuid": "aaaaaaaa-0000-4000-8000-000000000001"},
            {"type": "sha256", "to_ids": false, "value": ids_off, "uuid": "aaaaaaaa-0000-4000-8000-000000000002"}]}})
        .to_string(),
    )
    .unwrap();
    let records = dir.path().join("export");
    std::fs::create_dir_all(records.join("nested")).unwrap();
    let line = |r: u64, h: &str| {
        serde_json::to_string(&device_event("DeviceFileEvents", r, ["", h, ""], NONE)).unwrap()
    };
    // A Storage-export file with CRLF endings and no .json extension.
    std::fs::write(
        records.join("PT1H"),
        format!("{}\r\n{}\r\n", line(1, &bad), line(2, &ids_off)),
    )
    .unwrap();
    std::fs::write(
        records.join("nested/batch.txt"),
        envelope(&[email_attachment("m-1", &bad)]),
    )
    .unwrap();
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&records)
        .arg("--misp-feed")
        .arg(&feed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matches = lines(&out.stdout);
    assert_eq!(matches.len(), 2);
    assert!(matches.iter().all(|m| m["hash"] == bad.as_str()));
    assert_eq!(matches[0]["intel"][0]["attributeType"], "filename|sha256");
}

#[test]
fn scan_exits_non_zero_on_bad_lines_and_unreadable_paths_but_zero_without_matches() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed");
    write_feed(
        &feed,
        &[json!({"type": "sha256", "to_ids": true, "value": sha256("elsewhere")})],
    );
    let clean = dir.path().join("clean.json");
    std::fs::write(&clean, envelope(&[logon_info()])).unwrap();
    let ok = bin()
        .args(["scan", "--quiet"])
        .arg(&clean)
        .arg("--misp-feed")
        .arg(&feed)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(ok.stdout.is_empty());

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"properties\":{}}\n\ngarbage\n").unwrap();
    let out = bin()
        .args(["scan", "--quiet"])
        .arg(&bad)
        .arg("--misp-feed")
        .arg(&feed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: line 3: not JSON", bad.display())),
        "the file line, blank lines counted: {stderr}"
    );
    assert!(
        stderr.contains("partial scan: 1 record(s) or line(s) failed"),
        "{stderr}"
    );

    // A missing path is reported and the others are still scanned; the scan is partial.
    let missing = bin()
        .args(["scan", "--quiet", "/nonexistent/x"])
        .arg(&clean)
        .arg("--misp-feed")
        .arg(&feed)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("/nonexistent/x: cannot read: No such file"),
        "{stderr}"
    );
    assert!(stderr.contains("events=1 (matched=0 clean=1"), "{stderr}");
    assert!(stderr.contains("1 input(s) could not be read"), "{stderr}");
    let no_intel = bin()
        .args(["scan", "--quiet"])
        .arg(&clean)
        .env_remove("MISP_URL")
        .env_remove("MISP_API_KEY")
        .output()
        .unwrap();
    assert_eq!(no_intel.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_intel.stderr).contains("MISP_URL"));
}

#[tokio::test]
async fn scan_against_a_misp_server_uses_restsearch() {
    let bad = md5("scan-online");
    let misp = StubMisp::start(vec![StubAttribute::ids(
        "malware-sample",
        format!("s.zip|{bad}"),
        9,
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    std::fs::write(
        &file,
        envelope(&[device_event(
            "DeviceImageLoadEvents",
            3,
            ["", "", &bad],
            NONE,
        )]),
    )
    .unwrap();
    let url = misp.url();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["scan", "--quiet"])
            .arg(&file)
            .env("MISP_URL", url)
            .env("MISP_API_KEY", MISP_KEY)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matches = lines(&out.stdout);
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0]["intel"][0]["eventId"], "9");
    assert_eq!(misp.requests(), 1);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(MISP_KEY));
}
