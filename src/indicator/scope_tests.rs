use super::*;
use crate::indicator::ip::Cidr;

fn ip(s: &str) -> Option<Skip> {
    ip_skip(Ip::parse(s).unwrap())
}

#[test]
fn every_listed_range_is_a_well_formed_network_and_skips_its_ends() {
    for r in IPV4_RANGES {
        let text = format!("{}/{}", std::net::Ipv4Addr::from(r.network), r.len);
        let net = Cidr::parse(&text).unwrap();
        assert_eq!(
            net.to_string().split('/').next(),
            text.split('/').next(),
            "{text}"
        );
        let host_bits = u32::MAX.checked_shr(u32::from(r.len)).unwrap_or(0);
        let last = r.network | host_bits;
        assert!(
            ip_skip(Ip::from(std::net::Ipv4Addr::from(r.network))).is_some(),
            "{text}"
        );
        assert!(
            ip_skip(Ip::from(std::net::Ipv4Addr::from(last))).is_some(),
            "{text}"
        );
    }
    for r in IPV6_RANGES {
        let text = format!("{}/{}", std::net::Ipv6Addr::from(r.network), r.len);
        let net = Cidr::parse(&text).unwrap();
        assert_eq!(net.network().addr(), IpAddr::V6(r.network.into()), "{text}");
        let last = r.network | u128::MAX.checked_shr(u32::from(r.len)).unwrap_or(0);
        assert!(
            ip_skip(Ip::from(std::net::Ipv6Addr::from(r.network))).is_some(),
            "{text}"
        );
        assert_eq!(
            ip_skip(Ip::from(std::net::Ipv6Addr::from(last))),
            Some(r.skip),
            "{text}"
        );
    }
}

#[test]
fn addresses_get_the_reason_of_their_range() {
    let cases = [
        ("10.1.2.3", Some(Skip::Private)),
        ("172.31.255.255", Some(Skip::Private)),
        ("172.32.0.1", None),
        ("192.168.0.1", Some(Skip::Private)),
        ("100.88.109.22", Some(Skip::Shared)),
        ("100.128.0.1", None),
        ("127.0.0.53", Some(Skip::Loopback)),
        ("169.254.169.254", Some(Skip::LinkLocal)),
        ("224.0.0.251", Some(Skip::Multicast)),
        ("0.0.0.0", Some(Skip::Unspecified)),
        ("255.255.255.255", Some(Skip::Broadcast)),
        ("250.1.1.1", Some(Skip::Reserved)),
        ("192.0.2.1", Some(Skip::Documentation)),
        ("198.51.100.7", Some(Skip::Documentation)),
        ("203.0.113.9", Some(Skip::Documentation)),
        ("198.19.255.1", Some(Skip::Benchmarking)),
        ("20.42.65.85", None),
        ("::ffff:10.0.0.1", Some(Skip::Private)),
        ("::", Some(Skip::Unspecified)),
        ("::1", Some(Skip::Loopback)),
        ("::1.2.3.4", Some(Skip::Reserved)),
        ("fe80:1e::f6d4:88ff:fe68:3c84", Some(Skip::LinkLocal)),
        ("fd7a:115c:a1e0::2b01:6da4", Some(Skip::Private)),
        ("ff02::fb", Some(Skip::Multicast)),
        ("2001:db8::1", Some(Skip::Documentation)),
        ("3fff:1::1", Some(Skip::Documentation)),
        ("2001:2::1", Some(Skip::Benchmarking)),
        ("2001:8b0:1f05::1077", None),
        ("2001:67c:e60:c0c:192:42:116:55", None),
        ("64:ff9b::1.2.3.4", None),
    ];
    for (input, want) in cases {
        assert_eq!(ip(input), want, "{input}");
    }
}

#[test]
fn local_and_documentation_names_are_skipped_and_test_names_are_not() {
    let h = |s| host_skip(&Host::parse(s).unwrap());
    assert_eq!(h("wpad"), Some(Skip::SingleLabel));
    assert_eq!(h("localhost"), Some(Skip::SingleLabel));
    assert_eq!(h("printer.localhost"), Some(Skip::Loopback));
    assert_eq!(h("dc01.corp.local"), Some(Skip::LinkLocal));
    assert_eq!(h("nas.home.arpa"), Some(Skip::LocalName));
    assert_eq!(h("4.3.2.1.in-addr.arpa"), Some(Skip::Reserved));
    assert_eq!(h("db.internal"), Some(Skip::LocalName));
    assert_eq!(h("www.example.com"), Some(Skip::Documentation));
    assert_eq!(h("a.b.evil.example"), Some(Skip::Documentation));
    assert_eq!(h("notexample.com"), None);
    assert_eq!(h("evil.test"), None);
    assert_eq!(h("getvero.s3.amazonaws.com"), None);
    assert_eq!(h("arpa.example.net"), Some(Skip::Documentation));
}

#[test]
fn reasons_have_distinct_labels_and_indexes() {
    for (i, s) in Skip::ALL.iter().enumerate() {
        assert_eq!(s.index(), i);
        assert_eq!(
            Skip::ALL
                .iter()
                .filter(|o| o.as_str() == s.as_str())
                .count(),
            1
        );
    }
}
