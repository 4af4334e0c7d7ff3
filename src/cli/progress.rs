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
    shown: bool,
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
        if !show {
            return Self::drawn_on(ProgressDrawTarget::hidden(), false, total, bytes);
        }
        let progress = Self::drawn_on(ProgressDrawTarget::stderr_with_hz(5), true, total, bytes);
        progress.bar.enable_steady_tick(Duration::from_millis(200));
        progress
    }

    /// The bar drawn on `target`, kept up to date when `shown`.
    fn drawn_on(
        target: ProgressDrawTarget,
        shown: bool,
        total: Option<u64>,
        bytes: Arc<AtomicU64>,
    ) -> Self {
        let template = match total {
            Some(_) => "{spinner} [{bar:24}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            None => "{spinner} {bytes} {bytes_per_sec} {msg}",
        };
        let bar = ProgressBar::with_draw_target(total, target).with_style(style(template));
        Self {
            bar,
            shown,
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
        if !self.shown {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kept_up(total: Option<u64>) -> (Progress, Arc<AtomicU64>) {
        let bytes = Arc::new(AtomicU64::new(0));
        let progress = Progress::drawn_on(ProgressDrawTarget::hidden(), true, total, bytes.clone());
        (progress, bytes)
    }

    #[test]
    fn the_bar_moves_with_the_bytes_read_and_counts_records_and_matches() {
        let (mut progress, bytes) = kept_up(Some(1000));
        progress.file("export.json");
        bytes.store(250, Ordering::Relaxed);
        progress.add(40, 1);
        assert_eq!(progress.bar.position(), 250);
        assert_eq!(progress.bar.length(), Some(1000));
        bytes.store(900, Ordering::Relaxed);
        progress.add(60, 2);
        assert_eq!(progress.bar.position(), 900);
        let message = progress.bar.message();
        assert!(
            message.starts_with("100 records (") && message.contains(" · 3 matches · export.json"),
            "{message}"
        );
    }

    #[test]
    fn a_wait_is_named_with_what_is_waited_on() {
        let (mut progress, _) = kept_up(None);
        progress.waiting(Duration::from_secs(12), "MISP");
        assert!(
            progress.bar.message().ends_with(" · waiting for MISP 12s"),
            "{}",
            progress.bar.message()
        );
        assert_eq!(progress.bar.length(), None, "a spinner without a total");
    }

    #[test]
    fn without_a_terminal_nothing_is_kept_or_drawn() {
        let bytes = Arc::new(AtomicU64::new(500));
        let mut progress = Progress::new(false, Some(1000), bytes);
        progress.add(10, 1);
        assert!(progress.bar.is_hidden());
        assert_eq!(progress.bar.position(), 0);
        assert_eq!(progress.bar.message(), "");
    }
}
