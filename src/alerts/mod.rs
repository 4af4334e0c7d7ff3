//! Alerting: `RaiseAlerts` turns a match from the `misp-matches` queue into Defender alerts and
//! the optional actions. (Being built: see issue 3.)

pub mod config;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

pub use config::AlertConfig;

use crate::config::MispSettings;
use crate::host::InvocationResponse;
use crate::server::{AppState, host_reply};

/// The alert actions and their clients.
pub struct AlertService {
    _config: AlertConfig,
}

impl AlertService {
    pub fn new(config: AlertConfig, _misp: &MispSettings) -> anyhow::Result<Self> {
        Ok(Self { _config: config })
    }
}

pub async fn raise_alerts(State(_state): State<AppState>) -> Response {
    host_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        &InvocationResponse::with_logs(vec!["RaiseAlerts is not implemented yet".into()]),
    )
}
