//! One chunk, from delivery to acknowledgement: start it, fetch it page by page (or
//! split it), write each page with the chunk's progress in one transaction, tell the
//! committer, settle the delivery.

use std::sync::Arc;

use backon::{BackoffBuilder, ExponentialBuilder};
use hubsync_core::{
    ChunkId, ChunkJob, ChunkOutcome, ChunkRange, ChunkState, ChunkStatus, decode_job, encode_job,
    encode_outcome,
};
use hubsync_queue::{CancellationToken, Delivery, OutgoingMessage, Route};
use hubsync_store::chunks::{Chunk, ChunkStart};
use tracing::{Instrument, Span, debug, field, info, info_span, warn};

use crate::db;
use crate::error::{ChunkError, Disposition, disposition};
use crate::worker::Worker;

/// How a delivery ended, for the consume loop.
pub(crate) enum DeliveryEnd {
    /// Acked or dead-lettered.
    Settled,
    /// Shutdown came first: the chunk is unfinished and its delivery must go back to
    /// the queue (after the consumer closed, so the broker redelivers it elsewhere).
    Interrupted(Delivery),
}

/// What one attempt at a chunk came to.
pub(crate) enum Attempt {
    Succeeded {
        records: u64,
        pages: u64,
        unparsed_values: u64,
    },
    Split {
        children: Vec<ChunkId>,
    },
    /// Nothing to do: the chunk had already succeeded or failed, or another copy of
    /// the job finished it meanwhile.
    AlreadyDone {
        state: ChunkState,
    },
    Interrupted,
}

/// Handles one delivery of the chunks queue to the end.
pub(crate) async fn handle(
    worker: Arc<Worker>,
    delivery: Delivery,
    shutdown: CancellationToken,
) -> DeliveryEnd {
    let job = match decode_job(delivery.payload()) {
        Ok(job) => job,
        Err(poison) => {
            // A message this build cannot read will never become readable: park it in
            // the dead-letter queue at once for a human to look at.
            warn!(
                message_id = delivery.message_id().unwrap_or(""),
                error = %poison,
                "poison chunk job, dead-lettering it"
            );
            if let Err(error) = delivery.nack_dead_letter().await {
                warn!(%error, "could not dead-letter a poison job; the broker will redeliver it");
            }
            return DeliveryEnd::Settled;
        }
    };
    let span = info_span!(
        "chunk",
        run_id = %job.run_id,
        connection_id = %job.connection_id,
        table = %job.table,
        chunk_id = %job.chunk_id,
        range = %describe_range(&job.range),
        depth = job.depth,
        redelivered = delivery.redelivered(),
        attempt = field::Empty,
        pages = field::Empty,
        records = field::Empty,
        outcome = field::Empty,
    );
    worker.work(job, delivery, shutdown).instrument(span).await
}

fn describe_range(range: &ChunkRange) -> String {
    match range.ids() {
        None => range.modified().to_string(),
        Some(ids) => format!("{} ids [{}, {})", range.modified(), ids.start(), ids.end()),
    }
}

impl Worker {
    async fn work(
        &self,
        job: ChunkJob,
        delivery: Delivery,
        shutdown: CancellationToken,
    ) -> DeliveryEnd {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.retry_min())
            .with_max_delay(self.settings.retry_max())
            .with_jitter()
            .without_max_times()
            .build();
        // Counted here too, so that an attempt failing before the store could count it
        // (the database is down) still uses one up.
        let mut local_attempts = 0;
        loop {
            local_attempts += 1;
            let (result, stored_attempts) = self.attempt(&job, &shutdown).await;
            let attempts = stored_attempts.max(local_attempts);
            let error = match result {
                Ok(Attempt::Interrupted) => {
                    Span::current().record("outcome", "interrupted");
                    info!("shutting down mid-chunk; it resumes from its cursor elsewhere");
                    return DeliveryEnd::Interrupted(delivery);
                }
                Ok(done) => {
                    self.settle(&job, done, delivery).await;
                    return DeliveryEnd::Settled;
                }
                Err(error) => error,
            };
            if error.needs_reconnect() {
                // The token provider already told the credentials store to mark the
                // connection; forget its client so a reconnect is picked up.
                self.portals.evict(job.connection_id);
            }
            match disposition(&error, attempts, self.settings.max_attempts) {
                Disposition::Retry { after } => {
                    let computed = backoff.next().unwrap_or(self.settings.retry_max());
                    let delay = after.map_or(computed, |hint| hint.max(computed));
                    warn!(
                        error = %error,
                        error_kind = error.kind(),
                        attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        "chunk attempt failed, retrying"
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            Span::current().record("outcome", "interrupted");
                            return DeliveryEnd::Interrupted(delivery);
                        }
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Disposition::Fail => {
                    self.fail(&job, &error, attempts, delivery).await;
                    return DeliveryEnd::Settled;
                }
            }
        }
    }

    /// Acks a chunk that is done, after telling the committer.
    async fn settle(&self, job: &ChunkJob, done: Attempt, delivery: Delivery) {
        let span = Span::current();
        let status = match done {
            Attempt::Succeeded {
                records,
                pages,
                unparsed_values,
            } => {
                span.record("outcome", "succeeded");
                span.record("records", records);
                span.record("pages", pages);
                info!(records, pages, unparsed_values, "chunk succeeded");
                Some(ChunkStatus::Succeeded {
                    records,
                    pages,
                    unparsed_values,
                })
            }
            Attempt::Split { children } => {
                span.record("outcome", "split");
                info!(children = children.len(), "chunk split");
                Some(ChunkStatus::Split { children })
            }
            Attempt::AlreadyDone { state } => {
                span.record("outcome", "already_done");
                debug!(%state, "chunk already done; acknowledging without work");
                None
            }
            Attempt::Interrupted => None,
        };
        if let Some(status) = status {
            self.publish_outcome(job, status).await;
        }
        if let Err(error) = delivery.ack().await {
            // The work is committed; the redelivery will find the chunk done.
            warn!(%error, "could not ack a finished chunk; its redelivery will be a no-op");
        }
    }

    /// Marks the chunk failed, tells the committer and dead-letters the job.
    async fn fail(&self, job: &ChunkJob, error: &ChunkError, attempts: u32, delivery: Delivery) {
        let span = Span::current();
        span.record("outcome", "failed");
        let message = error.to_string();
        warn!(error = %message, error_kind = error.kind(), attempts, "chunk failed, dead-lettering it");
        match db::fail_chunk(&self.pool, job.chunk_id, &message).await {
            Ok(()) => {
                self.publish_outcome(
                    job,
                    ChunkStatus::Failed {
                        error: message,
                        retryable: error.is_retryable(),
                    },
                )
                .await;
            }
            // Without the mark the chunk stays unfinished, so the run holds: the
            // watermark cannot move past it either way.
            Err(store_error) => warn!(error = %store_error, "could not mark the chunk failed"),
        }
        if let Err(error) = delivery.nack_dead_letter().await {
            warn!(%error, "could not dead-letter the chunk; the broker will redeliver it");
        }
    }

    /// Tells the committer; a lost outcome only delays the run's close until the
    /// committer's sweep, so a failure here is logged, not fatal.
    async fn publish_outcome(&self, job: &ChunkJob, status: ChunkStatus) {
        let outcome = ChunkOutcome {
            run_id: job.run_id,
            chunk_id: job.chunk_id,
            connection_id: job.connection_id,
            table: job.table.clone(),
            status,
        };
        let body = encode_outcome(&outcome);
        if let Err(error) = self
            .broker
            .publisher()
            .publish(Route::Outcomes, &job.chunk_id.to_string(), &body)
            .await
        {
            warn!(%error, "could not publish the chunk outcome; the committer's sweep will see it");
        }
    }

    /// One attempt: returns how it ended and the chunk's attempt count.
    async fn attempt(
        &self,
        job: &ChunkJob,
        shutdown: &CancellationToken,
    ) -> (Result<Attempt, ChunkError>, u32) {
        let chunk = match db::start_chunk(&self.pool, job.chunk_id, &self.worker_id).await {
            Ok(ChunkStart::Started(chunk)) => chunk,
            Ok(ChunkStart::AlreadyDone(chunk)) if chunk.state == ChunkState::Split => {
                // Killed between the split's commit and its children's publish: publish
                // the unpublished ones now (consumers are idempotent).
                let attempts = chunk.attempts;
                return (self.republish_children(job, &chunk).await, attempts);
            }
            Ok(ChunkStart::AlreadyDone(chunk)) => {
                return (
                    Ok(Attempt::AlreadyDone { state: chunk.state }),
                    chunk.attempts,
                );
            }
            Ok(ChunkStart::RunCancelled(chunk)) => {
                info!("the chunk's run was cancelled; acknowledging without work");
                return (
                    Ok(Attempt::AlreadyDone { state: chunk.state }),
                    chunk.attempts,
                );
            }
            Err(hubsync_store::Error::ChunkNotFound(_)) => {
                return (Err(ChunkError::UnknownChunk), 0);
            }
            Err(error) => return (Err(error.into()), 0),
        };
        Span::current().record("attempt", chunk.attempts);
        let attempts = chunk.attempts;
        (self.fetch(job, &chunk, shutdown).await, attempts)
    }

    async fn republish_children(
        &self,
        job: &ChunkJob,
        chunk: &Chunk,
    ) -> Result<Attempt, ChunkError> {
        // Splitting a chunk that already split returns its children.
        let rows = db::split_chunk(&self.pool, chunk.id, &[]).await?;
        self.publish_children(job.run_kind, &rows).await
    }

    pub(crate) async fn publish_children(
        &self,
        run_kind: hubsync_core::RunKind,
        rows: &[Chunk],
    ) -> Result<Attempt, ChunkError> {
        let unpublished: Vec<&Chunk> = rows
            .iter()
            .filter(|row| row.state == ChunkState::Pending && row.published_at.is_none())
            .collect();
        let messages: Vec<OutgoingMessage> = unpublished
            .iter()
            .map(|row| OutgoingMessage::new(row.id.to_string(), encode_job(&row.job(run_kind))))
            .collect();
        self.broker
            .publisher()
            .publish_batch(Route::Chunks, &messages)
            .await?;
        let ids: Vec<ChunkId> = unpublished.iter().map(|row| row.id).collect();
        db::mark_published(&self.pool, &ids).await?;
        Ok(Attempt::Split {
            children: rows.iter().map(|row| row.id).collect(),
        })
    }
}
