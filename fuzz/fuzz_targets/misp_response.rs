//! MISP restSearch responses: decoding, mapping attributes back to hashes and network
//! indicators, and the bounds on
//! third-party text.
#![no_main]

use std::collections::HashSet;

use defender_misp::intel::bounds;
use defender_misp::indicator::Indicator;
use defender_misp::intel::{LookupKey, hash_parts};
use defender_misp::intel::misp::{SearchResponse, map_attributes};
use defender_misp::intel::rules::Rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = serde_json::from_slice::<SearchResponse>(data) {
        let asked: Vec<_> = response
            .response
            .attribute
            .iter()
            .filter_map(|a| a.value.as_deref())
            .flat_map(|v| {
                let hashes = hash_parts(v).map(LookupKey::Hash);
                let network = v
                    .split('|')
                    .filter_map(|half| Indicator::parse(half.trim()).ok())
                    .map(LookupKey::Net);
                hashes.chain(network).collect::<Vec<_>>()
            })
            .collect();
        let requested: HashSet<_> = asked.iter().collect();
        let rules = Rules {
            published_only: true,
            ..Rules::default()
        };
        for hits in map_attributes(&response.response.attribute, &requested, &rules).values() {
            for hit in hits {
                assert!(hit.event_info.chars().count() <= bounds::EVENT_INFO_CHARS);
                assert!(!hit.event_info.chars().any(char::is_control));
                assert!(hit.tags.len() <= bounds::TAGS);
                assert!(hit.tags.iter().all(|t| t.chars().count() <= bounds::TAG_CHARS));
                assert!(hit.value.chars().count() <= bounds::VALUE_CHARS);
            }
        }
    }
});
