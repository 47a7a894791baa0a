//! PostgreSQL through sqlx: migrations, connections and their secrets, tables and
//! fields, records, associations, owners, runs, chunks, watermarks and the typed views.
//!
//! Must not: call HubSpot or the broker. The roles (planner, worker, committer) and the
//! CLI meet here and on RabbitMQ only.
//!
//! # Layout
//! Control tables live in schema `hubsync` (see `migrations/`); each connection gets a
//! schema of typed views (`hubspot_<hub_id>` by default), generated from its fields by
//! [`rebuild_views`], never by a migration.
//!
//! # Composing transactions
//! Repository functions take `&mut PgConnection`; pass `&mut *tx` to run them inside a
//! caller's transaction (the worker writes a page's records, associations and chunk
//! progress in one). Functions that must be atomic on their own (creating a run with its
//! chunks, splitting a chunk, the watermark commit, replacing a set) open a nested
//! transaction, which Postgres runs as a savepoint inside the caller's.
//!
//! # Why runtime-checked queries
//! Every statement is a runtime `sqlx::query`/`query_as`, never the `query!` macros:
//! the macros compile the sqlx stack a second time for the proc-macro host, need a live
//! database or committed `.sqlx` offline data at build time, and cannot check the
//! generated view SQL anyway. Instead every statement is exercised by this crate's
//! tests against a real PostgreSQL (one fresh database per test).
//!
//! # Secrets
//! Refresh tokens are sealed with XChaCha20-Poly1305 under an [`EncryptionKey`] the
//! caller reads from the environment; see [`crypto`]. Secrets are held in `secrecy`
//! types and never appear in `Debug` output or logs.

use std::sync::LazyLock;

pub mod associations;
pub mod chunks;
pub mod commit;
pub mod connections;
pub mod crypto;
pub mod error;
pub mod fields;
pub mod names;
pub mod owners;
pub mod pool;
pub mod records;
pub mod runs;
pub mod status;
pub mod tables;
pub mod views;

/// The migrations of the control tables. sqlx takes an advisory lock while applying
/// them, so pods that start together are safe.
///
/// Their bookkeeping table is pinned to `hubsync._sqlx_migrations`. Left unqualified it
/// would follow the search path, whose default `"$user", public` resolves to our own
/// `hubsync` schema as soon as the first migration creates it when the role is named
/// `hubsync` (as here): the next start would find an empty bookkeeping table there and
/// apply everything again. A `LazyLock` because the setters are not `const`; it derefs
/// to the `Migrator` (`MIGRATOR.run(&pool)`, `#[sqlx::test(migrator = …)]`).
pub static MIGRATOR: LazyLock<sqlx::migrate::Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.create_schema(CONTROL_SCHEMA);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
});

/// The schema of hubsync's control tables.
pub const CONTROL_SCHEMA: &str = "hubsync";
const MIGRATIONS_TABLE: &str = "hubsync._sqlx_migrations";

pub use associations::{
    AssociationRow, StoredAssociation, count_associations, list_associations, replace_associations,
};
pub use chunks::{
    AllFailedRequeue, Chunk, ChunkStart, PageProgress, get_chunk, list_chunks, list_failed_chunks,
    mark_chunk_failed, mark_chunk_succeeded, mark_chunks_published, record_page,
    requeue_all_failed, requeue_chunks, requeue_run, split_chunk, start_chunk,
};
pub use commit::{CommitOutcome, commit_run};
pub use connections::{
    Connection, ConnectionRef, ConnectionStatus, NewConnection, get_connection,
    get_connection_by_hub_id, list_connections, load_refresh_token, resolve_connection,
    set_connection_left_out, set_connection_status, set_granted_scopes, store_refresh_token,
    upsert_connection,
};
pub use crypto::{CryptoError, EncryptionKey};
pub use error::{Error, Result};
pub use fields::{FieldChanges, StoredField, list_fields, live_fields, replace_fields};
pub use names::SchemaName;
pub use owners::{list_owners, replace_owners};
pub use pool::{DatabaseSettings, connect, migrate};
pub use records::{
    RecordRow, StoredRecord, count_records, get_record, list_records, upsert_records,
};
pub use runs::{
    ChunkCounts, CreatedRun, NewRun, Run, RunStatus, cancel_run, chunk_counts, create_run, get_run,
    get_runs, list_recent_runs, list_running_runs, run_chunk_counts, running_run_of,
};
pub use status::{RunReport, TableStatus, recent_run_reports, table_statuses};
pub use tables::{
    StoredTable, TableEntry, get_table, get_watermark, list_tables, require_table, reset_watermark,
    set_custom_query, set_table_enabled, upsert_tables,
};
pub use views::{
    ViewReport, rebuild_table_view, rebuild_views, rebuild_views_within, views_outdated,
};

// Re-exported so callers name secrets with the same types the store takes.
pub use secrecy::{ExposeSecret, SecretString};
