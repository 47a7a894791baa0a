//! The consume loop: chunks in flight up to the concurrency, graceful shutdown.

use std::sync::Arc;

use hubsync_hubspot::PortalClients;
use hubsync_queue::{Broker, CancellationToken, Delivery, QueueSettings, Route};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::chunk::{DeliveryEnd, handle};
use crate::{WorkerContext, WorkerSettings};

/// What every chunk task of the process shares.
pub(crate) struct Worker {
    pub(crate) pool: PgPool,
    /// Publishes children and outcomes (the context's broker).
    pub(crate) broker: Broker,
    /// One client per connection for the whole process (shared token and governor).
    pub(crate) portals: Arc<PortalClients>,
    pub(crate) settings: WorkerSettings,
    pub(crate) worker_id: String,
}

/// Consumes chunk jobs until `shutdown`, then lets in-flight pages finish (up to
/// `shutdown_grace_secs`) and returns. Errors only when it cannot start or the broker
/// cannot be reached for good; a failing chunk is the chunk's problem, not the loop's.
pub async fn run(context: WorkerContext, shutdown: CancellationToken) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let WorkerContext {
        pool,
        broker,
        portals,
        settings,
    } = context;
    settings.validate()?;
    // Prefetch = concurrency: the broker hands this process no more chunks than it
    // works on, so idle workers elsewhere get the rest.
    let consumer_settings = QueueSettings {
        prefetch: u16::try_from(settings.concurrency).unwrap_or(u16::MAX),
        ..broker.settings().clone()
    };
    let consumer_broker = Broker::new(consumer_settings).context("invalid queue settings")?;
    broker
        .declare_topology()
        .await
        .context("failed to declare the queue topology")?;
    let worker_id = settings.worker_id();
    let worker = Arc::new(Worker {
        portals,
        pool,
        broker,
        settings: settings.clone(),
        worker_id: worker_id.clone(),
    });
    let mut consumer = consumer_broker
        .consumer(Route::Chunks, shutdown.clone())
        .await
        .context("failed to start consuming chunk jobs")?;
    info!(%worker_id, concurrency = settings.concurrency, "worker started");

    let permits = Arc::new(Semaphore::new(settings.concurrency));
    let mut tasks: JoinSet<DeliveryEnd> = JoinSet::new();
    let mut interrupted: Vec<Delivery> = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    loop {
        while let Some(joined) = tasks.try_join_next() {
            collect(joined, &mut interrupted);
        }
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        // `next` returns None once `shutdown` is cancelled.
        match consumer.next().await {
            None => break,
            Some(Err(error)) => {
                failure = Some(anyhow::Error::new(error).context("lost the chunk job consumer"));
                break;
            }
            Some(Ok(delivery)) => {
                let worker = Arc::clone(&worker);
                let shutdown = shutdown.clone();
                tasks.spawn(async move {
                    let end = handle(worker, delivery, shutdown).await;
                    drop(permit);
                    end
                });
            }
        }
    }

    if !tasks.is_empty() {
        info!(
            in_flight = tasks.len(),
            "finishing in-flight pages before exiting"
        );
    }
    let drained = tokio::time::timeout(settings.shutdown_grace(), async {
        while let Some(joined) = tasks.join_next().await {
            collect(joined, &mut interrupted);
        }
    })
    .await;
    if drained.is_err() {
        warn!(
            in_flight = tasks.len(),
            "shutdown grace elapsed; dropping the remaining chunks (they resume elsewhere)"
        );
        tasks.shutdown().await;
    }
    // Close first, so that the broker takes the unfinished deliveries back when the
    // channel closes instead of each being returned one by one.
    if let Err(error) = consumer.close().await {
        warn!(%error, "could not close the consumer cleanly");
    }
    drop(interrupted);
    info!(%worker_id, "worker stopped");
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn collect(joined: Result<DeliveryEnd, tokio::task::JoinError>, interrupted: &mut Vec<Delivery>) {
    match joined {
        Ok(DeliveryEnd::Settled) => {}
        Ok(DeliveryEnd::Interrupted(delivery)) => interrupted.push(delivery),
        // The delivery was dropped with the task, which returns it to the queue.
        Err(join_error) => error!(error = %join_error, "a chunk task panicked"),
    }
}
