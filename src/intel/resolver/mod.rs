//! [`Resolver`]: the verdict cache, chunking, in-flight sharing and the deadline in front of a
//! [`ThreatIntel`] source.
//!
//! Hits and misses are cached with separate lifetimes (a lifetime of zero turns that side off;
//! `cache`). A hash already being looked up by another invocation is not asked again: the
//! second one waits for the first one's answer (`inflight`); when that one fails or is cancelled,
//! the waiter asks the source itself while its own deadline lasts. Chunks run concurrently, each
//! under the retry policy and the breaker, and the whole lookup of an invocation ends by its
//! deadline; whatever was not answered by then is reported as unanswered, with why.

mod cache;
mod inflight;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use self::cache::VerdictCache;
use self::inflight::{Answer, Claim, Inflight};
use super::config::LookupSettings;
use super::policy::CircuitBreaker;
use super::{IntelError, ThreatIntel, Verdict};
use crate::intel::LookupKey;
use crate::records::Seeded;

/// Chunks of one invocation in flight to the source at once.
pub const CHUNK_CONCURRENCY: usize = 4;
/// Times a waiter takes a hash over from an owner that gave up, at most (the deadline bounds it
/// too; this only stops a pathological hand-over loop).
const MAX_ROUNDS: usize = 8;

/// The answer to one invocation's lookup.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Verdicts known without asking (the cache, the source's known misses), by the place of
    /// their key in the keys resolved: read by place, with no hashing (issue 14: a warm batch is
    /// all cache hits, and two map operations per key were a tenth of it).
    pub known: Vec<Option<Verdict>>,
    /// Keys answered by a request (this invocation's or another's it waited for), with their
    /// verdicts (empty verdict: a miss).
    pub verdicts: HashMap<LookupKey, Verdict, Seeded>,
    /// Hashes not answered, with why.
    pub unanswered: HashMap<LookupKey, IntelError, Seeded>,
    /// Hashes answered from the cache.
    pub cache_hits: usize,
    /// Requests made to the source's remote server (MISP).
    pub requests: usize,
    /// Hashes answered by another invocation's request.
    pub shared: usize,
}

impl Resolution {
    /// The verdict of `key`, the key at `place` in the keys resolved (any place past them, for a
    /// key that was not among them, finds only what was asked).
    pub fn verdict(&self, place: usize, key: &LookupKey) -> Option<&Verdict> {
        match self.known.get(place) {
            Some(Some(v)) => Some(v),
            _ => self.verdicts.get(key),
        }
    }

    /// The verdict of `key`, one of the keys resolved (`keys`), by a search for its place: for
    /// tests and callers that kept no places.
    pub fn verdict_of(&self, keys: &[LookupKey], key: &LookupKey) -> Option<&Verdict> {
        let place = keys.iter().position(|k| k == key).unwrap_or(usize::MAX);
        self.verdict(place, key)
    }

    /// Places answered, however (a key given twice counts twice).
    pub fn answered(&self) -> usize {
        self.known.iter().flatten().count() + self.verdicts.len()
    }
}

/// A cached, deduplicating front for a threat-intel source.
pub struct Resolver {
    source: Arc<dyn ThreatIntel>,
    cache: VerdictCache<LookupKey>,
    settings: LookupSettings,
    inflight: Inflight,
    breaker: CircuitBreaker,
}

/// The hashes this invocation asks the source about, each with the channel its waiters read.
type Owned = Vec<(LookupKey, watch::Sender<Answer>)>;
/// The hashes another invocation is asking about, each with the channel to wait on.
type Waiting = Vec<(LookupKey, watch::Receiver<Answer>)>;

impl Resolver {
    pub fn new(source: Arc<dyn ThreatIntel>, settings: LookupSettings) -> Self {
        Self {
            source,
            cache: VerdictCache::new(&settings),
            breaker: CircuitBreaker::new(settings.breaker),
            settings,
            inflight: Inflight::default(),
        }
    }

    pub fn deadline(&self) -> Duration {
        self.settings.deadline
    }

    /// Verdicts currently cached (approximate, for logs and benchmarks).
    pub fn cached(&self) -> u64 {
        self.cache.entry_count()
    }

    /// One chunk through the breaker, retried by the policy within the deadline.
    async fn lookup_chunk(
        &self,
        hashes: &[LookupKey],
        deadline: Instant,
    ) -> (Result<super::Hits, IntelError>, usize) {
        self.settings
            .retry
            .run(
                "threat-intel lookup",
                Some(deadline),
                Some(&self.breaker),
                || self.source.lookup_counted(hashes),
            )
            .await
    }

    /// Looks up distinct hashes, within the configured deadline from now.
    pub async fn resolve(&self, hashes: &[LookupKey]) -> Resolution {
        self.resolve_until(hashes, Instant::now() + self.settings.deadline)
            .await
    }

    #[tracing::instrument(skip_all, fields(hashes = hashes.len()))]
    pub async fn resolve_until(&self, hashes: &[LookupKey], deadline: Instant) -> Resolution {
        let mut out = Resolution::default();
        let pending = self.answer_known(hashes, &mut out).await;
        let work = self.settle(pending, deadline, &mut out);
        if tokio::time::timeout_at(deadline, work).await.is_err() {
            let why = IntelError::Deadline {
                after: self.settings.deadline,
                last: self.breaker.last_failure().map(Box::new),
            };
            for (place, hash) in hashes.iter().enumerate() {
                if out.verdict(place, hash).is_none() {
                    out.unanswered
                        .entry(hash.clone())
                        .or_insert_with(|| why.clone());
                }
            }
        }
        out
    }

    /// Claims the pending hashes, asks about those it owns and waits for the others, round after
    /// round: a hash whose owner failed or gave up is claimed again (and then usually owned).
    async fn settle(&self, mut pending: Vec<LookupKey>, deadline: Instant, out: &mut Resolution) {
        for round in 1..=MAX_ROUNDS {
            if pending.is_empty() {
                return;
            }
            let (owned, waiting) = self.claim(&pending);
            // However this ends (answered, failed, or dropped at the deadline), this round's
            // in-flight entries go, so later invocations never wait on an abandoned request.
            let _guard = self
                .inflight
                .guard(owned.iter().map(|(h, _)| h.clone()).collect());
            let mut asked = Resolution::default();
            let (_, answers) = tokio::join!(
                self.ask(owned, deadline, &mut asked),
                inflight::wait_for(waiting)
            );
            out.requests += asked.requests;
            out.verdicts.extend(asked.verdicts);
            out.unanswered.extend(asked.unanswered);
            pending = Vec::new();
            for (hash, answer) in answers {
                match answer {
                    Ok(v) => {
                        out.shared += 1;
                        out.verdicts.insert(hash, v);
                    }
                    // No asking again mends a refused key; the last round keeps what it got.
                    Err(e @ IntelError::Unauthorized(_)) => {
                        out.unanswered.insert(hash, e);
                    }
                    Err(e) if round == MAX_ROUNDS => {
                        out.unanswered.insert(hash, e);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the lookup this batch waited on failed; asking itself");
                        pending.push(hash);
                    }
                }
            }
        }
    }

    /// Answers what needs no request (the source's known misses, the cache) into `out`, and
    /// returns the rest, each once. A key given twice is answered at both places (and counted at
    /// both); only the keys left to ask about are told apart, so the engine's keys, distinct
    /// already, are not hashed into a map of their own again (issue 14).
    async fn answer_known(&self, hashes: &[LookupKey], out: &mut Resolution) -> Vec<LookupKey> {
        out.known = vec![None; hashes.len()];
        let known_misses = self.source.known_misses(hashes);
        // The cache's one empty verdict for every known miss (a snapshot's whole warm batch):
        // each made on its own was an allocation, and its drop a free, per key.
        let miss = self.cache.miss();
        let mut candidates: Vec<&LookupKey> = Vec::with_capacity(hashes.len());
        let mut places: Vec<usize> = Vec::with_capacity(hashes.len());
        for (i, hash) in hashes.iter().enumerate() {
            if known_misses
                .as_ref()
                .is_some_and(|m| m.get(i) == Some(&true))
            {
                out.known[i] = Some(miss.clone());
                continue;
            }
            candidates.push(hash);
            places.push(i);
        }
        let cached = self.cache.get_many(&candidates).await;
        let mut pending = Vec::new();
        let mut asked: HashSet<&LookupKey, Seeded> = HashSet::default();
        for ((hash, place), verdict) in candidates.into_iter().zip(places).zip(cached) {
            match verdict {
                Some(v) => {
                    out.cache_hits += 1;
                    out.known[place] = Some(v);
                }
                // Asked once: a second claim of the same key would wait on itself.
                None if asked.insert(hash) => pending.push(hash.clone()),
                None => {}
            }
        }
        pending
    }

    /// Who asks about each hash: this invocation, or another one it waits for.
    fn claim(&self, pending: &[LookupKey]) -> (Owned, Waiting) {
        let mut owned = Owned::new();
        let mut waiting = Waiting::new();
        for hash in pending {
            match self.inflight.claim(hash) {
                Claim::Owner(tx) => owned.push((hash.clone(), tx)),
                Claim::Waiter(rx) => waiting.push((hash.clone(), rx)),
            }
        }
        (owned, waiting)
    }

    /// Asks the source about the owned hashes, in chunks run concurrently; every answer is
    /// cached, handed to the waiters and put in `out`.
    async fn ask(&self, owned: Owned, deadline: Instant, out: &mut Resolution) {
        let chunk_size = self.source.chunk_size().max(1);
        let mut chunks: Vec<Owned> = Vec::new();
        let mut it = owned.into_iter().peekable();
        while it.peek().is_some() {
            chunks.push(it.by_ref().take(chunk_size).collect());
        }
        let mut results = futures::stream::iter(chunks)
            .map(|chunk| async move {
                let hashes: Vec<LookupKey> = chunk.iter().map(|(h, _)| h.clone()).collect();
                (chunk, self.lookup_chunk(&hashes, deadline).await)
            })
            .buffer_unordered(CHUNK_CONCURRENCY);
        while let Some((chunk, (result, requests))) = results.next().await {
            out.requests += requests;
            match result {
                Ok(mut hits) => {
                    for (hash, tx) in chunk {
                        let verdict: Verdict = hits.remove(&hash).unwrap_or_default().into();
                        self.cache.remember(&hash, &verdict).await;
                        let _ = tx.send(Some(Ok(verdict.clone())));
                        out.verdicts.insert(hash, verdict);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, hashes = chunk.len(), "threat-intel lookup failed");
                    for (hash, tx) in chunk {
                        let _ = tx.send(Some(Err(e.clone())));
                        out.unanswered.insert(hash, e.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::{IntelHit, RawHit};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A source that knows one bad hash, counts calls and can be told to fail or stall.
    struct Fake {
        bad: LookupKey,
        calls: AtomicUsize,
        /// Calls that fail before the source answers (usize::MAX: all of them).
        failures: AtomicUsize,
        delay: Duration,
    }

    #[async_trait::async_trait]
    impl ThreatIntel for Fake {
        fn chunk_size(&self) -> usize {
            2
        }
        async fn lookup(&self, hashes: &[LookupKey]) -> Result<crate::intel::Hits, IntelError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.failures.load(Ordering::SeqCst) > 0 {
                let _ = self
                    .failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| {
                        Some(f.saturating_sub(usize::from(f != usize::MAX)))
                    });
                return Err(IntelError::Server(502));
            }
            let hit = IntelHit::new(RawHit {
                event_id: "1",
                attribute_type: "md5",
                ..Default::default()
            });
            Ok(hashes
                .iter()
                .filter(|h| **h == self.bad)
                .map(|h| (h.clone(), vec![hit.clone()]))
                .collect())
        }
    }

    fn hashes(n: usize) -> Vec<LookupKey> {
        (0..n)
            .map(|i| {
                crate::records::FileHash::parse(&format!("{i:032x}"))
                    .unwrap()
                    .into()
            })
            .collect()
    }

    fn fake(fail: bool, delay: Duration) -> Arc<Fake> {
        failing(if fail { usize::MAX } else { 0 }, delay)
    }

    fn failing(failures: usize, delay: Duration) -> Arc<Fake> {
        Arc::new(Fake {
            bad: hashes(1)[0].clone(),
            calls: AtomicUsize::new(0),
            failures: AtomicUsize::new(failures),
            delay,
        })
    }

    #[tokio::test]
    async fn cached_verdicts_are_read_by_place_and_a_key_given_twice_at_both() {
        let src = fake(false, Duration::ZERO);
        let r = Resolver::new(src.clone(), LookupSettings::default());
        let keys = hashes(3);
        r.resolve(&keys).await;
        let twice = vec![keys[0].clone(), keys[1].clone(), keys[0].clone()];
        let res = r.resolve(&twice).await;
        assert_eq!(
            (res.cache_hits, res.requests),
            (3, 0),
            "a place answered from the cache is a cache hit"
        );
        assert!(res.verdicts.is_empty(), "nothing was asked");
        let len = |place: usize| res.verdict(place, &twice[place]).map(|v| v.len());
        assert_eq!((len(0), len(1), len(2)), (Some(1), Some(0), Some(1)));
        assert_eq!(res.answered(), 3);
        assert_eq!(
            res.verdict_of(&twice, &keys[2]),
            None,
            "not among those resolved"
        );
    }

    #[tokio::test]
    async fn a_key_not_cached_given_twice_is_asked_once_and_answered_at_both_places() {
        let src = fake(false, Duration::ZERO);
        let r = Resolver::new(src.clone(), LookupSettings::default());
        let bad = hashes(1)[0].clone();
        let twice = vec![bad.clone(), hashes(2)[1].clone(), bad.clone()];
        let res = r.resolve(&twice).await;
        assert_eq!(src.calls.load(Ordering::SeqCst), 1, "one chunk of two keys");
        assert_eq!(res.verdicts.len(), 2, "each key asked once");
        let len = |place: usize| res.verdict(place, &twice[place]).map(|v| v.len());
        assert_eq!((len(0), len(1), len(2)), (Some(1), Some(0), Some(1)));
        assert!(res.unanswered.is_empty());
    }

    #[tokio::test]
    async fn chunks_then_serves_hits_and_misses_from_the_cache() {
        let src = fake(false, Duration::ZERO);
        let r = Resolver::new(src.clone(), LookupSettings::default());
        let first = r.resolve(&hashes(5)).await;
        assert_eq!(first.requests, 3, "5 hashes in chunks of 2");
        assert_eq!(first.verdicts.len(), 5);
        assert_eq!(first.verdicts[&hashes(1)[0]].len(), 1);
        let second = r.resolve(&hashes(5)).await;
        assert_eq!((second.requests, second.cache_hits), (0, 5));
        assert_eq!(src.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_zero_miss_lifetime_caches_only_hits() {
        let src = fake(false, Duration::ZERO);
        let settings = LookupSettings {
            miss_ttl: Duration::ZERO,
            ..LookupSettings::default()
        };
        let r = Resolver::new(src, settings);
        r.resolve(&hashes(3)).await;
        let again = r.resolve(&hashes(3)).await;
        assert_eq!(again.cache_hits, 1);
        assert_eq!(again.requests, 1);
    }

    #[tokio::test]
    async fn entries_expire_after_their_lifetime() {
        let src = fake(false, Duration::ZERO);
        let settings = LookupSettings {
            miss_ttl: Duration::from_millis(100),
            ..LookupSettings::default()
        };
        let r = Resolver::new(src, settings);
        r.resolve(&hashes(2)).await;
        // moka keeps its own clock, which tokio's paused time does not move: this waits for real,
        // past the (short) miss lifetime.
        std::thread::sleep(Duration::from_millis(150));
        let again = r.resolve(&hashes(2)).await;
        assert_eq!(again.cache_hits, 1, "the hit stays, the miss expired");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_lookups_of_the_same_hashes_share_one_request() {
        let src = fake(false, Duration::from_millis(200));
        let r = Arc::new(Resolver::new(src.clone(), LookupSettings::default()));
        let asked = hashes(2);
        let (a, b) = tokio::join!(r.resolve(&asked), r.resolve(&asked));
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
        assert_eq!(a.requests + b.requests, 1);
        assert_eq!(a.shared + b.shared, 2);
        assert_eq!(a.verdicts.len() + b.verdicts.len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_passing_failure_is_retried_inside_the_invocation() {
        let src = failing(1, Duration::ZERO);
        let r = Resolver::new(src.clone(), LookupSettings::default());
        let res = r.resolve(&hashes(1)).await;
        assert!(res.unanswered.is_empty());
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_down_source_opens_the_breaker_and_a_batch_whose_deadline_ends_first_fails_at_once() {
        let src = fake(true, Duration::ZERO);
        let settings = LookupSettings {
            breaker: crate::intel::policy::BreakerSettings {
                failures: 2,
                cooldown: Duration::from_secs(30),
            },
            ..LookupSettings::default()
        };
        let r = Resolver::new(src.clone(), settings);
        let first = r
            .resolve_until(&hashes(1), Instant::now() + Duration::from_secs(10))
            .await;
        let calls = src.calls.load(Ordering::SeqCst);
        assert_eq!(calls, 2, "the second failure opened the breaker");
        match &first.unanswered[&hashes(1)[0]] {
            IntelError::CircuitOpen { last, .. } => assert_eq!(**last, IntelError::Server(502)),
            other => panic!("{other:?}"),
        }
        let started = Instant::now();
        let res = r
            .resolve_until(&hashes(1), Instant::now() + Duration::from_secs(10))
            .await;
        assert!(matches!(
            res.unanswered[&hashes(1)[0]],
            IntelError::CircuitOpen { .. }
        ));
        assert_eq!(started.elapsed(), Duration::ZERO, "failed at once");
        assert_eq!(
            src.calls.load(Ordering::SeqCst),
            calls,
            "no request while open"
        );
        // A batch with the whole default deadline waits for the probe, which asks again.
        r.resolve(&hashes(1)).await;
        assert!(src.calls.load(Ordering::SeqCst) > calls);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_whose_owner_is_cancelled_asks_the_source_itself() {
        let src = fake(false, Duration::from_secs(3));
        let r = Arc::new(Resolver::new(src.clone(), LookupSettings::default()));
        let asked = hashes(2);
        let owner = tokio::spawn({
            let (r, asked) = (r.clone(), asked.clone());
            async move { r.resolve(&asked).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let waiter = tokio::spawn({
            let (r, asked) = (r.clone(), asked.clone());
            async move { r.resolve(&asked).await }
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        owner.abort();
        let res = waiter.await.unwrap();
        assert!(res.unanswered.is_empty(), "{:?}", res.unanswered);
        assert_eq!(res.verdicts.len(), 2);
        assert_eq!(
            src.calls.load(Ordering::SeqCst),
            2,
            "the owner's and its own"
        );
        assert_eq!(res.requests, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_and_the_deadline_leave_hashes_unanswered_and_uncached() {
        let src = fake(true, Duration::ZERO);
        // A breaker that never opens here, so that every attempt reaches the source.
        let settings = LookupSettings {
            breaker: crate::intel::policy::BreakerSettings {
                failures: 100,
                cooldown: Duration::from_secs(60),
            },
            ..LookupSettings::default()
        };
        let r = Resolver::new(src.clone(), settings);
        let res = r.resolve(&hashes(3)).await;
        assert_eq!(res.unanswered.len(), 3);
        assert!(
            res.unanswered
                .values()
                .all(|e| *e == IntelError::Server(502)),
            "{:?}",
            res.unanswered
        );
        assert_eq!(
            src.calls.load(Ordering::SeqCst),
            6,
            "two chunks, three attempts each"
        );
        assert_eq!(r.resolve(&hashes(3)).await.cache_hits, 0);

        let slow = Resolver::new(
            fake(false, Duration::from_secs(5)),
            LookupSettings::default(),
        );
        let res = slow
            .resolve_until(
                &hashes(2),
                tokio::time::Instant::now() + Duration::from_millis(50),
            )
            .await;
        assert_eq!(res.unanswered.len(), 2);
        assert!(
            res.unanswered
                .values()
                .all(|e| matches!(e, IntelError::Deadline { .. })),
            "{:?}",
            res.unanswered
        );
        assert!(slow.inflight.is_empty(), "no abandoned in-flight entries");
    }
}
