//! File-hash newtypes: [`Md5`], [`Sha1`], [`Sha256`] and the sum type [`FileHash`].
//!
//! Each newtype accepts hex of the right length in any case and holds it lowercase, so that two
//! spellings of one hash compare equal and only validated values ever reach MISP. The hex is held
//! inline, in an array of its length: a hash is made, copied, hashed and compared without the
//! heap (issue 14: the `String` of before was an allocation per hash and per copy of a lookup key).

use std::fmt;

use serde::{Deserialize, Serialize};

/// How maps and sets keyed by [`FileHash`] hash: foldhash with a per-process seed. SipHash was a
/// tenth of a warm batch's instructions under callgrind (BENCHMARKS.md); the seed keeps crafted
/// digests from colliding.
#[cfg(feature = "service")]
pub type Seeded = foldhash::fast::RandomState;

/// Why a string is not a file hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("a {kind} hash has {expected} hex characters, this value has {actual}")]
    WrongLength {
        kind: HashType,
        expected: usize,
        actual: usize,
    },
    #[error("a hash holds hex characters only")]
    NotHex,
    #[error("no hash algorithm has {0} hex characters")]
    UnknownLength(usize),
}

/// The three algorithms Defender reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashType {
    Md5,
    Sha1,
    Sha256,
}

impl HashType {
    /// Hex characters in a hash of this type.
    pub const fn hex_len(self) -> usize {
        match self {
            HashType::Md5 => 32,
            HashType::Sha1 => 40,
            HashType::Sha256 => 64,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            HashType::Md5 => "md5",
            HashType::Sha1 => "sha1",
            HashType::Sha256 => "sha256",
        }
    }
}

impl fmt::Display for HashType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `value` as lowercase hex of `N` characters in `kind`'s length, or why it is not.
fn lower_hex<const N: usize>(value: &str, kind: HashType) -> Result<[u8; N], HashError> {
    debug_assert_eq!(N, kind.hex_len());
    let Ok(bytes) = <&[u8; N]>::try_from(value.as_bytes()) else {
        return Err(HashError::WrongLength {
            kind,
            expected: kind.hex_len(),
            actual: value.chars().count(),
        });
    };
    if !bytes.iter().fold(true, |hex, &b| hex & is_hex(b)) {
        return Err(HashError::NotHex);
    }
    // Hex digits already have the 0x20 bit; hex letters gain it (A-F to a-f).
    Ok(bytes.map(|b| b | 0x20))
}

/// `u8::is_ascii_hexdigit` without branches, so that checking a whole hash (with `fold`, no
/// early exit) is vectorised: this check was most of `lower_hex`'s time, itself 6–9 % of a warm
/// batch (BENCHMARKS.md).
const fn is_hex(b: u8) -> bool {
    (b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 6)
}

macro_rules! hash_newtype {
    ($name:ident, $kind:expr, $len:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Accepts hex of the right length in any case; holds it lowercase.
            pub fn parse(value: &str) -> Result<Self, HashError> {
                lower_hex(value, $kind).map(Self)
            }

            /// The lowercase hex, as bytes (no UTF-8 check, unlike `as_ref`).
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                // Only `parse` makes one, from ASCII hex: never the empty fallback.
                std::str::from_utf8(&self.0).unwrap_or_default()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name))
                    .field(&self.as_ref())
                    .finish()
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_ref())
            }
        }
    };
}

hash_newtype!(
    Md5,
    HashType::Md5,
    32,
    "An MD5 digest as 32 lowercase hex characters."
);
hash_newtype!(
    Sha1,
    HashType::Sha1,
    40,
    "A SHA-1 digest as 40 lowercase hex characters."
);
hash_newtype!(
    Sha256,
    HashType::Sha256,
    64,
    "A SHA-256 digest as 64 lowercase hex characters."
);

/// A validated file hash of any of the three algorithms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileHash {
    Md5(Md5),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl FileHash {
    /// Parses a hash whose algorithm is known from where it was found.
    pub fn parse_as(kind: HashType, value: &str) -> Result<Self, HashError> {
        Ok(match kind {
            HashType::Md5 => FileHash::Md5(Md5::parse(value)?),
            HashType::Sha1 => FileHash::Sha1(Sha1::parse(value)?),
            HashType::Sha256 => FileHash::Sha256(Sha256::parse(value)?),
        })
    }

    /// Parses a hash whose algorithm is told by its length (MISP values, allowlists).
    pub fn parse(value: &str) -> Result<Self, HashError> {
        let kind = match value.len() {
            32 => HashType::Md5,
            40 => HashType::Sha1,
            64 => HashType::Sha256,
            n => return Err(HashError::UnknownLength(n)),
        };
        Self::parse_as(kind, value)
    }

    pub fn kind(&self) -> HashType {
        match self {
            FileHash::Md5(_) => HashType::Md5,
            FileHash::Sha1(_) => HashType::Sha1,
            FileHash::Sha256(_) => HashType::Sha256,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            FileHash::Md5(h) => h.as_ref(),
            FileHash::Sha1(h) => h.as_ref(),
            FileHash::Sha256(h) => h.as_ref(),
        }
    }

    /// The digest of zero bytes: every empty file has it, so it is never worth a lookup.
    pub fn is_empty_content(&self) -> bool {
        // Compared as bytes: `as_str` checks them for UTF-8 first, on every hash of a batch.
        let (hex, empty) = match self {
            FileHash::Md5(h) => (h.as_bytes(), EMPTY_MD5),
            FileHash::Sha1(h) => (h.as_bytes(), EMPTY_SHA1),
            FileHash::Sha256(h) => (h.as_bytes(), EMPTY_SHA256),
        };
        hex == empty.as_bytes()
    }
}

impl AsRef<str> for FileHash {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for FileHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FileHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FileHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FileHash::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// MD5 of zero bytes.
pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
/// SHA-1 of zero bytes.
pub const EMPTY_SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
/// SHA-256 of zero bytes.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_branchless_hex_check_agrees_with_the_standard_one_on_every_byte() {
        for b in 0..=u8::MAX {
            assert_eq!(is_hex(b), b.is_ascii_hexdigit(), "{b:#04x}");
        }
    }

    #[test]
    fn each_type_accepts_its_length_in_any_case_and_holds_lowercase() {
        let cases = [
            (HashType::Md5, "D41D8CD98F00B204E9800998ECF8427E"),
            (HashType::Sha1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"),
            (
                HashType::Sha256,
                "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            ),
        ];
        for (kind, upper) in cases {
            let h = FileHash::parse_as(kind, upper).unwrap();
            assert_eq!(h.as_str(), upper.to_ascii_lowercase());
            assert_eq!(h.kind(), kind);
            assert!(h.is_empty_content());
        }
        // Another algorithm's empty digest, or one digit off, is content.
        for other in [
            format!("{EMPTY_MD5}{}", "0".repeat(8)),
            format!("{}0", &EMPTY_MD5[..31]),
            format!("{}0", &EMPTY_SHA256[..63]),
        ] {
            assert!(
                !FileHash::parse(&other).unwrap().is_empty_content(),
                "{other}"
            );
        }
    }

    #[test]
    fn wrong_lengths_and_non_hex_are_rejected() {
        assert!(matches!(
            Md5::parse("abc"),
            Err(HashError::WrongLength {
                expected: 32,
                actual: 3,
                ..
            })
        ));
        assert_eq!(Sha1::parse(&"g".repeat(40)), Err(HashError::NotHex));
        assert!(Sha256::parse(&"0".repeat(40)).is_err());
        assert_eq!(FileHash::parse("1234"), Err(HashError::UnknownLength(4)));
        // Multi-byte characters must not be mistaken for the right length.
        assert!(Md5::parse(&"é".repeat(16)).is_err());
    }

    proptest! {
        #[test]
        fn any_hex_of_a_known_length_round_trips(s in "[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}") {
            let h = FileHash::parse(&s).unwrap();
            prop_assert_eq!(h.as_str(), s.to_ascii_lowercase());
            prop_assert_eq!(FileHash::parse(h.as_str()).unwrap(), h);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,80}") {
            let _ = FileHash::parse(&s);
        }
    }
}
