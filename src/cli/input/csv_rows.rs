//! CSV with a header row, as the Advanced Hunting portal exports a query's results ("Export"):
//! one column per header cell, cells quoted when they hold commas, quotes or newlines (RFC 4180,
//! read by the `csv` crate), JSON text in `AdditionalFields`, an empty cell for an absent value.
//! The portal writes no table name; a `Type` or `$table` column, when the query kept one, names
//! it.

use std::io::Read;

use super::{Chunk, RECORDS_PER_CHUNK, Work};
use crate::records::{Column, Record, network};

/// Whether a first line is a CSV header naming at least one column this product reads (a hash
/// or record column, or one that may carry a network indicator).
pub fn is_header(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let cells: Vec<&str> = text
        .trim_end_matches(['\r', '\n'])
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    cells.len() >= 2
        && cells
            .iter()
            .any(|c| Column::named(c).is_some() || network::cell(c).is_some())
}

/// Reads every row, handing them to `send` in chunks; a row that cannot be read is reported
/// with its line. Returns `Ok(false)` when the consumer is gone, `Err` when the file stops
/// being readable.
pub fn read(reader: impl Read, send: &mut dyn FnMut(Work) -> bool) -> Result<bool, String> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let headers: Vec<String> = csv
        .byte_headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_owned())
        .collect();
    let mut chunk = Chunk::default();
    let mut row = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                let line = row.position().map_or(0, |p| p.line() + 1);
                let cells: Vec<(&str, String)> = headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| (h.as_str(), String::from_utf8_lossy(v).into_owned()))
                    .collect();
                chunk.push(
                    line,
                    Record::from_columns(cells.iter().map(|(h, v)| (*h, v.as_str()))),
                );
            }
            Err(e) if e.is_io_error() => return Err(format!("cannot read: {e}")),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() + 1);
                chunk.errors.push((line, format!("not a CSV row: {e}")));
            }
        }
        if chunk.records.len() + chunk.errors.len() >= RECORDS_PER_CHUNK
            && !send(Work::Decoded(std::mem::take(&mut chunk)))
        {
            return Ok(false);
        }
    }
    Ok(chunk.records.is_empty() && chunk.errors.is_empty() || send(Work::Decoded(chunk)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped as the portal writes it: a header, ISO times, a quoted file name with a comma, a
    /// JSON cell with quotes doubled and a comma, an empty cell, a quoted newline.
    const EXPORT: &str = "Timestamp,DeviceId,DeviceName,ActionType,FileName,FolderPath,SHA1,SHA256,MD5,AdditionalFields,ReportId\r\n\
2024-03-01T10:00:00.1234567Z,d-1,ws-1.corp.test,FileCreated,\"invoice, march.exe\",C:\\Users\\a\\invoice.exe,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,,,\"{\"\"FileType\"\":\"\"PortableExecutable\"\",\"\"Tags\"\":\"\"a,b\"\"}\",11\r\n\
2024-03-01T10:00:01Z,d-2,ws-2.corp.test,FileCreated,\"two\nlines.txt\",C:\\x,,bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,,,12\r\n";

    #[test]
    fn the_portal_export_gives_one_record_per_row_with_quoted_cells_intact() {
        assert!(is_header(EXPORT.lines().next().unwrap().as_bytes()));
        let mut chunks = Vec::new();
        let done = read(EXPORT.as_bytes(), &mut |w| {
            chunks.push(w.decode());
            true
        });
        assert_eq!(done, Ok(true));
        let chunk = &chunks[0];
        assert!(chunk.errors.is_empty(), "{:?}", chunk.errors);
        assert_eq!(chunk.lines, [2, 3]);
        let first = &chunk.records[0].properties;
        assert_eq!(first.file_name.as_deref(), Some("invoice, march.exe"));
        assert_eq!(first.sha1.as_str(), Some(&*"a".repeat(40)));
        assert_eq!(first.sha256.as_str(), None, "an empty cell is absent");
        assert_eq!(first.report_id.as_deref(), Some("11"));
        let second = &chunk.records[1].properties;
        assert_eq!(second.file_name.as_deref(), Some("two\nlines.txt"));
        assert_eq!(second.sha256.as_str(), Some(&*"b".repeat(64)));
    }

    #[test]
    fn a_header_must_name_a_defender_column() {
        assert!(!is_header(b"name,age\n"));
        assert!(!is_header(b"SHA256\n"), "one cell is no table");
        assert!(is_header(b"\"Timestamp\",\"SHA256\"\n"));
    }
}
