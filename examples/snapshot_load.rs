//! Loads an IOC snapshot of `--iocs` synthetic hash attributes (default 1,000,000) from a
//! loopback stub MISP in pages, as `MISP_MODE=snapshot` does at start, and reports the load time,
//! the index's size and the RSS it added (with mimalloc, the handler's allocator), then times
//! local lookups: a known IOC (the hit with its context) and the miss check every other hash of a
//! batch makes. Bounded; exits by itself.
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

/// The handler's allocator, so that the RSS figures are the handler's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // Hashes of programs the stub does not know, the three lengths in turn.
    let misses: Vec<FileHash> = (0..3000u64)
        .map(|n| {
            let hashes = common::program(2_000_000_000 + n);
            FileHash::parse(&hashes[(n % 3) as usize]).unwrap()
        })
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
    let rss_at_once = rss_kb();
    // Past mimalloc's purge delay (1 s), then read what stayed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_after = rss_kb();
    println!(
        "loaded {} IOCs ({} entries) in {} pages of {}: {:.2} s; index tables+events {:.1} MB ({:.1} B/entry); process RSS {:.1} MB before, {:.1} MB at once after, {:.1} MB 1.5 s later (+{:.1} MB)",
        report.upserted,
        index.len(),
        report.pages,
        args.page_size,
        load.as_secs_f64(),
        index.heap_bytes() as f64 / 1048576.0,
        index.heap_bytes() as f64 / index.len() as f64,
        rss_before as f64 / 1024.0,
        rss_at_once as f64 / 1024.0,
        rss_after as f64 / 1024.0,
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
    let mut known = 0;
    for _ in 0..rounds {
        for m in &misses {
            known += usize::from(index.contains(m));
        }
    }
    let per = started.elapsed() / (rounds * misses.len()) as u32;
    assert_eq!(known, 0, "no miss probe is a known IOC");
    println!(
        "miss check of an unknown hash (what every other hash of a batch costs): {per:?} each ({} probes × {rounds})",
        misses.len()
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
