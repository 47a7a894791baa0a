//! The portal changes under a connection: properties appear (one with a name longer
//! than Postgres's identifiers), vanish and change type, and the custom-object scopes
//! are revoked. The next sync follows: fields and typed views match the portal again,
//! values typed by the new definitions, and the custom table is skipped with its data
//! kept.

use std::collections::BTreeSet;

use hubspot_sim::{InstallRequest, PropertyChange};
use hubsync_core::{PropertyName, RunKind, TableKind, TableName};
use hubsync_e2e::{Env, EnvOptions, compare};
use hubsync_store::{NewConnection, SecretString, list_tables};
use serde_json::{Value, json};
use sqlx::Row;

use crate::RUN_DEADLINE;

const CUSTOM_SCOPES: [&str; 2] = ["crm.objects.custom.read", "crm.schemas.custom.read"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schema_drift_and_a_revoked_custom_scope_are_followed_by_the_next_sync() {
    let mut env = Env::start(EnvOptions::default()).await;
    env.start_roles(2);
    let control = env.control();
    let hub = env.hub_id;
    let deals = TableName::DEALS;

    // Two properties of text, with values on a few deals: one will become a number,
    // the other will vanish.
    for name in ["review_score", "legacy_note"] {
        control
            .add_property(
                hub,
                "deals",
                json!({"name": name, "type": "string", "fieldType": "text"}),
            )
            .unwrap();
    }
    let portal_deals = control.records(hub, "deals", false).unwrap();
    for (index, deal) in portal_deals.iter().take(5).enumerate() {
        let values = json!({"review_score": format!("4{index}"), "legacy_note": "old"});
        control
            .update_record(hub, "deals", deal.id, values.as_object().unwrap(), None)
            .unwrap();
    }
    // The first sync registers the tables; then the custom table and deals sync.
    let first = env
        .sync(RunKind::Full, std::slice::from_ref(&deals), RUN_DEADLINE)
        .await;
    assert!(first.metadata.reread.is_empty(), "{:?}", first.metadata);
    let custom = {
        let mut db = env.pool().acquire().await.unwrap();
        list_tables(&mut db, env.connection_id)
            .await
            .unwrap()
            .into_iter()
            .find(|table| table.spec.kind == TableKind::Custom)
            .expect("the portal has a custom table")
    };
    let custom_name = custom.name().clone();
    let custom_run = env
        .sync(
            RunKind::Full,
            std::slice::from_ref(&custom_name),
            RUN_DEADLINE,
        )
        .await;
    let custom_records = record_count(&env, &custom_name).await;
    assert!(custom_records > 0);

    // A user's own view on top of ours: it blocks rebuilding the deals view.
    let schema = format!("hubspot_{hub}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE VIEW \"{schema}\".my_deals AS SELECT id, dealname FROM \"{schema}\".deals"
    )))
    .execute(env.pool())
    .await
    .unwrap();

    // Drift: review_score becomes a number (HubSpot keeps the stored text "40"…, which
    // now reads as numbers), legacy_note is archived, a long-named number appears and
    // one deal gets a value for it (which moves its last-modified date).
    control
        .retype_property(
            hub,
            "deals",
            "review_score",
            &PropertyChange {
                ptype: Some("number".into()),
                field_type: Some("number".into()),
                options: None,
            },
        )
        .unwrap();
    control
        .archive_property(hub, "deals", "legacy_note")
        .unwrap();
    let long_name = format!("forecast_{}_weighted_amount", "quarterly_".repeat(6));
    assert!(long_name.len() > 63);
    control
        .add_property(
            hub,
            "deals",
            json!({"name": long_name, "type": "number", "fieldType": "number"}),
        )
        .unwrap();
    let valued = &portal_deals[7];
    let values = json!({ long_name.clone(): "7.5" });
    control
        .update_record(hub, "deals", valued.id, values.as_object().unwrap(), None)
        .unwrap();

    // The app is installed again without the custom-object scopes.
    let scopes: Vec<String> = env.sim.portals()[0]
        .scopes
        .iter()
        .filter(|scope| !CUSTOM_SCOPES.contains(&scope.as_str()))
        .cloned()
        .collect();
    let installed = control
        .install(
            hub,
            &InstallRequest {
                scopes,
                optional_scopes: Vec::new(),
            },
        )
        .unwrap();
    {
        let mut db = env.pool().acquire().await.unwrap();
        hubsync_store::upsert_connection(
            &mut db,
            &NewConnection {
                hub_id: hub,
                client_id: env.sim.portals()[0].client_id.clone(),
                refresh_token: SecretString::from(installed.refresh_token),
                granted_scopes: installed.scopes.into_iter().collect::<BTreeSet<_>>(),
                schema_name: None,
            },
            &env.key,
        )
        .await
        .unwrap();
    }

    let next = env
        .sync(
            RunKind::Incremental,
            &[deals.clone(), custom_name.clone()],
            RUN_DEADLINE,
        )
        .await;
    assert_eq!(
        next.metadata.reread,
        vec![deals.clone()],
        "{:?}",
        next.metadata
    );
    let deals_run = next
        .started
        .iter()
        .find(|run| run.table == deals)
        .expect("deals planned");
    assert_eq!(
        deals_run.kind,
        RunKind::Full,
        "a retyped property makes the next run read every record"
    );
    let skipped = next
        .skipped
        .iter()
        .find(|skipped| skipped.table == custom_name)
        .expect("the custom table is skipped");
    assert!(!skipped.reason.is_empty(), "{skipped:?}");
    assert!(
        next.metadata
            .left_out
            .iter()
            .any(|left_out| left_out.reason.contains("crm.objects.custom.read")),
        "{:?}",
        next.metadata.left_out
    );
    assert!(next.started.iter().all(|run| run.table != custom_name));
    // The records synced although the views could not follow; the plan says why.
    assert!(!next.metadata.views_rebuilt);
    let views_error = next.metadata.views_error.clone().unwrap_or_default();
    assert!(views_error.contains("my_deals"), "{:?}", next.metadata);
    let stored = {
        let mut db = env.pool().acquire().await.unwrap();
        hubsync_store::get_record(&mut db, env.connection_id, &deals, valued.id)
            .await
            .unwrap()
            .expect("stored")
    };
    assert_eq!(stored.values.get(&long_name), Some(&json!(7.5)));

    // Once the user's view is gone, the next sync rebuilds the views, although no
    // field changes any more.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP VIEW \"{schema}\".my_deals"
    )))
    .execute(env.pool())
    .await
    .unwrap();
    let healed = env
        .sync(
            RunKind::Incremental,
            std::slice::from_ref(&deals),
            RUN_DEADLINE,
        )
        .await;
    assert!(
        healed.metadata.changed_tables.is_empty(),
        "{:?}",
        healed.metadata
    );
    assert!(healed.metadata.views_rebuilt, "{:?}", healed.metadata);
    assert_eq!(healed.metadata.views_error, None);

    // deals equal the portal: fields (legacy_note gone, the long name in), every value
    // typed by its current field, through the records and the view.
    compare::assert_matches_portal(&env, Some(std::slice::from_ref(&deals))).await;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = 'deals'",
    )
    .bind(&schema)
    .fetch_all(env.pool())
    .await
    .unwrap();
    let column_type = |name: &str| {
        columns
            .iter()
            .find(|(column, _)| column == name)
            .map(|(_, data_type)| data_type.clone())
    };
    assert_eq!(column_type("review_score").as_deref(), Some("numeric"));
    assert_eq!(column_type("legacy_note"), None);
    let long_column = PropertyName::parse(&long_name)
        .unwrap()
        .column_name()
        .into_owned();
    assert!(long_column.len() <= 63);
    assert_eq!(column_type(&long_column).as_deref(), Some("numeric"));
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT review_score::text AS score, \"{long_column}\"::text AS forecast
         FROM \"{schema}\".deals WHERE id = $1"
    )))
    .bind(portal_deals[0].id as i64)
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(row.get::<Option<String>, _>("score").as_deref(), Some("40"));
    let forecast: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT \"{long_column}\"::text FROM \"{schema}\".deals WHERE id = $1"
    )))
    .bind(valued.id as i64)
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(forecast.as_deref(), Some("7.5"));
    // Every column of every row reads.
    let rows: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT to_jsonb(d) FROM \"{schema}\".deals d"
    )))
    .fetch_all(env.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), portal_deals.len());

    // The custom table: skipped with why, its watermark and records kept.
    let mut db = env.pool().acquire().await.unwrap();
    let stored = hubsync_store::require_table(&mut db, env.connection_id, &custom_name)
        .await
        .unwrap();
    drop(db);
    assert!(!stored.available);
    assert!(stored.skip_reason.is_some());
    assert_eq!(stored.watermark, Some(custom_run.started[0].window.end()));
    assert_eq!(record_count(&env, &custom_name).await, custom_records);

    env.finish().await;
}

async fn record_count(env: &Env, table: &TableName) -> u64 {
    let mut db = env.pool().acquire().await.unwrap();
    hubsync_store::count_records(&mut db, env.connection_id, table)
        .await
        .unwrap()
}
