//! Registrable domains and the names a host is looked up under.
//!
//! A MISP `domain` attribute covers its subdomains; a `hostname` matches exactly (MISP's type
//! descriptions: `hostname` "a full host/dnsname of an attacker", `domain` "use this instead of
//! hostname when the upper domain is important", MISP/MISP `app/Model/MispAttribute.php`
//! `typeDefinitions`). So a connection to `a.b.evil.test` is looked up as `a.b.evil.test`,
//! `b.evil.test` and `evil.test`: the host and each parent down to its *registrable domain*, the
//! name one label below its public suffix in Mozilla's Public Suffix List (the `psl` crate, which
//! compiles the list in; ICANN and private sections both, as browsers use it). Online mode asks
//! MISP for all of them in one request; a local set probes each ([`HostIndex`]). Both stop at the
//! same name, so they give the same answer.
//!
//! Consequences: a `domain` attribute that is itself a public suffix (`co.uk`, `github.io`,
//! `duckdns.org`) matches only that exact name, never every site under it; a name under a
//! suffix the list does not know (`evil.zz`) takes its last two labels as registrable (the
//! list's `*` default rule).

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::host::Host;

/// The registrable domain of `host` (a suffix of it), or `None` when the host is itself a
/// public suffix.
pub fn registrable_domain(host: &Host) -> Option<&str> {
    let name = host.as_str();
    let d = psl::domain(name.as_bytes())?;
    let len = d.as_bytes().len();
    Some(&name[name.len() - len..])
}

/// Whether the host's public suffix is in the list (not only the `*` default rule).
pub fn has_known_suffix(host: &Host) -> bool {
    psl::suffix(host.as_str().as_bytes()).is_some_and(|s| s.is_known())
}

/// The names to look `host` up under: the host, then each parent down to its registrable
/// domain. Just the host when it is a public suffix. At most 127 names (253 bytes of labels).
pub fn lookup_names(host: &Host) -> LookupNames<'_> {
    let name = host.as_str();
    let stop = registrable_domain(host).map_or(name.len(), str::len);
    LookupNames {
        rest: Some(name),
        stop,
    }
}

/// Iterator of [`lookup_names`]: slices of the host, longest first, no allocation.
#[derive(Debug, Clone)]
pub struct LookupNames<'a> {
    rest: Option<&'a str>,
    stop: usize,
}

impl<'a> Iterator for LookupNames<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let current = self.rest?;
        self.rest = (current.len() > self.stop)
            .then(|| current.split_once('.').map(|(_, parent)| parent))
            .flatten()
            .filter(|parent| parent.len() >= self.stop);
        Some(current)
    }
}

/// How a host matched an entry of a [`HostIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMatch {
    /// The entry is the host itself (a `hostname` or a `domain`).
    Exact,
    /// The entry is a parent of the host (a `domain` only).
    Parent,
}

#[derive(Debug, Clone)]
struct Entry<V> {
    exact: Vec<V>,
    covering: Vec<V>,
}

impl<V> Default for Entry<V> {
    fn default() -> Self {
        Self {
            exact: Vec::new(),
            covering: Vec::new(),
        }
    }
}

/// A local set of names: `hostname` entries match exactly, `domain` entries also match their
/// subdomains down to the registrable domain. A lookup hashes at most [`lookup_names`] names and
/// allocates nothing.
#[derive(Debug, Clone)]
pub struct HostIndex<V, S = std::collections::hash_map::RandomState> {
    map: HashMap<Box<str>, Entry<V>, S>,
}

impl<V, S: BuildHasher + Default> Default for HostIndex<V, S> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
        }
    }
}

impl<V, S: BuildHasher + Default> HostIndex<V, S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// An entry that matches `host` exactly (MISP `hostname`, `hostname|port`).
    pub fn insert_exact(&mut self, host: &Host, value: V) {
        self.entry(host).exact.push(value);
    }

    /// An entry that matches `domain` and its subdomains (MISP `domain`, `domain|ip`).
    pub fn insert_covering(&mut self, domain: &Host, value: V) {
        self.entry(domain).covering.push(value);
    }

    fn entry(&mut self, host: &Host) -> &mut Entry<V> {
        if !self.map.contains_key(host.as_str()) {
            self.map.insert(host.as_str().into(), Entry::default());
        }
        self.map.get_mut(host.as_str()).expect("inserted above")
    }

    /// Distinct names held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every entry that matches `host`, with the name it is stored under and how it matched,
    /// the host's own entries first.
    pub fn lookup<'a>(
        &'a self,
        host: &'a Host,
    ) -> impl Iterator<Item = (&'a str, HostMatch, &'a V)> + 'a {
        lookup_names(host).flat_map(move |name| {
            let entry = self.map.get_key_value(name);
            let exact = name.len() == host.as_str().len();
            entry.into_iter().flat_map(move |(key, e)| {
                let own = if exact { &e.exact[..] } else { &[] };
                let how = if exact {
                    HostMatch::Exact
                } else {
                    HostMatch::Parent
                };
                own.iter()
                    .chain(e.covering.iter())
                    .map(move |v| (&**key, how, v))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Host {
        Host::parse(s).unwrap()
    }

    fn names(s: &str) -> Vec<String> {
        lookup_names(&h(s)).map(str::to_owned).collect()
    }

    #[test]
    fn a_host_is_looked_up_under_each_parent_down_to_its_registrable_domain() {
        assert_eq!(
            names("a.b.evil.test"),
            ["a.b.evil.test", "b.evil.test", "evil.test"]
        );
        assert_eq!(names("evil.test"), ["evil.test"]);
        assert_eq!(names("www.evil.co.uk"), ["www.evil.co.uk", "evil.co.uk"]);
        assert_eq!(
            names("getvero.s3.amazonaws.com"),
            ["getvero.s3.amazonaws.com"],
            "s3.amazonaws.com is a private-section suffix"
        );
        assert_eq!(
            names("x.evil.github.io"),
            ["x.evil.github.io", "evil.github.io"]
        );
        assert_eq!(names("co.uk"), ["co.uk"]);
        assert_eq!(names("github.io"), ["github.io"]);
        assert_eq!(names("a.b.xn--p1ai"), ["a.b.xn--p1ai", "b.xn--p1ai"]);
        assert_eq!(
            names("deep.a.b.c.evil.zz"),
            [
                "deep.a.b.c.evil.zz",
                "a.b.c.evil.zz",
                "b.c.evil.zz",
                "c.evil.zz",
                "evil.zz"
            ]
        );
    }

    #[test]
    fn registrable_domains_and_known_suffixes() {
        assert_eq!(registrable_domain(&h("a.b.evil.co.uk")), Some("evil.co.uk"));
        assert_eq!(registrable_domain(&h("co.uk")), None);
        assert_eq!(registrable_domain(&h("evil.zz")), Some("evil.zz"));
        assert!(has_known_suffix(&h("evil.co.uk")));
        assert!(!has_known_suffix(&h("evil.zz")));
    }

    #[test]
    fn a_domain_covers_its_subdomains_and_a_hostname_only_itself() {
        let mut index: HostIndex<u32> = HostIndex::new();
        index.insert_covering(&h("evil.test"), 1);
        index.insert_exact(&h("b.evil.test"), 2);
        index.insert_exact(&h("evil.test"), 3);
        index.insert_covering(&h("github.io"), 4);
        let hits = |s: &str| {
            let host = h(s);
            index
                .lookup(&host)
                .map(|(name, how, v)| (name.to_owned(), how, *v))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            hits("a.b.evil.test"),
            [("evil.test".into(), HostMatch::Parent, 1)]
        );
        assert_eq!(
            hits("b.evil.test"),
            [
                ("b.evil.test".into(), HostMatch::Exact, 2),
                ("evil.test".into(), HostMatch::Parent, 1)
            ]
        );
        assert_eq!(
            hits("evil.test"),
            [
                ("evil.test".into(), HostMatch::Exact, 3),
                ("evil.test".into(), HostMatch::Exact, 1)
            ]
        );
        assert!(hits("notevil.test").is_empty());
        assert!(
            hits("evil.github.io").is_empty(),
            "a public suffix covers nothing"
        );
        assert_eq!(
            hits("github.io"),
            [("github.io".into(), HostMatch::Exact, 4)]
        );
        assert_eq!(index.len(), 3);
    }
}
