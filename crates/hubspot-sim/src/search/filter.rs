//! Compiling a parsed search against a table's properties, and evaluating it on records.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{NaiveDate, NaiveTime};

use super::{Filter, Operator, SearchError, SearchRequest, malformed};
use crate::store::{ObjectTable, PropType, RecordData, parse_datetime_ms};

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
    index: u16,
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
    // a bare date on a datetime property fails with the generic 400 (API.md §7.1)
    record_time(value, ptype).ok_or_else(|| malformed(&format!("invalid date value {value}")))
}

fn record_time(value: &str, ptype: PropType) -> Option<f64> {
    if let Some(ms) = parse_datetime_ms(value) {
        return Some(ms as f64);
    }
    if ptype == PropType::Date {
        return NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp_millis() as f64);
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
                    Operator::Gt => (n.floor().max(-1.0) as i64).saturating_add(1),
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
        index,
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

/// The values of a multi-select, `;`-separated; any other property's value is one item
/// even when it holds a `;`.
fn items(value: &str, multi: bool) -> std::str::SplitN<'_, char> {
    value.splitn(if multi { usize::MAX } else { 1 }, ';')
}

impl CompiledFilter {
    fn matches(&self, id: u64, data: &RecordData) -> bool {
        let (ptype, multi) = match &self.target {
            Target::Never => return false,
            Target::Associated(ids) => return ids.contains(&id),
            Target::Id => (PropType::Number, false),
            Target::Created | Target::Modified => (PropType::Datetime, false),
            Target::Prop { ptype, multi, .. } => (*ptype, *multi),
        };
        // built only by the arms that compare text: numeric filters on id and dates are
        // evaluated on every record of a scan and go through `fast` instead
        let raw = || -> Option<Cow<'_, str>> {
            match &self.target {
                Target::Id => Some(id.to_string().into()),
                Target::Created => Some(data.created_ms.to_string().into()),
                Target::Modified => Some(data.updated_ms.to_string().into()),
                // "" is no value to search: HAS_PROPERTY misses it, NOT_HAS_PROPERTY finds it
                Target::Prop { index, .. } => {
                    data.get(*index).filter(|v| !v.is_empty()).map(Into::into)
                }
                Target::Never | Target::Associated(_) => None,
            }
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
        match (self.operator, &self.operand) {
            (Operator::HasProperty, _) => fast.is_some() || raw().is_some(),
            (Operator::NotHasProperty, _) => fast.is_none() && raw().is_none(),
            (op, Operand::Num(n)) => {
                let Some(v) = fast.or_else(|| raw().as_deref().and_then(number)) else {
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
                .or_else(|| raw().as_deref().and_then(number))
                .is_some_and(|v| v >= *low && v <= *high),
            (op, Operand::NumList(list)) => {
                let v = fast.or_else(|| raw().as_deref().and_then(number));
                let hit = v.is_some_and(|v| list.contains(&v));
                if op == Operator::In { hit } else { !hit }
            }
            (op, Operand::List(list)) => {
                // IN on strings compares the stored value lowercased: values must be sent in
                // lowercase (API.md §7.1); enumerations compare exactly
                let hit = raw().as_deref().is_some_and(|v| {
                    items(v, multi).any(|item| {
                        if case_sensitive {
                            list.iter().any(|l| l == item)
                        } else {
                            list.contains(&item.to_lowercase())
                        }
                    })
                });
                if op == Operator::In { hit } else { !hit }
            }
            (Operator::Eq, Operand::Text(t)) => raw()
                .as_deref()
                .is_some_and(|v| items(v, multi).any(|i| text_eq(i, t))),
            (Operator::Neq, Operand::Text(t)) => !raw()
                .as_deref()
                .is_some_and(|v| items(v, multi).any(|i| text_eq(i, t))),
            (Operator::ContainsToken, Operand::Text(t)) => {
                raw().as_deref().is_some_and(|v| tokens_match(v, t))
            }
            (Operator::NotContainsToken, Operand::Text(t)) => {
                !raw().as_deref().is_some_and(|v| tokens_match(v, t))
            }
            (op, Operand::Text(t)) => raw().as_deref().is_some_and(|v| {
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
        let ptype = table.props.def(self.index).ptype;
        match data.get(self.index).filter(|v| !v.is_empty()) {
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

    #[test]
    fn tokens_match_with_wildcards() {
        assert!(tokens_match("Anna.Bauer@hubspot.com", "*@hubspot.com"));
        assert!(!tokens_match("anna@example.com", "*@hubspot.com"));
        assert!(tokens_match("quarterly review notes", "review"));
        assert!(!tokens_match("quarterly review notes", "revi"));
    }
}
