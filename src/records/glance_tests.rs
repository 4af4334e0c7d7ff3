//! The glance (`glance_body`) against the full decode (`parse_body`): the same bodies accepted
//! with the same records and the kept columns alike, the same ones refused for the same reasons.

use super::tests::{FILE_EVENT, token_soup};
use super::*;
use crate::records::Loose;

/// What a glance keeps of a record, and must keep exactly as a full decode does.
fn kept(r: &Record) -> String {
    let p = &r.properties;
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        r.category,
        p.sha1,
        p.sha256,
        p.md5,
        p.initiating_process_sha1,
        p.initiating_process_sha256,
        p.initiating_process_md5,
        p.network
    )
}

/// The glance's verdict on a body against the full decode's: the same records (with what it
/// keeps kept, and every other column left out) or the same error, its own as well as the one
/// it reports.
fn glance_agrees(body: &[u8]) -> Result<(), String> {
    let full = parse_body(body, 3);
    let own = parse::<GLANCE>(body, 3);
    match (&own, &full) {
        (Ok(g), Ok(f)) => {
            if g.len() != f.len() {
                return Err(format!("{} records against {}", g.len(), f.len()));
            }
            for (g, f) in g.iter().zip(f) {
                if kept(g) != kept(f) {
                    return Err(format!("{} against {}", kept(g), kept(f)));
                }
                let p = &g.properties;
                let dropped = [
                    &g.time,
                    &p.device_id,
                    &p.device_name,
                    &p.report_id,
                    &p.timestamp,
                    &p.file_name,
                    &p.folder_path,
                    &p.initiating_process_file_name,
                    &p.initiating_process_folder_path,
                ];
                if dropped.iter().any(|l| l.0.is_some()) {
                    return Err(format!("a glance kept a column it does not need: {g:?}"));
                }
            }
        }
        (Err(g), Err(f)) if g == f => {}
        _ => return Err(format!("glance {own:?} against full {full:?}")),
    }
    let reported = format!("{:?}", glance_body(body, 3).map(|r| r.len()));
    let want = format!("{:?}", full.map(|r| r.len()));
    if reported != want {
        return Err(format!("glance_body {reported} against {want}"));
    }
    Ok(())
}

#[test]
fn a_glance_keeps_the_keys_columns_and_refuses_what_a_full_decode_refuses() {
    let glanced = glance_body(FILE_EVENT.as_bytes(), 10).unwrap();
    let full = parse_body(FILE_EVENT.as_bytes(), 10).unwrap();
    assert_eq!(kept(&glanced[0]), kept(&full[0]));
    assert_eq!(glanced[0].table(), Some("DeviceFileEvents"));
    assert_eq!(glanced[0].properties.device_id, Loose(None));
    assert_eq!(full[0].properties.device_id.as_deref(), Some("aa11"));
    // A lone surrogate in a column the glance does not keep is refused all the same.
    let lone = br#"{"properties":{"DeviceName":"\ud800","SHA1":"a"}}"#;
    assert!(matches!(parse_body(lone, 10), Err(BodyError::NotJson(_))));
    for body in [
        &lone[..],
        FILE_EVENT.as_bytes(),
        b"{\"properties\":{\"FileName\":\"\xff\"}}",
    ] {
        glance_agrees(body).unwrap();
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    #[test]
    fn a_glance_decodes_any_token_soup_as_a_full_decode_does(body in token_soup()) {
        proptest::prop_assert_eq!(glance_agrees(body.as_bytes()), Ok(()));
    }

    #[test]
    fn a_glance_decodes_any_record_as_a_full_decode_does(
        records in proptest::collection::vec(proptest::collection::vec((
            proptest::sample::select(vec![
                "DeviceId", "DeviceName", "ReportId", "ReportId_long", "ReportId_string", "Timestamp",
                "FileName", "FolderPath", "InitiatingProcessFileName", "SHA1", "SHA256", "MD5",
                "InitiatingProcessSHA1", "InitiatingProcessMD5", "RemoteIP", "RemoteUrl", "X",
                "AdditionalFields",
            ]),
            proptest::sample::select(vec![
                "\"ab\"", "\"\\ud800\"", "\"\\q\"", "\"\\u00e9\\n\"", "12", "1.5", "-7", "null", "true",
                "[1,{\"a\":\"\\ud800\"}]", "{}", "\"da39a3ee5e6b4b0d3255bfef95601890afd80709\"",
                "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"", "\"203.0.113.9\"", "\"\"", "\"\u{1}\"",
            ]),
        ), 0..8), 1..4),
        flat: bool,
        envelope: bool,
    ) {
        let record = |cols: &Vec<(&str, &str)>| {
            let body: Vec<String> = cols.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            if flat {
                format!("{{\"time\":\"t\",{}}}", body.join(",")).replace(",}", "}")
            } else {
                format!(
                    "{{\"category\":\"AdvancedHunting-DeviceFileEvents\",\"time\":\"t\",\"properties\":{{{}}}}}",
                    body.join(",")
                )
            }
        };
        let all: Vec<String> = records.iter().map(record).collect();
        let body = if envelope {
            format!("{{\"records\":[{}]}}", all.join(","))
        } else {
            all.join("\n")
        };
        proptest::prop_assert_eq!(glance_agrees(body.as_bytes()), Ok(()));
    }
}
