//! 12,000 records sharing one last-modified millisecond (a bulk import): the chunk
//! holding them splits by time down to that millisecond, then by record id, and every
//! record is fetched exactly once.

use std::collections::BTreeSet;

use hubspot_sim::SimConfig;
use hubsync_core::{RunKind, TableName};
use hubsync_e2e::{Env, EnvOptions, compare};
use hubsync_store::{count_records, list_chunks};

use crate::RUN_DEADLINE;

const CLUSTER: usize = 12_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_same_millisecond_cluster_of_twelve_thousand_records_syncs_each_record_once() {
    let mut options = EnvOptions::default();
    options.sim = SimConfig {
        records_per_table: 20,
        ..options.sim
    };
    options.planner.initial_chunks = 1;
    options.worker.page_size = 200;
    options.worker.split_threshold = 2_000;
    options.worker.split_max_parts = 8;
    options.worker.concurrency = 4;
    let mut env = Env::start(options).await;
    // Goal targets carry few properties, which keeps 12,000 records cheap to move; the
    // splitting does not depend on the table.
    let table = TableName::GOALS;
    let object_type = "goal_targets";
    let cluster: BTreeSet<u64> = env
        .control()
        .generate_records(env.hub_id, object_type, CLUSTER, true)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(cluster.len(), CLUSTER);
    env.start_roles(2);
    env.control().reset_counters();

    let report = env
        .sync(RunKind::Full, std::slice::from_ref(&table), RUN_DEADLINE)
        .await;
    let run_id = report.started[0].run_id;

    let portal = env
        .control()
        .records(env.hub_id, object_type, false)
        .unwrap();
    let stored = {
        let mut db = env.pool().acquire().await.unwrap();
        count_records(&mut db, env.connection_id, &table)
            .await
            .unwrap()
    };
    assert_eq!(stored, portal.len() as u64);
    let searched = env
        .control()
        .portal_counters(env.hub_id)
        .unwrap()
        .records_of(object_type, "search");
    assert_eq!(
        searched,
        portal.len() as u64,
        "each record fetched exactly once"
    );

    let chunks = {
        let mut db = env.pool().acquire().await.unwrap();
        list_chunks(&mut db, run_id).await.unwrap()
    };
    let by_id: Vec<_> = chunks
        .iter()
        .filter(|chunk| chunk.range.ids().is_some())
        .collect();
    assert!(
        !by_id.is_empty(),
        "the cluster was split by id: {chunks:#?}"
    );
    assert!(
        by_id
            .iter()
            .all(|chunk| chunk.range.modified().is_single_ms()),
        "id splits only inside one millisecond"
    );
    // A chunk that split wrote the page that decided it; its children started after
    // that page, so the records written add up exactly.
    let written: u64 = chunks.iter().map(|chunk| chunk.records).sum();
    assert_eq!(written, portal.len() as u64, "every record written once");
    assert!(
        chunks.iter().all(|chunk| chunk.records <= 2_000),
        "no chunk above the threshold"
    );
    compare::assert_matches_portal(&env, Some(&[table])).await;

    env.finish().await;
}
