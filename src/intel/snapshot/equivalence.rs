//! The fast paths of the snapshot against the straightforward ones, on the same input, hostile
//! input included: a page read straight into the reduced form (`page`) against the full
//! `intel::misp` attributes, their [`answered`] candidates and reduced afterwards (the path the
//! snapshot took before), and the index built in chunks with its directory against a scan of
//! what was pulled.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::index::{Builder, EventContext, Index, Pulled, uuid_bytes};
use super::net::NetValue;
use super::page::{Item, Page};
use super::table::{Digest, Meta};
use crate::intel::misp::{Attribute, SearchResponse, answered};
use crate::intel::{HASH_ATTRIBUTE_TYPES, hash_parts};
use crate::records::FileHash;
use crate::text::clean_text;

fn parse_id(s: Option<&str>) -> Option<u32> {
    s?.trim().parse().ok()
}

/// The straightforward reduction: a full attribute, its hashes as `FileHash`, then digests; a
/// network type's value as written (issue 15).
fn reduce(a: &Attribute) -> Option<Pulled> {
    let kind_text = a.kind.as_deref().unwrap_or("");
    let net = crate::indicator::misp::NetworkType::from_misp(kind_text);
    let kind = match net {
        Some(_) => u8::MAX,
        None => HASH_ATTRIBUTE_TYPES.iter().position(|t| *t == kind_text)? as u8,
    };
    let id = parse_id(a.id.as_deref())?;
    let event_block = a.event.as_ref();
    let event = parse_id(
        event_block
            .and_then(|e| e.id.as_deref())
            .or(a.event_id.as_deref()),
    )?;
    let value = a.value.as_deref().unwrap_or("");
    let hashes: Vec<FileHash> = match net {
        Some(_) if value.trim().is_empty() => return None,
        Some(_) => Vec::new(),
        None => hash_parts(value).collect(),
    };
    if hashes.is_empty() && net.is_none() {
        return None;
    }
    Some(Pulled {
        digests: hashes
            .iter()
            .map(|h| Digest::from_hex(h.as_str()).unwrap())
            .collect(),
        meta: Meta {
            id,
            event,
            uuid: uuid_bytes(a.uuid.as_deref().unwrap_or("")),
            kind,
        },
        event: event_block.map(|e| EventContext {
            uuid: e.uuid.as_deref().unwrap_or("").into(),
            info: clean_text(
                e.info.as_deref().unwrap_or(""),
                crate::intel::bounds::EVENT_INFO_CHARS,
            )
            .into(),
        }),
        net: net.map(|kind| NetValue {
            kind,
            value: value.into(),
        }),
    })
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if upper { s.to_uppercase() } else { s }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u32..1000).prop_map(|n| json!(n.to_string())),
        (0u32..1000).prop_map(|n| json!(n)),
        Just(json!(" 12 ")),
        Just(json!("+7")),
        Just(json!("-3")),
        Just(json!(-3)),
        Just(json!("4294967296")),
        Just(json!(u64::MAX)),
        Just(json!(1.5)),
        Just(json!("")),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!([1, 2])),
        Just(json!({"a": 1})),
        Just(json!("abc")),
    ]
}

fn flag() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(true)),
        Just(json!(false)),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(2.5)),
        Just(json!(0.0)),
        Just(json!("1")),
        Just(json!("0")),
        Just(json!(" true ")),
        Just(json!("True")),
        Just(json!("False")),
        Just(json!("yes")),
        Just(json!("")),
        Just(json!(null)),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn hash_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 16]>(), any::<bool>()).prop_map(|(b, u)| hex(&b, u)),
        (any::<[u8; 20]>(), any::<bool>()).prop_map(|(b, u)| hex(&b, u)),
        (any::<[u8; 32]>(), any::<bool>()).prop_map(|(b, u)| hex(&b, u)),
        any::<[u8; 16]>().prop_map(|b| format!(" {} ", hex(&b, false))),
        any::<[u8; 16]>().prop_map(|b| format!("{}0", hex(&b, false))),
        any::<[u8; 16]>().prop_map(|b| hex(&b, false).replacen(|_| true, "g", 1)),
        any::<[u8; 15]>().prop_map(|b| format!("{}\u{e9}", hex(&b, false))),
        Just("d41d8cd98f00b204e9800998ecf8427e".to_owned()),
        "[ -~]{0,12}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        hash_text().prop_map(Value::from),
        hash_text().prop_map(|h| json!(format!("evil.exe|{h}"))),
        (hash_text(), hash_text()).prop_map(|(a, b)| json!(format!("{a}|{b}"))),
        Just(json!("|||")),
        Just(json!(12345)),
        Just(json!(null)),
    ]
}

fn uuid() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|b| {
            let h = hex(&b, false);
            json!(format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            ))
        }),
        any::<[u8; 16]>().prop_map(|b| json!(hex(&b, true))),
        Just(json!("57c4445b-c548-4654-af0b-4be3950d210")),
        Just(json!("57c4445b-c548-4654-af0b-4be3950d210g")),
        Just(json!("57c4445b-c548-4654-af0b-4be3950d21\u{e9}")),
        Just(json!("--------------------------------------")),
        Just(json!(7)),
        Just(json!(null)),
    ]
}

fn event() -> impl Strategy<Value = Option<Value>> {
    let block = (
        scalar(),
        uuid(),
        "[ -~\u{7}\u{1b}é]{0,40}",
        flag(),
        any::<bool>(),
    )
        .prop_map(|(id, uuid, info, published, tags)| {
            let mut e = json!({"id": id, "uuid": uuid, "info": info, "published": published,
                "threat_level_id": "2", "org_id": "1"});
            if tags {
                e["Tag"] = json!([{"name": "tlp:amber"}]);
            }
            e
        });
    prop_oneof![
        Just(None),
        Just(Some(json!(null))),
        Just(Some(json!({}))),
        block.prop_map(Some),
    ]
}

prop_compose! {
    fn attribute()(
        id in scalar(), event_id in scalar(),
        kind in prop_oneof![
            (0..HASH_ATTRIBUTE_TYPES.len()).prop_map(|i| json!(HASH_ATTRIBUTE_TYPES[i])),
            Just(json!("ip-dst")), Just(json!("MD5")), Just(json!(5)), Just(json!(null)),
        ],
        to_ids in flag(), deleted in flag(), uuid in uuid(), value in value(), event in event(),
    ) -> Value {
        let mut a = json!({"id": id, "event_id": event_id, "type": kind, "to_ids": to_ids,
            "deleted": deleted, "uuid": uuid, "value": value, "comment": "x", "object_id": "0"});
        if let Some(e) = event {
            a["Event"] = e;
        }
        a
    }
}

proptest! {
    #[test]
    fn a_page_read_straight_into_the_reduced_form_equals_full_attributes_reduced(
        attributes in prop::collection::vec(attribute(), 0..40),
    ) {
        let body = serde_json::to_vec(&json!({"response": {"Attribute": attributes}})).unwrap();
        let full: SearchResponse = serde_json::from_slice(&body).unwrap();
        let fast: Vec<Item> = serde_json::from_slice::<Page>(&body).unwrap().into_items();
        prop_assert_eq!(fast.len(), full.response.attribute.len());
        for (item, a) in fast.iter().zip(&full.response.attribute) {
            prop_assert_eq!(item.id, parse_id(a.id.as_deref()));
            // The same candidate for the rules, field by field: every `Rules` (published only
            // or not, any warninglists) admits one exactly when it admits the other.
            let (c, d) = (item.candidate(), answered(a));
            prop_assert_eq!(
                (c.kind, c.value, c.to_ids, c.deleted, c.published),
                (d.kind, d.value, d.to_ids, d.deleted, d.published)
            );
            prop_assert_eq!(&item.pulled, &reduce(a));
        }
    }
}

#[test]
fn pages_the_full_types_refuse_are_refused_and_only_unread_blocks_are_not_validated() {
    for bad in [
        r#"{"Attribute": []}"#,
        r#"{"response": {"Attribute": [1]}}"#,
        r#"{"response": {"Attribute": [{"Event": "x"}]}}"#,
        r#"{"response": {"Attribute": [{"id": "1", "id": "2"}]}}"#,
        r#"{"response": {"Attribute": [{"value": "a"#,
    ] {
        assert!(
            serde_json::from_str::<SearchResponse>(bad).is_err(),
            "{bad}"
        );
        assert!(serde_json::from_str::<Page>(bad).is_err(), "{bad}");
    }
    // Tags are not read by the snapshot: a malformed one no longer fails the whole page.
    let tag = r#"{"response": {"Attribute": [{"id": "1", "Tag": "x"}]}}"#;
    assert!(serde_json::from_str::<SearchResponse>(tag).is_err());
    assert_eq!(
        serde_json::from_str::<Page>(tag).unwrap().into_items()[0].id,
        Some(1)
    );
}

/// Deterministic digests with collisions: `n` attributes over `n / 3` distinct values of each
/// length, every fifth a two-hash composite.
fn pulled(n: u32) -> Vec<Pulled> {
    let bytes = |i: u32, salt: u8| -> [u8; 32] {
        let mut d = [salt; 32];
        d[..4].copy_from_slice(&(i.wrapping_mul(2_654_435_761)).to_be_bytes());
        d
    };
    (0..n)
        .map(|i| {
            let v = i % (n / 3).max(1);
            let b = bytes(v, (i % 3) as u8);
            let first = match i % 3 {
                0 => Digest::Md5(b[..16].try_into().unwrap()),
                1 => Digest::Sha1(b[..20].try_into().unwrap()),
                _ => Digest::Sha256(b),
            };
            let mut digests = vec![first];
            if i % 5 == 0 {
                digests.push(Digest::Sha256(bytes(v + 1, 9)));
            }
            Pulled {
                digests,
                meta: Meta {
                    id: i,
                    event: i / 50,
                    uuid: [1; 16],
                    kind: 0,
                },
                event: Some(EventContext::default()),
                net: None,
            }
        })
        .collect()
}

/// The straightforward answer: every attribute id holding each digest, by one scan of the list.
fn ids_by_scan(pulled: &[Pulled]) -> HashMap<Digest, Vec<u32>> {
    let mut ids: HashMap<Digest, Vec<u32>> = HashMap::new();
    for p in pulled {
        for d in &p.digests {
            ids.entry(*d).or_default().push(p.meta.id);
        }
    }
    ids
}

fn to_hash(d: &Digest) -> FileHash {
    let text = match d {
        Digest::Md5(b) => hex(b, false),
        Digest::Sha1(b) => hex(b, false),
        Digest::Sha256(b) => hex(b, false),
    };
    FileHash::parse(&text).unwrap()
}

#[test]
fn an_index_built_in_chunks_answers_what_a_scan_of_the_pulled_attributes_answers() {
    // 20,000 entries or more of each length: every table spans more than one chunk.
    let all = pulled(60_000);
    let mut builder = Builder::default();
    all.iter().cloned().for_each(|p| builder.add(p));
    assert_eq!(builder.attributes(), 60_000);
    let index = builder.finish();
    assert_eq!(index.len(), 60_000 + 12_000);
    let scan = ids_by_scan(&all);
    let mut probes: HashSet<Digest> = scan.keys().copied().collect();
    probes.insert(Digest::Sha1([0xee; 20]));
    for d in &probes {
        let hash = to_hash(d);
        let ids = scan.get(d).cloned().unwrap_or_default();
        assert_eq!(index.contains(&hash), !ids.is_empty());
        // The attributes of one digest here share their uuid, type and event context and
        // differ by event id: one hit per event.
        let events: HashSet<u32> = ids.iter().map(|id| id / 50).collect();
        assert_eq!(index.lookup(&hash).len(), events.len(), "{d:?}");
    }
    // An incremental change through apply: the same answers as a scan of the changed list.
    let removed: HashSet<u32> = (0..60_000).step_by(7).collect();
    let mut kept: Vec<Pulled> = all
        .into_iter()
        .filter(|p| !removed.contains(&p.meta.id))
        .collect();
    let added = pulled(300)
        .into_iter()
        .map(|mut p| {
            p.meta.id += 100_000;
            p
        })
        .collect::<Vec<_>>();
    let changed = index.apply(&removed, added.clone());
    kept.extend(added);
    let scan = ids_by_scan(&kept);
    for d in &probes {
        assert_eq!(changed.contains(&to_hash(d)), scan.contains_key(d), "{d:?}");
    }
    assert_eq!(Index::build(kept).len(), changed.len());
}
