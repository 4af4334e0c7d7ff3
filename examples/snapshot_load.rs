//! Loads an IOC snapshot of `--iocs` synthetic hash attributes (default 1,000,000) from a
//! loopback stub MISP in pages, as `MISP_MODE=snapshot` does at start, and reports the load time,
//! the index's size and the RSS it added, then times local lookups. Bounded; exits by itself.
//!
//! ```text
//! cargo run --release --example snapshot_load -- --iocs 1000000
//! ```

#[path = "../benches/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use defender_misp::intel::config::MispSettings;
use defender_misp::intel::misp::MispIntel;
use defender_misp::intel::snapshot::SnapshotIntel;
use defender_misp::records::FileHash;

use common::stub_misp::{self, StubMisp};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    iocs: usize,
    #[arg(long, default_value_t = 5000)]
    page_size: usize,
    #[arg(long, default_value_t = 0)]
    misp_latency_ms: u64,
}

fn rss_kb() -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let iocs = stub_misp::iocs(args.iocs, 0);
    let probes: Vec<FileHash> = iocs
        .iter()
        .step_by((args.iocs / 1000).max(1))
        .filter_map(|i| defender_misp::intel::hash_parts(&i.value).next())
        .collect();
    let misp = StubMisp::start(iocs, Duration::from_millis(args.misp_latency_ms)).await;
    let env: HashMap<String, String> = [
        ("MISP_URL", misp.url()),
        ("MISP_API_KEY", stub_misp::KEY.to_owned()),
        ("MISP_MODE", "snapshot".to_owned()),
        ("MISP_SNAPSHOT_PAGE_SIZE", args.page_size.to_string()),
        ("MISP_TIMEOUT_SECS", "120".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let settings = MispSettings::from_env(&env).expect("settings");
    let snapshot = SnapshotIntel::new(
        Arc::new(MispIntel::new(&settings).unwrap()),
        &settings,
        Default::default(),
    );

    let rss_before = rss_kb();
    let started = Instant::now();
    let report = snapshot.refresh(true).await.expect("the snapshot loads");
    let load = started.elapsed();
    let index = snapshot.index().unwrap();
    // Let the allocator settle, then read what stayed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_after = rss_kb();
    println!(
        "loaded {} IOCs ({} entries) in {} pages of {}: {:.2} s; index arrays+events {:.1} MB ({:.1} B/IOC); process RSS +{:.1} MB",
        report.upserted,
        index.len(),
        report.pages,
        args.page_size,
        load.as_secs_f64(),
        index.heap_bytes() as f64 / 1048576.0,
        index.heap_bytes() as f64 / index.len() as f64,
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0
    );

    let started = Instant::now();
    let mut hits = 0;
    let rounds = 100;
    for _ in 0..rounds {
        for p in &probes {
            hits += usize::from(!index.lookup(p).is_empty());
        }
    }
    let per = started.elapsed() / (rounds * probes.len()) as u32;
    assert_eq!(hits, rounds * probes.len(), "every probe is a known IOC");
    println!(
        "local lookup of a known IOC: {per:?} each ({} probes × {rounds})",
        probes.len()
    );

    let started = Instant::now();
    let again = snapshot
        .refresh(false)
        .await
        .expect("an incremental refresh");
    println!(
        "incremental refresh with no change: {} pages, {:.0} ms",
        again.pages,
        started.elapsed().as_secs_f64() * 1e3
    );
}
