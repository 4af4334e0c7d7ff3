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

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

pub use body::glance_body;
pub use body::{BOM, BodyError, Sink, classify, for_each_record, parse_body, strip_bom};
pub use depth::{first_value_closes, json_depth_exceeds};
use extract::HashSeed;
pub use extract::{HashCell, HashField, HashFields, HashRole, RecordHashes, extract_hashes};
#[cfg(feature = "service")]
pub use hashes::Seeded;
pub use hashes::{FileHash, HashError, HashType, Md5, Sha1, Sha256};
pub use instant::is_iso_instant;
pub(crate) use lenient::Kept;
pub use lenient::Loose;

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

/// The columns of a record that this product reads; every other column is ignored.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    pub device_id: Loose,
    pub device_name: Loose,
    pub report_id: Loose,
    pub timestamp: Loose,
    pub file_name: Loose,
    pub folder_path: Loose,
    pub initiating_process_file_name: Loose,
    pub initiating_process_folder_path: Loose,
    pub sha1: HashCell,
    pub sha256: HashCell,
    pub md5: HashCell,
    pub initiating_process_sha1: HashCell,
    pub initiating_process_sha256: HashCell,
    pub initiating_process_md5: HashCell,
    /// The columns that may carry network indicators ([`network::NETWORK_CELLS`]).
    pub network: network::NetworkCells,
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
    /// The algorithm of a column that holds a file hash.
    pub fn hash_kind(self) -> Option<HashType> {
        match self {
            Column::Sha1 | Column::InitiatingProcessSha1 => Some(HashType::Sha1),
            Column::Sha256 | Column::InitiatingProcessSha256 => Some(HashType::Sha256),
            Column::Md5 | Column::InitiatingProcessMd5 => Some(HashType::Md5),
            _ => None,
        }
    }

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

/// Where a column's value is kept: as text, or as a hash cell of its algorithm.
enum Slot<'a> {
    Text(&'a mut Loose),
    Hash(&'a mut HashCell, HashType),
}

impl Properties {
    fn slot(&mut self, column: Column) -> Slot<'_> {
        use HashType::{Md5, Sha1, Sha256};
        Slot::Text(match column {
            Column::DeviceId => &mut self.device_id,
            Column::DeviceName => &mut self.device_name,
            Column::ReportId => &mut self.report_id,
            Column::Timestamp => &mut self.timestamp,
            Column::FileName => &mut self.file_name,
            Column::FolderPath => &mut self.folder_path,
            Column::InitiatingProcessFileName => &mut self.initiating_process_file_name,
            Column::InitiatingProcessFolderPath => &mut self.initiating_process_folder_path,
            Column::Sha1 => return Slot::Hash(&mut self.sha1, Sha1),
            Column::Sha256 => return Slot::Hash(&mut self.sha256, Sha256),
            Column::Md5 => return Slot::Hash(&mut self.md5, Md5),
            Column::InitiatingProcessSha1 => {
                return Slot::Hash(&mut self.initiating_process_sha1, Sha1);
            }
            Column::InitiatingProcessSha256 => {
                return Slot::Hash(&mut self.initiating_process_sha256, Sha256);
            }
            Column::InitiatingProcessMd5 => {
                return Slot::Hash(&mut self.initiating_process_md5, Md5);
            }
        })
    }

    /// Sets a column unless the value is empty and the column already holds one (of
    /// `ReportId_long` and `ReportId_string`, one is always empty). A hash column keeps the
    /// value's [`HashCell`].
    pub fn fill(&mut self, column: Column, value: Loose) {
        match self.slot(column) {
            Slot::Text(slot) => {
                if value.as_deref().is_some() || slot.as_deref().is_none() {
                    *slot = value;
                }
            }
            Slot::Hash(slot, kind) => Self::keep(slot, HashCell::of(kind, value.as_deref())),
        }
    }

    /// Reads column `column`'s value from `map`: kept as text when `keep`, or as a hash cell for a
    /// hash column (always kept); read as [`Loose`] reads it either way.
    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        column: Column,
        keep: bool,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match self.slot(column) {
            Slot::Text(slot) => {
                let value = map.next_value_seed(Kept(keep))?;
                if value.as_deref().is_some() || slot.as_deref().is_none() {
                    *slot = value;
                }
            }
            Slot::Hash(slot, kind) => Self::keep(slot, map.next_value_seed(HashSeed(kind))?),
        }
        Ok(())
    }

    fn keep(slot: &mut HashCell, cell: HashCell) {
        if !cell.is_absent() || slot.is_absent() {
            *slot = cell;
        }
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PropertiesSeed::<true>.deserialize(d)
    }
}

/// Reads `properties`, keeping every column this product reads (`KEEP`) or only the hash and
/// network columns (a glance, `body::GLANCE`); either way each value is read as [`Loose`] reads
/// it ([`Kept`]).
pub(crate) struct PropertiesSeed<const KEEP: bool>;

impl<'de, const KEEP: bool> DeserializeSeed<'de> for PropertiesSeed<KEEP> {
    type Value = Properties;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Properties, D::Error> {
        struct V<const KEEP: bool>;
        impl<'de, const KEEP: bool> Visitor<'de> for V<KEEP> {
            type Value = Properties;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the columns of a record (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Properties, A::Error> {
                let mut p = Properties::default();
                let mut seen = Seen::default();
                while let Some(ColumnKey(column, net)) = map.next_key()? {
                    match (column, net) {
                        (Some((c, bit)), _) => {
                            seen.once::<A::Error>(bit, spelling(bit))?;
                            p.read(c, KEEP, &mut map)?;
                        }
                        (None, Some(slot)) => {
                            let Loose(value) = map.next_value()?;
                            if !p.network.set(slot, value) {
                                let name = network::NETWORK_CELLS[usize::from(slot)];
                                return Err(serde::de::Error::duplicate_field(name));
                            }
                        }
                        (None, None) => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(p)
            }
        }
        d.deserialize_map(V::<KEEP>)
    }
}

/// A key of `properties`: the column it names and its spelling's bit, or the slot of a network
/// column, told without allocating.
struct ColumnKey(Option<(Column, u32)>, Option<u8>);

impl<'de> Deserialize<'de> for ColumnKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ColumnKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a column name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ColumnKey, E> {
                let column = Column::spelling_bit(v);
                let net = if column.is_none() {
                    network::cell(v)
                } else {
                    None
                };
                Ok(ColumnKey(column, net))
            }
        }
        d.deserialize_str(V)
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
