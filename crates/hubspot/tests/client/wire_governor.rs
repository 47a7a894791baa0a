//! A governor of the caller's own (one shared by several processes, say) paces every
//! call: the client asks it before each send, releases the slot when the answer is in,
//! and tells it what the answer said.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use hubsync_core::search::SearchRequest;
use hubsync_hubspot::{
    AccessToken, HubSpotClient, RateFeedback, RateGovernor, RatePermit, RequestClass, StaticToken,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::quick_config;

#[derive(Default)]
struct Recording {
    events: Arc<Mutex<Vec<String>>>,
}

impl Recording {
    fn push(events: &Mutex<Vec<String>>, event: String) {
        events.lock().unwrap().push(event);
    }
}

impl RateGovernor for Recording {
    fn acquire(&self, class: RequestClass) -> BoxFuture<'_, RatePermit> {
        Self::push(&self.events, format!("acquire {class:?}"));
        let events = Arc::clone(&self.events);
        Box::pin(std::future::ready(RatePermit::new(move || {
            Self::push(&events, format!("release {class:?}"))
        })))
    }

    fn observe(&self, class: RequestClass, feedback: &RateFeedback) {
        let said = match feedback {
            RateFeedback::Headers(headers) => {
                format!(
                    "headers max={:?} remaining={:?}",
                    headers.max, headers.remaining
                )
            }
            RateFeedback::Rejected { policy, .. } => format!("rejected {policy:?}"),
        };
        Self::push(&self.events, format!("observe {class:?} {said}"));
    }
}

#[tokio::test]
async fn a_governor_of_its_own_is_asked_released_and_told_on_every_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/pipelines/deals"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-HubSpot-RateLimit-Max", "110")
                .insert_header("X-HubSpot-RateLimit-Remaining", "99")
                .insert_header("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
                .set_body_json(json!({"results": []})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "status": "error", "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c1", "policyName": "SECONDLY"
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 0, "results": []})))
        .mount(&server)
        .await;
    let client = HubSpotClient::new(quick_config(&server.uri())).unwrap();
    let governor = Arc::new(Recording::default());
    let portal = client.portal_with_governor(
        Arc::new(StaticToken(AccessToken::new("static-token".into()))),
        governor.clone(),
    );

    portal.pipelines("deals").await.unwrap();
    let search = SearchRequest {
        filter_groups: vec![],
        sorts: vec![],
        properties: vec![],
        limit: 10,
    };
    portal.search_page("deals", &search).await.unwrap();

    assert_eq!(
        *governor.events.lock().unwrap(),
        [
            "acquire Standard",
            "release Standard",
            "observe Standard headers max=Some(110) remaining=Some(99)",
            "acquire Search",
            "release Search",
            "observe Search rejected Secondly",
            "acquire Search",
            "release Search",
        ]
    );
}
