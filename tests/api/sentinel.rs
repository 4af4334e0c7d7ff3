//! The Sentinel path end to end, on loopback: host-shaped `RaiseAlerts` invocations into the
//! handler as `serve` builds it, tokens from the real `ManagedIdentityCredential`, rows into a Logs
//! Ingestion stub that keeps only what the stream declares. The contract: every row carries exactly
//! the columns of `infra/modules/sentinel/matches-table.json` (the file the Bicep loads for the
//! table and the stream declaration), each with a value that fits the column's type.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::sentinel_harness::*;
use crate::stub_ingestion::{Column, IngestionStub, declared_columns, fits};

/// Everything wrong with `row` against the declared columns: undeclared properties (the service
/// would drop them), declared columns not sent, and values whose JSON type does not fit.
fn violations(columns: &[Column], row: &Value) -> Vec<String> {
    let Some(fields) = row.as_object() else {
        return vec![format!("not an object: {row}")];
    };
    let mut problems = Vec::new();
    for name in fields.keys() {
        if !columns.iter().any(|c| &c.name == name) {
            problems.push(format!("{name} is not declared"));
        }
    }
    for c in columns {
        match fields.get(&c.name) {
            None => problems.push(format!("{} is declared but not sent", c.name)),
            Some(v) if !fits(&c.kind, v) => {
                problems.push(format!("{} = {v} does not fit {}", c.name, c.kind));
            }
            Some(_) => {}
        }
    }
    problems
}

#[test]
fn the_contract_check_reports_an_undeclared_property_a_missing_column_and_a_misfit() {
    let columns = declared_columns();
    let mut row = serde_json::Map::new();
    for c in &columns {
        row.insert(c.name.clone(), Value::Null);
    }
    assert!(violations(&columns, &Value::Object(row.clone())).is_empty());
    row.remove("DeviceName");
    row.insert("deviceName".into(), json!("ws-1"));
    row.insert("MispThreatLevelId".into(), json!("1"));
    row.insert("RecordTimestamp".into(), json!("yesterday"));
    row.insert("MispTags".into(), json!("tlp:amber"));
    let problems = violations(&columns, &Value::Object(row));
    assert_eq!(
        problems,
        [
            "deviceName is not declared",
            "DeviceName is declared but not sent",
            "RecordTimestamp = \"yesterday\" does not fit datetime",
            "MispThreatLevelId = \"1\" does not fit int",
            "MispTags = \"tlp:amber\" does not fit dynamic",
        ]
    );
}

/// Reserved names, the naming rule and the stream types of Logs Ingestion
/// (<https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview#supported-tables>,
/// <https://learn.microsoft.com/azure/azure-monitor/data-collection/data-collection-rule-structure#data-types>).
#[test]
fn the_declared_columns_are_valid_names_and_stream_types() {
    let reserved = [
        "_ResourceId",
        "id",
        "_SubscriptionId",
        "TenantId",
        "Type",
        "UniqueId",
        "Title",
    ];
    let types = [
        "string", "int", "long", "real", "boolean", "dynamic", "datetime",
    ];
    let columns = declared_columns();
    let names: BTreeSet<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), columns.len(), "a column is declared twice");
    assert!(
        names.contains("TimeGenerated"),
        "a table needs TimeGenerated"
    );
    for c in &columns {
        let mut chars = c.name.chars();
        let ok = chars.next().is_some_and(|f| f.is_ascii_alphabetic())
            && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && c.name.len() <= 45;
        assert!(ok, "{} is not a valid column name", c.name);
        assert!(
            !reserved.iter().any(|r| r.eq_ignore_ascii_case(&c.name)),
            "{} is reserved",
            c.name
        );
        assert!(
            types.contains(&c.kind.as_str()),
            "{}: {} is not a stream type",
            c.name,
            c.kind
        );
    }
}

#[test]
fn the_bicep_declares_the_table_and_the_stream_from_the_one_definition() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/modules/sentinel.bicep");
    let bicep = std::fs::read_to_string(path).unwrap();
    let code: String = bicep
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(code.contains("loadJsonContent('sentinel/matches-table.json')"));
    let table = code.split("resource table ").nth(1).unwrap();
    let table = table.split("\nresource ").next().unwrap();
    assert!(table.contains("columns: tableColumns"), "{table}");
    let rule = code.split("streamDeclarations:").nth(1).unwrap();
    assert!(
        rule.contains("'${streamName}': {\n        columns: streamColumns"),
        "{rule}"
    );
    assert!(code.contains("var streamName = 'Custom-${tableName}'"));
    assert!(code.contains("var tableName = 'DefenderMispMatches_CL'"));
    assert_eq!(STREAM, "Custom-DefenderMispMatches_CL");
    assert!(code.contains("transformKql: loadTextContent('sentinel/matches-transform.kql')"));
    assert!(
        !code.contains("var columns = ["),
        "no second list of columns"
    );
}

async fn sentinel_only(stub: &IngestionStub) -> String {
    let mut settings = sentinel_settings(&stub.url);
    settings.push(("DEFENDER_ALERTS", "false".into()));
    start_handler(&settings).await
}

#[tokio::test]
async fn a_host_shaped_invocation_sends_a_row_with_exactly_the_declared_columns_and_fitting_types()
{
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[DEFENDER_TOKEN]).await;
    let handler = sentinel_only(&stub).await;
    let mut deviceless = a_match(2);
    deviceless["deviceId"] = Value::Null;
    deviceless["deviceName"] = Value::Null;
    deviceless["alertable"] = json!(false);
    deviceless["intel"][0]["threatLevelId"] = Value::Null;

    // A network match (issue 15) on another device: no hash, its indicator instead.
    let mut network = a_match(5);
    for field in ["hash", "hashType", "fileName", "folderPath"] {
        network[field] = Value::Null;
    }
    network["deviceId"] = json!("0a5bc9d7e413ddd7902c2932e418702b84d0cc07");
    network["hashFields"] = json!([]);
    network["category"] = json!("AdvancedHunting-DeviceNetworkEvents");
    network["indicatorKind"] = json!("domain");
    network["indicatorValue"] = json!("c2.evil.test");
    network["indicatorColumns"] = json!(["RemoteUrl"]);
    network["indicatorPort"] = json!(443);
    network["intel"][0]["attributeType"] = json!("domain");
    network["intel"][0]["value"] = json!("evil.test");

    // Two files from the same MISP event on one device, a record without a device, and a
    // network match.
    for m in [a_match(1), a_match(4), deviceless, network] {
        let (status, logs) = post_match(&handler, &m, 1).await;
        assert_eq!(status, 200, "{logs}");
        assert!(logs.contains("sentinel=done"), "{logs}");
    }

    let calls = stub.calls();
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [204, 204, 204, 204]
    );
    let columns = declared_columns();
    for row in stub.sent() {
        assert_eq!(violations(&columns, &row), Vec::<String>::new(), "{row}");
    }
    assert!(stub.dropped().is_empty() && stub.mismatches().is_empty());
    let landed = &stub.landed()[0];
    // The actions are off; a hash match has no port (issue 15: network matches only).
    let off = [
        "DefenderAlertOutcome",
        "DefenderIndicatorOutcome",
        "MispSightingOutcome",
        "IndicatorPort",
    ];
    for c in &columns {
        let value = &landed[&c.name];
        assert_eq!(
            value.is_null(),
            off.contains(&c.name.as_str()),
            "{}: {value}",
            c.name
        );
    }
    assert_eq!(
        landed["MispEventUrl"],
        "https://misp.example.org/events/view/42"
    );
    assert_eq!(landed["MispEventInfo"], "Synthetic dropper campaign");
    assert_eq!(landed["MispThreatLevel"], "High");
    assert_eq!(landed["RecordTimestamp"], "2026-11-28T08:59:31.2914446Z");
    assert_eq!(landed["HashFields"], json!(["SHA256"]));
    assert_eq!(landed["IndicatorKind"], "sha256");
    assert_eq!(landed["IndicatorValue"], landed["Hash"]);
    assert_eq!(landed["IndicatorColumns"], json!(["SHA256"]));
    assert_eq!(landed["Alertable"], true);
    assert_eq!(stub.landed()[2]["DeviceId"], Value::Null);
    let net = &stub.landed()[3];
    assert_eq!(net["Hash"], Value::Null);
    assert_eq!(net["IndicatorKind"], "domain");
    assert_eq!(net["IndicatorValue"], "c2.evil.test");
    assert_eq!(net["IndicatorColumns"], json!(["RemoteUrl"]));
    assert_eq!(net["IndicatorPort"], 443);
    // Kept for running the rule's query over what the handler really sent (scripts/check-kql).
    let dump = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sentinel-rows.json");
    std::fs::write(dump, serde_json::to_vec_pretty(&stub.sent()).unwrap()).unwrap();
}

#[tokio::test]
async fn the_row_is_written_after_the_defender_alert_and_carries_its_outcome() {
    let stub = IngestionStub::start(DCR, STREAM, MONITOR_TOKEN, &[]).await;
    let defender = DefenderStub::start(200, r#"{"id":"da1"}"#).await;
    let mut settings = sentinel_settings(&stub.url);
    settings.push(("DEFENDER_ALERTS", "true".into()));
    settings.push(("DEFENDER_API_URL", defender.url.clone()));
    let handler = start_handler(&settings).await;

    let (status, logs) = post_match(&handler, &a_match(3), 1).await;

    assert_eq!(status, 200, "{logs}");
    assert_eq!(defender.calls(), ["/api/alerts/CreateAlertByReference"]);
    let row = &stub.landed()[0];
    assert_eq!(row["DefenderAlertOutcome"], "done");
    assert_eq!(row["DefenderIndicatorOutcome"], Value::Null);
}
