//! Properties, schemas, owners and pipelines over HTTP.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::start;

fn by_name<'a>(results: &'a Value, name: &str) -> &'a Value {
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name}"))
}

#[tokio::test]
async fn properties_carry_hubspots_metadata() {
    let t = start().await;
    let deals = t.get_json("/crm/v3/properties/deals", 200).await;
    let results = &deals["results"];
    assert!(results.as_array().unwrap().len() > 190);
    let amount = by_name(results, "amount");
    assert_eq!(amount["showCurrencySymbol"], true);
    assert_eq!(amount["currencyPropertyName"], "deal_currency_code");
    let stage = by_name(results, "dealstage");
    assert_eq!(stage["externalOptions"], true);
    assert_eq!(stage["options"], serde_json::json!([]));
    let owner = by_name(results, "hubspot_owner_id");
    assert_eq!(owner["referencedObjectType"], "OWNER");
    // the second pipeline's stages have their own per-stage properties
    let pipelines = t.get_json("/crm/v3/pipelines/deals", 200).await;
    let renewals = &pipelines["results"][1];
    let stage_id = renewals["stages"][0]["id"].as_str().unwrap();
    by_name(results, &format!("hs_v2_date_entered_{stage_id}"));
    let line_items = t.get_json("/crm/v3/properties/line_items", 200).await;
    let types: BTreeSet<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .chain(line_items["results"].as_array().unwrap())
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    for ty in [
        "string",
        "number",
        "date",
        "datetime",
        "enumeration",
        "bool",
    ] {
        assert!(types.contains(ty), "{ty}");
    }
    let single = t.get_json("/crm/v3/properties/deals/amount", 200).await;
    assert_eq!(&single, amount);
    assert_eq!(
        t.get("/crm/v3/properties/deals/no_such").await.status(),
        StatusCode::NOT_FOUND
    );
    let dated = t.get_json("/crm/properties/2026-03/deals", 200).await;
    assert_eq!(dated, deals);
    let groups = t.get_json("/crm/v3/properties/deals/groups", 200).await;
    assert!(
        groups["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "deal_revenue")
    );
    let batch = t.post_json("/crm/v3/properties/deals/batch/read", &serde_json::json!({"inputs": [{"name": "amount"}, {"name": "nope"}], "archived": false}), 200).await;
    assert_eq!(batch["results"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn legacy_v2_properties_are_a_bare_array() {
    let t = start().await;
    let v2 = t.get_json("/properties/v2/contacts/properties", 200).await;
    let array = v2.as_array().expect("bare array");
    let email = array.iter().find(|p| p["name"] == "email").unwrap();
    assert_eq!(email["type"], "string");
    assert!(email.get("readOnlyValue").is_some());
}

#[tokio::test]
async fn schemas_describe_custom_objects() {
    let t = start().await;
    for path in [
        "/crm/v3/schemas",
        "/crm-object-schemas/v3/schemas",
        "/crm-object-schemas/2026-03/schemas",
    ] {
        let schemas = t.get_json(path, 200).await;
        let results = schemas["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{path}: archived schemas are not listed");
        let cars = &results[0];
        assert_eq!(cars["name"], "cars");
        assert_eq!(cars["primaryDisplayProperty"], "model");
        assert_eq!(cars["fullyQualifiedName"], format!("p{}_cars", t.hub()));
        assert!(cars["objectTypeId"].as_str().unwrap().starts_with("2-"));
        assert!(
            cars["properties"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "vin")
        );
        assert!(!cars["associations"].as_array().unwrap().is_empty());
    }
    let archived = t.get_json("/crm/v3/schemas?archived=true", 200).await;
    assert_eq!(archived["results"][0]["archived"], true);
    let one = t.get_json("/crm/v3/schemas/p_cars", 200).await;
    assert_eq!(one["name"], "cars");
}

#[tokio::test]
async fn owners_active_archived_paged_and_with_a_trailing_slash() {
    let t = start().await;
    let active = t.get_json("/crm/v3/owners/", 200).await;
    let results = active["results"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    assert!(
        results
            .iter()
            .all(|o| o["userId"].is_u64() && o["archived"] == false)
    );
    let archived = t.get_json("/crm/v3/owners?archived=true", 200).await;
    let archived = archived["results"].as_array().unwrap();
    assert_eq!(archived.len(), 4);
    assert!(
        archived
            .iter()
            .all(|o| o["userId"].is_null() && o["userIdIncludingInactive"].is_u64())
    );
    let mut seen = Vec::new();
    let mut path = "/crm/v3/owners?limit=6".to_string();
    loop {
        let page = t.get_json(&path, 200).await;
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
        match page["paging"]["next"]["after"].as_str() {
            Some(a) => {
                path = format!(
                    "/crm/v3/owners?limit=6&after={}",
                    url::form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()
                )
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 20);
    let first = &results[0];
    let one = t
        .get_json(
            &format!("/crm/v3/owners/{}", first["id"].as_str().unwrap()),
            200,
        )
        .await;
    assert_eq!(&one, first);
    let by_email = t
        .get_json(
            &format!("/crm/v3/owners?email={}", first["email"].as_str().unwrap()),
            200,
        )
        .await;
    assert_eq!(by_email["results"].as_array().unwrap().len(), 1);
    let dated = t.get_json("/crm/owners/2026-03", 200).await;
    assert_eq!(dated["results"], active["results"]);
    // every owner reference on records points at a known owner, active or not
    let known: BTreeSet<String> = results
        .iter()
        .chain(archived)
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    for deal in t.control().records(t.hub(), "deals", false).unwrap() {
        if let Some(owner) = deal.properties.get("hubspot_owner_id") {
            assert!(known.contains(owner), "{owner}");
        }
    }
}

#[tokio::test]
async fn pipelines_give_stage_labels() {
    let t = start().await;
    let pipelines = t.get_json("/crm/v3/pipelines/deals", 200).await;
    let results = pipelines["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let default = &results[0];
    assert_eq!(default["id"], "default");
    assert_eq!(default["stages"][5]["id"], "closedwon");
    assert_eq!(default["stages"][5]["metadata"]["isClosed"], "true");
    let stages: BTreeSet<String> = results
        .iter()
        .flat_map(|p| {
            p["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
        })
        .collect();
    for deal in t.control().records(t.hub(), "deals", false).unwrap() {
        assert!(stages.contains(&deal.properties["dealstage"]));
    }
    let one = t.get_json("/crm/v3/pipelines/deals/default", 200).await;
    assert_eq!(&one, default);
    t.get_json("/crm/v3/pipelines/deals/default/stages", 200)
        .await;
}
