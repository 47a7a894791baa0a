//! Custom queries: an admin's extra HubSpot search filters for one table, validated.
//!
//! Accepted shapes, all in HubSpot's search syntax:
//! - one filter: `{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}`;
//! - a list of filters, ANDed: `[{…}, {…}]` (also `{"filters": [{…}, {…}]}`);
//! - filter groups, ORed: `{"filterGroups": [{"filters": [{…}]}, {"filters": [{…}]}]}`.
//!
//! hubsync ANDs its own three filters (the range's low and high bound and the id cursor)
//! into every group, so HubSpot's limits (5 groups, 6 filters per group, 18 in all) leave
//! an admin at most 3 filters per group, at most 18 − 3 × groups in all, and so at most
//! 4 groups (5 groups would need 15 + 5 = 20 filters).
//!
//! `IN`/`NOT_IN` values on `string` properties are lowercased rather than refused:
//! HubSpot requires lowercase there and compares strings case-insensitively anyway, so
//! lowercasing keeps the admin's meaning. It is done only when the table's fields are
//! known; enumeration values are case-sensitive and are never touched.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::field::Field;
use crate::ids::PropertyName;
use crate::search::{Filter, FilterGroup, Operator};

/// Filters hubsync adds to every filter group: range low, range high, id cursor (or, in a
/// chunk split by id, the single millisecond, the id cursor and the id upper bound).
pub const SYNC_FILTERS_PER_GROUP: usize = 3;
/// HubSpot's limits on a search request (API.md §7.2).
pub const MAX_FILTER_GROUPS: usize = 5;
pub const MAX_FILTERS_PER_GROUP: usize = 6;
pub const MAX_FILTERS_TOTAL: usize = 18;

const OPERATORS: &[(&str, Operator)] = &[
    ("EQ", Operator::Eq),
    ("NEQ", Operator::Neq),
    ("LT", Operator::Lt),
    ("LTE", Operator::Lte),
    ("GT", Operator::Gt),
    ("GTE", Operator::Gte),
    ("BETWEEN", Operator::Between),
    ("IN", Operator::In),
    ("NOT_IN", Operator::NotIn),
    ("HAS_PROPERTY", Operator::HasProperty),
    ("NOT_HAS_PROPERTY", Operator::NotHasProperty),
    ("CONTAINS_TOKEN", Operator::ContainsToken),
    ("NOT_CONTAINS_TOKEN", Operator::NotContainsToken),
];

const FILTER_KEYS: &[&str] = &["propertyName", "operator", "value", "highValue", "values"];

/// Where in the query a problem is: group and filter numbers start at 1, as an admin counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterAt {
    pub group: usize,
    pub filter: usize,
}

impl fmt::Display for FilterAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "filter {} of group {}", self.filter, self.group)
    }
}

/// Why a custom query was refused. Messages name the part and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomQueryError {
    #[error("the custom query is not valid JSON: {0}")]
    Json(String),
    #[error(
        "the custom query must be a filter object, a list of filters, or {{\"filterGroups\": [...]}}; got {0}"
    )]
    Shape(&'static str),
    #[error(
        "the custom query may only hold filters; {key:?} is not allowed (hubsync sets sorting, paging and properties itself)"
    )]
    TopLevelKey { key: String },
    #[error("filter group {group} must be an object like {{\"filters\": [...]}}")]
    GroupShape { group: usize },
    #[error("filter group {group} has an unknown key {key:?}; a group holds only \"filters\"")]
    GroupKey { group: usize, key: String },
    #[error("filter group {group} has no filters")]
    EmptyGroup { group: usize },
    #[error("{at} is not an object like {{\"propertyName\": …, \"operator\": …}}")]
    FilterShape { at: FilterAt },
    #[error(
        "{at} looks like a filter group; write groups as {{\"filterGroups\": [{{\"filters\": [...]}}]}}"
    )]
    NestedGroup { at: FilterAt },
    #[error(
        "{at} has an unknown key {key:?}; a filter has propertyName, operator, value, highValue and values"
    )]
    FilterKey { at: FilterAt, key: String },
    #[error("{at} has no propertyName")]
    MissingProperty { at: FilterAt },
    #[error("{at}: {property:?} is not a valid property name")]
    BadPropertyName { at: FilterAt, property: String },
    #[error("{at}: this table has no property {property:?}")]
    UnknownProperty { at: FilterAt, property: String },
    #[error("{at} has no operator")]
    MissingOperator { at: FilterAt },
    #[error(
        "{at} has unknown operator {operator:?}; use one of EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN"
    )]
    UnknownOperator { at: FilterAt, operator: String },
    #[error("{at}: operator {operator} needs {needs}")]
    MissingOperand {
        at: FilterAt,
        operator: &'static str,
        needs: &'static str,
    },
    #[error("{at}: operator {operator} takes no {operand:?}")]
    UnexpectedOperand {
        at: FilterAt,
        operator: &'static str,
        operand: &'static str,
    },
    #[error("{at}: {operand:?} must be a string, a number or true/false")]
    BadOperand { at: FilterAt, operand: &'static str },
    #[error(
        "the custom query has {groups} filter groups; with the {SYNC_FILTERS_PER_GROUP} filters hubsync adds to each group, HubSpot's limits ({MAX_FILTER_GROUPS} groups, {MAX_FILTERS_TOTAL} filters in all) allow at most {max}"
    )]
    TooManyGroups { groups: usize, max: usize },
    #[error(
        "filter group {group} has {filters} filters; with the {SYNC_FILTERS_PER_GROUP} filters hubsync adds for the date range and paging, a group may hold at most {max}"
    )]
    TooManyFiltersInGroup {
        group: usize,
        filters: usize,
        max: usize,
    },
    #[error(
        "the custom query has {filters} filters in {groups} groups; with the {SYNC_FILTERS_PER_GROUP} filters hubsync adds to each group, HubSpot's limit of {MAX_FILTERS_TOTAL} filters in all leaves room for at most {max}"
    )]
    TooManyFilters {
        filters: usize,
        groups: usize,
        max: usize,
    },
}

/// A validated custom query: filter groups (ORed) of filters (ANDed). No groups means
/// no extra condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct CustomQuery {
    groups: Vec<FilterGroup>,
}

impl CustomQuery {
    /// Parses and validates JSON text. With `fields`, properties must exist on the table
    /// and `IN` values on string properties are lowercased.
    pub fn parse(text: &str, fields: Option<&[Field]>) -> Result<Self, CustomQueryError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|error| CustomQueryError::Json(error.to_string()))?;
        Self::from_json(&value, fields)
    }

    /// Validates an already parsed JSON value; see [`CustomQuery::parse`].
    pub fn from_json(value: &Value, fields: Option<&[Field]>) -> Result<Self, CustomQueryError> {
        let raw_groups = raw_groups(value)?;
        let mut groups = Vec::with_capacity(raw_groups.len());
        for (index, raw_filters) in raw_groups.iter().enumerate() {
            let group = index + 1;
            let mut filters = Vec::with_capacity(raw_filters.len());
            for (filter_index, raw) in raw_filters.iter().enumerate() {
                let at = FilterAt {
                    group,
                    filter: filter_index + 1,
                };
                filters.push(parse_filter(raw, at, fields)?);
            }
            groups.push(FilterGroup { filters });
        }
        check_limits(&groups)?;
        Ok(Self { groups })
    }

    /// The filter groups (ORed).
    pub fn groups(&self) -> &[FilterGroup] {
        &self.groups
    }

    /// True when the query adds no condition.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The canonical JSON form `{"filterGroups": [...]}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "filterGroups": self.groups })
    }
}

impl TryFrom<Value> for CustomQuery {
    type Error = CustomQueryError;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        CustomQuery::from_json(&value, None)
    }
}

impl From<CustomQuery> for Value {
    fn from(query: CustomQuery) -> Self {
        query.to_json()
    }
}

/// The groups of raw filters, whatever the accepted shape.
fn raw_groups(value: &Value) -> Result<Vec<Vec<Value>>, CustomQueryError> {
    match value {
        Value::Array(filters) => Ok(if filters.is_empty() {
            Vec::new()
        } else {
            vec![filters.clone()]
        }),
        Value::Object(object) if object.contains_key("filterGroups") => {
            if let Some(key) = object.keys().find(|key| *key != "filterGroups") {
                return Err(CustomQueryError::TopLevelKey { key: key.clone() });
            }
            let Some(Value::Array(groups)) = object.get("filterGroups") else {
                return Err(CustomQueryError::Shape("a filterGroups that is not a list"));
            };
            groups
                .iter()
                .enumerate()
                .map(|(index, group)| group_filters(group, index + 1))
                .collect()
        }
        Value::Object(object) if object.contains_key("filters") => {
            if let Some(key) = object.keys().find(|key| *key != "filters") {
                return Err(CustomQueryError::TopLevelKey { key: key.clone() });
            }
            match object.get("filters") {
                Some(Value::Array(filters)) if filters.is_empty() => Ok(Vec::new()),
                Some(Value::Array(filters)) => Ok(vec![filters.clone()]),
                _ => Err(CustomQueryError::Shape("a filters that is not a list")),
            }
        }
        Value::Object(object)
            if object.contains_key("propertyName") || object.contains_key("operator") =>
        {
            Ok(vec![vec![value.clone()]])
        }
        Value::Object(object) => match object.keys().next() {
            Some(key) => Err(CustomQueryError::TopLevelKey { key: key.clone() }),
            None => Err(CustomQueryError::Shape("an empty object")),
        },
        Value::Null => Err(CustomQueryError::Shape("null")),
        Value::Bool(_) => Err(CustomQueryError::Shape("true/false")),
        Value::Number(_) => Err(CustomQueryError::Shape("a number")),
        Value::String(_) => Err(CustomQueryError::Shape("a string")),
    }
}

fn group_filters(group: &Value, number: usize) -> Result<Vec<Value>, CustomQueryError> {
    let Value::Object(object) = group else {
        return Err(CustomQueryError::GroupShape { group: number });
    };
    if let Some(key) = object.keys().find(|key| *key != "filters") {
        return Err(CustomQueryError::GroupKey {
            group: number,
            key: key.clone(),
        });
    }
    match object.get("filters") {
        Some(Value::Array(filters)) if filters.is_empty() => {
            Err(CustomQueryError::EmptyGroup { group: number })
        }
        Some(Value::Array(filters)) => Ok(filters.clone()),
        None => Err(CustomQueryError::EmptyGroup { group: number }),
        Some(_) => Err(CustomQueryError::GroupShape { group: number }),
    }
}

fn parse_filter(
    raw: &Value,
    at: FilterAt,
    fields: Option<&[Field]>,
) -> Result<Filter, CustomQueryError> {
    let Value::Object(object) = raw else {
        return Err(CustomQueryError::FilterShape { at });
    };
    if object.contains_key("filters") {
        return Err(CustomQueryError::NestedGroup { at });
    }
    if let Some(key) = object
        .keys()
        .find(|key| !FILTER_KEYS.contains(&key.as_str()))
    {
        return Err(CustomQueryError::FilterKey {
            at,
            key: key.clone(),
        });
    }

    let property = match object.get("propertyName") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        None | Some(Value::Null) => return Err(CustomQueryError::MissingProperty { at }),
        Some(Value::String(_)) => return Err(CustomQueryError::MissingProperty { at }),
        Some(other) => {
            return Err(CustomQueryError::BadPropertyName {
                at,
                property: other.to_string(),
            });
        }
    };
    let field = check_property(&property, at, fields)?;

    let (operator_name, operator) = match object.get("operator") {
        None | Some(Value::Null) => return Err(CustomQueryError::MissingOperator { at }),
        Some(Value::String(name)) => OPERATORS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(name.trim()))
            .copied()
            .ok_or_else(|| CustomQueryError::UnknownOperator {
                at,
                operator: name.clone(),
            })?,
        Some(other) => {
            return Err(CustomQueryError::UnknownOperator {
                at,
                operator: other.to_string(),
            });
        }
    };

    let value = scalar_operand(object, "value", at)?;
    let high_value = scalar_operand(object, "highValue", at)?;
    let values = list_operand(object, at)?;

    let unexpected = |operand: &'static str| CustomQueryError::UnexpectedOperand {
        at,
        operator: operator_name,
        operand,
    };
    let missing = |needs: &'static str| CustomQueryError::MissingOperand {
        at,
        operator: operator_name,
        needs,
    };

    let mut filter = Filter {
        property_name: property,
        operator,
        value: None,
        high_value: None,
        values: None,
    };
    match operator {
        Operator::In | Operator::NotIn => {
            if value.is_some() {
                return Err(unexpected("value"));
            }
            if high_value.is_some() {
                return Err(unexpected("highValue"));
            }
            let mut values = match values {
                Some(values) if !values.is_empty() => values,
                _ => return Err(missing("\"values\", a non-empty list")),
            };
            if field.is_some_and(|field| field.hubspot_type == "string") {
                values = values.into_iter().map(|v| v.to_lowercase()).collect();
            }
            filter.values = Some(values);
        }
        Operator::Between => {
            if values.is_some() {
                return Err(unexpected("values"));
            }
            match (value, high_value) {
                (Some(low), Some(high)) => {
                    filter.value = Some(low);
                    filter.high_value = Some(high);
                }
                _ => return Err(missing("both \"value\" and \"highValue\"")),
            }
        }
        Operator::HasProperty | Operator::NotHasProperty => {
            for (present, name) in [
                (value.is_some(), "value"),
                (high_value.is_some(), "highValue"),
                (values.is_some(), "values"),
            ] {
                if present {
                    return Err(unexpected(name));
                }
            }
        }
        Operator::Eq
        | Operator::Neq
        | Operator::Lt
        | Operator::Lte
        | Operator::Gt
        | Operator::Gte
        | Operator::ContainsToken
        | Operator::NotContainsToken => {
            if high_value.is_some() {
                return Err(unexpected("highValue"));
            }
            if values.is_some() {
                return Err(unexpected("values"));
            }
            filter.value = Some(value.ok_or_else(|| missing("\"value\""))?);
        }
    }
    Ok(filter)
}

/// The field a filter's property refers to, when the table's fields are known.
/// `associations.{objectType}` is HubSpot's pseudo-property for association search.
fn check_property<'f>(
    property: &str,
    at: FilterAt,
    fields: Option<&'f [Field]>,
) -> Result<Option<&'f Field>, CustomQueryError> {
    let bad_name = || CustomQueryError::BadPropertyName {
        at,
        property: property.to_owned(),
    };
    if let Some(object_type) = property.strip_prefix("associations.") {
        let valid = !object_type.is_empty()
            && object_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        return if valid { Ok(None) } else { Err(bad_name()) };
    }
    PropertyName::parse(property).map_err(|_| bad_name())?;
    let Some(fields) = fields else {
        return Ok(None);
    };
    match fields.iter().find(|field| field.name.as_str() == property) {
        Some(field) => Ok(Some(field)),
        None => Err(CustomQueryError::UnknownProperty {
            at,
            property: property.to_owned(),
        }),
    }
}

/// A scalar operand as HubSpot's string; numbers and booleans are stringified as
/// HubSpot itself accepts them. `null` counts as absent.
fn scalar_operand(
    object: &Map<String, Value>,
    key: &'static str,
    at: FilterAt,
) -> Result<Option<String>, CustomQueryError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => scalar_text(value)
            .map(Some)
            .ok_or(CustomQueryError::BadOperand { at, operand: key }),
    }
}

fn list_operand(
    object: &Map<String, Value>,
    at: FilterAt,
) -> Result<Option<Vec<String>>, CustomQueryError> {
    let bad = CustomQueryError::BadOperand {
        at,
        operand: "values",
    };
    match object.get("values") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| scalar_text(item).ok_or(bad.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The most filter groups a custom query can have: each group holds at least one filter
/// besides the sync's, so 18 filters in all fit 4 groups, below HubSpot's 5.
pub const MAX_CUSTOM_GROUPS: usize = {
    let by_total = MAX_FILTERS_TOTAL / (SYNC_FILTERS_PER_GROUP + 1);
    if by_total < MAX_FILTER_GROUPS {
        by_total
    } else {
        MAX_FILTER_GROUPS
    }
};

/// HubSpot's limits, counted with the sync's own filters in every group. With no
/// custom groups the sync's single group of 3 is always within limits.
fn check_limits(groups: &[FilterGroup]) -> Result<(), CustomQueryError> {
    if groups.len() > MAX_CUSTOM_GROUPS {
        return Err(CustomQueryError::TooManyGroups {
            groups: groups.len(),
            max: MAX_CUSTOM_GROUPS,
        });
    }
    let per_group_max = MAX_FILTERS_PER_GROUP - SYNC_FILTERS_PER_GROUP;
    for (index, group) in groups.iter().enumerate() {
        if group.filters.len() > per_group_max {
            return Err(CustomQueryError::TooManyFiltersInGroup {
                group: index + 1,
                filters: group.filters.len(),
                max: per_group_max,
            });
        }
    }
    let custom_total: usize = groups.iter().map(|group| group.filters.len()).sum();
    let total_max = MAX_FILTERS_TOTAL.saturating_sub(SYNC_FILTERS_PER_GROUP * groups.len());
    if custom_total > total_max {
        return Err(CustomQueryError::TooManyFilters {
            filters: custom_total,
            groups: groups.len(),
            max: total_max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
