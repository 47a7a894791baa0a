//! The body of HubSpot's CRM search request (`POST /crm/v3/objects/{objectType}/search`),
//! exactly as it goes on the wire.
//!
//! The OpenAPI file types `sorts` as an array of strings; HubSpot accepts the object form
//! `{propertyName, direction}` used here (API.md §18, errata of the spec).
//!
//! [`build_search_request`] builds the request a chunk sends for each page: it pages by
//! `hs_object_id` (sorted ascending, cursor `GT` the last id seen) inside the chunk's
//! fixed range, never by offset, so it never meets HubSpot's 10,000-result cap, cannot
//! loop on thousands of records sharing a millisecond, and is not shifted by records
//! that change while paging.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::catalog::TableSpec;
use crate::custom_query::{CustomQuery, SYNC_FILTERS_PER_GROUP};
use crate::ids::PropertyName;
use crate::range::ChunkRange;

/// HubSpot's largest search page.
pub const MAX_SEARCH_LIMIT: u32 = 200;

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
    // No `after`: offset paging stops at 10,000 results and shifts under changes;
    // hubsync pages by `hs_object_id` instead, so the body cannot carry an offset.
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

impl Filter {
    fn with_value(property: &PropertyName, operator: Operator, value: String) -> Self {
        Filter {
            property_name: property.as_str().to_owned(),
            operator,
            value: Some(value),
            high_value: None,
            values: None,
        }
    }
}

/// The filters hubsync adds to every group: exactly [`SYNC_FILTERS_PER_GROUP`] of them.
///
/// - time chunk: `modified GTE start`, `modified LT end`, `hs_object_id GT after`
///   (or `GTE 0` on the first page);
/// - id chunk (one millisecond): `modified EQ ms`, `hs_object_id GT after` (or `GTE
///   start` on the first page, and when `after` lies below the range: a cursor
///   inherited from a parent chunk may point into a sibling's ids), `hs_object_id LT
///   end`.
///
/// Datetime values are epoch-millisecond strings, the form every HubSpot client sends.
pub fn sync_filters(table: &TableSpec, range: &ChunkRange, after_id: Option<u64>) -> Vec<Filter> {
    let modified = range.modified();
    let last_modified = &table.last_modified_property;
    let id = &PropertyName::HS_OBJECT_ID;
    let cursor = |start: u64| match after_id {
        Some(after) if after >= start => Filter::with_value(id, Operator::Gt, after.to_string()),
        _ => Filter::with_value(id, Operator::Gte, start.to_string()),
    };
    let filters = match range.ids() {
        None => vec![
            Filter::with_value(
                last_modified,
                Operator::Gte,
                modified.start_ms().to_string(),
            ),
            Filter::with_value(last_modified, Operator::Lt, modified.end_ms().to_string()),
            cursor(0),
        ],
        Some(ids) => vec![
            Filter::with_value(last_modified, Operator::Eq, modified.start_ms().to_string()),
            cursor(ids.start()),
            Filter::with_value(id, Operator::Lt, ids.end().to_string()),
        ],
    };
    debug_assert_eq!(filters.len(), SYNC_FILTERS_PER_GROUP);
    filters
}

/// The search request for one page of a chunk: the sync's filters ANDed into every
/// group of the custom query (or alone when there is none), sorted by `hs_object_id`
/// ascending, `limit` clamped to 1..=200, no offset.
pub fn build_search_request(
    table: &TableSpec,
    range: &ChunkRange,
    after_id: Option<u64>,
    custom_query: Option<&CustomQuery>,
    properties: &[PropertyName],
    limit: u32,
) -> SearchRequest {
    let own = sync_filters(table, range, after_id);
    let filter_groups = match custom_query.filter(|query| !query.is_empty()) {
        None => vec![FilterGroup { filters: own }],
        Some(query) => query
            .groups()
            .iter()
            .map(|group| FilterGroup {
                filters: own.iter().chain(&group.filters).cloned().collect(),
            })
            .collect(),
    };
    // Wide tables list hundreds of properties and this runs for every page.
    let mut seen = HashSet::with_capacity(properties.len());
    let property_names: Vec<String> = properties
        .iter()
        .map(PropertyName::as_str)
        .filter(|name| seen.insert(*name))
        .map(str::to_owned)
        .collect();
    SearchRequest {
        filter_groups,
        sorts: vec![Sort {
            property_name: PropertyName::HS_OBJECT_ID.as_str().to_owned(),
            direction: SortDirection::Ascending,
        }],
        properties: property_names,
        limit: limit.clamp(1, MAX_SEARCH_LIMIT),
    }
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

    use crate::catalog::standard_table;
    use crate::custom_query::{MAX_FILTERS_PER_GROUP, MAX_FILTERS_TOTAL};
    use crate::ids::TableName;
    use crate::range::{IdRange, ModifiedRange};
    use serde_json::json;

    fn deals() -> TableSpec {
        standard_table(&TableName::DEALS).unwrap()
    }

    fn january() -> ChunkRange {
        ChunkRange::time(ModifiedRange::from_millis(1_704_067_200_000, 1_706_745_600_000).unwrap())
    }

    #[test]
    fn first_page_of_a_time_chunk() {
        let request = build_search_request(
            &deals(),
            &january(),
            None,
            None,
            &[
                PropertyName::parse("dealname").unwrap(),
                PropertyName::parse("dealname").unwrap(),
            ],
            500,
        );
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "filterGroups": [{"filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "1704067200000"},
                    {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": "1706745600000"},
                    {"propertyName": "hs_object_id", "operator": "GTE", "value": "0"}
                ]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": ["dealname"],
                "limit": 200
            })
        );
    }

    #[test]
    fn repeated_properties_keep_their_first_place() {
        let names = ["dealstage", "amount", "dealstage", "closedate", "amount"]
            .map(|name| PropertyName::parse(name).unwrap());
        let request = build_search_request(&deals(), &january(), None, None, &names, 100);
        assert_eq!(request.properties, ["dealstage", "amount", "closedate"]);
    }

    #[test]
    fn contacts_page_by_lastmodifieddate_with_the_cursor() {
        let contacts = standard_table(&TableName::CONTACTS).unwrap();
        let request =
            build_search_request(&contacts, &january(), Some(57_156_923_994), None, &[], 0);
        let filters = &request.filter_groups[0].filters;
        assert!(
            filters[..2]
                .iter()
                .all(|f| f.property_name == "lastmodifieddate")
        );
        assert_eq!(filters[2].operator, Operator::Gt);
        assert_eq!(filters[2].value.as_deref(), Some("57156923994"));
        assert_eq!(request.limit, 1);
        let body = serde_json::to_value(&request).unwrap();
        assert!(body.get("after").is_none(), "{body}");
    }

    #[test]
    fn id_chunks_pin_the_millisecond_and_bound_the_ids() {
        let range = ChunkRange::by_ids(
            ModifiedRange::from_millis(1_704_067_200_000, 1_704_067_200_001).unwrap(),
            IdRange::new(1_000, 2_000).unwrap(),
        )
        .unwrap();
        let first = build_search_request(&deals(), &range, None, None, &[], 200);
        assert_eq!(
            serde_json::to_value(&first.filter_groups).unwrap(),
            json!([{"filters": [
                {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": "1704067200000"},
                {"propertyName": "hs_object_id", "operator": "GTE", "value": "1000"},
                {"propertyName": "hs_object_id", "operator": "LT", "value": "2000"}
            ]}])
        );
        let next = build_search_request(&deals(), &range, Some(1_450), None, &[], 200);
        assert_eq!(next.filter_groups[0].filters[1].operator, Operator::Gt);
        assert_eq!(
            next.filter_groups[0].filters[1].value.as_deref(),
            Some("1450")
        );
        // A cursor below the range (a parent's, in a sibling's ids) keeps the bound.
        let below = build_search_request(&deals(), &range, Some(400), None, &[], 200);
        assert_eq!(below.filter_groups, first.filter_groups);
    }

    #[test]
    fn every_custom_group_carries_the_range_and_cursor() {
        let query = CustomQuery::from_json(
            &json!({"filterGroups": [
                {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]},
                {"filters": [
                    {"propertyName": "amount", "operator": "GT", "value": "1000"},
                    {"propertyName": "pipeline", "operator": "IN", "values": ["default"]}
                ]}
            ]}),
            None,
        )
        .unwrap();
        let request = build_search_request(&deals(), &january(), Some(99), Some(&query), &[], 100);
        assert_eq!(request.filter_groups.len(), 2);
        for (group, custom) in request.filter_groups.iter().zip(query.groups()) {
            let own = sync_filters(&deals(), &january(), Some(99));
            assert_eq!(group.filters[..SYNC_FILTERS_PER_GROUP], own[..]);
            assert_eq!(group.filters[SYNC_FILTERS_PER_GROUP..], custom.filters[..]);
        }
        // An empty custom query is no query.
        let empty = CustomQuery::from_json(&json!([]), None).unwrap();
        let plain = build_search_request(&deals(), &january(), None, Some(&empty), &[], 100);
        assert_eq!(plain.filter_groups.len(), 1);
    }

    /// The largest custom query validation accepts still makes a request within
    /// HubSpot's limits, in both chunk forms.
    #[test]
    fn accepted_queries_stay_within_hubspot_limits() {
        let filter =
            |i: usize| json!({"propertyName": format!("p{i}"), "operator": "EQ", "value": "x"});
        let biggest = [vec![3, 3, 3], vec![3, 1, 1, 1], vec![3]];
        let single_ms = ChunkRange::by_ids(
            ModifiedRange::from_millis(5_000, 5_001).unwrap(),
            IdRange::new(1, 10).unwrap(),
        )
        .unwrap();
        for sizes in biggest {
            let groups: Vec<_> = sizes
                .iter()
                .map(|n| json!({"filters": (0..*n).map(filter).collect::<Vec<_>>()}))
                .collect();
            let query = CustomQuery::from_json(&json!({"filterGroups": groups}), None).unwrap();
            for range in [january(), single_ms] {
                let request =
                    build_search_request(&deals(), &range, Some(5), Some(&query), &[], 200);
                assert!(request.filter_groups.len() <= 5);
                assert!(
                    request
                        .filter_groups
                        .iter()
                        .all(|g| g.filters.len() <= MAX_FILTERS_PER_GROUP)
                );
                let total: usize = request.filter_groups.iter().map(|g| g.filters.len()).sum();
                assert!(total <= MAX_FILTERS_TOTAL, "{sizes:?}: {total}");
            }
        }
    }
}
