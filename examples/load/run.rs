//! One handler through every phase, on one child process: its readiness, idle and peak RSS, and
//! each phase's latencies, MISP requests, answers and CPU.

use std::time::{Duration, Instant};

use crate::child::{self, Cpu, Target, load_average, proc_status, reserved_port, stop};
use crate::common::stub_misp::{self, StubMisp};
use crate::common::{Draw, Workload, invocation};
use crate::phase::{Phase, Sender, ms};
use crate::{Args, Bodies};

/// What one handler did in the run.
pub struct Run {
    pub name: &'static str,
    pub ready: Duration,
    pub idle_rss_kb: u64,
    pub peak_rss_kb: u64,
    pub cold_one: Phase,
    pub cold: Phase,
    pub warm: Phase,
    pub stream: Phase,
    /// The child's CPU in each phase: cold@1, cold, warm, stream.
    pub cpu: [Cpu; 4],
    /// Load average when the warm phase began and when it ended.
    pub warm_load: (String, String),
}

/// `--starts` extra starts of `target`: spawn → `GET /` answers → SIGTERM.
pub async fn measure_starts(target: &Target, args: &Args, misp: &StubMisp) {
    let probe = reqwest::Client::new();
    let mut starts: Vec<Duration> = Vec::new();
    for _ in 0..args.starts {
        let (port, _reserved) = reserved_port();
        let t = Instant::now();
        let mut c = target.spawn(port, &misp.url(), stub_misp::KEY, &args.mode, None);
        starts.push(child::wait_ready(&probe, &format!("http://127.0.0.1:{port}/"), t).await);
        stop(&mut c);
    }
    if !starts.is_empty() {
        starts.sort();
        println!(
            "start→ready over {} starts: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            starts.len(),
            ms(starts[0]),
            ms(starts[starts.len() / 2]),
            ms(starts[starts.len() - 1])
        );
    }
}

/// In snapshot and hybrid modes, waits for the child's background load: pulls stop coming, then
/// a one-event batch of a hash nobody knows is answered clean (before the first index is swapped
/// in, snapshot mode leaves the hash unanswered).
async fn wait_for_snapshot(misp: &StubMisp, spawned: Instant, sender: &Sender<'_>) {
    let mut seen = usize::MAX;
    while misp.pulls() != seen || misp.pulls() == 0 {
        seen = misp.pulls();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut w = Workload::new(7);
    let batch = w.batch(
        1,
        Draw::Fresh {
            base: 9_000_000_000,
        },
    );
    let probe = invocation(&batch.events, 0);
    while !sender.answers_clean(&probe).await {
        assert!(
            spawned.elapsed() < Duration::from_secs(600),
            "the snapshot never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "snapshot: loaded and answering {:.2}s after spawn ({} pulls)",
        spawned.elapsed().as_secs_f64(),
        seen
    );
}

/// RSS from the moment the snapshot answers until 4 s later (mimalloc returns freed memory to
/// the system after a purge delay of 1 s, at its next allocations or collection).
async fn rss_after_load(pid: u32) {
    let started = Instant::now();
    let mut series = Vec::new();
    for at in [0u64, 500, 1000, 2000, 4000] {
        tokio::time::sleep_until((started + Duration::from_millis(at)).into()).await;
        let kb = proc_status(pid, "VmRSS:").unwrap_or(0);
        series.push(format!(
            "+{:.1}s {:.1} MB",
            at as f64 / 1e3,
            kb as f64 / 1024.0
        ));
    }
    println!(
        "snapshot: RSS after the load {}; peak so far (VmHWM) {:.1} MB",
        series.join(", "),
        proc_status(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0
    );
}

impl Run {
    /// Every phase against `target` started in `mode` (MISP_MODE).
    pub async fn go(
        target: &Target,
        mode: &str,
        args: &Args,
        bodies: &Bodies,
        misp: &StubMisp,
    ) -> Run {
        println!(
            "\n-- {} ({target:?}, MISP_MODE={mode}), load average {}",
            target.name(),
            load_average()
        );
        let (port, _reserved) = reserved_port();
        let spawned = Instant::now();
        let log = args.handler_log.as_deref();
        let mut process = target.spawn(port, &misp.url(), stub_misp::KEY, mode, log);
        let pid = process.id();
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let ready = child::wait_ready(&client, &base, spawned).await;
        let url = format!("{base}/MatchEvents");
        let sender = Sender {
            client: &client,
            url: &url,
            events_each: args.events,
            misp,
        };
        if mode != "online" && matches!(target, Target::Rust(_)) {
            wait_for_snapshot(misp, spawned, &sender).await;
            rss_after_load(pid).await;
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let idle_rss_kb = proc_status(pid, "VmRSS:").unwrap_or(0);

        let c = args.concurrency;
        let cpu0 = Cpu::of(pid);
        let cold_one = sender.send_all(&bodies.cold_one, 1, true).await;
        let cpu1 = Cpu::of(pid);
        let cold = sender.send_all(&bodies.cold, c, true).await;
        let cpu2 = Cpu::of(pid);
        let warm_bodies: Vec<Vec<u8>> = (0..args.warm_rounds)
            .flat_map(|_| bodies.cold.iter().cloned())
            .collect();
        let load_before = load_average();
        // benches/profile-warm.sh attaches perf to the handler when it reads this line.
        println!(
            "warm phase: handler pid {pid}, {} batches",
            warm_bodies.len()
        );
        let warm = sender.send_all(&warm_bodies, c, false).await;
        let load_after = load_average();
        let cpu3 = Cpu::of(pid);
        let stream = sender.send_all(&bodies.stream, c, true).await;
        let cpu4 = Cpu::of(pid);
        let peak_rss_kb = proc_status(pid, "VmHWM:").unwrap_or(0);
        stop(&mut process);
        Run {
            name: if mode == "online" {
                target.name()
            } else {
                "snapshot"
            },
            ready,
            idle_rss_kb,
            peak_rss_kb,
            cold_one,
            cold,
            warm,
            stream,
            cpu: [
                cpu1.since(cpu0),
                cpu2.since(cpu1),
                cpu3.since(cpu2),
                cpu4.since(cpu3),
            ],
            warm_load: (load_before, load_after),
        }
    }

    pub fn warm_per_cpu_second(&self) -> f64 {
        self.warm.events as f64 / self.cpu[2].total().max(1e-9)
    }

    /// The warm measure with its inputs, on one line.
    pub fn warm_line(&self) {
        let cpu = self.cpu[2];
        println!(
            "{:<8} warm: {} events in {} batches at c={}, CPU {:.2} s (user {:.2}, system {:.2}) = {:.0} events per CPU-second, {:.2} ms CPU per batch; load {} → {}",
            self.name,
            self.warm.events,
            self.warm.batches,
            self.warm.concurrency,
            cpu.total(),
            cpu.user,
            cpu.system,
            self.warm_per_cpu_second(),
            cpu.total() * 1e3 / self.warm.batches.max(1) as f64,
            self.warm_load.0,
            self.warm_load.1
        );
    }

    /// The phases whose answers two runs must agree on.
    pub fn compared<'a>(&'a self, other: &'a Run) -> [(&'static str, &'a Phase, &'a Phase); 3] {
        [
            ("cold@1", &self.cold_one, &other.cold_one),
            ("cold", &self.cold, &other.cold),
            ("stream", &self.stream, &other.stream),
        ]
    }

    /// Every phase's line, the CPU of each, RSS and the stream's request savings.
    pub fn report(&self, args: &Args, stream_hash_occurrences: usize) {
        println!(
            "{}: start→ready {:.1} ms; idle RSS {:.1} MB; MISP latency {} ms",
            self.name,
            ms(self.ready),
            self.idle_rss_kb as f64 / 1024.0,
            args.misp_latency_ms
        );
        self.cold_one.line("cold@1");
        self.cold.line("cold");
        self.warm.line("warm");
        self.stream.line("stream");
        let per_batch = |cpu: Cpu, p: &Phase| cpu.total() * 1e3 / p.batches.max(1) as f64;
        println!(
            "{} CPU: cold@1 {:.2}s ({:.2} ms/batch), cold {:.2}s ({:.2} ms/batch), warm {:.2}s ({:.2} ms/batch), stream {:.2}s ({:.2} ms/batch)",
            self.name,
            self.cpu[0].total(),
            per_batch(self.cpu[0], &self.cold_one),
            self.cpu[1].total(),
            per_batch(self.cpu[1], &self.cold),
            self.cpu[2].total(),
            per_batch(self.cpu[2], &self.warm),
            self.cpu[3].total(),
            per_batch(self.cpu[3], &self.stream),
        );
        self.warm_line();
        println!(
            "stream: per-event design {} MISP requests ({:.0} per 1000 events); this design {}; {:.0}× fewer; {} matches",
            stream_hash_occurrences,
            stream_hash_occurrences as f64 * 1000.0 / self.stream.events as f64,
            self.stream.misp_lookups,
            stream_hash_occurrences as f64 / (self.stream.misp_lookups.max(1)) as f64,
            self.stream.match_count()
        );
        println!(
            "peak RSS (VmHWM): {:.1} MB",
            self.peak_rss_kb as f64 / 1024.0
        );
    }
}
