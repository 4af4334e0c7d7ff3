//! Sliding-window call budgets, declared as data: a budget is a list of [`Window`]s ("at most
//! N calls in any D"), and a call is allowed only when every window has room. A `Retry-After`
//! from the server pauses the whole budget. Process-wide: one [`Budget`] per API, shared by all
//! invocations; the lock is never held across an `.await`. [`admit_at`] is the same rule over
//! times in milliseconds, for the budgets Table storage shares between instances
//! (`super::ledger`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `calls` calls in any period of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub calls: u32,
    pub per: Duration,
}

impl Window {
    pub const fn per_minute(calls: u32) -> Self {
        Self {
            calls,
            per: Duration::from_secs(60),
        }
    }

    pub const fn per_hour(calls: u32) -> Self {
        Self {
            calls,
            per: Duration::from_secs(3600),
        }
    }
}

/// POST /api/indicators: Defender allows 100 a minute and 1,500 an hour.
pub const INDICATOR_WINDOWS: [Window; 2] = [Window::per_minute(95), Window::per_hour(1450)];
/// MISP documents no limit; stay polite.
pub const SIGHTING_WINDOWS: [Window; 1] = [Window::per_minute(300)];
/// The Logs Ingestion API allows far more; this only bounds a runaway.
pub const SENTINEL_WINDOWS: [Window; 1] = [Window::per_minute(600)];

/// Why a call may not go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The window is full; room again in this long.
    Spent(Duration),
    /// The server said `Retry-After`; calls resume in this long.
    Paused(Duration),
}

impl Denied {
    pub fn wait(self) -> Duration {
        match self {
            Denied::Spent(d) | Denied::Paused(d) => d,
        }
    }
}

#[derive(Debug)]
struct State {
    calls: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// A process-wide call budget.
#[derive(Debug)]
pub struct Budget {
    name: &'static str,
    windows: Vec<Window>,
    state: Mutex<State>,
}

impl Budget {
    pub fn new(name: &'static str, windows: &[Window]) -> Self {
        Self {
            name,
            windows: windows.to_vec(),
            state: Mutex::new(State {
                calls: VecDeque::new(),
                paused_until: None,
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes one call from the budget now, or says how long until one is free.
    pub fn try_take(&self) -> Result<(), Denied> {
        self.try_take_at(Instant::now())
    }

    pub fn try_take_at(&self, now: Instant) -> Result<(), Denied> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = s.paused_until {
            if until > now {
                return Err(Denied::Paused(until - now));
            }
            s.paused_until = None;
        }
        let longest = self.windows.iter().map(|w| w.per).max().unwrap_or_default();
        while s
            .calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            s.calls.pop_front();
        }
        for w in &self.windows {
            let in_window: Vec<&Instant> = s
                .calls
                .iter()
                .filter(|t| now.duration_since(**t) < w.per)
                .collect();
            if in_window.len() >= w.calls as usize {
                // Room comes back when the oldest call that keeps the window full leaves it.
                let idx = in_window.len() - w.calls as usize;
                let free_at = *in_window[idx] + w.per;
                return Err(Denied::Spent(free_at - now));
            }
        }
        s.calls.push_back(now);
        Ok(())
    }

    /// Stops every call for `wait` (a server's `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        self.pause_at(Instant::now(), wait);
    }

    pub fn pause_at(&self, now: Instant, wait: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = now + wait;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
    }
}

/// The same rule over times in milliseconds (the Table-storage budget, shared by instances):
/// takes one call at `now` into `calls` (dropping those older than the longest window), or says
/// how long until one is free. `paused_until` is a server's `Retry-After`, in milliseconds.
pub fn admit_at(
    calls: &mut Vec<u64>,
    paused_until: u64,
    windows: &[Window],
    now: u64,
) -> Result<(), Denied> {
    if paused_until > now {
        return Err(Denied::Paused(Duration::from_millis(paused_until - now)));
    }
    let ms = |d: Duration| d.as_millis() as u64;
    let longest = windows.iter().map(|w| ms(w.per)).max().unwrap_or(0);
    // A call stamped ahead of this clock (another instance's) counts as just made.
    calls.retain(|t| now.saturating_sub(*t) < longest);
    calls.sort_unstable();
    for w in windows {
        let in_window: Vec<u64> = calls
            .iter()
            .copied()
            .filter(|t| now.saturating_sub(*t) < ms(w.per))
            .collect();
        if in_window.len() >= w.calls as usize {
            let idx = in_window.len() - w.calls as usize;
            return Err(Denied::Spent(Duration::from_millis(
                in_window[idx] + ms(w.per) - now,
            )));
        }
    }
    calls.push(now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_window_allows_its_count_then_frees_a_slot_when_the_oldest_call_ages_out() {
        let b = Budget::new("t", &[Window::per_minute(3)]);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(b.try_take_at(t0 + i * 10 * S), Ok(()));
        }
        assert_eq!(b.try_take_at(t0 + 30 * S), Err(Denied::Spent(30 * S)));
        assert_eq!(b.try_take_at(t0 + 59 * S), Err(Denied::Spent(S)));
        assert_eq!(b.try_take_at(t0 + 60 * S), Ok(()));
        assert_eq!(b.try_take_at(t0 + 61 * S), Err(Denied::Spent(9 * S)));
    }

    #[test]
    fn every_window_must_have_room() {
        let b = Budget::new("t", &[Window::per_minute(2), Window::per_hour(3)]);
        let t0 = Instant::now();
        assert!(b.try_take_at(t0).is_ok());
        assert!(b.try_take_at(t0).is_ok());
        assert!(b.try_take_at(t0 + 61 * S).is_ok());
        // The minute window has room; the hour window does not, until t0 + 1 h.
        assert_eq!(
            b.try_take_at(t0 + 122 * S),
            Err(Denied::Spent(3600 * S - 122 * S))
        );
    }

    #[test]
    fn the_millisecond_rule_is_the_same_rule() {
        let w = [Window::per_minute(3)];
        let mut calls = Vec::new();
        for i in 0..3 {
            assert_eq!(admit_at(&mut calls, 0, &w, i * 10_000), Ok(()));
        }
        assert_eq!(
            admit_at(&mut calls, 0, &w, 30_000),
            Err(Denied::Spent(30 * S))
        );
        assert_eq!(admit_at(&mut calls, 0, &w, 60_000), Ok(()));
        assert_eq!(calls, [10_000, 20_000, 60_000], "the oldest aged out");
        assert_eq!(
            admit_at(&mut calls, 90_000, &w, 70_000),
            Err(Denied::Paused(20 * S))
        );
    }

    #[test]
    fn retry_after_pauses_the_budget_even_with_room_left() {
        let b = Budget::new("t", &[Window::per_minute(10)]);
        let t0 = Instant::now();
        b.pause_at(t0, 30 * S);
        assert_eq!(b.try_take_at(t0 + 10 * S), Err(Denied::Paused(20 * S)));
        assert_eq!(b.try_take_at(t0 + 30 * S), Ok(()));
    }
}
