//! The alert state in Table storage (issue 11, section 5): reached with a managed identity's
//! storage token (against a stub table service), deferred when it cannot be reached, and its
//! claims and budgets against a real Azurite (ignored unless asked for; `scripts/test` starts
//! Azurite and runs them).

use std::time::Duration;

use defender_misp::alerts::budget::{Denied, Window};
use defender_misp::alerts::ledger::{Claim, Ledger, SharedBudget};
use defender_misp::azure::auth::TokenSource;
use defender_misp::azure::table::{TableClient, TableError, TableSettings};

use crate::alert_helpers::{ALERT_ROUTE, a_match, defender_answers};
use crate::helpers::{DEFENDER_TOKEN, STORAGE_TOKEN, spawn_app_with};
use crate::stub_http::matchers::{header, method, path_prefix};
use crate::stub_http::{Mock, ResponseTemplate};

/// A URL where nothing listens, and the socket holding its port.
fn refused() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (format!("http://{}", socket.local_addr().unwrap()), socket)
}

const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[tokio::test]
async fn when_the_state_table_cannot_be_reached_the_message_is_deferred_and_nothing_is_acted_on() {
    let (url, _held) = refused();
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};TableEndpoint={url}/devstoreaccount1"
    );
    let app = spawn_app_with(vec![], &[("AzureWebJobsStorage", &conn)]).await;
    defender_answers(&app, ALERT_ROUTE, ResponseTemplate::new(200)).await;
    let reply = app.post_match(&a_match(1), 1).await;
    assert_eq!(reply.status, 503, "{}", reply.logs);
    assert!(
        reply
            .logs
            .contains("alert state (table storage) unreachable"),
        "{}",
        reply.logs
    );
    assert!(!reply.logs.contains(DEV_KEY));
    assert!(
        app.defender_calls(ALERT_ROUTE).await.is_empty(),
        "not acted on"
    );
}

#[tokio::test]
async fn identity_based_table_storage_is_reached_with_the_managed_identitys_storage_token() {
    let app = spawn_app_with(
        vec![],
        &[("AzureWebJobsStorage__tableServiceUri", "{defender}/tables/")],
    )
    .await;
    defender_answers(&app, ALERT_ROUTE, ResponseTemplate::new(200)).await;
    let bearer = format!("Bearer {STORAGE_TOKEN}");
    let etag =
        |t: ResponseTemplate| t.insert_header("ETag", "W/\"datetime'2026-07-18T13%3A00%3A00Z'\"");
    for (verb, status) in [("POST", 201), ("PUT", 204), ("DELETE", 204)] {
        Mock::given(method(verb))
            .and(path_prefix("/tables/"))
            .and(header("authorization", bearer.as_str()))
            .and(header("x-ms-version", "2020-12-06"))
            .respond_with(etag(ResponseTemplate::new(status)))
            .mount(&app.defender)
            .await;
    }
    // No budget row yet.
    Mock::given(method("GET"))
        .and(path_prefix(
            "/tables/defendermispstate(PartitionKey='budget'",
        ))
        .respond_with(ResponseTemplate::new(404))
        .mount(&app.defender)
        .await;

    let reply = app.post_match(&a_match(1), 1).await;

    assert_eq!(reply.status, 200, "{}", reply.logs);
    assert!(reply.logs.contains("alert=done"), "{}", reply.logs);
    let requests = app.defender.received_requests().await.unwrap_or_default();
    let table: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/tables/"))
        .collect();
    assert!(
        table.len() >= 5,
        "claims, budget and settlements: {}",
        table.len()
    );
    for r in &table {
        let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some(bearer.as_str()), "{}", r.url);
    }
    let inserted: Vec<String> = table
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/tables/defendermispstate")
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["PartitionKey"]
                .to_string()
        })
        .collect();
    assert!(
        inserted.contains(&"\"alert-match\"".to_owned()),
        "{inserted:?}"
    );
    assert!(inserted.contains(&"\"alert\"".to_owned()), "{inserted:?}");
    assert!(inserted.contains(&"\"budget\"".to_owned()), "{inserted:?}");
    let alerts = app.defender_calls(ALERT_ROUTE).await;
    assert_eq!(alerts.len(), 1);
    let auth = alerts[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        auth,
        format!("Bearer {DEFENDER_TOKEN}"),
        "each API its own token"
    );
}

#[tokio::test]
async fn a_throttled_state_table_defers_the_message_with_its_retry_after_and_nothing_is_acted_on() {
    let app = spawn_app_with(
        vec![],
        &[("AzureWebJobsStorage__tableServiceUri", "{defender}/tables/")],
    )
    .await;
    defender_answers(&app, ALERT_ROUTE, ResponseTemplate::new(200)).await;
    Mock::given(path_prefix("/tables/"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .mount(&app.defender)
        .await;

    let reply = app.post_match(&a_match(1), 1).await;

    assert_eq!(reply.status, 503, "{}", reply.logs);
    assert!(
        reply
            .logs
            .contains("table storage is throttling (HTTP 429), Retry-After 7 s"),
        "{}",
        reply.logs
    );
    assert!(app.defender_calls(ALERT_ROUTE).await.is_empty());
}

fn azurite(table: &str) -> TableClient {
    let mut settings = TableSettings::from_connection_string("UseDevelopmentStorage=true").unwrap();
    settings.table = table.to_owned();
    let tokens = std::sync::Arc::new(TokenSource::new(
        defender_misp::azure::auth::AuthMethod::AzureCli,
    ));
    TableClient::new(settings, tokens)
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{n}")
}

/// Needs Azurite's table service on 127.0.0.1:10002; `scripts/test` starts it.
#[tokio::test]
#[ignore = "needs Azurite: run by scripts/test"]
async fn azurite_table_inserts_once_and_replaces_only_an_unchanged_entity() {
    let t = azurite(&unique("client"));
    t.create_table().await.unwrap();
    t.create_table().await.expect("an existing table is fine");
    let props = [("State", "pending".to_owned())];
    let etag = t.insert("alert", "k1", &props).await.unwrap();
    assert_eq!(
        t.insert("alert", "k1", &props).await,
        Err(TableError::Conflict)
    );
    let row = t.get("alert", "k1").await.unwrap().unwrap();
    assert_eq!(row.props["State"], "pending");
    let newer = t
        .replace("alert", "k1", &[("State", "done".to_owned())], &etag)
        .await
        .unwrap();
    assert_eq!(
        t.replace("alert", "k1", &props, &etag).await,
        Err(TableError::Changed),
        "the old ETag no longer matches"
    );
    t.delete("alert", "k1", &newer).await.unwrap();
    assert_eq!(t.get("alert", "k1").await.unwrap(), None);
}

/// Needs Azurite's table service on 127.0.0.1:10002; `scripts/test` starts it.
#[tokio::test]
#[ignore = "needs Azurite: run by scripts/test"]
async fn azurite_claims_are_owned_once_and_a_shared_budget_holds_across_two_ledgers() {
    let table = unique("ledger");
    let (a, b) = (
        Ledger::table(azurite(&table)),
        Ledger::table(azurite(&table)),
    );
    a.shared().unwrap().create_table().await.unwrap();
    let keep = Duration::from_secs(3600);
    let (x, y) = tokio::join!(
        a.claim("alert", "pair", keep),
        b.claim("alert", "pair", keep)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let owned = match (x, y) {
        (Claim::Owned(t), Claim::Busy(_)) | (Claim::Busy(_), Claim::Owned(t)) => t,
        other => panic!("exactly one owner: {other:?}"),
    };
    a.settle(&owned, true).await.unwrap();
    assert!(matches!(
        b.claim("alert", "pair", keep).await.unwrap(),
        Claim::Done
    ));

    let budget = SharedBudget::new("alert", &[Window::per_minute(5)]);
    let takes = futures::future::join_all((0..12).map(|i| {
        let ledger = if i % 2 == 0 { &a } else { &b };
        ledger.take(&budget)
    }))
    .await;
    let granted = takes.iter().filter(|t| matches!(t, Ok(Ok(())))).count();
    assert_eq!(granted, 5, "{takes:?}");
    a.pause(&budget, Duration::from_secs(30)).await.unwrap();
    assert!(matches!(b.take(&budget).await, Ok(Err(Denied::Paused(_)))));
}
