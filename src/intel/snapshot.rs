//! An in-memory snapshot of MISP's IOC hashes, so matching never waits on restSearch
//! (`MISP_MODE=snapshot` or `hybrid`; see `misp.md` §4.2 for the pull pitfalls it handles).
//!
//! **What it holds.** Every live `to_ids` attribute of a hash type ([`HASH_ATTRIBUTE_TYPES`],
//! composites and object attributes included, published only when `MISP_PUBLISHED_ONLY`) as a
//! binary digest in one of three sorted arrays (MD5, SHA-1, SHA-256), each entry carrying the
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
//! A new index is built off the async threads and swapped in whole; a failed pull keeps the last
//! good snapshot and says so in a warning. Lookups never wait for a pull.
//!
//! **How it answers.** Hashes are matched locally; the resolver takes the misses straight from
//! [`ThreatIntel::known_misses`], without its cache or in-flight bookkeeping. Only hashes that hit are sent to MISP, in one
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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::config::{MispMode, MispSettings, SnapshotSettings};
use super::misp::{Attribute, MispClient, MispIntel, SearchResponse};
use super::policy::RetryPolicy;
use super::{HASH_ATTRIBUTE_TYPES, IntelError, IntelHit, RawHit, ThreatIntel, hash_parts};
use crate::records::FileHash;

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

/// What an entry knows of its attribute, 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    id: u32,
    event: u32,
    uuid: [u8; 16],
    /// Index into [`HASH_ATTRIBUTE_TYPES`].
    kind: u8,
}

#[derive(Debug, Clone, Copy)]
struct Entry<const N: usize> {
    digest: [u8; N],
    meta: Meta,
}

/// Entries of one digest length, sorted by digest.
#[derive(Debug, Clone, Default)]
struct Table<const N: usize>(Vec<Entry<N>>);

impl<const N: usize> Table<N> {
    fn find(&self, digest: &[u8; N]) -> &[Entry<N>] {
        let start = self.0.partition_point(|e| e.digest < *digest);
        let end = start + self.0[start..].partition_point(|e| e.digest == *digest);
        &self.0[start..end]
    }

    fn sort(&mut self) {
        self.0.sort_unstable_by_key(|a| a.digest);
        self.0.shrink_to_fit();
    }

    /// A copy without the attributes in `drop`, plus `add`, sorted.
    fn rebuilt(&self, drop: &HashSet<u32>, add: impl Iterator<Item = Entry<N>>) -> Self {
        let mut v: Vec<Entry<N>> = self
            .0
            .iter()
            .filter(|e| !drop.contains(&e.meta.id))
            .copied()
            .collect();
        v.extend(add);
        let mut t = Table(v);
        t.sort();
        t
    }

    fn bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Entry<N>>()
    }
}

/// Event context kept from the pull (the default restSearch `Event` block).
#[derive(Debug, Clone, Default)]
struct EventContext {
    uuid: Box<str>,
    info: Box<str>,
}

/// One pulled attribute, reduced to what the index keeps.
#[derive(Debug, Clone)]
struct Pulled {
    hashes: Vec<FileHash>,
    meta: Meta,
    event: Option<EventContext>,
}

/// An immutable index of IOC hashes.
#[derive(Debug, Default)]
pub struct Index {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
    events: HashMap<u32, EventContext>,
}

fn digest<const N: usize>(hex: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    };
    for (i, pair) in hex.as_bytes().chunks_exact(2).take(N).enumerate() {
        out[i] = nibble(pair[0]) << 4 | nibble(pair[1]);
    }
    out
}

fn uuid_bytes(s: &str) -> [u8; 16] {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        digest::<16>(&hex.to_ascii_lowercase())
    } else {
        [0; 16]
    }
}

fn uuid_text(b: &[u8; 16]) -> String {
    if *b == [0; 16] {
        return String::new();
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Index {
    fn build(pulled: Vec<Pulled>) -> Self {
        let mut index = Index::default();
        index.add_events(&pulled);
        let (md5, sha1, sha256) = split(&pulled);
        index.md5 = Table(md5);
        index.sha1 = Table(sha1);
        index.sha256 = Table(sha256);
        index.md5.sort();
        index.sha1.sort();
        index.sha256.sort();
        index
    }

    fn add_events(&mut self, pulled: &[Pulled]) {
        for p in pulled {
            if let Some(e) = &p.event {
                self.events.insert(p.meta.event, e.clone());
            }
        }
    }

    /// A new index: this one without `removed` and `upserted` attribute ids, plus `upserted`.
    fn apply(&self, removed: &HashSet<u32>, upserted: Vec<Pulled>) -> Self {
        let mut drop = removed.clone();
        drop.extend(upserted.iter().map(|p| p.meta.id));
        let (md5, sha1, sha256) = split(&upserted);
        let mut index = Index {
            md5: self.md5.rebuilt(&drop, md5.into_iter()),
            sha1: self.sha1.rebuilt(&drop, sha1.into_iter()),
            sha256: self.sha256.rebuilt(&drop, sha256.into_iter()),
            events: self.events.clone(),
        };
        index.add_events(&upserted);
        index
    }

    /// Hash entries held (an attribute with two hash parts counts twice).
    pub fn len(&self) -> usize {
        self.md5.0.len() + self.sha1.0.len() + self.sha256.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes of the arrays and event contexts, approximately.
    pub fn heap_bytes(&self) -> usize {
        let events: usize = self
            .events
            .values()
            .map(|e| e.uuid.len() + e.info.len() + 48)
            .sum();
        self.md5.bytes() + self.sha1.bytes() + self.sha256.bytes() + events
    }

    fn metas(&self, hash: &FileHash) -> Vec<Meta> {
        let s = hash.as_str();
        match hash {
            FileHash::Md5(_) => self.md5.find(&digest(s)).iter().map(|e| e.meta).collect(),
            FileHash::Sha1(_) => self.sha1.find(&digest(s)).iter().map(|e| e.meta).collect(),
            FileHash::Sha256(_) => self
                .sha256
                .find(&digest(s))
                .iter()
                .map(|e| e.meta)
                .collect(),
        }
    }

    /// Whether any attribute holds `hash`.
    pub fn contains(&self, hash: &FileHash) -> bool {
        let s = hash.as_str();
        match hash {
            FileHash::Md5(_) => !self.md5.find(&digest(s)).is_empty(),
            FileHash::Sha1(_) => !self.sha1.find(&digest(s)).is_empty(),
            FileHash::Sha256(_) => !self.sha256.find(&digest(s)).is_empty(),
        }
    }

    /// The attributes that hold `hash`, with the context the snapshot keeps.
    pub fn lookup(&self, hash: &FileHash) -> Vec<IntelHit> {
        let mut hits: Vec<IntelHit> = Vec::new();
        for m in self.metas(hash) {
            let event = self.events.get(&m.event).cloned().unwrap_or_default();
            let hit = IntelHit::new(RawHit {
                event_id: &m.event.to_string(),
                event_uuid: &event.uuid,
                event_info: &event.info,
                threat_level_id: None,
                attribute_uuid: &uuid_text(&m.uuid),
                attribute_type: HASH_ATTRIBUTE_TYPES
                    .get(usize::from(m.kind))
                    .copied()
                    .unwrap_or(""),
                tags: Vec::new(),
            });
            if !hits.contains(&hit) {
                hits.push(hit);
            }
        }
        hits
    }
}

type Split = (Vec<Entry<16>>, Vec<Entry<20>>, Vec<Entry<32>>);

fn split(pulled: &[Pulled]) -> Split {
    let (mut md5, mut sha1, mut sha256) = (Vec::new(), Vec::new(), Vec::new());
    for p in pulled {
        for h in &p.hashes {
            let s = h.as_str();
            match h {
                FileHash::Md5(_) => md5.push(Entry {
                    digest: digest(s),
                    meta: p.meta,
                }),
                FileHash::Sha1(_) => sha1.push(Entry {
                    digest: digest(s),
                    meta: p.meta,
                }),
                FileHash::Sha256(_) => sha256.push(Entry {
                    digest: digest(s),
                    meta: p.meta,
                }),
            }
        }
    }
    (md5, sha1, sha256)
}

fn parse_id(s: Option<&str>) -> Option<u32> {
    s?.trim().parse().ok()
}

/// Reduces a restSearch attribute; `None` when it has no usable id or no hash.
fn reduce(a: &Attribute) -> Option<Pulled> {
    let kind = a.kind.as_deref().unwrap_or("");
    let kind = HASH_ATTRIBUTE_TYPES.iter().position(|t| *t == kind)? as u8;
    let id = parse_id(a.id.as_deref())?;
    let event_block = a.event.as_ref();
    let event = parse_id(
        event_block
            .and_then(|e| e.id.as_deref())
            .or(a.event_id.as_deref()),
    )?;
    let hashes: Vec<FileHash> = hash_parts(a.value.as_deref().unwrap_or("")).collect();
    if hashes.is_empty() {
        return None;
    }
    Some(Pulled {
        hashes,
        meta: Meta {
            id,
            event,
            uuid: uuid_bytes(a.uuid.as_deref().unwrap_or("")),
            kind,
        },
        event: event_block.map(|e| EventContext {
            uuid: e.uuid.as_deref().unwrap_or("").into(),
            info: crate::text::clean_text(
                e.info.as_deref().unwrap_or(""),
                super::bounds::EVENT_INFO_CHARS,
            )
            .into(),
        }),
    })
}

fn live(a: &Attribute, published_only: bool) -> bool {
    let unpublished = a
        .event
        .as_ref()
        .is_some_and(|e| e.published.0 == Some(false));
    a.to_ids.0 != Some(false) && a.deleted.0 != Some(true) && !(published_only && unpublished)
}

fn now_unix() -> i64 {
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
}

/// Pages restSearch for the snapshot, each page under the retry policy of lookups (the breaker
/// stays theirs: a background pull that fails keeps the last good snapshot and tries again at
/// the next interval).
struct Puller {
    client: MispClient,
    retry: RetryPolicy,
    published_only: bool,
    enforce_warninglist: bool,
    page_size: usize,
}

impl Puller {
    /// The live-IOC filters of the online search, without `value`.
    fn live_filters(&self) -> Value {
        let mut body = json!({
            "returnFormat": "json",
            "type": HASH_ATTRIBUTE_TYPES,
            "to_ids": 1,
            "deleted": 0,
            "enforceWarninglist": u8::from(self.enforce_warninglist),
        });
        if self.published_only {
            body["published"] = json!(1);
        }
        body
    }

    /// Every page of one query.
    async fn pull(&self, body: Value, pages: &mut usize) -> Result<Vec<Attribute>, IntelError> {
        let mut out = Vec::new();
        self.pull_pages(body, pages, |page| out.extend(page))
            .await?;
        Ok(out)
    }

    /// Every page of one query, each handed to `each` as it arrives, so that a full load holds
    /// one page of full attributes at a time, never the whole pull.
    async fn pull_pages(
        &self,
        mut body: Value,
        pages: &mut usize,
        mut each: impl FnMut(Vec<Attribute>),
    ) -> Result<(), IntelError> {
        body["limit"] = json!(self.page_size);
        for page in 1..=MAX_PAGES {
            body["page"] = json!(page);
            let parsed = self.page(&body).await?;
            *pages += 1;
            let n = parsed.response.attribute.len();
            each(parsed.response.attribute);
            // A short page is the last; a long one means the server ignored `limit`.
            if n != self.page_size {
                return Ok(());
            }
        }
        Err(IntelError::InvalidResponse(format!(
            "restSearch paging did not end within {MAX_PAGES} pages"
        )))
    }

    /// One page, retried by the policy.
    async fn page(&self, body: &Value) -> Result<SearchResponse, IntelError> {
        let fetch = || async {
            let answer = async {
                let response = self
                    .client
                    .post_json("attributes/restSearch", body, None)
                    .await?;
                self.client.read_json::<SearchResponse>(response).await
            };
            (answer.await, 1)
        };
        self.retry
            .run("IOC snapshot page", None, None, fetch)
            .await
            .0
    }
}

/// State the refresher and the lookups share.
struct Shared {
    index: RwLock<Option<Arc<Index>>>,
    /// When the last good pull ended.
    last_ok: Mutex<Option<Instant>>,
}

/// When the refresher last pulled.
#[derive(Default)]
struct Cursor {
    /// Unix time the next incremental window starts at.
    since: Option<i64>,
    last_full: Option<Instant>,
}

/// The refresher: one full load, then incremental pulls and periodic full resyncs.
struct Loader {
    puller: Puller,
    shared: Arc<Shared>,
    settings: SnapshotSettings,
    cursor: tokio::sync::Mutex<Cursor>,
}

impl Loader {
    async fn refresh(&self, force_full: bool) -> Result<RefreshReport, IntelError> {
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
                let mut edited = self.puller.live_filters();
                edited["timestamp"] = json!(since);
                let mut upserts = self.puller.pull(edited, &mut report.pages).await?;
                let mut published = self.puller.live_filters();
                published["publish_timestamp"] = json!(since);
                upserts.extend(self.puller.pull(published, &mut report.pages).await?);
                let mut changed = self.puller.live_filters();
                if let Some(o) = changed.as_object_mut() {
                    o.remove("to_ids");
                }
                changed["deleted"] = json!([0, 1]);
                changed["timestamp"] = json!(since);
                let changes = self.puller.pull(changed, &mut report.pages).await?;
                let published_only = self.puller.published_only;
                let removed: HashSet<u32> = changes
                    .iter()
                    .filter(|a| !live(a, published_only))
                    .filter_map(|a| parse_id(a.id.as_deref()))
                    .collect();
                let upserted: Vec<Pulled> = upserts
                    .iter()
                    .filter(|a| live(a, published_only))
                    .filter_map(reduce)
                    .filter(|p| !removed.contains(&p.meta.id))
                    .collect();
                report.removed = removed.len();
                report.upserted = upserted.len();
                if removed.is_empty() && upserted.is_empty() {
                    current
                } else {
                    tokio::task::spawn_blocking(move || Arc::new(current.apply(&removed, upserted)))
                        .await
                        .map_err(|e| IntelError::InvalidResponse(format!("index build: {e}")))?
                }
            }
            _ => {
                report.full = true;
                let published_only = self.puller.published_only;
                let mut pulled: Vec<Pulled> = Vec::new();
                let mut events_seen: HashSet<u32> = HashSet::new();
                self.puller
                    .pull_pages(self.puller.live_filters(), &mut report.pages, |page| {
                        for mut p in page
                            .iter()
                            .filter(|a| live(a, published_only))
                            .filter_map(reduce)
                        {
                            // One context per event, not one per attribute.
                            if !events_seen.insert(p.meta.event) {
                                p.event = None;
                            }
                            pulled.push(p);
                        }
                    })
                    .await?;
                report.upserted = pulled.len();
                tokio::task::spawn_blocking(move || Arc::new(Index::build(pulled)))
                    .await
                    .map_err(|e| IntelError::InvalidResponse(format!("index build: {e}")))?
            }
        };
        report.entries = next.len();
        *self.shared.index.write().unwrap_or_else(|e| e.into_inner()) = Some(next);
        *self
            .shared
            .last_ok
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        cursor.since = Some(started - WINDOW_OVERLAP);
        if report.full {
            cursor.last_full = Some(Instant::now());
        }
        Ok(report)
    }

    async fn run(self: Arc<Self>) {
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
            published_only: misp.published_only,
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

    async fn lookup(
        &self,
        hashes: &[FileHash],
    ) -> Result<HashMap<FileHash, Vec<IntelHit>>, IntelError> {
        self.lookup_counted(hashes).await.0
    }

    fn known_misses(&self, hashes: &[FileHash]) -> Option<Vec<bool>> {
        let index = match self.mode {
            MispMode::Snapshot => self.index()?,
            MispMode::Hybrid if self.fresh() => self.index()?,
            _ => return None,
        };
        Some(hashes.iter().map(|h| !index.contains(h)).collect())
    }

    #[tracing::instrument(skip_all, fields(hashes = hashes.len()))]
    async fn lookup_counted(
        &self,
        hashes: &[FileHash],
    ) -> (Result<HashMap<FileHash, Vec<IntelHit>>, IntelError>, usize) {
        let index = match (self.mode, self.index()) {
            (MispMode::Hybrid, Some(index)) if self.fresh() => index,
            (MispMode::Hybrid, _) | (MispMode::Online, _) => {
                return self.online.lookup_counted(hashes).await;
            }
            (MispMode::Snapshot, Some(index)) => index,
            (MispMode::Snapshot, None) => return (Err(IntelError::SnapshotLoading), 0),
        };
        let local: HashMap<FileHash, Vec<IntelHit>> = hashes
            .iter()
            .filter_map(|h| {
                let hits = index.lookup(h);
                (!hits.is_empty()).then(|| (h.clone(), hits))
            })
            .collect();
        if local.is_empty() {
            return (Ok(local), 0);
        }
        let hit_hashes: Vec<FileHash> = local.keys().cloned().collect();
        match tokio::time::timeout(CONFIRM_TIMEOUT, self.online.lookup(&hit_hashes)).await {
            Ok(Ok(confirmed)) => (Ok(confirmed), 1),
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

#[cfg(test)]
mod tests;
