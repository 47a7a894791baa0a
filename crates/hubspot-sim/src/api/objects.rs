//! CRM objects: list, read, batch read and search, for standard and custom objects, under
//! the v3 and dated (`2026-03`, `2026-09`) paths.

use std::collections::HashSet;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::{ApiError, Caller, Params, Shared, batch_inputs, batch_response, input_id};
use crate::state::read;
use crate::store::{ObjectTable, PortalData, Record, RecordData, fmt_ms, now_ms};

pub const MAX_LIST_LIMIT: usize = 100;
pub const MAX_LIST_LIMIT_WITH_HISTORY: usize = 50;
pub const MAX_BATCH_INPUTS: usize = 100;
/// Inline associations are capped per type and record (API.md §11.1).
const MAX_INLINE_ASSOCIATIONS: usize = 100;

pub fn routes() -> Router<Shared> {
    let mut router = Router::new();
    for prefix in [
        "/crm/v3/objects",
        "/crm/objects/2026-03",
        "/crm/objects/2026-09",
    ] {
        router = router
            .route(&format!("{prefix}/{{object_type}}"), get(list))
            .route(&format!("{prefix}/{{object_type}}/{{id}}"), get(read_one))
            .route(
                &format!("{prefix}/{{object_type}}/batch/read"),
                post(batch_read),
            )
            .route(
                &format!("{prefix}/{{object_type}}/search"),
                post(super::search::search_objects),
            );
    }
    router
}

/// Parses a JSON body leniently: HubSpot answers malformed JSON with its generic 400.
pub fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request())
}

pub fn table_of<'a>(
    data: &'a PortalData,
    name: &str,
) -> Result<(usize, &'a ObjectTable), ApiError> {
    data.table_index(name)
        .map(|i| (i, &data.tables[i]))
        .ok_or_else(|| ApiError::unknown_object_type(name))
}

/// The properties a response carries: the requested ones that exist (unknown names are
/// ignored) plus id, created and modified; or the type's defaults when none are asked.
pub fn select_props(table: &ObjectTable, requested: Option<&[String]>) -> Vec<(u16, String)> {
    let mut out: Vec<(u16, String)> = Vec::new();
    let mut push = |name: &str| {
        if let Some(i) = table.props.active(name)
            && !out.iter().any(|(j, _)| *j == i)
        {
            out.push((i, name.to_string()));
        }
    };
    match requested {
        None => table.info.default_props.iter().for_each(|n| push(n)),
        Some(names) => {
            names.iter().for_each(|n| push(n));
            for n in [&table.info.created_prop, &table.info.modified_prop] {
                push(n);
            }
            push("hs_object_id");
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn history_props(table: &ObjectTable, requested: Option<&[String]>) -> Vec<(u16, String)> {
    requested
        .unwrap_or_default()
        .iter()
        .filter_map(|n| table.props.active(n).map(|i| (i, n.clone())))
        .collect()
}

/// What a response record carries besides the base fields.
pub struct Shape<'a> {
    pub props: &'a [(u16, String)],
    pub history: &'a [(u16, String)],
    /// (table index, key) of the inline associations asked for.
    pub associations: &'a [(usize, String)],
}

pub fn record_json(
    portal: &PortalData,
    table_index: usize,
    id: u64,
    data: &RecordData,
    record: Option<&Record>,
    shape: &Shape<'_>,
    base_url: &str,
) -> Value {
    let table = &portal.tables[table_index];
    let archived_ms = record.and_then(|r| r.archived_ms);
    let mut props = Map::with_capacity(shape.props.len());
    for (index, name) in shape.props {
        props.insert(
            name.clone(),
            data.get(*index).map(Value::from).unwrap_or(Value::Null),
        );
    }
    let mut out = Map::new();
    out.insert("id".into(), Value::from(id.to_string()));
    out.insert("properties".into(), Value::Object(props));
    if !shape.history.is_empty() {
        let mut hist = Map::new();
        for (index, name) in shape.history {
            let explicit = record
                .and_then(|r| r.history.as_ref())
                .and_then(|h| h.get(index))
                .filter(|entries| !entries.is_empty());
            let entries: Vec<Value> = match explicit {
                // newest first, as HubSpot lists history
                Some(entries) => entries
                    .iter()
                    .rev()
                    .map(|e| history_entry(&e.value, e.timestamp_ms, e.source_type))
                    .collect(),
                None => data
                    .get(*index)
                    .map(|v| {
                        let ts = if *index == table.modified_prop {
                            data.updated_ms
                        } else {
                            data.created_ms
                        };
                        vec![history_entry(v, ts, "CRM_UI")]
                    })
                    .unwrap_or_default(),
            };
            hist.insert(name.clone(), Value::Array(entries));
        }
        out.insert("propertiesWithHistory".into(), Value::Object(hist));
    }
    if !shape.associations.is_empty() {
        let mut assoc = Map::new();
        for (to, key) in shape.associations {
            let links = super::associations::visible_links(portal, table_index, *to, id);
            // one entry per association type, whole links only, up to the cap; the rest
            // continues on the v4 read at the first link left out
            let mut results = Vec::new();
            let mut included = 0;
            for link in &links {
                let entries: Vec<Value> = link
                    .type_ids
                    .iter()
                    .filter_map(|t| portal.assoc.def(table_index, *to, *t))
                    .map(|def| json!({"id": link.to_id.to_string(), "type": def.v3_name}))
                    .collect();
                if results.len() + entries.len() > MAX_INLINE_ASSOCIATIONS {
                    break;
                }
                results.extend(entries);
                included += 1;
            }
            if results.is_empty() {
                continue;
            }
            let mut entry = Map::new();
            if included < links.len() {
                let after = super::associations::encode_offset(included);
                let encoded: String =
                    url::form_urlencoded::byte_serialize(after.as_bytes()).collect();
                entry.insert(
                    "paging".into(),
                    json!({"next": {"after": after, "link": format!("{base_url}/crm/v4/objects/{}/{id}/associations/{}?after={encoded}", table.info.plural, portal.tables[*to].info.plural)}}),
                );
            }
            entry.insert("results".into(), Value::Array(results));
            assoc.insert(key.clone(), Value::Object(entry));
        }
        // records without any of the asked associations carry no `associations` key
        if !assoc.is_empty() {
            out.insert("associations".into(), Value::Object(assoc));
        }
    }
    out.insert("createdAt".into(), Value::from(fmt_ms(data.created_ms)));
    out.insert("updatedAt".into(), Value::from(fmt_ms(data.updated_ms)));
    out.insert("archived".into(), Value::Bool(archived_ms.is_some()));
    if let Some(ms) = archived_ms {
        out.insert("archivedAt".into(), Value::from(fmt_ms(ms)));
    }
    Value::Object(out)
}

fn history_entry(value: &str, ts: i64, source: &str) -> Value {
    json!({"value": value, "timestamp": fmt_ms(ts), "sourceType": source})
}

/// Inline associations asked for: known types with association types to this one.
fn inline_associations(
    portal: &PortalData,
    from: usize,
    requested: Option<Vec<String>>,
) -> Vec<(usize, String)> {
    requested
        .unwrap_or_default()
        .iter()
        .filter_map(|name| portal.table_index(name))
        .filter(|to| portal.assoc.defs_for(from, *to).next().is_some())
        .map(|to| (to, portal.tables[to].info.inline_key.clone()))
        .collect()
}

fn parse_limit(params: &Params, default: usize, max: usize) -> Result<usize, ApiError> {
    match params.get("limit") {
        None | Some("") => Ok(default),
        Some(v) => {
            let n: usize = v.parse().map_err(|_| ApiError::bad_request())?;
            if n > max {
                return Err(ApiError::validation(format!(
                    "limit must be at most {max}, got {n}"
                )));
            }
            Ok(n.max(1))
        }
    }
}

async fn list(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref());
    let base_url = state.base_url();
    let data = read(&caller.portal.data);
    let (ti, table) = table_of(&data, &object_type)?;
    caller.require(&table.info.read_scopes)?;
    let history_requested = params.list("propertiesWithHistory");
    let max = if history_requested.as_ref().is_some_and(|h| !h.is_empty()) {
        MAX_LIST_LIMIT_WITH_HISTORY
    } else {
        MAX_LIST_LIMIT
    };
    let limit = parse_limit(&params, 10, max)?;
    let archived = params.flag("archived");
    let start: u64 = match params.get("after") {
        None | Some("") => 0,
        Some(cursor) => B64
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| ApiError::validation(format!("Invalid 'after' cursor: {cursor}")))?,
    };
    let props = select_props(table, params.list("properties").as_deref());
    let history = history_props(table, history_requested.as_deref());
    let associations = inline_associations(&data, ti, params.list("associations"));
    let shape = Shape {
        props: &props,
        history: &history,
        associations: &associations,
    };
    let map = if archived {
        &table.archived
    } else {
        &table.live
    };
    let now = now_ms();
    let mut iter = map.range(start..).filter(|(_, r)| !r.purged(now));
    let mut results = Vec::with_capacity(limit);
    for (_, record) in iter.by_ref().take(limit) {
        results.push(record_json(
            &data,
            ti,
            record.id,
            &record.data,
            Some(record),
            &shape,
            &base_url,
        ));
    }
    let n = results.len() as u64;
    let mut body = json!({"results": results});
    if let Some((next_id, _)) = iter.next() {
        let after = B64.encode(next_id.to_string());
        let encoded: String = url::form_urlencoded::byte_serialize(after.as_bytes()).collect();
        body["paging"] = json!({"next": {"after": after, "link": format!("{base_url}{}?after={encoded}", uri.path())}});
    }
    let plural = table.info.plural.clone();
    drop(data);
    count_records(&state, &caller, &plural, "list", n);
    Ok(axum::Json(body).into_response())
}

/// Records returned, counted after the portal's data lock is released.
pub(super) fn count_records(state: &Shared, caller: &Caller, plural: &str, family: &str, n: u64) {
    state.counters.records(plural, family, n);
    caller.portal.counters.records(plural, family, n);
}

async fn read_one(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((object_type, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref());
    let base_url = state.base_url();
    let data = read(&caller.portal.data);
    let (ti, table) = table_of(&data, &object_type)?;
    caller.require(&table.info.read_scopes)?;
    let archived = params.flag("archived");
    let record = match params.get("idProperty").filter(|p| *p != "hs_object_id") {
        Some(prop) => {
            let index = table
                .props
                .active(prop)
                .ok_or_else(|| ApiError::validation(format!("Property {prop} does not exist")))?;
            table.find_by_property(index, &id, archived)
        }
        None => id.parse::<u64>().ok().and_then(|n| table.find(n, archived)),
    };
    let Some(record) = record else {
        let empty = state.settings().empty_not_found_bodies;
        return Err(ApiError::record_not_found(&id, empty));
    };
    let props = select_props(table, params.list("properties").as_deref());
    let history = history_props(table, params.list("propertiesWithHistory").as_deref());
    let associations = inline_associations(&data, ti, params.list("associations"));
    let shape = Shape {
        props: &props,
        history: &history,
        associations: &associations,
    };
    let body = record_json(
        &data,
        ti,
        record.id,
        &record.data,
        Some(record),
        &shape,
        &base_url,
    );
    let plural = table.info.plural.clone();
    drop(data);
    count_records(&state, &caller, &plural, "read", 1);
    Ok(axum::Json(body).into_response())
}

fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|s| match s {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    })
}

async fn batch_read(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = now_ms();
    let params = Params::parse(query.as_deref());
    let body = json_body(&body)?;
    let base_url = state.base_url();
    let data = read(&caller.portal.data);
    let (ti, table) = table_of(&data, &object_type)?;
    caller.require(&table.info.read_scopes)?;
    let inputs = batch_inputs(&body, MAX_BATCH_INPUTS)?;
    let archived =
        params.flag("archived") || body.get("archived").and_then(Value::as_bool) == Some(true);
    let id_property = body
        .get("idProperty")
        .and_then(Value::as_str)
        .filter(|p| *p != "hs_object_id");
    let id_index = match id_property {
        Some(p) => Some(
            table
                .props
                .active(p)
                .ok_or_else(|| ApiError::validation(format!("Property {p} does not exist")))?,
        ),
        None => None,
    };
    let props = select_props(table, string_list(body.get("properties")).as_deref());
    let history = history_props(
        table,
        string_list(body.get("propertiesWithHistory")).as_deref(),
    );
    let shape = Shape {
        props: &props,
        history: &history,
        associations: &[],
    };
    let mut results = Vec::new();
    let mut seen = HashSet::new();
    let mut missing = Vec::new();
    // results come back in no particular order (API.md §6): here, reversed input order
    for input in inputs.iter().rev() {
        let raw = input_id(input)?;
        let found = match id_index {
            Some(index) => table.find_by_property(index, &raw, archived),
            None => raw
                .parse::<u64>()
                .ok()
                .and_then(|id| table.find(id, archived)),
        };
        match found {
            Some(record) => {
                if seen.insert(record.id) {
                    results.push(record_json(
                        &data,
                        ti,
                        record.id,
                        &record.data,
                        Some(record),
                        &shape,
                        &base_url,
                    ));
                }
            }
            None => missing.push(raw),
        }
    }
    missing.reverse();
    let singular = table.info.singular.to_ascii_uppercase();
    let plural = table.info.plural.clone();
    drop(data);
    count_records(&state, &caller, &plural, "batch_read", results.len() as u64);
    // HubSpot lists every id not found in one error: numErrors stays 1
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![json!({
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": format!("Could not get some {singular} objects, they may be deleted or not exist. Check that ids are valid."),
            "context": {"ids": missing},
        })]
    };
    Ok(batch_response(started, results, errors))
}
