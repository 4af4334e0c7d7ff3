//! Criterion micro-benchmarks of the hot path, on a realistic batch: 100 events, one Defender
//! record each, 1.0–4.45 KB across the Device* tables (see `common`).
//!
//! - `invocation_decode`: the host envelope parsed and every base64 body decoded, as
//!   `POST /MatchEvents` does before the engine; beside it the reference ceiling (envelope,
//!   base64, serde_json into `IgnoredAny`).
//! - `record_decode_and_hashes`: each body decoded into records and their hashes extracted.
//! - `resolver_warm`: the batch's distinct hashes resolved with every verdict cached.
//!
//! Run: `cargo bench --bench pipeline` (add `-- --quick` for a short pass).

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use defender_misp::host::{InvocationRequest, decode_events};
use defender_misp::intel::LookupKey;
use defender_misp::intel::config::LookupSettings;
use defender_misp::intel::resolver::Resolver;
use defender_misp::records::{FileHash, extract_hashes, parse_body};

use common::{Draw, Empty, Workload, ceiling_pass, invocation};

const EVENTS: usize = 100;

fn distinct_hashes(events: &[Vec<u8>]) -> Vec<LookupKey> {
    let mut out: Vec<FileHash> = events
        .iter()
        .flat_map(|e| parse_body(e, 10_000).unwrap())
        .flat_map(|r| extract_hashes(&r).hashes.into_iter().map(|(h, _)| h))
        .collect();
    out.sort();
    out.dedup();
    out.into_iter().map(LookupKey::from).collect()
}

fn benches(c: &mut Criterion) {
    let batch = Workload::new(7).batch(EVENTS, Draw::Pool { pool: 20_000 });
    let body = invocation(&batch.events, 1);

    let mut g = c.benchmark_group("invocation_decode");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("handler", |b| {
        b.iter(|| {
            let request: InvocationRequest = serde_json::from_slice(black_box(&body)).unwrap();
            let (_, bodies) = decode_events(request.data("events").unwrap()).unwrap();
            black_box(bodies.len())
        })
    });
    g.bench_function("ceiling", |b| {
        b.iter(|| black_box(ceiling_pass(black_box(&body))))
    });
    g.finish();

    let mut g = c.benchmark_group("record_decode_and_hashes");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("100_events", |b| {
        b.iter(|| {
            let mut n = 0;
            for event in &batch.events {
                for record in parse_body(black_box(event), 10_000).unwrap() {
                    n += extract_hashes(&record).hashes.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hashes = distinct_hashes(&batch.events);
    let resolver = Resolver::new(Arc::new(Empty), LookupSettings::default());
    runtime.block_on(resolver.resolve(&hashes));
    let mut g = c.benchmark_group("resolver_warm");
    g.throughput(Throughput::Elements(hashes.len() as u64));
    g.bench_function(format!("{}_distinct_hashes", hashes.len()), |b| {
        b.to_async(&runtime).iter(|| async {
            let r = resolver.resolve(black_box(&hashes)).await;
            assert_eq!(r.cache_hits, hashes.len());
            black_box(r.answered())
        })
    });
    g.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
