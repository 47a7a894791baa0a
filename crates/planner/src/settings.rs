//! The planner's knobs (config section `sync`). Every field has a default; durations
//! are integers with accessor methods.

use std::time::Duration;

use serde::Deserialize;

/// How runs are planned.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerSettings {
    /// An incremental run starts this long before the table's watermark, so a record
    /// modified just before the previous run started, but not yet searchable then
    /// (HubSpot's index lags), is read now.
    pub lookback_secs: u64,
    /// Chunks a run starts with: its window split evenly in time. A chunk that turns
    /// out big splits itself further, by the sample its first page gives (which cuts
    /// where the records are, unlike even cuts of a 50-year window), and every empty
    /// chunk costs a search call from HubSpot's 5-per-second budget, so the default is
    /// one: an incremental run of an unchanged table costs one call.
    pub initial_chunks: usize,
    /// Metadata requests in flight at once (properties of the tables).
    pub metadata_concurrency: usize,
    /// How often `follow` (`sync --wait`) polls the runs' progress.
    pub follow_poll_ms: u64,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        Self {
            lookback_secs: 300,
            initial_chunks: 1,
            metadata_concurrency: 4,
            follow_poll_ms: 1_000,
        }
    }
}

impl PlannerSettings {
    /// Checks what serde cannot, before anything is written.
    pub fn validate(&self) -> Result<(), String> {
        if self.initial_chunks == 0 || self.initial_chunks > 1_000 {
            return Err("sync.initial_chunks must be between 1 and 1000".into());
        }
        if self.metadata_concurrency == 0 {
            return Err("sync.metadata_concurrency must be at least 1".into());
        }
        if self.follow_poll_ms == 0 {
            return Err("sync.follow_poll_ms must be at least 1".into());
        }
        Ok(())
    }

    pub fn lookback(&self) -> Duration {
        Duration::from_secs(self.lookback_secs)
    }

    pub fn follow_poll(&self) -> Duration {
        Duration::from_millis(self.follow_poll_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let settings: PlannerSettings =
            serde_json::from_value(serde_json::json!({"initial_chunks": 2})).unwrap();
        assert_eq!(settings.initial_chunks, 2);
        assert_eq!(settings.lookback(), Duration::from_secs(300));
        settings.validate().unwrap();
        let zero = PlannerSettings {
            initial_chunks: 0,
            ..PlannerSettings::default()
        };
        assert!(zero.validate().is_err());
        assert!(
            serde_json::from_value::<PlannerSettings>(serde_json::json!({"lookback": 1})).is_err()
        );
    }
}
