//! The axum router the Functions host calls: `GET /` (readiness), `POST /MatchEvents`
//! ([`match_events`]), `POST /RaiseAlerts` ([`raise_alerts`]). Every answer is JSON
//! `{"Outputs","Logs","ReturnValue"}` ([`reply`]); a failure the host should retry is a 500 that
//! still carries that body. This is the only module that knows both HTTP and the host protocol:
//! the engine and the alert service below it know neither. [`listener`] accepts the
//! connections, with timeouts and a cap; [`memory`] bounds the request bytes held at once.

pub mod body;
pub mod listener;
pub mod match_events;
pub mod memory;
pub mod raise_alerts;
pub mod reply;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::alerts::AlertService;
use crate::config::ListenerSettings;
use crate::engine::Engine;
use memory::MemoryBudget;

pub use match_events::{DEADLETTER_OUTPUT, EVENTS_BINDING, MATCHES_OUTPUT};
pub use raise_alerts::MATCH_BINDING;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub alerts: Arc<AlertService>,
    /// Request bytes held at once, across invocations (`MATCH_MAX_BYTES_IN_FLIGHT`).
    pub budget: Arc<MemoryBudget>,
    pub listener: ListenerSettings,
}

/// Every route the handler serves. Bodies are read by the handlers themselves ([`body`]), under
/// their limits, the body timeout and the memory budget.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(ready))
        .route("/MatchEvents", post(match_events::match_events))
        .route("/RaiseAlerts", post(raise_alerts::raise_alerts))
        .with_state(state)
}

async fn ready() -> &'static str {
    "ready"
}
