//! A full sync makes Postgres equal the portal; after changes, an incremental sync
//! makes it equal again and reads only what changed inside its window.

use std::collections::BTreeMap;

use hubspot_sim::AssociationChange;
use hubsync_core::{RunKind, TableName};
use hubsync_e2e::{Env, EnvOptions, compare};
use serde_json::{Map, Value, json};

use crate::RUN_DEADLINE;

fn properties(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("literal objects"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_then_an_incremental_sync_make_postgres_equal_the_portal() {
    let mut env = Env::start(EnvOptions::default()).await;
    env.start_roles(2);

    let full = env.sync(RunKind::Full, &[], RUN_DEADLINE).await;
    let started: Vec<&str> = full.started.iter().map(|run| run.table.as_str()).collect();
    for table in [
        "deals",
        "companies",
        "contacts",
        "line_items",
        "meetings",
        "calls",
        "emails",
        "tasks",
        "goals",
    ] {
        assert!(started.contains(&table), "{table} not synced: {full:#?}");
    }
    assert!(
        full.started
            .iter()
            .any(|run| hubsync_core::catalog::standard_table(&run.table).is_none()),
        "the portal's custom table is synced too: {started:?}"
    );
    assert!(full.metadata.views_rebuilt);
    let matched = compare::assert_matches_portal(&env, None).await;
    assert!(
        matched.iter().all(|table| table.records > 0),
        "{matched:#?}"
    );
    assert!(
        matched
            .iter()
            .filter(|table| table.associations > 0)
            .count()
            >= 3,
        "joins are compared: {matched:#?}"
    );
    let watermarks = watermarks(&env).await;
    for run in &full.started {
        assert_eq!(
            watermarks[&run.table],
            Some(run.window.end()),
            "{} watermark",
            run.table
        );
    }

    // Changes in the portal: creates, updates, and association changes made together
    // with an update (an association alone does not move HubSpot's last-modified date).
    let control = env.control();
    let hub = env.hub_id;
    let deals = control.records(hub, "deals", false).unwrap();
    let companies = control.records(hub, "companies", false).unwrap();
    let contacts = control.records(hub, "contacts", false).unwrap();
    for index in 0..3 {
        control
            .create_record(
                hub,
                "deals",
                &properties(json!({"dealname": format!("New deal {index}"), "amount": "1234.5"})),
            )
            .unwrap();
    }
    for deal in deals.iter().take(4) {
        control
            .update_record(
                hub,
                "deals",
                deal.id,
                &properties(json!({"amount": "999.99", "dealname": "Renamed"})),
                None,
            )
            .unwrap();
    }
    for company in companies.iter().take(2) {
        control
            .update_record(
                hub,
                "companies",
                company.id,
                &properties(json!({"name": "Renamed Inc"})),
                None,
            )
            .unwrap();
    }
    // A deal gains a company (and is updated); a contact loses its companies (and is updated).
    let deal = &deals[10];
    let company = companies
        .iter()
        .find(|company| {
            !control
                .associations(hub, "deals", "companies")
                .unwrap()
                .iter()
                .any(|a| a.from_id == deal.id && a.to_id == company.id)
        })
        .expect("a company the deal is not associated with");
    control
        .associate(
            hub,
            &AssociationChange {
                from_type: "deals".into(),
                from_id: deal.id,
                to_type: "companies".into(),
                to_id: company.id,
                primary: false,
                type_ids: None,
            },
        )
        .unwrap();
    control
        .update_record(
            hub,
            "deals",
            deal.id,
            &properties(json!({"dealname": "Deal with a company"})),
            None,
        )
        .unwrap();
    let contact_companies = control.associations(hub, "contacts", "companies").unwrap();
    let contact = contacts
        .iter()
        .find(|contact| contact_companies.iter().any(|a| a.from_id == contact.id))
        .expect("a contact with a company");
    for association in contact_companies.iter().filter(|a| a.from_id == contact.id) {
        control
            .dissociate(hub, "contacts", contact.id, "companies", association.to_id)
            .unwrap();
    }
    control
        .update_record(
            hub,
            "contacts",
            contact.id,
            &properties(json!({"firstname": "Independent"})),
            None,
        )
        .unwrap();
    control.reset_counters();

    let incremental = env.sync(RunKind::Incremental, &[], RUN_DEADLINE).await;
    for run in &incremental.started {
        assert_eq!(run.kind, RunKind::Incremental, "{}", run.table);
        let previous = watermarks[&run.table].expect("watermark after the full sync");
        assert_eq!(
            run.window.start(),
            previous - chrono::Duration::seconds(env.planner.lookback_secs as i64),
            "{} window starts at the watermark minus the lookback",
            run.table
        );
    }
    compare::assert_matches_portal(&env, None).await;

    // Only the records modified inside the window were read, with the calls the
    // design budgets: one search per chunk page (each chunk here is one page), one
    // association batch read per join and page holding records.
    let counters = control.portal_counters(hub).unwrap();
    let chunks: usize = incremental.started.iter().map(|run| run.chunks).sum();
    assert_eq!(
        counters.requests_of("search"),
        chunks as u64,
        "{counters:#?}"
    );
    // deals and contacts have two joins each; their changes fall in at most two chunks.
    let association_reads = counters.requests_of("associations");
    assert!((4..=8).contains(&association_reads), "{counters:#?}");
    let read = |object_type: &str| counters.records_of(object_type, "search");
    assert_eq!(read("deals"), 3 + 4 + 1, "{counters:#?}");
    assert_eq!(read("companies"), 2, "{counters:#?}");
    assert_eq!(read("contacts"), 1, "{counters:#?}");
    for object_type in [
        "line_items",
        "meetings",
        "calls",
        "emails",
        "tasks",
        "goal_targets",
    ] {
        assert_eq!(read(object_type), 0, "{object_type}: {counters:#?}");
    }
    // The removed associations are gone and the new one is there.
    let stored: Vec<(i64,)> = sqlx::query_as(
        "SELECT to_id FROM hubsync.associations
         WHERE connection_id = $1 AND from_table = 'contacts' AND from_id = $2 AND to_table = 'companies'",
    )
    .bind(env.connection_id.as_uuid())
    .bind(contact.id as i64)
    .fetch_all(env.pool())
    .await
    .unwrap();
    assert!(
        stored.is_empty(),
        "contact {} keeps companies {stored:?}",
        contact.id
    );

    env.finish().await;
}

async fn watermarks(env: &Env) -> BTreeMap<TableName, Option<chrono::DateTime<chrono::Utc>>> {
    let mut db = env.pool().acquire().await.unwrap();
    hubsync_store::list_tables(&mut db, env.connection_id)
        .await
        .unwrap()
        .into_iter()
        .map(|table| (table.name().clone(), table.watermark))
        .collect()
}
