//! The axum router the Functions host calls: `GET /` (readiness), `POST /MatchEvents`
//! ([`match_events`]), `POST /RaiseAlerts` ([`raise_alerts`]). Every answer is JSON
//! `{"Outputs","Logs","ReturnValue"}` ([`reply`]); a failure the host should retry is a 500 that
//! still carries that body. This is the only module that knows both HTTP and the host protocol:
//! the engine and the alert service below it know neither.

pub mod match_events;
pub mod raise_alerts;
pub mod reply;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::alerts::AlertService;
use crate::engine::Engine;

pub use match_events::{DEADLETTER_OUTPUT, EVENTS_BINDING, MATCHES_OUTPUT};
pub use raise_alerts::MATCH_BINDING;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub alerts: Arc<AlertService>,
}

/// Every route the handler serves.
pub fn router(state: AppState) -> Router {
    let body_limit = state.engine.limits().max_request_bytes;
    Router::new()
        .route("/", get(ready))
        .route("/MatchEvents", post(match_events::match_events))
        .route("/RaiseAlerts", post(raise_alerts::raise_alerts))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn ready() -> &'static str {
    "ready"
}
