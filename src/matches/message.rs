//! A match read back from a queue message (`RaiseAlerts`): third-party input, since anyone with
//! write access to the queue can put a message there. Every field is checked and bounded before
//! it can reach an alert, a MISP request, a Sentinel row or the host's `Logs`:
//!
//! - `matchId`: 1 to 64 characters of `[A-Za-z0-9_-]` (the handler writes 32 hex); it keys the
//!   dedupe rows and appears in log lines, so nothing else is accepted;
//! - `hash` must be hex of the length its `hashType` says (a 32-hex value labelled `sha256` is
//!   refused rather than becoming a `FileSha256` indicator); a network match (no `hash`) must
//!   carry an `indicatorValue` that is already the canonical form of its `indicatorKind`
//!   (`ip`, `domain`, `url`, `email`), so it is exactly what the handler wrote;
//! - every text field is cleaned (control characters such as CR, LF, NUL and ESC, and bidi
//!   overrides, removed) and cut to the bound [`super::MatchRecord::new`] keeps;
//! - `intel` keeps at most [`super::MAX_INTEL`] entries (the rest are counted in
//!   `intelOmitted`), each rebuilt through [`IntelHit::new`]; its uuids must parse as uuids
//!   (`uuid` crate, hyphenated) and its `threatLevelId` may be a number or a string, as MISP
//!   itself writes numbers.

use serde::Deserialize;
use serde_json::Value;

use super::{ID_CHARS, MAX_INTEL, MatchRecord, NAME_CHARS, PATH_CHARS, bounded};
use crate::indicator::Indicator;
use crate::intel::{IntelHit, RawHit};
use crate::records::{FileHash, HashType};
use crate::text::clean_text;

/// Characters of a `matchId` at most.
pub const MATCH_ID_CHARS: usize = 64;
/// Hash columns a match names at most (Defender has six).
const HASH_FIELDS: usize = 6;
/// `intelOmitted` at most (a count, bounded so that no sum overflows).
const OMITTED_MAX: usize = 1_000_000;

/// The message as sent; every field loosely typed, checked in [`MatchRecord::from_message`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    match_id: String,
    #[serde(default)]
    device_id: Option<Value>,
    #[serde(default)]
    device_name: Option<Value>,
    #[serde(default)]
    report_id: Option<Value>,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    category: Option<Value>,
    #[serde(default)]
    alertable: bool,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    hash_type: Option<HashType>,
    #[serde(default)]
    hash_fields: Vec<Value>,
    #[serde(default)]
    file_name: Option<Value>,
    #[serde(default)]
    folder_path: Option<Value>,
    #[serde(default)]
    intel: Vec<Value>,
    #[serde(default)]
    intel_omitted: Option<Value>,
    #[serde(default)]
    indicator_kind: Option<String>,
    #[serde(default)]
    indicator_value: Option<String>,
    #[serde(default)]
    indicator_columns: Vec<Value>,
    #[serde(default)]
    indicator_port: Option<Value>,
}

/// What a message says matched: a hash, or a network indicator (issue 15).
enum Matched {
    Hash(FileHash),
    Net(Indicator),
}

/// The hash (with its `hashType`), or else the network indicator, of a message: the value must
/// parse as its kind, and a network value must be in its canonical form already.
fn matched(m: &Message) -> Result<Matched, String> {
    match (m.hash.as_deref().map(str::trim), m.hash_type) {
        (Some(h), Some(t)) if !h.is_empty() => FileHash::parse_as(t, h)
            .map(Matched::Hash)
            .map_err(|e| clean_text(&format!("its hash is not a {} hash: {e}", t.as_str()), 200)),
        (Some(h), None) if !h.is_empty() => Err("its hash has no hashType".into()),
        _ => {
            let value = m.indicator_value.as_deref().unwrap_or("");
            let kind = m.indicator_kind.as_deref().unwrap_or("");
            let indicator = Indicator::parse(value)
                .ok()
                .filter(|i| i.kind().as_str() == kind && i.text() == value);
            indicator.map(Matched::Net).ok_or_else(|| {
                "it has neither a hash nor an indicatorValue in the canonical form of its indicatorKind"
                    .to_owned()
            })
        }
    }
}

/// A string or a number as text; anything else is absent.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A uuid in its hyphenated lowercase form, or empty.
fn uuid(v: Option<&Value>) -> String {
    let Some(s) = text(v) else {
        return String::new();
    };
    let s = s.trim();
    match uuid::Uuid::try_parse(s) {
        Ok(u) if s.len() == 36 => u.hyphenated().to_string(),
        _ => String::new(),
    }
}

/// One intel entry, rebuilt from untrusted fields.
fn intel_hit(v: &Value) -> Option<IntelHit> {
    let o = v.as_object()?;
    let field = |k: &str| text(o.get(k)).unwrap_or_default();
    let (event_id, event_info, attribute_type, value) = (
        field("eventId"),
        field("eventInfo"),
        field("attributeType"),
        field("value"),
    );
    let event_uuid = uuid(o.get("eventUuid"));
    let attribute_uuid = uuid(o.get("attributeUuid"));
    let threat_level = text(o.get("threatLevelId"));
    let tags: Vec<String> = o
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .take(crate::intel::bounds::TAGS * 4)
        .collect();
    Some(IntelHit::new(RawHit {
        event_id: &event_id,
        event_uuid: &event_uuid,
        event_info: &event_info,
        threat_level_id: threat_level.as_deref(),
        attribute_uuid: &attribute_uuid,
        attribute_type: &attribute_type,
        tags: tags.iter().map(String::as_str).collect(),
        value: &value,
    }))
}

fn match_id(id: &str) -> Result<String, String> {
    let ok = (1..=MATCH_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(format!(
            "its matchId is not 1 to {MATCH_ID_CHARS} letters, digits, '-' or '_'"
        ))
    }
}

impl MatchRecord {
    /// A match from a queue message's JSON, every field checked and bounded (module docs);
    /// `Err` says what is wrong, in one clean line.
    pub fn from_message(value: Value) -> Result<Self, String> {
        let m: Message = serde_json::from_value(value)
            .map_err(|e| clean_text(&format!("the message is not a match: {e}"), 300))?;
        let match_id = match_id(&m.match_id)?;
        let matched = matched(&m)?;
        let hit_count = m.intel.len();
        let intel: Vec<IntelHit> = m
            .intel
            .iter()
            .take(MAX_INTEL)
            .filter_map(intel_hit)
            .collect();
        let omitted = text(m.intel_omitted.as_ref())
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(0)
            .min(OMITTED_MAX);
        let b = |v: &Option<Value>, max| bounded(text(v.as_ref()).as_deref(), max);
        Ok(MatchRecord {
            match_id,
            device_id: b(&m.device_id, ID_CHARS),
            device_name: b(&m.device_name, NAME_CHARS),
            report_id: b(&m.report_id, ID_CHARS),
            timestamp: b(&m.timestamp, ID_CHARS),
            category: b(&m.category, NAME_CHARS),
            alertable: m.alertable,
            hash_fields: fields(&m.hash_fields),
            file_name: b(&m.file_name, NAME_CHARS),
            folder_path: b(&m.folder_path, PATH_CHARS),
            intel_omitted: omitted + hit_count.saturating_sub(intel.len()),
            intel,
            ..from_matched(matched, &m)
        })
    }
}

/// The fields that name what matched; a hash match's indicator fields are its hash's.
fn from_matched(matched: Matched, m: &Message) -> MatchRecord {
    let (hash, kind, value) = match matched {
        Matched::Hash(h) => (Some(h.clone()), h.kind().as_str(), h.as_str().to_owned()),
        Matched::Net(i) => (None, i.kind().as_str(), i.text().into_owned()),
    };
    let columns = match &hash {
        Some(_) if m.indicator_columns.is_empty() => fields(&m.hash_fields),
        _ => fields(&m.indicator_columns),
    };
    MatchRecord {
        match_id: String::new(),
        device_id: None,
        device_name: None,
        report_id: None,
        timestamp: None,
        category: None,
        alertable: false,
        hash_type: hash.as_ref().map(FileHash::kind),
        hash,
        hash_fields: Vec::new(),
        file_name: None,
        folder_path: None,
        intel: Vec::new(),
        intel_omitted: 0,
        indicator_kind: kind.to_owned(),
        indicator_value: value,
        indicator_columns: columns,
        indicator_port: text(m.indicator_port.as_ref()).and_then(|p| p.parse().ok()),
    }
}

/// Column names, cleaned and bounded.
fn fields(v: &[Value]) -> Vec<String> {
    v.iter()
        .filter_map(|f| f.as_str().map(|s| clean_text(s, 64)))
        .filter(|s| !s.is_empty())
        .take(HASH_FIELDS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message() -> Value {
        json!({
            "matchId": "0123456789abcdef0123456789abcdef", "deviceId": "d1", "deviceName": "ws-1",
            "reportId": 77, "timestamp": "2026-07-18T12:59:31Z", "category": "AdvancedHunting-DeviceFileEvents",
            "alertable": true, "hash": "a".repeat(64), "hashType": "sha256", "hashFields": ["SHA256"],
            "fileName": "a.exe", "folderPath": "C:\\a.exe",
            "intel": [{"eventId": "42", "eventUuid": "5C7641BF-A4E8-4D5D-A653-03240A00020F", "eventInfo": "x",
                       "threatLevelId": "1", "attributeUuid": "6d7641bf-a4e8-4d5d-a653-03240a00020f",
                       "attributeType": "sha256", "tags": ["tlp:amber"]}],
            "intelOmitted": 0
        })
    }

    #[test]
    fn a_well_formed_message_reads_back_with_a_string_threat_level_and_a_numeric_report_id() {
        let m = MatchRecord::from_message(message()).unwrap();
        assert_eq!(m.intel[0].threat_level_id, Some(1), "MISP writes \"1\"");
        assert_eq!(m.report_id.as_deref(), Some("77"));
        assert_eq!(
            m.intel[0].event_uuid,
            "5c7641bf-a4e8-4d5d-a653-03240a00020f"
        );
        let mut numeric = message();
        numeric["intel"][0]["threatLevelId"] = json!(2);
        let m = MatchRecord::from_message(numeric).unwrap();
        assert_eq!(m.intel[0].threat_level_id, Some(2));
    }

    #[test]
    fn a_hash_that_does_not_fit_its_type_or_a_hostile_match_id_is_refused() {
        let mut short = message();
        short["hash"] = json!("b".repeat(32));
        let err = MatchRecord::from_message(short).unwrap_err();
        assert!(err.contains("not a sha256 hash"), "{err}");
        for id in [
            "",
            "a\r\nInjected: yes",
            &"x".repeat(1_000_000),
            "../../etc",
            "a b",
        ] {
            let mut bad = message();
            bad["matchId"] = json!(id);
            let err = MatchRecord::from_message(bad).unwrap_err();
            assert!(err.len() < 200 && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn hostile_fields_are_cleaned_bounded_and_intel_is_cut_to_ten_entries() {
        let mut hostile = message();
        hostile["deviceName"] = json!("ws\r\n1\u{0}\u{1b}[31m\u{202e}exe.txt");
        hostile["fileName"] = json!("x".repeat(100_000));
        let entry = hostile["intel"][0].clone();
        hostile["intel"] = Value::Array(vec![entry; 20_000]);
        hostile["intel"][0]["attributeUuid"] = json!("------------------------------------");
        hostile["intel"][1]["eventId"] = json!("12; DROP");
        hostile["intelOmitted"] = json!(u64::MAX);
        hostile["hashFields"] = json!(["SHA256\n", 5, "MD5", "a", "b", "c", "d", "e"]);
        let m = MatchRecord::from_message(hostile).unwrap();
        let name = m.device_name.unwrap();
        assert!(
            !name.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{name:?}"
        );
        assert!(m.file_name.unwrap().chars().count() <= NAME_CHARS);
        assert_eq!(m.intel.len(), MAX_INTEL);
        assert_eq!(m.intel[0].attribute_uuid, "", "36 dashes are not a uuid");
        assert_eq!(m.intel[1].event_id, "");
        assert_eq!(m.intel_omitted, OMITTED_MAX + 20_000 - MAX_INTEL);
        assert_eq!(m.hash_fields.len(), HASH_FIELDS);
        assert_eq!(m.hash_fields[0], "SHA256");
    }

    fn network_match() -> Value {
        let body = br#"{"category":"AdvancedHunting-DeviceNetworkEvents","properties":{"DeviceId":"d1",
            "ReportId":5,"Timestamp":"2026-07-18T12:59:31Z","RemoteUrl":"C2.Evil.Test","RemotePort":443}}"#;
        let record = crate::records::parse_body(body, 10).unwrap().remove(0);
        let found = crate::indicator::columns::record_indicators(&record).found;
        let hit = IntelHit::new(RawHit {
            attribute_type: "domain",
            value: "evil.test",
            ..Default::default()
        });
        serde_json::to_value(MatchRecord::network(&record, &found[0], &[hit])).unwrap()
    }

    #[test]
    fn a_network_match_has_the_one_shape_and_reads_back_unchanged() {
        let v = network_match();
        assert_eq!(v["hash"], Value::Null);
        assert_eq!(v["hashType"], Value::Null);
        assert_eq!(v["hashFields"], json!([]));
        assert_eq!(v["indicatorKind"], "domain");
        assert_eq!(v["indicatorValue"], "c2.evil.test");
        assert_eq!(v["indicatorColumns"], json!(["RemoteUrl"]));
        assert_eq!(v["indicatorPort"], 443);
        assert_eq!(v["intel"][0]["value"], "evil.test");
        let back = MatchRecord::from_message(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
        // A hash match keeps every field it had, and names its hash as its indicator.
        let hash = MatchRecord::from_message(message()).unwrap();
        let h = serde_json::to_value(&hash).unwrap();
        for field in [
            "matchId",
            "hash",
            "hashType",
            "hashFields",
            "fileName",
            "folderPath",
            "intel",
            "intelOmitted",
        ] {
            assert!(!h[field].is_null(), "{field}");
        }
        assert_eq!(h["indicatorKind"], "sha256");
        assert_eq!(h["indicatorValue"], h["hash"]);
        assert_eq!(h["indicatorColumns"], json!(["SHA256"]));
    }

    #[test]
    fn a_network_match_whose_value_is_not_canonical_for_its_kind_is_refused() {
        for (kind, value) in [
            ("domain", "C2.Evil.Test"),
            ("ip", "c2.evil.test"),
            ("ip", "::ffff:1.2.3.4"),
            ("email", "not a sender"),
            ("url", "c2.evil.test\r\nX: y"),
        ] {
            let mut v = network_match();
            v["indicatorKind"] = json!(kind);
            v["indicatorValue"] = json!(value);
            let err = MatchRecord::from_message(v).unwrap_err();
            assert!(err.contains("canonical form"), "{kind} {value}: {err}");
        }
        let mut no_type = network_match();
        no_type["hash"] = json!("a".repeat(64));
        assert!(
            MatchRecord::from_message(no_type)
                .unwrap_err()
                .contains("no hashType")
        );
    }
}
