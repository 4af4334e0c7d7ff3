//! The host's invocation envelope: request decoding, trigger decoding, metadata. Never panics.
#![no_main]

use defender_misp::host::{InvocationRequest, TriggerMetadata, decode_events};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<InvocationRequest>(data) {
        let meta = TriggerMetadata::parse(&request.metadata);
        let _ = meta.retries_left();
        if let Some(trigger) = request.data("events") {
            if let Ok((_, bodies)) = decode_events(trigger) {
                for (i, _) in bodies.iter().enumerate() {
                    let _ = meta.event(i);
                }
            }
        }
    }
});
