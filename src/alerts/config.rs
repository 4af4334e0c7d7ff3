//! Alerting settings (see issue 3).

use crate::config::{ConfigError, Source};

#[derive(Debug, Clone, Default)]
pub struct AlertConfig {}

impl AlertConfig {
    pub fn from_env(_env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {})
    }
}
