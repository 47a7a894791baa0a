//! Why a sync could not be planned.

use hubsync_core::{RunId, TableName};

/// An error that stopped planning. Tables skipped or refused are not errors: they are
/// in the report.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid planner setting: {0}")]
    Settings(String),
    #[error("store: {0}")]
    Store(#[from] hubsync_store::Error),
    #[error("hubspot: {0}")]
    HubSpot(#[from] hubsync_hubspot::Error),
    /// The connection is disabled or must be reconnected: nothing was written.
    #[error("connection {connection} is {status}{}; nothing was planned", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    ConnectionNotActive {
        connection: String,
        status: String,
        reason: Option<String>,
    },
    /// Tables asked for that the connection does not have: nothing was planned.
    #[error(
        "not a table of this connection: {}; its tables: {}",
        names(unknown),
        names(known)
    )]
    UnknownTables {
        unknown: Vec<TableName>,
        known: Vec<TableName>,
    },
    /// HubSpot refused the refresh token during this run; the connection is now marked.
    #[error(
        "hubspot refused the refresh token ({reason}); run `hubsync connect` again for this portal"
    )]
    ReconnectRequired { reason: String },
    /// The run and its chunks are recorded but their jobs could not all be published.
    /// The next `sync` of the table finds the run in flight and publishes them.
    #[error(
        "run {run_id} of table {table} is recorded but its jobs could not be published: {source}"
    )]
    Publish {
        table: TableName,
        run_id: RunId,
        #[source]
        source: hubsync_queue::Error,
    },
}

// A pool or transaction failure is a store failure like any other.
impl From<sqlx::Error> for PlanError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

fn names(tables: &[TableName]) -> String {
    tables
        .iter()
        .map(TableName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
