//! CPU-heavy work (decoding a batch, judging it, writing the answer) of a large batch runs on
//! tokio's blocking pool, never on the async workers that serve `GET /` and read the host's
//! requests; and at most one job fewer than the machine has cores runs at once (at least one),
//! so a core stays free for the workers however many large batches arrive together. A small
//! batch's work (under [`INLINE_BYTES`], a millisecond or so) runs where it is: handing it to
//! another thread would cost more than it takes.

use tokio::sync::Semaphore;

/// Work on fewer bytes than this runs inline on the calling worker.
pub const INLINE_BYTES: usize = 1024 * 1024;

/// The slots of CPU-heavy jobs; one per engine (one per process in `serve`).
#[derive(Debug)]
pub struct CpuPool {
    slots: Semaphore,
}

impl Default for CpuPool {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.saturating_sub(1).max(1))
    }
}

impl CpuPool {
    pub fn new(slots: usize) -> Self {
        Self {
            slots: Semaphore::new(slots.max(1)),
        }
    }

    /// Runs `work`, on `bytes` bytes: inline when they are fewer than [`INLINE_BYTES`], else on
    /// the blocking pool when a slot is free (a panic in it is resumed here).
    pub async fn run<T, F>(&self, bytes: usize, work: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if bytes < INLINE_BYTES {
            return work();
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
