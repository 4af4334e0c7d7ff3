//! A restSearch page read straight into the snapshot's reduced form: each attribute becomes an
//! [`Item`] (its id, what the rules need to admit it, and the [`Pulled`] record the index keeps)
//! as soon as it is parsed, without the full attribute structs of `intel::misp` and without a
//! `String` per hash: ids are parsed to `u32`, hashes and uuids to inline digests, while the
//! text is read. The value's text is kept with its page, for the warninglists.
//!
//! The rules are those of `intel::misp`'s lenient types (`Loose` text: strings as they are,
//! integers in decimal, booleans as words, anything else absent; `Flag`: `true`, non-zero
//! numbers, `"1"`/`"true"`/`"True"`), so a page reduces to what the straightforward path (full
//! attributes, [`answered`](crate::intel::misp::answered), then reduced) gives; the
//! `equivalence` tests compare the two on hostile pages.
//! Only the blocks the snapshot does not read (`Tag`, `threat_level_id`) are not validated.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::index::{EventContext, Pulled, uuid_bytes};
use super::net::NetValue;
use super::table::{Digest, Meta};
use crate::indicator::misp::NetworkType;
use crate::intel::HASH_ATTRIBUTE_TYPES;
use crate::intel::bounds::EVENT_INFO_CHARS;
use crate::intel::rules::Candidate;
use crate::text::clean_text;

/// A restSearch answer, `{"response": {"Attribute": [...]}}`.
#[derive(Deserialize)]
pub(super) struct Page {
    response: Body,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Attribute", default)]
    attribute: Vec<Item>,
}

impl Page {
    pub(super) fn into_items(self) -> Vec<Item> {
        self.response.attribute
    }
}

/// One attribute of a page, reduced: what [`Rules`](crate::intel::rules::Rules) need to admit
/// it, and what the index keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    /// Its id, when it has one that fits a `u32`.
    pub(super) id: Option<u32>,
    /// Its type as written (one of the hash types without an allocation).
    kind: Cow<'static, str>,
    /// Its value as written, for the warninglists.
    value: Box<str>,
    to_ids: Option<bool>,
    deleted: Option<bool>,
    /// Its `Event` block says `published: false`.
    unpublished: bool,
    /// What the index keeps; `None` when it is of no hash or network type, or has no usable id,
    /// or no hash (a hash type) or no value (a network type).
    pub(super) pulled: Option<Pulled>,
}

impl Item {
    /// The attribute for the rules, as [`answered`](crate::intel::misp::answered) reads a
    /// restSearch answer: the pull asked for IDS, live, published attributes, so only an
    /// explicit `false` (or `true` for `deleted`) counts against it.
    pub(super) fn candidate(&self) -> Candidate<'_> {
        Candidate {
            kind: &self.kind,
            value: &self.value,
            to_ids: self.to_ids != Some(false),
            deleted: self.deleted == Some(true),
            published: !self.unpublished,
        }
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Slim::deserialize(d).map(Item::from)
    }
}

impl From<Slim> for Item {
    fn from(a: Slim) -> Item {
        let unpublished = a
            .event
            .as_ref()
            .is_some_and(|e| e.published.0 == Some(false));
        let id = a.id.0.0.flatten();
        // The Event block's id when it has one, else `event_id` (an unusable block id is not
        // replaced: the attribute is left out, as an unusable `event_id` would be).
        let event = a
            .event
            .as_ref()
            .and_then(|e| e.id.0.0)
            .or(a.event_id.0.0)
            .flatten();
        let Value { text, hashes } = a.value.0;
        let net = NetworkType::from_misp(&a.kind.0.text).map(|kind| NetValue {
            kind,
            value: text.clone(),
        });
        let context = a.event.map(|e| EventContext {
            uuid: e.uuid.0.0,
            info: e.info.0.0,
        });
        let pulled = match (a.kind.0.index, id, event) {
            (Some(kind), Some(id), Some(event)) if !hashes.is_empty() => Some(Pulled {
                digests: hashes,
                meta: Meta {
                    id,
                    event,
                    uuid: a.uuid.0.0,
                    kind,
                },
                event: context,
                net: None,
            }),
            (None, Some(id), Some(event)) if net.is_some() && !text.trim().is_empty() => {
                Some(Pulled {
                    digests: Vec::new(),
                    meta: Meta {
                        id,
                        event,
                        uuid: a.uuid.0.0,
                        kind: u8::MAX,
                    },
                    event: context,
                    net,
                })
            }
            _ => None,
        };
        Item {
            id,
            kind: a.kind.0.text,
            value: text,
            to_ids: a.to_ids.0,
            deleted: a.deleted.0,
            unpublished,
            pulled,
        }
    }
}

/// The fields of an attribute the snapshot reads; every other key is skipped unread.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Slim {
    id: Scalar<Id>,
    event_id: Scalar<Id>,
    #[serde(rename = "type")]
    kind: Scalar<Kind>,
    to_ids: Flag,
    deleted: Flag,
    uuid: Scalar<Uuid>,
    value: Scalar<Value>,
    #[serde(rename = "Event")]
    event: Option<SlimEvent>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SlimEvent {
    id: Scalar<Id>,
    uuid: Scalar<Text>,
    info: Scalar<Info>,
    published: Flag,
}

/// What a field makes of its text (`None`: absent, null, empty, or not a scalar with text).
trait FromText: Default {
    fn from_text(text: Option<&str>) -> Self;
}

/// An id: `None` when absent; `Some(None)` when present but not a `u32` (it still hides
/// `event_id` when it is the Event block's).
#[derive(Debug, Default, Clone, Copy)]
struct Id(Option<Option<u32>>);
impl FromText for Id {
    fn from_text(text: Option<&str>) -> Self {
        Id(text.map(|s| s.trim().parse().ok()))
    }
}

/// A type as written, and its index into [`HASH_ATTRIBUTE_TYPES`] when it is one of them.
#[derive(Debug, Default)]
struct Kind {
    text: Cow<'static, str>,
    index: Option<u8>,
}
impl FromText for Kind {
    fn from_text(text: Option<&str>) -> Self {
        let kind = text.unwrap_or("");
        match HASH_ATTRIBUTE_TYPES.iter().position(|t| *t == kind) {
            Some(i) => Kind {
                text: Cow::Borrowed(HASH_ATTRIBUTE_TYPES[i]),
                index: Some(i as u8),
            },
            None => Kind {
                text: Cow::Owned(kind.to_owned()),
                index: None,
            },
        }
    }
}

#[derive(Debug, Default)]
struct Uuid([u8; 16]);
impl FromText for Uuid {
    fn from_text(text: Option<&str>) -> Self {
        Uuid(uuid_bytes(text.unwrap_or("")))
    }
}

/// A value as written, and its hash parts: a bare hash or the hash halves of a composite.
#[derive(Debug, Default)]
struct Value {
    text: Box<str>,
    hashes: Vec<Digest>,
}
impl FromText for Value {
    fn from_text(text: Option<&str>) -> Self {
        let value = text.unwrap_or("");
        Value {
            text: value.into(),
            hashes: value
                .split('|')
                .filter_map(|p| Digest::from_hex(p.trim()))
                .collect(),
        }
    }
}

#[derive(Debug, Default)]
struct Text(Box<str>);
impl FromText for Text {
    fn from_text(text: Option<&str>) -> Self {
        Text(text.unwrap_or("").into())
    }
}

/// An event's `info`, cleaned and bounded as every MISP text that may reach a match.
#[derive(Debug, Default)]
struct Info(Box<str>);
impl FromText for Info {
    fn from_text(text: Option<&str>) -> Self {
        Info(clean_text(text.unwrap_or(""), EVENT_INFO_CHARS).into())
    }
}

/// A scalar read as text by the `Loose` rules, then made into `T` at once.
#[derive(Debug, Default)]
struct Scalar<T>(T);

impl<'de, T: FromText> Deserialize<'de> for Scalar<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(PhantomData))
    }
}

struct ScalarVisitor<T>(PhantomData<T>);

impl<T: FromText> ScalarVisitor<T> {
    fn text<E>(s: &str) -> Result<Scalar<T>, E> {
        Ok(Scalar(T::from_text(Some(s).filter(|s| !s.is_empty()))))
    }
    fn none<E>() -> Result<Scalar<T>, E> {
        Ok(Scalar(T::from_text(None)))
    }
}

impl<'de, T: FromText> Visitor<'de> for ScalarVisitor<T> {
    type Value = Scalar<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Self::text(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::text(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::text(&v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        Self::text(&v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        Self::text(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Self::text(if v { "true" } else { "false" })
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Self::none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Self::none()
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Self::none()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Scalar::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Self::none()
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Self::none()
    }
}

/// A flag as MISP writes it: `true`, a non-zero number, `"1"`, `"true"` or `"True"`; `false`,
/// zero, `"0"`, `"false"`, `"False"` or `""`; anything else unknown.
#[derive(Debug, Default, Clone, Copy)]
struct Flag(Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FlagVisitor)
    }
}

struct FlagVisitor;

impl<'de> Visitor<'de> for FlagVisitor {
    type Value = Flag;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
        Ok(Flag(Some(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
        Ok(Flag(Some(v != 0)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
        Ok(Flag(Some(v != 0)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Flag, E> {
        Ok(Flag(Some(v != 0.0)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
        Ok(Flag(match v.trim() {
            "1" | "true" | "True" => Some(true),
            "0" | "false" | "False" | "" => Some(false),
            _ => None,
        }))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
        Ok(Flag(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
        Ok(Flag(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Flag, D::Error> {
        Flag::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Flag, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Flag(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flag, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Flag(None))
    }
}
