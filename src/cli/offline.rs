//! What `scan` and `replay` share outside Azure: the engine they match with (a MISP feed folder
//! or the MISP server of the settings) and the files they read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::config::MatchConfig;
use crate::engine::Engine;
use crate::intel::ThreatIntel;
use crate::intel::config::MispSettings;
use crate::intel::feed::FeedIntel;
use crate::intel::misp::MispIntel;
use crate::intel::resolver::Resolver;
use crate::settings::Source;

/// Every file under the given paths, in a stable order.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            entries.sort();
            files.extend(collect_files(&entries)?);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// The engine for work outside Azure (`scan`, `replay`): a MISP feed folder when given, else the
/// MISP server of `MISP_URL`/`MISP_API_KEY`; `command` names the caller in the error.
pub fn offline_engine(
    misp_feed: Option<&Path>,
    env: &dyn Source,
    command: &str,
) -> anyhow::Result<Engine> {
    let matching = MatchConfig::from_env(env)?;
    let intel: Arc<dyn ThreatIntel> = match misp_feed {
        Some(dir) => {
            let feed = FeedIntel::load(dir, &crate::intel::rules::Rules::from_env(env)?)?;
            eprintln!(
                "feed {}: {} events, {} file-hash IOCs",
                dir.display(),
                feed.events(),
                feed.len()
            );
            Arc::new(feed)
        }
        None => Arc::new(MispIntel::new(&MispSettings::from_env(env).with_context(
            || format!("{command} needs MISP_URL and MISP_API_KEY, or --misp-feed DIR"),
        )?)?),
    };
    let resolver = Arc::new(Resolver::new(intel, matching.lookup.clone()));
    Ok(Engine::new(
        resolver,
        matching.allowlist.clone(),
        matching.limits,
    ))
}
