//! The `CreateAlertByReference` body built from a match. MISP text is third-party input: every
//! field goes through [`clean_text`] (control characters and newlines become spaces) and is cut
//! to Defender's bounds. The title depends only on the MISP event, so Defender merges repeats on
//! the same device into one open alert.

use serde::Serialize;

use crate::intel::IntelHit;
use crate::matches::MatchRecord;
use crate::text::clean_text;

pub const TITLE_CHARS: usize = 256;
pub const DESCRIPTION_CHARS: usize = 8192;
pub const RECOMMENDED_ACTION_CHARS: usize = 1024;
/// Characters of the MISP event info kept in the title.
const TITLE_INFO_CHARS: usize = 180;

/// The request body; field names as the API spells them (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertBody {
    pub machine_id: String,
    pub severity: &'static str,
    pub title: String,
    pub description: String,
    pub recommended_action: String,
    pub event_time: String,
    pub report_id: String,
    pub category: &'static str,
}

/// What the body is built from besides the match.
#[derive(Debug, Clone, Copy)]
pub struct AlertStyle<'a> {
    pub severity: Option<&'static str>,
    pub category: &'static str,
    pub recommended_action: &'a str,
    /// `MISP_URL`, for the event link.
    pub misp_url: &'a url::Url,
}

/// MISP `threat_level_id` → Defender severity: 1 High, 2 Medium, 3 and 4 (undefined) Low.
pub fn severity_of(threat_level_id: Option<u8>) -> &'static str {
    match threat_level_id {
        Some(1) => "High",
        Some(2) => "Medium",
        _ => "Low",
    }
}

/// The intel entry the alert is about: the most severe, the first among equals.
pub fn primary(intel: &[IntelHit]) -> Option<&IntelHit> {
    intel.iter().min_by_key(|h| {
        h.threat_level_id
            .filter(|t| (1..=2).contains(t))
            .unwrap_or(3)
    })
}

/// A link to the MISP event, or `None` when the id is not a number.
pub fn event_link(misp_url: &url::Url, event_id: &str) -> Option<String> {
    if event_id.is_empty() || !event_id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{}/events/view/{event_id}",
        misp_url.as_str().trim_end_matches('/')
    ))
}

/// Builds the body, or says which field Defender needs that the match lacks.
pub fn build(m: &MatchRecord, style: &AlertStyle<'_>) -> Result<AlertBody, &'static str> {
    let field = |v: &Option<String>, name: &'static str| {
        v.as_deref()
            .map(|s| clean_text(s, 128))
            .filter(|s| !s.is_empty())
            .ok_or(name)
    };
    let machine_id = field(&m.device_id, "deviceId")?;
    let report_id = field(&m.report_id, "reportId")?;
    let event_time = field(&m.timestamp, "timestamp")?;
    let hit = primary(&m.intel);

    let title = match hit {
        Some(h) if !h.event_id.is_empty() || !h.event_info.is_empty() => format!(
            "MISP event {}: {}",
            clean_text(&h.event_id, 20),
            clean_text(&h.event_info, TITLE_INFO_CHARS)
        ),
        _ => "MISP threat intel match".to_owned(),
    };

    let mut parts = vec![what_matched(m)];
    let path = match (&m.folder_path, &m.file_name) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(f)) => Some(f.clone()),
        _ => None,
    };
    if let Some(path) = path {
        parts.push(format!("File: {}.", clean_text(&path, 1024)));
    }
    for h in m.intel.iter() {
        let mut s = format!(
            "MISP event {} (uuid {}): {}.",
            clean_text(&h.event_id, 20),
            clean_text(&h.event_uuid, 36),
            clean_text(&h.event_info, 1024)
        );
        if !h.tags.is_empty() {
            let tags: Vec<String> = h.tags.iter().take(20).map(|t| clean_text(t, 128)).collect();
            s.push_str(&format!(" Tags: {}.", tags.join(", ")));
        }
        if let Some(link) = event_link(style.misp_url, &h.event_id) {
            s.push_str(&format!(" {link}"));
        }
        parts.push(s);
    }
    if m.intel_omitted > 0 {
        parts.push(format!(
            "{} more MISP attribute(s) not listed.",
            m.intel_omitted
        ));
    }
    parts.push(format!("matchId {}.", clean_text(&m.match_id, 64)));

    Ok(AlertBody {
        machine_id,
        severity: style
            .severity
            .unwrap_or_else(|| severity_of(hit.and_then(|h| h.threat_level_id))),
        title: clean_text(&title, TITLE_CHARS),
        description: clean_text(&parts.join(" "), DESCRIPTION_CHARS),
        recommended_action: clean_text(style.recommended_action, RECOMMENDED_ACTION_CHARS),
        event_time,
        report_id,
        category: style.category,
    })
}

/// The first sentence of an alert: the hash and its columns, or the network indicator, its
/// port and columns (issue 15).
fn what_matched(m: &MatchRecord) -> String {
    match (&m.hash, m.hash_type) {
        (Some(hash), Some(kind)) => format!(
            "A file hash on this device matches MISP threat intel. Hash: {} ({}). Found in: {}.",
            hash.as_str(),
            kind.as_str(),
            m.hash_fields.join(", ")
        ),
        _ => format!(
            "A network indicator of this device's event matches MISP threat intel: {} {}{}. Found in: {}.",
            m.indicator_kind,
            clean_text(&m.indicator_value, 1024),
            m.indicator_port
                .map(|p| format!(" port {p}"))
                .unwrap_or_default(),
            m.indicator_columns.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::FileHash;

    fn hit(level: Option<u8>, info: &str) -> IntelHit {
        IntelHit {
            event_id: "42".into(),
            event_uuid: "5c7641bf-a4e8-4d5d-a653-03240a00020f".into(),
            event_info: info.into(),
            threat_level_id: level,
            attribute_uuid: "6c7641bf-a4e8-4d5d-a653-03240a00020f".into(),
            attribute_type: "sha256".into(),
            tags: vec!["tlp:amber".into()],
            value: String::new(),
        }
    }

    fn record(intel: Vec<IntelHit>) -> MatchRecord {
        let hash = FileHash::parse(&"ab".repeat(32)).unwrap();
        MatchRecord {
            match_id: "m1".into(),
            device_id: Some("dev".into()),
            device_name: None,
            report_id: Some("77".into()),
            timestamp: Some("2026-07-18T12:59:31.2914446Z".into()),
            category: None,
            alertable: true,
            hash_type: Some(hash.kind()),
            indicator_kind: hash.kind().as_str().into(),
            indicator_value: hash.as_str().into(),
            indicator_columns: vec![],
            indicator_port: None,
            hash: Some(hash),
            hash_fields: vec!["SHA256".into()],
            file_name: Some("a.exe".into()),
            folder_path: Some("C:\\a.exe".into()),
            intel,
            intel_omitted: 0,
        }
    }

    fn style(url: &url::Url) -> AlertStyle<'_> {
        AlertStyle {
            severity: None,
            category: "Malware",
            recommended_action: "look\ncarefully",
            misp_url: url,
        }
    }

    #[test]
    fn severity_follows_the_most_severe_threat_level() {
        for (level, expected) in [
            (Some(1), "High"),
            (Some(2), "Medium"),
            (Some(3), "Low"),
            (Some(4), "Low"),
            (None, "Low"),
        ] {
            assert_eq!(severity_of(level), expected);
        }
        let url = url::Url::parse("https://misp.example/").unwrap();
        let m = record(vec![
            hit(Some(3), "a"),
            hit(Some(1), "b"),
            hit(Some(2), "c"),
        ]);
        let body = build(&m, &style(&url)).unwrap();
        assert_eq!(body.severity, "High");
        assert_eq!(body.title, "MISP event 42: b");
        assert_eq!(body.recommended_action, "look carefully");
        assert!(
            body.description
                .contains("https://misp.example/events/view/42")
        );
    }

    #[test]
    fn hostile_text_is_flattened_and_bounded() {
        let url = url::Url::parse("https://misp.example").unwrap();
        let info = format!("evil\r\ntitle\u{7}\u{202e}{}", "x".repeat(20_000));
        let body = build(&record(vec![hit(Some(2), &info); 10]), &style(&url)).unwrap();
        for text in [&body.title, &body.description, &body.recommended_action] {
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
        assert!(body.title.starts_with("MISP event 42: evil title"));
        assert!(body.title.chars().count() <= TITLE_CHARS);
        assert!(body.description.chars().count() <= DESCRIPTION_CHARS);
    }

    #[test]
    fn a_match_without_a_report_id_cannot_be_alerted() {
        let url = url::Url::parse("https://misp.example").unwrap();
        let mut m = record(vec![]);
        m.report_id = None;
        assert_eq!(build(&m, &style(&url)), Err("reportId"));
    }
}
