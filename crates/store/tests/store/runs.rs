use hubsync_core::{ChunkRange, ChunkState, IdRange, RunKind, TableName};
use hubsync_store::{
    ChunkStart, Error, NewRun, PageProgress, RunStatus, cancel_run, create_run, get_chunk, get_run,
    get_runs, list_chunks, list_failed_chunks, list_running_runs, mark_chunk_failed,
    mark_chunk_succeeded, mark_chunks_published, record_page, requeue_chunks, requeue_run,
    run_chunk_counts, running_run_of, split_chunk, start_chunk,
};
use sqlx::PgPool;

use crate::common::{TestResult, at, connection_with_tables, run_with_chunks, window};

fn page(cursor: u64, records: u64, last: bool) -> PageProgress {
    PageProgress {
        cursor: Some(cursor),
        records,
        unparsed_values: 1,
        last,
    }
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_second_running_run_of_a_table_is_refused(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    hubsync_store::reset_watermark(&mut conn, c.id, &deals, Some(at(500))).await?;
    let first = run_with_chunks(&mut conn, c.id, &deals, Some(at(500)), 1_000, 9_000, 4).await;
    assert_eq!(first.run.status, RunStatus::Running);
    assert_eq!(first.run.previous_watermark, Some(at(500)));
    assert_eq!(first.run.run_start(), at(9_000));
    assert_eq!(first.chunks.len(), 4);
    assert!(
        first
            .chunks
            .iter()
            .all(|c| c.state == ChunkState::Pending && c.depth == 0)
    );
    assert_eq!(first.chunks[0].range.modified().start(), at(1_000));
    assert_eq!(first.chunks[3].range.modified().end(), at(9_000));

    let second = NewRun {
        connection_id: c.id,
        table: deals.clone(),
        kind: RunKind::Full,
        window: window(1_000, 10_000),
        previous_watermark: None,
    };
    match create_run(&mut conn, &second, &[]).await {
        Err(Error::RunInFlight { table, run_id }) => {
            assert_eq!(table, deals);
            assert_eq!(run_id, first.run.id);
        }
        other => panic!("expected RunInFlight, got {other:?}"),
    }
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM hubsync.runs")
        .fetch_one(&mut *conn)
        .await?;
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM hubsync.chunks")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!((runs, chunks), (1, 4));

    // Another table is free; so is this one once the run is closed.
    run_with_chunks(
        &mut conn,
        c.id,
        &TableName::COMPANIES,
        None,
        1_000,
        2_000,
        1,
    )
    .await;
    assert_eq!(
        running_run_of(&mut conn, c.id, &deals).await?,
        Some(first.run.id)
    );
    assert_eq!(list_running_runs(&mut conn).await?.len(), 2);
    assert!(cancel_run(&mut conn, first.run.id, "by test").await?);
    assert!(!cancel_run(&mut conn, first.run.id, "twice").await?);
    let created = create_run(&mut conn, &second, &[]).await?;
    assert_eq!(
        created.chunks.len(),
        1,
        "no ranges: one chunk over the window"
    );
    assert_eq!(
        created.chunks[0].range,
        ChunkRange::time(window(1_000, 10_000))
    );
    assert_eq!(
        get_run(&mut conn, first.run.id).await?.unwrap().status,
        RunStatus::Cancelled
    );

    let mut unknown = second.clone();
    unknown.table = TableName::parse("cars")?;
    assert!(matches!(
        create_run(&mut conn, &unknown, &[]).await,
        Err(Error::TableNotFound { .. })
    ));
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn chunks_move_through_their_states(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let created = run_with_chunks(&mut conn, c.id, &TableName::DEALS, None, 1_000, 9_000, 2).await;
    let found = get_runs(
        &mut conn,
        &[created.run.id, hubsync_core::RunId::new_random()],
    )
    .await?;
    assert_eq!(found.len(), 1, "an unknown run is left out");
    assert_eq!(found[&created.run.id], created.run);
    let (a, b) = (created.chunks[0].id, created.chunks[1].id);
    assert_eq!(mark_chunks_published(&mut conn, &[a, b]).await?, 2);
    assert!(
        get_chunk(&mut conn, a)
            .await?
            .unwrap()
            .published_at
            .is_some()
    );

    let ChunkStart::Started(started) = start_chunk(&mut conn, a, "worker-1").await? else {
        panic!("not started");
    };
    assert_eq!(started.state, ChunkState::Running);
    assert_eq!(started.attempts, 1);
    assert_eq!(started.worker_id.as_deref(), Some("worker-1"));

    let after_page = record_page(&mut conn, a, &page(200, 100, false)).await?;
    assert_eq!(
        (
            after_page.cursor,
            after_page.records,
            after_page.pages,
            after_page.unparsed_values
        ),
        (Some(200), 100, 1, 1)
    );
    // The worker died; another takes the chunk over and resumes from the cursor.
    let ChunkStart::Started(resumed) = start_chunk(&mut conn, a, "worker-2").await? else {
        panic!("not restarted");
    };
    assert_eq!((resumed.attempts, resumed.cursor), (2, Some(200)));
    // A cursor never moves backwards.
    let lower = record_page(&mut conn, a, &page(150, 10, false)).await?;
    assert_eq!(lower.cursor, Some(200));
    let done = record_page(&mut conn, a, &page(300, 5, true)).await?;
    assert_eq!(done.state, ChunkState::Succeeded);
    assert_eq!((done.cursor, done.records, done.pages), (Some(300), 115, 3));
    assert!(done.finished_at.is_some());

    // Redelivered after success: nothing to do, and no page may be recorded.
    assert!(matches!(
        start_chunk(&mut conn, a, "worker-3").await?,
        ChunkStart::AlreadyDone(_)
    ));
    assert!(matches!(
        record_page(&mut conn, a, &page(400, 1, true)).await,
        Err(Error::ChunkNotRunning {
            state: ChunkState::Succeeded,
            ..
        })
    ));
    assert!(matches!(
        mark_chunk_succeeded(&mut conn, a).await,
        Err(Error::ChunkNotRunning { .. })
    ));

    // B fails; a late failure report does not undo a success.
    start_chunk(&mut conn, b, "worker-1").await?;
    let failed = mark_chunk_failed(&mut conn, b, "HTTP 500 after 5 attempts").await?;
    assert_eq!(failed.state, ChunkState::Failed);
    assert_eq!(failed.error.as_deref(), Some("HTTP 500 after 5 attempts"));
    assert_eq!(
        mark_chunk_failed(&mut conn, a, "late").await?.state,
        ChunkState::Succeeded
    );
    let failed_list = list_failed_chunks(&mut conn, Some(c.id)).await?;
    assert_eq!(
        failed_list.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![b]
    );
    assert!(list_failed_chunks(&mut conn, None).await?.len() == 1);

    let counts = run_chunk_counts(&mut conn, created.run.id).await?;
    assert_eq!((counts.succeeded, counts.failed, counts.total()), (1, 1, 2));
    assert_eq!(counts.records, 115);

    // Requeue: pending again with its cursor kept, and its attempts counted afresh:
    // the worker fails a chunk once its attempts reach `max_attempts`, and a requeued
    // chunk must get its retries again, not fail at its first transient error.
    let cursor_before = get_chunk(&mut conn, b).await?.unwrap().cursor;
    let requeued = requeue_chunks(&mut conn, &[a, b]).await?;
    assert_eq!(requeued.len(), 1, "only the failed chunk is requeued");
    assert_eq!(requeued[0].state, ChunkState::Pending);
    assert_eq!(requeued[0].error, None);
    assert_eq!(requeued[0].published_at, None);
    assert_eq!(requeued[0].cursor, cursor_before);
    assert_eq!(requeued[0].attempts, 0);
    let ChunkStart::Started(again) = start_chunk(&mut conn, b, "worker-2").await? else {
        panic!("not started");
    };
    assert_eq!(again.attempts, 1);
    mark_chunk_succeeded(&mut conn, b).await?;
    assert_eq!(
        run_chunk_counts(&mut conn, created.run.id).await?.succeeded,
        2
    );
    let listed = list_chunks(&mut conn, created.run.id).await?;
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a, b]);
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_chunk_splits_once_into_children(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let created = run_with_chunks(&mut conn, c.id, &TableName::DEALS, None, 1_000, 9_000, 1).await;
    let parent = created.chunks[0].clone();
    start_chunk(&mut conn, parent.id, "worker-1").await?;

    let ranges = parent.range.split(4, None).unwrap();
    let children = split_chunk(&mut conn, parent.id, &ranges).await?;
    assert_eq!(children.len(), 4);
    for (child, range) in children.iter().zip(&ranges) {
        assert_eq!(child.range, *range);
        assert_eq!(child.parent_id, Some(parent.id));
        assert_eq!(child.depth, 1);
        assert_eq!(child.state, ChunkState::Pending);
        assert_eq!(child.run_id, created.run.id);
        assert_eq!(child.job(RunKind::Full).parent_chunk_id, Some(parent.id));
    }
    assert_eq!(
        get_chunk(&mut conn, parent.id).await?.unwrap().state,
        ChunkState::Split
    );
    // A redelivered job splitting again gets the same children.
    let again = split_chunk(&mut conn, parent.id, &ranges).await?;
    assert_eq!(
        again.iter().map(|c| c.id).collect::<Vec<_>>(),
        children.iter().map(|c| c.id).collect::<Vec<_>>()
    );
    assert!(matches!(
        start_chunk(&mut conn, parent.id, "w").await?,
        ChunkStart::AlreadyDone(_)
    ));

    // A one-millisecond child split by id ranges, which survive the round trip.
    let narrow = window(5_000, 5_001);
    let by_ids = [
        ChunkRange::by_ids(narrow, IdRange::new(0, 500)?)?,
        ChunkRange::by_ids(narrow, IdRange::new(500, 1_000)?)?,
    ];
    let grandchildren = split_chunk(&mut conn, children[0].id, &by_ids).await?;
    assert_eq!(
        grandchildren[1].range.ids(),
        Some(IdRange::new(500, 1_000)?)
    );
    assert_eq!(grandchildren[1].depth, 2);
    let reread = get_chunk(&mut conn, grandchildren[1].id).await?.unwrap();
    assert_eq!(reread.range, by_ids[1]);

    // Finished chunks cannot split.
    start_chunk(&mut conn, children[1].id, "w").await?;
    mark_chunk_succeeded(&mut conn, children[1].id).await?;
    assert!(matches!(
        split_chunk(&mut conn, children[1].id, &ranges).await,
        Err(Error::ChunkCannotSplit {
            state: ChunkState::Succeeded,
            ..
        })
    ));
    let counts = run_chunk_counts(&mut conn, created.run.id).await?;
    assert_eq!((counts.split, counts.pending, counts.succeeded), (2, 4, 1));
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn chunks_of_a_cancelled_run_are_skipped_and_not_requeued(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let created = run_with_chunks(&mut conn, c.id, &TableName::DEALS, None, 1_000, 9_000, 2).await;
    let (a, b) = (created.chunks[0].id, created.chunks[1].id);
    start_chunk(&mut conn, a, "w").await?;
    mark_chunk_failed(&mut conn, a, "boom").await?;
    cancel_run(&mut conn, created.run.id, "operator").await?;
    assert!(matches!(
        start_chunk(&mut conn, b, "w").await?,
        ChunkStart::RunCancelled(chunk) if chunk.state == ChunkState::Pending
    ));
    assert!(list_failed_chunks(&mut conn, None).await?.is_empty());
    assert!(requeue_run(&mut conn, created.run.id).await?.is_empty());
    assert_eq!(
        get_run(&mut conn, created.run.id).await?.unwrap().status,
        RunStatus::Cancelled
    );
    Ok(())
}
