//! A 429 storm: the simulator's limits set low, many tasks of one portal at once, over
//! a network whose delay varies.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use hubspot_sim::{Latency, RateLimitConfig};
use hubsync_core::search::{Filter, FilterGroup, Operator, SearchRequest, Sort, SortDirection};
use hubsync_hubspot::ListRequest;

use crate::helpers::{small_sim_config, start_sim};

#[tokio::test]
async fn a_storm_of_tasks_fetches_every_page_with_under_one_percent_429s() {
    let mut sim_config = small_sim_config();
    sim_config.records_per_table = 100;
    // Far below HubSpot's 110 per 10 s budget the client starts from: it has to learn
    // the real budget from the headers.
    sim_config.rate_limits = RateLimitConfig {
        enabled: true,
        max_per_interval: 40,
        interval_ms: 1_000,
        search_per_second: 5,
        daily_max: None,
        retry_after: false,
    };
    // Requests reach HubSpot after a varying delay and are counted on arrival: a
    // governor that counted from the send time would overrun the window at its edge.
    sim_config.latency.transit = Latency {
        base_ms: 0,
        jitter_ms: 300,
    };
    let env = start_sim(sim_config, |config| {
        config.list_page_size = 10;
        config.rate = hubsync_hubspot::RateConfig::default();
    })
    .await;
    let contacts: BTreeSet<String> = env
        .control()
        .records(env.hub(), "contacts", false)
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();

    let listers: Vec<_> = (0..10)
        .map(|_| {
            let portal = env.portal.clone();
            tokio::spawn(async move {
                let request = ListRequest {
                    object_type: "contacts".into(),
                    properties: vec!["email".into()],
                    archived: false,
                };
                let pages: Vec<_> = portal.list_objects(&request).try_collect().await?;
                Ok::<_, hubsync_hubspot::Error>(
                    pages
                        .into_iter()
                        .flat_map(|p| p.records.into_iter().map(|r| r.id))
                        .collect::<BTreeSet<_>>(),
                )
            })
        })
        .collect();
    let searchers: Vec<_> = (0..3)
        .map(|_| {
            let portal = env.portal.clone();
            tokio::spawn(async move {
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
                    limit: 25,
                };
                let pages: Vec<_> = portal.search("contacts", build).try_collect().await?;
                Ok::<_, hubsync_hubspot::Error>(
                    pages
                        .into_iter()
                        .flat_map(|p| p.results.into_iter().map(|r| r.id))
                        .collect::<BTreeSet<_>>(),
                )
            })
        })
        .collect();
    for task in listers.into_iter().chain(searchers) {
        assert_eq!(task.await.unwrap().unwrap(), contacts, "every page fetched");
    }

    let counters = env.control().counters();
    let data_requests = counters.requests_of("list") + counters.requests_of("search");
    let refused: u64 = counters.rate_limited.values().sum();
    assert!(data_requests >= 100, "{counters:?}");
    assert!(
        refused * 100 < data_requests,
        "{refused} of {data_requests} requests answered 429: {counters:?}"
    );
    env.sim.shutdown().await;
}
