//! Integration tests: the real handler on loopback, driven by a host simulator, in front of a
//! stub MISP that implements restSearch semantics.

mod binary;
mod faults;
mod fixtures;
mod helpers;
mod host_sim;
mod hostile;
mod load;
mod match_events;
mod replay;
mod scan;
mod stub_misp;
