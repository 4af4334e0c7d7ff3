//! MISP restSearch JSON, deserialized leniently: ids arrive as strings or numbers, flags as
//! booleans, integers or strings, optional blocks may be missing. Unknown keys are ignored.

use serde::{Deserialize, Deserializer};

use crate::records::Loose;

/// A flag MISP writes as `true`, `1`, `"1"` or `"true"`. Anything else is false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(Flag(match v {
            serde_json::Value::Bool(b) => Some(b),
            serde_json::Value::Number(n) => Some(n.as_f64() != Some(0.0)),
            serde_json::Value::String(s) => match s.trim() {
                "1" | "true" | "True" => Some(true),
                "0" | "false" | "False" | "" => Some(false),
                _ => None,
            },
            _ => None,
        }))
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchResponse {
    pub response: ResponseBody,
}

#[derive(Debug, Deserialize)]
pub struct ResponseBody {
    #[serde(rename = "Attribute", default)]
    pub attribute: Vec<Attribute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Attribute {
    pub id: Loose,
    pub event_id: Loose,
    #[serde(rename = "type")]
    pub kind: Loose,
    pub to_ids: Flag,
    pub deleted: Flag,
    pub uuid: Loose,
    pub value: Loose,
    #[serde(rename = "Event")]
    pub event: Option<Event>,
    #[serde(rename = "Tag")]
    pub tag: Option<Vec<Tag>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub id: Loose,
    pub uuid: Loose,
    pub info: Loose,
    pub threat_level_id: Loose,
    pub published: Flag,
    #[serde(rename = "Tag")]
    pub tag: Option<Vec<Tag>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tag {
    pub name: Loose,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_numbers_and_flags_as_ints_are_accepted() {
        let json = r#"{"response":{"Attribute":[{"id":44,"event_id":"30","type":"sha1","to_ids":1,"deleted":"0",
            "uuid":"u","value":"v","Event":{"id":30,"threat_level_id":2,"published":true,"Tag":[{"name":"tlp:red","local":0}]},
            "Tag":[{"name":"x","inherited":1}]}]}}"#;
        let r: SearchResponse = serde_json::from_str(json).unwrap();
        let a = &r.response.attribute[0];
        assert_eq!(a.id.as_deref(), Some("44"));
        assert_eq!(a.to_ids, Flag(Some(true)));
        assert_eq!(a.deleted, Flag(Some(false)));
        let e = a.event.as_ref().unwrap();
        assert_eq!(e.threat_level_id.as_deref(), Some("2"));
        assert_eq!(e.published, Flag(Some(true)));
    }

    #[test]
    fn an_empty_attribute_list_is_no_match() {
        let r: SearchResponse = serde_json::from_str(r#"{"response":{"Attribute":[]}}"#).unwrap();
        assert!(r.response.attribute.is_empty());
    }
}
