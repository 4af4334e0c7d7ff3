//! CPU-heavy work (decoding a batch, judging it, writing the answer) runs on tokio's blocking
//! pool, never on the async workers that serve `GET /` and read the host's requests; and at most
//! one job fewer than the machine has cores runs at once (at least one), so a core stays free
//! for the workers however many large batches arrive together.

use tokio::sync::Semaphore;

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

    /// Runs `work` on the blocking pool when a slot is free; a panic in it is resumed here.
    pub async fn run<T, F>(&self, work: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
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
