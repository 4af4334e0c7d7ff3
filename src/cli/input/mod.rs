//! What `scan` reads: the files of the paths it is given ([`walk`]), each read on a thread of
//! its own one piece at a time ([`reader`]), so that a file of any size takes bounded memory.
//!
//! A file is told apart by its content, after an optional gzip layer and byte order mark:
//! - **JSON lines** (the Streaming API's Storage export, LF or CRLF): each line is decoded on its
//!   own, in parallel blocks; a bad line is reported with its number and the rest go on. A line
//!   longer than [`LINE_IN_MEMORY`] (a whole export on one line) is decoded as a stream.
//! - **A JSON document** spread over lines (pretty-printed: `az` output, the hunting API's
//!   answer saved from a browser): decoded as a stream, one record at a time; an error ends the
//!   file, with its line.
//! - **CSV with a header row** naming Defender columns (the Advanced Hunting portal's export):
//!   quoted cells, commas and newlines inside quotes, JSON in `AdditionalFields`; empty cells are
//!   absent ([`csv_rows`]).
//!
//! The shapes inside JSON are those of [`crate::records`]. Every piece read is a [`Work`]: rows
//! already decoded, or raw lines the consumer decodes on a worker thread.

pub mod csv_rows;
pub mod reader;
mod stream;
pub mod walk;

use crate::records::{BodyError, Record, classify, for_each_record};

/// A line longer than this is decoded as a stream instead of in memory.
pub const LINE_IN_MEMORY: usize = 8 << 20;
/// Bytes of whole lines handed to one decoding task.
pub const LINES_BLOCK: usize = 1 << 20;
/// Records handed on at once by the stream and CSV readers.
pub const RECORDS_PER_CHUNK: usize = 1000;

/// Records decoded from one piece of a file, each with the file line it ended on, and the
/// pieces that could not be decoded, with their line and why.
#[derive(Debug, Default)]
pub struct Chunk {
    pub records: Vec<Record>,
    pub lines: Vec<u64>,
    pub errors: Vec<(u64, String)>,
}

impl Chunk {
    fn push(&mut self, line: u64, record: Record) {
        self.records.push(record);
        self.lines.push(line);
    }
}

/// One piece of a file, in file order.
#[derive(Debug)]
pub enum Work {
    /// Rows decoded already (streamed documents, CSV).
    Decoded(Chunk),
    /// Whole lines to decode, the first being line `first_line`.
    Lines { first_line: u64, bytes: Vec<u8> },
}

impl Work {
    /// The records of this piece (CPU work: run it off the async threads).
    pub fn decode(self) -> Chunk {
        match self {
            Work::Decoded(chunk) => chunk,
            Work::Lines { first_line, bytes } => decode_lines(first_line, &bytes),
        }
    }

    /// Records or lines it holds, for the progress counter.
    pub fn is_empty(&self) -> bool {
        match self {
            Work::Decoded(c) => c.records.is_empty() && c.errors.is_empty(),
            Work::Lines { bytes, .. } => bytes.is_empty(),
        }
    }
}

/// Each non-blank line of `bytes` as one JSON value (CRLF or LF).
fn decode_lines(first_line: u64, bytes: &[u8]) -> Chunk {
    let mut chunk = Chunk::default();
    for (n, line) in (first_line..).zip(bytes.split(|b| *b == b'\n')) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut records = Vec::new();
        let mut stopped = None;
        let mut de = serde_json::Deserializer::from_slice(line);
        let mut sink = |r: Record| {
            records.push(r);
            Ok(())
        };
        let result = for_each_record(&mut de, &mut sink, &mut stopped).and_then(|()| de.end());
        match result {
            Ok(()) => {
                for r in records {
                    chunk.push(n, r);
                }
            }
            Err(e) => chunk.errors.push((n, reason(&classify(e)))),
        }
    }
    chunk
}

/// A decoding error as a scan reports it: what is wrong, without serde's position in the piece
/// (the report names the file line).
pub fn reason(e: &BodyError) -> String {
    let strip = |s: &str| match s.rfind(" at line ") {
        Some(at) => s[..at].to_owned(),
        None => s.to_owned(),
    };
    match e {
        BodyError::NotJson(m) => format!("not JSON: {}", strip(m)),
        BodyError::NotRecords(m) => format!("JSON but not Defender records: {}", strip(m)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_decode_one_by_one_and_a_bad_one_names_its_line() {
        let block = b"{\"properties\":{\"SHA1\":\"x\"}}\r\n\r\njunk\n[1]\n{\"records\":[{\"properties\":{}},{\"properties\":{}}]}";
        let chunk = Work::Lines {
            first_line: 10,
            bytes: block.to_vec(),
        }
        .decode();
        assert_eq!(chunk.lines, [10, 14, 14]);
        assert_eq!(chunk.errors.len(), 2);
        assert_eq!(chunk.errors[0].0, 12);
        assert_eq!(chunk.errors[0].1, "not JSON: expected value");
        assert_eq!(chunk.errors[1].0, 13);
        assert!(
            chunk.errors[1]
                .1
                .starts_with("JSON but not Defender records: invalid type"),
            "{:?}",
            chunk.errors
        );
    }
}
