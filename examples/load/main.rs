//! End-to-end load tool, and the measure issue 14 is judged by: the real `defender-misp serve`
//! as a child process, a stub MISP of configurable latency in this process, host-shaped batches
//! (binary many: a JSON string of an array of base64 bodies) sent concurrently over loopback HTTP.
//! Bounded: it sends a fixed number of batches, then stops the child and exits.
//!
//! ```text
//! cargo build --release --bin defender-misp --example load
//! target/release/examples/load --concurrency 1 --reference-python
//! ```
//!
//! Phases, on one child process per handler:
//! 1. start → ready (spawn until `GET /` answers) over `--starts` extra starts, and idle RSS;
//! 2. cold@1: `--cold-one-batches` batches of never-seen hashes sent one at a time (one Event Hub
//!    partition): the cold p99 target, MISP latency + 10 ms;
//! 3. cold: `--batches` more, `--concurrency` in flight;
//! 4. warm: the cold batches again `--warm-rounds` times (every verdict cached): the handler's
//!    CPU (utime+stime from /proc/<pid>/stat) per event, in events per handler CPU-second;
//! 5. stream: `--batches` batches drawn from a skewed pool of programs, some known to MISP: MISP
//!    requests against what a per-event design would make (one request per hash);
//! 6. peak RSS of the child (VmHWM).
//!
//! Then, in the same run: with `--reference-python`, phases 2–6 again against the Python
//! standard-library reference handler (`benches/reference_handler.py`), whose answers must agree
//! with the handler's on every match of phases 2, 3 and 5 (the tool exits 1 when they do not);
//! and the ceiling: one thread parsing each cold invocation, base64-decoding every body and
//! validating it with serde_json into `IgnoredAny`, in events per thread CPU-second. The summary
//! prints the two ratios of issue 14 (handler ÷ ceiling, handler ÷ Python), each from this run,
//! with the load average when each figure was taken.

mod child;
#[path = "../../benches/common/mod.rs"]
mod common;
mod phase;
mod run;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

use child::{Target, load_average, thread_cpu};
use common::stub_misp::{self, StubMisp};
use common::{Draw, Workload, ceiling_pass, invocation};
use phase::{differences, ms};
use run::Run;

#[derive(Parser, Debug)]
pub struct Args {
    /// Batches per phase (cold, stream).
    #[arg(long, default_value_t = 200)]
    batches: usize,
    /// Batches of the cold phase at one partition (sent one at a time).
    #[arg(long, default_value_t = 200)]
    cold_one_batches: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Invocations in flight at once in the cold, warm and stream phases (one per Event Hub
    /// partition the instance owns).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Latency the stub MISP adds to every restSearch.
    #[arg(long, default_value_t = 50)]
    misp_latency_ms: u64,
    /// Times the cold batches are replayed warm.
    #[arg(long, default_value_t = 5)]
    warm_rounds: usize,
    /// IOCs the stub MISP knows.
    #[arg(long, default_value_t = 10_000)]
    iocs: usize,
    /// Programs in the skewed pool of the stream phase.
    #[arg(long, default_value_t = 20_000)]
    pool: u64,
    /// MISP_MODE of the child: online, snapshot or hybrid.
    #[arg(long, default_value = "online")]
    mode: String,
    /// Extra cold starts (spawn → `GET /` answers → SIGTERM) measured before the load.
    #[arg(long, default_value_t = 20)]
    starts: usize,
    /// The handler binary.
    #[arg(long, default_value = "target/release/defender-misp")]
    binary: PathBuf,
    /// Run the same phases against the Python standard-library reference handler too.
    #[arg(long)]
    reference_python: bool,
    /// The Python reference handler.
    #[arg(long, default_value = "benches/reference_handler.py")]
    reference_script: PathBuf,
    /// Append each measured handler's stdout (its JSON log: one "batch" line per invocation,
    /// with the handler's own `ms`) to this file.
    #[arg(long)]
    handler_log: Option<PathBuf>,
    /// With `--mode snapshot` or `hybrid`: run the same phases against the handler in online mode
    /// too, for the warm CPU of the two modes in one run.
    #[arg(long)]
    compare_online: bool,
    /// Thread CPU seconds the ceiling runs for, at least.
    #[arg(long, default_value_t = 3.0)]
    ceiling_secs: f64,
}

/// The bodies every handler is sent, built before anything is timed.
pub struct Bodies {
    pub cold_one: Vec<Vec<u8>>,
    pub cold: Vec<Vec<u8>>,
    pub stream: Vec<Vec<u8>>,
    /// Hash values the stream's records carry: one MISP request each in a per-event design.
    pub stream_hash_occurrences: usize,
}

fn bodies(args: &Args) -> Bodies {
    let mut w = Workload::new(42);
    let mut fresh = |n: usize, first: usize| -> (Vec<Vec<u8>>, usize) {
        let batches: Vec<common::Batch> = (first..first + n)
            .map(|b| {
                w.batch(
                    args.events,
                    Draw::Fresh {
                        base: 10_000_000 + b as u64 * 10_000,
                    },
                )
            })
            .collect();
        let bytes = batches.iter().map(common::Batch::bytes).sum();
        let bodies = batches
            .iter()
            .enumerate()
            .map(|(i, b)| invocation(&b.events, ((first + i) * args.events) as i64))
            .collect();
        (bodies, bytes)
    };
    let (cold, cold_bytes) = fresh(args.batches, 0);
    let (cold_one, _) = fresh(args.cold_one_batches, args.batches);
    let stream: Vec<common::Batch> = (0..args.batches)
        .map(|_| w.batch(args.events, Draw::Pool { pool: args.pool }))
        .collect();
    let stream_hash_occurrences = stream.iter().map(|b| b.hash_occurrences).sum();
    let stream = stream
        .iter()
        .enumerate()
        .map(|(i, b)| invocation(&b.events, (i * args.events) as i64))
        .collect();
    println!(
        "workload: {} single-record events per batch, mean event {:.0} B, mean invocation {:.0} KB",
        args.events,
        cold_bytes as f64 / (args.batches * args.events).max(1) as f64,
        cold.iter().map(Vec::len).sum::<usize>() as f64 / cold.len().max(1) as f64 / 1024.0
    );
    Bodies {
        cold_one,
        cold,
        stream,
        stream_hash_occurrences,
    }
}

/// The ceiling: one thread, envelope + base64 + `IgnoredAny` over the cold invocations, for at
/// least `secs` of this thread's CPU.
struct Ceiling {
    events: usize,
    cpu: Duration,
    wall: Duration,
    load: String,
}

impl Ceiling {
    fn measure(bodies: &[Vec<u8>], secs: f64) -> Self {
        let load = load_average();
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        let mut events = 0;
        while (thread_cpu() - cpu0).as_secs_f64() < secs {
            for body in bodies {
                events += ceiling_pass(body);
            }
        }
        Ceiling {
            events,
            cpu: thread_cpu() - cpu0,
            wall: wall0.elapsed(),
            load,
        }
    }

    fn per_cpu_second(&self) -> f64 {
        self.events as f64 / self.cpu.as_secs_f64()
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT MET" }
}

/// The issue-14 block: each figure with its inputs, the ratios, the targets.
fn summary(args: &Args, handler: &Run, python: Option<&Run>, ceiling: &Ceiling) {
    println!("\n== issue 14 measure (one run) ==");
    handler.warm_line();
    println!(
        "ceiling  1 thread, envelope + base64 + serde_json IgnoredAny: {} events in {:.2} s thread CPU ({:.2} s wall) = {:.0} events per CPU-second; load {}",
        ceiling.events,
        ceiling.cpu.as_secs_f64(),
        ceiling.wall.as_secs_f64(),
        ceiling.per_cpu_second(),
        ceiling.load
    );
    if let Some(p) = python {
        p.warm_line();
    }
    let ratio = handler.warm_per_cpu_second() / ceiling.per_cpu_second();
    println!(
        "warm ratio handler / ceiling = {ratio:.2} (target ≥ 1.0: {})",
        verdict(ratio >= 1.0)
    );
    if let Some(p) = python {
        let ratio = handler.warm_per_cpu_second() / p.warm_per_cpu_second();
        println!(
            "warm ratio handler / python  = {ratio:.2} (target ≥ 10: {})",
            verdict(ratio >= 10.0)
        );
    }
    let target = args.misp_latency_ms as f64 + 10.0;
    for run in std::iter::once(handler).chain(python) {
        let cold = &run.cold_one;
        let p99 = ms(cold.percentile(0.99));
        println!(
            "cold p99 at one partition ({}): {p99:.1} ms, p50 {:.1} ms, max {:.1} ms over {} batches, MISP {} ms (target ≤ {target:.0} ms: {})",
            run.name,
            ms(cold.percentile(0.5)),
            ms(cold.percentile(1.0)),
            cold.batches,
            args.misp_latency_ms,
            verdict(p99 <= target)
        );
        println!("  slowest (batch, ms): {}", cold.slowest(6));
        if args.handler_log.is_some() {
            // Beside the handler's own `ms` per batch in its log, in the same order.
            let all: Vec<String> = cold
                .latencies
                .iter()
                .map(|t| format!("{:.1}", ms(*t)))
                .collect();
            println!("  every batch (ms): {}", all.join(" "));
        }
    }
    println!(
        "handler: start→ready {:.1} ms, idle RSS {:.1} MB, peak RSS {:.1} MB",
        ms(handler.ready),
        handler.idle_rss_kb as f64 / 1024.0,
        handler.peak_rss_kb as f64 / 1024.0
    );
}

/// The snapshot target: warm CPU per batch no worse than online mode, from this run.
fn compare_modes(snapshot: &Run, online: &Run) {
    let per_batch = |r: &Run| r.cpu[2].total() * 1e3 / r.warm.batches.max(1) as f64;
    let (s, o) = (per_batch(snapshot), per_batch(online));
    println!(
        "warm CPU per batch: snapshot {s:.2} ms, online {o:.2} ms, snapshot / online = {:.2} (target ≤ 1.0: {})",
        s / o,
        verdict(s <= o)
    );
    println!(
        "snapshot: RSS {:.1} MB after the load (target ≤ 120 MB: {}), peak {:.1} MB; online: peak {:.1} MB",
        snapshot.idle_rss_kb as f64 / 1024.0,
        verdict(snapshot.idle_rss_kb <= 120 * 1024),
        snapshot.peak_rss_kb as f64 / 1024.0,
        online.peak_rss_kb as f64 / 1024.0
    );
}

/// Whether the two handlers found the same matches in every batch of the phases compared.
fn answers_agree(handler: &Run, python: &Run) -> bool {
    let mut agree = true;
    for (name, a, b) in handler.compared(python) {
        let diff = differences(&a.matches, &b.matches, 3);
        println!(
            "answers {name}: handler {} matches, python {} matches over {} batches: {}",
            a.match_count(),
            b.match_count(),
            a.batches,
            if diff.is_empty() { "agree" } else { "DIFFER" }
        );
        for (batch, only_handler, only_python) in diff {
            agree = false;
            println!("  batch {batch}: only handler {only_handler:?}; only python {only_python:?}");
        }
    }
    agree
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!("# defender-misp load: {args:?}");
    println!("load average at start: {}", load_average());
    let bodies = bodies(&args);
    // The stub knows IOCs at the rare end of the stream's pool, so a few stream events hit.
    let first_ioc = 1_000_000_000 + args.pool.saturating_sub(200);
    let misp = StubMisp::start(
        stub_misp::iocs(args.iocs, first_ioc),
        Duration::from_millis(args.misp_latency_ms),
    )
    .await;

    let rust = Target::Rust(args.binary.clone());
    run::measure_starts(&rust, &args, &misp).await;
    let handler = Run::go(&rust, &args.mode, &args, &bodies, &misp).await;
    handler.report(&args, bodies.stream_hash_occurrences);
    let online = if args.compare_online && args.mode != "online" {
        let online = Run::go(&rust, "online", &args, &bodies, &misp).await;
        online.report(&args, bodies.stream_hash_occurrences);
        Some(online)
    } else {
        None
    };
    let python = if args.reference_python {
        let target = Target::Python(args.reference_script.clone());
        let python = Run::go(&target, "online", &args, &bodies, &misp).await;
        python.report(&args, bodies.stream_hash_occurrences);
        Some(python)
    } else {
        None
    };
    let ceiling = Ceiling::measure(&bodies.cold, args.ceiling_secs);
    summary(&args, &handler, python.as_ref(), &ceiling);
    if let Some(online) = &online {
        compare_modes(&handler, online);
    }
    println!("load average at the end: {}", load_average());
    if let Some(python) = &python
        && !answers_agree(&handler, python)
    {
        std::process::exit(1);
    }
}
