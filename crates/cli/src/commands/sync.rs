//! `hubsync sync`: plans a sync of one connection (or of every active one, which is
//! what a scheduler runs): metadata refreshed, one run per table, chunks published to
//! the workers. With `--wait`, follows the runs to their end, printing progress, and
//! exits non-zero when one failed.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use hubsync_core::{RunKind, TableName};
use hubsync_planner::{PlannerContext, RunProgress, SyncPlanReport, SyncRequest};
use hubsync_store::{ConnectionRef, ConnectionStatus, RunStatus};

use crate::output;
use crate::settings::Settings;
use crate::wiring;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The connection to sync: its id or the portal's hub id.
    #[arg(long, short, required_unless_present = "all", conflicts_with = "all")]
    connection: Option<String>,
    /// Every active connection (what a scheduler runs).
    #[arg(long)]
    all: bool,
    /// Read every record, not only those modified since the last successful run.
    #[arg(long)]
    full: bool,
    /// Only these tables (repeat the flag); default every enabled table.
    #[arg(long = "table", short)]
    tables: Vec<String>,
    /// Wait for the runs to end, printing progress; exit 1 if one failed.
    #[arg(long)]
    wait: bool,
}

pub async fn run(settings: &Settings, args: SyncArgs) -> Result<ExitCode> {
    let tables = args
        .tables
        .iter()
        .map(|name| TableName::parse(name).map_err(|e| anyhow::anyhow!("--table {name:?}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let reference: Option<ConnectionRef> =
        args.connection.as_deref().map(str::parse).transpose()?;
    let key = settings.encryption_key()?;
    let client = wiring::hubspot_client(settings)?;
    let app = wiring::oauth_app(settings, &client)?;
    let pool = wiring::database(settings, "planner", 4).await?;
    let broker = wiring::broker(settings).await?;
    let portals = wiring::portal_clients(client, app, pool.clone(), key);
    let context = PlannerContext {
        pool: pool.clone(),
        broker,
        portals,
        settings: settings.sync.clone(),
    };

    let connections: Vec<ConnectionRef> = match reference {
        Some(reference) => vec![reference],
        None => {
            let mut conn = pool.acquire().await?;
            hubsync_store::list_connections(&mut conn)
                .await?
                .into_iter()
                .filter(|c| c.status == ConnectionStatus::Active)
                .map(|c| ConnectionRef::Id(c.id))
                .collect()
        }
    };
    if connections.is_empty() {
        println!("no active connections to sync");
        return Ok(ExitCode::SUCCESS);
    }

    let kind = if args.full {
        RunKind::Full
    } else {
        RunKind::Incremental
    };
    let mut started = Vec::new();
    let mut any_refused = false;
    let mut failures = Vec::new();
    for connection in connections {
        let request = SyncRequest {
            connection,
            kind,
            tables: tables.clone(),
        };
        match hubsync_planner::plan(&context, request).await {
            Ok(report) => {
                print_plan(&mut std::io::stdout().lock(), &report)?;
                any_refused |= !report.refused.is_empty();
                started.extend(report.run_ids());
            }
            // With --all, one portal's trouble must not stop the others.
            Err(error) if args.all => failures.push(format!("{connection}: {error:#}")),
            Err(error) => return Err(error.into()),
        }
    }
    for failure in &failures {
        eprintln!("hubsync: cannot plan {failure}");
    }

    let mut code = if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if started.is_empty() && any_refused && !args.all {
        // Everything asked for is already running: say so in the exit status too. Not
        // with --all: a scheduler that fires while runs are in flight is doing fine.
        code = ExitCode::from(3);
    }
    if args.wait && !started.is_empty() {
        let stop = wiring::shutdown_on_signals();
        let began = Instant::now();
        let mut last_line = String::new();
        let finished = hubsync_planner::follow(&context, &started, &stop, |progress| {
            let line = progress_line(progress);
            if line != last_line {
                println!("[{:>5.0}s] {line}", began.elapsed().as_secs_f64());
                last_line = line;
            }
        })
        .await?;
        if stop.is_cancelled() {
            bail!("stopped waiting; the runs go on (see `hubsync status`)");
        }
        let failed: Vec<&RunProgress> = finished
            .iter()
            .filter(|run| run.status != RunStatus::Succeeded)
            .collect();
        for run in &finished {
            println!(
                "{} {}: {} records in {} pages{}",
                run.table,
                run.status,
                run.chunks.records,
                run.chunks.pages,
                run.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
        }
        if !failed.is_empty() {
            eprintln!(
                "hubsync: {} run(s) did not succeed; their watermarks stay put. See `hubsync status` and `hubsync requeue`",
                failed.len()
            );
            code = ExitCode::FAILURE;
        }
    }
    let _ = context.broker.close().await;
    Ok(code)
}

fn print_plan(out: &mut impl Write, report: &SyncPlanReport) -> std::io::Result<()> {
    writeln!(
        out,
        "portal {} (connection {}):",
        report.hub_id, report.connection_id
    )?;
    for run in &report.started {
        writeln!(
            out,
            "  {:<12} {} run {} over {} → {} in {} chunk(s)",
            run.table.to_string(),
            run.kind,
            run.run_id,
            output::time(run.window.start()),
            output::time(run.window.end()),
            run.chunks
        )?;
    }
    for skipped in &report.skipped {
        writeln!(
            out,
            "  {:<12} skipped: {}",
            skipped.table.to_string(),
            skipped.reason
        )?;
    }
    if let Some(error) = &report.metadata.views_error {
        writeln!(out, "  warning: the typed views were not rebuilt: {error}")?;
    }
    for refused in &report.refused {
        writeln!(
            out,
            "  {:<12} refused: {refused}",
            refused.table.to_string()
        )?;
    }
    Ok(())
}

/// One line of progress over every run being followed.
fn progress_line(progress: &[RunProgress]) -> String {
    let finished = progress.iter().filter(|run| run.is_finished()).count();
    let records: u64 = progress.iter().map(|run| run.chunks.records).sum();
    let (done, total) = progress.iter().fold((0, 0), |(done, total), run| {
        (
            done + run.chunks.succeeded,
            total + run.chunks.total() - run.chunks.split,
        )
    });
    let failed: u64 = progress.iter().map(|run| run.chunks.failed).sum();
    let mut line = format!(
        "{finished}/{} runs finished, {done}/{total} chunks done, {records} records",
        progress.len()
    );
    if failed > 0 {
        line.push_str(&format!(", {failed} chunk(s) failed"));
    }
    line
}
