//! [`Host`]: a DNS name in canonical form: ASCII, lowercase, no trailing dot, internationalised
//! labels in their punycode (`xn--`) form.
//!
//! Names go through UTS #46 ToASCII (the `idna` crate, as the `url` crate and browsers do), so
//! `Bücher.example`, `bücher.example` and `xn--bcher-kva.example` are one name, full-width forms
//! fold to ASCII, and a homograph (`аpple.com` with a Cyrillic `а`) keeps its own punycode name,
//! distinct from the Latin one. MISP does the same on save for `domain` (lowercase, dots trimmed,
//! `idn_to_ascii` when the name is not already valid) and lowercases `hostname`
//! (MISP/MISP `app/Lib/Tools/AttributeValidationTool.php`, `modifyBeforeValidation`).
//!
//! What is accepted is what MISP's `isDomainValid` accepts, and DNS can carry: labels of letters,
//! digits, `-` and `_` (`_dmarc`, service labels), 1–63 bytes each, 253 bytes in all (RFC 1035
//! §2.3.4), at least one dot is *not* required here (single-label names are classified, not
//! rejected: see [`super::scope`]), and a last label that is not all digits (RFC 3696 §2), so an
//! IPv4 address is never mistaken for a name.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// Bytes of input a name may have before any work is done on it. UTS #46 can shrink input
/// (ignored code points are removed), so this is a few times the 253-byte DNS limit, not the limit
/// itself.
pub const MAX_HOST_INPUT: usize = 1024;
/// The DNS limit on a name without its trailing dot (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 253;
/// The DNS limit on a label.
pub const MAX_LABEL: usize = 63;

/// Every ASCII character but letters, digits, `-`, `.` and `_`, plus spaces and controls.
const DENY: AsciiDenyList = AsciiDenyList::new(true, "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~");

/// Why a string is not a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("empty host name")]
    Empty,
    #[error("a host name has at most {MAX_HOST_INPUT} bytes of input")]
    TooLong,
    #[error("a host name holds letters, digits, '-', '_' and dots only")]
    BadCharacter,
    #[error("not a valid internationalised name (UTS #46)")]
    Idna,
    #[error("a host name has no empty labels")]
    EmptyLabel,
    #[error("a label has at most {MAX_LABEL} bytes")]
    LabelTooLong,
    #[error("a host name has at most {MAX_NAME} bytes")]
    NameTooLong,
    #[error("an all-numeric last label is an IPv4 address, not a name")]
    Numeric,
}

/// A validated DNS name, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host(Box<str>);

impl Host {
    /// Lowercases, drops one trailing dot, converts internationalised labels to punycode and
    /// checks the result is a DNS name.
    pub fn parse(value: &str) -> Result<Self, HostError> {
        if value.is_empty() {
            return Err(HostError::Empty);
        }
        if value.len() > MAX_HOST_INPUT {
            return Err(HostError::TooLong);
        }
        let trimmed = value.strip_suffix('.').unwrap_or(value);
        let ascii = if plain_ascii(trimmed) {
            trimmed.to_ascii_lowercase()
        } else {
            Uts46::new()
                .to_ascii(trimmed.as_bytes(), DENY, Hyphens::Allow, DnsLength::Ignore)
                .map_err(|_| HostError::Idna)?
                .into_owned()
        };
        check_structure(&ascii)?;
        Ok(Host(ascii.into_boxed_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name has more than one label.
    pub fn has_dot(&self) -> bool {
        self.0.contains('.')
    }

    /// The last label (`com` for `a.example.com`).
    pub fn tld(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or(&self.0)
    }

    /// Whether `self` is `other` or a subdomain of it (label-wise: `xevil.example` is not under
    /// `evil.example`).
    pub fn is_within(&self, other: &Host) -> bool {
        is_within(self.as_str(), other.as_str())
    }
}

/// Whether `name` equals `parent` or ends with `.parent`.
pub(crate) fn is_within(name: &str, parent: &str) -> bool {
    name.strip_suffix(parent)
        .is_some_and(|head| head.is_empty() || head.ends_with('.'))
}

/// ASCII letters, digits, `-`, `_`, `.` and no label starting with `xn--` (in any case): such a
/// name needs no UTS #46 processing beyond lowercasing. Punycode labels are validated by `idna`.
fn plain_ascii(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !s
            .split('.')
            .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
}

fn check_structure(s: &str) -> Result<(), HostError> {
    if s.is_empty() {
        return Err(HostError::Empty);
    }
    if s.len() > MAX_NAME {
        return Err(HostError::NameTooLong);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
    {
        return Err(HostError::BadCharacter);
    }
    for label in s.split('.') {
        if label.is_empty() {
            return Err(HostError::EmptyLabel);
        }
        if label.len() > MAX_LABEL {
            return Err(HostError::LabelTooLong);
        }
    }
    let last = s.rsplit('.').next().unwrap_or(s);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Numeric);
    }
    Ok(())
}

impl AsRef<str> for Host {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon(s: &str) -> Result<String, HostError> {
        Host::parse(s).map(|h| h.to_string())
    }

    #[test]
    fn names_take_their_canonical_form() {
        let cases = [
            ("getvero.s3.amazonaws.com", "getvero.s3.amazonaws.com"),
            ("WWW.Evil.Test.", "www.evil.test"),
            ("_dmarc.evil.test", "_dmarc.evil.test"),
            (
                "r3---sn-aigl6nzr.googlevideo.com",
                "r3---sn-aigl6nzr.googlevideo.com",
            ),
            ("Bücher.test", "xn--bcher-kva.test"),
            ("xn--bcher-kva.test", "xn--bcher-kva.test"),
            ("XN--BCHER-KVA.TEST", "xn--bcher-kva.test"),
            ("ｅｖｉｌ．ｔｅｓｔ", "evil.test"),
            ("evil\u{3002}test", "evil.test"),
            ("münchen.de", "xn--mnchen-3ya.de"),
            ("localhost", "localhost"),
            ("1.2.3.example", "1.2.3.example"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn a_homograph_keeps_its_own_name() {
        let latin = Host::parse("apple.com").unwrap();
        let cyrillic = Host::parse("\u{0430}pple.com").unwrap();
        assert_eq!(cyrillic.as_str(), "xn--pple-43d.com");
        assert_ne!(latin, cyrillic);
        // Mixed-script, mixed-case punycode of the same homograph is the same name.
        assert_eq!(Host::parse("XN--PPLE-43D.COM").unwrap(), cyrillic);
    }

    #[test]
    fn what_cannot_be_a_dns_name_is_an_error() {
        let cases = [
            ("", HostError::Empty),
            (".", HostError::Empty),
            ("evil..test", HostError::EmptyLabel),
            (".evil.test", HostError::EmptyLabel),
            ("evil.test..", HostError::EmptyLabel),
            ("1.2.3.4", HostError::Numeric),
            ("999.1.1.1", HostError::Numeric),
            ("evil test", HostError::Idna),
            ("evil.test:443", HostError::Idna),
            ("evil.test/x", HostError::Idna),
            ("user@evil.test", HostError::Idna),
            ("*.evil.test", HostError::Idna),
            ("xn--zz.test", HostError::Idna),
            ("xn--.test", HostError::Idna),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), Err(want.clone()), "{input:?}");
        }
        assert_eq!(
            canon(&format!("{}.test", "a".repeat(64))),
            Err(HostError::LabelTooLong)
        );
        let long = ["abcdefghi"; 26].join(".");
        assert_eq!(canon(&long), Err(HostError::NameTooLong));
        assert_eq!(
            canon(&"a".repeat(MAX_HOST_INPUT + 1)),
            Err(HostError::TooLong)
        );
        // Ignorable code points vanish under UTS #46 but the input bound holds first.
        assert_eq!(canon(&"\u{00AD}".repeat(600)), Err(HostError::TooLong));
    }

    #[test]
    fn subdomains_are_within_their_parents_label_by_label() {
        let h = |s| Host::parse(s).unwrap();
        assert!(h("a.b.evil.test").is_within(&h("evil.test")));
        assert!(h("evil.test").is_within(&h("evil.test")));
        assert!(!h("xevil.test").is_within(&h("evil.test")));
        assert!(!h("evil.test").is_within(&h("a.evil.test")));
        assert_eq!(h("a.b.evil.test").tld(), "test");
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(s in "[a-zA-Z0-9_\\-]{1,20}(\\.[a-zA-Z0-9\\-]{1,20}){0,4}\\.?") {
            if let Ok(h) = Host::parse(&s) {
                prop_assert_eq!(Host::parse(h.as_str()).unwrap(), h.clone());
                prop_assert_eq!(h.as_str(), s.trim_end_matches('.').to_ascii_lowercase());
            }
        }

        #[test]
        fn unicode_names_round_trip_through_their_ascii_form(s in "\\PC{1,40}") {
            if let Ok(h) = Host::parse(&s) {
                prop_assert!(h.as_str().is_ascii());
                prop_assert_eq!(Host::parse(h.as_str()).unwrap(), h);
            }
        }
    }
}
