//! Progress of a long scan on stderr: bytes read of the total, bytes and records per second,
//! matches so far, the file being read, and how long MISP has been waited on. Drawn only when
//! stderr is a terminal and `--quiet` is not given; otherwise nothing is drawn at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress bar of one scan.
pub struct Progress {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
    records: u64,
    matches: u64,
    file: String,
    started: Instant,
}

impl Progress {
    /// A bar over `total` bytes (a spinner when the size is unknown, as for standard input),
    /// following `bytes`; hidden unless `show`.
    pub fn new(show: bool, total: Option<u64>, bytes: Arc<AtomicU64>) -> Self {
        let bar = match (show, total) {
            (false, _) => ProgressBar::hidden(),
            (true, Some(total)) => {
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(5))
                    .with_style(style(
                        "{spinner} [{bar:24}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                    ))
            }
            (true, None) => {
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5))
                    .with_style(style("{spinner} {bytes} {bytes_per_sec} {msg}"))
            }
        };
        if show {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self {
            bar,
            bytes,
            records: 0,
            matches: 0,
            file: String::new(),
            started: Instant::now(),
        }
    }

    /// The file now being read.
    pub fn file(&mut self, name: &str) {
        self.file = name.to_owned();
        self.redraw(None);
    }

    /// Records and matches of one more batch.
    pub fn add(&mut self, records: usize, matches: usize) {
        self.records += records as u64;
        self.matches += matches as u64;
        self.redraw(None);
    }

    /// How long the scan has waited, and on what (`MISP`, `input`).
    pub fn waiting(&mut self, waited: Duration, on: &'static str) {
        self.redraw(Some((waited, on)));
    }

    fn redraw(&self, waiting: Option<(Duration, &'static str)>) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_position(self.bytes.load(Ordering::Relaxed));
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (self.records as f64 / secs).round() as u64;
        let wait = waiting
            .map(|(w, on)| format!(" · waiting for {on} {}s", w.as_secs()))
            .unwrap_or_default();
        self.bar.set_message(format!(
            "{} records ({rate}/s) · {} matches · {}{wait}",
            self.records, self.matches, self.file
        ));
    }

    /// Runs `f` (printing to stderr) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
