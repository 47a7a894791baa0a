//! `hubsync worker` and `hubsync committer`: the long-running roles. Both stop
//! gracefully on SIGTERM or SIGINT (in-flight work finishes, nothing new is taken) and
//! exit 0, so that an orchestrator's rolling restart loses nothing.

use std::process::ExitCode;

use anyhow::Result;
use hubsync_committer::CommitterContext;
use hubsync_worker::WorkerContext;

use crate::settings::Settings;
use crate::wiring;

pub async fn worker(settings: &Settings) -> Result<ExitCode> {
    let key = settings.encryption_key()?;
    let client = wiring::hubspot_client(settings)?;
    let app = wiring::oauth_app(settings, &client)?;
    let concurrency = settings.worker.concurrency;
    // One connection per chunk's page transaction, plus short reads.
    let pool = wiring::database(settings, "worker", (concurrency as u32) * 2 + 2).await?;
    let broker = wiring::broker(settings).await?;
    let portals = wiring::portal_clients(client, app, pool.clone(), key);
    let shutdown = wiring::shutdown_on_signals();
    hubsync_worker::run(
        WorkerContext {
            pool,
            broker,
            portals,
            settings: settings.worker.clone(),
        },
        shutdown,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn committer(settings: &Settings) -> Result<ExitCode> {
    let pool = wiring::database(settings, "committer", 4).await?;
    let broker = wiring::broker(settings).await?;
    let shutdown = wiring::shutdown_on_signals();
    hubsync_committer::run(
        CommitterContext {
            pool,
            broker,
            settings: settings.committer.clone(),
        },
        shutdown,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
