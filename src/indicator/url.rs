//! [`Url`]: a URL in canonical form, for matching MISP `url` attributes.
//!
//! Canonical form: `[scheme://]host[:port]path[?query]`.
//! - The scheme is lowercased; it is optional, because MISP `url` values are often written
//!   without one (`evil.test/payload.exe`) and Defender's `RemoteUrl` often holds a bare host or
//!   `host:port`.
//! - The host is a [`Host`] or an [`Ip`] in canonical form (IPv6 in brackets; an IPv4-mapped
//!   literal is the IPv4 address, so `http://[::ffff:1.2.3.4]:80/` is `http://1.2.3.4/`). Only
//!   dotted-quad IPv4 is an address: the WHATWG shorthand forms (`0x7f000001`, `127.1`) are read
//!   as names, which are then single-label or numeric and never looked up.
//! - A port equal to the scheme's default (RFC 3986 §6.2.3) is dropped; other ports stay.
//! - User information (`user:password@`) is dropped: credentials seen in traffic must never be
//!   sent to MISP or written to a match.
//! - The fragment (`#…`) is dropped: it is never sent to a server (RFC 3986 §3.5), so the fetch
//!   is the same with or without it, and phishing links carry the victim's address there.
//! - An empty path is `/` (RFC 3986 §6.2.3).
//! - Path and query are kept byte for byte: no percent-decoding, no re-encoding, no dot-segment
//!   removal. MISP stores `url` values as entered (`AttributeValidationTool` does not touch them)
//!   and restSearch compares values exactly, so any rewriting here would make a URL differ from
//!   the spelling an analyst pasted; there is no encoding both sides are known to share.
//!
//! Matching ([`Url::matches`]) follows MISP's database, which compares `value1` under the
//! case-insensitive collation `utf8mb3_unicode_ci` (MISP/MISP `INSTALL/MYSQL.sql`): ASCII case
//! is ignored in the whole URL. A pattern without a scheme matches the URL under any scheme.

use std::fmt;

use super::host::{Host, HostError};
use super::ip::Ip;

/// Bytes of input a URL may have (common server limits are 8 KiB).
pub const MAX_URL_INPUT: usize = 8192;
const MAX_SCHEME: usize = 32;

/// Why a string is not a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("empty URL")]
    Empty,
    #[error("a URL has at most {MAX_URL_INPUT} bytes")]
    TooLong,
    #[error("a URL holds no spaces or control characters")]
    BadCharacter,
    #[error("a URL needs a host")]
    NoHost,
    #[error("bad host: {0}")]
    Host(#[from] HostError),
    #[error("bad IP literal in a URL")]
    IpLiteral,
    #[error("a port is a number from 0 to 65535")]
    Port,
    #[error("not a URL: no scheme, and not a host with an optional port and path")]
    NotAUrl,
}

/// A URL's host: a name or an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UrlHost {
    Name(Host),
    Ip(Ip),
}

/// A validated URL, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    text: Box<str>,
    /// End of `scheme://` in `text`, 0 without a scheme.
    authority_start: usize,
    host: UrlHost,
    port: Option<u16>,
    /// Where the path starts in `text`.
    path_start: usize,
}

impl Url {
    pub fn parse(value: &str) -> Result<Self, UrlError> {
        if value.is_empty() {
            return Err(UrlError::Empty);
        }
        if value.len() > MAX_URL_INPUT {
            return Err(UrlError::TooLong);
        }
        if value.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UrlError::BadCharacter);
        }
        let (scheme, rest) = split_scheme(value);
        let scheme = scheme.map(str::to_ascii_lowercase);
        let scheme = scheme.as_deref();
        let rest = rest.split('#').next().unwrap_or(rest);
        let authority_end = rest.find(['/', '?', '\\']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host_port = match authority.rsplit_once('@') {
            Some(_) if scheme.is_none() => return Err(UrlError::NotAUrl),
            Some((_userinfo, hp)) => hp,
            None => authority,
        };
        let (host, port) = parse_host_port(host_port)?;
        let port = port.filter(|p| Some(*p) != scheme.and_then(default_port));
        let mut text = String::with_capacity(value.len());
        if let Some(s) = scheme {
            text.push_str(s);
            text.push_str("://");
        }
        let authority_start = text.len();
        match &host {
            UrlHost::Name(h) => text.push_str(h.as_str()),
            UrlHost::Ip(ip) if ip.is_ipv4() => text.push_str(&ip.to_string()),
            UrlHost::Ip(ip) => {
                text.push('[');
                text.push_str(&ip.to_string());
                text.push(']');
            }
        }
        if let Some(p) = port {
            text.push(':');
            text.push_str(&p.to_string());
        }
        let path_start = text.len();
        if !path.starts_with(['/', '\\']) {
            text.push('/');
        }
        text.push_str(path);
        Ok(Url {
            text: text.into_boxed_str(),
            authority_start,
            host,
            port,
            path_start,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The lowercase scheme, if the URL had one.
    pub fn scheme(&self) -> Option<&str> {
        (self.authority_start > 0).then(|| &self.text[..self.authority_start - 3])
    }

    pub fn host(&self) -> &UrlHost {
        &self.host
    }

    /// The port written in the URL, unless it was the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The written port, else the scheme's default.
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or_else(|| self.scheme().and_then(default_port))
    }

    /// Everything after `scheme://`: what a scheme-less MISP value is compared with.
    pub fn without_scheme(&self) -> &str {
        &self.text[self.authority_start..]
    }

    /// Path and query, at least `/`.
    pub fn path_and_query(&self) -> &str {
        &self.text[self.path_start..]
    }

    /// Whether the URL says more than its host and port: a scheme, or a path other than `/`, or
    /// a query. A `RemoteUrl` without either is a host, not a URL.
    pub fn is_more_than_host(&self) -> bool {
        self.authority_start > 0 || self.path_and_query() != "/"
    }

    /// Whether this URL, taken as a MISP `url` pattern, matches `observed`: ASCII case ignored,
    /// and a pattern without a scheme matches under any scheme.
    pub fn matches(&self, observed: &Url) -> bool {
        match self.scheme() {
            Some(_) => self.as_str().eq_ignore_ascii_case(observed.as_str()),
            None => self
                .without_scheme()
                .eq_ignore_ascii_case(observed.without_scheme()),
        }
    }

    /// The spellings to ask an online search for, so that it finds what `matches` would:
    /// restSearch compares whole values, and MISP `url` values are written with and without a
    /// scheme and with and without the `/` of an empty path. Slices of the canonical text: the
    /// canonical form first, at most four, distinct.
    pub fn search_spellings<'a>(&'a self) -> impl Iterator<Item = &'a str> + 'a {
        let bare_root = self.path_and_query() == "/";
        let full = self.as_str();
        let schemeless = (self.authority_start > 0).then(|| self.without_scheme());
        let trim = |s: Option<&'a str>| s.filter(|_| bare_root)?.strip_suffix('/');
        [Some(full), trim(Some(full)), schemeless, trim(schemeless)]
            .into_iter()
            .flatten()
    }

    /// The host part of the canonical text (IPv6 in brackets).
    pub fn host_text(&self) -> &str {
        let authority = &self.text[self.authority_start..self.path_start];
        match self.port {
            Some(_) => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
            None => authority,
        }
    }
}

/// `scheme://` (RFC 3986 §3.1 syntax) and the rest, or no scheme.
fn split_scheme(value: &str) -> (Option<&str>, &str) {
    let Some(i) = value.find("://") else {
        return (None, value);
    };
    let scheme = &value[..i];
    let ok = scheme.len() <= MAX_SCHEME
        && scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if ok {
        (Some(scheme), &value[i + 3..])
    } else {
        (None, value)
    }
}

fn parse_host_port(hp: &str) -> Result<(UrlHost, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let (literal, after) = rest.split_once(']').ok_or(UrlError::IpLiteral)?;
        // RFC 6874 writes a zone id as `%25zone`; it is dropped.
        let literal = literal.split_once("%25").map_or(literal, |(a, _)| a);
        let ip = Ip::parse(literal).map_err(|_| UrlError::IpLiteral)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::Port)?),
        };
        (UrlHost::Ip(ip), port)
    } else {
        let (h, p) = match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        };
        if h.is_empty() {
            return Err(UrlError::NoHost);
        }
        let host = match Ip::parse(h) {
            Ok(ip) if ip.is_ipv4() && !h.contains(':') => UrlHost::Ip(ip),
            _ => UrlHost::Name(Host::parse(h)?),
        };
        (host, p)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| UrlError::Port)?)
        }
        Some(_) => return Err(UrlError::Port),
    };
    Ok((host, port))
}

/// The default port of the schemes with one (WHATWG URL "special schemes", plus ftp).
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for UrlHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlHost::Name(h) => h.fmt(f),
            UrlHost::Ip(ip) => ip.fmt(f),
        }
    }
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
