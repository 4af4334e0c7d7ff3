//! A MISP feed folder as a threat-intel source: `manifest.json` plus one `<uuid>.json` per event
//! in the MISP core format (`docs/sources.md` §4), loaded once into memory.
//!
//! Only `to_ids` attributes of hash types count, composites (`filename|sha256`, `malware-sample`)
//! and attributes inside objects included. The feed's `hashes.csv` is *not* used: it lists md5
//! digests of every attribute value, not file hashes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::misp::Attribute;
use super::{HASH_ATTRIBUTE_TYPES, IntelError, IntelHit, RawHit, ThreatIntel, hash_parts};
use crate::records::{FileHash, Loose};

/// Why a feed folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a MISP feed file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct EventFile {
    #[serde(rename = "Event")]
    event: FeedEvent,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FeedEvent {
    id: Loose,
    uuid: Loose,
    info: Loose,
    threat_level_id: Loose,
    #[serde(rename = "Tag")]
    tag: Vec<FeedTag>,
    #[serde(rename = "Attribute")]
    attribute: Vec<Attribute>,
    #[serde(rename = "Object")]
    object: Vec<FeedObject>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FeedTag {
    name: Loose,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FeedObject {
    #[serde(rename = "Attribute")]
    attribute: Vec<Attribute>,
}

/// An in-memory index of a feed's file-hash IOCs.
#[derive(Debug, Default)]
pub struct FeedIntel {
    index: HashMap<FileHash, Vec<IntelHit>>,
    events: usize,
}

impl FeedIntel {
    /// Loads every event the manifest lists.
    pub fn load(dir: &Path) -> Result<Self, FeedError> {
        let manifest_path = dir.join("manifest.json");
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| FeedError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let manifest: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&read(&manifest_path)?).map_err(|source| FeedError::Parse {
                path: manifest_path.clone(),
                source,
            })?;
        let mut uuids: Vec<&String> = manifest.keys().collect();
        uuids.sort();
        let mut feed = FeedIntel::default();
        for uuid in uuids {
            if uuid.contains(['/', '\\']) || uuid.starts_with('.') {
                continue; // never read outside the folder
            }
            let path = dir.join(format!("{uuid}.json"));
            let file: EventFile =
                serde_json::from_slice(&read(&path)?).map_err(|source| FeedError::Parse {
                    path: path.clone(),
                    source,
                })?;
            feed.add_event(&file.event, uuid);
        }
        Ok(feed)
    }

    fn add_event(&mut self, event: &FeedEvent, manifest_uuid: &str) {
        self.events += 1;
        let event_tags: Vec<&str> = event.tag.iter().filter_map(|t| t.name.as_deref()).collect();
        let attributes = event
            .attribute
            .iter()
            .chain(event.object.iter().flat_map(|o| o.attribute.iter()));
        for a in attributes {
            let kind = a.kind.as_deref().unwrap_or("");
            if a.to_ids.0 != Some(true)
                || a.deleted.0 == Some(true)
                || !HASH_ATTRIBUTE_TYPES.contains(&kind)
            {
                continue;
            }
            let value = a.value.as_deref().unwrap_or("");
            for hash in hash_parts(value) {
                let mut tags: Vec<&str> = a
                    .tag
                    .iter()
                    .flatten()
                    .filter_map(|t| t.name.as_deref())
                    .collect();
                tags.extend(&event_tags);
                let hit = IntelHit::new(RawHit {
                    event_id: event.id.as_deref().unwrap_or(""),
                    event_uuid: event.uuid.as_deref().unwrap_or(manifest_uuid),
                    event_info: event.info.as_deref().unwrap_or(""),
                    threat_level_id: event.threat_level_id.as_deref(),
                    attribute_uuid: a.uuid.as_deref().unwrap_or(""),
                    attribute_type: kind,
                    tags,
                });
                let hits = self.index.entry(hash).or_default();
                if !hits.contains(&hit) {
                    hits.push(hit);
                }
            }
        }
    }

    /// Distinct IOC hashes held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn events(&self) -> usize {
        self.events
    }
}

#[async_trait::async_trait]
impl ThreatIntel for FeedIntel {
    fn chunk_size(&self) -> usize {
        usize::MAX
    }

    async fn lookup(
        &self,
        hashes: &[FileHash],
    ) -> Result<HashMap<FileHash, Vec<IntelHit>>, IntelError> {
        Ok(hashes
            .iter()
            .filter_map(|h| self.index.get(h).map(|hits| (h.clone(), hits.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT_UUID: &str = "5f0c6a2e-1111-4222-8333-444455556666";

    fn write_feed(dir: &Path) {
        let manifest =
            format!(r#"{{"{EVENT_UUID}":{{"info":"x","threat_level_id":1,"timestamp":1}}}}"#);
        std::fs::write(dir.join("manifest.json"), manifest).unwrap();
        let event = serde_json::json!({"Event": {
            "uuid": EVENT_UUID, "info": "Test campaign", "threat_level_id": "1",
            "Tag": [{"name": "tlp:amber"}],
            "Attribute": [
                {"type": "sha256", "to_ids": true, "uuid": "aaaaaaaa-0000-4000-8000-000000000001", "value": "A".repeat(64)},
                {"type": "md5", "to_ids": false, "uuid": "aaaaaaaa-0000-4000-8000-000000000002", "value": "b".repeat(32)},
                {"type": "filename|md5", "to_ids": true, "uuid": "aaaaaaaa-0000-4000-8000-000000000003", "value": format!("evil.exe|{}", "c".repeat(32))},
                {"type": "filename", "to_ids": true, "uuid": "aaaaaaaa-0000-4000-8000-000000000004", "value": "d".repeat(40)}
            ],
            "Object": [{"name": "file", "Attribute": [
                {"type": "sha1", "to_ids": true, "object_relation": "sha1", "uuid": "aaaaaaaa-0000-4000-8000-000000000005", "value": "e".repeat(40)}
            ]}]
        }});
        std::fs::write(dir.join(format!("{EVENT_UUID}.json")), event.to_string()).unwrap();
        // hashes.csv holds md5s of *values*: it must not be read as IOCs.
        std::fs::write(
            dir.join("hashes.csv"),
            format!("{},{EVENT_UUID}\n", "f".repeat(32)),
        )
        .unwrap();
    }

    #[tokio::test]
    async fn only_ids_hash_attributes_count_including_composites_and_objects() {
        let dir = tempfile::tempdir().unwrap();
        write_feed(dir.path());
        let feed = FeedIntel::load(dir.path()).unwrap();
        assert_eq!(feed.events(), 1);
        let h = |s: String| FileHash::parse(&s).unwrap();
        let asked = [
            h("a".repeat(64)),
            h("b".repeat(32)),
            h("c".repeat(32)),
            h("d".repeat(40)),
            h("e".repeat(40)),
            h("f".repeat(32)),
        ];
        let got = feed.lookup(&asked).await.unwrap();
        let mut found: Vec<_> = got
            .keys()
            .map(|k| k.as_str().chars().next().unwrap())
            .collect();
        found.sort();
        assert_eq!(found, ['a', 'c', 'e']);
        let hit = &got[&asked[0]][0];
        assert_eq!(hit.event_uuid, EVENT_UUID);
        assert_eq!(hit.threat_level_id, Some(1));
        assert_eq!(hit.tags, ["tlp:amber"]);
        assert_eq!(got[&asked[2]][0].attribute_type, "filename|md5");
    }

    #[test]
    fn a_folder_without_manifest_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = FeedIntel::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("manifest.json"));
    }
}
