//! Read-only summaries for `hubsync status` and `hubsync tables`.

use std::collections::HashMap;

use hubsync_core::{ConnectionId, RunId};
use sqlx::PgConnection;

use crate::error::Result;
use crate::names::count;
use crate::runs::{ChunkCounts, RUN_COLUMNS, Run, chunk_counts, list_recent_runs};
use crate::tables::{StoredTable, list_tables};

/// One table of a connection, with its counts and last run.
#[derive(Debug, Clone, PartialEq)]
pub struct TableStatus {
    /// Settings, availability (with the skip reason), custom query, watermark.
    pub table: StoredTable,
    /// Live fields (archived ones not counted).
    pub field_count: u64,
    /// Records stored, deleted ones included.
    pub record_count: u64,
    pub deleted_count: u64,
    /// Associations from this table's records.
    pub association_count: u64,
    pub last_run: Option<RunReport>,
}

/// A run with its chunks counted by state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub run: Run,
    pub chunks: ChunkCounts,
}

/// Every table of a connection with its counts and last run, by table name.
pub async fn table_statuses(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
) -> Result<Vec<TableStatus>> {
    let tables = list_tables(conn, connection_id).await?;
    let id = connection_id.as_uuid();

    let fields: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT table_name, count(*) FROM hubsync.fields
         WHERE connection_id = $1 AND archived_at IS NULL GROUP BY table_name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let records: HashMap<String, (i64, i64)> = sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT table_name, count(*), count(deleted_at) FROM hubsync.records
         WHERE connection_id = $1 GROUP BY table_name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(table, all, deleted)| (table, (all, deleted)))
    .collect();
    let associations: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT from_table, count(*) FROM hubsync.associations
         WHERE connection_id = $1 GROUP BY from_table",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let last_runs: Vec<Run> = {
        let rows: Vec<crate::runs::RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT ON (table_name) {RUN_COLUMNS} FROM hubsync.runs
             WHERE connection_id = $1 ORDER BY table_name, created_at DESC"
        )))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(Run::try_from)
            .collect::<Result<Vec<_>>>()?
    };
    let run_ids: Vec<RunId> = last_runs.iter().map(|run| run.id).collect();
    let mut counts = chunk_counts(conn, &run_ids).await?;
    let mut last_by_table: HashMap<String, RunReport> = last_runs
        .into_iter()
        .map(|run| {
            let chunks = counts.remove(&run.id).unwrap_or_default();
            (run.table.to_string(), RunReport { run, chunks })
        })
        .collect();

    Ok(tables
        .into_iter()
        .map(|table| {
            let name = table.name().as_str();
            let (record_count, deleted_count) = records.get(name).copied().unwrap_or((0, 0));
            TableStatus {
                field_count: count(fields.get(name).copied().unwrap_or(0)),
                record_count: count(record_count),
                deleted_count: count(deleted_count),
                association_count: count(associations.get(name).copied().unwrap_or(0)),
                last_run: last_by_table.remove(name),
                table,
            }
        })
        .collect())
}

/// The most recent runs (newest first) with their chunk counts.
pub async fn recent_run_reports(
    conn: &mut PgConnection,
    connection_id: Option<ConnectionId>,
    limit: u32,
) -> Result<Vec<RunReport>> {
    let runs = list_recent_runs(conn, connection_id, limit).await?;
    let ids: Vec<RunId> = runs.iter().map(|run| run.id).collect();
    let mut counts = chunk_counts(conn, &ids).await?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let chunks = counts.remove(&run.id).unwrap_or_default();
            RunReport { run, chunks }
        })
        .collect())
}
