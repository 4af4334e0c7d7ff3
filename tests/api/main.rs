//! Integration tests, one binary and one harness ([`helpers::spawn_app_with`]): the real handler
//! on loopback, driven by a host simulator, in front of a stub MISP that implements restSearch
//! semantics and a stub Defender; `RaiseAlerts` with tokens from the real managed-identity
//! credential, and its Sentinel path against a Logs Ingestion stub; the binary itself; and the
//! load test (`load`, ignored unless asked for).

mod alert_helpers;
mod binary;
mod faults;
mod fixtures;
mod helpers;
mod host_sim;
mod hostile;
mod load;
mod match_events;
mod raise_alerts;
mod replay;
mod scan;
mod scan_inputs;
mod scan_intel;
mod sentinel;
mod sentinel_harness;
mod sentinel_ingestion;
mod sentinel_retirement;
mod stub_http;
mod stub_ingestion;
mod stub_misp;
