//! Network indicators: every parser on arbitrary text (canonical forms are fixed points, nothing
//! panics, work is bounded), MISP network values, warninglist patterns, and column extraction from
//! arbitrary JSON rows.
#![no_main]

use defender_misp::indicator::columns::{NETWORK_COLUMNS, extract_indicators};
use defender_misp::indicator::domain::lookup_names;
use defender_misp::indicator::misp::{NETWORK_ATTRIBUTE_TYPES, parse_attribute};
use defender_misp::indicator::warninglist::pcre;
use defender_misp::indicator::{Cidr, Email, Host, Indicator, Ip, Url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(row) = serde_json::from_slice::<serde_json::Value>(data) {
        for c in NETWORK_COLUMNS.iter().step_by(3) {
            let got = extract_indicators(c.table, &row);
            assert!(got.found.len() <= 2 * NETWORK_COLUMNS.len());
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ip) = Ip::parse(text) {
        assert_eq!(Ip::parse(&ip.to_string()), Ok(ip));
    }
    if let Ok(net) = Cidr::parse(text) {
        assert_eq!(Cidr::parse(&net.to_string()), Ok(net));
    }
    if let Ok(h) = Host::parse(text) {
        assert!(h.as_str().is_ascii() && h.as_str().len() <= 253);
        assert_eq!(Host::parse(h.as_str()).as_ref(), Ok(&h));
        assert!(lookup_names(&h).count() <= 127);
    }
    if let Ok(u) = Url::parse(text) {
        let again = Url::parse(u.as_str()).expect("a canonical URL parses");
        assert_eq!(again.as_str(), u.as_str());
        assert!(u.matches(&again));
        assert!(u.search_spellings().count() <= 4);
    }
    if let Ok(e) = Email::parse(text) {
        assert_eq!(Email::parse(e.as_str()).as_ref(), Ok(&e));
    }
    if let Ok(i) = Indicator::parse(text) {
        let _ = i.skip();
        assert_eq!(Indicator::parse(&i.to_string()).as_ref(), Ok(&i));
    }
    if let Some((kind, value)) = text.split_once('\n') {
        let kind = NETWORK_ATTRIBUTE_TYPES[kind.len() % NETWORK_ATTRIBUTE_TYPES.len()];
        let _ = parse_attribute(kind, value);
    }
    if text.len() <= 4096 {
        let _ = pcre::compile(text);
    }
});
