//! Request counters of one client, for benchmarks and tests (exporting them as metrics
//! is the services' job).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// Live counters; read them with [`Stats::snapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) client_errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) transport_errors: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) retries: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP requests sent (every attempt, token requests included).
    pub requests: u64,
    /// 429 answers (and daily-limit answers).
    pub rate_limited: u64,
    /// 5xx, 423, 477 answers.
    pub server_errors: u64,
    /// Other 4xx answers (401 included).
    pub client_errors: u64,
    pub timeouts: u64,
    pub transport_errors: u64,
    /// Successful statuses whose body could not be decoded.
    pub decode_errors: u64,
    /// Attempts made after a failed one.
    pub retries: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: load(&self.requests),
            rate_limited: load(&self.rate_limited),
            server_errors: load(&self.server_errors),
            client_errors: load(&self.client_errors),
            timeouts: load(&self.timeouts),
            transport_errors: load(&self.transport_errors),
            decode_errors: load(&self.decode_errors),
            retries: load(&self.retries),
        }
    }

    /// Counts an error of one attempt and hands it back.
    pub(crate) fn count_error(&self, error: Error) -> Error {
        let counter = match &error {
            Error::RateLimited { .. } | Error::DailyLimit { .. } => &self.rate_limited,
            Error::Server { .. } => &self.server_errors,
            Error::Timeout => &self.timeouts,
            Error::Transport(_) => &self.transport_errors,
            Error::Decode { .. } => &self.decode_errors,
            Error::Unauthorized { .. }
            | Error::ReconnectRequired { .. }
            | Error::MissingScopes { .. }
            | Error::Forbidden { .. }
            | Error::NotFound { .. }
            | Error::BadRequest { .. }
            | Error::UriTooLong { .. }
            | Error::OAuth { .. } => &self.client_errors,
            Error::InvalidRequest(_)
            | Error::Config(_)
            | Error::Protocol(_)
            | Error::Credentials { .. } => return error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        error
    }
}
