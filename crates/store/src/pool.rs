//! Database settings, the connection pool and migrations.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::{Error, Result};

/// `[database]` in the configuration. The URL holds a password, so it is a secret:
/// `Debug` prints `[REDACTED]` instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    /// Size the pool to the role's concurrency (a worker holds one connection per
    /// page transaction).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Shown in `pg_stat_activity`; the CLI sets one per role (`hubsync-worker`, …).
    #[serde(default = "default_application_name")]
    pub application_name: String,
    /// How long to wait for a free connection before failing (retryably).
    #[serde(default = "default_acquire_timeout_secs")]
    pub acquire_timeout_secs: u64,
}

fn default_max_connections() -> u32 {
    10
}

fn default_application_name() -> String {
    "hubsync".to_owned()
}

fn default_acquire_timeout_secs() -> u64 {
    30
}

impl DatabaseSettings {
    /// Settings with defaults for everything but the URL.
    pub fn new(url: SecretString) -> Self {
        Self {
            url,
            max_connections: default_max_connections(),
            application_name: default_application_name(),
            acquire_timeout_secs: default_acquire_timeout_secs(),
        }
    }

    /// The same settings under another `application_name` (one per role).
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// The connect options; the URL's error is reported without the URL itself.
    pub fn connect_options(&self) -> Result<PgConnectOptions> {
        let options = PgConnectOptions::from_str(self.url.expose_secret())
            .map_err(|error| Error::InvalidDatabaseUrl(redacted_reason(&error)))?;
        Ok(options.application_name(&self.application_name))
    }

    fn pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(self.acquire_timeout_secs))
    }
}

/// sqlx's configuration errors may echo parts of the URL; keep only their kind.
fn redacted_reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Configuration(source) => {
            let text = source.to_string();
            if text.contains('@') || text.contains("://") {
                "the url does not parse".to_owned()
            } else {
                text
            }
        }
        _ => "the url does not parse".to_owned(),
    }
}

/// A pool that has opened one connection, so a wrong URL or password fails here,
/// before anything else runs.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool> {
    Ok(settings
        .pool_options()
        .connect_with(settings.connect_options()?)
        .await?)
}

/// Applies the migrations. sqlx holds an advisory lock while migrating, so pods that
/// start together are safe: one migrates, the others wait and find nothing to do.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    crate::MIGRATOR.run(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_setting_is_refused_rather_than_ignored() {
        let settings: DatabaseSettings =
            serde_json::from_value(serde_json::json!({"url": "postgres://h/db"})).unwrap();
        assert_eq!(settings.max_connections, 10);
        let error = serde_json::from_value::<DatabaseSettings>(
            serde_json::json!({"url": "postgres://h/db", "max_conections": 3}),
        )
        .unwrap_err();
        assert!(error.to_string().contains("max_conections"), "{error}");
    }
}
