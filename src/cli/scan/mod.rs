//! `defender-misp scan`: the engine outside Azure. Reads files, folders or standard input of
//! exported records in any of the shapes [`super::input`] knows, looks their hashes up in MISP
//! or a MISP feed folder, and prints one match record per line on stdout. The summary, problems
//! and progress go to stderr.
//!
//! A file is read on a thread of its own, a piece at a time, while its earlier pieces are decoded
//! and matched on the other cores (at most a few pieces in flight, so memory stays bounded
//! whatever the file's size); matches are printed in file order. Each record is one event of the
//! summary: matched, clean, or failed (threat intel did not answer for its hashes); a line or
//! row that cannot be decoded is a failed event too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;

mod consumer;

use consumer::Consumer;

use super::input::reader::{Event, read_inputs};
use super::input::walk::walk;
use super::input::{Chunk, Work};
use super::offline::offline_engine;
use crate::engine::{BatchOutcome, Engine};
use crate::intel::LookupKey;
use crate::settings::Source;

/// Problems shown per file; the rest are counted.
pub const PROBLEMS_SHOWN_PER_FILE: usize = 10;
/// How long a batch may wait on MISP before the user is told.
pub const WAIT_NOTICE: Duration = Duration::from_secs(10);

/// What to scan, and against what.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub paths: Vec<PathBuf>,
    pub misp_feed: Option<PathBuf>,
    /// Draw progress (when stderr is a terminal); `--quiet` turns it off.
    pub progress: bool,
}

/// One decoded and matched piece of a file.
struct Batch {
    lines: Vec<u64>,
    errors: Vec<(u64, String)>,
    outcome: BatchOutcome,
    distinct: Vec<LookupKey>,
}

/// A step of the scan, in file order.
enum Step {
    Batch(Box<Result<Batch, String>>),
    Event(Event),
}

/// A spawned task that is aborted when dropped (when the scan stops early).
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Counts the pieces waiting on threat intel while it lives.
struct Looking(Arc<AtomicUsize>);

impl Looking {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Looking {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn match_piece(
    engine: Arc<Engine>,
    work: Work,
    looking: Arc<AtomicUsize>,
) -> Result<Batch, String> {
    let chunk: Chunk = tokio::task::spawn_blocking(move || work.decode())
        .await
        .map_err(|e| format!("internal: decoding failed: {e}"))?;
    let _looking = Looking::new(&looking);
    let (outcome, distinct) = engine.process_records(chunk.records).await;
    Ok(Batch {
        lines: chunk.lines,
        errors: chunk.errors,
        outcome,
        distinct,
    })
}

/// Runs a scan. Exit code: 0 when every record ended matched or clean (whether or not anything
/// matched) and every input was read; 1 when the scan is incomplete (a record, line or file
/// could not be processed, a feed event file was skipped, or MISP stopped answering); each
/// problem is reported on stderr.
pub async fn run(options: ScanOptions, env: &dyn Source) -> anyhow::Result<ExitCode> {
    let offline = offline_engine(options.misp_feed.as_deref(), env, "scan")?;
    for note in &offline.notes {
        eprintln!("{note}");
    }
    let walked = walk(&options.paths);
    let mut scan = Consumer::new(&offline, &walked.inputs, options.progress);
    for (path, why) in &walked.unreadable {
        scan.progress.suspend(|| eprintln!("{path}: {why}"));
        scan.unreadable += 1;
    }
    let bytes = scan.bytes.clone();
    let inputs = walked.inputs.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Event)>(8);
    let reader = std::thread::spawn(move || {
        read_inputs(&inputs, &bytes, &mut |i, e| {
            tx.blocking_send((i, e)).is_ok()
        });
    });
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let engine = offline.engine.clone();
    let looking = scan.looking.clone();
    let steps = futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|x| (x, rx)) })
        .map(move |(file, event)| {
            let task = match event {
                Event::Work(work) => Ok(Aborting(tokio::spawn(match_piece(
                    engine.clone(),
                    work,
                    looking.clone(),
                )))),
                other => Err(other),
            };
            async move {
                match task {
                    Ok(mut t) => {
                        let done = (&mut t.0).await;
                        let done = done.unwrap_or_else(|e| Err(format!("internal: {e}")));
                        (file, Step::Batch(Box::new(done)))
                    }
                    Err(event) => (file, Step::Event(event)),
                }
            }
        })
        .buffered(parallel);
    if scan.consume(steps).await? {
        let _ = reader.join();
    }
    // When the scan ends early the reader may be blocked on standard input: it is not waited for.
    if scan.closed {
        scan.progress.finish();
        return Ok(ExitCode::SUCCESS);
    }
    Ok(scan.finish(&offline))
}
