//! MISP attribute values of the network types, parsed into the [`Pattern`]s they match.
//!
//! Types and meanings are MISP's (`typeDefinitions` in MISP/MISP `app/Model/MispAttribute.php`,
//! exported as PyMISP `pymisp/data/describeTypes.json`); the normalisation mirrors what MISP does
//! on save (`modifyBeforeValidation` and `validate` in `app/Lib/Tools/AttributeValidationTool.php`):
//!
//! | type | MISP on save | here |
//! |---|---|---|
//! | `ip-src`, `ip-dst` | IPv6 compressed; `/32` and `/128` dropped; CIDR kept | address or network ([`Cidr`]), host bits cleared |
//! | `ip-src\|port`, `ip-dst\|port` | `ip:port`, `[v6]:port` … rewritten `ip\|port`; port 1–65535 | address and port; the port must agree where the record has one |
//! | `domain` | lowercased, dots trimmed, punycode if not valid | [`Host`] with at least one dot; covers its subdomains |
//! | `hostname` | lowercased | [`Host`]; matches exactly |
//! | `domain\|ip` | both halves as above | the domain half as `domain`, the IP half as `ip-dst` |
//! | `hostname\|port` | lowercased, `:` → `\|` | [`Host`] exactly, port must agree |
//! | `url` | untouched | [`Url`] (see its module for what is normalised) |
//! | `email-src` | lowercased | [`Email`]: matches the sender *address* columns |
//!
//! `email-src` is a sender mailbox, so it matches `SenderFromAddress`/`SenderMailFromAddress`,
//! not the sender domain columns: one bad address at a mail provider must not flag every sender
//! of that provider. The sender domains match `domain` and `hostname` attributes.
//!
//! `ip-src` and `ip-dst` both match any remote address column: Defender's direction is per
//! action (an inbound accept and an outbound connect both fill `RemoteIP`), and the peers this
//! project is compared with (Sentinel's TI map rules, MISP-to-Defender sync) do the same. The
//! match carries the attribute type, so an analyst sees which it was.

use super::email::Email;
use super::host::Host;
use super::ip::{Cidr, Ip};
use super::url::Url;
use super::{Indicator, IndicatorKind};
use crate::indicator::domain::lookup_names;

/// The MISP attribute types of network indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetworkType {
    IpSrc,
    IpDst,
    IpSrcPort,
    IpDstPort,
    Domain,
    Hostname,
    DomainIp,
    HostnamePort,
    Url,
    EmailSrc,
}

impl NetworkType {
    pub const ALL: [NetworkType; 10] = [
        NetworkType::IpSrc,
        NetworkType::IpDst,
        NetworkType::IpSrcPort,
        NetworkType::IpDstPort,
        NetworkType::Domain,
        NetworkType::Hostname,
        NetworkType::DomainIp,
        NetworkType::HostnamePort,
        NetworkType::Url,
        NetworkType::EmailSrc,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            NetworkType::IpSrc => "ip-src",
            NetworkType::IpDst => "ip-dst",
            NetworkType::IpSrcPort => "ip-src|port",
            NetworkType::IpDstPort => "ip-dst|port",
            NetworkType::Domain => "domain",
            NetworkType::Hostname => "hostname",
            NetworkType::DomainIp => "domain|ip",
            NetworkType::HostnamePort => "hostname|port",
            NetworkType::Url => "url",
            NetworkType::EmailSrc => "email-src",
        }
    }

    pub fn from_misp(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == kind)
    }

    /// The types an observed indicator of `kind` can match: the `type` filter of an online
    /// search for it.
    pub const fn for_kind(kind: IndicatorKind) -> &'static [NetworkType] {
        match kind {
            IndicatorKind::Ip => &[
                NetworkType::IpSrc,
                NetworkType::IpDst,
                NetworkType::IpSrcPort,
                NetworkType::IpDstPort,
                NetworkType::DomainIp,
            ],
            IndicatorKind::Host => &[
                NetworkType::Domain,
                NetworkType::Hostname,
                NetworkType::DomainIp,
                NetworkType::HostnamePort,
            ],
            IndicatorKind::Url => &[NetworkType::Url],
            IndicatorKind::Email => &[NetworkType::EmailSrc],
        }
    }
}

/// The MISP type names of [`NetworkType::ALL`].
pub const NETWORK_ATTRIBUTE_TYPES: [&str; 10] = {
    let mut out = [""; 10];
    let mut i = 0;
    while i < 10 {
        out[i] = NetworkType::ALL[i].as_str();
        i += 1;
    }
    out
};

/// Why a MISP value of a network type is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    #[error("`{0}` is not a network attribute type")]
    NotNetwork(String),
    #[error("a {0} value is two parts separated by `|`")]
    NotComposite(&'static str),
    #[error("bad address: {0}")]
    Ip(#[from] super::ip::IpError),
    #[error("a CIDR range is not allowed in a {0} value")]
    RangeNotAllowed(&'static str),
    #[error("bad name: {0}")]
    Host(#[from] super::host::HostError),
    #[error("a domain has at least two labels")]
    SingleLabelDomain,
    #[error("a port is a number from 1 to 65535")]
    Port,
    #[error("bad URL: {0}")]
    Url(#[from] super::url::UrlError),
    #[error("bad address: {0}")]
    Email(#[from] super::email::EmailError),
}

/// What one half of a MISP value matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// An address or network; `port` set for the `|port` types.
    Ip {
        net: Cidr,
        port: Option<u16>,
    },
    /// A name and its subdomains (down to the registrable domain of the observed host).
    Domain(Host),
    /// Exactly this name; `port` set for `hostname|port`.
    Hostname {
        host: Host,
        port: Option<u16>,
    },
    Url(Url),
    Email(Email),
}

/// Parses a MISP value of a network type into the patterns it matches (two for `domain|ip`).
/// Surrounding whitespace is ignored.
pub fn parse_attribute(kind: &str, value: &str) -> Result<Vec<Pattern>, AttributeError> {
    let t = NetworkType::from_misp(kind).ok_or_else(|| AttributeError::NotNetwork(kind.into()))?;
    parse_value(t, value.trim())
}

/// [`parse_attribute`] for a known type.
pub fn parse_value(t: NetworkType, v: &str) -> Result<Vec<Pattern>, AttributeError> {
    let name = t.as_str();
    Ok(match t {
        NetworkType::IpSrc | NetworkType::IpDst => vec![Pattern::Ip {
            net: Cidr::parse(v)?,
            port: None,
        }],
        NetworkType::IpSrcPort | NetworkType::IpDstPort => {
            let (ip, port) = split_ip_port(v, name)?;
            vec![Pattern::Ip {
                net: Cidr::from(ip),
                port: Some(port),
            }]
        }
        NetworkType::Domain => vec![Pattern::Domain(domain(v)?)],
        NetworkType::Hostname => vec![Pattern::Hostname {
            host: Host::parse(v)?,
            port: None,
        }],
        NetworkType::DomainIp => {
            let (d, ip) = v
                .split_once('|')
                .ok_or(AttributeError::NotComposite(name))?;
            vec![
                Pattern::Domain(domain(d)?),
                Pattern::Ip {
                    net: Cidr::from(single_ip(ip, name)?),
                    port: None,
                },
            ]
        }
        NetworkType::HostnamePort => {
            let (h, p) = v
                .split_once('|')
                .or_else(|| v.rsplit_once(':'))
                .ok_or(AttributeError::NotComposite(name))?;
            vec![Pattern::Hostname {
                host: Host::parse(h)?,
                port: Some(port(p)?),
            }]
        }
        NetworkType::Url => vec![Pattern::Url(Url::parse(v)?)],
        NetworkType::EmailSrc => vec![Pattern::Email(Email::parse(v)?)],
    })
}

/// A `domain` value: MISP trims dots at both ends; a domain has at least two labels
/// (`isDomainValid`).
fn domain(v: &str) -> Result<Host, AttributeError> {
    let host = Host::parse(v.trim_start_matches('.'))?;
    if host.has_dot() {
        Ok(host)
    } else {
        Err(AttributeError::SingleLabelDomain)
    }
}

fn single_ip(v: &str, name: &'static str) -> Result<Ip, AttributeError> {
    if v.contains('/') {
        return Err(AttributeError::RangeNotAllowed(name));
    }
    Ok(Ip::parse(v)?)
}

/// `ip|port` as MISP stores it; `ipv4:port` and `[ipv6]:port` as MISP accepts them on input.
fn split_ip_port(v: &str, name: &'static str) -> Result<(Ip, u16), AttributeError> {
    let (ip, p) = if let Some(pair) = v.split_once('|') {
        pair
    } else if let Some(rest) = v.strip_prefix('[') {
        let (ip, after) = rest
            .split_once("]:")
            .ok_or(AttributeError::NotComposite(name))?;
        (ip, after)
    } else if v.matches(':').count() == 1 {
        v.split_once(':')
            .ok_or(AttributeError::NotComposite(name))?
    } else {
        return Err(AttributeError::NotComposite(name));
    };
    Ok((single_ip(ip, name)?, port(p)?))
}

/// MISP's `isPortValid`: digits, 1 to 65535.
fn port(p: &str) -> Result<u16, AttributeError> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(AttributeError::Port),
    }
}

impl Pattern {
    /// Whether an observed indicator, with the port of its record if any, matches. The same
    /// rule serves local indexes and the filtering of online answers (restSearch returns any
    /// attribute whose `value1` or `value2` equals a requested value, whatever its type).
    pub fn matches(&self, observed: &Indicator, observed_port: Option<u16>) -> bool {
        let port_agrees =
            |p: &Option<u16>| p.is_none() || observed_port.is_none() || *p == observed_port;
        match (self, observed) {
            (Pattern::Ip { net, port }, Indicator::Ip(ip)) => {
                net.contains(*ip) && port_agrees(port)
            }
            (Pattern::Domain(d), Indicator::Host(h)) => lookup_names(h).any(|n| n == d.as_str()),
            (Pattern::Hostname { host, port }, Indicator::Host(h)) => {
                host == h && port_agrees(port)
            }
            (Pattern::Url(p), Indicator::Url(u)) => p.matches(u),
            (Pattern::Email(e), Indicator::Email(o)) => e == o,
            _ => false,
        }
    }
}

#[cfg(test)]
#[path = "misp_tests.rs"]
mod tests;
