//! The Azure Functions host ↔ custom handler wire protocol (`docs/sources.md` §1;
//! <https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers>).
//!
//! The host POSTs `{"Data":{…},"Metadata":{…}}` to `/<FunctionName>` and expects
//! `{"Outputs":{…},"Logs":[…],"ReturnValue":…}` with `Content-Type: application/json`. Arrays and
//! scalars arrive double-encoded (a JSON string holding JSON text), binary bodies as base64, and
//! key casing varies. This module decodes all of that into plain Rust values and knows nothing of
//! MISP or Defender.

mod events;
mod invocation;
mod metadata;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use events::{EventBody, EventEncoding, TriggerError, decode_events};
pub use invocation::{Invocation, InvocationError, decode_invocation, unescape_in_place};
pub use metadata::{EventMeta, RetryContext, TriggerMetadata};

/// The body the host sends for every non-HTTP trigger.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct InvocationRequest {
    #[serde(rename = "Data", alias = "data", default)]
    pub data: Map<String, Value>,
    #[serde(rename = "Metadata", alias = "metadata", default)]
    pub metadata: Map<String, Value>,
}

impl InvocationRequest {
    /// A `Data` entry by binding name; binding names are matched exactly first, then ignoring case.
    pub fn data(&self, binding: &str) -> Option<&Value> {
        self.data.get(binding).or_else(|| {
            self.data
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(binding))
                .map(|(_, v)| v)
        })
    }
}

/// The body the handler answers with; the host reads it only on a 2xx status.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InvocationResponse {
    /// Output binding name (case-sensitive, as in function.json) → value. `null` writes nothing.
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    /// Each line becomes an Information log on the invocation.
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    /// Always `null`: an object here would be merged into the outputs by the host.
    #[serde(rename = "ReturnValue")]
    pub return_value: Value,
}

impl InvocationResponse {
    pub fn with_logs(logs: Vec<String>) -> Self {
        Self {
            logs,
            ..Self::default()
        }
    }
}

/// Decodes a value the host may have double-encoded: a JSON string holding JSON text is parsed
/// once more; anything else (including a string that is not JSON) is returned as it is.
pub fn unwrap_encoded(value: &Value) -> Value {
    match value {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_encoded_values_are_unwrapped_once() {
        assert_eq!(unwrap_encoded(&Value::from("4")), Value::from(4));
        assert_eq!(unwrap_encoded(&Value::from("\"abc\"")), Value::from("abc"));
        assert_eq!(
            unwrap_encoded(&Value::from("[1,2]")),
            serde_json::json!([1, 2])
        );
        // A DateTime is sent as a plain string, which is not JSON: kept as it is.
        assert_eq!(
            unwrap_encoded(&Value::from("2024-05-01T12:00:00")),
            Value::from("2024-05-01T12:00:00")
        );
    }

    #[test]
    fn the_response_always_carries_the_three_keys() {
        let body = serde_json::to_string(&InvocationResponse::default()).unwrap();
        assert_eq!(body, r#"{"Outputs":{},"Logs":[],"ReturnValue":null}"#);
    }
}
