//! Event bodies: record decoding, hash extraction and the match record's size bound.
#![no_main]

use defender_misp::matches::{MAX_MATCH_BYTES, MatchRecord};
use defender_misp::records::{extract_hashes, parse_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = parse_body(data, 10_000) {
        for record in &records {
            let hashes = extract_hashes(record);
            for (hash, fields) in &hashes.hashes {
                assert_eq!(hash.as_str(), hash.as_str().to_ascii_lowercase());
                let m = MatchRecord::new(record, hash, fields, &[]);
                assert!(m.size() <= MAX_MATCH_BYTES);
            }
        }
    }
});
