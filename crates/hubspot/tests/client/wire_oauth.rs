//! OAuth with wiremock: the install URL, refresh (single flight, after a 401, rotated,
//! revoked), introspection, and secrets kept out of logs and errors.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hubsync_hubspot::{
    AccessToken, ClientSecret, Error, HubSpotClient, OAuthConfig, RefreshToken,
    RefreshTokenListener, TokenProvider,
};
use serde_json::json;
use wiremock::matchers::{bearer_token, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{CapturedLogs, quick_config};

fn oauth_config(server: &MockServer) -> OAuthConfig {
    let mut config = OAuthConfig::new(
        "client-1",
        ClientSecret::new("client-secret-1".into()),
        "http://localhost:3000/callback",
    );
    config.authorize_url = format!("{}/oauth/authorize", server.uri());
    config
}

fn token_body(access: &str, refresh: &str, expires_in: u64) -> serde_json::Value {
    json!({
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": expires_in,
        "hub_id": 62515,
        "scopes": ["oauth", "crm.objects.deals.read"],
        "user_id": 7
    })
}

#[tokio::test]
async fn install_url_carries_scopes_optional_scopes_and_state() {
    let server = MockServer::start().await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();

    let install = app.install_url(
        &["oauth", "crm.objects.deals.read"],
        &["crm.objects.custom.read", "crm.objects.goals.read"],
    );

    let pairs: std::collections::HashMap<_, _> = install.url.query_pairs().into_owned().collect();
    assert_eq!(install.url.path(), "/oauth/authorize");
    assert_eq!(pairs["client_id"], "client-1");
    assert_eq!(pairs["redirect_uri"], "http://localhost:3000/callback");
    assert_eq!(pairs["scope"], "oauth crm.objects.deals.read");
    assert_eq!(
        pairs["optional_scope"],
        "crm.objects.custom.read crm.objects.goals.read"
    );
    assert_eq!(&pairs["state"], install.state.secret());
    assert!(install.state.secret().len() >= 16);
    assert!(
        install
            .url
            .as_str()
            .contains("scope=oauth%20crm.objects.deals.read"),
        "{}",
        install.url
    );
}

/// The grant of an install: access token `access-1`, refresh token `refresh-1`.
fn first_grant(expires_in: Duration) -> hubsync_hubspot::TokenGrant {
    hubsync_hubspot::TokenGrant {
        access_token: AccessToken::new("access-1".into()),
        refresh_token: Some(RefreshToken::new("refresh-1".into())),
        expires_in,
        hub_id: Some(62515),
        scopes: None,
        user_id: None,
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=refresh-1"))
        .and(body_string_contains("client_secret=client-secret-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(
            "access-2",
            "refresh-1",
            1800,
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("access-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status": "error", "category": "EXPIRED_AUTHENTICATION",
            "message": "The OAuth token used to make this call expired 0 second(s) ago."
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("access-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .expect(1)
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();
    let grant = first_grant(Duration::from_secs(1800));
    let provider =
        Arc::new(TokenProvider::from_grant(app, &grant, tokio::time::Instant::now()).unwrap());
    let portal = client.portal(provider.clone());

    portal.pipelines("deals").await.unwrap();

    assert_eq!(provider.refresh_count(), 1);
}

#[tokio::test]
async fn a_token_inside_the_refresh_margin_is_refreshed_before_the_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .and(body_string_contains("refresh_token=refresh-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(
            "access-2",
            "refresh-1",
            1800,
        )))
        .expect(1)
        .mount(&server)
        .await;
    // No 401 is mounted: a call sent with the old token would find no mock.
    Mock::given(method("GET"))
        .and(path("/crm/v3/pipelines/deals"))
        .and(bearer_token("access-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .expect(1)
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();
    let grant = first_grant(Duration::from_secs(60));
    // 5 s of life left, inside the margin (a tenth of 60 s): due for refresh, though
    // HubSpot would still accept it. A short lifetime keeps the Instant arithmetic
    // safe on a freshly booted machine.
    let issued_at = tokio::time::Instant::now() - Duration::from_secs(55);
    let provider = Arc::new(TokenProvider::from_grant(app, &grant, issued_at).unwrap());
    let portal = client.portal(provider.clone());

    portal.pipelines("deals").await.unwrap();

    assert_eq!(provider.refresh_count(), 1);
    assert_eq!(
        client.stats().requests,
        2,
        "one refresh and one call, no retry"
    );
}

#[tokio::test]
async fn many_waiting_tasks_share_one_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body("access-9", "refresh-1", 1800))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("access-9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .expect(20)
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();
    let provider = Arc::new(app.token_provider(RefreshToken::new("refresh-1".into())));
    let portal = client.portal(provider.clone());

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let portal = portal.clone();
            tokio::spawn(async move { portal.pipelines("deals").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    assert_eq!(provider.refresh_count(), 1);
}

#[tokio::test]
async fn a_revoked_refresh_token_requires_reconnecting_and_is_asked_once() {
    struct Reasons(std::sync::Mutex<Vec<String>>);
    impl RefreshTokenListener for Reasons {
        fn refresh_token_rotated<'a>(&'a self, _: &'a RefreshToken) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
        fn reconnect_required<'a>(&'a self, reason: &'a str) -> BoxFuture<'a, ()> {
            self.0.lock().unwrap().push(reason.to_owned());
            Box::pin(async {})
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
            "correlationId": "c-oauth"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();
    let reasons = Arc::new(Reasons(Default::default()));
    let provider = app
        .token_provider(RefreshToken::new("revoked".into()))
        .with_listener(reasons.clone());
    let portal = client.portal(Arc::new(provider));

    for _ in 0..3 {
        let error = portal.schemas().await.unwrap_err();
        assert!(
            matches!(&error, Error::ReconnectRequired { reason, correlation_id: Some(c) }
                if reason == "BAD_REFRESH_TOKEN" && c == "c-oauth"),
            "{error:?}"
        );
        assert!(!error.is_retryable());
    }
    assert_eq!(
        *reasons.0.lock().unwrap(),
        vec!["BAD_REFRESH_TOKEN".to_string()]
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_is_reported() {
    struct Recorder(std::sync::Mutex<Vec<String>>);
    impl RefreshTokenListener for Recorder {
        fn refresh_token_rotated<'a>(&'a self, new_token: &'a RefreshToken) -> BoxFuture<'a, ()> {
            self.0.lock().unwrap().push(new_token.secret().clone());
            Box::pin(async {})
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("a", "refresh-2", 1800)))
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();
    let recorder = Arc::new(Recorder(Default::default()));
    let provider = app
        .token_provider(RefreshToken::new("refresh-1".into()))
        .with_listener(recorder.clone());

    provider.current().await.unwrap();

    assert_eq!(*recorder.0.lock().unwrap(), vec!["refresh-2".to_string()]);
}

#[tokio::test]
async fn token_endpoint_outages_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_raw("<html>down</html>", "text/html"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("a", "r", 1800)))
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();

    let grant = app.refresh(&RefreshToken::new("r".into())).await.unwrap();

    assert_eq!(grant.access_token.secret(), "a");
    assert_eq!(grant.hub_id, Some(62515));
    assert_eq!(
        grant.scopes.as_deref(),
        Some(&["oauth".to_string(), "crm.objects.deals.read".to_string()][..])
    );
    assert_eq!(client.stats().requests, 3);
}

#[tokio::test]
async fn tokens_and_secrets_never_reach_logs_or_errors() {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(
            "secret-access",
            "secret-refresh-2",
            1800,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/oauth/v1/access-tokens/secret-access"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/pipelines/deals"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"category": "INVALID_AUTHENTICATION"})),
        )
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();
    let provider = Arc::new(
        app.token_provider(RefreshToken::new("secret-refresh-1".into()))
            .with_listener(Arc::new(NoopListener)),
    );
    let portal = client.portal(provider.clone());

    let api_error = portal.pipelines("deals").await.unwrap_err();
    let introspect_error = app
        .introspect(&AccessToken::new("secret-access".into()))
        .await
        .unwrap_err();

    assert!(
        matches!(api_error, Error::Unauthorized { .. }),
        "{api_error:?}"
    );
    assert!(
        matches!(introspect_error, Error::Server { status: 500, .. }),
        "{introspect_error:?}"
    );
    let everything = format!(
        "{}\n{api_error:?}\n{api_error}\n{introspect_error:?}\n{introspect_error}\n{provider:?}\n{portal:?}\n{app:?}\n{:?}",
        logs.text(),
        oauth_config(&server),
    );
    assert!(
        logs.text().contains("hubspot.call"),
        "spans are logged: {}",
        logs.text()
    );
    for secret in ["secret-access", "secret-refresh", "client-secret-1"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
}

struct NoopListener;
impl RefreshTokenListener for NoopListener {
    fn refresh_token_rotated<'a>(&'a self, _new_token: &'a RefreshToken) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

#[tokio::test]
async fn v3_introspection_posts_a_form_and_reads_active() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v3/token/introspect"))
        .and(body_string_contains("token=live-token"))
        .and(body_string_contains("token_type_hint=access_token"))
        .and(body_string_contains("client_id=client-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "active": true, "hub_id": 4242, "scopes": ["oauth", "crm.objects.deals.read"],
            "expires_in": 1700, "token_use": "access_token", "client_id": "client-1"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/v3/token/introspect"))
        .and(body_string_contains("token=dead-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"active": false})))
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let mut config = oauth_config(&server);
    config.introspection = hubsync_hubspot::Introspection::v3();
    let app = client.oauth_app(config).unwrap();

    let info = app
        .introspect(&AccessToken::new("live-token".into()))
        .await
        .unwrap();
    let dead = app
        .introspect(&AccessToken::new("dead-token".into()))
        .await
        .unwrap_err();

    assert_eq!(info.hub_id, 4242);
    assert_eq!(info.scopes, vec!["oauth", "crm.objects.deals.read"]);
    assert_eq!(info.expires_in, Some(Duration::from_secs(1700)));
    assert!(matches!(dead, Error::Unauthorized { .. }), "{dead:?}");
}

#[tokio::test]
async fn an_absurd_token_lifetime_is_not_believed() {
    let server = MockServer::start().await;
    let mut body = token_body("access-forever", "refresh-1", 0);
    body["expires_in"] = json!(u64::MAX);
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client.oauth_app(oauth_config(&server)).unwrap();
    let provider = app.token_provider(RefreshToken::new("refresh-1".into()));

    // An expiry past what an Instant holds was an overflow panic.
    let token = provider.current().await.unwrap();
    let again = provider.current().await.unwrap();

    assert_eq!(token.secret(), "access-forever");
    assert_eq!(again.secret(), "access-forever");
    assert_eq!(provider.refresh_count(), 1);
}
