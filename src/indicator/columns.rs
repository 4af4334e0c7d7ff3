//! Which Defender columns carry which network indicators, per table ([`NETWORK_COLUMNS`], data),
//! and their extraction from a row ([`extract_indicators`]), independent of the engine.
//!
//! The table follows issue 15's list, checked against Microsoft's Advanced Hunting schema pages
//! (learn.microsoft.com, `advanced-hunting-<table>-table`) and real streamed records. Never
//! indicators: `LocalIP` (the device's own address), `DeviceInfo.PublicIP` and
//! `DeviceNetworkInfo` (the device's own network), `UrlClickEvents.IPAddress` (the clicking
//! user's address).
//!
//! A row is read through [`Columns`], so the same extraction serves a `serde_json` object today
//! and the typed record tomorrow. Values that do not parse are counted as invalid; values that are
//! never looked up are counted per [`Skip`] reason; neither is returned.

use super::scope::Skip;
use super::url::{Url, UrlHost};
use super::{Email, Host, Indicator, Ip};

/// How a column's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// An IPv4 or IPv6 address.
    Ip,
    /// A DNS name.
    Host,
    /// A URL, a bare host, or `host:port` (Defender's `RemoteUrl` is any of these). A URL yields
    /// itself and its host; a bare host yields the host.
    Url,
    /// A sender address.
    Email,
}

/// A column that carries indicators, in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkColumn {
    /// Advanced Hunting table, without the stream's `AdvancedHunting-` prefix.
    pub table: &'static str,
    pub column: &'static str,
    pub kind: ColumnKind,
    /// The column holding the remote port that goes with this one, if any.
    pub port: Option<&'static str>,
}

const fn col(table: &'static str, column: &'static str, kind: ColumnKind) -> NetworkColumn {
    NetworkColumn {
        table,
        column,
        kind,
        port: None,
    }
}

const fn with_port(
    table: &'static str,
    column: &'static str,
    kind: ColumnKind,
    port: &'static str,
) -> NetworkColumn {
    NetworkColumn {
        table,
        column,
        kind,
        port: Some(port),
    }
}

/// Every indicator-bearing column, table by table, in a fixed order.
pub const NETWORK_COLUMNS: [NetworkColumn; 19] = [
    with_port(
        "DeviceNetworkEvents",
        "RemoteIP",
        ColumnKind::Ip,
        "RemotePort",
    ),
    with_port(
        "DeviceNetworkEvents",
        "RemoteUrl",
        ColumnKind::Url,
        "RemotePort",
    ),
    col("DeviceFileEvents", "FileOriginUrl", ColumnKind::Url),
    col("DeviceFileEvents", "FileOriginReferrerUrl", ColumnKind::Url),
    col("DeviceFileEvents", "FileOriginIP", ColumnKind::Ip),
    with_port("DeviceEvents", "RemoteIP", ColumnKind::Ip, "RemotePort"),
    with_port("DeviceEvents", "RemoteUrl", ColumnKind::Url, "RemotePort"),
    col("DeviceEvents", "FileOriginUrl", ColumnKind::Url),
    col("DeviceEvents", "FileOriginIP", ColumnKind::Ip),
    with_port(
        "DeviceLogonEvents",
        "RemoteIP",
        ColumnKind::Ip,
        "RemotePort",
    ),
    col("EmailEvents", "SenderIPv4", ColumnKind::Ip),
    col("EmailEvents", "SenderIPv6", ColumnKind::Ip),
    col("EmailEvents", "SenderFromDomain", ColumnKind::Host),
    col("EmailEvents", "SenderMailFromDomain", ColumnKind::Host),
    col("EmailEvents", "SenderFromAddress", ColumnKind::Email),
    col("EmailEvents", "SenderMailFromAddress", ColumnKind::Email),
    col("EmailUrlInfo", "Url", ColumnKind::Url),
    col("EmailUrlInfo", "UrlDomain", ColumnKind::Host),
    col("UrlClickEvents", "Url", ColumnKind::Url),
];

/// The columns of one table.
pub fn columns_of(table: &str) -> impl Iterator<Item = &'static NetworkColumn> + '_ {
    NETWORK_COLUMNS.iter().filter(move |c| c.table == table)
}

/// Read access to a row's columns. `text` is a column's string value (absent, `null` and empty
/// are all `None`); `number` a column's integer value, written as a number or as digits.
pub trait Columns {
    fn text(&self, name: &str) -> Option<&str>;
    fn number(&self, name: &str) -> Option<u64> {
        self.text(name).and_then(|t| t.trim().parse().ok())
    }
}

impl Columns for serde_json::Map<String, serde_json::Value> {
    fn text(&self, name: &str) -> Option<&str> {
        self.get(name)?.as_str().filter(|s| !s.is_empty())
    }
    fn number(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A streamed record (`{"category", "properties": {…}}`, columns read from `properties`) or a
/// flat row of columns (hunting and Log Analytics exports).
impl Columns for serde_json::Value {
    fn text(&self, name: &str) -> Option<&str> {
        row_of(self)?.text(name)
    }
    fn number(&self, name: &str) -> Option<u64> {
        row_of(self)?.number(name)
    }
}

fn row_of(v: &serde_json::Value) -> Option<&serde_json::Map<String, serde_json::Value>> {
    let o = v.as_object()?;
    match o.get("properties") {
        Some(serde_json::Value::Object(p)) => Some(p),
        _ => Some(o),
    }
}

/// A borrowed map of column name → text, e.g. a typed record's columns.
impl<S: std::hash::BuildHasher> Columns for std::collections::HashMap<&str, &str, S> {
    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).copied().filter(|s| !s.is_empty())
    }
}

/// A decoded record: the network columns it kept ([`crate::records::network`]).
impl Columns for crate::records::Record {
    fn text(&self, name: &str) -> Option<&str> {
        self.properties.network.get(name)
    }
}

/// The network indicators of a decoded record, by the table its `category` names (none for a
/// table not in [`NETWORK_COLUMNS`]). A row that names no table (a portal CSV export has no
/// `Type` column) is read by column name alone: each name has one kind in every table.
pub fn record_indicators(record: &crate::records::Record) -> RecordIndicators {
    if record.properties.network.is_empty() {
        return RecordIndicators::default();
    }
    match record.table() {
        Some(table) => extract_indicators(table, record),
        None => extract_from(
            NETWORK_COLUMNS
                .iter()
                .enumerate()
                .filter(|(i, c)| !NETWORK_COLUMNS[..*i].iter().any(|e| e.column == c.column))
                .map(|(_, c)| c),
            record,
        ),
    }
}

/// One indicator of a record, each once, with the columns it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundIndicator {
    pub indicator: Indicator,
    /// The remote port of the first column that had one (for `ip-dst|port`, `hostname|port`).
    pub port: Option<u16>,
    pub columns: Vec<&'static str>,
}

/// The network indicators of one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordIndicators {
    pub found: Vec<FoundIndicator>,
    /// Values present but not parseable as their column's kind.
    pub invalid: usize,
    /// Values never looked up, counted per reason (index: [`Skip::index`]).
    pub skipped: [u32; Skip::ALL.len()],
}

impl RecordIndicators {
    pub fn skipped_total(&self) -> u32 {
        self.skipped.iter().sum()
    }

    fn add(&mut self, indicator: Indicator, port: Option<u16>, column: &'static str) {
        if let Some(skip) = indicator.skip() {
            self.skipped[skip.index()] += 1;
            return;
        }
        match self.found.iter_mut().find(|f| f.indicator == indicator) {
            Some(f) => {
                if !f.columns.contains(&column) {
                    f.columns.push(column);
                }
                f.port = f.port.or(port);
            }
            None => self.found.push(FoundIndicator {
                indicator,
                port,
                columns: vec![column],
            }),
        }
    }
}

/// Extracts the network indicators of a row of `table` (no `AdvancedHunting-` prefix). Values
/// are trimmed of surrounding whitespace; a port outside 0–65535 is ignored.
pub fn extract_indicators(table: &str, row: &impl Columns) -> RecordIndicators {
    extract_from(columns_of(table), row)
}

fn extract_from<'a>(
    columns: impl Iterator<Item = &'a NetworkColumn>,
    row: &impl Columns,
) -> RecordIndicators {
    let mut out = RecordIndicators::default();
    for c in columns {
        let Some(raw) = row.text(c.column).map(str::trim).filter(|s| !s.is_empty()) else {
            continue;
        };
        let port = c
            .port
            .and_then(|p| row.number(p))
            .and_then(|p| u16::try_from(p).ok());
        match c.kind {
            ColumnKind::Ip => match Ip::parse(raw) {
                Ok(ip) => out.add(Indicator::Ip(ip), port, c.column),
                Err(_) => out.invalid += 1,
            },
            ColumnKind::Host => match Host::parse(raw) {
                Ok(h) => out.add(Indicator::Host(h), port, c.column),
                Err(_) => out.invalid += 1,
            },
            ColumnKind::Email => match Email::parse(raw) {
                Ok(e) => out.add(Indicator::Email(e), port, c.column),
                Err(_) => out.invalid += 1,
            },
            ColumnKind::Url => add_url(&mut out, raw, port, c.column),
        }
    }
    out
}

/// A URL column: an address, a URL (itself and its host), or a bare `host[:port]`.
fn add_url(out: &mut RecordIndicators, raw: &str, port: Option<u16>, column: &'static str) {
    if let Ok(ip) = Ip::parse(raw) {
        out.add(Indicator::Ip(ip), port, column);
        return;
    }
    let Ok(url) = Url::parse(raw) else {
        out.invalid += 1;
        return;
    };
    let port = url.effective_port().or(port);
    let host = match url.host() {
        UrlHost::Ip(ip) => Indicator::Ip(*ip),
        UrlHost::Name(h) => Indicator::Host(h.clone()),
    };
    if url.is_more_than_host() {
        out.add(Indicator::Url(url), port, column);
    }
    out.add(host, port, column);
}

#[cfg(test)]
#[path = "columns_tests.rs"]
mod tests;
