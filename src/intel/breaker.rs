//! The process-wide circuit breaker in front of MISP lookups, with the invocation's deadline as
//! the budget of whoever waits on it.
//!
//! Closed, every request passes. After `MISP_BREAKER_FAILURES` consecutive failures, or at once on
//! a 429, it opens: no request passes until the cool-down (`MISP_BREAKER_COOLDOWN_SECS`, or the
//! 429's `Retry-After`) ends. Then it is half open: one request, the probe, tests MISP while the
//! others wait for its outcome; a success closes the breaker, a failure opens it again. A request
//! that would have to wait past its deadline fails at once, saying what MISP last did (so a batch
//! on its last attempt is dead-lettered with that reason, and one with retries left goes back to
//! the host); so does every request while MISP refuses the key, which no waiting mends.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::IntelError;
use crate::settings::vars;

/// Consecutive failures that open the breaker, and how long it stays open before a probe.
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
struct State {
    consecutive: u32,
    /// Open until then; `None`: closed.
    open_until: Option<Instant>,
    /// A probe is in flight (the breaker is half open).
    probing: bool,
    /// What MISP last did wrong, while failures are counted.
    last: Option<IntelError>,
}

/// A process-wide circuit breaker with half-open probes; see the module documentation.
#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: Mutex<State>,
    /// Bumped on every change of state, so waiters wake when a probe ends.
    changed: watch::Sender<u64>,
}

/// Leave to send one request; tell the breaker how it went. Dropped without an outcome (the
/// request was cancelled), it lets the next waiter probe.
#[must_use]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    done: bool,
}

/// What a waiter does next.
enum Next {
    Go(bool),
    Wait(Option<Instant>),
    Refuse(IntelError),
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::default(),
            changed: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What MISP last did wrong, while the breaker counts failures.
    pub fn last_failure(&self) -> Option<IntelError> {
        self.lock().last.clone()
    }

    /// Whether the breaker is open now (for tests and logs).
    pub fn is_open(&self) -> bool {
        self.lock().open_until.is_some()
    }

    fn next(&self, deadline: Option<Instant>) -> Next {
        let mut s = self.lock();
        let Some(until) = s.open_until else {
            return Next::Go(false);
        };
        let now = Instant::now();
        if until <= now && !s.probing {
            s.probing = true;
            return Next::Go(true);
        }
        // No waiting mends a refused key: fail at once until the next probe says otherwise.
        if let Some(e @ IntelError::Unauthorized(_)) = &s.last {
            return Next::Refuse(e.clone());
        }
        // A probe in flight ends by itself (and wakes the waiters); only a cool-down that ends
        // past the deadline is a reason to give up now.
        let wake = (until > now).then_some(until);
        if let (Some(wake), Some(deadline)) = (wake, deadline)
            && wake >= deadline
        {
            let last = s.last.clone().unwrap_or(IntelError::Abandoned);
            return Next::Refuse(IntelError::CircuitOpen {
                retry_in: wake - now,
                last: Box::new(last),
            });
        }
        Next::Wait(wake)
    }

    /// Waits until a request may go (never past `deadline`): at once while closed; after the
    /// cool-down, as the probe or once the probe succeeded. `Err` when waiting cannot help.
    pub async fn admit(&self, deadline: Option<Instant>) -> Result<Permit<'_>, IntelError> {
        loop {
            let mut changed = self.changed.subscribe();
            match self.next(deadline) {
                Next::Go(probe) => {
                    return Ok(Permit {
                        breaker: self,
                        probe,
                        done: false,
                    });
                }
                Next::Refuse(e) => return Err(e),
                Next::Wait(wake) => {
                    let sleep = async {
                        match wake {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = sleep => {}
                        _ = changed.changed() => {}
                    }
                }
            }
        }
    }

    fn succeeded(&self) {
        let mut s = self.lock();
        if s.open_until.is_some() {
            tracing::info!("threat intel circuit closed: MISP answered");
        }
        *s = State::default();
        drop(s);
        self.bump();
    }

    /// Counts a failure: a rate limit opens the breaker for its `Retry-After`, a failed probe
    /// or the last of `failures` consecutive ones for the cool-down.
    fn failed(&self, e: &IntelError, probe: bool) {
        let mut s = self.lock();
        s.consecutive = s.consecutive.saturating_add(1);
        if probe {
            s.probing = false;
        }
        let open_for = match e {
            IntelError::RateLimited { retry_after } => {
                Some(retry_after.unwrap_or(self.settings.cooldown))
            }
            _ if probe || s.consecutive >= self.settings.failures => Some(self.settings.cooldown),
            _ => None,
        };
        s.last = Some(e.clone());
        if let Some(d) = open_for {
            let until = Instant::now() + d;
            if s.open_until.is_none() {
                tracing::warn!(seconds = d.as_secs_f64(), error = %e, "threat intel circuit opened");
            }
            if s.open_until.is_none_or(|u| u < until) || probe {
                s.open_until = Some(until);
            }
        }
        drop(s);
        self.bump();
    }

    fn abandoned(&self, probe: bool) {
        if probe {
            self.lock().probing = false;
            self.bump();
        }
    }
}

impl Permit<'_> {
    pub fn success(mut self) {
        self.done = true;
        self.breaker.succeeded();
    }

    pub fn failure(mut self, e: &IntelError) {
        self.done = true;
        self.breaker.failed(e, self.probe);
    }

    /// Whether this request is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.abandoned(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn breaker(failures: u32, cooldown: Duration) -> CircuitBreaker {
        CircuitBreaker::new(BreakerSettings { failures, cooldown })
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_failures_open_it_and_one_probe_after_the_cooldown_closes_it() {
        let b = breaker(3, S);
        for _ in 0..3 {
            b.admit(None)
                .await
                .unwrap()
                .failure(&IntelError::Server(500));
        }
        assert!(b.is_open());
        let started = Instant::now();
        let probe = b.admit(None).await.unwrap();
        assert!(probe.is_probe());
        assert_eq!(started.elapsed(), S, "the probe waited for the cool-down");
        // A second request waits for the probe's outcome, not for another cool-down.
        let waiter = async {
            let p = b.admit(None).await.unwrap();
            (p.is_probe(), Instant::now())
        };
        let prober = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            probe.success();
            Instant::now()
        };
        let ((probed, admitted), closed) = tokio::join!(waiter, prober);
        assert!(!probed, "closed again: an ordinary request");
        assert_eq!(admitted, closed);
        assert!(!b.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_it_again_and_a_cancelled_one_lets_the_next_waiter_probe() {
        let b = breaker(1, S);
        b.admit(None)
            .await
            .unwrap()
            .failure(&IntelError::Server(502));
        let probe = b.admit(None).await.unwrap();
        probe.failure(&IntelError::Unreachable("connection failed".into()));
        assert!(b.is_open());
        let t = Instant::now();
        let probe = b.admit(None).await.unwrap();
        assert_eq!(t.elapsed(), S);
        drop(probe);
        let next = b.admit(None).await.unwrap();
        assert!(next.is_probe(), "the cancelled probe's turn passed on");
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_opens_it_for_its_retry_after_and_a_deadline_before_that_fails_at_once() {
        let b = breaker(5, S);
        let limited = IntelError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        };
        b.admit(None).await.unwrap().failure(&limited);
        let deadline = Instant::now() + Duration::from_secs(20);
        match b.admit(Some(deadline)).await {
            Err(IntelError::CircuitOpen { retry_in, last }) => {
                assert_eq!(retry_in, Duration::from_secs(30));
                assert_eq!(*last, limited);
            }
            other => panic!("{other:?}"),
        }
        let t = Instant::now();
        let later = Instant::now() + Duration::from_secs(60);
        let probe = b.admit(Some(later)).await.unwrap();
        assert_eq!(t.elapsed(), Duration::from_secs(30), "waited it out");
        assert!(probe.is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_key_fails_every_request_at_once_while_open() {
        let b = breaker(1, Duration::from_secs(30));
        b.admit(None)
            .await
            .unwrap()
            .failure(&IntelError::Unauthorized(403));
        let t = Instant::now();
        assert_eq!(
            b.admit(None).await.unwrap_err(),
            IntelError::Unauthorized(403)
        );
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}
