//! Threat intelligence behind one trait, [`ThreatIntel`]: given distinct lookup keys ([`key`]:
//! file hashes and network indicators), which are known bad and why; [`network`] holds what
//! network indicators need beside it. Implementations: MISP's restSearch ([`misp`]) and a MISP feed folder
//! ([`feed`]), and an in-memory snapshot of MISP's IOCs refreshed in the background
//! ([`snapshot`]). [`resolver::Resolver`] puts the verdict cache, chunking, in-flight sharing and the
//! per-invocation deadline in front of any of them.
//!
//! Everything that comes from MISP is third-party input: [`IntelHit::new`] strips control
//! characters and bounds every field before it can reach a match, a log or an alert.

#[cfg(feature = "service")]
pub mod breaker;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod feed;
pub mod key;
pub mod misp;
pub mod network;
#[cfg(feature = "service")]
pub mod policy;
#[cfg(feature = "service")]
pub mod resolver;
pub mod rules;
#[cfg(feature = "service")]
pub mod snapshot;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use key::LookupKey;

use crate::records::FileHash;
use crate::text::clean_text;

/// Bounds on MISP content carried into matches and alerts.
pub mod bounds {
    pub const EVENT_INFO_CHARS: usize = 512;
    pub const TAG_CHARS: usize = 128;
    pub const TAGS: usize = 20;
    pub const ID_CHARS: usize = 20;
    pub const TYPE_CHARS: usize = 64;
    /// A network value: a URL is the longest, and is kept whole up to the longest URL read
    /// ([`crate::indicator::url::MAX_URL_INPUT`]), so that it can be checked again for the
    /// record it matched (a cut value would match nothing).
    pub const VALUE_CHARS: usize = crate::indicator::url::MAX_URL_INPUT;
}

/// One threat-intel attribute that matched a hash, with its event's context, bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntelHit {
    pub event_id: String,
    pub event_uuid: String,
    pub event_info: String,
    /// MISP `threat_level_id`: 1 High, 2 Medium, 3 Low, 4 Undefined.
    pub threat_level_id: Option<u8>,
    pub attribute_uuid: String,
    pub attribute_type: String,
    pub tags: Vec<String>,
    /// The attribute's value, for network types (e.g. `evil.example`, `203.0.113.0/24`,
    /// `198.51.100.7|8443`): what matched, and what the match is checked against again for the
    /// record (subdomains, ports). Empty, and not written, for hash types.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// The raw fields of a hit, as a source read them, before bounding.
#[derive(Debug, Default)]
pub struct RawHit<'a> {
    pub event_id: &'a str,
    pub event_uuid: &'a str,
    pub event_info: &'a str,
    pub threat_level_id: Option<&'a str>,
    pub attribute_uuid: &'a str,
    pub attribute_type: &'a str,
    pub tags: Vec<&'a str>,
    /// Kept for network types only.
    pub value: &'a str,
}

/// A MISP uuid in its canonical form (hyphenated, lowercase), or empty when the text is not a
/// uuid: it goes into URL paths (`sightings/add/{uuid}`) and alert text.
fn uuid_or_empty(s: &str) -> String {
    uuid::Uuid::try_parse(s.trim())
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_default()
}

/// A duration as a person reads it: whole seconds from 10 s up, tenths below, milliseconds
/// under one second (`29.8s`, not `29.844489378s`).
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 10.0 {
        format!("{}s", d.as_secs() + u64::from(d.subsec_millis() >= 500))
    } else if secs >= 1.0 {
        format!("{:.1}s", secs)
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl IntelHit {
    /// Builds a hit from untrusted text: control characters removed, lengths bounded, ids and
    /// uuids checked for shape (a malformed one becomes empty rather than reaching an alert).
    pub fn new(raw: RawHit<'_>) -> Self {
        let id = |s: &str| {
            let s = s.trim();
            if !s.is_empty() && s.len() <= bounds::ID_CHARS && s.bytes().all(|b| b.is_ascii_digit())
            {
                s.to_owned()
            } else {
                String::new()
            }
        };
        // Each tag once, first place kept: restSearch returns an event's tags both through
        // `includeEventTags` (on the attribute, `inherited`) and `includeContext` (on the event).
        let mut tags: Vec<String> = Vec::new();
        for tag in raw.tags.iter().map(|t| clean_text(t, bounds::TAG_CHARS)) {
            if tags.len() == bounds::TAGS {
                break;
            }
            if !tag.is_empty() && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        IntelHit {
            event_id: id(raw.event_id),
            event_uuid: uuid_or_empty(raw.event_uuid),
            event_info: clean_text(raw.event_info, bounds::EVENT_INFO_CHARS),
            threat_level_id: raw
                .threat_level_id
                .and_then(|t| t.trim().parse::<u8>().ok())
                .filter(|t| (1..=4).contains(t)),
            attribute_uuid: uuid_or_empty(raw.attribute_uuid),
            attribute_type: clean_text(raw.attribute_type, bounds::TYPE_CHARS),
            tags,
            value: if crate::indicator::misp::NetworkType::from_misp(raw.attribute_type.trim())
                .is_some()
            {
                clean_text(raw.value.trim(), bounds::VALUE_CHARS)
            } else {
                String::new()
            },
        }
    }
}

/// What a source knows of a hash: the attributes that match it, empty when none does.
pub type Verdict = Arc<[IntelHit]>;

/// Why a source could not answer. Each variant is a meaning the fault policy acts on; the text
/// is safe to log and to put in a dead letter (no key, no token, no response body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntelError {
    #[error("MISP unreachable: {0}")]
    Unreachable(String),
    #[error("MISP did not answer within {}", human_duration(*.0))]
    Timeout(Duration),
    #[error("MISP rate limited the lookup (HTTP 429{})", crate::text::retry_after_text(*.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("MISP refused the API key (HTTP {0})")]
    Unauthorized(u16),
    #[error("MISP server error (HTTP {0})")]
    Server(u16),
    #[error("MISP answered badly (not a restSearch result): {0}")]
    InvalidResponse(String),
    /// The invocation's deadline passed first; `last` is what MISP last did wrong, if anything.
    #[error("the lookup deadline of {} passed before MISP answered{}", human_duration(*.after), last_text(.last.as_deref()))]
    Deadline {
        after: Duration,
        last: Option<Box<IntelError>>,
    },
    #[error("the shared lookup this batch waited on was abandoned")]
    Abandoned,
    /// The breaker would keep the lookup waiting past the invocation's deadline.
    #[error("{last}; MISP is not asked again for {}, past this invocation's deadline", human_duration(*.retry_in))]
    CircuitOpen {
        retry_in: Duration,
        last: Box<IntelError>,
    },
    #[error("the IOC snapshot has not finished its first load")]
    SnapshotLoading,
}

fn last_text(last: Option<&IntelError>) -> String {
    last.map(|e| format!(" (last: {e})")).unwrap_or_default()
}

impl IntelError {
    /// A short stable label for counters and dead-letter reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            IntelError::Unreachable(_) => "unreachable",
            IntelError::Timeout(_) => "timeout",
            IntelError::RateLimited { .. } => "rate-limited",
            IntelError::Unauthorized(_) => "unauthorized",
            IntelError::Server(_) => "server-error",
            IntelError::InvalidResponse(_) => "invalid-response",
            IntelError::Deadline { .. } => "deadline",
            IntelError::Abandoned => "abandoned",
            IntelError::CircuitOpen { .. } => "circuit-open",
            IntelError::SnapshotLoading => "snapshot-loading",
        }
    }
}

/// What a source answers: the hits of each key it knows (keys absent: misses).
pub type Hits = HashMap<LookupKey, Vec<IntelHit>>;

/// A source of threat intelligence about file hashes and network indicators ([`LookupKey`]).
#[async_trait::async_trait]
pub trait ThreatIntel: Send + Sync {
    /// Distinct hashes per call the source accepts.
    fn chunk_size(&self) -> usize;

    /// Looks the hashes up. Hashes absent from the answer are misses.
    async fn lookup(&self, keys: &[LookupKey]) -> Result<Hits, IntelError>;

    /// For each hash, whether the source knows at once, without any request, that nothing
    /// matches it (a loaded snapshot's miss); `None` when it cannot say. The resolver answers
    /// those misses directly, outside its cache and in-flight bookkeeping.
    fn known_misses(&self, _keys: &[LookupKey]) -> Option<Vec<bool>> {
        None
    }

    /// Looks the hashes up and says how many requests that made to a remote server. A source
    /// that asks its server once per call (MISP restSearch) keeps this default; a local one (the
    /// snapshot) reports the few it made, often none.
    async fn lookup_counted(&self, keys: &[LookupKey]) -> (Result<Hits, IntelError>, usize) {
        (self.lookup(keys).await, 1)
    }

    /// Requests this source has sent to its remote server so far, answered or not (a request
    /// that never got an answer counts too); `None` when it does not count them.
    fn requests_sent(&self) -> Option<usize> {
        None
    }
}

/// Splits a MISP attribute value into the hash parts it may match: a bare hash, or the hash half
/// of a composite such as `filename|sha256` or `malware-sample`.
pub fn hash_parts(value: &str) -> impl Iterator<Item = FileHash> + '_ {
    value
        .split('|')
        .filter_map(|part| FileHash::parse(part.trim()).ok())
}

/// The MISP attribute types whose values carry file hashes.
pub const HASH_ATTRIBUTE_TYPES: [&str; 7] = [
    "md5",
    "sha1",
    "sha256",
    "filename|md5",
    "filename|sha1",
    "filename|sha256",
    "malware-sample",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_misp_text_is_cleaned_and_bounded() {
        let info = format!("Evil\r\ncampaign\u{7}\u{202e} {}", "x".repeat(10_000));
        let tags = vec!["tlp:red\n", "", "tlp:red", "a"];
        let hit = IntelHit::new(RawHit {
            event_id: "12; DROP",
            event_uuid: "57C4445B-C548-4654-AF0B-4BE3950D210F",
            event_info: &info,
            threat_level_id: Some("9"),
            attribute_uuid: "<script>",
            attribute_type: "sha256",
            tags,
            value: "ignored for a hash type",
        });
        assert_eq!(hit.value, "", "a hash hit carries no value");
        assert!(hit.event_info.starts_with("Evil campaign "));
        assert!(hit.event_info.chars().count() <= bounds::EVENT_INFO_CHARS);
        assert!(!hit.event_info.chars().any(|c| c.is_control()));
        assert_eq!(hit.event_id, "");
        assert_eq!(hit.event_uuid, "57c4445b-c548-4654-af0b-4be3950d210f");
        assert_eq!(hit.attribute_uuid, "");
        assert_eq!(hit.threat_level_id, None);
        assert_eq!(hit.tags, ["tlp:red", "a"]);
    }

    #[test]
    fn a_uuid_is_checked_by_its_grammar_not_its_alphabet() {
        let uuid = |s: &str| {
            IntelHit::new(RawHit {
                attribute_uuid: s,
                ..Default::default()
            })
            .attribute_uuid
        };
        assert_eq!(
            uuid(&"-".repeat(36)),
            "",
            "36 dashes would build sightings/add/---…"
        );
        assert_eq!(uuid("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeee-"), "");
        assert_eq!(uuid("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeeeg"), "");
        assert_eq!(
            uuid(" 57C4445B-C548-4654-AF0B-4BE3950D210F "),
            "57c4445b-c548-4654-af0b-4be3950d210f"
        );
        assert_eq!(
            uuid("57c4445bc5484654af0b4be3950d210f"),
            "57c4445b-c548-4654-af0b-4be3950d210f",
            "the simple form is the same uuid"
        );
    }

    #[test]
    fn every_tag_appears_once_in_its_first_place_and_twenty_distinct_fit() {
        // As restSearch answers with includeEventTags and includeContext: the attribute's own
        // tags, the event's as inherited attribute tags, then the event's again.
        let event: Vec<String> = (0..15).map(|i| format!("event:{i}")).collect();
        let mut tags = vec!["attr:a".to_owned(), "tlp:amber".to_owned()];
        tags.extend(event.iter().cloned());
        tags.push("attr:b".to_owned());
        tags.extend(event.iter().cloned());
        tags.push("tlp:amber".to_owned());
        let hit = IntelHit::new(RawHit {
            tags: tags.iter().map(String::as_str).collect(),
            ..Default::default()
        });
        let mut expected = vec!["attr:a".to_owned(), "tlp:amber".to_owned()];
        expected.extend(event.iter().cloned());
        expected.push("attr:b".to_owned());
        assert_eq!(hit.tags, expected, "18 distinct tags, each once, in order");
        let many: Vec<String> = (0..30)
            .flat_map(|i| [format!("t{i}"), format!("t{i}")])
            .collect();
        let hit = IntelHit::new(RawHit {
            tags: many.iter().map(String::as_str).collect(),
            ..Default::default()
        });
        assert_eq!(hit.tags.len(), bounds::TAGS);
        assert_eq!(hit.tags[19], "t19");
    }

    #[test]
    fn durations_in_messages_are_rounded() {
        let e = IntelError::Timeout(Duration::from_nanos(29_844_489_378));
        assert_eq!(e.to_string(), "MISP did not answer within 30s");
        let e = IntelError::CircuitOpen {
            retry_in: Duration::from_millis(2_345),
            last: Box::new(IntelError::Server(503)),
        };
        assert_eq!(
            e.to_string(),
            "MISP server error (HTTP 503); MISP is not asked again for 2.3s, past this invocation's deadline"
        );
        assert_eq!(human_duration(Duration::from_micros(12_345)), "12ms");
        let e = IntelError::Deadline {
            after: Duration::from_secs(60),
            last: None,
        };
        assert_eq!(
            e.to_string(),
            "the lookup deadline of 60s passed before MISP answered"
        );
    }

    #[test]
    fn composite_values_yield_their_hash_half() {
        let v = format!("evil.exe|{}", "AB".repeat(32));
        let parts: Vec<_> = hash_parts(&v).collect();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].as_str(), "ab".repeat(32));
        assert_eq!(hash_parts("just a filename").count(), 0);
    }
}
