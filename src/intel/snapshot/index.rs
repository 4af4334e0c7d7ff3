//! The index: every IOC hash as a binary digest in one of three [`Table`]s (MD5, SHA-1, SHA-256),
//! each entry with the attribute id, event id, attribute uuid and type, plus each event's uuid
//! and `info`; and the network attributes (issue 15) with their [`NetIndex`] (`net`). Immutable: a refresh builds a new one ([`Builder`], [`Index::apply`]) off the async
//! threads and swaps it in whole.
//!
//! A full load never holds its attributes: each page is read straight into [`Pulled`] records
//! (`page`) and their entries are appended to the [`Builder`] in page-sized chunks, which are
//! moved into one exactly sized array per digest length at the end and sorted in place. What the
//! load leaves is the index itself (44–60 bytes an entry, 4 bytes a directory slot) and the event
//! contexts.

use std::collections::{HashMap, HashSet};

use super::net::{self, NetValue};
use super::table::{Digest, Entry, Meta, Table, decode_hex};
use crate::intel::network::NetIndex;
use crate::intel::{HASH_ATTRIBUTE_TYPES, IntelHit, LookupKey, RawHit};
use crate::records::FileHash;

/// Event context kept from the pull (the default restSearch `Event` block).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct EventContext {
    pub(super) uuid: Box<str>,
    pub(super) info: Box<str>,
}

/// One pulled attribute, reduced to what the index keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pulled {
    pub(super) digests: Vec<Digest>,
    pub(super) meta: Meta,
    pub(super) event: Option<EventContext>,
    /// A network attribute's type and value (no digests then).
    pub(super) net: Option<NetValue>,
}

/// An immutable index of IOC hashes.
#[derive(Debug, Default)]
pub struct Index {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
    events: HashMap<u32, EventContext>,
    nets: Vec<(Meta, NetValue)>,
    net: NetIndex<u32>,
}

pub(super) fn uuid_bytes(s: &str) -> [u8; 16] {
    let mut hex = [0u8; 32];
    let mut n = 0;
    for b in s.bytes().filter(|b| *b != b'-') {
        if n == 32 {
            return [0; 16];
        }
        hex[n] = b;
        n += 1;
    }
    (n == 32)
        .then(|| decode_hex::<16>(&hex))
        .flatten()
        .unwrap_or([0; 16])
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

/// Entries appended in chunks of a bounded size, never one array grown by doubling (which
/// would leave the array's earlier copies behind in the allocator).
#[derive(Debug)]
struct Chunks<const N: usize>(Vec<Vec<Entry<N>>>);

impl<const N: usize> Default for Chunks<N> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// Entries per chunk: 704–960 KiB, so that each chunk is one of mimalloc's huge blocks (above
/// 512 KiB) with pages of its own, given back whole when freed instead of leaving holes in
/// pages shared with other blocks.
const CHUNK: usize = 16_384;

impl<const N: usize> Chunks<N> {
    fn push(&mut self, entry: Entry<N>) {
        match self.0.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(entry),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                self.0.push(chunk);
            }
        }
    }

    /// One exactly sized array, each chunk freed as it is moved in.
    fn into_table(self) -> Table<N> {
        let total = self.0.iter().map(Vec::len).sum();
        let mut all = Vec::with_capacity(total);
        for chunk in self.0 {
            all.extend(chunk);
        }
        Table::new(all)
    }
}

/// Collects pulled attributes into a new [`Index`].
#[derive(Debug, Default)]
pub(super) struct Builder {
    md5: Chunks<16>,
    sha1: Chunks<20>,
    sha256: Chunks<32>,
    events: HashMap<u32, EventContext>,
    nets: Vec<(Meta, NetValue)>,
    attributes: usize,
}

impl Builder {
    /// Adds an attribute's entries; the first context seen for an event is the one kept.
    pub(super) fn add(&mut self, p: Pulled) {
        if let Some(net) = p.net {
            self.nets.push((p.meta, net));
        }
        for d in &p.digests {
            match *d {
                Digest::Md5(digest) => self.md5.push(Entry {
                    digest,
                    meta: p.meta,
                }),
                Digest::Sha1(digest) => self.sha1.push(Entry {
                    digest,
                    meta: p.meta,
                }),
                Digest::Sha256(digest) => self.sha256.push(Entry {
                    digest,
                    meta: p.meta,
                }),
            }
        }
        if let Some(e) = p.event {
            self.events.entry(p.meta.event).or_insert(e);
        }
        self.attributes += 1;
    }

    /// Attributes added so far.
    pub(super) fn attributes(&self) -> usize {
        self.attributes
    }

    pub(super) fn finish(mut self) -> Index {
        self.events.shrink_to_fit();
        let net = net::build(&self.nets);
        Index {
            md5: self.md5.into_table(),
            sha1: self.sha1.into_table(),
            sha256: self.sha256.into_table(),
            events: self.events,
            nets: self.nets,
            net,
        }
    }
}

/// A copy of `table` without the attributes in `drop`, plus `add`.
fn rebuilt<const N: usize>(
    table: &Table<N>,
    drop: &HashSet<u32>,
    add: impl Iterator<Item = Entry<N>>,
) -> Table<N> {
    let mut v: Vec<Entry<N>> = table
        .entries()
        .iter()
        .filter(|e| !drop.contains(&e.meta.id))
        .copied()
        .collect();
    v.extend(add);
    Table::new(v)
}

/// The entries of one digest length among `pulled`.
fn entries_of<const N: usize>(
    pulled: &[Pulled],
    pick: fn(Digest) -> Option<[u8; N]>,
) -> impl Iterator<Item = Entry<N>> + '_ {
    pulled.iter().flat_map(move |p| {
        p.digests.iter().filter_map(move |d| {
            pick(*d).map(|digest| Entry {
                digest,
                meta: p.meta,
            })
        })
    })
}

fn digest_of(hash: &FileHash) -> Digest {
    // A FileHash holds validated hex of its algorithm's length: this never falls back.
    Digest::from_hex(hash.as_str()).unwrap_or(Digest::Md5([0; 16]))
}

impl Index {
    #[cfg(test)]
    pub(super) fn build(pulled: Vec<Pulled>) -> Self {
        let mut b = Builder::default();
        pulled.into_iter().for_each(|p| b.add(p));
        b.finish()
    }

    /// A new index: this one without `removed` and `upserted` attribute ids, plus `upserted`.
    pub(super) fn apply(&self, removed: &HashSet<u32>, upserted: Vec<Pulled>) -> Self {
        let mut drop = removed.clone();
        drop.extend(upserted.iter().map(|p| p.meta.id));
        let mut events = self.events.clone();
        for p in &upserted {
            if let Some(e) = &p.event {
                events.insert(p.meta.event, e.clone());
            }
        }
        let md5 = entries_of(&upserted, |d| match d {
            Digest::Md5(d) => Some(d),
            _ => None,
        });
        let sha1 = entries_of(&upserted, |d| match d {
            Digest::Sha1(d) => Some(d),
            _ => None,
        });
        let sha256 = entries_of(&upserted, |d| match d {
            Digest::Sha256(d) => Some(d),
            _ => None,
        });
        let mut nets: Vec<(Meta, NetValue)> = self
            .nets
            .iter()
            .filter(|(m, _)| !drop.contains(&m.id))
            .cloned()
            .collect();
        nets.extend(
            upserted
                .iter()
                .filter_map(|p| Some((p.meta, p.net.clone()?))),
        );
        let net = net::build(&nets);
        Index {
            md5: rebuilt(&self.md5, &drop, md5),
            sha1: rebuilt(&self.sha1, &drop, sha1),
            sha256: rebuilt(&self.sha256, &drop, sha256),
            events,
            nets,
            net,
        }
    }

    /// Hash entries held (an attribute with two hash parts counts twice).
    pub fn len(&self) -> usize {
        self.md5.len() + self.sha1.len() + self.sha256.len()
    }

    /// Network attributes held.
    pub fn network_len(&self) -> usize {
        self.nets.len()
    }

    /// The network attributes that answer `key` ([`NetIndex::lookup`]).
    pub fn lookup_key(&self, key: &LookupKey) -> Vec<IntelHit> {
        match key {
            LookupKey::Hash(h) => self.lookup(h),
            LookupKey::Net(_) => {
                let mut hits: Vec<IntelHit> = Vec::new();
                for i in self.net.lookup(key) {
                    let Some((meta, value)) = self.nets.get(i as usize) else {
                        continue;
                    };
                    let hit = net::hit(meta, value, &self.events);
                    if !hits.contains(&hit) {
                        hits.push(hit);
                    }
                }
                hits
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes of the tables (entries and directories) and event contexts, approximately.
    pub fn heap_bytes(&self) -> usize {
        let events: usize = self
            .events
            .values()
            .map(|e| e.uuid.len() + e.info.len() + 48)
            .sum();
        // A network attribute: its entry and value, and about as much again in its index key.
        let nets: usize = self
            .nets
            .iter()
            .map(|(_, n)| 2 * n.value.len() + std::mem::size_of::<(Meta, NetValue)>() + 64)
            .sum();
        self.md5.bytes() + self.sha1.bytes() + self.sha256.bytes() + events + nets
    }

    fn metas(&self, hash: &FileHash) -> Vec<Meta> {
        match digest_of(hash) {
            Digest::Md5(d) => self.md5.find(&d).iter().map(|e| e.meta).collect(),
            Digest::Sha1(d) => self.sha1.find(&d).iter().map(|e| e.meta).collect(),
            Digest::Sha256(d) => self.sha256.find(&d).iter().map(|e| e.meta).collect(),
        }
    }

    /// Whether any attribute holds each of `hashes` ([`Self::contains`] for a batch: each table
    /// asked once for all its digests, `Table::contains_many`).
    pub fn contains_all(&self, hashes: &[&FileHash]) -> Vec<bool> {
        let mut out = vec![false; hashes.len()];
        let (mut md5, mut sha1, mut sha256) = (Vec::new(), Vec::new(), Vec::new());
        for (i, h) in hashes.iter().enumerate() {
            match digest_of(h) {
                Digest::Md5(d) => md5.push((i, d)),
                Digest::Sha1(d) => sha1.push((i, d)),
                Digest::Sha256(d) => sha256.push((i, d)),
            }
        }
        fn fill<const N: usize>(t: &Table<N>, asked: Vec<(usize, [u8; N])>, out: &mut [bool]) {
            let (places, digests): (Vec<usize>, Vec<[u8; N]>) = asked.into_iter().unzip();
            for (i, held) in places.into_iter().zip(t.contains_many(&digests)) {
                out[i] = held;
            }
        }
        fill(&self.md5, md5, &mut out);
        fill(&self.sha1, sha1, &mut out);
        fill(&self.sha256, sha256, &mut out);
        out
    }

    /// Whether any attribute holds `hash`.
    pub fn contains(&self, hash: &FileHash) -> bool {
        match digest_of(hash) {
            Digest::Md5(d) => !self.md5.find(&d).is_empty(),
            Digest::Sha1(d) => !self.sha1.find(&d).is_empty(),
            Digest::Sha256(d) => !self.sha256.find(&d).is_empty(),
        }
    }

    /// The attributes that hold `hash`, with the context the snapshot keeps.
    pub fn lookup(&self, hash: &FileHash) -> Vec<IntelHit> {
        let mut hits: Vec<IntelHit> = Vec::new();
        for m in self.metas(hash) {
            let event = self.events.get(&m.event).cloned().unwrap_or_default();
            let hit = IntelHit::new(RawHit {
                value: "",
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
