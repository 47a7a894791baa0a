//! CRM search: request parsing with HubSpot's limits, filter compilation against a table's
//! properties and evaluation on records. Pure logic; the HTTP handler does the paging.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde_json::Value;

use crate::store::{ObjectTable, PropType, RecordData, parse_datetime_ms};

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
    if limit > MAX_LIMIT {
        return Err(SearchError::Validation(format!(
            "limit must be at most {MAX_LIMIT}, got {limit}"
        )));
    }
    let after = parse_count(body.get("after"), "after", 0)?;
    if after + limit > MAX_RESULTS {
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

/// What a filter reads from a record.
#[derive(Debug, Clone)]
enum Target {
    Id,
    Created,
    Modified,
    /// Contacts' `hs_lastmodifieddate` is not searchable: it matches nothing (API.md §7.4).
    Never,
    Prop {
        index: u16,
        ptype: PropType,
        multi: bool,
    },
    /// `associations.{type}`: the ids associated with the given record.
    Associated(HashSet<u64>),
}

#[derive(Debug, Clone)]
enum Operand {
    None,
    Num(f64),
    Range(f64, f64),
    Text(String),
    List(Vec<String>),
    NumList(Vec<f64>),
}

#[derive(Debug, Clone)]
pub struct CompiledFilter {
    target: Target,
    operator: Operator,
    operand: Operand,
}

/// A search compiled against one table.
#[derive(Debug, Clone)]
pub struct CompiledSearch {
    groups: Vec<Vec<CompiledFilter>>,
    query: Option<(Vec<u16>, String)>,
    /// Every group requires `hs_object_id` above this, so scanning can start there.
    pub min_id: u64,
    pub sort: Option<SortKey>,
}

#[derive(Debug, Clone)]
pub struct SortKey {
    pub target_is_id: bool,
    index: Option<u16>,
    numeric: bool,
    pub descending: bool,
    special: Option<fn(u64, &RecordData) -> i64>,
}

fn numeric_type(ptype: PropType) -> bool {
    matches!(
        ptype,
        PropType::Number | PropType::Date | PropType::Datetime
    )
}

/// Resolves a filter value of a date or datetime property to epoch milliseconds.
fn time_operand(value: &str, ptype: PropType) -> Result<f64, SearchError> {
    if let Some(ms) = parse_datetime_ms(value) {
        return Ok(ms as f64);
    }
    if ptype == PropType::Date
        && let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d")
    {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(0) as f64);
    }
    // a bare date on a datetime property fails with the generic 400 (API.md §7.1)
    Err(malformed(&format!("invalid date value {value}")))
}

fn record_time(value: &str, ptype: PropType) -> Option<f64> {
    if let Some(ms) = parse_datetime_ms(value) {
        return Some(ms as f64);
    }
    if ptype == PropType::Date {
        return NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis() as f64);
    }
    None
}

fn unknown_property(name: &str, table: &ObjectTable) -> SearchError {
    SearchError::Validation(format!(
        "Property \"{name}\" does not exist on object type {}",
        table.info.plural
    ))
}

/// Compiles a request against a table. `associated` answers `associations.{type}` filters
/// with the ids of this table associated with the given record.
pub fn compile(
    request: &SearchRequest,
    table: &ObjectTable,
    associated: &dyn Fn(&str, u64) -> Option<HashSet<u64>>,
) -> Result<CompiledSearch, SearchError> {
    let mut groups = Vec::with_capacity(request.groups.len());
    let mut min_id: Option<u64> = None;
    for group in &request.groups {
        let mut compiled = Vec::with_capacity(group.len());
        let mut group_min: u64 = 0;
        for f in group {
            let c = compile_filter(f, table, associated)?;
            if matches!(c.target, Target::Id)
                && let Operand::Num(n) = c.operand
            {
                let bound = match c.operator {
                    Operator::Gt => n.floor().max(-1.0) as i64 + 1,
                    Operator::Gte | Operator::Eq => n.ceil().max(0.0) as i64,
                    _ => 0,
                };
                group_min = group_min.max(bound.max(0) as u64);
            }
            compiled.push(c);
        }
        min_id = Some(min_id.map_or(group_min, |m| m.min(group_min)));
        groups.push(compiled);
    }
    let query = match &request.query {
        Some(q) if !q.trim().is_empty() => {
            let fields = table
                .info
                .searchable
                .iter()
                .filter_map(|n| table.props.active(n))
                .collect();
            Some((fields, q.trim().to_lowercase()))
        }
        _ => None,
    };
    let sort = match &request.sort {
        None => None,
        Some((name, descending)) => Some(sort_key(name, *descending, table)?),
    };
    Ok(CompiledSearch {
        groups,
        query,
        min_id: min_id.unwrap_or(0),
        sort,
    })
}

fn sort_key(name: &str, descending: bool, table: &ObjectTable) -> Result<SortKey, SearchError> {
    let index = table
        .props
        .active(name)
        .ok_or_else(|| unknown_property(name, table))?;
    let def = table.props.def(index);
    let special: Option<fn(u64, &RecordData) -> i64> = if index == table.id_prop {
        Some(|id, _| id as i64)
    } else if index == table.created_prop {
        Some(|_, d| d.created_ms)
    } else if index == table.modified_prop {
        Some(|_, d| d.updated_ms)
    } else {
        None
    };
    Ok(SortKey {
        target_is_id: index == table.id_prop,
        index: Some(index),
        numeric: numeric_type(def.ptype),
        descending,
        special,
    })
}

fn compile_filter(
    f: &Filter,
    table: &ObjectTable,
    associated: &dyn Fn(&str, u64) -> Option<HashSet<u64>>,
) -> Result<CompiledFilter, SearchError> {
    if let Some(other) = f.property.strip_prefix("associations.") {
        let id = f
            .value
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| malformed("associations filter needs a record id value"))?;
        let ids = associated(other, id).ok_or_else(|| unknown_property(&f.property, table))?;
        return Ok(CompiledFilter {
            target: Target::Associated(ids),
            operator: Operator::Eq,
            operand: Operand::None,
        });
    }
    let index = table
        .props
        .active(&f.property)
        .ok_or_else(|| unknown_property(&f.property, table))?;
    let def = table.props.def(index);
    let target = if index == table.id_prop {
        Target::Id
    } else if index == table.created_prop {
        Target::Created
    } else if index == table.modified_prop {
        Target::Modified
    } else if Some(index) == table.shadow_modified_prop {
        Target::Never
    } else {
        Target::Prop {
            index,
            ptype: def.ptype,
            multi: def.is_multi(),
        }
    };
    let ptype = match &target {
        Target::Id => PropType::Number,
        Target::Created | Target::Modified | Target::Never => PropType::Datetime,
        Target::Prop { ptype, .. } => *ptype,
        Target::Associated(_) => PropType::String,
    };
    let need_value = || {
        f.value
            .clone()
            .ok_or_else(|| malformed(&format!("operator needs a value for {}", f.property)))
    };
    let as_number = |v: &str| -> Result<f64, SearchError> {
        match ptype {
            PropType::Date | PropType::Datetime => {
                let ms = time_operand(v, ptype)?;
                if ms == 0.0 {
                    return Err(SearchError::EpochZero);
                }
                Ok(ms)
            }
            _ => v
                .trim()
                .parse::<f64>()
                .map_err(|_| malformed(&format!("{v} is not a number"))),
        }
    };
    let numeric = numeric_type(ptype);
    let operand = match f.operator {
        Operator::HasProperty | Operator::NotHasProperty => Operand::None,
        Operator::Between => {
            let low = need_value()?;
            let high = f
                .high_value
                .clone()
                .ok_or_else(|| malformed("BETWEEN needs highValue"))?;
            if numeric {
                Operand::Range(as_number(&low)?, as_number(&high)?)
            } else {
                return Err(SearchError::Validation(
                    "BETWEEN needs a number or date property".into(),
                ));
            }
        }
        Operator::In | Operator::NotIn => {
            if f.values.is_empty() {
                return Err(malformed("IN needs values"));
            }
            if numeric {
                Operand::NumList(
                    f.values
                        .iter()
                        .map(|v| as_number(v))
                        .collect::<Result<_, _>>()?,
                )
            } else {
                Operand::List(f.values.clone())
            }
        }
        Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte => {
            let v = need_value()?;
            if numeric {
                Operand::Num(as_number(&v)?)
            } else {
                Operand::Text(v.to_lowercase())
            }
        }
        Operator::Eq | Operator::Neq => {
            let v = need_value()?;
            if numeric {
                Operand::Num(as_number(&v)?)
            } else {
                Operand::Text(v)
            }
        }
        Operator::ContainsToken | Operator::NotContainsToken => {
            Operand::Text(need_value()?.to_lowercase())
        }
    };
    Ok(CompiledFilter {
        target,
        operator: f.operator,
        operand,
    })
}

fn tokens_match(value: &str, pattern: &str) -> bool {
    let value = value.to_lowercase();
    let glob = |text: &str| -> bool {
        if !pattern.contains('*') {
            return text == pattern;
        }
        let parts: Vec<&str> = pattern.split('*').collect();
        let mut rest = text;
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            match rest.find(part) {
                Some(pos) if i > 0 || pos == 0 => rest = &rest[pos + part.len()..],
                _ => return false,
            }
        }
        parts
            .last()
            .is_none_or(|p| p.is_empty() || text.ends_with(p))
    };
    glob(&value)
        || value
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .any(glob)
}

impl CompiledFilter {
    fn matches(&self, id: u64, data: &RecordData) -> bool {
        let (raw, ptype, multi): (Option<std::borrow::Cow<'_, str>>, PropType, bool) =
            match &self.target {
                Target::Never => return false,
                Target::Associated(ids) => return ids.contains(&id),
                Target::Id => (Some(id.to_string().into()), PropType::Number, false),
                Target::Created => (
                    Some(data.created_ms.to_string().into()),
                    PropType::Datetime,
                    false,
                ),
                Target::Modified => (
                    Some(data.updated_ms.to_string().into()),
                    PropType::Datetime,
                    false,
                ),
                Target::Prop {
                    index,
                    ptype,
                    multi,
                } => (data.get(*index).map(Into::into), *ptype, *multi),
            };
        let number = |v: &str| -> Option<f64> {
            match ptype {
                PropType::Date | PropType::Datetime => record_time(v, ptype),
                _ => v.trim().parse::<f64>().ok(),
            }
        };
        // fast path for the sync's own filters, evaluated on every record of a scan
        let fast: Option<f64> = match &self.target {
            Target::Id => Some(id as f64),
            Target::Created => Some(data.created_ms as f64),
            Target::Modified => Some(data.updated_ms as f64),
            _ => None,
        };
        let case_sensitive = ptype == PropType::Enumeration;
        let text_eq = |a: &str, b: &str| {
            if case_sensitive {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        let items = |v: &str| -> Vec<String> {
            if multi {
                v.split(';').map(str::to_string).collect()
            } else {
                vec![v.to_string()]
            }
        };
        match (self.operator, &self.operand) {
            (Operator::HasProperty, _) => raw.is_some(),
            (Operator::NotHasProperty, _) => raw.is_none(),
            (op, Operand::Num(n)) => {
                let Some(v) = fast.or_else(|| raw.as_deref().and_then(number)) else {
                    return op == Operator::Neq;
                };
                match op {
                    Operator::Eq => v == *n,
                    Operator::Neq => v != *n,
                    Operator::Lt => v < *n,
                    Operator::Lte => v <= *n,
                    Operator::Gt => v > *n,
                    Operator::Gte => v >= *n,
                    _ => false,
                }
            }
            (_, Operand::Range(low, high)) => fast
                .or_else(|| raw.as_deref().and_then(number))
                .is_some_and(|v| v >= *low && v <= *high),
            (op, Operand::NumList(list)) => {
                let v = fast.or_else(|| raw.as_deref().and_then(number));
                let hit = v.is_some_and(|v| list.contains(&v));
                if op == Operator::In { hit } else { !hit }
            }
            (op, Operand::List(list)) => {
                // IN on strings compares the stored value lowercased: values must be sent in
                // lowercase (API.md §7.1); enumerations compare exactly
                let hit = raw.as_deref().is_some_and(|v| {
                    items(v).iter().any(|item| {
                        let probe = if case_sensitive {
                            item.clone()
                        } else {
                            item.to_lowercase()
                        };
                        list.contains(&probe)
                    })
                });
                if op == Operator::In { hit } else { !hit }
            }
            (Operator::Eq, Operand::Text(t)) => raw
                .as_deref()
                .is_some_and(|v| items(v).iter().any(|i| text_eq(i, t))),
            (Operator::Neq, Operand::Text(t)) => !raw
                .as_deref()
                .is_some_and(|v| items(v).iter().any(|i| text_eq(i, t))),
            (Operator::ContainsToken, Operand::Text(t)) => {
                raw.as_deref().is_some_and(|v| tokens_match(v, t))
            }
            (Operator::NotContainsToken, Operand::Text(t)) => {
                !raw.as_deref().is_some_and(|v| tokens_match(v, t))
            }
            (op, Operand::Text(t)) => raw.as_deref().is_some_and(|v| {
                let v = v.to_lowercase();
                match op {
                    Operator::Lt => v.as_str() < t.as_str(),
                    Operator::Lte => v.as_str() <= t.as_str(),
                    Operator::Gt => v.as_str() > t.as_str(),
                    Operator::Gte => v.as_str() >= t.as_str(),
                    _ => false,
                }
            }),
            _ => false,
        }
    }
}

impl CompiledSearch {
    /// Whether a record (in the version search sees) matches: groups are ORed, filters ANDed.
    pub fn matches(&self, id: u64, data: &RecordData) -> bool {
        if let Some((fields, q)) = &self.query {
            let hit = fields.iter().any(|i| {
                data.get(*i).is_some_and(|v| {
                    v.to_lowercase()
                        .split_whitespace()
                        .any(|w| w.starts_with(q.as_str()))
                        || v.to_lowercase().contains(q.as_str())
                })
            });
            if !hit {
                return false;
            }
        }
        self.groups.is_empty()
            || self
                .groups
                .iter()
                .any(|g| g.iter().all(|f| f.matches(id, data)))
    }
}

/// A comparable sort value.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum SortValue {
    Missing,
    Num(f64),
    Text(String),
}

impl SortKey {
    pub fn value(&self, id: u64, data: &RecordData, table: &ObjectTable) -> SortValue {
        if let Some(f) = self.special {
            return SortValue::Num(f(id, data) as f64);
        }
        let Some(index) = self.index else {
            return SortValue::Missing;
        };
        let ptype = table.props.def(index).ptype;
        match data.get(index) {
            None => SortValue::Missing,
            Some(v) if self.numeric => record_time(v, ptype)
                .or_else(|| v.parse::<f64>().ok())
                .map(SortValue::Num)
                .unwrap_or(SortValue::Missing),
            Some(v) => SortValue::Text(v.to_lowercase()),
        }
    }
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

    #[test]
    fn tokens_match_with_wildcards() {
        assert!(tokens_match("Anna.Bauer@hubspot.com", "*@hubspot.com"));
        assert!(!tokens_match("anna@example.com", "*@hubspot.com"));
        assert!(tokens_match("quarterly review notes", "review"));
        assert!(!tokens_match("quarterly review notes", "revi"));
    }
}
