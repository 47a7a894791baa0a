//! Objects over HTTP: list, read, batch read, URL length, names of object types, writes.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ids, start};

#[tokio::test]
async fn list_pages_through_every_live_record_in_id_order() {
    let t = start().await;
    let truth: Vec<u64> = t
        .control()
        .records(t.hub(), "deals", false)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!(
                "/crm/v3/objects/deals?limit=7&after={}",
                url::form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()
            ),
            None => "/crm/v3/objects/deals?limit=7".into(),
        };
        let page = t.get_json(&path, 200).await;
        assert!(page.get("total").is_none(), "list has no total");
        seen.extend(ids(&page["results"]));
        match page["paging"]["next"]["after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, truth);
    assert!(seen.iter().any(|id| *id > u64::from(u32::MAX)));
}

#[tokio::test]
async fn list_limits_and_archived_records() {
    let t = start().await;
    let r = t.get("/crm/v3/objects/deals?limit=101").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "VALIDATION_ERROR");
    t.get_json("/crm/v3/objects/deals?limit=100", 200).await;
    assert_eq!(
        t.get("/crm/v3/objects/deals?limit=51&propertiesWithHistory=dealstage")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let page = t
        .get_json(
            "/crm/v3/objects/deals?limit=50&propertiesWithHistory=dealstage",
            200,
        )
        .await;
    let first = &page["results"][0];
    assert!(first["propertiesWithHistory"]["dealstage"][0]["timestamp"].is_string());

    let archived = t
        .get_json("/crm/v3/objects/deals?archived=true&limit=100", 200)
        .await;
    let truth: BTreeSet<u64> = t
        .control()
        .records(t.hub(), "deals", true)
        .unwrap()
        .iter()
        .filter(|r| r.archived)
        .map(|r| r.id)
        .collect();
    assert!(!truth.is_empty());
    assert_eq!(
        ids(&archived["results"])
            .into_iter()
            .collect::<BTreeSet<_>>(),
        truth
    );
    for r in archived["results"].as_array().unwrap() {
        assert_eq!(r["archived"], true);
        assert!(r["archivedAt"].is_string());
    }
}

#[tokio::test]
async fn properties_are_comma_joined_or_repeated_and_unknown_ones_ignored() {
    let t = start().await;
    let a = t
        .get_json(
            "/crm/v3/objects/contacts?limit=3&properties=email,firstname,no_such_property",
            200,
        )
        .await;
    let b = t
        .get_json(
            "/crm/v3/objects/contacts?limit=3&properties=email&properties=firstname",
            200,
        )
        .await;
    assert_eq!(a["results"], b["results"]);
    let props = a["results"][0]["properties"].as_object().unwrap();
    let names: BTreeSet<&str> = props.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate"
        ])
    );
    // requested properties without a value come back as null
    let all = t
        .get_json("/crm/v3/objects/contacts?limit=50&properties=jobtitle", 200)
        .await;
    assert!(
        all["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["properties"]["jobtitle"].is_null())
    );
    // no properties asked: the defaults
    let defaults = t.get_json("/crm/v3/objects/deals?limit=1", 200).await;
    let names: BTreeSet<&str> = defaults["results"][0]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline"
        ])
    );
}

#[tokio::test]
async fn records_mirror_their_system_properties() {
    let t = start().await;
    for (table, modified) in [
        ("contacts", "lastmodifieddate"),
        ("deals", "hs_lastmodifieddate"),
        ("meetings", "hs_lastmodifieddate"),
    ] {
        let page = t
            .get_json(&format!("/crm/v3/objects/{table}?limit=20"), 200)
            .await;
        for r in page["results"].as_array().unwrap() {
            assert_eq!(r["properties"]["hs_object_id"], r["id"]);
            assert_eq!(r["properties"][modified], r["updatedAt"], "{table}");
            assert_eq!(r["archived"], false);
        }
    }
}

#[tokio::test]
async fn object_types_answer_to_every_spelling() {
    let t = start().await;
    let plural = t.get_json("/crm/v3/objects/line_items?limit=5", 200).await;
    for spelling in ["line_item", "0-8", "LINE_ITEMS"] {
        let page = t
            .get_json(&format!("/crm/v3/objects/{spelling}?limit=5"), 200)
            .await;
        assert_eq!(page["results"], plural["results"], "{spelling}");
    }
    let dated = t
        .get_json("/crm/objects/2026-03/line_items?limit=5", 200)
        .await;
    assert_eq!(dated["results"], plural["results"]);
    let schema = &t.get_json("/crm/v3/schemas", 200).await["results"][0];
    let type_id = schema["objectTypeId"].as_str().unwrap().to_string();
    let fqn = schema["fullyQualifiedName"].as_str().unwrap().to_string();
    let cars = t
        .get_json(
            &format!("/crm/v3/objects/{type_id}?limit=5&properties=model"),
            200,
        )
        .await;
    assert!(!cars["results"].as_array().unwrap().is_empty());
    for spelling in [fqn.as_str(), "p_cars"] {
        assert_eq!(
            t.get_json(
                &format!("/crm/v3/objects/{spelling}?limit=5&properties=model"),
                200
            )
            .await["results"],
            cars["results"]
        );
    }
    let r = t.get("/crm/v3/objects/tickets").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Unable to infer object type")
    );
}

#[tokio::test]
async fn read_one_with_404s_id_property_and_merges() {
    let t = start().await;
    let contact = t
        .control()
        .records(t.hub(), "contacts", false)
        .unwrap()
        .into_iter()
        .find(|r| r.properties.contains_key("email"))
        .unwrap();
    let one = t
        .get_json(&format!("/crm/v3/objects/contacts/{}", contact.id), 200)
        .await;
    assert_eq!(one["id"], contact.id.to_string());
    let by_email = t
        .get_json(
            &format!(
                "/crm/v3/objects/contacts/{}?idProperty=email",
                contact.properties["email"]
            ),
            200,
        )
        .await;
    assert_eq!(by_email["id"], contact.id.to_string());

    let r = t.get("/crm/v3/objects/contacts/123").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "OBJECT_NOT_FOUND");
    // HubSpot's other 404: no body at all
    let mut settings = t.control().settings();
    settings.empty_not_found_bodies = true;
    t.control().set_settings(settings.clone());
    let r = t.get("/crm/v3/objects/contacts/123").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get("x-hubspot-correlation-id").is_some());
    assert!(r.bytes().await.unwrap().is_empty(), "empty-bodied 404");
    settings.empty_not_found_bodies = false;
    t.control().set_settings(settings);

    let archived = t
        .control()
        .records(t.hub(), "contacts", true)
        .unwrap()
        .into_iter()
        .find(|r| r.archived)
        .unwrap();
    assert_eq!(
        t.get(&format!("/crm/v3/objects/contacts/{}", archived.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let found = t
        .get_json(
            &format!("/crm/v3/objects/contacts/{}?archived=true", archived.id),
            200,
        )
        .await;
    assert_eq!(found["archived"], true);

    let (old, survivor) = live_merge(&t, "contacts");
    let read = t
        .get_json(
            &format!("/crm/v3/objects/contacts/{old}?properties=hs_merged_object_ids"),
            200,
        )
        .await;
    assert_eq!(read["id"], survivor.to_string());
    assert!(
        read["properties"]["hs_merged_object_ids"]
            .as_str()
            .unwrap()
            .split(';')
            .any(|id| id == old.to_string())
    );
}

/// A merged-away id whose survivor is live (a generated survivor may have been archived
/// since, and then the old id is gone too).
fn live_merge(t: &crate::helpers::TestSim, table: &str) -> (u64, u64) {
    let live: BTreeSet<u64> = t
        .control()
        .records(t.hub(), table, false)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    t.control()
        .merged_ids(t.hub(), table)
        .unwrap()
        .into_iter()
        .find(|(_, survivor)| live.contains(survivor))
        .expect("a merge with a live survivor")
}

#[tokio::test]
async fn batch_read_reports_missing_ids_with_207() {
    let t = start().await;
    let truth = t.control().records(t.hub(), "companies", false).unwrap();
    let (old, survivor) = live_merge(&t, "companies");
    let inputs = json!([{"id": truth[0].id.to_string()}, {"id": truth[1].id.to_string()}, {"id": "999"}, {"id": old.to_string()}]);
    let body = t
        .post_json(
            "/crm/v3/objects/companies/batch/read",
            &json!({"inputs": inputs, "properties": ["name"]}),
            207,
        )
        .await;
    assert_eq!(body["status"], "COMPLETE");
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(body["errors"][0]["context"]["ids"], json!(["999"]));
    let got: BTreeSet<u64> = ids(&body["results"]).into_iter().collect();
    assert_eq!(got, BTreeSet::from([truth[0].id, truth[1].id, survivor]));

    let all_found = t
        .post_json(
            "/crm/v3/objects/companies/batch/read",
            &json!({"inputs": [{"id": truth[0].id.to_string()}]}),
            200,
        )
        .await;
    assert!(all_found.get("errors").is_none());

    let too_many: Vec<Value> = (0..101).map(|i| json!({"id": i.to_string()})).collect();
    let r = t
        .post(
            "/crm/v3/objects/companies/batch/read",
            &json!({"inputs": too_many}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = t
        .post("/crm/v3/objects/companies/batch/read", &json!({"nope": 1}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn long_urls_answer_414() {
    let t = start().await;
    let names: Vec<String> = (0..600).map(|i| format!("hs_property_name_{i}")).collect();
    let r = t
        .get(&format!(
            "/crm/v3/objects/deals?properties={}",
            names.join(",")
        ))
        .await;
    assert_eq!(r.status(), StatusCode::URI_TOO_LONG);
    let short = names[..100].join(",");
    assert_eq!(
        t.get(&format!("/crm/v3/objects/deals?properties={short}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn writes_are_refused_as_for_an_app_without_write_scopes() {
    let t = start().await;
    let before = t.control().counters().refused_writes;
    let r = t
        .post(
            "/crm/v3/objects/deals",
            &json!({"properties": {"dealname": "x"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "MISSING_SCOPES");
    assert_eq!(
        body["errors"][0]["context"]["requiredGranularScopes"][0],
        "crm.objects.deals.write"
    );
    let r = t
        .request(
            reqwest::Method::PATCH,
            "/crm/v3/objects/contacts/1",
            Some(&json!({"properties": {}})),
            &t.token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = t
        .request(
            reqwest::Method::DELETE,
            "/crm/v3/objects/contacts/1",
            None,
            &t.token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = t
        .post(
            "/crm/v4/associations/deals/companies/batch/create",
            &json!({"inputs": []}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(t.control().counters().refused_writes, before + 4);
    // reads by POST are not writes
    t.post_json("/crm/v3/objects/deals/search", &json!({}), 200)
        .await;
}

#[tokio::test]
async fn the_recycle_bin_keeps_archived_records_for_90_days() {
    let t = start().await;
    let deals = t.control().records(t.hub(), "deals", false).unwrap();
    let day = 86_400_000i64;
    let now = chrono::Utc::now().timestamp_millis();
    t.control()
        .archive_record_at(t.hub(), "deals", deals[0].id, now - 89 * day)
        .unwrap();
    t.control()
        .archive_record_at(t.hub(), "deals", deals[1].id, now - 91 * day)
        .unwrap();
    let archived = t
        .get_json("/crm/v3/objects/deals?archived=true&limit=100", 200)
        .await;
    let listed = ids(&archived["results"]);
    assert!(listed.contains(&deals[0].id));
    assert!(!listed.contains(&deals[1].id), "gone after 90 days");
    assert_eq!(
        t.get(&format!(
            "/crm/v3/objects/deals/{}?archived=true",
            deals[1].id
        ))
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    t.get_json(
        &format!("/crm/v3/objects/deals/{}?archived=true", deals[0].id),
        200,
    )
    .await;
    let truth = t.control().records(t.hub(), "deals", true).unwrap();
    assert!(!truth.iter().any(|r| r.id == deals[1].id));
}

#[tokio::test]
async fn list_paging_is_stable_while_records_change() {
    let t = start().await;
    let c = t.control();
    let hub = t.hub();
    let before: Vec<u64> = c
        .records(hub, "deals", false)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let page = |after: Option<String>| {
        let t = &t;
        async move {
            let path = match after {
                Some(a) => format!(
                    "/crm/v3/objects/deals?limit=10&after={}",
                    url::form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()
                ),
                None => "/crm/v3/objects/deals?limit=10".into(),
            };
            t.get_json(&path, 200).await
        }
    };
    let first = page(None).await;
    let mut seen = ids(&first["results"]);
    assert_eq!(seen, before[..10]);
    // between pages: the next page's first record is archived, a later one updated, two
    // merged into a new record, and one created
    c.archive_record(hub, "deals", before[10]).unwrap();
    let mut props = serde_json::Map::new();
    props.insert("dealname".into(), json!("changed mid-listing"));
    c.update_record(hub, "deals", before[15], &props, None)
        .unwrap();
    let survivor = c
        .merge_records(hub, "deals", before[20], before[21], false)
        .unwrap()
        .id;
    let created = c.create_record(hub, "deals", &props).unwrap().id;
    let mut after = first["paging"]["next"]["after"]
        .as_str()
        .map(str::to_string);
    while let Some(cursor) = after {
        let body = page(Some(cursor)).await;
        seen.extend(ids(&body["results"]));
        after = body["paging"]["next"]["after"].as_str().map(str::to_string);
    }
    let gone = [before[10], before[20], before[21]];
    let mut expected: Vec<u64> = before
        .iter()
        .copied()
        .filter(|id| !gone.contains(id))
        .collect();
    expected.extend([survivor, created]);
    assert_eq!(seen, expected, "every live record once, in id order");
}
