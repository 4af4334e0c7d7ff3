//! The engine's settings: the bounds on what one invocation may carry ([`Limits`]) and the hashes
//! never looked up ([`Allowlist`]), built from their declarations in [`crate::settings::vars`].

use std::collections::HashSet;

use crate::indicator::domain::lookup_names;
use crate::indicator::{Host, Indicator, UrlHost};
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

/// Values never looked up: `MATCH_ALLOWLIST`, one a line, blank lines and `#` comments ignored.
/// A line is a file hash, or a network indicator (issue 15): an address, a host name (which
/// covers its subdomains, and the URLs and senders on them), a URL or a sender address, each
/// compared in its canonical form.
#[derive(Debug, Clone, Default)]
pub struct Allowlist(HashSet<FileHash>, HashSet<Indicator>);

impl Allowlist {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        match vars::MATCH_ALLOWLIST.read(env) {
            None => Ok(Self::default()),
            Some(path) => Self::load(&path).map_err(|p| ConfigError::new("MATCH_ALLOWLIST", p)),
        }
    }

    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let mut list = Self::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match FileHash::parse(line) {
                Ok(hash) => {
                    list.0.insert(hash);
                }
                Err(e) if line.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    return Err(format!("{path} line {}: {e}", n + 1));
                }
                Err(e) => {
                    let indicator = Indicator::parse(line)
                        .map_err(|i| i.to_string())
                        .and_then(|i| match &i {
                            Indicator::Host(h) if !h.has_dot() => {
                                Err("a name without a dot is never looked up".to_owned())
                            }
                            _ => Ok(i),
                        })
                        .map_err(|i| {
                            format!("{path} line {}: {e}; nor a network indicator: {i}", n + 1)
                        })?;
                    list.1.insert(indicator);
                }
            }
        }
        Ok(list)
    }

    pub fn contains(&self, hash: &FileHash) -> bool {
        self.0.contains(hash)
    }

    /// Whether a network indicator is allowlisted: itself, or for a name, a URL or a sender,
    /// its host or a parent of it.
    pub fn covers(&self, indicator: &Indicator) -> bool {
        if self.1.is_empty() {
            return false;
        }
        if self.1.contains(indicator) {
            return true;
        }
        let host = match indicator {
            Indicator::Host(h) => Some(h.clone()),
            Indicator::Url(u) => match u.host() {
                UrlHost::Name(h) => Some(h.clone()),
                UrlHost::Ip(ip) => return self.1.contains(&Indicator::Ip(*ip)),
            },
            Indicator::Email(e) => Host::parse(e.domain()).ok(),
            Indicator::Ip(_) => None,
        };
        host.is_some_and(|h| {
            lookup_names(&h)
                .filter_map(|n| Host::parse(n).ok())
                .any(|n| self.1.contains(&Indicator::Host(n)))
        })
    }

    pub fn len(&self) -> usize {
        self.0.len() + self.1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
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
        std::fs::write(&path, "abc\n").unwrap();
        let err = Allowlist::from_env(&e).unwrap_err();
        assert!(
            err.problem.contains("line 1"),
            "short hex is a bad hash, not a name"
        );
        std::fs::write(&path, "not a host\n").unwrap();
        assert!(Allowlist::from_env(&e).is_err());
    }

    #[test]
    fn the_allowlist_holds_network_indicators_and_a_name_covers_what_is_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.txt");
        std::fs::write(
            &path,
            "# ours\nCorp.Example.\n198.51.100.7\nhttps://tool.test/x\n",
        )
        .unwrap();
        let list = Allowlist::load(path.to_str().unwrap()).unwrap();
        assert_eq!(list.len(), 3);
        let covers = |s: &str| list.covers(&Indicator::parse(s).unwrap());
        assert!(covers("a.b.corp.example"));
        assert!(covers("https://cdn.corp.example/p"));
        assert!(covers("mailer@corp.example"));
        assert!(covers("::ffff:198.51.100.7"));
        assert!(covers("HTTPS://TOOL.test/x"));
        assert!(!covers("https://tool.test/y"));
        assert!(!covers("corp.example.evil.test"));
        assert!(!covers("198.51.100.8"));
    }
}
