//! The columns of a record that may carry network indicators (issue 15), kept as text for
//! `indicator::columns` to read: the remote address, port and URL of device events, the origin
//! of downloaded files, the senders of mail and the URLs in mail and clicks. Which table's
//! column means what is decided there, not here; this module only keeps the cells.

/// The column names kept, in a fixed order (their index is a cell's slot).
pub const NETWORK_CELLS: [&str; 14] = [
    "RemoteIP",
    "RemotePort",
    "RemoteUrl",
    "FileOriginUrl",
    "FileOriginReferrerUrl",
    "FileOriginIP",
    "SenderIPv4",
    "SenderIPv6",
    "SenderFromDomain",
    "SenderMailFromDomain",
    "SenderFromAddress",
    "SenderMailFromAddress",
    "Url",
    "UrlDomain",
];

/// The slot of a network column name. Called for every column a record has that is not a hash
/// column, so most names are turned away by their first letter.
pub fn cell(name: &str) -> Option<u8> {
    if !matches!(name.as_bytes().first(), Some(b'R' | b'F' | b'S' | b'U')) {
        return None;
    }
    Some(match name {
        "RemoteIP" => 0,
        "RemotePort" => 1,
        "RemoteUrl" => 2,
        "FileOriginUrl" => 3,
        "FileOriginReferrerUrl" => 4,
        "FileOriginIP" => 5,
        "SenderIPv4" => 6,
        "SenderIPv6" => 7,
        "SenderFromDomain" => 8,
        "SenderMailFromDomain" => 9,
        "SenderFromAddress" => 10,
        "SenderMailFromAddress" => 11,
        "Url" => 12,
        "UrlDomain" => 13,
        _ => return None,
    })
}

/// The network cells of one record that hold text; most records have none (no allocation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkCells(Vec<(u8, String)>);

impl NetworkCells {
    /// A column's text, if the record has it and it is not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        let slot = cell(name)?;
        self.0
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Keeps a cell; false when the record already named that column (refused as a duplicate).
    pub fn set(&mut self, slot: u8, value: Option<String>) -> bool {
        if self.0.iter().any(|(s, _)| *s == slot) {
            return false;
        }
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.0.push((slot, v));
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_has_its_own_slot() {
        for (i, name) in NETWORK_CELLS.iter().enumerate() {
            assert_eq!(cell(name), Some(i as u8), "{name}");
        }
        assert_eq!(
            cell("LocalIP"),
            None,
            "the device's own address is never kept"
        );
    }
}
