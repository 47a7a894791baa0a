//! Connections: one installed portal each, with its sealed refresh token.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hubsync_core::{ConnectionId, LeftOut};
use secrecy::SecretString;
use sqlx::types::Json;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::crypto::EncryptionKey;
use crate::error::{Error, Result, sqlstate, violation};
use crate::names::{SchemaName, from_bigint, to_bigint};

/// Whether a connection syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    Active,
    /// HubSpot refused the refresh token (app uninstalled, token revoked): an admin
    /// must run `hubsync connect` again.
    ReconnectRequired,
    /// Switched off by an admin.
    Disabled,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::ReconnectRequired => "reconnect_required",
            ConnectionStatus::Disabled => "disabled",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(ConnectionStatus::Active),
            "reconnect_required" => Ok(ConnectionStatus::ReconnectRequired),
            "disabled" => Ok(ConnectionStatus::Disabled),
            other => Err(Error::corrupt("connection status", other)),
        }
    }
}

/// A stored connection. The refresh token is not part of it: ask for it with
/// [`load_refresh_token`] and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub hub_id: u64,
    pub schema_name: SchemaName,
    pub client_id: String,
    pub granted_scopes: BTreeSet<String>,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    /// What the last metadata refresh left out of the sync, and why.
    pub left_out: Vec<LeftOut>,
    pub refresh_token_updated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `hubsync connect` learned about a portal.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub hub_id: u64,
    pub client_id: String,
    pub refresh_token: SecretString,
    pub granted_scopes: BTreeSet<String>,
    /// The schema of the views; `hubspot_<hub_id>` when `None`. Applies when the
    /// connection is created: an existing connection keeps its schema.
    pub schema_name: Option<SchemaName>,
}

/// How the CLI names a connection: its UUID or the portal's hub id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRef {
    Id(ConnectionId),
    HubId(u64),
}

impl FromStr for ConnectionRef {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        if let Ok(hub_id) = text.parse::<u64>() {
            return Ok(ConnectionRef::HubId(hub_id));
        }
        text.parse::<ConnectionId>()
            .map(ConnectionRef::Id)
            .map_err(|_| {
                Error::ConnectionNotFound(format!("{text:?} (neither a uuid nor a hub id)"))
            })
    }
}

impl fmt::Display for ConnectionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionRef::Id(id) => write!(f, "{id}"),
            ConnectionRef::HubId(hub_id) => write!(f, "hub {hub_id}"),
        }
    }
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: Uuid,
    hub_id: i64,
    schema_name: String,
    client_id: String,
    granted_scopes: Vec<String>,
    status: String,
    status_reason: Option<String>,
    left_out: Json<Vec<LeftOut>>,
    refresh_token_updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ConnectionRow> for Connection {
    type Error = Error;
    fn try_from(row: ConnectionRow) -> Result<Self> {
        Ok(Connection {
            id: row.id.into(),
            hub_id: from_bigint("hub id", row.hub_id)?,
            schema_name: SchemaName::parse(&row.schema_name)
                .map_err(|error| Error::corrupt("schema name", error))?,
            client_id: row.client_id,
            granted_scopes: row.granted_scopes.into_iter().collect(),
            status: row.status.parse()?,
            status_reason: row.status_reason,
            left_out: row.left_out.0,
            refresh_token_updated_at: row.refresh_token_updated_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const CONNECTION_COLUMNS: &str = "id, hub_id, schema_name, client_id, granted_scopes, status, \
     status_reason, left_out, refresh_token_updated_at, created_at, updated_at";

/// An update of one connection by id: no row means no such connection.
fn found(updated: u64, id: ConnectionId) -> Result<()> {
    if updated == 0 {
        return Err(Error::ConnectionNotFound(id.to_string()));
    }
    Ok(())
}

/// The authenticated data binding a sealed token to its connection's row.
fn token_context(id: ConnectionId) -> [u8; 16] {
    *id.as_uuid().as_bytes()
}

/// Creates the connection of a portal, or updates it when the hub id is known: new
/// client id, token and scopes, status back to `active`. The id and schema stay.
pub async fn upsert_connection(
    conn: &mut PgConnection,
    new: &NewConnection,
    key: &EncryptionKey,
) -> Result<Connection> {
    let hub_id = to_bigint("hub id", new.hub_id)?;
    let scopes: Vec<String> = new.granted_scopes.iter().cloned().collect();
    let mut tx = conn.begin().await?;
    let existing: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM hubsync.connections WHERE hub_id = $1 FOR NO KEY UPDATE",
    )
    .bind(hub_id)
    .fetch_optional(&mut *tx)
    .await?;
    let row: ConnectionRow = match existing {
        Some(id) => {
            let sealed = key.seal_secret(&new.refresh_token, &token_context(id.into()))?;
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE hubsync.connections
                 SET client_id = $2, refresh_token_sealed = $3, refresh_token_updated_at = now(),
                     granted_scopes = $4, status = 'active', status_reason = NULL,
                     updated_at = now()
                 WHERE id = $1
                 RETURNING {CONNECTION_COLUMNS}"
            )))
            .bind(id)
            .bind(&new.client_id)
            .bind(sealed)
            .bind(&scopes)
            .fetch_one(&mut *tx)
            .await?
        }
        None => {
            let id = ConnectionId::new_random();
            let schema = new
                .schema_name
                .clone()
                .unwrap_or_else(|| SchemaName::for_hub(new.hub_id));
            let sealed = key.seal_secret(&new.refresh_token, &token_context(id))?;
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO hubsync.connections
                     (id, hub_id, schema_name, client_id, refresh_token_sealed, granted_scopes)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING {CONNECTION_COLUMNS}"
            )))
            .bind(id.as_uuid())
            .bind(hub_id)
            .bind(schema.as_str())
            .bind(&new.client_id)
            .bind(sealed)
            .bind(&scopes)
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| match violation(&error) {
                Some((sqlstate::UNIQUE_VIOLATION, Some("connections_schema_name_key"))) => {
                    Error::SchemaNameTaken(schema.to_string())
                }
                _ => Error::Database(error),
            })?
        }
    };
    tx.commit().await?;
    row.try_into()
}

/// The connection with this id.
pub async fn get_connection(
    conn: &mut PgConnection,
    id: ConnectionId,
) -> Result<Option<Connection>> {
    let row: Option<ConnectionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONNECTION_COLUMNS} FROM hubsync.connections WHERE id = $1"
    )))
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?;
    row.map(Connection::try_from).transpose()
}

/// The connection of this portal.
pub async fn get_connection_by_hub_id(
    conn: &mut PgConnection,
    hub_id: u64,
) -> Result<Option<Connection>> {
    let row: Option<ConnectionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONNECTION_COLUMNS} FROM hubsync.connections WHERE hub_id = $1"
    )))
    .bind(to_bigint("hub id", hub_id)?)
    .fetch_optional(conn)
    .await?;
    row.map(Connection::try_from).transpose()
}

/// The connection named by a CLI argument (UUID or hub id); not found is an error.
pub async fn resolve_connection(
    conn: &mut PgConnection,
    reference: ConnectionRef,
) -> Result<Connection> {
    let found = match reference {
        ConnectionRef::Id(id) => get_connection(conn, id).await?,
        ConnectionRef::HubId(hub_id) => get_connection_by_hub_id(conn, hub_id).await?,
    };
    found.ok_or_else(|| Error::ConnectionNotFound(reference.to_string()))
}

/// Every connection, by hub id.
pub async fn list_connections(conn: &mut PgConnection) -> Result<Vec<Connection>> {
    let rows: Vec<ConnectionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONNECTION_COLUMNS} FROM hubsync.connections ORDER BY hub_id"
    )))
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Connection::try_from).collect()
}

/// Sets the status and its reason (`None` clears it).
pub async fn set_connection_status(
    conn: &mut PgConnection,
    id: ConnectionId,
    status: ConnectionStatus,
    reason: Option<&str>,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE hubsync.connections SET status = $2, status_reason = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(status.as_str())
    .bind(reason)
    .execute(conn)
    .await?
    .rows_affected();
    found(updated, id)
}

/// Records the scopes introspection found granted (they change when the app is
/// reinstalled with other scopes).
pub async fn set_granted_scopes(
    conn: &mut PgConnection,
    id: ConnectionId,
    scopes: &BTreeSet<String>,
) -> Result<()> {
    let scopes: Vec<&String> = scopes.iter().collect();
    let updated = sqlx::query(
        "UPDATE hubsync.connections SET granted_scopes = $2, updated_at = now() WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(scopes)
    .execute(conn)
    .await?
    .rows_affected();
    found(updated, id)
}

/// Records what the catalog left out of the connection's sync (replacing the last list).
pub async fn set_connection_left_out(
    conn: &mut PgConnection,
    id: ConnectionId,
    left_out: &[LeftOut],
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE hubsync.connections SET left_out = $2, updated_at = now() WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(Json(left_out))
    .execute(conn)
    .await?
    .rows_affected();
    found(updated, id)
}

/// Stores a new refresh token (HubSpot may rotate it on refresh).
pub async fn store_refresh_token(
    conn: &mut PgConnection,
    id: ConnectionId,
    refresh_token: &SecretString,
    key: &EncryptionKey,
) -> Result<()> {
    let sealed = key.seal_secret(refresh_token, &token_context(id))?;
    let updated = sqlx::query(
        "UPDATE hubsync.connections
         SET refresh_token_sealed = $2, refresh_token_updated_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(sealed)
    .execute(conn)
    .await?
    .rows_affected();
    found(updated, id)
}

/// The connection's refresh token. A key other than the one it was stored with gives
/// [`crate::CryptoError::WrongKey`]; altered bytes give
/// [`crate::CryptoError::Tampered`]; never a wrong token.
pub async fn load_refresh_token(
    conn: &mut PgConnection,
    id: ConnectionId,
    key: &EncryptionKey,
) -> Result<SecretString> {
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT refresh_token_sealed FROM hubsync.connections WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await?;
    let sealed = sealed.ok_or_else(|| Error::ConnectionNotFound(id.to_string()))?;
    Ok(key.open_secret(&sealed, &token_context(id))?)
}
