//! The control API under `/_sim/`: the HTTP face of [`SimControl`](crate::SimControl).
//! Never on a HubSpot path; not authenticated, not rate limited, not counted.

use std::time::Duration;

use axum::Router;
use axum::extract::{Json, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Params, Shared};
use crate::config::{FaultPlan, LatencyConfig, RateLimitConfig, ScriptStep};
use crate::control::{
    AssociationChange, ControlError, InstallRequest, MintRequest, NewPortal, PropertyChange,
    SimControl, parse_time,
};
use crate::state::Settings;
use crate::store::StoreError;

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match &self {
            ControlError::UnknownPortal(_) | ControlError::Store(StoreError::NotFound(..)) => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::BAD_REQUEST,
        };
        (status, axum::Json(json!({"error": self.to_string()}))).into_response()
    }
}

type Result<T> = std::result::Result<T, ControlError>;

fn control(state: &Shared) -> SimControl {
    SimControl {
        state: state.clone(),
    }
}

/// The endpoints of the control API, as listed by `GET /_sim`.
pub const ENDPOINTS: &[&str] = &[
    "GET    /_sim/portals                                   credentials of every portal (the JSON lines)",
    "POST   /_sim/portals                                   add a portal {tier, seed, recordsPerTable}",
    "GET    /_sim/portals/{hub}                             table sizes, tier, limits",
    "POST   /_sim/portals/{hub}/install                     install with {scopes, optionalScopes} -> refresh token",
    "POST   /_sim/portals/{hub}/tokens                      mint an access token {scopes?, lifetimeSecs?}",
    "POST   /_sim/portals/{hub}/uninstall                   revoke every token of the portal",
    "GET    /_sim/portals/{hub}/objects/{type}?archived=include  every record (ground truth)",
    "POST   /_sim/portals/{hub}/objects/{type}              create {properties}",
    "POST   /_sim/portals/{hub}/objects/{type}/generate     add {count, sameMillisecond}",
    "POST   /_sim/portals/{hub}/objects/{type}/merge        merge {primaryObjectId, objectIdToMerge, keepPrimaryId?}",
    "GET    /_sim/portals/{hub}/objects/{type}/{id}         one record",
    "PATCH  /_sim/portals/{hub}/objects/{type}/{id}         update {properties, modifiedAt?}",
    "DELETE /_sim/portals/{hub}/objects/{type}/{id}         archive (?archivedAt= to date it, e.g. past the 90-day bin)",
    "POST   /_sim/portals/{hub}/objects/{type}/{id}/restore restore from the recycle bin",
    "GET    /_sim/portals/{hub}/merged/{type}               merged-away id -> survivor id",
    "GET    /_sim/portals/{hub}/associations/{from}/{to}    every link with its type ids",
    "PUT    /_sim/portals/{hub}/associations                associate {fromType, fromId, toType, toId, primary?, typeIds?}",
    "DELETE /_sim/portals/{hub}/associations                dissociate {fromType, fromId, toType, toId}",
    "GET    /_sim/portals/{hub}/properties/{type}           every definition, archived included",
    "POST   /_sim/portals/{hub}/properties/{type}           add a property (definition JSON)",
    "PATCH  /_sim/portals/{hub}/properties/{type}/{name}    retype {type?, fieldType?, options?}",
    "DELETE /_sim/portals/{hub}/properties/{type}/{name}    archive a property",
    "GET    /_sim/portals/{hub}/owners                      every owner, archived included",
    "DELETE /_sim/portals/{hub}/owners/{id}                 deactivate an owner",
    "GET    /_sim/portals/{hub}/rate-limits                 the portal's limits",
    "PUT    /_sim/portals/{hub}/rate-limits                 set the portal's limits",
    "PUT    /_sim/rate-limits                               set every portal's limits",
    "PUT    /_sim/portals/{hub}/index-lag                   {millis}",
    "PUT    /_sim/index-lag                                 {millis} for every portal",
    "GET    /_sim/settings  PUT /_sim/settings              token lifetime, max URL length, association page size, empty 404 bodies, latency",
    "GET    /_sim/latency   PUT /_sim/latency               base and jitter per endpoint family",
    "GET    /_sim/faults    PUT /_sim/faults  DELETE /_sim/faults   the fault plan",
    "POST   /_sim/faults/script                             append scripted steps [{family?, hubId?, count, fault}]",
    "GET    /_sim/counters                                  counters of every request",
    "GET    /_sim/portals/{hub}/counters                    counters of one portal",
    "POST   /_sim/counters/reset                            reset every counter",
];

pub async fn index() -> Response {
    axum::Json(json!({"endpoints": ENDPOINTS})).into_response()
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/portals", get(portals).post(add_portal))
        .route("/portals/{hub}", get(summary))
        .route("/portals/{hub}/install", post(install))
        .route("/portals/{hub}/tokens", post(mint))
        .route("/portals/{hub}/uninstall", post(uninstall))
        .route(
            "/portals/{hub}/objects/{object_type}",
            get(records).post(create),
        )
        .route(
            "/portals/{hub}/objects/{object_type}/generate",
            post(generate),
        )
        .route("/portals/{hub}/objects/{object_type}/merge", post(merge))
        .route(
            "/portals/{hub}/objects/{object_type}/{id}",
            get(record).patch(update).delete(archive),
        )
        .route(
            "/portals/{hub}/objects/{object_type}/{id}/restore",
            post(restore),
        )
        .route("/portals/{hub}/merged/{object_type}", get(merged))
        .route("/portals/{hub}/associations/{from}/{to}", get(associations))
        .route(
            "/portals/{hub}/associations",
            put(associate).delete(dissociate),
        )
        .route(
            "/portals/{hub}/properties/{object_type}",
            get(properties).post(add_property),
        )
        .route(
            "/portals/{hub}/properties/{object_type}/{name}",
            axum::routing::patch(retype_property).delete(archive_property),
        )
        .route("/portals/{hub}/owners", get(owners))
        .route(
            "/portals/{hub}/owners/{id}",
            axum::routing::delete(archive_owner),
        )
        .route(
            "/portals/{hub}/rate-limits",
            get(rate_limits).put(set_rate_limits),
        )
        .route("/rate-limits", put(set_all_rate_limits))
        .route("/portals/{hub}/index-lag", put(set_index_lag))
        .route("/index-lag", put(set_all_index_lag))
        .route("/settings", get(settings).put(set_settings))
        .route("/latency", get(latency).put(set_latency))
        .route("/faults", get(faults).put(set_faults).delete(clear_faults))
        .route("/faults/script", post(push_faults))
        .route("/counters", get(counters))
        .route("/portals/{hub}/counters", get(portal_counters))
        .route("/counters/reset", post(reset_counters))
}

fn ok<T: serde::Serialize>(v: T) -> Response {
    axum::Json(v).into_response()
}

async fn portals(State(s): State<Shared>) -> Response {
    ok(control(&s).portals())
}

async fn add_portal(State(s): State<Shared>, body: Option<Json<NewPortal>>) -> Response {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let c = control(&s);
    match tokio::task::spawn_blocking(move || c.add_portal(request)).await {
        Ok(credentials) => (StatusCode::CREATED, axum::Json(credentials)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn summary(State(s): State<Shared>, Path(hub): Path<u64>) -> Result<Response> {
    Ok(ok(control(&s).summary(hub)?))
}

async fn install(
    State(s): State<Shared>,
    Path(hub): Path<u64>,
    Json(body): Json<InstallRequest>,
) -> Result<Response> {
    Ok(ok(control(&s).install(hub, &body)?))
}

async fn mint(
    State(s): State<Shared>,
    Path(hub): Path<u64>,
    body: Option<Json<MintRequest>>,
) -> Result<Response> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    Ok(ok(control(&s).mint_token(hub, &request)?))
}

async fn uninstall(State(s): State<Shared>, Path(hub): Path<u64>) -> Result<Response> {
    Ok(ok(
        json!({"revokedRefreshTokens": control(&s).uninstall(hub)?}),
    ))
}

async fn records(
    State(s): State<Shared>,
    Path((hub, t)): Path<(u64, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let params = Params::parse(q.as_deref());
    let include = matches!(params.get("archived"), Some("include") | Some("true"));
    Ok(ok(
        json!({"results": control(&s).records(hub, &t, include)?}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Properties {
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    modified_at: Option<Value>,
}

async fn create(
    State(s): State<Shared>,
    Path((hub, t)): Path<(u64, String)>,
    Json(body): Json<Properties>,
) -> Result<Response> {
    Ok((
        StatusCode::CREATED,
        axum::Json(control(&s).create_record(hub, &t, &body.properties)?),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Generate {
    count: usize,
    #[serde(default)]
    same_millisecond: bool,
}

async fn generate(
    State(s): State<Shared>,
    Path((hub, t)): Path<(u64, String)>,
    Json(body): Json<Generate>,
) -> Result<Response> {
    let ids = control(&s).generate_records(hub, &t, body.count, body.same_millisecond)?;
    Ok(ok(
        json!({"ids": ids.iter().map(u64::to_string).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Merge {
    primary_object_id: Value,
    object_id_to_merge: Value,
    #[serde(default)]
    keep_primary_id: bool,
}

fn id_of(v: &Value) -> std::result::Result<u64, ControlError> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ControlError::Invalid(format!("{v} is not a record id")))
}

async fn merge(
    State(s): State<Shared>,
    Path((hub, t)): Path<(u64, String)>,
    Json(body): Json<Merge>,
) -> Result<Response> {
    let primary = id_of(&body.primary_object_id)?;
    let merged = id_of(&body.object_id_to_merge)?;
    Ok(ok(control(&s).merge_records(
        hub,
        &t,
        primary,
        merged,
        body.keep_primary_id,
    )?))
}

async fn record(
    State(s): State<Shared>,
    Path((hub, t, id)): Path<(u64, String, u64)>,
) -> Result<Response> {
    match control(&s).record(hub, &t, id)? {
        Some(r) => Ok(ok(r)),
        None => Err(StoreError::NotFound(t, id).into()),
    }
}

async fn update(
    State(s): State<Shared>,
    Path((hub, t, id)): Path<(u64, String, u64)>,
    Json(body): Json<Properties>,
) -> Result<Response> {
    let modified = match &body.modified_at {
        Some(v) => Some(parse_time(v).ok_or_else(|| {
            ControlError::Invalid("modifiedAt must be epoch ms or ISO-8601".into())
        })?),
        None => None,
    };
    Ok(ok(control(&s).update_record(
        hub,
        &t,
        id,
        &body.properties,
        modified,
    )?))
}

async fn archive(
    State(s): State<Shared>,
    Path((hub, t, id)): Path<(u64, String, u64)>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let params = Params::parse(q.as_deref());
    match params.get("archivedAt") {
        Some(at) => {
            let at = parse_time(&Value::from(at)).ok_or_else(|| {
                ControlError::Invalid("archivedAt must be epoch ms or ISO-8601".into())
            })?;
            control(&s).archive_record_at(hub, &t, id, at)?;
        }
        None => control(&s).archive_record(hub, &t, id)?,
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore(
    State(s): State<Shared>,
    Path((hub, t, id)): Path<(u64, String, u64)>,
) -> Result<Response> {
    control(&s).restore_record(hub, &t, id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn merged(State(s): State<Shared>, Path((hub, t)): Path<(u64, String)>) -> Result<Response> {
    let map: Map<String, Value> = control(&s)
        .merged_ids(hub, &t)?
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.to_string())))
        .collect();
    Ok(ok(map))
}

async fn associations(
    State(s): State<Shared>,
    Path((hub, from, to)): Path<(u64, String, String)>,
) -> Result<Response> {
    Ok(ok(
        json!({"results": control(&s).associations(hub, &from, &to)?}),
    ))
}

async fn associate(
    State(s): State<Shared>,
    Path(hub): Path<u64>,
    Json(body): Json<AssociationChange>,
) -> Result<Response> {
    control(&s).associate(hub, &body)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn dissociate(
    State(s): State<Shared>,
    Path(hub): Path<u64>,
    Json(body): Json<AssociationChange>,
) -> Result<Response> {
    let removed = control(&s).dissociate(
        hub,
        &body.from_type,
        body.from_id,
        &body.to_type,
        body.to_id,
    )?;
    Ok(ok(json!({"removed": removed})))
}

async fn properties(
    State(s): State<Shared>,
    Path((hub, t)): Path<(u64, String)>,
) -> Result<Response> {
    Ok(ok(json!({"results": control(&s).properties(hub, &t)?})))
}

async fn add_property(
    State(s): State<Shared>,
    Path((hub, t)): Path<(u64, String)>,
    Json(body): Json<Value>,
) -> Result<Response> {
    Ok((
        StatusCode::CREATED,
        axum::Json(control(&s).add_property(hub, &t, body)?),
    )
        .into_response())
}

async fn retype_property(
    State(s): State<Shared>,
    Path((hub, t, name)): Path<(u64, String, String)>,
    Json(body): Json<PropertyChange>,
) -> Result<Response> {
    Ok(ok(control(&s).retype_property(hub, &t, &name, &body)?))
}

async fn archive_property(
    State(s): State<Shared>,
    Path((hub, t, name)): Path<(u64, String, String)>,
) -> Result<Response> {
    control(&s).archive_property(hub, &t, &name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn owners(State(s): State<Shared>, Path(hub): Path<u64>) -> Result<Response> {
    Ok(ok(json!({"results": control(&s).owners(hub)?})))
}

async fn archive_owner(
    State(s): State<Shared>,
    Path((hub, id)): Path<(u64, u64)>,
) -> Result<Response> {
    control(&s).archive_owner(hub, id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rate_limits(State(s): State<Shared>, Path(hub): Path<u64>) -> Result<Response> {
    Ok(ok(control(&s).rate_limits(hub)?))
}

async fn set_rate_limits(
    State(s): State<Shared>,
    Path(hub): Path<u64>,
    Json(body): Json<RateLimitConfig>,
) -> Result<Response> {
    control(&s).set_rate_limits(Some(hub), body)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_all_rate_limits(
    State(s): State<Shared>,
    Json(body): Json<RateLimitConfig>,
) -> Result<Response> {
    control(&s).set_rate_limits(None, body)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Lag {
    millis: u64,
}

async fn set_index_lag(
    State(s): State<Shared>,
    Path(hub): Path<u64>,
    Json(body): Json<Lag>,
) -> Result<Response> {
    control(&s).set_index_lag(Some(hub), Duration::from_millis(body.millis))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_all_index_lag(State(s): State<Shared>, Json(body): Json<Lag>) -> Result<Response> {
    control(&s).set_index_lag(None, Duration::from_millis(body.millis))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn settings(State(s): State<Shared>) -> Response {
    ok(control(&s).settings())
}

async fn set_settings(State(s): State<Shared>, Json(body): Json<Settings>) -> Response {
    control(&s).set_settings(body);
    StatusCode::NO_CONTENT.into_response()
}

async fn latency(State(s): State<Shared>) -> Response {
    ok(control(&s).settings().latency)
}

async fn set_latency(State(s): State<Shared>, Json(body): Json<LatencyConfig>) -> Response {
    control(&s).set_latency(body);
    StatusCode::NO_CONTENT.into_response()
}

async fn faults(State(s): State<Shared>) -> Response {
    ok(control(&s).faults())
}

async fn set_faults(State(s): State<Shared>, Json(body): Json<FaultPlan>) -> Response {
    control(&s).set_faults(body);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(s): State<Shared>) -> Response {
    control(&s).clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn push_faults(State(s): State<Shared>, Json(body): Json<Vec<ScriptStep>>) -> Response {
    control(&s).push_fault_steps(body);
    StatusCode::NO_CONTENT.into_response()
}

async fn counters(State(s): State<Shared>) -> Response {
    ok(control(&s).counters())
}

async fn portal_counters(State(s): State<Shared>, Path(hub): Path<u64>) -> Result<Response> {
    Ok(ok(control(&s).portal_counters(hub)?))
}

async fn reset_counters(State(s): State<Shared>) -> Response {
    control(&s).reset_counters();
    StatusCode::NO_CONTENT.into_response()
}
