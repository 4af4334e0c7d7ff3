//! The second step: the batch's distinct lookup keys, in first-seen order, less the allowlisted
//! ones: what is asked of threat intel. Hashes first, then each network indicator under its
//! lookup keys (a host under each parent name up to its registrable domain).

use std::collections::HashSet;

use super::decode::Parsed;
use super::{Allowlist, BatchSummary};
use crate::intel::LookupKey;
use crate::intel::network::lookup_keys;
use crate::records::{FileHash, Seeded};

/// The distinct keys to look up; counts the distinct and the allowlisted into `summary`.
pub(super) fn distinct(
    parsed: &[Option<Parsed>],
    allowlist: &Allowlist,
    summary: &mut BatchSummary,
) -> Vec<LookupKey> {
    let mut distinct: Vec<LookupKey> = Vec::new();
    let mut seen: HashSet<&FileHash, Seeded> = HashSet::default();
    for (hash, _) in parsed
        .iter()
        .flatten()
        .flat_map(|p| p.hashes.iter().flatten())
    {
        if seen.insert(hash) {
            if allowlist.contains(hash) {
                summary.allowlisted += 1;
            } else {
                distinct.push(LookupKey::Hash(hash.clone()));
            }
        }
    }
    let mut seen_indicators = HashSet::<_, Seeded>::default();
    let mut seen_keys: HashSet<LookupKey, Seeded> = HashSet::default();
    for found in parsed
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
        for key in lookup_keys(&found.indicator) {
            if seen_keys.insert(key.clone()) {
                distinct.push(key);
            }
        }
    }
    summary.distinct = distinct.len();
    distinct
}
