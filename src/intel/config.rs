//! The intel subsystem's settings: how to reach MISP ([`MispSettings`], with the IOC snapshot's
//! [`SnapshotSettings`]) and how lookups are cached, bounded and retried ([`LookupSettings`]),
//! each built from its declarations in [`crate::settings::vars`].

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::policy::{BreakerSettings, RetryPolicy};
use super::rules::{Lists, Rules};
use crate::secret::Secret;
use crate::settings::{ConfigError, Source, http_url, vars};

/// How to reach MISP.
#[derive(Debug, Clone)]
pub struct MispSettings {
    pub url: Url,
    pub api_key: Secret,
    pub chunk_size: usize,
    pub published_only: bool,
    pub enforce_warninglist: bool,
    /// The lists of `MISP_WARNINGLISTS_DIR`, applied to what MISP returns.
    pub warninglists: Lists,
    pub verify_tls: bool,
    pub ca_cert: Option<PathBuf>,
    pub timeout: Duration,
    pub snapshot: SnapshotSettings,
}

impl MispSettings {
    /// The rules MISP's answers are held to (`intel::rules`).
    pub fn rules(&self) -> Rules {
        Rules {
            published_only: self.published_only,
            warninglists: self.warninglists.clone(),
        }
    }

    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let url = http_url("MISP_URL", &vars::MISP_URL.require(env)?)?;
        let ca_cert = vars::MISP_CA_CERT.read(env).map(PathBuf::from);
        if let Some(path) = &ca_cert
            && !path.is_file()
        {
            return Err(ConfigError::new(
                "MISP_CA_CERT",
                format!("{} is not a readable file", path.display()),
            ));
        }
        Ok(Self {
            url,
            api_key: vars::MISP_API_KEY.require(env)?,
            chunk_size: vars::MISP_CHUNK_SIZE.read(env)?,
            published_only: vars::MISP_PUBLISHED_ONLY.read(env)?,
            enforce_warninglist: vars::MISP_ENFORCE_WARNINGLIST.read(env)?,
            warninglists: Lists::from_env(env)?,
            verify_tls: vars::MISP_VERIFY_TLS.read(env)?,
            ca_cert,
            timeout: vars::MISP_TIMEOUT_SECS.read(env)?,
            snapshot: SnapshotSettings::from_env(env)?,
        })
    }
}

/// Where lookups are answered (`MISP_MODE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MispMode {
    #[default]
    Online,
    Snapshot,
    Hybrid,
}

/// The IOC snapshot's mode and schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    pub mode: MispMode,
    pub refresh: Duration,
    pub resync: Duration,
    pub page_size: usize,
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        Self {
            mode: MispMode::Online,
            refresh: vars::MISP_SNAPSHOT_REFRESH_SECS.default(),
            resync: vars::MISP_SNAPSHOT_RESYNC_SECS.default(),
            page_size: vars::MISP_SNAPSHOT_PAGE_SIZE.default,
        }
    }
}

impl SnapshotSettings {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let refresh = vars::MISP_SNAPSHOT_REFRESH_SECS.read(env)?;
        let resync = vars::MISP_SNAPSHOT_RESYNC_SECS.read(env)?;
        if resync < refresh {
            return Err(ConfigError::new(
                "MISP_SNAPSHOT_RESYNC_SECS",
                "must be at least MISP_SNAPSHOT_REFRESH_SECS",
            ));
        }
        let mode = match vars::MISP_MODE.read(env)? {
            Some("snapshot") => MispMode::Snapshot,
            Some("hybrid") => MispMode::Hybrid,
            _ => MispMode::Online,
        };
        Ok(Self {
            mode,
            refresh,
            resync,
            page_size: vars::MISP_SNAPSHOT_PAGE_SIZE.read(env)?,
        })
    }
}

/// How verdicts are cached, how long an invocation may spend on MISP, and the fault policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupSettings {
    pub hit_ttl: Duration,
    pub miss_ttl: Duration,
    pub capacity: u64,
    pub deadline: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerSettings,
}

impl Default for LookupSettings {
    fn default() -> Self {
        Self {
            hit_ttl: vars::MISP_CACHE_HIT_TTL_SECS.default(),
            miss_ttl: vars::MISP_CACHE_MISS_TTL_SECS.default(),
            capacity: vars::MISP_CACHE_CAPACITY.default,
            deadline: vars::MISP_DEADLINE_SECS.default(),
            retry: RetryPolicy::default(),
            breaker: BreakerSettings::default(),
        }
    }
}

impl LookupSettings {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            hit_ttl: vars::MISP_CACHE_HIT_TTL_SECS.read(env)?,
            miss_ttl: vars::MISP_CACHE_MISS_TTL_SECS.read(env)?,
            capacity: vars::MISP_CACHE_CAPACITY.read(env)?,
            deadline: vars::MISP_DEADLINE_SECS.read(env)?,
            retry: RetryPolicy {
                attempts: vars::MISP_RETRY_ATTEMPTS.read(env)?,
                ..RetryPolicy::default()
            },
            breaker: BreakerSettings {
                failures: vars::MISP_BREAKER_FAILURES.read(env)?,
                cooldown: vars::MISP_BREAKER_COOLDOWN_SECS.read(env)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

    #[test]
    fn misp_needs_only_url_and_key_and_takes_the_documented_defaults() {
        let e = env(&[
            ("MISP_URL", "https://misp.example"),
            ("MISP_API_KEY", "secretkey"),
        ]);
        let m = MispSettings::from_env(&e).unwrap();
        assert_eq!(m.chunk_size, 1000);
        assert!(m.published_only && m.enforce_warninglist && m.verify_tls);
        assert_eq!(m.timeout, Duration::from_secs(30));
        let l = LookupSettings::from_env(&e).unwrap();
        assert_eq!(l, LookupSettings::default());
        assert_eq!(l.hit_ttl, Duration::from_secs(3600));
        assert_eq!(l.miss_ttl, Duration::from_secs(600));
        assert_eq!(m.snapshot, SnapshotSettings::default());
        assert_eq!(m.snapshot.mode, MispMode::Online);
    }

    #[test]
    fn snapshot_settings_are_checked_and_name_their_variable() {
        let base = [("MISP_URL", "https://misp.example"), ("MISP_API_KEY", "k")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            MispSettings::from_env(&env(&pairs))
        };
        let m = with(&[
            ("MISP_MODE", "Hybrid"),
            ("MISP_SNAPSHOT_REFRESH_SECS", "60"),
        ])
        .unwrap();
        assert_eq!(m.snapshot.mode, MispMode::Hybrid);
        assert_eq!(m.snapshot.refresh, Duration::from_secs(60));
        for (var, bad) in [
            ("MISP_MODE", "offline"),
            ("MISP_SNAPSHOT_REFRESH_SECS", "0"),
            ("MISP_SNAPSHOT_RESYNC_SECS", "10"),
            ("MISP_SNAPSHOT_PAGE_SIZE", "0"),
        ] {
            assert_eq!(with(&[(var, bad)]).unwrap_err().variable, var);
        }
    }

    #[test]
    fn errors_name_the_variable_and_never_the_key() {
        let e = env(&[("MISP_URL", "https://misp.example")]);
        assert_eq!(
            MispSettings::from_env(&e).unwrap_err().variable,
            "MISP_API_KEY"
        );
        let e = env(&[("MISP_URL", "ftp://x"), ("MISP_API_KEY", "k")]);
        assert_eq!(MispSettings::from_env(&e).unwrap_err().variable, "MISP_URL");
        let e = env(&[
            ("MISP_URL", "https://m"),
            ("MISP_API_KEY", "supersecret"),
            ("MISP_CHUNK_SIZE", "lots"),
        ]);
        let err = MispSettings::from_env(&e).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MISP_CHUNK_SIZE: `lots` is not valid: invalid digit found in string"
        );
        let e = env(&[
            ("MISP_URL", "https://m"),
            ("MISP_API_KEY", "supersecret"),
            ("MISP_VERIFY_TLS", "maybe"),
        ]);
        let err = MispSettings::from_env(&e).unwrap_err();
        assert_eq!(err.variable, "MISP_VERIFY_TLS");
        assert!(!format!("{err} {err:?}").contains("supersecret"));
    }

    #[test]
    fn zero_retry_attempts_or_breaker_failures_are_refused_with_their_range() {
        for var in ["MISP_RETRY_ATTEMPTS", "MISP_BREAKER_FAILURES"] {
            let err = LookupSettings::from_env(&env(&[(var, "0")])).unwrap_err();
            assert_eq!(err.to_string(), format!("{var}: must be at least 1"));
        }
        let l = LookupSettings::from_env(&env(&[
            ("MISP_RETRY_ATTEMPTS", "1"),
            ("MISP_BREAKER_FAILURES", "1000"),
        ]))
        .unwrap();
        assert_eq!((l.retry.attempts, l.breaker.failures), (1, 1000));
    }
}
