//! The refresher: a full load at start and every `MISP_SNAPSHOT_RESYNC_SECS`, an incremental
//! pull of the window since the last good pull every `MISP_SNAPSHOT_REFRESH_SECS`; each builds a
//! new [`Index`] off the async threads and swaps it in. A failed pull keeps the last good index.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::index::Index;
use super::pull::Puller;
use super::{FIRST_LOAD_RETRY, WINDOW_OVERLAP};
use crate::intel::IntelError;
use crate::intel::config::SnapshotSettings;

pub(super) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What one refresh did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshReport {
    pub full: bool,
    pub pages: usize,
    pub upserted: usize,
    pub removed: usize,
    pub entries: usize,
    /// Network attributes held (issue 15).
    pub network: usize,
}

/// State the refresher and the lookups share.
pub(super) struct Shared {
    pub(super) index: RwLock<Option<Arc<Index>>>,
    /// When the last good pull ended.
    pub(super) last_ok: Mutex<Option<Instant>>,
}

/// When the refresher last pulled.
#[derive(Default)]
pub(super) struct Cursor {
    /// Unix time the next incremental window starts at.
    since: Option<i64>,
    last_full: Option<Instant>,
}

/// The refresher: one full load, then incremental pulls and periodic full resyncs.
pub(super) struct Loader {
    pub(super) puller: Puller,
    pub(super) shared: Arc<Shared>,
    pub(super) settings: SnapshotSettings,
    pub(super) cursor: tokio::sync::Mutex<Cursor>,
}

impl Loader {
    pub(super) async fn refresh(&self, force_full: bool) -> Result<RefreshReport, IntelError> {
        let mut cursor = self.cursor.lock().await;
        let started = now_unix();
        let current = self
            .shared
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let resync_due = cursor
            .last_full
            .is_none_or(|t| t.elapsed() >= self.settings.resync);
        let mut report = RefreshReport::default();
        let next = match (current, cursor.since) {
            (Some(current), Some(since)) if !force_full && !resync_due => {
                let (removed, upserted) =
                    self.puller.changes_since(since, &mut report.pages).await?;
                report.removed = removed.len();
                report.upserted = upserted.len();
                if removed.is_empty() && upserted.is_empty() {
                    current
                } else {
                    build(move || current.apply(&removed, upserted)).await?
                }
            }
            _ => {
                report.full = true;
                let builder = self.puller.everything(&mut report.pages).await?;
                report.upserted = builder.attributes();
                build(move || builder.finish()).await?
            }
        };
        report.entries = next.len();
        report.network = next.network_len();
        let replaced = self
            .shared
            .index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .replace(next);
        *self
            .shared
            .last_ok
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        cursor.since = Some(started - WINDOW_OVERLAP);
        if report.full {
            cursor.last_full = Some(Instant::now());
        }
        // The previous index goes when no lookup holds it any more; what it and the pull freed
        // is returned to the system now.
        drop(replaced);
        if report.full || report.upserted + report.removed > 0 {
            give_back_memory();
        }
        Ok(report)
    }

    pub(super) async fn run(self: Arc<Self>) {
        loop {
            let started = Instant::now();
            let wait = match self.refresh(false).await {
                Ok(r) => {
                    tracing::info!(
                        full = r.full,
                        pages = r.pages,
                        upserted = r.upserted,
                        removed = r.removed,
                        entries = r.entries,
                        network = r.network,
                        ms = started.elapsed().as_millis() as u64,
                        "IOC snapshot refreshed"
                    );
                    self.settings.refresh
                }
                Err(e) => {
                    let loaded = self
                        .shared
                        .index
                        .read()
                        .map(|i| i.is_some())
                        .unwrap_or(false);
                    tracing::warn!(error = %e, loaded, "IOC snapshot refresh failed; keeping the last good snapshot");
                    if loaded {
                        self.settings.refresh
                    } else {
                        self.settings.refresh.min(FIRST_LOAD_RETRY)
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Returns the memory freed so far to the system at once (`mi_collect(true)`: this thread's
/// free pages and every arena's free slices). mimalloc, the handler's allocator, would return it
/// only after its purge delay and at its next allocations, and a handler idle after a load of a
/// million IOCs kept a few hundred MB it no longer used. Where mimalloc is not the global
/// allocator (tests), it has nothing to return.
fn give_back_memory() {
    // SAFETY: mi_collect takes no pointer and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Builds an index off the async threads.
async fn build(make: impl FnOnce() -> Index + Send + 'static) -> Result<Arc<Index>, IntelError> {
    tokio::task::spawn_blocking(move || Arc::new(make()))
        .await
        .map_err(|e| IntelError::InvalidResponse(format!("index build: {e}")))
}
