//! The measured process and the machine: a handler started as a child (the Rust binary or the
//! Python reference), stopped with SIGTERM; its CPU from `/proc/<pid>/stat` and memory from
//! `/proc/<pid>/status`; this thread's CPU clock for the ceiling; the load average.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What serves `POST /MatchEvents`.
#[derive(Debug, Clone)]
pub enum Target {
    /// `defender-misp serve`.
    Rust(PathBuf),
    /// `python3 benches/reference_handler.py`.
    Python(PathBuf),
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Rust(_) => "handler",
            Target::Python(_) => "python",
        }
    }

    /// Starts the target on `port`, with the handler's environment; its stdout (the handler's
    /// JSON log lines) goes to `log`, appended, or nowhere.
    pub fn spawn(
        &self,
        port: u16,
        misp_url: &str,
        key: &str,
        mode: &str,
        log: Option<&Path>,
    ) -> Child {
        let stdout = match log {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Stdio::from)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display())),
            None => Stdio::null(),
        };
        let mut command = match self {
            Target::Rust(binary) => {
                let mut c = Command::new(binary);
                c.arg("serve");
                c
            }
            Target::Python(script) => {
                let mut c = Command::new("python3");
                c.arg(script);
                c
            }
        };
        command
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("MISP_URL", misp_url)
            .env("MISP_API_KEY", key)
            .env("MISP_MODE", mode)
            .env("RUST_LOG", "info")
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {self:?}: {e}"))
    }
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS:`, `VmHWM:`).
pub fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A process's CPU so far: utime and stime, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub user: f64,
    pub system: f64,
}

impl Cpu {
    pub fn of(pid: u32) -> Self {
        let ticks = clock_ticks();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        Cpu {
            user: get(11) / ticks,
            system: get(12) / ticks,
        }
    }

    pub fn total(self) -> f64 {
        self.user + self.system
    }

    /// What was spent between `earlier` and `self`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): what the ceiling costs, without
/// the time the thread waited for a core the other processes held.
pub fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec owned by this frame.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The 1-, 5- and 15-minute load averages, as `uptime` prints them.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A loopback port held by a bound, never-listening socket with `SO_REUSEADDR` while the handler
/// binds and listens on it (tokio sets `SO_REUSEADDR` too, and so does Python's `http.server`):
/// it is never free between its choice and its use, as a port checked free and released would be.
pub fn reserved_port() -> (u16, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (socket.local_addr().unwrap().port(), socket)
}

/// Polls `GET /` until the child answers 2xx; the time since `spawned`.
pub async fn wait_ready(client: &reqwest::Client, base: &str, spawned: Instant) -> Duration {
    loop {
        if let Ok(r) = client.get(base).send().await
            && r.status().is_success()
        {
            return spawned.elapsed();
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(10),
            "the handler at {base} never became ready"
        );
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// SIGTERM, then up to 5 s for the child to exit, then SIGKILL.
pub fn stop(child: &mut Child) {
    // SAFETY: kill(2) on the pid of a child this process started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
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
