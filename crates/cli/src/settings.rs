//! Configuration of every role, loaded once: built-in defaults, then an optional TOML
//! file (`--config`, or `hubsync.toml` in the working directory when present), then
//! environment variables `HUBSYNC__SECTION__KEY` (e.g. `HUBSYNC__DATABASE__URL`).
//!
//! Secrets (database and broker URLs, the OAuth client secret, the encryption key)
//! have no defaults: they come from the environment, and each command checks that the
//! ones it needs are set before it touches anything.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use config::{Config, Environment, File, FileFormat};
use hubsync_hubspot::{ClientConfig, ClientSecret, Introspection, OAuthConfig};
use hubsync_planner::PlannerSettings;
use hubsync_queue::QueueSettings;
use hubsync_store::{DatabaseSettings, EncryptionKey, ExposeSecret, SecretString};
use hubsync_worker::WorkerSettings;
use serde::Deserialize;

use crate::telemetry::LogSettings;

/// The name of the settings file looked for in the working directory.
pub const DEFAULT_FILE: &str = "hubsync.toml";

/// Every section. Unknown keys are errors, so a typo in a variable name is caught
/// instead of silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `None` until `database.url` is given.
    #[serde(default)]
    pub database: Option<DatabaseSettings>,
    /// `None` until `amqp.url` is given.
    #[serde(default)]
    pub amqp: Option<QueueSettings>,
    #[serde(default)]
    pub hubspot: ClientConfig,
    #[serde(default)]
    pub oauth: OAuthSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    #[serde(default)]
    pub sync: PlannerSettings,
    #[serde(default)]
    pub worker: WorkerSettings,
    #[serde(default)]
    pub committer: hubsync_committer::CommitterSettings,
    #[serde(default)]
    pub log: LogSettings,
}

/// The HubSpot app whose installs hubsync uses.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthSettings {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// Where HubSpot sends the browser back after consent; `hubsync connect` listens
    /// on its host and port. Must be registered on the app.
    pub redirect_uri: String,
    /// HubSpot's consent page (the simulator serves `/oauth/authorize`).
    pub authorize_url: String,
    /// Token endpoint path on the API base URL: `/oauth/v1/token` (legacy, until
    /// HubSpot's 2027-02-16 sunset) or `/oauth/v3/token`.
    pub token_path: String,
    /// `v1` (GET /oauth/v1/access-tokens) or `v3` (POST /oauth/v3/token/introspect).
    pub introspection: IntrospectionVersion,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            redirect_uri: "http://localhost:8787/oauth/callback".to_owned(),
            authorize_url: hubsync_hubspot::oauth::HUBSPOT_AUTHORIZE_URL.to_owned(),
            token_path: "/oauth/v1/token".to_owned(),
            introspection: IntrospectionVersion::V1,
        }
    }
}

/// Which introspection endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntrospectionVersion {
    V1,
    V3,
}

/// Keys that protect what hubsync stores.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// 32 random bytes, base64 (`openssl rand -base64 32`): seals the refresh tokens
    /// in the database. Losing it means reconnecting every portal.
    pub encryption_key: Option<SecretString>,
}

impl Settings {
    /// Loads the layers. `file` is required to exist when given; otherwise
    /// `hubsync.toml` is read if present.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        Self::load_from(file, Environment::with_prefix("HUBSYNC").separator("__"))
    }

    /// [`Settings::load`] with the environment source given, for tests.
    pub fn load_from(file: Option<&Path>, environment: Environment) -> Result<Self> {
        let mut builder = Config::builder();
        builder = match file {
            Some(path) => builder.add_source(File::from(path).format(FileFormat::Toml)),
            None => builder.add_source(File::new(DEFAULT_FILE, FileFormat::Toml).required(false)),
        };
        let config = builder
            .add_source(environment.try_parsing(true))
            .build()
            .context("cannot read the settings")?;
        let settings: Settings = config
            .try_deserialize()
            .map_err(|error| anyhow!("invalid settings: {error}{}", variable_hint(&error)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot, before any command writes anything.
    fn validate(&self) -> Result<()> {
        if let Some(amqp) = &self.amqp {
            amqp.validate()
                .map_err(|error| anyhow!("invalid amqp settings: {error}"))?;
        }
        self.sync
            .validate()
            .map_err(|error| anyhow!("invalid sync settings: {error}"))?;
        self.worker
            .validate()
            .map_err(|error| anyhow!("invalid worker settings: {error}"))?;
        if self.hubspot.base_url.cannot_be_a_base() {
            bail!("hubspot.base_url must be an http(s) URL");
        }
        Ok(())
    }

    /// The database settings, or an error naming the variable to set.
    pub fn database(&self) -> Result<&DatabaseSettings> {
        self.database.as_ref().ok_or_else(|| {
            anyhow!("database.url is not set: export HUBSYNC__DATABASE__URL=postgres://user:password@host:5432/db")
        })
    }

    /// The broker settings, or an error naming the variable to set.
    pub fn amqp(&self) -> Result<&QueueSettings> {
        self.amqp.as_ref().ok_or_else(|| {
            anyhow!(
                "amqp.url is not set: export HUBSYNC__AMQP__URL=amqp://user:password@host:5672/%2f"
            )
        })
    }

    /// The key sealing refresh tokens, or an error saying how to make one.
    pub fn encryption_key(&self) -> Result<EncryptionKey> {
        let text = self.security.encryption_key.as_ref().ok_or_else(|| {
            anyhow!(
                "security.encryption_key is not set: export HUBSYNC__SECURITY__ENCRYPTION_KEY=\"$(openssl rand -base64 32)\" and keep it"
            )
        })?;
        EncryptionKey::from_base64(text.expose_secret())
            .map_err(|error| anyhow!("security.encryption_key is unusable: {error}"))
    }

    /// The OAuth app, or an error naming what is missing.
    pub fn oauth_config(&self) -> Result<OAuthConfig> {
        let oauth = &self.oauth;
        let client_id = oauth.client_id.clone().ok_or_else(|| {
            anyhow!("oauth.client_id is not set: export HUBSYNC__OAUTH__CLIENT_ID=<your app's client id>")
        })?;
        let client_secret = oauth.client_secret.as_ref().ok_or_else(|| {
            anyhow!("oauth.client_secret is not set: export HUBSYNC__OAUTH__CLIENT_SECRET=<your app's client secret>")
        })?;
        let mut config = OAuthConfig::new(
            client_id,
            ClientSecret::new(client_secret.expose_secret().to_owned()),
            oauth.redirect_uri.clone(),
        );
        config.authorize_url = oauth.authorize_url.clone();
        config.token_path = oauth.token_path.clone();
        if oauth.introspection == IntrospectionVersion::V3 {
            config.introspection = Introspection::v3();
        }
        Ok(config)
    }
}

/// For a missing key, the variable that sets it: `database.url` → `HUBSYNC__DATABASE__URL`.
fn variable_hint(error: &config::ConfigError) -> String {
    let text = error.to_string();
    let Some(rest) = text.split("missing configuration field \"").nth(1) else {
        return String::new();
    };
    let key = rest.split('"').next().unwrap_or_default();
    format!(
        " (set HUBSYNC__{})",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let source: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Environment::with_prefix("HUBSYNC")
            .separator("__")
            .source(Some(source))
    }

    #[test]
    fn environment_overrides_defaults_and_secrets_are_optional_until_used() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("HUBSYNC__WORKER__CONCURRENCY", "7"),
                ("HUBSYNC__HUBSPOT__BASE_URL", "http://127.0.0.1:8089"),
                ("HUBSYNC__OAUTH__CLIENT_ID", "app-1"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.worker.concurrency, 7);
        assert_eq!(settings.hubspot.base_url.as_str(), "http://127.0.0.1:8089/");
        let missing = settings.database().unwrap_err().to_string();
        assert!(missing.contains("HUBSYNC__DATABASE__URL"), "{missing}");
        let missing = settings.oauth_config().unwrap_err().to_string();
        assert!(
            missing.contains("HUBSYNC__OAUTH__CLIENT_SECRET"),
            "{missing}"
        );
        let missing = settings.encryption_key().unwrap_err().to_string();
        assert!(missing.contains("openssl rand -base64 32"), "{missing}");
    }

    #[test]
    fn a_misspelt_key_is_an_error() {
        let error = Settings::load_from(None, env(&[("HUBSYNC__WORKER__CONCURENCY", "7")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("concurency"), "{error}");
        let error = Settings::load_from(
            None,
            env(&[("HUBSYNC__DATABASE__URLL", "postgres://u:p@db/x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("urll"), "{error}");
        // The field is standard_max: without the underscore it must not fall back to
        // the default budget silently.
        let error =
            Settings::load_from(None, env(&[("HUBSYNC__HUBSPOT__RATE__STANDARDMAX", "50")]))
                .unwrap_err()
                .to_string();
        assert!(error.contains("standardmax"), "{error}");
    }

    #[test]
    fn a_missing_key_names_its_variable() {
        let error = Settings::load_from(None, env(&[("HUBSYNC__AMQP__PREFIX", "x")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("HUBSYNC__AMQP__URL"), "{error}");
    }

    #[test]
    fn secrets_never_print() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("HUBSYNC__DATABASE__URL", "postgres://u:hunter2@db/x"),
                ("HUBSYNC__OAUTH__CLIENT_SECRET", "s3cr3t-value"),
                (
                    "HUBSYNC__SECURITY__ENCRYPTION_KEY",
                    "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleTE=",
                ),
            ]),
        )
        .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("s3cr3t-value"), "{printed}");
        assert!(!printed.contains("a2V5LWtl"), "{printed}");
    }

    #[test]
    fn a_bad_value_is_refused_before_anything_runs() {
        let error = Settings::load_from(None, env(&[("HUBSYNC__AMQP__URL", "http://nope")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("amqp"), "{error}");
        let error = Settings::load_from(None, env(&[("HUBSYNC__WORKER__CONCURRENCY", "many")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("concurrency"), "{error}");
    }
}
