//! Reading a feed folder's files: the manifest's event uuids, and each event file in the MISP
//! core format, with a byte order mark tolerated. Nothing here decides what matches.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::FeedError;
use crate::indicator::misp::NETWORK_ATTRIBUTE_TYPES;
use crate::intel::misp::{Attribute, Flag, Tag};
use crate::intel::rules::Candidate;
use crate::intel::{HASH_ATTRIBUTE_TYPES, RawHit};
use crate::records::{Loose, strip_bom};

#[derive(Deserialize)]
struct EventFile {
    #[serde(rename = "Event")]
    event: FeedEvent,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct FeedEvent {
    id: Loose,
    uuid: Loose,
    info: Loose,
    threat_level_id: Loose,
    published: Flag,
    #[serde(rename = "Tag")]
    tag: Vec<Tag>,
    #[serde(rename = "Attribute")]
    attribute: Vec<Attribute>,
    #[serde(rename = "Object")]
    object: Vec<FeedObject>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FeedObject {
    deleted: Flag,
    #[serde(rename = "Attribute")]
    attribute: Vec<Attribute>,
}

impl FeedEvent {
    /// Published as MISP's event model says: only an explicit true (the model's default is
    /// false, and a feed has no server to have filtered).
    pub(super) fn is_published(&self) -> bool {
        self.published.0 == Some(true)
    }

    /// Every attribute of a file-hash or network type, objects' included, as the rules see it and as a hit
    /// would carry it. An attribute is IDS only when it says so; one inside a deleted object is
    /// deleted.
    pub(super) fn hash_attributes<'a>(
        &'a self,
        manifest_uuid: &'a str,
    ) -> impl Iterator<Item = (Candidate<'a>, RawHit<'a>)> + 'a {
        let own = self.attribute.iter().map(|a| (a, false));
        let in_objects = self
            .object
            .iter()
            .flat_map(|o| o.attribute.iter().map(|a| (a, o.deleted.0 == Some(true))));
        own.chain(in_objects)
            .filter(|(a, _)| {
                let kind = a.kind.as_deref().unwrap_or("");
                HASH_ATTRIBUTE_TYPES.contains(&kind) || NETWORK_ATTRIBUTE_TYPES.contains(&kind)
            })
            .map(move |(a, object_deleted)| {
                let kind = a.kind.as_deref().unwrap_or("");
                let candidate = Candidate {
                    kind,
                    value: a.value.as_deref().unwrap_or(""),
                    to_ids: a.to_ids.0 == Some(true),
                    deleted: a.deleted.0 == Some(true) || object_deleted,
                    published: self.is_published(),
                };
                let tags = a
                    .tag
                    .iter()
                    .flatten()
                    .chain(&self.tag)
                    .filter_map(|t| t.name.as_deref())
                    .collect();
                let raw = RawHit {
                    event_id: self.id.as_deref().unwrap_or(""),
                    event_uuid: self.uuid.as_deref().unwrap_or(manifest_uuid),
                    event_info: self.info.as_deref().unwrap_or(""),
                    threat_level_id: self.threat_level_id.as_deref(),
                    attribute_uuid: a.uuid.as_deref().unwrap_or(""),
                    attribute_type: kind,
                    tags,
                    value: a.value.as_deref().unwrap_or(""),
                };
                (candidate, raw)
            })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, FeedError> {
    std::fs::read(path).map_err(|cause| FeedError::Read {
        path: path.to_owned(),
        cause,
    })
}

/// The event uuids the manifest lists, sorted; names that could reach outside the folder are
/// left out. An empty manifest is an error.
pub(super) fn manifest(dir: &Path) -> Result<Vec<String>, FeedError> {
    let path = dir.join("manifest.json");
    let bytes = read(&path)?;
    let manifest: HashMap<String, serde::de::IgnoredAny> =
        serde_json::from_slice(strip_bom(&bytes)).map_err(|cause| FeedError::Manifest {
            path: path.clone(),
            cause,
        })?;
    let mut uuids: Vec<String> = manifest
        .into_keys()
        .filter(|u| !u.contains(['/', '\\']) && !u.starts_with('.') && !u.is_empty())
        .collect();
    if uuids.is_empty() {
        return Err(FeedError::NoEvents { path });
    }
    uuids.sort();
    Ok(uuids)
}

/// One event file, or why it cannot be used.
pub(super) fn event(dir: &Path, uuid: &str) -> Result<FeedEvent, String> {
    let path = dir.join(format!("{uuid}.json"));
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_slice::<EventFile>(strip_bom(&bytes))
        .map(|f| f.event)
        .map_err(|e| format!("not a MISP event: {e}"))
}
