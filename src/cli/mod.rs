//! The commands that run outside Azure: `scan` matches exported records, `replay` runs dead
//! letters and poison messages again; [`offline`] holds what both need and [`input`] how files
//! are read. `serve` is [`crate::startup`]; `main.rs` only parses arguments and dispatches.

pub mod input;
pub mod offline;
pub mod progress;
pub mod replay;
pub mod scan;
