//! The fault policy of every MISP request, as declared data: [`RetryPolicy`] (bounded attempts
//! with jittered exponential backoff, a `Retry-After` waited out when it ends before the deadline,
//! never past it), run by [`RetryPolicy::run`] for lookups, snapshot pages and sightings alike;
//! in front of lookups, the [`CircuitBreaker`] (see [`super::breaker`]): each attempt waits for
//! its admission, within the deadline, and tells it how the request went.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::IntelError;
pub use super::breaker::{BreakerSettings, CircuitBreaker};
use crate::settings::vars;

/// The first backoff, before jitter; it doubles with each attempt.
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// The longest backoff, and the longest `Retry-After` waited out by a request without a deadline.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Attempts per chunk, backoff bounds, and the longest wait taken without a deadline.
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

    /// Runs `op` until it succeeds or the policy gives up: after [`Self::attempts`] requests, on
    /// a failure that cannot pass by trying again ([`retryable`]), or when the wait (the server's
    /// `Retry-After`, else [`Self::backoff`]) would end past `deadline` (without one: when it is
    /// longer than [`Self::max_delay`]). With a breaker, every attempt first waits for its
    /// admission ([`CircuitBreaker::admit`]), which does not count as an attempt, and reports
    /// its outcome to it. `op` says how many remote requests it made; the total is returned with
    /// the result. `what` names the request in the log line of each retry.
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
            let permit = match breaker {
                Some(b) => match b.admit(deadline).await {
                    Ok(p) => Some(p),
                    Err(e) => return (Err(e), requests),
                },
                None => None,
            };
            let (result, made) = op().await;
            requests += made;
            let e = match result {
                Ok(value) => {
                    if let Some(p) = permit {
                        p.success();
                    }
                    return (Ok(value), requests);
                }
                // Not a fault of the server: the snapshot is still loading.
                Err(e @ IntelError::SnapshotLoading) => return (Err(e), requests),
                Err(e) => e,
            };
            if let Some(p) = permit {
                p.failure(&e);
            }
            attempt += 1;
            let wait = match &e {
                IntelError::RateLimited {
                    retry_after: Some(d),
                } => *d,
                _ => self.backoff(attempt - 1),
            };
            let in_time = match deadline {
                Some(d) => Instant::now() + wait < d,
                None => wait <= self.max_delay,
            };
            if attempt >= self.attempts || !retryable(&e) {
                return (Err(e), requests);
            }
            if !in_time {
                // Say so when it is the server that asked for the longer wait.
                let e = match e {
                    IntelError::RateLimited { .. } if deadline.is_some() => {
                        IntelError::CircuitOpen {
                            retry_in: wait,
                            last: Box::new(e),
                        }
                    }
                    e => e,
                };
                return (Err(e), requests);
            }
            tracing::info!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "retrying {what}");
            // A rate limit opened the breaker for its Retry-After: the admission waits for it.
            let rate_limited = matches!(e, IntelError::RateLimited { .. });
            if !(rate_limited && breaker.is_some()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Whether trying the same request again may succeed.
pub fn retryable(e: &IntelError) -> bool {
    !matches!(
        e,
        IntelError::Unauthorized(_)
            | IntelError::CircuitOpen { .. }
            | IntelError::Deadline { .. }
            | IntelError::Abandoned
    )
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
    async fn a_retry_after_that_ends_before_the_deadline_is_waited_out_and_a_later_one_is_not() {
        let p = RetryPolicy::default();
        let b = CircuitBreaker::new(BreakerSettings::default());
        for (retry_after, answered) in [(30, true), (90, false)] {
            let calls = std::sync::atomic::AtomicUsize::new(0);
            let started = Instant::now();
            let deadline = started + Duration::from_secs(60);
            let (result, requests) = p
                .run("test", Some(deadline), Some(&b), || {
                    let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async move {
                        if n == 0 {
                            let retry_after = Some(Duration::from_secs(retry_after));
                            (Err(IntelError::RateLimited { retry_after }), 1)
                        } else {
                            (Ok(()), 1)
                        }
                    }
                })
                .await;
            assert_eq!(
                result.is_ok(),
                answered,
                "Retry-After {retry_after}: {result:?}"
            );
            assert_eq!(requests, if answered { 2 } else { 1 });
            let waited = started.elapsed();
            if answered {
                assert_eq!(waited, Duration::from_secs(retry_after));
            } else {
                assert_eq!(waited, Duration::ZERO, "no point waiting past the deadline");
            }
        }
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        assert!(retryable(&IntelError::Server(502)));
        assert!(retryable(&IntelError::Timeout(Duration::from_secs(1))));
        assert!(!retryable(&IntelError::Unauthorized(403)));
    }
}
