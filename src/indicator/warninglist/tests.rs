use std::path::PathBuf;

use super::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/warninglists")
}

fn all() -> Warninglists {
    Warninglists::load(&dir(), &Selection::All).unwrap().0
}

fn listed(w: &Warninglists, t: &str, v: &str) -> Option<String> {
    w.check(t, v).map(|h| format!("{}:{}", h.list_id, h.entry))
}

#[test]
fn a_folder_loads_its_lists_in_order_and_reports_what_it_skipped() {
    let (w, loaded) = Warninglists::load(&dir(), &Selection::All).unwrap();
    let ids: Vec<_> = w.lists().iter().map(|l| l.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "fixture-analysis",
            "fixture-contact",
            "fixture-empty-hashes",
            "fixture-everything",
            "fixture-known-software",
            "fixture-resolvers",
            "fixture-top-sites"
        ]
    );
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].0, "fixture-broken");
    let rejected: Vec<_> = w
        .rejected
        .iter()
        .map(|(l, e, _)| format!("{l}:{e}"))
        .collect();
    assert_eq!(
        rejected,
        [
            "fixture-contact:/(?<=x)y/",
            "fixture-resolvers:not-a-network",
            "fixture-resolvers:1.2.3.0/99"
        ]
    );
    // The `lists` folder itself is accepted too.
    let (w2, _) = Warninglists::load(&dir().join("lists"), &Selection::All).unwrap();
    assert_eq!(w2.lists().len(), 7);
}

#[test]
fn only_the_named_lists_are_enabled() {
    let sel = Selection::Named(vec![
        "fixture-empty-hashes".into(),
        "Fixture: resolvers".into(),
        "nope".into(),
    ]);
    let (w, loaded) = Warninglists::load(&dir(), &sel).unwrap();
    assert_eq!(w.lists().len(), 2);
    assert_eq!(loaded.unknown_names, ["nope"]);
    assert_eq!(listed(&w, "hostname", "cdn.test"), None);
    assert!(listed(&w, "ip-dst", "1.2.3.4").is_some());
}

#[test]
fn hash_lists_apply_to_their_types_and_composites() {
    let w = all();
    let empty = FileHash::parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        .unwrap();
    assert_eq!(
        w.check_hash(&empty).map(|h| h.list_name),
        Some("Fixture: hashes of empty content")
    );
    let other = FileHash::parse(&"ab".repeat(32)).unwrap();
    assert_eq!(w.check_hash(&other), None);
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    assert!(listed(&w, "filename|md5", &format!("empty.txt|{md5}")).is_some());
    assert!(listed(&w, "malware-sample", &format!("x.zip|{md5}")).is_some());
    assert_eq!(listed(&w, "ssdeep", md5), None, "not a type of the list");
    assert_eq!(
        listed(&w, "md5", &md5.to_uppercase()),
        None,
        "string lists are exact"
    );
}

#[test]
fn cidr_lists_cover_addresses_and_narrower_networks() {
    let w = all();
    assert_eq!(
        listed(&w, "ip-dst", "1.2.3.4").as_deref(),
        Some("fixture-resolvers:1.2.3.0/28")
    );
    assert_eq!(
        listed(&w, "ip-dst", "1.2.3.99").as_deref(),
        Some("fixture-resolvers:1.2.3.99")
    );
    assert_eq!(listed(&w, "ip-dst", "1.2.3.16"), None);
    assert!(listed(&w, "ip-src", "1.2.3.0/29").is_some());
    assert_eq!(
        listed(&w, "ip-src", "1.2.3.0/24"),
        None,
        "a wider network is not inside"
    );
    assert!(listed(&w, "ip-dst|port", "2d00:53::8|53").is_some());
    assert!(listed(&w, "domain|ip", "evil.test|1.2.3.1").is_some());
    assert_eq!(
        listed(&w, "url", "http://1.2.3.4/"),
        None,
        "not a type of the list"
    );
    let ip = Indicator::parse("::ffff:1.2.3.5").unwrap();
    assert!(w.check_indicator(&ip, "ip-dst").is_some());
    assert!(w.check_indicator_any(&ip).is_some());
}

#[test]
fn hostname_lists_cover_subdomains_and_the_host_of_a_url() {
    let w = all();
    assert_eq!(
        listed(&w, "domain", "cdn.test").as_deref(),
        Some("fixture-top-sites:cdn.test")
    );
    assert!(listed(&w, "hostname", "a.b.cdn.test").is_some());
    assert!(listed(&w, "url", "https://img.cdn.test/x/y?z").is_some());
    assert!(listed(&w, "url", "https://user@IMG.CDN.TEST:8443/x").is_some());
    assert!(listed(&w, "url", "img.cdn.test/x").is_some());
    assert!(listed(&w, "domain", "www.benign.test.").is_some());
    assert_eq!(listed(&w, "domain", "notcdn.test"), None);
    assert_eq!(listed(&w, "domain", "cdn.test.evil.zz"), None);
    let host = Indicator::parse("A.CDN.test").unwrap();
    assert!(w.check_indicator(&host, "hostname").is_some());
}

#[test]
fn substring_regex_and_all_type_lists() {
    let w = all();
    assert_eq!(
        listed(&w, "hostname", "x.sandbox-42.zz").as_deref(),
        Some("fixture-analysis:sandbox-")
    );
    assert!(listed(&w, "url", "http://evil.test/detonate").is_some());
    assert_eq!(
        listed(&w, "url", "http://evil.test/DETONATE"),
        None,
        "substrings are case-sensitive"
    );
    assert!(listed(&w, "email-src", "NOC@evil.test").is_some());
    assert_eq!(listed(&w, "email-src", "alice@evil.test"), None);
    assert_eq!(
        listed(&w, "ip-dst", "shared.test").as_deref(),
        Some("fixture-everything:shared.test")
    );
    assert!(listed(&w, "anything", "shared.test").is_some());
}
