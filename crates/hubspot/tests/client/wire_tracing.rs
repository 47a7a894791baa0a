//! What the spans of calls say: method, endpoint family, status, attempt and HubSpot's
//! correlation id, for API calls and OAuth calls alike.

use hubsync_hubspot::{ClientSecret, HubSpotClient, OAuthConfig, RefreshToken};
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{CapturedLogs, quick_config, static_portal};

/// A subscriber that writes every span's fields when the span closes.
fn capture() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}

/// The lines of the log that close a span of this name.
fn closed(logs: &CapturedLogs, span: &str) -> Vec<String> {
    logs.text()
        .lines()
        .filter(|line| line.contains(&format!("{span}{{")) && line.contains("close"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_api_call_span_names_method_family_status_attempt_and_correlation_id() {
    let (logs, _guard) = capture();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/pipelines/deals"))
        .respond_with(
            ResponseTemplate::new(503).insert_header("X-HubSpot-Correlation-Id", "corr-first"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/pipelines/deals"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-HubSpot-Correlation-Id", "corr-second")
                .set_body_json(json!({"results": []})),
        )
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server, |_| {});

    portal.pipelines("deals").await.unwrap();

    let spans = closed(&logs, "hubspot.call");
    assert_eq!(spans.len(), 1, "{}", logs.text());
    let span = &spans[0];
    for field in [
        "method=GET",
        "family=\"pipelines\"",
        "status=200",
        "attempt=2",
        "correlation_id=\"corr-second\"",
    ] {
        assert!(span.contains(field), "{field} missing: {span}");
    }
    // The failed attempt is logged with its own correlation id.
    assert!(
        logs.text()
            .lines()
            .any(|line| line.contains("retrying") && line.contains("corr-first")),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn an_oauth_call_span_names_status_attempt_and_correlation_id() {
    let (logs, _guard) = capture();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(
            ResponseTemplate::new(502).insert_header("X-HubSpot-Correlation-Id", "corr-down"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-HubSpot-Correlation-Id", "corr-token")
                .set_body_json(json!({
                    "token_type": "bearer", "access_token": "a", "refresh_token": "r",
                    "expires_in": 1800
                })),
        )
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let app = client
        .oauth_app(OAuthConfig::new(
            "client-1",
            ClientSecret::new("client-secret-1".into()),
            "http://localhost:3000/callback",
        ))
        .unwrap();

    app.refresh(&RefreshToken::new("r".into())).await.unwrap();

    let spans = closed(&logs, "hubspot.oauth.refresh");
    assert_eq!(spans.len(), 1, "{}", logs.text());
    let span = &spans[0];
    for field in [
        "method=\"POST\"",
        "family=\"oauth\"",
        "status=200",
        "attempt=2",
        "correlation_id=\"corr-token\"",
    ] {
        assert!(span.contains(field), "{field} missing: {span}");
    }
}
