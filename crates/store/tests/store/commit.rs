use hubsync_core::{ChunkId, TableName};
use hubsync_store::{
    CommitOutcome, Error, PageProgress, RunStatus, commit_run, get_run, get_watermark,
    list_failed_chunks, mark_chunk_failed, record_page, requeue_all_failed, requeue_run,
    reset_watermark, split_chunk, start_chunk,
};
use sqlx::{PgConnection, PgPool};

use crate::common::{TestResult, at, connection_with_tables, run_with_chunks};

async fn succeed(conn: &mut PgConnection, chunk: ChunkId, records: u64) {
    start_chunk(conn, chunk, "worker").await.unwrap();
    record_page(
        conn,
        chunk,
        &PageProgress {
            cursor: Some(records),
            records,
            unparsed_values: 0,
            last: true,
        },
    )
    .await
    .unwrap();
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn the_watermark_advances_once(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    let created = run_with_chunks(&mut conn, c.id, &deals, None, 1_000, 9_000, 2).await;
    succeed(&mut conn, created.chunks[0].id, 10).await;

    assert!(matches!(
        commit_run(&mut conn, created.run.id).await?,
        CommitOutcome::Pending { progress } if progress.succeeded == 1 && progress.unfinished == 1
    ));
    assert_eq!(get_watermark(&mut conn, c.id, &deals).await?, None);

    succeed(&mut conn, created.chunks[1].id, 5).await;
    assert_eq!(
        commit_run(&mut conn, created.run.id).await?,
        CommitOutcome::Committed {
            watermark: at(9_000)
        }
    );
    assert_eq!(
        get_watermark(&mut conn, c.id, &deals).await?,
        Some(at(9_000))
    );
    let run = get_run(&mut conn, created.run.id).await?.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!((run.records, run.pages), (15, 2));
    assert!(run.committed_at.is_some());

    // The outcome arrives again, or the sweep finds it: nothing more happens.
    assert_eq!(
        commit_run(&mut conn, created.run.id).await?,
        CommitOutcome::AlreadyClosed {
            status: RunStatus::Succeeded
        }
    );
    assert_eq!(
        get_watermark(&mut conn, c.id, &deals).await?,
        Some(at(9_000))
    );

    // The next run moves it from there.
    let next = run_with_chunks(&mut conn, c.id, &deals, Some(at(9_000)), 8_000, 20_000, 1).await;
    succeed(&mut conn, next.chunks[0].id, 1).await;
    assert_eq!(
        commit_run(&mut conn, next.run.id).await?,
        CommitOutcome::Committed {
            watermark: at(20_000)
        }
    );

    // A complete run that would move it backwards keeps it.
    let late = run_with_chunks(&mut conn, c.id, &deals, Some(at(20_000)), 1_000, 15_000, 1).await;
    succeed(&mut conn, late.chunks[0].id, 1).await;
    assert_eq!(
        commit_run(&mut conn, late.run.id).await?,
        CommitOutcome::Kept {
            watermark: Some(at(20_000))
        }
    );
    assert_eq!(
        get_watermark(&mut conn, c.id, &deals).await?,
        Some(at(20_000))
    );

    assert!(matches!(
        commit_run(&mut conn, hubsync_core::RunId::new_random()).await,
        Err(Error::RunNotFound(_))
    ));
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_failed_leaf_holds_the_watermark_until_requeued(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    reset_watermark(&mut conn, c.id, &deals, Some(at(500))).await?;
    let created = run_with_chunks(&mut conn, c.id, &deals, Some(at(500)), 400, 9_000, 3).await;
    let [a, b, d] = [
        created.chunks[0].id,
        created.chunks[1].id,
        created.chunks[2].id,
    ];

    // The first chunk split; one child fails while another chunk is still running.
    start_chunk(&mut conn, a, "w").await?;
    let ranges = created.chunks[0].range.split(2, None).unwrap();
    let children = split_chunk(&mut conn, a, &ranges).await?;
    succeed(&mut conn, children[0].id, 3).await;
    start_chunk(&mut conn, children[1].id, "w").await?;
    mark_chunk_failed(&mut conn, children[1].id, "HTTP 500").await?;
    succeed(&mut conn, b, 4).await;
    start_chunk(&mut conn, d, "w").await?;
    assert!(matches!(
        commit_run(&mut conn, created.run.id).await?,
        CommitOutcome::Pending { progress } if progress.failed == 1 && progress.unfinished == 1
    ));
    assert_eq!(
        get_run(&mut conn, created.run.id).await?.unwrap().status,
        RunStatus::Running
    );

    // Once every leaf finished, the run fails and the watermark stays.
    succeed(&mut conn, d, 1).await;
    assert!(matches!(
        commit_run(&mut conn, created.run.id).await?,
        CommitOutcome::Failed { progress } if progress.failed == 1 && progress.leaves == 4
    ));
    let run = get_run(&mut conn, created.run.id).await?.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().contains("1 of 4 chunks failed"));
    assert_eq!(get_watermark(&mut conn, c.id, &deals).await?, Some(at(500)));
    assert_eq!(
        commit_run(&mut conn, created.run.id).await?,
        CommitOutcome::AlreadyClosed {
            status: RunStatus::Failed
        }
    );

    // Ops requeue the failed chunk; it succeeds; the watermark moves.
    let requeued = requeue_run(&mut conn, created.run.id).await?;
    assert_eq!(requeued.len(), 1);
    assert_eq!(
        get_run(&mut conn, created.run.id).await?.unwrap().status,
        RunStatus::Running
    );
    succeed(&mut conn, children[1].id, 2).await;
    assert_eq!(
        commit_run(&mut conn, created.run.id).await?,
        CommitOutcome::Committed {
            watermark: at(9_000)
        }
    );
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_watermark_moved_by_someone_else_is_refused(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    let created = run_with_chunks(&mut conn, c.id, &deals, None, 1_000, 9_000, 1).await;
    succeed(&mut conn, created.chunks[0].id, 1).await;
    reset_watermark(&mut conn, c.id, &deals, Some(at(3_000))).await?;

    match commit_run(&mut conn, created.run.id).await {
        Err(error @ Error::WatermarkMoved { .. }) => {
            assert!(!error.is_retryable());
            let Error::WatermarkMoved {
                expected, found, ..
            } = &error
            else {
                unreachable!()
            };
            assert_eq!((*expected, *found), (None, Some(at(3_000))));
            assert!(error.to_string().contains("moved from none to"), "{error}");
        }
        other => panic!("expected WatermarkMoved, got {other:?}"),
    }
    // Nothing changed: the watermark stays where the other party put it, the run open.
    assert_eq!(
        get_watermark(&mut conn, c.id, &deals).await?,
        Some(at(3_000))
    );
    assert_eq!(
        get_run(&mut conn, created.run.id).await?.unwrap().status,
        RunStatus::Running
    );
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn concurrent_commits_close_the_run_once(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let created = run_with_chunks(&mut conn, c.id, &TableName::DEALS, None, 1_000, 9_000, 1).await;
    succeed(&mut conn, created.chunks[0].id, 1).await;
    let (mut one, mut two) = (pool.acquire().await?, pool.acquire().await?);
    let (first, second) = tokio::join!(
        commit_run(&mut one, created.run.id),
        commit_run(&mut two, created.run.id)
    );
    let mut outcomes = [first?, second?];
    outcomes.sort_by_key(|o| matches!(o, CommitOutcome::AlreadyClosed { .. }));
    assert_eq!(
        outcomes,
        [
            CommitOutcome::Committed {
                watermark: at(9_000)
            },
            CommitOutcome::AlreadyClosed {
                status: RunStatus::Succeeded
            }
        ]
    );
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_run_planned_from_a_stale_watermark_still_commits(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    reset_watermark(&mut conn, c.id, &deals, Some(at(4_000))).await?;

    // Planned from 2 000, but the previous run committed 4 000 before the insert: the
    // wider window is harmless, and the compare-and-set must expect 4 000.
    let late = run_with_chunks(&mut conn, c.id, &deals, Some(at(2_000)), 1_000, 9_000, 1).await;
    assert_eq!(late.run.previous_watermark, Some(at(4_000)));
    assert_eq!(
        get_run(&mut conn, late.run.id)
            .await?
            .unwrap()
            .previous_watermark,
        Some(at(4_000))
    );
    succeed(&mut conn, late.chunks[0].id, 1).await;
    assert_eq!(
        commit_run(&mut conn, late.run.id).await?,
        CommitOutcome::Committed {
            watermark: at(9_000)
        }
    );

    // Ops reset the watermark (next run full) while an incremental run was planned.
    reset_watermark(&mut conn, c.id, &deals, None).await?;
    let planned = hubsync_store::NewRun {
        connection_id: c.id,
        table: deals.clone(),
        kind: hubsync_core::RunKind::Incremental,
        window: crate::common::window(8_000, 20_000),
        previous_watermark: Some(at(9_000)),
    };
    assert!(matches!(
        hubsync_store::create_run(&mut conn, &planned, &[]).await,
        Err(Error::PlanOutdated {
            planned_from: Some(_),
            current: None,
            ..
        })
    ));
    assert_eq!(
        hubsync_store::running_run_of(&mut conn, c.id, &deals).await?,
        None
    );
    Ok(())
}

/// A failed run holds its table's watermark, so its failed chunks are listed (for
/// `status` and `requeue --all-failed`) until a later run of the table succeeds from
/// the same held watermark: that run read the failed run's window again, and the
/// failed chunks no longer hold anything back.
#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_failed_run_superseded_by_a_later_success_is_no_longer_listed(
    pool: PgPool,
) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    reset_watermark(&mut conn, c.id, &deals, Some(at(500))).await?;
    let failed = run_with_chunks(&mut conn, c.id, &deals, Some(at(500)), 400, 9_000, 1).await;
    start_chunk(&mut conn, failed.chunks[0].id, "w").await?;
    mark_chunk_failed(&mut conn, failed.chunks[0].id, "HTTP 500").await?;
    assert!(matches!(
        commit_run(&mut conn, failed.run.id).await?,
        CommitOutcome::Failed { .. }
    ));
    let listed = |chunks: Vec<hubsync_store::Chunk>| -> Vec<ChunkId> {
        chunks.into_iter().map(|chunk| chunk.id).collect()
    };
    assert_eq!(
        listed(list_failed_chunks(&mut conn, Some(c.id)).await?),
        vec![failed.chunks[0].id]
    );

    // The next run starts from the same held watermark; while it is in flight the
    // failed chunk still holds the watermark.
    let next = run_with_chunks(&mut conn, c.id, &deals, Some(at(500)), 400, 20_000, 1).await;
    assert_eq!(
        listed(list_failed_chunks(&mut conn, None).await?),
        vec![failed.chunks[0].id]
    );
    // Requeueing everything that failed cannot reopen that run (its table has a run
    // in flight), but says so and still requeues the failed runs of other tables.
    let companies = TableName::COMPANIES;
    let other = run_with_chunks(&mut conn, c.id, &companies, None, 400, 9_000, 1).await;
    start_chunk(&mut conn, other.chunks[0].id, "w").await?;
    mark_chunk_failed(&mut conn, other.chunks[0].id, "HTTP 500").await?;
    commit_run(&mut conn, other.run.id).await?;
    let all = requeue_all_failed(&mut conn, Some(c.id)).await?;
    assert_eq!(listed(all.requeued), vec![other.chunks[0].id]);
    assert_eq!(
        all.skipped,
        vec![(failed.run.id, deals.clone(), next.run.id)]
    );
    assert_eq!(
        get_run(&mut conn, failed.run.id).await?.unwrap().status,
        RunStatus::Failed
    );
    assert_eq!(
        get_run(&mut conn, other.run.id).await?.unwrap().status,
        RunStatus::Running
    );
    succeed(&mut conn, next.chunks[0].id, 7).await;
    assert!(matches!(
        commit_run(&mut conn, next.run.id).await?,
        CommitOutcome::Committed { .. }
    ));
    assert!(list_failed_chunks(&mut conn, Some(c.id)).await?.is_empty());
    assert!(list_failed_chunks(&mut conn, None).await?.is_empty());
    Ok(())
}
