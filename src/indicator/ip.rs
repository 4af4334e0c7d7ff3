//! [`Ip`]: an IPv4 or IPv6 address in canonical form, and [`Cidr`]: a network in canonical form.
//!
//! Canonical text is what the standard library prints: dotted quad for IPv4, RFC 5952 for IPv6
//! (lowercase, longest zero run compressed, leftmost on a tie, a single zero group never
//! compressed). An IPv4-mapped address (`::ffff:1.2.3.4`, RFC 4291 §2.5.5.2), which Defender
//! writes for IPv4 peers of dual-stack sockets, is the IPv4 address it carries. MISP compresses
//! IPv6 the same way on save (`AttributeValidationTool::normalizeIp`, `inet_pton` + `inet_ntop`,
//! MISP/MISP `app/Lib/Tools/AttributeValidationTool.php`) but keeps the mapped form; both sides
//! of a local match go through [`Ip::parse`], so they agree.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Bytes of input an address may have: the longest IPv6 text with brackets and a zone id fits.
pub const MAX_IP_INPUT: usize = 64;

/// Why a string is not an IP address or network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    #[error("empty address")]
    Empty,
    #[error("an address has at most {MAX_IP_INPUT} characters")]
    TooLong,
    #[error("not an IPv4 or IPv6 address")]
    Invalid,
    #[error("a network prefix length is a number no larger than {max}")]
    BadPrefix { max: u8 },
}

/// An IP address, IPv4-mapped IPv6 unmapped. Two spellings of one address compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ip(IpAddr);

impl Ip {
    /// Accepts dotted-quad IPv4 (no leading zeros, no shortened or numeric forms) and any IPv6
    /// text, with or without brackets, with a zone id (`fe80::1%eth0`, dropped: a zone names a
    /// local interface, never part of an indicator).
    pub fn parse(value: &str) -> Result<Self, IpError> {
        if value.is_empty() {
            return Err(IpError::Empty);
        }
        if value.len() > MAX_IP_INPUT {
            return Err(IpError::TooLong);
        }
        let bare = match value.strip_prefix('[') {
            Some(rest) => rest.strip_suffix(']').ok_or(IpError::Invalid)?,
            None => value,
        };
        let addr = match bare.split_once('%') {
            Some((v6, zone)) if bare.contains(':') && valid_zone(zone) => {
                IpAddr::V6(Ipv6Addr::from_str(v6).map_err(|_| IpError::Invalid)?)
            }
            Some(_) => return Err(IpError::Invalid),
            None if bare.len() < value.len() => {
                // Brackets are for IPv6 only.
                IpAddr::V6(Ipv6Addr::from_str(bare).map_err(|_| IpError::Invalid)?)
            }
            None => IpAddr::from_str(bare).map_err(|_| IpError::Invalid)?,
        };
        Ok(Self::from(addr))
    }

    pub const fn addr(self) -> IpAddr {
        self.0
    }

    pub const fn is_ipv4(self) -> bool {
        self.0.is_ipv4()
    }

    /// The canonical text without allocating: write it into a stack buffer.
    pub fn write_to<'b>(&self, buf: &'b mut IpText) -> &'b str {
        use std::io::Write;
        let mut cursor = std::io::Cursor::new(&mut buf.0[..]);
        // 45 bytes is the longest IPv6 text (RFC 4291 with an embedded IPv4); the buffer has 48.
        let _ = write!(cursor, "{}", self.0);
        let len = cursor.position() as usize;
        std::str::from_utf8(&buf.0[..len]).unwrap_or_default()
    }
}

/// A stack buffer for [`Ip::write_to`].
#[derive(Debug)]
pub struct IpText([u8; 48]);

impl Default for IpText {
    fn default() -> Self {
        Self([0; 48])
    }
}

fn valid_zone(zone: &str) -> bool {
    !zone.is_empty()
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl From<IpAddr> for Ip {
    fn from(addr: IpAddr) -> Self {
        Ip(addr.to_canonical())
    }
}

impl From<Ipv4Addr> for Ip {
    fn from(addr: Ipv4Addr) -> Self {
        Ip(IpAddr::V4(addr))
    }
}

impl From<Ipv6Addr> for Ip {
    fn from(addr: Ipv6Addr) -> Self {
        Ip::from(IpAddr::V6(addr))
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A network: an address and a prefix length, host bits cleared. A full-length prefix (`/32`,
/// `/128`) is a single address and prints without its length, as MISP saves it
/// (`normalizeIp`). An IPv6 network inside `::ffff:0:0/96` is the IPv4 network it maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Accepts `address/length` or a bare address (a single-address network). Host bits set in
    /// the address (`10.0.0.1/24`, which MISP accepts) are cleared.
    pub fn parse(value: &str) -> Result<Self, IpError> {
        let Some((addr, len)) = value.split_once('/') else {
            return Ok(Self::from(Ip::parse(value)?));
        };
        let raw = Ip::parse(addr)?;
        let original_v6 = addr.contains(':');
        let max = if original_v6 { 128 } else { 32 };
        let digits_ok =
            !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit());
        let len: u8 = match len.parse() {
            Ok(n) if digits_ok && n <= max => n,
            _ => return Err(IpError::BadPrefix { max }),
        };
        let net = match raw.addr() {
            IpAddr::V4(v4) if original_v6 => {
                // `::ffff:a.b.c.d/len`: the mapped prefix covers IPv4 only from /96 on.
                if len < 96 {
                    let v6 = v4.to_ipv6_mapped();
                    IpNet::V6(Ipv6Net::new(v6, len).map_err(|_| IpError::BadPrefix { max })?)
                } else {
                    IpNet::V4(Ipv4Net::new(v4, len - 96).map_err(|_| IpError::BadPrefix { max })?)
                }
            }
            IpAddr::V4(v4) => {
                IpNet::V4(Ipv4Net::new(v4, len).map_err(|_| IpError::BadPrefix { max })?)
            }
            IpAddr::V6(v6) => {
                IpNet::V6(Ipv6Net::new(v6, len).map_err(|_| IpError::BadPrefix { max })?)
            }
        };
        Ok(Cidr(net.trunc()))
    }

    pub const fn net(&self) -> IpNet {
        self.0
    }

    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether this is a single address (`/32`, `/128`).
    pub fn is_single(&self) -> bool {
        self.0.prefix_len() == self.0.max_prefix_len()
    }

    pub fn contains(&self, ip: Ip) -> bool {
        self.0.contains(&ip.addr())
    }

    /// The first address of the network.
    pub fn network(&self) -> Ip {
        Ip(self.0.network())
    }
}

impl From<Ip> for Cidr {
    fn from(ip: Ip) -> Self {
        Cidr(IpNet::from(ip.addr()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon(s: &str) -> String {
        Ip::parse(s).unwrap().to_string()
    }

    #[test]
    fn addresses_take_their_canonical_text() {
        let cases = [
            ("20.42.65.85", "20.42.65.85"),
            ("::ffff:1.2.3.4", "1.2.3.4"),
            ("::FFFF:0102:0304", "1.2.3.4"),
            ("[::ffff:1.2.3.4]", "1.2.3.4"),
            ("2001:8b0:1f05:0:0:0:0:1077", "2001:8b0:1f05::1077"),
            (
                "2001:0DB8:0000:0000:0001:0000:0000:0001",
                "2001:db8::1:0:0:1",
            ),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            (
                "[2001:67c:e60:c0c:192:42:116:55]",
                "2001:67c:e60:c0c:192:42:116:55",
            ),
            ("fe80::1%eth0", "fe80::1"),
            ("[fe80::1%25]", "fe80::1%25".split('%').next().unwrap()),
            ("::", "::"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn malformed_addresses_are_errors() {
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "0x7f.0.0.1",
            "2130706433",
            "1.2.3.4%eth0",
            "[1.2.3.4]",
            "[::1",
            "::1]",
            "fe80::1%",
            "fe80::1%a b",
            ":::",
            "1.2.3.4 ",
            " 1.2.3.4",
            "g::1",
        ] {
            assert!(Ip::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Ip::parse(&"1".repeat(10_000)), Err(IpError::TooLong));
    }

    #[test]
    fn networks_clear_host_bits_and_single_addresses_print_bare() {
        let cases = [
            ("203.0.113.0/24", "203.0.113.0/24"),
            ("10.0.0.1/8", "10.0.0.0/8"),
            ("1.2.3.4/32", "1.2.3.4"),
            ("1.2.3.4", "1.2.3.4"),
            ("2001:DB8::/32", "2001:db8::/32"),
            ("2001:db8::1/128", "2001:db8::1"),
            ("::ffff:1.2.3.0/120", "1.2.3.0/24"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
            ("0.0.0.0/0", "0.0.0.0/0"),
        ];
        for (input, want) in cases {
            assert_eq!(Cidr::parse(input).unwrap().to_string(), want, "{input}");
        }
        for bad in [
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "::/129",
            "x/8",
            "1.2.3.4/0008",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
        let net = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(net.contains(Ip::parse("203.0.113.200").unwrap()));
        assert!(net.contains(Ip::parse("::ffff:203.0.113.9").unwrap()));
        assert!(!net.contains(Ip::parse("203.0.114.1").unwrap()));
    }

    #[test]
    fn the_stack_text_equals_display() {
        let mut buf = IpText::default();
        for s in [
            "255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
            "1:2:3:4:5:6:7:8",
        ] {
            let ip = Ip::parse(s).unwrap();
            assert_eq!(ip.write_to(&mut buf), ip.to_string());
        }
    }

    proptest! {
        #[test]
        fn canonical_text_parses_back_to_the_same_address(addr in any::<IpAddr>()) {
            let ip = Ip::from(addr);
            let again = Ip::parse(&ip.to_string()).unwrap();
            prop_assert_eq!(again, ip);
            prop_assert_eq!(again.to_string(), ip.to_string());
        }

        #[test]
        fn any_network_text_is_idempotent(addr in any::<IpAddr>(), len in 0u8..=128) {
            let len = if addr.is_ipv4() { len % 33 } else { len };
            let text = format!("{addr}/{len}");
            let net = Cidr::parse(&text).unwrap();
            prop_assert_eq!(Cidr::parse(&net.to_string()).unwrap(), net);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,70}") {
            let _ = Ip::parse(&s);
            let _ = Cidr::parse(&s);
        }
    }
}
