//! Injected faults over HTTP: scripted statuses with HTML or empty bodies, 477 with
//! Retry-After, connection resets, truncated JSON, hangs, and random rates.

use std::time::Duration;

use hubspot_sim::{EndpointFamily, Fault, FaultBody, FaultPlan, FaultRate, ScriptStep};
use reqwest::StatusCode;

use crate::helpers::start;

fn step(family: Option<EndpointFamily>, count: u32, fault: Fault) -> ScriptStep {
    ScriptStep {
        family,
        hub_id: None,
        count,
        fault,
    }
}

#[tokio::test]
async fn scripted_statuses_then_normal_answers() {
    let t = start().await;
    t.control().push_fault_steps(vec![
        step(
            Some(EndpointFamily::List),
            2,
            Fault::Status {
                status: 503,
                body: FaultBody::Html,
                retry_after_secs: None,
            },
        ),
        step(
            Some(EndpointFamily::Search),
            1,
            Fault::Status {
                status: 502,
                body: FaultBody::Empty,
                retry_after_secs: None,
            },
        ),
        step(
            Some(EndpointFamily::Read),
            1,
            Fault::Status {
                status: 477,
                body: FaultBody::Json,
                retry_after_secs: Some(30),
            },
        ),
        step(
            Some(EndpointFamily::BatchRead),
            1,
            Fault::Status {
                status: 423,
                body: FaultBody::Json,
                retry_after_secs: None,
            },
        ),
    ]);
    // a search first: the list steps wait for list requests
    let r = t
        .post("/crm/v3/objects/deals/search", &serde_json::json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.bytes().await.unwrap().is_empty());
    for _ in 0..2 {
        let r = t.get("/crm/v3/objects/deals").await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["content-type"], "text/html");
        assert!(r.text().await.unwrap().contains("<html>"));
    }
    assert_eq!(
        t.get("/crm/v3/objects/deals").await.status(),
        StatusCode::OK
    );
    let r = t.get("/crm/v3/objects/deals/1").await;
    assert_eq!(r.status().as_u16(), 477);
    assert_eq!(r.headers()["retry-after"], "30");
    let r = t
        .post(
            "/crm/v3/objects/deals/batch/read",
            &serde_json::json!({"inputs": []}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 423);
    assert!(t.control().faults().script.is_empty());
    let counters = t.control().counters();
    assert_eq!(counters.faults_injected["list"], 2);
    assert_eq!(counters.requests["list"][&503], 2);
}

#[tokio::test]
async fn resets_truncated_bodies_and_hangs() {
    let t = start().await;
    t.control()
        .push_fault_steps(vec![step(None, 1, Fault::Reset)]);
    let result = t
        .http
        .get(t.url("/crm/v3/objects/deals"))
        .bearer_auth(&t.token)
        .send()
        .await;
    assert!(
        result.is_err(),
        "the connection is dropped without an answer"
    );

    t.control().push_fault_steps(vec![step(
        Some(EndpointFamily::List),
        1,
        Fault::TruncatedJson,
    )]);
    let r = t.get("/crm/v3/objects/deals").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.is_empty());
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "the JSON is cut short"
    );

    t.control().push_fault_steps(vec![step(
        Some(EndpointFamily::List),
        1,
        Fault::Hang { millis: 5_000 },
    )]);
    let slow = t
        .http
        .get(t.url("/crm/v3/objects/deals"))
        .bearer_auth(&t.token)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    // the abandoned request is counted (499) as soon as the server sees the client leave,
    // long before the hang would have ended
    let deadline = std::time::Instant::now() + Duration::from_millis(1_500);
    let abandoned = loop {
        let n = t
            .control()
            .portal_counters(t.hub())
            .unwrap()
            .requests
            .get("list")
            .and_then(|s| s.get(&499).copied())
            .unwrap_or(0);
        if n > 0 || std::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        abandoned, 1,
        "a hung request the client gave up on is counted"
    );
    assert_eq!(
        t.get("/crm/v3/objects/deals").await.status(),
        StatusCode::OK
    );
    let list = &t.control().counters().requests["list"];
    assert_eq!(list.get(&499), Some(&1));
    assert!(list.get(&200).is_some_and(|n| *n >= 2), "{list:?}");
}

#[tokio::test]
async fn random_rates_fault_about_as_often_as_configured() {
    let t = start().await;
    t.control().set_faults(FaultPlan {
        rates: vec![FaultRate {
            family: Some(EndpointFamily::List),
            hub_id: None,
            probability: 0.5,
            fault: Fault::Status {
                status: 500,
                body: FaultBody::Empty,
                retry_after_secs: None,
            },
        }],
        script: Vec::new(),
    });
    let mut failed = 0;
    for _ in 0..60 {
        if t.get("/crm/v3/objects/contacts?limit=1").await.status()
            == StatusCode::INTERNAL_SERVER_ERROR
        {
            failed += 1;
        }
    }
    assert!((15..=45).contains(&failed), "{failed}");
    // other families are untouched
    assert_eq!(t.get("/crm/v3/owners").await.status(), StatusCode::OK);
    t.control().clear_faults();
    assert_eq!(
        t.get("/crm/v3/objects/contacts?limit=1").await.status(),
        StatusCode::OK
    );
}
