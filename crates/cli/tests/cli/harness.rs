//! Runs the `hubsync` binary as a user does: a process per command, configured only by
//! `HUBSYNC__…` variables, against the simulator, a database and queues of the test's
//! own.

use std::process::{Output, Stdio};
use std::time::Duration;

use hubspot_sim::{PortalCredentials, RunningSim, SimConfig, Simulator};
use hubsync_e2e::database::{TestDatabase, admin_url};
use hubsync_e2e::queue::{TestQueues, amqp_url};
use hubsync_store::ExposeSecret;
use tokio::process::{Child, Command};

pub const HUBSYNC: &str = env!("CARGO_BIN_EXE_hubsync");

pub struct Harness {
    pub sim: RunningSim,
    pub portal: PortalCredentials,
    pub db: TestDatabase,
    pub queues: TestQueues,
    env: Vec<(String, String)>,
}

/// A small portal without rate limits: these tests are about the command line.
pub fn small_sim() -> SimConfig {
    let mut config = SimConfig {
        records_per_table: 30,
        ..SimConfig::default()
    };
    config.rate_limits.enabled = false;
    config
}

impl Harness {
    pub async fn start(sim: SimConfig) -> Self {
        let sim = Simulator::start(sim).await.expect("simulator starts");
        let portal = sim.portals().remove(0);
        let db = TestDatabase::create().await;
        let queues = TestQueues::create().await;
        let mut database_url = url::Url::parse(&admin_url()).expect("DATABASE_URL");
        database_url.set_path(&db.name);
        let key = hubsync_store::EncryptionKey::generate()
            .expect("random key")
            .to_base64()
            .expose_secret()
            .to_owned();
        let env = vec![
            ("HUBSYNC__DATABASE__URL".into(), database_url.to_string()),
            ("HUBSYNC__AMQP__URL".into(), amqp_url()),
            ("HUBSYNC__AMQP__PREFIX".into(), queues.prefix.clone()),
            ("HUBSYNC__HUBSPOT__BASE_URL".into(), sim.base_url()),
            (
                "HUBSYNC__OAUTH__AUTHORIZE_URL".into(),
                format!("{}/oauth/authorize", sim.base_url()),
            ),
            ("HUBSYNC__OAUTH__CLIENT_ID".into(), portal.client_id.clone()),
            (
                "HUBSYNC__OAUTH__CLIENT_SECRET".into(),
                portal.client_secret.clone(),
            ),
            (
                "HUBSYNC__OAUTH__REDIRECT_URI".into(),
                portal.redirect_uri.clone(),
            ),
            ("HUBSYNC__SECURITY__ENCRYPTION_KEY".into(), key),
            // Fail fast where a test provokes failures.
            ("HUBSYNC__HUBSPOT__RETRY__MAX_ATTEMPTS".into(), "2".into()),
            ("HUBSYNC__HUBSPOT__RETRY__MIN_DELAY_MS".into(), "10".into()),
            ("HUBSYNC__HUBSPOT__REQUEST_TIMEOUT_MS".into(), "5000".into()),
            ("HUBSYNC__WORKER__MAX_ATTEMPTS".into(), "2".into()),
            ("HUBSYNC__SYNC__FOLLOW_POLL_MS".into(), "100".into()),
            ("HUBSYNC__COMMITTER__SWEEP_INTERVAL_SECS".into(), "1".into()),
            (
                "HUBSYNC__LOG__FILTER".into(),
                "info,sqlx=warn,lapin=warn".into(),
            ),
        ];
        Self {
            sim,
            portal,
            db,
            queues,
            env,
        }
    }

    /// Sets (or replaces) a variable of every later command.
    pub fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(key, _)| key != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// The value a variable has for later commands.
    pub fn get(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    /// Removes a variable from every later command.
    pub fn unset(&mut self, name: &str) {
        self.env.retain(|(key, _)| key != name);
    }

    pub fn hub(&self) -> String {
        self.portal.hub_id.to_string()
    }

    /// The command with only our variables: nothing leaks in from the test's own
    /// environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(HUBSYNC);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs a command to its end (two minutes at most).
    pub async fn run(&self, args: &[&str]) -> Run {
        let output = tokio::time::timeout(Duration::from_secs(120), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("hubsync {args:?} did not finish"))
            .expect("hubsync runs");
        Run::from(output)
    }

    /// Starts a long-running command (worker, committer) with its logs discarded.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hubsync starts")
    }

    /// Starts a long-running command whose logs (stderr) go to `log`, at `filter`.
    pub fn spawn_logged(&self, args: &[&str], log: &std::path::Path, filter: &str) -> Child {
        let file = std::fs::File::create(log).expect("log file");
        self.command(args)
            .env("HUBSYNC__LOG__FILTER", filter)
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("hubsync starts")
    }

    /// The secrets every command is given: none may appear in what any prints.
    pub fn secrets(&self) -> Vec<(&'static str, String)> {
        let mut secrets = vec![
            ("refresh token", self.portal.refresh_token.clone()),
            ("client secret", self.portal.client_secret.clone()),
        ];
        for (what, name) in [
            ("encryption key", "HUBSYNC__SECURITY__ENCRYPTION_KEY"),
            ("database url", "HUBSYNC__DATABASE__URL"),
            ("amqp url", "HUBSYNC__AMQP__URL"),
        ] {
            if let Some(value) = self.get(name) {
                secrets.push((what, value));
            }
        }
        // The passwords inside the URLs, as `user:password@`.
        for name in ["HUBSYNC__DATABASE__URL", "HUBSYNC__AMQP__URL"] {
            if let Some(url) = self.get(name).and_then(|url| url::Url::parse(&url).ok())
                && let Some(password) = url.password()
            {
                secrets.push(("a password", format!("{}:{password}@", url.username())));
            }
        }
        secrets
    }

    pub async fn finish(self) {
        self.sim.shutdown().await;
        self.queues.delete().await;
        self.db.drop_database().await;
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panics with everything printed unless the command exited 0.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }

    /// Panics unless the command exited with `code`.
    pub fn failed_with(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "{self:#?}");
        self
    }
}

/// Panics if `text` holds one of `secrets`, or something shaped like a HubSpot access
/// token (the simulator mints `CK` and 254 letters and digits).
pub fn assert_no_secrets(what: &str, text: &str, secrets: &[(&'static str, String)]) {
    for (name, secret) in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} shows the {name}:\n{text}"
        );
    }
    let bytes = text.as_bytes();
    let token_like = bytes.windows(42).any(|window| {
        window.starts_with(b"CK") && window[2..].iter().all(u8::is_ascii_alphanumeric)
    });
    assert!(!token_like, "{what} shows an access token:\n{text}");
}
