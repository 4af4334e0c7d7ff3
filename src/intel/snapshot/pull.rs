//! Pulling MISP's IOCs: `POST /attributes/restSearch` page by page (`limit`/`page`, the online
//! search's type list and filters, without `value`), each page under the retry policy, each
//! attribute reduced as its page arrives to what the [`Index`](super::Index) keeps.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::MAX_PAGES;
use super::index::{EventContext, Meta, Pulled, uuid_bytes};
use crate::intel::misp::{Attribute, MispClient, SearchResponse, answered};
use crate::intel::policy::RetryPolicy;
use crate::intel::rules::Rules;
use crate::intel::{HASH_ATTRIBUTE_TYPES, IntelError, hash_parts};
use crate::records::FileHash;
use crate::text::clean_text;

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
            info: clean_text(
                e.info.as_deref().unwrap_or(""),
                crate::intel::bounds::EVENT_INFO_CHARS,
            )
            .into(),
        }),
    })
}

/// Whether a pulled attribute may match, by the rules every source applies.
fn live(a: &Attribute, rules: &Rules) -> bool {
    rules.admits(&answered(a))
}

/// Pages restSearch for the snapshot, each page under the retry policy of lookups (the breaker
/// stays theirs: a background pull that fails keeps the last good snapshot and tries again at
/// the next interval).
pub(super) struct Puller {
    pub(super) client: MispClient,
    pub(super) retry: RetryPolicy,
    pub(super) rules: Rules,
    pub(super) enforce_warninglist: bool,
    pub(super) page_size: usize,
}

impl Puller {
    /// Every live attribute, reduced page by page; one event context per event, not one per
    /// attribute.
    pub(super) async fn everything(&self, pages: &mut usize) -> Result<Vec<Pulled>, IntelError> {
        let rules = &self.rules;
        let mut pulled: Vec<Pulled> = Vec::new();
        let mut events_seen: HashSet<u32> = HashSet::new();
        self.pull_pages(self.live_filters(), pages, |page| {
            for mut p in page.iter().filter(|a| live(a, rules)).filter_map(reduce) {
                if !events_seen.insert(p.meta.event) {
                    p.event = None;
                }
                pulled.push(p);
            }
        })
        .await?;
        Ok(pulled)
    }

    /// What changed since `since` (Unix time), in three queries: additions by `timestamp`
    /// (attribute edits), additions by `publish_timestamp` (publishing an old event does not
    /// move its attributes' timestamps), and removals by `timestamp` with `deleted: [0, 1]` and
    /// no `to_ids` filter (soft deletes and `to_ids` switched off). Returns the attribute ids
    /// to remove and the attributes to add or replace.
    pub(super) async fn changes_since(
        &self,
        since: i64,
        pages: &mut usize,
    ) -> Result<(HashSet<u32>, Vec<Pulled>), IntelError> {
        let mut edited = self.live_filters();
        edited["timestamp"] = json!(since);
        let mut upserts = self.pull(edited, pages).await?;
        let mut published = self.live_filters();
        published["publish_timestamp"] = json!(since);
        upserts.extend(self.pull(published, pages).await?);
        let mut changed = self.live_filters();
        if let Some(o) = changed.as_object_mut() {
            o.remove("to_ids");
        }
        changed["deleted"] = json!([0, 1]);
        changed["timestamp"] = json!(since);
        let changes = self.pull(changed, pages).await?;
        let rules = &self.rules;
        let removed: HashSet<u32> = changes
            .iter()
            .filter(|a| !live(a, rules))
            .filter_map(|a| parse_id(a.id.as_deref()))
            .collect();
        let upserted: Vec<Pulled> = upserts
            .iter()
            .filter(|a| live(a, rules))
            .filter_map(reduce)
            .filter(|p| !removed.contains(&p.meta.id))
            .collect();
        Ok((removed, upserted))
    }

    /// The live-IOC filters of the online search, without `value`.
    fn live_filters(&self) -> Value {
        let mut body = json!({
            "returnFormat": "json",
            "type": HASH_ATTRIBUTE_TYPES,
            "to_ids": 1,
            "deleted": 0,
            "enforceWarninglist": u8::from(self.enforce_warninglist),
        });
        if self.rules.published_only {
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
