//! End-to-end load tool: the real `defender-misp serve` as a child process, a stub MISP of
//! configurable latency in this process, host-shaped batches (binary many: a JSON string of an
//! array of base64 bodies) sent concurrently over loopback HTTP. Bounded: it sends a fixed number
//! of batches, then stops the child and exits.
//!
//! ```text
//! cargo build --release --bin defender-misp --example load
//! target/release/examples/load --batches 200 --concurrency 4 --misp-latency-ms 50
//! ```
//!
//! Phases, all on the same child process:
//! 1. start → ready (spawn until `GET /` answers) and idle RSS;
//! 2. cold: `--batches` batches whose hashes were never seen (every lookup goes to MISP);
//! 3. warm: the cold batches again `--warm-rounds` times (every verdict cached): events/s,
//!    batches/s, latency, and the child's CPU seconds (utime+stime from /proc/<pid>/stat);
//! 4. stream: `--batches` batches drawn from a skewed pool of programs, some known to MISP:
//!    MISP requests against what a per-event design would make (one request per hash);
//! 5. the ceiling: one thread parsing each warm invocation, base64-decoding every body and
//!    validating it into `serde::de::IgnoredAny`, in events/s;
//! 6. peak RSS of the child (VmHWM).

#[path = "../benches/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;

use common::stub_misp::{self, StubMisp};
use common::{Draw, Workload, ceiling_pass, invocation};

#[derive(Parser, Debug)]
struct Args {
    /// Batches per phase (cold, stream).
    #[arg(long, default_value_t = 200)]
    batches: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Invocations in flight at once (one per Event Hub partition the instance owns).
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
}

fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let (user, system) = cpu_split(pid, ticks);
    user + system
}

/// (utime, stime) of a process, in seconds.
fn cpu_split(pid: u32, ticks: f64) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) / ticks, get(12) / ticks)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A loopback port held by a bound, never-listening socket with `SO_REUSEADDR` while the handler
/// binds and listens on it (tokio sets `SO_REUSEADDR` too): it is never free between its choice
/// and its use, as a port checked free and released would be.
fn reserved_port() -> (u16, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (socket.local_addr().unwrap().port(), socket)
}

struct Phase {
    events: usize,
    batches: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    misp_lookups: usize,
}

impl Phase {
    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1]
    }
    fn line(&self, name: &str) {
        println!(
            "{name:<7} events={:>7} batches={:>5} wall={:>7.2}s events/s={:>9.0} batches/s={:>7.1} p50={:>6.1}ms p99={:>6.1}ms max={:>6.1}ms misp_requests={} per_1000_events={:.2}",
            self.events,
            self.batches,
            self.wall.as_secs_f64(),
            self.events as f64 / self.wall.as_secs_f64(),
            self.batches as f64 / self.wall.as_secs_f64(),
            self.percentile(0.5).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.percentile(1.0).as_secs_f64() * 1e3,
            self.misp_lookups,
            self.misp_lookups as f64 * 1000.0 / self.events as f64,
        );
    }
}

async fn send_all(
    client: &reqwest::Client,
    url: &str,
    bodies: &[Vec<u8>],
    events_each: usize,
    concurrency: usize,
    misp: &StubMisp,
) -> Phase {
    let before = misp.lookups();
    let started = Instant::now();
    let latencies: Vec<Duration> = futures::stream::iter(bodies.iter().enumerate())
        .map(|(i, body)| async move {
            let t = Instant::now();
            let response = client
                .post(url)
                .header(
                    "X-Azure-Functions-InvocationId",
                    format!("00000000-0000-4000-8000-{i:012}"),
                )
                .header("Content-Type", "application/json; charset=utf-8")
                .body(body.clone())
                .send()
                .await
                .expect("the handler answers");
            let status = response.status();
            let text = response.bytes().await.expect("a body");
            assert!(
                status.is_success(),
                "HTTP {status}: {}",
                String::from_utf8_lossy(&text)
            );
            assert!(text.starts_with(b"{\"Outputs\""), "a host answer");
            t.elapsed()
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    Phase {
        events: bodies.len() * events_each,
        batches: bodies.len(),
        wall: started.elapsed(),
        latencies,
        misp_lookups: misp.lookups() - before,
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let ticks = clock_ticks();
    println!("# defender-misp load: {args:?}");

    // Workloads, built before anything is timed.
    let mut w = Workload::new(42);
    let cold: Vec<common::Batch> = (0..args.batches)
        .map(|b| {
            w.batch(
                args.events,
                Draw::Fresh {
                    base: 10_000_000 + b as u64 * 10_000,
                },
            )
        })
        .collect();
    let stream: Vec<common::Batch> = (0..args.batches)
        .map(|_| w.batch(args.events, Draw::Pool { pool: args.pool }))
        .collect();
    let cold_bodies: Vec<Vec<u8>> = cold
        .iter()
        .enumerate()
        .map(|(i, b)| invocation(&b.events, (i * args.events) as i64))
        .collect();
    let stream_bodies: Vec<Vec<u8>> = stream
        .iter()
        .enumerate()
        .map(|(i, b)| invocation(&b.events, (i * args.events) as i64))
        .collect();
    let event_bytes: usize = cold.iter().map(common::Batch::bytes).sum();
    println!(
        "workload: {} events/batch, mean event {:.0} B, mean invocation {:.0} KB",
        args.events,
        event_bytes as f64 / (cold.len() * args.events) as f64,
        cold_bodies.iter().map(Vec::len).sum::<usize>() as f64 / cold_bodies.len() as f64 / 1024.0
    );

    // The stub knows IOCs at the rare end of the stream's pool, so a few stream events hit.
    let first_ioc = 1_000_000_000 + args.pool.saturating_sub(200);
    let misp = StubMisp::start(
        stub_misp::iocs(args.iocs, first_ioc),
        Duration::from_millis(args.misp_latency_ms),
    )
    .await;

    let spawn = |port: u16| {
        Command::new(&args.binary)
            .arg("serve")
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("MISP_URL", misp.url())
            .env("MISP_API_KEY", stub_misp::KEY)
            .env("MISP_MODE", &args.mode)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", args.binary.display()))
    };
    let probe = reqwest::Client::new();
    let mut starts: Vec<Duration> = Vec::new();
    for _ in 0..args.starts {
        let (port, _reserved) = reserved_port();
        let t = Instant::now();
        let mut c = spawn(port);
        loop {
            if let Ok(r) = probe.get(format!("http://127.0.0.1:{port}/")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the handler never became ready"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        starts.push(t.elapsed());
        stop(&mut c);
    }
    if !starts.is_empty() {
        starts.sort();
        println!(
            "start→ready over {} starts: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            starts.len(),
            starts[0].as_secs_f64() * 1e3,
            starts[starts.len() / 2].as_secs_f64() * 1e3,
            starts[starts.len() - 1].as_secs_f64() * 1e3
        );
    }

    let (port, _reserved) = reserved_port();
    let spawned = Instant::now();
    let mut child = spawn(port);
    let pid = child.id();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let ready = loop {
        if let Ok(r) = client.get(&base).send().await
            && r.status().is_success()
        {
            break spawned.elapsed();
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(10),
            "the handler never became ready"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    if args.mode != "online" {
        // Wait for the background load to finish: pulls stop coming.
        let mut seen = usize::MAX;
        while misp.pulls() != seen || misp.pulls() == 0 {
            seen = misp.pulls();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        println!(
            "snapshot: loaded in {:.2}s after spawn ({} pulls)",
            spawned.elapsed().as_secs_f64(),
            seen
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = proc_status(pid, "VmRSS:").unwrap_or(0);
    println!(
        "start→ready: {:.1} ms; idle RSS: {:.1} MB",
        ready.as_secs_f64() * 1e3,
        idle_rss as f64 / 1024.0
    );

    let url = format!("{base}/MatchEvents");
    let cpu0 = cpu_seconds(pid, ticks);
    let cold_phase = send_all(
        &client,
        &url,
        &cold_bodies,
        args.events,
        args.concurrency,
        &misp,
    )
    .await;
    let cpu1 = cpu_seconds(pid, ticks);
    let split1 = cpu_split(pid, ticks);
    let warm_bodies: Vec<Vec<u8>> = (0..args.warm_rounds)
        .flat_map(|_| cold_bodies.iter().cloned())
        .collect();
    let warm = send_all(
        &client,
        &url,
        &warm_bodies,
        args.events,
        args.concurrency,
        &misp,
    )
    .await;
    let cpu2 = cpu_seconds(pid, ticks);
    let split2 = cpu_split(pid, ticks);
    let streamed = send_all(
        &client,
        &url,
        &stream_bodies,
        args.events,
        args.concurrency,
        &misp,
    )
    .await;
    let cpu3 = cpu_seconds(pid, ticks);
    let peak_rss = proc_status(pid, "VmHWM:").unwrap_or(0);
    stop(&mut child);

    println!(
        "MISP latency: {} ms; concurrency: {}",
        args.misp_latency_ms, args.concurrency
    );
    cold_phase.line("cold");
    warm.line("warm");
    streamed.line("stream");
    let per_cpu = |phase: &Phase, cpu: f64| phase.events as f64 / cpu.max(1e-9);
    println!(
        "handler CPU: cold {:.2}s ({:.2} ms/batch), warm {:.2}s ({:.2} ms/batch), stream {:.2}s",
        cpu1 - cpu0,
        (cpu1 - cpu0) * 1e3 / cold_phase.batches as f64,
        cpu2 - cpu1,
        (cpu2 - cpu1) * 1e3 / warm.batches as f64,
        cpu3 - cpu2
    );
    println!(
        "warm CPU split: user {:.2}s, system {:.2}s",
        split2.0 - split1.0,
        split2.1 - split1.1
    );
    let warm_per_cpu = per_cpu(&warm, cpu2 - cpu1);
    println!("warm events per handler CPU-second: {warm_per_cpu:.0}");
    let per_event_design: usize = stream.iter().map(|b| b.hash_occurrences).sum();
    println!(
        "stream: per-event design {} MISP requests ({:.0} per 1000 events); this design {}; {:.0}× fewer",
        per_event_design,
        per_event_design as f64 * 1000.0 / streamed.events as f64,
        streamed.misp_lookups,
        per_event_design as f64 / (streamed.misp_lookups.max(1)) as f64
    );
    println!("peak RSS (VmHWM): {:.1} MB", peak_rss as f64 / 1024.0);

    // The ceiling, on one thread, over the same invocations.
    let started = Instant::now();
    let mut events = 0;
    while started.elapsed() < Duration::from_secs(2) {
        for body in &cold_bodies {
            events += ceiling_pass(body);
        }
    }
    let ceiling = events as f64 / started.elapsed().as_secs_f64();
    println!("ceiling (1 thread: envelope + base64 + IgnoredAny): {ceiling:.0} events/s");
    println!(
        "warm events per CPU-second / ceiling = {:.2} (target ≥ 0.5)",
        warm_per_cpu / ceiling
    );
}
