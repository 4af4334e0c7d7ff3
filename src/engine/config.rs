//! The engine's settings: the bounds on what one invocation may carry ([`Limits`]) and the hashes
//! never looked up ([`Allowlist`]), built from their declarations in [`crate::settings::vars`].

use std::collections::HashSet;

use crate::records::FileHash;
use crate::settings::{ConfigError, Source, vars};

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
            max_request_bytes: vars::MATCH_MAX_REQUEST_BYTES.default,
            max_events: vars::MATCH_MAX_EVENTS.default,
            max_event_bytes: vars::MATCH_MAX_EVENT_BYTES.default,
            max_records_per_event: vars::MATCH_MAX_RECORDS_PER_EVENT.default,
            max_json_depth: vars::MATCH_MAX_JSON_DEPTH.default,
        }
    }
}

impl Limits {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            max_request_bytes: vars::MATCH_MAX_REQUEST_BYTES.read(env)?,
            max_events: vars::MATCH_MAX_EVENTS.read(env)?,
            max_event_bytes: vars::MATCH_MAX_EVENT_BYTES.read(env)?,
            max_records_per_event: vars::MATCH_MAX_RECORDS_PER_EVENT.read(env)?,
            max_json_depth: vars::MATCH_MAX_JSON_DEPTH.read(env)?,
        })
    }
}

/// Hashes never looked up: `MATCH_ALLOWLIST`, one hash a line, blank lines and `#` comments ignored.
#[derive(Debug, Clone, Default)]
pub struct Allowlist(HashSet<FileHash>);

impl Allowlist {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        match vars::MATCH_ALLOWLIST.read(env) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

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
