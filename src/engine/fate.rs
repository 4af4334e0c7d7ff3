//! The last step: the matches of each decoded event from threat intel's answers, and every
//! event's [`Fate`], counted into the summary; the dead ones keep their bytes and reason.

use std::collections::HashSet;

use super::decode::Parsed;
use super::{Allowlist, BatchSummary, EventInput};
use crate::host::EventMeta;
use crate::intel::IntelHit;
use crate::intel::network::applies;
use crate::intel::resolver::Resolution;
use crate::matches::MatchRecord;

/// How one event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Matched,
    Clean,
    DeadLettered(String),
}

/// An event that could not be fully matched, with why.
#[derive(Debug, Clone)]
pub struct DeadEvent {
    pub index: usize,
    pub reason: String,
    pub meta: EventMeta,
    pub bytes: Vec<u8>,
}

/// The matches of every decoded event, each once (by `matchId`), and the fate of each: matched,
/// clean, or dead-lettered when some of its lookups went unanswered. An allowlisted network
/// indicator never matches, even through a key another indicator of the batch asked about.
pub(super) fn judge(
    parsed: &[Option<Parsed>],
    events: &[EventInput],
    resolution: &Resolution,
    allowlist: &Allowlist,
    fates: &mut [Option<Fate>],
) -> Vec<MatchRecord> {
    let mut matches = Vec::new();
    let mut ids = HashSet::new();
    for (i, p) in parsed.iter().enumerate() {
        let Some(p) = p else { continue };
        let body = events.get(i).map_or(&[][..], |e| &e.bytes[..]);
        // The event's records in full, decoded once its first match needs them.
        let mut full = None;
        let mut unanswered = 0;
        let mut first_error = None;
        let before = matches.len();
        let mut emit = |m: MatchRecord, matches: &mut Vec<MatchRecord>| {
            if ids.insert(m.match_id.clone()) {
                matches.push(m);
            }
        };
        for (j, hashes) in p.hashes.iter().enumerate() {
            for (key, fields, place) in hashes {
                if let Some(e) = resolution.unanswered.get(key) {
                    unanswered += 1;
                    first_error.get_or_insert(e);
                    continue;
                }
                let Some(verdict) = resolution.verdict(*place, key).filter(|v| !v.is_empty())
                else {
                    continue;
                };
                let Some(hash) = key.as_hash() else { continue };
                let record = p.record(j, body, &mut full);
                emit(
                    MatchRecord::new(record, hash, fields, verdict),
                    &mut matches,
                );
            }
        }
        for (j, found) in p.indicators.iter().enumerate() {
            for (f, keys) in found
                .iter()
                .filter(|(f, _)| !allowlist.covers(&f.indicator))
            {
                let mut hits: Vec<IntelHit> = Vec::new();
                for (key, place) in keys {
                    if let Some(e) = resolution.unanswered.get(key) {
                        unanswered += 1;
                        first_error.get_or_insert(e);
                        continue;
                    }
                    let verdict = resolution
                        .verdict(*place, key)
                        .into_iter()
                        .flat_map(|v| v.iter());
                    for hit in verdict.filter(|h| applies(h, &f.indicator, f.port)) {
                        if !hits.contains(hit) {
                            hits.push(hit.clone());
                        }
                    }
                }
                if !hits.is_empty() {
                    let record = p.record(j, body, &mut full);
                    emit(MatchRecord::network(record, f, &hits), &mut matches);
                }
            }
        }
        let emitted = matches.len() - before;
        fates[i] = Some(match first_error {
            Some(e) => Fate::DeadLettered(dead_reason(unanswered, e, emitted)),
            None if matches.len() > before => Fate::Matched,
            None => Fate::Clean,
        });
    }
    matches
}

/// Why an event with unanswered hashes is dead-lettered. Its other hashes' matches were emitted
/// all the same: a replay emits them again with the same `matchId`, which `RaiseAlerts` acts on
/// once.
fn dead_reason(unanswered: usize, e: &crate::intel::IntelError, emitted: usize) -> String {
    let mut reason = format!("threat intel did not answer for {unanswered} lookup(s): {e}");
    if emitted > 0 {
        reason.push_str(&format!(
            "; {emitted} match(es) of this event were emitted already (a replay repeats their matchId, which RaiseAlerts acts on once)"
        ));
    }
    reason
}

/// Counts every fate into `summary` and returns the dead-lettered events with their bytes.
pub(super) fn settle(
    fates: Vec<Option<Fate>>,
    events: Vec<EventInput>,
    summary: &mut BatchSummary,
) -> Vec<DeadEvent> {
    let mut dead = Vec::new();
    for (i, (fate, event)) in fates.into_iter().zip(events).enumerate() {
        match fate
            .unwrap_or_else(|| Fate::DeadLettered("internal: event left without an outcome".into()))
        {
            Fate::Matched => summary.matched_events += 1,
            Fate::Clean => summary.clean_events += 1,
            Fate::DeadLettered(reason) => {
                summary.dead_lettered += 1;
                dead.push(DeadEvent {
                    index: i,
                    reason,
                    meta: event.meta,
                    bytes: event.bytes,
                });
            }
        }
    }
    debug_assert_eq!(
        summary.events,
        summary.matched_events + summary.clean_events + summary.dead_lettered,
        "accounting invariant"
    );
    dead
}
