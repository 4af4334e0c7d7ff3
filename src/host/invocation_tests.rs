//! Tests of `host::invocation`: every shape decoded in place as `decode_events` decodes it, and
//! the unescaping against serde_json and the byte-at-a-time walk it replaced.

use super::*;
use serde_json::json;

fn unescaped(json_text: &str) -> Option<String> {
    let mut buf = json_text.as_bytes().to_vec();
    let n = unescape_in_place(&mut buf)?;
    Some(String::from_utf8(buf[..n].to_vec()).unwrap())
}

/// The byte-at-a-time unescaping used before (issue 14), the reference for the fast one.
fn unescape_bytewise(buf: &mut [u8]) -> Option<usize> {
    if buf.first() != Some(&b'"') {
        return None;
    }
    let (mut read, mut write) = (1, 0);
    while read < buf.len() {
        let b = buf[read];
        match b {
            b'"' => {
                return buf[read + 1..]
                    .iter()
                    .all(u8::is_ascii_whitespace)
                    .then_some(write);
            }
            b'\\' => {
                let esc = *buf.get(read + 1)?;
                read += 2;
                let c = match esc {
                    b'"' | b'\\' | b'/' => esc,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        let (ch, used) = unicode_escape(&buf[read..])?;
                        read += used;
                        let mut tmp = [0u8; 4];
                        let enc = ch.encode_utf8(&mut tmp).as_bytes();
                        buf[write..write + enc.len()].copy_from_slice(enc);
                        write += enc.len();
                        continue;
                    }
                    _ => return None,
                };
                buf[write] = c;
                write += 1;
            }
            0..=0x1f => return None,
            _ => {
                buf[write] = b;
                write += 1;
                read += 1;
            }
        }
    }
    None
}

fn both_ways(bytes: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (mut fast, mut slow) = (bytes.to_vec(), bytes.to_vec());
    let f = unescape_in_place(&mut fast).map(|n| fast[..n].to_vec());
    let s = unescape_bytewise(&mut slow).map(|n| slow[..n].to_vec());
    (f, s)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

    #[test]
    fn unescaping_agrees_with_the_bytewise_walk_on_hostile_strings(
        body in proptest::collection::vec(
            proptest::sample::select(b"\"\\/bfnrtu0aD8dE\x01\n \xc3\xa9".to_vec()), 0..48),
        tail in proptest::sample::select(vec![&b""[..], b"\"", b"\" ", b"\"x", b"\\"]),
    ) {
        let mut bytes = vec![b'"'];
        bytes.extend(&body);
        bytes.extend(tail);
        let (fast, slow) = both_ways(&bytes);
        proptest::prop_assert_eq!(fast, slow);
    }

    #[test]
    fn unescaping_reads_any_string_as_serde_json_wrote_it(s in ".*") {
        let text = serde_json::to_string(&s).unwrap();
        let (fast, slow) = both_ways(text.as_bytes());
        proptest::prop_assert_eq!(fast.as_deref(), Some(s.as_bytes()));
        proptest::prop_assert_eq!(slow.as_deref(), Some(s.as_bytes()));
    }
}

#[test]
fn strings_unescape_in_place_exactly_as_serde_json_reads_them() {
    for s in [
        "plain",
        "q\"b\\s/",
        "\u{1}\n\r\t\u{8}\u{c}",
        "é😀\u{2028}",
        "",
        "[\"eyJ9\",\"x\"]",
    ] {
        let text = serde_json::to_string(s).unwrap();
        assert_eq!(unescaped(&text).as_deref(), Some(s), "{text}");
    }
    assert_eq!(
        unescaped(r#""\ud83d\ude00\u00e9\/""#).as_deref(),
        Some("😀é/")
    );
    for bad in [
        r#""open"#,
        r#""\x""#,
        "\"a\u{1}\"",
        r#""\ud83d""#,
        r#""a" junk"#,
    ] {
        assert_eq!(unescaped(bad), None, "{bad}");
    }
}

#[test]
fn every_trigger_shape_decodes_as_before() {
    let cases = [
        json!(r#"["eyJkZXZpY2VJZCI6ImRldi0xIn0=","aGVsbG8gd29ybGQ="]"#),
        json!(r#"["{\"a\":1}","hello"]"#),
        json!(r#"[{"a":1},{"b":[2]}]"#),
        json!(r#""{\"deviceId\":\"dev-1\"}""#),
        json!("aGVsbG8gd29ybGQ="),
        json!(r#"["aGVsbG8gd29ybGQ=","!!not base64!!","eyJhIjoxfQ=="]"#),
        json!([{"a": 1}, "aGVsbG8="]),
        json!({"records": []}),
        json!("[not json"),
    ];
    for value in cases {
        let body = serde_json::to_vec(&json!({"Data": {"events": value}, "Metadata": {}})).unwrap();
        let fast = decode_invocation(body, "events").unwrap();
        let (encoding, events) = decode_events(&value).unwrap();
        assert_eq!((fast.encoding, fast.events), (encoding, events), "{value}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn any_array_of_strings_decodes_in_place_as_it_does_from_values(
        items in proptest::collection::vec(proptest::prelude::any::<String>(), 0..8),
        base64 in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..4),
    ) {
        use base64::Engine;
        let mut all: Vec<Value> = items.into_iter().map(Value::String).collect();
        all.extend(base64.iter().map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))));
        let value = Value::String(serde_json::to_string(&all).unwrap());
        let body = serde_json::to_vec(&json!({"Data": {"events": value}, "Metadata": {}})).unwrap();
        let fast = decode_invocation(body, "events").unwrap();
        let (encoding, events) = decode_events(&value).unwrap();
        proptest::prop_assert_eq!((fast.encoding, fast.events), (encoding, events));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    /// The host's binary shape read in place (`binary_items`) against the general path, on
    /// texts near that shape: escaped slashes, bad padding, empty items, spaces, stray commas.
    #[test]
    fn the_binary_fast_path_gives_what_the_general_path_gives(
        parts in proptest::collection::vec(proptest::sample::select(vec![
            "\\\"", "aGk=", "aGVsbG8gd29ybGQ=", "eyJhIjoxfQ==", "AAAA", "++//", "\\/", "=", "A",
            ",", " ", "[", "]", "{}", "\\u0041", "\\n",
        ]), 0..16),
        open in proptest::sample::select(vec!["[", "", " [", "[\\\""]),
        close in proptest::sample::select(vec!["]", "", "] ", "\\\"]"]),
    ) {
        let text = format!("\"{open}{}{close}\"", parts.concat());
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            return Ok(());
        };
        let body = format!(r#"{{"Data":{{"events":{text}}},"Metadata":{{}}}}"#).into_bytes();
        let fast = decode_invocation(body, "events").map(|i| (i.encoding, i.events));
        proptest::prop_assert_eq!(fast, decode_events(&value).map_err(InvocationError::from));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The host's own shape with random bodies, some items spoiled: the fast path reads exactly
    /// the texts whose every item is base64, and its events are the general path's.
    #[test]
    fn host_shaped_batches_take_the_fast_path_when_every_item_is_base64(
        bodies in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 1..6),
        spoil in proptest::option::of((0usize..6, proptest::sample::select(vec!["\\/", "=", "!", " ", "\\u002B"]))),
    ) {
        use base64::Engine;
        let mut items: Vec<String> = bodies.iter().map(|b| base64::engine::general_purpose::STANDARD.encode(b)).collect();
        if let Some((at, with)) = spoil {
            let n = items.len();
            items[at % n].push_str(with);
        }
        let text = format!(r#""[\"{}\"]""#, items.join(r#"\",\""#));
        let value: Value = serde_json::from_str(&text).unwrap();
        let expected = decode_events(&value).unwrap();
        let all_base64 = expected.0 == EventEncoding::Binary;
        proptest::prop_assert_eq!(binary_items(text.as_bytes()).is_some(), all_base64, "{}", text);
        let body = format!(r#"{{"Data":{{"events":{text}}},"Metadata":{{}}}}"#).into_bytes();
        let got = decode_invocation(body, "events").unwrap();
        proptest::prop_assert_eq!((got.encoding, got.events), expected);
    }
}

#[test]
fn the_hosts_binary_shape_is_read_in_place() {
    let text = r#""[\"aGk=\",\"aGVsbG8gd29ybGQ=\"]""#;
    assert_eq!(
        binary_items(text.as_bytes()).map(|e| e.into_iter().map(|b| b.bytes).collect::<Vec<_>>()),
        Some(vec![b"hi".to_vec(), b"hello world".to_vec()])
    );
    for other in [
        r#""[]""#,
        r#""[\"aGk=\", \"aGk=\"]""#,
        r#""[\"a\/k=\"]""#,
        r#""[\"aGk\"]""#,
    ] {
        assert_eq!(binary_items(other.as_bytes()), None, "{other}");
    }
}

#[test]
fn a_missing_binding_or_a_body_that_is_not_an_envelope_is_an_error() {
    let body = serde_json::to_vec(&json!({"Data": {"other": "x"}})).unwrap();
    assert!(matches!(
        decode_invocation(body, "events"),
        Err(InvocationError::Trigger(TriggerError::Missing(_)))
    ));
    assert!(matches!(
        decode_invocation(b"not json".to_vec(), "events"),
        Err(InvocationError::Envelope(_))
    ));
    let body = serde_json::to_vec(
        &json!({"data": {"EVENTS": "[\"aGk=\"]"}, "metadata": {"SequenceNumberArray": "[7]"}}),
    )
    .unwrap();
    let inv = decode_invocation(body, "events").unwrap();
    assert_eq!(inv.events[0].bytes, b"hi");
    assert_eq!(inv.metadata.events[0].sequence_number, Some(7));
}

#[test]
fn an_envelope_read_as_text_or_as_bytes_gives_the_same_answers() {
    let good = br#"{"Data":{"events":"[\"aGk=\"]"},"Metadata":{"SequenceNumberArray":"[7]"}}"#;
    let inv = decode_invocation(good.to_vec(), "events").unwrap();
    assert_eq!(
        (inv.events[0].bytes.as_slice(), inv.encoding),
        (&b"hi"[..], EventEncoding::Binary)
    );
    // Invalid UTF-8 in a metadata string: read as bytes, refused by serde_json as before.
    let mut bad = br#"{"Data":{"events":"[\"aGk=\"]"},"Metadata":{"X":"?"}}"#.to_vec();
    let at = bad.iter().position(|&b| b == b'?').unwrap();
    bad[at] = 0xff;
    let want = serde_json::from_slice::<serde_json::Value>(&bad)
        .unwrap_err()
        .to_string();
    match decode_invocation(bad, "events") {
        Err(InvocationError::Envelope(e)) => assert_eq!(e, want),
        other => panic!("{other:?}"),
    }
    // A syntax error reads the same either way: text and bytes report one position.
    let broken = br#"{"Data":{"events":"[\"aGk=\"]"},"Metadata":{"X":tru}}"#;
    let want = serde_json::from_slice::<serde_json::Value>(broken)
        .unwrap_err()
        .to_string();
    match decode_invocation(broken.to_vec(), "events") {
        Err(InvocationError::Envelope(e)) => assert_eq!(e, want),
        other => panic!("{other:?}"),
    }
}

/// `decode_invocation` (which tries the host's shape first) against the general path alone.
fn both_paths(body: &[u8]) -> (String, String) {
    (
        format!("{:?}", decode_invocation(body.to_vec(), "events")),
        format!("{:?}", decode_general(body.to_vec(), "events")),
    )
}

#[test]
fn the_hosts_whole_envelope_is_read_without_scanning_its_events_and_nothing_else_is() {
    let host = br#"{"Data":{"events":"[\"aGk=\",\"aGVsbG8=\"]"},"Metadata":{"SequenceNumberArray":"[7,8]"}}"#;
    assert!(host_shaped(host, "events").is_some());
    let inv = decode_invocation(host.to_vec(), "events").unwrap();
    assert_eq!(inv.events[1].bytes, b"hello");
    assert_eq!(inv.metadata.events[1].sequence_number, Some(8));
    let (fast, general) = both_paths(host);
    assert_eq!(fast, general);
    for other in [
        // The key given twice: the general path reads the later one.
        &br#"{"Data":{"events":"[\"aGk=\"]","events":"[\"aGVsbG8=\"]"},"Metadata":{}}"#[..],
        br#"{"Data":{"events":"[\"aGk=\"]","events":""},"Metadata":{}}"#,
        br#"{"Data":{"events":"[\"aGk=\"]"},"Metadata":{"a":tru}}"#,
        br#"{"Data":{"events":"[\"aGk=\"]"},"Metadata":{}} trailing"#,
        br#"{"Data":{"events":"[\"aGk=\"]"},"data":{}}"#,
        br#"{"Data":{"events":"[\"aGk=\"] "},"Metadata":{}}"#,
        br#"{"Data":{"events":"[\"a!k=\"]"},"Metadata":{}}"#,
    ] {
        assert!(
            host_shaped(other, "events").is_none(),
            "{}",
            String::from_utf8_lossy(other)
        );
        let (fast, general) = both_paths(other);
        assert_eq!(fast, general, "{}", String::from_utf8_lossy(other));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    /// Host-shaped openings with any of many endings, hostile ones included: the invocation (or
    /// the error) is the general path's.
    #[test]
    fn an_envelope_read_the_hosts_way_is_the_general_paths_envelope(
        items in proptest::collection::vec(proptest::sample::select(vec!["aGk=", "aGVsbG8=", "", "a!k=", "AAAA"]), 1..4),
        pre in junk(),
        meta in proptest::sample::select(vec![
            "", r#""SequenceNumberArray":"[1,2,3]""#, r#""SequenceNumberArray":"[1]","x":[{"y":null}]"#,
            r#""a":tru"#, r#""a":"\ud800""#, r#""a":1,"a":2"#,
        ]),
        post in junk(),
    ) {
        let body = format!(
            r#"{{"Data":{{"events":"[\"{}\"]"{pre}}},"Metadata":{{{meta}}}}}{post}"#,
            items.join(r#"\",\""#)
        );
        let (fast, general) = both_paths(body.as_bytes());
        proptest::prop_assert_eq!(fast, general, "{}", body);
    }
}

/// Nothing most of the time; else a token or two that may spoil an envelope.
fn junk() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::strategy::Strategy;
    proptest::collection::vec(
        proptest::sample::select(vec![
            "",
            "",
            "",
            "",
            "",
            "",
            ",",
            r#","events":"x""#,
            r#","events":"[\"aGk=\"]""#,
            r#","other":1"#,
            " ",
            "}",
            "{",
            r#","data":{}"#,
            "tru",
            "]",
        ]),
        0..3,
    )
    .prop_map(|t| t.concat())
}
