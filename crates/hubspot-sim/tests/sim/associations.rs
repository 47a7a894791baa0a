//! Associations v4 and inline associations over HTTP.

use std::collections::{BTreeMap, BTreeSet};

use hubspot_sim::AssociationChange;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ids, start};

#[tokio::test]
async fn batch_read_pages_per_input_and_reports_inputs_without_associations() {
    let t = start().await;
    t.control().set_association_page_size(3);
    let truth = t
        .control()
        .associations(t.hub(), "companies", "contacts")
        .unwrap();
    let mut expected: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for a in &truth {
        expected.entry(a.from_id).or_default().insert(a.to_id);
    }
    let companies: Vec<u64> = t
        .control()
        .records(t.hub(), "companies", false)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let mut got: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut inputs: Vec<Value> = companies
        .iter()
        .map(|id| json!({"id": id.to_string()}))
        .collect();
    let mut first = true;
    let mut saw_paging = false;
    while !inputs.is_empty() {
        let r = t
            .post(
                "/crm/v4/associations/companies/contacts/batch/read",
                &json!({"inputs": inputs}),
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if first {
            let without = companies
                .iter()
                .filter(|c| !expected.contains_key(c))
                .count();
            assert_eq!(
                status,
                if without > 0 {
                    StatusCode::MULTI_STATUS
                } else {
                    StatusCode::OK
                }
            );
            if without > 0 {
                assert_eq!(body["numErrors"].as_u64().unwrap() as usize, without);
                assert_eq!(
                    body["errors"][0]["subCategory"],
                    "crm.associations.NO_ASSOCIATIONS_FOUND"
                );
            }
            first = false;
        }
        inputs = Vec::new();
        for result in body["results"].as_array().unwrap() {
            let from: u64 = result["from"]["id"].as_str().unwrap().parse().unwrap();
            for to in result["to"].as_array().unwrap() {
                assert!(to["toObjectId"].is_u64(), "toObjectId is a JSON number");
                assert!(!to["associationTypes"].as_array().unwrap().is_empty());
                got.entry(from)
                    .or_default()
                    .insert(to["toObjectId"].as_u64().unwrap());
            }
            assert!(result["to"].as_array().unwrap().len() <= 3);
            if let Some(after) = result["paging"]["next"]["after"].as_str() {
                saw_paging = true;
                inputs.push(json!({"id": from.to_string(), "after": after}));
            }
        }
    }
    assert!(saw_paging);
    assert_eq!(got, expected);

    let too_many: Vec<Value> = (0..1001).map(|i| json!({"id": i.to_string()})).collect();
    assert_eq!(
        t.post(
            "/crm/v4/associations/companies/contacts/batch/read",
            &json!({"inputs": too_many})
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
    let counters = t.control().counters();
    assert_eq!(
        counters.records_of("companies", "associations") as usize,
        truth.len()
    );
}

#[tokio::test]
async fn types_labels_single_reads_and_dated_paths() {
    let t = start().await;
    let deal_company = t
        .control()
        .associations(t.hub(), "deals", "companies")
        .unwrap();
    let primary = deal_company
        .iter()
        .find(|a| a.type_ids.contains(&5))
        .expect("a primary deal→company");
    assert!(primary.type_ids.contains(&341));
    let body = t
        .post_json(
            "/crm/associations/2026-03/deals/companies/batch/read",
            &json!({"inputs": [{"id": primary.from_id.to_string()}]}),
            200,
        )
        .await;
    let types = &body["results"][0]["to"][0]["associationTypes"];
    let labels: BTreeSet<(u64, Option<String>)> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["typeId"].as_u64().unwrap(),
                t["label"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert!(labels.contains(&(5, Some("Primary".into()))));
    assert!(labels.contains(&(341, None)));
    // The control API tells the same types as the API does.
    let kinds = t
        .control()
        .association_types(t.hub(), "deals", "companies")
        .unwrap();
    for (type_id, label) in &labels {
        let kind = kinds
            .iter()
            .find(|k| u64::from(k.type_id) == *type_id)
            .expect("every type the API sends is known to the control API");
        assert_eq!(&kind.label, label);
        assert_eq!(kind.category, "HUBSPOT_DEFINED");
    }
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["category"] == "HUBSPOT_DEFINED")
    );

    let single = t
        .get_json(
            &format!(
                "/crm/v4/objects/deals/{}/associations/companies",
                primary.from_id
            ),
            200,
        )
        .await;
    assert_eq!(
        single["results"][0]["toObjectId"].as_u64(),
        Some(primary.to_id)
    );
    let reverse = t
        .control()
        .associations(t.hub(), "companies", "deals")
        .unwrap();
    assert!(reverse.iter().any(|a| a.from_id == primary.to_id
        && a.to_id == primary.from_id
        && a.type_ids.contains(&6)));

    let labels = t
        .get_json("/crm/v4/associations/contacts/companies/labels", 200)
        .await;
    let results = labels["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|l| l["typeId"] == 279 && l["label"].is_null())
    );
    assert!(
        results
            .iter()
            .any(|l| l["category"] == "USER_DEFINED" && l["label"] == "Billing contact")
    );
    t.get_json("/crm/associations/v4/contacts/companies/labels", 200)
        .await;

    // the joins of the product all exist
    for (from, to) in [
        ("deals", "companies"),
        ("deals", "contacts"),
        ("line_items", "deals"),
        ("meetings", "companies"),
        ("meetings", "deals"),
        ("contacts", "companies"),
        ("contacts", "meetings"),
    ] {
        assert!(
            !t.control()
                .associations(t.hub(), from, to)
                .unwrap()
                .is_empty(),
            "{from}→{to}"
        );
    }
    // line items belong to exactly one deal
    let line_items = t
        .control()
        .associations(t.hub(), "line_items", "deals")
        .unwrap();
    let mut per_item: BTreeMap<u64, usize> = BTreeMap::new();
    for a in line_items {
        *per_item.entry(a.from_id).or_default() += 1;
    }
    assert!(per_item.values().all(|n| *n == 1));
}

#[tokio::test]
async fn inline_associations_repeat_default_and_unlabeled_types() {
    let t = start().await;
    let deal_company = t
        .control()
        .associations(t.hub(), "deals", "companies")
        .unwrap();
    let primary = deal_company
        .iter()
        .find(|a| a.type_ids.contains(&5))
        .unwrap();
    let deal = t
        .get_json(
            &format!(
                "/crm/v3/objects/deals/{}?associations=companies,line_items,unknown_things",
                primary.from_id
            ),
            200,
        )
        .await;
    let results = deal["associations"]["companies"]["results"]
        .as_array()
        .unwrap();
    let types: BTreeSet<&str> = results
        .iter()
        .filter(|r| r["id"].as_str() == Some(primary.to_id.to_string().as_str()))
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["deal_to_company", "deal_to_company_unlabeled"])
    );
    assert!(
        deal["associations"].get("line_items").is_none(),
        "line items come back under \"line items\""
    );
    let with_items = t
        .control()
        .associations(t.hub(), "line_items", "deals")
        .unwrap()[0]
        .to_id;
    let deal = t
        .get_json(
            &format!("/crm/v3/objects/deals/{with_items}?associations=line_items"),
            200,
        )
        .await;
    assert_eq!(
        deal["associations"]["line items"]["results"][0]["type"],
        "deal_to_line_item"
    );
    assert!(deal["associations"].get("line_items").is_none());
}

#[tokio::test]
async fn association_changes_do_not_move_last_modified() {
    let t = start().await;
    let deal = t
        .control()
        .records(t.hub(), "deals", false)
        .unwrap()
        .remove(0);
    let company = t
        .control()
        .records(t.hub(), "companies", false)
        .unwrap()
        .remove(5);
    let change = AssociationChange {
        from_type: "deals".into(),
        from_id: deal.id,
        to_type: "companies".into(),
        to_id: company.id,
        primary: false,
        type_ids: None,
    };
    t.control().associate(t.hub(), &change).unwrap();
    let after = t
        .control()
        .record(t.hub(), "deals", deal.id)
        .unwrap()
        .unwrap();
    assert_eq!(after.updated_at, deal.updated_at);
    let single = t
        .get_json(
            &format!(
                "/crm/v4/objects/companies/{}/associations/deals",
                company.id
            ),
            200,
        )
        .await;
    assert!(
        single["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["toObjectId"].as_u64() == Some(deal.id))
    );
    assert!(
        t.control()
            .dissociate(t.hub(), "deals", deal.id, "companies", company.id)
            .unwrap()
    );
    let single = t
        .get_json(
            &format!(
                "/crm/v4/objects/companies/{}/associations/deals",
                company.id
            ),
            200,
        )
        .await;
    assert!(
        !single["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["toObjectId"].as_u64() == Some(deal.id))
    );
}

#[tokio::test]
async fn archived_records_drop_out_of_association_reads() {
    let t = start().await;
    let link = t
        .control()
        .associations(t.hub(), "contacts", "companies")
        .unwrap()
        .remove(0);
    let before = t
        .get_json(
            &format!(
                "/crm/v4/objects/companies/{}/associations/contacts",
                link.to_id
            ),
            200,
        )
        .await;
    assert!(
        before["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["toObjectId"].as_u64() == Some(link.from_id))
    );
    t.control()
        .archive_record(t.hub(), "contacts", link.from_id)
        .unwrap();
    let after = t
        .get_json(
            &format!(
                "/crm/v4/objects/companies/{}/associations/contacts",
                link.to_id
            ),
            200,
        )
        .await;
    assert!(
        !after["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["toObjectId"].as_u64() == Some(link.from_id))
    );
    let r = t
        .post(
            "/crm/v4/associations/contacts/companies/batch/read",
            &json!({"inputs": [{"id": link.from_id.to_string()}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert!(
        !t.control()
            .associations(t.hub(), "contacts", "companies")
            .unwrap()
            .iter()
            .any(|a| a.from_id == link.from_id)
    );
}

#[tokio::test]
async fn legacy_v3_batch_read_caps_targets_and_ignores_after() {
    let t = start().await;
    let c = t.control();
    let company = c.records(t.hub(), "companies", false).unwrap()[0].id;
    // a company with more than 100 contacts
    for contact in c.generate_records(t.hub(), "contacts", 120, false).unwrap() {
        c.associate(
            t.hub(),
            &AssociationChange {
                from_type: "companies".into(),
                from_id: company,
                to_type: "contacts".into(),
                to_id: contact,
                primary: false,
                type_ids: None,
            },
        )
        .unwrap();
    }
    let truth: BTreeSet<u64> = c
        .associations(t.hub(), "companies", "contacts")
        .unwrap()
        .iter()
        .filter(|a| a.from_id == company)
        .map(|a| a.to_id)
        .collect();
    assert!(truth.len() > 100);
    let page = |body: Value| {
        let t = &t;
        async move {
            t.post("/crm/v3/associations/companies/contacts/batch/read", &body)
                .await
        }
    };
    let r = page(json!({"inputs": [{"id": company.to_string()}, {"id": "1"}]})).await;
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["subCategory"],
        "crm.associations.NO_ASSOCIATIONS_FOUND"
    );
    let result = &body["results"][0];
    let to = result["to"].as_array().unwrap();
    assert_eq!(to.len(), 100, "v3 stops at 100 targets per input");
    for entry in to {
        let id: u64 = entry["id"]
            .as_str()
            .expect("v3 ids are strings")
            .parse()
            .unwrap();
        assert!(truth.contains(&id));
        assert!(
            entry["type"]
                .as_str()
                .unwrap()
                .starts_with("company_to_contact")
        );
    }
    // the cursor it hands out leads nowhere: `after` is ignored (API.md §18.15)
    let after = result["paging"]["next"]["after"].as_str().unwrap();
    let again: Value = page(json!({"inputs": [{"id": company.to_string(), "after": after}]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["results"][0]["to"], result["to"]);
}

#[tokio::test]
async fn merged_records_leave_every_read_and_their_associations_follow_the_survivor() {
    let t = start().await;
    let c = t.control();
    let hub = t.hub();
    let links = c.associations(hub, "contacts", "companies").unwrap();
    let a = links[0].from_id;
    let b = links.iter().map(|l| l.from_id).find(|id| *id != a).unwrap();
    let companies_of = |ids: &[u64]| -> BTreeSet<u64> {
        links
            .iter()
            .filter(|l| ids.contains(&l.from_id))
            .map(|l| l.to_id)
            .collect()
    };
    let expected = companies_of(&[a, b]);
    let survivor = c.merge_records(hub, "contacts", a, b, false).unwrap().id;

    // list (live and archived), search and batch read know only the survivor
    let mut listed = BTreeSet::new();
    for archived in [false, true] {
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/crm/v3/objects/contacts?limit=100&archived={archived}");
            if let Some(a) = &after {
                path.push_str(&format!(
                    "&after={}",
                    url::form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()
                ));
            }
            let page = t.get_json(&path, 200).await;
            listed.extend(ids(&page["results"]));
            match page["paging"]["next"]["after"].as_str() {
                Some(a) => after = Some(a.to_string()),
                None => break,
            }
        }
    }
    assert!(listed.contains(&survivor));
    assert!(
        !listed.contains(&a) && !listed.contains(&b),
        "merged-away ids are not listed, not even as archived"
    );
    let found = t
        .post_json(
            "/crm/v3/objects/contacts/search",
            &json!({"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "IN",
                     "values": [a.to_string(), b.to_string(), survivor.to_string()]}]}]}),
            200,
        )
        .await;
    assert_eq!(ids(&found["results"]), [survivor]);
    let batch = t
        .post_json(
            "/crm/v3/objects/contacts/batch/read",
            &json!({"inputs": [{"id": a.to_string()}, {"id": b.to_string()}]}),
            200,
        )
        .await;
    assert_eq!(ids(&batch["results"]), [survivor]);

    // the survivor carries both records' companies; the companies point at the survivor
    let read = t
        .post_json(
            "/crm/v4/associations/contacts/companies/batch/read",
            &json!({"inputs": [{"id": survivor.to_string()}]}),
            200,
        )
        .await;
    let got: BTreeSet<u64> = read["results"][0]["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|to| to["toObjectId"].as_u64().unwrap())
        .collect();
    assert_eq!(got, expected);
    let back = c.associations(hub, "companies", "contacts").unwrap();
    for company in &expected {
        let contacts: BTreeSet<u64> = back
            .iter()
            .filter(|l| l.from_id == *company)
            .map(|l| l.to_id)
            .collect();
        assert!(contacts.contains(&survivor), "company {company}");
        assert!(
            !contacts.contains(&a) && !contacts.contains(&b),
            "company {company}"
        );
    }
    let company = *expected.iter().next().unwrap();
    let single = t
        .get_json(
            &format!("/crm/v4/objects/companies/{company}/associations/contacts"),
            200,
        )
        .await;
    let to: Vec<u64> = single["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["toObjectId"].as_u64().unwrap())
        .collect();
    assert!(to.contains(&survivor) && !to.contains(&a) && !to.contains(&b));
}

#[tokio::test]
async fn inline_association_paging_continues_on_its_link() {
    let t = start().await;
    let c = t.control();
    let company = c.records(t.hub(), "companies", false).unwrap()[0].id;
    for contact in c.generate_records(t.hub(), "contacts", 120, false).unwrap() {
        c.associate(
            t.hub(),
            &AssociationChange {
                from_type: "companies".into(),
                from_id: company,
                to_type: "contacts".into(),
                to_id: contact,
                primary: false,
                type_ids: None,
            },
        )
        .unwrap();
    }
    let truth: BTreeSet<u64> = c
        .associations(t.hub(), "companies", "contacts")
        .unwrap()
        .iter()
        .filter(|a| a.from_id == company)
        .map(|a| a.to_id)
        .collect();
    let read = t
        .get_json(
            &format!("/crm/v3/objects/companies/{company}?associations=contacts"),
            200,
        )
        .await;
    let inline = &read["associations"]["contacts"];
    let first = ids(&inline["results"]);
    assert!(first.len() <= 100);
    let mut seen: BTreeSet<u64> = first.iter().copied().collect();
    let mut link = inline["paging"]["next"]["link"]
        .as_str()
        .expect("more than 100 associations page")
        .to_string();
    loop {
        let path = link.strip_prefix(&t.portal.base_url).unwrap().to_string();
        let page = t.get_json(&path, 200).await;
        for r in page["results"].as_array().unwrap() {
            let id = r["toObjectId"].as_u64().unwrap();
            assert!(seen.insert(id), "{id} came twice");
        }
        match page["paging"]["next"]["link"].as_str() {
            Some(next) => link = next.to_string(),
            None => break,
        }
    }
    assert_eq!(
        seen, truth,
        "the inline page and its link cover every association once"
    );
}
