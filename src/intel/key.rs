//! [`LookupKey`]: what the resolver caches and a source is asked about, a file hash or a network
//! indicator in its canonical form (issue 15). A host is asked about under each of its lookup
//! names ([`crate::indicator::domain::lookup_names`]), so a `domain` attribute of a parent is
//! found by an exact lookup; which answers apply to the observed host, and to its record's port,
//! is decided afterwards by [`crate::indicator::misp::Pattern::matches`]. A port is never part of
//! a key: an address is cached once, whatever port it was seen on.

use std::borrow::Cow;
use std::fmt;

use crate::indicator::Indicator;
use crate::records::FileHash;

/// One distinct thing looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LookupKey {
    Hash(FileHash),
    Net(Indicator),
}

impl LookupKey {
    pub fn as_hash(&self) -> Option<&FileHash> {
        match self {
            LookupKey::Hash(h) => Some(h),
            LookupKey::Net(_) => None,
        }
    }

    pub fn as_indicator(&self) -> Option<&Indicator> {
        match self {
            LookupKey::Hash(_) => None,
            LookupKey::Net(i) => Some(i),
        }
    }

    /// The canonical text, as sent to MISP.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            LookupKey::Hash(h) => Cow::Borrowed(h.as_str()),
            LookupKey::Net(i) => i.text(),
        }
    }
}

impl From<FileHash> for LookupKey {
    fn from(h: FileHash) -> Self {
        LookupKey::Hash(h)
    }
}

impl From<Indicator> for LookupKey {
    fn from(i: Indicator) -> Self {
        LookupKey::Net(i)
    }
}

impl fmt::Display for LookupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupKey::Hash(h) => f.write_str(h.as_str()),
            LookupKey::Net(i) => i.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_and_an_indicator_are_distinct_keys_with_their_canonical_text() {
        let h = LookupKey::from(FileHash::parse(&"A".repeat(32)).unwrap());
        let ip = LookupKey::from(Indicator::parse("::ffff:198.51.100.7").unwrap());
        assert_eq!(h.text(), "a".repeat(32));
        assert_eq!(ip.text(), "198.51.100.7");
        assert!(h.as_hash().is_some() && h.as_indicator().is_none());
        assert!(ip.as_indicator().is_some() && ip.as_hash().is_none());
        assert_ne!(h, ip);
    }
}
