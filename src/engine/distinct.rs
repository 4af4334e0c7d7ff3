//! The second step: the batch's distinct lookup keys, in first-seen order, less the allowlisted
//! ones: what is asked of threat intel. Hashes first, then each network indicator under its
//! lookup keys (a host under each parent name up to its registrable domain).

use std::collections::HashSet;

use super::decode::Parsed;
use super::{Allowlist, BatchSummary};
use crate::intel::LookupKey;
use crate::records::Seeded;

/// The distinct keys to look up; counts the distinct and the allowlisted into `summary`.
pub(super) fn distinct(
    parsed: &[Option<Parsed>],
    allowlist: &Allowlist,
    summary: &mut BatchSummary,
) -> Vec<LookupKey> {
    let mut distinct: Vec<LookupKey> = Vec::new();
    let mut seen: HashSet<&LookupKey, Seeded> = HashSet::default();
    for (key, _) in parsed
        .iter()
        .flatten()
        .flat_map(|p| p.hashes.iter().flatten())
    {
        if seen.insert(key) {
            if key.as_hash().is_some_and(|h| allowlist.contains(h)) {
                summary.allowlisted += 1;
            } else {
                distinct.push(key.clone());
            }
        }
    }
    let mut seen_indicators = HashSet::<_, Seeded>::default();
    for (found, keys) in parsed
        .iter()
        .flatten()
        .flat_map(|p| p.indicators.iter().flatten())
    {
        if !seen_indicators.insert(&found.indicator) {
            continue;
        }
        if allowlist.covers(&found.indicator) {
            summary.allowlisted += 1;
            continue;
        }
        for key in keys {
            if seen.insert(key) {
                distinct.push(key.clone());
            }
        }
    }
    summary.distinct = distinct.len();
    distinct
}
