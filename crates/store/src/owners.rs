//! Owners (HubSpot users and queues), refreshed wholesale by the planner.

use std::collections::BTreeMap;

use hubsync_core::ConnectionId;
use hubsync_core::field::owner_label;
use hubsync_core::metadata::Owner;
use serde_json::{Value, json};
use sqlx::types::Json;
use sqlx::{Connection as _, PgConnection};

use crate::error::{Error, Result, missing_parent};

/// Replaces the connection's owners with `owners` (active and archived together); an
/// owner listed twice keeps its active entry. Returns how many are stored.
pub async fn replace_owners(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    owners: &[Owner],
) -> Result<u64> {
    let mut unique: BTreeMap<&str, &Owner> = BTreeMap::new();
    for owner in owners {
        unique
            .entry(owner.id.as_str())
            .and_modify(|kept| {
                if kept.archived && !owner.archived {
                    *kept = owner;
                }
            })
            .or_insert(owner);
    }
    let rows: Vec<Value> = unique
        .values()
        .map(|owner| {
            json!({
                "id": owner.id,
                "label": owner_label(owner),
                "email": owner.email,
                "first_name": owner.first_name,
                "last_name": owner.last_name,
                "user_id": owner.user_id,
                "user_id_including_inactive": owner.user_id_including_inactive,
                "owner_type": owner.owner_type,
                "archived": owner.archived,
                "teams": owner.teams,
                "created_at": owner.created_at,
                "updated_at": owner.updated_at,
            })
        })
        .collect();

    let mut tx = conn.begin().await?;
    sqlx::query("DELETE FROM hubsync.owners WHERE connection_id = $1")
        .bind(connection_id.as_uuid())
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO hubsync.owners
             (connection_id, id, label, email, first_name, last_name, user_id,
              user_id_including_inactive, owner_type, archived, teams, created_at, updated_at)
         SELECT $1, x.id, x.label, x.email, x.first_name, x.last_name, x.user_id,
                x.user_id_including_inactive, x.owner_type, x.archived,
                COALESCE(x.teams, '[]'), x.created_at, x.updated_at
         FROM jsonb_to_recordset($2) AS x(
             id text, label text, email text, first_name text, last_name text, user_id bigint,
             user_id_including_inactive bigint, owner_type text, archived boolean, teams jsonb,
             created_at timestamptz, updated_at timestamptz)",
    )
    .bind(connection_id.as_uuid())
    .bind(Json(Value::Array(rows)))
    .execute(&mut *tx)
    .await
    .map_err(|error| {
        missing_parent(error, || {
            Error::ConnectionNotFound(connection_id.to_string())
        })
    })?
    .rows_affected();
    tx.commit().await?;
    Ok(inserted)
}

/// The connection's owners, by id (active and archived).
pub async fn list_owners(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
) -> Result<Vec<Owner>> {
    let rows: Vec<(Json<Value>,)> = sqlx::query_as(
        "SELECT jsonb_build_object(
                    'id', id, 'email', email, 'firstName', first_name, 'lastName', last_name,
                    'userId', user_id, 'userIdIncludingInactive', user_id_including_inactive,
                    'type', owner_type, 'archived', archived, 'teams', teams,
                    'createdAt', created_at, 'updatedAt', updated_at)
         FROM hubsync.owners WHERE connection_id = $1 ORDER BY id",
    )
    .bind(connection_id.as_uuid())
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(Json(value),)| {
            serde_json::from_value(value).map_err(|error| Error::corrupt("owner", error))
        })
        .collect()
}
