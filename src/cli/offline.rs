//! What `scan` and `replay` share outside Azure: the engine they match with (a MISP feed folder
//! or the MISP server of the settings), under the same rules as `serve` (`intel::rules`), and
//! what loading it found, for the user to read before the results.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::config::MatchConfig;
use crate::engine::Engine;
use crate::intel::ThreatIntel;
use crate::intel::config::MispSettings;
use crate::intel::feed::{FeedIntel, FeedReport};
use crate::intel::misp::MispIntel;
use crate::intel::resolver::Resolver;
use crate::intel::rules::{Lists, Rules};
use crate::settings::{Source, vars};

/// The engine of an offline command, and what the user should know about its intel.
pub struct Offline {
    pub engine: Arc<Engine>,
    pub intel: Arc<dyn ThreatIntel>,
    /// Lines to print before the results (what was loaded, what was skipped).
    pub notes: Vec<String>,
    /// Feed event files that could not be read: the results are partial.
    pub skipped_feed_files: usize,
    /// How long one lookup may wait on MISP (`MISP_DEADLINE_SECS`); zero for a feed.
    pub deadline: std::time::Duration,
}

/// The engine for work outside Azure (`scan`, `replay`): a MISP feed folder when given, else the
/// MISP server of `MISP_URL`/`MISP_API_KEY`; `command` names the caller in the error.
pub fn offline_engine(
    misp_feed: Option<&Path>,
    env: &dyn Source,
    command: &str,
) -> anyhow::Result<Offline> {
    let mut matching = MatchConfig::from_env(env)?;
    let mut notes = Vec::new();
    let mut skipped_feed_files = 0;
    let intel: Arc<dyn ThreatIntel> = match misp_feed {
        Some(dir) => {
            let rules = Rules::from_env(env)?;
            notes.extend(lists_note(env, &rules.warninglists));
            let feed = FeedIntel::load(dir, &rules)?;
            skipped_feed_files = feed.report().skipped.len();
            notes.extend(feed_notes(dir, &feed, &rules));
            // The feed is in memory: caching its answers would only grow with the input.
            matching.lookup.hit_ttl = std::time::Duration::ZERO;
            matching.lookup.miss_ttl = std::time::Duration::ZERO;
            Arc::new(feed)
        }
        None => {
            let settings = MispSettings::from_env(env).with_context(|| {
                format!("{command} needs MISP_URL and MISP_API_KEY, or --misp-feed DIR")
            })?;
            notes.extend(lists_note(env, &settings.warninglists));
            Arc::new(MispIntel::new(&settings)?)
        }
    };
    let deadline = if misp_feed.is_some() {
        std::time::Duration::ZERO
    } else {
        matching.lookup.deadline
    };
    let resolver = Arc::new(Resolver::new(intel.clone(), matching.lookup.clone()));
    Ok(Offline {
        engine: Arc::new(Engine::new(
            resolver,
            matching.allowlist.clone(),
            matching.limits,
        )),
        intel,
        notes,
        skipped_feed_files,
        deadline,
    })
}

fn lists_note(env: &dyn Source, lists: &Lists) -> Option<String> {
    let w = lists.0.as_ref()?;
    let entries: usize = w.lists().iter().map(|l| l.entries).sum();
    Some(format!(
        "warninglists {}: {} lists, {entries} entries",
        vars::MISP_WARNINGLISTS_DIR.read(env).unwrap_or_default(),
        w.lists().len()
    ))
}

/// What loading a feed found, one line each: its size, what was refused and why, what was
/// skipped.
pub fn feed_notes(dir: &Path, feed: &FeedIntel, rules: &Rules) -> Vec<String> {
    let FeedReport {
        events,
        unpublished_events,
        skipped,
        refused,
        warninglisted,
    } = feed.report();
    let mut notes = vec![format!(
        "feed {}: {events} events, {} file-hash IOCs, {} network values",
        dir.display(),
        feed.len(),
        feed.network_len()
    )];
    if *unpublished_events > 0 && rules.published_only {
        notes.push(format!(
            "feed: {unpublished_events} unpublished event(s) not matched (MISP_PUBLISHED_ONLY=true)"
        ));
    }
    if !refused.is_empty() {
        let why: Vec<String> = refused.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let lists: Vec<String> = warninglisted
            .iter()
            .map(|(l, n)| format!("{l}: {n}"))
            .collect();
        let lists = if lists.is_empty() {
            String::new()
        } else {
            format!(" ({})", lists.join(", "))
        };
        notes.push(format!(
            "feed: attributes left out: {}{lists}",
            why.join(", ")
        ));
    }
    for (file, why) in skipped {
        notes.push(format!("warning: feed event file {file} skipped: {why}"));
    }
    if feed.is_empty() {
        notes.push(
            "warning: the feed holds no file-hash or network IOC that counts: nothing can match"
                .to_owned(),
        );
    }
    notes
}
