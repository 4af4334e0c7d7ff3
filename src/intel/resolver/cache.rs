//! The verdict cache: hits and misses kept with separate lifetimes, a lifetime of zero keeping
//! nothing of that side, at most `MISP_CACHE_CAPACITY` of them.
//!
//! moka decides what is kept (its own clock for the lifetimes, TinyLFU for the capacity); a plain
//! map in front of it mirrors what moka holds, and is what a lookup reads: a read lock and one
//! hash probe instead of moka's concurrent table, read log and timestamps (18 % of a warm batch's
//! CPU in BENCHMARKS.md). Each entry carries a generation; moka's eviction listener removes the
//! front entry of the same generation, so the front never keeps what moka let go (a later
//! insert of the same key is not removed by an earlier one's eviction). Each front entry also
//! knows its own expiry and is not served past it, whenever moka runs its maintenance. One read
//! in [`READ_SAMPLE`] still goes to moka, so that its frequency sketch keeps seeing which keys
//! are read often when it chooses what to evict.
//!
//! The key is any `K` (a file hash today, any indicator tomorrow).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::notification::RemovalCause;

use crate::intel::Verdict;
use crate::intel::config::LookupSettings;
use crate::records::Seeded;

/// Entries the front map has room for from the start (fewer when the capacity is smaller).
/// Growing re-hashes every entry under the write lock: at 28,000 and 57,000 entries that held a
/// cold batch for 3–9 ms (issue 14's cold p99, BENCHMARKS.md "Part 3"). 114,688 entries is what
/// 2^17 buckets hold (7/8 of them): one more would double the table. Their control bytes are
/// resident from the start (128 KiB); the entries' memory is untouched until used.
const FRONT_START: u64 = 114_688;

/// One read in this many also reads moka (for its frequency sketch).
const READ_SAMPLE: u64 = 16;

/// What moka holds: the verdict and the generation of the front entry mirroring it.
#[derive(Clone)]
struct Held {
    verdict: Verdict,
    generation: u64,
}

/// What the front map holds.
struct FrontEntry {
    verdict: Verdict,
    expires: Instant,
    generation: u64,
}

type Front<K> = Arc<RwLock<HashMap<K, FrontEntry, Seeded>>>;

struct VerdictExpiry {
    hit_ttl: Duration,
    miss_ttl: Duration,
}

impl<K> Expiry<K, Held> for VerdictExpiry {
    fn expire_after_create(&self, _: &K, held: &Held, _: Instant) -> Option<Duration> {
        Some(if held.verdict.is_empty() {
            self.miss_ttl
        } else {
            self.hit_ttl
        })
    }
}

/// Verdicts by key, bounded by `MISP_CACHE_CAPACITY`.
pub(super) struct VerdictCache<K> {
    front: Front<K>,
    back: moka::future::Cache<K, Held, Seeded>,
    hit_ttl: Duration,
    miss_ttl: Duration,
    capacity: u64,
    generations: AtomicU64,
    reads: AtomicU64,
    /// The one empty verdict every cached miss holds: a miss read from the cache then touches
    /// one counter that stays in the core's cache, not a heap block of its own per key (a third
    /// cache miss per warm lookup beside the map's two; issue 14).
    miss: Verdict,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> VerdictCache<K> {
    pub(super) fn new(settings: &LookupSettings) -> Self {
        let initial = usize::try_from(settings.capacity.min(FRONT_START)).unwrap_or(0);
        let front: Front<K> = Arc::new(RwLock::new(HashMap::with_capacity_and_hasher(
            initial,
            Seeded::default(),
        )));
        let mirror = Arc::clone(&front);
        let back = moka::future::Cache::builder()
            .max_capacity(settings.capacity)
            .expire_after(VerdictExpiry {
                hit_ttl: settings.hit_ttl,
                miss_ttl: settings.miss_ttl,
            })
            .eviction_listener(move |key: Arc<K>, held: Held, cause| {
                if cause != RemovalCause::Replaced {
                    let mut front = mirror.write().unwrap_or_else(PoisonError::into_inner);
                    if front
                        .get(&*key)
                        .is_some_and(|e| e.generation == held.generation)
                    {
                        front.remove(&*key);
                    }
                }
            })
            .build_with_hasher(Seeded::default());
        Self {
            front,
            back,
            hit_ttl: settings.hit_ttl,
            miss_ttl: settings.miss_ttl,
            capacity: settings.capacity,
            generations: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            miss: Verdict::default(),
        }
    }

    #[cfg(test)]
    pub(super) async fn get(&self, key: &K) -> Option<Verdict> {
        self.get_many(&[key]).await.pop().flatten()
    }

    /// The verdicts of `keys`, in their order: one read lock and one clock reading for all of
    /// them (a lock and a clock per key were a tenth of a warm batch, issue 14). The reads moka
    /// samples (one in [`READ_SAMPLE`]) happen after the lock is let go.
    pub(super) async fn get_many(&self, keys: &[&K]) -> Vec<Option<Verdict>> {
        let now = Instant::now();
        let verdicts: Vec<Option<Verdict>> = {
            let front = self.front.read().unwrap_or_else(PoisonError::into_inner);
            keys.iter()
                .map(|key| {
                    let entry = front.get(*key)?;
                    (now < entry.expires).then(|| entry.verdict.clone())
                })
                .collect()
        };
        let first = self.reads.fetch_add(keys.len() as u64, Ordering::Relaxed);
        for (i, (key, verdict)) in keys.iter().zip(&verdicts).enumerate() {
            if verdict.is_some() && (first + i as u64).is_multiple_of(READ_SAMPLE) {
                self.back.get(*key).await;
            }
        }
        verdicts
    }

    /// Keeps a verdict for its side's lifetime; nothing when that lifetime is zero.
    pub(super) async fn remember(&self, key: &K, verdict: &Verdict) {
        let ttl = if verdict.is_empty() {
            self.miss_ttl
        } else {
            self.hit_ttl
        };
        if ttl.is_zero() {
            return;
        }
        let verdict = if verdict.is_empty() {
            &self.miss
        } else {
            verdict
        };
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let entry = FrontEntry {
            verdict: verdict.clone(),
            expires: Instant::now() + ttl,
            generation,
        };
        let held = {
            let mut front = self.front.write().unwrap_or_else(PoisonError::into_inner);
            front.insert(key.clone(), entry);
            front.len() as u64
        };
        let entry = Held {
            verdict: verdict.clone(),
            generation,
        };
        self.back.insert(key.clone(), entry).await;
        if held > self.capacity.saturating_mul(2).max(1024) {
            self.sweep();
        }
    }

    /// Two invocations remembering one key at once can leave moka holding the older generation
    /// and the front the newer, which moka's eviction then does not remove: such entries are
    /// dropped here, once the front holds twice moka's capacity.
    fn sweep(&self) {
        let now = Instant::now();
        self.front
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, e| e.expires > now && self.back.contains_key(k));
    }

    /// The one empty verdict every miss shares (cached or known without asking).
    pub(super) fn miss(&self) -> &Verdict {
        &self.miss
    }

    /// Entries held (approximate).
    pub(super) fn entry_count(&self) -> u64 {
        self.back.entry_count()
    }

    /// Entries in the front map (for tests).
    #[cfg(test)]
    pub(super) fn front_len(&self) -> usize {
        self.front
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::{IntelHit, RawHit};

    fn settings(capacity: u64, hit_ttl: Duration, miss_ttl: Duration) -> LookupSettings {
        LookupSettings {
            capacity,
            hit_ttl,
            miss_ttl,
            ..LookupSettings::default()
        }
    }

    fn hit() -> Verdict {
        vec![IntelHit::new(RawHit {
            event_id: "7",
            attribute_type: "md5",
            ..Default::default()
        })]
        .into()
    }

    #[test]
    fn the_front_map_starts_with_room_up_to_the_capacity_and_never_grows_before_it() {
        let long = Duration::from_secs(3600);
        let room = |capacity| {
            let cache = VerdictCache::<u32>::new(&settings(capacity, long, long));
            cache.front.read().unwrap().capacity() as u64
        };
        assert_eq!(
            room(1_000_000),
            FRONT_START,
            "2^17 buckets full, not 2^18 a quarter full"
        );
        assert!((10..FRONT_START).contains(&room(10)), "{}", room(10));
    }

    #[tokio::test]
    async fn every_cached_miss_shares_one_empty_verdict_and_a_hit_keeps_its_own() {
        let long = Duration::from_secs(3600);
        let cache = VerdictCache::<u32>::new(&settings(100, long, long));
        let hit = hit();
        for key in 0..3 {
            cache.remember(&key, &Verdict::default()).await;
        }
        cache.remember(&3, &hit).await;
        let got = cache.get_many(&[&0, &1, &2, &3]).await;
        let got: Vec<Verdict> = got.into_iter().map(Option::unwrap).collect();
        assert!(got[..3].iter().all(|v| v.is_empty()));
        assert!(Arc::ptr_eq(&got[0], &got[1]) && Arc::ptr_eq(&got[1], &got[2]));
        assert!(Arc::ptr_eq(&got[0], &cache.miss));
        assert!(
            Arc::ptr_eq(&got[3], &hit),
            "a hit is the verdict remembered"
        );
    }

    #[tokio::test]
    async fn the_front_map_never_holds_what_moka_let_go() {
        let long = Duration::from_secs(3600);
        let cache = VerdictCache::<u32>::new(&settings(10, long, long));
        for key in 0..200 {
            cache.remember(&key, &Verdict::default()).await;
        }
        cache.back.run_pending_tasks().await;
        let held = cache.back.entry_count();
        assert!(held <= 10, "moka holds {held}");
        assert_eq!(cache.front_len() as u64, held);
        for key in 0..200 {
            assert_eq!(
                cache.get(&key).await.is_some(),
                cache.back.contains_key(&key),
                "{key}"
            );
        }
    }

    #[tokio::test]
    async fn each_side_expires_after_its_own_lifetime_and_zero_keeps_nothing() {
        // Lifetimes of seconds, not milliseconds: a loaded machine can stall a thread for tens of
        // milliseconds between two lines, and moka's clock is not tokio's (no paused time).
        let cache = VerdictCache::<u32>::new(&settings(
            100,
            Duration::from_secs(3),
            Duration::from_secs(1),
        ));
        cache.remember(&1, &hit()).await;
        cache.remember(&2, &Verdict::default()).await;
        assert_eq!(cache.get(&1).await.map(|v| v.len()), Some(1));
        assert_eq!(cache.get(&2).await.map(|v| v.len()), Some(0));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(cache.get(&1).await.is_some(), "the hit outlives the miss");
        assert!(cache.get(&2).await.is_none(), "the miss expired");
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert!(cache.get(&1).await.is_none(), "the hit expired");
        let off = VerdictCache::<u32>::new(&settings(100, Duration::ZERO, Duration::ZERO));
        off.remember(&1, &hit()).await;
        off.remember(&2, &Verdict::default()).await;
        assert_eq!((off.get(&1).await, off.get(&2).await), (None, None));
        assert_eq!(off.front_len(), 0);
    }

    #[tokio::test]
    async fn a_verdict_remembered_again_replaces_the_old_one_and_survives_its_eviction() {
        let long = Duration::from_secs(3600);
        let cache = VerdictCache::<u32>::new(&settings(100, long, long));
        cache.remember(&1, &Verdict::default()).await;
        cache.remember(&1, &hit()).await;
        cache.back.run_pending_tasks().await;
        assert_eq!(cache.get(&1).await.map(|v| v.len()), Some(1));
        assert_eq!(cache.front_len(), 1);
        // A newer generation in the front (a racing remember) outlives the older one's removal
        // from moka; the same generation goes with it.
        cache.remember(&2, &Verdict::default()).await;
        cache.front.write().unwrap().get_mut(&2).unwrap().generation = u64::MAX;
        cache.back.invalidate(&2).await;
        cache.back.invalidate(&1).await;
        cache.back.run_pending_tasks().await;
        assert!(!cache.back.contains_key(&2), "moka let it go");
        assert!(cache.get(&2).await.is_some());
        assert!(cache.get(&1).await.is_none());
    }

    #[tokio::test]
    async fn a_front_entry_moka_no_longer_holds_is_swept_once_the_front_outgrows_it() {
        let long = Duration::from_secs(3600);
        let cache = VerdictCache::<u32>::new(&settings(4, long, long));
        // As two invocations racing on one key can leave it: in the front only.
        for key in 0..1100 {
            cache.front.write().unwrap().insert(
                key,
                FrontEntry {
                    verdict: Verdict::default(),
                    expires: Instant::now() + long,
                    generation: u64::MAX,
                },
            );
        }
        cache.remember(&5000, &Verdict::default()).await;
        assert!(cache.front_len() <= 1, "{}", cache.front_len());
        assert!(cache.get(&0).await.is_none());
    }
}
