//! Defender custom file indicators (`docs/sources.md` §3): `POST /api/indicators` with the matched
//! hash, so Defender itself watches for the file. `Audit` goes with `generateAlert: true`.
//!
//! The tenant holds 15,000 active indicators and the limit cannot be raised; this process counts
//! the distinct hashes it submitted and refuses, with a clear log line, past
//! `DEFENDER_INDICATOR_MAX`. A hash already submitted is not submitted again.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::alert_body::{event_link, primary};
use super::config::{IndicatorAction, IndicatorSettings};
use crate::matches::MatchRecord;
use crate::records::HashType;
use crate::text::clean_text;

/// The request body; field names as the API spells them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndicatorBody {
    pub indicator_value: String,
    pub indicator_type: &'static str,
    pub action: &'static str,
    pub generate_alert: bool,
    pub title: String,
    pub description: String,
    pub severity: &'static str,
    pub expiration_time: String,
    pub application: &'static str,
}

pub fn indicator_type(kind: HashType) -> &'static str {
    match kind {
        HashType::Md5 => "FileMd5",
        HashType::Sha1 => "FileSha1",
        HashType::Sha256 => "FileSha256",
    }
}

/// The value and Defender `indicatorType` a match is pushed as: the file hash, or the observed
/// address (`IpAddress`), host (`DomainName`) or URL (`Url`); `None` for a sender address,
/// which Defender has no indicator type for (Microsoft Learn, "Submit or Update Indicator API").
pub fn indicator_of(m: &MatchRecord) -> Option<(String, &'static str)> {
    match (&m.hash, m.hash_type) {
        (Some(h), Some(t)) => Some((h.as_str().to_owned(), indicator_type(t))),
        _ => {
            let i = m.network_indicator()?;
            Some((i.text().into_owned(), i.kind().defender_type()?))
        }
    }
}

/// The request body; `None` when the match has no Defender indicator type ([`indicator_of`]).
pub fn build(
    m: &MatchRecord,
    settings: &IndicatorSettings,
    misp_url: &url::Url,
    now: OffsetDateTime,
) -> Option<IndicatorBody> {
    let (indicator_value, indicator_type) = indicator_of(m)?;
    let hit = primary(&m.intel);
    let title = match hit {
        Some(h) => format!("MISP event {}: {}", h.event_id, h.event_info),
        None => "MISP threat intel".to_owned(),
    };
    let what = match m.hash {
        Some(_) => "File hash",
        None => "Network indicator",
    };
    let mut description = format!(
        "{what} from MISP, seen on a device by defender-misp (matchId {}).",
        m.match_id
    );
    if let Some(link) = hit.and_then(|h| event_link(misp_url, &h.event_id)) {
        description.push_str(&format!(" {link}"));
    }
    let expires = now + Duration::days(i64::from(settings.expiry_days));
    Some(IndicatorBody {
        indicator_value,
        indicator_type,
        action: settings.action.api_name(),
        generate_alert: settings.action == IndicatorAction::Audit,
        title: clean_text(&title, 256),
        description: clean_text(&description, 1024),
        severity: settings.severity,
        expiration_time: expires.format(&Rfc3339).unwrap_or_default(),
        application: "defender-misp",
    })
}

/// Indicators this process created, against its cap.
#[derive(Debug)]
pub struct Quota {
    created: AtomicU64,
    max: u64,
}

impl Quota {
    pub fn new(max: u64) -> Self {
        Self {
            created: AtomicU64::new(0),
            max,
        }
    }

    /// Takes one from the quota, or `Err(max)` when it is used up.
    pub fn take(&self) -> Result<(), u64> {
        self.created
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| self.max)
    }

    /// Gives back a unit whose call failed.
    pub fn give_back(&self) {
        let _ = self
            .created
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    pub fn created(&self) -> u64 {
        self.created.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::FileHash;

    #[test]
    fn audit_generates_alerts_and_block_does_not() {
        let hash = FileHash::parse(&"c".repeat(40)).unwrap();
        let m = MatchRecord {
            match_id: "m".into(),
            device_id: None,
            device_name: None,
            report_id: None,
            timestamp: None,
            category: None,
            alertable: false,
            hash_type: Some(hash.kind()),
            indicator_kind: hash.kind().as_str().into(),
            indicator_value: hash.as_str().into(),
            indicator_columns: vec![],
            indicator_port: None,
            hash: Some(hash),
            hash_fields: vec![],
            file_name: None,
            folder_path: None,
            intel: vec![],
            intel_omitted: 0,
        };
        let url = url::Url::parse("https://misp.example").unwrap();
        let mut s = IndicatorSettings {
            action: IndicatorAction::Audit,
            expiry_days: 1,
            severity: "High",
            max: 1,
        };
        let now = OffsetDateTime::from_unix_timestamp(0).unwrap();
        let b = build(&m, &s, &url, now).unwrap();
        assert_eq!(
            (b.indicator_type, b.action, b.generate_alert),
            ("FileSha1", "Audit", true)
        );
        assert_eq!(b.expiration_time, "1970-01-02T00:00:00Z");
        s.action = IndicatorAction::Block;
        assert!(!build(&m, &s, &url, now).unwrap().generate_alert);
    }

    #[test]
    fn the_quota_refuses_past_its_max_and_takes_back_failures() {
        let q = Quota::new(2);
        assert_eq!((q.take(), q.take(), q.take()), (Ok(()), Ok(()), Err(2)));
        q.give_back();
        assert_eq!(q.created(), 1);
        assert_eq!(q.take(), Ok(()));
    }
}
