use serde_json::json;

use super::*;
use crate::indicator::IndicatorKind;

fn texts(r: &RecordIndicators) -> Vec<(String, Option<u16>, Vec<&'static str>)> {
    r.found
        .iter()
        .map(|f| (f.indicator.to_string(), f.port, f.columns.clone()))
        .collect()
}

#[test]
fn a_network_event_yields_its_remote_address_and_url_with_the_port() {
    let record = json!({
        "time": "2026-07-18T13:01:51Z",
        "category": "AdvancedHunting-DeviceNetworkEvents",
        "properties": {
            "ActionType": "ConnectionSuccess",
            "RemoteIP": "::ffff:1.2.3.4",
            "RemotePort": 8443,
            "RemoteUrl": "C2.Evil.Test",
            "LocalIP": "1.2.3.9",
            "LocalPort": 53630,
            "RemoteIPType": "Public"
        }
    });
    let got = extract_indicators("DeviceNetworkEvents", &record);
    assert_eq!(
        texts(&got),
        [
            ("1.2.3.4".into(), Some(8443), vec!["RemoteIP"]),
            ("c2.evil.test".into(), Some(8443), vec!["RemoteUrl"]),
        ]
    );
    assert_eq!((got.invalid, got.skipped_total()), (0, 0));
}

#[test]
fn a_remote_url_with_a_path_is_a_url_and_its_host() {
    let row = json!({"RemoteIP": "1.2.3.4", "RemotePort": "80", "RemoteUrl": "http://1.2.3.4/gate.php?id=7"});
    let got = extract_indicators("DeviceEvents", &row);
    assert_eq!(
        texts(&got),
        [
            ("1.2.3.4".into(), Some(80), vec!["RemoteIP", "RemoteUrl"]),
            (
                "http://1.2.3.4/gate.php?id=7".into(),
                Some(80),
                vec!["RemoteUrl"]
            ),
        ]
    );
    let host_port = json!({"RemoteUrl": "evil.test:8080"});
    let got = extract_indicators("DeviceNetworkEvents", &host_port);
    assert_eq!(
        texts(&got),
        [("evil.test".into(), Some(8080), vec!["RemoteUrl"])]
    );
}

#[test]
fn a_downloaded_file_yields_its_origin_url_referrer_and_address() {
    let row = json!({"properties": {
        "FileOriginUrl": "https://dl.evil.test/payload.exe#frag",
        "FileOriginReferrerUrl": "https://www.evil.test/",
        "FileOriginIP": "2d00::5",
        "RequestSourceIP": null,
        "SHA1": "6866429eb0f03fc50f980019774036a21063a3c1"
    }});
    let got = extract_indicators("DeviceFileEvents", &row);
    assert_eq!(
        texts(&got),
        [
            (
                "https://dl.evil.test/payload.exe".into(),
                Some(443),
                vec!["FileOriginUrl"]
            ),
            ("dl.evil.test".into(), Some(443), vec!["FileOriginUrl"]),
            (
                "https://www.evil.test/".into(),
                Some(443),
                vec!["FileOriginReferrerUrl"]
            ),
            (
                "www.evil.test".into(),
                Some(443),
                vec!["FileOriginReferrerUrl"]
            ),
            ("2d00::5".into(), None, vec!["FileOriginIP"]),
        ]
    );
}

#[test]
fn an_email_yields_sender_addresses_domains_and_ips() {
    let row = json!({
        "SenderFromAddress": "Billing@Evil.Test",
        "SenderMailFromAddress": "bounce@mail.evil.test",
        "SenderFromDomain": "evil.test",
        "SenderMailFromDomain": "mail.evil.test",
        "SenderIPv4": "1.2.3.4",
        "SenderIPv6": null,
        "RecipientEmailAddress": "victim@corp.test",
        "RecipientDomain": "corp.test"
    });
    let got = extract_indicators("EmailEvents", &row);
    let kinds: Vec<_> = got.found.iter().map(|f| f.indicator.kind()).collect();
    assert_eq!(
        kinds,
        [
            IndicatorKind::Ip,
            IndicatorKind::Host,
            IndicatorKind::Host,
            IndicatorKind::Email,
            IndicatorKind::Email
        ]
    );
    assert!(
        got.found
            .iter()
            .all(|f| !f.indicator.to_string().contains("corp.test"))
    );
}

#[test]
fn url_tables_yield_urls_and_domains() {
    let row = json!({"Url": "https://files.evil.test/%2Fuploads%2Flogo%402x.png", "UrlDomain": "files.evil.test"});
    let got = extract_indicators("EmailUrlInfo", &row);
    assert_eq!(got.found.len(), 2);
    assert_eq!(got.found[1].columns, ["Url", "UrlDomain"]);
    let click = json!({"Url": "https://click.evil.test/ls?upn=abc", "IPAddress": "1.2.3.4"});
    let got = extract_indicators("UrlClickEvents", &click);
    let t = texts(&got);
    assert_eq!(
        t.len(),
        2,
        "the clicking user's IPAddress is not an indicator: {t:?}"
    );
}

#[test]
fn private_and_local_values_are_counted_by_reason_and_bad_ones_as_invalid() {
    let row = json!({
        "RemoteIP": "10.0.0.183",
        "RemotePort": 70000,
        "RemoteUrl": "dc01.corp.local",
        "FileOriginUrl": "http://[::ffff:192.168.1.1]:80/x",
        "FileOriginIP": "not an ip"
    });
    let got = extract_indicators("DeviceEvents", &row);
    assert!(got.found.is_empty());
    assert_eq!(
        got.skipped[Skip::Private.index()],
        3,
        "RemoteIP, the URL and its host"
    );
    assert_eq!(got.skipped[Skip::LinkLocal.index()], 1);
    assert_eq!(got.invalid, 1);
}

#[test]
fn unknown_tables_and_missing_columns_yield_nothing() {
    let row = json!({"RemoteIP": "1.2.3.4"});
    assert_eq!(
        extract_indicators("DeviceInfo", &row),
        RecordIndicators::default()
    );
    assert_eq!(
        extract_indicators("DeviceLogonEvents", &json!({"RemoteIP": ""})),
        RecordIndicators::default()
    );
    assert_eq!(
        extract_indicators("DeviceLogonEvents", &json!([1, 2])),
        RecordIndicators::default()
    );
}

#[test]
fn the_column_table_names_no_local_column_and_pairs_ports_with_remote_values() {
    for c in NETWORK_COLUMNS {
        assert!(!c.column.starts_with("Local"), "{c:?}");
        if let Some(p) = c.port {
            assert_eq!(p, "RemotePort");
            assert!(c.column.starts_with("Remote"));
        }
    }
    let tables: std::collections::BTreeSet<_> = NETWORK_COLUMNS.iter().map(|c| c.table).collect();
    assert_eq!(tables.len(), 7);
    let borrowed: std::collections::HashMap<&str, &str> =
        [("RemoteIP", "1.2.3.4"), ("RemotePort", "443")].into();
    assert_eq!(
        extract_indicators("DeviceLogonEvents", &borrowed).found[0].port,
        Some(443)
    );
}

#[test]
fn every_column_of_the_table_is_kept_by_the_record_decoder() {
    use crate::records::network::NETWORK_CELLS;
    for c in NETWORK_COLUMNS {
        assert!(NETWORK_CELLS.contains(&c.column), "{}", c.column);
        if let Some(port) = c.port {
            assert!(NETWORK_CELLS.contains(&port), "{port}");
        }
    }
}

#[test]
fn a_streamed_record_yields_its_indicators_through_the_decoder() {
    let body = br#"{"records":[{"category":"AdvancedHunting-DeviceNetworkEvents","properties":{
        "RemoteIP":"::ffff:1.2.3.4","RemotePort":8443,"LocalIP":"10.0.0.5",
        "RemoteUrl":"https://Evil.Test/x"}}]}"#;
    let record = crate::records::parse_body(body, 10).unwrap().remove(0);
    let found = super::record_indicators(&record).found;
    let texts: Vec<String> = found.iter().map(|f| f.indicator.to_string()).collect();
    assert_eq!(texts, ["1.2.3.4", "https://evil.test/x", "evil.test"]);
    assert_eq!(found[0].port, Some(8443));
    assert_eq!(found[0].columns, ["RemoteIP"]);
}

#[test]
fn a_row_that_names_no_table_is_read_by_column_name() {
    let record = crate::records::Record::from_columns([
        ("Timestamp", "2026-07-18T12:59:31Z"),
        ("RemoteIP", "1.2.3.4"),
        ("RemotePort", "8443"),
        ("SenderFromAddress", "a@evil.test"),
    ]);
    assert_eq!(record.table(), None);
    let found = super::record_indicators(&record).found;
    let texts: Vec<(String, Option<u16>)> = found
        .iter()
        .map(|f| (f.indicator.to_string(), f.port))
        .collect();
    assert_eq!(
        texts,
        [
            ("1.2.3.4".to_owned(), Some(8443)),
            ("a@evil.test".to_owned(), None)
        ]
    );
    let mut named = record.clone();
    named.category = crate::records::Loose(Some("AdvancedHunting-DeviceInfo".into()));
    assert!(
        super::record_indicators(&named).found.is_empty(),
        "a table not in the list has none"
    );
}
