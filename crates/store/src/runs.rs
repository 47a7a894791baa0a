//! Runs: one sync of one table, created with its initial chunks.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hubsync_core::{
    ChunkRange, ChunkState, ConnectionId, ModifiedRange, RunId, RunKind, TableName,
};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::associations::parse_table;
use crate::chunks::{Chunk, NewChunk, insert_chunks};
use crate::error::{Error, RUNNING_RUN_INDEX, Result, sqlstate, violation};
use crate::names::count;
use crate::tables::get_watermark;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Running,
    /// Every leaf chunk succeeded and the committer closed it.
    Succeeded,
    /// Every leaf chunk finished and at least one failed; the watermark held.
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "running" => Ok(RunStatus::Running),
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            "cancelled" => Ok(RunStatus::Cancelled),
            other => Err(Error::corrupt("run status", other)),
        }
    }
}

pub(crate) fn kind_name(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Full => "full",
        RunKind::Incremental => "incremental",
    }
}

fn parse_kind(text: &str) -> Result<RunKind> {
    match text {
        "full" => Ok(RunKind::Full),
        "incremental" => Ok(RunKind::Incremental),
        other => Err(Error::corrupt("run mode", other)),
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: RunId,
    pub connection_id: ConnectionId,
    pub table: TableName,
    pub kind: RunKind,
    /// `[start, end)`; `end` is the run's start time, the watermark once it completes.
    pub window: ModifiedRange,
    /// The table's watermark the run was planned from (compare-and-set).
    pub previous_watermark: Option<DateTime<Utc>>,
    pub status: RunStatus,
    /// Totals over the run's chunks, filled when the run closes.
    pub records: u64,
    pub pages: u64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub committed_at: Option<DateTime<Utc>>,
}

impl Run {
    /// The run's start time: where the watermark goes when the run completes.
    pub fn run_start(&self) -> DateTime<Utc> {
        self.window.end()
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    id: Uuid,
    connection_id: Uuid,
    table_name: String,
    mode: String,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    previous_watermark: Option<DateTime<Utc>>,
    status: String,
    records: i64,
    pages: i64,
    error: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    committed_at: Option<DateTime<Utc>>,
}

impl TryFrom<RunRow> for Run {
    type Error = Error;
    fn try_from(row: RunRow) -> Result<Self> {
        Ok(Run {
            id: row.id.into(),
            connection_id: row.connection_id.into(),
            table: parse_table(&row.table_name)?,
            kind: parse_kind(&row.mode)?,
            window: ModifiedRange::new(row.window_start, row.window_end)
                .map_err(|error| Error::corrupt("run window", error))?,
            previous_watermark: row.previous_watermark,
            status: row.status.parse()?,
            records: count(row.records),
            pages: count(row.pages),
            error: row.error,
            created_at: row.created_at,
            finished_at: row.finished_at,
            committed_at: row.committed_at,
        })
    }
}

pub(crate) const RUN_COLUMNS: &str = "id, connection_id, table_name, mode, window_start, \
     window_end, previous_watermark, status, records, pages, error, created_at, finished_at, \
     committed_at";

pub(crate) async fn fetch_run(
    conn: &mut PgConnection,
    run_id: RunId,
    for_update: bool,
) -> Result<Option<Run>> {
    let lock = if for_update { " FOR NO KEY UPDATE" } else { "" };
    let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM hubsync.runs WHERE id = $1{lock}"
    )))
    .bind(run_id.as_uuid())
    .fetch_optional(conn)
    .await?;
    row.map(Run::try_from).transpose()
}

/// What the planner records for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub connection_id: ConnectionId,
    pub table: TableName,
    pub kind: RunKind,
    pub window: ModifiedRange,
    /// The watermark `window` was computed from (see [`create_run`] if it moved).
    pub previous_watermark: Option<DateTime<Utc>>,
}

/// A new run and its initial chunks (all `pending`, not yet published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRun {
    pub run: Run,
    pub chunks: Vec<Chunk>,
}

/// Records a run and its initial chunks in one transaction. `ranges` empty means one
/// chunk over the whole window. A second running run of the same table is refused
/// with [`Error::RunInFlight`] and nothing is written.
///
/// If the table's watermark moved forward since the planner read it (the previous run
/// committed meanwhile), the run records the current one as its `previous_watermark`;
/// if it moved back, [`Error::PlanOutdated`].
pub async fn create_run(
    conn: &mut PgConnection,
    new: &NewRun,
    ranges: &[ChunkRange],
) -> Result<CreatedRun> {
    // The index names no run; look it up. If that run finished in between, the table
    // is free again and one more attempt settles it.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match try_create_run(conn, new, ranges).await? {
            Ok(created) => return Ok(created),
            Err(refused) => {
                if let Some(run_id) = running_run_of(conn, new.connection_id, &new.table).await? {
                    return Err(Error::RunInFlight {
                        table: new.table.clone(),
                        run_id,
                    });
                }
                if attempts >= 2 {
                    return Err(Error::Database(refused));
                }
            }
        }
    }
}

/// `Ok(Err(_))`: refused by the running-run index (the transaction is rolled back).
async fn try_create_run(
    conn: &mut PgConnection,
    new: &NewRun,
    ranges: &[ChunkRange],
) -> Result<std::result::Result<CreatedRun, sqlx::Error>> {
    let run_id = RunId::new_random();
    let mut tx = conn.begin().await?;
    let inserted: std::result::Result<RunRow, sqlx::Error> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO hubsync.runs
                 (id, connection_id, table_name, mode, window_start, window_end,
                  previous_watermark)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING {RUN_COLUMNS}"
        )))
        .bind(run_id.as_uuid())
        .bind(new.connection_id.as_uuid())
        .bind(new.table.as_str())
        .bind(kind_name(new.kind))
        .bind(new.window.start())
        .bind(new.window.end())
        .bind(new.previous_watermark)
        .fetch_one(&mut *tx)
        .await;
    let row = match inserted {
        Ok(row) => row,
        Err(error) => {
            // The failed insert aborted the (sub)transaction.
            tx.rollback().await?;
            return match violation(&error) {
                Some((sqlstate::UNIQUE_VIOLATION, Some(RUNNING_RUN_INDEX))) => Ok(Err(error)),
                Some((sqlstate::FOREIGN_KEY_VIOLATION, _)) => Err(Error::TableNotFound {
                    connection_id: new.connection_id,
                    table: new.table.clone(),
                }),
                _ => Err(Error::Database(error)),
            };
        }
    };
    let mut run = Run::try_from(row)?;

    // The planner read the watermark before this transaction; the table's previous
    // run may have committed since (its commit and this insert are serialized by the
    // running-run index, so this read sees it). A watermark that moved forward only
    // makes the planned window wider than needed: record the current one, so the
    // compare-and-set at commit expects what is really there. One that moved back (an
    // ops reset) asks for a wider window than planned: refuse, the planner replans.
    let current = get_watermark(&mut tx, new.connection_id, &new.table).await?;
    if new.previous_watermark > current {
        tx.rollback().await?;
        return Err(Error::PlanOutdated {
            table: new.table.clone(),
            planned_from: new.previous_watermark,
            current,
        });
    }
    if current != new.previous_watermark {
        sqlx::query("UPDATE hubsync.runs SET previous_watermark = $2 WHERE id = $1")
            .bind(run.id.as_uuid())
            .bind(current)
            .execute(&mut *tx)
            .await?;
        run.previous_watermark = current;
    }

    let initial = [ChunkRange::time(run.window)];
    let ranges = if ranges.is_empty() {
        &initial[..]
    } else {
        ranges
    };
    let new_chunks: Vec<NewChunk> = ranges
        .iter()
        .map(|range| NewChunk {
            parent_id: None,
            depth: 0,
            range: *range,
        })
        .collect();
    let chunks = insert_chunks(&mut tx, &run, &new_chunks).await?;
    tx.commit().await?;
    Ok(Ok(CreatedRun { run, chunks }))
}

/// The id of the running run of a table, if any.
pub async fn running_run_of(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Option<RunId>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM hubsync.runs
         WHERE connection_id = $1 AND table_name = $2 AND status = 'running'",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(id.map(RunId::from))
}

/// One run.
pub async fn get_run(conn: &mut PgConnection, run_id: RunId) -> Result<Option<Run>> {
    fetch_run(conn, run_id, false).await
}

/// The runs of `run_ids` that exist, by id: one query however many are followed.
pub async fn get_runs(conn: &mut PgConnection, run_ids: &[RunId]) -> Result<HashMap<RunId, Run>> {
    let ids: Vec<Uuid> = run_ids.iter().map(RunId::as_uuid).collect();
    let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM hubsync.runs WHERE id = ANY($1)"
    )))
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| Run::try_from(row).map(|run| (run.id, run)))
        .collect()
}

/// Every running run, oldest first (the committer's sweep).
pub async fn list_running_runs(conn: &mut PgConnection) -> Result<Vec<Run>> {
    let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM hubsync.runs WHERE status = 'running' ORDER BY created_at"
    )))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Run::try_from).collect()
}

/// The most recent runs, newest first, of one connection or of all.
pub async fn list_recent_runs(
    conn: &mut PgConnection,
    connection_id: Option<ConnectionId>,
    limit: u32,
) -> Result<Vec<Run>> {
    let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM hubsync.runs
         WHERE $1::uuid IS NULL OR connection_id = $1
         ORDER BY created_at DESC, id LIMIT $2"
    )))
    .bind(connection_id.map(|id| id.as_uuid()))
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Run::try_from).collect()
}

/// Cancels a running run: the committer will not close it, and workers skip its
/// chunks. Returns false when the run was not running.
pub async fn cancel_run(conn: &mut PgConnection, run_id: RunId, reason: &str) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE hubsync.runs SET status = 'cancelled', error = $2, finished_at = now()
         WHERE id = $1 AND status = 'running'",
    )
    .bind(run_id.as_uuid())
    .bind(reason)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 && get_run(conn, run_id).await?.is_none() {
        return Err(Error::RunNotFound(run_id));
    }
    Ok(updated > 0)
}

/// A run's chunks counted by state (split parents included), with their totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkCounts {
    pub pending: u64,
    pub running: u64,
    pub succeeded: u64,
    pub split: u64,
    pub failed: u64,
    pub records: u64,
    pub pages: u64,
}

impl ChunkCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.running + self.succeeded + self.split + self.failed
    }

    /// The count of one state.
    pub fn of(&self, state: ChunkState) -> u64 {
        match state {
            ChunkState::Pending => self.pending,
            ChunkState::Running => self.running,
            ChunkState::Succeeded => self.succeeded,
            ChunkState::Split => self.split,
            ChunkState::Failed => self.failed,
        }
    }

    fn add(&mut self, state: ChunkState, chunks: u64, records: u64, pages: u64) {
        match state {
            ChunkState::Pending => self.pending += chunks,
            ChunkState::Running => self.running += chunks,
            ChunkState::Succeeded => self.succeeded += chunks,
            ChunkState::Split => self.split += chunks,
            ChunkState::Failed => self.failed += chunks,
        }
        self.records += records;
        self.pages += pages;
    }
}

/// Chunk counts of several runs at once (runs without chunks are absent).
pub async fn chunk_counts(
    conn: &mut PgConnection,
    run_ids: &[RunId],
) -> Result<HashMap<RunId, ChunkCounts>> {
    let ids: Vec<Uuid> = run_ids.iter().map(|id| id.as_uuid()).collect();
    let rows: Vec<(Uuid, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT run_id, status, count(*), COALESCE(sum(records), 0)::bigint,
                COALESCE(sum(pages), 0)::bigint
         FROM hubsync.chunks WHERE run_id = ANY($1) GROUP BY run_id, status",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    let mut counts: HashMap<RunId, ChunkCounts> = HashMap::new();
    for (run_id, status, chunks, records, pages) in rows {
        let state: ChunkState = status
            .parse()
            .map_err(|error| Error::corrupt("chunk state", error))?;
        counts.entry(run_id.into()).or_default().add(
            state,
            count(chunks),
            count(records),
            count(pages),
        );
    }
    Ok(counts)
}

/// Chunk counts of one run.
pub async fn run_chunk_counts(conn: &mut PgConnection, run_id: RunId) -> Result<ChunkCounts> {
    Ok(chunk_counts(conn, &[run_id])
        .await?
        .remove(&run_id)
        .unwrap_or_default())
}
