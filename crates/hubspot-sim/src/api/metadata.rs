//! Metadata endpoints: properties (v3, dated, and the legacy v1/v2 bare arrays), property
//! groups, custom-object schemas, owners and pipelines.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::objects::{json_body, table_of};
use super::{ApiError, Caller, Params, Shared};
use crate::catalog::{CUSTOM_SCHEMA_SCOPES, OWNER_SCOPES};
use crate::state::read;
use crate::store::{CustomSchema, ObjectTable, PortalData, PropertyDef, fmt_ms};

/// Owners pages hold at most this many (HubSpot's maximum is unconfirmed; 500 is commonly
/// used, so a larger limit is refused).
pub const MAX_OWNERS_LIMIT: usize = 500;

pub fn routes() -> Router<Shared> {
    let mut router = Router::new();
    for prefix in [
        "/crm/v3/properties",
        "/crm/properties/2026-03",
        "/crm/properties/2026-09",
    ] {
        router = router
            .route(&format!("{prefix}/{{object_type}}"), get(list_properties))
            .route(
                &format!("{prefix}/{{object_type}}/batch/read"),
                post(batch_read_properties),
            )
            .route(
                &format!("{prefix}/{{object_type}}/groups"),
                get(list_groups),
            )
            .route(
                &format!("{prefix}/{{object_type}}/{{name}}"),
                get(read_property),
            );
    }
    router = router
        .route(
            "/properties/v2/{object_type}/properties",
            get(legacy_properties),
        )
        .route(
            "/properties/v1/{object_type}/properties",
            get(legacy_properties),
        );
    for prefix in [
        "/crm/v3/schemas",
        "/crm-object-schemas/v3/schemas",
        "/crm-object-schemas/2026-03/schemas",
    ] {
        router = router
            .route(prefix, get(list_schemas))
            .route(&format!("{prefix}/{{object_type}}"), get(read_schema));
    }
    for prefix in ["/crm/v3/owners", "/crm/owners/2026-03"] {
        router = router
            .route(prefix, get(list_owners))
            .route(&format!("{prefix}/"), get(list_owners))
            .route(&format!("{prefix}/{{owner_id}}"), get(read_owner));
    }
    for prefix in ["/crm/v3/pipelines", "/crm/pipelines/2026-03"] {
        router = router
            .route(&format!("{prefix}/{{object_type}}"), get(list_pipelines))
            .route(
                &format!("{prefix}/{{object_type}}/{{pipeline_id}}"),
                get(read_pipeline),
            )
            .route(
                &format!("{prefix}/{{object_type}}/{{pipeline_id}}/stages"),
                get(pipeline_stages),
            );
    }
    router
}

fn property_scopes(table: &ObjectTable) -> Vec<String> {
    table
        .info
        .read_scopes
        .iter()
        .chain(&table.info.schema_scopes)
        .cloned()
        .collect()
}

pub fn property_json(def: &PropertyDef) -> Value {
    let mut json = def.json.clone();
    json["archived"] = Value::Bool(def.archived);
    json
}

async fn list_properties(
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref());
    let data = read(&caller.portal.data);
    let (_, table) = table_of(&data, &object_type)?;
    caller.require(&property_scopes(table))?;
    let archived = params.flag("archived");
    // every property here is non_sensitive; asking for sensitive ones lists none
    let sensitive = params
        .get("dataSensitivity")
        .is_some_and(|s| s != "non_sensitive");
    let wanted = params.list("properties");
    let results: Vec<Value> = table
        .props
        .defs
        .iter()
        .filter(|d| d.archived == archived && !sensitive)
        .filter(|d| wanted.as_ref().is_none_or(|w| w.contains(&d.name)))
        .map(property_json)
        .collect();
    Ok(axum::Json(json!({"results": results})).into_response())
}

async fn read_property(
    Extension(caller): Extension<Caller>,
    Path((object_type, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref());
    let data = read(&caller.portal.data);
    let (_, table) = table_of(&data, &object_type)?;
    caller.require(&property_scopes(table))?;
    let archived = params.flag("archived");
    match table.props.index_of(&name).map(|i| table.props.def(i)) {
        Some(def) if def.archived == archived => Ok(axum::Json(property_json(def)).into_response()),
        _ => Err(ApiError::not_found(&format!(
            "Unable to find property {name} on object type {object_type}"
        ))),
    }
}

async fn batch_read_properties(
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let data = read(&caller.portal.data);
    let (_, table) = table_of(&data, &object_type)?;
    caller.require(&property_scopes(table))?;
    let archived = body
        .get("archived")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(ApiError::bad_request)?;
    let results: Vec<Value> = inputs
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str))
        .filter_map(|n| table.props.index_of(n).map(|i| table.props.def(i)))
        .filter(|d| d.archived == archived)
        .map(property_json)
        .collect();
    Ok(axum::Json(json!({"status": "COMPLETE", "results": results, "startedAt": fmt_ms(crate::store::now_ms()), "completedAt": fmt_ms(crate::store::now_ms())})).into_response())
}

async fn list_groups(
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
) -> Result<Response, ApiError> {
    let data = read(&caller.portal.data);
    let (_, table) = table_of(&data, &object_type)?;
    caller.require(&property_scopes(table))?;
    let mut names: Vec<String> = Vec::new();
    for def in &table.props.defs {
        if let Some(g) = def.json.get("groupName").and_then(Value::as_str)
            && !names.iter().any(|n| n == g)
        {
            names.push(g.to_string());
        }
    }
    let results: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let label = n
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" ");
            json!({"name": n, "label": label, "displayOrder": i, "archived": false})
        })
        .collect();
    Ok(axum::Json(json!({"results": results})).into_response())
}

/// `GET /properties/v2/{type}/properties`: a bare array in the legacy shape, still called
/// by older connectors.
async fn legacy_properties(
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
) -> Result<Response, ApiError> {
    let data = read(&caller.portal.data);
    let (_, table) = table_of(&data, &object_type)?;
    caller.require(&property_scopes(table))?;
    let results: Vec<Value> = table
        .props
        .defs
        .iter()
        .filter(|d| !d.archived)
        .map(|d| {
            let j = &d.json;
            let flag = |k: &str| j.get(k).and_then(Value::as_bool).unwrap_or(false);
            let ro = |k: &str| j.get("modificationMetadata").and_then(|m| m.get(k)).and_then(Value::as_bool).unwrap_or(false);
            json!({
                "name": d.name,
                "label": j.get("label").cloned().unwrap_or(Value::Null),
                "description": j.get("description").cloned().unwrap_or(Value::from("")),
                "groupName": j.get("groupName").cloned().unwrap_or(Value::Null),
                "type": d.ptype.as_str(),
                "fieldType": d.field_type,
                "options": j.get("options").cloned().unwrap_or(json!([])),
                "displayOrder": j.get("displayOrder").cloned().unwrap_or(Value::from(-1)),
                "calculated": d.calculated,
                "externalOptions": d.external_options,
                "hasUniqueValue": flag("hasUniqueValue"),
                "hidden": d.hidden,
                "hubspotDefined": flag("hubspotDefined"),
                "formField": flag("formField"),
                "readOnlyValue": ro("readOnlyValue"),
                "readOnlyDefinition": ro("readOnlyDefinition"),
                "mutableDefinitionNotDeletable": !ro("archivable"),
                "deleted": false,
                "referencedObjectType": d.referenced_object_type,
                "showCurrencySymbol": j.get("showCurrencySymbol").cloned().unwrap_or(Value::Null),
                "currencyPropertyName": j.get("currencyPropertyName").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(results)).into_response())
}

fn schema_json(data: &PortalData, schema: &CustomSchema, params: &Params) -> Value {
    let include = |name: &str| {
        params
            .get(name)
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
    };
    let hub = data.hub_id;
    let created = fmt_ms(schema.created_ms);
    let mut out = json!({
        "id": schema.id.to_string(),
        "objectTypeId": format!("2-{}", schema.id),
        "name": schema.name,
        "fullyQualifiedName": format!("p{hub}_{}", schema.name),
        "labels": {"singular": schema.label_singular, "plural": schema.label_plural},
        "description": schema.description,
        "primaryDisplayProperty": schema.primary_display_property,
        "secondaryDisplayProperties": schema.secondary_display_properties,
        "requiredProperties": schema.required_properties,
        "searchableProperties": schema.searchable_properties,
        "allowsSensitiveProperties": false,
        "archived": schema.archived,
        "createdAt": created,
        "updatedAt": created,
        "properties": [],
        "associations": [],
    });
    if let Some(ti) = schema.table {
        let table = &data.tables[ti];
        if include("includePropertyDefinitions") {
            out["properties"] = table
                .props
                .defs
                .iter()
                .filter(|d| !d.archived)
                .map(property_json)
                .collect();
        }
        if include("includeAssociationDefinitions") {
            // HubSpot writes microsecond timestamps in schema association metadata
            let micro = format!("{}Z", created.trim_end_matches('Z').to_string() + "123");
            out["associations"] = data
                .assoc
                .defs
                .iter()
                .filter(|d| d.from == ti || d.to == ti)
                .map(|d| {
                    json!({
                        "id": d.type_id.to_string(),
                        "fromObjectTypeId": data.tables[d.from].info.type_id,
                        "toObjectTypeId": data.tables[d.to].info.type_id,
                        "name": d.v3_name.to_ascii_uppercase(),
                        "createdAt": micro,
                        "updatedAt": micro,
                    })
                })
                .collect();
        }
    }
    if include("includeAuditMetadata") {
        out["createdByUserId"] = Value::from(1_234_567);
        out["updatedByUserId"] = Value::from(1_234_567);
    }
    out
}

async fn list_schemas(
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require_str(CUSTOM_SCHEMA_SCOPES)?;
    let params = Params::parse(query.as_deref());
    let archived = params.flag("archived");
    let data = read(&caller.portal.data);
    let results: Vec<Value> = data
        .schemas
        .iter()
        .filter(|s| s.archived == archived)
        .map(|s| schema_json(&data, s, &params))
        .collect();
    Ok(axum::Json(json!({"results": results})).into_response())
}

async fn read_schema(
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require_str(CUSTOM_SCHEMA_SCOPES)?;
    let params = Params::parse(query.as_deref());
    let data = read(&caller.portal.data);
    let lower = object_type.to_ascii_lowercase();
    let found = data.schemas.iter().find(|s| {
        format!("2-{}", s.id) == lower
            || format!("p_{}", s.name) == lower
            || format!("p{}_{}", data.hub_id, s.name) == lower
            || s.name == lower
    });
    match found {
        Some(s) => Ok(axum::Json(schema_json(&data, s, &params)).into_response()),
        None => Err(ApiError::not_found(&format!(
            "Unable to find object type {object_type}"
        ))),
    }
}

async fn list_owners(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require_str(OWNER_SCOPES)?;
    let params = Params::parse(query.as_deref());
    let limit = match params.get("limit") {
        None | Some("") => 100,
        Some(v) => {
            let n: usize = v.parse().map_err(|_| ApiError::bad_request())?;
            if n > MAX_OWNERS_LIMIT {
                return Err(ApiError::validation(format!(
                    "limit must be at most {MAX_OWNERS_LIMIT}"
                )));
            }
            n.max(1)
        }
    };
    let archived = params.flag("archived");
    let email = params.get("email").map(str::to_ascii_lowercase);
    let start: u64 = match params.get("after") {
        None | Some("") => 0,
        Some(c) => B64
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ApiError::validation("Invalid 'after' cursor"))?,
    };
    let data = read(&caller.portal.data);
    let mut owners: Vec<_> = data
        .owners
        .iter()
        .filter(|o| o.archived == archived && o.id >= start)
        .filter(|o| {
            email
                .as_ref()
                .is_none_or(|e| o.email.eq_ignore_ascii_case(e))
        })
        .collect();
    owners.sort_by_key(|o| o.id);
    let page: Vec<Value> = owners.iter().take(limit).map(|o| o.to_json()).collect();
    let mut body = json!({"results": page});
    if let Some(next) = owners.get(limit) {
        let after = B64.encode(next.id.to_string());
        let encoded: String = url::form_urlencoded::byte_serialize(after.as_bytes()).collect();
        body["paging"] = json!({"next": {"after": after, "link": format!("{}{}?after={encoded}", state.base_url(), uri.path())}});
    }
    Ok(axum::Json(body).into_response())
}

async fn read_owner(
    Extension(caller): Extension<Caller>,
    Path(owner_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require_str(OWNER_SCOPES)?;
    let params = Params::parse(query.as_deref());
    let by_user = params.get("idProperty") == Some("userId");
    let archived = params.flag("archived");
    let id: u64 = owner_id
        .parse()
        .map_err(|_| ApiError::not_found("Owner not found"))?;
    let data = read(&caller.portal.data);
    data.owners
        .iter()
        .find(|o| o.archived == archived && if by_user { o.user_id == id } else { o.id == id })
        .map(|o| axum::Json(o.to_json()).into_response())
        .ok_or_else(|| ApiError::not_found(&format!("Owner {owner_id} not found")))
}

fn pipelines_of<'a>(
    data: &'a PortalData,
    caller: &Caller,
    object_type: &str,
) -> Result<Vec<&'a crate::store::Pipeline>, ApiError> {
    let (_, table) = table_of(data, object_type)?;
    caller.require(&table.info.read_scopes)?;
    Ok(if table.info.plural == "deals" {
        data.pipelines.iter().collect()
    } else {
        Vec::new()
    })
}

async fn list_pipelines(
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
) -> Result<Response, ApiError> {
    let data = read(&caller.portal.data);
    let results: Vec<Value> = pipelines_of(&data, &caller, &object_type)?
        .iter()
        .map(|p| p.to_json())
        .collect();
    Ok(axum::Json(json!({"results": results})).into_response())
}

async fn read_pipeline(
    Extension(caller): Extension<Caller>,
    Path((object_type, pipeline_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let data = read(&caller.portal.data);
    pipelines_of(&data, &caller, &object_type)?
        .iter()
        .find(|p| p.id == pipeline_id)
        .map(|p| axum::Json(p.to_json()).into_response())
        .ok_or_else(|| ApiError::not_found(&format!("Pipeline {pipeline_id} not found")))
}

async fn pipeline_stages(
    Extension(caller): Extension<Caller>,
    Path((object_type, pipeline_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let data = read(&caller.portal.data);
    let pipeline = pipelines_of(&data, &caller, &object_type)?
        .into_iter()
        .find(|p| p.id == pipeline_id)
        .ok_or_else(|| ApiError::not_found(&format!("Pipeline {pipeline_id} not found")))?;
    let stages = pipeline.to_json()["stages"].clone();
    Ok(axum::Json(json!({"results": stages})).into_response())
}
