//! A table's custom query narrows what syncs; a connection without the optional scopes
//! syncs the other tables and says why the rest are skipped.

use std::collections::BTreeSet;

use hubspot_sim::{SimConfig, SimRecord, Tier};
use hubsync_core::{CustomQuery, RunKind, TableName};
use hubsync_e2e::{Env, EnvOptions, compare};
use hubsync_store::{list_records, list_tables, set_custom_query, table_statuses};
use serde_json::json;

use crate::RUN_DEADLINE;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_query_on_deals_syncs_exactly_the_matching_deals() {
    let mut env = Env::start(EnvOptions::default()).await;
    env.start_roles(1);
    // A first sync of another table registers the connection's tables.
    env.sync(RunKind::Full, &[TableName::COMPANIES], RUN_DEADLINE)
        .await;

    let deals = env.control().records(env.hub_id, "deals", false).unwrap();
    let stage = most_common(&deals, "dealstage").expect("deals have stages");
    let threshold = 50_000.0;
    let query = CustomQuery::from_json(
        &json!({"filterGroups": [
            {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": stage}]},
            {"filters": [{"propertyName": "amount", "operator": "GT", "value": threshold.to_string()}]}
        ]}),
        None,
    )
    .unwrap();
    {
        let mut db = env.pool().acquire().await.unwrap();
        set_custom_query(&mut db, env.connection_id, &TableName::DEALS, Some(&query))
            .await
            .unwrap();
    }
    let matching = |deal: &SimRecord| {
        deal.properties.get("dealstage") == Some(&stage)
            || deal
                .properties
                .get("amount")
                .and_then(|amount| amount.parse::<f64>().ok())
                .is_some_and(|amount| amount > threshold)
    };
    let expected: BTreeSet<u64> = deals
        .iter()
        .filter(|deal| matching(deal))
        .map(|deal| deal.id)
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < deals.len(),
        "the query must select some deals, not all: {} of {}",
        expected.len(),
        deals.len()
    );

    env.sync(RunKind::Full, &[TableName::DEALS], RUN_DEADLINE)
        .await;
    let stored: BTreeSet<u64> = {
        let mut db = env.pool().acquire().await.unwrap();
        list_records(&mut db, env.connection_id, &TableName::DEALS, None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|record| record.id)
            .collect()
    };
    assert_eq!(stored, expected, "exactly the matching deals");
    compare::assert_table_matches_where(&env, &TableName::DEALS, matching).await;

    env.finish().await;
}

fn most_common(records: &[SimRecord], property: &str) -> Option<String> {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for record in records {
        if let Some(value) = record.properties.get(property) {
            *counts.entry(value.as_str()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(value, _)| value.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_without_the_optional_scopes_syncs_the_rest_and_says_why() {
    let mut options = EnvOptions::default();
    // A Free portal: HubSpot drops the optional scopes its tier lacks (goals, custom
    // objects) from the install, silently.
    options.sim = SimConfig {
        portal_tiers: vec![Tier::Free],
        ..options.sim
    };
    let mut env = Env::start(options).await;
    env.start_roles(2);

    let report = env.sync(RunKind::Full, &[], RUN_DEADLINE).await;
    let scopes = &report.metadata.granted_scopes;
    assert!(
        !scopes.contains("crm.objects.goals.read") && !scopes.contains("crm.objects.custom.read")
    );
    let goals = report
        .skipped
        .iter()
        .find(|skipped| skipped.table == TableName::GOALS)
        .expect("goals skipped");
    assert!(goals.reason.contains("crm.objects.goals.read"), "{goals:?}");
    let custom = report
        .metadata
        .left_out
        .iter()
        .find(|left_out| left_out.subject == "custom tables")
        .expect("custom tables left out");
    assert!(
        custom.reason.contains("crm.objects.custom.read"),
        "{custom:?}"
    );
    let started: BTreeSet<&str> = report
        .started
        .iter()
        .map(|run| run.table.as_str())
        .collect();
    assert_eq!(
        started,
        BTreeSet::from([
            "calls",
            "companies",
            "contacts",
            "deals",
            "emails",
            "line_items",
            "meetings",
            "tasks"
        ])
    );

    // What `hubsync status` reads.
    let mut db = env.pool().acquire().await.unwrap();
    let statuses = table_statuses(&mut db, env.connection_id).await.unwrap();
    let goals = statuses
        .iter()
        .find(|status| status.table.name() == &TableName::GOALS)
        .expect("goals listed");
    assert!(!goals.table.available);
    assert!(
        goals
            .table
            .skip_reason
            .as_deref()
            .is_some_and(|reason| reason.contains("crm.objects.goals.read")),
        "{:?}",
        goals.table
    );
    for status in statuses.iter().filter(|status| status.table.syncs()) {
        assert!(status.last_run.is_some(), "{} ran", status.table.name());
        assert!(
            status.record_count > 0,
            "{} has records",
            status.table.name()
        );
    }
    let tables = list_tables(&mut db, env.connection_id).await.unwrap();
    assert!(
        tables
            .iter()
            .all(|table| table.spec.kind == hubsync_core::TableKind::Standard),
        "no custom table without its scope"
    );
    drop(db);
    compare::assert_matches_portal(&env, None).await;

    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_uninstalled_app_marks_the_connection_for_reconnect_and_plans_nothing() {
    let mut options = EnvOptions::default();
    // Without custom objects the owners are the first request of a plan: their failure
    // must stop the plan, not just cost the owners.
    options.sim = SimConfig {
        portal_tiers: vec![Tier::Free],
        ..options.sim
    };
    let env = Env::start(options).await;
    env.control().uninstall(env.hub_id).unwrap();

    let planned = hubsync_planner::plan(
        &env.planner_context(),
        hubsync_planner::SyncRequest {
            connection: hubsync_store::ConnectionRef::HubId(env.hub_id),
            kind: RunKind::Full,
            tables: Vec::new(),
        },
    )
    .await;
    let error = planned.expect_err("a dead refresh token stops the plan");
    assert!(
        matches!(error, hubsync_planner::PlanError::ReconnectRequired { .. }),
        "{error:?}"
    );
    let mut db = env.pool().acquire().await.unwrap();
    let connection = hubsync_store::get_connection(&mut db, env.connection_id)
        .await
        .unwrap()
        .expect("connection");
    assert_eq!(
        connection.status,
        hubsync_store::ConnectionStatus::ReconnectRequired
    );
    assert!(connection.status_reason.is_some());
    let runs = hubsync_store::list_recent_runs(&mut db, Some(env.connection_id), 10)
        .await
        .unwrap();
    assert!(runs.is_empty(), "nothing planned: {runs:?}");
    drop(db);

    // The next plan is refused before anything is asked of HubSpot.
    let again = hubsync_planner::plan(
        &env.planner_context(),
        hubsync_planner::SyncRequest {
            connection: hubsync_store::ConnectionRef::Id(env.connection_id),
            kind: RunKind::Full,
            tables: Vec::new(),
        },
    )
    .await;
    assert!(
        matches!(
            again,
            Err(hubsync_planner::PlanError::ConnectionNotActive { .. })
        ),
        "{again:?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_the_connection_does_not_have_is_refused_and_nothing_is_planned() {
    let env = Env::start(EnvOptions::default()).await;
    let planned = hubsync_planner::plan(
        &env.planner_context(),
        hubsync_planner::SyncRequest {
            connection: hubsync_store::ConnectionRef::Id(env.connection_id),
            kind: RunKind::Full,
            tables: vec![TableName::DEALS, TableName::parse("dealz").unwrap()],
        },
    )
    .await;
    let error = planned.expect_err("a misspelt table is an error");
    assert!(
        matches!(&error, hubsync_planner::PlanError::UnknownTables { unknown, .. } if unknown == &vec![TableName::parse("dealz").unwrap()]),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("dealz") && message.contains("deals"),
        "{message}"
    );
    let mut db = env.pool().acquire().await.unwrap();
    let runs = hubsync_store::list_recent_runs(&mut db, Some(env.connection_id), 10)
        .await
        .unwrap();
    assert!(runs.is_empty(), "nothing planned: {runs:?}");
    drop(db);
    env.finish().await;
}
