//! Alerting: for each match `RaiseAlerts` takes from the `misp-matches` queue, [`AlertService`]
//! runs each action on it: a Defender alert by reference (alertable matches only; by default until
//! the MDE API retires on 2027-02-01, see [`retirement`]), and, when configured, a Defender
//! indicator, a MISP sighting and a Sentinel row, written last so it carries the others' outcomes.
//!
//! Each action has its own budget ([`budget`]), its own error meanings and its own memory of
//! what it already did for a `matchId`, so when a message comes back because one action must be
//! tried again, the actions that succeeded are not repeated. The answer to the host is 2xx only
//! when no action needs another try: a spent budget or a `Retry-After` is a deferral (503), an
//! error a failure (500); both make the queue deliver the message again after its visibility
//! timeout, and the arithmetic that keeps a burst out of the poison queue is in
//! `docs/alerting.md`. One log line per message gives every action's outcome ([`outcome`]).
//! Nothing here knows HTTP routing or the host protocol: the handler is
//! `server::raise_alerts`.

pub mod alert_body;
pub mod budget;
pub mod config;
pub mod defender;
pub mod indicator;
pub mod ledger;
pub mod outcome;
pub mod retirement;
pub mod sentinel;
mod service;
pub mod sighting;

pub use config::AlertConfig;
pub use outcome::{Outcome, Report};
pub use service::AlertService;
