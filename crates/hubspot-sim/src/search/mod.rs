//! CRM search: request parsing with HubSpot's limits, filter compilation against a table's
//! properties and evaluation on records. Pure logic; the HTTP handler does the paging.

mod filter;

use serde_json::Value;

pub use filter::{CompiledSearch, SortKey, SortValue, compile};

pub const MAX_GROUPS: usize = 5;
pub const MAX_FILTERS_PER_GROUP: usize = 6;
pub const MAX_FILTERS: usize = 18;
pub const MAX_LIMIT: usize = 200;
pub const MAX_RESULTS: usize = 10_000;
pub const MAX_QUERY_LENGTH: usize = 3_000;

#[derive(Debug, Clone, PartialEq)]
pub enum SearchError {
    /// 400 with category VALIDATION_ERROR.
    Validation(String),
    /// 400 with HubSpot's generic "There was a problem with the request." and no category.
    Malformed(String),
    /// 500: HubSpot fails on filters at the Unix epoch (API.md §18.27).
    EpochZero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Operator {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "EQ" => Self::Eq,
            "NEQ" => Self::Neq,
            "LT" => Self::Lt,
            "LTE" => Self::Lte,
            "GT" => Self::Gt,
            "GTE" => Self::Gte,
            "BETWEEN" => Self::Between,
            "IN" => Self::In,
            "NOT_IN" => Self::NotIn,
            "HAS_PROPERTY" => Self::HasProperty,
            "NOT_HAS_PROPERTY" => Self::NotHasProperty,
            "CONTAINS_TOKEN" => Self::ContainsToken,
            "NOT_CONTAINS_TOKEN" => Self::NotContainsToken,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub property: String,
    pub operator: Operator,
    pub value: Option<String>,
    pub high_value: Option<String>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub groups: Vec<Vec<Filter>>,
    pub sort: Option<(String, bool)>,
    pub properties: Option<Vec<String>>,
    pub limit: usize,
    pub after: usize,
    pub query: Option<String>,
}

/// Filter values arrive as strings, and from some clients as JSON numbers or booleans.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn malformed(what: &str) -> SearchError {
    SearchError::Malformed(what.to_string())
}

fn parse_filter(v: &Value) -> Result<Filter, SearchError> {
    let property = v
        .get("propertyName")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("filter without propertyName"))?
        .to_string();
    let op_text = v.get("operator").and_then(Value::as_str).unwrap_or("EQ");
    let operator = Operator::parse(op_text)
        .ok_or_else(|| SearchError::Validation(format!("Unknown operator {op_text}")))?;
    let values = v
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(scalar).collect())
        .unwrap_or_default();
    Ok(Filter {
        property,
        operator,
        value: v.get("value").and_then(scalar),
        high_value: v.get("highValue").and_then(scalar),
        values,
    })
}

fn parse_count(v: Option<&Value>, name: &str, default: usize) -> Result<usize, SearchError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| malformed(&format!("{name} must be a non-negative integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(default),
        Some(Value::String(s)) => s
            .parse::<usize>()
            .map_err(|_| malformed(&format!("{name} must be an integer"))),
        _ => Err(malformed(&format!("{name} must be an integer"))),
    }
}

/// Parses a search body and applies HubSpot's request limits.
pub fn parse(body: &Value) -> Result<SearchRequest, SearchError> {
    if !body.is_object() {
        return Err(malformed("body must be a JSON object"));
    }
    let mut groups = Vec::new();
    if let Some(fg) = body.get("filterGroups").and_then(Value::as_array) {
        for g in fg {
            let filters = g
                .get("filters")
                .and_then(Value::as_array)
                .map(|fs| fs.iter().map(parse_filter).collect::<Result<Vec<_>, _>>())
                .transpose()?
                .unwrap_or_default();
            groups.push(filters);
        }
    }
    // a top-level `filters` array is accepted as one more group (Estuary and HubSpot's own
    // association-search example send it)
    if let Some(fs) = body.get("filters").and_then(Value::as_array)
        && !fs.is_empty()
    {
        groups.push(fs.iter().map(parse_filter).collect::<Result<Vec<_>, _>>()?);
    }
    if groups.len() > MAX_GROUPS {
        return Err(SearchError::Validation(format!(
            "Too many filter groups ({}); the maximum is {MAX_GROUPS}",
            groups.len()
        )));
    }
    if let Some(g) = groups.iter().find(|g| g.len() > MAX_FILTERS_PER_GROUP) {
        return Err(SearchError::Validation(format!(
            "Too many filters in a group ({}); the maximum is {MAX_FILTERS_PER_GROUP}",
            g.len()
        )));
    }
    let total: usize = groups.iter().map(Vec::len).sum();
    if total > MAX_FILTERS {
        return Err(SearchError::Validation(format!(
            "Too many filters ({total}); the maximum is {MAX_FILTERS} across all groups"
        )));
    }
    let sorts = body
        .get("sorts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if sorts.len() > 1 {
        return Err(SearchError::Validation("Only one sort is allowed".into()));
    }
    let sort = match sorts.first() {
        None => None,
        Some(Value::Object(o)) => {
            let name = o
                .get("propertyName")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("sort without propertyName"))?;
            let descending = o.get("direction").and_then(Value::as_str) == Some("DESCENDING");
            Some((name.to_string(), descending))
        }
        // the OpenAPI file types sorts as strings; a bare property name is taken as an
        // ascending sort, a leading '-' as descending (plausible, unconfirmed)
        Some(Value::String(s)) => match s.strip_prefix('-') {
            Some(name) => Some((name.to_string(), true)),
            None => Some((s.clone(), false)),
        },
        Some(_) => return Err(malformed("sorts must hold objects")),
    };
    let properties = body.get("properties").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect::<Vec<_>>()
    });
    let limit = parse_count(body.get("limit"), "limit", 10)?;
    // 0 is refused (HubSpot's answer is unconfirmed): a page of nothing would hand out a
    // cursor that never advances
    if limit == 0 || limit > MAX_LIMIT {
        return Err(SearchError::Validation(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let after = parse_count(body.get("after"), "after", 0)?;
    if after.saturating_add(limit) > MAX_RESULTS {
        // HubSpot's exact body here is unconfirmed; a VALIDATION_ERROR is the likeliest
        return Err(SearchError::Validation(format!(
            "Paging past {MAX_RESULTS} results is not supported (after {after} + limit {limit})"
        )));
    }
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .map(str::to_string);
    if query.as_ref().is_some_and(|q| q.len() > MAX_QUERY_LENGTH) {
        return Err(SearchError::Validation(format!(
            "query must be at most {MAX_QUERY_LENGTH} characters"
        )));
    }
    Ok(SearchRequest {
        groups,
        sort,
        properties,
        limit,
        after,
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_are_enforced() {
        let group = json!({"filters": [{"propertyName": "a", "operator": "HAS_PROPERTY"}]});
        let six_groups = json!({"filterGroups": vec![group.clone(); 6]});
        assert!(matches!(
            parse(&six_groups),
            Err(SearchError::Validation(_))
        ));
        let seven = json!({"filterGroups": [{"filters": vec![json!({"propertyName": "a", "operator": "HAS_PROPERTY"}); 7]}]});
        assert!(matches!(parse(&seven), Err(SearchError::Validation(_))));
        let nineteen = json!({"filterGroups": [
            {"filters": vec![json!({"propertyName": "a", "operator": "HAS_PROPERTY"}); 6]},
            {"filters": vec![json!({"propertyName": "a", "operator": "HAS_PROPERTY"}); 6]},
            {"filters": vec![json!({"propertyName": "a", "operator": "HAS_PROPERTY"}); 6]},
            {"filters": vec![json!({"propertyName": "a", "operator": "HAS_PROPERTY"}); 1]},
        ]});
        assert!(matches!(parse(&nineteen), Err(SearchError::Validation(_))));
        assert!(parse(&json!({"limit": 201})).is_err());
        assert!(
            parse(&json!({"limit": 0})).is_err(),
            "a cursor that never advances"
        );
        assert!(parse(&json!({"limit": 200, "after": "9800"})).is_ok());
        assert!(parse(&json!({"limit": 10, "after": "10000"})).is_err());
        assert!(parse(&json!({"sorts": [{"propertyName": "a"}, {"propertyName": "b"}]})).is_err());
    }

    #[test]
    fn top_level_filters_and_numeric_values_are_accepted() {
        let r = parse(&json!({"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": 5}], "sorts": ["createdate"]})).unwrap();
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.groups[0][0].value.as_deref(), Some("5"));
        assert_eq!(r.sort, Some(("createdate".into(), false)));
    }
}
