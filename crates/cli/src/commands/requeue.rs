//! `hubsync requeue`: puts failed chunks back to work once the cause is fixed (a scope
//! granted, HubSpot back up). Their rows return to `pending` and their runs to
//! `running` first; then each chunk's dead-lettered job goes back to the work queue,
//! and a chunk without one (lost, or failed before it was dead-lettered) gets a fresh
//! job. Jobs are confirmed by the broker before the dead copies are removed.

use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use hubsync_core::{ChunkId, ChunkState, RunId, decode_job, encode_job};
use hubsync_queue::{OutgoingMessage, Route};
use hubsync_store::{Chunk, ConnectionRef};

use crate::settings::Settings;
use crate::wiring;

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RequeueArgs {
    /// Every failed chunk of this run, and its pending ones (republished).
    #[arg(long)]
    run: Option<RunId>,
    /// These chunks (repeat the flag).
    #[arg(long)]
    chunk: Vec<ChunkId>,
    /// Every failed chunk (of one connection with --connection).
    #[arg(long)]
    all_failed: bool,
    /// Limits --all-failed to one connection (id or hub id).
    #[arg(long, requires = "all_failed")]
    connection: Option<String>,
}

pub async fn run(settings: &Settings, args: RequeueArgs) -> Result<ExitCode> {
    let reference: Option<ConnectionRef> =
        args.connection.as_deref().map(str::parse).transpose()?;
    let pool = wiring::database(settings, "requeue", 2).await?;
    let broker = wiring::broker(settings).await?;
    let mut conn = pool.acquire().await?;
    let connection_id = match reference {
        Some(reference) => Some(
            hubsync_store::resolve_connection(&mut conn, reference)
                .await?
                .id,
        ),
        None => None,
    };

    // Failed chunks back to `pending`, their runs back to `running`.
    let mut skipped_runs: BTreeSet<RunId> = BTreeSet::new();
    let chunks: Vec<Chunk> = if let Some(run_id) = args.run {
        let mut chunks = hubsync_store::requeue_run(&mut conn, run_id).await?;
        // A run's pending chunks go too: their jobs may have been lost (a purged queue),
        // and a second copy of a job is harmless, while a lost one stalls the run.
        let requeued: BTreeSet<ChunkId> = chunks.iter().map(|chunk| chunk.id).collect();
        chunks.extend(
            hubsync_store::list_chunks(&mut conn, run_id)
                .await?
                .into_iter()
                .filter(|chunk| {
                    chunk.state == ChunkState::Pending && !requeued.contains(&chunk.id)
                }),
        );
        chunks
    } else if args.all_failed {
        let outcome = hubsync_store::requeue_all_failed(&mut conn, connection_id).await?;
        for (run_id, table, in_flight) in &outcome.skipped {
            println!(
                "left run {run_id} of table {table} failed: run {in_flight} of the table is in flight and reads its window again"
            );
            skipped_runs.insert(*run_id);
        }
        outcome.requeued
    } else if args.chunk.is_empty() {
        Vec::new()
    } else {
        hubsync_store::requeue_chunks(&mut conn, &args.chunk).await?
    };

    // Their dead-lettered jobs go back first (their x-death history stays with them).
    // So do the other dead-lettered jobs of the runs asked for: a job that crashed
    // workers past the queue's delivery limit was dead-lettered by the broker, and its
    // chunk is still `running`, not `failed`.
    let wanted: BTreeSet<String> = chunks.iter().map(|chunk| chunk.id.to_string()).collect();
    let mut revived = BTreeSet::new();
    broker
        .requeue_dead(Route::Chunks, |dead| {
            let Some(id) = dead.message_id.as_deref() else {
                return false;
            };
            let job = decode_job(&dead.payload).ok();
            let asked = wanted.contains(id)
                || job.as_ref().is_some_and(|job| match args.run {
                    Some(run) => job.run_id == run,
                    None if args.all_failed => {
                        connection_id.is_none_or(|connection| job.connection_id == connection)
                            && !skipped_runs.contains(&job.run_id)
                    }
                    None => false,
                });
            let selected = asked && !revived.contains(id);
            if selected {
                revived.insert(id.to_owned());
            }
            selected
        })
        .await
        .context("cannot move dead-lettered jobs back to the queue")?;
    if chunks.is_empty() && revived.is_empty() {
        println!("nothing to requeue: no failed chunk and no dead-lettered job matches");
        let _ = broker.close().await;
        return Ok(ExitCode::SUCCESS);
    }

    // A failed chunk whose job is not in the dead-letter queue gets a fresh one.
    let mut kinds = HashMap::new();
    let mut fresh = Vec::new();
    for chunk in chunks
        .iter()
        .filter(|c| !revived.contains(&c.id.to_string()))
    {
        let kind = match kinds.get(&chunk.run_id) {
            Some(kind) => *kind,
            None => {
                let run = hubsync_store::get_run(&mut conn, chunk.run_id)
                    .await?
                    .with_context(|| format!("run {} vanished", chunk.run_id))?;
                kinds.insert(chunk.run_id, run.kind);
                run.kind
            }
        };
        let payload = encode_job(&chunk.job(kind));
        fresh.push(OutgoingMessage::new(chunk.id.to_string(), payload));
    }
    broker
        .publisher()
        .publish_batch(Route::Chunks, &fresh)
        .await
        .context("cannot publish the requeued jobs")?;
    let ids: Vec<ChunkId> = chunks.iter().map(|chunk| chunk.id).collect();
    hubsync_store::mark_chunks_published(&mut conn, &ids).await?;
    let _ = broker.close().await;

    let runs: BTreeSet<RunId> = chunks.iter().map(|chunk| chunk.run_id).collect();
    println!(
        "requeued {} chunk(s) of {} run(s): {} job(s) back from the dead-letter queue, {} republished",
        chunks.len(),
        runs.len(),
        revived.len(),
        fresh.len()
    );
    Ok(ExitCode::SUCCESS)
}
