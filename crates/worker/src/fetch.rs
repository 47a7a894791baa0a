//! The page loop of a chunk: search from the cursor, split on the first page when the
//! chunk is too big, otherwise write page after page (the next one searched while the
//! current one is written) until the last.

use std::collections::HashMap;

use futures_util::future::try_join_all;
use hubsync_core::search::build_search_request;
use hubsync_core::{ChunkJob, Field, PropertyName, TableName, TableSpec};
use hubsync_hubspot::PortalClient;
use hubsync_queue::CancellationToken;
use hubsync_store::AssociationRow;
use hubsync_store::chunks::Chunk;
use tracing::{debug, info};

use crate::chunk::Attempt;
use crate::db::{self, PageWrite, PageWritten};
use crate::error::ChunkError;
use crate::page::{MappedPage, association_rows, map_page};
use crate::split::{FirstPage, plan_split};
use crate::worker::Worker;

impl Worker {
    pub(crate) async fn fetch(
        &self,
        job: &ChunkJob,
        chunk: &Chunk,
        shutdown: &CancellationToken,
    ) -> Result<Attempt, ChunkError> {
        let table = db::table(&self.pool, job.connection_id, &job.table)
            .await?
            .ok_or_else(|| ChunkError::UnknownTable(job.table.clone()))?;
        let fields = db::live_fields(&self.pool, job.connection_id, &job.table).await?;
        let portal = self.portals.get(job.connection_id).await?;
        let spec = &table.spec;
        let properties = requested_properties(spec, &fields);
        let by_name: HashMap<String, Field> = fields
            .into_iter()
            .map(|field| (field.name.as_str().to_owned(), field))
            .collect();
        let search = |cursor: Option<u64>| {
            let request = build_search_request(
                spec,
                &chunk.range,
                cursor,
                table.custom_query.as_ref(),
                &properties,
                self.settings.page_size,
            );
            let portal = portal.clone();
            let object_type = spec.object_type.clone();
            async move { portal.search_page(&object_type, &request).await }
        };

        // A sub-chunk starts after its parent's first page, which its parent wrote
        // (every record of the parent's range up to that id was on it).
        let mut cursor = match chunk.cursor {
            Some(cursor) => Some(cursor),
            None => db::parent_cursor(&self.pool, chunk).await?,
        };
        let mut page = search(cursor).await?;
        let mut records = chunk.records;
        let mut pages = chunk.pages;
        let mut unparsed_values = 0;
        let mut first = chunk.pages == 0;
        loop {
            let mapped = map_page(spec, &by_name, &chunk.range, &page.results)?;
            if mapped.outside_range > 0 {
                debug!(
                    count = mapped.outside_range,
                    "search returned records outside the chunk's range"
                );
            }
            cursor = cursor.max(mapped.last_id);
            if first {
                first = false;
                let sample = FirstPage {
                    total: page.total,
                    ids: mapped.records.iter().map(|record| record.id).collect(),
                    modified_ms: mapped
                        .records
                        .iter()
                        .map(|record| record.modified_at.timestamp_millis())
                        .collect(),
                };
                if let Some(children) = plan_split(
                    &chunk.range,
                    &sample,
                    self.settings.split_threshold,
                    self.settings.split_max_parts,
                ) {
                    info!(
                        total = page.total,
                        children = children.len(),
                        "chunk too big, splitting"
                    );
                    let page_write = self
                        .prepare_page(job, spec, &portal, mapped, cursor, false)
                        .await?;
                    return match db::split_with_page(&self.pool, page_write, &children).await? {
                        db::SplitWritten::Split(rows) => {
                            self.publish_children(job.run_kind, &rows).await
                        }
                        db::SplitWritten::ChunkNotRunning(state) => {
                            Ok(Attempt::AlreadyDone { state })
                        }
                    };
                }
            }
            let next_cursor = page
                .next_cursor
                .as_deref()
                .and_then(|id| id.parse::<u64>().ok());
            let last = next_cursor.is_none();
            // Write this page while the next one is searched: search has its own rate
            // bucket, so the two overlap without slowing each other.
            let write = async {
                let page_write = self
                    .prepare_page(job, spec, &portal, mapped, cursor, last)
                    .await?;
                Ok::<_, ChunkError>(db::write_page(&self.pool, page_write).await?)
            };
            let prefetch = async {
                match next_cursor {
                    Some(next) => Some(search(Some(next)).await),
                    None => None,
                }
            };
            let (written, next) = tokio::join!(write, prefetch);
            match written? {
                PageWritten::Written {
                    records: written_records,
                    unparsed_values: written_unparsed,
                } => {
                    records += written_records;
                    pages += 1;
                    unparsed_values += written_unparsed;
                }
                PageWritten::ChunkNotRunning(state) => {
                    return Ok(Attempt::AlreadyDone { state });
                }
            }
            let Some(next) = next else {
                return Ok(Attempt::Succeeded {
                    records,
                    pages,
                    unparsed_values,
                });
            };
            // Between pages is the safe point: the page is committed, the cursor moved.
            if shutdown.is_cancelled() {
                return Ok(Attempt::Interrupted);
            }
            page = next?;
        }
    }

    /// Reads the associations of the page's records for each join of the table.
    async fn prepare_page<'a>(
        &self,
        job: &'a ChunkJob,
        spec: &TableSpec,
        portal: &PortalClient,
        mapped: MappedPage,
        cursor: Option<u64>,
        last: bool,
    ) -> Result<PageWrite<'a>, ChunkError> {
        let ids: Vec<String> = mapped.records.iter().map(|r| r.id.to_string()).collect();
        let joins = if ids.is_empty() {
            Vec::new()
        } else {
            try_join_all(spec.joins.iter().map(|join| {
                let ids = &ids;
                async move {
                    let batch = portal
                        .associations(&spec.object_type, &join.to_object_type, ids)
                        .await?;
                    if let Some(first) = batch.errors.first() {
                        return Err(ChunkError::Associations {
                            from: spec.name.clone(),
                            to: join.to_table.clone(),
                            count: batch.errors.len(),
                            first: first
                                .message
                                .clone()
                                .or_else(|| first.category.clone())
                                .unwrap_or_default(),
                        });
                    }
                    let rows = association_rows(&batch.associations)?;
                    Ok::<(TableName, Vec<AssociationRow>), ChunkError>((
                        join.to_table.clone(),
                        rows,
                    ))
                }
            }))
            .await?
        };
        Ok(PageWrite {
            chunk_id: job.chunk_id,
            run_id: job.run_id,
            connection_id: job.connection_id,
            table: &job.table,
            unparsed_values: mapped.unparsed_values,
            records: mapped.records,
            joins,
            cursor,
            last,
        })
    }
}

/// The properties to request: every live field, and the ones the sync itself reads
/// even if their definitions were not stored.
fn requested_properties(spec: &TableSpec, fields: &[Field]) -> Vec<PropertyName> {
    let mut properties: Vec<PropertyName> = fields.iter().map(|field| field.name.clone()).collect();
    properties.extend([
        PropertyName::HS_OBJECT_ID,
        spec.last_modified_property.clone(),
        spec.created_property.clone(),
        spec.name_property.clone(),
    ]);
    properties.extend(spec.currency_property.clone());
    properties
}
