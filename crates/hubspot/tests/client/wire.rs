//! Request shapes, headers and failure handling, checked with wiremock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use hubsync_core::search::{Filter, FilterGroup, Operator, SearchRequest, Sort, SortDirection};
use hubsync_hubspot::{
    AccessToken, ClientSecret, Error, HubSpotClient, ListRequest, OAuthConfig, PortalClient,
    RefreshToken, RefreshTokenListener, StaticToken, TokenProvider,
};
use serde_json::json;
use wiremock::matchers::{
    bearer_token, body_partial_json, body_string_contains, header, method, path, query_param,
};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{CapturedLogs, quick_config, record};

fn static_portal(server: &MockServer) -> (HubSpotClient, PortalClient) {
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let portal = client.portal(Arc::new(StaticToken(AccessToken::new(
        "static-token".into(),
    ))));
    (client, portal)
}

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

fn deals_page(ids: &[&str], next: Option<&str>) -> serde_json::Value {
    let results: Vec<_> = ids
        .iter()
        .map(|id| {
            record(
                id,
                json!({"hs_object_id": id, "dealname": format!("deal {id}")}),
            )
        })
        .collect();
    match next {
        Some(after) => json!({"results": results, "paging": {"next": {"after": after}}}),
        None => json!({"results": results}),
    }
}

#[tokio::test]
async fn list_sends_bearer_token_and_hubspot_query_shape() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/deals"))
        .and(bearer_token("static-token"))
        .and(header("accept", "application/json"))
        .and(query_param("limit", "100"))
        .and(query_param("properties", "dealname,amount"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-HubSpot-Correlation-Id", "corr-1")
                .set_body_json(deals_page(&["1", "2"], Some("cursor-2"))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server);

    let page = portal
        .list_objects_page(
            &ListRequest {
                object_type: "deals".into(),
                properties: vec!["dealname".into(), "amount".into()],
                archived: false,
            },
            None,
        )
        .await
        .unwrap();

    assert_eq!(page.records.len(), 2);
    assert_eq!(page.records[1].property("dealname"), Some("deal 2"));
    assert_eq!(page.next_after.as_deref(), Some("cursor-2"));
}

#[tokio::test]
async fn long_property_lists_are_split_and_merged_by_id() {
    let server = MockServer::start().await;
    // Answers with the requested properties only, so the merge is visible.
    struct EchoProperties;
    impl Respond for EchoProperties {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let names: Vec<String> = request
                .url
                .query_pairs()
                .filter(|(k, _)| k == "properties")
                .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
                .collect();
            let props = |id: &str| {
                let mut map = serde_json::Map::new();
                for name in &names {
                    map.insert(name.clone(), json!(format!("{id}:{name}")));
                }
                serde_json::Value::Object(map)
            };
            ResponseTemplate::new(200).set_body_json(json!({
                "results": [record("1", props("1")), record("2", props("2"))],
                "paging": {"next": {"after": "2"}}
            }))
        }
    }
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(EchoProperties)
        .mount(&server)
        .await;
    let mut config = quick_config(&server.uri());
    config.max_url_length = 600;
    let client = HubSpotClient::new(config).unwrap();
    let portal = client.portal(Arc::new(StaticToken(AccessToken::new("t".into()))));
    let properties: Vec<String> = (0..120)
        .map(|i| format!("custom_property_{i:03}"))
        .collect();

    let page = portal
        .list_objects_page(
            &ListRequest {
                object_type: "contacts".into(),
                properties: properties.clone(),
                archived: false,
            },
            None,
        )
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert!(requests.len() > 1, "the property list must be split");
    assert!(requests.iter().all(|r| r.url.as_str().len() <= 600));
    assert_eq!(page.records.len(), 2);
    for record in &page.records {
        for name in &properties {
            assert_eq!(
                record.property(name),
                Some(format!("{}:{name}", record.id).as_str())
            );
        }
    }
}

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
    let (client, portal) = static_portal(&server);

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
    let (_, portal) = static_portal(&server);

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
    let mut config = quick_config(&server.uri());
    config.request_timeout_ms = 300;
    let client = HubSpotClient::new(config).unwrap();
    let portal = client.portal(Arc::new(StaticToken(AccessToken::new("t".into()))));

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
    let mut config = quick_config(&server.uri());
    config.request_timeout_ms = 200;
    config.retry.max_attempts = 2;
    let client = HubSpotClient::new(config).unwrap();
    let portal = client.portal(Arc::new(StaticToken(AccessToken::new("t".into()))));

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
    let (client, portal) = static_portal(&server);

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
    let (client, portal) = static_portal(&server);

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
        let (_, portal) = static_portal(&server);

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
async fn search_sends_the_built_body_and_pages_by_last_id() {
    let server = MockServer::start().await;
    let page = |ids: &[&str], more: bool| {
        let results: Vec<_> = ids
            .iter()
            .map(|id| record(id, json!({"hs_object_id": id})))
            .collect();
        let mut body = json!({"total": 3, "results": results});
        if more {
            body["paging"] = json!({"next": {"after": "2"}});
        }
        body
    };
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({"filterGroups": [{"filters": [
            {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}
        ]}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["5", "9"], true)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .and(body_partial_json(json!({"filterGroups": [{"filters": [
            {"propertyName": "hs_object_id", "operator": "GT", "value": "9"}
        ]}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["12"], false)))
        .expect(1)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server);
    let build = |cursor: Option<&str>| SearchRequest {
        filter_groups: vec![FilterGroup {
            filters: vec![Filter {
                property_name: "hs_object_id".into(),
                operator: Operator::Gt,
                value: Some(cursor.unwrap_or("0").to_owned()),
                high_value: None,
                values: None,
            }],
        }],
        sorts: vec![Sort {
            property_name: "hs_object_id".into(),
            direction: SortDirection::Ascending,
        }],
        properties: vec![],
        limit: 2,
        after: None,
    };

    let pages: Vec<_> = portal.search("deals", build).try_collect().await.unwrap();

    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].total, 3);
    assert_eq!(pages[0].next_cursor.as_deref(), Some("9"));
    assert_eq!(pages[1].next_cursor, None);
    let requests = server.received_requests().await.unwrap();
    for request in requests {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert!(
            body.get("after").is_none(),
            "search must never send after: {body}"
        );
    }
}

#[tokio::test]
async fn search_refuses_a_body_with_an_offset_and_a_cursor_that_does_not_move() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 5, "results": [record("3", json!({}))], "paging": {"next": {"after": "1"}}
        })))
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server);
    let body = SearchRequest {
        filter_groups: vec![],
        sorts: vec![],
        properties: vec![],
        limit: 1,
        after: Some("100".into()),
    };
    assert!(matches!(
        portal.search_page("deals", &body).await,
        Err(Error::InvalidRequest(_))
    ));

    // A builder that ignores the cursor gets the same page again.
    let ignoring = |_cursor: Option<&str>| SearchRequest {
        after: None,
        ..body.clone()
    };
    let result: Result<Vec<_>, _> = portal.search("deals", ignoring).try_collect().await;
    assert!(matches!(result, Err(Error::Protocol(_))), "{result:?}");
}

#[tokio::test]
async fn batch_read_returns_found_records_and_missing_ids_of_a_207() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/read"))
        .and(body_partial_json(
            json!({"inputs": [{"id": "1"}, {"id": "999"}], "properties": ["email"]}),
        ))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [record("1", json!({"email": "a@example.com"}))],
            "numErrors": 1,
            "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                        "message": "Could not get some CONTACT objects",
                        "context": {"ids": ["999"]}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server);

    let read = portal
        .batch_read(
            "contacts",
            &["1".into(), "999".into()],
            &["email".into()],
            false,
        )
        .await
        .unwrap();

    assert_eq!(read.records.len(), 1);
    assert_eq!(read.records[0].property("email"), Some("a@example.com"));
    assert_eq!(read.missing_ids, vec!["999".to_string()]);
}

#[tokio::test]
async fn batch_read_splits_more_than_100_ids() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/batch/read"))
        .respond_with(|request: &Request| {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let inputs = body["inputs"].as_array().unwrap();
            assert!(inputs.len() <= 100, "{} inputs in one call", inputs.len());
            let results: Vec<_> = inputs
                .iter()
                .map(|input| record(input["id"].as_str().unwrap(), json!({})))
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "COMPLETE", "results": results}))
        })
        .expect(3)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server);
    let ids: Vec<String> = (1..=250).map(|i| i.to_string()).collect();

    let read = portal.batch_read("deals", &ids, &[], false).await.unwrap();

    assert_eq!(read.records.len(), 250);
}

#[tokio::test]
async fn associations_follow_each_input_and_read_numeric_ids() {
    let server = MockServer::start().await;
    let assoc_type = json!([{"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}]);
    // First call: input 10 has a second page, input 11 has none (207).
    Mock::given(method("POST"))
        .and(path("/crm/v4/associations/deals/companies/batch/read"))
        .and(body_partial_json(
            json!({"inputs": [{"id": "10"}, {"id": "11"}]}),
        ))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{"from": {"id": "10"},
                         "to": [{"toObjectId": 5790939450_u64, "associationTypes": assoc_type}],
                         "paging": {"next": {"after": "MC0yLTc1MDI%3D", "link": "x"}}}],
            "numErrors": 1,
            "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": "No company is associated with deal 11.",
                        "context": {"fromObjectId": ["11"]}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v4/associations/deals/companies/batch/read"))
        .and(body_partial_json(
            json!({"inputs": [{"id": "10", "after": "MC0yLTc1MDI%3D"}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{"from": {"id": "10"},
                         "to": [{"toObjectId": "77", "associationTypes": assoc_type}]}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server);

    let batch = portal
        .associations("deals", "companies", &["10".into(), "11".into()])
        .await
        .unwrap();

    let targets: Vec<_> = batch
        .associations
        .iter()
        .map(|a| (a.from_id.as_str(), a.to_id.as_str()))
        .collect();
    assert_eq!(targets, vec![("10", "5790939450"), ("10", "77")]);
    assert_eq!(batch.associations[0].types[0].type_id, 5);
    assert!(batch.errors.is_empty(), "no associations is not an error");
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
    let grant = hubsync_hubspot::TokenGrant {
        access_token: AccessToken::new("access-1".into()),
        refresh_token: Some(RefreshToken::new("refresh-1".into())),
        expires_in: Duration::from_secs(1800),
        hub_id: Some(62515),
        scopes: None,
        user_id: None,
    };
    let provider =
        Arc::new(TokenProvider::from_grant(app, &grant, tokio::time::Instant::now()).unwrap());
    let portal = client.portal(provider.clone());

    portal.pipelines("deals").await.unwrap();

    assert_eq!(provider.refresh_count(), 1);
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
    let portal = client.portal(Arc::new(
        app.token_provider(RefreshToken::new("revoked".into())),
    ));

    for _ in 0..3 {
        let error = portal.schemas().await.unwrap_err();
        assert!(
            matches!(&error, Error::ReconnectRequired { reason, .. } if reason == "BAD_REFRESH_TOKEN"),
            "{error:?}"
        );
        assert!(!error.is_retryable());
    }
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
    let (_, portal) = static_portal(&server);
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
async fn dated_paths_are_a_configuration() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/associations/2026-03/deals/companies/batch/read"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "COMPLETE", "results": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/owners/2026-03"))
        .and(query_param("archived", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = quick_config(&server.uri());
    config.paths = hubsync_hubspot::ApiPaths::dated("2026-03");
    let client = HubSpotClient::new(config).unwrap();
    let portal = client.portal(Arc::new(StaticToken(AccessToken::new("t".into()))));

    portal
        .associations("deals", "companies", &["1".into()])
        .await
        .unwrap();
    portal.owners(true).await.unwrap();
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
    let mut config = quick_config(&server.uri());
    config.rate.search_max = 4;
    let client = HubSpotClient::new(config).unwrap();
    let portal = client.portal(Arc::new(StaticToken(AccessToken::new("t".into()))));
    let body = SearchRequest {
        filter_groups: vec![],
        sorts: vec![],
        properties: vec![],
        limit: 10,
        after: None,
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
