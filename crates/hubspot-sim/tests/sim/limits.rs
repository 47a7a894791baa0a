//! The rolling 10-second bucket and its headers, Retry-After, the off switch, one bucket per portal.

use std::collections::BTreeSet;
use std::time::Duration;

use hubspot_sim::RateLimitConfig;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestSim, ids, refresh, small_config, start_with};

#[tokio::test]
async fn the_ten_secondly_bucket_refuses_past_its_max_with_headers() {
    let mut config = small_config();
    config.rate_limits = RateLimitConfig {
        max_per_interval: 4,
        interval_ms: 600,
        ..RateLimitConfig::default()
    };
    let t = start_with(config).await;
    let mut remaining = Vec::new();
    for _ in 0..4 {
        let r = t.get("/crm/v3/objects/contacts?limit=1").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-hubspot-ratelimit-max"], "4");
        assert_eq!(
            r.headers()["x-hubspot-ratelimit-interval-milliseconds"],
            "600"
        );
        assert!(
            r.headers().get("x-hubspot-ratelimit-daily").is_none(),
            "no daily headers for OAuth apps"
        );
        remaining.push(
            r.headers()["x-hubspot-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["3", "2", "1", "0"]);
    let r = t.get("/crm/v3/objects/contacts?limit=1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers().get("retry-after").is_none(),
        "Retry-After is not always sent"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(
        body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(
        t.get("/crm/v3/objects/contacts?limit=1").await.status(),
        StatusCode::OK
    );
    let counters = t.control().portal_counters(t.hub()).unwrap();
    assert_eq!(counters.rate_limited["TEN_SECONDLY_ROLLING"], 1);
    assert_eq!(counters.requests["list"][&429], 1);

    // changed at run time: Retry-After on, then limits off
    t.control()
        .set_rate_limits(
            Some(t.hub()),
            RateLimitConfig {
                max_per_interval: 1,
                interval_ms: 5000,
                retry_after: true,
                ..RateLimitConfig::default()
            },
        )
        .unwrap();
    assert_eq!(
        t.get("/crm/v3/objects/contacts?limit=1").await.status(),
        StatusCode::OK
    );
    let r = t.get("/crm/v3/objects/contacts?limit=1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait));
    t.control()
        .set_rate_limits(
            None,
            RateLimitConfig {
                enabled: false,
                max_per_interval: 1,
                ..RateLimitConfig::default()
            },
        )
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            t.get("/crm/v3/objects/contacts?limit=1").await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn an_optional_daily_limit_answers_daily_429s() {
    let mut config = small_config();
    config.rate_limits = RateLimitConfig {
        daily_max: Some(2),
        ..RateLimitConfig::default()
    };
    let t = start_with(config).await;
    for _ in 0..2 {
        assert_eq!(
            t.get("/crm/v3/objects/contacts?limit=1").await.status(),
            StatusCode::OK
        );
    }
    let r = t.get("/crm/v3/objects/contacts?limit=1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["policyName"], "DAILY");
}

/// Sends `n` list requests at once; returns their statuses, sorted, and how long they
/// took together.
async fn list_at_once(t: &TestSim, n: usize) -> (Vec<StatusCode>, Duration) {
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..n)
        .map(|_| t.get("/crm/v3/objects/contacts?limit=1"))
        .collect();
    let mut statuses: Vec<_> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    statuses.sort();
    (statuses, started.elapsed())
}

#[tokio::test]
async fn concurrency_is_counted() {
    let t = start_with(small_config()).await;
    t.control().set_latency(hubspot_sim::LatencyConfig {
        default: hubspot_sim::Latency {
            base_ms: 150,
            jitter_ms: 0,
        },
        ..Default::default()
    });
    let (statuses, took) = list_at_once(&t, 6).await;
    assert_eq!(statuses, [StatusCode::OK; 6]);
    assert!(took >= Duration::from_millis(150), "latency applies");
    assert_eq!(t.control().counters().max_concurrency, 6);
}

#[tokio::test]
async fn transit_delays_a_request_before_it_is_counted() {
    let mut config = small_config();
    config.rate_limits = RateLimitConfig {
        max_per_interval: 1,
        interval_ms: 1_000,
        ..RateLimitConfig::default()
    };
    let t = start_with(config).await;
    let transit = |base_ms| hubspot_sim::LatencyConfig {
        transit: hubspot_sim::Latency {
            base_ms,
            jitter_ms: 0,
        },
        ..Default::default()
    };
    t.control().set_latency(transit(600));
    let (statuses, took) = list_at_once(&t, 1).await;
    assert_eq!(statuses, [StatusCode::OK]);
    assert!(took >= Duration::from_millis(600), "transit applies");
    // 1.1 s after the first request left but 0.5 s after it arrived: the window, which
    // starts on arrival, is still full.
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.control().set_latency(transit(0));
    let (statuses, _) = list_at_once(&t, 1).await;
    assert_eq!(statuses, [StatusCode::TOO_MANY_REQUESTS]);
}

#[tokio::test]
async fn each_portal_has_its_own_data_tokens_and_limits() {
    let mut config = small_config();
    config.portals = 2;
    config.rate_limits = RateLimitConfig {
        max_per_interval: 3,
        // long enough that no window rolls over during the test
        interval_ms: 60_000,
        ..RateLimitConfig::default()
    };
    let t = start_with(config).await;
    let (hub_a, token_a) = (t.hub(), t.token.clone());
    let b = t
        .sim
        .portals()
        .into_iter()
        .find(|p| p.hub_id != hub_a)
        .expect("a second portal");
    let token_b = refresh(&t.http, &b).await;
    let c = t.control();
    let truth = |hub| -> BTreeSet<u64> {
        c.records(hub, "contacts", false)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect()
    };
    let (truth_a, truth_b) = (truth(hub_a), truth(b.hub_id));
    assert_ne!(truth_a, truth_b, "each portal is generated on its own");
    let list = "/crm/v3/objects/contacts?limit=100";
    let listed = |r: Value| ids(&r["results"]).into_iter().collect::<BTreeSet<u64>>();

    let r = t.request(Method::GET, list, None, &token_a).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(listed(r.json().await.unwrap()), truth_a);
    // A's token reads A's portal only: a record of B alone is not found
    let only_b = truth_b
        .difference(&truth_a)
        .next()
        .expect("an id only B has");
    let path = format!("/crm/v3/objects/contacts/{only_b}");
    let r = t.request(Method::GET, &path, None, &token_a).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        t.request(Method::GET, list, None, &token_a).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        t.request(Method::GET, list, None, &token_a).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // A's spent budget leaves B's whole
    let r = t.request(Method::GET, list, None, &token_b).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-hubspot-ratelimit-remaining"], "2");
    assert_eq!(listed(r.json().await.unwrap()), truth_b);
    assert_eq!(
        c.portal_counters(hub_a).unwrap().rate_limited["TEN_SECONDLY_ROLLING"],
        1
    );
    assert!(c.portal_counters(b.hub_id).unwrap().rate_limited.is_empty());
}
