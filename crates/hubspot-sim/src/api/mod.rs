//! The HTTP surface: HubSpot's paths (gated by auth, limits, faults and counters) and the
//! control API under `/_sim/`.

mod associations;
pub mod control;
mod gate;
mod metadata;
mod oauth;
mod objects;
mod search;

pub use metadata::property_json as metadata_property_json;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::state::{Portal, SimState};
use crate::store::{fmt_ms, now_ms};

pub type Shared = Arc<SimState>;

/// Marks a response whose connection must be dropped without an answer.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

pub fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An error answered in HubSpot's shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn standard(status: StatusCode, message: &str, category: Option<&str>) -> Self {
        let mut body =
            json!({"status": "error", "message": message, "correlationId": correlation_id()});
        if let Some(c) = category {
            body["category"] = Value::from(c);
        }
        Self::new(status, body)
    }

    pub fn validation(message: impl AsRef<str>) -> Self {
        Self::standard(
            StatusCode::BAD_REQUEST,
            message.as_ref(),
            Some("VALIDATION_ERROR"),
        )
    }

    /// HubSpot's frequent category-less 400.
    pub fn bad_request() -> Self {
        Self::standard(
            StatusCode::BAD_REQUEST,
            "There was a problem with the request.",
            None,
        )
    }

    pub fn unknown_object_type(name: &str) -> Self {
        Self::validation(format!("Unable to infer object type from: {name}"))
    }

    pub fn object_not_found(id: &str) -> Self {
        let mut e = Self::standard(
            StatusCode::NOT_FOUND,
            "Object not found.  objectId are usually numeric.",
            Some("OBJECT_NOT_FOUND"),
        );
        if let Some(body) = e.body.as_mut() {
            body["context"] = json!({"id": [id]});
        }
        e
    }

    /// A record that is not there: HubSpot answers either the JSON error or an empty body.
    pub fn record_not_found(id: &str, empty_body: bool) -> Self {
        if empty_body {
            Self {
                status: StatusCode::NOT_FOUND,
                body: None,
                headers: Vec::new(),
            }
        } else {
            Self::object_not_found(id)
        }
    }

    pub fn not_found(message: &str) -> Self {
        Self::standard(StatusCode::NOT_FOUND, message, Some("OBJECT_NOT_FOUND"))
    }

    pub fn missing_scopes(required: &[String]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            json!({
                "status": "error",
                "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
                "correlationId": correlation_id(),
                "errors": [{
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": required},
                }],
                "links": {"scopes": "https://developers.hubspot.com/scopes"},
                "category": "MISSING_SCOPES",
            }),
        )
    }

    pub fn internal() -> Self {
        Self::standard(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let correlation = self
            .body
            .as_ref()
            .and_then(|b| b.get("correlationId"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(correlation_id);
        let mut response = match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&correlation) {
            headers.insert("x-hubspot-correlation-id", v);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        if self.status.is_client_error() && headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=utf-8"),
            );
        }
        response
    }
}

/// The authenticated caller of a data endpoint, set by the gate.
#[derive(Debug, Clone)]
pub struct Caller {
    pub portal: Arc<Portal>,
    pub scopes: Arc<Vec<String>>,
}

impl Caller {
    /// Succeeds when any one of the scopes is granted (OpenAPI `security` alternatives).
    pub fn require(&self, any_of: &[String]) -> Result<(), ApiError> {
        if any_of.is_empty() || any_of.iter().any(|s| self.scopes.contains(s)) {
            Ok(())
        } else {
            Err(ApiError::missing_scopes(any_of))
        }
    }

    pub fn require_str(&self, any_of: &[&str]) -> Result<(), ApiError> {
        let owned: Vec<String> = any_of.iter().map(|s| s.to_string()).collect();
        self.require(&owned)
    }
}

/// Query parameters, keeping repeated keys (`properties=a&properties=b`).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a list parameter, comma-joined or repeated.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let mut found = false;
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            if k == name {
                found = true;
                out.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
            }
        }
        found.then_some(out)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// A batch read's `inputs`: required, and more than `max` of them is HubSpot's 400.
fn batch_inputs(body: &Value, max: usize) -> Result<&[Value], ApiError> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(ApiError::bad_request)?;
    if inputs.len() > max {
        return Err(ApiError::validation(format!(
            "Batch input size {} exceeds the limit of {max}",
            inputs.len()
        )));
    }
    Ok(inputs)
}

/// A batch input's `id` as sent: HubSpot takes a string or a number.
fn input_id(input: &Value) -> Result<String, ApiError> {
    match input.get("id") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(ApiError::bad_request()),
    }
}

/// A batch read's envelope: 200 when every input was answered, else 207 with the errors.
fn batch_response(started: i64, results: Vec<Value>, errors: Vec<Value>) -> Response {
    let mut out = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": fmt_ms(started),
        "completedAt": fmt_ms(now_ms()),
    });
    if errors.is_empty() {
        return axum::Json(out).into_response();
    }
    out["numErrors"] = Value::from(errors.len());
    out["errors"] = Value::Array(errors);
    (StatusCode::MULTI_STATUS, axum::Json(out)).into_response()
}

/// Builds the whole router. The gate wraps everything (the fallback too, so that a write
/// to any HubSpot path is refused and counted) and lets `/_sim/` and the consent page by.
pub fn router(state: Shared) -> Router {
    Router::new()
        .merge(objects::routes())
        .merge(metadata::routes())
        .merge(associations::routes())
        .merge(oauth::api_routes())
        .merge(oauth::page_routes())
        .nest("/_sim", control::routes())
        .route("/_sim", get(control::index))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::gate,
        ))
        .with_state(state)
}

async fn fallback() -> Response {
    // HubSpot answers unknown paths with an empty-bodied 404
    (StatusCode::NOT_FOUND, "").into_response()
}
