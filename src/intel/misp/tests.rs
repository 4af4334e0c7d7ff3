//! The MISP client against a local mock server: request shape, and every status mapped to its
//! meaning in one place.

use std::time::Duration;

use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::intel::config::MispSettings;
use crate::intel::{IntelError, ThreatIntel};
use crate::secret::Secret;

fn settings(url: &str, timeout: Duration) -> MispSettings {
    MispSettings {
        url: url::Url::parse(url).unwrap(),
        api_key: Secret::new("k".repeat(40)),
        chunk_size: 1000,
        published_only: true,
        enforce_warninglist: true,
        verify_tls: true,
        ca_cert: None,
        timeout,
        snapshot: Default::default(),
    }
}

fn one() -> Vec<FileHash> {
    vec![FileHash::parse(&"a".repeat(64)).unwrap()]
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

#[tokio::test]
async fn an_oversized_response_is_refused_not_buffered() {
    let server = MockServer::start().await;
    let huge = vec![b' '; MAX_RESPONSE_BYTES + 1];
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let intel = MispIntel::new(&settings(&server.uri(), Duration::from_secs(20))).unwrap();
    let err = intel.lookup(&one()).await.unwrap_err();
    assert!(matches!(err, IntelError::InvalidResponse(m) if m.contains("larger than")));
}

#[test]
fn a_missing_ca_file_is_an_error_naming_the_variable() {
    let mut s = settings("https://misp.example", Duration::from_secs(1));
    s.ca_cert = Some("/nonexistent/ca.pem".into());
    let err = MispIntel::new(&s).unwrap_err();
    assert!(err.to_string().starts_with("MISP_CA_CERT"));
}
