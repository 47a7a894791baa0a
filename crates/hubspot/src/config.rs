//! Client settings: where HubSpot lives, which API paths to use, timeouts, retry and
//! rate-limit budgets. Every field has a default that suits a real HubSpot portal, and
//! every struct deserializes from a partial table (`#[serde(default)]`), so the CLI can
//! layer `HUBSYNC__HUBSPOT__…` variables over them. A key no struct has is refused, so
//! a misspelt setting fails loudly instead of leaving its default in place. Durations
//! are integers in `_ms`.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// Settings shared by every portal this process talks to.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Base of every API call: `https://api.hubapi.com` for HubSpot, the simulator's
    /// address in tests.
    pub base_url: Url,
    /// Path prefix of each API family (v3/v4 today, dated versions by configuration).
    pub paths: ApiPaths,
    /// Time allowed to open a TCP/TLS connection.
    pub connect_timeout_ms: u64,
    /// Time allowed for a whole request, body included. A request that hangs past it
    /// is abandoned and counts as a retryable timeout.
    pub request_timeout_ms: u64,
    /// The longest URL a GET may have; longer property lists are split into several
    /// requests (HubSpot answers 414 somewhere between ~8,000 and ~16,000 characters).
    pub max_url_length: usize,
    /// Page size of object lists (HubSpot's maximum is 100).
    pub list_page_size: u32,
    /// Page size of the owners list (100 is the documented safe value).
    pub owners_page_size: u32,
    pub retry: RetryConfig,
    pub rate: RateConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: Url::parse("https://api.hubapi.com").expect("static url is valid"),
            paths: ApiPaths::default(),
            connect_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
            max_url_length: 7_500,
            list_page_size: 100,
            owners_page_size: 100,
            retry: RetryConfig::default(),
            rate: RateConfig::default(),
        }
    }
}

impl ClientConfig {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// The path prefix of each API family. Object paths are built as
/// `{objects}/{objectType}[/batch/read|/search]`, associations as
/// `{associations}/{from}/{to}/batch/read`, and so on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiPaths {
    pub objects: String,
    pub properties: String,
    pub pipelines: String,
    pub schemas: String,
    pub owners: String,
    pub associations: String,
}

impl Default for ApiPaths {
    fn default() -> Self {
        Self {
            objects: "/crm/v3/objects".into(),
            properties: "/crm/v3/properties".into(),
            pipelines: "/crm/v3/pipelines".into(),
            schemas: "/crm-object-schemas/v3/schemas".into(),
            owners: "/crm/v3/owners".into(),
            associations: "/crm/v4/associations".into(),
        }
    }
}

impl ApiPaths {
    /// HubSpot's date-versioned paths, e.g. `dated("2026-03")` gives
    /// `/crm/objects/2026-03`, `/crm/associations/2026-03`, … (same shapes as v3/v4).
    pub fn dated(version: &str) -> Self {
        Self {
            objects: format!("/crm/objects/{version}"),
            properties: format!("/crm/properties/{version}"),
            pipelines: format!("/crm/pipelines/{version}"),
            schemas: format!("/crm-object-schemas/{version}/schemas"),
            owners: format!("/crm/owners/{version}"),
            associations: format!("/crm/associations/{version}"),
        }
    }
}

/// How transient failures are retried (jittered exponential backoff, see `retry`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// The first backoff delay; each next one doubles, plus up to 100 % jitter.
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
    /// No retry starts after this much time spent on one call.
    pub max_elapsed_ms: u64,
    /// A server hint longer than this (a 477 may say a day) is not waited for in
    /// process: the error goes back to the caller, who can reschedule the work.
    pub max_retry_after_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            min_delay_ms: 200,
            max_delay_ms: 10_000,
            max_elapsed_ms: 120_000,
            max_retry_after_ms: 60_000,
        }
    }
}

impl RetryConfig {
    pub fn min_delay(&self) -> Duration {
        Duration::from_millis(self.min_delay_ms)
    }
    pub fn max_delay(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms)
    }
    pub fn max_elapsed(&self) -> Duration {
        Duration::from_millis(self.max_elapsed_ms)
    }
    pub fn max_retry_after(&self) -> Duration {
        Duration::from_millis(self.max_retry_after_ms)
    }
}

/// The budgets of the in-process rate governor, per portal.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Requests allowed per rolling window, before HubSpot's headers say otherwise.
    /// HubSpot allows 110 per 10 s to an OAuth app; 100 leaves headroom for other
    /// processes and clock skew.
    pub standard_max: u32,
    pub standard_interval_ms: u64,
    /// Search requests allowed per search window (HubSpot: 5 per second, no headers).
    pub search_max: u32,
    pub search_interval_ms: u64,
    /// Requests in flight at once, per portal.
    pub max_concurrency: usize,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            standard_max: 100,
            standard_interval_ms: 10_000,
            search_max: 4,
            search_interval_ms: 1_000,
            max_concurrency: 10,
        }
    }
}

impl RateConfig {
    pub fn standard_interval(&self) -> Duration {
        Duration::from_millis(self.standard_interval_ms)
    }
    pub fn search_interval(&self) -> Duration {
        Duration::from_millis(self.search_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_table_keeps_the_other_defaults() {
        let config: ClientConfig = serde_json::from_value(serde_json::json!({
            "base_url": "http://127.0.0.1:9999",
            "max_url_length": 2000,
            "rate": {"search_max": 2},
            "paths": {"objects": "/crm/objects/2026-03"}
        }))
        .unwrap();
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9999/");
        assert_eq!(config.max_url_length, 2000);
        assert_eq!(config.rate.search_max, 2);
        assert_eq!(config.rate.standard_max, 100);
        assert_eq!(config.paths.objects, "/crm/objects/2026-03");
        assert_eq!(config.paths.owners, "/crm/v3/owners");
    }

    #[test]
    fn a_misspelt_key_is_refused() {
        let error = serde_json::from_value::<ClientConfig>(serde_json::json!({
            "rate": {"search_maximum": 2}
        }))
        .unwrap_err();
        assert!(error.to_string().contains("search_maximum"), "{error}");
        for section in ["retry", "paths"] {
            let error = serde_json::from_value::<ClientConfig>(serde_json::json!({
                section: {"nonsense": 1}
            }))
            .unwrap_err();
            assert!(error.to_string().contains("nonsense"), "{section}: {error}");
        }
        assert!(
            serde_json::from_value::<ClientConfig>(serde_json::json!({"base_ur": "x"})).is_err()
        );
    }

    #[test]
    fn dated_paths_follow_hubspot_spelling() {
        let paths = ApiPaths::dated("2026-03");
        assert_eq!(paths.associations, "/crm/associations/2026-03");
        assert_eq!(paths.schemas, "/crm-object-schemas/2026-03/schemas");
    }
}
