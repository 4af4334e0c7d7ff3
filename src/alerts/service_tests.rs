//! Tests of [`super::AlertService`]: one call for two messages in flight, and the constant that
//! mirrors host.json.

use super::*;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use std::collections::HashMap;
use time::OffsetDateTime;
use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug)]
struct FixedToken;

#[async_trait::async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let expires = OffsetDateTime::now_utc() + time::Duration::hours(1);
        Ok(AccessToken::new("fixed", expires))
    }
}

fn a_match(id: &str) -> MatchRecord {
    serde_json::from_value(serde_json::json!({
        "matchId": id, "deviceId": "d1", "deviceName": null, "reportId": "7",
        "timestamp": "2026-07-18T12:59:31Z", "category": null, "alertable": true,
        "hash": "e".repeat(64), "hashType": "sha256", "hashFields": ["SHA256"],
        "fileName": null, "folderPath": null, "intel": []
    }))
    .unwrap()
}

#[test]
fn the_last_delivery_constant_matches_host_json() {
    let host: serde_json::Value = serde_json::from_str(include_str!("../../host.json")).unwrap();
    let queues = &host["extensions"]["queues"];
    assert_eq!(queues["maxDequeueCount"], HOST_MAX_DEQUEUE_COUNT);
    assert_eq!(
        queues["visibilityTimeout"], "00:01:00",
        "docs/alerting.md assumes one minute"
    );
}

#[tokio::test]
async fn two_messages_in_flight_for_one_file_make_one_call_and_neither_is_lost() {
    let defender = MockServer::start().await;
    Mock::given(path("/api/alerts/CreateAlertByReference"))
        .and(header("authorization", "Bearer fixed"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(200)))
        .mount(&defender)
        .await;
    let env: HashMap<String, String> = [
        ("DEFENDER_API_URL".to_owned(), defender.uri()),
        ("DEFENDER_ALERTS".to_owned(), "true".to_owned()),
        ("MISP_URL".to_owned(), "https://misp.example".to_owned()),
        ("MISP_API_KEY".to_owned(), "k".to_owned()),
    ]
    .into();
    let service = AlertService::with_tokens(
        AlertConfig::from_env(&env).unwrap(),
        &MispSettings::from_env(&env).unwrap(),
        RetryPolicy::default(),
        Arc::new(TokenSource::from_credential(Arc::new(FixedToken))),
    )
    .unwrap();

    let (first, second) = (a_match("a"), a_match("b"));
    let (a, b) = tokio::join!(service.process(&first, 1), service.process(&second, 1));
    let later = service.process(&a_match("c"), 1).await;

    let mut outcomes = [a.alert, b.alert];
    outcomes.sort_by_key(|o| o.to_string());
    assert_eq!(
        outcomes[0],
        Outcome::Deferred("an alert for this device and hash is in flight".into())
    );
    assert_eq!(outcomes[1], Outcome::Done);
    assert_eq!(later.alert, Outcome::Duplicate);
    assert_eq!(defender.received_requests().await.unwrap().len(), 1);
}
