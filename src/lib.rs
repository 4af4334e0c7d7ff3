//! # defender-misp
//!
//! Matches the file hashes of Microsoft Defender XDR streamed events against MISP threat intel,
//! as an Azure Functions custom handler (`serve`) or offline over exported records (`scan`).
//!
//! # Layout
//!
//! - [`config`]: environment → validated settings; every variable documented there.
//! - [`secret`]: a string that never prints (keys, tokens).
//! - [`host`]: the Functions host wire protocol: invocation request/response, trigger decoding.
//! - [`records`]: Defender streaming records: envelopes, lenient columns, hash newtypes, extraction.
//! - [`intel`]: threat intel behind one trait: MISP restSearch, a feed folder, an in-memory IOC
//!   snapshot, the cached resolver.
//! - [`engine`]: a batch in → lookups → matches + dead letters out; the accounting lives here.
//! - [`matches`]: the match record, the public output shape.
//! - [`deadletter`]: the dead-letter document written to blob storage and read by replay.
//! - [`alerts`]: match → actions (Defender alert, indicator, MISP sighting, Sentinel).
//! - [`server`]: the axum router: `GET /`, `POST /MatchEvents`, `POST /RaiseAlerts`.
//! - [`startup`]: building and running the server.
//! - [`scan`]: offline matching of exported records.
//!
//! Data flows one way: `host` and `records` decode, `engine` decides, `intel` answers, `alerts` act.

pub mod alerts;
pub mod config;
pub mod deadletter;
pub mod engine;
pub mod host;
pub mod intel;
pub mod matches;
pub mod records;
pub mod scan;
pub mod secret;
pub mod server;
pub mod startup;
