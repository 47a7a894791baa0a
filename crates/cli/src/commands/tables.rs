//! `hubsync tables`: a connection's tables with their field counts, state and custom
//! query; setting and clearing a table's custom query (validated against the table's
//! fields first, so an invalid query changes nothing); enabling and disabling a table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use hubsync_core::{CustomQuery, TableName};
use hubsync_store::ConnectionRef;

use crate::output;
use crate::settings::Settings;
use crate::wiring;

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// The connection: its id or the portal's hub id.
    #[arg(long, short)]
    connection: String,
    #[command(subcommand)]
    action: Option<TablesAction>,
}

#[derive(Debug, Subcommand)]
enum TablesAction {
    /// Lists the tables (the default).
    List,
    /// Sets a table's custom query, in HubSpot's search-filter syntax: one filter, a
    /// list of filters (ANDed), or {"filterGroups": [...]} (ORed groups).
    SetQuery {
        #[arg(long, short)]
        table: String,
        /// The query as JSON, e.g. '{"propertyName":"dealstage","operator":"IN","values":["contractsent"]}'.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        query: Option<String>,
        /// Reads the query from a file instead.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Removes a table's custom query: the table syncs every record again.
    ClearQuery {
        #[arg(long, short)]
        table: String,
    },
    /// Syncs the table again (tables start enabled).
    Enable {
        #[arg(long, short)]
        table: String,
    },
    /// Stops syncing the table; its data stays.
    Disable {
        #[arg(long, short)]
        table: String,
    },
}

pub async fn run(settings: &Settings, args: TablesArgs) -> Result<ExitCode> {
    let reference: ConnectionRef = args.connection.parse()?;
    let pool = wiring::database(settings, "tables", 2).await?;
    let mut conn = pool.acquire().await?;
    let connection = hubsync_store::resolve_connection(&mut conn, reference).await?;
    let id = connection.id;

    match args.action.unwrap_or(TablesAction::List) {
        TablesAction::List => {
            let statuses = hubsync_store::table_statuses(&mut conn, id).await?;
            output::print_tables(&mut std::io::stdout().lock(), &connection, &statuses)?;
        }
        TablesAction::SetQuery { table, query, file } => {
            let table = parse_table(&table)?;
            let text = match (query, file) {
                (Some(query), _) => query,
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                (None, None) => bail!("give --query or --file"),
            };
            hubsync_store::require_table(&mut conn, id, &table).await?;
            let fields = hubsync_store::live_fields(&mut conn, id, &table).await?;
            if fields.is_empty() {
                bail!(
                    "the fields of {table} are not known yet, so the query cannot be checked: run `hubsync sync --connection {}` once first",
                    connection.hub_id
                );
            }
            let parsed = CustomQuery::parse(&text, Some(&fields))
                .map_err(|error| anyhow!("query refused, nothing changed: {error}"))?;
            hubsync_store::set_custom_query(&mut conn, id, &table, Some(&parsed)).await?;
            println!("{table}: custom query set; the next sync reads only matching records");
            println!(
                "records already stored that no longer match stay; run `hubsync sync --connection {} --table {table} --full` to re-read the table",
                connection.hub_id
            );
        }
        TablesAction::ClearQuery { table } => {
            let table = parse_table(&table)?;
            hubsync_store::require_table(&mut conn, id, &table).await?;
            hubsync_store::set_custom_query(&mut conn, id, &table, None).await?;
            println!(
                "{table}: custom query cleared; run `hubsync sync --connection {} --table {table} --full` to read the records it filtered out",
                connection.hub_id
            );
        }
        TablesAction::Enable { table } => {
            let table = parse_table(&table)?;
            hubsync_store::set_table_enabled(&mut conn, id, &table, true).await?;
            println!("{table}: enabled");
        }
        TablesAction::Disable { table } => {
            let table = parse_table(&table)?;
            hubsync_store::set_table_enabled(&mut conn, id, &table, false).await?;
            println!("{table}: disabled; its data stays, the planner skips it");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_table(text: &str) -> Result<TableName> {
    TableName::parse(text).map_err(|error| anyhow!("--table {text:?}: {error}"))
}
