//! Records: batched, guarded upserts of a page, and reads for checks and tools.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hubsync_core::{ConnectionId, RunId, TableName};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::error::{Error, Result, missing_parent};
use crate::names::{from_bigint, to_bigint};

/// One record as the worker writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub id: u64,
    /// The value of the table's name property.
    pub name: Option<String>,
    /// The record's ISO currency code, on tables with a currency property.
    pub currency: Option<String>,
    /// Typed values (null where a value did not parse).
    pub values: Map<String, Value>,
    /// Raw text of the values that did not parse.
    pub unparsed: Map<String, Value>,
    pub created_at: Option<DateTime<Utc>>,
    /// HubSpot's last-modified time: an older version never replaces a newer one.
    pub modified_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub id: u64,
    pub name: Option<String>,
    pub currency: Option<String>,
    pub values: Map<String, Value>,
    pub unparsed: Map<String, Value>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub merged_into: Option<u64>,
    pub synced_at: DateTime<Utc>,
    pub last_run_id: Option<RunId>,
}

/// Upserts a page of records in one statement and returns the ids it applied, sorted.
///
/// A row replaces the stored one only if its `modified_at` is not older
/// (`>=`: association-only changes do not move HubSpot's last-modified time, and the
/// worker must still replace those records' associations). A replayed page rewrites
/// the same content; an out-of-order older page is skipped, its ids not returned.
/// The same id twice in one page keeps its newest version.
pub async fn upsert_records(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    run_id: Option<RunId>,
    rows: &[RecordRow],
) -> Result<Vec<u64>> {
    // Postgres refuses an upsert that touches one row twice; keep the newest.
    let mut newest: BTreeMap<u64, &RecordRow> = BTreeMap::new();
    for row in rows {
        newest
            .entry(row.id)
            .and_modify(|kept| {
                if row.modified_at >= kept.modified_at {
                    *kept = row;
                }
            })
            .or_insert(row);
    }
    if newest.is_empty() {
        return Ok(Vec::new());
    }
    let count = newest.len();
    let mut ids = Vec::with_capacity(count);
    let mut names = Vec::with_capacity(count);
    let mut currencies = Vec::with_capacity(count);
    let mut values = Vec::with_capacity(count);
    let mut unparsed = Vec::with_capacity(count);
    let mut created = Vec::with_capacity(count);
    let mut modified = Vec::with_capacity(count);
    let mut deleted = Vec::with_capacity(count);
    for (id, row) in newest {
        ids.push(to_bigint("record id", id)?);
        names.push(row.name.as_deref());
        currencies.push(row.currency.as_deref());
        values.push(Json(&row.values));
        unparsed.push(Json(&row.unparsed));
        created.push(row.created_at);
        modified.push(row.modified_at);
        deleted.push(row.deleted_at);
    }

    let applied: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO hubsync.records AS r
             (connection_id, table_name, id, name, currency, values, unparsed, created_at,
              modified_at, deleted_at, synced_at, last_run_id)
         SELECT $1, $2, u.id, u.name, u.currency, u.values, u.unparsed, u.created_at,
                u.modified_at, u.deleted_at, now(), $3
         FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[],
                     $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
              AS u(id, name, currency, values, unparsed, created_at, modified_at, deleted_at)
         ON CONFLICT (connection_id, table_name, id) DO UPDATE SET
             name = excluded.name,
             currency = excluded.currency,
             values = excluded.values,
             unparsed = excluded.unparsed,
             created_at = excluded.created_at,
             modified_at = excluded.modified_at,
             deleted_at = excluded.deleted_at,
             synced_at = excluded.synced_at,
             last_run_id = excluded.last_run_id
         WHERE excluded.modified_at >= r.modified_at
         RETURNING r.id",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(run_id.map(|id| id.as_uuid()))
    .bind(&ids)
    .bind(&names)
    .bind(&currencies)
    .bind(&values)
    .bind(&unparsed)
    .bind(&created)
    .bind(&modified)
    .bind(&deleted)
    .fetch_all(conn)
    .await
    .map_err(|error| {
        missing_parent(error, || Error::TableNotFound {
            connection_id,
            table: table.clone(),
        })
    })?;

    let mut applied = applied
        .into_iter()
        .map(|id| from_bigint("record id", id))
        .collect::<Result<Vec<u64>>>()?;
    applied.sort_unstable();
    Ok(applied)
}

type RecordTuple = (
    i64,
    Option<String>,
    Option<String>,
    Json<Map<String, Value>>,
    Json<Map<String, Value>>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<i64>,
    DateTime<Utc>,
    Option<uuid::Uuid>,
);

fn stored(row: RecordTuple) -> Result<StoredRecord> {
    let (id, name, currency, Json(values), Json(unparsed), created_at, modified_at, deleted_at) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    Ok(StoredRecord {
        id: from_bigint("record id", id)?,
        name,
        currency,
        values,
        unparsed,
        created_at,
        modified_at,
        deleted_at,
        merged_into: row.8.map(|id| from_bigint("record id", id)).transpose()?,
        synced_at: row.9,
        last_run_id: row.10.map(RunId::from),
    })
}

const RECORD_COLUMNS: &str = "id, name, currency, values, unparsed, created_at, modified_at, \
     deleted_at, merged_into, synced_at, last_run_id";

/// One stored record.
pub async fn get_record(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    id: u64,
) -> Result<Option<StoredRecord>> {
    let row: Option<RecordTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM hubsync.records
         WHERE connection_id = $1 AND table_name = $2 AND id = $3"
    )))
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(to_bigint("record id", id)?)
    .fetch_optional(conn)
    .await?;
    row.map(stored).transpose()
}

/// A table's records with ids above `after`, by id, at most `limit` (for tools and
/// end-to-end checks that compare a whole table).
pub async fn list_records(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<StoredRecord>> {
    let after = after.map(|id| to_bigint("record id", id)).transpose()?;
    let rows: Vec<RecordTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM hubsync.records
         WHERE connection_id = $1 AND table_name = $2 AND ($3::bigint IS NULL OR id > $3)
         ORDER BY id LIMIT $4"
    )))
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(stored).collect()
}

/// How many records a table holds (deleted ones included).
pub async fn count_records(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hubsync.records WHERE connection_id = $1 AND table_name = $2",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .fetch_one(conn)
    .await?;
    Ok(crate::names::count(count))
}
