//! Network indicators: IP addresses, host names, URLs and sender addresses, the domain layer
//! that matching them against MISP builds on. Pure: no HTTP, no engine, no configuration.
//!
//! - [`ip`], [`host`], [`url`], [`email`]: newtypes whose `parse` yields the canonical form used
//!   for lookups, cache keys and MISP requests; bad input is an error value, and every parse is
//!   bounded in input length before any work.
//! - [`scope`]: what is never looked up (private, loopback, documentation … ranges and local
//!   names), with the RFC for each, counted by reason.
//! - [`domain`]: registrable domains (Public Suffix List) and the names a host is looked up
//!   under; [`domain::HostIndex`] for local sets (`domain` covers subdomains, `hostname` exact).
//! - [`cidr`]: [`cidr::CidrIndex`], which stored networks contain an address.
//! - [`misp`]: MISP network attribute values parsed into the patterns they match.
//! - [`warninglist`]: a misp-warninglists folder read and matched as MISP does.
//! - [`columns`]: which Defender columns carry which indicators, and their extraction.
//! - [`fixtures`]: values for tests that are outside every skipped range.
//!
//! The rules are written down for users in `docs/network-indicators.md`.

pub mod cidr;
pub mod columns;
pub mod domain;
pub mod email;
pub mod fixtures;
pub mod host;
pub mod ip;
pub mod misp;
pub mod scope;
pub mod url;
pub mod warninglist;

use std::borrow::Cow;
use std::fmt;

pub use email::Email;
pub use host::Host;
pub use ip::{Cidr, Ip};
pub use scope::Skip;
pub use url::{Url, UrlHost};

/// What kind of network indicator a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    Ip,
    Host,
    Url,
    Email,
}

impl IndicatorKind {
    /// A stable label for match records and counters.
    pub const fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Host => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Email => "email",
        }
    }

    /// Defender's `indicatorType` for an indicator push, where it has one (Microsoft Learn,
    /// "Submit or Update Indicator API": `IpAddress`, `DomainName`, `Url`). Defender takes no
    /// CIDR: push the observed address, never the MISP network.
    pub const fn defender_type(self) -> Option<&'static str> {
        match self {
            IndicatorKind::Ip => Some("IpAddress"),
            IndicatorKind::Host => Some("DomainName"),
            IndicatorKind::Url => Some("Url"),
            IndicatorKind::Email => None,
        }
    }
}

/// One network indicator in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Indicator {
    Ip(Ip),
    Host(Host),
    Url(Url),
    Email(Email),
}

/// Why a free-form value is no indicator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndicatorError {
    #[error("not an IP address, host name, URL or email address")]
    Unrecognised,
    #[error("{0}")]
    Host(#[from] host::HostError),
    #[error("{0}")]
    Url(#[from] url::UrlError),
    #[error("{0}")]
    Email(#[from] email::EmailError),
}

impl Indicator {
    /// Reads a value whose kind is not known (an allowlist entry, a CLI argument): an address,
    /// else a URL when it has `://`, a `/` or a `\`, else an email address when it has `@`, else
    /// a name.
    pub fn parse(value: &str) -> Result<Self, IndicatorError> {
        if let Ok(ip) = Ip::parse(value) {
            return Ok(Indicator::Ip(ip));
        }
        if value.contains("://") || value.contains(['/', '\\']) {
            return Ok(Indicator::Url(Url::parse(value)?));
        }
        if value.contains('@') {
            return Ok(Indicator::Email(Email::parse(value)?));
        }
        if value.is_empty() {
            return Err(IndicatorError::Unrecognised);
        }
        Ok(Indicator::Host(Host::parse(value)?))
    }

    pub fn kind(&self) -> IndicatorKind {
        match self {
            Indicator::Ip(_) => IndicatorKind::Ip,
            Indicator::Host(_) => IndicatorKind::Host,
            Indicator::Url(_) => IndicatorKind::Url,
            Indicator::Email(_) => IndicatorKind::Email,
        }
    }

    /// Why this indicator is never looked up, if it is not: an address's range, a name's
    /// special use, a URL's or an address's host.
    pub fn skip(&self) -> Option<Skip> {
        match self {
            Indicator::Ip(ip) => scope::ip_skip(*ip),
            Indicator::Host(h) => scope::host_skip(h),
            Indicator::Url(u) => match u.host() {
                UrlHost::Ip(ip) => scope::ip_skip(*ip),
                UrlHost::Name(h) => scope::host_skip(h),
            },
            Indicator::Email(e) => Host::parse(e.domain())
                .ok()
                .and_then(|h| scope::host_skip(&h)),
        }
    }

    /// The canonical text; borrowed except for an address.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Indicator::Ip(ip) => Cow::Owned(ip.to_string()),
            Indicator::Host(h) => Cow::Borrowed(h.as_str()),
            Indicator::Url(u) => Cow::Borrowed(u.as_str()),
            Indicator::Email(e) => Cow::Borrowed(e.as_str()),
        }
    }
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Indicator::Ip(ip) => ip.fmt(f),
            Indicator::Host(h) => h.fmt(f),
            Indicator::Url(u) => u.fmt(f),
            Indicator::Email(e) => e.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn free_form_values_are_read_by_their_shape() {
        let kind = |s| Indicator::parse(s).map(|i| i.kind());
        assert_eq!(kind("::ffff:1.2.3.4"), Ok(IndicatorKind::Ip));
        assert_eq!(kind("Evil.Test."), Ok(IndicatorKind::Host));
        assert_eq!(kind("evil.test/x"), Ok(IndicatorKind::Url));
        // Found by fuzzing: a backslash path has no `/`, yet is a URL both ways.
        let odd = Indicator::parse("UUUe\\.#frag").unwrap();
        assert_eq!(odd.to_string(), "uuue\\.");
        assert_eq!(Indicator::parse(&odd.to_string()), Ok(odd));
        assert_eq!(kind("https://evil.test"), Ok(IndicatorKind::Url));
        assert_eq!(kind("a@evil.test"), Ok(IndicatorKind::Email));
        assert_eq!(kind(""), Err(IndicatorError::Unrecognised));
        assert!(kind("not a host").is_err());
        assert_eq!(
            Indicator::parse("::ffff:1.2.3.4").unwrap().text(),
            "1.2.3.4"
        );
    }

    #[test]
    fn a_url_or_address_is_skipped_for_its_host() {
        let skip = |s| Indicator::parse(s).unwrap().skip();
        assert_eq!(skip("http://10.0.0.5/x"), Some(Skip::Private));
        assert_eq!(skip("http://dc01.corp.local/x"), Some(Skip::LinkLocal));
        assert_eq!(skip("admin@printer.home.arpa"), Some(Skip::LocalName));
        assert_eq!(skip("http://evil.test/x"), None);
        assert_eq!(IndicatorKind::Host.defender_type(), Some("DomainName"));
        assert_eq!(IndicatorKind::Email.defender_type(), None);
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_indicator(s in "\\PC{0,60}") {
            if let Ok(i) = Indicator::parse(&s) {
                prop_assert_eq!(Indicator::parse(&i.to_string()).unwrap(), i);
            }
        }
    }
}
