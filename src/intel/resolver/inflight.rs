//! In-flight sharing: while one invocation asks the source about a hash, another that needs the
//! same hash waits for that answer (a `watch` channel per hash) instead of asking again. The
//! owner's entries leave the map however its lookup ends ([`InflightGuard`]), so nobody waits on
//! an abandoned request; a waiter whose owner gave up gets [`IntelError::Abandoned`] (and then
//! asks the source itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::Waiting;
use crate::intel::LookupKey;
use crate::intel::{IntelError, Verdict};
use crate::records::Seeded;

/// What an owner hands its waiters: nothing yet, then the verdict or why there is none.
pub(super) type Answer = Option<Result<Verdict, IntelError>>;

/// The hashes being asked about now, process-wide, each with the channel of its answer.
#[derive(Default)]
pub(super) struct Inflight(Arc<Mutex<HashMap<LookupKey, watch::Receiver<Answer>, Seeded>>>);

/// Who asks the source about a hash.
pub(super) enum Claim {
    /// This invocation: it sends the answer.
    Owner(watch::Sender<Answer>),
    /// Another invocation: this one waits on its answer.
    Waiter(watch::Receiver<Answer>),
}

impl Inflight {
    fn lock(&self) -> MutexGuard<'_, HashMap<LookupKey, watch::Receiver<Answer>, Seeded>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first asker of a hash owns its lookup; later ones wait for the owner's answer.
    pub(super) fn claim(&self, hash: &LookupKey) -> Claim {
        let mut map = self.lock();
        match map.get(hash) {
            Some(rx) => Claim::Waiter(rx.clone()),
            None => {
                let (tx, rx) = watch::channel(None);
                map.insert(hash.clone(), rx);
                Claim::Owner(tx)
            }
        }
    }

    /// Removes `keys` when dropped.
    pub(super) fn guard(&self, keys: Vec<LookupKey>) -> InflightGuard {
        InflightGuard {
            map: Inflight(self.0.clone()),
            keys,
        }
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Removes an owner's in-flight entries however its lookup ends (answered, failed, or dropped
/// at the deadline).
pub(super) struct InflightGuard {
    map: Inflight,
    keys: Vec<LookupKey>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut map = self.map.lock();
        for k in &self.keys {
            map.remove(k);
        }
    }
}

/// Waits for each answer another invocation owes: the verdict, the owner's error, or
/// [`IntelError::Abandoned`] when the owner went away without answering.
pub(super) async fn wait_for(waiting: Waiting) -> Vec<(LookupKey, Result<Verdict, IntelError>)> {
    let mut out = Vec::with_capacity(waiting.len());
    for (hash, mut rx) in waiting {
        let answer = rx
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|a| a.clone())
            .unwrap_or(Err(IntelError::Abandoned));
        out.push((hash, answer));
    }
    out
}
