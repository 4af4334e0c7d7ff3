//! Reading a folder in the layout of the public MISP/misp-warninglists repository:
//! `lists/<name>/list.json`, each `{name, description, version, type, matching_attributes, list}`
//! (the repository's `schema.json`). The folder given may be the repository root or its `lists`.
//!
//! Defaults as MISP applies them when it imports the folder (`Warninglist::update` and
//! `__updateList`, MISP/MISP `app/Model/Warninglist.php`): a missing `type` is `string`, a `type`
//! given as an array takes its first element, empty `matching_attributes` means every type
//! (`ALL`), `list` may be an array of values or an object of value → comment, empty values are
//! dropped. MISP imports lists disabled and an administrator enables some; here the caller names
//! the enabled lists ([`Selection`]).
//!
//! A list is third-party content: its file size, its entry count and each entry's length are
//! bounded, and a list that cannot be read or parsed is skipped and reported, not fatal.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Largest `list.json` read (the largest public lists are tens of MB).
pub const MAX_LIST_BYTES: u64 = 256 << 20;
/// Lists read from one folder at most.
pub const MAX_LISTS: usize = 1024;
/// Entries kept per list at most.
pub const MAX_ENTRIES: usize = 5_000_000;
/// Bytes of one entry at most; longer ones are skipped.
pub const MAX_ENTRY_BYTES: usize = 2048;

/// The five list types MISP knows (`Warninglist::$validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListType {
    String,
    Substring,
    Hostname,
    Cidr,
    Regex,
}

impl ListType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => ListType::String,
            "substring" => ListType::Substring,
            "hostname" => ListType::Hostname,
            "cidr" => ListType::Cidr,
            "regex" => ListType::Regex,
            _ => return None,
        })
    }
}

/// One list as read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warninglist {
    /// The folder name under `lists/` (`empty-hashes`).
    pub id: String,
    /// The `name` field (`List of known hashes for empty files`).
    pub name: String,
    pub version: u64,
    pub kind: ListType,
    /// MISP attribute types the list applies to; empty means all.
    pub types: Vec<String>,
    pub entries: Vec<String>,
}

/// Which lists of a folder are enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    /// By folder name or by `name`.
    Named(Vec<String>),
}

impl Selection {
    fn wants(&self, id: &str, name: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Named(names) => names.iter().any(|n| n == id || n == name),
        }
    }
}

/// Why a folder or a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_LIST_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: not a warninglist: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: more than {MAX_LISTS} lists")]
    TooManyLists { path: PathBuf },
}

#[derive(Deserialize)]
struct RawList {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    kind: Option<serde_json::Value>,
    #[serde(default)]
    matching_attributes: Vec<String>,
    list: RawEntries,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawEntries {
    Values(Vec<String>),
    Commented(serde_json::Map<String, serde_json::Value>),
}

/// Parses one `list.json`. Entries that are empty or too long are dropped and counted.
pub fn parse_list(id: &str, bytes: &[u8]) -> Result<(Warninglist, usize), String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let raw: RawList = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let kind = match &raw.kind {
        None => "string",
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(serde_json::Value::Array(a)) => a.first().and_then(|v| v.as_str()).unwrap_or(""),
        Some(_) => "",
    };
    let kind = ListType::parse(kind).ok_or_else(|| format!("unknown list type `{kind}`"))?;
    let values: Vec<String> = match raw.list {
        RawEntries::Values(v) => v,
        RawEntries::Commented(m) => m.into_iter().map(|(k, _)| k).collect(),
    };
    if values.len() > MAX_ENTRIES {
        return Err(format!("more than {MAX_ENTRIES} entries"));
    }
    let total = values.len();
    let entries: Vec<String> = values
        .into_iter()
        .filter(|v| !v.is_empty() && v.len() <= MAX_ENTRY_BYTES)
        .collect();
    let dropped = total - entries.len();
    let version = match raw.version {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        _ => 1,
    };
    let types = if raw.matching_attributes.iter().any(|t| t == "ALL") {
        Vec::new()
    } else {
        raw.matching_attributes
    };
    let name = if raw.name.is_empty() {
        id.to_owned()
    } else {
        raw.name
    };
    let list = Warninglist {
        id: id.to_owned(),
        name,
        version,
        kind,
        types,
        entries,
    };
    Ok((list, dropped))
}

/// What a folder gave: the enabled lists, and what was skipped and why.
#[derive(Debug, Default)]
pub struct Loaded {
    pub lists: Vec<Warninglist>,
    /// Lists that could not be used, with the reason (safe to log).
    pub skipped: Vec<(String, String)>,
    /// Entries dropped for being empty or too long, over all lists.
    pub dropped_entries: usize,
    /// Names in a [`Selection::Named`] that no list has.
    pub unknown_names: Vec<String>,
}

/// Reads the enabled lists of a folder, in folder-name order.
pub fn read_dir(dir: &Path, selection: &Selection) -> Result<Loaded, LoadError> {
    let lists_dir = if dir.join("lists").is_dir() {
        dir.join("lists")
    } else {
        dir.to_owned()
    };
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| LoadError::Read { path, source }
    };
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&lists_dir).map_err(read_err(&lists_dir))? {
        let entry = entry.map_err(read_err(&lists_dir))?;
        if entry.path().join("list.json").is_file() {
            ids.push(entry.file_name().to_string_lossy().into_owned());
        }
        if ids.len() > MAX_LISTS {
            return Err(LoadError::TooManyLists { path: lists_dir });
        }
    }
    ids.sort();
    let mut loaded = Loaded::default();
    let mut seen_names = Vec::new();
    for id in ids {
        let path = lists_dir.join(&id).join("list.json");
        match read_one(&path, &id) {
            Ok((list, dropped)) => {
                seen_names.push(list.id.clone());
                seen_names.push(list.name.clone());
                if selection.wants(&list.id, &list.name) {
                    loaded.dropped_entries += dropped;
                    loaded.lists.push(list);
                }
            }
            Err(e) => loaded.skipped.push((id, e.to_string())),
        }
    }
    if let Selection::Named(names) = selection {
        loaded.unknown_names = names
            .iter()
            .filter(|n| !seen_names.contains(n))
            .cloned()
            .collect();
    }
    Ok(loaded)
}

fn read_one(path: &Path, id: &str) -> Result<(Warninglist, usize), LoadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_LIST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_LIST_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
        });
    }
    parse_list(id, &bytes).map_err(|reason| LoadError::Parse {
        path: path.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misp_defaults_apply_to_missing_and_odd_fields() {
        let (l, dropped) = parse_list(
            "x",
            br#"{"list":{"a.test":"comment","":"empty"},"matching_attributes":[]}"#,
        )
        .unwrap();
        assert_eq!(l.kind, ListType::String);
        assert_eq!(l.name, "x");
        assert_eq!(l.version, 1);
        assert!(l.types.is_empty());
        assert_eq!(l.entries, ["a.test"]);
        assert_eq!(dropped, 1);
        let (l, _) = parse_list(
            "y",
            "\u{feff}{\"name\":\"Y\",\"type\":[\"cidr\",\"string\"],\"version\":\"7\",\"matching_attributes\":[\"ALL\"],\"list\":[\"1.2.3.0/24\"]}".as_bytes(),
        )
        .unwrap();
        assert_eq!(
            (l.kind, l.version, l.name.as_str()),
            (ListType::Cidr, 7, "Y")
        );
        assert!(l.types.is_empty());
    }

    #[test]
    fn unusable_lists_say_why() {
        assert!(parse_list("x", b"{").is_err());
        assert!(
            parse_list("x", br#"{"type":"glob","list":[]}"#)
                .unwrap_err()
                .contains("glob")
        );
        assert!(parse_list("x", br#"{"type":"string"}"#).is_err());
        let long = format!(r#"{{"list":["{}","ok"]}}"#, "a".repeat(MAX_ENTRY_BYTES + 1));
        assert_eq!(parse_list("x", long.as_bytes()).unwrap().1, 1);
    }
}
