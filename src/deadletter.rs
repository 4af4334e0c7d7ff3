//! The dead-letter document: the JSON object `MatchEvents` writes to the `deadletter` blob
//! output, and that `replay` reads back. Each event keeps its exact bytes (base64) and its reason.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::engine::{DeadEvent, EventInput};
use crate::host::EventMeta;

/// One event that did not end matched or clean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterEvent {
    pub sequence_number: Option<i64>,
    pub offset: Option<String>,
    pub enqueued_time: Option<String>,
    pub reason: String,
    /// Base64 of the event's exact bytes.
    pub body: String,
}

/// The blob written for a batch with dead-lettered events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterDoc {
    pub reason: String,
    pub partition_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_hub_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    pub events: Vec<DeadLetterEvent>,
}

impl DeadLetterDoc {
    /// The document for a batch's dead events; `None` when nothing failed.
    pub fn build(dead: &[DeadEvent], partition_id: Option<String>) -> Option<Self> {
        let first = dead.first()?;
        let reason = if dead.iter().all(|d| d.reason == first.reason) {
            first.reason.clone()
        } else {
            format!(
                "{} events could not be matched; each event says why",
                dead.len()
            )
        };
        Some(Self {
            reason,
            partition_id,
            event_hub_name: None,
            invocation_id: None,
            events: dead
                .iter()
                .map(|d| DeadLetterEvent {
                    sequence_number: d.meta.sequence_number,
                    offset: d.meta.offset.clone(),
                    enqueued_time: d.meta.enqueued_time.clone(),
                    reason: d.reason.clone(),
                    body: STANDARD.encode(&d.bytes),
                })
                .collect(),
        })
    }

    /// The events back as engine input, for replay. A body that is not base64 is an error.
    pub fn inputs(&self) -> Result<Vec<EventInput>, base64::DecodeError> {
        self.events.iter().map(DeadLetterEvent::input).collect()
    }
}

impl DeadLetterEvent {
    /// The event back as engine input; an error when its body is not base64 (a damaged file).
    pub fn input(&self) -> Result<EventInput, base64::DecodeError> {
        Ok(EventInput {
            bytes: STANDARD.decode(self.body.trim())?,
            meta: EventMeta {
                sequence_number: self.sequence_number,
                offset: self.offset.clone(),
                enqueued_time: self.enqueued_time.clone(),
            },
        })
    }

    /// How a report names the event: its sequence number in the partition (and offset) when
    /// the document has them, else its place in the document (1-based).
    pub fn label(&self, place: usize) -> String {
        match (self.sequence_number, &self.offset) {
            (Some(seq), Some(offset)) => format!("event sequenceNumber {seq} (offset {offset})"),
            (Some(seq), None) => format!("event sequenceNumber {seq}"),
            _ => format!("event #{place} of the document"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_the_exact_bytes() {
        let dead = vec![DeadEvent {
            index: 0,
            reason: "body is not JSON".into(),
            meta: EventMeta {
                sequence_number: Some(7),
                offset: Some("1:2".into()),
                enqueued_time: None,
            },
            bytes: vec![0xff, 0x00, b'{'],
        }];
        let doc = DeadLetterDoc::build(&dead, Some("3".into())).unwrap();
        assert_eq!(doc.reason, "body is not JSON");
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["events"][0]["sequenceNumber"], 7);
        assert_eq!(json["partitionId"], "3");
        let back: DeadLetterDoc = serde_json::from_value(json).unwrap();
        assert_eq!(back.inputs().unwrap()[0].bytes, vec![0xff, 0x00, b'{']);
        assert!(DeadLetterDoc::build(&[], None).is_none());
    }
}
