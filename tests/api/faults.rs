//! MISP faults of every kind follow one rule: with retries left the handler answers 500 so the
//! host retries the batch; on the last attempt (or with no retry policy) it answers 200 with the
//! matches found and dead-letters only the events whose hashes were not answered.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures::*;
use crate::helpers::{TestApp, spawn_app_with};
use crate::host_sim::{Declared, Retry};
use crate::stub_misp::{Fault, MISP_KEY, StubAttribute};

const NONE: [&str; 3] = ["", "", ""];

/// A server that accepts, reads the request, sends half a response and closes.
async fn resetting_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"response\":{\"Attr")
                .await;
            drop(sock);
        }
    });
    format!("http://{addr}")
}

/// A URL where nothing listens: a socket bound and never listening, kept for the case's life, so
/// the port is refused and no other test can take it meanwhile.
fn refused_url() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    (url, socket)
}

struct Case {
    name: &'static str,
    fault: Fault,
    misp_url: Option<String>,
    key: Option<&'static str>,
    /// Holds the refused port while the case runs.
    _reserved: Option<tokio::net::TcpSocket>,
}

async fn cases() -> Vec<Case> {
    let case = |name, fault| Case {
        name,
        fault,
        misp_url: None,
        key: None,
        _reserved: None,
    };
    let (refused, reserved) = refused_url();
    vec![
        case("500", Fault::Status(500)),
        case("502", Fault::Status(502)),
        case("429 with Retry-After", Fault::RateLimited(30)),
        case("HTML login page with 200", Fault::Html),
        case("truncated JSON", Fault::Truncated),
        case("wrong shape", Fault::WrongShape),
        case(
            "slower than the client timeout",
            Fault::Slow(Duration::from_secs(4)),
        ),
        Case {
            name: "403 wrong key",
            fault: Fault::None,
            misp_url: None,
            key: Some("WrongKeyWrongKeyWrongKeyWrongKeyWrongKey"),
            _reserved: None,
        },
        Case {
            name: "connection refused",
            fault: Fault::None,
            misp_url: Some(refused),
            key: None,
            _reserved: Some(reserved),
        },
        Case {
            name: "reset mid-response",
            fault: Fault::None,
            misp_url: Some(resetting_server().await),
            key: None,
            _reserved: None,
        },
    ]
}

async fn app_for(case: &Case, known: &str) -> TestApp {
    let mut extra: Vec<(&str, &str)> = vec![];
    if let Some(url) = &case.misp_url {
        extra.push(("MISP_URL", url));
    }
    if let Some(key) = case.key {
        extra.push(("MISP_API_KEY", key));
    }
    let app = spawn_app_with(
        vec![StubAttribute::ids("sha256", known.to_owned(), 1)],
        &extra,
    )
    .await;
    app.misp.set_fault(case.fault.clone());
    app
}

// The fault tests run on tokio's paused clock: a stub slower than the client's timeout, the
// backoffs and the deadline all pass at once, with the same outcomes as in real time.

#[tokio::test(start_paused = true)]
async fn with_retries_left_every_fault_asks_the_host_to_retry() {
    let bad = sha256("fault-retry");
    for case in cases().await {
        let app = app_for(&case, &bad).await;
        let events = vec![envelope(&[device_event(
            "DeviceFileEvents",
            1,
            ["", &bad, ""],
            NONE,
        )])];
        let result = app
            .match_events_as(
                &events,
                Declared::ManyBinary,
                Some(Retry { count: 0, max: 3 }),
            )
            .await;
        assert_eq!(result.status, 500, "{}", case.name);
        let logs = result.logs();
        assert_eq!(logs.len(), 2, "{}: {logs:?}", case.name);
        assert!(
            logs[0].starts_with("MatchEvents partition=")
                && logs[0].contains(" retry requested, nothing written: events=1 "),
            "{}: {logs:?}",
            case.name
        );
        assert!(
            logs[1].starts_with("1 of 1 hashes unanswered (")
                && logs[1].ends_with("); the host will retry the batch"),
            "{}: {logs:?}",
            case.name
        );
        let forever = app
            .match_events_as(
                &events,
                Declared::ManyBinary,
                Some(Retry { count: 9, max: -1 }),
            )
            .await;
        assert_eq!(
            forever.status, 500,
            "{}: MaxRetryCount -1 retries forever",
            case.name
        );
    }
    // The retry state is logged as a person reads it, not as Rust's Debug text.
    let logged = crate::helpers::logs();
    assert!(logged.contains(r#""retry":"retry 0 of 3""#), "{logged}");
    assert!(
        logged.contains(r#""retry":"retry 9 of unlimited""#),
        "{logged}"
    );
    assert!(!logged.contains("RetryContext {"), "{logged}");
}

#[tokio::test(start_paused = true)]
async fn on_the_last_attempt_or_without_a_policy_only_unanswered_events_are_dead_lettered() {
    let bad = sha256("fault-last");
    for case in cases().await {
        for retry in [Some(Retry { count: 3, max: 3 }), None] {
            let app = app_for(&case, &bad).await;
            let events = vec![
                envelope(&[device_event("DeviceFileEvents", 1, ["", &bad, ""], NONE)]),
                envelope(&[logon_info()]),
                b"not json".to_vec(),
            ];
            let result = app
                .match_events_as(&events, Declared::ManyBinary, retry)
                .await;
            assert_eq!(result.status, 200, "{} {retry:?}", case.name);
            assert!(result.queue_messages().is_empty(), "{}", case.name);
            let dead = result.dead_events();
            assert_eq!(
                dead.len(),
                2,
                "{}: the unanswered event and the bad body",
                case.name
            );
            let reason = dead[0]["reason"].as_str().unwrap();
            assert!(reason.contains("did not answer"), "{}: {reason}", case.name);
            assert!(
                !format!("{}", result.body).contains(MISP_KEY),
                "{}: key leaked",
                case.name
            );
        }
    }
}

#[tokio::test]
async fn answers_cached_before_a_failure_are_kept_across_the_hosts_retries() {
    let (known, other) = (sha256("known-before"), sha256("asked-later"));
    let app = spawn_app_with(vec![StubAttribute::ids("sha256", known.clone(), 1)], &[]).await;
    let first = vec![envelope(&[device_event(
        "DeviceFileEvents",
        1,
        ["", &known, ""],
        NONE,
    )])];
    assert_eq!(app.match_events(&first).await.queue_messages().len(), 1);
    app.misp.set_fault(Fault::Status(503));
    let batch = vec![
        envelope(&[device_event("DeviceFileEvents", 1, ["", &known, ""], NONE)]),
        envelope(&[device_event("DeviceFileEvents", 2, ["", &other, ""], NONE)]),
    ];
    let last = app
        .match_events_as(
            &batch,
            Declared::ManyBinary,
            Some(Retry { count: 3, max: 3 }),
        )
        .await;
    assert_eq!(last.status, 200);
    assert_eq!(
        last.queue_messages().len(),
        1,
        "the cached hit still matches"
    );
    assert_eq!(
        last.dead_events().len(),
        1,
        "only the event MISP did not answer"
    );
    assert_eq!(last.dead_events()[0]["sequenceNumber"], 43);
}

#[tokio::test(start_paused = true)]
async fn all_misp_work_ends_within_the_deadline() {
    let bad = sha256("deadline");
    let app = spawn_app_with(
        vec![StubAttribute::ids("sha256", bad.clone(), 1)],
        &[("MISP_DEADLINE_SECS", "1"), ("MISP_TIMEOUT_SECS", "30")],
    )
    .await;
    app.misp.set_fault(Fault::Slow(Duration::from_secs(20)));
    let events = vec![envelope(&[device_event(
        "DeviceFileEvents",
        1,
        ["", &bad, ""],
        NONE,
    )])];
    let started = tokio::time::Instant::now();
    let result = app.match_events(&events).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the deadline, not the 20 s stub, ended the lookup (tokio's clock)"
    );
    assert_eq!(result.dead_events().len(), 1);
    assert!(
        result.dead_events()[0]["reason"]
            .as_str()
            .unwrap()
            .contains("deadline")
    );
}
