//! Defender XDR Streaming API records: the bodies Defender puts on the Event Hub (and the lines of
//! its Storage export), decoded leniently, and the file hashes each record carries.
//!
//! A body is `{"records":[…]}`, a bare record object, or JSON lines of either (CRLF or LF).
//! Unknown tables and columns pass through untouched; only the columns this product reads are
//! typed, each as a [`Loose`] value that cannot fail. This module knows nothing of HTTP or MISP.

mod extract;
pub mod hashes;
mod lenient;

use serde::Deserialize;
use serde_json::error::Category;

pub use extract::{HashField, HashRole, RecordHashes, extract_hashes};
#[cfg(feature = "service")]
pub use hashes::Seeded;
pub use hashes::{FileHash, HashError, HashType, Md5, Sha1, Sha256};
pub use lenient::Loose;

/// One streamed row: `category` names the Advanced Hunting table, `properties` holds its columns.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub category: Loose,
    pub time: Loose,
    pub properties: Properties,
}

/// The fields of a record as serde sees them; [`Record`] accepts them only from a JSON object.
#[derive(Deserialize)]
struct RecordFields {
    #[serde(default)]
    category: Loose,
    #[serde(default)]
    time: Loose,
    #[serde(default)]
    properties: Properties,
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ObjectOnly(f) = ObjectOnly::<RecordFields>::deserialize(d)?;
        Ok(Record {
            category: f.category,
            time: f.time,
            properties: f.properties,
        })
    }
}

/// Deserializes `T` from a JSON object only. serde's derive also accepts an array for a struct
/// (fields by position), which would let `[[…]]` pass for a record.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The columns of a record that this product reads; every other column is ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Properties {
    #[serde(rename = "DeviceId")]
    pub device_id: Loose,
    #[serde(rename = "DeviceName")]
    pub device_name: Loose,
    #[serde(rename = "ReportId")]
    pub report_id: Loose,
    #[serde(rename = "Timestamp")]
    pub timestamp: Loose,
    #[serde(rename = "FileName")]
    pub file_name: Loose,
    #[serde(rename = "FolderPath")]
    pub folder_path: Loose,
    #[serde(rename = "InitiatingProcessFileName")]
    pub initiating_process_file_name: Loose,
    #[serde(rename = "InitiatingProcessFolderPath")]
    pub initiating_process_folder_path: Loose,
    #[serde(rename = "SHA1")]
    pub sha1: Loose,
    #[serde(rename = "SHA256")]
    pub sha256: Loose,
    #[serde(rename = "MD5")]
    pub md5: Loose,
    #[serde(rename = "InitiatingProcessSHA1")]
    pub initiating_process_sha1: Loose,
    #[serde(rename = "InitiatingProcessSHA256")]
    pub initiating_process_sha256: Loose,
    #[serde(rename = "InitiatingProcessMD5")]
    pub initiating_process_md5: Loose,
}

/// The prefix Defender puts before the Advanced Hunting table name in `category`.
pub const CATEGORY_PREFIX: &str = "AdvancedHunting-";

impl Record {
    /// The Advanced Hunting table, e.g. `DeviceFileEvents`.
    pub fn table(&self) -> Option<&str> {
        let c = self.category.as_deref()?;
        Some(c.strip_prefix(CATEGORY_PREFIX).unwrap_or(c))
    }

    /// Whether Defender can raise an alert on this record by reference: a device *event* table
    /// (`Device…Events`) with the device id, report id and timestamp that
    /// `CreateAlertByReference` needs.
    pub fn is_alertable(&self) -> bool {
        let p = &self.properties;
        let device_event = self
            .table()
            .is_some_and(|t| t.starts_with("Device") && t.ends_with("Events"));
        device_event
            && p.device_id.as_deref().is_some()
            && p.report_id.as_deref().is_some()
            && p.timestamp.as_deref().is_some()
    }
}

/// Why an Event Hub body holds no Defender records. The text is the dead-letter reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("empty body")]
    Empty,
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is JSON but not Defender records: {0}")]
    NotRecords(String),
    #[error("body holds more than {limit} records")]
    TooManyRecords { limit: usize },
}

/// Top-level value of a body: either an envelope with `records`, or a record itself.
#[derive(Deserialize)]
struct BodyItem {
    #[serde(default)]
    records: Option<Vec<Record>>,
    #[serde(default)]
    category: Loose,
    #[serde(default)]
    time: Loose,
    #[serde(default)]
    properties: Option<Properties>,
}

/// The deepest nesting of objects and arrays in JSON text, found by one pass over the bytes
/// (strings and escapes skipped), stopping as soon as `limit` is passed. Run before decoding so a
/// hostile body is refused without being walked.
pub fn json_depth_exceeds(bytes: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Decodes one Event Hub body (or one exported file) into its records.
///
/// Accepts `{"records":[…]}`, a bare record (an object with `properties`), and any sequence of
/// those separated by whitespace, which covers JSON lines with LF or CRLF endings.
pub fn parse_body(bytes: &[u8], max_records: usize) -> Result<Vec<Record>, BodyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    let mut records = Vec::new();
    for item in serde_json::Deserializer::from_slice(bytes).into_iter::<ObjectOnly<BodyItem>>() {
        let ObjectOnly(item) = item.map_err(classify)?;
        match (item.records, item.properties) {
            (Some(batch), _) => records.extend(batch),
            (None, Some(properties)) => records.push(Record {
                category: item.category,
                time: item.time,
                properties,
            }),
            (None, None) => {
                return Err(BodyError::NotRecords(
                    "an object with neither `records` nor `properties`".into(),
                ));
            }
        }
        if records.len() > max_records {
            return Err(BodyError::TooManyRecords { limit: max_records });
        }
    }
    Ok(records)
}

fn classify(e: serde_json::Error) -> BodyError {
    match e.classify() {
        Category::Data => BodyError::NotRecords(e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => BodyError::NotJson(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_EVENT: &str = r#"{"time":"2026-07-18T13:01:51.2820995Z","category":"AdvancedHunting-DeviceFileEvents","properties":{"DeviceId":"aa11","ReportId":8132,"Timestamp":"2026-07-18T12:59:31.2914446Z","SHA1":"6866429EB0F03FC50F980019774036A21063A3C1","Unknown":{"x":[1]}},"Tenant":"DefaultTenant"}"#;

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
        let big = r#"{"category":"AdvancedHunting-DeviceInfo","properties":{"ReportId":639199803770463703}}"#;
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
    fn depth_is_counted_outside_strings_only() {
        assert!(!json_depth_exceeds(br#"{"a":[{"b":"[[[[[[\"{{{{"}]}"#, 3));
        assert!(json_depth_exceeds(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!json_depth_exceeds(br#"{"a":[{"b":[1]}]}"#, 4));
        assert!(json_depth_exceeds(&[b'['; 100_000], 64));
    }

    #[test]
    fn deep_nesting_neither_overflows_the_stack_nor_is_read() {
        let nested = |n| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        // Skipped columns are walked without recursion: the record still decodes.
        let in_unknown = format!(r#"{{"properties":{{"X":{}}}}}"#, nested(100_000));
        assert_eq!(parse_body(in_unknown.as_bytes(), 10).unwrap().len(), 1);
        // A column we read that holds an array is dropped, walked the same way.
        let in_known = format!(r#"{{"properties":{{"SHA1":{}}}}}"#, nested(100_000));
        assert_eq!(
            parse_body(in_known.as_bytes(), 10).unwrap()[0]
                .properties
                .sha1,
            Loose(None)
        );
        assert!(parse_body(nested(100_000).as_bytes(), 10).is_err());
    }
}
