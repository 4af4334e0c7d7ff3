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
//!
//! The shape the host writes for `dataType: binary`, `"[\"<base64>\",\"<base64>\"]"` with no
//! whitespace and nothing in the base64 escaped (Newtonsoft.Json escapes neither `/` nor `+`,
//! `docs/sources.md` §1), is read faster still ([`binary_items`]): each item is decoded from the
//! escaped text where it lies, with no unescaping and no second JSON parse (issue 14). Anything
//! else about the text sends it down the general path, which gives the same events.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::events::{array_item, decode_base64_bytes, encoding_of};
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
pub fn decode_invocation(body: Vec<u8>, binding: &str) -> Result<Invocation, InvocationError> {
    match host_shaped(&body, binding) {
        Some(invocation) => Ok(invocation),
        None => decode_general(body, binding),
    }
}

/// [`decode_invocation`] of any body: the envelope parsed by serde_json, borrowing the body.
fn decode_general(mut body: Vec<u8>, binding: &str) -> Result<Invocation, InvocationError> {
    let (range, metadata) = {
        // As text when the body is UTF-8 (checked once, with SIMD): serde_json then does not
        // check the events' raw text again as it borrows it (issue 14). Any other body is read
        // as bytes, with the same answers as before.
        let envelope: Envelope<'_> = match simdutf8::basic::from_utf8(&body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(&body),
        }
        .map_err(|e| InvocationError::Envelope(e.to_string()))?;
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
    let (encoding, events) = if let Some(events) = binary_items(raw) {
        (EventEncoding::Binary, events)
    } else if raw.first() == Some(&b'"') {
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

/// The whole invocation when the body is exactly as the host writes it, `{"Data":{"<binding>":`
/// then the binary shape ([`binary_items_at`]) then the rest of the envelope: the events are
/// decoded where they lie, and serde_json reads the envelope with that string (nearly all of the
/// body) taken out, instead of scanning it (11 % of a warm batch; issue 14). The text taken out
/// is a valid JSON string by construction (base64 letters and `\"` escapes only), so the body is
/// a valid envelope exactly when what is left is, with the same values. `None` for anything else
/// (another shape, another binding's key, the key given twice, any error), which the general path
/// then reads as before.
fn host_shaped(body: &[u8], binding: &str) -> Option<Invocation> {
    if !binding
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let prefix = format!(r#"{{"Data":{{"{binding}":"#);
    let rest = body.strip_prefix(prefix.as_bytes())?;
    let (events, taken) = binary_items_at(rest)?;
    let mut left = Vec::with_capacity(body.len() - taken + 2);
    left.extend_from_slice(prefix.as_bytes());
    left.extend_from_slice(b"\"\"");
    left.extend_from_slice(&rest[taken..]);
    let text = simdutf8::basic::from_utf8(&left).ok()?;
    let envelope: Envelope<'_> = serde_json::from_str(text).ok()?;
    let raw = envelope.data.get(binding)?.get();
    // The value read for the binding must be the one taken out, not a later key of that name.
    if raw != "\"\"" || raw.as_ptr() != text[prefix.len()..].as_ptr() {
        return None;
    }
    Some(Invocation {
        metadata: TriggerMetadata::parse(&envelope.metadata),
        encoding: EventEncoding::Binary,
        events,
    })
}

/// The events of `"[\"<base64>\",…]"` exactly (one item at least, each valid base64), read from
/// the escaped JSON text itself; `None` for any other text, which the general path then reads.
fn binary_items(raw: &[u8]) -> Option<Vec<EventBody>> {
    match binary_items_at(raw)? {
        (events, taken) if taken == raw.len() => Some(events),
        _ => None,
    }
}

/// [`binary_items`] of the JSON string that starts `text`, and how many bytes of `text` that
/// string takes, quotes included (whatever follows it is not read).
fn binary_items_at(text: &[u8]) -> Option<(Vec<EventBody>, usize)> {
    let mut rest = text.strip_prefix(b"\"[")?;
    let mut events = Vec::new();
    loop {
        let item = rest.strip_prefix(b"\\\"")?;
        // Base64 holds neither a quote nor a backslash: the first of them ends the item.
        let end = memchr::memchr2(b'"', b'\\', item)?;
        if item.get(end..end + 2)? != b"\\\"" {
            return None;
        }
        events.push(EventBody {
            bytes: decode_base64_bytes(&item[..end])?,
        });
        rest = &item[end + 2..];
        match rest {
            [b',', more @ ..] => rest = more,
            [b']', b'"', more @ ..] => return Some((events, text.len() - more.len())),
            _ => return None,
        }
    }
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
/// The runs between escapes (thousands of base64 characters between two `\"`) are found with
/// `memchr2` and moved whole.
pub fn unescape_in_place(buf: &mut [u8]) -> Option<usize> {
    if buf.first() != Some(&b'"') {
        return None;
    }
    let (mut read, mut write) = (1, 0);
    loop {
        let end = read + memchr::memchr2(b'"', b'\\', buf.get(read..)?)?;
        // Not `any`: without the early exit the check is vectorised.
        if buf[read..end].iter().fold(false, |c, &b| c | (b < 0x20)) {
            return None;
        }
        if write != read {
            buf.copy_within(read..end, write);
        }
        write += end - read;
        if buf[end] == b'"' {
            return buf[end + 1..]
                .iter()
                .all(u8::is_ascii_whitespace)
                .then_some(write);
        }
        let esc = *buf.get(end + 1)?;
        read = end + 2;
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
#[path = "invocation_tests.rs"]
mod tests;
