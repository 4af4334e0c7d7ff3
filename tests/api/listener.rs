//! The listener (issue 11, section 3): slowloris connections are closed in bounded time, a
//! flood of idle connections never keeps the host out, and the host's pooled keep-alive
//! connections outlive the header timeout. Real time, with the timeouts set to their minimum
//! (1 s), so each case takes a few seconds.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixtures::*;
use crate::helpers::{TestApp, spawn_app_with};
use crate::stub_misp::StubAttribute;

const NONE: [&str; 3] = ["", "", ""];

async fn app(extra: &[(&str, &str)]) -> (TestApp, String) {
    let bad = sha256("listener");
    let mut settings = vec![
        ("SERVE_HEADER_TIMEOUT_SECS", "1"),
        ("SERVE_BODY_TIMEOUT_SECS", "1"),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(
        vec![StubAttribute::ids("sha256", bad.clone(), 3)],
        &settings,
    )
    .await;
    (app, bad)
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection or `within` passes; what it sent, and whether
/// it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The handler still answers `GET /` and a batch, quickly.
async fn still_serving(app: &TestApp, bad: &str) {
    let started = Instant::now();
    let ready = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let events = vec![envelope(&[device_event(
        "DeviceFileEvents",
        1,
        ["", bad, ""],
        NONE,
    )])];
    let result = app.match_events(&events).await;
    assert_eq!(result.status, 200);
    assert_eq!(result.queue_messages().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn headers_trickled_a_byte_at_a_time_are_cut_off_after_the_header_timeout() {
    let (app, bad) = app(&[]).await;
    let mut slow = connect(&app).await;
    let head =
        b"POST /MatchEvents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
    let started = Instant::now();
    let mut closed_after = None;
    for b in head {
        if slow.write_all(&[*b]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(
        closed || closed_after.is_some(),
        "the trickling connection is closed"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    still_serving(&app, &bad).await;
}

#[tokio::test]
async fn a_stalled_body_or_one_shorter_than_its_content_length_gets_408_and_is_closed() {
    let (app, bad) = app(&[]).await;
    for (route, declared) in [
        ("MatchEvents", 1_000_000),
        ("RaiseAlerts", 50_000),
        ("MatchEvents", 64),
    ] {
        let mut stalled = connect(&app).await;
        let head = format!(
            "POST /{route} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{{\"Data\":"
        );
        stalled.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let (answer, closed) = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{route}: {answer}");
        assert!(answer.contains("SERVE_BODY_TIMEOUT_SECS"), "{answer}");
        assert!(closed, "{route}: the connection is closed after the 408");
        assert!(started.elapsed() < Duration::from_secs(4));
    }
    still_serving(&app, &bad).await;
}

#[tokio::test]
async fn a_flood_of_idle_connections_never_keeps_the_host_out() {
    let (app, bad) = app(&[("SERVE_MAX_CONNECTIONS", "16")]).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(connect(&app).await);
    }
    // Connections still pending a handshake in the backlog are accepted (and others closed) as
    // the host's requests arrive.
    still_serving(&app, &bad).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut open = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 1];
        // A closed connection reads 0 at once; an open idle one has nothing to read.
        if let Err(_) | Ok(Ok(1..)) =
            tokio::time::timeout(Duration::from_millis(5), stream.read(&mut buf)).await
        {
            open += 1;
        }
    }
    assert!(open <= 16, "{open} idle connections still held (cap 16)");
    still_serving(&app, &bad).await;
}

#[tokio::test]
async fn a_pooled_keep_alive_connection_outlives_the_header_timeout() {
    let (app, _) = app(&[]).await;
    let mut pooled = connect(&app).await;
    for round in 0..2 {
        pooled
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(2), pooled.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "round {round}: {text}");
        // Idle for more than twice the header timeout: a pooled connection must stay open.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
}
