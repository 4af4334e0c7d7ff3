//! The bound on request bytes held at once (`MATCH_MAX_BYTES_IN_FLIGHT`): every invocation takes
//! a [`Reservation`] when it starts and grows it as its body arrives, by twice the bytes read (the
//! body, and the events decoded from it), gives the body's share back once it is decoded, and
//! the rest when its answer has been sent.
//!
//! A reservation that would pass the bound waits, and with it the reading of its body (so the
//! sender waits too: backpressure on the socket). The oldest invocation never waits: it may pass
//! the bound. That is what keeps two half-read bodies from waiting on each other for ever, and
//! lets a single body larger than the bound through; the excess is that one invocation's, and the
//! others wait until it is done.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Debug, Default)]
struct State {
    used: usize,
    /// Tickets of the live reservations, oldest first.
    live: BTreeSet<u64>,
    next: u64,
}

/// Bytes in flight across every invocation, against a bound.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

/// One invocation's share of the budget; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    ticket: u64,
    held: usize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            state: Mutex::default(),
            changed: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A new, empty reservation; its place in line is now.
    pub fn reserve(self: &Arc<Self>) -> Reservation {
        let mut s = self.lock();
        let ticket = s.next;
        s.next += 1;
        s.live.insert(ticket);
        Reservation {
            budget: self.clone(),
            ticket,
            held: 0,
        }
    }

    /// Bytes held now, by every reservation.
    pub fn used(&self) -> usize {
        self.lock().used
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Reservation {
    /// Takes `bytes` more, waiting while that would pass the bound (unless this is the oldest
    /// reservation).
    pub async fn grow(&mut self, bytes: usize) {
        loop {
            let mut changed = self.budget.changed.subscribe();
            {
                let mut s = self.budget.lock();
                let oldest = s.live.first() == Some(&self.ticket);
                if oldest || s.used + bytes <= self.budget.limit {
                    s.used += bytes;
                    self.held += bytes;
                    return;
                }
            }
            let _ = changed.changed().await;
        }
    }

    /// Gives `bytes` back (at most what it holds).
    pub fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.held);
        self.held -= bytes;
        self.budget.lock().used -= bytes;
        self.budget.bump();
    }

    /// Holds exactly `bytes` from now on, without waiting: for memory already allocated (an
    /// answer about to be sent), which waiting could not give back.
    pub fn set(&mut self, bytes: usize) {
        {
            let mut s = self.budget.lock();
            s.used = s.used - self.held + bytes;
        }
        self.held = bytes;
        self.budget.bump();
    }

    pub fn held(&self) -> usize {
        self.held
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        {
            let mut s = self.budget.lock();
            s.used -= self.held;
            s.live.remove(&self.ticket);
        }
        self.budget.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_reservation_past_the_bound_waits_until_room_is_given_back() {
        let budget = MemoryBudget::new(100);
        let mut first = budget.reserve();
        let mut second = budget.reserve();
        first.grow(80).await;
        let waiting = tokio::spawn(async move {
            second.grow(40).await;
            second
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished(), "80 + 40 > 100: it waits");
        first.shrink(30);
        let second = waiting.await.unwrap();
        assert_eq!(budget.used(), 90);
        drop(second);
        drop(first);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_oldest_reservation_never_waits_so_two_half_read_bodies_cannot_deadlock() {
        let budget = MemoryBudget::new(100);
        let mut old = budget.reserve();
        let mut young = budget.reserve();
        old.grow(50).await;
        young.grow(50).await;
        // Both want more; the old one passes the bound, finishes, and makes room.
        old.grow(200).await;
        assert_eq!(budget.used(), 300);
        let young_more = tokio::spawn(async move {
            young.grow(60).await;
            young.held()
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!young_more.is_finished());
        drop(old);
        assert_eq!(young_more.await.unwrap(), 110, "the oldest now: it passes");
    }
}
