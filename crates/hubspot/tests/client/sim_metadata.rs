//! Metadata and the dated API paths against the simulator.

use std::collections::BTreeSet;

use hubsync_core::search::{Filter, FilterGroup, Operator, SearchRequest};
use hubsync_hubspot::{ApiPaths, Introspection, ListRequest, RefreshToken};
use serde_json::Value;

use crate::helpers::{sim_oauth_config, small_sim_config, start_sim};

#[tokio::test]
async fn metadata_matches_the_portal() {
    let env = start_sim(small_sim_config(), |config| config.owners_page_size = 7).await;
    let hub = env.hub();

    let properties = env.portal.properties("deals", false).await.unwrap();
    let truth = env.control().properties(hub, "deals").unwrap();
    let live: BTreeSet<&str> = truth
        .iter()
        .filter(|p| p["archived"] == Value::Bool(false))
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let fetched: BTreeSet<&str> = properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(fetched, live);
    let owner = properties
        .iter()
        .find(|p| p.name == "hubspot_owner_id")
        .unwrap();
    assert_eq!(owner.referenced_object_type.as_deref(), Some("OWNER"));

    env.control()
        .archive_property(hub, "deals", "dealname")
        .unwrap();
    let archived = env.portal.properties("deals", true).await.unwrap();
    assert!(archived.iter().any(|p| p.name == "dealname" && p.archived));

    let pipelines = env.portal.pipelines("deals").await.unwrap();
    assert!(!pipelines.is_empty() && pipelines.iter().all(|p| !p.stages.is_empty()));

    let schemas = env.portal.schemas().await.unwrap();
    assert!(
        !schemas.is_empty(),
        "the generated portal has a custom object"
    );
    for schema in &schemas {
        assert!(
            schema.object_type_id.starts_with("2-"),
            "{}",
            schema.object_type_id
        );
        assert!(schema.primary_display_property.is_some());
        assert!(!schema.properties.is_empty());
    }

    let active = env.portal.owners(false).await.unwrap();
    let inactive = env.portal.owners(true).await.unwrap();
    let owners = env.control().owners(hub).unwrap();
    let expect = |archived: bool| -> BTreeSet<String> {
        owners
            .iter()
            .filter(|o| o["archived"] == Value::Bool(archived))
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(active.len() > 7, "more owners than one page");
    assert_eq!(
        active.iter().map(|o| o.id.clone()).collect::<BTreeSet<_>>(),
        expect(false)
    );
    assert_eq!(
        inactive
            .iter()
            .map(|o| o.id.clone())
            .collect::<BTreeSet<_>>(),
        expect(true)
    );
    assert!(inactive.iter().all(|o| o.archived && o.user_id.is_none()));
    env.sim.shutdown().await;
}

#[tokio::test]
async fn the_dated_2026_03_paths_work_end_to_end() {
    let env = start_sim(small_sim_config(), |config| {
        config.paths = ApiPaths::dated("2026-03")
    })
    .await;
    let hub = env.hub();
    let mut oauth = sim_oauth_config(&env.creds);
    oauth.token_path = "/oauth/2026-03/token".into();
    oauth.introspection = Introspection::Post {
        path: "/oauth/2026-03/token/introspect".into(),
    };
    let app = env.client.oauth_app(oauth).unwrap();
    let tokens =
        std::sync::Arc::new(app.token_provider(RefreshToken::new(env.creds.refresh_token.clone())));
    let portal = env.client.portal(tokens.clone());

    let access = tokens.current().await.unwrap();
    assert_eq!(app.introspect(&access).await.unwrap().hub_id, hub);
    assert!(
        !portal
            .properties("contacts", false)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!portal.pipelines("deals").await.unwrap().is_empty());
    portal.schemas().await.unwrap();
    assert!(!portal.owners(false).await.unwrap().is_empty());
    let page = portal
        .list_objects_page(
            &ListRequest {
                object_type: "deals".into(),
                properties: vec!["dealname".into()],
                archived: false,
            },
            None,
        )
        .await
        .unwrap();
    let mut ids: Vec<String> = page.records.iter().map(|r| r.id.clone()).collect();
    ids.push("999999999999".into());
    let read = portal
        .batch_read("deals", &ids, &["amount".into()], false)
        .await
        .unwrap();
    assert_eq!(read.records.len(), ids.len() - 1);
    assert_eq!(read.missing_ids, vec!["999999999999".to_string()]);
    let search = SearchRequest {
        filter_groups: vec![FilterGroup {
            filters: vec![Filter {
                property_name: "hs_object_id".into(),
                operator: Operator::Gt,
                value: Some("0".into()),
                high_value: None,
                values: None,
            }],
        }],
        sorts: vec![],
        properties: vec![],
        limit: 5,
    };
    assert!(portal.search_page("deals", &search).await.unwrap().total > 0);
    portal
        .associations("deals", "companies", &ids)
        .await
        .unwrap();
    let counters = env.control().counters();
    assert!(
        !counters
            .requests
            .values()
            .any(|by_status| by_status.contains_key(&404)),
        "{counters:?}"
    );

    // The v3 token endpoint's refusal (`invalid_grant`) also means reconnect.
    env.control().uninstall(hub).unwrap();
    let error = app
        .refresh(&RefreshToken::new(env.creds.refresh_token.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, hubsync_hubspot::Error::ReconnectRequired { .. }),
        "{error:?}"
    );
    env.sim.shutdown().await;
}
