//! Associations: the joins between records, replaced per (from record, to table).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use hubsync_core::{ConnectionId, TableName};
use sqlx::{Connection as _, PgConnection};

use crate::error::{Error, Result, missing_parent};
use crate::names::{from_bigint, to_bigint};

/// One association from a record of the from-table to a record of the to-table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AssociationRow {
    pub from_id: u64,
    pub to_id: u64,
    /// HubSpot's association type id.
    pub type_id: i32,
    /// `HUBSPOT_DEFINED`, `USER_DEFINED` or `INTEGRATOR_DEFINED`.
    pub category: String,
    pub label: Option<String>,
}

/// A stored association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAssociation {
    pub from_table: TableName,
    pub from_id: u64,
    pub to_table: TableName,
    pub to_id: u64,
    pub type_id: i32,
    pub category: String,
    pub label: Option<String>,
    pub synced_at: DateTime<Utc>,
}

/// Replaces the associations of each record in `from_ids` towards each to-table of
/// `joins` with the rows given for it (one delete, then one batched insert), so a
/// removed one disappears; a join with no rows clears that to-table. Associations whose
/// `from_id` is not in `from_ids` are ignored: the worker passes the ids whose record
/// upsert applied, and an older page must not overwrite a newer set. Returns how many
/// were inserted.
pub async fn replace_associations(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    from_table: &TableName,
    from_ids: &[u64],
    joins: &[(TableName, Vec<AssociationRow>)],
) -> Result<u64> {
    if from_ids.is_empty() || joins.is_empty() {
        return Ok(0);
    }
    let replaced: BTreeSet<u64> = from_ids.iter().copied().collect();
    let from_keys = replaced
        .iter()
        .map(|id| to_bigint("record id", *id))
        .collect::<Result<Vec<i64>>>()?;
    let to_tables: Vec<&str> = joins.iter().map(|(table, _)| table.as_str()).collect();
    // One row per key: HubSpot may list a pair and type twice; the first one wins.
    let mut rows: BTreeMap<(&str, u64, u64, i32), &AssociationRow> = BTreeMap::new();
    for (to_table, associations) in joins {
        for row in associations
            .iter()
            .filter(|row| replaced.contains(&row.from_id))
        {
            rows.entry((to_table.as_str(), row.from_id, row.to_id, row.type_id))
                .or_insert(row);
        }
    }
    let mut targets = Vec::with_capacity(rows.len());
    let mut from = Vec::with_capacity(rows.len());
    let mut to = Vec::with_capacity(rows.len());
    let mut types = Vec::with_capacity(rows.len());
    let mut categories = Vec::with_capacity(rows.len());
    let mut labels = Vec::with_capacity(rows.len());
    for ((to_table, ..), row) in rows {
        targets.push(to_table);
        from.push(to_bigint("record id", row.from_id)?);
        to.push(to_bigint("record id", row.to_id)?);
        types.push(row.type_id);
        categories.push(row.category.as_str());
        labels.push(row.label.as_deref());
    }

    let mut tx = conn.begin().await?;
    sqlx::query(
        "DELETE FROM hubsync.associations
         WHERE connection_id = $1 AND from_table = $2 AND to_table = ANY($3)
           AND from_id = ANY($4)",
    )
    .bind(connection_id.as_uuid())
    .bind(from_table.as_str())
    .bind(&to_tables)
    .bind(&from_keys)
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO hubsync.associations
             (connection_id, from_table, from_id, to_table, to_id, type_id, category, label)
         SELECT $1, $2, u.from_id, u.to_table, u.to_id, u.type_id, u.category, u.label
         FROM UNNEST($3::text[], $4::bigint[], $5::bigint[], $6::integer[], $7::text[],
                     $8::text[])
              AS u(to_table, from_id, to_id, type_id, category, label)
         ON CONFLICT (connection_id, from_table, from_id, to_table, to_id, type_id)
         DO UPDATE SET category = excluded.category, label = excluded.label,
                       synced_at = now()",
    )
    .bind(connection_id.as_uuid())
    .bind(from_table.as_str())
    .bind(&targets)
    .bind(&from)
    .bind(&to)
    .bind(&types)
    .bind(&categories)
    .bind(&labels)
    .execute(&mut *tx)
    .await
    .map_err(|error| {
        missing_parent(error, || Error::TableNotFound {
            connection_id,
            table: from_table.clone(),
        })
    })?
    .rows_affected();
    tx.commit().await?;
    Ok(inserted)
}

/// The associations of one record (all to-tables), ordered.
pub async fn list_associations(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    from_table: &TableName,
    from_id: u64,
) -> Result<Vec<StoredAssociation>> {
    let rows: Vec<AssociationDbRow> = sqlx::query_as(
        "SELECT from_table, from_id, to_table, to_id, type_id, category, label, synced_at
         FROM hubsync.associations
         WHERE connection_id = $1 AND from_table = $2 AND from_id = $3
         ORDER BY to_table, to_id, type_id",
    )
    .bind(connection_id.as_uuid())
    .bind(from_table.as_str())
    .bind(to_bigint("record id", from_id)?)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(StoredAssociation {
                from_table: parse_table(&row.from_table)?,
                from_id: from_bigint("record id", row.from_id)?,
                to_table: parse_table(&row.to_table)?,
                to_id: from_bigint("record id", row.to_id)?,
                type_id: row.type_id,
                category: row.category,
                label: row.label,
                synced_at: row.synced_at,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct AssociationDbRow {
    from_table: String,
    from_id: i64,
    to_table: String,
    to_id: i64,
    type_id: i32,
    category: String,
    label: Option<String>,
    synced_at: DateTime<Utc>,
}

/// How many associations start from a table's records.
pub async fn count_associations(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    from_table: &TableName,
) -> Result<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hubsync.associations WHERE connection_id = $1 AND from_table = $2",
    )
    .bind(connection_id.as_uuid())
    .bind(from_table.as_str())
    .fetch_one(conn)
    .await?;
    Ok(crate::names::count(count))
}

pub(crate) fn parse_table(name: &str) -> Result<TableName> {
    TableName::parse(name).map_err(|error| Error::corrupt("table name", error))
}
