//! Pulling MISP's IOCs: `POST /attributes/restSearch` page by page (`limit`/`page`, the online
//! search's type list and filters, without `value`), each page under the retry policy and read
//! straight into what the [`Index`](super::Index) keeps (`page`).

use std::collections::HashSet;

use serde_json::{Value, json};

use super::MAX_PAGES;
use super::index::{Builder, Pulled};
use super::page::{Item, Page};
use crate::indicator::misp::NETWORK_ATTRIBUTE_TYPES;
use crate::intel::misp::MispClient;
use crate::intel::policy::RetryPolicy;
use crate::intel::rules::Rules;
use crate::intel::{HASH_ATTRIBUTE_TYPES, IntelError};

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
    /// Every attribute the [`Rules`] admit, each page read straight into the reduced form and
    /// added to a [`Builder`] as it arrives: the load never holds more than one page of
    /// attributes.
    pub(super) async fn everything(&self, pages: &mut usize) -> Result<Builder, IntelError> {
        let rules = &self.rules;
        let mut builder = Builder::default();
        self.pull_pages(self.live_filters(), pages, |page| {
            for item in page {
                if rules.admits(&item.candidate())
                    && let Some(p) = item.pulled
                {
                    builder.add(p);
                }
            }
        })
        .await?;
        Ok(builder)
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
            .filter(|a| !rules.admits(&a.candidate()))
            .filter_map(|a| a.id)
            .collect();
        let upserted: Vec<Pulled> = upserts
            .into_iter()
            .filter(|a| rules.admits(&a.candidate()))
            .filter_map(|a| a.pulled)
            .filter(|p| !removed.contains(&p.meta.id))
            .collect();
        Ok((removed, upserted))
    }

    /// The live-IOC filters of the online search, without `value`.
    fn live_filters(&self) -> Value {
        let mut body = json!({
            "returnFormat": "json",
            "type": HASH_ATTRIBUTE_TYPES.iter().chain(&NETWORK_ATTRIBUTE_TYPES).collect::<Vec<_>>(),
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
    async fn pull(&self, body: Value, pages: &mut usize) -> Result<Vec<Item>, IntelError> {
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
        mut each: impl FnMut(Vec<Item>),
    ) -> Result<(), IntelError> {
        body["limit"] = json!(self.page_size);
        for page in 1..=MAX_PAGES {
            body["page"] = json!(page);
            let parsed = self.page(&body).await?;
            *pages += 1;
            let items = parsed.into_items();
            let n = items.len();
            each(items);
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
    async fn page(&self, body: &Value) -> Result<Page, IntelError> {
        let fetch = || async {
            let answer = async {
                let response = self
                    .client
                    .post_json("attributes/restSearch", body, None)
                    .await?;
                self.client.read_json::<Page>(response).await
            };
            (answer.await, 1)
        };
        self.retry
            .run("IOC snapshot page", None, None, fetch)
            .await
            .0
    }
}
