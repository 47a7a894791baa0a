//! Every message can arrive twice and any worker can die: a chunk delivered again
//! changes nothing, and a worker killed mid-chunk leaves it to another, after which
//! the watermark advances exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot_sim::{EndpointFamily, Latency, LatencyConfig, SimConfig};
use hubsync_core::{
    ChunkOutcome, ChunkState, ChunkStatus, RunKind, TableName, encode_job, encode_outcome,
};
use hubsync_e2e::{Env, EnvOptions, compare, eventually};
use hubsync_queue::Route;
use hubsync_store::{RunStatus, StoredRecord, get_run, list_chunks, list_records};

use crate::RUN_DEADLINE;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunk_delivered_twice_changes_nothing() {
    let mut options = EnvOptions::default();
    options.planner.initial_chunks = 1;
    let env = Env::start(options).await;
    // One worker taking one chunk at a time: the queue is served in order, so a job
    // published after the duplicate is handled after it.
    let mut settings = env.worker.clone();
    settings.concurrency = 1;
    let worker = env.start_worker_with("only-worker", settings);
    let committer = env.start_committer();

    let report = env
        .sync(RunKind::Full, &[TableName::COMPANIES], RUN_DEADLINE)
        .await;
    let run_id = report.started[0].run_id;
    let before = snapshot(&env, run_id).await;
    let searches_before = env
        .control()
        .portal_counters(env.hub_id)
        .unwrap()
        .records_of("companies", "search");

    // The same job again, as after a worker crash between its commit and its ack.
    let chunk = before.chunks[0].clone();
    assert_eq!(chunk.state, ChunkState::Succeeded);
    env.broker()
        .publisher()
        .publish(
            Route::Chunks,
            &chunk.id.to_string(),
            &encode_job(&chunk.job(RunKind::Full)),
        )
        .await
        .unwrap();
    // A later job: once its run is done, the duplicate was handled.
    env.sync(RunKind::Full, &[TableName::CALLS], RUN_DEADLINE)
        .await;

    let after = snapshot(&env, run_id).await;
    assert_eq!(after.chunks, before.chunks, "the chunk row changed");
    assert_eq!(after.run, before.run, "the run changed");
    assert_eq!(after.records, before.records, "the records changed");
    assert_eq!(after.watermark, before.watermark);
    let searches_after = env
        .control()
        .portal_counters(env.hub_id)
        .unwrap()
        .records_of("companies", "search");
    assert_eq!(
        searches_after, searches_before,
        "the duplicate searched HubSpot"
    );
    assert_eq!(env.queues.dead(Route::Chunks).await, 0);

    // A message nobody can read is dead-lettered at once, by the worker and by the
    // committer alike, and blocks nothing behind it.
    for route in [Route::Chunks, Route::Outcomes] {
        env.broker()
            .publisher()
            .publish(route, "poison", b"{\"v\": 99, \"what\": \"is this\"}")
            .await
            .unwrap();
    }
    env.sync(RunKind::Full, &[TableName::TASKS], RUN_DEADLINE)
        .await;
    for route in [Route::Chunks, Route::Outcomes] {
        let dead_queue = env.queues.names().dead_queue(route);
        eventually("the poison is dead-lettered", RUN_DEADLINE, || async {
            (env.queues.ready(&dead_queue).await == 1).then_some(())
        })
        .await;
        let dead = env.queues.take_one(&dead_queue).await.expect("the poison");
        assert!(String::from_utf8_lossy(&dead).contains("is this"));
    }

    worker.stop().await.unwrap();
    committer.stop().await.unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_chunk_leaves_it_to_another_and_the_watermark_advances_once() {
    let env = Env::start(slow_search_options()).await;
    slow_down_search(&env);
    let committer = env.start_committer();
    let doomed = env.start_worker("doomed");

    let report = env.plan(RunKind::Full, &[TableName::CONTACTS]).await;
    let run_id = report.started[0].run_id;
    eventually("the chunk is under way", RUN_DEADLINE, || async {
        let chunks = chunks_of(&env, run_id).await;
        (chunks[0].pages >= 3).then_some(())
    })
    .await;
    doomed.kill().await;
    let chunk = chunks_of(&env, run_id).await.remove(0);
    assert_eq!(
        chunk.state,
        ChunkState::Running,
        "killed before it could finish"
    );

    let survivor = env.start_worker("survivor");
    let progress = env.wait_for_runs(&[run_id], RUN_DEADLINE).await;
    assert_eq!(progress[0].status, RunStatus::Succeeded, "{progress:?}");

    let chunk = chunks_of(&env, run_id).await.remove(0);
    assert_eq!(chunk.state, ChunkState::Succeeded);
    assert_eq!(chunk.worker_id.as_deref(), Some("survivor"));
    assert_eq!(chunk.attempts, 2, "one attempt each");
    let contacts = env
        .control()
        .records(env.hub_id, "contacts", false)
        .unwrap();
    // Resumed from the cursor: the pages committed before the kill were not counted again.
    assert_eq!(chunk.records, contacts.len() as u64, "records counted once");
    let searched = env
        .control()
        .portal_counters(env.hub_id)
        .unwrap()
        .records_of("contacts", "search");
    // At most the page in flight (and the one prefetched) were read twice.
    assert!(
        searched <= contacts.len() as u64 + 2 * 20,
        "{searched} records searched for {} contacts",
        contacts.len()
    );
    compare::assert_matches_portal(&env, Some(&[TableName::CONTACTS])).await;

    let run = run_row(&env, run_id).await;
    let committed_at = run.committed_at.expect("committed");
    assert_eq!(
        watermark(&env, &TableName::CONTACTS).await,
        Some(run.window.end())
    );

    // Outcomes arriving again (the doomed worker's never came; a duplicate of the
    // survivor's does) move nothing: the run is closed once.
    let duplicate = ChunkOutcome {
        run_id,
        chunk_id: chunk.id,
        connection_id: env.connection_id,
        table: TableName::CONTACTS,
        status: ChunkStatus::Succeeded {
            records: chunk.records,
            pages: chunk.pages,
            unparsed_values: 0,
        },
    };
    for _ in 0..2 {
        env.broker()
            .publisher()
            .publish(
                Route::Outcomes,
                &chunk.id.to_string(),
                &encode_outcome(&duplicate),
            )
            .await
            .unwrap();
    }
    eventually("the duplicates are consumed", RUN_DEADLINE, || async {
        (env.queues
            .ready(&env.queues.names().queue(Route::Outcomes))
            .await
            == 0)
            .then_some(())
    })
    .await;
    // And a sweep has passed.
    tokio::time::sleep(Duration::from_secs(env.committer.sweep_interval_secs + 1)).await;
    let again = run_row(&env, run_id).await;
    assert_eq!(
        again.committed_at,
        Some(committed_at),
        "committed a second time"
    );
    assert_eq!(again.status, RunStatus::Succeeded);
    assert_eq!(
        watermark(&env, &TableName::CONTACTS).await,
        Some(run.window.end())
    );

    survivor.stop().await.unwrap();
    committer.stop().await.unwrap();
    env.finish().await;
}

fn slow_search_options() -> EnvOptions {
    let mut options = EnvOptions::default();
    options.sim = SimConfig {
        records_per_table: 240,
        ..options.sim
    };
    options.planner.initial_chunks = 1;
    options.worker.page_size = 20;
    options.worker.concurrency = 1;
    options.worker.split_threshold = 100_000;
    options
}

/// Slow searches, so that a stop or a kill lands while a chunk is between or inside
/// pages.
fn slow_down_search(env: &Env) {
    env.control().set_latency(LatencyConfig {
        default: Latency::default(),
        families: BTreeMap::from([(
            EndpointFamily::Search,
            Latency {
                base_ms: 120,
                jitter_ms: 60,
            },
        )]),
        ..LatencyConfig::default()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_stopped_mid_chunk_commits_its_page_and_another_resumes_from_the_cursor() {
    let env = Env::start(slow_search_options()).await;
    slow_down_search(&env);
    let committer = env.start_committer();
    let leaving = env.start_worker("leaving");

    let report = env.plan(RunKind::Full, &[TableName::CONTACTS]).await;
    let run_id = report.started[0].run_id;
    eventually("the chunk is under way", RUN_DEADLINE, || async {
        (chunks_of(&env, run_id).await[0].pages >= 2).then_some(())
    })
    .await;
    let asked = tokio::time::Instant::now();
    leaving
        .stop()
        .await
        .expect("a graceful stop is not an error");
    assert!(
        asked.elapsed() < Duration::from_secs(env.worker.shutdown_grace_secs),
        "stopped within the grace period"
    );
    let stopped = chunks_of(&env, run_id).await.remove(0);
    assert_eq!(
        stopped.state,
        ChunkState::Running,
        "left unfinished for another worker"
    );
    // Whole pages only: the page in flight was committed with its progress, not cut.
    assert_eq!(stopped.records, stopped.pages * 20);
    assert!(stopped.cursor.is_some());

    let successor = env.start_worker("successor");
    let progress = env.wait_for_runs(&[run_id], RUN_DEADLINE).await;
    assert_eq!(progress[0].status, RunStatus::Succeeded, "{progress:?}");
    let chunk = chunks_of(&env, run_id).await.remove(0);
    assert_eq!(chunk.worker_id.as_deref(), Some("successor"));
    assert_eq!(chunk.attempts, 2);
    let contacts = env
        .control()
        .records(env.hub_id, "contacts", false)
        .unwrap();
    assert_eq!(
        chunk.records,
        contacts.len() as u64,
        "resumed from the cursor"
    );
    let searched = env
        .control()
        .portal_counters(env.hub_id)
        .unwrap()
        .records_of("contacts", "search");
    // Only the page prefetched before the stop was read twice.
    assert!(
        searched <= contacts.len() as u64 + 20,
        "{searched} for {}",
        contacts.len()
    );
    compare::assert_matches_portal(&env, Some(&[TableName::CONTACTS])).await;

    successor.stop().await.unwrap();
    committer.stop().await.unwrap();
    env.finish().await;
}

struct Snapshot {
    run: hubsync_store::Run,
    chunks: Vec<hubsync_store::Chunk>,
    records: Vec<StoredRecord>,
    watermark: Option<chrono::DateTime<chrono::Utc>>,
}

async fn snapshot(env: &Env, run_id: hubsync_core::RunId) -> Snapshot {
    let mut db = env.pool().acquire().await.unwrap();
    let records = list_records(
        &mut db,
        env.connection_id,
        &TableName::COMPANIES,
        None,
        10_000,
    )
    .await
    .unwrap();
    drop(db);
    Snapshot {
        run: run_row(env, run_id).await,
        chunks: chunks_of(env, run_id).await,
        records,
        watermark: watermark(env, &TableName::COMPANIES).await,
    }
}

async fn chunks_of(env: &Env, run_id: hubsync_core::RunId) -> Vec<hubsync_store::Chunk> {
    let mut db = env.pool().acquire().await.unwrap();
    list_chunks(&mut db, run_id).await.unwrap()
}

async fn run_row(env: &Env, run_id: hubsync_core::RunId) -> hubsync_store::Run {
    let mut db = env.pool().acquire().await.unwrap();
    get_run(&mut db, run_id).await.unwrap().expect("run")
}

async fn watermark(env: &Env, table: &TableName) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut db = env.pool().acquire().await.unwrap();
    hubsync_store::get_watermark(&mut db, env.connection_id, table)
        .await
        .unwrap()
}

/// A worker killed after its last page committed but before it told the committer:
/// no outcome ever comes, and the committer's sweep closes the run from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_outcome_was_lost_is_closed_by_the_committers_sweep() {
    let mut options = EnvOptions::default();
    options.planner.initial_chunks = 2;
    let env = Env::start(options).await;
    // No worker: the chunks are done "by hand", as a worker would, without outcomes.
    let report = env.plan(RunKind::Full, &[TableName::CALLS]).await;
    let run = &report.started[0];
    {
        let mut db = env.pool().acquire().await.unwrap();
        for chunk in list_chunks(&mut db, run.run_id).await.unwrap() {
            hubsync_store::start_chunk(&mut db, chunk.id, "killed-worker")
                .await
                .unwrap();
            hubsync_store::record_page(
                &mut db,
                chunk.id,
                &hubsync_store::PageProgress {
                    cursor: None,
                    records: 0,
                    unparsed_values: 0,
                    last: true,
                },
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(
        env.queues
            .ready(&env.queues.names().queue(Route::Outcomes))
            .await,
        0,
        "no outcome was published"
    );
    let committer = env.start_committer();
    let progress = env.wait_for_runs(&[run.run_id], RUN_DEADLINE).await;
    assert_eq!(progress[0].status, RunStatus::Succeeded, "{progress:?}");
    assert_eq!(
        watermark(&env, &TableName::CALLS).await,
        Some(run.window.end())
    );
    committer.stop().await.unwrap();
    env.finish().await;
}
