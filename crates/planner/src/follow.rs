//! `hubsync sync --wait`: polls the store until every run of a plan has ended.
//!
//! Polling the store (not listening to outcomes) is deliberate: outcomes belong to the
//! committer's queue, and the store is where a run ends, whoever ends it.

use hubsync_core::{RunId, TableName};
use hubsync_queue::CancellationToken;
use hubsync_store::runs::{self, ChunkCounts, RunStatus};
use tracing::debug;

use crate::PlannerContext;
use crate::error::PlanError;

/// Where one run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProgress {
    pub run_id: RunId,
    pub table: TableName,
    pub status: RunStatus,
    /// Its chunks by state (split parents included), with records and pages summed.
    pub chunks: ChunkCounts,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

impl RunProgress {
    pub fn is_finished(&self) -> bool {
        self.status != RunStatus::Running
    }
}

/// Polls the runs every `follow_poll_ms`, calling `on_progress` after each poll, until
/// every run has ended (or `stop` is cancelled); returns their last state. A run
/// unknown to the store is an error.
pub async fn follow(
    context: &PlannerContext,
    run_ids: &[RunId],
    stop: &CancellationToken,
    mut on_progress: impl FnMut(&[RunProgress]),
) -> Result<Vec<RunProgress>, PlanError> {
    loop {
        let progress = progress_of(context, run_ids).await?;
        on_progress(&progress);
        if progress.iter().all(RunProgress::is_finished) {
            return Ok(progress);
        }
        debug!(
            running = progress.iter().filter(|run| !run.is_finished()).count(),
            "waiting for runs"
        );
        tokio::select! {
            () = stop.cancelled() => return Ok(progress),
            () = tokio::time::sleep(context.settings.follow_poll()) => {}
        }
    }
}

/// The current state of each run, in the order given.
pub async fn progress_of(
    context: &PlannerContext,
    run_ids: &[RunId],
) -> Result<Vec<RunProgress>, PlanError> {
    let mut db = context.pool.acquire().await?;
    let counts = runs::chunk_counts(&mut db, run_ids).await?;
    let mut found = runs::get_runs(&mut db, run_ids).await?;
    let mut progress = Vec::with_capacity(run_ids.len());
    for run_id in run_ids {
        let run = found
            .remove(run_id)
            .ok_or(hubsync_store::Error::RunNotFound(*run_id))?;
        progress.push(RunProgress {
            run_id: run.id,
            table: run.table,
            status: run.status,
            chunks: counts.get(run_id).copied().unwrap_or_default(),
            error: run.error,
        });
    }
    Ok(progress)
}
