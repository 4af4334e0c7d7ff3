//! The index: every IOC hash as a binary digest in one of three sorted arrays (MD5, SHA-1,
//! SHA-256), each entry with the attribute id, event id, attribute uuid and type, plus each
//! event's uuid and `info`. Immutable: a refresh builds a new one ([`Index::build`],
//! [`Index::apply`]) off the async threads and swaps it in whole.

use std::collections::{HashMap, HashSet};

use crate::intel::{HASH_ATTRIBUTE_TYPES, IntelHit, RawHit};
use crate::records::FileHash;

/// What an entry knows of its attribute, 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) id: u32,
    pub(super) event: u32,
    pub(super) uuid: [u8; 16],
    /// Index into [`HASH_ATTRIBUTE_TYPES`].
    pub(super) kind: u8,
}

#[derive(Debug, Clone, Copy)]
struct Entry<const N: usize> {
    digest: [u8; N],
    meta: Meta,
}

/// Entries of one digest length, sorted by digest.
#[derive(Debug, Clone, Default)]
struct Table<const N: usize>(Vec<Entry<N>>);

impl<const N: usize> Table<N> {
    fn find(&self, digest: &[u8; N]) -> &[Entry<N>] {
        let start = self.0.partition_point(|e| e.digest < *digest);
        let end = start + self.0[start..].partition_point(|e| e.digest == *digest);
        &self.0[start..end]
    }

    fn sort(&mut self) {
        self.0.sort_unstable_by_key(|a| a.digest);
        self.0.shrink_to_fit();
    }

    /// A copy without the attributes in `drop`, plus `add`, sorted.
    fn rebuilt(&self, drop: &HashSet<u32>, add: impl Iterator<Item = Entry<N>>) -> Self {
        let mut v: Vec<Entry<N>> = self
            .0
            .iter()
            .filter(|e| !drop.contains(&e.meta.id))
            .copied()
            .collect();
        v.extend(add);
        let mut t = Table(v);
        t.sort();
        t
    }

    fn bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Entry<N>>()
    }
}

/// Event context kept from the pull (the default restSearch `Event` block).
#[derive(Debug, Clone, Default)]
pub(super) struct EventContext {
    pub(super) uuid: Box<str>,
    pub(super) info: Box<str>,
}

/// One pulled attribute, reduced to what the index keeps.
#[derive(Debug, Clone)]
pub(super) struct Pulled {
    pub(super) hashes: Vec<FileHash>,
    pub(super) meta: Meta,
    pub(super) event: Option<EventContext>,
}

/// An immutable index of IOC hashes.
#[derive(Debug, Default)]
pub struct Index {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
    events: HashMap<u32, EventContext>,
}

pub(super) fn digest<const N: usize>(hex: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    };
    for (i, pair) in hex.as_bytes().chunks_exact(2).take(N).enumerate() {
        out[i] = nibble(pair[0]) << 4 | nibble(pair[1]);
    }
    out
}

pub(super) fn uuid_bytes(s: &str) -> [u8; 16] {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        digest::<16>(&hex.to_ascii_lowercase())
    } else {
        [0; 16]
    }
}

pub(super) fn uuid_text(b: &[u8; 16]) -> String {
    if *b == [0; 16] {
        return String::new();
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Index {
    pub(super) fn build(pulled: Vec<Pulled>) -> Self {
        let mut index = Index::default();
        index.add_events(&pulled);
        let (md5, sha1, sha256) = split(&pulled);
        index.md5 = Table(md5);
        index.sha1 = Table(sha1);
        index.sha256 = Table(sha256);
        index.md5.sort();
        index.sha1.sort();
        index.sha256.sort();
        index
    }

    fn add_events(&mut self, pulled: &[Pulled]) {
        for p in pulled {
            if let Some(e) = &p.event {
                self.events.insert(p.meta.event, e.clone());
            }
        }
    }

    /// A new index: this one without `removed` and `upserted` attribute ids, plus `upserted`.
    pub(super) fn apply(&self, removed: &HashSet<u32>, upserted: Vec<Pulled>) -> Self {
        let mut drop = removed.clone();
        drop.extend(upserted.iter().map(|p| p.meta.id));
        let (md5, sha1, sha256) = split(&upserted);
        let mut index = Index {
            md5: self.md5.rebuilt(&drop, md5.into_iter()),
            sha1: self.sha1.rebuilt(&drop, sha1.into_iter()),
            sha256: self.sha256.rebuilt(&drop, sha256.into_iter()),
            events: self.events.clone(),
        };
        index.add_events(&upserted);
        index
    }

    /// Hash entries held (an attribute with two hash parts counts twice).
    pub fn len(&self) -> usize {
        self.md5.0.len() + self.sha1.0.len() + self.sha256.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes of the arrays and event contexts, approximately.
    pub fn heap_bytes(&self) -> usize {
        let events: usize = self
            .events
            .values()
            .map(|e| e.uuid.len() + e.info.len() + 48)
            .sum();
        self.md5.bytes() + self.sha1.bytes() + self.sha256.bytes() + events
    }

    fn metas(&self, hash: &FileHash) -> Vec<Meta> {
        let s = hash.as_str();
        match hash {
            FileHash::Md5(_) => self.md5.find(&digest(s)).iter().map(|e| e.meta).collect(),
            FileHash::Sha1(_) => self.sha1.find(&digest(s)).iter().map(|e| e.meta).collect(),
            FileHash::Sha256(_) => self
                .sha256
                .find(&digest(s))
                .iter()
                .map(|e| e.meta)
                .collect(),
        }
    }

    /// Whether any attribute holds `hash`.
    pub fn contains(&self, hash: &FileHash) -> bool {
        let s = hash.as_str();
        match hash {
            FileHash::Md5(_) => !self.md5.find(&digest(s)).is_empty(),
            FileHash::Sha1(_) => !self.sha1.find(&digest(s)).is_empty(),
            FileHash::Sha256(_) => !self.sha256.find(&digest(s)).is_empty(),
        }
    }

    /// The attributes that hold `hash`, with the context the snapshot keeps.
    pub fn lookup(&self, hash: &FileHash) -> Vec<IntelHit> {
        let mut hits: Vec<IntelHit> = Vec::new();
        for m in self.metas(hash) {
            let event = self.events.get(&m.event).cloned().unwrap_or_default();
            let hit = IntelHit::new(RawHit {
                event_id: &m.event.to_string(),
                event_uuid: &event.uuid,
                event_info: &event.info,
                threat_level_id: None,
                attribute_uuid: &uuid_text(&m.uuid),
                attribute_type: HASH_ATTRIBUTE_TYPES
                    .get(usize::from(m.kind))
                    .copied()
                    .unwrap_or(""),
                tags: Vec::new(),
            });
            if !hits.contains(&hit) {
                hits.push(hit);
            }
        }
        hits
    }
}

type Split = (Vec<Entry<16>>, Vec<Entry<20>>, Vec<Entry<32>>);

fn split(pulled: &[Pulled]) -> Split {
    let (mut md5, mut sha1, mut sha256) = (Vec::new(), Vec::new(), Vec::new());
    for p in pulled {
        for h in &p.hashes {
            let s = h.as_str();
            match h {
                FileHash::Md5(_) => md5.push(Entry {
                    digest: digest(s),
                    meta: p.meta,
                }),
                FileHash::Sha1(_) => sha1.push(Entry {
                    digest: digest(s),
                    meta: p.meta,
                }),
                FileHash::Sha256(_) => sha256.push(Entry {
                    digest: digest(s),
                    meta: p.meta,
                }),
            }
        }
    }
    (md5, sha1, sha256)
}
