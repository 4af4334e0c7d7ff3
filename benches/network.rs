//! Criterion benchmark of issue 15's cost: the engine's whole warm path (decode, hash and network
//! extraction, distinct keys, the resolver's cache, judging) on two batches of 100 events that
//! differ only in their network columns: the hash-only batch of `pipeline`, and the same records
//! as `DeviceNetworkEvents` rows with a distinct public `RemoteIP`, a `RemotePort` and a
//! three-label `RemoteUrl` each (looked up under three names). The difference per event is the
//! added CPU of network indicators; every verdict is cached, as in the warm phase of the load
//! tool.
//!
//! Run: `cargo bench --bench network` (add `-- --quick` for a short pass).

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use defender_misp::engine::{Allowlist, Engine, EventInput, Limits};
use defender_misp::intel::config::LookupSettings;
use defender_misp::intel::resolver::Resolver;
use serde_json::{Value, json};

use common::{Draw, Empty, Workload};

const EVENTS: usize = 100;

/// The same events as network rows: `1.<i>.<j>.<k>` and `h<i>.cdn<j>.test`.
fn networked(events: &[Vec<u8>]) -> Vec<Vec<u8>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v: Value = serde_json::from_slice(e).unwrap();
            let record = &mut v["records"][0];
            record["category"] = json!("AdvancedHunting-DeviceNetworkEvents");
            let p = &mut record["properties"];
            p["RemoteIP"] = json!(format!("1.{}.{}.{}", i % 7 + 1, i % 251, i % 13 + 1));
            p["RemotePort"] = json!(443);
            p["RemoteUrl"] = json!(format!("h{i}.cdn{}.test", i % 17));
            p["LocalIP"] = json!("10.1.2.3");
            serde_json::to_vec(&v).unwrap()
        })
        .collect()
}

fn inputs(events: &[Vec<u8>]) -> Vec<EventInput> {
    events
        .iter()
        .map(|b| EventInput {
            bytes: b.clone(),
            meta: Default::default(),
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hashes = Workload::new(7)
        .batch(EVENTS, Draw::Pool { pool: 20_000 })
        .events;
    let network = networked(&hashes);
    let mut g = c.benchmark_group("engine_warm");
    g.throughput(Throughput::Elements(EVENTS as u64));
    for (name, events) in [("hash_only", &hashes), ("network_heavy", &network)] {
        let resolver = Arc::new(Resolver::new(Arc::new(Empty), LookupSettings::default()));
        let engine = Engine::new(resolver, Allowlist::default(), Limits::default());
        let cold = runtime.block_on(engine.process(inputs(events), false));
        assert_eq!(cold.summary.dead_lettered, 0);
        if name == "network_heavy" {
            assert_eq!(
                cold.summary.indicators,
                2 * EVENTS,
                "an address and a host per event"
            );
        }
        g.bench_function(format!("{name}_{EVENTS}_events"), |b| {
            b.to_async(&runtime).iter(|| async {
                let out = engine.process(black_box(inputs(events)), false).await;
                assert_eq!(out.summary.misp_requests, 0, "warm");
                black_box(out.summary.clean_events)
            })
        });
    }
    g.finish();
}

criterion_group!(network, benches);
criterion_main!(network);
