//! Search over HTTP: keyset paging, operators, limits, contacts' cursor trap, archived
//! records, index lag, the search bucket.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::DateTime;
use hubspot_sim::{RateLimitConfig, SimRecord};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestSim, ids, small_config, start, start_with};

fn ms(iso: &str) -> i64 {
    DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .timestamp_millis()
}

async fn search_all(t: &TestSim, table: &str, mut body: Value) -> Vec<u64> {
    let mut out = Vec::new();
    loop {
        let page = t
            .post_json(&format!("/crm/v3/objects/{table}/search"), &body, 200)
            .await;
        out.extend(ids(&page["results"]));
        match page["paging"]["next"]["after"].as_str() {
            Some(a) => body["after"] = Value::from(a),
            None => return out,
        }
    }
}

async fn matching(t: &TestSim, table: &str, filters: Value) -> BTreeSet<u64> {
    search_all(
        t,
        table,
        json!({"filterGroups": [{"filters": filters}], "limit": 200}),
    )
    .await
    .into_iter()
    .collect()
}

fn truth(t: &TestSim, table: &str, pred: impl Fn(&SimRecord) -> bool) -> BTreeSet<u64> {
    t.control()
        .records(t.hub(), table, false)
        .unwrap()
        .iter()
        .filter(|r| pred(r))
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn keyset_paging_inside_a_modified_range_returns_each_record_once() {
    let t = start().await;
    let records = t.control().records(t.hub(), "deals", false).unwrap();
    let mut times: Vec<i64> = records.iter().map(|r| ms(&r.updated_at)).collect();
    times.sort();
    let (low, high) = (times[5], times[times.len() - 5]);
    let expected: Vec<u64> = records
        .iter()
        .filter(|r| (low..high).contains(&ms(&r.updated_at)))
        .map(|r| r.id)
        .collect();
    let mut last = 0u64;
    let mut seen = Vec::new();
    let mut first_total = None;
    loop {
        let body = json!({
            "filterGroups": [{"filters": [
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": low.to_string()},
                {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": high.to_string()},
                {"propertyName": "hs_object_id", "operator": "GT", "value": last.to_string()},
            ]}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["hs_lastmodifieddate"],
            "limit": 7,
        });
        let page = t
            .post_json("/crm/v3/objects/deals/search", &body, 200)
            .await;
        first_total.get_or_insert(page["total"].as_u64().unwrap());
        let page_ids = ids(&page["results"]);
        if page_ids.is_empty() {
            break;
        }
        last = *page_ids.last().unwrap();
        seen.extend(page_ids);
    }
    assert_eq!(seen, expected);
    assert_eq!(first_total, Some(expected.len() as u64));
}

#[tokio::test]
async fn every_operator_matches_the_ground_truth() {
    let t = start().await;
    let has = |name: &'static str| move |r: &SimRecord| r.properties.contains_key(name);
    let amount = |r: &SimRecord| {
        r.properties
            .get("amount")
            .and_then(|a| a.parse::<f64>().ok())
    };
    let stage = |r: &SimRecord| r.properties.get("dealstage").cloned().unwrap_or_default();

    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "amount", "operator": "HAS_PROPERTY"}])
        )
        .await,
        truth(&t, "deals", has("amount"))
    );
    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "amount", "operator": "NOT_HAS_PROPERTY"}])
        )
        .await,
        truth(&t, "deals", |r| !r.properties.contains_key("amount"))
    );
    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "amount", "operator": "GT", "value": 50000}])
        )
        .await,
        truth(&t, "deals", |r| amount(r).is_some_and(|a| a > 50000.0))
    );
    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "amount", "operator": "LTE", "value": "50000"}])
        )
        .await,
        truth(&t, "deals", |r| amount(r).is_some_and(|a| a <= 50000.0))
    );
    assert_eq!(matching(&t, "deals", json!([{"propertyName": "amount", "operator": "BETWEEN", "value": "10000", "highValue": "90000"}])).await, truth(&t, "deals", |r| amount(r).is_some_and(|a| (10000.0..=90000.0).contains(&a))));
    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}])
        )
        .await,
        truth(&t, "deals", |r| stage(r) == "closedwon")
    );
    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "dealstage", "operator": "NEQ", "value": "closedwon"}])
        )
        .await,
        truth(&t, "deals", |r| stage(r) != "closedwon")
    );
    assert_eq!(matching(&t, "deals", json!([{"propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "closedlost"]}])).await, truth(&t, "deals", |r| ["closedwon", "closedlost"].contains(&stage(r).as_str())));
    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "dealstage", "operator": "NOT_IN", "values": ["closedwon"]}])
        )
        .await,
        truth(&t, "deals", |r| stage(r) != "closedwon")
    );
    // enumerations compare case-sensitively
    assert!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "dealstage", "operator": "EQ", "value": "CLOSEDWON"}])
        )
        .await
        .is_empty()
    );
    let emails = truth(&t, "contacts", |r| {
        r.properties
            .get("email")
            .is_some_and(|e| e.ends_with("@acme.example.com"))
    });
    assert_eq!(matching(&t, "contacts", json!([{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@acme.example.com"}])).await, emails);
    let not_emails = truth(&t, "contacts", |r| {
        !r.properties
            .get("email")
            .is_some_and(|e| e.ends_with("@acme.example.com"))
    });
    assert_eq!(matching(&t, "contacts", json!([{"propertyName": "email", "operator": "NOT_CONTAINS_TOKEN", "value": "*@acme.example.com"}])).await, not_emails);
    let created = t.control().records(t.hub(), "deals", false).unwrap();
    let pivot = ms(&created[10].created_at);
    assert_eq!(
        matching(
            &t,
            "deals",
            json!([{"propertyName": "createdate", "operator": "LT", "value": pivot.to_string()}])
        )
        .await,
        truth(&t, "deals", |r| ms(&r.created_at) < pivot)
    );
    // ISO values work like epoch milliseconds
    assert_eq!(
        matching(&t, "deals", json!([{"propertyName": "createdate", "operator": "GTE", "value": created[10].created_at}])).await,
        truth(&t, "deals", |r| ms(&r.created_at) >= pivot)
    );
    // groups are ORed
    let either = t
        .post_json(
            "/crm/v3/objects/deals/search",
            &json!({"filterGroups": [
                {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]},
                {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedlost"}]}
            ], "limit": 200}),
            200,
        )
        .await;
    assert_eq!(
        either["total"].as_u64().unwrap() as usize,
        truth(&t, "deals", |r| ["closedwon", "closedlost"]
            .contains(&stage(r).as_str()))
        .len()
    );
}

#[tokio::test]
async fn string_in_needs_lowercase_values_and_top_level_filters_work() {
    let t = start().await;
    let contact = t
        .control()
        .records(t.hub(), "contacts", false)
        .unwrap()
        .into_iter()
        .find(|r| {
            r.properties
                .get("lastname")
                .is_some_and(|n| n.chars().next().unwrap().is_uppercase())
        })
        .unwrap();
    let name = contact.properties["lastname"].clone();
    let lower = matching(
        &t,
        "contacts",
        json!([{"propertyName": "lastname", "operator": "IN", "values": [name.to_lowercase()]}]),
    )
    .await;
    assert!(lower.contains(&contact.id));
    let upper = matching(
        &t,
        "contacts",
        json!([{"propertyName": "lastname", "operator": "IN", "values": [name.clone()]}]),
    )
    .await;
    assert!(upper.is_empty(), "IN on strings wants lowercase values");
    // EQ on strings is case-insensitive
    assert!(
        matching(
            &t,
            "contacts",
            json!([{"propertyName": "lastname", "operator": "EQ", "value": name.to_uppercase()}])
        )
        .await
        .contains(&contact.id)
    );
    let top = t.post_json("/crm/v3/objects/contacts/search", &json!({"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": contact.id}]}), 200).await;
    assert_eq!(ids(&top["results"]), vec![contact.id]);
}

#[tokio::test]
async fn search_limits_answer_400() {
    let t = start().await;
    let filter = json!({"propertyName": "amount", "operator": "HAS_PROPERTY"});
    let group = |n: usize| json!({"filters": vec![filter.clone(); n]});
    for body in [
        json!({"filterGroups": vec![group(1); 6]}),
        json!({"filterGroups": [group(7)]}),
        json!({"filterGroups": [group(6), group(6), group(6), group(1)]}),
        json!({"limit": 201}),
        json!({"limit": 100, "after": "9901"}),
        json!({"after": "10000", "limit": 10}),
        json!({"sorts": [{"propertyName": "amount"}, {"propertyName": "dealname"}]}),
        json!({"filterGroups": [{"filters": [{"propertyName": "no_such_property", "operator": "EQ", "value": "1"}]}]}),
        json!({"sorts": [{"propertyName": "no_such_property", "direction": "ASCENDING"}]}),
    ] {
        let r = t.post("/crm/v3/objects/deals/search", &body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = r.json().await.unwrap();
        assert_eq!(error["category"], "VALIDATION_ERROR", "{body}");
    }
    t.post_json(
        "/crm/v3/objects/deals/search",
        &json!({"filterGroups": vec![group(3); 5], "limit": 200, "after": "9800"}),
        200,
    )
    .await;
    let r = t.post("/crm/v3/objects/deals/search", &json!({"filterGroups": [{"filters": [{"propertyName": "createdate", "operator": "GTE", "value": "0"}]}]})).await;
    assert_eq!(
        r.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "filtering at the epoch fails as on HubSpot"
    );
    let r = t
        .http
        .post(t.url("/crm/v3/objects/deals/search"))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn contacts_search_only_on_lastmodifieddate_and_never_archived() {
    let t = start().await;
    let filter = |prop: &str| json!([{"propertyName": prop, "operator": "GTE", "value": "1000"}]);
    assert!(
        matching(&t, "contacts", filter("hs_lastmodifieddate"))
            .await
            .is_empty()
    );
    let live = truth(&t, "contacts", |_| true);
    assert_eq!(
        matching(&t, "contacts", filter("lastmodifieddate")).await,
        live
    );
    let all = t.control().records(t.hub(), "contacts", true).unwrap();
    assert!(all.iter().any(|r| r.archived));
    let everything: BTreeSet<u64> = search_all(&t, "contacts", json!({"limit": 200}))
        .await
        .into_iter()
        .collect();
    assert_eq!(everything, live);
}

#[tokio::test]
async fn paging_offsets_report_total_and_sorting_by_other_properties() {
    let t = start().await;
    let page = t
        .post_json("/crm/v3/objects/deals/search", &json!({"limit": 10}), 200)
        .await;
    let live = truth(&t, "deals", |_| true).len() as u64;
    assert_eq!(page["total"].as_u64().unwrap(), live);
    assert_eq!(page["paging"]["next"]["after"], "10");
    assert!(page["paging"]["next"].get("link").is_none());
    let sorted = t
        .post_json("/crm/v3/objects/deals/search", &json!({"sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}], "limit": 200, "properties": ["hs_lastmodifieddate"]}), 200)
        .await;
    let times: Vec<i64> = sorted["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ms(r["updatedAt"].as_str().unwrap()))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    // search returns the asked properties plus id, created and modified; never history
    let first = &sorted["results"][0];
    assert!(first["properties"]["createdate"].is_string());
    assert!(first.get("propertiesWithHistory").is_none());
}

#[tokio::test]
async fn index_lag_hides_changes_for_a_while() {
    let mut config = small_config();
    // long enough that no slow machine sees the index catch up mid-test
    config.index_lag_ms = 60_000;
    let t = start_with(config).await;
    let deal = t
        .control()
        .records(t.hub(), "deals", false)
        .unwrap()
        .remove(3);
    let mut props = serde_json::Map::new();
    props.insert("dealname".into(), json!("Lagging deal"));
    t.control()
        .update_record(t.hub(), "deals", deal.id, &props, None)
        .unwrap();
    let created = t.control().create_record(t.hub(), "deals", &props).unwrap();
    let by_name = json!([{"propertyName": "dealname", "operator": "EQ", "value": "Lagging deal"}]);
    assert!(
        matching(&t, "deals", by_name.clone()).await.is_empty(),
        "search still sees the old versions"
    );
    // the changed deal is still found, in its previous version (values and timestamps);
    // the new one is not found at all
    let by_id = |id: u64| {
        json!({"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": id.to_string()}]}],
               "properties": ["dealname"]})
    };
    let old = t
        .post_json("/crm/v3/objects/deals/search", &by_id(deal.id), 200)
        .await;
    assert_eq!(ids(&old["results"]), vec![deal.id]);
    assert_eq!(
        old["results"][0]["properties"]["dealname"],
        deal.properties
            .get("dealname")
            .map_or(Value::Null, |n| Value::from(n.as_str()))
    );
    assert_eq!(old["results"][0]["updatedAt"], deal.updated_at.as_str());
    let new = t
        .post_json("/crm/v3/objects/deals/search", &by_id(created.id), 200)
        .await;
    assert_eq!(new["total"], 0);
    // reads are not lagged
    let read = t
        .get_json(&format!("/crm/v3/objects/deals/{}", created.id), 200)
        .await;
    assert_eq!(read["properties"]["dealname"], "Lagging deal");
    // a shorter lag has passed (or will have, after the sleep): the index caught up
    t.control()
        .set_index_lag(Some(t.hub()), Duration::from_millis(300))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        matching(&t, "deals", by_name).await,
        BTreeSet::from([deal.id, created.id])
    );
}

#[tokio::test]
async fn search_has_its_own_secondly_bucket_without_headers() {
    let mut config = small_config();
    config.rate_limits = RateLimitConfig {
        search_per_second: 3,
        ..RateLimitConfig::default()
    };
    let t = start_with(config).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = t
            .post("/crm/v3/objects/deals/search", &json!({"limit": 1}))
            .await;
        assert!(r.headers().get("x-hubspot-ratelimit-remaining").is_none());
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["policyName"], "SECONDLY");
            assert_eq!(body["errorType"], "RATE_LIMIT");
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    // the 10-second bucket is not touched by search
    let list = t.get("/crm/v3/objects/deals").await;
    assert_eq!(list.headers()["x-hubspot-ratelimit-remaining"], "109");
    assert_eq!(t.control().counters().rate_limited["SECONDLY"], 2);
}

#[tokio::test]
async fn the_associations_pseudo_property_finds_associated_records() {
    let t = start().await;
    let links = t
        .control()
        .associations(t.hub(), "contacts", "companies")
        .unwrap();
    let company = links[0].to_id;
    let expected: BTreeSet<u64> = links
        .iter()
        .filter(|l| l.to_id == company)
        .map(|l| l.from_id)
        .collect();
    let found = matching(&t, "contacts", json!([{"propertyName": "associations.company", "operator": "EQ", "value": company.to_string()}])).await;
    assert_eq!(found, expected);
}

#[tokio::test]
async fn empty_string_values_are_served_but_are_no_value_to_search() {
    let t = start().await;
    let records = t.control().records(t.hub(), "contacts", false).unwrap();
    // real portals hold "" beside null for some properties (API.md §15)
    let (record, name) = records
        .iter()
        .find_map(|r| {
            r.properties
                .iter()
                .find(|(_, v)| v.is_empty())
                .map(|(k, _)| (r, k.clone()))
        })
        .expect("the generator leaves empty strings");
    let read = t
        .get_json(
            &format!("/crm/v3/objects/contacts/{}?properties={name}", record.id),
            200,
        )
        .await;
    assert_eq!(read["properties"][&name], "", "served as an empty string");
    let with_value = |r: &SimRecord| r.properties.get(&name).is_some_and(|v| !v.is_empty());
    let has = matching(
        &t,
        "contacts",
        json!([{"propertyName": name, "operator": "HAS_PROPERTY"}]),
    )
    .await;
    assert_eq!(has, truth(&t, "contacts", with_value));
    let has_not = matching(
        &t,
        "contacts",
        json!([{"propertyName": name, "operator": "NOT_HAS_PROPERTY"}]),
    )
    .await;
    assert_eq!(has_not, truth(&t, "contacts", |r| !with_value(r)));
    assert!(has_not.contains(&record.id));
}

/// The ids among `among` that a filter list matches.
async fn matching_among(t: &TestSim, table: &str, among: &[u64], filters: Value) -> BTreeSet<u64> {
    let mut all = vec![json!({"propertyName": "hs_object_id", "operator": "IN",
                              "values": among.iter().map(|id| id.to_string()).collect::<Vec<_>>()})];
    all.extend(filters.as_array().unwrap().iter().cloned());
    matching(t, table, Value::Array(all)).await
}

#[tokio::test]
async fn operators_compare_by_property_type() {
    let t = start().await;
    let c = t.control();
    let hub = t.hub();
    let set = |table: &str, id: u64, values: Value| {
        c.update_record(hub, table, id, values.as_object().unwrap(), None)
            .unwrap();
    };
    let deals: Vec<u64> = c
        .records(hub, "deals", false)
        .unwrap()
        .iter()
        .take(3)
        .map(|r| r.id)
        .collect();
    let (a, b, junk) = (deals[0], deals[1], deals[2]);
    set(
        "deals",
        a,
        json!({"amount": "9", "closedate": "2024-06-01T12:00:00.000Z",
                           "hs_priority": "high", "dealname": "Quarterly Review Notes"}),
    );
    set(
        "deals",
        b,
        json!({"amount": "10000", "closedate": "2024-06-02T00:00:00.000Z",
                           "hs_priority": "low", "dealname": "Pricing, reviewed"}),
    );
    set(
        "deals",
        junk,
        json!({"amount": "N/A", "hs_priority": null, "dealname": "n/a"}),
    );
    let f = |prop: &str, op: &str, value: Value| json!([{"propertyName": prop, "operator": op, "value": value}]);
    let among = |filters: Value| {
        let t = &t;
        let deals = deals.clone();
        async move { matching_among(t, "deals", &deals, filters).await }
    };
    let set_of = |ids: &[u64]| ids.iter().copied().collect::<BTreeSet<u64>>();

    // numbers compare as numbers ("9" < "50" < "10000"), junk matches no comparison
    assert_eq!(among(f("amount", "GT", json!("50"))).await, set_of(&[b]));
    assert_eq!(among(f("amount", "LT", json!(50))).await, set_of(&[a]));
    assert_eq!(among(f("amount", "EQ", json!("9.0"))).await, set_of(&[a]));
    assert_eq!(
        among(f("amount", "NEQ", json!("9"))).await,
        set_of(&[b, junk])
    );
    assert_eq!(
        among(f("amount", "HAS_PROPERTY", Value::Null)).await,
        set_of(&[a, b, junk])
    );

    // datetimes: epoch milliseconds and ISO-8601 alike; a bare date is a 400
    let noon = ms("2024-06-01T12:00:00.000Z");
    assert_eq!(
        among(f("closedate", "EQ", json!(noon.to_string()))).await,
        set_of(&[a])
    );
    assert_eq!(
        among(f("closedate", "EQ", json!("2024-06-01T12:00:00Z"))).await,
        set_of(&[a])
    );
    assert_eq!(
        among(json!([{"propertyName": "closedate", "operator": "BETWEEN",
                      "value": "2024-06-01T12:00:00.001Z", "highValue": (noon + 86_400_000).to_string()}]))
        .await,
        set_of(&[b])
    );
    let r = t
        .post(
            "/crm/v3/objects/deals/search",
            &json!({"filterGroups": [{"filters": f("closedate", "GTE", json!("2024-06-01"))}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // enumerations compare case-sensitively, in EQ and IN alike
    assert_eq!(
        among(f("hs_priority", "EQ", json!("high"))).await,
        set_of(&[a])
    );
    assert!(
        among(f("hs_priority", "EQ", json!("HIGH")))
            .await
            .is_empty()
    );
    assert!(
        among(
            json!([{"propertyName": "hs_priority", "operator": "IN", "values": ["HIGH", "LOW"]}])
        )
        .await
        .is_empty()
    );
    assert_eq!(
        among(json!([{"propertyName": "hs_priority", "operator": "NOT_IN", "values": ["high"]}]))
            .await,
        set_of(&[b, junk])
    );

    // strings: EQ ignores case; tokens are whole words unless a wildcard says otherwise
    assert_eq!(
        among(f("dealname", "EQ", json!("quarterly review notes"))).await,
        set_of(&[a])
    );
    assert_eq!(
        among(f("dealname", "CONTAINS_TOKEN", json!("REVIEW"))).await,
        set_of(&[a])
    );
    assert!(
        among(f("dealname", "CONTAINS_TOKEN", json!("revi")))
            .await
            .is_empty()
    );
    assert_eq!(
        among(f("dealname", "CONTAINS_TOKEN", json!("revi*"))).await,
        set_of(&[a, b])
    );
    assert_eq!(
        among(f("dealname", "NOT_CONTAINS_TOKEN", json!("review"))).await,
        set_of(&[b, junk])
    );

    // dates: "YYYY-MM-DD" and midnight epoch milliseconds name the same day
    let item = c.records(hub, "line_items", false).unwrap()[0].id;
    let other = c.records(hub, "line_items", false).unwrap()[1].id;
    set(
        "line_items",
        item,
        json!({"hs_recurring_billing_start_date": "2024-06-01"}),
    );
    set(
        "line_items",
        other,
        json!({"hs_recurring_billing_start_date": ms("2024-06-03T00:00:00Z").to_string()}),
    );
    let items = [item, other];
    let day = |op: &str, value: &str| json!([{"propertyName": "hs_recurring_billing_start_date", "operator": op, "value": value}]);
    assert_eq!(
        matching_among(&t, "line_items", &items, day("EQ", "2024-06-01")).await,
        set_of(&[item])
    );
    assert_eq!(
        matching_among(
            &t,
            "line_items",
            &items,
            day("EQ", &ms("2024-06-01T00:00:00Z").to_string())
        )
        .await,
        set_of(&[item])
    );
    assert_eq!(
        matching_among(&t, "line_items", &items, day("GT", "2024-06-02")).await,
        set_of(&[other])
    );
}

#[tokio::test]
async fn hostile_numbers_get_answers_not_panics() {
    let t = start().await;
    // past the cap however large: a 400, not an overflow
    let r = t
        .post(
            "/crm/v3/objects/deals/search",
            &json!({"after": usize::MAX.to_string()}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for value in ["1e300", "9223372036854775807", "-1e300"] {
        let r = t
            .post(
                "/crm/v3/objects/deals/search",
                &json!({"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": value}]}]}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "hs_object_id GT {value}");
    }
    let company = t
        .control()
        .associations(t.hub(), "companies", "contacts")
        .unwrap()[0]
        .from_id;
    let cursor = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("off-{}", usize::MAX))
    };
    let r = t
        .get(&format!(
            "/crm/v4/objects/companies/{company}/associations/contacts?after={}",
            url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["results"], json!([]));
}
