//! An in-memory snapshot of MISP's IOC hashes, so matching never waits on restSearch
//! (`MISP_MODE=snapshot` or `hybrid`; the pitfalls of pulling incrementally that it handles are
//! in `docs/sources.md` §4). The index is `index`, the pulls `pull`, the refresher `loader`.
//!
//! **What it holds.** Every live `to_ids` attribute of a network type (issue 15: exact values, a
//! prefix index of CIDR networks, URLs; `intel::network`), and every one of a hash type ([`HASH_ATTRIBUTE_TYPES`](super::HASH_ATTRIBUTE_TYPES),
//! composites and object attributes included, published only when `MISP_PUBLISHED_ONLY`) as a
//! binary digest in one of three sorted arrays (MD5, SHA-1, SHA-256) with a directory on the
//! digests' leading bits (`table`: a lookup is two cache misses), each entry carrying the
//! attribute id, event id, attribute uuid and type; plus each event's uuid and `info`.
//!
//! **How it is kept.** A background task pulls `POST /attributes/restSearch` page by page
//! (`limit`/`page`, the online search's type list and filters, without `value`):
//! - a full load at start, and again every `MISP_SNAPSHOT_RESYNC_SECS` (this is what removes
//!   hard-deleted events and attributes of events that were unpublished: neither is visible to
//!   a time-windowed pull);
//! - every `MISP_SNAPSHOT_REFRESH_SECS`, an incremental pull of the window since the last good
//!   pull began (less [`WINDOW_OVERLAP`] for clock skew), three queries: additions by
//!   `timestamp` (attribute edits), additions by `publish_timestamp` (publishing an old event
//!   does not move its attributes' timestamps), and removals by `timestamp` with
//!   `deleted: [0, 1]` and no `to_ids` filter (soft deletes and `to_ids` switched off).
//!
//! Each page is read straight into the reduced form (`page`), and a new index is built off the
//! async threads and swapped in whole; a failed pull keeps the last good snapshot and says so in
//! a warning. Lookups never wait for a pull.
//!
//! **How it answers.** Hashes are matched locally; the resolver takes the misses straight from
//! [`ThreatIntel::known_misses`], without its cache or in-flight bookkeeping. Only hashes that
//! hit are sent to MISP, in one
//! restSearch (bounded by [`CONFIRM_TIMEOUT`]) for their full context (threat level, tags) and
//! to confirm them: a hit MISP no longer knows is dropped. If that request fails, the snapshot's
//! own context (event id, uuid, info, attribute uuid and type) is used.
//!
//! **Modes.** `snapshot`: until the first full load completes, lookups fail at once with
//! [`IntelError::SnapshotLoading`] (the host retries the batch; nothing is called clean
//! unseen). `hybrid`: every lookup goes to MISP online, as in `online` mode, while the snapshot
//! is not loaded or is stale (no good pull for [`STALE_AFTER_REFRESHES`] refresh intervals);
//! otherwise it answers as `snapshot` does.
//!
//! **Staleness.** An IOC added or changed in MISP is matched at most one refresh interval plus
//! one pull's request time after the change (misses are not cached in these modes); a hard
//! delete or an unpublish is seen at the next full resync, and a hit already cached by the
//! resolver lives up to `MISP_CACHE_HIT_TTL_SECS`, as in online mode.

mod index;
mod loader;
mod net;
mod page;
mod pull;
mod table;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::config::{MispMode, MispSettings};
use super::misp::MispIntel;
use super::policy::RetryPolicy;
use super::{Hits, IntelError, LookupKey, ThreatIntel};
use crate::records::FileHash;
pub use index::Index;
pub use loader::RefreshReport;
use loader::{Loader, Shared};
use pull::Puller;

/// Seconds subtracted from the window start of an incremental pull, for clock skew between
/// this host and MISP.
pub const WINDOW_OVERLAP: i64 = 120;
/// In `hybrid` mode the snapshot is stale, and lookups go online, after this many refresh
/// intervals without a good pull.
pub const STALE_AFTER_REFRESHES: u32 = 2;
/// How long a batch with hits waits for MISP's context before using the snapshot's own.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// Pages of one pull at most: a server that ignores `page` must not loop forever.
pub const MAX_PAGES: usize = 100_000;
/// Delay before retrying a failed first load.
pub const FIRST_LOAD_RETRY: Duration = Duration::from_secs(30);

/// The snapshot as a [`ThreatIntel`] source (`MISP_MODE=snapshot` or `hybrid`).
pub struct SnapshotIntel {
    loader: Arc<Loader>,
    online: Arc<MispIntel>,
    mode: MispMode,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for SnapshotIntel {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl SnapshotIntel {
    /// A snapshot that has not loaded; nothing runs until [`Self::spawn_refresher`] or
    /// [`Self::refresh`]. Each page is requested under `retry`.
    pub fn new(online: Arc<MispIntel>, misp: &MispSettings, retry: RetryPolicy) -> Self {
        let puller = Puller {
            client: online.client().clone(),
            retry,
            rules: misp.rules(),
            enforce_warninglist: misp.enforce_warninglist,
            page_size: misp.snapshot.page_size,
        };
        Self {
            loader: Arc::new(Loader {
                puller,
                shared: Arc::new(Shared {
                    index: RwLock::new(None),
                    last_ok: Mutex::new(None),
                }),
                settings: misp.snapshot.clone(),
                cursor: tokio::sync::Mutex::default(),
            }),
            online,
            mode: misp.snapshot.mode,
            task: Mutex::new(None),
        }
    }

    /// Starts the background refresher (first load at once). Call inside a tokio runtime.
    pub fn spawn_refresher(&self) {
        let task = tokio::spawn(self.loader.clone().run());
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Pulls now: a full load when none was done, `full` is asked or a resync is due, otherwise
    /// the incremental window. On error the last good snapshot stays.
    pub async fn refresh(&self, full: bool) -> Result<RefreshReport, IntelError> {
        self.loader.refresh(full).await
    }

    /// The snapshot in use, if one has loaded.
    pub fn index(&self) -> Option<Arc<Index>> {
        self.loader
            .shared
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fresh(&self) -> bool {
        let limit = self.loader.settings.refresh * STALE_AFTER_REFRESHES;
        self.loader
            .shared
            .last_ok
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() <= limit)
    }
}

#[async_trait::async_trait]
impl ThreatIntel for SnapshotIntel {
    fn chunk_size(&self) -> usize {
        self.online.chunk_size()
    }

    async fn lookup(&self, keys: &[LookupKey]) -> Result<Hits, IntelError> {
        self.lookup_counted(keys).await.0
    }

    fn known_misses(&self, keys: &[LookupKey]) -> Option<Vec<bool>> {
        let index = match self.mode {
            MispMode::Snapshot => self.index()?,
            MispMode::Hybrid if self.fresh() => self.index()?,
            _ => return None,
        };
        let hashes: Vec<&FileHash> = keys.iter().filter_map(LookupKey::as_hash).collect();
        let mut held = index.contains_all(&hashes).into_iter();
        Some(
            keys.iter()
                .map(|k| match k {
                    LookupKey::Hash(_) => !held.next().unwrap_or(false),
                    LookupKey::Net(_) => index.lookup_key(k).is_empty(),
                })
                .collect(),
        )
    }

    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    async fn lookup_counted(&self, keys: &[LookupKey]) -> (Result<Hits, IntelError>, usize) {
        let index = match (self.mode, self.index()) {
            (MispMode::Hybrid, Some(index)) if self.fresh() => index,
            (MispMode::Hybrid, _) | (MispMode::Online, _) => {
                return self.online.lookup_counted(keys).await;
            }
            (MispMode::Snapshot, Some(index)) => index,
            (MispMode::Snapshot, None) => return (Err(IntelError::SnapshotLoading), 0),
        };
        let local: Hits = keys
            .iter()
            .filter_map(|k| {
                let hits = index.lookup_key(k);
                (!hits.is_empty()).then(|| (k.clone(), hits))
            })
            .collect();
        if local.is_empty() {
            return (Ok(local), 0);
        }
        let hit_keys: Vec<LookupKey> = local.keys().cloned().collect();
        match tokio::time::timeout(CONFIRM_TIMEOUT, self.online.lookup(&hit_keys)).await {
            Ok(Ok(confirmed)) => (Ok(confirmed_or_local(confirmed, local)), 1),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, hits = local.len(), "MISP context for snapshot hits unavailable; using the snapshot's");
                (Ok(local), 1)
            }
            Err(_) => {
                tracing::warn!(hits = local.len(), timeout = ?CONFIRM_TIMEOUT, "MISP context for snapshot hits timed out; using the snapshot's");
                (Ok(local), 1)
            }
        }
    }
}

/// MISP's answer for the snapshot's hits: a hash MISP no longer knows is dropped; a network
/// key MISP does not answer keeps the snapshot's hits, since restSearch cannot find what only
/// a CIDR network holds (a removed network attribute goes at the next pull instead).
fn confirmed_or_local(mut confirmed: Hits, local: Hits) -> Hits {
    for (key, hits) in local {
        if key.as_indicator().is_some() && !confirmed.contains_key(&key) {
            confirmed.insert(key, hits);
        }
    }
    confirmed
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod tests;
