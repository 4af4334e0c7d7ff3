//! MISP warninglists (lists of known-benign values: public resolvers, CDNs, top sites, empty
//! file hashes) read from a misp-warninglists folder ([`load`]) and matched as MISP matches them
//! ([`Warninglists`]), for the modes without a MISP server to send `enforceWarninglist` to.
//!
//! MISP's rule (`Warninglist::checkValue` and `filterWarninglistAttribute`, MISP/MISP
//! `app/Model/Warninglist.php`): an attribute is warninglisted when an enabled list whose
//! `matching_attributes` holds the attribute's type (or `ALL`) matches its value; a composite
//! value (`domain|ip`, `ip-dst|port`, `filename|sha256`, `malware-sample`) is split at its first
//! `|` and each part is tried. Per list type:
//! - `string`: the part equals an entry (case-sensitive);
//! - `substring`: an entry occurs in the part (case-sensitive);
//! - `hostname`: the host of the part (the part itself, or what follows `//` in a URL) or one
//!   of its parent names equals an entry (entries lowercased, dots trimmed);
//! - `cidr`: the part is an address or network inside an entry (`CidrTool::contains`);
//! - `regex`: a PHP pattern matches the part (see [`pcre`]).
//!
//! Two deliberate differences, both only ever adding matches MISP means to make: a `hostname`
//! part is lowercased and its `:port` dropped before the walk (MISP compares the raw text), and a
//! `cidr` entry with host bits set (`10.0.0.1/8`) is taken as its network (MISP's IPv4 lookup
//! builds masked keys, so such an entry never matches there).
//!
//! Intended use: apply the lists to MISP *attributes* when a feed or snapshot is loaded, as MISP
//! does, so warninglisted IOCs never enter the index and the hot path pays nothing.

pub mod load;
pub mod pcre;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use aho_corasick::AhoCorasick;
use regex::Regex;

use super::cidr::CidrIndex;
use super::ip::Cidr;
use super::{Indicator, IndicatorKind};
use crate::records::FileHash;
pub use load::{ListType, LoadError, Loaded, Selection, Warninglist};

/// A list as the matcher keeps it.
#[derive(Debug, Clone)]
pub struct ListInfo {
    pub id: String,
    pub name: String,
    pub kind: ListType,
    /// Empty: every type.
    pub types: Vec<String>,
    pub entries: usize,
}

impl ListInfo {
    fn applies_to(&self, attribute_type: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == attribute_type)
    }
}

/// A value on a list: which list, and the entry that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'a> {
    pub list_id: &'a str,
    pub list_name: &'a str,
    pub entry: Cow<'a, str>,
}

/// Enabled warninglists, merged per list type so a check costs a few hash lookups, one CIDR
/// search, one Aho-Corasick pass and the regexes, however many lists there are.
#[derive(Debug, Default)]
pub struct Warninglists {
    lists: Vec<ListInfo>,
    exact: HashMap<Box<str>, Vec<u16>>,
    hostnames: HashMap<Box<str>, Vec<u16>>,
    /// Each network with its list and the index of its entry text in `cidr_entries`.
    cidrs: CidrIndex<(Cidr, u16, u32)>,
    cidr_entries: Vec<Box<str>>,
    substrings: Option<AhoCorasick>,
    substring_ids: Vec<(u16, Box<str>)>,
    regexes: Vec<(Regex, u16, Box<str>)>,
    /// Entries that could not be used (bad CIDR, a regex the engine cannot run): list id,
    /// entry (first 100 characters), reason; the first [`MAX_REJECTED`].
    pub rejected: Vec<(String, String, String)>,
}

/// Rejected entries remembered for the report.
pub const MAX_REJECTED: usize = 1000;

impl Warninglists {
    /// Reads the enabled lists of a misp-warninglists folder.
    pub fn load(dir: &Path, selection: &Selection) -> Result<(Self, Loaded), LoadError> {
        let mut loaded = load::read_dir(dir, selection)?;
        let lists = std::mem::take(&mut loaded.lists);
        Ok((Self::build(lists), loaded))
    }

    /// Merges lists into one matcher. At most `u16::MAX` lists are kept.
    pub fn build(lists: impl IntoIterator<Item = Warninglist>) -> Self {
        let mut out = Warninglists::default();
        let mut cidrs = Vec::new();
        let mut substrings = Vec::new();
        for (i, list) in lists.into_iter().take(usize::from(u16::MAX)).enumerate() {
            let id = i as u16;
            for entry in &list.entries {
                out.add_entry(&list, id, entry, &mut cidrs, &mut substrings);
            }
            out.lists.push(ListInfo {
                id: list.id,
                name: list.name,
                kind: list.kind,
                types: list.types,
                entries: list.entries.len(),
            });
        }
        out.cidrs = CidrIndex::build(cidrs);
        if !substrings.is_empty() {
            out.substrings = AhoCorasick::new(substrings.iter().map(|(_, s)| s.as_bytes())).ok();
            out.substring_ids = substrings;
        }
        out
    }

    fn add_entry(
        &mut self,
        list: &Warninglist,
        id: u16,
        entry: &str,
        cidrs: &mut Vec<(Cidr, (Cidr, u16, u32))>,
        substrings: &mut Vec<(u16, Box<str>)>,
    ) {
        let rejected = match list.kind {
            ListType::String => {
                self.exact.entry(entry.into()).or_default().push(id);
                None
            }
            ListType::Hostname => {
                let name = entry.trim_matches('.').to_ascii_lowercase();
                self.hostnames.entry(name.into()).or_default().push(id);
                None
            }
            ListType::Cidr => match Cidr::parse(entry.trim()) {
                Ok(net) => {
                    let text = u32::try_from(self.cidr_entries.len()).unwrap_or(u32::MAX);
                    self.cidr_entries.push(entry.trim().into());
                    cidrs.push((net, (net, id, text)));
                    None
                }
                Err(e) => Some(e.to_string()),
            },
            ListType::Substring => {
                substrings.push((id, entry.into()));
                None
            }
            ListType::Regex => match pcre::compile(entry) {
                Ok(r) => {
                    self.regexes.push((r, id, entry.into()));
                    None
                }
                Err(e) => Some(e.to_string()),
            },
        };
        if let Some(why) = rejected.filter(|_| self.rejected.len() < MAX_REJECTED) {
            let shown = entry.chars().take(100).collect();
            self.rejected.push((list.id.clone(), shown, why));
        }
    }

    /// The lists held.
    pub fn lists(&self) -> &[ListInfo] {
        &self.lists
    }

    /// Whether a MISP attribute of `attribute_type` with `value` is on an enabled list, as MISP's
    /// `filterWarninglistAttribute` decides it.
    pub fn check(&self, attribute_type: &str, value: &str) -> Option<Hit<'_>> {
        let composite = attribute_type == "malware-sample" || attribute_type.contains('|');
        let mut parts = value.splitn(if composite { 2 } else { 1 }, '|');
        parts.find_map(|part| self.check_part(attribute_type, part))
    }

    /// Whether a file hash is on a list that applies to its own type (`md5`, `sha1`, `sha256`):
    /// `empty-hashes` and its kind.
    pub fn check_hash(&self, hash: &FileHash) -> Option<Hit<'_>> {
        self.check(hash.kind().as_str(), hash.as_str())
    }

    /// Whether an observed indicator would be warninglisted as an attribute of `attribute_type`
    /// holding its canonical text (use a type of [`super::misp::NetworkType::for_kind`]).
    pub fn check_indicator(&self, indicator: &Indicator, attribute_type: &str) -> Option<Hit<'_>> {
        match indicator {
            // Addresses need no text for the CIDR lists, which hold nearly all address entries.
            Indicator::Ip(ip) => self
                .check_cidr_net(attribute_type, Cidr::from(*ip))
                .or_else(|| {
                    let mut buf = super::ip::IpText::default();
                    let text = ip.write_to(&mut buf);
                    self.check_part(attribute_type, text)
                }),
            other => self.check_part(attribute_type, &other.text()),
        }
    }

    /// Whether an observed indicator is on a list for *any* type of its kind.
    pub fn check_indicator_any(&self, indicator: &Indicator) -> Option<Hit<'_>> {
        let kind: IndicatorKind = indicator.kind();
        super::misp::NetworkType::for_kind(kind)
            .iter()
            .find_map(|t| self.check_indicator(indicator, t.as_str()))
    }

    fn info(&self, id: u16, attribute_type: &str) -> Option<&ListInfo> {
        self.lists
            .get(usize::from(id))
            .filter(|l| l.applies_to(attribute_type))
    }

    fn hit<'a>(&'a self, id: u16, t: &str, entry: Cow<'a, str>) -> Option<Hit<'a>> {
        let l = self.info(id, t)?;
        Some(Hit {
            list_id: &l.id,
            list_name: &l.name,
            entry,
        })
    }

    /// The first applicable list of the entry `key` in `map`.
    fn in_map<'a>(
        &'a self,
        map: &'a HashMap<Box<str>, Vec<u16>>,
        key: &str,
        t: &str,
    ) -> Option<Hit<'a>> {
        let (key, ids) = map.get_key_value(key)?;
        ids.iter()
            .find_map(|&id| self.hit(id, t, Cow::Borrowed(&**key)))
    }

    fn check_part(&self, t: &str, part: &str) -> Option<Hit<'_>> {
        self.in_map(&self.exact, part, t)
            .or_else(|| self.check_hostname(t, part))
            .or_else(|| self.check_cidr(t, part))
            .or_else(|| self.check_substring(t, part))
            .or_else(|| {
                self.regexes
                    .iter()
                    .filter(|(r, _, _)| r.is_match(part))
                    .find_map(|(_, id, e)| self.hit(*id, t, Cow::Borrowed(&**e)))
            })
    }

    fn check_hostname(&self, t: &str, part: &str) -> Option<Hit<'_>> {
        if self.hostnames.is_empty() {
            return None;
        }
        let host = match part.split_once("//") {
            Some((_, rest)) => rest,
            None => part,
        };
        let host = host.split('/').next().unwrap_or(host);
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = strip_port(host).trim_end_matches('.');
        let host: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        // Every suffix at a label boundary, shortest first, as MISP rebuilds them.
        let suffixes = host
            .rmatch_indices('.')
            .map(|(i, _)| &host[i + 1..])
            .chain(std::iter::once(&*host));
        suffixes
            .into_iter()
            .find_map(|suffix| self.in_map(&self.hostnames, suffix, t))
    }

    fn check_cidr(&self, t: &str, part: &str) -> Option<Hit<'_>> {
        if self.cidrs.is_empty() {
            return None;
        }
        self.check_cidr_net(t, Cidr::parse(part).ok()?)
    }

    fn check_cidr_net(&self, t: &str, value: Cidr) -> Option<Hit<'_>> {
        self.cidrs
            .containing(value.network())
            .iter()
            .filter(|(net, _, _)| net.prefix_len() <= value.prefix_len())
            .find_map(|(_, id, text)| {
                let entry = self.cidr_entries.get(*text as usize).map_or("", |e| &**e);
                self.hit(*id, t, Cow::Borrowed(entry))
            })
    }

    fn check_substring(&self, t: &str, part: &str) -> Option<Hit<'_>> {
        let ac = self.substrings.as_ref()?;
        ac.find_overlapping_iter(part).find_map(|m| {
            let (id, entry) = &self.substring_ids[m.pattern().as_usize()];
            self.hit(*id, t, Cow::Borrowed(&**entry))
        })
    }
}

/// `host:port` → `host`; an IPv6 literal in brackets keeps its colons.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
