//! The committer role: when every leaf chunk of a run has succeeded, advances the
//! table's watermark to the run's start and closes the run, once, however many times
//! its outcomes arrive; a failed chunk fails the run and holds the watermark.
//!
//! It reacts to chunk outcomes and also sweeps the running runs periodically, because
//! an outcome can be lost (a worker killed between its commit and its publish, the
//! broker away): the store, not the message, says whether a run is complete.
//!
//! Must not: import the planner or the worker (they meet through RabbitMQ messages and
//! Postgres rows), fetch or write records, or call HubSpot.
//!
//! Entry point: [`run`] with a [`CommitterContext`].

use std::time::Duration;

use anyhow::Context as _;
use hubsync_core::{ConnectionId, RunId, TableName, decode_outcome};
use hubsync_queue::{Broker, CancellationToken, Delivery, Route};
use hubsync_store::{CommitOutcome, Error as StoreError, commit_run, list_running_runs};
use serde::Deserialize;
use sqlx::PgPool;
use tracing::{Instrument, debug, error, info, info_span, warn};

/// The committer's knobs (config section `committer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommitterSettings {
    /// How often every running run is checked, whatever the outcomes said. Also the
    /// longest a lost outcome delays a run's close.
    pub sweep_interval_secs: u64,
}

impl Default for CommitterSettings {
    fn default() -> Self {
        Self {
            sweep_interval_secs: 30,
        }
    }
}

impl CommitterSettings {
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs.max(1))
    }
}

/// What the committer needs, built by the CLI from configuration.
pub struct CommitterContext {
    pub pool: PgPool,
    pub broker: Broker,
    pub settings: CommitterSettings,
}

/// Consumes chunk outcomes and sweeps running runs until `shutdown`. Errors only when
/// it cannot start or loses the broker for good.
pub async fn run(context: CommitterContext, shutdown: CancellationToken) -> anyhow::Result<()> {
    let CommitterContext {
        pool,
        broker,
        settings,
    } = context;
    broker
        .declare_topology()
        .await
        .context("failed to declare the queue topology")?;
    let mut consumer = broker
        .consumer(Route::Outcomes, shutdown.clone())
        .await
        .context("failed to start consuming chunk outcomes")?;
    info!(
        sweep_interval_secs = settings.sweep_interval().as_secs(),
        "committer started"
    );

    // The sweep runs beside the consumer: both only call the store's idempotent
    // commit, which locks the run, so they never decide twice.
    let stop_sweeping = shutdown.child_token();
    let sweeper = tokio::spawn(sweep_until(
        pool.clone(),
        settings.sweep_interval(),
        stop_sweeping.clone(),
    ));

    let mut failure = None;
    // `next` returns None once `shutdown` is cancelled.
    while let Some(next) = consumer.next().await {
        match next {
            Ok(delivery) => handle(&pool, delivery).await,
            Err(error) => {
                failure = Some(anyhow::Error::new(error).context("lost the outcome consumer"));
                break;
            }
        }
    }
    stop_sweeping.cancel();
    if let Err(error) = consumer.close().await {
        warn!(%error, "could not close the consumer cleanly");
    }
    if let Err(join_error) = sweeper.await {
        error!(error = %join_error, "the sweep task panicked");
    }
    info!("committer stopped");
    failure.map_or(Ok(()), Err)
}

async fn handle(pool: &PgPool, delivery: Delivery) {
    let outcome = match decode_outcome(delivery.payload()) {
        Ok(outcome) => outcome,
        Err(poison) => {
            warn!(
                message_id = delivery.message_id().unwrap_or(""),
                error = %poison,
                "poison chunk outcome, dead-lettering it"
            );
            if let Err(error) = delivery.nack_dead_letter().await {
                warn!(%error, "could not dead-letter a poison outcome");
            }
            return;
        }
    };
    debug!(chunk_id = %outcome.chunk_id, status = ?outcome.status, "chunk outcome");
    commit(pool, outcome.run_id, outcome.connection_id, &outcome.table).await;
    // Acked whatever the commit did: the run's state lives in the store, and the
    // sweep retries a commit that failed here.
    if let Err(error) = delivery.ack().await {
        debug!(%error, "could not ack an outcome; it will come again and be a no-op");
    }
}

async fn sweep_until(pool: PgPool, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => sweep(&pool).await,
        }
    }
}

/// Tries to close every running run.
async fn sweep(pool: &PgPool) {
    let running = async {
        let mut db = pool.acquire().await.map_err(StoreError::from)?;
        list_running_runs(&mut db).await
    };
    match running.await {
        Ok(runs) => {
            debug!(running = runs.len(), "sweeping running runs");
            for run in runs {
                commit(pool, run.id, run.connection_id, &run.table).await;
            }
        }
        Err(error) => warn!(%error, "could not list the running runs; sweeping later"),
    }
}

/// Closes a run if it is complete, and logs what happened.
async fn commit(pool: &PgPool, run_id: RunId, connection_id: ConnectionId, table: &TableName) {
    let span = info_span!("run", %run_id, %connection_id, %table);
    async {
        let committed = async {
            let mut db = pool.acquire().await.map_err(StoreError::from)?;
            commit_run(&mut db, run_id).await
        };
        match committed.await {
            Ok(CommitOutcome::Committed { watermark }) => {
                info!(watermark_to = %watermark, "run succeeded; watermark advanced")
            }
            Ok(CommitOutcome::Kept { watermark }) => info!(
                watermark = ?watermark,
                "run succeeded; the watermark was already at or past its start"
            ),
            Ok(CommitOutcome::Pending { progress }) => debug!(
                leaves = progress.leaves,
                succeeded = progress.succeeded,
                unfinished = progress.unfinished,
                failed = progress.failed,
                "run not complete yet"
            ),
            Ok(CommitOutcome::Failed { progress }) => warn!(
                failed = progress.failed,
                leaves = progress.leaves,
                "run failed; the watermark holds until the failed chunks are requeued"
            ),
            Ok(CommitOutcome::AlreadyClosed { status }) => debug!(%status, "run already closed"),
            Err(error @ StoreError::WatermarkMoved { .. }) => {
                // Someone (an operator re-reading a window) set the watermark after
                // this run was planned: moving it to this run's start would undo that.
                // The run's records are stored; it ends without touching the watermark,
                // which also frees the table for the next run.
                let reason = format!("{error}; the run's records are kept, the watermark stays");
                let cancelled = async {
                    let mut db = pool.acquire().await.map_err(StoreError::from)?;
                    hubsync_store::runs::cancel_run(&mut db, run_id, &reason).await
                };
                match cancelled.await {
                    Ok(_) => warn!(%error, "run complete but its watermark was moved by someone else; run cancelled"),
                    Err(cancel_error) => warn!(%error, %cancel_error, "could not cancel the run; the sweep retries"),
                }
            }
            Err(StoreError::RunNotFound(_)) => warn!("outcome for a run the store does not know"),
            Err(error) => warn!(%error, "could not commit the run; the sweep retries"),
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_floor() {
        let settings: CommitterSettings = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(settings.sweep_interval(), Duration::from_secs(30));
        let zero = CommitterSettings {
            sweep_interval_secs: 0,
        };
        assert_eq!(zero.sweep_interval(), Duration::from_secs(1));
    }
}
