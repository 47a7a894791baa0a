//! Failures of API calls with wiremock: 429 policies and Retry-After, the governor
//! learning from headers, hangs, truncated bodies, 5xx pages, permanent errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hubsync_core::search::SearchRequest;
use hubsync_hubspot::Error;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::static_portal;

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/properties/deals"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({
                    "status": "error", "errorType": "RATE_LIMIT",
                    "policyName": "TEN_SECONDLY_ROLLING", "message": "You have reached your ten_secondly_rolling limit."
                })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/properties/deals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            {"name": "amount", "label": "Amount", "type": "number", "fieldType": "number"}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let (client, portal) = static_portal(&server, |_| {});

    let started = Instant::now();
    let properties = portal.properties("deals", false).await.unwrap();

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(properties[0].name, "amount");
    assert_eq!(client.stats().rate_limited, 1);
}

#[tokio::test]
async fn daily_limit_is_a_typed_error_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "status": "error", "errorType": "RATE_LIMIT", "policyName": "DAILY",
            "correlationId": "c-daily"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server, |_| {});

    let error = portal.pipelines("deals").await.unwrap_err();

    assert!(matches!(error, Error::DailyLimit { .. }), "{error:?}");
    assert_eq!(error.correlation_id(), Some("c-daily"));
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"results": []}))
                .set_delay(Duration::from_secs(5)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .mount(&server)
        .await;
    let (client, portal) = static_portal(&server, |config| {
        config.request_timeout_ms = 300;
    });

    let started = Instant::now();
    let schemas = portal.schemas().await.unwrap();

    assert!(schemas.is_empty());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(client.stats().timeouts, 1);
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn a_hang_that_persists_ends_as_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let (client, portal) = static_portal(&server, |config| {
        config.request_timeout_ms = 200;
        config.retry.max_attempts = 2;
    });

    let error = portal.schemas().await.unwrap_err();

    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn truncated_json_on_success_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"results": [{"id": "4"#, "application/json"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            {"id": "4", "email": "a@b.c", "firstName": "A", "archived": false}
        ]})))
        .mount(&server)
        .await;
    let (client, portal) = static_portal(&server, |_| {});

    let owners = portal.owners(false).await.unwrap();

    assert_eq!(owners.len(), 1);
    assert_eq!(client.stats().decode_errors, 1);
}

#[tokio::test]
async fn html_and_empty_server_errors_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502).set_body_raw("<html>Bad Gateway</html>", "text/html"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .with_priority(3)
        .mount(&server)
        .await;
    let (client, portal) = static_portal(&server, |_| {});

    portal.pipelines("deals").await.unwrap();

    assert_eq!(client.stats().server_errors, 2);
    assert_eq!(client.stats().requests, 3);
}

#[tokio::test]
async fn permanent_errors_are_sent_once() {
    for (status, body) in [
        (
            400,
            json!({"status": "error", "message": "There was a problem with the request.", "category": "VALIDATION_ERROR"}),
        ),
        (
            403,
            json!({"status": "error", "category": "MISSING_SCOPES", "errors": [{"context": {"requiredGranularScopes": ["crm.objects.deals.read"]}}]}),
        ),
        (
            404,
            json!({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Object not found."}),
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        let (_, portal) = static_portal(&server, |_| {});

        let error = portal.properties("deals", false).await.unwrap_err();

        let expected = match status {
            400 => matches!(error, Error::BadRequest { status: 400, .. }),
            403 => {
                matches!(&error, Error::MissingScopes { required, .. } if required == &["crm.objects.deals.read"])
            }
            _ => matches!(error, Error::NotFound { .. }),
        };
        assert!(expected, "{status}: {error:?}");
        server.verify().await;
    }
}

#[tokio::test]
async fn rate_limit_headers_slow_every_task_of_the_portal() {
    let server = MockServer::start().await;
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    Mock::given(method("GET"))
        .respond_with(move |_: &Request| {
            counter.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(200)
                .insert_header("X-HubSpot-RateLimit-Max", "10")
                .insert_header("X-HubSpot-RateLimit-Remaining", "9")
                .insert_header("X-HubSpot-RateLimit-Interval-Milliseconds", "1000")
                .set_body_json(json!({"results": []}))
        })
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server, |_| {});
    // The first answer teaches the governor: 10 per second, 9 kept for us.
    portal.pipelines("deals").await.unwrap();

    let started = Instant::now();
    let tasks: Vec<_> = (0..18)
        .map(|_| {
            let portal = portal.clone();
            tokio::spawn(async move { portal.pipelines("deals").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    // 1 + 18 = 19 requests at 9 per second cannot finish in under two windows.
    assert!(
        started.elapsed() >= Duration::from_millis(1_900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(served.load(Ordering::SeqCst), 19);
}

#[tokio::test]
async fn secondly_429_on_search_is_retried_after_a_pause() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "status": "error", "errorType": "RATE_LIMIT", "policyName": "SECONDLY",
            "message": "You have reached your secondly limit."
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 0, "results": []})))
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server, |config| {
        config.rate.search_max = 4;
    });
    let body = SearchRequest {
        filter_groups: vec![],
        sorts: vec![],
        properties: vec![],
        limit: 10,
    };

    let started = Instant::now();
    let page = portal.search_page("deals", &body).await.unwrap();

    assert_eq!(page.total, 0);
    // The search window was assumed full: the retry waited for it to pass.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_absurd_retry_after_neither_panics_nor_stalls_the_portal() {
    let server = MockServer::start().await;
    for (object_type, hint) in [("deals", "10000000000000000000"), ("contacts", "3600")] {
        Mock::given(method("GET"))
            .and(path(format!("/crm/v3/properties/{object_type}")))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", hint)
                    .set_body_json(json!({
                        "status": "error", "errorType": "RATE_LIMIT",
                        "policyName": "TEN_SECONDLY_ROLLING"
                    })),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/crm/v3/pipelines/deals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .expect(1)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server, |config| {
        config.retry.max_retry_after_ms = 300;
    });

    let started = Instant::now();
    let calls = async {
        let huge = portal.properties("deals", false).await.unwrap_err();
        let hour = portal.properties("contacts", false).await.unwrap_err();
        portal.pipelines("deals").await.unwrap();
        (huge, hour)
    };
    let (huge, hour) = tokio::time::timeout(Duration::from_secs(10), calls)
        .await
        .expect("the portal's calls go on after a hint longer than the retry bound");

    // Each hint is left to the caller (who can reschedule), not waited for here.
    assert!(matches!(huge, Error::RateLimited { .. }), "{huge:?}");
    assert_eq!(hour.retry_after(), Some(Duration::from_secs(3_600)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
