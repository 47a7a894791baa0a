//! The committer's step: close a run and move its table's watermark, once.

use chrono::{DateTime, Utc};
use hubsync_core::watermark::RunProgress;
use hubsync_core::{ChunkId, ChunkState, ChunkSummary, RunId, WatermarkDecision, decide_watermark};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::runs::{RunStatus, fetch_run};
use crate::tables::get_watermark;

/// What [`commit_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Every leaf succeeded: the watermark moved to the run's start; run succeeded.
    Committed { watermark: DateTime<Utc> },
    /// Every leaf succeeded but the watermark was already at or past the run's start
    /// (it never moves backwards): kept; run succeeded.
    Kept { watermark: Option<DateTime<Utc>> },
    /// Some leaves are still pending or running: nothing changed.
    Pending { progress: RunProgress },
    /// Every leaf finished and some failed: run failed, watermark held until ops
    /// requeue the failed chunks.
    Failed { progress: RunProgress },
    /// The run was already closed (an outcome delivered twice, a sweep after the
    /// outcome): nothing changed.
    AlreadyClosed { status: RunStatus },
}

/// In one transaction: locks the run, reads its chunks, applies core's watermark
/// rule, and either closes the run (moving the table's watermark from the run's
/// `previous_watermark` to its start by compare-and-set) or leaves it open.
/// Idempotent: a closed run gives [`CommitOutcome::AlreadyClosed`].
///
/// If the watermark no longer equals `previous_watermark`, someone else moved it
/// (an ops reset, a hand edit): [`Error::WatermarkMoved`], nothing changes. That is a
/// report for a human, not a retry.
pub async fn commit_run(conn: &mut PgConnection, run_id: RunId) -> Result<CommitOutcome> {
    let mut tx = conn.begin().await?;
    let run = fetch_run(&mut tx, run_id, true)
        .await?
        .ok_or(Error::RunNotFound(run_id))?;
    if run.status != RunStatus::Running {
        tx.commit().await?;
        return Ok(CommitOutcome::AlreadyClosed { status: run.status });
    }

    let rows: Vec<(Uuid, Option<Uuid>, String)> =
        sqlx::query_as("SELECT id, parent_id, status FROM hubsync.chunks WHERE run_id = $1")
            .bind(run_id.as_uuid())
            .fetch_all(&mut *tx)
            .await?;
    let chunks = rows
        .into_iter()
        .map(|(id, parent, status)| {
            Ok(ChunkSummary {
                chunk_id: ChunkId::from(id),
                parent_chunk_id: parent.map(ChunkId::from),
                state: status
                    .parse::<ChunkState>()
                    .map_err(|error| Error::corrupt("chunk state", error))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let outcome = match decide_watermark(run.previous_watermark, run.run_start(), &chunks) {
        WatermarkDecision::Hold { progress } => {
            let settled = progress.unfinished == 0 && progress.split_without_children == 0;
            if !(settled && progress.failed > 0) {
                tx.commit().await?;
                return Ok(CommitOutcome::Pending { progress });
            }
            let error = format!(
                "{} of {} chunks failed; the watermark is held until they are requeued",
                progress.failed, progress.leaves
            );
            close_run(&mut tx, run_id, RunStatus::Failed, Some(&error)).await?;
            CommitOutcome::Failed { progress }
        }
        WatermarkDecision::Keep => {
            close_run(&mut tx, run_id, RunStatus::Succeeded, None).await?;
            CommitOutcome::Kept {
                watermark: run.previous_watermark,
            }
        }
        WatermarkDecision::Advance { from, to } => {
            let moved = sqlx::query(
                "UPDATE hubsync.tables SET watermark = $3, updated_at = now()
                 WHERE connection_id = $1 AND table_name = $2
                   AND watermark IS NOT DISTINCT FROM $4",
            )
            .bind(run.connection_id.as_uuid())
            .bind(run.table.as_str())
            .bind(to)
            .bind(from)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                let found = get_watermark(&mut tx, run.connection_id, &run.table).await;
                tx.rollback().await?;
                return Err(match found {
                    Ok(found) => Error::WatermarkMoved {
                        run_id,
                        table: run.table,
                        expected: from,
                        found,
                    },
                    Err(error) => error,
                });
            }
            close_run(&mut tx, run_id, RunStatus::Succeeded, None).await?;
            CommitOutcome::Committed { watermark: to }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Ends a run with its totals; only a succeeded run is committed.
async fn close_run(
    conn: &mut PgConnection,
    run_id: RunId,
    status: RunStatus,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE hubsync.runs
         SET status = $2, error = $3, finished_at = now(),
             committed_at = CASE WHEN $2 = 'succeeded' THEN now() END,
             (records, pages) = (SELECT COALESCE(sum(records), 0), COALESCE(sum(pages), 0)
                                 FROM hubsync.chunks WHERE run_id = $1)
         WHERE id = $1",
    )
    .bind(run_id.as_uuid())
    .bind(status.as_str())
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}
