//! Values for tests: globally looked-up indicators outside every range and name that
//! [`super::scope`] skips, so the engine's tests can match network records end to end.
//!
//! The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
//! 3fff::/20) and names (`example`, `example.com` …) that tests usually take are never looked up,
//! by design. Use these instead:
//! - IPv4 `1.2.3.0/24`: APNIC research space, globally routable, on no public MISP warninglist
//!   (checked against MISP/misp-warninglists at 84f0610, 2026-08-20), and the address issue 15
//!   itself writes. No test sends a packet to it: tests stay on loopback.
//! - IPv6 `2d00::/8`: global unicast space IANA has not allocated to any registry (IANA IPv6
//!   Global Unicast Address Assignments), so never routed, and not special-purpose.
//! - Names under `.test` (RFC 6761 §6.2: "users are free to use these test names as they would
//!   any other domain names"), which this project looks up like any public name.
//!
//! The test below fails if a change to the classification starts skipping them.

use super::{Host, Ip, Url};

/// `1.2.3.n`.
pub fn ipv4(n: u8) -> Ip {
    Ip::from(std::net::Ipv4Addr::new(1, 2, 3, n))
}

/// `2d00::n`.
pub fn ipv6(n: u16) -> Ip {
    Ip::from(std::net::Ipv6Addr::new(0x2d00, 0, 0, 0, 0, 0, 0, n))
}

/// `<label>.evil.test`, or `evil.test` for an empty label.
pub fn host(label: &str) -> Host {
    let name = if label.is_empty() {
        "evil.test".to_owned()
    } else {
        format!("{label}.evil.test")
    };
    Host::parse(&name).expect("a fixture label is a DNS label")
}

/// `http://<host(label)>/<path>`.
pub fn url(label: &str, path: &str) -> Url {
    Url::parse(&format!("http://{}/{path}", host(label))).expect("a fixture path is a URL path")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Indicator;

    #[test]
    fn fixtures_are_looked_up() {
        for i in [
            ipv4(0),
            ipv4(4),
            ipv4(255),
            ipv6(0),
            ipv6(1),
            ipv6(u16::MAX),
        ] {
            assert_eq!(Indicator::Ip(i).skip(), None, "{i}");
        }
        assert_eq!(Indicator::Host(host("")).skip(), None);
        assert_eq!(Indicator::Host(host("a.b")).skip(), None);
        assert_eq!(Indicator::Url(url("c2", "gate.php?id=1")).skip(), None);
        assert_eq!(url("", "x").as_str(), "http://evil.test/x");
    }
}
