//! The simulator's faults: each survived when passing, reported as the right typed
//! error when persistent; permanent errors are sent exactly once.

use std::time::Duration;

use hubspot_sim::{EndpointFamily, Fault, FaultBody, MintRequest, ScriptStep};
use hubsync_core::search::{Filter, FilterGroup, Operator, SearchRequest};
use hubsync_hubspot::{AccessToken, Error, ListRequest, StaticToken};

use crate::helpers::{small_sim_config, start_sim};

fn status(status: u16, body: FaultBody, retry_after_secs: Option<u64>) -> Fault {
    Fault::Status {
        status,
        body,
        retry_after_secs,
    }
}

fn step(count: u32, fault: Fault) -> ScriptStep {
    ScriptStep {
        family: Some(EndpointFamily::List),
        hub_id: None,
        count,
        fault,
    }
}

/// A persistent fault, the error it must end as, and how many requests that takes.
type Case = (&'static str, Fault, fn(&Error) -> bool, u64);

fn contacts() -> ListRequest {
    ListRequest {
        object_type: "contacts".into(),
        properties: vec!["email".into()],
        archived: false,
    }
}

#[tokio::test]
async fn every_fault_kind_is_survived_once() {
    let env = start_sim(small_sim_config(), |config| config.request_timeout_ms = 400).await;
    let faults = [
        ("500 html", status(500, FaultBody::Html, None)),
        ("502 empty", status(502, FaultBody::Empty, None)),
        ("503 json", status(503, FaultBody::Json, None)),
        ("504 html", status(504, FaultBody::Html, None)),
        ("423 locked", status(423, FaultBody::Json, None)),
        ("477 migrating", status(477, FaultBody::Json, Some(1))),
        ("hang", Fault::Hang { millis: 2_000 }),
        ("reset", Fault::Reset),
        ("truncated json", Fault::TruncatedJson),
    ];
    let baseline = env
        .portal
        .list_objects_page(&contacts(), None)
        .await
        .unwrap();

    for (name, fault) in faults {
        env.control().push_fault_steps(vec![step(1, fault)]);
        let before = env.client.stats();

        let page = env.portal.list_objects_page(&contacts(), None).await;

        let page = page.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(page, baseline, "{name}: the retried page is the same page");
        let after = env.client.stats();
        assert_eq!(after.retries - before.retries, 1, "{name}: one retry");
    }
    let counters = env.control().counters();
    assert_eq!(
        counters.faults_injected.get("list"),
        Some(&9),
        "{counters:?}"
    );
    env.sim.shutdown().await;
}

#[tokio::test]
async fn persistent_faults_end_as_typed_errors() {
    let env = start_sim(small_sim_config(), |config| {
        config.request_timeout_ms = 300;
        config.retry.max_attempts = 3;
    })
    .await;
    // Warm the token so only list requests are counted below.
    env.portal.schemas().await.unwrap();
    let cases: [Case; 5] = [
        (
            "503",
            status(503, FaultBody::Html, None),
            |e| matches!(e, Error::Server { status: 503, .. }),
            3,
        ),
        (
            "hang",
            Fault::Hang { millis: 1_500 },
            |e| matches!(e, Error::Timeout),
            3,
        ),
        (
            "reset",
            Fault::Reset,
            |e| matches!(e, Error::Transport(_)),
            3,
        ),
        (
            "truncated",
            Fault::TruncatedJson,
            |e| matches!(e, Error::Decode { .. } | Error::Transport(_)),
            3,
        ),
        // A migration for an hour is not waited for in process: one request, a hint.
        (
            "477 long",
            status(477, FaultBody::Json, Some(3_600)),
            |e| matches!(e, Error::Server { status: 477, retry_after: Some(d), .. } if *d == Duration::from_secs(3_600)),
            1,
        ),
    ];

    for (name, fault, expected, requests) in cases {
        env.control().clear_faults();
        env.control().push_fault_steps(vec![step(10, fault)]);
        env.control().reset_counters();

        let error = env
            .portal
            .list_objects_page(&contacts(), None)
            .await
            .unwrap_err();

        assert!(expected(&error), "{name}: {error:?}");
        assert!(error.is_retryable() || name == "477 long", "{name}");
        // Counted at injection: a hung request is only counted as a response when the
        // simulator finally answers it, long after the client gave up.
        let counters = env.control().counters();
        assert_eq!(
            counters.faults_injected.get("list").copied(),
            Some(requests),
            "{name}: {counters:?}"
        );
    }
    env.control().clear_faults();
    env.sim.shutdown().await;
}

#[tokio::test]
async fn permanent_errors_are_sent_exactly_once() {
    let env = start_sim(small_sim_config(), |_| {}).await;
    env.portal.schemas().await.unwrap();

    // 400: a search on a property that does not exist.
    env.control().reset_counters();
    let bad_search = SearchRequest {
        filter_groups: vec![FilterGroup {
            filters: vec![Filter {
                property_name: "no_such_property_anywhere".into(),
                operator: Operator::Eq,
                value: Some("1".into()),
                high_value: None,
                values: None,
            }],
        }],
        sorts: vec![],
        properties: vec![],
        limit: 10,
    };
    let error = env
        .portal
        .search_page("deals", &bad_search)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::BadRequest { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(env.control().counters().requests_of("search"), 1);

    // 400 again: the properties of an object type HubSpot cannot infer.
    env.control().reset_counters();
    let error = env
        .portal
        .properties("no_such_object_type", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::BadRequest { category: Some(c), .. } if c == "VALIDATION_ERROR"),
        "{error:?}"
    );
    assert_eq!(env.control().counters().requests_of("properties"), 1);

    // 404: a path HubSpot does not serve (an empty-bodied 404).
    let mut config = env.client.config().clone();
    config.paths.pipelines = "/crm/v3/no-such-api".into();
    let misconfigured = hubsync_hubspot::HubSpotClient::new(config)
        .unwrap()
        .portal(env.tokens.clone());
    env.control().reset_counters();
    let error = misconfigured.pipelines("deals").await.unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert_eq!(
        env.control().counters().total_requests(),
        1,
        "{:?}",
        env.control().counters()
    );

    // 403: a token without the deals scope.
    let minted = env
        .control()
        .mint_token(
            env.hub(),
            &MintRequest {
                scopes: Some(vec!["crm.objects.contacts.read".into()]),
                lifetime_secs: None,
            },
        )
        .unwrap();
    let narrow = env
        .client
        .portal(std::sync::Arc::new(StaticToken(AccessToken::new(
            minted.access_token,
        ))));
    env.control().reset_counters();
    let error = narrow
        .list_objects_page(
            &ListRequest {
                object_type: "deals".into(),
                properties: vec![],
                archived: false,
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::MissingScopes { required, .. } if required.iter().any(|s| s.contains("deals"))),
        "{error:?}"
    );
    assert_eq!(env.control().counters().requests_of("list"), 1);
    env.sim.shutdown().await;
}
