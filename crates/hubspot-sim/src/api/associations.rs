//! Associations v4: batch read with per-input paging, the single-record read and labels;
//! and the legacy v3 batch read, which cannot page (connectors still call it).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::objects::{count_records, json_body, table_of};
use super::{ApiError, Caller, Params, Shared, batch_inputs, batch_response, input_id};
use crate::state::read;
use crate::store::{Link, ObjectTable, PortalData, now_ms};

/// Inputs per batch read, enforced by HubSpot since 10 Feb 2025.
pub const MAX_BATCH_INPUTS: usize = 1_000;
/// Page size of the single-record read.
pub const MAX_SINGLE_LIMIT: usize = 500;
/// Targets per input of the legacy v3 batch read, which ignores `after` (API.md §11.3).
pub const V3_MAX_TARGETS: usize = 100;

pub fn routes() -> Router<Shared> {
    let mut router = Router::new();
    for prefix in ["/crm/v4/associations", "/crm/associations/2026-03"] {
        router = router.route(
            &format!("{prefix}/{{from}}/{{to}}/batch/read"),
            post(batch_read),
        );
    }
    router = router.route(
        "/crm/v3/associations/{from}/{to}/batch/read",
        post(batch_read_v3),
    );
    for prefix in [
        "/crm/v4/associations",
        "/crm/associations/v4",
        "/crm/associations/2026-03",
    ] {
        router = router.route(&format!("{prefix}/{{from}}/{{to}}/labels"), get(labels));
    }
    for prefix in ["/crm/v4/objects", "/crm/objects/2026-03"] {
        router = router.route(
            &format!("{prefix}/{{object_type}}/{{id}}/associations/{{to}}"),
            get(single),
        );
    }
    router
}

/// Links between records that are not archived (as the ground truth reports them).
pub(super) fn visible_links(data: &PortalData, from: usize, to: usize, id: u64) -> Vec<&Link> {
    let target = &data.tables[to];
    if !data.tables[from].live.contains_key(&id) {
        return Vec::new();
    }
    data.assoc
        .links(from, to, id)
        .iter()
        .filter(|l| target.live.contains_key(&l.to_id))
        .collect()
}

fn types_json(data: &PortalData, from: usize, to: usize, link: &Link) -> Value {
    let types: Vec<Value> = link
        .type_ids
        .iter()
        .filter_map(|t| data.assoc.def(from, to, *t))
        .map(|d| json!({"category": d.category.as_str(), "typeId": d.type_id, "label": d.label}))
        .collect();
    // toObjectId is a JSON number in real responses, though the OpenAPI file says string
    json!({"toObjectId": link.to_id, "associationTypes": types})
}

fn decode_offset(after: &str) -> Option<usize> {
    let bytes = B64.decode(after).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("off-")?
        .parse()
        .ok()
}

pub(super) fn encode_offset(offset: usize) -> String {
    B64.encode(format!("off-{offset}"))
}

fn scopes_for(caller: &Caller, data: &PortalData, from: usize, to: usize) -> Result<(), ApiError> {
    // the spec lists the union; each side's read scope is required (inferred, API.md §1.7)
    caller.require(&data.tables[from].info.read_scopes)?;
    caller.require(&data.tables[to].info.read_scopes)
}

async fn batch_read(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((from_name, to_name)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = now_ms();
    let body = json_body(&body)?;
    let page_size = state.settings().association_page_size.max(1);
    let base_url = state.base_url();
    let data = read(&caller.portal.data);
    let (from, from_table) = table_of(&data, &from_name)?;
    let (to, to_table) = table_of(&data, &to_name)?;
    scopes_for(&caller, &data, from, to)?;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut returned = 0u64;
    for (input, raw) in inputs_with_ids(&body)? {
        let offset = match input.get("after").and_then(Value::as_str) {
            Some(a) => decode_offset(a)
                .ok_or_else(|| ApiError::validation(format!("Invalid 'after' cursor: {a}")))?,
            None => 0,
        };
        let links = raw
            .parse::<u64>()
            .ok()
            .map(|id| visible_links(&data, from, to, from_table.resolve_id(id)))
            .unwrap_or_default();
        if links.is_empty() || offset >= links.len() {
            errors.push(no_associations_found(&raw, from_table, to_table));
            continue;
        }
        let page: Vec<Value> = links
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|l| types_json(&data, from, to, l))
            .collect();
        returned += page.len() as u64;
        let mut result = json!({"from": {"id": raw}, "to": page});
        if offset.saturating_add(page_size) < links.len() {
            let after = encode_offset(offset + page_size);
            result["paging"] =
                json!({"next": {"after": after, "link": format!("{base_url}{}", uri.path())}});
        }
        results.push(result);
    }
    let plural = from_table.info.plural.clone();
    drop(data);
    count_records(&state, &caller, &plural, "associations", returned);
    Ok(batch_response(started, results, errors))
}

/// The 207 error of an input without associations: "zero rows", not a failure.
fn no_associations_found(raw: &str, from: &ObjectTable, to: &ObjectTable) -> Value {
    json!({
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": format!("No {} is associated with {} {raw}.", to.info.singular, from.info.singular),
        "context": {
            "fromObjectId": [raw],
            "fromObjectType": [from.info.singular],
            "toObjectType": [to.info.singular],
        },
    })
}

/// `POST /crm/v3/associations/{from}/{to}/batch/read`: one `{id, type}` per association
/// type (the v3 names, as inline associations spell them), at most 100 per input. Its
/// `paging.next.after` cannot be used: an `after` sent back in the inputs is ignored and
/// the same first page comes back — the trap that loops clients forever (API.md §18.15).
async fn batch_read_v3(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((from_name, to_name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = now_ms();
    let body = json_body(&body)?;
    let data = read(&caller.portal.data);
    let (from, from_table) = table_of(&data, &from_name)?;
    let (to, to_table) = table_of(&data, &to_name)?;
    scopes_for(&caller, &data, from, to)?;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut returned = 0u64;
    for (_, raw) in inputs_with_ids(&body)? {
        let links = raw
            .parse::<u64>()
            .ok()
            .map(|id| visible_links(&data, from, to, from_table.resolve_id(id)))
            .unwrap_or_default();
        let entries: Vec<Value> = links
            .iter()
            .flat_map(|link| {
                link.type_ids
                    .iter()
                    .filter_map(|t| data.assoc.def(from, to, *t))
                    .map(|def| json!({"id": link.to_id.to_string(), "type": def.v3_name}))
            })
            .collect();
        if entries.is_empty() {
            errors.push(no_associations_found(&raw, from_table, to_table));
            continue;
        }
        let more = entries.len() > V3_MAX_TARGETS;
        let page: Vec<Value> = entries.into_iter().take(V3_MAX_TARGETS).collect();
        returned += page.len() as u64;
        let mut result = json!({"from": {"id": raw}, "to": page});
        if more {
            result["paging"] = json!({"next": {"after": encode_offset(V3_MAX_TARGETS)}});
        }
        results.push(result);
    }
    let plural = from_table.info.plural.clone();
    drop(data);
    count_records(&state, &caller, &plural, "associations", returned);
    Ok(batch_response(started, results, errors))
}

async fn single(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((object_type, id, to_name)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref());
    let limit = match params.get("limit") {
        None | Some("") => MAX_SINGLE_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request())?
            .clamp(1, MAX_SINGLE_LIMIT),
    };
    let offset = match params.get("after") {
        None | Some("") => 0,
        Some(a) => decode_offset(a)
            .ok_or_else(|| ApiError::validation(format!("Invalid 'after' cursor: {a}")))?,
    };
    let data = read(&caller.portal.data);
    let (from, from_table) = table_of(&data, &object_type)?;
    let (to, _) = table_of(&data, &to_name)?;
    scopes_for(&caller, &data, from, to)?;
    let links = id
        .parse::<u64>()
        .ok()
        .map(|n| visible_links(&data, from, to, from_table.resolve_id(n)))
        .unwrap_or_default();
    let results: Vec<Value> = links
        .iter()
        .skip(offset)
        .take(limit)
        .map(|l| types_json(&data, from, to, l))
        .collect();
    let mut out = json!({"results": results});
    // the offset comes from the client's cursor: it may be anything
    if offset.saturating_add(limit) < links.len() {
        let after = encode_offset(offset + limit);
        let encoded: String = url::form_urlencoded::byte_serialize(after.as_bytes()).collect();
        out["paging"] = json!({"next": {"after": after, "link": format!("{}{}?after={encoded}", state.base_url(), uri.path())}});
    }
    let n = results.len() as u64;
    let plural = from_table.info.plural.clone();
    drop(data);
    count_records(&state, &caller, &plural, "associations", n);
    Ok(axum::Json(out).into_response())
}

async fn labels(
    Extension(caller): Extension<Caller>,
    Path((from_name, to_name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let data = read(&caller.portal.data);
    let (from, _) = table_of(&data, &from_name)?;
    let (to, _) = table_of(&data, &to_name)?;
    scopes_for(&caller, &data, from, to)?;
    let results: Vec<Value> = data
        .assoc
        .defs_for(from, to)
        .map(|d| json!({"category": d.category.as_str(), "typeId": d.type_id, "label": d.label}))
        .collect();
    Ok(axum::Json(json!({"results": results})).into_response())
}

/// The `inputs` of an association batch read (v3 and v4 alike), each with its `from` id;
/// every id is checked before any input is answered.
fn inputs_with_ids(body: &Value) -> Result<Vec<(&Value, String)>, ApiError> {
    batch_inputs(body, MAX_BATCH_INPUTS)?
        .iter()
        .map(|input| input_id(input).map(|raw| (input, raw)))
        .collect()
}
