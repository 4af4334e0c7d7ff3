//! The rules every threat-intel source applies to a MISP attribute before it may match: online
//! restSearch answers, the IOC snapshot's pulls and a feed folder's events all go through
//! [`Rules::check`], so a hash matches in `scan --misp-feed` exactly when it would through
//! `serve` against the MISP that published the feed.
//!
//! An attribute counts when it is an IDS attribute (`to_ids`), not deleted (nor inside a deleted
//! object), of a file-hash or network type (issue 15), of a published event when `MISP_PUBLISHED_ONLY` (the default),
//! and on none of the warninglists of `MISP_WARNINGLISTS_DIR` (a folder in the layout of
//! MISP/misp-warninglists, matched as MISP matches them: [`crate::indicator::warninglist`]).
//!
//! Online and in the snapshot, MISP filters first (the request carries `to_ids`, `deleted`,
//! `published` and `enforceWarninglist`, which applies the lists enabled on that server); the
//! rules are applied again to what it returns, in case a proxy or an old server ignored a
//! filter, and the folder's lists on top of MISP's own. A feed has no server: the rules are all
//! there is, so a feed event with no `published` field counts as unpublished, as MISP's event
//! model defaults it.

use std::sync::Arc;

use super::HASH_ATTRIBUTE_TYPES;
use crate::indicator::misp::NETWORK_ATTRIBUTE_TYPES;
use crate::indicator::warninglist::Warninglists;

/// Warninglists shared by every source, printed by their size only.
#[derive(Clone, Default)]
pub struct Lists(pub Option<Arc<Warninglists>>);

impl std::fmt::Debug for Lists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("no warninglists"),
            Some(w) => write!(f, "{} warninglists", w.lists().len()),
        }
    }
}

/// What a source knows of one attribute, its unknowns already resolved by the source (a
/// restSearch answer to a query that asked for `to_ids: 1` is IDS unless it says otherwise; a
/// feed attribute is IDS only when it says so).
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub kind: &'a str,
    pub value: &'a str,
    pub to_ids: bool,
    pub deleted: bool,
    pub published: bool,
}

/// Why an attribute may not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    NotIds,
    Deleted,
    NotAFileHash,
    Unpublished,
    Warninglisted,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotIds => "not to_ids",
            Refusal::Deleted => "deleted",
            Refusal::NotAFileHash => "not a file-hash or network type",
            Refusal::Unpublished => "unpublished",
            Refusal::Warninglisted => "on a warninglist",
        }
    }
}

/// The rules of one run.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub published_only: bool,
    pub warninglists: Lists,
}

impl Rules {
    /// Whether an attribute may match, and if not, why (the list, for a warninglisted one).
    pub fn check(&self, c: &Candidate<'_>) -> Result<(), (Refusal, Option<String>)> {
        if !c.to_ids {
            return Err((Refusal::NotIds, None));
        }
        if c.deleted {
            return Err((Refusal::Deleted, None));
        }
        if !HASH_ATTRIBUTE_TYPES.contains(&c.kind) && !NETWORK_ATTRIBUTE_TYPES.contains(&c.kind) {
            return Err((Refusal::NotAFileHash, None));
        }
        if self.published_only && !c.published {
            return Err((Refusal::Unpublished, None));
        }
        if let Some(hit) = self
            .warninglists
            .0
            .as_ref()
            .and_then(|w| w.check(c.kind, c.value))
        {
            return Err((Refusal::Warninglisted, Some(hit.list_id.to_owned())));
        }
        Ok(())
    }

    /// Whether an attribute may match.
    pub fn admits(&self, c: &Candidate<'_>) -> bool {
        self.check(c).is_ok()
    }
}

/// Reading the folder from the settings (`service` builds only).
#[cfg(feature = "service")]
mod from_env {
    use std::path::Path;
    use std::sync::Arc;

    use super::{Lists, Rules};
    use crate::indicator::warninglist::{Selection, Warninglists};
    use crate::settings::{ConfigError, Source, vars};

    impl Rules {
        /// `MISP_PUBLISHED_ONLY` and the lists of `MISP_WARNINGLISTS_DIR`.
        pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
            Ok(Self {
                published_only: vars::MISP_PUBLISHED_ONLY.read(env)?,
                warninglists: Lists::from_env(env)?,
            })
        }
    }

    impl Lists {
        /// Every list of the folder in `MISP_WARNINGLISTS_DIR`, or none when it is unset. A list
        /// that cannot be read is skipped with a warning; a folder that cannot be read, or that
        /// holds no usable list, is an error naming the variable.
        pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
            let Some(dir) = vars::MISP_WARNINGLISTS_DIR.read(env) else {
                return Ok(Self(None));
            };
            let problem = |p: String| ConfigError::new("MISP_WARNINGLISTS_DIR", p);
            let (lists, loaded) = Warninglists::load(Path::new(&dir), &Selection::All)
                .map_err(|e| problem(e.to_string()))?;
            for (id, why) in &loaded.skipped {
                tracing::warn!(list = %id, reason = %why, "warninglist skipped");
            }
            if lists.lists().is_empty() {
                return Err(problem(format!(
                    "{dir} holds no usable warninglist (lists/<name>/list.json)"
                )));
            }
            let entries: usize = lists.lists().iter().map(|l| l.entries).sum();
            tracing::info!(
                dir = %dir,
                lists = lists.lists().len(),
                entries,
                skipped = loaded.skipped.len(),
                "warninglists loaded"
            );
            Ok(Self(Some(Arc::new(lists))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::warninglist::{ListType, Warninglist};

    fn candidate(kind: &'static str, value: &'static str) -> Candidate<'static> {
        Candidate {
            kind,
            value,
            to_ids: true,
            deleted: false,
            published: true,
        }
    }

    fn lists() -> Lists {
        let known_good = Warninglist {
            id: "known-good".into(),
            name: "Known good".into(),
            version: 1,
            kind: ListType::String,
            types: vec!["sha256".into(), "filename|sha256".into()],
            entries: vec!["ab".repeat(32)],
        };
        Lists(Some(Arc::new(Warninglists::build([known_good]))))
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let rules = Rules {
            published_only: true,
            warninglists: lists(),
        };
        let ok = candidate("sha256", "cd");
        assert!(rules.admits(&ok));
        let refusal = |c: Candidate<'_>| rules.check(&c).unwrap_err().0;
        assert_eq!(
            refusal(Candidate {
                to_ids: false,
                ..ok
            }),
            Refusal::NotIds
        );
        assert_eq!(
            refusal(Candidate {
                deleted: true,
                ..ok
            }),
            Refusal::Deleted
        );
        assert_eq!(refusal(candidate("comment", "cd")), Refusal::NotAFileHash);
        assert!(
            rules.admits(&candidate("domain", "evil.example")),
            "issue 15: network types"
        );
        assert_eq!(
            refusal(Candidate {
                published: false,
                ..ok
            }),
            Refusal::Unpublished
        );
        let listed = "ab".repeat(32);
        let on_list = Candidate {
            value: &listed,
            ..ok
        };
        assert_eq!(
            rules.check(&on_list).unwrap_err(),
            (Refusal::Warninglisted, Some("known-good".into()))
        );
        let composite = format!("setup.exe|{listed}");
        let on_list = Candidate {
            kind: "filename|sha256",
            value: &composite,
            ..ok
        };
        assert_eq!(
            refusal(on_list),
            Refusal::Warninglisted,
            "the hash half of a composite"
        );
        let other_type = Candidate {
            kind: "sha1",
            value: &listed,
            ..ok
        };
        assert!(
            rules.admits(&other_type),
            "a list applies to its matching_attributes only"
        );
    }

    #[test]
    fn unpublished_attributes_count_when_published_only_is_off() {
        let rules = Rules::default();
        assert!(rules.admits(&Candidate {
            published: false,
            ..candidate("md5", "x")
        }));
    }
}
