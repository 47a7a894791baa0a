//! Retrying a call: jittered exponential backoff from `backon`, bounded by attempts and
//! elapsed time, with HubSpot's `Retry-After` overriding the computed delay.
//!
//! Which errors are retried is decided by [`Error::is_retryable`], not here.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;
use tracing::warn;

use crate::config::RetryConfig;
use crate::error::{Error, Result};
use crate::stats::Stats;

/// Runs `attempt` (given the attempt number, from 1) until it succeeds, fails for good,
/// or the retry budget is spent; then returns the last error.
pub(crate) async fn run_with_retry<T, F, Fut>(
    config: &RetryConfig,
    stats: &Stats,
    mut attempt: F,
) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut number = 0u32;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(config.min_delay())
        .with_max_delay(config.max_delay())
        .with_factor(2.0)
        .with_max_times(config.max_attempts.saturating_sub(1) as usize)
        .with_jitter();
    let max_elapsed = config.max_elapsed();
    let max_retry_after = config.max_retry_after();
    (|| {
        number += 1;
        attempt(number)
    })
    .retry(backoff)
    .when(Error::is_retryable)
    .adjust(|error, computed| {
        next_delay(
            error,
            computed,
            started.elapsed(),
            max_elapsed,
            max_retry_after,
        )
    })
    .notify(|error, delay| {
        stats.retries.fetch_add(1, Ordering::Relaxed);
        warn!(
            error = %error,
            error_kind = error.kind(),
            correlation_id = error.correlation_id(),
            retry_in_ms = delay.as_millis() as u64,
            "hubspot call failed; retrying"
        );
    })
    .await
}

/// The wait before the next attempt, or `None` to give up: the backoff is spent, the
/// server asks for longer than we wait in process, or the call would run too long.
fn next_delay(
    error: &Error,
    computed: Option<Duration>,
    elapsed: Duration,
    max_elapsed: Duration,
    max_retry_after: Duration,
) -> Option<Duration> {
    let computed = computed?;
    let delay = match error.retry_after() {
        Some(hint) if hint > max_retry_after => return None,
        Some(hint) => hint,
        None => computed,
    };
    (elapsed + delay <= max_elapsed).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RateLimitPolicy;
    use std::cell::Cell;

    fn quick() -> RetryConfig {
        RetryConfig {
            max_attempts: 4,
            min_delay_ms: 10,
            max_delay_ms: 100,
            max_elapsed_ms: 60_000,
            max_retry_after_ms: 5_000,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_until_success() {
        let stats = Stats::default();
        let calls = Cell::new(0);
        let result = run_with_retry(&quick(), &stats, |n| {
            calls.set(n);
            async move { if n < 3 { Err(Error::Timeout) } else { Ok(n) } }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(stats.snapshot().retries, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let stats = Stats::default();
        let calls = Cell::new(0);
        let result: Result<()> = run_with_retry(&quick(), &stats, |_| {
            calls.set(calls.get() + 1);
            async { Err(Error::Timeout) }
        })
        .await;
        assert!(matches!(result, Err(Error::Timeout)));
        assert_eq!(calls.get(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_tried_once() {
        let stats = Stats::default();
        let calls = Cell::new(0);
        let result: Result<()> = run_with_retry(&quick(), &stats, |_| {
            calls.set(calls.get() + 1);
            async {
                Err(Error::NotFound {
                    message: "gone".into(),
                    correlation_id: None,
                })
            }
        })
        .await;
        assert!(matches!(result, Err(Error::NotFound { .. })));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_overrides_backoff() {
        let stats = Stats::default();
        let start = Instant::now();
        let result = run_with_retry(&quick(), &stats, |n| async move {
            if n == 1 {
                Err(Error::RateLimited {
                    policy: RateLimitPolicy::TenSecondlyRolling,
                    retry_after: Some(Duration::from_secs(3)),
                    correlation_id: None,
                })
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn long_server_hints_are_not_waited_for() {
        let migrating = Error::Server {
            status: 477,
            retry_after: Some(Duration::from_secs(86_400)),
            correlation_id: None,
        };
        let delay = next_delay(
            &migrating,
            Some(Duration::from_millis(10)),
            Duration::ZERO,
            Duration::from_secs(120),
            Duration::from_secs(60),
        );
        assert_eq!(delay, None);
        let delay = next_delay(
            &Error::Timeout,
            Some(Duration::from_secs(5)),
            Duration::from_secs(118),
            Duration::from_secs(120),
            Duration::from_secs(60),
        );
        assert_eq!(delay, None, "would run past the elapsed budget");
    }
}
