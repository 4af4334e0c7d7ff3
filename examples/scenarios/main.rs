//! Reliability scenarios of issue 11, run against any `defender-misp` binary (so the same driver
//! measures a build before and after a change): a scripted MISP and the host's side in this
//! process, the handler as a child process talking HTTP on loopback.
//!
//! ```text
//! cargo build --release --bin defender-misp --example scenarios
//! target/release/examples/scenarios --binary target/release/defender-misp one-429 outage
//! ```
//!
//! Scenarios (section of the issue in brackets):
//! - `one-429` [1]: one 429 with `Retry-After: 1`, then healthy; ten more batches in that second.
//! - `outage` [1]: 500 for 2 s, a batch every 0.5 s for 30 s.
//! - `retry-after-6`, `retry-after-30`, `retry-after-120` [1]: one 429 with that `Retry-After`.
//! - `flapping` [1]: ok / down / 429 / HTML / truncated / reset in 2 s phases, 8 partitions, 48 s.
//! - `cancelled-leader` [1]: a batch waits on another invocation's lookup, which is cancelled.
//! - `memory` [2]: six concurrent batches of 100 events of 1 MB; peak RSS, `GET /` latency.
//! - `two-instances` [5]: two handlers fed the same matches; Defender alert calls.
//!
//! Every batch is sent on the last attempt (`RetryContext` 3 of 3), with default settings.

mod alerts;
mod breaker;
mod child;
mod host;
mod memory;
mod misp;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    /// The handler binary.
    #[arg(long, default_value = "target/release/defender-misp")]
    binary: PathBuf,
    /// Length of the flapping run in seconds.
    #[arg(long, default_value_t = 48)]
    flapping_seconds: u64,
    /// Two-instances: the `AzureWebJobsStorage` both handlers get (e.g. `UseDevelopmentStorage=true`).
    #[arg(long)]
    storage: Option<String>,
    /// Scenarios to run; all of them when none is named.
    scenarios: Vec<String>,
}

const ALL: [&str; 10] = [
    "one-429",
    "outage",
    "retry-after-6",
    "retry-after-30",
    "retry-after-120",
    "flapping",
    "cancelled-leader",
    "memory",
    "two-instances",
    "memory-small",
];

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let names: Vec<String> = if args.scenarios.is_empty() {
        ALL[..9].iter().map(|s| s.to_string()).collect()
    } else {
        args.scenarios.clone()
    };
    println!("binary: {}", args.binary.display());
    for name in names {
        let b = &args.binary;
        match name.as_str() {
            "one-429" => breaker::one_429(b).await,
            "outage" => breaker::outage(b).await,
            "retry-after-6" => breaker::retry_after(b, 6).await,
            "retry-after-30" => breaker::retry_after(b, 30).await,
            "retry-after-120" => breaker::retry_after(b, 120).await,
            "flapping" => drop(breaker::flapping(b, args.flapping_seconds).await),
            "cancelled-leader" => breaker::cancelled_leader(b).await,
            "memory" => drop(memory::six_big_batches(b, 6, 100).await),
            "memory-small" => drop(memory::six_big_batches(b, 2, 10).await),
            "two-instances" => {
                drop(alerts::two_instances(b, args.storage.as_deref(), 20, 20, 1).await)
            }
            other => panic!("unknown scenario {other}; one of {ALL:?}"),
        }
    }
}
