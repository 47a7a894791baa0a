//! Request shapes, headers and paging of the API calls, checked with wiremock.

use futures_util::TryStreamExt;
use hubsync_core::search::{Filter, FilterGroup, Operator, SearchRequest, Sort, SortDirection};
use hubsync_hubspot::{Error, ListRequest};
use serde_json::json;
use wiremock::matchers::{bearer_token, body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{record, static_portal};

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
    let (_, portal) = static_portal(&server, |_| {});

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
    let (_, portal) = static_portal(&server, |config| {
        config.max_url_length = 600;
    });
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
    let (_, portal) = static_portal(&server, |_| {});
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
async fn search_refuses_a_cursor_that_does_not_move() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 5, "results": [record("3", json!({}))], "paging": {"next": {"after": "1"}}
        })))
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server, |_| {});
    let body = SearchRequest {
        filter_groups: vec![],
        sorts: vec![],
        properties: vec![],
        limit: 1,
    };

    // A builder that ignores the cursor gets the same page again.
    let ignoring = |_cursor: Option<&str>| body.clone();
    let result: Result<Vec<_>, _> = portal.search("deals", ignoring).try_collect().await;
    assert!(matches!(result, Err(Error::Protocol(_))), "{result:?}");
}

#[tokio::test]
async fn batch_read_returns_found_records_and_missing_ids_of_a_207() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/read"))
        .and(body_partial_json(
            json!({"inputs": [{"id": "1"}, {"id": "2"}, {"id": "999"}], "properties": ["email"]}),
        ))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [record("1", json!({"email": "a@example.com"}))],
            "numErrors": 2,
            "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                        "message": "Could not get some CONTACT objects",
                        "context": {"ids": ["999"]}},
                       {"status": "error", "category": "INTERNAL_ERROR",
                        "message": "Could not read some objects",
                        "context": {"ids": ["2"]}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_, portal) = static_portal(&server, |_| {});

    let read = portal
        .batch_read(
            "contacts",
            &["1".into(), "2".into(), "999".into()],
            &["email".into()],
            false,
        )
        .await
        .unwrap();

    assert_eq!(read.records.len(), 1);
    assert_eq!(read.records[0].property("email"), Some("a@example.com"));
    // Only "not found" means missing; an id another error names is not a deletion.
    assert_eq!(read.missing_ids, vec!["999".to_string()]);
    assert_eq!(read.errors.len(), 1);
    assert_eq!(read.errors[0].context_values("ids"), vec!["2".to_string()]);
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
    let (_, portal) = static_portal(&server, |_| {});
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
    let (_, portal) = static_portal(&server, |_| {});

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
    let (_, portal) = static_portal(&server, |config| {
        config.paths = hubsync_hubspot::ApiPaths::dated("2026-03");
    });

    portal
        .associations("deals", "companies", &["1".into()])
        .await
        .unwrap();
    portal.owners(true).await.unwrap();
}
