//! MISP's `POST /attributes/restSearch`, the hot-path lookup (MISP's OpenAPI,
//! <https://www.misp-project.org/openapi/#tag/Attributes/operation/restSearchAttributes>).
//!
//! [`types`] deserializes answers leniently and [`map_attributes`] maps each returned attribute
//! back to the requested keys it matched; both are pure, so the fuzz targets reach them
//! without the HTTP stack. The client lives in `client` (feature `service`).

#[cfg(feature = "service")]
mod client;
mod types;

use std::collections::HashSet;

#[cfg(feature = "service")]
pub use client::{ClientBuildError, MAX_RESPONSE_BYTES, MispClient, MispIntel};
pub use types::{Attribute, Flag, SearchResponse, Tag};

use super::rules::{Candidate, Rules};
use super::{HASH_ATTRIBUTE_TYPES, Hits, IntelHit, LookupKey, RawHit, hash_parts};

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

/// Maps restSearch attributes back to the requested keys they match: hashes case-insensitively,
/// through either half of a composite value; network values by [`super::network::keys_answered`]
/// (restSearch returns any attribute whose `value1` or `value2` equals a requested value,
/// whatever its type). Attributes the [`Rules`] refuse (not IDS, deleted, of another type, of an
/// unpublished event when only published ones count, warninglisted) are dropped here too, in
/// case a proxy or an old server ignored a filter.
pub fn map_attributes(
    attributes: &[Attribute],
    requested: &HashSet<&LookupKey>,
    rules: &Rules,
) -> Hits {
    let mut out = Hits::new();
    for a in attributes {
        let kind = a.kind.as_deref().unwrap_or("");
        if !rules.admits(&answered(a)) {
            continue;
        }
        let value = a.value.as_deref().unwrap_or("");
        let keys: Vec<LookupKey> = if HASH_ATTRIBUTE_TYPES.contains(&kind) {
            hash_parts(value)
                .map(LookupKey::Hash)
                .filter(|k| requested.contains(k))
                .collect()
        } else {
            super::network::keys_answered(kind, value, requested)
                .into_iter()
                .cloned()
                .collect()
        };
        if keys.is_empty() {
            continue;
        }
        let hit = hit_of(a, kind, value);
        for key in keys {
            let hits = out.entry(key).or_default();
            if !hits.contains(&hit) {
                hits.push(hit.clone());
            }
        }
    }
    out
}

/// The hit an answered attribute makes, with its event's context.
fn hit_of(a: &Attribute, kind: &str, value: &str) -> IntelHit {
    let event = a.event.as_ref();
    let tags = a
        .tag
        .iter()
        .flatten()
        .chain(event.and_then(|e| e.tag.as_ref()).into_iter().flatten())
        .filter_map(|t| t.name.as_deref())
        .collect();
    IntelHit::new(RawHit {
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
        value,
    })
}

#[cfg(all(test, feature = "service"))]
mod tests;
