use super::*;
use crate::indicator::host::HostError;

fn one(kind: &str, value: &str) -> Pattern {
    let mut p = parse_attribute(kind, value).unwrap();
    assert_eq!(p.len(), 1, "{kind} {value}");
    p.remove(0)
}

fn obs(s: &str) -> Indicator {
    Indicator::parse(s).unwrap()
}

#[test]
fn every_network_type_round_trips_its_name() {
    for t in NetworkType::ALL {
        assert_eq!(NetworkType::from_misp(t.as_str()), Some(t));
    }
    assert_eq!(NETWORK_ATTRIBUTE_TYPES[2], "ip-src|port");
    assert_eq!(NetworkType::from_misp("sha256"), None);
    assert_eq!(
        parse_attribute("sha256", "x"),
        Err(AttributeError::NotNetwork("sha256".into()))
    );
}

fn ip(net: &str, port: Option<u16>) -> Pattern {
    let net = Cidr::parse(net).unwrap();
    Pattern::Ip { net, port }
}

fn name(host: &str, port: Option<u16>) -> Pattern {
    let host = Host::parse(host).unwrap();
    Pattern::Hostname { host, port }
}

#[test]
fn address_values_are_normalised_as_misp_saves_them() {
    let cases = [
        ("ip-dst", " 1.2.3.4 ", ip("1.2.3.4", None)),
        ("ip-src", "2001:DB8:0:0::1/128", ip("2001:db8::1", None)),
        ("ip-dst", "1.2.3.77/24", ip("1.2.3.0/24", None)),
        ("ip-dst|port", "1.2.3.4|8080", ip("1.2.3.4", Some(8080))),
        ("ip-src|port", "1.2.3.4:22", ip("1.2.3.4", Some(22))),
        ("ip-dst|port", "[2d00::1]:443", ip("2d00::1", Some(443))),
    ];
    for (kind, value, want) in cases {
        assert_eq!(one(kind, value), want, "{kind} {value}");
    }
    let both = parse_attribute("domain|ip", "Evil.Test|::ffff:1.2.3.4").unwrap();
    let domain = Pattern::Domain(Host::parse("evil.test").unwrap());
    assert_eq!(both, [domain, ip("1.2.3.4", None)]);
}

#[test]
fn name_url_and_sender_values_are_normalised_as_misp_saves_them() {
    let cases = [
        (
            "domain",
            ".Evil.Test.",
            Pattern::Domain(Host::parse("evil.test").unwrap()),
        ),
        (
            "hostname",
            "WWW.Bücher.Test",
            name("www.xn--bcher-kva.test", None),
        ),
        (
            "hostname|port",
            "C2.Evil.Test:8443",
            name("c2.evil.test", Some(8443)),
        ),
        (
            "hostname|port",
            "c2.evil.test|8443",
            name("c2.evil.test", Some(8443)),
        ),
        (
            "email-src",
            "Phish@Evil.Test",
            Pattern::Email(Email::parse("phish@evil.test").unwrap()),
        ),
        (
            "url",
            "HTTP://Evil.Test:80/Payload.exe",
            Pattern::Url(Url::parse("http://evil.test/Payload.exe").unwrap()),
        ),
    ];
    for (kind, value, want) in cases {
        assert_eq!(one(kind, value), want, "{kind} {value}");
    }
}

#[test]
fn values_misp_would_refuse_are_errors() {
    let cases: [(&str, &str, AttributeError); 10] = [
        ("ip-dst|port", "1.2.3.4|0", AttributeError::Port),
        ("ip-dst|port", "1.2.3.4|65536", AttributeError::Port),
        (
            "ip-dst|port",
            "1.2.3.4",
            AttributeError::NotComposite("ip-dst|port"),
        ),
        (
            "ip-dst|port",
            "1.2.3.0/24|80",
            AttributeError::RangeNotAllowed("ip-dst|port"),
        ),
        (
            "domain|ip",
            "evil.test",
            AttributeError::NotComposite("domain|ip"),
        ),
        (
            "domain|ip",
            "evil.test|1.2.3.0/24",
            AttributeError::RangeNotAllowed("domain|ip"),
        ),
        ("domain", "localhost", AttributeError::SingleLabelDomain),
        (
            "hostname",
            "evil..test",
            AttributeError::Host(HostError::EmptyLabel),
        ),
        ("hostname|port", "evil.test|http", AttributeError::Port),
        (
            "hostname|port",
            "evil.test",
            AttributeError::NotComposite("hostname|port"),
        ),
    ];
    for (kind, value, want) in cases {
        assert_eq!(parse_attribute(kind, value), Err(want), "{kind} {value}");
    }
    assert!(matches!(
        parse_attribute("ip-dst", "1.2.3.4/33"),
        Err(AttributeError::Ip(_))
    ));
    assert!(matches!(
        parse_attribute("url", "http://evil.test:99999/"),
        Err(AttributeError::Url(_))
    ));
    assert!(matches!(
        parse_attribute("email-src", "nobody"),
        Err(AttributeError::Email(_))
    ));
}

#[test]
fn a_cidr_matches_the_addresses_inside_it() {
    let p = one("ip-dst", "1.2.3.0/24");
    assert!(p.matches(&obs("1.2.3.200"), Some(443)));
    assert!(p.matches(&obs("::ffff:1.2.3.9"), None));
    assert!(!p.matches(&obs("1.2.4.1"), None));
    assert!(!p.matches(&obs("1.2.3.0.evil.test"), None));
}

#[test]
fn a_port_must_agree_where_the_record_has_one() {
    let p = one("ip-dst|port", "1.2.3.4|8080");
    assert!(p.matches(&obs("1.2.3.4"), Some(8080)));
    assert!(!p.matches(&obs("1.2.3.4"), Some(443)));
    assert!(
        p.matches(&obs("1.2.3.4"), None),
        "no port in the record: the address decides"
    );
    let h = one("hostname|port", "c2.evil.test|8443");
    assert!(h.matches(&obs("c2.evil.test"), Some(8443)));
    assert!(!h.matches(&obs("c2.evil.test"), Some(443)));
    assert!(!h.matches(&obs("x.c2.evil.test"), Some(8443)));
}

#[test]
fn a_domain_covers_subdomains_and_a_hostname_does_not() {
    let d = one("domain", "evil.test");
    assert!(d.matches(&obs("a.b.evil.test"), None));
    assert!(d.matches(&obs("evil.test"), None));
    assert!(!d.matches(&obs("notevil.test"), None));
    let h = one("hostname", "evil.test");
    assert!(h.matches(&obs("evil.test"), None));
    assert!(!h.matches(&obs("a.evil.test"), None));
    let both = parse_attribute("domain|ip", "evil.test|1.2.3.4").unwrap();
    assert!(both.iter().any(|p| p.matches(&obs("www.evil.test"), None)));
    assert!(both.iter().any(|p| p.matches(&obs("1.2.3.4"), Some(80))));
    let suffix = one("domain", "github.io");
    assert!(
        !suffix.matches(&obs("evil.github.io"), None),
        "a public suffix covers nothing"
    );
}

#[test]
fn urls_and_senders_match_their_own_kind_only() {
    let u = one("url", "evil.test/payload.exe");
    assert!(u.matches(&obs("https://EVIL.test/payload.exe"), None));
    assert!(!u.matches(&obs("evil.test"), None));
    let e = one("email-src", "phish@evil.test");
    assert!(e.matches(&obs("Phish@Evil.Test"), None));
    assert!(
        !e.matches(&obs("evil.test"), None),
        "a sender domain is not the sender"
    );
}

#[test]
fn each_kind_searches_the_types_that_can_match_it() {
    for t in NetworkType::ALL {
        let kinds: Vec<_> = [
            IndicatorKind::Ip,
            IndicatorKind::Host,
            IndicatorKind::Url,
            IndicatorKind::Email,
        ]
        .into_iter()
        .filter(|k| NetworkType::for_kind(*k).contains(&t))
        .collect();
        let want = if t == NetworkType::DomainIp { 2 } else { 1 };
        assert_eq!(kinds.len(), want, "{t:?}");
    }
}
