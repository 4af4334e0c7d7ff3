//! # defender-misp
//!
//! Matches the file hashes and network indicators of Microsoft Defender XDR streamed events
//! against MISP threat intel, as an Azure Functions custom handler (`serve`) or offline over
//! exported records (`scan`).
//!
//! # Layout
//!
//! Every arrow points down: each module imports only from those listed after it (no import
//! cycle; `tests/layout.rs` checks it, with file and function sizes).
//!
//! - [`startup`]: building and running `serve`.
//! - [`cli`]: `scan` (offline matching of exported records) and `replay` (dead letters and poison
//!   messages again), with the engine both build ([`cli::offline`]) and the reading of exports
//!   of any size and shape ([`cli::input`]).
//! - [`server`]: the listener (timeouts, a connection cap), the axum router and its handlers,
//!   `POST /MatchEvents` and `POST /RaiseAlerts`, the memory budget of request bodies, with the
//!   host-protocol replies; the only module that knows both HTTP and the host.
//! - [`config`]: the configuration of a run (`serve`, matching), put together from each
//!   subsystem's own settings type.
//! - [`deadletter`]: the dead-letter document written to blob storage and read by replay.
//! - [`engine`]: a batch in → lookups → matches + dead letters out, in steps (decode, distinct,
//!   fate); the accounting lives here.
//! - [`alerts`]: match → actions (Defender alert, indicator, MISP sighting, Sentinel), their
//!   budgets and the alert state every instance shares (`alerts::ledger`); no HTTP routing, no
//!   host protocol.
//! - [`matches`]: the match record, the public output shape, and a match read back from a queue
//!   message (checked and bounded).
//! - [`intel`]: threat intel behind one trait: MISP restSearch, a feed folder, an in-memory IOC
//!   snapshot, the cached resolver, the fault policy, their settings, and the rules every source
//!   applies to a MISP attribute ([`intel::rules`]).
//! - [`azure`]: the `azure_identity` credential and its tokens (`auth`), the Storage queues
//!   `replay --enqueue` puts matches back on (`queue`), and the Table storage of the alert state
//!   (`table`).
//! - [`http`]: every outbound client's HTTP: building, endpoints, credentials, bounded bodies, and
//!   the one place a status, a `Retry-After` or a transport failure becomes a meaning.
//! - [`settings`]: every environment variable declared once (default, accepted values, meaning)
//!   and the one reader that turns its text into a value or an error naming it.
//! - [`indicator`]: network indicators (IPs, host names, URLs, senders): canonical newtypes, what
//!   is never looked up, registrable domains, a CIDR index, MISP network values, warninglists,
//!   the Defender columns that carry them. Pure; the engine extracts them per record and
//!   [`intel::network`] matches them (issue 15); its warninglists serve [`intel::rules`].
//! - [`host`]: the Functions host wire protocol: invocation request/response, trigger decoding.
//! - [`records`]: Defender streaming records: envelopes, lenient columns, hash newtypes, extraction.
//! - [`memory`]: the process's memory settings (no transparent huge pages).
//! - [`secret`]: a string that never prints (keys, tokens).
//! - [`text`]: cleaning third-party text before it reaches a match, a log or an alert.
//!
//! Without the default feature `service` only the pure decoders build (`host`, `records`,
//! `matches`, `intel`'s types, `indicator`, `text`, `secret`): that is what the fuzz targets link.
//!
//! Data flows one way: `host` and `records` decode, `engine` decides, `intel` answers, `alerts` act.

#[cfg(feature = "service")]
pub mod alerts;
#[cfg(feature = "service")]
pub mod azure;
#[cfg(feature = "service")]
pub mod cli;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod deadletter;
#[cfg(feature = "service")]
pub mod engine;
pub mod host;
#[cfg(feature = "service")]
pub mod http;
pub mod indicator;
pub mod intel;
pub mod matches;
#[cfg(feature = "service")]
pub mod memory;
pub mod records;
pub mod secret;
#[cfg(feature = "service")]
pub mod server;
#[cfg(feature = "service")]
pub mod settings;
#[cfg(feature = "service")]
pub mod startup;
pub mod text;
