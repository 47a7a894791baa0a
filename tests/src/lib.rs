//! End-to-end tests across crates: real PostgreSQL, real RabbitMQ, the simulator over
//! HTTP. This library is the shared harness: [`Env`] starts a simulator, creates a
//! database of its own (dropped at the end) and a queue prefix of its own (deleted at
//! the end), registers the simulator's portal as a connection, and runs the roles
//! in-process as tokio tasks through their entry points. [`compare`] checks the store
//! against the simulator's ground truth.
//!
//! `TEST_LOG=1` prints the roles' logs (`RUST_LOG` filters them).

pub mod compare;
pub mod database;
pub mod queue;

use std::collections::BTreeSet;
use std::sync::{Arc, Once};
use std::time::Duration;

use anyhow::Context as _;
use hubspot_sim::{
    GeneratorOptions, InstallRequest, RateLimitConfig, RunningSim, SimConfig, SimControl, Simulator,
};
use hubsync_committer::{CommitterContext, CommitterSettings};
use hubsync_core::{ConnectionId, RunId, RunKind, TableName};
use hubsync_hubspot::{
    ClientConfig, ClientSecret, HubSpotClient, OAuthApp, OAuthConfig, PortalClients, RateConfig,
    RetryConfig,
};
use hubsync_planner::{PlannerContext, PlannerSettings, RunProgress, SyncPlanReport, SyncRequest};
use hubsync_queue::{Broker, CancellationToken};
use hubsync_store::{ConnectionRef, EncryptionKey, NewConnection, RunStatus, SecretString};
use hubsync_worker::{WorkerContext, WorkerSettings};
use sqlx::PgPool;
use tokio::task::JoinHandle;

pub use database::TestDatabase;
pub use queue::TestQueues;

/// Installs a log subscriber once, printing only with `TEST_LOG` set.
pub fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let filter =
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                    "info,hubsync_worker=debug,hubsync_committer=debug,hubsync_planner=debug".into()
                });
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .init();
        }
    });
}

/// What an [`Env`] starts with. The defaults are small and fast: a seeded portal of a
/// few dozen records per table, generous simulated rate limits, short retries, page
/// size 50 so that chunks have several pages.
pub struct EnvOptions {
    pub sim: SimConfig,
    pub planner: PlannerSettings,
    pub worker: WorkerSettings,
    pub committer: CommitterSettings,
    pub client: ClientConfig,
    /// Install the app again with these scopes before connecting (`None`: the portal's
    /// default install, every scope its tier allows).
    pub install: Option<InstallRequest>,
}

impl Default for EnvOptions {
    fn default() -> Self {
        let sim = SimConfig {
            seed: 7,
            records_per_table: 60,
            rate_limits: RateLimitConfig {
                enabled: true,
                max_per_interval: 2_000,
                interval_ms: 10_000,
                search_per_second: 50,
                daily_max: None,
                retry_after: true,
            },
            generator: GeneratorOptions {
                owners: 6,
                archived_owners: 2,
                archived_per_table: 2,
                merges_per_table: 1,
                ..GeneratorOptions::default()
            },
            ..SimConfig::default()
        };
        let client = ClientConfig {
            request_timeout_ms: 10_000,
            retry: RetryConfig {
                max_attempts: 3,
                min_delay_ms: 20,
                max_delay_ms: 200,
                max_elapsed_ms: 5_000,
                max_retry_after_ms: 2_000,
            },
            rate: RateConfig {
                standard_max: 1_800,
                standard_interval_ms: 10_000,
                search_max: 40,
                search_interval_ms: 1_000,
                max_concurrency: 16,
            },
            ..ClientConfig::default()
        };
        Self {
            sim,
            planner: PlannerSettings {
                lookback_secs: 1,
                initial_chunks: 2,
                metadata_concurrency: 4,
                follow_poll_ms: 100,
            },
            worker: WorkerSettings {
                concurrency: 3,
                max_attempts: 3,
                retry_min_ms: 50,
                retry_max_ms: 200,
                shutdown_grace_secs: 10,
                page_size: 50,
                split_threshold: 500,
                split_max_parts: 8,
                worker_id: None,
            },
            committer: CommitterSettings {
                sweep_interval_secs: 1,
            },
            client,
            install: None,
        }
    }
}

/// A role running as a task.
pub struct Role {
    pub name: String,
    stop: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Role {
    /// Asks the role to stop and waits for it (graceful shutdown).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.handle
            .await
            .with_context(|| format!("{} panicked", self.name))?
    }

    /// Kills the role: its task and every task it spawned stop at their next await,
    /// mid-page if that is where they are (a process killed without notice).
    pub async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// One simulator portal connected to its own database and queues, with roles.
pub struct Env {
    pub sim: RunningSim,
    pub hub_id: u64,
    pub db: TestDatabase,
    pub queues: TestQueues,
    pub key: Arc<EncryptionKey>,
    pub hubspot: HubSpotClient,
    pub oauth: OAuthApp,
    pub connection_id: ConnectionId,
    pub planner: PlannerSettings,
    pub worker: WorkerSettings,
    pub committer: CommitterSettings,
    roles: Vec<Role>,
}

impl Env {
    pub async fn start(options: EnvOptions) -> Env {
        init_tracing();
        let sim = Simulator::start(options.sim)
            .await
            .expect("simulator starts");
        let portal = sim.portals().into_iter().next().expect("one portal");
        let (refresh_token, scopes) = match &options.install {
            None => (portal.refresh_token.clone(), portal.scopes.clone()),
            Some(request) => {
                let installed = sim
                    .control()
                    .install(portal.hub_id, request)
                    .expect("install with chosen scopes");
                (installed.refresh_token, installed.scopes)
            }
        };
        let db = TestDatabase::create().await;
        let queues = TestQueues::create().await;
        let key = Arc::new(EncryptionKey::generate().expect("random key"));
        let mut client = options.client;
        client.base_url = url::Url::parse(&sim.base_url()).expect("simulator url");
        let hubspot = HubSpotClient::new(client).expect("hubspot client");
        let oauth = hubspot
            .oauth_app(OAuthConfig::new(
                portal.client_id.clone(),
                ClientSecret::new(portal.client_secret.clone()),
                portal.redirect_uri.clone(),
            ))
            .expect("oauth app");
        let connection = {
            let mut conn = db.pool.acquire().await.expect("connection");
            hubsync_store::upsert_connection(
                &mut conn,
                &NewConnection {
                    hub_id: portal.hub_id,
                    client_id: portal.client_id.clone(),
                    refresh_token: SecretString::from(refresh_token),
                    granted_scopes: scopes.into_iter().collect::<BTreeSet<_>>(),
                    schema_name: None,
                },
                &key,
            )
            .await
            .expect("connection stored")
        };
        Env {
            hub_id: portal.hub_id,
            sim,
            db,
            queues,
            key,
            hubspot,
            oauth,
            connection_id: connection.id,
            planner: options.planner,
            worker: options.worker,
            committer: options.committer,
            roles: Vec::new(),
        }
    }

    pub fn control(&self) -> SimControl {
        self.sim.control()
    }

    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    pub fn broker(&self) -> Broker {
        self.queues.broker.clone()
    }

    /// A fresh cache of portal clients over the store's credentials, as one process
    /// (one role) holds: each role gets its own, like separate pods.
    pub fn portals(&self) -> Arc<PortalClients> {
        hubsync_cli::wiring::portal_clients(
            self.hubspot.clone(),
            self.oauth.clone(),
            self.db.pool.clone(),
            Arc::clone(&self.key),
        )
    }

    pub fn planner_context(&self) -> PlannerContext {
        PlannerContext {
            pool: self.db.pool.clone(),
            broker: self.broker(),
            portals: self.portals(),
            settings: self.planner.clone(),
        }
    }

    /// Starts a worker with the env's settings; returns it (not kept by the env).
    pub fn start_worker(&self, name: &str) -> Role {
        self.start_worker_with(name, self.worker.clone())
    }

    pub fn start_worker_with(&self, name: &str, settings: WorkerSettings) -> Role {
        let settings = WorkerSettings {
            worker_id: Some(name.to_owned()),
            ..settings
        };
        let context = WorkerContext {
            pool: self.db.pool.clone(),
            broker: self.broker(),
            portals: self.portals(),
            settings,
        };
        let stop = CancellationToken::new();
        let handle = tokio::spawn(hubsync_worker::run(context, stop.clone()));
        Role {
            name: name.to_owned(),
            stop,
            handle,
        }
    }

    pub fn start_committer(&self) -> Role {
        let context = CommitterContext {
            pool: self.db.pool.clone(),
            broker: self.broker(),
            settings: self.committer.clone(),
        };
        let stop = CancellationToken::new();
        let handle = tokio::spawn(hubsync_committer::run(context, stop.clone()));
        Role {
            name: "committer".to_owned(),
            stop,
            handle,
        }
    }

    /// Starts `workers` workers and a committer, kept by the env until [`Env::finish`].
    pub fn start_roles(&mut self, workers: usize) {
        for index in 0..workers {
            let worker = self.start_worker(&format!("worker-{index}"));
            self.roles.push(worker);
        }
        let committer = self.start_committer();
        self.roles.push(committer);
    }

    /// Plans a sync of this env's connection.
    pub async fn plan(&self, kind: RunKind, tables: &[TableName]) -> SyncPlanReport {
        hubsync_planner::plan(
            &self.planner_context(),
            SyncRequest {
                connection: ConnectionRef::Id(self.connection_id),
                kind,
                tables: tables.to_vec(),
            },
        )
        .await
        .expect("plan")
    }

    /// Waits until every run has ended, failing after `deadline`.
    pub async fn wait_for_runs(&self, runs: &[RunId], deadline: Duration) -> Vec<RunProgress> {
        let context = self.planner_context();
        let never = CancellationToken::new();
        let mut last = Vec::new();
        let followed = tokio::time::timeout(
            deadline,
            hubsync_planner::follow(&context, runs, &never, |progress| last = progress.to_vec()),
        )
        .await;
        match followed {
            Ok(result) => result.expect("runs readable"),
            Err(_) => panic!("runs did not end within {deadline:?}: {last:#?}"),
        }
    }

    /// Plans, waits for every run, and asserts they all succeeded.
    pub async fn sync(
        &self,
        kind: RunKind,
        tables: &[TableName],
        deadline: Duration,
    ) -> SyncPlanReport {
        let report = self.plan(kind, tables).await;
        assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
        let progress = self.wait_for_runs(&report.run_ids(), deadline).await;
        for run in &progress {
            assert_eq!(
                run.status,
                RunStatus::Succeeded,
                "run of {} did not succeed: {run:?}",
                run.table
            );
        }
        report
    }

    /// Stops the env's roles gracefully, then drops the database, the queues and the
    /// simulator. A test that panics before this leaves cleanup to the guards' drops.
    pub async fn finish(mut self) {
        for role in self.roles.drain(..) {
            let name = role.name.clone();
            if let Err(error) = role.stop().await {
                panic!("{name} ended with an error: {error:#}");
            }
        }
        self.sim.shutdown().await;
        self.db.drop_database().await;
        self.queues.delete().await;
    }
}

/// Polls `check` every 50 ms until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if started.elapsed() > deadline {
            panic!("{what}: not within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
