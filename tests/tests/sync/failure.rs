//! A chunk that always fails is retried, then marked failed with its error and
//! dead-lettered; its run fails and the table's watermark stays where it was.

use hubspot_sim::{EndpointFamily, Fault, FaultBody, FaultPlan, FaultRate};
use hubsync_core::{ChunkState, RunKind, TableName, decode_job};
use hubsync_e2e::{Env, EnvOptions, eventually};
use hubsync_queue::Route;
use hubsync_store::{RunStatus, get_watermark, list_chunks};
use serde_json::json;

use crate::RUN_DEADLINE;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunk_that_always_fails_holds_the_watermark_and_lands_in_the_dead_letter_queue() {
    let mut options = EnvOptions::default();
    options.planner.initial_chunks = 1;
    options.worker.max_attempts = 2;
    let mut env = Env::start(options).await;
    env.start_roles(1);

    let first = env
        .sync(RunKind::Full, &[TableName::COMPANIES], RUN_DEADLINE)
        .await;
    let watermark = first.started[0].window.end();

    // Every search now answers 500, however often it is retried.
    env.control().set_faults(FaultPlan {
        rates: vec![FaultRate {
            family: Some(EndpointFamily::Search),
            hub_id: None,
            probability: 1.0,
            fault: Fault::Status {
                status: 500,
                body: FaultBody::Json,
                retry_after_secs: None,
            },
        }],
        script: Vec::new(),
    });
    let company = env
        .control()
        .records(env.hub_id, "companies", false)
        .unwrap()
        .remove(0);
    let change = json!({"name": "Changed while HubSpot fails"});
    env.control()
        .update_record(
            env.hub_id,
            "companies",
            company.id,
            change.as_object().unwrap(),
            None,
        )
        .unwrap();

    let report = env
        .plan(RunKind::Incremental, &[TableName::COMPANIES])
        .await;
    let run_id = report.started[0].run_id;
    let progress = env.wait_for_runs(&[run_id], RUN_DEADLINE).await;
    assert_eq!(progress[0].status, RunStatus::Failed, "{progress:?}");
    assert!(
        progress[0]
            .error
            .as_deref()
            .is_some_and(|error| error.contains("1 of 1 chunks failed")),
        "{progress:?}"
    );

    let chunk = {
        let mut db = env.pool().acquire().await.unwrap();
        list_chunks(&mut db, run_id).await.unwrap().remove(0)
    };
    assert_eq!(chunk.state, ChunkState::Failed);
    assert_eq!(chunk.attempts, 2, "retried once, then failed");
    let error = chunk.error.clone().unwrap_or_default();
    assert!(error.contains("500"), "the chunk keeps its error: {error}");

    let held = {
        let mut db = env.pool().acquire().await.unwrap();
        get_watermark(&mut db, env.connection_id, &TableName::COMPANIES)
            .await
            .unwrap()
    };
    assert_eq!(held, Some(watermark), "the watermark stayed where it was");

    let dead_queue = env.queues.names().dead_queue(Route::Chunks);
    eventually("the job is dead-lettered", RUN_DEADLINE, || async {
        (env.queues.ready(&dead_queue).await == 1).then_some(())
    })
    .await;
    let dead = env
        .queues
        .take_one(&dead_queue)
        .await
        .expect("a dead letter");
    assert_eq!(decode_job(&dead).unwrap().chunk_id, chunk.id);
    // The stored record still has its old name: nothing of the failed run was written.
    let mut db = env.pool().acquire().await.unwrap();
    let stored = hubsync_store::get_record(
        &mut db,
        env.connection_id,
        &TableName::COMPANIES,
        company.id,
    )
    .await
    .unwrap()
    .expect("stored by the first run");
    assert_ne!(stored.name.as_deref(), Some("Changed while HubSpot fails"));
    drop(db);

    env.control().clear_faults();
    env.finish().await;
}

/// An operator resets a table's watermark (to re-read a window) while a run of it is in
/// flight: the run stores its records but must not move the watermark over the reset,
/// and it ends so that the next run can start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_watermark_was_reset_meanwhile_ends_without_moving_it() {
    let env = Env::start(EnvOptions::default()).await;
    let committer = env.start_committer();
    let worker = env.start_worker("first");
    env.sync(RunKind::Full, &[TableName::DEALS], RUN_DEADLINE)
        .await;
    worker.stop().await.unwrap();

    // The run is planned while no worker consumes it, then the watermark is reset.
    let report = env.plan(RunKind::Incremental, &[TableName::DEALS]).await;
    let run_id = report.started[0].run_id;
    let reset_to = report.started[0].window.start() - chrono::TimeDelta::days(30);
    {
        let mut db = env.pool().acquire().await.unwrap();
        hubsync_store::reset_watermark(
            &mut db,
            env.connection_id,
            &TableName::DEALS,
            Some(reset_to),
        )
        .await
        .unwrap();
    }
    let worker = env.start_worker("second");

    let progress = env.wait_for_runs(&[run_id], RUN_DEADLINE).await;
    assert_eq!(progress[0].status, RunStatus::Cancelled, "{progress:?}");
    assert!(
        progress[0]
            .error
            .as_deref()
            .is_some_and(|error| error.contains("the watermark stays")),
        "{progress:?}"
    );
    let mut db = env.pool().acquire().await.unwrap();
    let watermark = get_watermark(&mut db, env.connection_id, &TableName::DEALS)
        .await
        .unwrap();
    drop(db);
    assert_eq!(watermark, Some(reset_to), "the reset stands");

    // The table is free again: the next incremental run reads from the reset.
    let next = env
        .sync(RunKind::Incremental, &[TableName::DEALS], RUN_DEADLINE)
        .await;
    assert!(next.started[0].window.start() <= reset_to);
    worker.stop().await.unwrap();
    committer.stop().await.unwrap();
    env.finish().await;
}
