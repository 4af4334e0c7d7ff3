//! JSON decoded as a stream: records handed on in chunks as they are read, never the whole
//! document in memory; with the readers that count lines and that stop at the end of a line.

use std::cell::Cell;
use std::io::{BufRead, Read};
use std::rc::Rc;

use super::{Chunk, RECORDS_PER_CHUNK, Work, reason};
use crate::records::{BodyError, Record, classify, for_each_record};

/// Counts the newlines read through it.
pub(super) struct LineCounter<R> {
    inner: R,
    lines: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + newlines);
        Ok(n)
    }
}

/// Reads to the end of the current line, not past it; the newline is consumed, not returned.
pub(super) struct UntilNewline<'a, R: BufRead + ?Sized> {
    pub(super) inner: &'a mut R,
    pub(super) done: bool,
}

impl<R: BufRead + ?Sized> Read for UntilNewline<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let available = self.inner.fill_buf()?;
        if available.is_empty() {
            self.done = true;
            return Ok(0);
        }
        // Only what fits in `buf` is looked at: serde reads a byte at a time.
        let window = &available[..available.len().min(buf.len())];
        let (n, ends) = match window.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (window.len(), false),
        };
        buf[..n].copy_from_slice(&available[..n]);
        self.inner.consume(n + usize::from(ends));
        self.done = ends;
        Ok(n)
    }
}

/// How the records of a stream are placed in the file.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lines {
    /// Every record on this one line (a document written on a single line).
    Fixed(u64),
    /// The stream starts at this line; a record is placed on the line it ends on.
    From(u64),
}

/// Decodes the JSON values of `reader` one record at a time, handing them to `send` in chunks.
/// Returns the line and reason of the first error (the rest of the stream is not read), or
/// `Ok(false)` when `send` said the consumer is gone.
pub(super) fn stream_json<R: Read>(
    reader: R,
    place: Lines,
    send: &mut dyn FnMut(Work) -> bool,
) -> Result<bool, (u64, String)> {
    let counted = Rc::new(Cell::new(0u64));
    let line = |counted: &Rc<Cell<u64>>| match place {
        Lines::Fixed(n) => n,
        Lines::From(first) => first + counted.get(),
    };
    // serde reads a byte at a time: from a buffer of its own, which the layers below fill in
    // large reads; the counter stays above it, so it counts exactly what serde has read.
    let counter = LineCounter {
        inner: std::io::BufReader::with_capacity(64 << 10, reader),
        lines: counted.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(counter);
    let mut chunk = Chunk::default();
    let mut gone = false;
    loop {
        let mut stopped = None;
        let mut sink = |r: Record| {
            chunk.push(line(&counted), r);
            if chunk.records.len() >= RECORDS_PER_CHUNK && !send(Work::Decoded(take(&mut chunk))) {
                gone = true;
                return Err(BodyError::Empty);
            }
            Ok(())
        };
        let result = for_each_record(&mut de, &mut sink, &mut stopped);
        if gone {
            return Ok(false);
        }
        if let Err(e) = result {
            let at = match place {
                Lines::Fixed(n) => n,
                Lines::From(first) => first + (e.line() as u64).saturating_sub(1),
            };
            let why = match e.io_error_kind() {
                Some(_) => format!("cannot read: {e}"),
                None => reason(&classify(e)),
            };
            chunk.errors.push((at, why.clone()));
            send(Work::Decoded(take(&mut chunk)));
            return Err((at, why));
        }
        if de.end().is_ok() {
            break;
        }
    }
    Ok(chunk.records.is_empty() || send(Work::Decoded(chunk)))
}

fn take(chunk: &mut Chunk) -> Chunk {
    std::mem::take(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str, place: Lines) -> (Vec<Chunk>, Result<bool, (u64, String)>) {
        let mut chunks = Vec::new();
        let result = stream_json(text.as_bytes(), place, &mut |w| {
            chunks.push(w.decode());
            true
        });
        (chunks, result)
    }

    #[test]
    fn a_pretty_printed_document_streams_its_records_with_their_lines() {
        let doc = "{\n  \"records\": [\n    {\"properties\": {\"SHA1\": \"a\"}},\n    {\"properties\": {\"SHA1\": \"b\"}}\n  ]\n}\n";
        let (chunks, result) = collect(doc, Lines::From(1));
        assert_eq!(result, Ok(true));
        let lines: Vec<u64> = chunks.iter().flat_map(|c| c.lines.clone()).collect();
        assert_eq!(lines, [3, 4]);
    }

    #[test]
    fn an_error_names_the_file_line_and_keeps_what_was_read() {
        let doc = "[\n {\"SHA1\": \"a\"},\n {\"SHA1\": \"b\",,}\n]";
        let (chunks, result) = collect(doc, Lines::From(5));
        let (line, why) = result.unwrap_err();
        assert_eq!(line, 7);
        assert!(why.starts_with("not JSON: "), "{why}");
        assert_eq!(chunks.iter().map(|c| c.records.len()).sum::<usize>(), 1);
    }

    #[test]
    fn reading_stops_at_the_end_of_the_line() {
        let mut input = std::io::Cursor::new(b"{\"SHA1\":\"a\"}\nnext line\n".to_vec());
        let mut until = UntilNewline {
            inner: &mut input,
            done: false,
        };
        let mut first = String::new();
        until.read_to_string(&mut first).unwrap();
        assert_eq!(first, "{\"SHA1\":\"a\"}");
        let mut rest = String::new();
        input.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "next line\n");
    }
}
