//! Network indicators as threat intel sees them (issue 15): the keys an observed indicator is
//! looked up under ([`lookup_keys`]), which requested keys a MISP network attribute answers
//! ([`keys_answered`], for restSearch answers), an in-memory index of network attributes for
//! the feed and snapshot modes ([`NetIndex`]), and the final check of a hit against the record
//! it is matched for ([`applies`]).
//!
//! Every source answers per key by the same rule, so the three modes agree: an address key is
//! answered by `ip-*` values equal to it or (feed, snapshot: a prefix index) networks holding
//! it; a host key by `domain`, `hostname` and the name halves of `domain|ip` and
//! `hostname|port` equal to it; a URL key by `url` values [`crate::indicator::Url::matches`]
//! accepts; a sender by `email-src`. A host is asked about under each of its lookup names, and
//! [`applies`] then keeps a `domain` hit for any name below it and a `hostname` hit only for
//! the name itself, with the record's port agreeing for the `|port` types.
//!
//! Online, restSearch compares whole values: a CIDR attribute (`ip-dst` of `203.0.113.0/24`) is
//! not found by asking for an address inside it. Online mode matches exact addresses only; the
//! feed and snapshot modes match networks.

use std::collections::{HashMap, HashSet};

use super::{IntelHit, LookupKey};
use crate::indicator::cidr::CidrIndex;
use crate::indicator::domain::lookup_names;
use crate::indicator::misp::{Pattern, parse_attribute};
use crate::indicator::{Host, Indicator};

/// The keys an observed indicator is looked up under: itself, and for a host each parent name
/// up to its registrable domain.
pub fn lookup_keys(indicator: &Indicator) -> Vec<LookupKey> {
    match indicator {
        Indicator::Host(h) => lookup_names(h)
            .filter_map(|n| Host::parse(n).ok())
            .map(|h| LookupKey::Net(Indicator::Host(h)))
            .collect(),
        other => vec![LookupKey::Net(other.clone())],
    }
}

/// The requested keys a network attribute answers (see the module docs); none when its value
/// does not parse as its type.
pub fn keys_answered<'a>(
    kind: &str,
    value: &str,
    requested: &HashSet<&'a LookupKey>,
) -> Vec<&'a LookupKey> {
    let Ok(patterns) = parse_attribute(kind, value) else {
        return Vec::new();
    };
    let mut out: Vec<&LookupKey> = Vec::new();
    let mut add = |key: &'a LookupKey| {
        if !out.contains(&key) {
            out.push(key);
        }
    };
    for p in &patterns {
        // An exact value is found by its key; only a network or a URL (whose spellings vary)
        // is compared with each requested key, so a large answer costs no more than its size.
        let exact = match p {
            Pattern::Ip { net, .. } if net.is_single() => Some(Indicator::Ip(net.network())),
            Pattern::Domain(h) | Pattern::Hostname { host: h, .. } => {
                Some(Indicator::Host(h.clone()))
            }
            Pattern::Email(e) => Some(Indicator::Email(e.clone())),
            _ => None,
        };
        match exact {
            Some(i) => {
                if let Some(key) = requested.get(&LookupKey::Net(i)) {
                    add(key);
                }
            }
            None => requested
                .iter()
                .filter(|k| k.as_indicator().is_some_and(|o| answers(p, o)))
                .for_each(|k| add(k)),
        }
    }
    out
}

/// Whether a pattern answers a key: by equality of the name for hosts (the parents are keys of
/// their own), by [`Pattern::matches`] for the rest.
fn answers(p: &Pattern, observed: &Indicator) -> bool {
    match (p, observed) {
        (Pattern::Domain(d), Indicator::Host(h)) => d == h,
        (Pattern::Hostname { host, .. }, Indicator::Host(h)) => host == h,
        _ => p.matches(observed, None),
    }
}

/// Whether a hit found under one of `indicator`'s keys applies to it, seen with `port`: the
/// hit's own type and value decide ([`Pattern::matches`]). Hash hits (no value) always apply.
pub fn applies(hit: &IntelHit, indicator: &Indicator, port: Option<u16>) -> bool {
    if hit.value.is_empty() {
        return true;
    }
    parse_attribute(&hit.attribute_type, &hit.value)
        .is_ok_and(|ps| ps.iter().any(|p| p.matches(indicator, port)))
}

/// Network attributes held in memory (feed, snapshot): exact values, and the networks in a
/// prefix index. `V` is what a hit is: the feed keeps the [`IntelHit`] itself, the snapshot a
/// small index into its own attribute list (the hit is built when asked for).
#[derive(Debug)]
pub struct NetIndex<V = IntelHit> {
    /// Addresses, host names and senders by their key.
    exact: HashMap<LookupKey, Vec<V>>,
    /// URLs by their full text, ASCII-lowercased, and those written without a scheme by the
    /// text after it.
    urls: HashMap<String, Vec<V>>,
    schemeless: HashMap<String, Vec<V>>,
    networks: Vec<(crate::indicator::Cidr, V)>,
    cidr: CidrIndex<V>,
}

impl<V> Default for NetIndex<V> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            urls: HashMap::new(),
            schemeless: HashMap::new(),
            networks: Vec::new(),
            cidr: CidrIndex::default(),
        }
    }
}

fn push<V: Clone + PartialEq>(hits: &mut Vec<V>, hit: &V) {
    if !hits.contains(hit) {
        hits.push(hit.clone());
    }
}

impl<V: Clone + PartialEq> NetIndex<V> {
    /// Adds an admitted attribute; returns false when its value does not parse as its type.
    pub fn add(&mut self, kind: &str, value: &str, hit: &V) -> bool {
        let Ok(patterns) = parse_attribute(kind, value) else {
            return false;
        };
        for p in patterns {
            match p {
                Pattern::Ip { net, .. } if net.is_single() => {
                    let key = LookupKey::Net(Indicator::Ip(net.network()));
                    push(self.exact.entry(key).or_default(), hit);
                }
                Pattern::Ip { net, .. } => self.networks.push((net, hit.clone())),
                Pattern::Domain(h) | Pattern::Hostname { host: h, .. } => {
                    push(
                        self.exact.entry(Indicator::Host(h).into()).or_default(),
                        hit,
                    );
                }
                Pattern::Email(e) => {
                    push(
                        self.exact.entry(Indicator::Email(e).into()).or_default(),
                        hit,
                    );
                }
                Pattern::Url(u) => {
                    let (map, text) = match u.scheme() {
                        Some(_) => (&mut self.urls, u.as_str()),
                        None => (&mut self.schemeless, u.without_scheme()),
                    };
                    push(map.entry(text.to_ascii_lowercase()).or_default(), hit);
                }
            }
        }
        true
    }

    /// Builds the prefix index; call once after the last [`Self::add`].
    pub fn finish(&mut self) {
        self.cidr = CidrIndex::build(std::mem::take(&mut self.networks));
    }

    /// Values held (exact keys, URLs and networks).
    pub fn len(&self) -> usize {
        self.exact.len() + self.urls.len() + self.schemeless.len() + self.cidr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hits of one key (a hash key has none here).
    pub fn lookup(&self, key: &LookupKey) -> Vec<V> {
        let mut out: Vec<V> = self.exact.get(key).cloned().unwrap_or_default();
        match key.as_indicator() {
            Some(Indicator::Ip(ip)) => {
                for hit in self.cidr.containing(*ip) {
                    push(&mut out, hit);
                }
            }
            Some(Indicator::Url(u)) => {
                let full = self.urls.get(&u.as_str().to_ascii_lowercase());
                let bare = self
                    .schemeless
                    .get(&u.without_scheme().to_ascii_lowercase());
                for hit in full.into_iter().chain(bare).flatten() {
                    push(&mut out, hit);
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::RawHit;

    fn hit(kind: &str, value: &str) -> IntelHit {
        IntelHit::new(RawHit {
            attribute_type: kind,
            value,
            ..Default::default()
        })
    }

    fn key(s: &str) -> LookupKey {
        LookupKey::Net(Indicator::parse(s).unwrap())
    }

    #[test]
    fn a_host_is_asked_under_each_name_up_to_its_registrable_domain() {
        let keys = lookup_keys(&Indicator::parse("a.b.evil.co.uk").unwrap());
        let texts: Vec<String> = keys.iter().map(|k| k.text().into_owned()).collect();
        assert_eq!(texts, ["a.b.evil.co.uk", "b.evil.co.uk", "evil.co.uk"]);
    }

    #[test]
    fn the_index_answers_networks_subdomain_keys_urls_and_senders() {
        let mut index = NetIndex::default();
        for (kind, value) in [
            ("ip-dst", "203.0.113.0/24"),
            ("ip-dst|port", "198.51.100.7|8443"),
            ("domain", "evil.example"),
            ("hostname", "exact.example"),
            ("url", "evil.example/payload"),
            ("email-src", "Bad@Evil.Example"),
        ] {
            assert!(index.add(kind, value, &hit(kind, value)), "{kind}");
        }
        assert!(!index.add("ip-dst", "not an address", &hit("ip-dst", "x")));
        index.finish();
        assert_eq!(index.lookup(&key("203.0.113.9")).len(), 1, "inside the /24");
        assert!(index.lookup(&key("203.0.114.9")).is_empty());
        assert_eq!(index.lookup(&key("198.51.100.7")).len(), 1);
        assert_eq!(index.lookup(&key("evil.example")).len(), 1);
        assert!(
            index.lookup(&key("a.evil.example")).is_empty(),
            "parents are keys of their own"
        );
        assert_eq!(index.lookup(&key("https://EVIL.example/payload")).len(), 1);
        assert_eq!(index.lookup(&key("bad@evil.example")).len(), 1);
    }

    #[test]
    fn a_hit_applies_by_its_type_subdomains_for_domain_and_the_port_for_composites() {
        let sub = Indicator::parse("a.evil.example").unwrap();
        assert!(applies(&hit("domain", "evil.example"), &sub, None));
        assert!(!applies(&hit("hostname", "evil.example"), &sub, None));
        let ip = Indicator::parse("198.51.100.7").unwrap();
        let composite = hit("ip-dst|port", "198.51.100.7|8443");
        assert!(applies(&composite, &ip, Some(8443)));
        assert!(!applies(&composite, &ip, Some(443)));
        assert!(applies(&composite, &ip, None), "a record without a port");
    }

    #[test]
    fn an_answer_maps_to_the_requested_keys_it_covers() {
        let (a, b) = (key("evil.example"), key("198.51.100.7"));
        let requested: HashSet<&LookupKey> = [&a, &b].into_iter().collect();
        assert_eq!(
            keys_answered("domain|ip", "evil.example|198.51.100.7", &requested).len(),
            2
        );
        assert_eq!(keys_answered("hostname", "evil.example", &requested), [&a]);
        assert!(keys_answered("ip-dst", "203.0.113.0/24", &requested).is_empty());
    }

    #[test]
    fn a_long_url_value_is_kept_whole_so_it_still_applies_to_its_record() {
        let url = format!("https://evil.test/{}", "a".repeat(6000));
        let h = hit("url", &url);
        assert_eq!(h.value, url);
        assert!(applies(&h, &Indicator::parse(&url).unwrap(), Some(443)));
    }
}
