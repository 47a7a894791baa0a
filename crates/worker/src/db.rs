//! The worker's use of the store: each function one short unit of work on a pooled
//! connection, and the page transaction that makes a page and the chunk's progress
//! commit together.

use hubsync_core::{ChunkId, ChunkRange, ChunkState, ConnectionId, Field, RunId, TableName};
use hubsync_store::chunks::{self, Chunk, ChunkStart, PageProgress};
use hubsync_store::tables::{self, StoredTable};
use hubsync_store::{AssociationRow, Error, RecordRow, Result, associations, fields, records};
use sqlx::{Acquire, PgConnection, PgPool};

pub(crate) async fn start_chunk(
    pool: &PgPool,
    chunk_id: ChunkId,
    worker_id: &str,
) -> Result<ChunkStart> {
    let mut db = pool.acquire().await?;
    chunks::start_chunk(&mut db, chunk_id, worker_id).await
}

pub(crate) async fn table(
    pool: &PgPool,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Option<StoredTable>> {
    let mut db = pool.acquire().await?;
    tables::get_table(&mut db, connection_id, table).await
}

pub(crate) async fn live_fields(
    pool: &PgPool,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Vec<Field>> {
    let mut db = pool.acquire().await?;
    fields::live_fields(&mut db, connection_id, table).await
}

/// One page and what it moves.
pub(crate) struct PageWrite<'a> {
    pub chunk_id: ChunkId,
    pub run_id: RunId,
    pub connection_id: ConnectionId,
    pub table: &'a TableName,
    pub records: Vec<RecordRow>,
    /// The associations read for the page's records, per joined table.
    pub joins: Vec<(TableName, Vec<AssociationRow>)>,
    /// The highest id written so far in this chunk.
    pub cursor: Option<u64>,
    pub unparsed_values: u64,
    /// The chunk has no more pages: it succeeds with this one.
    pub last: bool,
}

/// What became of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageWritten {
    Written {
        records: u64,
        unparsed_values: u64,
    },
    /// The chunk is no longer running (another copy of the job finished it, or ops
    /// changed it): nothing was written.
    ChunkNotRunning(ChunkState),
}

/// Writes a page in one transaction: the chunk's progress first (its row lock orders
/// concurrent copies of one job, and a chunk no longer running rolls the page back),
/// then the records, then the associations of the records whose upsert applied (an
/// older copy of a record must not replace a newer association set).
pub(crate) async fn write_page(pool: &PgPool, page: PageWrite<'_>) -> Result<PageWritten> {
    let mut db = pool.acquire().await?;
    let mut tx = db.begin().await?;
    if let Some(state) = write_page_in(&mut tx, &page).await? {
        tx.rollback().await?;
        return Ok(PageWritten::ChunkNotRunning(state));
    }
    tx.commit().await?;
    Ok(PageWritten::Written {
        records: page.records.len() as u64,
        unparsed_values: page.unparsed_values,
    })
}

/// What became of a split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SplitWritten {
    /// The page is written on the parent and the children recorded (pending).
    Split(Vec<Chunk>),
    /// The chunk is no longer running: nothing was written.
    ChunkNotRunning(ChunkState),
}

/// Writes the first page of a chunk and splits the chunk, in one transaction: the
/// children start after the page (see `parent_cursor`), so the page that decided the
/// split is not fetched again.
pub(crate) async fn split_with_page(
    pool: &PgPool,
    page: PageWrite<'_>,
    children: &[ChunkRange],
) -> Result<SplitWritten> {
    let mut db = pool.acquire().await?;
    let mut tx = db.begin().await?;
    if let Some(state) = write_page_in(&mut tx, &page).await? {
        tx.rollback().await?;
        return Ok(SplitWritten::ChunkNotRunning(state));
    }
    let children = chunks::split_chunk(&mut tx, page.chunk_id, children).await?;
    tx.commit().await?;
    Ok(SplitWritten::Split(children))
}

/// `Some(state)` when the chunk is not running (the caller rolls back).
async fn write_page_in(tx: &mut PgConnection, page: &PageWrite<'_>) -> Result<Option<ChunkState>> {
    let progress = PageProgress {
        cursor: page.cursor,
        records: page.records.len() as u64,
        unparsed_values: page.unparsed_values,
        last: page.last,
    };
    match chunks::record_page(&mut *tx, page.chunk_id, &progress).await {
        Ok(_) => {}
        Err(Error::ChunkNotRunning { state, .. }) => return Ok(Some(state)),
        Err(error) => return Err(error),
    }
    let applied = records::upsert_records(
        &mut *tx,
        page.connection_id,
        page.table,
        Some(page.run_id),
        &page.records,
    )
    .await?;
    associations::replace_associations(
        &mut *tx,
        page.connection_id,
        page.table,
        &applied,
        &page.joins,
    )
    .await?;
    Ok(None)
}

/// Where a sub-chunk that has written nothing starts: after its parent's cursor. The
/// parent wrote its first page before splitting, and that page held every record of
/// its range up to the cursor, so the children need not read them again.
pub(crate) async fn parent_cursor(pool: &PgPool, chunk: &Chunk) -> Result<Option<u64>> {
    let Some(parent_id) = chunk.parent_id else {
        return Ok(None);
    };
    let mut db = pool.acquire().await?;
    Ok(chunks::get_chunk(&mut db, parent_id)
        .await?
        .and_then(|parent| parent.cursor))
}

/// Records the children of a chunk and marks it split; for a chunk that already split,
/// returns its existing children.
pub(crate) async fn split_chunk(
    pool: &PgPool,
    chunk_id: ChunkId,
    children: &[ChunkRange],
) -> Result<Vec<Chunk>> {
    let mut db = pool.acquire().await?;
    chunks::split_chunk(&mut db, chunk_id, children).await
}

pub(crate) async fn mark_published(pool: &PgPool, chunk_ids: &[ChunkId]) -> Result<()> {
    if chunk_ids.is_empty() {
        return Ok(());
    }
    let mut db = pool.acquire().await?;
    chunks::mark_chunks_published(&mut db, chunk_ids).await?;
    Ok(())
}

pub(crate) async fn fail_chunk(pool: &PgPool, chunk_id: ChunkId, error: &str) -> Result<()> {
    let mut db = pool.acquire().await?;
    chunks::mark_chunk_failed(&mut db, chunk_id, error).await?;
    Ok(())
}
