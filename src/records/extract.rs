//! Hash extraction: every file hash a record carries, validated, with the columns it came from.

use super::{FileHash, HashType, Loose, Record};

/// Whether a hash column describes the event's file or the process that caused the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashRole {
    File,
    InitiatingProcess,
}

/// A hash-bearing column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashField {
    pub name: &'static str,
    pub kind: HashType,
    pub role: HashRole,
}

/// Every hash-bearing column of the streamed tables (the Advanced Hunting schema,
/// `docs/sources.md` §2), in a fixed order.
pub const HASH_FIELDS: [HashField; 6] = [
    HashField {
        name: "SHA1",
        kind: HashType::Sha1,
        role: HashRole::File,
    },
    HashField {
        name: "SHA256",
        kind: HashType::Sha256,
        role: HashRole::File,
    },
    HashField {
        name: "MD5",
        kind: HashType::Md5,
        role: HashRole::File,
    },
    HashField {
        name: "InitiatingProcessSHA1",
        kind: HashType::Sha1,
        role: HashRole::InitiatingProcess,
    },
    HashField {
        name: "InitiatingProcessSHA256",
        kind: HashType::Sha256,
        role: HashRole::InitiatingProcess,
    },
    HashField {
        name: "InitiatingProcessMD5",
        kind: HashType::Md5,
        role: HashRole::InitiatingProcess,
    },
];

/// The columns one hash of a record was found in: at most two, since a value's length tells its
/// algorithm and each algorithm has two columns (the file's and the initiating process's). Held
/// inline; reads as a slice.
#[derive(Clone, Copy)]
pub struct HashFields {
    fields: [HashField; 2],
    len: u8,
}

impl HashFields {
    fn one(field: HashField) -> Self {
        Self {
            fields: [field; 2],
            len: 1,
        }
    }

    /// Adds a column; `false` when both places are taken (which `extract_hashes` never asks).
    fn push(&mut self, field: HashField) -> bool {
        match self.fields.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = field;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

impl std::ops::Deref for HashFields {
    type Target = [HashField];
    fn deref(&self) -> &[HashField] {
        &self.fields[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for HashFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for HashFields {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// The hashes of one record, each once, with the columns it was found in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordHashes {
    pub hashes: Vec<(FileHash, HashFields)>,
    /// Values that were present but not hex of the right length.
    pub invalid: usize,
    /// Digests of empty content, never looked up.
    pub empty: usize,
}

fn column<'a>(record: &'a Record, field: &HashField) -> &'a Loose {
    let p = &record.properties;
    match field.name {
        "SHA1" => &p.sha1,
        "SHA256" => &p.sha256,
        "MD5" => &p.md5,
        "InitiatingProcessSHA1" => &p.initiating_process_sha1,
        "InitiatingProcessSHA256" => &p.initiating_process_sha256,
        _ => &p.initiating_process_md5,
    }
}

/// Extracts and validates the file hashes of a record. Invalid values and digests of empty
/// content are counted, never returned.
pub fn extract_hashes(record: &Record) -> RecordHashes {
    let mut out = RecordHashes::default();
    for field in &HASH_FIELDS {
        let Some(raw) = column(record, field).as_deref() else {
            continue;
        };
        match FileHash::parse_as(field.kind, raw.trim()) {
            Ok(hash) if hash.is_empty_content() => out.empty += 1,
            Ok(hash) => match out.hashes.iter_mut().find(|(h, _)| *h == hash) {
                Some((_, fields)) => {
                    let kept = fields.push(*field);
                    debug_assert!(kept, "a hash in more than its algorithm's two columns");
                }
                None => out.hashes.push((hash, HashFields::one(*field))),
            },
            Err(_) => out.invalid += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::parse_body;

    #[test]
    fn all_six_columns_are_read_validated_and_grouped() {
        let body = br#"{"category":"AdvancedHunting-DeviceProcessEvents","properties":{
            "SHA1":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "SHA256":"not-a-hash",
            "MD5":"d41d8cd98f00b204e9800998ecf8427e",
            "InitiatingProcessSHA1":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "InitiatingProcessSHA256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "InitiatingProcessMD5":null}}"#;
        let record = &parse_body(body, 10).unwrap()[0];
        let got = extract_hashes(record);
        assert_eq!(got.invalid, 1);
        assert_eq!(got.empty, 1);
        assert_eq!(got.hashes.len(), 2);
        let (sha1, fields) = &got.hashes[0];
        assert_eq!(sha1.as_str(), "a".repeat(40));
        let names: Vec<_> = fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["SHA1", "InitiatingProcessSHA1"]);
        assert_eq!(got.hashes[1].1[0].role, HashRole::InitiatingProcess);
    }

    #[test]
    fn a_record_without_hash_columns_has_none() {
        let record = &parse_body(br#"{"properties":{"RemoteIP":"1.2.3.4"}}"#, 10).unwrap()[0];
        assert_eq!(extract_hashes(record), RecordHashes::default());
    }
}
