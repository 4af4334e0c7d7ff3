//! The fault policy of every MISP request, as declared data: [`RetryPolicy`] (bounded attempts
//! with jittered exponential backoff, a `Retry-After` up to the longest backoff waited out, never
//! past a deadline), run by [`RetryPolicy::run`] for lookups, snapshot pages and sightings alike;
//! and, in front of lookups, [`CircuitBreaker`] (after repeated failures, or a 429 with
//! `Retry-After`, every lookup fails at once until the cool-down ends, so a down MISP fails
//! batches fast instead of stacking timeouts).

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::IntelError;
use crate::settings::vars;

/// The first backoff, before jitter; it doubles with each attempt.
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// The longest backoff, and the longest `Retry-After` waited out inside an invocation.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Attempts per chunk, backoff bounds, and the longest wait taken inside an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: vars::MISP_RETRY_ATTEMPTS.default,
            base_delay: BACKOFF_BASE,
            max_delay: BACKOFF_MAX,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (0-based `attempt` just failed): exponential with
    /// full jitter, at least a tenth of the nominal delay.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let nominal = self
            .base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay);
        let floor = nominal / 10;
        let jitter = rand::rng().random_range(0.0..=1.0);
        floor + (nominal - floor).mul_f64(jitter)
    }

    /// Runs `op` until it succeeds or the policy gives up: after [`Self::attempts`] attempts, on
    /// a failure that cannot pass by trying again ([`retryable`]), when the wait (the server's
    /// `Retry-After`, else [`Self::backoff`]) is longer than [`Self::max_delay`] or would end
    /// past `deadline`. With a breaker, every attempt is checked against it and counted by it.
    /// `op` says how many remote requests it made; the total is returned with the result.
    /// `what` names the request in the log line of each retry.
    pub async fn run<T, Fut>(
        &self,
        what: &'static str,
        deadline: Option<Instant>,
        breaker: Option<&CircuitBreaker>,
        mut op: impl FnMut() -> Fut,
    ) -> (Result<T, IntelError>, usize)
    where
        Fut: Future<Output = (Result<T, IntelError>, usize)>,
    {
        let mut attempt = 0;
        let mut requests = 0;
        loop {
            if let Some(Err(open)) = breaker.map(CircuitBreaker::check) {
                return (Err(open), requests);
            }
            let (result, made) = op().await;
            requests += made;
            let e = match result {
                Ok(value) => {
                    if let Some(b) = breaker {
                        b.record_success();
                    }
                    return (Ok(value), requests);
                }
                // Not a fault of the server: the snapshot is still loading.
                Err(e @ IntelError::SnapshotLoading) => return (Err(e), requests),
                Err(e) => e,
            };
            if let Some(b) = breaker {
                b.record_failure(&e);
            }
            attempt += 1;
            let wait = match &e {
                IntelError::RateLimited {
                    retry_after: Some(d),
                } => *d,
                _ => self.backoff(attempt - 1),
            };
            let in_time = deadline.is_none_or(|d| Instant::now() + wait < d);
            if attempt >= self.attempts || !retryable(&e) || !in_time || wait > self.max_delay {
                return (Err(e), requests);
            }
            tracing::info!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "retrying {what}");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Whether trying the same request again may succeed.
pub fn retryable(e: &IntelError) -> bool {
    !matches!(
        e,
        IntelError::Unauthorized(_)
            | IntelError::CircuitOpen { .. }
            | IntelError::Deadline(_)
            | IntelError::Abandoned
    )
}

/// Consecutive failures that open the breaker, and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: vars::MISP_BREAKER_FAILURES.default,
            cooldown: vars::MISP_BREAKER_COOLDOWN_SECS.default(),
        }
    }
}

#[derive(Debug, Default)]
struct BreakerState {
    consecutive: u32,
    open_until: Option<Instant>,
}

/// A process-wide circuit breaker. Closed: requests pass. Open: they fail at once. When the
/// cool-down ends, requests pass again; one more failure re-opens it.
#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: Mutex<BreakerState>,
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err` while open, with the time left.
    pub fn check(&self) -> Result<(), IntelError> {
        match self.lock().open_until {
            Some(until) if until > Instant::now() => Err(IntelError::CircuitOpen {
                retry_in: until - Instant::now(),
            }),
            _ => Ok(()),
        }
    }

    pub fn record_success(&self) {
        let mut s = self.lock();
        s.consecutive = 0;
        s.open_until = None;
    }

    /// Counts a failure; a rate limit opens the breaker for its `Retry-After` at once.
    pub fn record_failure(&self, e: &IntelError) {
        let mut s = self.lock();
        s.consecutive += 1;
        let open_for = match e {
            IntelError::RateLimited { retry_after } => {
                Some(retry_after.unwrap_or(self.settings.cooldown))
            }
            _ if s.consecutive >= self.settings.failures => Some(self.settings.cooldown),
            _ => None,
        };
        if let Some(d) = open_for {
            let until = Instant::now() + d;
            if s.open_until.is_none_or(|u| u < until) {
                tracing::warn!(seconds = d.as_secs(), error = %e, "threat intel circuit opened");
                s.open_until = Some(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_stays_bounded_and_is_jittered() {
        let p = RetryPolicy::default();
        for attempt in 0..20 {
            let d = p.backoff(attempt);
            assert!(d <= p.max_delay);
            assert!(
                d >= p
                    .base_delay
                    .saturating_mul(1 << attempt.min(16))
                    .min(p.max_delay)
                    / 10
            );
        }
        let samples: std::collections::HashSet<Duration> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(samples.len() > 1, "jittered");
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_after_repeated_failures_and_closes_after_the_cooldown() {
        let b = CircuitBreaker::new(BreakerSettings {
            failures: 3,
            cooldown: Duration::from_millis(100),
        });
        for _ in 0..2 {
            b.record_failure(&IntelError::Server(500));
        }
        assert!(b.check().is_ok());
        b.record_failure(&IntelError::Server(500));
        assert!(matches!(b.check(), Err(IntelError::CircuitOpen { .. })));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(b.check().is_ok());
        b.record_success();
        b.record_failure(&IntelError::Server(500));
        assert!(b.check().is_ok(), "a success reset the count");
    }

    #[test]
    fn a_rate_limit_opens_the_breaker_for_its_retry_after() {
        let b = CircuitBreaker::new(BreakerSettings::default());
        b.record_failure(&IntelError::RateLimited {
            retry_after: Some(Duration::from_secs(120)),
        });
        match b.check() {
            Err(IntelError::CircuitOpen { retry_in }) => {
                assert!(retry_in > Duration::from_secs(100))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        assert!(retryable(&IntelError::Server(502)));
        assert!(retryable(&IntelError::Timeout(Duration::from_secs(1))));
        assert!(!retryable(&IntelError::Unauthorized(403)));
    }
}
