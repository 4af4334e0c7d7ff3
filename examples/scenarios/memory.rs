//! Section 2 of issue 11: concurrent batches of 100 events of 1 MB each (about 133 MB per
//! request once base64-encoded), their bodies generated while they are sent so this process never
//! holds them; the handler's peak RSS (VmHWM of the child) and the latency of `GET /`, probed
//! every 20 ms throughout. Shared with `tests/api`.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;

use crate::child::Handler;
use crate::host::{self, hex, record};
use crate::misp::{Act, BAD_PREFIX, KEY, Misp};

const EVENT_BYTES: usize = 1024 * 1024;

/// Event number `n` of a batch: records of about 4 KB (distinct hashes, one in 500 known to
/// MISP), as many as fit in [`EVENT_BYTES`].
fn big_event(batch: u64, n: u64) -> Vec<u8> {
    let device = hex(40, batch, 9);
    let pad =
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:/ProgramData/x.ps1 ".repeat(45);
    let mut out = b"{\"records\":[".to_vec();
    let mut r = 0u64;
    loop {
        let id = (batch << 40) + (n << 20) + r;
        let mut file = hex(64, id, 1);
        if id % 500 == 7 {
            file.replace_range(..BAD_PREFIX.len(), BAD_PREFIX);
        }
        let mut rec = record(id, &device, &file, &hex(64, id % 300, 2));
        rec["properties"]["AdditionalFields"] = serde_json::Value::String(pad.clone());
        let text = serde_json::to_vec(&rec).unwrap();
        if out.len() + text.len() + 2 > EVENT_BYTES {
            break;
        }
        if r > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&text);
        r += 1;
    }
    out.extend_from_slice(b"]}");
    out
}

/// The invocation body of `events` big events, sent chunk by chunk. The batch's event is made
/// and encoded once and sent `events` times (the handler decodes and parses each copy all the
/// same), so that this process spends its CPU sending, not generating.
fn streamed_body(batch: u64, events: usize) -> reqwest::Body {
    let head = b"{\"Data\":{\"events\":\"[".to_vec();
    let mut item = b"\\\"".to_vec();
    item.extend_from_slice(STANDARD.encode(big_event(batch, 0)).as_bytes());
    item.extend_from_slice(b"\\\"");
    let item = Bytes::from(item);
    let comma = Bytes::from_static(b",");
    let items = futures::stream::iter(0..events).flat_map(move |n| {
        let parts = if n == 0 {
            vec![item.clone()]
        } else {
            vec![comma.clone(), item.clone()]
        };
        futures::stream::iter(parts)
    });
    let meta =
        serde_json::to_vec(&host::metadata(events, batch as i64 * 1000, batch as u32)).unwrap();
    let mut tail = b"]\"},\"Metadata\":".to_vec();
    tail.extend_from_slice(&meta);
    tail.push(b'}');
    let stream = futures::stream::once(async move { Bytes::from(head) })
        .chain(items)
        .chain(futures::stream::once(async move { Bytes::from(tail) }))
        .map(Ok::<_, std::io::Error>);
    reqwest::Body::wrap_stream(stream)
}

/// `GET /` every 20 ms until `stop`: the latencies seen.
async fn probe(base: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let ok = client
            .get(format!("{base}/"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .is_ok();
        seen.push(if ok {
            started.elapsed()
        } else {
            Duration::from_secs(30)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// What a memory run measured.
#[derive(Debug)]
pub struct MemoryRun {
    pub events: usize,
    pub accounted: usize,
    pub statuses: Vec<String>,
    pub peak_rss_mib: u64,
    pub get_over_100ms: usize,
    pub get_max: Duration,
}

/// `batches` concurrent batches of `events` events of 1 MB.
pub async fn six_big_batches(binary: &Path, batches: u64, events: usize) -> MemoryRun {
    let misp = Misp::start(|_, _| Act::Answer).await;
    let settings = vec![
        ("MISP_URL".to_owned(), misp.url.clone()),
        ("MISP_API_KEY".to_owned(), KEY.to_owned()),
    ];
    let handler = Handler::start(binary, "memory", &settings).await;
    let idle = handler.peak_rss_mib();
    let stop = Arc::new(AtomicBool::new(false));
    // The probe has a thread and a runtime of its own: this process is busy generating the
    // bodies, and its own workers' delays must not count as the handler's.
    let prober = {
        let (base, stop) = (handler.base.clone(), stop.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(probe(base, stop))
        })
    };
    let started = Instant::now();
    let runs: Vec<_> = (0..batches)
        .map(|b| {
            let base = handler.base.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                host::invoke(&client, &base, streamed_body(b, events), None).await
            })
        })
        .collect();
    let mut accounted = 0;
    let mut statuses = Vec::new();
    let (mut matched, mut dead) = (0, 0);
    for r in runs {
        let a = r.await.unwrap();
        statuses.push(a.error.clone().unwrap_or_else(|| a.status.to_string()));
        accounted += a.matched + a.clean + a.dead;
        matched += a.matched;
        dead += a.dead;
    }
    let wall = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut lat = prober.join().unwrap();
    lat.sort();
    let at = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    let slow = lat
        .iter()
        .filter(|d| **d > Duration::from_millis(100))
        .count();
    println!(
        "memory: batches={batches} events={} accounted={accounted} matched-events={matched} dead-lettered={dead} statuses={statuses:?} \
         wall={:.1}s peak-rss-mib={} (idle {idle}) get-probes={} p50={:.1}ms p99={:.1}ms max={:.1}ms over-100ms={slow}",
        batches as usize * events,
        wall.as_secs_f64(),
        handler.peak_rss_mib(),
        lat.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
    MemoryRun {
        events: batches as usize * events,
        accounted,
        statuses,
        peak_rss_mib: handler.peak_rss_mib(),
        get_over_100ms: slow,
        get_max: at(1.0),
    }
}
