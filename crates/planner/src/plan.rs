//! Planning a sync: the metadata refresh, then per table its window, its run and
//! initial chunks recorded as pending, their jobs published with confirms, and the
//! chunks stamped published.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use hubsync_core::range::split_time;
use hubsync_core::{
    ChunkId, ChunkRange, ChunkState, ConnectionId, ModifiedRange, RunId, RunKind, TableName,
    encode_job, run_window,
};
use hubsync_queue::{OutgoingMessage, Route};
use hubsync_store::chunks::{self, Chunk};
use hubsync_store::connections::{self, ConnectionRef};
use hubsync_store::runs::{self, NewRun, Run};
use hubsync_store::tables::{self, StoredTable};
use tracing::{Instrument, info, info_span, warn};

use crate::PlannerContext;
use crate::error::PlanError;
use crate::metadata::{self, MetadataReport};

/// What `hubsync sync` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub connection: ConnectionRef,
    /// `Incremental` reads from each table's watermark (a table never synced reads
    /// everything); `Full` reads everything.
    pub kind: RunKind,
    /// The tables to sync; empty means every enabled table.
    pub tables: Vec<TableName>,
}

/// What a plan did, table by table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlanReport {
    pub connection_id: ConnectionId,
    pub hub_id: u64,
    pub metadata: MetadataReport,
    /// Runs started, one per table.
    pub started: Vec<StartedRun>,
    /// Tables not planned, with why (not available for the scopes, disabled, metadata
    /// unreadable, nothing to read, unknown name).
    pub skipped: Vec<SkippedTable>,
    /// Tables refused because a run of theirs is in flight.
    pub refused: Vec<RefusedTable>,
}

impl SyncPlanReport {
    /// The runs started by this plan.
    pub fn run_ids(&self) -> Vec<RunId> {
        self.started.iter().map(|run| run.run_id).collect()
    }
}

/// One run started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedRun {
    pub table: TableName,
    pub run_id: RunId,
    /// `Full` also when an incremental run found no watermark.
    pub kind: RunKind,
    /// `[start, end)`; `end` becomes the watermark once the run completes.
    pub window: ModifiedRange,
    pub chunks: usize,
}

/// A table not planned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTable {
    pub table: TableName,
    pub reason: String,
}

/// A table refused because a run of it is in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedTable {
    pub table: TableName,
    pub running_run: RunId,
    /// Jobs of that run found recorded but never published (a planner stopped between
    /// the two), published now.
    pub republished: usize,
}

impl std::fmt::Display for RefusedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "table {} already has a run in flight ({}); wait for it to finish",
            self.table, self.running_run
        )
    }
}

/// Plans a sync of one connection: refreshes its metadata, then starts one run per
/// requested table that can run. Errors only for what stops the whole plan (the
/// connection unusable, the store or HubSpot unreachable).
pub async fn plan(
    context: &PlannerContext,
    request: SyncRequest,
) -> Result<SyncPlanReport, PlanError> {
    context.settings.validate().map_err(PlanError::Settings)?;
    let connection = {
        let mut db = context.pool.acquire().await?;
        connections::resolve_connection(&mut db, request.connection).await?
    };
    let span = info_span!("plan", connection_id = %connection.id, hub_id = connection.hub_id, kind = ?request.kind);
    async {
        let metadata = metadata::refresh_connection(
            &context.pool,
            &context.portals,
            &connection,
            &context.settings,
        )
        .await?;
        let mut report = SyncPlanReport {
            connection_id: connection.id,
            hub_id: connection.hub_id,
            metadata,
            started: Vec::new(),
            skipped: Vec::new(),
            refused: Vec::new(),
        };
        let stored: BTreeMap<TableName, StoredTable> = {
            let mut db = context.pool.acquire().await?;
            tables::list_tables(&mut db, connection.id)
                .await?
                .into_iter()
                .map(|table| (table.name().clone(), table))
                .collect()
        };
        let requested: BTreeSet<TableName> = if request.tables.is_empty() {
            stored.keys().cloned().collect()
        } else {
            request.tables.iter().cloned().collect()
        };
        // A misspelt table is an error before any run starts, not a skip: a scheduler
        // asking for `deal` would otherwise succeed every time and sync nothing.
        let unknown: Vec<TableName> = requested
            .iter()
            .filter(|name| !stored.contains_key(*name))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(PlanError::UnknownTables {
                unknown,
                known: stored.keys().cloned().collect(),
            });
        }
        for name in requested {
            let Some(table) = stored.get(&name) else {
                continue;
            };
            if let Some(reason) = skip_reason(table, &report.metadata) {
                report.skipped.push(SkippedTable { table: name, reason });
                continue;
            }
            let mut planned = start_run(context, table, request.kind).await?;
            if matches!(planned, Planned::Outdated) {
                // The watermark moved back while we planned (an ops reset): plan again
                // from the current one, once.
                let mut db = context.pool.acquire().await?;
                let current = tables::require_table(&mut db, connection.id, &name).await?;
                drop(db);
                planned = start_run(context, &current, request.kind).await?;
            }
            match planned {
                Planned::Outdated => report.skipped.push(SkippedTable {
                    table: name,
                    reason: "its watermark changed twice while planning; plan it again".to_owned(),
                }),
                Planned::Started(run) => report.started.push(run),
                Planned::Skipped(reason) => report.skipped.push(SkippedTable { table: name, reason }),
                Planned::Refused(refused) => {
                    warn!(table = %refused.table, run_id = %refused.running_run, "refused: a run of this table is in flight");
                    report.refused.push(refused);
                }
            }
        }
        info!(
            started = report.started.len(),
            skipped = report.skipped.len(),
            refused = report.refused.len(),
            "sync planned"
        );
        Ok(report)
    }
    .instrument(span)
    .await
}

/// Why a stored table is not planned, if it is not.
fn skip_reason(table: &StoredTable, metadata: &MetadataReport) -> Option<String> {
    if !table.available {
        return Some(
            table
                .skip_reason
                .clone()
                .unwrap_or_else(|| "not available with the granted scopes".to_owned()),
        );
    }
    if !table.enabled {
        return Some("disabled (hubsync tables … enable)".to_owned());
    }
    if let Some(error) = metadata.failed.get(table.name()) {
        return Some(format!("its properties could not be read: {error}"));
    }
    None
}

enum Planned {
    Started(StartedRun),
    /// The table's watermark moved back since it was read.
    Outdated,
    Skipped(String),
    Refused(RefusedTable),
}

/// Records one table's run and chunks, then publishes their jobs.
async fn start_run(
    context: &PlannerContext,
    table: &StoredTable,
    requested: RunKind,
) -> Result<Planned, PlanError> {
    let run_start = Utc::now();
    let Some(window) = run_window(
        requested,
        table.watermark,
        context.settings.lookback(),
        run_start,
    ) else {
        return Ok(Planned::Skipped(
            "nothing to read: the watermark is at or after now (clock skew?)".to_owned(),
        ));
    };
    // Without a watermark an incremental run reads everything: record what it is.
    let kind = if table.watermark.is_none() {
        RunKind::Full
    } else {
        requested
    };
    let ranges: Vec<ChunkRange> = split_time(window, context.settings.initial_chunks)
        .into_iter()
        .map(ChunkRange::time)
        .collect();
    let new_run = NewRun {
        connection_id: table.connection_id,
        table: table.name().clone(),
        kind,
        window,
        previous_watermark: table.watermark,
    };
    let created = {
        let mut db = context.pool.acquire().await?;
        runs::create_run(&mut db, &new_run, &ranges).await
    };
    let created = match created {
        Ok(created) => created,
        Err(hubsync_store::Error::RunInFlight { run_id, .. }) => {
            let republished = republish_unpublished(context, run_id).await?;
            return Ok(Planned::Refused(RefusedTable {
                table: table.name().clone(),
                running_run: run_id,
                republished,
            }));
        }
        Err(hubsync_store::Error::PlanOutdated { .. }) => return Ok(Planned::Outdated),
        Err(error) => return Err(error.into()),
    };
    let run = &created.run;
    let span = info_span!(
        "run",
        run_id = %run.id,
        table = %run.table,
        kind = ?run.kind,
        watermark_from = ?run.previous_watermark,
        watermark_to = %run.window.end(),
    );
    async {
        let published = publish_and_mark(context, run, &created.chunks).await?;
        info!(window = %run.window, chunks = published, "run started");
        Ok(Planned::Started(StartedRun {
            table: run.table.clone(),
            run_id: run.id,
            kind: run.kind,
            window: run.window,
            chunks: published,
        }))
    }
    .instrument(span)
    .await
}

/// Publishes the jobs of a run's chunks, then stamps the chunks published; a failure
/// between the two leaves them pending and unstamped, which the next plan of the table
/// republishes. Gives the number of jobs published.
async fn publish_and_mark(
    context: &PlannerContext,
    run: &Run,
    chunks: &[Chunk],
) -> Result<usize, PlanError> {
    publish(context, run.kind, chunks)
        .await
        .map_err(|source| PlanError::Publish {
            table: run.table.clone(),
            run_id: run.id,
            source,
        })?;
    let ids: Vec<ChunkId> = chunks.iter().map(|chunk| chunk.id).collect();
    let mut db = context.pool.acquire().await?;
    chunks::mark_chunks_published(&mut db, &ids).await?;
    Ok(ids.len())
}

/// Publishes the jobs of chunks with confirms.
async fn publish(
    context: &PlannerContext,
    kind: RunKind,
    chunks: &[Chunk],
) -> Result<(), hubsync_queue::Error> {
    let messages: Vec<OutgoingMessage> = chunks
        .iter()
        .map(|chunk| OutgoingMessage::new(chunk.id.to_string(), encode_job(&chunk.job(kind))))
        .collect();
    context
        .broker
        .publisher()
        .publish_batch(Route::Chunks, &messages)
        .await
}

/// Heals a run whose jobs were recorded but never published (a planner stopped
/// between the two): publishes the pending chunks that were never stamped.
async fn republish_unpublished(
    context: &PlannerContext,
    run_id: RunId,
) -> Result<usize, PlanError> {
    let (run, unpublished) = {
        let mut db = context.pool.acquire().await?;
        let Some(run) = runs::get_run(&mut db, run_id).await? else {
            return Ok(0);
        };
        let unpublished: Vec<Chunk> = chunks::list_chunks(&mut db, run_id)
            .await?
            .into_iter()
            .filter(|chunk| chunk.state == ChunkState::Pending && chunk.published_at.is_none())
            .collect();
        (run, unpublished)
    };
    if unpublished.is_empty() {
        return Ok(0);
    }
    let republished = publish_and_mark(context, &run, &unpublished).await?;
    info!(%run_id, republished, "published the in-flight run's unpublished jobs");
    Ok(republished)
}
