//! The real `defender-misp serve` process, started as the Functions host starts it: only
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, `MISP_URL` and `MISP_API_KEY` set.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixtures::*;
use crate::host_sim::{self, Declared};
use crate::stub_misp::{MISP_KEY, StubAttribute, StubMisp};

/// A loopback port held for the handler: a socket bound with `SO_REUSEADDR` and never
/// listening. The handler's own listener (tokio sets `SO_REUSEADDR` too) may bind and listen on
/// it, while no other socket can take it before then: the port is never free between its choice
/// and its use. The handler cannot be given port 0, which `FUNCTIONS_CUSTOMHANDLER_PORT` refuses.
fn reserved_port() -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket
}

#[tokio::test]
async fn serve_starts_with_three_settings_answers_the_host_and_stops_on_sigterm() {
    let bad = sha1("binary");
    let misp = StubMisp::start(vec![StubAttribute::ids("sha1", bad.clone(), 1)]).await;
    let reserved = reserved_port();
    let port = reserved.local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_defender-misp"))
        .arg("serve")
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("MISP_URL", misp.url())
        .env("MISP_API_KEY", MISP_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    // The host polls GET / every 25 ms until any answer.
    let mut ready = false;
    for _ in 0..400 {
        if client.get(format!("{base}/")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "serve answered GET / within 10 s");
    // src/memory.rs: no transparent huge pages for the process (the kernel says so in status).
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let thp = status.lines().find(|l| l.starts_with("THP_enabled:"));
    assert_eq!(
        thp.map(|l| l.split_whitespace().nth(1)),
        Some(Some("0")),
        "THP_enabled in /proc/<pid>/status (Linux 5.0 and later print it): {thp:?}"
    );
    let events = vec![envelope(&[device_event(
        "DeviceFileEvents",
        1,
        [&bad, "", ""],
        ["", "", ""],
    )])];
    let result = host_sim::invoke(
        &client,
        &base,
        "MatchEvents",
        &host_sim::invocation(&events, Declared::ManyBinary, None, 1),
    )
    .await;
    assert_eq!(result.status, 200);
    assert_eq!(result.queue_messages().len(), 1);

    // SIGTERM: graceful stop, exit 0.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // wait_with_output reads stdout and stderr to their end while it waits, so a child that
    // fills a pipe can never block its own exit.
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    drop(reserved);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(
        stdout.contains("\"matches\":1"),
        "structured logs on stdout: {stdout}"
    );
    assert!(!stdout.contains(MISP_KEY), "the key never reaches a log");
}

#[test]
fn serve_refuses_to_start_without_a_valid_port_and_names_the_variable() {
    for (value, expect) in [(None, "is required"), (Some("http"), "not a TCP port")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_defender-misp"));
        cmd.arg("serve")
            .env_clear()
            .env("MISP_URL", "https://misp.example")
            .env("MISP_API_KEY", MISP_KEY);
        if let Some(v) = value {
            cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("FUNCTIONS_CUSTOMHANDLER_PORT") && stderr.contains(expect),
            "{stderr}"
        );
    }
}

#[test]
fn serve_refuses_a_setting_out_of_range_an_invalid_log_filter_or_a_url_with_a_password_before_it_listens()
 {
    let reserved = reserved_port();
    let port = reserved.local_addr().unwrap().port().to_string();
    for (var, value, expect) in [
        (
            "MISP_DEADLINE_SECS",
            "18446744073709551615",
            "MISP_DEADLINE_SECS: must be between 1 and 300",
        ),
        (
            "MISP_BREAKER_COOLDOWN_SECS",
            "18446744073709551615",
            "MISP_BREAKER_COOLDOWN_SECS: must be between 0 and 300",
        ),
        (
            "ALERT_DEDUPE_WINDOW_SECS",
            "18446744073709551615",
            "ALERT_DEDUPE_WINDOW_SECS: must be between 0 and 2592000",
        ),
        (
            "MATCH_MAX_EVENTS",
            "0",
            "MATCH_MAX_EVENTS: must be between 1 and",
        ),
        (
            "MATCH_MAX_REQUEST_BYTES",
            "0",
            "MATCH_MAX_REQUEST_BYTES: must be between",
        ),
        (
            "RUST_LOG",
            "info,defender_misp=loud",
            "RUST_LOG: `info,defender_misp=loud` is not a log filter",
        ),
        (
            "MISP_URL",
            "https://admin:Pa55w0rd-xyz@misp.example",
            "MISP_URL: must not hold a user name or password",
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_defender-misp"));
        cmd.arg("serve")
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", &port)
            .env("MISP_URL", "https://misp.example")
            .env("MISP_API_KEY", MISP_KEY)
            .env(var, value);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(expect), "{var}={value}: {stderr}");
        assert!(
            !stdout.contains("ready"),
            "{var}: it never served: {stdout}"
        );
        assert!(
            !format!("{stdout}{stderr}").contains("Pa55w0rd"),
            "the password never shows"
        );
    }
    drop(reserved);
}
