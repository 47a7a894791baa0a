//! Tables of a connection: the catalog's view of them (refreshed by the planner) and
//! the admin's settings (kept across refreshes), plus the watermark.

use chrono::{DateTime, Utc};
use hubsync_core::{ConnectionId, CustomQuery, TableKind, TableName, TableSelection, TableSpec};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::error::{Error, Result, missing_parent};

/// The skip reason of a stored table the catalog no longer offers (a custom object
/// deleted in HubSpot, or its scopes revoked).
pub const VANISHED_REASON: &str = "no longer offered by the portal with the granted scopes";

/// One table as the planner's metadata refresh sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableEntry {
    pub spec: TableSpec,
    /// The granted scopes allow it.
    pub available: bool,
    pub skip_reason: Option<String>,
}

impl TableEntry {
    /// The entries of a catalog selection: every selected table is available; a
    /// standard table left out for its scopes is stored unavailable with the reason, so
    /// `status` can say why it is skipped. (Custom tables left out have no spec yet.)
    pub fn from_selection(selection: &TableSelection) -> Vec<TableEntry> {
        let mut entries: Vec<TableEntry> = selection
            .enabled
            .iter()
            .map(|spec| TableEntry {
                spec: spec.clone(),
                available: true,
                skip_reason: None,
            })
            .collect();
        for left_out in &selection.left_out {
            let Some(name) = &left_out.table else {
                continue;
            };
            // Joins left out name their (selected) from-table: not a table left out.
            if selection.table(name).is_some() || entries.iter().any(|e| &e.spec.name == name) {
                continue;
            }
            if let Some(spec) = hubsync_core::catalog::standard_table(name) {
                entries.push(TableEntry {
                    spec,
                    available: false,
                    skip_reason: Some(left_out.reason.clone()),
                });
            }
        }
        entries
    }
}

/// A stored table with its settings and watermark.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTable {
    pub connection_id: ConnectionId,
    pub spec: TableSpec,
    pub available: bool,
    pub skip_reason: Option<String>,
    /// The admin's switch (new tables start enabled).
    pub enabled: bool,
    pub custom_query: Option<CustomQuery>,
    /// Start of the last complete run; `None` = never synced.
    pub watermark: Option<DateTime<Utc>>,
    pub metadata_refreshed_at: DateTime<Utc>,
}

impl StoredTable {
    pub fn name(&self) -> &TableName {
        &self.spec.name
    }

    /// Available and enabled: the planner syncs it.
    pub fn syncs(&self) -> bool {
        self.available && self.enabled
    }
}

#[derive(sqlx::FromRow)]
struct TableRow {
    connection_id: Uuid,
    spec: Json<TableSpec>,
    available: bool,
    skip_reason: Option<String>,
    enabled: bool,
    custom_query: Option<Json<Value>>,
    watermark: Option<DateTime<Utc>>,
    metadata_refreshed_at: DateTime<Utc>,
}

impl TryFrom<TableRow> for StoredTable {
    type Error = Error;
    fn try_from(row: TableRow) -> Result<Self> {
        let custom_query = row
            .custom_query
            .map(|Json(value)| CustomQuery::from_json(&value, None))
            .transpose()
            .map_err(|error| Error::corrupt("custom query", error))?;
        Ok(StoredTable {
            connection_id: row.connection_id.into(),
            spec: row.spec.0,
            available: row.available,
            skip_reason: row.skip_reason,
            enabled: row.enabled,
            custom_query,
            watermark: row.watermark,
            metadata_refreshed_at: row.metadata_refreshed_at,
        })
    }
}

const TABLE_COLUMNS: &str = "connection_id, spec, available, skip_reason, enabled, custom_query, \
     watermark, metadata_refreshed_at";

fn kind_name(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Standard => "standard",
        TableKind::Custom => "custom",
    }
}

/// Stores the catalog's tables of a connection: inserts new ones (enabled), updates
/// known ones while keeping `enabled`, `custom_query` and the watermark, and marks
/// stored tables missing from `entries` unavailable ([`VANISHED_REASON`]).
pub async fn upsert_tables(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    entries: &[TableEntry],
) -> Result<()> {
    let mut tx = conn.begin().await?;
    for entry in entries {
        let spec = &entry.spec;
        sqlx::query(
            "INSERT INTO hubsync.tables AS t
                 (connection_id, table_name, kind, object_type, object_type_id, label,
                  name_property, currency_property, last_modified_property, created_property,
                  spec, available, skip_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (connection_id, table_name) DO UPDATE SET
                 kind = excluded.kind,
                 object_type = excluded.object_type,
                 object_type_id = excluded.object_type_id,
                 label = excluded.label,
                 name_property = excluded.name_property,
                 currency_property = excluded.currency_property,
                 last_modified_property = excluded.last_modified_property,
                 created_property = excluded.created_property,
                 spec = excluded.spec,
                 available = excluded.available,
                 skip_reason = excluded.skip_reason,
                 metadata_refreshed_at = now(),
                 updated_at = now()",
        )
        .bind(connection_id.as_uuid())
        .bind(spec.name.as_str())
        .bind(kind_name(spec.kind))
        .bind(&spec.object_type)
        .bind(&spec.object_type_id)
        .bind(&spec.label)
        .bind(spec.name_property.as_str())
        .bind(spec.currency_property.as_ref().map(|p| p.as_str()))
        .bind(spec.last_modified_property.as_str())
        .bind(spec.created_property.as_str())
        .bind(Json(spec))
        .bind(entry.available)
        .bind(entry.skip_reason.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(|error| {
            missing_parent(error, || {
                Error::ConnectionNotFound(connection_id.to_string())
            })
        })?;
    }
    let present: Vec<&str> = entries.iter().map(|e| e.spec.name.as_str()).collect();
    sqlx::query(
        "UPDATE hubsync.tables
         SET available = false, skip_reason = $3, metadata_refreshed_at = now(), updated_at = now()
         WHERE connection_id = $1 AND NOT (table_name = ANY($2))",
    )
    .bind(connection_id.as_uuid())
    .bind(&present)
    .bind(VANISHED_REASON)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One table of a connection.
pub async fn get_table(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Option<StoredTable>> {
    let row: Option<TableRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TABLE_COLUMNS} FROM hubsync.tables WHERE connection_id = $1 AND table_name = $2"
    )))
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .fetch_optional(conn)
    .await?;
    row.map(StoredTable::try_from).transpose()
}

/// Like [`get_table`], with not found as an error.
pub async fn require_table(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<StoredTable> {
    get_table(conn, connection_id, table)
        .await?
        .ok_or_else(|| Error::TableNotFound {
            connection_id,
            table: table.clone(),
        })
}

/// Every table of a connection, by name.
pub async fn list_tables(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
) -> Result<Vec<StoredTable>> {
    let rows: Vec<TableRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TABLE_COLUMNS} FROM hubsync.tables WHERE connection_id = $1 ORDER BY table_name"
    )))
    .bind(connection_id.as_uuid())
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(StoredTable::try_from).collect()
}

async fn update_table(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<()> {
    if query.execute(conn).await?.rows_affected() == 0 {
        return Err(Error::TableNotFound {
            connection_id,
            table: table.clone(),
        });
    }
    Ok(())
}

/// Switches a table on or off for the planner.
pub async fn set_table_enabled(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    enabled: bool,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE hubsync.tables SET enabled = $3, updated_at = now()
         WHERE connection_id = $1 AND table_name = $2",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(enabled);
    update_table(conn, connection_id, table, query).await
}

/// Sets (`Some`) or clears (`None`) a table's custom query. The caller validated it
/// against the table's fields.
pub async fn set_custom_query(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    custom_query: Option<&CustomQuery>,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE hubsync.tables SET custom_query = $3, updated_at = now()
         WHERE connection_id = $1 AND table_name = $2",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(custom_query.map(|query| Json(query.to_json())));
    update_table(conn, connection_id, table, query).await
}

/// The table's watermark (`None`: never synced).
pub async fn get_watermark(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Option<DateTime<Utc>>> {
    let row: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT watermark FROM hubsync.tables WHERE connection_id = $1 AND table_name = $2",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .fetch_optional(conn)
    .await?;
    row.ok_or_else(|| Error::TableNotFound {
        connection_id,
        table: table.clone(),
    })
}

/// Sets the watermark by hand (ops: `None` makes the next run full). The committer
/// never uses this; it goes through the compare-and-set of [`crate::commit_run`].
pub async fn reset_watermark(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    watermark: Option<DateTime<Utc>>,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE hubsync.tables SET watermark = $3, updated_at = now()
         WHERE connection_id = $1 AND table_name = $2",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(watermark);
    update_table(conn, connection_id, table, query).await
}
