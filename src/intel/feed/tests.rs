//! A feed folder under the rules every source applies: what counts, what is refused and why,
//! and what makes a feed unusable.

use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::indicator::warninglist::{Selection, Warninglists};
use crate::intel::rules::Lists;

const EVENT_UUID: &str = "5f0c6a2e-1111-4222-8333-444455556666";
const DRAFT_UUID: &str = "5f0c6a2e-2222-4222-8333-444455556666";

fn published() -> Rules {
    Rules {
        published_only: true,
        ..Rules::default()
    }
}

fn manifest(dir: &Path, uuids: &[&str]) {
    let entries: serde_json::Map<String, serde_json::Value> = uuids
        .iter()
        .map(|u| {
            (
                u.to_string(),
                serde_json::json!({"info": "x", "timestamp": 1}),
            )
        })
        .collect();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::Value::Object(entries).to_string(),
    )
    .unwrap();
}

fn write_feed(dir: &Path) {
    manifest(dir, &[EVENT_UUID]);
    let event = serde_json::json!({"Event": {
        "uuid": EVENT_UUID, "info": "Test campaign", "threat_level_id": "1", "published": true,
        "Tag": [{"name": "tlp:amber"}],
        "Attribute": [
            {"type": "sha256", "to_ids": true, "uuid": "aaaaaaaa-0000-4000-8000-000000000001", "value": "A".repeat(64), "Tag": [{"name": "tlp:amber"}]},
            {"type": "md5", "to_ids": false, "uuid": "aaaaaaaa-0000-4000-8000-000000000002", "value": "b".repeat(32)},
            {"type": "filename|md5", "to_ids": true, "uuid": "aaaaaaaa-0000-4000-8000-000000000003", "value": format!("evil.exe|{}", "c".repeat(32))},
            {"type": "filename", "to_ids": true, "uuid": "aaaaaaaa-0000-4000-8000-000000000004", "value": "d".repeat(40)}
        ],
        "Object": [{"name": "file", "Attribute": [
            {"type": "sha1", "to_ids": true, "object_relation": "sha1", "uuid": "aaaaaaaa-0000-4000-8000-000000000005", "value": "e".repeat(40)}
        ]}, {"name": "file", "deleted": true, "Attribute": [
            {"type": "sha1", "to_ids": true, "uuid": "aaaaaaaa-0000-4000-8000-000000000006", "value": "9".repeat(40)}
        ]}]
    }});
    std::fs::write(dir.join(format!("{EVENT_UUID}.json")), event.to_string()).unwrap();
    // hashes.csv holds md5s of *values*: it must not be read as IOCs.
    std::fs::write(
        dir.join("hashes.csv"),
        format!("{},{EVENT_UUID}\n", "f".repeat(32)),
    )
    .unwrap();
}

fn h(s: String) -> LookupKey {
    FileHash::parse(&s).unwrap().into()
}

#[tokio::test]
async fn only_ids_hash_attributes_count_including_composites_and_objects() {
    let dir = tempfile::tempdir().unwrap();
    write_feed(dir.path());
    let feed = FeedIntel::load(dir.path(), &published()).unwrap();
    assert_eq!(feed.events(), 1);
    let asked = [
        h("a".repeat(64)),
        h("b".repeat(32)),
        h("c".repeat(32)),
        h("d".repeat(40)),
        h("e".repeat(40)),
        h("f".repeat(32)),
        h("9".repeat(40)),
    ];
    let got = feed.lookup(&asked).await.unwrap();
    let mut found: Vec<_> = got
        .keys()
        .map(|k| k.text().chars().next().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, ['a', 'c', 'e']);
    let hit = &got[&asked[0]][0];
    assert_eq!(hit.event_uuid, EVENT_UUID);
    assert_eq!(hit.threat_level_id, Some(1));
    assert_eq!(
        hit.tags,
        ["tlp:amber"],
        "the attribute's and the event's tag, once"
    );
    assert_eq!(
        hit.event_id, "",
        "a feed event file has no numeric id; the uuid names it"
    );
    assert_eq!(got[&asked[2]][0].attribute_type, "filename|md5");
    let report = feed.report();
    assert_eq!(report.refused.get("not to_ids"), Some(&1));
    assert_eq!(
        report.refused.get("deleted"),
        Some(&1),
        "inside a deleted object"
    );
    // A feed is in memory: no request to any server.
    assert_eq!(feed.lookup_counted(&asked).await.1, 0);
}

fn draft_event(dir: &Path, published: Option<bool>) {
    let mut event = serde_json::json!({"Event": {
        "uuid": DRAFT_UUID, "info": "Draft, not yet published",
        "Attribute": [{"type": "sha256", "to_ids": true, "uuid": "bbbbbbbb-0000-4000-8000-000000000001", "value": "7".repeat(64)}]
    }});
    if let Some(p) = published {
        event["Event"]["published"] = serde_json::json!(p);
    }
    std::fs::write(dir.join(format!("{DRAFT_UUID}.json")), event.to_string()).unwrap();
}

#[tokio::test]
async fn an_unpublished_event_matches_only_when_published_only_is_off() {
    for published_flag in [Some(false), None] {
        let dir = tempfile::tempdir().unwrap();
        write_feed(dir.path());
        draft_event(dir.path(), published_flag);
        manifest(dir.path(), &[EVENT_UUID, DRAFT_UUID]);
        let draft = [h("7".repeat(64))];
        let feed = FeedIntel::load(dir.path(), &published()).unwrap();
        assert!(
            feed.lookup(&draft).await.unwrap().is_empty(),
            "{published_flag:?}"
        );
        assert_eq!(feed.report().unpublished_events, 1);
        assert_eq!(feed.report().refused.get("unpublished"), Some(&1));
        let all = FeedIntel::load(dir.path(), &Rules::default()).unwrap();
        assert_eq!(all.lookup(&draft).await.unwrap().len(), 1);
    }
}

fn fixture_lists() -> Lists {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/warninglists");
    let (lists, _) = Warninglists::load(&dir, &Selection::All).unwrap();
    Lists(Some(Arc::new(lists)))
}

#[tokio::test]
async fn warninglisted_hash_attributes_never_match_and_are_counted_by_list() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path(), &[EVENT_UUID]);
    let known_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let event = serde_json::json!({"Event": {"uuid": EVENT_UUID, "info": "noisy", "published": true, "Attribute": [
        {"type": "sha256", "to_ids": true, "value": known_sha256},
        {"type": "filename|md5", "to_ids": true, "value": "setup.exe|00112233445566778899aabbccddeeff"},
        {"type": "filename|md5", "to_ids": true, "value": format!("known-installer.exe|{}", "5".repeat(32))},
        {"type": "sha1", "to_ids": true, "value": "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"type": "sha256", "to_ids": true, "value": "6".repeat(64)}
    ]}});
    std::fs::write(
        dir.path().join(format!("{EVENT_UUID}.json")),
        event.to_string(),
    )
    .unwrap();
    let rules = Rules {
        published_only: true,
        warninglists: fixture_lists(),
    };
    let feed = FeedIntel::load(dir.path(), &rules).unwrap();
    assert_eq!(feed.len(), 1, "only the unlisted sha256 is an IOC");
    assert!(feed.lookup(&[h("6".repeat(64))]).await.unwrap().len() == 1);
    let by_list: Vec<_> = feed
        .report()
        .warninglisted
        .iter()
        .map(|(l, n)| format!("{l}={n}"))
        .collect();
    assert_eq!(
        by_list,
        ["fixture-empty-hashes=1", "fixture-known-software=3"],
        "the file-name half of a composite is checked too, as MISP does"
    );
    let without = FeedIntel::load(dir.path(), &published()).unwrap();
    assert_eq!(without.len(), 5, "without the lists every hash is an IOC");
}

#[test]
fn a_byte_order_mark_in_a_feed_file_is_read_past() {
    let dir = tempfile::tempdir().unwrap();
    write_feed(dir.path());
    for name in ["manifest.json".to_owned(), format!("{EVENT_UUID}.json")] {
        let path = dir.path().join(name);
        let mut bytes = b"\xef\xbb\xbf".to_vec();
        bytes.extend(std::fs::read(&path).unwrap());
        std::fs::write(&path, bytes).unwrap();
    }
    assert_eq!(FeedIntel::load(dir.path(), &published()).unwrap().len(), 3);
}

#[test]
fn an_unreadable_event_file_is_skipped_and_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write_feed(dir.path());
    manifest(dir.path(), &[EVENT_UUID, DRAFT_UUID]);
    let feed = FeedIntel::load(dir.path(), &published()).unwrap();
    assert_eq!(feed.events(), 1);
    let skipped = &feed.report().skipped;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, format!("{DRAFT_UUID}.json"));
    assert!(skipped[0].1.starts_with("cannot read: "), "{skipped:?}");
    std::fs::write(
        dir.path().join(format!("{DRAFT_UUID}.json")),
        "{\"Event\": [",
    )
    .unwrap();
    let feed = FeedIntel::load(dir.path(), &published()).unwrap();
    assert!(feed.report().skipped[0].1.starts_with("not a MISP event: "));
}

#[test]
fn a_feed_without_events_or_without_one_readable_event_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = FeedIntel::load(dir.path(), &published()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("manifest.json: cannot read: "), "{text}");
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "the cause once: {text}"
    );
    assert!(
        std::error::Error::source(&err).is_none(),
        "not again as a source"
    );
    std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
    let err = FeedIntel::load(dir.path(), &published()).unwrap_err();
    assert!(err.to_string().contains("lists no events"), "{err}");
    manifest(dir.path(), &[EVENT_UUID]);
    let err = FeedIntel::load(dir.path(), &published()).unwrap_err();
    assert!(
        err.to_string().contains("none of the 1 event files"),
        "{err}"
    );
    std::fs::write(dir.path().join("manifest.json"), "[]").unwrap();
    assert!(matches!(
        FeedIntel::load(dir.path(), &published()),
        Err(FeedError::Manifest { .. })
    ));
}
