//! `hubsync status`: connections; for one connection its tables (state, counts,
//! watermark, last run), what was left out and why, recent runs with their chunks by
//! state, failed chunks with their errors, and the queue depths when the broker is
//! configured.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use hubsync_queue::Broker;
use hubsync_store::ConnectionRef;

use crate::output;
use crate::settings::Settings;
use crate::wiring;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One connection (id or hub id); without it, every connection in brief.
    #[arg(long, short)]
    connection: Option<String>,
    /// How many recent runs to show (0: none).
    #[arg(long, default_value_t = 10)]
    runs: u32,
}

pub async fn run(settings: &Settings, args: StatusArgs) -> Result<ExitCode> {
    let reference: Option<ConnectionRef> =
        args.connection.as_deref().map(str::parse).transpose()?;
    let pool = wiring::database(settings, "status", 2).await?;
    let mut conn = pool.acquire().await?;
    let mut out = std::io::stdout().lock();

    let connection = match reference {
        Some(reference) => Some(hubsync_store::resolve_connection(&mut conn, reference).await?),
        None => None,
    };
    match &connection {
        None => {
            let connections = hubsync_store::list_connections(&mut conn).await?;
            output::print_connections(&mut out, &connections)?;
        }
        Some(connection) => {
            let tables = hubsync_store::table_statuses(&mut conn, connection.id).await?;
            output::print_tables(&mut out, connection, &tables)?;
            output::print_left_out(&mut out, &connection.left_out)?;
        }
    }
    let connection_id = connection.as_ref().map(|c| c.id);
    if args.runs > 0 {
        let runs = hubsync_store::recent_run_reports(&mut conn, connection_id, args.runs).await?;
        output::print_runs(&mut out, &runs)?;
    }
    let failed = hubsync_store::list_failed_chunks(&mut conn, connection_id).await?;
    output::print_failed_chunks(&mut out, &failed)?;

    // The broker is optional here: status must work when only the database is reachable.
    if let Ok(amqp) = settings.amqp() {
        match Broker::new(amqp.clone()) {
            Ok(broker) => {
                match broker.queue_depths().await {
                    Ok(depths) => output::print_queues(&mut out, &depths)?,
                    Err(error) => {
                        output::note(&mut out, &format!("queues: unavailable ({error})"))?
                    }
                }
                let _ = broker.close().await;
            }
            Err(error) => output::note(&mut out, &format!("queues: {error}"))?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
