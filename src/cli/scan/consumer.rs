//! The scan's consumer: takes the matched pieces in file order, prints matches, reports
//! problems (capped per file), counts, tells the user what it waits on, and ends the scan early
//! when stdout is closed or MISP answers nothing.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::{Batch, PROBLEMS_SHOWN_PER_FILE, Step, WAIT_NOTICE};
use crate::cli::input::reader::Event;
use crate::cli::input::walk::Input;
use crate::cli::offline::Offline;
use crate::cli::progress::Progress;
use crate::engine::{BatchOutcome, BatchSummary};
use crate::intel::LookupKey;
use crate::intel::human_duration;

/// The scan's state as steps arrive: output, problems, counters.
pub(super) struct Consumer<'a> {
    pub(super) inputs: &'a [Input],
    pub(super) progress: Progress,
    pub(super) bytes: Arc<AtomicU64>,
    pub(super) total: BatchSummary,
    pub(super) distinct: HashSet<(u8, u128)>,
    /// Problems of the current file: shown, and left unshown.
    pub(super) shown: usize,
    pub(super) unshown: usize,
    pub(super) unreadable: usize,
    pub(super) stopped: Option<String>,
    /// Standard output was closed (`scan … | head -1`): end quietly.
    pub(super) closed: bool,
    pub(super) deadline: Duration,
    /// Pieces waiting on threat intel now.
    pub(super) looking: Arc<AtomicUsize>,
    pub(super) started: Instant,
}

impl<'a> Consumer<'a> {
    pub(super) fn new(offline: &Offline, inputs: &'a [Input], progress: bool) -> Self {
        let bytes = Arc::new(AtomicU64::new(0));
        let total = inputs
            .iter()
            .map(Input::size)
            .try_fold(0u64, |sum, s| s.map(|s| sum + s));
        let show = progress && std::io::stderr().is_terminal();
        Self {
            inputs,
            progress: Progress::new(show, total, bytes.clone()),
            bytes,
            total: BatchSummary::default(),
            distinct: HashSet::new(),
            shown: 0,
            unshown: 0,
            unreadable: 0,
            stopped: None,
            closed: false,
            deadline: offline.deadline,
            looking: Arc::default(),
            started: Instant::now(),
        }
    }

    /// Takes every step; `Ok(false)` when the scan ended early (closed output, MISP down).
    pub(super) async fn consume(
        &mut self,
        steps: impl futures::Stream<Item = (usize, Step)>,
    ) -> anyhow::Result<bool> {
        let mut steps = std::pin::pin!(steps);
        let mut since = Instant::now();
        let mut noticed = false;
        loop {
            let step = match tokio::time::timeout(Duration::from_secs(1), steps.next()).await {
                Ok(Some(step)) => step,
                Ok(None) => return Ok(true),
                Err(_) => {
                    self.waiting(since.elapsed(), &mut noticed);
                    continue;
                }
            };
            (since, noticed) = (Instant::now(), false);
            let name = self.inputs.get(step.0).map(Input::name).unwrap_or_default();
            let go_on = match step.1 {
                Step::Event(Event::Format(_)) => {
                    self.progress.file(&name);
                    true
                }
                Step::Event(Event::Work(_)) => true,
                Step::Event(Event::End(why)) => {
                    self.end_of_file(&name, why);
                    true
                }
                Step::Batch(done) => match *done {
                    Ok(batch) => self.batch(&name, batch)?,
                    Err(why) => {
                        self.problem(&name, None, &why);
                        true
                    }
                },
            };
            if !go_on {
                return Ok(false);
            }
        }
    }

    /// Tells the user when threat intel keeps a batch waiting: on the bar, and once per stall
    /// in a line after [`WAIT_NOTICE`].
    fn waiting(&mut self, waited: Duration, noticed: &mut bool) {
        let on_misp = self.deadline > Duration::ZERO && self.looking.load(Ordering::Relaxed) > 0;
        self.progress
            .waiting(waited, if on_misp { "MISP" } else { "input" });
        if waited >= WAIT_NOTICE && on_misp && !*noticed {
            *noticed = true;
            let deadline = human_duration(self.deadline);
            self.progress.suspend(|| {
                eprintln!(
                    "waiting for MISP: no answer for {} (a lookup gives up after MISP_DEADLINE_SECS={deadline})",
                    human_duration(waited)
                );
            });
        }
    }

    /// Prints a batch's matches and reports its problems; `Ok(false)` to stop the scan.
    fn batch(&mut self, name: &str, batch: Batch) -> anyhow::Result<bool> {
        let Batch {
            lines,
            errors,
            outcome,
            distinct,
        } = batch;
        if !print_matches(&outcome)? {
            self.closed = true;
            return Ok(false);
        }
        for (line, why) in &errors {
            self.problem(name, Some(*line), why);
        }
        for dead in &outcome.dead {
            self.problem(name, lines.get(dead.index).copied(), &dead.reason);
        }
        self.add(&outcome.summary, errors.len());
        for h in &distinct {
            self.distinct.insert(fingerprint(h));
        }
        self.progress.add(lines.len(), outcome.matches.len());
        // Threat intel answered for none of the batch's hashes: it is down, and every later
        // batch would wait the whole deadline to learn the same.
        let s = &outcome.summary;
        if s.unanswered > 0 && s.unanswered == distinct.len() {
            let why = outcome.dead.first().map_or("", |d| d.reason.as_str());
            let after = lines
                .first()
                .map_or(String::new(), |l| format!(" from line {l}"));
            self.stopped = Some(format!(
                "scan stopped: {why}; the records of {name}{after} on, and every later input, were not checked"
            ));
            return Ok(false);
        }
        Ok(true)
    }

    fn add(&mut self, s: &BatchSummary, undecoded: usize) {
        let t = &mut self.total;
        t.events += s.events + undecoded;
        t.dead_lettered += s.dead_lettered + undecoded;
        t.records += s.records;
        t.hashes += s.hashes;
        t.invalid_hashes += s.invalid_hashes;
        t.empty_hashes += s.empty_hashes;
        t.indicators += s.indicators;
        t.invalid_indicators += s.invalid_indicators;
        t.skipped_indicators += s.skipped_indicators;
        t.allowlisted += s.allowlisted;
        t.cache_hits += s.cache_hits;
        t.misp_requests += s.misp_requests;
        t.unanswered += s.unanswered;
        t.matches += s.matches;
        t.matched_events += s.matched_events;
        t.clean_events += s.clean_events;
    }

    /// A problem of the current file, shown while fewer than [`PROBLEMS_SHOWN_PER_FILE`] were.
    fn problem(&mut self, name: &str, line: Option<u64>, why: &str) {
        if self.shown >= PROBLEMS_SHOWN_PER_FILE {
            self.unshown += 1;
            return;
        }
        self.shown += 1;
        let at = line.map_or(String::new(), |l| format!(" line {l}"));
        self.progress.suspend(|| eprintln!("{name}:{at}: {why}"));
    }

    fn end_of_file(&mut self, name: &str, why: Option<String>) {
        if self.unshown > 0 {
            let n = self.unshown;
            self.progress
                .suspend(|| eprintln!("{name}: … and {n} more problem(s) not shown"));
        }
        (self.shown, self.unshown) = (0, 0);
        if let Some(why) = why {
            self.unreadable += 1;
            self.progress.suspend(|| eprintln!("{name}: {why}"));
        }
    }

    /// The summary, and the exit code.
    pub(super) fn finish(mut self, offline: &Offline) -> ExitCode {
        self.progress.finish();
        if let Some(stopped) = &self.stopped {
            eprintln!("{stopped}");
        }
        self.total.distinct = self.distinct.len();
        self.total.misp_requests = offline
            .intel
            .requests_sent()
            .unwrap_or(self.total.misp_requests);
        self.total.millis = self.started.elapsed().as_millis();
        eprintln!(
            "scanned {} input(s) in {}: {}",
            self.inputs.len(),
            human_duration(self.started.elapsed()),
            self.total
        );
        let mut partial = Vec::new();
        if self.total.dead_lettered > 0 {
            partial.push(format!(
                "{} record(s) or line(s) failed",
                self.total.dead_lettered
            ));
        }
        if self.unreadable > 0 {
            partial.push(format!("{} input(s) could not be read", self.unreadable));
        }
        if offline.skipped_feed_files > 0 {
            partial.push(format!(
                "{} feed event file(s) skipped",
                offline.skipped_feed_files
            ));
        }
        if self.stopped.is_some() {
            partial.push("stopped before the end".to_owned());
        }
        if partial.is_empty() {
            ExitCode::SUCCESS
        } else {
            eprintln!("partial scan: {}", partial.join(", "));
            ExitCode::from(1)
        }
    }
}

/// Writes a batch's matches as JSON lines; `Ok(false)` when stdout was closed (`| head`).
fn print_matches(outcome: &BatchOutcome) -> anyhow::Result<bool> {
    if outcome.matches.is_empty() {
        return Ok(true);
    }
    let mut text = Vec::with_capacity(outcome.matches.len() * 1024);
    for m in &outcome.matches {
        serde_json::to_writer(&mut text, m)?;
        text.push(b'\n');
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A lookup key as 136 bits, for counting distinct keys of a large scan in little memory: a
/// hash's type and its first 128 bits (all of an MD5's; a collision of the rest is out of
/// reach); a network indicator's tag (255) and the first 128 bits of SHA-256 over its text.
fn fingerprint(k: &LookupKey) -> (u8, u128) {
    match k {
        LookupKey::Hash(h) => {
            let bits = u128::from_str_radix(&h.as_str()[..32], 16).unwrap_or(0);
            (h.kind() as u8, bits)
        }
        LookupKey::Net(i) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(i.text().as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&digest[..16]);
            (u8::MAX, u128::from_be_bytes(first))
        }
    }
}
