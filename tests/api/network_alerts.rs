//! `RaiseAlerts` for network matches (issue 15): a Defender alert by reference for an alertable
//! record, an indicator of the matching Defender type (`IpAddress`, `DomainName`, `Url`; none
//! for a sender address, which Defender has no type for), a MISP sighting of the attribute.

use serde_json::{Value, json};

use crate::alert_helpers::*;
use crate::helpers::{SIGHTING_KEY, spawn_app_with};
use crate::stub_http::matchers::{header, method, path};
use crate::stub_http::{Mock, ResponseTemplate};

/// A network match as `MatchEvents` writes it: `kind` and `value` canonical.
fn network_match(n: u64, kind: &str, value: &str, attribute_type: &str) -> Value {
    json!({
        "matchId": format!("{n:032x}"), "deviceId": DEVICE, "deviceName": "host-1.contoso.local",
        "reportId": format!("{}", 2000 + n), "timestamp": "2026-07-18T12:59:31.2914446Z",
        "category": "AdvancedHunting-DeviceNetworkEvents", "alertable": true,
        "hash": null, "hashType": null, "hashFields": [], "fileName": null, "folderPath": null,
        "intel": [{"eventId": "42", "eventUuid": EVENT_UUID, "eventInfo": "C2 wave", "threatLevelId": 1,
                   "attributeUuid": ATTRIBUTE_UUID, "attributeType": attribute_type, "tags": ["tlp:amber"],
                   "value": value}],
        "intelOmitted": 0,
        "indicatorKind": kind, "indicatorValue": value, "indicatorColumns": ["RemoteIP"], "indicatorPort": 443
    })
}

#[tokio::test]
async fn a_network_match_raises_an_alert_an_indicator_of_its_type_and_a_sighting() {
    let app = spawn_app_with(
        vec![],
        &[
            ("DEFENDER_INDICATOR_ACTION", "audit"),
            ("MISP_SIGHTINGS", "true"),
            ("MISP_SIGHTING_API_KEY", SIGHTING_KEY),
        ],
    )
    .await;
    let ok = ResponseTemplate::new(200).set_body_json(json!({"id": "da637"}));
    defender_answers(&app, ALERT_ROUTE, ok.clone()).await;
    defender_answers(&app, INDICATOR_ROUTE, ok).await;
    let added =
        json!({"Sighting": {"id": "8", "attribute_id": "1", "event_id": "42", "type": "0"}});
    Mock::given(method("POST"))
        .and(path(format!("/sightings/add/{ATTRIBUTE_UUID}")))
        .and(header("authorization", SIGHTING_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(added))
        .mount(&app.misp)
        .await;

    let cases = [
        ("ip", "1.2.3.40", "ip-dst", Some("IpAddress")),
        ("domain", "c2.evil.test", "domain", Some("DomainName")),
        ("url", "https://evil.test/payload.bin", "url", Some("Url")),
        ("email", "phish@sender.test", "email-src", None),
    ];
    for (n, (kind, value, attribute_type, _)) in cases.iter().enumerate() {
        let reply = app
            .post_match(&network_match(n as u64 + 1, kind, value, attribute_type), 1)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.logs);
        assert!(
            reply.logs.contains("alert=done") && reply.logs.contains("sighting=done"),
            "{}",
            reply.logs
        );
        let indicator = if *kind == "email" {
            "indicator=skipped"
        } else {
            "indicator=done"
        };
        assert!(reply.logs.contains(indicator), "{kind}: {}", reply.logs);
    }
    let alerts = app.defender_calls(ALERT_ROUTE).await;
    assert_eq!(alerts.len(), 4, "one alert per record, by reference");
    let description = json_body(&alerts[0])["description"]
        .as_str()
        .unwrap()
        .to_owned();
    for part in [
        "network indicator",
        "ip 1.2.3.40 port 443",
        "RemoteIP",
        "C2 wave",
    ] {
        assert!(
            description.contains(part),
            "{part} missing from {description}"
        );
    }
    let pushed: Vec<(String, String)> = app
        .defender_calls(INDICATOR_ROUTE)
        .await
        .iter()
        .map(json_body)
        .map(|b| {
            (
                b["indicatorType"].as_str().unwrap().to_owned(),
                b["indicatorValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = cases
        .iter()
        .filter_map(|(_, value, _, t)| Some(((*t)?.to_owned(), (*value).to_owned())))
        .collect();
    assert_eq!(pushed, expected);
    let sightings = calls(&app.misp, &format!("/sightings/add/{ATTRIBUTE_UUID}")).await;
    assert_eq!(sightings.len(), 4);
}
