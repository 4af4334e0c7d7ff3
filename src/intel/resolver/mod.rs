//! [`Resolver`]: the verdict cache, chunking, in-flight sharing and the deadline in front of a
//! [`ThreatIntel`] source.
//!
//! Hits and misses are cached with separate lifetimes (a lifetime of zero turns that side off;
//! `cache`). A hash already being looked up by another invocation is not asked again: the
//! second one waits for the first one's answer (`inflight`). Chunks run concurrently, each
//! under the retry policy and the breaker, and the whole lookup of an invocation ends by its
//! deadline; whatever was not answered by then is reported as unanswered, with why.

mod cache;
mod inflight;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use self::cache::VerdictCache;
use self::inflight::{Answer, Claim, Inflight};
use super::config::LookupSettings;
use super::policy::CircuitBreaker;
use super::{IntelError, IntelHit, ThreatIntel, Verdict};
use crate::records::{FileHash, Seeded};

/// Chunks of one invocation in flight to the source at once.
pub const CHUNK_CONCURRENCY: usize = 4;

/// The answer to one invocation's lookup.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Hashes answered, with their verdicts (empty verdict: a miss).
    pub verdicts: HashMap<FileHash, Verdict, Seeded>,
    /// Hashes not answered, with why.
    pub unanswered: HashMap<FileHash, IntelError, Seeded>,
    /// Hashes answered from the cache.
    pub cache_hits: usize,
    /// Requests made to the source's remote server (MISP).
    pub requests: usize,
    /// Hashes answered by another invocation's request.
    pub shared: usize,
}

/// A cached, deduplicating front for a threat-intel source.
pub struct Resolver {
    source: Arc<dyn ThreatIntel>,
    cache: VerdictCache,
    settings: LookupSettings,
    inflight: Inflight,
    breaker: CircuitBreaker,
}

/// The hashes this invocation asks the source about, each with the channel its waiters read.
type Owned = Vec<(FileHash, watch::Sender<Answer>)>;
/// The hashes another invocation is asking about, each with the channel to wait on.
type Waiting = Vec<(FileHash, watch::Receiver<Answer>)>;

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
        hashes: &[FileHash],
        deadline: Instant,
    ) -> (Result<HashMap<FileHash, Vec<IntelHit>>, IntelError>, usize) {
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
    pub async fn resolve(&self, hashes: &[FileHash]) -> Resolution {
        self.resolve_until(hashes, Instant::now() + self.settings.deadline)
            .await
    }

    #[tracing::instrument(skip_all, fields(hashes = hashes.len()))]
    pub async fn resolve_until(&self, hashes: &[FileHash], deadline: Instant) -> Resolution {
        let mut out = Resolution::default();
        let (owned, waiting) = self.sort(hashes, &mut out).await;
        // However this ends (answered, failed, or dropped at the deadline), this invocation's
        // in-flight entries go, so later invocations never wait on an abandoned request.
        let _guard = self
            .inflight
            .guard(owned.iter().map(|(h, _)| h.clone()).collect());
        let work = async {
            self.ask(owned, deadline, &mut out).await;
            inflight::wait_for(waiting, &mut out).await;
        };
        if tokio::time::timeout_at(deadline, work).await.is_err() {
            let why = IntelError::Deadline(self.settings.deadline);
            for hash in hashes {
                if !out.verdicts.contains_key(hash) {
                    out.unanswered
                        .entry(hash.clone())
                        .or_insert_with(|| why.clone());
                }
            }
        }
        out
    }

    /// Answers what needs no request (the source's known misses, the cache) into `out`, and
    /// claims the rest: the hashes this invocation asks about, and those it waits for.
    async fn sort(&self, hashes: &[FileHash], out: &mut Resolution) -> (Owned, Waiting) {
        let mut owned = Owned::new();
        let mut waiting = Waiting::new();
        let known_misses = self.source.known_misses(hashes);
        for (i, hash) in hashes.iter().enumerate() {
            if out.verdicts.contains_key(hash) || out.unanswered.contains_key(hash) {
                continue;
            }
            if known_misses
                .as_ref()
                .is_some_and(|m| m.get(i) == Some(&true))
            {
                out.verdicts.insert(hash.clone(), Verdict::default());
                continue;
            }
            if let Some(v) = self.cache.get(hash).await {
                out.cache_hits += 1;
                out.verdicts.insert(hash.clone(), v);
                continue;
            }
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
                let hashes: Vec<FileHash> = chunk.iter().map(|(h, _)| h.clone()).collect();
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
        bad: FileHash,
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
        async fn lookup(
            &self,
            hashes: &[FileHash],
        ) -> Result<HashMap<FileHash, Vec<IntelHit>>, IntelError> {
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

    fn hashes(n: usize) -> Vec<FileHash> {
        (0..n)
            .map(|i| FileHash::parse(&format!("{i:032x}")).unwrap())
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
    async fn a_down_source_opens_the_breaker_and_later_batches_fail_fast() {
        let src = fake(true, Duration::ZERO);
        let settings = LookupSettings {
            breaker: crate::intel::policy::BreakerSettings {
                failures: 2,
                cooldown: Duration::from_secs(60),
            },
            ..LookupSettings::default()
        };
        let r = Resolver::new(src.clone(), settings);
        r.resolve(&hashes(1)).await;
        let calls = src.calls.load(Ordering::SeqCst);
        assert_eq!(calls, 2, "the second failure opened the breaker");
        let res = r.resolve(&hashes(1)).await;
        assert!(matches!(
            res.unanswered[&hashes(1)[0]],
            IntelError::CircuitOpen { .. }
        ));
        assert_eq!(
            src.calls.load(Ordering::SeqCst),
            calls,
            "no request while open"
        );
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
                .all(|e| matches!(e, IntelError::Deadline(_))),
            "{:?}",
            res.unanswered
        );
        assert!(slow.inflight.is_empty(), "no abandoned in-flight entries");
    }
}
