//! The control API: the same operations over HTTP as in process, ground truth, schema drift,
//! counters per endpoint family and object type.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ids, start};

#[tokio::test]
async fn http_control_api_lists_portals_and_changes_records() {
    let t = start().await;
    let base = t.sim.base_url();
    let portals: Value = t
        .http
        .get(format!("{base}/_sim/portals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(portals[0]["hub_id"], t.hub());
    assert_eq!(portals[0]["refresh_token"], t.portal.refresh_token.as_str());
    let index: Value = t
        .http
        .get(format!("{base}/_sim"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(index["endpoints"].as_array().unwrap().len() > 20);

    let hub = t.hub();
    let created: Value = t
        .http
        .post(format!("{base}/_sim/portals/{hub}/objects/deals"))
        .json(&json!({"properties": {"dealname": "Control deal", "amount": "42"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    let before = created["updatedAt"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let updated: Value = t
        .http
        .patch(format!("{base}/_sim/portals/{hub}/objects/deals/{id}"))
        .json(&json!({"properties": {"amount": "43"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(updated["updatedAt"].as_str().unwrap() > before.as_str());
    assert_eq!(
        updated["properties"]["hs_lastmodifieddate"],
        updated["updatedAt"]
    );
    let read = t
        .get_json(
            &format!("/crm/v3/objects/deals/{id}?propertiesWithHistory=amount"),
            200,
        )
        .await;
    let history = read["propertiesWithHistory"]["amount"].as_array().unwrap();
    assert_eq!(history[0]["value"], "43");
    assert_eq!(history[1]["value"], "42");

    let r = t
        .http
        .delete(format!("{base}/_sim/portals/{hub}/objects/deals/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&format!("/crm/v3/objects/deals/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let all: Value = t
        .http
        .get(format!(
            "{base}/_sim/portals/{hub}/objects/deals?archived=include"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        all["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"].as_u64() == Some(id) && r["archived"] == true)
    );

    let contacts = t.control().records(hub, "contacts", false).unwrap();
    let merged: Value = t
        .http
        .post(format!("{base}/_sim/portals/{hub}/objects/contacts/merge"))
        .json(&json!({"primaryObjectId": contacts[0].id.to_string(), "objectIdToMerge": contacts[1].id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let survivor = merged["id"].as_u64().unwrap();
    assert!(survivor > contacts[1].id);
    let batch = t.post_json("/crm/v3/objects/contacts/batch/read", &json!({"inputs": [{"id": contacts[0].id.to_string()}], "properties": ["hs_merged_object_ids"]}), 200).await;
    assert_eq!(ids(&batch["results"]), vec![survivor]);

    let r = t
        .http
        .put(format!("{base}/_sim/portals/{hub}/index-lag"))
        .json(&json!({"millis": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = t
        .http
        .get(format!("{base}/_sim/portals/999/objects/deals"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn schema_drift_adds_retypes_and_archives_properties() {
    let t = start().await;
    let hub = t.hub();
    t.control()
        .add_property(
            hub,
            "deals",
            json!({"name": "sim_region", "label": "Region", "type": "string", "fieldType": "text"}),
        )
        .unwrap();
    let prop = t.get_json("/crm/v3/properties/deals/sim_region", 200).await;
    assert_eq!(prop["type"], "string");
    let deal = t.control().records(hub, "deals", false).unwrap().remove(0);
    let mut props = serde_json::Map::new();
    props.insert("sim_region".into(), json!("EMEA"));
    t.control()
        .update_record(hub, "deals", deal.id, &props, None)
        .unwrap();
    let found = t.post_json("/crm/v3/objects/deals/search", &json!({"filterGroups": [{"filters": [{"propertyName": "sim_region", "operator": "EQ", "value": "emea"}]}]}), 200).await;
    assert_eq!(ids(&found["results"]), vec![deal.id]);

    t.control()
        .retype_property(
            hub,
            "deals",
            "sim_region",
            &hubspot_sim::PropertyChange {
                ptype: Some("enumeration".into()),
                field_type: Some("select".into()),
                options: Some(
                    json!([{"label": "EMEA", "value": "EMEA", "displayOrder": 0, "hidden": false}]),
                ),
            },
        )
        .unwrap();
    let prop = t.get_json("/crm/v3/properties/deals/sim_region", 200).await;
    assert_eq!(prop["type"], "enumeration");
    assert_eq!(prop["options"][0]["value"], "EMEA");

    t.control()
        .archive_property(hub, "deals", "sim_region")
        .unwrap();
    assert_eq!(
        t.get("/crm/v3/properties/deals/sim_region").await.status(),
        StatusCode::NOT_FOUND
    );
    let archived = t
        .get_json("/crm/v3/properties/deals?archived=true", 200)
        .await;
    assert!(
        archived["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "sim_region" && p["archived"] == true)
    );
    let read = t
        .get_json(
            &format!("/crm/v3/objects/deals/{}?properties=sim_region", deal.id),
            200,
        )
        .await;
    assert!(read["properties"].get("sim_region").is_none());
    let r = t.post("/crm/v3/objects/deals/search", &json!({"filterGroups": [{"filters": [{"propertyName": "sim_region", "operator": "HAS_PROPERTY"}]}]})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn counters_prove_what_a_sync_fetched() {
    let t = start().await;
    t.control().reset_counters();
    t.get_json("/crm/v3/objects/deals?limit=5", 200).await;
    t.post_json("/crm/v3/objects/deals/search", &json!({"limit": 3}), 200)
        .await;
    let ids3: Vec<Value> = t
        .control()
        .records(t.hub(), "contacts", false)
        .unwrap()
        .iter()
        .take(3)
        .map(|r| json!({"id": r.id.to_string()}))
        .collect();
    t.post_json(
        "/crm/v3/objects/contacts/batch/read",
        &json!({"inputs": ids3}),
        200,
    )
    .await;
    t.get("/crm/v3/objects/nope").await;
    let c = t.control().counters();
    assert_eq!(c.records_of("deals", "list"), 5);
    assert_eq!(c.records_of("deals", "search"), 3);
    assert_eq!(c.records_of("contacts", "batch_read"), 3);
    // One call each, whatever the number of records; the refused one is not a call
    // for any table.
    assert_eq!(c.calls_of("deals", "list"), 1);
    assert_eq!(c.calls_of("deals", "search"), 1);
    assert_eq!(c.calls_of("contacts", "batch_read"), 1);
    assert_eq!(c.calls_of("contacts", "list"), 0);
    assert_eq!(c.requests["list"][&200], 1);
    assert_eq!(c.requests["list"][&400], 1);
    assert_eq!(c.requests["search"][&200], 1);
    assert_eq!(c.requests_of("oauth"), 0);
    assert_eq!(
        t.control()
            .portal_counters(t.hub())
            .unwrap()
            .records_of("deals", "list"),
        5
    );
    let base = t.sim.base_url();
    let over_http: hubspot_sim::CounterSnapshot = t
        .http
        .get(format!("{base}/_sim/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http.records_of("deals", "search"), 3);
    t.http
        .post(format!("{base}/_sim/counters/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(t.control().counters().total_requests(), 0);
}

#[tokio::test]
async fn generated_clusters_share_one_millisecond_and_are_searchable_by_id() {
    let t = start().await;
    let hub = t.hub();
    let ids_made = t
        .control()
        .generate_records(hub, "contacts", 300, true)
        .unwrap();
    let record = t
        .control()
        .record(hub, "contacts", ids_made[0])
        .unwrap()
        .unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(&record.updated_at)
        .unwrap()
        .timestamp_millis();
    let mut last = 0u64;
    let mut seen = Vec::new();
    loop {
        let body = json!({"filterGroups": [{"filters": [
            {"propertyName": "lastmodifieddate", "operator": "EQ", "value": at.to_string()},
            {"propertyName": "hs_object_id", "operator": "GT", "value": last.to_string()},
        ]}], "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 200});
        let page = t
            .post_json("/crm/v3/objects/contacts/search", &body, 200)
            .await;
        let page_ids = ids(&page["results"]);
        if page_ids.is_empty() {
            break;
        }
        last = *page_ids.last().unwrap();
        seen.extend(page_ids);
    }
    assert_eq!(seen, ids_made);
}

#[tokio::test]
async fn every_accepted_connection_has_nodelay() {
    let t = start().await;
    t.control().reset_counters();
    // three clients, three connections (a client keeps its connection alive)
    for _ in 0..3 {
        let client = reqwest::Client::new();
        let r = client
            .get(t.url("/crm/v3/objects/deals?limit=1"))
            .bearer_auth(&t.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
    }
    let c = t.control().counters();
    assert!(c.connections >= 3, "{} connections", c.connections);
    // Nagle would delay every small response of a keep-alive client by ~40 ms
    assert_eq!(c.connections_without_nodelay, 0);
}
