//! The store's error: variants callers branch on, and a retry classification.

use chrono::{DateTime, Utc};
use hubsync_core::{ChunkId, ChunkState, ConnectionId, RunId, TableName};

use crate::crypto::CryptoError;

/// SQLSTATEs (PostgreSQL appendix A) the store recognises.
pub(crate) mod sqlstate {
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const CRASH_SHUTDOWN: &str = "57P02";
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    /// Class 08: connection exceptions.
    pub const CONNECTION_EXCEPTION_CLASS: &str = "08";
}

/// The index that refuses a second running run of a table (see the migrations).
pub(crate) const RUNNING_RUN_INDEX: &str = "runs_one_running_per_table";

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A run of this table is already in flight; a second one is refused.
    #[error(
        "table {table} already has a run in flight ({run_id}); wait for it to finish or cancel it"
    )]
    RunInFlight { table: TableName, run_id: RunId },

    #[error("connection {0} not found")]
    ConnectionNotFound(String),

    #[error("table {table} not found for connection {connection_id}")]
    TableNotFound {
        connection_id: ConnectionId,
        table: TableName,
    },

    #[error("run {0} not found")]
    RunNotFound(RunId),

    #[error("chunk {0} not found")]
    ChunkNotFound(ChunkId),

    /// The chunk is not `running` (another worker finished, split or failed it, or it
    /// was requeued): the page must not be recorded against it.
    #[error("chunk {chunk_id} is {state}, not running")]
    ChunkNotRunning {
        chunk_id: ChunkId,
        state: ChunkState,
    },

    /// A chunk may only split while pending or running.
    #[error("chunk {chunk_id} is {state} and cannot split")]
    ChunkCannotSplit {
        chunk_id: ChunkId,
        state: ChunkState,
    },

    /// The watermark compare-and-set found another value than the run planned from:
    /// someone else moved it. Report it; retrying cannot succeed.
    #[error(
        "the watermark of table {table} moved from {expected} to {found} since run {run_id} was planned; not advancing it"
    , expected = show_watermark(*expected), found = show_watermark(*found))]
    WatermarkMoved {
        run_id: RunId,
        table: TableName,
        expected: Option<DateTime<Utc>>,
        found: Option<DateTime<Utc>>,
    },

    /// The table's watermark went back (an ops reset) after the planner read it: the
    /// planned window is too narrow. Read the watermark again and replan.
    #[error(
        "the watermark of table {table} changed from {planned_from} to {current} while the run was planned; plan it again"
    , planned_from = show_watermark(*planned_from), current = show_watermark(*current))]
    PlanOutdated {
        table: TableName,
        planned_from: Option<DateTime<Utc>>,
        current: Option<DateTime<Utc>>,
    },

    /// A typed view cannot be replaced because objects of someone else depend on it
    /// (a user's view on top of ours): they are not dropped silently. Nothing changed;
    /// the next rebuild tries again.
    #[error(
        "view {view} cannot be rebuilt: {detail}; drop those objects (or recreate them after the next sync)"
    )]
    ViewInUse { view: String, detail: String },

    /// A typed view could not be replaced within the rebuild's lock timeout: queries
    /// were reading it. Nothing changed; the next rebuild tries again.
    #[error("view {view} is being read by long queries; not rebuilt this time")]
    ViewLocked { view: String },

    /// A schema name that cannot name a connection's schema.
    #[error("invalid schema name {name:?}: {reason}")]
    InvalidSchemaName { name: String, reason: &'static str },

    /// A schema name already used by another connection.
    #[error("schema {0} is already used by another connection")]
    SchemaNameTaken(String),

    /// A record or hub id beyond Postgres's `bigint`.
    #[error("{what} {value} does not fit a bigint")]
    OutOfRange { what: &'static str, value: u64 },

    /// A refresh token could not be sealed or opened.
    #[error(transparent)]
    Crypto(#[from] CryptoError),

    /// A stored row that does not read back into the domain types (edited by hand,
    /// or written by a newer version).
    #[error("stored {what} is invalid: {message}")]
    Corrupt { what: &'static str, message: String },

    #[error("invalid database url: {0}")]
    InvalidDatabaseUrl(String),

    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

fn show_watermark(watermark: Option<DateTime<Utc>>) -> String {
    watermark.map_or_else(|| "none".to_owned(), |at| at.to_rfc3339())
}

impl Error {
    /// Whether the same call may succeed if tried again: serialization failures,
    /// deadlocks, lost or refused connections, pool timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database(error) => is_retryable_sqlx(error),
            Error::Migrate(sqlx::migrate::MigrateError::Execute(error)) => is_retryable_sqlx(error),
            _ => false,
        }
    }

    /// The SQLSTATE of a database error, if this is one.
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            Error::Database(sqlx::Error::Database(error)) => error.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    pub(crate) fn corrupt(what: &'static str, message: impl ToString) -> Self {
        Error::Corrupt {
            what,
            message: message.to_string(),
        }
    }
}

fn is_retryable_sqlx(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            let code = code.as_ref();
            code.starts_with(sqlstate::CONNECTION_EXCEPTION_CLASS)
                || [
                    sqlstate::SERIALIZATION_FAILURE,
                    sqlstate::DEADLOCK_DETECTED,
                    sqlstate::LOCK_NOT_AVAILABLE,
                    sqlstate::TOO_MANY_CONNECTIONS,
                    sqlstate::ADMIN_SHUTDOWN,
                    sqlstate::CRASH_SHUTDOWN,
                    sqlstate::CANNOT_CONNECT_NOW,
                ]
                .contains(&code)
        }),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// A write refused by a foreign key means the row it hangs from is gone: `missing`
/// names it; any other failure stays a database error.
pub(crate) fn missing_parent(error: sqlx::Error, missing: impl FnOnce() -> Error) -> Error {
    match violation(&error) {
        Some((sqlstate::FOREIGN_KEY_VIOLATION, _)) => missing(),
        _ => Error::Database(error),
    }
}

/// The SQLSTATE and constraint of a database error.
pub(crate) fn violation(error: &sqlx::Error) -> Option<(&str, Option<&str>)> {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            // `code()` borrows from `db`; keep the &str form by matching known codes.
            let code: &str = match code.as_ref() {
                sqlstate::UNIQUE_VIOLATION => sqlstate::UNIQUE_VIOLATION,
                sqlstate::FOREIGN_KEY_VIOLATION => sqlstate::FOREIGN_KEY_VIOLATION,
                _ => return None,
            };
            Some((code, db.constraint()))
        }
        _ => None,
    }
}
