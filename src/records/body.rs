//! The shapes a body or an exported file holds, decoded one record at a time.
//!
//! A top-level JSON value is one of:
//! - an envelope `{"records":[…]}` (Event Hub messages, the Storage export's documents);
//! - a hunting answer `{"Schema":[…],"Results":[…]}` (the Defender hunting API) or
//!   `{"schema":[…],"results":[…]}` (Microsoft Graph `runHuntingQuery`), whose rows are flat;
//! - a record `{"category":…,"properties":{…}}` (a Storage-export line);
//! - a flat row `{"Timestamp":…,"SHA256":…}`: the columns without a `properties` wrapper, as Log
//!   Analytics and hunting exports write them (its table from `Type` or `$table` when present);
//! - an array of any of those (the hunting API's rows as SOAR tools save them, `az` output).
//!
//! A bare object must carry `properties` or at least one column this product reads, so that
//! unrelated JSON is refused; a row inside `records` or `Results` is taken as it is. Records are
//! handed to a sink as they are decoded ([`for_each_record`]), so a file of any size is read in
//! bounded memory; [`parse_body`] collects them for an Event Hub body, which is bounded already.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use super::{CATEGORY_PREFIX, Column, Kept, Loose, Properties, PropertiesSeed, Record, Seen};

/// Why an Event Hub body holds no Defender records. The text is the dead-letter reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("empty body")]
    Empty,
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is JSON but not Defender records: {0}")]
    NotRecords(String),
    #[error("body holds more than {limit} records")]
    TooManyRecords { limit: usize },
}

/// The UTF-8 byte order mark some Windows tools (PowerShell, Excel, the portal's CSV) write.
pub const BOM: &[u8] = b"\xef\xbb\xbf";

/// The bytes without a leading byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// What a sink says to stop decoding with; kept by the caller, since serde only carries text.
pub type Sink<'s> = dyn FnMut(Record) -> Result<(), BodyError> + 's;

/// Decodes one top-level JSON value from `d`, handing each record to `sink` as it is read.
/// When the sink refuses a record, its error is put in `stopped` and decoding ends.
pub fn for_each_record<'de, D: Deserializer<'de>>(
    d: D,
    sink: &mut Sink<'_>,
    stopped: &mut Option<BodyError>,
) -> Result<(), D::Error> {
    d.deserialize_any(Top::<FULL> { sink, stopped })
}

/// What a decode keeps of each record: every column this product reads ([`FULL`]), or only
/// what finding its lookup keys needs ([`GLANCE`]: the table, the hash and the network columns).
/// A glance reads every other value exactly as a full decode does, refusing the same bodies for
/// the same reasons, but copies none of it (issue 14: those copies were most of a warm batch's
/// allocations).
pub(super) const FULL: bool = true;
pub(super) const GLANCE: bool = false;

/// Decodes one Event Hub body (or one small exported file) into its records: any number of
/// top-level values separated by whitespace (which covers JSON lines with LF or CRLF endings),
/// after an optional byte order mark.
///
/// A body that is UTF-8 throughout (checked once, with SIMD) is read as text, so that
/// serde_json does not check each string it keeps again (5 % of a warm batch, issue 14); any
/// other body is read as bytes, exactly as before: invalid UTF-8 in a column nobody reads is
/// still no reason to refuse it.
pub fn parse_body(bytes: &[u8], max_records: usize) -> Result<Vec<Record>, BodyError> {
    parse::<FULL>(bytes, max_records)
}

/// [`parse_body`] keeping of each record only what finding its lookup keys needs: its table, its
/// hash columns and its network columns; every other column is `Loose(None)`. The same bodies
/// are accepted, with the same records in the same order; a body refused is refused with
/// [`parse_body`]'s own reason (it is decoded again, fully, to say why). For the Event Hub's
/// batches, where a record that matches is decoded again in full for its alert.
pub fn glance_body(bytes: &[u8], max_records: usize) -> Result<Vec<Record>, BodyError> {
    parse::<GLANCE>(bytes, max_records).or_else(|_| parse_body(bytes, max_records))
}

fn parse<const KEEP: bool>(bytes: &[u8], max_records: usize) -> Result<Vec<Record>, BodyError> {
    let bytes = strip_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => parse_values::<_, KEEP>(serde_json::Deserializer::from_str(text), max_records),
        Err(_) => parse_values::<_, KEEP>(serde_json::Deserializer::from_slice(bytes), max_records),
    }
}

/// The records of every top-level value `de` reads, up to `max_records`.
fn parse_values<'de, R: serde_json::de::Read<'de>, const KEEP: bool>(
    mut de: serde_json::Deserializer<R>,
    max_records: usize,
) -> Result<Vec<Record>, BodyError> {
    let mut records = Vec::new();
    let mut stopped = None;
    loop {
        let mut sink = |r: Record| {
            if records.len() >= max_records {
                return Err(BodyError::TooManyRecords { limit: max_records });
            }
            records.push(r);
            Ok(())
        };
        let top = Top::<KEEP> {
            sink: &mut sink,
            stopped: &mut stopped,
        };
        if let Err(e) = (&mut de).deserialize_any(top) {
            return Err(stopped.take().unwrap_or_else(|| classify(e)));
        }
        if de.end().is_ok() {
            return Ok(records);
        }
    }
}

/// A serde_json error as the reason a body is refused.
pub fn classify(e: serde_json::Error) -> BodyError {
    match e.classify() {
        Category::Data => BodyError::NotRecords(e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => BodyError::NotJson(e.to_string()),
    }
}

/// Hands a record to the sink; a refusal becomes a serde error and is kept in `stopped`.
fn emit<E: de::Error>(
    sink: &mut Sink<'_>,
    stopped: &mut Option<BodyError>,
    record: Record,
) -> Result<(), E> {
    sink(record).map_err(|e| {
        let text = e.to_string();
        *stopped = Some(e);
        E::custom(text)
    })
}

/// A top-level value: one object, or an array of objects.
struct Top<'a, 's, const KEEP: bool> {
    sink: &'a mut Sink<'s>,
    stopped: &'a mut Option<BodyError>,
}

impl<'de, const KEEP: bool> Visitor<'de> for Top<'_, '_, KEEP> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Defender records (a JSON object or an array of objects)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Object::<KEEP> {
            sink: self.sink,
            stopped: self.stopped,
            nested: true,
            strict: true,
        }
        .visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let item = Object::<KEEP> {
                sink: &mut *self.sink,
                stopped: &mut *self.stopped,
                nested: true,
                strict: true,
            };
            if seq.next_element_seed(item)?.is_none() {
                return Ok(());
            }
        }
    }
}

/// One object: an envelope or a hunting answer (when `nested`), a record, or a flat row.
/// `strict`: an object with neither `properties` nor a known column is refused.
struct Object<'a, 's, const KEEP: bool> {
    sink: &'a mut Sink<'s>,
    stopped: &'a mut Option<BodyError>,
    nested: bool,
    strict: bool,
}

impl<'de, const KEEP: bool> DeserializeSeed<'de> for Object<'_, '_, KEEP> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, const KEEP: bool> Visitor<'de> for Object<'_, '_, KEEP> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Defender record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut category, mut time, mut table) = (Loose(None), Loose(None), Loose(None));
        let mut properties: Option<Properties> = None;
        let mut flat = Properties::default();
        let (mut columns, mut rows) = (0usize, false);
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<Key>()? {
            if let Some(bit) = key.bit() {
                seen.once::<A::Error>(bit, key.name())?;
            }
            match key {
                Key::Rows if self.nested => {
                    rows = true;
                    map.next_value_seed(Rows::<KEEP> {
                        sink: &mut *self.sink,
                        stopped: &mut *self.stopped,
                    })?;
                }
                Key::Category => category = map.next_value()?,
                Key::Time => time = map.next_value_seed(Kept(KEEP))?,
                Key::Properties => properties = Some(map.next_value_seed(PropertiesSeed::<KEEP>)?),
                Key::Table => table = map.next_value()?,
                Key::Column(column, _) => {
                    columns += 1;
                    flat.read(column, KEEP, &mut map)?;
                }
                Key::Net(slot) => {
                    columns += 1;
                    let Loose(value) = map.next_value()?;
                    if !flat.network.set(slot, value) {
                        let name = super::network::NETWORK_CELLS[usize::from(slot)];
                        return Err(de::Error::duplicate_field(name));
                    }
                }
                Key::Rows | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if rows && properties.is_none() {
            return Ok(());
        }
        let record = match properties {
            Some(properties) => Record {
                category,
                time,
                properties,
            },
            None if columns > 0 || !self.strict => Record {
                category: category_of(category, table),
                time,
                properties: flat,
            },
            None => {
                return Err(de::Error::custom(
                    "an object with neither `records` nor `properties` nor any Defender column",
                ));
            }
        };
        emit(self.sink, self.stopped, record)
    }
}

/// The category of a flat row: its own, or `AdvancedHunting-<table>` from a Log Analytics `Type`
/// or a hunting `$table` column that names a table.
fn category_of(category: Loose, table: Loose) -> Loose {
    if category.as_deref().is_some() {
        return category;
    }
    match table.as_deref() {
        Some(t) if t.bytes().all(|b| b.is_ascii_alphanumeric()) && t.len() <= 64 => {
            Loose(Some(format!("{CATEGORY_PREFIX}{t}")))
        }
        _ => Loose(None),
    }
}

/// The rows of `records` or `Results`, each handed on as it is read.
struct Rows<'a, 's, const KEEP: bool> {
    sink: &'a mut Sink<'s>,
    stopped: &'a mut Option<BodyError>,
}

impl<'de, const KEEP: bool> DeserializeSeed<'de> for Rows<'_, '_, KEEP> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, const KEEP: bool> Visitor<'de> for Rows<'_, '_, KEEP> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Defender records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let row = Object::<KEEP> {
                sink: &mut *self.sink,
                stopped: &mut *self.stopped,
                nested: false,
                strict: false,
            };
            if seq.next_element_seed(row)?.is_none() {
                return Ok(());
            }
        }
    }
}

/// What a key of a record-like object means, told without allocating.
enum Key {
    /// `records` (an envelope), `Results` or `results` (a hunting answer).
    Rows,
    Category,
    Time,
    Properties,
    /// `Type` (Log Analytics) or `$table` (hunting): the row's table.
    Table,
    Column(Column, u32),
    /// A column that may carry network indicators, by its slot in `network::NETWORK_CELLS`.
    Net(u8),
    Other,
}

impl Key {
    /// The key's bit among those of one object (columns' spellings take the low bits).
    fn bit(&self) -> Option<u32> {
        Some(match self {
            Key::Column(_, bit) => *bit,
            Key::Rows => 24,
            Key::Category => 25,
            Key::Time => 26,
            Key::Properties => 27,
            Key::Table => 28,
            Key::Net(_) | Key::Other => return None,
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Key::Rows => "records",
            Key::Category => "category",
            Key::Time => "time",
            Key::Properties => "properties",
            Key::Table => "Type",
            Key::Column(_, bit) => super::spelling(*bit),
            Key::Net(slot) => super::network::NETWORK_CELLS[usize::from(*slot)],
            Key::Other => "a key",
        }
    }
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "records" | "Results" | "results" => Key::Rows,
                    "category" => Key::Category,
                    "time" => Key::Time,
                    "properties" => Key::Properties,
                    "Type" | "$table" => Key::Table,
                    other => match Column::spelling_bit(other) {
                        Some((c, bit)) => Key::Column(c, bit),
                        None => super::network::cell(other).map_or(Key::Other, Key::Net),
                    },
                })
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "glance_tests.rs"]
mod glance_tests;
