//! Decoding the Event Hub trigger value (`Data.<binding>`) into the exact bytes of each event.
//!
//! The shape tells the encoding, never function.json (`docs/sources.md` §1):
//! a string holding a JSON array of base64 strings (`dataType: binary`), of raw bodies
//! (`dataType: string`) or of JSON values (`dataType` unset); or a single body
//! (`cardinality: one`), double-encoded text or plain base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// How the events of an invocation were encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventEncoding {
    /// `cardinality: many`, `dataType: binary`: base64 of the exact bytes.
    Binary,
    /// `cardinality: many`, `dataType: string`: the UTF-8 text of each body.
    Text,
    /// `cardinality: many`, `dataType` unset: each body re-serialized by the host as JSON.
    Json,
    /// `cardinality: one`.
    Single,
}

/// One event body as the handler received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBody {
    pub bytes: Vec<u8>,
}

/// Why the trigger value could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("the request has no `{0}` trigger data")]
    Missing(String),
    #[error("the trigger data is not an event batch: {0}")]
    Shape(String),
}

/// The bytes of a standard base64 string (not a JSON text), or `None`. Decoded with SIMD
/// (`base64-simd`, AVX2 or SSE4.1 when the CPU has them, chosen at run time): a binary batch is
/// mostly base64. Accepts exactly what the `base64` crate's padded, canonical `STANDARD` accepts
/// (tested below).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    decode_base64_bytes(s.as_bytes())
}

/// [`decode_base64`] of bytes (the host's escaped text, read in place by `host::invocation`).
pub(super) fn decode_base64_bytes(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) || s.starts_with(b"{") || s.starts_with(b"[") {
        return None;
    }
    base64_simd::STANDARD.decode_to_vec(s).ok()
}

/// Decodes the trigger value into event bodies and the encoding it was sent in.
pub fn decode_events(value: &Value) -> Result<(EventEncoding, Vec<EventBody>), TriggerError> {
    match value {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => decode_array(items),
            Ok(Value::String(body)) => Ok((EventEncoding::Single, vec![text_body(body)])),
            Ok(other @ (Value::Object(_) | Value::Number(_) | Value::Bool(_))) => {
                Ok((EventEncoding::Single, vec![json_body(&other)]))
            }
            // Not JSON: a single binary event as plain base64, or failing that the text itself.
            _ => match STANDARD.decode(text) {
                Ok(bytes) if !text.is_empty() => {
                    Ok((EventEncoding::Single, vec![EventBody { bytes }]))
                }
                _ => Ok((EventEncoding::Single, vec![text_body(text.clone())])),
            },
        },
        Value::Array(items) => decode_array(items.clone()),
        Value::Object(_) => Ok((EventEncoding::Single, vec![json_body(value)])),
        Value::Null => Err(TriggerError::Shape("null".into())),
        other => Ok((EventEncoding::Single, vec![json_body(other)])),
    }
}

fn decode_array(items: Vec<Value>) -> Result<(EventEncoding, Vec<EventBody>), TriggerError> {
    let mut counts = [0usize; 3];
    let bodies = items
        .into_iter()
        .map(|item| {
            let (body, kind) = array_item(item, None);
            counts[kind] += 1;
            body
        })
        .collect();
    Ok((encoding_of(counts), bodies))
}

/// One element of the array: `item`, or the string `borrowed` when given. Decided per element:
/// a JSON text body (`{…}`) is never valid base64, so one odd element cannot turn the rest of a
/// binary batch into text. Each is decoded once. Returns the body and its kind: 0 base64,
/// 1 text, 2 a JSON value.
pub(super) fn array_item(item: Value, borrowed: Option<&str>) -> (EventBody, usize) {
    match (borrowed, item) {
        (Some(s), _) => match decode_base64(s) {
            Some(bytes) => (EventBody { bytes }, 0),
            None => (text_body(s.to_owned()), 1),
        },
        (None, Value::String(s)) => match decode_base64(&s) {
            Some(bytes) => (EventBody { bytes }, 0),
            None => (text_body(s), 1),
        },
        (None, other) => (json_body(&other), 2),
    }
}

/// The batch's encoding from the kinds of its elements.
pub(super) fn encoding_of([decoded, texts, values]: [usize; 3]) -> EventEncoding {
    if values > 0 {
        EventEncoding::Json
    } else if texts > 0 || decoded == 0 {
        EventEncoding::Text
    } else {
        EventEncoding::Binary
    }
}

fn text_body(s: String) -> EventBody {
    EventBody {
        bytes: s.into_bytes(),
    }
}

fn json_body(v: &Value) -> EventBody {
    EventBody {
        bytes: serde_json::to_vec(v).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(v: Value) -> (EventEncoding, Vec<String>) {
        let (enc, bodies) = decode_events(&v).unwrap();
        let texts = bodies
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b.bytes).into_owned())
            .collect();
        (enc, texts)
    }

    #[test]
    fn binary_many_is_a_string_holding_an_array_of_base64() {
        let wire =
            Value::from(r#"["eyJkZXZpY2VJZCI6ImRldi0xIiwidGVtcCI6MjEuNX0=","aGVsbG8gd29ybGQ="]"#);
        let (enc, texts) = decode(wire);
        assert_eq!(enc, EventEncoding::Binary);
        assert_eq!(
            texts,
            [r#"{"deviceId":"dev-1","temp":21.5}"#, "hello world"]
        );
    }

    #[test]
    fn string_many_keeps_the_text_of_each_body() {
        let wire = Value::from(r#"["{\"a\":1}","hello"]"#);
        assert_eq!(
            decode(wire),
            (
                EventEncoding::Text,
                vec![r#"{"a":1}"#.into(), "hello".into()]
            )
        );
    }

    #[test]
    fn unset_many_re_serializes_json_values() {
        let wire = Value::from(r#"[{"a":1},{"b":[2]}]"#);
        assert_eq!(
            decode(wire),
            (
                EventEncoding::Json,
                vec![r#"{"a":1}"#.into(), r#"{"b":[2]}"#.into()]
            )
        );
    }

    #[test]
    fn single_bodies_are_double_encoded_text_or_plain_base64() {
        let text = Value::from(r#""{\"deviceId\":\"dev-1\"}""#);
        assert_eq!(
            decode(text),
            (
                EventEncoding::Single,
                vec![r#"{"deviceId":"dev-1"}"#.into()]
            )
        );
        let b64 = Value::from("aGVsbG8gd29ybGQ=");
        assert_eq!(
            decode(b64),
            (EventEncoding::Single, vec!["hello world".into()])
        );
    }

    #[test]
    fn one_invalid_base64_element_does_not_turn_the_batch_into_text() {
        let wire = Value::from(r#"["aGVsbG8gd29ybGQ=","!!not base64!!","eyJhIjoxfQ=="]"#);
        let (_, texts) = decode(wire);
        assert_eq!(texts, ["hello world", "!!not base64!!", r#"{"a":1}"#]);
    }

    /// The `base64` crate's decoding, the reference the SIMD one is compared with.
    fn decode_base64_plain(s: &str) -> Option<Vec<u8>> {
        if !s.len().is_multiple_of(4) || s.starts_with(['{', '[']) {
            return None;
        }
        STANDARD.decode(s).ok()
    }

    #[test]
    fn simd_base64_accepts_and_refuses_what_the_base64_crate_does() {
        for s in [
            "",
            "aGk=",
            "aGk",
            "aGk==",
            "aGl=",
            "aGlh",
            "aG k=",
            "aGk=\n",
            " aGk=",
            "aGk=aGk=",
            "a===",
            "====",
            "aA==",
            "aB==",
            "aGk-",
            "aGk_",
            "aGk/",
            "aGk+",
            "YQ==YQ==",
            "\u{e9}aGk",
        ] {
            assert_eq!(decode_base64(s), decode_base64_plain(s), "{s:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn simd_base64_agrees_with_the_base64_crate_on_any_bytes_encoded(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let s = STANDARD.encode(&bytes);
            proptest::prop_assert_eq!(decode_base64(&s), Some(bytes));
        }

        #[test]
        fn simd_base64_agrees_with_the_base64_crate_on_padding_whitespace_and_junk(
            chars in proptest::collection::vec(
                proptest::sample::select(b"AQgwBhxyz019+/=-_ \n\r\t.{".to_vec()), 0..80),
        ) {
            let s = String::from_utf8(chars).unwrap();
            proptest::prop_assert_eq!(decode_base64(&s), decode_base64_plain(&s));
        }

        #[test]
        fn simd_base64_agrees_with_the_base64_crate_when_one_character_is_changed(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..100),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            to in proptest::sample::select(b"A/+=_ -\n".to_vec()),
        ) {
            let mut s = STANDARD.encode(&bytes).into_bytes();
            let i = at.index(s.len());
            s[i] = to;
            let s = String::from_utf8(s).unwrap();
            proptest::prop_assert_eq!(decode_base64(&s), decode_base64_plain(&s));
        }
    }

    #[test]
    fn a_null_trigger_is_an_error() {
        assert!(decode_events(&Value::Null).is_err());
    }
}
