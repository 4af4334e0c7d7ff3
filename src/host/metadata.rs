//! The trigger's `Metadata`, read leniently: keys in any case, values double-encoded or not.
//!
//! Only what the product needs is extracted: the partition, each event's sequence number, offset
//! and enqueued time (for dead letters), the retry state, and a queue message's dequeue count.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::unwrap_encoded;

/// The retry policy's state on this attempt (`Metadata.RetryContext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RetryContext {
    #[serde(rename = "RetryCount", alias = "retryCount", default)]
    pub retry_count: i64,
    #[serde(rename = "MaxRetryCount", alias = "maxRetryCount", default)]
    pub max_retry_count: i64,
}

impl RetryContext {
    /// Whether the host will invoke again with the same batch if this attempt fails.
    pub fn retries_left(&self) -> bool {
        self.max_retry_count == -1 || self.retry_count < self.max_retry_count
    }
}

/// As a log field reads it: `retry 1 of 5`, `retry 2 of unlimited`.
impl std::fmt::Display for RetryContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.max_retry_count == -1 {
            write!(f, "retry {} of unlimited", self.retry_count)
        } else {
            write!(f, "retry {} of {}", self.retry_count, self.max_retry_count)
        }
    }
}

/// Where one event sat in its partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMeta {
    pub sequence_number: Option<i64>,
    pub offset: Option<String>,
    pub enqueued_time: Option<String>,
}

/// What the product reads from `Metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerMetadata {
    pub partition_id: Option<String>,
    pub event_hub_name: Option<String>,
    pub events: Vec<EventMeta>,
    /// `None` when the function has no retry policy.
    pub retry: Option<RetryContext>,
    pub dequeue_count: Option<i64>,
    pub invocation_name: Option<String>,
}

fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An `*Array` entry (a JSON string holding an array) as its elements.
fn array(map: &Map<String, Value>, key: &str) -> Vec<Value> {
    match get(map, key).map(unwrap_encoded) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// A single-dispatch scalar (`"42"`, `"\"abc\""`, or a plain date string) as its value.
fn scalar(map: &Map<String, Value>, key: &str) -> Option<Value> {
    get(map, key).map(unwrap_encoded)
}

impl TriggerMetadata {
    pub fn parse(map: &Map<String, Value>) -> Self {
        let partition = ["TriggerPartitionContext", "PartitionContext"]
            .iter()
            .find_map(|k| match get(map, k).map(unwrap_encoded) {
                Some(Value::Object(o)) => Some(o),
                _ => None,
            });
        let from_partition = |key: &str| {
            partition
                .as_ref()
                .and_then(|p| get(p, key))
                .and_then(scalar_text)
        };

        let sequence = array(map, "SequenceNumberArray");
        let offsets = {
            let strings = array(map, "OffsetStringArray");
            if strings.is_empty() {
                array(map, "OffsetArray")
            } else {
                strings
            }
        };
        let enqueued = array(map, "EnqueuedTimeUtcArray");
        let mut events: Vec<EventMeta> = (0..sequence.len().max(offsets.len()).max(enqueued.len()))
            .map(|i| EventMeta {
                sequence_number: sequence.get(i).and_then(int),
                offset: offsets.get(i).and_then(scalar_text),
                enqueued_time: enqueued.get(i).and_then(scalar_text),
            })
            .collect();
        if events.is_empty() {
            let single = EventMeta {
                sequence_number: scalar(map, "SequenceNumber").as_ref().and_then(int),
                offset: scalar(map, "OffsetString")
                    .or_else(|| scalar(map, "Offset"))
                    .as_ref()
                    .and_then(scalar_text),
                enqueued_time: scalar(map, "EnqueuedTimeUtc")
                    .as_ref()
                    .and_then(scalar_text),
            };
            if single != EventMeta::default() {
                events.push(single);
            }
        }

        let retry = get(map, "RetryContext")
            .map(unwrap_encoded)
            .and_then(|v| serde_json::from_value::<RetryContext>(v).ok());
        TriggerMetadata {
            partition_id: from_partition("PartitionId"),
            event_hub_name: from_partition("EventHubName"),
            events,
            retry,
            dequeue_count: scalar(map, "DequeueCount").as_ref().and_then(int),
            invocation_name: get(map, "sys")
                .and_then(|s| s.get("MethodName"))
                .and_then(scalar_text),
        }
    }

    /// Whether failing this attempt makes the host invoke again with the same input.
    pub fn retries_left(&self) -> bool {
        self.retry.is_some_and(|r| r.retries_left())
    }

    /// The retry state for a log field: `retry 1 of 5`, or `no retry policy`.
    pub fn retry_text(&self) -> String {
        self.retry
            .map_or_else(|| "no retry policy".to_owned(), |r| r.to_string())
    }

    pub fn event(&self, index: usize) -> EventMeta {
        self.events.get(index).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn many_dispatch_arrays_and_retry_context_are_read() {
        let meta = json!({
            "TriggerPartitionContext": {"IsCheckpointingAfterInvocation":true,"EventHubName":"telemetry","PartitionId":"3"},
            "SequenceNumberArray": "[42,43]",
            "OffsetArray": "[\"-1\",\"-1\"]",
            "OffsetStringArray": "[\"140:1:12\",\"140:1:13\"]",
            "EnqueuedTimeUtcArray": "[\"2024-05-01T12:00:00.123\",\"2024-05-01T12:00:01.5\"]",
            "retrycontext": {"RetryCount":1,"MaxRetryCount":3,"Exception":null}
        });
        let m = TriggerMetadata::parse(meta.as_object().unwrap());
        assert_eq!(m.partition_id.as_deref(), Some("3"));
        assert_eq!(m.events.len(), 2);
        assert_eq!(m.events[1].sequence_number, Some(43));
        assert_eq!(m.events[0].offset.as_deref(), Some("140:1:12"));
        assert_eq!(
            m.events[1].enqueued_time.as_deref(),
            Some("2024-05-01T12:00:01.5")
        );
        assert!(m.retries_left());
    }

    #[test]
    fn single_dispatch_scalars_are_double_encoded_except_dates() {
        let meta = json!({
            "PartitionContext": {"PartitionId":"0"},
            "SequenceNumber": "42", "Offset": "\"8589934592\"", "EnqueuedTimeUtc": "2024-05-01T12:00:00",
            "DequeueCount": "4"
        });
        let m = TriggerMetadata::parse(meta.as_object().unwrap());
        assert_eq!(
            m.event(0),
            EventMeta {
                sequence_number: Some(42),
                offset: Some("8589934592".into()),
                enqueued_time: Some("2024-05-01T12:00:00".into())
            }
        );
        assert_eq!(m.dequeue_count, Some(4));
        assert!(!m.retries_left(), "no RetryContext means no retry policy");
        assert_eq!(m.retry_text(), "no retry policy");
        let ctx = RetryContext {
            retry_count: 1,
            max_retry_count: 5,
        };
        assert_eq!(ctx.to_string(), "retry 1 of 5", "not the Debug text");
        let forever = RetryContext {
            retry_count: 2,
            max_retry_count: -1,
        };
        assert_eq!(forever.to_string(), "retry 2 of unlimited");
    }

    #[test]
    fn retry_context_states() {
        let ctx = |c, m| RetryContext {
            retry_count: c,
            max_retry_count: m,
        };
        assert!(ctx(0, 3).retries_left());
        assert!(!ctx(3, 3).retries_left());
        assert!(ctx(10, -1).retries_left());
        assert!(!ctx(0, 0).retries_left());
    }
}
