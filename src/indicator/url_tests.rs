use super::*;
use proptest::prelude::*;

fn canon(s: &str) -> Result<String, UrlError> {
    Url::parse(s).map(|u| u.to_string())
}

#[test]
fn urls_take_their_canonical_form() {
    let cases = [
        ("http://[::ffff:1.2.3.4]:80/", "http://1.2.3.4/"),
        ("HTTP://Evil.Test:80", "http://evil.test/"),
        ("https://evil.test:443/a", "https://evil.test/a"),
        ("https://evil.test:8443/a", "https://evil.test:8443/a"),
        ("http://evil.test:080/", "http://evil.test/"),
        ("http://user:secret@evil.test/x", "http://evil.test/x"),
        ("http://evil.test/x#victim@corp.test", "http://evil.test/x"),
        ("http://evil.test?q=1", "http://evil.test/?q=1"),
        ("http://[2001:DB8::1]:8080/p", "http://[2001:db8::1]:8080/p"),
        ("http://[fe80::1%25eth0]/", "http://[fe80::1]/"),
        (
            "http://Bücher.test/Ä?x=%2F",
            "http://xn--bcher-kva.test/Ä?x=%2F",
        ),
        ("http://evil.test./a", "http://evil.test/a"),
        ("evil.test", "evil.test/"),
        ("evil.test:443", "evil.test:443/"),
        ("Evil.Test/Payload.EXE", "evil.test/Payload.EXE"),
        ("1.2.3.4:8080", "1.2.3.4:8080/"),
        ("ftp://evil.test:21/f", "ftp://evil.test/f"),
        ("hxxp://evil.test:80/", "hxxp://evil.test:80/"),
        (
            "http://evil.test/a/../b/%2e%2E/%7e",
            "http://evil.test/a/../b/%2e%2E/%7e",
        ),
        ("http://evil.test\\a\\b", "http://evil.test\\a\\b"),
    ];
    for (input, want) in cases {
        assert_eq!(canon(input).as_deref(), Ok(want), "{input}");
    }
}

#[test]
fn a_real_email_url_keeps_its_path_and_query_byte_for_byte() {
    let raw = "https://Files.Evil.Test/%2Fuploads%2F7cec%2Ffullsize%2Flogo%402x.png?a=B&c=%7E";
    let u = Url::parse(raw).unwrap();
    assert_eq!(
        u.as_str(),
        "https://files.evil.test/%2Fuploads%2F7cec%2Ffullsize%2Flogo%402x.png?a=B&c=%7E"
    );
    assert_eq!(u.scheme(), Some("https"));
    assert_eq!(u.effective_port(), Some(443));
    assert_eq!(u.port(), None);
    assert_eq!(u.host_text(), "files.evil.test");
    assert!(u.is_more_than_host());
}

#[test]
fn parts_are_reported() {
    let u = Url::parse("http://[2001:db8::1]:8080/p?q").unwrap();
    assert_eq!(u.host_text(), "[2001:db8::1]");
    assert_eq!(u.host(), &UrlHost::Ip(Ip::parse("2001:db8::1").unwrap()));
    assert_eq!(u.port(), Some(8080));
    assert_eq!(u.without_scheme(), "[2001:db8::1]:8080/p?q");
    assert_eq!(u.path_and_query(), "/p?q");
    let hex = Url::parse("http://0x7f000001/").unwrap();
    assert_eq!(
        hex.host_text(),
        "0x7f000001",
        "a WHATWG numeric IPv4 form stays a (single-label) name"
    );
    let bare = Url::parse("evil.test:8080").unwrap();
    assert_eq!(bare.scheme(), None);
    assert_eq!(bare.port(), Some(8080));
    assert_eq!(bare.effective_port(), Some(8080));
    assert!(!bare.is_more_than_host());
    assert_eq!(bare.host_text(), "evil.test");
}

#[test]
fn malformed_urls_are_errors() {
    let cases = [
        ("", UrlError::Empty),
        ("http://", UrlError::NoHost),
        ("http://user@/x", UrlError::NoHost),
        ("http://evil.test:65536/", UrlError::Port),
        ("http://evil.test:99999999999/", UrlError::Port),
        ("http://evil.test:-1/", UrlError::Port),
        ("http://evil.test:8o/", UrlError::Port),
        ("http://[::1/", UrlError::IpLiteral),
        ("http://[1.2.3]/", UrlError::IpLiteral),
        ("http://[::1]x/", UrlError::Port),
        ("http://evil test/", UrlError::BadCharacter),
        ("http://evil.test/a b", UrlError::BadCharacter),
        ("http://evil.test/\u{7f}", UrlError::BadCharacter),
        ("http://evil.test/\n", UrlError::BadCharacter),
        ("http://999.1.1.1/", UrlError::Host(HostError::Numeric)),
        ("http://127.1/", UrlError::Host(HostError::Numeric)),
        ("http://%65vil.test/", UrlError::Host(HostError::Idna)),
        ("mailto:a@evil.test", UrlError::NotAUrl),
    ];
    for (input, want) in cases {
        assert_eq!(canon(input), Err(want.clone()), "{input:?}");
    }
    assert_eq!(
        canon(&format!("http://evil.test/{}", "a".repeat(MAX_URL_INPUT))),
        Err(UrlError::TooLong)
    );
}

#[test]
fn matching_ignores_case_and_a_pattern_without_scheme_matches_any() {
    let u = |s| Url::parse(s).unwrap();
    let seen = u("https://evil.test/Payload.exe?id=1");
    assert!(u("https://EVIL.test/payload.EXE?id=1").matches(&seen));
    assert!(u("evil.test/payload.exe?id=1").matches(&seen));
    assert!(!u("http://evil.test/payload.exe?id=1").matches(&seen));
    assert!(!u("https://evil.test/payload.exe").matches(&seen));
    assert!(u("https://evil.test:443/Payload.exe?id=1").matches(&seen));
    assert!(u("http://evil.test").matches(&u("http://evil.test/")));
}

#[test]
fn an_online_search_asks_for_every_spelling_misp_may_hold() {
    let spellings = |s| {
        Url::parse(s)
            .unwrap()
            .search_spellings()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        spellings("HTTP://Evil.Test"),
        [
            "http://evil.test/",
            "http://evil.test",
            "evil.test/",
            "evil.test"
        ]
    );
    assert_eq!(
        spellings("https://evil.test/x?y"),
        ["https://evil.test/x?y", "evil.test/x?y"]
    );
    assert_eq!(spellings("evil.test/x"), ["evil.test/x"]);
}

proptest! {
    #[test]
    fn canonical_form_is_a_fixed_point(
        scheme in "(|[a-zA-Z]{1,6}://)",
        host in "[a-zA-Z0-9]{1,10}\\.[a-zA-Z]{2,5}",
        port in proptest::option::of(any::<u16>()),
        path in "(/[!-~]{0,20})?",
    ) {
        let path = path.replace('#', "");
        let text = match port {
            Some(p) => format!("{scheme}{host}:{p}{path}"),
            None => format!("{scheme}{host}{path}"),
        };
        let u = Url::parse(&text).unwrap();
        let again = Url::parse(u.as_str()).unwrap();
        prop_assert_eq!(again.as_str(), u.as_str());
        prop_assert_eq!(&again, &u);
        prop_assert!(u.matches(&again));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        if let Ok(u) = Url::parse(&s) {
            let again = Url::parse(u.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), u.as_str());
        }
    }
}
