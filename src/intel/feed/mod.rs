//! A MISP feed folder as a threat-intel source: `manifest.json` plus one `<uuid>.json` per event
//! in the MISP core format (`docs/sources.md` §4), loaded once into memory.
//!
//! Attributes, objects' included, go through the [`Rules`] every source applies: IDS, not
//! deleted, of a file-hash or network type (composites such as `filename|sha256` and `malware-sample`
//! included), of a published event when `MISP_PUBLISHED_ONLY`, on no warninglist of
//! `MISP_WARNINGLISTS_DIR`. The feed's `hashes.csv` is *not* used: it lists md5 digests of every
//! attribute value, not file hashes.
//!
//! A feed that lists no event, or none of whose event files can be read, is an error: scanning
//! against it would call everything clean. An event file that cannot be read or parsed is
//! skipped and reported ([`FeedReport::skipped`]), and the scan says it is partial.
//!
//! Feed event files carry no numeric event `id` (PyMISP's `to_feed` leaves it out; the uuid
//! names the event across instances), so matches from a feed have an empty `eventId` unless the
//! file is an instance export that kept it; `eventUuid` always names the event.

mod load;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::network::NetIndex;
use super::rules::Rules;
use super::{HASH_ATTRIBUTE_TYPES, Hits, IntelError, IntelHit, LookupKey, ThreatIntel};
use crate::records::FileHash;

/// Why a feed folder could not be used at all. The cause is part of the text, once.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{path}: cannot read: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not a MISP feed manifest: {cause}")]
    Manifest {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: the manifest lists no events, so nothing could ever match")]
    NoEvents { path: PathBuf },
    #[error(
        "{dir}: none of the {listed} event files the manifest lists could be read (first: {first})"
    )]
    NoReadableEvents {
        dir: PathBuf,
        listed: usize,
        first: String,
    },
}

/// What loading a feed found, for the scan's report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FeedReport {
    /// Event files read.
    pub events: usize,
    /// Events not published, whose attributes were refused (`MISP_PUBLISHED_ONLY`).
    pub unpublished_events: usize,
    /// Event files that could not be read or parsed: file name and why.
    pub skipped: Vec<(String, String)>,
    /// Hash and network attributes refused, by reason.
    pub refused: BTreeMap<&'static str, usize>,
    /// Hash and network attributes refused for a warninglist, by list.
    pub warninglisted: BTreeMap<String, usize>,
}

/// An in-memory index of a feed's file-hash and network IOCs.
#[derive(Debug, Default)]
pub struct FeedIntel {
    index: HashMap<FileHash, Vec<IntelHit>>,
    /// Network attributes (issue 15): exact values, networks, URLs.
    net: NetIndex,
    report: FeedReport,
}

impl FeedIntel {
    /// Loads every event the manifest lists, under `rules`.
    pub fn load(dir: &Path, rules: &Rules) -> Result<Self, FeedError> {
        let uuids = load::manifest(dir)?;
        let mut feed = FeedIntel::default();
        for uuid in &uuids {
            match load::event(dir, uuid) {
                Ok(event) => feed.add_event(&event, uuid, rules),
                Err(why) => feed.report.skipped.push((format!("{uuid}.json"), why)),
            }
        }
        if feed.report.events == 0 {
            return Err(FeedError::NoReadableEvents {
                dir: dir.to_owned(),
                listed: uuids.len(),
                first: feed
                    .report
                    .skipped
                    .first()
                    .map(|(f, why)| format!("{f}: {why}"))
                    .unwrap_or_default(),
            });
        }
        feed.net.finish();
        Ok(feed)
    }

    fn add_event(&mut self, event: &load::FeedEvent, manifest_uuid: &str, rules: &Rules) {
        self.report.events += 1;
        if rules.published_only && !event.is_published() {
            self.report.unpublished_events += 1;
        }
        for (candidate, raw) in event.hash_attributes(manifest_uuid) {
            match rules.check(&candidate) {
                Ok(()) if !HASH_ATTRIBUTE_TYPES.contains(&candidate.kind) => {
                    let hit = IntelHit::new(raw);
                    if !self.net.add(candidate.kind, candidate.value, &hit) {
                        *self.report.refused.entry("unparsable value").or_default() += 1;
                    }
                }
                Ok(()) => {
                    let hit = IntelHit::new(raw);
                    for hash in super::hash_parts(candidate.value) {
                        let hits = self.index.entry(hash).or_default();
                        if !hits.contains(&hit) {
                            hits.push(hit.clone());
                        }
                    }
                }
                Err((refusal, list)) => {
                    *self.report.refused.entry(refusal.as_str()).or_default() += 1;
                    if let Some(list) = list {
                        *self.report.warninglisted.entry(list).or_default() += 1;
                    }
                }
            }
        }
    }

    /// Distinct IOC hashes held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Network values held (exact values, URLs, networks).
    pub fn network_len(&self) -> usize {
        self.net.len()
    }

    /// Neither a hash nor a network value is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty() && self.net.is_empty()
    }

    pub fn events(&self) -> usize {
        self.report.events
    }

    /// What loading found: events read and skipped, attributes refused and why.
    pub fn report(&self) -> &FeedReport {
        &self.report
    }
}

#[async_trait::async_trait]
impl ThreatIntel for FeedIntel {
    fn chunk_size(&self) -> usize {
        usize::MAX
    }

    async fn lookup(&self, keys: &[LookupKey]) -> Result<Hits, IntelError> {
        Ok(keys
            .iter()
            .filter_map(|k| {
                let hits = match k {
                    LookupKey::Hash(h) => self.index.get(h).cloned().unwrap_or_default(),
                    LookupKey::Net(_) => self.net.lookup(k),
                };
                (!hits.is_empty()).then(|| (k.clone(), hits))
            })
            .collect())
    }

    /// A feed is in memory: a lookup asks no server.
    async fn lookup_counted(&self, keys: &[LookupKey]) -> (Result<Hits, IntelError>, usize) {
        (self.lookup(keys).await, 0)
    }
}

#[cfg(test)]
mod tests;
