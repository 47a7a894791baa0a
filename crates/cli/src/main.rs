//! The `hubsync` binary: one subcommand per role and per ops task.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Copies HubSpot CRM data into PostgreSQL, read-only and incrementally.
#[derive(Debug, Parser)]
#[command(name = "hubsync", version, about, long_about = None)]
struct Cli {
    /// A TOML settings file layered over the defaults (HUBSYNC__… variables override it).
    #[arg(long, global = true, env = "HUBSYNC_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Applies the database migrations (safe to run from several pods at once).
    Migrate,
    /// Registers a HubSpot portal: the OAuth install flow, or an existing refresh token.
    Connect(hubsync_cli::commands::connect::ConnectArgs),
    /// Lists a connection's tables, sets their custom queries, enables or disables them.
    Tables(hubsync_cli::commands::tables::TablesArgs),
    /// Plans a sync of a connection: one run per table, chunks published to the workers.
    Sync(hubsync_cli::commands::sync::SyncArgs),
    /// Runs a worker: fetches chunks from HubSpot and writes them to PostgreSQL.
    Worker(WorkerArgs),
    /// Runs the committer: advances watermarks when every chunk of a run succeeded.
    Committer,
    /// Shows connections, tables, runs and chunks with their states.
    Status(hubsync_cli::commands::status::StatusArgs),
    /// Puts failed or dead-lettered chunks back in the queue.
    Requeue(hubsync_cli::commands::requeue::RequeueArgs),
}

#[derive(Debug, Args)]
struct WorkerArgs {
    /// Chunks in flight in this process (overrides worker.concurrency).
    #[arg(long)]
    concurrency: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match hubsync_cli::settings::Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("hubsync: {error:#}");
            return ExitCode::from(2);
        }
    };
    if let Command::Worker(WorkerArgs {
        concurrency: Some(concurrency),
    }) = &cli.command
    {
        settings.worker.concurrency = *concurrency;
        if let Err(error) = settings.worker.validate() {
            eprintln!("hubsync: --concurrency: {error}");
            return ExitCode::from(2);
        }
    }
    hubsync_cli::telemetry::init(&settings.log);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hubsync: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        use hubsync_cli::commands;
        match cli.command {
            Command::Migrate => commands::migrate::run(&settings).await,
            Command::Connect(args) => commands::connect::run(&settings, args).await,
            Command::Tables(args) => commands::tables::run(&settings, args).await,
            Command::Sync(args) => commands::sync::run(&settings, args).await,
            Command::Worker(_) => commands::roles::worker(&settings).await,
            Command::Committer => commands::roles::committer(&settings).await,
            Command::Status(args) => commands::status::run(&settings, args).await,
            Command::Requeue(args) => commands::requeue::run(&settings, args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hubsync: {error:#}");
            ExitCode::FAILURE
        }
    }
}
