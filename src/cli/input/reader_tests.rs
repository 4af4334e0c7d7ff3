//! Each layout a file may have, read through the real reader from a real file.

use std::io::Write;
use std::path::Path;

use super::*;

/// What reading one file gave: its format, its records' DeviceId values (a label) with their lines, its
/// errors, and how it ended.
#[derive(Debug, Default)]
struct Read {
    format: Option<Format>,
    records: Vec<(u64, String)>,
    errors: Vec<(u64, String)>,
    end: Option<Option<String>>,
}

fn read_file(path: &Path) -> Read {
    let mut out = Read::default();
    let bytes = Arc::new(AtomicU64::new(0));
    read_inputs(&[Input::File(path.to_owned())], &bytes, &mut |_, event| {
        match event {
            Event::Format(f) => out.format = Some(f),
            Event::Work(w) => {
                let chunk = w.decode();
                for (r, line) in chunk.records.iter().zip(&chunk.lines) {
                    let label = r.properties.device_id.as_deref().unwrap_or("").to_owned();
                    out.records.push((*line, label));
                }
                out.errors.extend(chunk.errors);
            }
            Event::End(e) => out.end = Some(e),
        }
        true
    });
    assert_eq!(
        bytes.load(Ordering::Relaxed),
        std::fs::metadata(path).unwrap().len(),
        "every byte counted"
    );
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn row(sha1: &str) -> String {
    format!(
        r#"{{"category":"AdvancedHunting-DeviceFileEvents","properties":{{"DeviceId":"{sha1}"}}}}"#
    )
}

#[test]
fn json_lines_with_a_bom_keep_their_first_record_and_number_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "\u{feff}{}\r\n\r\n{}\r\njunk\r\n{}",
        row("a"),
        row("b"),
        row("c")
    );
    let r = read_file(&write(dir.path(), "PT1H.json", text.as_bytes()));
    assert_eq!(r.format, Some(Format::Lines));
    assert_eq!(
        r.records,
        [(1, "a".into()), (3, "b".into()), (5, "c".into())]
    );
    assert_eq!(r.errors, [(4, "not JSON: expected value".to_owned())]);
    assert_eq!(r.end, Some(None));
}

#[test]
fn a_pretty_printed_array_is_a_document_read_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<serde_json::Value> = ["a", "b", "c"]
        .iter()
        .map(|s| serde_json::json!({"Timestamp": "2024-01-01T00:00:00Z", "DeviceId": s}))
        .collect();
    let text = serde_json::to_string_pretty(&rows).unwrap();
    let r = read_file(&write(dir.path(), "hunting.json", text.as_bytes()));
    assert_eq!(r.format, Some(Format::Document));
    let shas: Vec<&str> = r.records.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(shas, ["a", "b", "c"]);
    assert_eq!(r.records[0].0, 5, "the line its row ends on");
}

#[test]
fn a_document_on_one_line_longer_than_memory_allows_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let one = row(&"d".repeat(40));
    let count = LINE_IN_MEMORY / one.len() + 100;
    let mut text = String::with_capacity(count * (one.len() + 1) + 64);
    text.push_str("{\"records\":[");
    for i in 0..count {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&one);
    }
    text.push_str("]}\n");
    text.push_str(&row("after"));
    assert!(text.len() > LINE_IN_MEMORY);
    let r = read_file(&write(dir.path(), "big.json", text.as_bytes()));
    assert_eq!(r.format, Some(Format::Lines));
    assert_eq!(r.records.len(), count + 1);
    assert!(r.records[..count].iter().all(|(line, _)| *line == 1));
    assert_eq!(r.records[count], (2, "after".to_owned()));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[test]
fn a_gzip_export_is_read_and_its_compressed_bytes_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(gz, "{}\n{}", row("a"), row("b")).unwrap();
    let r = read_file(&write(dir.path(), "export.json.gz", &gz.finish().unwrap()));
    assert_eq!(r.records.len(), 2);
}

#[test]
fn binary_and_empty_files_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let r = read_file(&write(dir.path(), "x.bin", b"PK\x03\x04\x00\x00junk"));
    assert!(r.end.unwrap().unwrap().starts_with("binary data"));
    let r = read_file(&write(dir.path(), "empty.json", b" \r\n"));
    assert_eq!(r.format, Some(Format::Empty));
    assert_eq!(r.end, Some(None));
}

#[test]
fn formats_are_told_from_the_first_line() {
    assert_eq!(sniff(b"{\"a\":1}\n{\"a\":2}\n"), Format::Lines);
    assert_eq!(sniff(b"  {\"a\":\"}{\"}\n"), Format::Lines);
    assert_eq!(sniff(b"{\n  \"Schema\": []\n}"), Format::Document);
    assert_eq!(sniff(b"[\n{\"a\":1}\n]"), Format::Document);
    assert_eq!(sniff(b"[{\"a\":1},{\"a\":2}]"), Format::Lines);
    assert_eq!(
        sniff(b"Timestamp,DeviceId,SHA256\r\n1,2,3\r\n"),
        Format::Csv
    );
    assert_eq!(sniff(b"hello, world\n"), Format::Lines);
    assert_eq!(sniff(b"\n\n"), Format::Empty);
}
