//! Configuration: the environment (Functions app settings) parsed once at start into typed
//! settings. A bad value is an error that names its variable; a secret's value is never echoed.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `FUNCTIONS_CUSTOMHANDLER_PORT` | (set by the host) | port `serve` listens on, on 127.0.0.1 |
//! | `MISP_URL` | required online | base URL of the MISP server; `http://` warns unless loopback |
//! | `MISP_API_KEY` | required online | MISP automation key, sent as `Authorization` |
//! | `MISP_CHUNK_SIZE` | 1000 | distinct hashes per restSearch request |
//! | `MISP_PUBLISHED_ONLY` | true | only attributes of published events match |
//! | `MISP_ENFORCE_WARNINGLIST` | true | MISP drops attributes on its enabled warninglists |
//! | `MISP_CACHE_HIT_TTL_SECS` | 3600 | how long a hit is remembered; 0 disables |
//! | `MISP_CACHE_MISS_TTL_SECS` | 600 | how long a miss is remembered; 0 disables |
//! | `MISP_CACHE_CAPACITY` | 1000000 | verdicts held at most |
//! | `MISP_DEADLINE_SECS` | 60 | all MISP work of one invocation ends within this |
//! | `MISP_TIMEOUT_SECS` | 30 | one restSearch request ends within this |
//! | `MISP_RETRY_ATTEMPTS` | 3 | attempts per request inside one invocation (jittered backoff) |
//! | `MISP_BREAKER_FAILURES` | 5 | consecutive failures that open the circuit breaker |
//! | `MISP_BREAKER_COOLDOWN_SECS` | 30 | how long the open breaker fails lookups at once |
//! | `MISP_VERIFY_TLS` | true | verify the MISP server's certificate |
//! | `MISP_CA_CERT` | unset | PEM file of a private CA to trust for MISP |
//! | `MISP_MODE` | online | `online`: restSearch per batch; `snapshot`: match an in-memory copy of MISP's IOC hashes; `hybrid`: the snapshot, online while it is not loaded or stale (see [`crate::intel::snapshot`]) |
//! | `MISP_SNAPSHOT_REFRESH_SECS` | 300 | snapshot/hybrid: interval of the incremental pull (by `timestamp` and `publish_timestamp`) |
//! | `MISP_SNAPSHOT_RESYNC_SECS` | 86400 | snapshot/hybrid: interval of the full reload that drops hard deletes and unpublished events |
//! | `MISP_SNAPSHOT_PAGE_SIZE` | 5000 | snapshot/hybrid: attributes per restSearch page (`limit`) |
//! | `MATCH_ALLOWLIST` | unset | file of hashes never looked up, one a line (`#` comments) |
//! | `MATCH_MAX_REQUEST_BYTES` | 268435456 | largest invocation body accepted |
//! | `MATCH_MAX_EVENTS` | 5000 | events per invocation; the rest are dead-lettered |
//! | `MATCH_MAX_EVENT_BYTES` | 4194304 | bytes per event; a larger one is dead-lettered |
//! | `MATCH_MAX_RECORDS_PER_EVENT` | 10000 | records per event body; more is dead-lettered |
//! | `MATCH_MAX_JSON_DEPTH` | 64 | nesting of objects and arrays in an event body; deeper is dead-lettered |
//!
//! The alerting settings are documented in [`crate::alerts::config`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use crate::intel::policy::{BreakerSettings, RetryPolicy};
use crate::records::FileHash;
use crate::secret::Secret;

/// Where settings come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

/// A setting that could not be used. Its text names the variable and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// A variable's value, with blank treated as unset (app settings are often left empty).
pub fn optional(env: &dyn Source, var: &'static str) -> Option<String> {
    env.get(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn required(env: &dyn Source, var: &'static str) -> Result<String, ConfigError> {
    optional(env, var).ok_or_else(|| ConfigError::new(var, "is required but not set"))
}

/// A parsed value, or `default` when unset. The bad value is quoted (never use for secrets).
pub fn parsed<T: FromStr>(env: &dyn Source, var: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match optional(env, var) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e| ConfigError::new(var, format!("`{v}` is not valid: {e}"))),
    }
}

pub fn flag(env: &dyn Source, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match optional(env, var).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::new(var, format!("`{v}` is not true or false"))),
        },
    }
}

pub fn seconds(env: &dyn Source, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
    parsed(env, var, default).map(Duration::from_secs)
}

/// An `http(s)` URL; plain `http` to a non-loopback host is allowed but reported by [`is_plain_remote`].
pub fn http_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(var, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            var,
            "must be an http:// or https:// URL with a host",
        ));
    }
    Ok(url)
}

/// Whether a URL sends traffic in clear text beyond this machine.
pub fn is_plain_remote(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    url.scheme() == "http" && !loopback
}

/// Defaults of the tunables, named so that code and docs agree.
pub mod defaults {
    pub const MISP_CHUNK_SIZE: usize = 1000;
    pub const MISP_CACHE_HIT_TTL_SECS: u64 = 3600;
    pub const MISP_CACHE_MISS_TTL_SECS: u64 = 600;
    pub const MISP_CACHE_CAPACITY: u64 = 1_000_000;
    pub const MISP_DEADLINE_SECS: u64 = 60;
    pub const MISP_TIMEOUT_SECS: u64 = 30;
    pub const MISP_SNAPSHOT_REFRESH_SECS: u64 = 300;
    pub const MISP_SNAPSHOT_RESYNC_SECS: u64 = 86_400;
    pub const MISP_SNAPSHOT_PAGE_SIZE: usize = 5000;
    /// 100 events of 1 MB, base64-encoded (×4/3), plus metadata, with room to spare.
    pub const MATCH_MAX_REQUEST_BYTES: usize = 256 * 1024 * 1024;
    pub const MATCH_MAX_EVENTS: usize = 5000;
    pub const MATCH_MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;
    pub const MATCH_MAX_RECORDS_PER_EVENT: usize = 10_000;
    /// Defender records nest three or four levels; far deeper is not a record.
    pub const MATCH_MAX_JSON_DEPTH: usize = 64;
}

/// How to reach MISP.
#[derive(Debug, Clone)]
pub struct MispSettings {
    pub url: Url,
    pub api_key: Secret,
    pub chunk_size: usize,
    pub published_only: bool,
    pub enforce_warninglist: bool,
    pub verify_tls: bool,
    pub ca_cert: Option<PathBuf>,
    pub timeout: Duration,
    pub snapshot: SnapshotSettings,
}

/// Where lookups are answered (`MISP_MODE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MispMode {
    #[default]
    Online,
    Snapshot,
    Hybrid,
}

impl FromStr for MispMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "online" => Ok(MispMode::Online),
            "snapshot" => Ok(MispMode::Snapshot),
            "hybrid" => Ok(MispMode::Hybrid),
            _ => Err("expected online, snapshot or hybrid".into()),
        }
    }
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
            refresh: Duration::from_secs(defaults::MISP_SNAPSHOT_REFRESH_SECS),
            resync: Duration::from_secs(defaults::MISP_SNAPSHOT_RESYNC_SECS),
            page_size: defaults::MISP_SNAPSHOT_PAGE_SIZE,
        }
    }
}

impl SnapshotSettings {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        let refresh = seconds(
            env,
            "MISP_SNAPSHOT_REFRESH_SECS",
            defaults::MISP_SNAPSHOT_REFRESH_SECS,
        )?;
        if refresh.is_zero() {
            return Err(ConfigError::new(
                "MISP_SNAPSHOT_REFRESH_SECS",
                "must be at least 1",
            ));
        }
        let resync = seconds(
            env,
            "MISP_SNAPSHOT_RESYNC_SECS",
            defaults::MISP_SNAPSHOT_RESYNC_SECS,
        )?;
        if resync < refresh {
            return Err(ConfigError::new(
                "MISP_SNAPSHOT_RESYNC_SECS",
                "must be at least MISP_SNAPSHOT_REFRESH_SECS",
            ));
        }
        let page_size = parsed(env, "MISP_SNAPSHOT_PAGE_SIZE", d.page_size)?;
        if !(1..=100_000).contains(&page_size) {
            return Err(ConfigError::new(
                "MISP_SNAPSHOT_PAGE_SIZE",
                "must be between 1 and 100000",
            ));
        }
        Ok(Self {
            mode: parsed(env, "MISP_MODE", d.mode)?,
            refresh,
            resync,
            page_size,
        })
    }
}

impl MispSettings {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let url = http_url("MISP_URL", &required(env, "MISP_URL")?)?;
        let api_key = Secret::new(required(env, "MISP_API_KEY")?);
        let chunk_size = parsed(env, "MISP_CHUNK_SIZE", defaults::MISP_CHUNK_SIZE)?;
        if !(1..=100_000).contains(&chunk_size) {
            return Err(ConfigError::new(
                "MISP_CHUNK_SIZE",
                "must be between 1 and 100000",
            ));
        }
        let timeout = seconds(env, "MISP_TIMEOUT_SECS", defaults::MISP_TIMEOUT_SECS)?;
        if timeout.is_zero() {
            return Err(ConfigError::new("MISP_TIMEOUT_SECS", "must be at least 1"));
        }
        let ca_cert = optional(env, "MISP_CA_CERT").map(PathBuf::from);
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
            api_key,
            chunk_size,
            published_only: flag(env, "MISP_PUBLISHED_ONLY", true)?,
            enforce_warninglist: flag(env, "MISP_ENFORCE_WARNINGLIST", true)?,
            verify_tls: flag(env, "MISP_VERIFY_TLS", true)?,
            ca_cert,
            timeout,
            snapshot: SnapshotSettings::from_env(env)?,
        })
    }
}

/// How verdicts are cached and how long an invocation may spend on MISP.
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
            hit_ttl: Duration::from_secs(defaults::MISP_CACHE_HIT_TTL_SECS),
            miss_ttl: Duration::from_secs(defaults::MISP_CACHE_MISS_TTL_SECS),
            capacity: defaults::MISP_CACHE_CAPACITY,
            deadline: Duration::from_secs(defaults::MISP_DEADLINE_SECS),
            retry: RetryPolicy::default(),
            breaker: BreakerSettings::default(),
        }
    }
}

impl LookupSettings {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let deadline = seconds(env, "MISP_DEADLINE_SECS", defaults::MISP_DEADLINE_SECS)?;
        if deadline.is_zero() {
            return Err(ConfigError::new("MISP_DEADLINE_SECS", "must be at least 1"));
        }
        Ok(Self {
            hit_ttl: seconds(
                env,
                "MISP_CACHE_HIT_TTL_SECS",
                defaults::MISP_CACHE_HIT_TTL_SECS,
            )?,
            miss_ttl: seconds(
                env,
                "MISP_CACHE_MISS_TTL_SECS",
                defaults::MISP_CACHE_MISS_TTL_SECS,
            )?,
            capacity: parsed(env, "MISP_CACHE_CAPACITY", defaults::MISP_CACHE_CAPACITY)?,
            deadline,
            retry: RetryPolicy {
                attempts: parsed(env, "MISP_RETRY_ATTEMPTS", RetryPolicy::default().attempts)?
                    .max(1),
                ..RetryPolicy::default()
            },
            breaker: BreakerSettings {
                failures: parsed(
                    env,
                    "MISP_BREAKER_FAILURES",
                    BreakerSettings::default().failures,
                )?
                .max(1),
                cooldown: seconds(
                    env,
                    "MISP_BREAKER_COOLDOWN_SECS",
                    BreakerSettings::default().cooldown.as_secs(),
                )?,
            },
        })
    }
}

/// Bounds on what one invocation may carry; anything beyond is dead-lettered, never a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_events: usize,
    pub max_event_bytes: usize,
    pub max_records_per_event: usize,
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: defaults::MATCH_MAX_REQUEST_BYTES,
            max_events: defaults::MATCH_MAX_EVENTS,
            max_event_bytes: defaults::MATCH_MAX_EVENT_BYTES,
            max_records_per_event: defaults::MATCH_MAX_RECORDS_PER_EVENT,
            max_json_depth: defaults::MATCH_MAX_JSON_DEPTH,
        }
    }
}

impl Limits {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let d = Limits::default();
        Ok(Self {
            max_request_bytes: parsed(env, "MATCH_MAX_REQUEST_BYTES", d.max_request_bytes)?,
            max_events: parsed(env, "MATCH_MAX_EVENTS", d.max_events)?,
            max_event_bytes: parsed(env, "MATCH_MAX_EVENT_BYTES", d.max_event_bytes)?,
            max_records_per_event: parsed(
                env,
                "MATCH_MAX_RECORDS_PER_EVENT",
                d.max_records_per_event,
            )?,
            max_json_depth: parsed(env, "MATCH_MAX_JSON_DEPTH", d.max_json_depth)?,
        })
    }
}

/// Hashes never looked up: `MATCH_ALLOWLIST`, one hash a line, blank lines and `#` comments ignored.
#[derive(Debug, Clone, Default)]
pub struct Allowlist(HashSet<FileHash>);

impl Allowlist {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        match optional(env, "MATCH_ALLOWLIST") {
            None => Ok(Self::default()),
            Some(path) => Self::load(&path).map_err(|p| ConfigError::new("MATCH_ALLOWLIST", p)),
        }
    }

    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let mut set = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let hash = FileHash::parse(line).map_err(|e| format!("{path} line {}: {e}", n + 1))?;
            set.insert(hash);
        }
        Ok(Self(set))
    }

    pub fn contains(&self, hash: &FileHash) -> bool {
        self.0.contains(hash)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything `MatchEvents` needs, parsed once.
#[derive(Debug, Clone)]
pub struct MatchConfig {
    pub lookup: LookupSettings,
    pub limits: Limits,
    pub allowlist: Allowlist,
}

impl MatchConfig {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            lookup: LookupSettings::from_env(env)?,
            limits: Limits::from_env(env)?,
            allowlist: Allowlist::from_env(env)?,
        })
    }
}

/// The port the host tells the handler to listen on.
pub fn handler_port(env: &dyn Source) -> Result<u16, ConfigError> {
    let raw = required(env, "FUNCTIONS_CUSTOMHANDLER_PORT")?;
    match raw.parse::<u16>() {
        Ok(0) | Err(_) => Err(ConfigError::new(
            "FUNCTIONS_CUSTOMHANDLER_PORT",
            format!("`{raw}` is not a TCP port (1-65535)"),
        )),
        Ok(port) => Ok(port),
    }
}

/// Settings from pairs, as tests write them.
#[cfg(test)]
pub(crate) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_port_must_be_a_real_port() {
        assert_eq!(
            handler_port(&env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "8080")])),
            Ok(8080)
        );
        for bad in ["", "0", "70000", "http"] {
            let err = handler_port(&env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", bad)])).unwrap_err();
            assert_eq!(err.variable, "FUNCTIONS_CUSTOMHANDLER_PORT");
        }
    }

    #[test]
    fn plain_http_is_flagged_only_beyond_loopback() {
        assert!(is_plain_remote(&Url::parse("http://misp.corp").unwrap()));
        assert!(!is_plain_remote(&Url::parse("http://127.0.0.1:9").unwrap()));
        assert!(!is_plain_remote(&Url::parse("http://localhost:9").unwrap()));
        assert!(!is_plain_remote(&Url::parse("https://misp.corp").unwrap()));
    }

    #[test]
    fn the_allowlist_reads_hashes_and_rejects_garbage_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.txt");
        std::fs::write(
            &path,
            format!(
                "# trusted\n{}\n\n{}  # tool\n",
                "A".repeat(32),
                "b".repeat(64)
            ),
        )
        .unwrap();
        let e = env(&[("MATCH_ALLOWLIST", path.to_str().unwrap())]);
        let list = Allowlist::from_env(&e).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains(&FileHash::parse(&"a".repeat(32)).unwrap()));
        std::fs::write(&path, "zz\n").unwrap();
        let err = Allowlist::from_env(&e).unwrap_err();
        assert_eq!(err.variable, "MATCH_ALLOWLIST");
        assert!(err.problem.contains("line 1"));
    }
}
