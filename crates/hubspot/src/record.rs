//! A CRM record as HubSpot sends it (list, read, batch read and search alike).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// One CRM object record.
///
/// Property values are strings on the wire; a property HubSpot left out and one it sent
/// as `null` mean the same, and both read as `None` through [`Record::property`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The record id, a decimal string unique within its object type.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_properties")]
    pub properties: BTreeMap<String, Option<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

impl Record {
    /// The value of a property, `None` when absent or null.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(|v| v.as_deref())
    }

    /// Adds the properties of another response for the same record (a chunk of a
    /// chunked list call); values already present win over absent ones only.
    pub(crate) fn absorb(&mut self, other: Record) {
        for (name, value) in other.properties {
            let slot = self.properties.entry(name).or_insert(None);
            if slot.is_none() {
                *slot = value;
            }
        }
    }
}

/// Ids and cursors are strings in v3 but numbers in places (v4 `toObjectId`); accept
/// both, as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum StringOrNumber {
    Text(String),
    Unsigned(u64),
    Signed(i64),
}

impl From<StringOrNumber> for String {
    fn from(value: StringOrNumber) -> Self {
        match value {
            StringOrNumber::Text(text) => text,
            StringOrNumber::Unsigned(n) => n.to_string(),
            StringOrNumber::Signed(n) => n.to_string(),
        }
    }
}

pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    StringOrNumber::deserialize(deserializer).map(String::from)
}

/// Property values should be strings or null; a number or a boolean (seen from other
/// tools' mocks, and cheap to accept) is kept as its JSON text rather than failing the
/// whole page.
fn lenient_properties<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(deserializer)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some(text),
                other => Some(other.to_string()),
            };
            (name, value)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_null_read_the_same() {
        let record: Record = serde_json::from_value(serde_json::json!({
            "id": "512",
            "properties": {"amount": "360000", "closedate": null, "hs_object_id": "512", "n": 3, "flag": true},
            "createdAt": "2019-10-30T03:30:17.883Z",
            "updatedAt": "2019-12-07T16:50:06.678Z",
            "archived": false,
            "url": "https://app.hubspot.com/contacts/62515/record/0-3/512"
        }))
        .unwrap();
        assert_eq!(record.property("amount"), Some("360000"));
        assert_eq!(record.property("closedate"), None);
        assert_eq!(record.property("dealname"), None);
        assert_eq!(record.property("n"), Some("3"));
        assert_eq!(record.property("flag"), Some("true"));
        assert_eq!(record.archived_at, None);
    }

    #[test]
    fn absorb_merges_chunks_of_one_record() {
        let mut first: Record = serde_json::from_value(serde_json::json!({
            "id": "1", "properties": {"a": "1", "hs_object_id": "1"},
            "createdAt": "2020-01-01T00:00:00Z", "updatedAt": "2020-01-01T00:00:00Z"
        }))
        .unwrap();
        let second: Record = serde_json::from_value(serde_json::json!({
            "id": "1", "properties": {"b": "2", "hs_object_id": "1"},
            "createdAt": "2020-01-01T00:00:00Z", "updatedAt": "2020-01-01T00:00:00Z"
        }))
        .unwrap();
        first.absorb(second);
        assert_eq!(first.property("a"), Some("1"));
        assert_eq!(first.property("b"), Some("2"));
        assert_eq!(first.properties.len(), 3);
    }
}
