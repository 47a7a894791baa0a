use serde_json::json;

use super::*;
use crate::field::FieldType;

fn field(name: &str, hubspot_type: &str) -> Field {
    Field {
        name: PropertyName::parse(name).unwrap(),
        label: name.into(),
        field_type: FieldType::String,
        multi: false,
        hubspot_type: hubspot_type.into(),
        hubspot_field_type: "text".into(),
        options: Vec::new(),
        currency_property: None,
        calculated: false,
        hidden: false,
    }
}

fn deal_fields() -> Vec<Field> {
    vec![
        field("dealname", "string"),
        field("dealstage", "enumeration"),
        field("amount", "number"),
        field("closedate", "datetime"),
    ]
}

fn eq(property: &str, value: &str) -> serde_json::Value {
    json!({"propertyName": property, "operator": "EQ", "value": value})
}

/// The error message for a query, which must be refused.
fn refused(query: serde_json::Value) -> String {
    refused_with(query, None)
}

fn refused_with(query: serde_json::Value, fields: Option<&[Field]>) -> String {
    match CustomQuery::from_json(&query, fields) {
        Ok(accepted) => panic!("accepted {query}: {accepted:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn accepts_the_three_shapes() {
    let one = CustomQuery::from_json(&eq("dealstage", "closedwon"), None).unwrap();
    assert_eq!(one.groups().len(), 1);
    assert_eq!(one.groups()[0].filters.len(), 1);
    assert_eq!(one.groups()[0].filters[0].operator, Operator::Eq);

    let list = CustomQuery::from_json(&json!([eq("a", "1"), eq("b", "2")]), None).unwrap();
    assert_eq!(list.groups().len(), 1);
    assert_eq!(list.groups()[0].filters.len(), 2);

    let top_filters =
        CustomQuery::from_json(&json!({"filters": [eq("a", "1"), eq("b", "2")]}), None).unwrap();
    assert_eq!(top_filters, list);

    let groups = CustomQuery::from_json(
        &json!({"filterGroups": [{"filters": [eq("a", "1")]}, {"filters": [eq("b", "2")]}]}),
        None,
    )
    .unwrap();
    assert_eq!(groups.groups().len(), 2);

    // Text form, and the canonical form round-trips.
    let parsed =
        CustomQuery::parse(r#"{"propertyName":"a","operator":"eq","value":"1"}"#, None).unwrap();
    assert_eq!(parsed.groups()[0].filters[0].operator, Operator::Eq);
    assert_eq!(
        CustomQuery::from_json(&groups.to_json(), None).unwrap(),
        groups
    );
    let via_serde: CustomQuery = serde_json::from_value(groups.to_json()).unwrap();
    assert_eq!(via_serde, groups);
}

#[test]
fn empty_queries_add_nothing() {
    for empty in [
        json!([]),
        json!({"filterGroups": []}),
        json!({"filters": []}),
    ] {
        assert!(
            CustomQuery::from_json(&empty, None).unwrap().is_empty(),
            "{empty}"
        );
    }
}

#[test]
fn operands_per_operator() {
    let ok = |filter: serde_json::Value| {
        CustomQuery::from_json(&filter, None)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .groups()[0]
            .filters[0]
            .clone()
    };
    let filter = ok(
        json!({"propertyName": "amount", "operator": "BETWEEN", "value": 10, "highValue": 20.5}),
    );
    assert_eq!(filter.value.as_deref(), Some("10"));
    assert_eq!(filter.high_value.as_deref(), Some("20.5"));
    let filter = ok(json!({"propertyName": "hs_is_closed", "operator": "EQ", "value": true}));
    assert_eq!(filter.value.as_deref(), Some("true"));
    let filter =
        ok(json!({"propertyName": "dealstage", "operator": "NOT_IN", "values": ["closedlost", 7]}));
    assert_eq!(filter.values, Some(vec!["closedlost".into(), "7".into()]));
    let filter = ok(json!({"propertyName": "email", "operator": "HAS_PROPERTY"}));
    assert_eq!((filter.value, filter.values), (None, None));
    let filter =
        ok(json!({"propertyName": "email", "operator": "NOT_HAS_PROPERTY", "value": null}));
    assert_eq!(filter.operator, Operator::NotHasProperty);
    let filter = ok(
        json!({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@hubspot.com"}),
    );
    assert_eq!(filter.value.as_deref(), Some("*@hubspot.com"));
    let filter =
        ok(json!({"propertyName": "associations.contact", "operator": "EQ", "value": "123"}));
    assert_eq!(filter.property_name, "associations.contact");
}

#[test]
fn in_values_on_string_properties_are_lowercased() {
    let fields = deal_fields();
    let query = CustomQuery::from_json(
        &json!([
            {"propertyName": "dealname", "operator": "IN", "values": ["Big Deal", "SMALL"]},
            {"propertyName": "dealstage", "operator": "IN", "values": ["ClosedWon"]}
        ]),
        Some(&fields),
    )
    .unwrap();
    let filters = &query.groups()[0].filters;
    assert_eq!(
        filters[0].values,
        Some(vec!["big deal".into(), "small".into()])
    );
    // Enumerations are case-sensitive: untouched.
    assert_eq!(filters[1].values, Some(vec!["ClosedWon".into()]));
    // Without fields nothing is known about the type: untouched.
    let blind = CustomQuery::from_json(
        &json!({"propertyName": "dealname", "operator": "IN", "values": ["Big"]}),
        None,
    )
    .unwrap();
    assert_eq!(
        blind.groups()[0].filters[0].values,
        Some(vec!["Big".into()])
    );
}

#[test]
fn shape_errors() {
    assert!(
        CustomQuery::parse("{not json", None)
            .unwrap_err()
            .to_string()
            .starts_with("the custom query is not valid JSON: ")
    );
    assert_eq!(
        refused(json!("dealstage = closedwon")),
        "the custom query must be a filter object, a list of filters, or {\"filterGroups\": [...]}; got a string"
    );
    assert_eq!(
        refused(json!(null)),
        "the custom query must be a filter object, a list of filters, or {\"filterGroups\": [...]}; got null"
    );
    assert_eq!(
        refused(json!({})),
        "the custom query must be a filter object, a list of filters, or {\"filterGroups\": [...]}; got an empty object"
    );
    assert_eq!(
        refused(json!({"filterGroups": {"filters": []}})),
        "the custom query must be a filter object, a list of filters, or {\"filterGroups\": [...]}; got a filterGroups that is not a list"
    );
    assert_eq!(
        refused(json!({"filters": "x"})),
        "the custom query must be a filter object, a list of filters, or {\"filterGroups\": [...]}; got a filters that is not a list"
    );
    assert_eq!(
        refused(json!({"filterGroups": [], "sorts": []})),
        "the custom query may only hold filters; \"sorts\" is not allowed (hubsync sets sorting, paging and properties itself)"
    );
    assert_eq!(
        refused(json!({"filters": [eq("a", "1")], "limit": 5})),
        "the custom query may only hold filters; \"limit\" is not allowed (hubsync sets sorting, paging and properties itself)"
    );
    assert_eq!(
        refused(json!({"query": "acme"})),
        "the custom query may only hold filters; \"query\" is not allowed (hubsync sets sorting, paging and properties itself)"
    );
    assert_eq!(
        refused(json!({"filterGroups": [[eq("a", "1")]]})),
        "filter group 1 must be an object like {\"filters\": [...]}"
    );
    assert_eq!(
        refused(json!({"filterGroups": [{"filters": [eq("a", "1")]}, {"filters": []}]})),
        "filter group 2 has no filters"
    );
    assert_eq!(
        refused(json!({"filterGroups": [{}]})),
        "filter group 1 has no filters"
    );
    assert_eq!(
        refused(json!({"filterGroups": [{"filters": [eq("a", "1")], "name": "x"}]})),
        "filter group 1 has an unknown key \"name\"; a group holds only \"filters\""
    );
    assert_eq!(
        refused(json!([eq("a", "1"), "b = 2"])),
        "filter 2 of group 1 is not an object like {\"propertyName\": …, \"operator\": …}"
    );
    assert_eq!(
        refused(json!([{"filters": [eq("a", "1")]}])),
        "filter 1 of group 1 looks like a filter group; write groups as {\"filterGroups\": [{\"filters\": [...]}]}"
    );
}

#[test]
fn filter_errors() {
    assert_eq!(
        refused(
            json!({"filterGroups": [{"filters": [eq("a", "1")]}, {"filters": [{"propertyName": "a", "operator": "EQ", "valeu": "1"}]}]})
        ),
        "filter 1 of group 2 has an unknown key \"valeu\"; a filter has propertyName, operator, value, highValue and values"
    );
    assert_eq!(
        refused(json!({"operator": "EQ", "value": "1"})),
        "filter 1 of group 1 has no propertyName"
    );
    assert_eq!(
        refused(json!({"propertyName": "", "operator": "EQ", "value": "1"})),
        "filter 1 of group 1 has no propertyName"
    );
    assert_eq!(
        refused(json!({"propertyName": "deal name", "operator": "EQ", "value": "1"})),
        "filter 1 of group 1: \"deal name\" is not a valid property name"
    );
    assert_eq!(
        refused(json!({"propertyName": 7, "operator": "EQ", "value": "1"})),
        "filter 1 of group 1: \"7\" is not a valid property name"
    );
    assert_eq!(
        refused(json!({"propertyName": "associations.", "operator": "EQ", "value": "1"})),
        "filter 1 of group 1: \"associations.\" is not a valid property name"
    );
    let fields = deal_fields();
    assert_eq!(
        refused_with(
            json!([eq("dealname", "x"), eq("dael_stage", "y")]),
            Some(&fields)
        ),
        "filter 2 of group 1: this table has no property \"dael_stage\""
    );
    assert_eq!(
        refused(json!({"propertyName": "a", "value": "1"})),
        "filter 1 of group 1 has no operator"
    );
    assert_eq!(
        refused(json!({"propertyName": "a", "operator": "EQUALS", "value": "1"})),
        "filter 1 of group 1 has unknown operator \"EQUALS\"; use one of EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN"
    );
    assert_eq!(
        refused(json!({"propertyName": "a", "operator": 3, "value": "1"})),
        "filter 1 of group 1 has unknown operator \"3\"; use one of EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN"
    );
}

#[test]
fn operand_errors() {
    let cases = [
        (
            json!({"propertyName": "a", "operator": "IN", "value": "x"}),
            "filter 1 of group 1: operator IN takes no \"value\"",
        ),
        (
            json!({"propertyName": "a", "operator": "IN"}),
            "filter 1 of group 1: operator IN needs \"values\", a non-empty list",
        ),
        (
            json!({"propertyName": "a", "operator": "NOT_IN", "values": []}),
            "filter 1 of group 1: operator NOT_IN needs \"values\", a non-empty list",
        ),
        (
            json!({"propertyName": "a", "operator": "IN", "values": ["x"], "highValue": "y"}),
            "filter 1 of group 1: operator IN takes no \"highValue\"",
        ),
        (
            json!({"propertyName": "a", "operator": "BETWEEN", "value": "1"}),
            "filter 1 of group 1: operator BETWEEN needs both \"value\" and \"highValue\"",
        ),
        (
            json!({"propertyName": "a", "operator": "BETWEEN", "highValue": "1"}),
            "filter 1 of group 1: operator BETWEEN needs both \"value\" and \"highValue\"",
        ),
        (
            json!({"propertyName": "a", "operator": "BETWEEN", "value": "1", "highValue": "2", "values": ["3"]}),
            "filter 1 of group 1: operator BETWEEN takes no \"values\"",
        ),
        (
            json!({"propertyName": "a", "operator": "HAS_PROPERTY", "value": "1"}),
            "filter 1 of group 1: operator HAS_PROPERTY takes no \"value\"",
        ),
        (
            json!({"propertyName": "a", "operator": "NOT_HAS_PROPERTY", "values": ["1"]}),
            "filter 1 of group 1: operator NOT_HAS_PROPERTY takes no \"values\"",
        ),
        (
            json!({"propertyName": "a", "operator": "HAS_PROPERTY", "highValue": "1"}),
            "filter 1 of group 1: operator HAS_PROPERTY takes no \"highValue\"",
        ),
        (
            json!({"propertyName": "a", "operator": "EQ"}),
            "filter 1 of group 1: operator EQ needs \"value\"",
        ),
        (
            json!({"propertyName": "a", "operator": "GTE", "values": ["1"], "value": "1"}),
            "filter 1 of group 1: operator GTE takes no \"values\"",
        ),
        (
            json!({"propertyName": "a", "operator": "LT", "value": "1", "highValue": "2"}),
            "filter 1 of group 1: operator LT takes no \"highValue\"",
        ),
        (
            json!({"propertyName": "a", "operator": "EQ", "value": {"x": 1}}),
            "filter 1 of group 1: \"value\" must be a string, a number or true/false",
        ),
        (
            json!({"propertyName": "a", "operator": "BETWEEN", "value": "1", "highValue": [2]}),
            "filter 1 of group 1: \"highValue\" must be a string, a number or true/false",
        ),
        (
            json!({"propertyName": "a", "operator": "IN", "values": "x"}),
            "filter 1 of group 1: \"values\" must be a string, a number or true/false",
        ),
        (
            json!({"propertyName": "a", "operator": "IN", "values": ["x", null]}),
            "filter 1 of group 1: \"values\" must be a string, a number or true/false",
        ),
    ];
    for (query, message) in cases {
        assert_eq!(refused(query), message);
    }
}

fn groups_of(sizes: &[usize]) -> serde_json::Value {
    let groups: Vec<serde_json::Value> = sizes
        .iter()
        .map(|size| json!({"filters": (0..*size).map(|i| eq(&format!("p{i}"), "x")).collect::<Vec<_>>()}))
        .collect();
    json!({ "filterGroups": groups })
}

#[test]
fn limits_count_the_sync_filters() {
    // At the boundary: accepted.
    for sizes in [
        &[3][..],
        &[3, 3][..],
        &[3, 3, 3][..],
        &[2, 2, 1, 1][..],
        &[3, 1, 1, 1][..],
        &[1, 1, 1, 1][..],
    ] {
        assert!(
            CustomQuery::from_json(&groups_of(sizes), None).is_ok(),
            "{sizes:?}"
        );
    }
    // Five groups would need 5 × 3 + 5 = 20 filters: four groups is the real limit.
    assert_eq!(
        refused(groups_of(&[1, 1, 1, 1, 1])),
        "the custom query has 5 filter groups; with the 3 filters hubsync adds to each group, HubSpot's limits (5 groups, 18 filters in all) allow at most 4"
    );
    assert_eq!(
        refused(groups_of(&[1, 1, 1, 1, 1, 1])),
        "the custom query has 6 filter groups; with the 3 filters hubsync adds to each group, HubSpot's limits (5 groups, 18 filters in all) allow at most 4"
    );
    assert_eq!(
        refused(groups_of(&[1, 4])),
        "filter group 2 has 4 filters; with the 3 filters hubsync adds for the date range and paging, a group may hold at most 3"
    );
    assert_eq!(
        refused(json!(
            (0..4)
                .map(|i| eq(&format!("p{i}"), "x"))
                .collect::<Vec<_>>()
        )),
        "filter group 1 has 4 filters; with the 3 filters hubsync adds for the date range and paging, a group may hold at most 3"
    );
    assert_eq!(
        refused(groups_of(&[3, 2, 1, 1])),
        "the custom query has 7 filters in 4 groups; with the 3 filters hubsync adds to each group, HubSpot's limit of 18 filters in all leaves room for at most 6"
    );
}
