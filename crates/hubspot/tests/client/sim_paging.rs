//! Paging against the simulator: a token that expires mid-loop, 600 properties in a
//! list, the 12,000-record same-millisecond cluster, associations paged per input.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use futures_util::TryStreamExt;
use hubspot_sim::{
    AssociationChange, BulkImport, GeneratorOptions, Latency, LatencyConfig, SimConfig,
};
use hubsync_core::search::{Filter, FilterGroup, Operator, SearchRequest, Sort, SortDirection};
use hubsync_hubspot::ListRequest;
use serde_json::{Map, Value, json};

use crate::helpers::{small_sim_config, start_sim};

fn live_ids(env: &crate::helpers::SimPortal, object_type: &str) -> BTreeSet<String> {
    env.control()
        .records(env.hub(), object_type, false)
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect()
}

#[tokio::test]
async fn a_token_expiring_mid_loop_loses_no_page() {
    let mut sim_config = small_sim_config();
    sim_config.records_per_table = 60;
    sim_config.token_lifetime_secs = 1;
    // Each page takes a while, so the loop outlives several tokens.
    sim_config.latency = LatencyConfig {
        default: Latency::default(),
        families: [(
            hubspot_sim::EndpointFamily::List,
            Latency {
                base_ms: 120,
                jitter_ms: 40,
            },
        )]
        .into_iter()
        .collect(),
        ..LatencyConfig::default()
    };
    let env = start_sim(sim_config, |config| config.list_page_size = 2).await;
    let request = ListRequest {
        object_type: "contacts".into(),
        properties: vec!["email".into(), "lastmodifieddate".into()],
        archived: false,
    };

    let started = std::time::Instant::now();
    let pages: Vec<_> = env
        .portal
        .list_objects(&request)
        .try_collect()
        .await
        .unwrap();

    let fetched: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.records.iter().map(|r| r.id.clone()))
        .collect();
    assert_eq!(fetched, live_ids(&env, "contacts"));
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the loop spans several token lifetimes"
    );
    assert!(
        env.tokens.refresh_count() >= 3,
        "{} refreshes",
        env.tokens.refresh_count()
    );
    let counters = env.control().counters();
    assert_eq!(
        counters.requests_of("list"),
        pages.len() as u64
            + counters
                .requests
                .get("list")
                .and_then(|m| m.get(&401))
                .copied()
                .unwrap_or(0),
        "every list request but refused-token ones returned a page: {counters:?}"
    );
    env.sim.shutdown().await;
}

#[tokio::test]
async fn a_list_over_600_properties_never_meets_a_414() {
    let env = start_sim(small_sim_config(), |_| {}).await;
    let hub = env.hub();
    let existing: Vec<String> = env
        .control()
        .properties(hub, "contacts")
        .unwrap()
        .iter()
        .filter(|p| p["archived"] == json!(false))
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    for i in existing.len()..620 {
        env.control()
            .add_property(
                hub,
                "contacts",
                json!({"name": format!("custom_survey_answer_number_{i:04}"), "type": "string", "fieldType": "text"}),
            )
            .unwrap();
    }
    let definitions = env.portal.properties("contacts", false).await.unwrap();
    assert!(definitions.len() >= 600, "{} properties", definitions.len());
    let names: Vec<String> = definitions.iter().map(|d| d.name.clone()).collect();
    // Values in the first and the last property, so both ends of the split are checked.
    let (first, last) = (names[0].clone(), names[names.len() - 1].clone());
    let target = env.control().records(hub, "contacts", false).unwrap()[0].id;
    let mut values = Map::new();
    values.insert(last.clone(), Value::from("from the last chunk"));
    env.control()
        .update_record(hub, "contacts", target, &values, None)
        .unwrap();

    let request = ListRequest {
        object_type: "contacts".into(),
        properties: names.clone(),
        archived: false,
    };
    let pages: Vec<_> = env
        .portal
        .list_objects(&request)
        .try_collect()
        .await
        .unwrap();

    let records: Vec<_> = pages.iter().flat_map(|p| p.records.iter()).collect();
    let truth: HashMap<String, BTreeMap<String, String>> = env
        .control()
        .records(hub, "contacts", false)
        .unwrap()
        .into_iter()
        .map(|r| (r.id.to_string(), r.properties))
        .collect();
    assert_eq!(records.len(), truth.len());
    for record in &records {
        let expected = &truth[&record.id];
        for name in [&first, &last, &"email".to_string()] {
            assert_eq!(
                record.property(name),
                expected.get(name).map(String::as_str),
                "record {} property {name}",
                record.id
            );
        }
    }
    let target_record = records.iter().find(|r| r.id == target.to_string()).unwrap();
    assert_eq!(target_record.property(&last), Some("from the last chunk"));
    let counters = env.control().counters();
    let list = &counters.requests["list"];
    assert!(!list.contains_key(&414), "{counters:?}");
    assert!(
        list[&200] >= 2 * pages.len() as u64,
        "the property list was split: {counters:?}"
    );
    env.sim.shutdown().await;
}

#[tokio::test]
async fn search_over_a_12000_record_millisecond_returns_each_record_once() {
    let sim_config = SimConfig {
        records_per_table: 20,
        generator: GeneratorOptions {
            bulk_import: Some(BulkImport {
                table: "contacts".into(),
                count: 12_000,
            }),
            ..GeneratorOptions::default()
        },
        ..small_sim_config()
    };
    let env = start_sim(sim_config, |config| config.rate.search_max = 50).await;
    let truth = env.control().records(env.hub(), "contacts", false).unwrap();
    let mut by_millisecond: HashMap<i64, Vec<String>> = HashMap::new();
    for record in &truth {
        let at = chrono::DateTime::parse_from_rfc3339(&record.updated_at).unwrap();
        by_millisecond
            .entry(at.timestamp_millis())
            .or_default()
            .push(record.id.to_string());
    }
    let (millisecond, cluster) = by_millisecond
        .into_iter()
        .max_by_key(|(_, ids)| ids.len())
        .unwrap();
    assert!(cluster.len() >= 12_000);

    let build = |cursor: Option<&str>| SearchRequest {
        filter_groups: vec![FilterGroup {
            filters: vec![
                Filter {
                    property_name: "lastmodifieddate".into(),
                    operator: Operator::Gte,
                    value: Some(millisecond.to_string()),
                    high_value: None,
                    values: None,
                },
                Filter {
                    property_name: "lastmodifieddate".into(),
                    operator: Operator::Lt,
                    value: Some((millisecond + 1).to_string()),
                    high_value: None,
                    values: None,
                },
                Filter {
                    property_name: "hs_object_id".into(),
                    operator: Operator::Gt,
                    value: Some(cursor.unwrap_or("0").to_owned()),
                    high_value: None,
                    values: None,
                },
            ],
        }],
        sorts: vec![Sort {
            property_name: "hs_object_id".into(),
            direction: SortDirection::Ascending,
        }],
        properties: vec!["hs_object_id".into(), "lastmodifieddate".into()],
        limit: 200,
    };
    let pages: Vec<_> = env
        .portal
        .search("contacts", build)
        .try_collect()
        .await
        .unwrap();

    assert_eq!(pages[0].total, cluster.len() as u64);
    let mut seen = BTreeSet::new();
    for record in pages.iter().flat_map(|p| &p.results) {
        assert!(
            seen.insert(record.id.clone()),
            "record {} returned twice",
            record.id
        );
    }
    let expected: BTreeSet<String> = cluster.into_iter().collect();
    assert_eq!(seen, expected);
    env.sim.shutdown().await;
}

#[tokio::test]
async fn associations_are_paged_per_input() {
    let env = start_sim(small_sim_config(), |_| {}).await;
    let hub = env.hub();
    env.control().set_association_page_size(2);
    let deals: Vec<u64> = env
        .control()
        .records(hub, "deals", false)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let companies: Vec<u64> = env
        .control()
        .records(hub, "companies", false)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    // One deal with many companies, so its input needs several pages.
    let busy_deal = deals[0];
    for company in companies.iter().take(7) {
        env.control()
            .associate(
                hub,
                &AssociationChange {
                    from_type: "deals".into(),
                    from_id: busy_deal,
                    to_type: "companies".into(),
                    to_id: *company,
                    primary: false,
                    type_ids: None,
                },
            )
            .unwrap();
    }
    // Every deal, plus more ids than one call may carry (unknown ones: zero rows).
    let mut ids: Vec<String> = deals.iter().map(u64::to_string).collect();
    ids.extend((0..1_000).map(|i| (9_000_000_000_u64 + i).to_string()));

    env.control().reset_counters();
    let batch = env
        .portal
        .associations("deals", "companies", &ids)
        .await
        .unwrap();

    let fetched: BTreeSet<(String, String)> = batch
        .associations
        .iter()
        .map(|a| (a.from_id.clone(), a.to_id.clone()))
        .collect();
    let truth: BTreeSet<(String, String)> = env
        .control()
        .associations(hub, "deals", "companies")
        .unwrap()
        .iter()
        .map(|a| (a.from_id.to_string(), a.to_id.to_string()))
        .collect();
    assert_eq!(fetched, truth);
    assert!(
        fetched
            .iter()
            .filter(|(from, _)| *from == busy_deal.to_string())
            .count()
            >= 7
    );
    assert_eq!(
        fetched.len(),
        batch.associations.len(),
        "no pair returned twice"
    );
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    assert!(batch.associations.iter().all(|a| !a.types.is_empty()));
    let counters = env.control().counters();
    // Two calls for the first round (over 1,000 inputs), then at least three follow-ups
    // for the busy deal's 7+ targets at 2 per page.
    assert!(counters.requests_of("associations") >= 5, "{counters:?}");
    env.sim.shutdown().await;
}
