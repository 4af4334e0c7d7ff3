//! The handler under test: a `defender-misp serve` child process of a given binary, on a port held
//! for it, with only the settings a scenario gives (default settings otherwise), its output in a
//! log file; its peak memory read from `/proc`.
//! Shared with `tests/api` (its ignored load tests), which use part of it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Handler {
    child: Child,
    pub base: String,
    _port: tokio::net::TcpSocket,
}

/// A loopback port held by a bound, never-listening socket with `SO_REUSEADDR` until the handler
/// listens on it.
fn reserved_port() -> (u16, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (socket.local_addr().unwrap().port(), socket)
}

impl Handler {
    /// Starts `binary serve` with `settings` and waits until `GET /` answers.
    pub async fn start(binary: &Path, name: &str, settings: &[(String, String)]) -> Self {
        let (port, socket) = reserved_port();
        let log = std::env::temp_dir().join(format!("scenario-{name}-{}.log", std::process::id()));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        for (k, v) in settings {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the handler binary starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client.get(format!("{base}/")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name} did not answer GET / within 30 s; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Self {
            child,
            base,
            _port: socket,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb / 1024)
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
