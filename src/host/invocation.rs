//! Decoding a whole `MatchEvents` invocation body into event bytes without keeping three copies
//! of the batch. The host sends the events as a JSON string holding a JSON array of base64
//! strings (`docs/sources.md` §1); read naively, that is the body, the string's text, the array's
//! strings and the decoded bytes at once (about four times the events).
//!
//! Here the envelope is parsed borrowing the body (the events value as raw JSON), that string is
//! unescaped in place inside the body (unescaped JSON text is never longer than its escaped
//! form), and the array is read element by element from there, each base64 string borrowed and
//! decoded straight into its event's bytes. At most the body and the decoded events are held;
//! the caller drops the body as soon as this returns. Any other shape of the trigger value goes
//! through [`decode_events`] as before.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::events::{array_item, encoding_of};
use super::{EventBody, EventEncoding, TriggerError, TriggerMetadata, decode_events};

/// An invocation decoded down to its events.
#[derive(Debug)]
pub struct Invocation {
    pub metadata: TriggerMetadata,
    pub encoding: EventEncoding,
    pub events: Vec<EventBody>,
}

/// Why an invocation body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    #[error("the request is not a host invocation: {0}")]
    Envelope(String),
    #[error(transparent)]
    Trigger(#[from] TriggerError),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Data", alias = "data", borrow, default)]
    data: HashMap<String, &'a RawValue>,
    #[serde(rename = "Metadata", alias = "metadata", default)]
    metadata: Map<String, Value>,
}

/// Decodes the body of an invocation whose trigger binding is `binding` (matched exactly, then
/// ignoring case). The body's bytes are reused as scratch space.
pub fn decode_invocation(mut body: Vec<u8>, binding: &str) -> Result<Invocation, InvocationError> {
    let (range, metadata) = {
        let envelope: Envelope<'_> =
            serde_json::from_slice(&body).map_err(|e| InvocationError::Envelope(e.to_string()))?;
        let raw = envelope
            .data
            .get(binding)
            .or_else(|| {
                envelope
                    .data
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(binding))
                    .map(|(_, v)| v)
            })
            .ok_or_else(|| TriggerError::Missing(binding.to_owned()))?;
        let text = raw.get().as_bytes();
        let start = text.as_ptr() as usize - body.as_ptr() as usize;
        (start..start + text.len(), envelope.metadata)
    };
    let metadata = TriggerMetadata::parse(&metadata);
    let raw = &mut body[range];
    let (encoding, events) = if raw.first() == Some(&b'"') {
        let len = unescape_in_place(raw)
            .ok_or_else(|| TriggerError::Shape("a malformed JSON string".into()))?;
        let inner = &raw[..len];
        match inner.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => match read_array(inner) {
                Ok(decoded) => decoded,
                Err(_) => fallback(Value::String(utf8(inner)?))?,
            },
            _ => fallback(Value::String(utf8(inner)?))?,
        }
    } else {
        let value: Value =
            serde_json::from_slice(raw).map_err(|e| TriggerError::Shape(e.to_string()))?;
        fallback(value)?
    };
    Ok(Invocation {
        metadata,
        encoding,
        events,
    })
}

fn utf8(bytes: &[u8]) -> Result<String, TriggerError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| TriggerError::Shape("not UTF-8".into()))
}

/// Every other shape, decoded as [`decode_events`] always did.
fn fallback(value: Value) -> Result<(EventEncoding, Vec<EventBody>), TriggerError> {
    decode_events(&value)
}

/// Reads a JSON array of event items element by element, each decoded as it is read.
fn read_array(text: &[u8]) -> Result<(EventEncoding, Vec<EventBody>), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let out = ArraySeed.deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

struct ArraySeed;

impl<'de> DeserializeSeed<'de> for ArraySeed {
    type Value = (EventEncoding, Vec<EventBody>);
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed {
    type Value = (EventEncoding, Vec<EventBody>);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut counts = [0usize; 3];
        let mut bodies = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Item<'de>>()? {
            let (body, kind) = match item {
                Item::Borrowed(s) => array_item(Value::String(String::new()), Some(s)),
                Item::Other(v) => array_item(v, None),
            };
            counts[kind] += 1;
            bodies.push(body);
        }
        Ok((encoding_of(counts), bodies))
    }
}

/// One element: a string borrowed from the text when it has no escape (every base64 string),
/// else any JSON value.
#[derive(Deserialize)]
#[serde(untagged)]
enum Item<'a> {
    Borrowed(&'a str),
    Other(Value),
}

/// Unescapes the JSON string at the start of `buf` (its opening quote included) into the start
/// of `buf` itself; returns the unescaped length, or `None` when it is not one valid string.
pub fn unescape_in_place(buf: &mut [u8]) -> Option<usize> {
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

/// The character of `XXXX` (after `\u`), or of a surrogate pair `XXXX\uYYYY`; and the bytes used.
fn unicode_escape(rest: &[u8]) -> Option<(char, usize)> {
    let hex4 = |s: &[u8]| -> Option<u32> {
        let s = std::str::from_utf8(s.get(..4)?).ok()?;
        u32::from_str_radix(s, 16).ok()
    };
    let first = hex4(rest)?;
    if (0xD800..0xDC00).contains(&first) {
        if rest.get(4..6)? != b"\\u" {
            return None;
        }
        let second = hex4(&rest[6..])?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        return Some((char::from_u32(c)?, 10));
    }
    Some((char::from_u32(first)?, 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unescaped(json_text: &str) -> Option<String> {
        let mut buf = json_text.as_bytes().to_vec();
        let n = unescape_in_place(&mut buf)?;
        Some(String::from_utf8(buf[..n].to_vec()).unwrap())
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
            let body =
                serde_json::to_vec(&json!({"Data": {"events": value}, "Metadata": {}})).unwrap();
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
}
