//! Reading the inputs in order, on the calling thread (run it on one of its own): each file
//! opened, its gzip layer and byte order mark taken off, its format told from its first bytes,
//! and its pieces handed on as they are read. Bytes read (before decompression) are counted for
//! the progress bar.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;

use super::stream::{Lines, UntilNewline, stream_json};
use super::walk::Input;
use super::{Chunk, LINE_IN_MEMORY, LINES_BLOCK, Work, csv_rows};
use crate::records::BOM;
use crate::records::first_value_closes;

/// Buffer of each reader: also how much of a file's start its format is told from.
const BUFFER: usize = 256 << 10;

/// What happens to one input, in order.
#[derive(Debug)]
pub enum Event {
    /// The input's format, once it is known.
    Format(Format),
    Work(Work),
    /// The input is done; with why, when it could not be read (or read to its end).
    End(Option<String>),
}

/// How a file's content is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Lines,
    Document,
    Csv,
    Empty,
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads every input, handing each event to `send` with the input's index; stops early when
/// `send` says the consumer is gone.
pub fn read_inputs(
    inputs: &[Input],
    bytes: &Arc<AtomicU64>,
    send: &mut dyn FnMut(usize, Event) -> bool,
) {
    for (i, input) in inputs.iter().enumerate() {
        let mut to_consumer = |e: Event| send(i, e);
        let ended = match read_one(input, bytes, &mut to_consumer) {
            Ok(true) => None,
            Ok(false) => return,
            Err(why) => Some(why),
        };
        if !send(i, Event::End(ended)) {
            return;
        }
    }
}

/// One input to its end: `Ok(false)` when the consumer is gone, `Err` when it cannot be read.
fn read_one(
    input: &Input,
    bytes: &Arc<AtomicU64>,
    send: &mut dyn FnMut(Event) -> bool,
) -> Result<bool, String> {
    let raw: Box<dyn Read> = match input {
        Input::Stdin => Box::new(std::io::stdin().lock()),
        Input::File(path) => Box::new(File::open(path).map_err(|e| format!("cannot read: {e}"))?),
    };
    let counted = Counting {
        inner: raw,
        bytes: bytes.clone(),
    };
    let mut reader = BufReader::with_capacity(BUFFER, counted);
    let head = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    let mut reader: Box<dyn BufRead> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            BUFFER,
            MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    let head = reader
        .fill_buf()
        .map_err(|e| format!("cannot read (gzip): {e}"))?;
    let bom = head.starts_with(BOM);
    if bom {
        reader.consume(BOM.len());
    }
    let head = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    if head.contains(&0) {
        return Err("binary data, not an export (only gzip compression is read)".into());
    }
    let format = sniff(head);
    if !send(Event::Format(format)) {
        return Ok(false);
    }
    let mut work = |w: Work| w.is_empty() || send(Event::Work(w));
    match format {
        Format::Empty => Ok(true),
        Format::Lines => read_lines(&mut *reader, &mut work),
        Format::Document => match stream_json(&mut *reader, Lines::From(1), &mut work) {
            Ok(more) => Ok(more),
            Err((_, why)) if why.starts_with("cannot read") => Err(why),
            // Reported with its line in the last piece; the rest of the file is not read.
            Err(_) => Ok(true),
        },
        Format::Csv => csv_rows::read(&mut *reader, &mut work),
    }
}

/// The format a file's first bytes tell: a JSON value that ends on its first line means JSON
/// lines; one that goes on means a document over lines; a header row naming Defender columns
/// means CSV; anything else is read as lines (each bad one reported).
pub fn sniff(head: &[u8]) -> Format {
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Format::Empty;
    };
    let rest = &head[start..];
    let first_line = match rest.iter().position(|b| *b == b'\n') {
        Some(end) => &rest[..end],
        // No line end in the buffer: a line longer than it, read as JSON lines.
        None if head.len() >= BUFFER => return Format::Lines,
        None => rest,
    };
    match rest[0] {
        b'{' | b'[' if !first_value_closes(first_line) => Format::Document,
        b'{' | b'[' => Format::Lines,
        _ if csv_rows::is_header(first_line) => Format::Csv,
        _ => Format::Lines,
    }
}

/// How a line read ended.
enum LineEnd {
    Newline,
    Eof,
    TooLong,
}

/// Appends one line to `out` (with its newline), at most `cap` bytes of it.
fn read_line(r: &mut dyn BufRead, out: &mut Vec<u8>, cap: usize) -> std::io::Result<LineEnd> {
    let mut taken = 0;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok(LineEnd::Eof);
        }
        let room = cap - taken;
        let window = &available[..available.len().min(room)];
        if let Some(at) = window.iter().position(|b| *b == b'\n') {
            out.extend_from_slice(&window[..=at]);
            r.consume(at + 1);
            return Ok(LineEnd::Newline);
        }
        let n = window.len();
        out.extend_from_slice(window);
        r.consume(n);
        taken += n;
        if taken >= cap {
            return Ok(LineEnd::TooLong);
        }
    }
}

/// JSON lines: whole lines in blocks of about [`LINES_BLOCK`], decoded by the consumer; a line
/// longer than [`LINE_IN_MEMORY`] decoded here as a stream.
fn read_lines(r: &mut dyn BufRead, send: &mut dyn FnMut(Work) -> bool) -> Result<bool, String> {
    let mut block: Vec<u8> = Vec::with_capacity(LINES_BLOCK + BUFFER);
    let (mut first_line, mut next_line) = (1u64, 1u64);
    loop {
        let line_start = block.len();
        let end =
            read_line(r, &mut block, LINE_IN_MEMORY).map_err(|e| format!("cannot read: {e}"))?;
        match end {
            LineEnd::Eof if block.len() == line_start => break,
            LineEnd::Newline | LineEnd::Eof => next_line += 1,
            LineEnd::TooLong => {
                let prefix = block.split_off(line_start);
                let flushed = Work::Lines {
                    first_line,
                    bytes: std::mem::take(&mut block),
                };
                if !send(flushed) {
                    return Ok(false);
                }
                let mut rest = UntilNewline {
                    inner: &mut *r,
                    done: false,
                };
                let streamed = stream_json(
                    Cursor::new(prefix).chain(&mut rest),
                    Lines::Fixed(next_line),
                    send,
                );
                if streamed == Ok(false) {
                    return Ok(false);
                }
                std::io::copy(&mut rest, &mut std::io::sink())
                    .map_err(|e| format!("cannot read: {e}"))?;
                next_line += 1;
                first_line = next_line;
                continue;
            }
        }
        if block.len() >= LINES_BLOCK {
            let full = Work::Lines {
                first_line,
                bytes: std::mem::take(&mut block),
            };
            if !send(full) {
                return Ok(false);
            }
            first_line = next_line;
        }
        if matches!(end, LineEnd::Eof) {
            break;
        }
    }
    Ok(block.is_empty()
        || send(Work::Lines {
            first_line,
            bytes: block,
        }))
}

/// A piece that is only an error, for a reader that found one outside any record.
pub fn error_piece(line: u64, why: String) -> Work {
    Work::Decoded(Chunk {
        errors: vec![(line, why)],
        ..Chunk::default()
    })
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
