//! What is never looked up: addresses that do not leave the site or the host, documentation
//! values, and names that are not on the public DNS. Each is counted under a [`Skip`] reason
//! instead of being sent to MISP, as digests of empty files are for hashes.
//!
//! The ranges are those of the IANA special-purpose address registries whose "Globally
//! Reachable" is false (RFC 6890 and the registries at iana.org/assignments/iana-ipv4-special-
//! registry and iana-ipv6-special-registry), each with the RFC that reserves it. Names follow the
//! IANA special-use domain names registry (RFC 6761) and ICANN's reservation of `internal`.
//!
//! Testing space is *not* skipped where the RFCs leave it usable: `.test` names (RFC 6761 §6.2:
//! "users are free to use these test names as they would any other domain names") are looked up
//! like any other, so tests can use them; see [`super::fixtures`].
//! `MATCH_ALLOWLIST` is applied later, by the engine.

use std::net::IpAddr;

use super::host::{Host, is_within};
use super::ip::Ip;

/// Why an indicator is never looked up. The text is a stable counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    Private,
    Loopback,
    LinkLocal,
    Multicast,
    Unspecified,
    Broadcast,
    /// Shared address space, carrier-grade NAT (RFC 6598).
    Shared,
    Documentation,
    Benchmarking,
    /// Reserved by the IETF or IANA, not globally reachable.
    Reserved,
    /// A name without a dot: a local or NetBIOS name, never a public DNS name.
    SingleLabel,
    /// A special-use name that public DNS never resolves (`.local`, `.internal`, `home.arpa` …).
    LocalName,
}

impl Skip {
    pub const ALL: [Skip; 12] = [
        Skip::Private,
        Skip::Loopback,
        Skip::LinkLocal,
        Skip::Multicast,
        Skip::Unspecified,
        Skip::Broadcast,
        Skip::Shared,
        Skip::Documentation,
        Skip::Benchmarking,
        Skip::Reserved,
        Skip::SingleLabel,
        Skip::LocalName,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Skip::Private => "private",
            Skip::Loopback => "loopback",
            Skip::LinkLocal => "link-local",
            Skip::Multicast => "multicast",
            Skip::Unspecified => "unspecified",
            Skip::Broadcast => "broadcast",
            Skip::Shared => "shared",
            Skip::Documentation => "documentation",
            Skip::Benchmarking => "benchmarking",
            Skip::Reserved => "reserved",
            Skip::SingleLabel => "single-label",
            Skip::LocalName => "local-name",
        }
    }

    /// Index into [`Skip::ALL`], for counters held in an array.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// One special-purpose range: network, prefix length, reason, source.
#[derive(Debug, Clone, Copy)]
pub struct Range<A> {
    pub network: A,
    pub len: u8,
    pub skip: Skip,
    pub source: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, skip: Skip, source: &'static str) -> Range<u32> {
    let network = (a as u32) << 24 | (b as u32) << 16 | (c as u32) << 8 | d as u32;
    Range {
        network,
        len,
        skip,
        source,
    }
}

const fn v6(hi: u64, len: u8, skip: Skip, source: &'static str) -> Range<u128> {
    Range {
        network: (hi as u128) << 64,
        len,
        skip,
        source,
    }
}

/// IPv4 ranges never looked up. The first that contains an address gives its reason.
pub const IPV4_RANGES: [Range<u32>; 15] = [
    v4(255, 255, 255, 255, 32, Skip::Broadcast, "RFC 919, RFC 8190"),
    v4(
        0,
        0,
        0,
        0,
        8,
        Skip::Unspecified,
        "RFC 791 §3.2 (\"this network\")",
    ),
    v4(10, 0, 0, 0, 8, Skip::Private, "RFC 1918"),
    v4(100, 64, 0, 0, 10, Skip::Shared, "RFC 6598"),
    v4(127, 0, 0, 0, 8, Skip::Loopback, "RFC 1122 §3.2.1.3"),
    v4(169, 254, 0, 0, 16, Skip::LinkLocal, "RFC 3927"),
    v4(172, 16, 0, 0, 12, Skip::Private, "RFC 1918"),
    // Includes the few globally reachable anycast services (PCP, TURN): never an indicator.
    v4(
        192,
        0,
        0,
        0,
        24,
        Skip::Reserved,
        "RFC 6890 §2.1 (IETF protocol assignments)",
    ),
    v4(
        192,
        0,
        2,
        0,
        24,
        Skip::Documentation,
        "RFC 5737 (TEST-NET-1)",
    ),
    v4(192, 168, 0, 0, 16, Skip::Private, "RFC 1918"),
    v4(198, 18, 0, 0, 15, Skip::Benchmarking, "RFC 2544"),
    v4(
        198,
        51,
        100,
        0,
        24,
        Skip::Documentation,
        "RFC 5737 (TEST-NET-2)",
    ),
    v4(
        203,
        0,
        113,
        0,
        24,
        Skip::Documentation,
        "RFC 5737 (TEST-NET-3)",
    ),
    v4(224, 0, 0, 0, 4, Skip::Multicast, "RFC 5771"),
    v4(240, 0, 0, 0, 4, Skip::Reserved, "RFC 1112 §4"),
];

/// IPv6 ranges never looked up (IPv4-mapped addresses are unmapped by [`Ip::parse`] first).
pub const IPV6_RANGES: [Range<u128>; 13] = [
    Range {
        network: 0,
        len: 128,
        skip: Skip::Unspecified,
        source: "RFC 4291 §2.5.2",
    },
    Range {
        network: 1,
        len: 128,
        skip: Skip::Loopback,
        source: "RFC 4291 §2.5.3",
    },
    Range {
        network: 0,
        len: 96,
        skip: Skip::Reserved,
        source: "RFC 4291 §2.5.5.1 (IPv4-compatible, deprecated)",
    },
    v6(
        0x0064_ff9b_0001_0000,
        48,
        Skip::Private,
        "RFC 8215 (local-use NAT64)",
    ),
    v6(
        0x0100_0000_0000_0000,
        64,
        Skip::Reserved,
        "RFC 6666 (discard-only)",
    ),
    v6(0x2001_0002_0000_0000, 48, Skip::Benchmarking, "RFC 5180"),
    v6(0x2001_0db8_0000_0000, 32, Skip::Documentation, "RFC 3849"),
    v6(0x3fff_0000_0000_0000, 20, Skip::Documentation, "RFC 9637"),
    v6(
        0x5f00_0000_0000_0000,
        16,
        Skip::Reserved,
        "RFC 9602 (SRv6 SIDs)",
    ),
    v6(
        0xfc00_0000_0000_0000,
        7,
        Skip::Private,
        "RFC 4193 (unique local)",
    ),
    v6(
        0xfe80_0000_0000_0000,
        10,
        Skip::LinkLocal,
        "RFC 4291 §2.5.6",
    ),
    v6(
        0xfec0_0000_0000_0000,
        10,
        Skip::Private,
        "RFC 3879 (site-local, deprecated)",
    ),
    v6(0xff00_0000_0000_0000, 8, Skip::Multicast, "RFC 4291 §2.7"),
];

fn within<A>(addr: A, r: &Range<A>, bits: u32) -> bool
where
    A: Copy + std::ops::Shr<u32, Output = A> + PartialEq,
{
    let shift = bits - u32::from(r.len);
    shift >= bits || (addr >> shift) == (r.network >> shift)
}

/// Why an address is never looked up, or `None` for a globally reachable one.
pub fn ip_skip(ip: Ip) -> Option<Skip> {
    match ip.addr() {
        IpAddr::V4(a) => {
            let a = u32::from(a);
            IPV4_RANGES
                .iter()
                .find(|r| within(a, r, 32))
                .map(|r| r.skip)
        }
        IpAddr::V6(a) => {
            let a = u128::from(a);
            IPV6_RANGES
                .iter()
                .find(|r| within(a, r, 128))
                .map(|r| r.skip)
        }
    }
}

/// Special-use names: the name and everything under it is never looked up.
pub const SPECIAL_NAMES: [(&str, Skip, &str); 14] = [
    ("localhost", Skip::Loopback, "RFC 6761 §6.3"),
    ("local", Skip::LinkLocal, "RFC 6762 (multicast DNS)"),
    ("invalid", Skip::Reserved, "RFC 6761 §6.4"),
    ("example", Skip::Documentation, "RFC 2606 §2, RFC 6761 §6.5"),
    ("example.com", Skip::Documentation, "RFC 2606 §3"),
    ("example.net", Skip::Documentation, "RFC 2606 §3"),
    ("example.org", Skip::Documentation, "RFC 2606 §3"),
    ("home.arpa", Skip::LocalName, "RFC 8375"),
    (
        "in-addr.arpa",
        Skip::Reserved,
        "RFC 1035 §3.5 (reverse mapping)",
    ),
    (
        "ip6.arpa",
        Skip::Reserved,
        "RFC 3596 §2.5 (reverse mapping)",
    ),
    (
        "internal",
        Skip::LocalName,
        "SAC113; ICANN Board reservation for private use (2024)",
    ),
    ("alt", Skip::LocalName, "RFC 9476 (non-DNS names)"),
    (
        "corp",
        Skip::LocalName,
        "ICANN Board, name collision: never to be delegated (2018)",
    ),
    (
        "home",
        Skip::LocalName,
        "ICANN Board, name collision: never to be delegated (2018)",
    ),
];

/// Why a name is never looked up, or `None` for a public name.
pub fn host_skip(host: &Host) -> Option<Skip> {
    if !host.has_dot() {
        return Some(Skip::SingleLabel);
    }
    SPECIAL_NAMES
        .iter()
        .find(|(name, _, _)| is_within(host.as_str(), name))
        .map(|(_, skip, _)| *skip)
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
