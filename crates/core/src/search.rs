//! The body of HubSpot's CRM search request (`POST /crm/v3/objects/{objectType}/search`),
//! exactly as it goes on the wire.
//!
//! The OpenAPI file types `sorts` as an array of strings; HubSpot accepts the object form
//! `{propertyName, direction}` used here (API.md §18, errata of the spec).

use serde::{Deserialize, Serialize};

/// A search request body. Filter groups are ORed; the filters of one group are ANDed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub filter_groups: Vec<FilterGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sorts: Vec<Sort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
    pub limit: u32,
    /// Offset paging; hubsync pages by `hs_object_id` instead and leaves this unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Filters that must all match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterGroup {
    pub filters: Vec<Filter>,
}

/// One condition on one property, in HubSpot's spelling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The inclusive upper bound of `BETWEEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_value: Option<String>,
    /// The operands of `IN` and `NOT_IN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// HubSpot's search operators (the exact enum of the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

/// The single sort rule a search accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    pub property_name: String,
    pub direction: SortDirection,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SortDirection {
    Ascending,
    Descending,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_hubspot_spelling() {
        let request = SearchRequest {
            filter_groups: vec![FilterGroup {
                filters: vec![Filter {
                    property_name: "dealstage".into(),
                    operator: Operator::NotIn,
                    value: None,
                    high_value: None,
                    values: Some(vec!["closedlost".into()]),
                }],
            }],
            sorts: vec![Sort {
                property_name: "hs_object_id".into(),
                direction: SortDirection::Ascending,
            }],
            properties: vec![],
            limit: 200,
            after: None,
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "filterGroups": [{"filters": [
                    {"propertyName": "dealstage", "operator": "NOT_IN", "values": ["closedlost"]}
                ]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": 200
            })
        );
    }
}
