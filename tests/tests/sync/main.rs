//! End-to-end scenarios of issue 5's "done when": real PostgreSQL, real RabbitMQ, the
//! simulator over HTTP, the roles in-process through their entry points. Each test has
//! its own simulator, database and queue prefix, so they run in parallel.

mod cluster;
mod drift;
mod failure;
mod full_and_incremental;
mod redelivery;
mod scopes_and_queries;

use std::time::Duration;

/// Long enough for the slowest scenario on a loaded 2-core machine; a hang fails fast
/// enough to read.
pub const RUN_DEADLINE: Duration = Duration::from_secs(120);
