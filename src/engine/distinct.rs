//! The second step: the batch's distinct lookup keys, in first-seen order, less the allowlisted
//! ones: what is asked of threat intel. Hashes first, then each network indicator under its
//! lookup keys (a host under each parent name up to its registrable domain).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use super::decode::{NOT_ASKED, Parsed, Place};
use super::{Allowlist, BatchSummary};
use crate::intel::LookupKey;
use crate::records::Seeded;

/// The distinct keys to look up; counts the distinct and the allowlisted into `summary`, and
/// gives each key found in a record its place among them.
pub(super) fn distinct(
    parsed: &mut [Option<Parsed>],
    allowlist: &Allowlist,
    summary: &mut BatchSummary,
) -> Vec<LookupKey> {
    let (distinct, order) = places(parsed, allowlist, summary);
    // The places, in the order `places` walked the keys.
    let mut order = order.into_iter();
    let mut next = || order.next().unwrap_or(NOT_ASKED);
    for p in parsed.iter_mut().flatten() {
        for (_, _, place) in p.hashes.iter_mut().flatten() {
            *place = next();
        }
    }
    for p in parsed.iter_mut().flatten() {
        for (_, keys) in p.indicators.iter_mut().flatten() {
            for (_, place) in keys.iter_mut() {
                *place = next();
            }
        }
    }
    summary.distinct = distinct.len();
    distinct
}

/// The distinct keys, and the place of every key found, record after record: the hashes first,
/// then each network indicator's keys ([`NOT_ASKED`] for an allowlisted one, whose keys are
/// never asked about for it and which never matches, `fate::judge`).
fn places(
    parsed: &[Option<Parsed>],
    allowlist: &Allowlist,
    summary: &mut BatchSummary,
) -> (Vec<LookupKey>, Vec<Place>) {
    // Sized once for every key found (a map grown from empty rehashed six times a batch).
    let found: usize = parsed
        .iter()
        .flatten()
        .map(|p| {
            let hashes: usize = p.hashes.iter().map(Vec::len).sum();
            let net: usize = p.indicators.iter().flatten().map(|(_, k)| k.len()).sum();
            hashes + net
        })
        .sum();
    let mut distinct: Vec<LookupKey> = Vec::with_capacity(found);
    let mut order: Vec<Place> = Vec::with_capacity(found);
    let mut places: HashMap<&LookupKey, Place, Seeded> =
        HashMap::with_capacity_and_hasher(found, Seeded::default());
    for (key, _, _) in parsed
        .iter()
        .flatten()
        .flat_map(|p| p.hashes.iter().flatten())
    {
        order.push(match places.entry(key) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let at = if key.as_hash().is_some_and(|h| allowlist.contains(h)) {
                    summary.allowlisted += 1;
                    NOT_ASKED
                } else {
                    distinct.push(key.clone());
                    distinct.len() - 1
                };
                *e.insert(at)
            }
        });
    }
    let mut seen_indicators = HashSet::<_, Seeded>::default();
    for (found, keys) in parsed
        .iter()
        .flatten()
        .flat_map(|p| p.indicators.iter().flatten())
    {
        let first = seen_indicators.insert(&found.indicator);
        if allowlist.covers(&found.indicator) {
            summary.allowlisted += usize::from(first);
            order.extend(keys.iter().map(|_| NOT_ASKED));
            continue;
        }
        for (key, _) in keys {
            order.push(match places.entry(key) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    distinct.push(key.clone());
                    *e.insert(distinct.len() - 1)
                }
            });
        }
    }
    (distinct, order)
}
