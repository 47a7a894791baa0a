//! The worker role: consumes chunk jobs, fetches each chunk from HubSpot page by page
//! (search by last-modified range and record id, with the table's custom query), maps
//! values to the table's field types, reads the associations of the table's joins, and
//! writes records, associations and the chunk's progress in one transaction per page;
//! then tells the committer and acknowledges the job. A chunk whose first page reports
//! more records than `split_threshold` splits itself into sub-chunks instead.
//!
//! Must not: import the planner or the committer (they meet through RabbitMQ messages
//! and Postgres rows), move watermarks, or write to HubSpot.
//!
//! Entry point: [`run`] with a [`WorkerContext`]. Per page a chunk makes one search
//! call (≤ 200 records with every property, from the search bucket) and one v4
//! association batch read per join of its table (standard bucket); the next page is
//! searched while the current one is written.
//!
//! A failed attempt at a chunk is retried with jittered exponential backoff from
//! `backon`, which replaces `backoff`: `backoff` is unmaintained (RUSTSEC-2025-0012).

mod chunk;
mod db;
mod error;
mod fetch;
mod page;
mod settings;
mod split;
mod worker;

use std::sync::Arc;

use hubsync_hubspot::PortalClients;
use hubsync_queue::Broker;
use sqlx::PgPool;

pub use error::ChunkError;
pub use settings::{SettingsError, WorkerSettings};
pub use worker::run;

/// What a worker process needs, built by the CLI from configuration.
pub struct WorkerContext {
    /// Size it above `concurrency`: each chunk in flight uses one connection per
    /// page transaction, plus short reads.
    pub pool: PgPool,
    /// Publishes sub-chunks and outcomes; the worker consumes through a copy of its
    /// settings whose prefetch is `settings.concurrency`.
    pub broker: Broker,
    /// The process's HubSpot clients, one per connection, over credentials kept in the
    /// store (refresh tokens loaded and rotated ones saved; a dead one marks the
    /// connection `reconnect_required`; a connection that is not active is refused).
    pub portals: Arc<PortalClients>,
    pub settings: WorkerSettings,
}
