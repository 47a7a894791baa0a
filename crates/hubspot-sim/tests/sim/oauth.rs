//! OAuth over HTTP: consent page, code exchange, refresh, introspection, revocation, and the
//! 401/403 answers of data endpoints.

use hubspot_sim::{InstallRequest, MintRequest, NewPortal, Tier};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestSim, refresh, start};

fn approve_link(html: &str, hub: u64) -> String {
    let marker = format!("id=\"approve-{hub}\" class=\"approve\" href=\"");
    let start = html.find(&marker).expect("approve link") + marker.len();
    let end = html[start..].find('"').expect("link end") + start;
    html[start..end].replace("&amp;", "&")
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).expect("redirect url");
    url.query_pairs().into_owned().collect()
}

async fn authorize(t: &TestSim, scope: &str, optional: &str, hub: u64) -> reqwest::Response {
    let url = format!(
        "{}/oauth/authorize?client_id={}&redirect_uri={}&scope={}&optional_scope={}&state=xyz-1",
        t.portal.base_url,
        t.portal.client_id,
        url::form_urlencoded::byte_serialize(t.portal.redirect_uri.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(optional.as_bytes()).collect::<String>(),
    );
    let page = t.http.get(url).send().await.expect("authorize");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    let link = approve_link(&html, hub);
    t.http.get(t.url(&link)).send().await.expect("approve")
}

async fn token_form(t: &TestSim, version: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = t
        .http
        .post(t.url(&format!("/oauth/{version}/token")))
        .form(form)
        .send()
        .await
        .expect("token");
    (r.status(), r.json().await.expect("json"))
}

/// A refresh-token grant of the portal's app.
async fn refresh_grant(t: &TestSim, version: &str, refresh_token: &str) -> (StatusCode, Value) {
    token_form(
        t,
        version,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &t.portal.client_id),
            ("client_secret", &t.portal.client_secret),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

#[tokio::test]
async fn consent_page_code_exchange_and_single_use_codes() {
    let t = start().await;
    let approved = authorize(
        &t,
        "crm.objects.deals.read crm.objects.contacts.read",
        "crm.objects.custom.read",
        t.hub(),
    )
    .await;
    assert_eq!(approved.status(), StatusCode::FOUND);
    let location = approved.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&t.portal.redirect_uri));
    let q = query_of(&location);
    assert_eq!(q["state"], "xyz-1");
    let code = q["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", t.portal.client_id.as_str()),
        ("client_secret", t.portal.client_secret.as_str()),
        ("redirect_uri", t.portal.redirect_uri.as_str()),
        ("code", code.as_str()),
    ];
    let (status, body) = token_form(&t, "v1", &form).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["hub_id"], t.hub());
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["token_type"], "bearer");
    let scopes: Vec<&str> = body["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        [
            "oauth",
            "crm.objects.deals.read",
            "crm.objects.contacts.read",
            "crm.objects.custom.read"
        ]
    );
    assert!(body["refresh_token"].as_str().unwrap().starts_with("na1-"));
    let access = body["access_token"].as_str().unwrap();
    let deals = t
        .request(reqwest::Method::GET, "/crm/v3/objects/deals", None, access)
        .await;
    assert_eq!(deals.status(), StatusCode::OK);
    // owners were not granted
    let owners = t
        .request(reqwest::Method::GET, "/crm/v3/owners", None, access)
        .await;
    assert_eq!(owners.status(), StatusCode::FORBIDDEN);

    let (status, again) = token_form(&t, "v1", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["status"], "BAD_AUTH_CODE");
    assert!(
        again.get("error").is_none(),
        "v1 errors keep the legacy shape only"
    );
}

#[tokio::test]
async fn authorize_errors_answer_as_hubspot_does() {
    let t = start().await;
    let base = &t.portal.base_url;
    let redirect: String =
        url::form_urlencoded::byte_serialize(t.portal.redirect_uri.as_bytes()).collect();
    for (query, expected) in [
        (
            format!("client_id=nope&redirect_uri={redirect}&scope=oauth"),
            "client ID is invalid",
        ),
        (
            format!(
                "client_id={}&redirect_uri=http%3A%2F%2Fevil.example&scope=oauth",
                t.portal.client_id
            ),
            "redirect URL",
        ),
        (
            format!(
                "client_id={}&redirect_uri={redirect}&scope=crm.objects.deals.write",
                t.portal.client_id
            ),
            "invalid scope",
        ),
    ] {
        let r = t
            .http
            .get(format!("{base}/oauth/authorize?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(r.text().await.unwrap().contains(expected), "{query}");
    }
}

#[tokio::test]
async fn tier_gated_scopes_fail_when_required_and_drop_when_optional() {
    let t = start().await;
    let pro = t.control().add_portal(NewPortal {
        tier: Tier::Professional,
        seed: Some(3),
        records_per_table: Some(10),
    });
    assert!(!pro.scopes.contains(&"crm.objects.custom.read".to_string()));

    let failed = authorize(
        &t,
        "crm.objects.deals.read crm.objects.custom.read",
        "",
        pro.hub_id,
    )
    .await;
    let q = query_of(failed.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "invalid_scope");
    assert_eq!(q["state"], "xyz-1");

    let ok = authorize(
        &t,
        "crm.objects.deals.read",
        "crm.objects.custom.read crm.objects.goals.read",
        pro.hub_id,
    )
    .await;
    let q = query_of(ok.headers()["location"].to_str().unwrap());
    let (_, body) = token_form(
        &t,
        "v3",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &t.portal.client_id),
            ("client_secret", &t.portal.client_secret),
            ("redirect_uri", &t.portal.redirect_uri),
            ("code", &q["code"]),
        ],
    )
    .await;
    let scopes: Vec<&str> = body["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        ["oauth", "crm.objects.deals.read", "crm.objects.goals.read"]
    );

    let err = t.control().install(
        pro.hub_id,
        &InstallRequest {
            scopes: vec!["crm.schemas.custom.read".into()],
            optional_scopes: vec![],
        },
    );
    assert!(err.is_err());
}

#[tokio::test]
async fn refresh_errors_and_v3_shape() {
    let t = start().await;
    let (status, body) = refresh_grant(&t, "v3", "na1-nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());
    let (status, body) = token_form(
        &t,
        "2026-03",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &t.portal.client_id),
            ("client_secret", "wrong"),
            ("refresh_token", &t.portal.refresh_token),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client");
    // a refresh returns the same refresh token
    let (status, body) = refresh_grant(&t, "v3", &t.portal.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["refresh_token"], t.portal.refresh_token.as_str());
    assert_eq!(body["token_use"], "access_token");
}

#[tokio::test]
async fn expired_unknown_and_missing_tokens_get_401s() {
    let t = start().await;
    let expired = t
        .control()
        .mint_token(
            t.hub(),
            &MintRequest {
                scopes: None,
                lifetime_secs: Some(0),
            },
        )
        .unwrap()
        .access_token;
    let r = t
        .request(
            reqwest::Method::GET,
            "/crm/v3/objects/deals",
            None,
            &expired,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION");
    assert!(
        body["context"]["expire time"][0]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let r = t
        .request(
            reqwest::Method::GET,
            "/crm/v3/objects/deals",
            None,
            "garbage",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["x-hubspot-auth-failure"], "401 Unauthorized");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "INVALID_AUTHENTICATION");

    let r = t
        .http
        .get(t.url("/crm/v3/objects/deals"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // a token in an impossible format (quoted, with a space) meets Cloudflare's 530, not
    // HubSpot's JSON 401 (API.md §18.24)
    for malformed in [format!("\"{}\"", t.token), format!("{} x", t.token)] {
        let r = t
            .request(
                reqwest::Method::GET,
                "/crm/v3/objects/deals",
                None,
                &malformed,
            )
            .await;
        assert_eq!(r.status().as_u16(), 530, "{malformed}");
        let text = r.text().await.unwrap();
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "not JSON: {text}"
        );
    }
    assert_eq!(t.control().counters().requests["list"][&530], 2);
}

#[tokio::test]
async fn short_token_lifetimes_expire_in_real_time() {
    let mut config = crate::helpers::small_config();
    config.token_lifetime_secs = 1;
    let t = crate::helpers::start_with(config).await;
    assert_eq!(
        t.get("/crm/v3/objects/deals").await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = t.get("/crm/v3/objects/deals").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION");
    let fresh = refresh(&t.http, &t.portal).await;
    assert_eq!(
        t.request(reqwest::Method::GET, "/crm/v3/objects/deals", None, &fresh)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn missing_scopes_name_the_required_ones() {
    let t = start().await;
    let token = t.token_with(&["crm.objects.contacts.read"]);
    let r = t
        .request(reqwest::Method::GET, "/crm/v3/objects/deals", None, &token)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "MISSING_SCOPES");
    assert_eq!(
        body["errors"][0]["context"]["requiredGranularScopes"][0],
        "crm.objects.deals.read"
    );
    // engagements open with the contacts scope (API.md §1.7)
    assert_eq!(
        t.request(
            reqwest::Method::GET,
            "/crm/v3/objects/meetings",
            None,
            &token
        )
        .await
        .status(),
        StatusCode::OK
    );
    // line items accept e-commerce as an alternative
    let token = t.token_with(&["e-commerce"]);
    assert_eq!(
        t.request(
            reqwest::Method::GET,
            "/crm/v3/objects/line_items",
            None,
            &token
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        t.request(reqwest::Method::GET, "/crm/v3/schemas", None, &token)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn introspection_and_revocation() {
    let t = start().await;
    let info = t
        .get_json(&format!("/oauth/v1/access-tokens/{}", t.token), 200)
        .await;
    assert_eq!(info["hub_id"], t.hub());
    assert!(info["scopes"].as_array().unwrap().len() > 5);
    assert!(info["expires_in"].as_i64().unwrap() > 1700);
    assert_eq!(
        t.get(&format!("/oauth/v1/access-tokens/{}", "nope"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let info = t
        .get_json(
            &format!("/oauth/v1/refresh-tokens/{}", t.portal.refresh_token),
            200,
        )
        .await;
    assert_eq!(info["client_id"], t.portal.client_id.as_str());
    assert_eq!(info["token_type"], "refresh");

    let introspect = |token: String| {
        let t = &t;
        async move {
            let r = t
                .http
                .post(t.url("/oauth/v3/token/introspect"))
                .form(&[
                    ("client_id", t.portal.client_id.as_str()),
                    ("client_secret", t.portal.client_secret.as_str()),
                    ("token", token.as_str()),
                ])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let active = introspect(t.token.clone()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["hub_id"], t.hub());
    assert_eq!(
        introspect("nope".into()).await,
        serde_json::json!({"active": false})
    );

    // deleting the refresh token leaves issued access tokens working until they expire
    let deleted = t
        .http
        .delete(t.url(&format!(
            "/oauth/v1/refresh-tokens/{}",
            t.portal.refresh_token
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.get("/crm/v3/objects/deals").await.status(),
        StatusCode::OK
    );
    let (status, body) = refresh_grant(&t, "v1", &t.portal.refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
}

#[tokio::test]
async fn uninstall_kills_every_token_and_v3_revoke_works() {
    let t = start().await;
    let install = t
        .control()
        .install(
            t.hub(),
            &InstallRequest {
                scopes: vec!["crm.objects.deals.read".into()],
                optional_scopes: vec![],
            },
        )
        .unwrap();
    let revoked = t
        .http
        .post(t.url("/oauth/v3/token/revoke"))
        .form(&[
            ("client_id", t.portal.client_id.as_str()),
            ("client_secret", t.portal.client_secret.as_str()),
            ("token", install.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let (status, _) = refresh_grant(&t, "v3", &install.refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    t.control().uninstall(t.hub()).unwrap();
    let r = t.get("/crm/v3/objects/deals").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = refresh_grant(&t, "v1", &t.portal.refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
}
