//! Requeueing failed chunks (ops): back to `pending`, their runs reopened.

use std::collections::BTreeMap;

use hubsync_core::{ChunkId, ChunkState, ConnectionId, RunId, TableName};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use super::{Chunk, ChunkRow, chunk_columns_of, chunks_from, list_chunks, list_failed_chunks};
use crate::error::{Error, RUNNING_RUN_INDEX, Result, sqlstate, violation};
use crate::runs::{fetch_run, running_run_of};

/// Puts failed chunks back to `pending` (cursor kept: they resume; attempts counted
/// afresh: a requeued chunk gets `worker.max_attempts` again, not one attempt past
/// the limit that failed it) and reopens their runs, for ops to republish them. Chunks that are not failed, or whose run was
/// cancelled, are left alone. Reopening a run while another run of its table is in
/// flight is refused with [`Error::RunInFlight`], and nothing changes.
pub async fn requeue_chunks(conn: &mut PgConnection, chunk_ids: &[ChunkId]) -> Result<Vec<Chunk>> {
    let ids: Vec<Uuid> = chunk_ids.iter().map(|id| id.as_uuid()).collect();
    let mut tx = conn.begin().await?;
    let rows: Vec<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE hubsync.chunks c
         SET status = 'pending', error = NULL, worker_id = NULL, published_at = NULL,
             attempts = 0, finished_at = NULL, updated_at = now()
         FROM hubsync.runs r
         WHERE c.id = ANY($1) AND c.status = 'failed' AND r.id = c.run_id
           AND r.status IN ('running', 'failed')
         RETURNING {}",
        chunk_columns_of("c")
    )))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let chunks = chunks_from(rows)?;
    let mut run_ids: Vec<Uuid> = chunks.iter().map(|c| c.run_id.as_uuid()).collect();
    run_ids.sort_unstable();
    run_ids.dedup();
    for run_id in run_ids {
        reopen_run(&mut tx, run_id.into()).await?;
    }
    tx.commit().await?;
    Ok(chunks)
}

/// What [`requeue_all_failed`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllFailedRequeue {
    /// The chunks put back to `pending`, their runs reopened.
    pub requeued: Vec<Chunk>,
    /// Failed runs left as they are because another run of their table is in flight
    /// (it reads their window again): (failed run, table, run in flight).
    pub skipped: Vec<(RunId, TableName, RunId)>,
}

/// Requeues the failed chunks that hold a watermark back (see
/// [`super::list_failed_chunks`]), of one connection or of all, run by run: a run
/// whose table has another run in flight cannot be reopened, and is reported in
/// `skipped` without stopping the others.
pub async fn requeue_all_failed(
    conn: &mut PgConnection,
    connection_id: Option<ConnectionId>,
) -> Result<AllFailedRequeue> {
    let mut by_run: BTreeMap<RunId, Vec<ChunkId>> = BTreeMap::new();
    for chunk in list_failed_chunks(conn, connection_id).await? {
        by_run.entry(chunk.run_id).or_default().push(chunk.id);
    }
    let mut outcome = AllFailedRequeue::default();
    for (run_id, chunk_ids) in by_run {
        match requeue_chunks(conn, &chunk_ids).await {
            Ok(chunks) => outcome.requeued.extend(chunks),
            Err(Error::RunInFlight {
                table,
                run_id: in_flight,
            }) => outcome.skipped.push((run_id, table, in_flight)),
            Err(error) => return Err(error),
        }
    }
    Ok(outcome)
}

/// Requeues every failed chunk of a run (see [`requeue_chunks`]).
pub async fn requeue_run(conn: &mut PgConnection, run_id: RunId) -> Result<Vec<Chunk>> {
    let failed: Vec<ChunkId> = list_chunks(conn, run_id)
        .await?
        .into_iter()
        .filter(|chunk| chunk.state == ChunkState::Failed)
        .map(|chunk| chunk.id)
        .collect();
    if failed.is_empty() {
        // Nothing to requeue, but a failed run whose chunks all succeeded since (a
        // dead-lettered job replayed by hand) can still be closed by the committer.
        let mut tx = conn.begin().await?;
        reopen_run(&mut tx, run_id).await?;
        tx.commit().await?;
        return Ok(Vec::new());
    }
    requeue_chunks(conn, &failed).await
}

async fn reopen_run(conn: &mut PgConnection, run_id: RunId) -> Result<()> {
    let mut sub = conn.begin().await?;
    let reopened = sqlx::query(
        "UPDATE hubsync.runs SET status = 'running', error = NULL, finished_at = NULL
         WHERE id = $1 AND status = 'failed'
         RETURNING table_name",
    )
    .bind(run_id.as_uuid())
    .fetch_optional(&mut *sub)
    .await;
    match reopened {
        Ok(_) => {
            sub.commit().await?;
            Ok(())
        }
        Err(error) => {
            sub.rollback().await?;
            match violation(&error) {
                Some((sqlstate::UNIQUE_VIOLATION, Some(RUNNING_RUN_INDEX))) => {
                    let run = fetch_run(conn, run_id, false)
                        .await?
                        .ok_or(Error::RunNotFound(run_id))?;
                    let holder = running_run_of(conn, run.connection_id, &run.table)
                        .await?
                        .unwrap_or(run_id);
                    Err(Error::RunInFlight {
                        table: run.table,
                        run_id: holder,
                    })
                }
                _ => Err(Error::Database(error)),
            }
        }
    }
}
