//! MISP's `POST /attributes/restSearch`, the hot-path lookup (MISP's OpenAPI,
//! <https://www.misp-project.org/openapi/#tag/Attributes/operation/restSearchAttributes>).
//!
//! [`types`] deserializes answers leniently and [`map_attributes`] maps each returned attribute
//! back to the requested hashes it matched; both are pure, so the fuzz targets reach them
//! without the HTTP stack. The client lives in `client` (feature `service`).

#[cfg(feature = "service")]
mod client;
mod types;

use std::collections::{HashMap, HashSet};

#[cfg(feature = "service")]
pub use client::{ClientBuildError, MAX_RESPONSE_BYTES, MispClient, MispIntel};
pub use types::{Attribute, Flag, SearchResponse, Tag};

use super::rules::{Candidate, Rules};
use super::{IntelHit, RawHit, hash_parts};
use crate::records::FileHash;

/// What a restSearch answer says of an attribute, for [`Rules`]: the query asked for IDS,
/// live, published attributes, so only an explicit `false` (or `true` for `deleted`) counts
/// against it.
pub fn answered(a: &Attribute) -> Candidate<'_> {
    Candidate {
        kind: a.kind.as_deref().unwrap_or(""),
        value: a.value.as_deref().unwrap_or(""),
        to_ids: a.to_ids.0 != Some(false),
        deleted: a.deleted.0 == Some(true),
        published: a
            .event
            .as_ref()
            .is_none_or(|e| e.published.0 != Some(false)),
    }
}

/// Maps restSearch attributes back to the requested hashes they match, case-insensitively,
/// through either half of a composite value. Attributes the [`Rules`] refuse (not IDS, deleted,
/// of another type, of an unpublished event when only published ones count, warninglisted) are
/// dropped here too, in case a proxy or an old server ignored a filter.
pub fn map_attributes(
    attributes: &[Attribute],
    requested: &HashSet<&FileHash>,
    rules: &Rules,
) -> HashMap<FileHash, Vec<IntelHit>> {
    let mut out: HashMap<FileHash, Vec<IntelHit>> = HashMap::new();
    for a in attributes {
        let kind = a.kind.as_deref().unwrap_or("");
        if !rules.admits(&answered(a)) {
            continue;
        }
        let value = a.value.as_deref().unwrap_or("");
        for hash in hash_parts(value) {
            if !requested.contains(&hash) {
                continue;
            }
            let event = a.event.as_ref();
            let tags = a
                .tag
                .iter()
                .flatten()
                .chain(event.and_then(|e| e.tag.as_ref()).into_iter().flatten())
                .filter_map(|t| t.name.as_deref())
                .collect();
            let hit = IntelHit::new(RawHit {
                event_id: event
                    .and_then(|e| e.id.as_deref())
                    .or(a.event_id.as_deref())
                    .unwrap_or(""),
                event_uuid: event.and_then(|e| e.uuid.as_deref()).unwrap_or(""),
                event_info: event.and_then(|e| e.info.as_deref()).unwrap_or(""),
                threat_level_id: event.and_then(|e| e.threat_level_id.as_deref()),
                attribute_uuid: a.uuid.as_deref().unwrap_or(""),
                attribute_type: kind,
                tags,
            });
            let hits = out.entry(hash).or_default();
            if !hits.contains(&hit) {
                hits.push(hit);
            }
        }
    }
    out
}

#[cfg(all(test, feature = "service"))]
mod tests;
