//! Integration tests, one binary and one harness ([`helpers::spawn_app_with`]): the real handler
//! on loopback, driven by a host simulator, in front of a stub MISP that implements restSearch
//! semantics and a stub Defender; `RaiseAlerts` with tokens from the real managed-identity
//! credential, and its Sentinel path against a Logs Ingestion stub; the binary itself; the waits
//! within the deadline (`waiting`), the listener's limits (`listener`), forged queue messages
//! (`forged`), the alert state in Table storage (`alert_state`); and the load tests, ignored
//! unless asked for (`load`; `scenarios`: flapping MISP, memory, two instances on Azurite).

// The reliability scenarios' driver (examples/scenarios), shared by the ignored load tests of
// `scenarios`: a scripted MISP, the host's side, the handler as a child process.
#[path = "../../examples/scenarios/alerts.rs"]
mod alerts;
#[path = "../../examples/scenarios/breaker.rs"]
mod breaker;
#[path = "../../examples/scenarios/child.rs"]
mod child;
#[path = "../../examples/scenarios/host.rs"]
mod host;
#[path = "../../examples/scenarios/memory.rs"]
mod memory;
#[path = "../../examples/scenarios/misp.rs"]
mod misp;

mod alert_helpers;
mod alert_state;
mod binary;
mod faults;
mod fixtures;
mod forged;
mod helpers;
mod host_sim;
mod hostile;
mod listener;
mod load;
mod match_events;
mod network;
mod network_alerts;
mod raise_alerts;
mod replay;
mod scan;
mod scan_inputs;
mod scan_intel;
mod scenarios;
mod sentinel;
mod sentinel_harness;
mod sentinel_ingestion;
mod sentinel_retirement;
mod stub_http;
mod stub_ingestion;
mod stub_misp;
mod waiting;
