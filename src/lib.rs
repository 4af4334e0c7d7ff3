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
//! - [`indicator`]: network indicators (IPs, host names, URLs, senders): canonical newtypes, what
//!   is never looked up, registrable domains, a CIDR index, MISP network values, warninglists,
//!   the Defender columns that carry them. Pure; not yet wired into the engine (issue 15).
//! - [`intel`]: threat intel behind one trait: MISP restSearch, a feed folder, an in-memory IOC
//!   snapshot, the cached resolver.
//! - [`engine`]: a batch in → lookups → matches + dead letters out; the accounting lives here.
//! - [`matches`]: the match record, the public output shape.
//! - [`deadletter`]: the dead-letter document written to blob storage and read by replay.
//! - [`alerts`]: match → actions (Defender alert, indicator, MISP sighting, Sentinel).
//! - [`auth`]: the choice of `azure_identity` credential and the tokens it hands out.
//! - [`server`]: the axum router: `GET /`, `POST /MatchEvents`, `POST /RaiseAlerts`.
//! - [`startup`]: building and running the server.
//! - [`scan`]: offline matching of exported records; [`replay`]: dead letters and poison messages again.
//! - [`storage`]: Azure Storage queues, to put replayed matches back on `misp-matches`.
//!
//! Without the default feature `service` only the pure decoders build (`host`, `records`,
//! `matches`, `intel`'s types): that is what the fuzz targets link.
//!
//! Data flows one way: `host` and `records` decode, `engine` decides, `intel` answers, `alerts` act.

#[cfg(feature = "service")]
pub mod alerts;
#[cfg(feature = "service")]
pub mod auth;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod deadletter;
#[cfg(feature = "service")]
pub mod engine;
pub mod host;
pub mod indicator;
pub mod intel;
pub mod matches;
pub mod records;
#[cfg(feature = "service")]
pub mod replay;
#[cfg(feature = "service")]
pub mod scan;
pub mod secret;
#[cfg(feature = "service")]
pub mod server;
#[cfg(feature = "service")]
pub mod startup;
#[cfg(feature = "service")]
pub mod storage;
