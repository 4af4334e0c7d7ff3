//! The second step: the batch's distinct hashes, in first-seen order, less the allowlisted ones:
//! what is asked of threat intel.

use std::collections::HashSet;

use super::decode::Parsed;
use super::{Allowlist, BatchSummary};
use crate::records::{FileHash, Seeded};

/// The distinct hashes to look up; counts the distinct and the allowlisted into `summary`.
pub(super) fn distinct(
    parsed: &[Option<Parsed>],
    allowlist: &Allowlist,
    summary: &mut BatchSummary,
) -> Vec<FileHash> {
    let mut distinct: Vec<FileHash> = Vec::new();
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
                distinct.push(hash.clone());
            }
        }
    }
    summary.distinct = distinct.len();
    distinct
}
