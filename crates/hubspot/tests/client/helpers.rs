//! Shared setup of the client tests.

use std::io::Write;
use std::sync::{Arc, Mutex};

use hubsync_hubspot::{ClientConfig, RateConfig, RetryConfig};
use url::Url;

/// Settings for tests: short timeouts, quick retries, generous rate budget.
pub fn quick_config(base_url: &str) -> ClientConfig {
    ClientConfig {
        base_url: Url::parse(base_url).expect("base url"),
        connect_timeout_ms: 1_000,
        request_timeout_ms: 2_000,
        retry: RetryConfig {
            max_attempts: 4,
            min_delay_ms: 20,
            max_delay_ms: 200,
            max_elapsed_ms: 20_000,
            max_retry_after_ms: 5_000,
        },
        rate: RateConfig {
            standard_max: 1_000,
            standard_interval_ms: 10_000,
            search_max: 100,
            search_interval_ms: 1_000,
            max_concurrency: 16,
        },
        ..ClientConfig::default()
    }
}

/// A record as HubSpot sends it.
pub fn record(id: &str, properties: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "properties": properties,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-06-01T12:00:00.000Z",
        "archived": false
    })
}

/// Collects everything a tracing subscriber writes, to check what logs contain.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
