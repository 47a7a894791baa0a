//! What can stop a chunk, and what the worker does about it.

use std::time::Duration;

use hubsync_core::TableName;

use crate::page::PageError;

/// Why one attempt at a chunk failed.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error(transparent)]
    HubSpot(#[from] hubsync_hubspot::Error),
    #[error("store: {0}")]
    Store(#[from] hubsync_store::Error),
    #[error("queue: {0}")]
    Queue(#[from] hubsync_queue::Error),
    #[error("chunk is not in the store (was the job published for another database?)")]
    UnknownChunk,
    #[error("table {0} of the chunk's connection is not in the store")]
    UnknownTable(TableName),
    #[error(transparent)]
    Page(#[from] PageError),
    #[error("hubspot reported {count} errors reading associations {from} → {to}: {first}")]
    Associations {
        from: TableName,
        to: TableName,
        count: usize,
        first: String,
    },
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try the chunk again in this process after a delay (`None`: computed backoff).
    Retry { after: Option<Duration> },
    /// Mark the chunk failed, tell the committer, dead-letter the job.
    Fail,
}

impl ChunkError {
    /// Whether the same attempt may succeed later: HubSpot or the database being
    /// unavailable, a 429 that outlasted the client's own retries, the broker away.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::HubSpot(error) => error.is_retryable(),
            Self::Store(error) => error.is_retryable(),
            Self::Queue(error) => error.is_retryable(),
            // Per-input errors of an association read are not classified by HubSpot;
            // another attempt is cheap and max_attempts bounds it.
            Self::Associations { .. } => true,
            Self::UnknownChunk | Self::UnknownTable(_) | Self::Page(_) => false,
        }
    }

    /// HubSpot's hint of how long to wait, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::HubSpot(error) => error.retry_after(),
            _ => None,
        }
    }

    /// The portal must be connected again (the token provider has the connection
    /// marked): no other chunk of it can succeed until then.
    pub fn needs_reconnect(&self) -> bool {
        matches!(
            self,
            Self::HubSpot(hubsync_hubspot::Error::ReconnectRequired { .. })
        )
    }

    /// A bounded label for logs (never a message).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::HubSpot(error) => error.kind(),
            Self::Store(_) => "store",
            Self::Queue(_) => "queue",
            Self::UnknownChunk => "unknown_chunk",
            Self::UnknownTable(_) => "unknown_table",
            Self::Page(_) => "bad_page",
            Self::Associations { .. } => "associations",
        }
    }
}

/// Retry while the error may pass and attempts remain; fail otherwise. `attempts` is
/// the chunk's count so far, the failed attempt included, across every delivery.
pub fn disposition(error: &ChunkError, attempts: u32, max_attempts: u32) -> Disposition {
    if error.is_retryable() && attempts < max_attempts {
        Disposition::Retry {
            after: error.retry_after(),
        }
    } else {
        Disposition::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error() -> ChunkError {
        ChunkError::HubSpot(hubsync_hubspot::Error::Server {
            status: 503,
            retry_after: Some(Duration::from_secs(3)),
            correlation_id: None,
        })
    }

    #[test]
    fn transient_errors_retry_until_attempts_run_out() {
        assert_eq!(
            disposition(&server_error(), 1, 3),
            Disposition::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(disposition(&server_error(), 3, 3), Disposition::Fail);
    }

    #[test]
    fn permanent_errors_fail_at_once() {
        let bad_request = ChunkError::HubSpot(hubsync_hubspot::Error::BadRequest {
            status: 400,
            category: Some("VALIDATION_ERROR".into()),
            message: "property x does not exist".into(),
            correlation_id: None,
        });
        assert_eq!(disposition(&bad_request, 1, 5), Disposition::Fail);
        assert_eq!(
            disposition(&ChunkError::UnknownChunk, 1, 5),
            Disposition::Fail
        );
    }

    #[test]
    fn a_dead_refresh_token_asks_for_a_reconnect() {
        let error = ChunkError::HubSpot(hubsync_hubspot::Error::ReconnectRequired {
            reason: "BAD_REFRESH_TOKEN".into(),
            correlation_id: None,
        });
        assert!(error.needs_reconnect());
        assert_eq!(disposition(&error, 1, 5), Disposition::Fail);
        assert!(!server_error().needs_reconnect());
    }
}
