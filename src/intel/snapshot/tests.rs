//! The snapshot against a wiremock MISP that pages, filters by time and flags, and can fail.

use super::index::{uuid_bytes, uuid_text};
use super::loader::now_unix;
use super::table::decode_hex;
use super::*;
use crate::intel::HASH_ATTRIBUTE_TYPES;
use crate::intel::config::{MispMode, MispSettings};
use crate::records::FileHash;
use serde_json::{Value, json};
use std::collections::HashMap as Map;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "Snap0MispKey0For0Tests0abcdefghijklmnopqr";
/// The lookups' retry policy with millisecond backoffs.
const QUICK_RETRY: RetryPolicy = RetryPolicy {
    attempts: 3,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(5),
};

#[derive(Clone)]
struct Attr {
    id: u32,
    kind: &'static str,
    value: String,
    to_ids: bool,
    deleted: bool,
    timestamp: i64,
    event: u32,
    object: bool,
}

#[derive(Default)]
struct State {
    attrs: Vec<Attr>,
    fail: bool,
    /// Requests still to fail before answering again.
    fail_next: usize,
    bodies: Vec<Value>,
}

#[derive(Clone)]
struct Stub(Arc<Mutex<State>>);

fn flags(v: Option<&Value>) -> Option<Vec<bool>> {
    let one = |x: &Value| x.as_i64() == Some(1) || x.as_bool() == Some(true);
    match v? {
        Value::Array(a) => Some(a.iter().map(one).collect()),
        x => Some(vec![one(x)]),
    }
}

impl Respond for Stub {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        s.bodies.push(body.clone());
        if s.fail {
            return ResponseTemplate::new(503);
        }
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return ResponseTemplate::new(502);
        }
        let values: Option<Vec<String>> = body["value"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect());
        let to_ids = flags(body.get("to_ids"));
        let deleted = flags(body.get("deleted")).unwrap_or(vec![false]);
        let since = body["timestamp"].as_i64().unwrap_or(0);
        // Every event here was published long ago: a publish_timestamp window finds nothing.
        let publish_window = body.get("publish_timestamp").is_some();
        let matching: Vec<Value> = s
            .attrs
            .iter()
            .filter(|_| !publish_window)
            .filter(|a| values.as_ref().is_none_or(|v| a.value.split('|').any(|h| v.iter().any(|x| x == h))))
            .filter(|a| to_ids.as_ref().is_none_or(|f| f.contains(&a.to_ids)))
            .filter(|a| deleted.contains(&a.deleted))
            .filter(|a| a.timestamp >= since)
            .map(|a| {
                json!({"id": a.id.to_string(), "event_id": a.event.to_string(), "type": a.kind,
                    "object_id": if a.object { "7" } else { "0" }, "to_ids": a.to_ids, "deleted": a.deleted,
                    "uuid": format!("00000000-0000-4000-8000-{:012}", a.id), "timestamp": a.timestamp.to_string(),
                    "value": a.value,
                    "Event": {"id": a.event.to_string(), "info": format!("Event {}", a.event),
                              "uuid": format!("11111111-0000-4000-8000-{:012}", a.event), "threat_level_id": "1",
                              "Tag": [{"name": "tlp:amber"}]}})
            })
            .collect();
        let page: Vec<Value> = match (body["limit"].as_u64(), body["page"].as_u64()) {
            (Some(limit), Some(page)) => matching
                .into_iter()
                .skip(((page - 1) * limit) as usize)
                .take(limit as usize)
                .collect(),
            _ => matching,
        };
        ResponseTemplate::new(200).set_body_json(json!({"response": {"Attribute": page}}))
    }
}

fn h(n: u64, len: usize) -> String {
    format!("{n:0len$x}")
}

fn attr(id: u32, kind: &'static str, value: String) -> Attr {
    Attr {
        id,
        kind,
        value,
        to_ids: true,
        deleted: false,
        timestamp: 1_700_000_000,
        event: 10 + id,
        object: false,
    }
}

fn hash(s: &str) -> FileHash {
    FileHash::parse(s).unwrap()
}

fn key(s: &str) -> LookupKey {
    hash(s).into()
}

struct Setup {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl Setup {
    async fn new(attrs: Vec<Attr>) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            attrs,
            ..State::default()
        }));
        Mock::given(method("POST"))
            .and(path("/attributes/restSearch"))
            .respond_with(Stub(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    fn intel(&self, mode: &str) -> SnapshotIntel {
        self.intel_with(mode, &[])
    }

    fn intel_with(&self, mode: &str, extra: &[(&str, String)]) -> SnapshotIntel {
        let env: Map<String, String> = [
            ("MISP_URL", self.server.uri()),
            ("MISP_API_KEY", KEY.to_owned()),
            ("MISP_MODE", mode.to_owned()),
            ("MISP_SNAPSHOT_PAGE_SIZE", "2".to_owned()),
        ]
        .into_iter()
        .chain(extra.iter().cloned())
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let misp = MispSettings::from_env(&env).unwrap();
        let online = Arc::new(MispIntel::new(&misp).unwrap());
        SnapshotIntel::new(online, &misp, QUICK_RETRY)
    }

    fn requests(&self) -> usize {
        self.state.lock().unwrap().bodies.len()
    }
}

fn sample() -> Vec<Attr> {
    let mut object = attr(4, "sha1", h(4, 40));
    object.object = true;
    let mut not_ids = attr(5, "md5", h(5, 32));
    not_ids.to_ids = false;
    vec![
        attr(1, "md5", h(1, 32)),
        attr(2, "sha256", h(2, 64)),
        attr(3, "filename|sha256", format!("evil.exe|{}", h(3, 64))),
        object,
        not_ids,
    ]
}

#[tokio::test]
async fn a_full_load_pages_through_every_ids_hash_attribute_composites_and_objects_included() {
    let s = Setup::new(sample()).await;
    let intel = s.intel("snapshot");
    let report = intel.refresh(false).await.unwrap();
    assert!(report.full);
    assert_eq!(
        report.pages, 3,
        "4 live attributes in pages of 2: two full pages, then an empty one: {report:?}"
    );
    let index = intel.index().unwrap();
    assert_eq!(index.len(), 4);
    for (n, len) in [(1, 32), (2, 64), (3, 64), (4, 40)] {
        assert_eq!(index.lookup(&hash(&h(n, len))).len(), 1, "hash {n}");
    }
    assert!(
        index.lookup(&hash(&h(5, 32))).is_empty(),
        "to_ids off is not kept"
    );
    let first = &s.state.lock().unwrap().bodies[0];
    assert!(first.get("value").is_none());
    assert_eq!(first["limit"], 2);
    assert_eq!(first["page"], 1);
    assert_eq!(first["to_ids"], 1);
    assert_eq!(
        first["type"].as_array().unwrap().len(),
        HASH_ATTRIBUTE_TYPES.len() + crate::indicator::misp::NETWORK_ATTRIBUTE_TYPES.len(),
        "hash and network types (issue 15)"
    );
}

#[tokio::test]
async fn lookups_match_locally_and_ask_misp_only_for_the_context_of_hits() {
    let s = Setup::new(sample()).await;
    let intel = s.intel("snapshot");
    intel.refresh(false).await.unwrap();
    let before = s.requests();
    let clean = [key(&h(99, 64)), key(&h(98, 40))];
    let (result, requests) = intel.lookup_counted(&clean).await;
    assert!(result.unwrap().is_empty());
    assert_eq!(
        (requests, s.requests()),
        (0, before),
        "misses never reach MISP"
    );

    let composite = key(&h(3, 64));
    let (result, requests) = intel
        .lookup_counted(&[composite.clone(), clean[0].clone()])
        .await;
    let hits = result.unwrap();
    assert_eq!(requests, 1);
    assert_eq!(hits.len(), 1);
    let hit = &hits[&composite][0];
    assert_eq!(hit.attribute_type, "filename|sha256");
    assert_eq!(hit.threat_level_id, Some(1), "context comes from MISP");
    assert_eq!(hit.tags, ["tlp:amber"]);
    let asked = s.state.lock().unwrap().bodies.last().unwrap().clone();
    assert_eq!(asked["value"], json!([composite.text()]));

    // MISP down: the snapshot's own context still reports the hit.
    s.state.lock().unwrap().fail = true;
    let hits = intel
        .lookup(std::slice::from_ref(&composite))
        .await
        .unwrap();
    assert_eq!(hits[&composite][0].event_id, "13");
    assert_eq!(hits[&composite][0].event_info, "Event 13");
    assert_eq!(
        hits[&composite][0].attribute_uuid,
        "00000000-0000-4000-8000-000000000003"
    );
}

#[tokio::test]
async fn an_incremental_refresh_adds_new_iocs_and_removes_those_switched_off_or_deleted() {
    let s = Setup::new(sample()).await;
    let intel = s.intel("snapshot");
    intel.refresh(false).await.unwrap();
    let now = now_unix();
    {
        let mut st = s.state.lock().unwrap();
        let mut new = attr(6, "sha1", h(6, 40));
        new.timestamp = now;
        st.attrs.push(new);
        st.attrs[0].to_ids = false; // md5 1 switched off
        st.attrs[0].timestamp = now;
        st.attrs[1].deleted = true; // sha256 2 soft-deleted
        st.attrs[1].timestamp = now;
    }
    let report = intel.refresh(false).await.unwrap();
    assert!(!report.full);
    assert_eq!((report.upserted, report.removed), (1, 2), "{report:?}");
    let index = intel.index().unwrap();
    assert_eq!(index.lookup(&hash(&h(6, 40))).len(), 1);
    assert!(index.lookup(&hash(&h(1, 32))).is_empty());
    assert!(index.lookup(&hash(&h(2, 64))).is_empty());
    assert_eq!(
        index.lookup(&hash(&h(3, 64))).len(),
        1,
        "untouched IOCs stay"
    );
    let bodies = s.state.lock().unwrap().bodies.clone();
    let windows: Vec<&Value> = bodies.iter().skip(2).collect();
    assert!(
        windows.iter().any(|b| b.get("publish_timestamp").is_some()),
        "publishing is pulled too"
    );
    assert!(
        windows
            .iter()
            .any(|b| b["deleted"] == json!([0, 1]) && b.get("to_ids").is_none())
    );
}

#[tokio::test]
async fn a_full_resync_removes_what_vanished_without_a_trace() {
    let s = Setup::new(sample()).await;
    let intel = s.intel("snapshot");
    intel.refresh(false).await.unwrap();
    s.state.lock().unwrap().attrs.retain(|a| a.id != 2); // hard delete: no timestamp to see
    intel.refresh(false).await.unwrap();
    assert_eq!(
        intel.index().unwrap().lookup(&hash(&h(2, 64))).len(),
        1,
        "invisible to a window"
    );
    let report = intel.refresh(true).await.unwrap();
    assert!(report.full);
    assert!(intel.index().unwrap().lookup(&hash(&h(2, 64))).is_empty());
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_snapshot() {
    let s = Setup::new(sample()).await;
    let intel = s.intel("snapshot");
    intel.refresh(false).await.unwrap();
    s.state.lock().unwrap().fail = true;
    assert!(matches!(
        intel.refresh(false).await,
        Err(IntelError::Server(503))
    ));
    assert!(matches!(
        intel.refresh(true).await,
        Err(IntelError::Server(503))
    ));
    assert_eq!(intel.index().unwrap().len(), 4);
    let (result, _) = intel.lookup_counted(&[key(&h(1, 32))]).await;
    assert_eq!(result.unwrap().len(), 1);
}

#[tokio::test]
async fn a_page_that_fails_once_is_asked_again_under_the_retry_policy() {
    let s = Setup::new(sample()).await;
    let intel = s.intel("snapshot");
    s.state.lock().unwrap().fail_next = 1;
    let report = intel.refresh(false).await.unwrap();
    assert_eq!(report.pages, 3);
    assert_eq!(s.requests(), 4, "the first page twice, then two more");
    assert_eq!(intel.index().unwrap().len(), 4);
}

#[tokio::test]
async fn before_the_first_load_snapshot_fails_fast_and_hybrid_goes_online() {
    let s = Setup::new(sample()).await;
    let snapshot = s.intel("snapshot");
    let (result, requests) = snapshot.lookup_counted(&[key(&h(1, 32))]).await;
    assert_eq!(
        (result.unwrap_err(), requests),
        (IntelError::SnapshotLoading, 0)
    );
    assert_eq!(s.requests(), 0);

    let hybrid = s.intel("hybrid");
    let (result, requests) = hybrid.lookup_counted(&[key(&h(1, 32))]).await;
    assert_eq!((result.unwrap().len(), requests), (1, 1));
    hybrid.refresh(false).await.unwrap();
    let before = s.requests();
    let (result, requests) = hybrid.lookup_counted(&[key(&h(99, 32))]).await;
    assert!(result.unwrap().is_empty());
    assert_eq!(
        (requests, s.requests()),
        (0, before),
        "loaded and fresh: answered locally"
    );
    assert_eq!(MispMode::Hybrid, hybrid.mode);
}

#[test]
fn digests_and_uuids_round_trip() {
    assert_eq!(decode_hex::<4>(b"00ff10ab"), Some([0x00, 0xff, 0x10, 0xab]));
    let u = "57c4445b-c548-4654-af0b-4be3950d210f";
    assert_eq!(uuid_text(&uuid_bytes(u)), u);
    assert_eq!(uuid_text(&uuid_bytes("nope")), "");
}

#[tokio::test]
async fn through_the_resolver_misses_cost_no_lookup_and_hits_one_request() {
    use crate::intel::config::LookupSettings;
    use crate::intel::resolver::Resolver;
    let s = Setup::new(sample()).await;
    let intel = Arc::new(s.intel("snapshot"));
    intel.refresh(false).await.unwrap();
    let settings = LookupSettings {
        miss_ttl: Duration::ZERO,
        ..LookupSettings::default()
    };
    let resolver = Resolver::new(intel, settings);
    let before = s.requests();
    let misses: Vec<LookupKey> = (100..110).map(|n| key(&h(n, 64))).collect();
    let r = resolver.resolve(&misses).await;
    assert_eq!((r.answered(), r.requests, r.cache_hits), (10, 0, 0));
    assert!(
        r.known
            .iter()
            .all(|v| v.as_ref().is_some_and(|v| v.is_empty()))
    );
    assert_eq!(s.requests(), before);
    let mut mixed = misses.clone();
    mixed.push(key(&h(2, 64)));
    let r = resolver.resolve(&mixed).await;
    assert_eq!(r.requests, 1, "one request, for the hit's context");
    assert_eq!(
        r.verdict_of(&mixed, &key(&h(2, 64))).map(|v| v.len()),
        Some(1)
    );
}

/// The rules of every source: the lists of `MISP_WARNINGLISTS_DIR` keep a pulled attribute out of
/// the snapshot, on top of the `enforceWarninglist` the pull asks MISP for.
#[tokio::test]
async fn a_pulled_attribute_on_a_warninglist_of_the_folder_stays_out_of_the_snapshot() {
    let known = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut attrs = sample();
    attrs.push(attr(6, "sha256", known.to_owned()));
    let s = Setup::new(attrs).await;
    let lists =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/warninglists");
    let intel = s.intel_with(
        "snapshot",
        &[("MISP_WARNINGLISTS_DIR", lists.display().to_string())],
    );
    intel.refresh(false).await.unwrap();
    let index = intel.index().unwrap();
    assert_eq!(
        index.len(),
        4,
        "the four live attributes, not the listed one"
    );
    assert!(!index.contains(&hash(known)));
    assert_eq!(s.state.lock().unwrap().bodies[0]["enforceWarninglist"], 1);
}

/// Issue 15 in snapshot mode: network attributes are pulled and indexed (a CIDR network, a
/// domain under each lookup name, a composite's address), misses cost no request, the hits'
/// context comes from MISP in one request, and a CIDR hit MISP cannot find by value is kept.
/// The warninglist folder keeps a listed address out, as in the other modes.
#[tokio::test]
async fn network_attributes_are_indexed_and_answered_locally_with_cidr_and_warninglists() {
    use crate::indicator::Indicator;
    let s = Setup::new(vec![
        attr(1, "ip-dst", "1.2.3.128/25".into()),
        attr(2, "domain", "evil.test".into()),
        attr(3, "ip-dst|port", "1.2.3.41|8443".into()),
        attr(4, "ip-src", "1.2.3.5".into()),
        attr(5, "sha256", h(5, 64)),
    ])
    .await;
    let lists =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/warninglists");
    let dir = (
        "MISP_WARNINGLISTS_DIR",
        lists.to_string_lossy().into_owned(),
    );
    let intel = s.intel_with("snapshot", &[dir]);
    intel.refresh(false).await.unwrap();
    assert_eq!(
        intel.index().unwrap().network_len(),
        3,
        "1.2.3.5 is warninglisted"
    );
    let net = |v: &str| LookupKey::Net(Indicator::parse(v).unwrap());
    let pulled = s.state.lock().unwrap().bodies[0].clone();
    assert!(
        pulled["type"]
            .as_array()
            .unwrap()
            .contains(&json!("domain|ip"))
    );

    let before = s.requests();
    let clean = [net("1.2.3.5"), net("a.evil.test"), net("1.2.4.200")];
    assert_eq!(intel.known_misses(&clean), Some(vec![true, true, true]));
    let (result, requests) = intel.lookup_counted(&clean).await;
    assert!(result.unwrap().is_empty());
    assert_eq!(
        (requests, s.requests()),
        (0, before),
        "misses never reach MISP"
    );

    let asked = [net("1.2.3.200"), net("evil.test"), net("1.2.3.41")];
    assert_eq!(intel.known_misses(&asked), Some(vec![false, false, false]));
    let (result, requests) = intel.lookup_counted(&asked).await;
    let hits = result.unwrap();
    assert_eq!(requests, 1);
    assert_eq!(
        hits[&asked[0]][0].value, "1.2.3.128/25",
        "kept from the snapshot"
    );
    assert_eq!(
        hits[&asked[1]][0].threat_level_id,
        Some(1),
        "context from MISP"
    );
    assert_eq!(hits[&asked[2]][0].value, "1.2.3.41|8443");
}
