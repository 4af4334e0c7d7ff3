//! The shapes of `body`: each accepted one, each refused one with its reason.

use super::*;
use crate::records::{FileHash, HashCell, Loose};

pub(super) const FILE_EVENT: &str = r#"{"time":"2026-07-18T13:01:51.2820995Z","category":"AdvancedHunting-DeviceFileEvents","properties":{"DeviceId":"aa11","ReportId":8132,"Timestamp":"2026-07-18T12:59:31.2914446Z","SHA1":"6866429EB0F03FC50F980019774036A21063A3C1","Unknown":{"x":[1]}},"Tenant":"DefaultTenant"}"#;

#[test]
fn an_envelope_a_bare_record_and_json_lines_all_decode() {
    let envelope = format!(r#"{{"records":[{FILE_EVENT},{FILE_EVENT}]}}"#);
    assert_eq!(parse_body(envelope.as_bytes(), 100).unwrap().len(), 2);
    assert_eq!(parse_body(FILE_EVENT.as_bytes(), 100).unwrap().len(), 1);
    let lines = format!("{FILE_EVENT}\r\n{FILE_EVENT}\r\n{FILE_EVENT}\n");
    let records = parse_body(lines.as_bytes(), 100).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].table(), Some("DeviceFileEvents"));
    assert_eq!(records[0].properties.report_id.as_deref(), Some("8132"));
    assert!(records[0].is_alertable());
}

#[test]
fn report_ids_above_2_pow_53_and_as_strings_keep_their_text() {
    let big =
        r#"{"category":"AdvancedHunting-DeviceInfo","properties":{"ReportId":639199803770463703}}"#;
    let r = &parse_body(big.as_bytes(), 10).unwrap()[0];
    assert_eq!(
        r.properties.report_id.as_deref(),
        Some("639199803770463703")
    );
    let s = r#"{"category":"AdvancedHunting-EmailAttachmentInfo","properties":{"ReportId":"abc-1","AdditionalFields":{"k":1}}}"#;
    let r = &parse_body(s.as_bytes(), 10).unwrap()[0];
    assert_eq!(r.properties.report_id.as_deref(), Some("abc-1"));
    assert!(!r.is_alertable());
}

#[test]
fn bad_bodies_say_why() {
    assert_eq!(parse_body(b"  \r\n", 10).unwrap_err(), BodyError::Empty);
    assert!(matches!(
        parse_body(b"hello world", 10),
        Err(BodyError::NotJson(_))
    ));
    assert!(matches!(
        parse_body(b"{\"records\":[", 10),
        Err(BodyError::NotJson(_))
    ));
    assert!(matches!(
        parse_body(br#"{"deviceId":"dev-1","temp":21.5}"#, 10),
        Err(BodyError::NotRecords(_))
    ));
    assert!(matches!(
        parse_body(b"[1,2]", 10),
        Err(BodyError::NotRecords(_))
    ));
    assert!(matches!(
        parse_body(b"[[{}]]", 10),
        Err(BodyError::NotRecords(_))
    ));
    assert!(matches!(
        parse_body(br#"{"records":[[1]]}"#, 10),
        Err(BodyError::NotRecords(_))
    ));
    assert!(matches!(
        parse_body(b"\xff\xfe{", 10),
        Err(BodyError::NotJson(_))
    ));
    let many = format!(r#"{{"records":[{}]}}"#, [FILE_EVENT; 3].join(","));
    assert_eq!(
        parse_body(many.as_bytes(), 2).unwrap_err(),
        BodyError::TooManyRecords { limit: 2 }
    );
}

#[test]
fn a_byte_order_mark_does_not_cost_the_first_record() {
    let lines = format!("\u{feff}{FILE_EVENT}\r\n{FILE_EVENT}\r\n");
    assert_eq!(parse_body(lines.as_bytes(), 10).unwrap().len(), 2);
    let doc = format!("\u{feff}{{\"records\":[{FILE_EVENT}]}}");
    assert_eq!(parse_body(doc.as_bytes(), 10).unwrap().len(), 1);
    assert_eq!(parse_body(BOM, 10).unwrap_err(), BodyError::Empty);
}

#[test]
fn a_top_level_array_of_records_or_flat_rows_decodes() {
    let array = format!(
        r#"[{FILE_EVENT}, {{"Timestamp":"2026-07-18T12:59:31Z","SHA256":"{}","ReportId":7}}]"#,
        "ab".repeat(32)
    );
    let records = parse_body(array.as_bytes(), 10).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1].properties.sha256,
        HashCell::Hash(FileHash::parse(&"ab".repeat(32)).unwrap())
    );
    assert_eq!(records[1].properties.report_id.as_deref(), Some("7"));
    assert_eq!(parse_body(b"[]", 10).unwrap().len(), 0);
}

#[test]
fn the_hunting_api_answer_gives_its_rows() {
    let answer = r#"{"Stats":{"ExecutionTime":0.4},"Schema":[{"Name":"Timestamp","Type":"DateTime"},{"Name":"SHA1","Type":"String"}],
        "Results":[{"Timestamp":"2024-01-02T03:04:05.6789012Z","DeviceId":"d1","ReportId":12,"SHA1":"6866429eb0f03fc50f980019774036a21063a3c1","$table":"DeviceProcessEvents"},
                   {"Timestamp":"2024-01-02T03:04:06Z","Count":3}]}"#;
    let records = parse_body(answer.as_bytes(), 10).unwrap();
    assert_eq!(
        records.len(),
        2,
        "every row, with or without a column we read"
    );
    assert_eq!(records[0].table(), Some("DeviceProcessEvents"));
    assert!(records[0].is_alertable());
    assert_eq!(records[1].properties.sha1, HashCell::Absent);
    // Microsoft Graph's runHuntingQuery spells the keys in lower case.
    let graph = r#"{"@odata.context":"x","schema":[],"results":[{"SHA256":"x","Timestamp":"t"}]}"#;
    assert_eq!(parse_body(graph.as_bytes(), 10).unwrap().len(), 1);
}

#[test]
fn log_analytics_rows_read_report_id_in_either_spelling_and_type_as_the_table() {
    let long = r#"{"TenantId":"t","Type":"DeviceFileEvents","DeviceId":"d","ReportId_long":42,"ReportId_string":"","Timestamp":"2024-01-02T03:04:05Z"}"#;
    let r = &parse_body(long.as_bytes(), 10).unwrap()[0];
    assert_eq!(r.properties.report_id.as_deref(), Some("42"));
    assert_eq!(
        r.category.as_deref(),
        Some("AdvancedHunting-DeviceFileEvents")
    );
    assert!(r.is_alertable());
    let string = r#"{"Type":"EmailAttachmentInfo","ReportId_long":null,"ReportId_string":"m-1","SHA256":"x"}"#;
    let r = &parse_body(string.as_bytes(), 10).unwrap()[0];
    assert_eq!(r.properties.report_id.as_deref(), Some("m-1"));
    let hostile = r#"{"Type":"Device Events\n","SHA1":"x"}"#;
    assert_eq!(
        parse_body(hostile.as_bytes(), 10).unwrap()[0].category,
        Loose(None)
    );
}

#[test]
fn only_iso_instants_make_a_device_event_alertable() {
    for (time, alertable) in [
        ("2026-07-18T12:59:31.2914446Z", true),
        ("11/9/2022, 5:59:52.626 PM", false),
        ("1668016792626", false),
    ] {
        let body = format!(
            r#"{{"category":"AdvancedHunting-DeviceFileEvents","properties":{{"DeviceId":"d","ReportId":1,"Timestamp":"{time}"}}}}"#
        );
        let r = &parse_body(body.as_bytes(), 10).unwrap()[0];
        assert_eq!(r.is_alertable(), alertable, "{time}");
    }
    let epoch = r#"{"category":"AdvancedHunting-DeviceFileEvents","properties":{"DeviceId":"d","ReportId":1,"Timestamp":1668016792626}}"#;
    assert!(!parse_body(epoch.as_bytes(), 10).unwrap()[0].is_alertable());
}

#[test]
fn csv_cells_become_a_record_with_empty_cells_absent() {
    let r = crate::records::Record::from_columns([
        ("Timestamp", "2024-01-02T03:04:05Z"),
        ("DeviceId", "d1"),
        ("ReportId", "77"),
        ("SHA1", ""),
        ("SHA256", &format!(" {} ", "AB".repeat(32))),
        ("MD5", "ABAB"),
        ("AdditionalFields", "{\"a\":\"b,c\"}"),
        ("Type", "DeviceImageLoadEvents"),
    ]);
    assert_eq!(r.properties.sha1, HashCell::Absent);
    assert_eq!(
        r.properties.sha256,
        HashCell::Hash(FileHash::parse(&"ab".repeat(32)).unwrap())
    );
    assert_eq!(r.properties.md5, HashCell::Invalid);
    assert!(r.is_alertable());
}

#[test]
fn records_reach_the_sink_one_at_a_time_and_a_refusal_stops_decoding() {
    let envelope = format!(r#"{{"records":[{FILE_EVENT},{FILE_EVENT},{FILE_EVENT}]}}"#);
    let mut seen = 0;
    let mut stopped = None;
    let mut sink = |_r: crate::records::Record| {
        seen += 1;
        if seen == 2 {
            Err(BodyError::TooManyRecords { limit: 1 })
        } else {
            Ok(())
        }
    };
    let mut de = serde_json::Deserializer::from_reader(envelope.as_bytes());
    assert!(for_each_record(&mut de, &mut sink, &mut stopped).is_err());
    assert_eq!(seen, 2, "the third record was never decoded");
    assert_eq!(stopped, Some(BodyError::TooManyRecords { limit: 1 }));
}

#[test]
fn a_key_given_twice_is_refused_but_both_report_id_spellings_are_not() {
    for twice in [
        r#"{"properties":{"SHA1":"a","SHA1":"b"}}"#,
        r#"{"SHA1":"a","SHA1":"b"}"#,
        r#"{"SHA256":"a","ReportId":1,"ReportId":2}"#,
        r#"{"properties":{},"properties":{}}"#,
        r#"{"records":[],"records":[]}"#,
    ] {
        let err = parse_body(twice.as_bytes(), 10).unwrap_err();
        assert!(
            err.to_string().contains("duplicate field `"),
            "{twice}: {err}"
        );
    }
    let both = r#"{"Type":"DeviceEvents","ReportId_long":5,"ReportId_string":"","SHA1":"a"}"#;
    assert_eq!(
        parse_body(both.as_bytes(), 10).unwrap()[0]
            .properties
            .report_id
            .as_deref(),
        Some("5")
    );
}

#[test]
fn every_column_spelling_names_itself_in_errors() {
    for name in super::super::SPELLINGS {
        let (_, bit) = Column::spelling_bit(name).unwrap();
        assert_eq!(super::super::spelling(bit), name);
    }
}

/// What the bytes path (serde_json over `&[u8]`, the only path before issue 14) makes of a body.
fn as_bytes(body: &[u8]) -> String {
    let body = strip_bom(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return format!("{:?}", Err::<(), _>(BodyError::Empty));
    }
    format!(
        "{:?}",
        parse_values::<_, FULL>(serde_json::Deserializer::from_slice(body), 3)
    )
}

#[test]
fn invalid_utf8_is_refused_only_where_a_column_is_read_as_before() {
    let unread = b"{\"properties\":{\"X\":\"\xff\",\"SHA1\":\"a\"}}";
    assert_eq!(parse_body(unread, 10).unwrap().len(), 1);
    let read = b"{\"properties\":{\"FileName\":\"\xff\"}}";
    assert!(matches!(parse_body(read, 10), Err(BodyError::NotJson(_))));
    for body in [&unread[..], &read[..]] {
        assert_eq!(format!("{:?}", parse_body(body, 3)), as_bytes(body));
    }
}

/// Up to 40 JSON tokens, keys of records and hostile strings among them, in any order: bodies
/// that are mostly not JSON, sometimes records.
pub(super) fn token_soup() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::strategy::Strategy;
    let tokens = vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"properties\"",
        "\"records\"",
        "\"category\"",
        "\"SHA1\"",
        "\"FileName\"",
        "\"RemoteIP\"",
        "\"Results\"",
        "\"DeviceId\"",
        "\"time\"",
        "\"Type\"",
        "\"a\\\"b\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"é\"",
        "1",
        "18446744073709551616",
        "-2.5e3",
        "null",
        "true",
        " ",
        "\n",
        "\u{feff}",
        "\"\\/\"",
    ];
    proptest::collection::vec(proptest::sample::select(tokens), 0..40).prop_map(|t| t.concat())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The text path and the bytes path agree on every body, hostile ones included: the same
    /// records, or the same error.
    #[test]
    fn the_text_path_decodes_as_the_bytes_path(body in token_soup()) {
        proptest::prop_assert_eq!(format!("{:?}", parse_body(body.as_bytes(), 3)), as_bytes(body.as_bytes()));
    }
}
