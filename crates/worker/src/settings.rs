//! The worker's knobs, one section of the CLI's layered config. Every field has a
//! default; durations are integers with accessor methods.

use std::time::Duration;

use serde::Deserialize;

/// How a worker process consumes and fetches chunks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Chunks in flight per process; also the consumer's prefetch, so the broker never
    /// parks more chunks on this process than it works on. Every chunk's calls go
    /// through its portal's shared rate governor, so more concurrency than a portal's
    /// budget only queues calls (search: 5/s ≈ 5 chunks' worth).
    pub concurrency: usize,
    /// Attempts of one chunk in this process (each after the HubSpot client exhausted
    /// its own per-call retries) before the chunk is marked failed and dead-lettered.
    pub max_attempts: u32,
    /// First delay between two attempts of a chunk; doubles with jitter up to
    /// `retry_max_ms`. A server hint (`Retry-After`) wins when longer.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// After a shutdown signal, how long in-flight pages may take to finish before
    /// their tasks are dropped (their chunks are redelivered and resume from the cursor).
    pub shutdown_grace_secs: u64,
    /// Records per search page (HubSpot's maximum is 200).
    pub page_size: u32,
    /// A chunk whose first page reports more records than this splits itself instead
    /// of fetching (`worker.split_threshold`).
    pub split_threshold: u64,
    /// Most sub-chunks one split makes; a sub-chunk still too big splits again.
    pub split_max_parts: usize,
    /// Name of this worker in the chunks table; `host/pid` when unset.
    pub worker_id: Option<String>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_attempts: 5,
            retry_min_ms: 1_000,
            retry_max_ms: 60_000,
            shutdown_grace_secs: 30,
            page_size: 200,
            split_threshold: 10_000,
            split_max_parts: 16,
            worker_id: None,
        }
    }
}

/// A value serde accepted but the worker cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid worker setting: {0}")]
pub struct SettingsError(pub String);

impl WorkerSettings {
    /// Checks what serde cannot; called by `run` before anything is consumed.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fail = |message: &str| Err(SettingsError(message.to_owned()));
        if self.concurrency == 0 || self.concurrency > usize::from(u16::MAX) {
            return fail("concurrency must be between 1 and 65535");
        }
        if self.max_attempts == 0 {
            return fail("max_attempts must be at least 1");
        }
        if self.retry_min_ms == 0 || self.retry_min_ms > self.retry_max_ms {
            return fail("retry delays must satisfy 0 < retry_min_ms <= retry_max_ms");
        }
        if !(1..=200).contains(&self.page_size) {
            return fail("page_size must be between 1 and 200");
        }
        if self.split_threshold < u64::from(self.page_size) {
            return fail("split_threshold must be at least page_size");
        }
        if self.split_max_parts < 2 {
            return fail("split_max_parts must be at least 2");
        }
        Ok(())
    }

    pub fn retry_min(&self) -> Duration {
        Duration::from_millis(self.retry_min_ms)
    }

    pub fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The configured worker id, or `host/pid`.
    pub fn worker_id(&self) -> String {
        self.worker_id
            .clone()
            .unwrap_or_else(hubsync_queue::process_label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_table_keeps_the_other_defaults() {
        let settings: WorkerSettings =
            serde_json::from_value(serde_json::json!({"concurrency": 2})).unwrap();
        assert_eq!(settings.concurrency, 2);
        assert_eq!(settings.page_size, 200);
        settings.validate().unwrap();
        assert!(
            serde_json::from_value::<WorkerSettings>(serde_json::json!({"concurency": 2})).is_err()
        );
    }

    #[test]
    fn validation_refuses_what_cannot_run() {
        let cases: [fn(&mut WorkerSettings); 5] = [
            |s| s.concurrency = 0,
            |s| s.max_attempts = 0,
            |s| s.page_size = 201,
            |s| s.split_threshold = 10,
            |s| s.retry_min_ms = s.retry_max_ms + 1,
        ];
        for break_it in cases {
            let mut settings = WorkerSettings::default();
            break_it(&mut settings);
            assert!(settings.validate().is_err(), "{settings:?}");
        }
    }
}
