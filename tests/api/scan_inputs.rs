//! `scan` over what Defender users actually have: each export shape, written here in the shape
//! the real exports have (a BOM file, a JSON array, the portal's CSV with quoted commas and JSON
//! cells, the hunting API's answer, Log Analytics rows, a multi-megabyte export on one line and
//! pretty-printed, gzip, standard input), and the command's behaviour around them (junk, missing
//! paths, symlink loops, a closed pipe, colours).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::{Value, json};

use crate::fixtures::*;
use crate::scan::{bin, lines, write_feed};

const NONE: [&str; 3] = ["", "", ""];

/// A feed knowing the sha256 of `seed` "bad".
fn feed(dir: &Path) -> (PathBuf, String) {
    let bad = sha256("bad");
    let path = dir.join("feed");
    write_feed(
        &path,
        &[json!({"type": "sha256", "to_ids": true, "value": bad})],
    );
    (path, bad)
}

fn scan(paths: &[&Path], feed: &Path) -> Output {
    bin()
        .args(["scan", "--quiet"])
        .args(paths)
        .arg("--misp-feed")
        .arg(feed)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A flat row of the hunting API or Log Analytics: the columns, no `properties` wrapper.
fn flat_row(report_id: u64, sha256: &str) -> Value {
    json!({"Timestamp": "2024-03-01T10:00:00.1234567Z", "DeviceId": DEVICE, "DeviceName": "ws-1.corp.test",
        "ActionType": "FileCreated", "FileName": "a.exe", "FolderPath": "C:\\a.exe", "SHA1": null,
        "SHA256": sha256, "MD5": "", "ReportId": report_id,
        "AdditionalFields": "{\"FileType\":\"PortableExecutable\"}"})
}

#[test]
fn a_json_lines_file_with_a_byte_order_mark_keeps_its_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, bad) = feed(dir.path());
    let line =
        serde_json::to_string(&device_event("DeviceFileEvents", 1, ["", &bad, ""], NONE)).unwrap();
    let path = dir.path().join("PT1H.json");
    std::fs::write(&path, format!("\u{feff}{line}\r\n")).unwrap();
    let out = scan(&[&path], &feed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        lines(&out.stdout).len(),
        1,
        "the first (and only) record matched"
    );
}

#[test]
fn a_top_level_array_and_the_hunting_api_answer_are_read_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, bad) = feed(dir.path());
    let array = dir.path().join("rows.json");
    let rows = json!([flat_row(1, &sha256("clean")), flat_row(2, &bad)]);
    std::fs::write(&array, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
    let answer = dir.path().join("hunting.json");
    let body = json!({"Stats": {"ExecutionTime": 0.1}, "Schema": [{"Name": "Timestamp", "Type": "DateTime"},
        {"Name": "SHA256", "Type": "String"}], "Results": [flat_row(3, &bad)]});
    std::fs::write(&answer, body.to_string()).unwrap();
    let out = scan(&[&array, &answer], &feed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let matches = lines(&out.stdout);
    let report_ids: Vec<&str> = matches
        .iter()
        .map(|m| m["reportId"].as_str().unwrap())
        .collect();
    assert_eq!(report_ids, ["2", "3"]);
    assert!(
        stderr(&out).contains("events=3 (matched=2 clean=1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn log_analytics_rows_with_report_id_long_and_type_are_alertable_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, bad) = feed(dir.path());
    let path = dir.path().join("la.json");
    let row = json!({"TenantId": "t", "Type": "DeviceFileEvents", "Timestamp": "2024-03-01T10:00:00Z",
        "DeviceId": DEVICE, "ReportId_long": 42, "ReportId_string": "", "SHA256": bad});
    std::fs::write(&path, json!([row]).to_string()).unwrap();
    let out = scan(&[&path], &feed);
    let m = &lines(&out.stdout)[0];
    assert_eq!(m["reportId"], "42");
    assert_eq!(m["category"], "AdvancedHunting-DeviceFileEvents");
    assert_eq!(m["alertable"], true);
}

/// The Advanced Hunting portal's CSV export: a header row, quoted cells with commas, JSON in
/// `AdditionalFields` with its quotes doubled, empty cells, the portal's display time.
#[test]
fn the_portal_csv_export_is_read_with_quoted_commas_and_json_cells() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, bad) = feed(dir.path());
    let path = dir.path().join("export.csv");
    let csv = format!(
        "\u{feff}Timestamp,DeviceId,DeviceName,ActionType,FileName,FolderPath,SHA1,SHA256,MD5,AdditionalFields,ReportId\r\n\
\"11/9/2022, 5:59:52.626 PM\",{DEVICE},ws-1,FileCreated,\"invoice, final.exe\",\"C:\\Users\\a\\invoice, final.exe\",,{bad},,\"{{\"\"FileType\"\":\"\"PortableExecutable\"\",\"\"Note\"\":\"\"a, b\"\"}}\",77\r\n\
2022-11-09T17:59:53.0000000Z,{DEVICE},ws-1,FileCreated,clean.exe,C:\\clean.exe,,{},,,78\r\n",
        sha256("clean")
    );
    std::fs::write(&path, csv).unwrap();
    let out = scan(&[&path], &feed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let matches = lines(&out.stdout);
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0]["fileName"], "invoice, final.exe");
    assert_eq!(matches[0]["reportId"], "77");
    assert_eq!(
        matches[0]["alertable"], false,
        "a portal display time is not the event's instant"
    );
    assert!(stderr(&out).contains("events=2"), "{}", stderr(&out));
}

/// Writes a `{"records":[…]}` export of `count` records, one of them bad, on one line or
/// pretty-printed; returns its size.
fn big_export(path: &Path, count: u64, bad: &str, pretty: bool) -> u64 {
    let records: Vec<Value> = (0..count)
        .map(|n| {
            let h = if n == count / 2 {
                bad.to_owned()
            } else {
                sha256(&n.to_string())
            };
            device_event("DeviceFileEvents", n, ["", &h, ""], NONE)
        })
        .collect();
    let doc = json!({"records": records});
    let text = if pretty {
        serde_json::to_string_pretty(&doc).unwrap()
    } else {
        doc.to_string()
    };
    std::fs::write(path, &text).unwrap();
    text.len() as u64
}

#[test]
fn a_multi_megabyte_export_is_not_refused_as_one_oversized_event() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, bad) = feed(dir.path());
    // Past MATCH_MAX_EVENT_BYTES (4 MiB) and the reader's 8 MiB in-memory line: streamed.
    let one_line = dir.path().join("export.json");
    assert!(big_export(&one_line, 12_000, &bad, false) > 8 << 20);
    let pretty = dir.path().join("pretty.json");
    assert!(big_export(&pretty, 6_000, &bad, true) > 4 << 20);
    let out = scan(&[&one_line, &pretty], &feed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(&out.stdout).len(), 2);
    assert!(
        stderr(&out).contains("events=18000 (matched=2 clean=17998 dead-lettered=0)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn gzip_exports_and_standard_input_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, bad) = feed(dir.path());
    let line =
        serde_json::to_string(&device_event("DeviceFileEvents", 1, ["", &bad, ""], NONE)).unwrap();
    let gz = dir.path().join("PT1H.json.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    writeln!(encoder, "{line}").unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    let mut child = bin()
        .args(["scan", "--quiet", "-"])
        .arg(&gz)
        .arg("--misp-feed")
        .arg(&feed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let other =
        serde_json::to_string(&device_event("DeviceFileEvents", 2, ["", &bad, ""], NONE)).unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(other.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report_ids: Vec<&str> = lines(&out.stdout)
        .iter()
        .map(|m| m["reportId"].as_str().unwrap().to_owned().leak() as &str)
        .collect();
    assert_eq!(report_ids, ["2", "1"], "standard input first, as given");
}

#[test]
fn junk_input_gives_a_few_lines_naming_file_lines_and_a_count_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, _) = feed(dir.path());
    let path = dir.path().join("junk.txt");
    let junk: String = (0..5_000).map(|i| format!("junk line {i}\n")).collect();
    std::fs::write(&path, junk).unwrap();
    let out = scan(&[&path], &feed);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    let shown: Vec<&str> = text.lines().filter(|l| l.contains(": not JSON")).collect();
    assert_eq!(shown.len(), 10, "{text}");
    assert!(
        shown[9].contains("junk.txt: line 10: not JSON"),
        "{}",
        shown[9]
    );
    assert!(
        text.contains("… and 4990 more problem(s) not shown"),
        "{text}"
    );
    assert!(text.lines().count() < 20, "{text}");
}

#[test]
fn a_symlink_loop_and_a_dangling_link_do_not_abort_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, bad) = feed(dir.path());
    let export = dir.path().join("export");
    std::fs::create_dir(&export).unwrap();
    std::fs::write(
        export.join("a.json"),
        envelope(&[device_event("DeviceFileEvents", 1, ["", &bad, ""], NONE)]),
    )
    .unwrap();
    std::os::unix::fs::symlink(&export, export.join("loop")).unwrap();
    std::os::unix::fs::symlink(export.join("self"), export.join("self")).unwrap();
    let out = scan(&[&export], &feed);
    let text = stderr(&out);
    assert_eq!(lines(&out.stdout).len(), 1, "{text}");
    assert!(text.contains("self: cannot read"), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
}

#[test]
fn a_closed_pipe_ends_the_scan_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let bad = sha256("bad");
    let feed = dir.path().join("feed");
    write_feed(
        &feed,
        &[json!({"type": "sha256", "to_ids": true, "value": bad})],
    );
    // Far more matches than a pipe buffer holds.
    let path = dir.path().join("PT1H.json");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for n in 0..20_000 {
        let line = device_event("DeviceFileEvents", n, ["", &bad, ""], NONE);
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    drop(file);
    let mut child = bin()
        .args(["scan", "--quiet"])
        .arg(&path)
        .arg("--misp-feed")
        .arg(&feed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // `| head -1`: the reader has its line and goes away.
    let out = child.wait_with_output().unwrap();
    assert!(first.contains("matchId"));
    let text = stderr(&out);
    assert!(!text.contains("Broken pipe"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn no_colour_codes_reach_a_stderr_that_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, _) = feed(dir.path());
    let path = dir.path().join("x.json");
    std::fs::write(&path, "junk\n").unwrap();
    let out = bin()
        .args(["scan"])
        .arg(&path)
        .arg("--misp-feed")
        .arg(&feed)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert!(text.contains("not JSON"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn help_names_the_misp_settings_and_the_exit_codes() {
    for command in ["scan", "replay"] {
        let out = bin().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for needle in [
            "MISP_URL",
            "MISP_API_KEY",
            "Exit codes: 0",
            "1 the result is partial",
            "2 usage",
        ] {
            assert!(
                help.contains(needle),
                "{command} --help lacks {needle}: {help}"
            );
        }
    }
}
