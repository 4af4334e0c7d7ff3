//! The engine: a batch of event bodies in; matches, dead letters and one summary out.
//!
//! Every event ends in exactly one [`Fate`]: matched, clean, or dead-lettered with its reason.
//! [`BatchOutcome`] is produced only by [`Engine::process`], from one fate per event, so the
//! accounting (`events = matched + clean + dead-lettered`) holds by construction and is checked.
//! The steps are one module each: `decode` (bounds and records), `distinct` (the hashes to
//! ask about), `fate` (matches, and each event's end). This module knows nothing of HTTP;
//! `host` decodes, the engine decides, `intel` answers.

pub mod config;
pub mod cpu;
mod decode;
mod distinct;
mod fate;
mod records;

use std::sync::Arc;
use std::time::Instant;

use crate::host::EventMeta;
use crate::intel::resolver::{Resolution, Resolver};
use crate::matches::MatchRecord;
pub use config::{Allowlist, Limits};
pub use fate::{DeadEvent, Fate};

/// One event as received: its exact bytes and where it sat in the partition.
#[derive(Debug, Clone, Default)]
pub struct EventInput {
    pub bytes: Vec<u8>,
    pub meta: EventMeta,
}

/// Counters of one batch; logged as one line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    pub events: usize,
    pub records: usize,
    pub hashes: usize,
    pub distinct: usize,
    pub invalid_hashes: usize,
    pub empty_hashes: usize,
    /// Network indicators found (issue 15), each once per record.
    pub indicators: usize,
    /// Network values present but not parseable as their column's kind.
    pub invalid_indicators: usize,
    /// Network values never looked up: private, loopback, link-local, multicast, unspecified
    /// and documentation ranges, names without a dot or of special use.
    pub skipped_indicators: usize,
    pub allowlisted: usize,
    pub cache_hits: usize,
    pub misp_requests: usize,
    pub unanswered: usize,
    pub matches: usize,
    pub matched_events: usize,
    pub clean_events: usize,
    pub dead_lettered: usize,
    pub millis: u128,
}

impl std::fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "events={} (matched={} clean={} dead-lettered={}) records={} hashes={} distinct={} invalid={} \
             empty={} allowlisted={} cache-hits={} misp-requests={} unanswered={} matches={} ms={} \
             indicators={} invalid-indicators={} never-looked-up={}",
            self.events,
            self.matched_events,
            self.clean_events,
            self.dead_lettered,
            self.records,
            self.hashes,
            self.distinct,
            self.invalid_hashes,
            self.empty_hashes,
            self.allowlisted,
            self.cache_hits,
            self.misp_requests,
            self.unanswered,
            self.matches,
            self.millis,
            // Added by issue 15, after the fields of before: a reader of the old line still finds
            // every field in its place.
            self.indicators,
            self.invalid_indicators,
            self.skipped_indicators,
        )
    }
}

/// What the engine decided for a batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub matches: Vec<MatchRecord>,
    pub dead: Vec<DeadEvent>,
    /// Set when threat intel failed and the host still has retries: answer so it retries.
    pub retry: Option<String>,
    pub summary: BatchSummary,
}

/// Matches batches of Defender events against threat intel.
pub struct Engine {
    resolver: Arc<Resolver>,
    allowlist: Arc<Allowlist>,
    limits: Limits,
    cpu: cpu::CpuPool,
}

impl Engine {
    pub fn new(resolver: Arc<Resolver>, allowlist: Allowlist, limits: Limits) -> Self {
        Self {
            resolver,
            allowlist: Arc::new(allowlist),
            limits,
            cpu: cpu::CpuPool::default(),
        }
    }

    /// Where CPU-heavy work of a batch runs (its decoding and answer too).
    pub fn cpu(&self) -> &cpu::CpuPool {
        &self.cpu
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Decodes, looks up and matches one batch. `retries_left` says whether the host will call
    /// again with the same batch if this attempt fails. Decoding and judging are CPU work and
    /// run on the blocking pool, off the async workers.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    pub async fn process(&self, events: Vec<EventInput>, retries_left: bool) -> BatchOutcome {
        let started = Instant::now();
        let (limits, allowlist) = (self.limits, self.allowlist.clone());
        let judging = self.allowlist.clone();
        let bytes: usize = events.iter().map(|e| e.bytes.len()).sum();
        let (events, parsed, fates, distinct, summary) = self
            .cpu
            .run(bytes, move || {
                let mut summary = BatchSummary {
                    events: events.len(),
                    ..BatchSummary::default()
                };
                let (mut parsed, fates) = decode::decode(&events, &limits, &mut summary);
                let distinct = distinct::distinct(&mut parsed, &allowlist, &mut summary);
                (events, parsed, fates, distinct, summary)
            })
            .await;
        let resolution = if distinct.is_empty() {
            Resolution::default()
        } else {
            self.resolver.resolve(&distinct).await
        };
        let retry = match resolution.unanswered.values().next() {
            Some(e) if retries_left => Some(format!(
                "{} of {} hashes unanswered ({e}); the host will retry the batch",
                resolution.unanswered.len(),
                distinct.len()
            )),
            _ => None,
        };
        let (matches, dead, mut summary) = self
            .cpu
            .run(bytes, move || {
                let (mut fates, mut summary) = (fates, summary);
                summary.cache_hits = resolution.cache_hits;
                summary.misp_requests = resolution.requests;
                summary.unanswered = resolution.unanswered.len();
                let matches = fate::judge(&parsed, &events, &resolution, &judging, &mut fates);
                drop(parsed);
                let dead = fate::settle(fates, events, &mut summary);
                summary.matches = matches.len();
                (matches, dead, summary)
            })
            .await;
        summary.millis = started.elapsed().as_millis();
        BatchOutcome {
            matches,
            dead,
            retry,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::intel::config::LookupSettings;
    use crate::intel::{IntelError, IntelHit, LookupKey, RawHit, ThreatIntel};

    /// Knows every hash starting with `b`; fails every call when told to.
    struct Fake {
        fail: bool,
    }

    #[async_trait::async_trait]
    impl ThreatIntel for Fake {
        fn chunk_size(&self) -> usize {
            1000
        }
        async fn lookup(&self, keys: &[LookupKey]) -> Result<crate::intel::Hits, IntelError> {
            if self.fail {
                return Err(IntelError::Server(500));
            }
            let hit = IntelHit::new(RawHit {
                event_id: "1",
                ..Default::default()
            });
            Ok(keys
                .iter()
                .filter(|h| h.text().starts_with('b'))
                .map(|h| (h.clone(), vec![hit.clone()]))
                .collect())
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Bad,
        Clean,
        NoHashes,
        Garbage,
    }

    fn body(kind: Kind, n: usize) -> Vec<u8> {
        let hash = |c: char| format!("{c}{n:039x}");
        match kind {
            Kind::Bad => format!(r#"{{"records":[{{"category":"AdvancedHunting-DeviceFileEvents","properties":{{"DeviceId":"d","ReportId":{n},"Timestamp":"t","SHA1":"{}"}}}}]}}"#, hash('b')),
            Kind::Clean => format!(r#"{{"properties":{{"SHA1":"{}"}}}}"#, hash('c')),
            Kind::NoHashes => r#"{"properties":{"RemoteIP":"192.0.2.1"}}"#.to_owned(),
            Kind::Garbage => "not json".to_owned(),
        }
        .into_bytes()
    }

    fn engine(fail: bool) -> Engine {
        let settings = LookupSettings {
            retry: crate::intel::policy::RetryPolicy {
                attempts: 1,
                ..Default::default()
            },
            ..LookupSettings::default()
        };
        let resolver = Arc::new(Resolver::new(Arc::new(Fake { fail }), settings));
        Engine::new(resolver, Allowlist::default(), Limits::default())
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Bad),
            Just(Kind::Clean),
            Just(Kind::NoHashes),
            Just(Kind::Garbage)
        ]
    }

    #[tokio::test]
    async fn a_match_carries_the_columns_a_glance_left_out() {
        let body = format!(
            r#"{{"records":[{{"category":"AdvancedHunting-DeviceFileEvents","time":"t0","properties":{{"DeviceId":"dev-1","ReportId":7,"Timestamp":"2026-07-18T12:59:31Z","FileName":"x.exe","SHA1":"{}"}}}},{{"properties":{{"DeviceId":"dev-2","SHA1":"{}"}}}}]}}"#,
            "c".repeat(40),
            "b".repeat(40)
        );
        let events = vec![EventInput {
            bytes: body.into_bytes(),
            meta: Default::default(),
        }];
        let out = engine(false).process(events, false).await;
        assert_eq!(out.matches.len(), 1, "{:?}", out.summary);
        let m = &out.matches[0];
        assert_eq!(
            m.device_id.as_deref(),
            Some("dev-2"),
            "the second record's own columns"
        );
        assert_eq!(out.summary.matched_events, 1);
        let first = format!(
            r#"{{"records":[{{"category":"AdvancedHunting-DeviceFileEvents","properties":{{"DeviceId":"dev-1","ReportId":7,"Timestamp":"2026-07-18T12:59:31Z","FileName":"x.exe","SHA1":"{}"}}}}]}}"#,
            "b".repeat(40)
        );
        let out = engine(false)
            .process(
                vec![EventInput {
                    bytes: first.into_bytes(),
                    meta: Default::default(),
                }],
                false,
            )
            .await;
        let m = &out.matches[0];
        assert_eq!(
            (
                m.device_id.as_deref(),
                m.report_id.as_deref(),
                m.timestamp.as_deref(),
                m.file_name.as_deref()
            ),
            (
                Some("dev-1"),
                Some("7"),
                Some("2026-07-18T12:59:31Z"),
                Some("x.exe")
            )
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_event_ends_in_exactly_one_outcome(kinds in prop::collection::vec(kind(), 0..40), fail: bool, retries_left: bool) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let events: Vec<EventInput> = kinds.iter().enumerate().map(|(n, k)| EventInput { bytes: body(*k, n), meta: Default::default() }).collect();
            let out = rt.block_on(engine(fail).process(events, retries_left));
            let s = &out.summary;
            prop_assert_eq!(s.events, kinds.len());
            prop_assert_eq!(s.matched_events + s.clean_events + s.dead_lettered, s.events);
            prop_assert_eq!(out.dead.len(), s.dead_lettered);
            let count = |f: fn(&Kind) -> bool| kinds.iter().filter(|k| f(k)).count();
            let garbage = count(|k| matches!(k, Kind::Garbage));
            let with_hashes = count(|k| matches!(k, Kind::Bad | Kind::Clean));
            if fail && with_hashes > 0 {
                prop_assert_eq!(out.retry.is_some(), retries_left);
                prop_assert_eq!(s.dead_lettered, garbage + with_hashes, "unanswered and garbage events");
                prop_assert_eq!(out.matches.len(), 0);
            } else {
                prop_assert!(out.retry.is_none());
                prop_assert_eq!(s.dead_lettered, garbage);
                prop_assert_eq!(s.matched_events, count(|k| matches!(k, Kind::Bad)));
                prop_assert_eq!(out.matches.len(), s.matched_events);
            }
        }
    }
}
