//! The planner role (`hubsync sync`): refreshes a connection's metadata (granted
//! scopes, custom-object schemas, owners, each table's properties mapped to fields,
//! the typed views), then for each requested table computes its window, records the
//! run and its initial chunks, and publishes one job per chunk with confirms.
//! [`follow`] serves `sync --wait`.
//!
//! Must not: import the worker or the committer (they meet through RabbitMQ messages
//! and Postgres rows), fetch records, move watermarks, or write to HubSpot.
//!
//! Entry points: [`plan`] with a [`PlannerContext`] and a [`SyncRequest`], giving a
//! [`SyncPlanReport`]; [`follow`] / [`progress_of`] for the runs it started.

mod error;
mod follow;
mod metadata;
mod plan;
mod settings;

use std::sync::Arc;

use hubsync_hubspot::PortalClients;
use hubsync_queue::Broker;
use sqlx::PgPool;

pub use error::PlanError;
pub use follow::{RunProgress, follow, progress_of};
pub use metadata::{MetadataReport, refresh_metadata};
pub use plan::{RefusedTable, SkippedTable, StartedRun, SyncPlanReport, SyncRequest, plan};
pub use settings::PlannerSettings;

/// What the planner needs, built by the CLI from configuration.
pub struct PlannerContext {
    pub pool: PgPool,
    /// Publishes the chunk jobs.
    pub broker: Broker,
    /// The process's HubSpot clients, one per connection, over credentials kept in the
    /// store (a rotated refresh token is saved; a dead one marks the connection).
    pub portals: Arc<PortalClients>,
    pub settings: PlannerSettings,
}
