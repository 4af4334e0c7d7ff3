//! The alert state: what was done for which match or file, and the Defender call budgets; in
//! this process ([`Ledger::memory`], when no storage account is configured), or in Azure Table
//! storage ([`Ledger::table`]), shared by every instance of the app (issue 11, section 5).
//!
//! A **claim** is taken before an action and settled after it: inserted as *pending* only if
//! absent (a conditional insert), so two deliveries of one match, on one instance or two, never
//! both act. A *done* claim is kept for the action's memory (`keep`); a *pending* one older than
//! [`PENDING_STALE`] was left by an invocation that died mid-call and is taken over (a replace
//! conditional on its ETag). A failed action releases its claim.
//!
//! A **budget** (`budget/<name>`) holds the times of the calls within its longest window and a
//! pause (`Retry-After`); a call is taken by reading it and writing it back conditional on its
//! ETag, retried when another instance wrote first.
//!
//! When the table cannot be reached, the caller defers the message (it comes back later): nothing
//! is acted on without a claim.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;

use super::budget::{Budget, Denied, Window, admit_at};
use crate::azure::table::{TableClient, TableError};

/// A pending claim older than this was abandoned (twice the longest call).
pub const PENDING_STALE: Duration = Duration::from_secs(60);
/// Claims remembered in this process at most (the memory ledger).
pub const MEMORY_CAPACITY: usize = 200_000;
/// Conditional writes of a budget tried at most before the call is deferred.
const BUDGET_TRIES: usize = 8;

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// This delivery acts; settle the ticket afterwards.
    Owned(Ticket),
    /// Already done within its memory.
    Done,
    /// Another delivery is acting now; try again in this long.
    Busy(Duration),
}

/// An owned claim.
#[derive(Debug)]
pub struct Ticket {
    kind: &'static str,
    key: String,
    keep: Duration,
    etag: Option<String>,
}

/// The state could not be read or written; the message must come back later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alert state (table storage) unreachable: {0}")]
pub struct LedgerError(pub String);

impl From<TableError> for LedgerError {
    fn from(e: TableError) -> Self {
        Self(e.to_string())
    }
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    done: bool,
    at: Instant,
    keep: Duration,
}

/// Where the state lives.
pub struct Ledger(Store);

enum Store {
    Memory(Mutex<HashMap<(&'static str, String), Mark>>),
    Table(TableClient),
}

/// A budget: its windows, and its state in this process for the memory ledger.
pub struct SharedBudget {
    pub local: Budget,
    windows: Vec<Window>,
}

impl SharedBudget {
    pub fn new(name: &'static str, windows: &[Window]) -> Self {
        Self {
            local: Budget::new(name, windows),
            windows: windows.to_vec(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.local.name()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// What a claim's row says, against `now` (ms): `None` when it may be taken.
fn verdict(done: bool, at: u64, keep: u64, now: u64) -> Option<Claim> {
    let age = now.saturating_sub(at);
    if done && age < keep {
        Some(Claim::Done)
    } else if !done && age < ms(PENDING_STALE) {
        Some(Claim::Busy(PENDING_STALE - Duration::from_millis(age)))
    } else {
        None
    }
}

impl Ledger {
    pub fn memory() -> Self {
        Self(Store::Memory(Mutex::default()))
    }

    pub fn table(client: TableClient) -> Self {
        Self(Store::Table(client))
    }

    /// The table, when the state is shared by every instance.
    pub fn shared(&self) -> Option<&TableClient> {
        match &self.0 {
            Store::Table(t) => Some(t),
            Store::Memory(_) => None,
        }
    }

    pub fn is_shared(&self) -> bool {
        self.shared().is_some()
    }

    /// Claims `key` of `kind` for this delivery; a done claim is remembered for `keep`.
    pub async fn claim(
        &self,
        kind: &'static str,
        key: &str,
        keep: Duration,
    ) -> Result<Claim, LedgerError> {
        let ticket = Ticket {
            kind,
            key: key.to_owned(),
            keep,
            etag: None,
        };
        match &self.0 {
            Store::Memory(map) => Ok(memory_claim(map, ticket)),
            Store::Table(t) => table_claim(t, ticket).await,
        }
    }

    /// Records an owned claim as done (remembered for its `keep`) or releases it.
    pub async fn settle(&self, ticket: &Ticket, done: bool) -> Result<(), LedgerError> {
        let remember = done && !ticket.keep.is_zero();
        match &self.0 {
            Store::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                let k = (ticket.kind, ticket.key.clone());
                if remember {
                    let mark = Mark {
                        done: true,
                        at: Instant::now(),
                        keep: ticket.keep,
                    };
                    map.insert(k, mark);
                } else {
                    map.remove(&k);
                }
                Ok(())
            }
            Store::Table(t) => {
                let etag = ticket.etag.as_deref().unwrap_or("*");
                let result = if remember {
                    let props = [("State", "done".to_owned()), ("At", now_ms().to_string())];
                    t.replace(ticket.kind, &ticket.key, &props, etag)
                        .await
                        .map(|_| ())
                } else {
                    t.delete(ticket.kind, &ticket.key, etag).await
                };
                match result {
                    // Taken over meanwhile as stale: the other owner's record stands.
                    Err(TableError::Changed | TableError::NotFound) => {
                        tracing::warn!(
                            kind = ticket.kind,
                            "a claim was taken over before it was settled"
                        );
                        Ok(())
                    }
                    other => other.map_err(LedgerError::from),
                }
            }
        }
    }

    /// Takes one call from `budget` now, or says how long until one is free.
    pub async fn take(&self, budget: &SharedBudget) -> Result<Result<(), Denied>, LedgerError> {
        match &self.0 {
            Store::Memory(_) => Ok(budget.local.try_take()),
            Store::Table(t) => {
                let windows = budget.windows.clone();
                table_budget(t, budget.name(), move |calls, paused, now| {
                    admit_at(calls, *paused, &windows, now)
                })
                .await
            }
        }
    }

    /// Stops every call of `budget` for `wait` (a server's `Retry-After`).
    pub async fn pause(&self, budget: &SharedBudget, wait: Duration) -> Result<(), LedgerError> {
        match &self.0 {
            Store::Memory(_) => {
                budget.local.pause(wait);
                Ok(())
            }
            Store::Table(t) => table_budget(t, budget.name(), move |_, paused, now| {
                *paused = (*paused).max(now + ms(wait));
                Ok(())
            })
            .await
            .map(|_| ()),
        }
    }
}

fn memory_claim(map: &Mutex<HashMap<(&'static str, String), Mark>>, ticket: Ticket) -> Claim {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let k = (ticket.kind, ticket.key.clone());
    let now = Instant::now();
    if let Some(m) = map.get(&k) {
        let age = ms(now.duration_since(m.at));
        if let Some(found) = verdict(m.done, 0, ms(m.keep), age) {
            return found;
        }
    }
    if map.len() >= MEMORY_CAPACITY {
        map.retain(|_, m| now.duration_since(m.at) < m.keep.max(PENDING_STALE));
        let excess = map.len().saturating_sub(MEMORY_CAPACITY / 2);
        let drop: Vec<_> = map.keys().take(excess).cloned().collect();
        for d in drop {
            map.remove(&d);
        }
    }
    let mark = Mark {
        done: false,
        at: now,
        keep: ticket.keep,
    };
    map.insert(k, mark);
    Claim::Owned(ticket)
}

async fn table_claim(t: &TableClient, mut ticket: Ticket) -> Result<Claim, LedgerError> {
    let pending = |now: u64| [("State", "pending".to_owned()), ("At", now.to_string())];
    for _ in 0..3 {
        let now = now_ms();
        match t.insert(ticket.kind, &ticket.key, &pending(now)).await {
            Ok(etag) => {
                ticket.etag = Some(etag);
                return Ok(Claim::Owned(ticket));
            }
            Err(TableError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(row) = t.get(ticket.kind, &ticket.key).await? else {
            continue; // deleted meanwhile: insert again
        };
        let done = row.props.get("State").is_some_and(|s| s == "done");
        let at = row
            .props
            .get("At")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        if let Some(found) = verdict(done, at, ms(ticket.keep), now) {
            return Ok(found);
        }
        match t
            .replace(ticket.kind, &ticket.key, &pending(now), &row.etag)
            .await
        {
            Ok(etag) => {
                ticket.etag = Some(etag);
                return Ok(Claim::Owned(ticket));
            }
            Err(TableError::Changed) => return Ok(Claim::Busy(Duration::from_secs(1))),
            Err(TableError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Claim::Busy(Duration::from_secs(1)))
}

/// Reads budget `name`, lets `change` decide on its calls and pause, and writes it back
/// conditional on its ETag, again when another instance wrote first.
async fn table_budget(
    t: &TableClient,
    name: &str,
    change: impl Fn(&mut Vec<u64>, &mut u64, u64) -> Result<(), Denied>,
) -> Result<Result<(), Denied>, LedgerError> {
    for _ in 0..BUDGET_TRIES {
        let row = t.get("budget", name).await?;
        let field = |k: &str| {
            row.as_ref()
                .and_then(|r| r.props.get(k).cloned())
                .unwrap_or_default()
        };
        let mut calls: Vec<u64> = field("Calls")
            .split(',')
            .filter_map(|c| c.parse().ok())
            .collect();
        let mut paused: u64 = field("PausedUntil").parse().unwrap_or(0);
        if let Err(denied) = change(&mut calls, &mut paused, now_ms()) {
            return Ok(Err(denied));
        }
        let joined: Vec<String> = calls.iter().map(u64::to_string).collect();
        let props = [
            ("Calls", joined.join(",")),
            ("PausedUntil", paused.to_string()),
        ];
        let written = match &row {
            Some(r) => t.replace("budget", name, &props, &r.etag).await,
            None => t.insert("budget", name, &props).await,
        };
        match written {
            Ok(_) => return Ok(Ok(())),
            Err(TableError::Changed | TableError::Conflict | TableError::NotFound) => {
                let jitter = rand::rng().random_range(5..40);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Err(Denied::Spent(Duration::from_secs(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_is_owned_once_then_busy_then_done_for_its_memory() {
        let l = Ledger::memory();
        let keep = Duration::from_secs(3600);
        let Claim::Owned(t) = l.claim("alert", "k", keep).await.unwrap() else {
            panic!("the first claim owns");
        };
        assert!(matches!(
            l.claim("alert", "k", keep).await.unwrap(),
            Claim::Busy(_)
        ));
        assert!(
            matches!(
                l.claim("sentinel", "k", keep).await.unwrap(),
                Claim::Owned(_)
            ),
            "kinds apart"
        );
        l.settle(&t, true).await.unwrap();
        assert!(matches!(
            l.claim("alert", "k", keep).await.unwrap(),
            Claim::Done
        ));
    }

    #[tokio::test]
    async fn a_released_claim_or_one_without_memory_can_be_taken_again() {
        let l = Ledger::memory();
        let Claim::Owned(t) = l
            .claim("alert", "k", Duration::from_secs(60))
            .await
            .unwrap()
        else {
            panic!()
        };
        l.settle(&t, false).await.unwrap();
        let Claim::Owned(t) = l.claim("alert", "k", Duration::ZERO).await.unwrap() else {
            panic!("released")
        };
        l.settle(&t, true).await.unwrap();
        assert!(matches!(
            l.claim("alert", "k", Duration::ZERO).await.unwrap(),
            Claim::Owned(_)
        ));
    }

    #[test]
    fn a_pending_claim_goes_stale_and_a_done_one_expires() {
        let keep = 10_000;
        assert!(matches!(
            verdict(false, 0, keep, 1_000),
            Some(Claim::Busy(_))
        ));
        assert!(
            verdict(false, 0, keep, ms(PENDING_STALE) + 1).is_none(),
            "stale: taken over"
        );
        assert!(matches!(verdict(true, 0, keep, 9_999), Some(Claim::Done)));
        assert!(verdict(true, 0, keep, 10_000).is_none());
    }
}
