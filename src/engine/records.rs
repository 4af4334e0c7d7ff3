//! Records already decoded, as `scan` reads them from exports of any size: each record is one
//! event for the accounting (matched, clean, or failed when threat intel did not answer for its
//! hashes), and no per-event limit of `serve` applies (the reader bounds memory itself).

use std::time::Instant;

use super::decode::Parsed;
use super::{BatchOutcome, BatchSummary, Engine, EventInput, distinct, fate};
use crate::intel::LookupKey;
use crate::intel::resolver::Resolution;
use crate::records::Record;

impl Engine {
    /// Looks up and matches decoded records; a dead event's `index` is its record's place in
    /// `records`. Also returns the distinct keys asked about (allowlisted ones left out), so a
    /// caller matching a file in batches can count distinct hashes across all of them.
    pub async fn process_records(&self, records: Vec<Record>) -> (BatchOutcome, Vec<LookupKey>) {
        let started = Instant::now();
        let mut summary = BatchSummary {
            events: records.len(),
            records: records.len(),
            ..BatchSummary::default()
        };
        let mut parsed: Vec<Option<Parsed>> = records
            .into_iter()
            .map(|record| Some(Parsed::of(vec![record], false, &mut summary)))
            .collect();
        let mut fates = vec![None; parsed.len()];
        let distinct = distinct::distinct(&mut parsed, &self.allowlist, &mut summary);
        let resolution = if distinct.is_empty() {
            Resolution::default()
        } else {
            self.resolver.resolve(&distinct).await
        };
        summary.cache_hits = resolution.cache_hits;
        summary.misp_requests = resolution.requests;
        summary.unanswered = resolution.unanswered.len();
        let events = vec![EventInput::default(); parsed.len()];
        let matches = fate::judge(&parsed, &events, &resolution, &self.allowlist, &mut fates);
        let dead = fate::settle(fates, events, &mut summary);
        summary.matches = matches.len();
        summary.millis = started.elapsed().as_millis();
        let outcome = BatchOutcome {
            matches,
            dead,
            retry: None,
            summary,
        };
        (outcome, distinct)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Allowlist, Limits};
    use crate::intel::config::LookupSettings;
    use crate::intel::resolver::Resolver;
    use crate::intel::{IntelError, IntelHit, RawHit, ThreatIntel};
    use crate::records::parse_body;

    /// Knows every hash starting with `b`.
    struct Fake;

    #[async_trait::async_trait]
    impl ThreatIntel for Fake {
        fn chunk_size(&self) -> usize {
            1000
        }
        async fn lookup(&self, keys: &[LookupKey]) -> Result<crate::intel::Hits, IntelError> {
            let hit = IntelHit::new(RawHit::default());
            Ok(keys
                .iter()
                .filter(|h| h.text().starts_with('b'))
                .map(|h| (h.clone(), vec![hit.clone()]))
                .collect())
        }
    }

    #[tokio::test]
    async fn each_record_is_an_event_and_the_distinct_hashes_come_back() {
        let resolver = Arc::new(Resolver::new(Arc::new(Fake), LookupSettings::default()));
        let engine = Engine::new(resolver, Allowlist::default(), Limits::default());
        // More records than one serve event may hold: scan has no per-event limit.
        let line = |c: char, n: usize| {
            let sha1 = c.to_string().repeat(40);
            format!(r#"{{"properties":{{"ReportId":{n},"SHA1":"{sha1}"}}}}"#)
        };
        let mut body = String::new();
        for n in 0..=Limits::default().max_records_per_event {
            body.push_str(&line('b', n));
            body.push('\n');
        }
        body.push_str(&line('c', 0));
        let records = parse_body(body.as_bytes(), usize::MAX).unwrap();
        let n = records.len();
        let (out, distinct) = engine.process_records(records).await;
        assert_eq!(out.summary.events, n);
        assert_eq!(out.summary.matched_events, n - 1);
        assert_eq!(out.summary.clean_events, 1);
        assert_eq!(distinct.len(), 2);
        assert_eq!(out.matches.len(), n - 1);
    }

    /// Knows the MISP `domain` evil.test, answering its key only.
    struct Domain;

    #[async_trait::async_trait]
    impl ThreatIntel for Domain {
        fn chunk_size(&self) -> usize {
            1000
        }
        async fn lookup(&self, keys: &[LookupKey]) -> Result<crate::intel::Hits, IntelError> {
            let hit = IntelHit::new(RawHit {
                attribute_type: "domain",
                value: "evil.test",
                ..Default::default()
            });
            Ok(keys
                .iter()
                .filter(|k| k.text() == "evil.test")
                .map(|k| (k.clone(), vec![hit.clone()]))
                .collect())
        }
    }

    #[tokio::test]
    async fn an_allowlisted_host_never_matches_through_a_parent_another_host_asked_about() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.txt");
        std::fs::write(&path, "a.evil.test\n").unwrap();
        let allowlist = Allowlist::load(path.to_str().unwrap()).unwrap();
        let resolver = Arc::new(Resolver::new(Arc::new(Domain), LookupSettings::default()));
        let engine = Engine::new(resolver, allowlist, Limits::default());
        let row = |host: &str, n: u32| {
            format!(
                r#"{{"category":"AdvancedHunting-DeviceNetworkEvents","properties":{{"ReportId":{n},"RemoteUrl":"{host}"}}}}"#
            )
        };
        let body = [
            row("a.evil.test", 1),
            row("b.evil.test", 2),
            row("x.a.evil.test", 3),
        ]
        .join("\n");
        let records = parse_body(body.as_bytes(), usize::MAX).unwrap();
        let (out, distinct) = engine.process_records(records).await;
        let matched: Vec<&str> = out
            .matches
            .iter()
            .map(|m| m.indicator_value.as_str())
            .collect();
        assert_eq!(
            matched,
            ["b.evil.test"],
            "evil.test was asked about for b, never for a"
        );
        assert!(distinct.iter().any(|k| k.text() == "evil.test"));
        assert_eq!(
            out.summary.allowlisted, 2,
            "a.evil.test and the name below it"
        );
        assert_eq!(out.summary.indicators, 3);
    }
}
