//! The MISP client against a local mock server: request shape, and every status mapped to its
//! meaning in one place.

use std::time::Duration;

use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::intel::config::MispSettings;
use crate::intel::{IntelError, ThreatIntel};
use crate::records::FileHash;
use crate::secret::Secret;

fn settings(url: &str, timeout: Duration) -> MispSettings {
    MispSettings {
        url: url::Url::parse(url).unwrap(),
        api_key: Secret::new("k".repeat(40)),
        chunk_size: 1000,
        published_only: true,
        enforce_warninglist: true,
        warninglists: Default::default(),
        verify_tls: true,
        ca_cert: None,
        timeout,
        snapshot: Default::default(),
    }
}

fn one() -> Vec<LookupKey> {
    vec![FileHash::parse(&"a".repeat(64)).unwrap().into()]
}

#[tokio::test]
async fn the_request_has_the_key_the_headers_and_the_filters() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/misp/attributes/restSearch"))
        .and(header("Authorization", "k".repeat(40).as_str()))
        .and(header("Accept", "application/json"))
        .and(header("Content-Type", "application/json"))
        .and(body_partial_json(serde_json::json!({"value": ["a".repeat(64)], "to_ids": 1, "deleted": 0, "published": 1})))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"response": {"Attribute": []}})))
        .expect(1)
        .mount(&server)
        .await;
    // A MISP mounted under a path prefix keeps it.
    let intel = MispIntel::new(&settings(
        &format!("{}/misp/", server.uri()),
        Duration::from_secs(5),
    ))
    .unwrap();
    assert!(intel.lookup(&one()).await.unwrap().is_empty());
}

#[tokio::test]
async fn each_status_becomes_its_meaning() {
    type Expect = fn(&IntelError) -> bool;
    let cases: Vec<(ResponseTemplate, Expect)> = vec![
        (ResponseTemplate::new(403), |e| {
            matches!(e, IntelError::Unauthorized(403))
        }),
        (ResponseTemplate::new(401), |e| {
            matches!(e, IntelError::Unauthorized(401))
        }),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "17"),
            |e| matches!(e, IntelError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(17)),
        ),
        (
            ResponseTemplate::new(429).insert_header("X-Rate-Limit-Reset", "9"),
            |e| matches!(e, IntelError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(9)),
        ),
        (ResponseTemplate::new(500), |e| {
            matches!(e, IntelError::Server(500))
        }),
        (ResponseTemplate::new(504), |e| {
            matches!(e, IntelError::Server(504))
        }),
        (ResponseTemplate::new(404), |e| {
            matches!(e, IntelError::InvalidResponse(_))
        }),
        (
            ResponseTemplate::new(200)
                .set_body_string("<html>login</html>")
                .insert_header("content-type", "text/html"),
            |e| matches!(e, IntelError::InvalidResponse(m) if m.contains("not JSON")),
        ),
        (
            ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
            |e| matches!(e, IntelError::Timeout(_)),
        ),
    ];
    for (template, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(template)
            .mount(&server)
            .await;
        let intel = MispIntel::new(&settings(&server.uri(), Duration::from_secs(1))).unwrap();
        let err = intel.lookup(&one()).await.unwrap_err();
        assert!(expected(&err), "{err:?}");
        assert!(
            !format!("{err} {err:?}").contains(&"k".repeat(40)),
            "the key never appears in an error"
        );
    }
}

/// A server that answers one request with a JSON body of `declared` bytes, written 1 MiB at a
/// time until the client stops reading; returns its address and the bytes it got to write.
async fn endless_body(declared: usize) -> (String, tokio::task::JoinHandle<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        let mut sent = 0;
        while sent < declared {
            match socket.write_all(&chunk).await {
                Ok(()) => sent += chunk.len(),
                Err(_) => break,
            }
        }
        sent
    });
    (url, server)
}

#[tokio::test]
async fn an_oversized_response_is_refused_not_buffered() {
    // Sixteen times the bound: a client that read it all before refusing would take all 1 GiB.
    let declared = 16 * MAX_RESPONSE_BYTES;
    let (url, server) = endless_body(declared).await;
    let intel = MispIntel::new(&settings(&url, Duration::from_secs(60))).unwrap();
    let err = intel.lookup(&one()).await.unwrap_err();
    assert!(
        matches!(&err, IntelError::InvalidResponse(m) if m.contains("larger than")),
        "{err:?}"
    );
    let sent = tokio::time::timeout(Duration::from_secs(60), server)
        .await
        .expect("the server stops writing once the client hangs up")
        .unwrap();
    // What the client read, plus what the socket buffers held when it hung up.
    assert!(
        sent < MAX_RESPONSE_BYTES + 32 * 1024 * 1024,
        "the client stopped reading at the bound: the server wrote {sent} of {declared} bytes"
    );
}

#[test]
fn a_missing_ca_file_is_an_error_naming_the_variable() {
    let mut s = settings("https://misp.example", Duration::from_secs(1));
    s.ca_cert = Some("/nonexistent/ca.pem".into());
    let err = MispIntel::new(&s).unwrap_err();
    assert!(err.to_string().starts_with("MISP_CA_CERT"));
}

/// As restSearch answers with `includeEventTags` and `includeContext`: the event's tags on the
/// attribute (inherited) and again in its `Event` block. Each reaches the match once, and MISP
/// text with invisible characters of every class reaches it without them.
#[test]
fn event_tags_appear_once_and_hostile_text_is_cleaned_when_mapped() {
    let hash = "ab".repeat(32);
    let event_tags: Vec<serde_json::Value> = (0..12)
        .map(|i| serde_json::json!({"name": format!("misp-galaxy:tool=\"t{i}\""), "local": 0}))
        .collect();
    let mut attribute_tags = vec![serde_json::json!({"name": "tlp:amber"})];
    attribute_tags.extend(event_tags.iter().cloned().map(|mut t| {
        t["inherited"] = serde_json::json!(1);
        t
    }));
    let info =
        "Evil\u{202e}\u{61c}\u{ad}\u{180e}\u{2060}\u{2064}\u{fff9}\u{e0041}\u{e007f} campaign";
    let answer = serde_json::json!({"response": {"Attribute": [{
        "id": "1", "event_id": "7", "type": "sha256", "to_ids": true, "deleted": false,
        "uuid": "------------------------------------", "value": hash,
        "Event": {"id": "7", "uuid": "11111111-0000-4000-8000-000000000007", "info": info,
                  "threat_level_id": "1", "published": true, "Tag": event_tags},
        "Tag": attribute_tags
    }]}});
    let parsed: SearchResponse = serde_json::from_value(answer).unwrap();
    let wanted = LookupKey::from(FileHash::parse(&hash).unwrap());
    let requested = std::collections::HashSet::from([&wanted]);
    let rules = crate::intel::rules::Rules {
        published_only: true,
        ..Default::default()
    };
    let hits = map_attributes(&parsed.response.attribute, &requested, &rules);
    let hit = &hits[&wanted][0];
    assert_eq!(hit.tags.len(), 13, "{:?}", hit.tags);
    let mut unique = hit.tags.clone();
    unique.dedup();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 13);
    assert_eq!(hit.event_info, "Evil campaign");
    assert_eq!(hit.attribute_uuid, "", "36 dashes are no uuid");
}
