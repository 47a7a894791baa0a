//! Chunks: the units of work of a run, their progress and their state machine.
//!
//! ```text
//! pending ──start──▶ running ──last page──▶ succeeded
//!    ▲                  │ └────split──────▶ split (children: pending)
//!    └────requeue─── failed ◀──fail─────────┘
//! ```
//!
//! States are core's [`ChunkState`]. Publishing a pending chunk's job only stamps
//! `published_at`: a chunk may be published again (idempotent consumers) without
//! another state.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hubsync_core::{
    ChunkId, ChunkJob, ChunkRange, ChunkState, ConnectionId, IdRange, ModifiedRange, RunId,
    RunKind, TableName,
};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::associations::parse_table;
use crate::error::{Error, Result};
use crate::names::{count, from_bigint, to_bigint};
use crate::runs::{Run, fetch_run};

mod requeue;

pub use requeue::{AllFailedRequeue, requeue_all_failed, requeue_chunks, requeue_run};

/// A stored chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub id: ChunkId,
    pub run_id: RunId,
    /// The chunk that split into this one.
    pub parent_id: Option<ChunkId>,
    pub connection_id: ConnectionId,
    pub table: TableName,
    /// 0 for the planner's chunks, parent's + 1 for sub-chunks.
    pub depth: u32,
    pub range: ChunkRange,
    pub state: ChunkState,
    /// When its job was last published (pending chunks without it were never sent).
    pub published_at: Option<DateTime<Utc>>,
    /// Last `hs_object_id` written: a redelivered chunk resumes after it.
    pub cursor: Option<u64>,
    pub attempts: u32,
    pub records: u64,
    pub pages: u64,
    pub unparsed_values: u64,
    pub error: Option<String>,
    pub worker_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Chunk {
    /// The job message for this chunk (first attempt; ops requeues may raise it).
    pub fn job(&self, run_kind: RunKind) -> ChunkJob {
        ChunkJob {
            run_id: self.run_id,
            chunk_id: self.id,
            parent_chunk_id: self.parent_id,
            connection_id: self.connection_id,
            table: self.table.clone(),
            range: self.range,
            run_kind,
            attempt: 1,
            depth: self.depth,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ChunkRow {
    id: Uuid,
    run_id: Uuid,
    parent_id: Option<Uuid>,
    connection_id: Uuid,
    table_name: String,
    depth: i32,
    range_start: DateTime<Utc>,
    range_end: DateTime<Utc>,
    id_low: Option<i64>,
    id_high: Option<i64>,
    status: String,
    published_at: Option<DateTime<Utc>>,
    cursor: Option<i64>,
    attempts: i32,
    records: i64,
    pages: i64,
    unparsed_values: i64,
    error: Option<String>,
    worker_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<ChunkRow> for Chunk {
    type Error = Error;
    fn try_from(row: ChunkRow) -> Result<Self> {
        let modified = ModifiedRange::new(row.range_start, row.range_end)
            .map_err(|error| Error::corrupt("chunk range", error))?;
        let range = match (row.id_low, row.id_high) {
            (Some(low), Some(high)) => {
                let ids = IdRange::new(from_bigint("id", low)?, from_bigint("id", high)?)
                    .map_err(|error| Error::corrupt("chunk id range", error))?;
                ChunkRange::by_ids(modified, ids)
                    .map_err(|error| Error::corrupt("chunk id range", error))?
            }
            _ => ChunkRange::time(modified),
        };
        Ok(Chunk {
            id: row.id.into(),
            run_id: row.run_id.into(),
            parent_id: row.parent_id.map(ChunkId::from),
            connection_id: row.connection_id.into(),
            table: parse_table(&row.table_name)?,
            depth: u32::try_from(row.depth).unwrap_or(0),
            range,
            state: row
                .status
                .parse()
                .map_err(|error| Error::corrupt("chunk state", error))?,
            published_at: row.published_at,
            cursor: row.cursor.map(|id| from_bigint("cursor", id)).transpose()?,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            records: count(row.records),
            pages: count(row.pages),
            unparsed_values: count(row.unparsed_values),
            error: row.error,
            worker_id: row.worker_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

const CHUNK_COLUMNS: &str = "id, run_id, parent_id, connection_id, table_name, depth, \
     range_start, range_end, id_low, id_high, status, published_at, cursor, attempts, records, \
     pages, unparsed_values, error, worker_id, created_at, updated_at, started_at, finished_at";

/// The chunk columns qualified by a table alias (for joins and `UPDATE … FROM`).
fn chunk_columns_of(alias: &str) -> String {
    CHUNK_COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn chunks_from(rows: Vec<ChunkRow>) -> Result<Vec<Chunk>> {
    rows.into_iter().map(Chunk::try_from).collect()
}

pub(crate) struct NewChunk {
    pub parent_id: Option<ChunkId>,
    pub depth: u32,
    pub range: ChunkRange,
}

/// Inserts chunks of `run` in one statement; returns them in the order given.
pub(crate) async fn insert_chunks(
    conn: &mut PgConnection,
    run: &Run,
    chunks: &[NewChunk],
) -> Result<Vec<Chunk>> {
    let ids: Vec<Uuid> = chunks.iter().map(|_| Uuid::new_v4()).collect();
    let parents: Vec<Option<Uuid>> = chunks
        .iter()
        .map(|c| c.parent_id.map(|id| id.as_uuid()))
        .collect();
    let depths: Vec<i32> = chunks
        .iter()
        .map(|c| i32::try_from(c.depth).unwrap_or(i32::MAX))
        .collect();
    let starts: Vec<DateTime<Utc>> = chunks.iter().map(|c| c.range.modified().start()).collect();
    let ends: Vec<DateTime<Utc>> = chunks.iter().map(|c| c.range.modified().end()).collect();
    let mut lows: Vec<Option<i64>> = Vec::with_capacity(chunks.len());
    let mut highs: Vec<Option<i64>> = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        match chunk.range.ids() {
            Some(ids) => {
                lows.push(Some(to_bigint("id", ids.start())?));
                highs.push(Some(to_bigint("id", ids.end())?));
            }
            None => {
                lows.push(None);
                highs.push(None);
            }
        }
    }
    let rows: Vec<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO hubsync.chunks
             (id, run_id, parent_id, connection_id, table_name, depth, range_start, range_end,
              id_low, id_high)
         SELECT u.id, $1, u.parent_id, $2, $3, u.depth, u.range_start, u.range_end, u.id_low,
                u.id_high
         FROM UNNEST($4::uuid[], $5::uuid[], $6::integer[], $7::timestamptz[],
                     $8::timestamptz[], $9::bigint[], $10::bigint[])
              AS u(id, parent_id, depth, range_start, range_end, id_low, id_high)
         RETURNING {CHUNK_COLUMNS}"
    )))
    .bind(run.id.as_uuid())
    .bind(run.connection_id.as_uuid())
    .bind(run.table.as_str())
    .bind(&ids)
    .bind(&parents)
    .bind(&depths)
    .bind(&starts)
    .bind(&ends)
    .bind(&lows)
    .bind(&highs)
    .fetch_all(conn)
    .await?;
    let mut by_id: HashMap<Uuid, Chunk> = HashMap::with_capacity(rows.len());
    for row in rows {
        by_id.insert(row.id, Chunk::try_from(row)?);
    }
    ids.iter()
        .map(|id| {
            by_id
                .remove(id)
                .ok_or_else(|| Error::corrupt("chunk", "an inserted chunk was not returned"))
        })
        .collect()
}

/// One chunk.
pub async fn get_chunk(conn: &mut PgConnection, chunk_id: ChunkId) -> Result<Option<Chunk>> {
    fetch_chunk(conn, chunk_id, false).await
}

async fn fetch_chunk(
    conn: &mut PgConnection,
    chunk_id: ChunkId,
    for_update: bool,
) -> Result<Option<Chunk>> {
    let lock = if for_update { " FOR NO KEY UPDATE" } else { "" };
    let row: Option<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHUNK_COLUMNS} FROM hubsync.chunks WHERE id = $1{lock}"
    )))
    .bind(chunk_id.as_uuid())
    .fetch_optional(conn)
    .await?;
    row.map(Chunk::try_from).transpose()
}

async fn require_chunk(conn: &mut PgConnection, chunk_id: ChunkId) -> Result<Chunk> {
    get_chunk(conn, chunk_id)
        .await?
        .ok_or(Error::ChunkNotFound(chunk_id))
}

/// The chunks of a run (split parents and their children), in creation order.
pub async fn list_chunks(conn: &mut PgConnection, run_id: RunId) -> Result<Vec<Chunk>> {
    let rows: Vec<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHUNK_COLUMNS} FROM hubsync.chunks WHERE run_id = $1
         ORDER BY depth, range_start, id_low NULLS FIRST, id"
    )))
    .bind(run_id.as_uuid())
    .fetch_all(conn)
    .await?;
    chunks_from(rows)
}

/// Failed chunks that hold their table's watermark back, of one connection or of all,
/// oldest first: those of running runs, and of failed runs that no later run has
/// superseded. A failed run whose window end the table's watermark has reached since
/// is left out: a later run succeeded from the same held watermark, so it read that
/// window again, and requeueing it could not move the watermark.
pub async fn list_failed_chunks(
    conn: &mut PgConnection,
    connection_id: Option<ConnectionId>,
) -> Result<Vec<Chunk>> {
    let columns = chunk_columns_of("c");
    let rows: Vec<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM hubsync.chunks c
         JOIN hubsync.runs r ON r.id = c.run_id
         JOIN hubsync.tables t
           ON t.connection_id = r.connection_id AND t.table_name = r.table_name
         WHERE c.status = 'failed'
           AND (r.status = 'running'
                OR (r.status = 'failed'
                    AND (t.watermark IS NULL OR t.watermark < r.window_end)))
           AND ($1::uuid IS NULL OR c.connection_id = $1)
         ORDER BY c.updated_at, c.id"
    )))
    .bind(connection_id.map(|id| id.as_uuid()))
    .fetch_all(conn)
    .await?;
    chunks_from(rows)
}

/// Stamps chunks whose jobs were published (with confirms). Returns how many.
pub async fn mark_chunks_published(conn: &mut PgConnection, chunk_ids: &[ChunkId]) -> Result<u64> {
    let ids: Vec<Uuid> = chunk_ids.iter().map(|id| id.as_uuid()).collect();
    Ok(sqlx::query(
        "UPDATE hubsync.chunks SET published_at = now(), updated_at = now()
         WHERE id = ANY($1)",
    )
    .bind(&ids)
    .execute(conn)
    .await?
    .rows_affected())
}

/// What a worker should do with a delivered chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkStart {
    /// Marked running for this worker (attempts + 1): fetch from `cursor`.
    Started(Chunk),
    /// Already succeeded or split: acknowledge without work.
    AlreadyDone(Chunk),
    /// Its run was cancelled: acknowledge without work.
    RunCancelled(Chunk),
}

/// Takes a delivered chunk: pending, running (a worker died holding it) or failed
/// (redelivered by hand) becomes running for `worker_id`.
pub async fn start_chunk(
    conn: &mut PgConnection,
    chunk_id: ChunkId,
    worker_id: &str,
) -> Result<ChunkStart> {
    let row: Option<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE hubsync.chunks c
         SET status = 'running', attempts = c.attempts + 1, worker_id = $2, error = NULL,
             started_at = now(), finished_at = NULL, updated_at = now()
         FROM hubsync.runs r
         WHERE c.id = $1 AND r.id = c.run_id AND r.status <> 'cancelled'
           AND c.status IN ('pending', 'running', 'failed')
         RETURNING {}",
        chunk_columns_of("c")
    )))
    .bind(chunk_id.as_uuid())
    .bind(worker_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return Ok(ChunkStart::Started(row.try_into()?));
    }
    let chunk = require_chunk(conn, chunk_id).await?;
    match chunk.state {
        ChunkState::Succeeded | ChunkState::Split => Ok(ChunkStart::AlreadyDone(chunk)),
        _ => Ok(ChunkStart::RunCancelled(chunk)),
    }
}

/// One page written by a worker, recorded in the same transaction as its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageProgress {
    /// The largest `hs_object_id` of the page (`None` for an empty page).
    pub cursor: Option<u64>,
    pub records: u64,
    pub unparsed_values: u64,
    /// The chunk has no more pages: it succeeds with this page.
    pub last: bool,
}

/// Advances a running chunk by one page: cursor (never backwards), counters, and on
/// the last page `succeeded`. A chunk that is not running gives
/// [`Error::ChunkNotRunning`], so the caller can roll the page back.
pub async fn record_page(
    conn: &mut PgConnection,
    chunk_id: ChunkId,
    page: &PageProgress,
) -> Result<Chunk> {
    let cursor = page.cursor.map(|id| to_bigint("cursor", id)).transpose()?;
    let row: Option<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE hubsync.chunks
         SET cursor = GREATEST(cursor, $2), records = records + $3, pages = pages + 1,
             unparsed_values = unparsed_values + $4,
             status = CASE WHEN $5 THEN 'succeeded' ELSE status END,
             finished_at = CASE WHEN $5 THEN now() ELSE finished_at END,
             updated_at = now()
         WHERE id = $1 AND status = 'running'
         RETURNING {CHUNK_COLUMNS}"
    )))
    .bind(chunk_id.as_uuid())
    .bind(cursor)
    .bind(to_bigint("records", page.records)?)
    .bind(to_bigint("unparsed values", page.unparsed_values)?)
    .bind(page.last)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => row.try_into(),
        None => Err(not_running(conn, chunk_id).await),
    }
}

async fn not_running(conn: &mut PgConnection, chunk_id: ChunkId) -> Error {
    match require_chunk(conn, chunk_id).await {
        Ok(chunk) => Error::ChunkNotRunning {
            chunk_id,
            state: chunk.state,
        },
        Err(error) => error,
    }
}

/// Marks a running chunk succeeded without another page (e.g. a resumed chunk whose
/// last page was already written).
pub async fn mark_chunk_succeeded(conn: &mut PgConnection, chunk_id: ChunkId) -> Result<Chunk> {
    let row: Option<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE hubsync.chunks SET status = 'succeeded', finished_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'running'
         RETURNING {CHUNK_COLUMNS}"
    )))
    .bind(chunk_id.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => row.try_into(),
        None => Err(not_running(conn, chunk_id).await),
    }
}

/// Marks a pending or running chunk failed with its error. A chunk already finished
/// (succeeded, split, failed) is returned unchanged: a late duplicate failure report
/// must not undo a success.
pub async fn mark_chunk_failed(
    conn: &mut PgConnection,
    chunk_id: ChunkId,
    error: &str,
) -> Result<Chunk> {
    let row: Option<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE hubsync.chunks
         SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
         WHERE id = $1 AND status IN ('pending', 'running')
         RETURNING {CHUNK_COLUMNS}"
    )))
    .bind(chunk_id.as_uuid())
    .bind(error)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => row.try_into(),
        None => require_chunk(conn, chunk_id).await,
    }
}

/// Splits a pending or running chunk into `children` (pending, depth + 1) and marks it
/// `split`, in one transaction. Splitting a chunk that already split returns its
/// existing children (a redelivered job must not split twice).
pub async fn split_chunk(
    conn: &mut PgConnection,
    chunk_id: ChunkId,
    children: &[ChunkRange],
) -> Result<Vec<Chunk>> {
    let mut tx = conn.begin().await?;
    let chunk = fetch_chunk(&mut tx, chunk_id, true)
        .await?
        .ok_or(Error::ChunkNotFound(chunk_id))?;
    match chunk.state {
        ChunkState::Split => {
            let rows: Vec<ChunkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CHUNK_COLUMNS} FROM hubsync.chunks WHERE parent_id = $1
                 ORDER BY range_start, id_low NULLS FIRST, id"
            )))
            .bind(chunk_id.as_uuid())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            return chunks_from(rows);
        }
        ChunkState::Pending | ChunkState::Running if !children.is_empty() => {}
        state => return Err(Error::ChunkCannotSplit { chunk_id, state }),
    }
    let run = fetch_run(&mut tx, chunk.run_id, false)
        .await?
        .ok_or(Error::RunNotFound(chunk.run_id))?;
    let new_chunks: Vec<NewChunk> = children
        .iter()
        .map(|range| NewChunk {
            parent_id: Some(chunk_id),
            depth: chunk.depth + 1,
            range: *range,
        })
        .collect();
    let inserted = insert_chunks(&mut tx, &run, &new_chunks).await?;
    sqlx::query(
        "UPDATE hubsync.chunks SET status = 'split', finished_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(chunk_id.as_uuid())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(inserted)
}
