//! The rate governor: paces one portal's requests under HubSpot's limits.
//!
//! HubSpot counts two budgets per installed portal: a rolling 10-second window for
//! ordinary calls (110 for OAuth apps, reported in `X-HubSpot-RateLimit-*` headers) and
//! a separate per-second bucket for search (5, no headers). [`RateGovernor`] is a trait
//! so that a governor shared by several processes (Postgres, Redis) can replace the
//! in-process [`LocalGovernor`]; the limits are per portal and every pod spends them.
//!
//! HubSpot stamps a request when it arrives, which is some unknown moment between our
//! send and its response. A slot is therefore held from the send until the response
//! (the [`RatePermit`] is dropped) and counted for one window from *then*: never
//! sooner than HubSpot frees it, whatever the network or a loaded CPU adds in between.

mod window;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;

use crate::config::RateConfig;
use crate::error::RateLimitPolicy;
use window::SlidingWindow;

/// Which of HubSpot's budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestClass {
    /// Every call but search: the rolling 10-second window.
    Standard,
    /// `POST …/search`: the per-second search bucket.
    Search,
}

/// What a response told about the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateFeedback {
    /// The `X-HubSpot-RateLimit-*` headers of a response (any status).
    Headers(RateLimitHeaders),
    /// A 429. `retry_after` is the server's hint, when it gave one.
    Rejected {
        policy: RateLimitPolicy,
        retry_after: Option<Duration>,
    },
}

/// HubSpot's rate-limit headers; absent ones are `None` (search sends none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub max: Option<u32>,
    pub remaining: Option<u32>,
    pub interval: Option<Duration>,
}

impl RateLimitHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Self {
            max: number("x-hubspot-ratelimit-max").map(saturate_u32),
            remaining: number("x-hubspot-ratelimit-remaining").map(saturate_u32),
            interval: number("x-hubspot-ratelimit-interval-milliseconds")
                .map(Duration::from_millis),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.max.is_none() && self.remaining.is_none() && self.interval.is_none()
    }
}

fn saturate_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A request's hold on its budget, from [`RateGovernor::acquire`] until the response
/// arrives (or the request fails): drop it then, so the governor starts the slot's
/// window at a moment HubSpot has surely counted the request by.
#[must_use = "the slot is released when the permit is dropped: hold it until the response"]
pub struct RatePermit {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl RatePermit {
    /// A permit that runs `release` when the request is over.
    pub fn new(release: impl FnOnce() + Send + 'static) -> Self {
        Self {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for RatePermit {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl fmt::Debug for RatePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatePermit").finish_non_exhaustive()
    }
}

/// Paces the requests of one portal.
///
/// `acquire` must be awaited right before each request is sent (after any other wait),
/// and its permit held until the response's headers are in; `observe` is called with
/// what each response said. Implementations that cannot reach a shared store should
/// fail open (let the request go): HubSpot's 429 remains the backstop.
pub trait RateGovernor: Send + Sync + 'static {
    /// Waits until a request of this class may be sent, and counts it.
    fn acquire(&self, class: RequestClass) -> BoxFuture<'_, RatePermit>;

    /// Takes in what a response said about the budget of `class`.
    fn observe(&self, class: RequestClass, feedback: &RateFeedback);
}

/// The in-process governor: two rolling windows, adjusted by headers and 429s.
#[derive(Debug)]
pub struct LocalGovernor {
    standard: Arc<SlidingWindow>,
    search: Arc<SlidingWindow>,
}

impl LocalGovernor {
    pub fn new(config: &RateConfig) -> Self {
        Self {
            standard: Arc::new(SlidingWindow::new(
                config.standard_max,
                config.standard_interval(),
            )),
            search: Arc::new(SlidingWindow::new(
                config.search_max,
                config.search_interval(),
            )),
        }
    }

    fn window(&self, class: RequestClass) -> &Arc<SlidingWindow> {
        match class {
            RequestClass::Standard => &self.standard,
            RequestClass::Search => &self.search,
        }
    }
}

impl RateGovernor for LocalGovernor {
    fn acquire(&self, class: RequestClass) -> BoxFuture<'_, RatePermit> {
        Box::pin(SlidingWindow::acquire(self.window(class)))
    }

    fn observe(&self, class: RequestClass, feedback: &RateFeedback) {
        match feedback {
            // HubSpot's headers describe the rolling 10-second window whatever call
            // carried them; search sends none today, and if it ever did they must not
            // stretch the search bucket to ten seconds.
            RateFeedback::Headers(headers) => {
                self.standard
                    .observe_headers(headers.max, headers.remaining, headers.interval)
            }
            // A daily limit is not a pacing problem: the call fails with `DailyLimit`.
            RateFeedback::Rejected {
                policy: RateLimitPolicy::Daily,
                ..
            } => {}
            RateFeedback::Rejected {
                policy,
                retry_after,
            } => {
                // The search bucket rejects with SECONDLY; a SECONDLY 429 on a standard
                // call would come from the (deprecated) secondly limit, which we do not
                // model, so it pauses the window of the call that got it.
                let wait = match (policy, retry_after) {
                    (_, Some(wait)) => Some(*wait),
                    (RateLimitPolicy::Secondly, None) if class == RequestClass::Standard => {
                        Some(Duration::from_secs(1))
                    }
                    _ => None,
                };
                self.window(class).observe_rejection(wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_hubspot_headers() {
        let mut map = HeaderMap::new();
        map.insert("X-HubSpot-RateLimit-Max", HeaderValue::from_static("110"));
        map.insert(
            "X-HubSpot-RateLimit-Remaining",
            HeaderValue::from_static("37"),
        );
        map.insert(
            "X-HubSpot-RateLimit-Interval-Milliseconds",
            HeaderValue::from_static("10000"),
        );
        let headers = RateLimitHeaders::from_headers(&map);
        assert_eq!(
            headers,
            RateLimitHeaders {
                max: Some(110),
                remaining: Some(37),
                interval: Some(Duration::from_secs(10)),
            }
        );
        assert!(RateLimitHeaders::from_headers(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn rate_headers_only_ever_describe_the_standard_window() {
        let governor = LocalGovernor::new(&RateConfig {
            standard_max: 100,
            search_max: 4,
            ..RateConfig::default()
        });
        let headers = RateLimitHeaders {
            max: Some(50),
            remaining: Some(50),
            interval: Some(Duration::from_secs(10)),
        };
        governor.observe(RequestClass::Search, &RateFeedback::Headers(headers));
        assert_eq!(
            governor.search.current_max(),
            4,
            "the search bucket is untouched"
        );
        assert!(
            governor.standard.current_max() < 100,
            "the standard window learned"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn search_and_standard_budgets_are_separate() {
        let governor = LocalGovernor::new(&RateConfig {
            standard_max: 2,
            search_max: 1,
            ..RateConfig::default()
        });
        let start = tokio::time::Instant::now();
        drop(governor.acquire(RequestClass::Search).await);
        drop(governor.acquire(RequestClass::Standard).await);
        drop(governor.acquire(RequestClass::Standard).await);
        assert_eq!(tokio::time::Instant::now(), start);
        drop(governor.acquire(RequestClass::Search).await);
        assert!(tokio::time::Instant::now() - start >= Duration::from_secs(1));
    }
}
