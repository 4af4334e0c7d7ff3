//! The match record: one element of `Outputs.matches`, one Storage queue message, one input of
//! `RaiseAlerts`. Its field names are a public contract (documented in the README).
//!
//! A queue message holds 64 KB at most, so every text field is bounded and the serialized record
//! is kept under [`MAX_MATCH_BYTES`] by leaving intel entries out (and counting them). A match
//! read back from a queue message is checked field by field ([`MatchRecord::from_message`]).

mod message;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::indicator::Indicator;
use crate::indicator::columns::FoundIndicator;
use crate::intel::IntelHit;
use crate::records::{FileHash, HashField, HashRole, HashType, Record};
use crate::text::clean_text;

/// Intel entries carried per match at most.
pub const MAX_INTEL: usize = 10;
/// Upper bound on a serialized match, half a Storage queue message.
pub const MAX_MATCH_BYTES: usize = 32 * 1024;
const NAME_CHARS: usize = 256;
const PATH_CHARS: usize = 1024;
const ID_CHARS: usize = 128;

/// A file hash or a network indicator from a Defender record that threat intel knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRecord {
    /// Stable across redeliveries: derived from device, report id, timestamp and hash.
    pub match_id: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub report_id: Option<String>,
    /// The record's `properties.Timestamp` (sensor time).
    pub timestamp: Option<String>,
    /// The record's `category` as streamed, e.g. `AdvancedHunting-DeviceFileEvents`.
    pub category: Option<String>,
    /// Whether Defender can raise an alert on this record by reference.
    pub alertable: bool,
    /// The file hash, for a hash match; null for a network match (issue 15).
    pub hash: Option<FileHash>,
    pub hash_type: Option<HashType>,
    /// The record columns the hash was found in, e.g. `["SHA256"]`; empty for a network match.
    pub hash_fields: Vec<String>,
    pub file_name: Option<String>,
    pub folder_path: Option<String>,
    pub intel: Vec<IntelHit>,
    /// Intel entries left out to keep the message small.
    #[serde(default)]
    pub intel_omitted: usize,
    /// What matched, in one shape for hashes and network indicators (issue 15): `md5`, `sha1`,
    /// `sha256`, `ip`, `domain`, `url` or `email`.
    #[serde(default)]
    pub indicator_kind: String,
    /// The value looked up in its canonical form: the hash, or the address, host, URL or sender.
    #[serde(default)]
    pub indicator_value: String,
    /// The record columns it was found in, e.g. `["SHA256"]` or `["RemoteIP"]`.
    #[serde(default)]
    pub indicator_columns: Vec<String>,
    /// The record's remote port that went with it, when the record has one.
    #[serde(default)]
    pub indicator_port: Option<u16>,
}

fn bounded(value: Option<&str>, max: usize) -> Option<String> {
    value.map(|v| clean_text(v, max)).filter(|v| !v.is_empty())
}

/// `matchId`: the first 128 bits of SHA-256 over the identifying fields, as hex.
pub fn match_id(
    device_id: Option<&str>,
    report_id: Option<&str>,
    timestamp: Option<&str>,
    hash: &FileHash,
) -> String {
    match_id_of(device_id, report_id, timestamp, hash.as_str())
}

/// [`match_id`] over any indicator's canonical value (a hash's is its hex, so a hash match
/// keeps its id).
pub fn match_id_of(
    device_id: Option<&str>,
    report_id: Option<&str>,
    timestamp: Option<&str>,
    value: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        device_id.unwrap_or(""),
        report_id.unwrap_or(""),
        timestamp.unwrap_or(""),
        value,
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl MatchRecord {
    pub fn new(record: &Record, hash: &FileHash, fields: &[HashField], intel: &[IntelHit]) -> Self {
        let p = &record.properties;
        let initiating = fields.iter().all(|f| f.role == HashRole::InitiatingProcess);
        let (file_name, folder_path) = if initiating {
            (
                &p.initiating_process_file_name,
                &p.initiating_process_folder_path,
            )
        } else {
            (&p.file_name, &p.folder_path)
        };
        let device_id = bounded(p.device_id.as_deref(), ID_CHARS);
        let report_id = bounded(p.report_id.as_deref(), ID_CHARS);
        let timestamp = bounded(p.timestamp.as_deref(), ID_CHARS);
        let mut m = MatchRecord {
            match_id: match_id(
                device_id.as_deref(),
                report_id.as_deref(),
                timestamp.as_deref(),
                hash,
            ),
            device_id,
            device_name: bounded(p.device_name.as_deref(), NAME_CHARS),
            report_id,
            timestamp,
            category: bounded(record.category.as_deref(), NAME_CHARS),
            alertable: record.is_alertable(),
            hash: Some(hash.clone()),
            hash_type: Some(hash.kind()),
            hash_fields: fields.iter().map(|f| f.name.to_owned()).collect(),
            file_name: bounded(file_name.as_deref(), NAME_CHARS),
            folder_path: bounded(folder_path.as_deref(), PATH_CHARS),
            intel: intel.iter().take(MAX_INTEL).cloned().collect(),
            intel_omitted: intel.len().saturating_sub(MAX_INTEL),
            indicator_kind: hash.kind().as_str().to_owned(),
            indicator_value: hash.as_str().to_owned(),
            indicator_columns: fields.iter().map(|f| f.name.to_owned()).collect(),
            indicator_port: None,
        };
        m.fit();
        m
    }

    /// A network indicator of a record that threat intel knows (issue 15); `intel` holds only
    /// the hits that apply to it. No file is named: the hash fields are empty.
    pub fn network(record: &Record, found: &FoundIndicator, intel: &[IntelHit]) -> Self {
        let p = &record.properties;
        let device_id = bounded(p.device_id.as_deref(), ID_CHARS);
        let report_id = bounded(p.report_id.as_deref(), ID_CHARS);
        let timestamp = bounded(p.timestamp.as_deref(), ID_CHARS);
        let value = found.indicator.text();
        let mut m = MatchRecord {
            match_id: match_id_of(
                device_id.as_deref(),
                report_id.as_deref(),
                timestamp.as_deref(),
                &value,
            ),
            device_id,
            device_name: bounded(p.device_name.as_deref(), NAME_CHARS),
            report_id,
            timestamp,
            category: bounded(record.category.as_deref(), NAME_CHARS),
            alertable: record.is_alertable(),
            hash: None,
            hash_type: None,
            hash_fields: Vec::new(),
            file_name: None,
            folder_path: None,
            intel: intel.iter().take(MAX_INTEL).cloned().collect(),
            intel_omitted: intel.len().saturating_sub(MAX_INTEL),
            indicator_kind: found.indicator.kind().as_str().to_owned(),
            indicator_value: value.into_owned(),
            indicator_columns: found.columns.iter().map(|c| (*c).to_owned()).collect(),
            indicator_port: found.port,
        };
        m.fit();
        m
    }

    /// The network indicator of a network match.
    pub fn network_indicator(&self) -> Option<Indicator> {
        if self.hash.is_some() {
            return None;
        }
        Indicator::parse(&self.indicator_value).ok()
    }

    /// The value an action names: the hash, or the network indicator's canonical text.
    pub fn value(&self) -> &str {
        match &self.hash {
            Some(h) => h.as_str(),
            None => &self.indicator_value,
        }
    }

    /// Serialized size in bytes.
    pub fn size(&self) -> usize {
        serde_json::to_vec(self)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
    }

    /// Leaves intel entries out until the record fits in [`MAX_MATCH_BYTES`]; one entry is
    /// always kept (a single bounded entry is far below the limit).
    fn fit(&mut self) {
        while self.intel.len() > 1 && self.size() > MAX_MATCH_BYTES {
            self.intel.pop();
            self.intel_omitted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::RawHit;
    use crate::records::{extract_hashes, parse_body};

    fn record() -> Record {
        let body = format!(
            r#"{{"category":"AdvancedHunting-DeviceProcessEvents","properties":{{"DeviceId":"d1","DeviceName":"host\n1","ReportId":77,
            "Timestamp":"2026-07-18T12:59:31.2914446Z","FileName":"a.exe","FolderPath":"C:\\a.exe",
            "InitiatingProcessFileName":"p.exe","InitiatingProcessFolderPath":"c:\\p.exe",
            "InitiatingProcessSHA1":"{}"}}}}"#,
            "a".repeat(40)
        );
        parse_body(body.as_bytes(), 10).unwrap().remove(0)
    }

    #[test]
    fn a_match_names_the_initiating_process_file_when_the_hash_was_found_there() {
        let r = record();
        let hashes = extract_hashes(&r);
        let (hash, fields) = &hashes.hashes[0];
        let m = MatchRecord::new(&r, hash, fields, &[]);
        assert_eq!(m.file_name.as_deref(), Some("p.exe"));
        assert_eq!(m.hash_fields, ["InitiatingProcessSHA1"]);
        assert_eq!(m.device_name.as_deref(), Some("host 1"));
        assert!(m.alertable);
        let again = MatchRecord::new(&r, hash, fields, &[]);
        assert_eq!(m.match_id, again.match_id, "deterministic");
        assert_eq!(m.match_id.len(), 32);
    }

    /// The README's contract: `reportId` is the record's ReportId as a string, or null when the
    /// record has none; such a match is never alertable.
    #[test]
    fn report_id_is_a_string_when_the_record_has_one_and_null_when_not() {
        let sha1 = "a".repeat(40);
        let with = |report_id: &str| {
            let body = format!(
                r#"{{"category":"AdvancedHunting-DeviceFileEvents","properties":{{"DeviceId":"d","Timestamp":"2026-07-18T12:59:31Z","SHA1":"{sha1}"{report_id}}}}}"#
            );
            let r = parse_body(body.as_bytes(), 10).unwrap().remove(0);
            let (hash, fields) = extract_hashes(&r).hashes.remove(0);
            serde_json::to_value(MatchRecord::new(&r, &hash, &fields, &[])).unwrap()
        };
        let number = with(r#","ReportId":639199803770463703"#);
        assert_eq!(number["reportId"], "639199803770463703");
        assert_eq!(number["alertable"], true);
        assert_eq!(with(r#","ReportId":"abc-1""#)["reportId"], "abc-1");
        for absent in ["", r#","ReportId":null"#, r#","ReportId":"""#] {
            let m = with(absent);
            assert!(m["reportId"].is_null(), "{absent}: {m}");
            assert_eq!(m["alertable"], false, "{absent}");
        }
    }

    #[test]
    fn a_match_with_hostile_intel_stays_under_32_kb() {
        let r = record();
        let hashes = extract_hashes(&r);
        let (hash, fields) = &hashes.hashes[0];
        let info = "\"\\".repeat(5000);
        let tags: Vec<String> = (0..100)
            .map(|i| format!("{i}{}", "\u{10348}".repeat(300)))
            .collect();
        let hit = IntelHit::new(RawHit {
            event_info: &info,
            tags: tags.iter().map(String::as_str).collect(),
            ..Default::default()
        });
        let intel = vec![hit; 50];
        let m = MatchRecord::new(&r, hash, fields, &intel);
        assert!(m.size() <= MAX_MATCH_BYTES, "{} bytes", m.size());
        assert_eq!(m.intel.len() + m.intel_omitted, 50);
        assert!(m.intel_omitted >= 40);
    }
}
