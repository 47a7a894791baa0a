//! What stands between a client and a HubSpot handler: URL length, authentication, rate
//! limits, the read-only audit, faults, latency, and the counters of it all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, Caller, ResetConnection, Shared, correlation_id};
use crate::auth::TokenCheck;
use crate::config::{EndpointFamily, Fault, FaultBody};
use crate::counters::CLIENT_CLOSED;
use crate::ratelimit::Decision;
use crate::state::lock;
use crate::store::{fmt_ms, now_ms};

/// Sorts a request into its endpoint family by method and path.
pub fn classify(method: &Method, path: &str) -> EndpointFamily {
    let read_method = method == Method::GET || method == Method::HEAD;
    if path.starts_with("/oauth/") {
        return EndpointFamily::Oauth;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let is_objects = path.starts_with("/crm/v3/objects/") || path.starts_with("/crm/objects/");
    if path.ends_with("/search") && method == Method::POST {
        return EndpointFamily::Search;
    }
    if path.ends_with("/batch/read") && method == Method::POST {
        if path.contains("/associations/") {
            return EndpointFamily::Associations;
        }
        if path.contains("/properties/") {
            return EndpointFamily::Properties;
        }
        return EndpointFamily::BatchRead;
    }
    if !read_method {
        return EndpointFamily::Write;
    }
    if path.contains("/associations") {
        return EndpointFamily::Associations;
    }
    if is_objects {
        // /crm/v3/objects/{type} and /crm/objects/2026-03/{type} list; one more segment reads
        return if segments.len() <= 4 {
            EndpointFamily::List
        } else {
            EndpointFamily::Read
        };
    }
    if path.contains("/properties") {
        return EndpointFamily::Properties;
    }
    if path.contains("schemas") {
        return EndpointFamily::Schemas;
    }
    if path.contains("/owners") {
        return EndpointFamily::Owners;
    }
    if path.contains("/pipelines") {
        return EndpointFamily::Pipelines;
    }
    EndpointFamily::Other
}

/// The write scope HubSpot would ask for, named after the object of the path.
fn write_scope(path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let object = segments
        .iter()
        .position(|s| *s == "objects" || *s == "properties" || *s == "associations")
        .and_then(|i| segments.get(i + 1..))
        .and_then(|rest| {
            rest.iter()
                .find(|s| !s.starts_with("20") && !s.starts_with('v'))
        })
        .map(|s| {
            crate::catalog::standard_type(s)
                .map(|t| t.plural.to_string())
                .unwrap_or_else(|| "custom".into())
        })
        .unwrap_or_else(|| "custom".into());
    if path.contains("/properties") || path.contains("schemas") {
        format!("crm.schemas.{object}.write")
    } else {
        format!("crm.objects.{object}.write")
    }
}

fn fault_response(status: u16, body: FaultBody, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match body {
        FaultBody::Empty => (code, Body::empty()).into_response(),
        FaultBody::Html => (
            code,
            [(header::CONTENT_TYPE, "text/html")],
            format!(
                "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1></center><hr><center>cloudflare</center></body></html>",
                reason = code.canonical_reason().unwrap_or("Error")
            ),
        )
            .into_response(),
        FaultBody::Json => (
            code,
            axum::Json(json!({
                "status": "error",
                "message": "internal error",
                "correlationId": correlation_id(),
            })),
        )
            .into_response(),
    };
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// What the Authorization header of a data request holds.
#[derive(Debug, PartialEq)]
enum Credentials {
    Missing,
    /// A bearer token that cannot be a token at all (see [`is_b64token`]).
    Malformed,
    Bearer(String),
}

fn credentials(request: &Request) -> Credentials {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Credentials::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Credentials::Missing;
    };
    let token = token.trim();
    if token.is_empty() {
        Credentials::Missing
    } else if is_b64token(token) {
        Credentials::Bearer(token.to_string())
    } else {
        Credentials::Malformed
    }
}

/// RFC 6750's token syntax: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// HubSpot's access tokens (`CK…`, base64url-like) always fit it; a token that does not —
/// quoted, with a space or a stray newline inside — never reaches HubSpot: its edge answers
/// a non-JSON 530 (API.md §1.5, §18.24; exactly which formats it rejects is unconfirmed,
/// this syntax is the chosen line).
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Cloudflare's answer to a token in an impossible format: HTML, status 530.
fn malformed_token() -> Response {
    (
        StatusCode::from_u16(530).unwrap_or(StatusCode::UNAUTHORIZED),
        [(header::CONTENT_TYPE, "text/html")],
        "<html><head><title>530</title></head><body><center><h1>Error 530</h1></center><hr><center>cloudflare</center></body></html>",
    )
        .into_response()
}

fn invalid_authentication() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        json!({
            "status": "error",
            "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "correlationId": correlation_id(),
            "category": "INVALID_AUTHENTICATION",
        }),
    );
    e.headers
        .push(("x-hubspot-auth-failure", "401 Unauthorized".into()));
    e
}

fn expired_authentication(expired_at_ms: i64, now: i64) -> ApiError {
    let ago = Duration::from_millis(u64::try_from(now.saturating_sub(expired_at_ms)).unwrap_or(0));
    let (amount, unit) = if ago.as_secs() >= 3600 {
        (ago.as_secs() / 3600, "hour(s)")
    } else if ago.as_secs() >= 60 {
        (ago.as_secs() / 60, "minute(s)")
    } else {
        (ago.as_secs(), "second(s)")
    };
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        json!({
            "status": "error",
            "message": format!("The OAuth token used to make this call expired {amount} {unit} ago."),
            "correlationId": correlation_id(),
            "category": "EXPIRED_AUTHENTICATION",
            "context": {"expire time": [fmt_ms(expired_at_ms)]},
        }),
    )
}

/// Paths the gate lets by untouched: the control API and the consent page (a browser page
/// on app.hubspot.com, not an API call).
fn ungated(path: &str) -> bool {
    path == "/_sim"
        || path.starts_with("/_sim/")
        || (path.starts_with("/oauth/")
            && (path.ends_with("/authorize") || path == "/oauth/authorize/decision"))
}

pub async fn gate(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    if ungated(request.uri().path()) {
        return next.run(request).await;
    }
    let family = classify(request.method(), request.uri().path());
    let _global = state.counters.enter();
    let settings = state.settings();
    let mut portal_for_counts = None;
    let mut unanswered = Unanswered {
        state: &state,
        family,
        portal: None,
        counted: false,
    };

    let transit = settings.latency.transit.sample();
    if !transit.is_zero() {
        tokio::time::sleep(transit).await;
    }
    let response = 'answer: {
        let uri_length = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().len())
            .unwrap_or(0);
        if uri_length > settings.max_url_length {
            break 'answer (
                StatusCode::URI_TOO_LONG,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><head><title>414 Request-URI Too Large</title></head><body><center><h1>414 Request-URI Too Large</h1></center></body></html>",
            )
                .into_response();
        }

        let mut hub_id = None;
        if family != EndpointFamily::Oauth {
            let token = match credentials(&request) {
                Credentials::Bearer(token) => token,
                Credentials::Malformed => break 'answer malformed_token(),
                Credentials::Missing => break 'answer invalid_authentication().into_response(),
            };
            let now = now_ms();
            let check = lock(&state.auth).check_access(&token, now);
            let (hub, scopes) = match check {
                TokenCheck::Valid { hub_id, scopes } => (hub_id, scopes),
                TokenCheck::Expired { expired_at_ms } => {
                    break 'answer expired_authentication(expired_at_ms, now).into_response();
                }
                TokenCheck::Invalid => break 'answer invalid_authentication().into_response(),
            };
            let Some(portal) = state.portal(hub) else {
                break 'answer invalid_authentication().into_response();
            };
            hub_id = Some(hub);
            portal_for_counts = Some(portal.clone());
            unanswered.portal = Some(portal.clone());
            request.extensions_mut().insert(Caller {
                portal,
                scopes: Arc::new(scopes),
            });
        }
        let portal = portal_for_counts.clone();
        let _portal_flight = portal.as_ref().map(|p| p.counters.enter());

        let mut rate_headers: Option<(u32, u64, u32)> = None;
        if let Some(portal) = &portal {
            let search = family == EndpointFamily::Search;
            let decision = {
                let mut limiter = lock(&portal.limiter);
                let d = limiter.check(search, Instant::now());
                (d, limiter.config.clone())
            };
            match decision {
                (
                    Decision::Allowed {
                        remaining: Some(remaining),
                    },
                    cfg,
                ) => {
                    rate_headers = Some((cfg.max_per_interval, cfg.interval_ms, remaining));
                }
                (Decision::Allowed { remaining: None }, _) => {}
                (
                    Decision::Limited {
                        policy,
                        retry_after,
                    },
                    cfg,
                ) => {
                    state.counters.rate_limited(policy.name());
                    portal.counters.rate_limited(policy.name());
                    let mut e = ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        json!({
                            "status": "error",
                            "message": policy.message(),
                            "errorType": "RATE_LIMIT",
                            "correlationId": correlation_id(),
                            "policyName": policy.name(),
                            "groupName": format!("publicapi:oauth-app-{}:{}", policy.group_kind(), portal.hub_id),
                            "requestId": correlation_id(),
                        }),
                    );
                    if cfg.retry_after {
                        e.headers.push((
                            "retry-after",
                            retry_after.as_secs_f64().ceil().max(1.0).to_string(),
                        ));
                    }
                    // search answers carry no rate headers, limited or not
                    let rate = (!search).then_some((cfg.max_per_interval, cfg.interval_ms, 0));
                    break 'answer with_rate_headers(e.into_response(), rate);
                }
            }
        }

        if family == EndpointFamily::Write {
            state.counters.refused_write();
            if let Some(p) = &portal {
                p.counters.refused_write();
            }
            let scope = write_scope(request.uri().path());
            break 'answer with_rate_headers(
                ApiError::missing_scopes(&[scope]).into_response(),
                rate_headers,
            );
        }

        let fault = lock(&state.faults).next(family, hub_id);
        if fault.is_some() {
            state.counters.fault(family.as_str());
            if let Some(p) = &portal {
                p.counters.fault(family.as_str());
            }
        }
        let delay = settings.latency.for_family(family).sample();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut truncate = false;
        match fault {
            Some(Fault::Status {
                status,
                body,
                retry_after_secs,
            }) => {
                break 'answer fault_response(status, body, retry_after_secs);
            }
            Some(Fault::Reset) => {
                let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                r.extensions_mut().insert(ResetConnection);
                break 'answer r;
            }
            Some(Fault::Hang { millis }) => tokio::time::sleep(Duration::from_millis(millis)).await,
            Some(Fault::TruncatedJson) => truncate = true,
            None => {}
        }

        let response = next.run(request).await;
        let response = if truncate {
            truncated(response).await
        } else {
            response
        };
        if family == EndpointFamily::Search || family == EndpointFamily::Oauth {
            // search responses carry no rate-limit headers (API.md §7.2)
            response
        } else {
            with_rate_headers(response, rate_headers)
        }
    };

    let mut response = response;
    if !response.headers().contains_key("x-hubspot-correlation-id")
        && let Ok(v) = HeaderValue::from_str(&correlation_id())
    {
        response.headers_mut().insert("x-hubspot-correlation-id", v);
    }
    unanswered.answered(response.status().as_u16());
    response
}

/// Counts a request once: with its status when answered, or, when hyper drops the
/// handler because the client left first (it gave up on a hang or on latency), under
/// [`CLIENT_CLOSED`] — otherwise such a request would never show in the counters.
struct Unanswered<'a> {
    state: &'a Shared,
    family: EndpointFamily,
    portal: Option<Arc<crate::state::Portal>>,
    counted: bool,
}

impl Unanswered<'_> {
    fn count(&mut self, status: u16) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        self.state.counters.request(self.family.as_str(), status);
        if let Some(p) = &self.portal {
            p.counters.request(self.family.as_str(), status);
        }
    }

    fn answered(mut self, status: u16) {
        self.count(status);
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        self.count(CLIENT_CLOSED);
    }
}

fn with_rate_headers(mut response: Response, rate: Option<(u32, u64, u32)>) -> Response {
    if let Some((max, interval, remaining)) = rate {
        let h = response.headers_mut();
        for (name, value) in [
            (
                "x-hubspot-ratelimit-interval-milliseconds",
                interval.to_string(),
            ),
            ("x-hubspot-ratelimit-max", max.to_string()),
            ("x-hubspot-ratelimit-remaining", remaining.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
    }
    response
}

/// Cuts a JSON body in half, keeping a Content-Length that matches the cut body, so the
/// client receives a complete HTTP message whose JSON does not parse.
async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let cut = bytes.slice(0..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_paths() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            classify(&get, "/crm/v3/objects/deals"),
            EndpointFamily::List
        );
        assert_eq!(
            classify(&get, "/crm/objects/2026-03/deals"),
            EndpointFamily::List
        );
        assert_eq!(
            classify(&get, "/crm/v3/objects/deals/123"),
            EndpointFamily::Read
        );
        assert_eq!(
            classify(&post, "/crm/v3/objects/deals/search"),
            EndpointFamily::Search
        );
        assert_eq!(
            classify(&post, "/crm/v3/objects/deals/batch/read"),
            EndpointFamily::BatchRead
        );
        assert_eq!(
            classify(&post, "/crm/v4/associations/deals/companies/batch/read"),
            EndpointFamily::Associations
        );
        assert_eq!(
            classify(&post, "/crm/v3/objects/deals"),
            EndpointFamily::Write
        );
        assert_eq!(
            classify(&Method::PATCH, "/crm/v3/objects/deals/1"),
            EndpointFamily::Write
        );
        assert_eq!(classify(&get, "/crm/v3/owners/"), EndpointFamily::Owners);
        assert_eq!(
            classify(&get, "/crm/v3/properties/deals"),
            EndpointFamily::Properties
        );
        assert_eq!(
            classify(&get, "/crm-object-schemas/v3/schemas"),
            EndpointFamily::Schemas
        );
        assert_eq!(classify(&post, "/oauth/v1/token"), EndpointFamily::Oauth);
    }

    #[test]
    fn tokens_outside_the_b64token_syntax_are_malformed() {
        for ok in ["CKabc-_~+/.xyz", "abc==", "na1-ab12-cd34"] {
            assert!(is_b64token(ok), "{ok}");
        }
        for bad in [
            "\"CKabc\"",
            "abc def",
            "abc\n",
            "a=b",
            "=",
            "tok€n",
            "abc,def",
        ] {
            assert!(!is_b64token(bad), "{bad}");
        }
    }

    #[test]
    fn write_scopes_name_the_object() {
        assert_eq!(
            write_scope("/crm/v3/objects/deals/1"),
            "crm.objects.deals.write"
        );
        assert_eq!(
            write_scope("/crm/objects/2026-03/contact"),
            "crm.objects.contacts.write"
        );
        assert_eq!(
            write_scope("/crm/v3/properties/companies"),
            "crm.schemas.companies.write"
        );
    }
}
