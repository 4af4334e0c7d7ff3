//! [`Email`]: a sender address in canonical form, for MISP `email-src` attributes.
//!
//! MISP lowercases `email-src` on save and validates it loosely (`^.[^\s]*\@.*\..*$`,
//! MISP/MISP `app/Lib/Tools/AttributeValidationTool.php`). Here the address is split at its last
//! `@`; the local part is ASCII-lowercased as PHP's `strtolower` does, the domain is a [`Host`] (so an internationalised
//! domain is in punycode form).

use std::fmt;

use super::host::{Host, HostError};

/// Bytes of a local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

/// Why a string is not a sender address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an address is local-part@domain")]
    NoAt,
    #[error("a local part has 1 to {MAX_LOCAL_PART} bytes, no spaces or control characters")]
    LocalPart,
    #[error("bad domain: {0}")]
    Domain(#[from] HostError),
}

/// A validated address, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email {
    text: Box<str>,
    at: usize,
}

impl Email {
    pub fn parse(value: &str) -> Result<Self, EmailError> {
        let (local, domain) = value.rsplit_once('@').ok_or(EmailError::NoAt)?;
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL_PART
            && !local.chars().any(|c| c.is_whitespace() || c.is_control());
        if !local_ok {
            return Err(EmailError::LocalPart);
        }
        let domain = Host::parse(domain)?;
        let text = format!("{}@{}", local.to_ascii_lowercase(), domain.as_str());
        Ok(Email {
            at: text.len() - domain.as_str().len() - 1,
            text: text.into_boxed_str(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain part, canonical.
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_lowercased_and_their_domain_canonical() {
        let e = Email::parse("Azure-NoReply@Mail.Evil.Test.").unwrap();
        assert_eq!(e.as_str(), "azure-noreply@mail.evil.test");
        assert_eq!(e.local_part(), "azure-noreply");
        assert_eq!(e.domain(), "mail.evil.test");
        let idn = Email::parse("Ünïcode@Bücher.test").unwrap();
        assert_eq!(idn.as_str(), "Ünïcode@xn--bcher-kva.test");
        let quoted = Email::parse("\"a@b\"@evil.test").unwrap();
        assert_eq!(quoted.domain(), "evil.test");
    }

    #[test]
    fn malformed_addresses_are_errors() {
        assert_eq!(Email::parse("evil.test"), Err(EmailError::NoAt));
        assert_eq!(Email::parse("@evil.test"), Err(EmailError::LocalPart));
        assert_eq!(Email::parse("a b@evil.test"), Err(EmailError::LocalPart));
        assert_eq!(
            Email::parse(&format!("{}@evil.test", "a".repeat(65))),
            Err(EmailError::LocalPart)
        );
        assert!(matches!(Email::parse("a@"), Err(EmailError::Domain(_))));
        assert!(matches!(
            Email::parse("a@1.2.3.4"),
            Err(EmailError::Domain(_))
        ));
    }

    proptest! {
        #[test]
        fn canonical_addresses_parse_to_themselves(s in "\\PC{0,40}@[a-zA-Z0-9]{1,10}\\.[a-z]{2,4}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }
    }
}
