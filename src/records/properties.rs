//! [`Properties`]: the columns of a record this product reads, and how `properties` (or a flat
//! row's columns) is read into them: every column by [`Kept`] as [`Loose`] reads it, each hash
//! column into its [`HashCell`], kept whole or at a glance ([`PropertiesSeed`]).

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::extract::HashSeed;
use super::{Column, HashCell, HashType, Kept, Loose, Seen, network, spelling};

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
            Slot::Text(slot) => Self::put(slot, value),
            Slot::Hash(slot, kind) => Self::keep(slot, HashCell::of(kind, value.as_deref())),
        }
    }

    /// Reads column `column`'s value from `map`: kept as text when `keep`, or as a hash cell for a
    /// hash column (always kept); read as [`Loose`] reads it either way.
    pub(super) fn read<'de, A: MapAccess<'de>>(
        &mut self,
        column: Column,
        keep: bool,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match self.slot(column) {
            Slot::Text(slot) => Self::put(slot, map.next_value_seed(Kept(keep))?),
            Slot::Hash(slot, kind) => Self::keep(slot, map.next_value_seed(HashSeed(kind))?),
        }
        Ok(())
    }

    /// [`Self::fill`]'s rule for a text column: an empty value never replaces one.
    fn put(slot: &mut Loose, value: Loose) {
        if value.as_deref().is_some() || slot.as_deref().is_none() {
            *slot = value;
        }
    }

    /// The same rule for a hash column: an absent cell never replaces one.
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
