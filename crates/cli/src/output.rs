//! Plain-text tables for people at a terminal. Every line is written to the writer
//! given (stdout in the binary), so tests read exactly what a user sees.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use hubsync_core::LeftOut;
use hubsync_queue::QueueDepth;
use hubsync_store::{Chunk, Connection, RunReport, TableStatus};

/// Writes rows as columns padded to their widest cell.
fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> io::Result<()> {
        let mut text = String::new();
        for (index, (cell, width)) in cells.zip(&widths).enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &mut header.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// A timestamp the way logs and PostgreSQL show it, to the second.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "-".to_owned())
}

/// A line of its own, for notes between tables.
pub fn note(out: &mut impl Write, text: &str) -> io::Result<()> {
    writeln!(out, "{text}")
}

pub fn print_connections(out: &mut impl Write, connections: &[Connection]) -> io::Result<()> {
    if connections.is_empty() {
        return writeln!(out, "no connections: run `hubsync connect` first");
    }
    let rows: Vec<Vec<String>> = connections
        .iter()
        .map(|c| {
            vec![
                c.hub_id.to_string(),
                c.id.to_string(),
                c.schema_name.to_string(),
                c.status.to_string(),
                c.status_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        out,
        &["HUB ID", "CONNECTION", "SCHEMA", "STATUS", "REASON"],
        &rows,
    )?;
    writeln!(out)
}

/// The tables of one connection: whether each syncs (and why not), its counts, its
/// watermark, its custom query and its last run.
pub fn print_tables(
    out: &mut impl Write,
    connection: &Connection,
    tables: &[TableStatus],
) -> io::Result<()> {
    writeln!(
        out,
        "connection {} (hub {}), views in schema {}, status {}{}",
        connection.id,
        connection.hub_id,
        connection.schema_name,
        connection.status,
        connection
            .status_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    )?;
    let rows: Vec<Vec<String>> = tables
        .iter()
        .map(|status| {
            let stored = &status.table;
            let state = if !stored.available {
                format!(
                    "skipped: {}",
                    stored.skip_reason.as_deref().unwrap_or("not available")
                )
            } else if !stored.enabled {
                "disabled".to_owned()
            } else {
                "syncs".to_owned()
            };
            let last_run = status
                .last_run
                .as_ref()
                .map(|report| format!("{} {}", report.run.kind, report.run.status))
                .unwrap_or_else(|| "-".to_owned());
            vec![
                stored.spec.name.to_string(),
                state,
                status.field_count.to_string(),
                status.record_count.to_string(),
                status.association_count.to_string(),
                optional_time(stored.watermark),
                last_run,
                stored
                    .custom_query
                    .as_ref()
                    .map(|q| q.to_json().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "TABLE",
            "STATE",
            "FIELDS",
            "RECORDS",
            "JOINS",
            "WATERMARK",
            "LAST RUN",
            "CUSTOM QUERY",
        ],
        &rows,
    )?;
    writeln!(out)
}

/// What the catalog left out of the sync and why.
pub fn print_left_out(out: &mut impl Write, left_out: &[LeftOut]) -> io::Result<()> {
    if left_out.is_empty() {
        return Ok(());
    }
    writeln!(out, "not synced:")?;
    for item in left_out {
        writeln!(out, "  {item}")?;
    }
    writeln!(out)
}

pub fn print_runs(out: &mut impl Write, runs: &[RunReport]) -> io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "no runs yet");
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|report| {
            let run = &report.run;
            let chunks = &report.chunks;
            vec![
                run.id.to_string(),
                run.table.to_string(),
                run.kind.to_string(),
                run.status.to_string(),
                format!(
                    "{}/{} done, {} running, {} pending, {} failed",
                    chunks.succeeded,
                    chunks.total() - chunks.split,
                    chunks.running,
                    chunks.pending,
                    chunks.failed
                ),
                chunks.records.to_string(),
                format!("{} → {}", time(run.window.start()), time(run.window.end())),
                time(run.created_at),
            ]
        })
        .collect();
    table(
        out,
        &[
            "RUN", "TABLE", "KIND", "STATUS", "CHUNKS", "RECORDS", "WINDOW", "STARTED",
        ],
        &rows,
    )?;
    writeln!(out)
}

pub fn print_failed_chunks(out: &mut impl Write, chunks: &[Chunk]) -> io::Result<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "failed chunks (they hold their table's watermark; `hubsync requeue --run <RUN>` retries them):"
    )?;
    let rows: Vec<Vec<String>> = chunks
        .iter()
        .map(|chunk| {
            vec![
                chunk.id.to_string(),
                chunk.run_id.to_string(),
                chunk.table.to_string(),
                chunk.attempts.to_string(),
                chunk.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(out, &["CHUNK", "RUN", "TABLE", "ATTEMPTS", "ERROR"], &rows)?;
    writeln!(out)
}

pub fn print_queues(out: &mut impl Write, depths: &[QueueDepth]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = depths
        .iter()
        .map(|d| {
            vec![
                d.queue.clone(),
                d.ready.to_string(),
                d.consumers.to_string(),
            ]
        })
        .collect();
    table(out, &["QUEUE", "READY", "CONSUMERS"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_on_the_widest_cell() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["A", "BB"],
            &[
                vec!["long cell".into(), "x".into()],
                vec!["y".into(), "z".into()],
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A          BB\nlong cell  x\ny          z\n"
        );
    }
}
