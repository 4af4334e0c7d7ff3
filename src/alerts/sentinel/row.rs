//! The row `RaiseAlerts` sends to the Logs Ingestion API for one match: flat columns an analyst can
//! read without expanding JSON, named exactly as the data collection rule declares them.
//!
//! The columns are defined once, in `infra/modules/sentinel/matches-table.json`, which the Bicep
//! loads for both the table schema and the stream declaration. The Logs Ingestion API keeps only the
//! properties the stream declares, matched by exact name, and drops the others without an error
//! ("The data sent by your application to the API must be formatted in JSON and match the structure
//! expected by the DCR", <https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>),
//! so every key here is checked against that file: below for names, and in `tests/api/sentinel.rs`
//! through a Logs Ingestion stub for names and types.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::alerts::Outcome;
use crate::alerts::alert_body::{event_link, primary};
use crate::matches::MatchRecord;
use crate::text::clean_text;

/// Characters of an action's outcome kept in its column.
const OUTCOME_CHARS: usize = 1024;

/// What the other actions did with the match on this delivery, written beside it.
#[derive(Debug, Clone, Copy)]
pub struct ActionOutcomes<'a> {
    pub alert: &'a Outcome,
    pub indicator: &'a Outcome,
    pub sighting: &'a Outcome,
}

/// MISP `threat_level_id` as MISP names it.
pub fn threat_level_name(id: Option<u8>) -> Option<&'static str> {
    match id? {
        1 => Some("High"),
        2 => Some("Medium"),
        3 => Some("Low"),
        4 => Some("Undefined"),
        _ => None,
    }
}

/// An RFC 3339 UTC timestamp, or `None` when `text` is not one (the column is `datetime`: a value
/// the service cannot read would be lost anyway, and `Intel`/`MatchId` still identify the row).
fn datetime(text: Option<&str>) -> Option<String> {
    let t = OffsetDateTime::parse(text?.trim(), &Rfc3339).ok()?;
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()
}

fn outcome(o: &Outcome) -> Value {
    match o {
        Outcome::Off => Value::Null,
        o => Value::String(clean_text(&o.to_string(), OUTCOME_CHARS)),
    }
}

/// The row for `m`, written at `now`; `misp_url` makes the MISP event link.
pub fn row(
    m: &MatchRecord,
    done: ActionOutcomes<'_>,
    misp_url: &url::Url,
    now: OffsetDateTime,
) -> Value {
    let hit = primary(&m.intel);
    let text = |f: fn(&crate::intel::IntelHit) -> &str| {
        hit.map(f)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_owned()))
            .unwrap_or(Value::Null)
    };
    let level = hit.and_then(|h| h.threat_level_id);
    let mut row = Map::new();
    let mut put = |k: &str, v: Value| {
        row.insert(k.to_owned(), v);
    };
    put("TimeGenerated", json!(now.format(&Rfc3339).ok()));
    put("MatchId", json!(m.match_id));
    put("DeviceId", json!(m.device_id));
    put("DeviceName", json!(m.device_name));
    put("ReportId", json!(m.report_id));
    put("RecordTimestamp", json!(datetime(m.timestamp.as_deref())));
    put("Category", json!(m.category));
    put("Alertable", json!(m.alertable));
    put("Hash", json!(m.hash.as_ref().map(|h| h.as_str())));
    put("HashType", json!(m.hash_type.map(|t| t.as_str())));
    put("HashFields", json!(m.hash_fields));
    put("IndicatorKind", json!(m.indicator_kind));
    put("IndicatorValue", json!(m.indicator_value));
    put("IndicatorColumns", json!(m.indicator_columns));
    put("IndicatorPort", json!(m.indicator_port));
    put("FileName", json!(m.file_name));
    put("FolderPath", json!(m.folder_path));
    put("MispEventId", text(|h| &h.event_id));
    put("MispEventUuid", text(|h| &h.event_uuid));
    put("MispEventInfo", text(|h| &h.event_info));
    put(
        "MispEventUrl",
        json!(hit.and_then(|h| event_link(misp_url, &h.event_id))),
    );
    put("MispThreatLevelId", json!(level));
    put("MispThreatLevel", json!(threat_level_name(level)));
    put("MispTags", json!(hit.map(|h| &h.tags)));
    put("MispAttributeUuid", text(|h| &h.attribute_uuid));
    put("MispAttributeType", text(|h| &h.attribute_type));
    put("MispHits", json!(m.intel.len() + m.intel_omitted));
    put("Intel", json!(m.intel));
    put("DefenderAlertOutcome", outcome(done.alert));
    put("DefenderIndicatorOutcome", outcome(done.indicator));
    put("MispSightingOutcome", outcome(done.sighting));
    Value::Object(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one definition of the columns, as the Bicep loads it.
    const TABLE: &str = include_str!("../../../infra/modules/sentinel/matches-table.json");

    fn a_match() -> MatchRecord {
        serde_json::from_value(json!({
            "matchId": "m1", "deviceId": "d1", "deviceName": "ws-1.corp.example", "reportId": "7",
            "timestamp": "2026-07-18T12:59:31.2914446Z", "category": "AdvancedHunting-DeviceFileEvents",
            "alertable": true, "hash": "e".repeat(64), "hashType": "sha256", "hashFields": ["SHA256"],
            "fileName": "a.exe", "folderPath": "C:\\a.exe",
            "intel": [
                {"eventId": "9", "eventUuid": "", "eventInfo": "low", "threatLevelId": 3,
                 "attributeUuid": "", "attributeType": "md5", "tags": []},
                {"eventId": "42", "eventUuid": "5c7641bf-a4e8-4d5d-a653-03240a00020f",
                 "eventInfo": "Emotet wave", "threatLevelId": 1,
                 "attributeUuid": "6d7641bf-a4e8-4d5d-a653-03240a00020f", "attributeType": "sha256",
                 "tags": ["tlp:amber"]}
            ],
            "intelOmitted": 3
        }))
        .unwrap()
    }

    fn sample_row(alert: &Outcome) -> Value {
        let url = url::Url::parse("https://misp.example/").unwrap();
        let done = ActionOutcomes {
            alert,
            indicator: &Outcome::Off,
            sighting: &Outcome::Failed("no".into()),
        };
        row(&a_match(), done, &url, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn the_row_has_exactly_the_columns_the_table_declares() {
        let table: Vec<Value> = serde_json::from_str(TABLE).unwrap();
        let mut declared: Vec<&str> = table.iter().map(|c| c["name"].as_str().unwrap()).collect();
        let row = sample_row(&Outcome::Done);
        let mut sent: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        declared.sort_unstable();
        sent.sort_unstable();
        assert_eq!(sent, declared);
    }

    #[test]
    fn the_row_is_about_the_most_severe_misp_event_and_flattens_it() {
        let row = sample_row(&Outcome::Done);
        assert_eq!(row["MispEventId"], "42");
        assert_eq!(row["MispEventUrl"], "https://misp.example/events/view/42");
        assert_eq!(row["MispThreatLevelId"], 1);
        assert_eq!(row["MispThreatLevel"], "High");
        assert_eq!(row["MispTags"], json!(["tlp:amber"]));
        assert_eq!(row["MispHits"], 5);
        assert_eq!(row["RecordTimestamp"], "2026-07-18T12:59:31.2914446Z");
        assert_eq!(row["TimeGenerated"], "1970-01-01T00:00:00Z");
        assert_eq!(row["DefenderAlertOutcome"], "done");
        assert_eq!(row["DefenderIndicatorOutcome"], Value::Null, "off");
        assert_eq!(row["MispSightingOutcome"], "failed (no)");
    }

    #[test]
    fn a_timestamp_that_is_not_rfc_3339_is_sent_as_null_not_as_text() {
        assert_eq!(datetime(Some("yesterday")), None);
        assert_eq!(
            datetime(Some("2026-07-18T14:59:31+02:00")).as_deref(),
            Some("2026-07-18T12:59:31Z")
        );
        assert_eq!(threat_level_name(Some(7)), None);
    }
}
