//! What an action did with a match ([`Outcome`]), and the one log line per message that
//! gathers every action's outcome ([`Report`]). Deferred and failed outcomes make the message
//! come back; every other outcome acknowledges it.

use std::fmt;
use std::time::Duration;

use super::budget::{Budget, Denied};

/// Wait assumed when a 429 carries no `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What one action did with one match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The action is not configured.
    Off,
    Done,
    /// Already done for this match (or this device and hash) earlier: acknowledged.
    Duplicate,
    /// Not applicable to this match: acknowledged.
    Skipped(String),
    /// Given up on purpose and logged: acknowledged.
    Recorded(String),
    /// Must wait (budget, `Retry-After`, event not indexed yet): the message comes back later.
    Deferred(String),
    /// An error: the message comes back later, and after maxDequeueCount goes to poison.
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Off => f.write_str("off"),
            Outcome::Done => f.write_str("done"),
            Outcome::Duplicate => f.write_str("duplicate"),
            Outcome::Skipped(r) => write!(f, "skipped ({r})"),
            Outcome::Recorded(r) => write!(f, "recorded ({r})"),
            Outcome::Deferred(r) => write!(f, "deferred ({r})"),
            Outcome::Failed(r) => write!(f, "failed ({r})"),
        }
    }
}

pub(super) fn deferred(budget: &Budget, d: Denied) -> Outcome {
    let why = match d {
        Denied::Spent(_) => "budget spent",
        Denied::Paused(_) => "paused by Retry-After",
    };
    Outcome::Deferred(format!(
        "{} {why}, room in {} s",
        budget.name(),
        d.wait().as_secs().max(1)
    ))
}

pub(super) fn throttled(budget: &Budget, retry_after: Option<Duration>, who: &str) -> Outcome {
    let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
    budget.pause(wait);
    Outcome::Deferred(format!(
        "{who} throttled (429), Retry-After {} s honoured",
        wait.as_secs()
    ))
}

/// Every action's outcome for one match: the one log line.
#[derive(Debug, Clone)]
pub struct Report {
    pub match_id: String,
    pub alert: Outcome,
    pub indicator: Outcome,
    pub sighting: Outcome,
    pub sentinel: Outcome,
}

impl Report {
    fn all(&self) -> [&Outcome; 4] {
        [&self.alert, &self.indicator, &self.sighting, &self.sentinel]
    }
    pub fn any_failed(&self) -> bool {
        self.all().iter().any(|o| matches!(o, Outcome::Failed(_)))
    }
    pub fn any_deferred(&self) -> bool {
        self.all().iter().any(|o| matches!(o, Outcome::Deferred(_)))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RaiseAlerts match={} alert={} indicator={} sighting={} sentinel={}",
            self.match_id, self.alert, self.indicator, self.sighting, self.sentinel
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_every_action_and_only_deferred_or_failed_ask_for_a_retry() {
        let mut r = Report {
            match_id: "m1".into(),
            alert: Outcome::Done,
            indicator: Outcome::Off,
            sighting: Outcome::Duplicate,
            sentinel: Outcome::Recorded("why".into()),
        };
        assert_eq!(
            r.to_string(),
            "RaiseAlerts match=m1 alert=done indicator=off sighting=duplicate sentinel=recorded (why)"
        );
        assert!(!r.any_failed() && !r.any_deferred());
        r.sentinel = Outcome::Deferred("later".into());
        assert!(r.any_deferred() && !r.any_failed());
        r.alert = Outcome::Failed("no".into());
        assert!(r.any_failed());
    }

    #[test]
    fn a_429_without_retry_after_pauses_the_budget_for_a_minute() {
        let b = Budget::new("alert", &[super::super::budget::Window::per_minute(5)]);
        let o = throttled(&b, None, "Defender");
        assert_eq!(
            o,
            Outcome::Deferred("Defender throttled (429), Retry-After 60 s honoured".into())
        );
        assert!(matches!(b.try_take(), Err(Denied::Paused(_))));
    }
}
