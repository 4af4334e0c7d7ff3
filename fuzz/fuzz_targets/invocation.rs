//! The host's invocation envelope: request decoding, trigger decoding, metadata. Never panics;
//! the in-place decoding of a whole body (`decode_invocation`) gives exactly what the value-based
//! one (`decode_events`) does.
#![no_main]

use defender_misp::host::{InvocationRequest, TriggerMetadata, decode_events, decode_invocation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = decode_invocation(data.to_vec(), "events");
    if let Ok(request) = serde_json::from_slice::<InvocationRequest>(data) {
        let meta = TriggerMetadata::parse(&request.metadata);
        let _ = meta.retries_left();
        // Compared only where the binding is named exactly (a case-insensitive pick among
        // several spellings may differ between a sorted and a hashed map).
        if let Some(trigger) = request.data.get("events") {
            let slow = decode_events(trigger);
            if let (Ok((encoding, bodies)), Ok(fast)) = (&slow, &fast) {
                assert_eq!((*encoding, bodies), (fast.encoding, &fast.events));
            }
            if let Ok((_, bodies)) = slow {
                for (i, _) in bodies.iter().enumerate() {
                    let _ = meta.event(i);
                }
            }
        }
    }
});
