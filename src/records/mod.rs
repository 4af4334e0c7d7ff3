//! Defender XDR records: the bodies Defender puts on the Event Hub (and the lines of its Storage
//! export), and the exports people make of the same tables (the hunting API's answer, Log
//! Analytics and hunting rows, the portal's CSV through [`Record::from_columns`]), decoded
//! leniently, and the file hashes each record carries.
//!
//! The shapes accepted are listed in `body`; records are decoded one at a time, so an export of
//! any size is read in bounded memory. Unknown tables and columns pass through untouched; only
//! the columns this product reads are typed, each as a [`Loose`] value that cannot fail. This
//! module knows nothing of HTTP or MISP.

mod body;
mod depth;
mod extract;
pub mod hashes;
mod instant;
mod lenient;
pub mod network;
mod properties;

use serde::Deserialize;

pub use body::glance_body;
pub use body::{BOM, BodyError, Sink, classify, for_each_record, parse_body, strip_bom};
pub use depth::{first_value_closes, json_depth_exceeds};
pub use extract::{HashCell, HashField, HashFields, HashRole, RecordHashes, extract_hashes};
#[cfg(feature = "service")]
pub use hashes::Seeded;
pub use hashes::{FileHash, HashError, HashType, Md5, Sha1, Sha256};
pub use instant::is_iso_instant;
pub(crate) use lenient::Kept;
pub use lenient::Loose;
pub use properties::Properties;
pub(crate) use properties::PropertiesSeed;

/// One row: `category` names the Advanced Hunting table, `properties` holds its columns.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub category: Loose,
    pub time: Loose,
    pub properties: Properties,
}

/// The fields of a record as serde sees them; [`Record`] accepts them only from a JSON object.
#[derive(Deserialize)]
struct RecordFields {
    #[serde(default)]
    category: Loose,
    #[serde(default)]
    time: Loose,
    #[serde(default)]
    properties: Properties,
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ObjectOnly(f) = ObjectOnly::<RecordFields>::deserialize(d)?;
        Ok(Record {
            category: f.category,
            time: f.time,
            properties: f.properties,
        })
    }
}

/// Deserializes `T` from a JSON object only. serde's derive also accepts an array for a struct
/// (fields by position), which would let `[[…]]` pass for a record.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A column this product reads, named as the Advanced Hunting schema names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    DeviceId,
    DeviceName,
    ReportId,
    Timestamp,
    FileName,
    FolderPath,
    InitiatingProcessFileName,
    InitiatingProcessFolderPath,
    Sha1,
    Sha256,
    Md5,
    InitiatingProcessSha1,
    InitiatingProcessSha256,
    InitiatingProcessMd5,
}

impl Column {
    /// The column a name stands for. `ReportId_long` and `ReportId_string` are how Log
    /// Analytics spells `ReportId` when a query unions tables that type it differently.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "DeviceId" => Column::DeviceId,
            "DeviceName" => Column::DeviceName,
            "ReportId" | "ReportId_long" | "ReportId_string" => Column::ReportId,
            "Timestamp" => Column::Timestamp,
            "FileName" => Column::FileName,
            "FolderPath" => Column::FolderPath,
            "InitiatingProcessFileName" => Column::InitiatingProcessFileName,
            "InitiatingProcessFolderPath" => Column::InitiatingProcessFolderPath,
            "SHA1" => Column::Sha1,
            "SHA256" => Column::Sha256,
            "MD5" => Column::Md5,
            "InitiatingProcessSHA1" => Column::InitiatingProcessSha1,
            "InitiatingProcessSHA256" => Column::InitiatingProcessSha256,
            "InitiatingProcessMD5" => Column::InitiatingProcessMd5,
            _ => return None,
        })
    }
}

impl Column {
    /// A bit per spelling of a column, so that a record naming one twice is refused (two
    /// parsers could each take another of the values); `ReportId_long` and `ReportId_string`
    /// are spellings of their own, both present in Log Analytics rows.
    pub fn spelling_bit(name: &str) -> Option<(Self, u32)> {
        let column = Self::named(name)?;
        let bit = match name {
            "ReportId_long" => 14,
            "ReportId_string" => 15,
            _ => column as u32,
        };
        Some((column, bit))
    }
}

/// The column spellings by their bit ([`Column::spelling_bit`]), for error messages.
const SPELLINGS: [&str; 16] = [
    "DeviceId",
    "DeviceName",
    "ReportId",
    "Timestamp",
    "FileName",
    "FolderPath",
    "InitiatingProcessFileName",
    "InitiatingProcessFolderPath",
    "SHA1",
    "SHA256",
    "MD5",
    "InitiatingProcessSHA1",
    "InitiatingProcessSHA256",
    "InitiatingProcessMD5",
    "ReportId_long",
    "ReportId_string",
];

/// The name of a column spelling's bit.
pub(crate) fn spelling(bit: u32) -> &'static str {
    SPELLINGS.get(bit as usize).copied().unwrap_or("a column")
}

/// Remembers the keys of one object and refuses one seen twice.
#[derive(Default)]
pub(crate) struct Seen(u32);

impl Seen {
    pub(crate) fn once<E: serde::de::Error>(
        &mut self,
        bit: u32,
        name: &'static str,
    ) -> Result<(), E> {
        if self.0 & (1 << bit) != 0 {
            return Err(E::duplicate_field(name));
        }
        self.0 |= 1 << bit;
        Ok(())
    }
}

/// The prefix Defender puts before the Advanced Hunting table name in `category`.
pub const CATEGORY_PREFIX: &str = "AdvancedHunting-";

impl Record {
    /// A row of a table export (the portal's CSV): each named cell that is not empty sets its
    /// column; a `Type` or `$table` cell names the table.
    pub fn from_columns<'a>(cells: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut record = Record::default();
        for (name, value) in cells {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if matches!(name, "Type" | "$table")
                && value.bytes().all(|b| b.is_ascii_alphanumeric())
                && value.len() <= 64
            {
                record.category = Loose(Some(format!("{CATEGORY_PREFIX}{value}")));
            } else if let Some(column) = Column::named(name) {
                record
                    .properties
                    .fill(column, Loose(Some(value.to_owned())));
            } else if let Some(slot) = network::cell(name) {
                record.properties.network.set(slot, Some(value.to_owned()));
            }
        }
        record
    }

    /// The Advanced Hunting table, e.g. `DeviceFileEvents`.
    pub fn table(&self) -> Option<&str> {
        let c = self.category.as_deref()?;
        Some(c.strip_prefix(CATEGORY_PREFIX).unwrap_or(c))
    }

    /// Whether Defender can raise an alert on this record by reference: a device *event* table
    /// (`Device…Events`) with the device id, the report id and the exact event time that
    /// `CreateAlertByReference` needs; the time must be an ISO 8601 instant (a portal display
    /// string such as `11/9/2022, 5:59:52.626 PM` or epoch milliseconds is not the event time).
    pub fn is_alertable(&self) -> bool {
        let p = &self.properties;
        let device_event = self
            .table()
            .is_some_and(|t| t.starts_with("Device") && t.ends_with("Events"));
        device_event
            && p.device_id.as_deref().is_some()
            && p.report_id.as_deref().is_some()
            && p.timestamp.as_deref().is_some_and(is_iso_instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_neither_overflows_the_stack_nor_is_read() {
        let nested = |n| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        // Skipped columns are walked without recursion: the record still decodes.
        let in_unknown = format!(r#"{{"properties":{{"X":{}}}}}"#, nested(100_000));
        assert_eq!(parse_body(in_unknown.as_bytes(), 10).unwrap().len(), 1);
        // A column we read that holds an array is dropped, walked the same way.
        let in_known = format!(r#"{{"properties":{{"SHA1":{}}}}}"#, nested(100_000));
        assert_eq!(
            parse_body(in_known.as_bytes(), 10).unwrap()[0]
                .properties
                .sha1,
            HashCell::Absent
        );
        assert!(parse_body(nested(100_000).as_bytes(), 10).is_err());
    }
}
