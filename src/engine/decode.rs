//! The first step of a batch: each event checked against the [`Limits`] and decoded into its
//! records and their hashes; an event that cannot be is given its fate (dead-lettered, with why)
//! here.

use super::{BatchSummary, EventInput, Fate, Limits};
use crate::indicator::columns::{FoundIndicator, record_indicators};
use crate::intel::LookupKey;
use crate::intel::network::lookup_keys;
use crate::records::{
    HashFields, Record, extract_hashes, glance_body, json_depth_exceeds, parse_body,
};

/// Where a key found in a record sits among the keys the batch asks about (`distinct` sets it;
/// the verdict is then read by place, `Resolution::verdict`); [`NOT_ASKED`] until then, and for
/// an allowlisted key.
pub(super) type Place = usize;
pub(super) const NOT_ASKED: Place = usize::MAX;

/// A network indicator found in a record, with each key it is looked up under and that key's
/// place.
pub(super) type FoundKeys = (FoundIndicator, Vec<(LookupKey, Place)>);

/// One decoded event: its records, and each record's hashes with the columns they were in, and
/// its network indicators (issue 15).
pub(super) struct Parsed {
    /// The records; when `glance`, only what finding their keys needs ([`glance_body`]), and a
    /// record that matches is decoded again in full for its match ([`Parsed::record`]).
    pub records: Vec<Record>,
    pub glance: bool,
    /// Each hash as its lookup key (built once here, never cloned to be looked up).
    pub hashes: Vec<Vec<(LookupKey, HashFields, Place)>>,
    /// Each network indicator with the keys it is looked up under (built once here).
    pub indicators: Vec<Vec<FoundKeys>>,
}

impl Parsed {
    /// Extracts what each record carries, counting into `summary`.
    pub(super) fn of(records: Vec<Record>, glance: bool, summary: &mut BatchSummary) -> Self {
        let mut hashes = Vec::with_capacity(records.len());
        let mut indicators = Vec::with_capacity(records.len());
        for r in &records {
            let h = extract_hashes(r);
            summary.invalid_hashes += h.invalid;
            summary.empty_hashes += h.empty;
            summary.hashes += h.hashes.len();
            hashes.push(
                h.hashes
                    .into_iter()
                    .map(|(hash, fields)| (LookupKey::Hash(hash), fields, NOT_ASKED))
                    .collect(),
            );
            let n = record_indicators(r);
            summary.invalid_indicators += n.invalid;
            summary.skipped_indicators += n.skipped_total() as usize;
            summary.indicators += n.found.len();
            indicators.push(
                n.found
                    .into_iter()
                    .map(|f| {
                        let keys = lookup_keys(&f.indicator);
                        (f, keys.into_iter().map(|k| (k, NOT_ASKED)).collect())
                    })
                    .collect(),
            );
        }
        Parsed {
            records,
            glance,
            hashes,
            indicators,
        }
    }

    /// Record `j` with every column this product reads: the record itself, or, for a glance,
    /// that record of `body` decoded in full (once per event, into `full`).
    pub(super) fn record<'a>(
        &'a self,
        j: usize,
        body: &[u8],
        full: &'a mut Option<Vec<Record>>,
    ) -> &'a Record {
        let glanced = &self.records[j];
        if !self.glance {
            return glanced;
        }
        let records = full.get_or_insert_with(|| match parse_body(body, usize::MAX) {
            Ok(records) => records,
            Err(e) => {
                // A glance accepts only what a full decode accepts (records::body tests).
                tracing::error!(error = %e, "an event a glance decoded did not decode in full");
                Vec::new()
            }
        });
        records.get(j).unwrap_or(glanced)
    }
}

/// Each event decoded (`None` where it could not be), and the fates decided so far.
pub(super) fn decode(
    events: &[EventInput],
    limits: &Limits,
    summary: &mut BatchSummary,
) -> (Vec<Option<Parsed>>, Vec<Option<Fate>>) {
    let mut fates: Vec<Option<Fate>> = vec![None; events.len()];
    let mut parsed: Vec<Option<Parsed>> = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        match records(i, event, limits) {
            Ok(records) => {
                summary.records += records.len();
                parsed.push(Some(Parsed::of(records, true, summary)));
            }
            Err(reason) => {
                fates[i] = Some(Fate::DeadLettered(reason));
                parsed.push(None);
            }
        }
    }
    (parsed, fates)
}

/// The records of event number `i`, or why it cannot be matched.
fn records(i: usize, event: &EventInput, limits: &Limits) -> Result<Vec<Record>, String> {
    if i >= limits.max_events {
        Err(format!(
            "batch holds more than {} events (MATCH_MAX_EVENTS)",
            limits.max_events
        ))
    } else if event.bytes.len() > limits.max_event_bytes {
        Err(format!(
            "event of {} bytes exceeds {} (MATCH_MAX_EVENT_BYTES)",
            event.bytes.len(),
            limits.max_event_bytes
        ))
    } else if json_depth_exceeds(&event.bytes, limits.max_json_depth) {
        Err(format!(
            "JSON nested deeper than {} levels (MATCH_MAX_JSON_DEPTH)",
            limits.max_json_depth
        ))
    } else {
        glance_body(&event.bytes, limits.max_records_per_event).map_err(|e| e.to_string())
    }
}
