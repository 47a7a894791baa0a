//! OAuth: the authorize/consent page, token endpoints (v1, v3, 2026-03), introspection and
//! revocation.
//!
//! Unconfirmed HubSpot behaviours chosen here (API.md §19): unknown client or redirect
//! mismatch on the authorize page answer an HTML error page (400) rather than a redirect,
//! since the redirect URI cannot be trusted; a required scope the account's tier lacks
//! redirects back with `error=invalid_scope`; a denial redirects with `error=access_denied`.
//! Token-endpoint statuses for a bad client id/secret/redirect are `BAD_CLIENT_ID`,
//! `BAD_CLIENT_SECRET` and `BAD_REDIRECT_URI`. Legacy introspection of an unknown or
//! expired token answers 404 with a JSON error.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::{ApiError, Params, Shared, correlation_id};
use crate::auth::{InstallError, PendingAuthorization, TokenCheck, grant_scopes};
use crate::state::lock;
use crate::store::now_ms;

/// App id reported by introspection.
const APP_ID: u64 = 1_234_321;

pub fn api_routes() -> Router<Shared> {
    Router::new()
        .route("/oauth/v1/token", post(token_v1))
        .route("/oauth/v3/token", post(token_v3))
        .route("/oauth/2026-03/token", post(token_v3))
        .route("/oauth/v1/access-tokens/{token}", get(access_token_info))
        .route("/oauth/v1/refresh-tokens/{token}", get(refresh_token_info))
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            delete(delete_refresh_token),
        )
        .route("/oauth/v3/token/introspect", post(introspect))
        .route("/oauth/2026-03/token/introspect", post(introspect))
        .route("/oauth/v3/token/revoke", post(revoke))
        .route("/oauth/2026-03/token/revoke", post(revoke))
}

pub fn page_routes() -> Router<Shared> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/{portal_id}/authorize", get(authorize_pinned))
        .route("/oauth/authorize/decision", get(decision))
}

fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// A token-endpoint error in both shapes: legacy `status`/`message`, and for v3 the RFC 6749
/// `error`/`error_description` beside them.
fn token_error(v3: bool, status: &str, error: &str, message: &str) -> Response {
    let mut body = json!({
        "status": status,
        "message": message,
        "correlationId": correlation_id(),
        "requestId": correlation_id(),
    });
    if v3 {
        body["error"] = Value::from(error);
        body["error_description"] = Value::from(message);
    }
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

async fn token_v1(State(state): State<Shared>, body: Bytes) -> Response {
    token(&state, &form(&body), false)
}

async fn token_v3(State(state): State<Shared>, body: Bytes) -> Response {
    token(&state, &form(&body), true)
}

/// The error response when the client id or secret is wrong.
fn check_client(state: &Shared, f: &HashMap<String, String>, v3: bool) -> Option<Response> {
    if f.get("client_id") != Some(&state.config.client_id) {
        return Some(token_error(
            v3,
            "BAD_CLIENT_ID",
            "invalid_client",
            "missing or invalid client id",
        ));
    }
    if f.get("client_secret") != Some(&state.config.client_secret) {
        return Some(token_error(
            v3,
            "BAD_CLIENT_SECRET",
            "invalid_client",
            "missing or invalid client secret",
        ));
    }
    None
}

fn token(state: &Shared, f: &HashMap<String, String>, v3: bool) -> Response {
    if let Some(r) = check_client(state, f, v3) {
        return r;
    }
    let now = now_ms();
    let lifetime_secs = state.settings().token_lifetime_secs;
    let lifetime_ms = i64::try_from(lifetime_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut auth = lock(&state.auth);
    let (hub_id, scopes, refresh_token) = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = f.get("code").and_then(|c| auth.codes.remove(c)) else {
                return token_error(
                    v3,
                    "BAD_AUTH_CODE",
                    "invalid_grant",
                    "missing or unknown auth code",
                );
            };
            if code.expires_at_ms <= now {
                return token_error(
                    v3,
                    "EXPIRED_AUTH_CODE",
                    "invalid_grant",
                    "auth code is expired",
                );
            }
            if f.get("redirect_uri") != Some(&code.redirect_uri) {
                return token_error(
                    v3,
                    "BAD_REDIRECT_URI",
                    "invalid_grant",
                    "redirect_uri does not match the one used for the auth code",
                );
            }
            let user_id = state.portal(code.hub_id).map(|p| p.user_id).unwrap_or(0);
            let refresh = auth.install(code.hub_id, code.scopes.clone(), user_id);
            (code.hub_id, code.scopes, refresh)
        }
        Some("refresh_token") => {
            let presented = f.get("refresh_token").cloned().unwrap_or_default();
            match auth.refresh.get(&presented) {
                Some(t) if !t.revoked => (t.hub_id, t.scopes.clone(), presented),
                _ => {
                    return token_error(
                        v3,
                        "BAD_REFRESH_TOKEN",
                        "invalid_grant",
                        "missing or unknown refresh token",
                    );
                }
            }
        }
        _ => {
            return token_error(
                v3,
                "BAD_GRANT_TYPE",
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            );
        }
    };
    let user_id = state.portal(hub_id).map(|p| p.user_id).unwrap_or(0);
    let access = auth.mint_access(hub_id, scopes.clone(), user_id, now, lifetime_ms);
    axum::Json(json!({
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh_token,
        "expires_in": lifetime_secs,
        "hub_id": hub_id,
        "scopes": scopes,
        "user_id": user_id,
        "token_use": "access_token",
    }))
    .into_response()
}

fn hub_domain(hub_id: u64) -> String {
    format!("sim-portal-{hub_id}.example.com")
}

fn token_not_found() -> Response {
    ApiError::not_found("access token not found or expired").into_response()
}

async fn access_token_info(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    let now = now_ms();
    let auth = lock(&state.auth);
    let (TokenCheck::Valid { .. }, Some(t)) =
        (auth.check_access(&token, now), auth.access.get(&token))
    else {
        return token_not_found();
    };
    let expires_in = t.expires_at_ms.saturating_sub(now) / 1000;
    axum::Json(json!({
        "token": token,
        "user": format!("user{}@{}", t.user_id, hub_domain(t.hub_id)),
        "hub_domain": hub_domain(t.hub_id),
        "scopes": t.scopes,
        "signed_access_token": signed(t.hub_id, t.user_id, t.expires_at_ms),
        "hub_id": t.hub_id,
        "app_id": APP_ID,
        "expires_in": expires_in,
        "user_id": t.user_id,
        "token_type": "access",
        "is_private_distribution": false,
    }))
    .into_response()
}

fn signed(hub_id: u64, user_id: u64, expires_at_ms: i64) -> Value {
    json!({
        "expiresAt": expires_at_ms, "scopes": "AAEAAAAQ==", "hubId": hub_id, "userId": user_id,
        "appId": APP_ID, "signature": "sim-signature", "scopeToScopeGroupPks": "AA==",
        "newSignature": "sim-signature", "hublet": "na1", "trialScopes": "",
        "trialScopeToScopeGroupPks": "", "isUserLevel": false, "installingUserId": user_id,
        "isPrivateDistribution": false, "isServiceAccount": false,
        "appInstallId": format!("{hub_id}-{APP_ID}"), "audience": "sim",
    })
}

async fn refresh_token_info(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    let auth = lock(&state.auth);
    match auth.refresh.get(&token) {
        Some(t) if !t.revoked => axum::Json(json!({
            "token": token,
            "user": format!("user{}@{}", t.user_id, hub_domain(t.hub_id)),
            "hub_domain": hub_domain(t.hub_id),
            "scopes": t.scopes,
            "hub_id": t.hub_id,
            "client_id": state.config.client_id,
            "user_id": t.user_id,
            "token_type": "refresh",
        }))
        .into_response(),
        _ => ApiError::not_found("refresh token not found").into_response(),
    }
}

/// Deletes a refresh token only: issued access tokens live on until they expire.
async fn delete_refresh_token(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    let mut auth = lock(&state.auth);
    match auth.refresh.get_mut(&token) {
        Some(t) if !t.revoked => {
            t.revoked = true;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => ApiError::not_found("refresh token not found").into_response(),
    }
}

async fn introspect(State(state): State<Shared>, body: Bytes) -> Response {
    let f = form(&body);
    if let Some(r) = check_client(&state, &f, true) {
        return r;
    }
    let token = f.get("token").cloned().unwrap_or_default();
    let now = now_ms();
    let auth = lock(&state.auth);
    let hint = f.get("token_type_hint").map(String::as_str);
    if hint != Some("refresh_token")
        && let (TokenCheck::Valid { .. }, Some(t)) =
            (auth.check_access(&token, now), auth.access.get(&token))
    {
        return axum::Json(json!({
            "active": true, "app_id": APP_ID, "client_id": state.config.client_id,
            "expires_in": t.expires_at_ms.saturating_sub(now) / 1000, "hub_domain": hub_domain(t.hub_id),
            "hub_id": t.hub_id, "is_private_distribution": false, "scopes": t.scopes,
            "signed_access_token": signed(t.hub_id, t.user_id, t.expires_at_ms),
            "token": token, "token_type": "access", "token_use": "access_token",
            "user": format!("user{}@{}", t.user_id, hub_domain(t.hub_id)), "user_id": t.user_id,
        }))
        .into_response();
    }
    if let Some(t) = auth.refresh.get(&token).filter(|t| !t.revoked) {
        return axum::Json(json!({
            "active": true, "app_id": APP_ID, "client_id": state.config.client_id,
            "hub_domain": hub_domain(t.hub_id), "hub_id": t.hub_id, "scopes": t.scopes,
            "token": token, "token_type": "refresh", "token_use": "refresh_token",
            "user": format!("user{}@{}", t.user_id, hub_domain(t.hub_id)), "user_id": t.user_id,
        }))
        .into_response();
    }
    // observed by a third party for unknown or expired tokens (API.md §1.3)
    axum::Json(json!({"active": false})).into_response()
}

/// Revokes a refresh token (or an access token); HubSpot's success status is unconfirmed,
/// 200 with an empty body is answered here.
async fn revoke(State(state): State<Shared>, body: Bytes) -> Response {
    let f = form(&body);
    if let Some(r) = check_client(&state, &f, true) {
        return r;
    }
    let token = f.get("token").cloned().unwrap_or_default();
    let mut auth = lock(&state.auth);
    if let Some(t) = auth.refresh.get_mut(&token) {
        t.revoked = true;
    } else if let Some(t) = auth.access.get_mut(&token) {
        t.revoked = true;
    }
    StatusCode::OK.into_response()
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><html><head><title>Authorization error</title></head><body><h1>Couldn't complete the connection</h1><p id=\"error\">{}</p></body></html>",
            escape(message)
        )),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn split_scopes(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default()
        .split([' ', ','])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

async fn authorize(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    authorize_page(&state, Params::parse(query.as_deref()), None)
}

async fn authorize_pinned(
    State(state): State<Shared>,
    Path(portal_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(hub) = portal_id.parse::<u64>() else {
        return error_page("Unknown account");
    };
    authorize_page(&state, Params::parse(query.as_deref()), Some(hub))
}

fn authorize_page(state: &Shared, params: Params, pinned: Option<u64>) -> Response {
    if params.get("client_id") != Some(state.config.client_id.as_str()) {
        return error_page("Authorization failed because this app's client ID is invalid.");
    }
    let redirect_uri = params.get("redirect_uri").unwrap_or_default().to_string();
    if !state.config.redirect_uris.contains(&redirect_uri) {
        return error_page(
            "The redirect URL does not match any redirect URL registered for this app.",
        );
    }
    let scopes = split_scopes(params.get("scope"));
    let optional = split_scopes(params.get("optional_scope"));
    if scopes.is_empty() {
        return error_page("The scope parameter is required.");
    }
    if let Err(InstallError::InvalidScope(s)) =
        grant_scopes(crate::config::Tier::Enterprise, &scopes, &optional)
    {
        return error_page(&format!("An invalid scope name was provided: {s}"));
    }
    let portals: Vec<u64> = match pinned {
        Some(hub) if state.portal(hub).is_some() => vec![hub],
        Some(_) => return error_page("Unknown account"),
        None => crate::state::read(&state.portals).keys().copied().collect(),
    };
    let request = lock(&state.auth).add_pending(PendingAuthorization {
        redirect_uri,
        scopes: scopes.clone(),
        optional_scopes: optional.clone(),
        state: params.get("state").map(str::to_string),
        hub_id: pinned,
    });
    let scope_items: String = scopes
        .iter()
        .chain(&optional)
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let accounts: String = portals
        .iter()
        .map(|hub| {
            format!(
                "<li>Account {hub}: <a id=\"approve-{hub}\" class=\"approve\" href=\"/oauth/authorize/decision?request={request}&amp;hub_id={hub}&amp;approve=true\">Approve</a> \
                 <a id=\"deny-{hub}\" class=\"deny\" href=\"/oauth/authorize/decision?request={request}&amp;hub_id={hub}&amp;approve=false\">Deny</a></li>"
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html><head><title>Connect app</title></head><body>\
         <h1>Connect the app to your HubSpot account</h1><p>The app asks for:</p><ul id=\"scopes\">{scope_items}</ul>\
         <p>Choose an account:</p><ul id=\"accounts\">{accounts}</ul></body></html>"
    ))
    .into_response()
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return error_page("invalid redirect URL"),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    // HubSpot redirects with a plain 302
    (
        StatusCode::FOUND,
        [(axum::http::header::LOCATION, url.to_string())],
    )
        .into_response()
}

async fn decision(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let pending = params
        .get("request")
        .and_then(|r| lock(&state.auth).pending.remove(r));
    let Some(pending) = pending else {
        return error_page("This authorization request has expired. Start again from the app.");
    };
    let hub = params.get("hub_id").and_then(|h| h.parse::<u64>().ok());
    let state_param = pending.state.clone().unwrap_or_default();
    let with_state = |mut pairs: Vec<(&'static str, String)>| {
        if pending.state.is_some() {
            pairs.push(("state", state_param.clone()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        redirect_with(&pending.redirect_uri, &borrowed)
    };
    if !params.flag("approve") {
        return with_state(vec![
            ("error", "access_denied".into()),
            ("error_description", "The user denied the request".into()),
        ]);
    }
    let Some(portal) = hub.or(pending.hub_id).and_then(|h| state.portal(h)) else {
        return error_page("Unknown account");
    };
    match grant_scopes(portal.tier, &pending.scopes, &pending.optional_scopes) {
        Ok(granted) => {
            let code = lock(&state.auth).issue_code(
                portal.hub_id,
                granted,
                pending.redirect_uri.clone(),
                now_ms(),
            );
            with_state(vec![("code", code)])
        }
        Err(e) => with_state(vec![
            ("error", "invalid_scope".into()),
            ("error_description", e.to_string()),
        ]),
    }
}
