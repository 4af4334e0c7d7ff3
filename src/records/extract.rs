//! Hash extraction: every file hash a record carries, validated, with the columns it came from.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{FileHash, HashType, Kept, Loose, Record};

/// A hash column's value, decided as it is read, so that a hash is never held as text: absent
/// (no column, `null`, empty text, or any value [`Loose`] drops), a hash (hex of the column's
/// length, in any case, spaces around it allowed), or a value that is no hash. What
/// [`extract_hashes`] made of the column's `Loose` text before (issue 14), with no copy of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HashCell {
    #[default]
    Absent,
    Hash(FileHash),
    Invalid,
}

impl HashCell {
    /// The cell of a column of algorithm `kind` whose text (as [`Loose::as_deref`] gives it) is
    /// `text`.
    pub fn of(kind: HashType, text: Option<&str>) -> Self {
        match text.filter(|t| !t.is_empty()) {
            None => HashCell::Absent,
            Some(t) => FileHash::parse_as(kind, t.trim()).map_or(HashCell::Invalid, HashCell::Hash),
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, HashCell::Absent)
    }

    /// The hash's lowercase hex, when the column holds one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HashCell::Hash(h) => Some(h.as_str()),
            _ => None,
        }
    }
}

/// Reads a hash column of algorithm `.0`: the value is read exactly as [`Loose`] reads it
/// ([`Kept`]), and judged as [`HashCell::of`] judges its text; a string is judged where it lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashSeed(pub HashType);

impl HashSeed {
    fn of(self, loose: Loose) -> HashCell {
        HashCell::of(self.0, loose.as_deref())
    }
}

impl<'de> DeserializeSeed<'de> for HashSeed {
    type Value = HashCell;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<HashCell, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HashSeed {
    type Value = HashCell;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<HashCell, E> {
        Ok(HashCell::of(self.0, Some(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<HashCell, E> {
        Ok(HashCell::of(self.0, Some(&v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<HashCell, E> {
        Kept(true).visit_u64(v).map(|l| self.of(l))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<HashCell, E> {
        Kept(true).visit_i64(v).map(|l| self.of(l))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<HashCell, E> {
        Kept(true).visit_u128(v).map(|l| self.of(l))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<HashCell, E> {
        Kept(true).visit_i128(v).map(|l| self.of(l))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<HashCell, E> {
        Kept(true).visit_f64(v).map(|l| self.of(l))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<HashCell, E> {
        Kept(true).visit_bool(v).map(|l| self.of(l))
    }
    fn visit_unit<E: de::Error>(self) -> Result<HashCell, E> {
        Kept(true).visit_unit().map(|l| self.of(l))
    }
    fn visit_none<E: de::Error>(self) -> Result<HashCell, E> {
        Kept(true).visit_none().map(|l| self.of(l))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<HashCell, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<HashCell, A::Error> {
        Kept(true).visit_seq(seq).map(|l| self.of(l))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HashCell, A::Error> {
        Kept(true).visit_map(map).map(|l| self.of(l))
    }
}

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

fn column<'a>(record: &'a Record, field: &HashField) -> &'a HashCell {
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
        match column(record, field) {
            HashCell::Absent => {}
            HashCell::Hash(hash) if hash.is_empty_content() => out.empty += 1,
            HashCell::Hash(hash) => match out.hashes.iter_mut().find(|(h, _)| h == hash) {
                Some((_, fields)) => {
                    let kept = fields.push(*field);
                    debug_assert!(kept, "a hash in more than its algorithm's two columns");
                }
                None => out.hashes.push((hash.clone(), HashFields::one(*field))),
            },
            HashCell::Invalid => out.invalid += 1,
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

    /// A hash column read as a cell against the same value read as `Loose` and then judged.
    fn agrees(json: &str) -> Result<(), String> {
        for kind in [HashType::Md5, HashType::Sha1, HashType::Sha256] {
            let mut de = serde_json::Deserializer::from_str(json);
            let cell = HashSeed(kind)
                .deserialize(&mut de)
                .and_then(|c| de.end().map(|()| c))
                .map_err(|e| e.to_string());
            let loose = serde_json::from_str::<Loose>(json).map_err(|e| e.to_string());
            let judged = loose.map(|l| HashCell::of(kind, l.as_deref()));
            if cell != judged {
                return Err(format!("{json} as {kind:?}: {cell:?} against {judged:?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn a_hash_cell_is_what_the_loose_text_made_of_the_value() {
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        for json in [
            format!("\"{md5}\""),
            format!("\"  {md5} \""),
            format!("\"{}\"", "a".repeat(40)),
            format!("\"{}\"", "b".repeat(64)),
            "\"\"".into(),
            "\" \"".into(),
            "\"\\ud800\"".into(),
            "\"\\u0041\"".into(),
            "12345678901234567890".into(),
            "-1".into(),
            "1.5".into(),
            "true".into(),
            "null".into(),
            "[\"aa\",{\"b\":[]}]".into(),
            "{\"x\":\"\\ud800\"}".into(),
        ] {
            agrees(&json).unwrap();
        }
        assert_eq!(
            HashCell::of(HashType::Md5, Some(&format!(" {md5} "))).as_str(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(HashCell::of(HashType::Sha1, Some(md5)), HashCell::Invalid);
        assert_eq!(HashCell::of(HashType::Sha1, Some("")), HashCell::Absent);
    }

    proptest::proptest! {
        #[test]
        fn a_hash_cell_agrees_with_the_loose_text_on_any_string(s in "[ a-fA-F0-9gG\\\\\"]{0,70}") {
            proptest::prop_assert_eq!(agrees(&format!("\"{s}\"")), Ok(()));
        }
    }

    #[test]
    fn a_record_without_hash_columns_has_none() {
        let record = &parse_body(br#"{"properties":{"RemoteIP":"1.2.3.4"}}"#, 10).unwrap()[0];
        assert_eq!(extract_hashes(record), RecordHashes::default());
    }
}
