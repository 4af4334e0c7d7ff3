//! [`Loose`]: a column value read leniently.
//!
//! Streamed columns are `null`, absent, strings, numbers above 2^53 (`ReportId`) or objects
//! (`AdditionalFields`) depending on the table. A `Loose` never fails to deserialize: strings are
//! kept, integers are kept as their exact decimal text, anything else is dropped.

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

/// A scalar column as text, or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loose(pub Option<String>);

impl Loose {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Kept(true))
    }
}

/// Reads a value as [`Loose`] does, keeping it (`Kept(true)`) or not (`Kept(false)`: the value
/// is read, and refused, exactly as when kept, but nothing is copied; `Loose(None)` comes back).
/// One visitor for both, so a glance at a record refuses just what a full read refuses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kept(pub bool);

impl<'de> DeserializeSeed<'de> for Kept {
    type Value = Loose;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
        d.deserialize_any(self)
    }
}

impl Kept {
    fn text(self, make: impl FnOnce() -> String) -> Loose {
        Loose(self.0.then(make))
    }
}

impl<'de> Visitor<'de> for Kept {
    type Value = Loose;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
        Ok(self.text(|| v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Loose, E> {
        Ok(self.text(|| v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose, E> {
        Ok(self.text(|| v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose, E> {
        Ok(self.text(|| v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Loose, E> {
        Ok(self.text(|| v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Loose, E> {
        Ok(self.text(|| v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Loose, E> {
        // A fractional or out-of-range number is no identifier we could quote exactly.
        Ok(Loose(None))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose, E> {
        Ok(self.text(|| v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loose(json: &str) -> Option<String> {
        serde_json::from_str::<Loose>(json).unwrap().0
    }

    #[test]
    fn keeps_strings_and_exact_integers_and_drops_the_rest() {
        assert_eq!(loose(r#""abc""#).as_deref(), Some("abc"));
        assert_eq!(
            loose("639199803770463703").as_deref(),
            Some("639199803770463703")
        );
        assert_eq!(loose("-3").as_deref(), Some("-3"));
        assert_eq!(loose("null"), None);
        assert_eq!(loose("1.5"), None);
        assert_eq!(loose(r#"{"a":[1,{"b":2}]}"#), None);
        assert_eq!(loose("[1,2]"), None);
    }

    #[test]
    fn integers_beyond_u64_keep_their_digits() {
        // serde_json without arbitrary_precision hands these over as f64: they are dropped, not rounded.
        assert_eq!(loose("123456789012345678901234567890"), None);
    }
}
