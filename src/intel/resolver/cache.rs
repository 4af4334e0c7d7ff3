//! The verdict cache: hits and misses kept with separate lifetimes (moka, which keeps its own
//! clock), a lifetime of zero keeping nothing of that side.

use std::time::{Duration, Instant};

use moka::Expiry;

use crate::intel::LookupKey;
use crate::intel::Verdict;
use crate::intel::config::LookupSettings;
use crate::records::Seeded;

struct VerdictExpiry {
    hit_ttl: Duration,
    miss_ttl: Duration,
}

impl Expiry<LookupKey, Verdict> for VerdictExpiry {
    fn expire_after_create(&self, _: &LookupKey, value: &Verdict, _: Instant) -> Option<Duration> {
        Some(if value.is_empty() {
            self.miss_ttl
        } else {
            self.hit_ttl
        })
    }
}

/// Verdicts by hash, bounded by `MISP_CACHE_CAPACITY`.
pub(super) struct VerdictCache {
    cache: moka::future::Cache<LookupKey, Verdict, Seeded>,
    hit_ttl: Duration,
    miss_ttl: Duration,
}

impl VerdictCache {
    pub(super) fn new(settings: &LookupSettings) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(settings.capacity)
            .expire_after(VerdictExpiry {
                hit_ttl: settings.hit_ttl,
                miss_ttl: settings.miss_ttl,
            })
            .build_with_hasher(Seeded::default());
        Self {
            cache,
            hit_ttl: settings.hit_ttl,
            miss_ttl: settings.miss_ttl,
        }
    }

    pub(super) async fn get(&self, hash: &LookupKey) -> Option<Verdict> {
        self.cache.get(hash).await
    }

    /// Keeps a verdict for its side's lifetime; nothing when that lifetime is zero.
    pub(super) async fn remember(&self, hash: &LookupKey, verdict: &Verdict) {
        let ttl = if verdict.is_empty() {
            self.miss_ttl
        } else {
            self.hit_ttl
        };
        if !ttl.is_zero() {
            self.cache.insert(hash.clone(), verdict.clone()).await;
        }
    }

    /// Entries held (approximate).
    pub(super) fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}
