//! `defender-misp scan`: the engine outside Azure. Reads files or folders of exported records
//! (the Streaming API's Storage export as JSON lines, or `{"records":[…]}` documents, told apart
//! by content), looks their hashes up in MISP or a MISP feed folder, and prints one match record
//! per line on stdout. The summary, problems and a progress bar go to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::offline::{collect_files, offline_engine};
use crate::engine::{BatchSummary, EventInput};
use crate::settings::Source;

/// Lines of a JSON-lines file matched as one batch.
pub const SCAN_BATCH_LINES: usize = 1000;

/// What to scan, and against what.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub paths: Vec<PathBuf>,
    pub misp_feed: Option<PathBuf>,
    pub progress: bool,
}

/// Splits a file into event bodies: a single JSON document is one body; otherwise each
/// non-blank line is one (so a bad line is reported on its own).
pub fn split_events(bytes: &[u8]) -> Vec<Vec<u8>> {
    let single = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    if single {
        return vec![bytes.to_vec()];
    }
    bytes
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(<[u8]>::to_vec)
        .collect()
}

fn add(total: &mut BatchSummary, s: &BatchSummary) {
    total.events += s.events;
    total.records += s.records;
    total.hashes += s.hashes;
    total.distinct += s.distinct;
    total.invalid_hashes += s.invalid_hashes;
    total.empty_hashes += s.empty_hashes;
    total.allowlisted += s.allowlisted;
    total.cache_hits += s.cache_hits;
    total.misp_requests += s.misp_requests;
    total.unanswered += s.unanswered;
    total.matches += s.matches;
    total.matched_events += s.matched_events;
    total.clean_events += s.clean_events;
    total.dead_lettered += s.dead_lettered;
    total.millis += s.millis;
}

/// Runs a scan. Exit code: 0 when every event ended matched or clean (whether or not anything
/// matched), 1 when some events could not be processed (each is reported on stderr).
pub async fn run(options: ScanOptions, env: &dyn Source) -> anyhow::Result<ExitCode> {
    let engine = offline_engine(options.misp_feed.as_deref(), env, "scan")?;
    let files = collect_files(&options.paths)?;

    let bar = if options.progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} files {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut total = BatchSummary::default();
    let stdout = std::io::stdout();
    for file in &files {
        bar.set_message(
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let events = split_events(&bytes);
        for (n, batch) in events.chunks(SCAN_BATCH_LINES).enumerate() {
            let inputs = batch
                .iter()
                .map(|b| EventInput {
                    bytes: b.clone(),
                    meta: Default::default(),
                })
                .collect();
            let outcome = engine.process(inputs, false).await;
            let mut out = stdout.lock();
            for m in &outcome.matches {
                serde_json::to_writer(&mut out, m)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            for d in &outcome.dead {
                let line = n * SCAN_BATCH_LINES + d.index + 1;
                bar.suspend(|| eprintln!("{}: event {line}: {}", display(file), d.reason));
            }
            add(&mut total, &outcome.summary);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("scanned {} file(s): {total}", files.len());
    Ok(if total.dead_lettered == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_one_event_and_json_lines_are_one_each() {
        assert_eq!(split_events(br#"{"records":[{"properties":{}}]}"#).len(), 1);
        let lines = b"{\"properties\":{}}\r\n{\"properties\":{}}\r\n\r\nnot json\n";
        let events = split_events(lines);
        assert_eq!(events.len(), 3);
        assert_eq!(events[2], b"not json");
        assert_eq!(events[0], b"{\"properties\":{}}");
    }
}
