//! Starting and stopping a simulator: portal generation, the accept loop (TCP_NODELAY on
//! every socket, connection resets for the fault plan) and graceful shutdown.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::api::{self, ResetConnection};
use crate::auth::AuthStore;
use crate::config::{SimConfig, Tier};
use crate::control::{PortalCredentials, SimControl};
use crate::counters::Counters;
use crate::faults::FaultState;
use crate::generator::{self, PortalSpec};
use crate::state::{Settings, SimState};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("portal generation failed: {0}")]
    Generation(String),
}

/// Entry point of the library.
pub struct Simulator;

/// A simulator serving on a local port. Dropping it stops the server.
pub struct RunningSim {
    state: Arc<SimState>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// How long in-flight requests may finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

impl Simulator {
    /// Generates the portals and serves on 127.0.0.1 with a free port.
    pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Generates the portals and serves on `addr`.
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> Result<RunningSim, SimError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let state = Arc::new(SimState {
            settings: RwLock::new(Settings::from_config(&config)),
            portals: RwLock::new(BTreeMap::new()),
            auth: Mutex::new(AuthStore::default()),
            faults: Mutex::new(FaultState::new(config.faults.clone(), config.seed)),
            counters: Counters::default(),
            base_url: RwLock::new(format!("http://{local}")),
            config,
        });
        let control = SimControl {
            state: state.clone(),
        };
        let generation = {
            let config = state.config.clone();
            tokio::task::spawn_blocking(move || {
                (0..config.portals)
                    .map(|i| {
                        let spec = PortalSpec {
                            seed: config.seed.wrapping_add(i as u64),
                            hub_id: generator::hub_id_for(config.seed, i),
                            records_per_table: config.records_per_table,
                            options: config.generator.clone(),
                        };
                        let tier = config
                            .portal_tiers
                            .get(i)
                            .copied()
                            .unwrap_or(Tier::Enterprise);
                        (generator::generate(&spec), tier)
                    })
                    .collect::<Vec<_>>()
            })
        };
        let portals = generation
            .await
            .map_err(|e| SimError::Generation(e.to_string()))?;
        for (data, tier) in portals {
            control.register(data, tier);
        }
        let (shutdown, rx) = watch::channel(false);
        let router = api::router(state.clone());
        let task = tokio::spawn(serve(listener, router, rx, state.clone()));
        Ok(RunningSim {
            state,
            addr: local,
            shutdown,
            task: Some(task),
        })
    }
}

async fn serve(
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    state: Arc<SimState>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, most likely: retrying at once would spin
                    // the loop while nothing can be accepted anyway.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                // without it every small response of a keep-alive client waits ~40 ms
                // (Nagle); read back and counted, so that a test can prove it is on
                let nodelay = stream.set_nodelay(true).and_then(|()| stream.nodelay());
                state.counters.connection(nodelay.unwrap_or(false));
                let router = router.clone();
                let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                    let router = router.clone();
                    async move {
                        let response = router
                            .oneshot(request.map(axum::body::Body::new))
                            .await
                            .unwrap_or_else(|e: Infallible| match e {});
                        if response.extensions().get::<ResetConnection>().is_some() {
                            // an error from the service makes hyper drop the connection unanswered
                            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault: reset"));
                        }
                        Ok(response)
                    }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

impl RunningSim {
    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        self.state.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The credentials of every portal (the JSON lines the binary prints).
    pub fn portals(&self) -> Vec<PortalCredentials> {
        self.control().portals()
    }

    /// The in-process control handle.
    pub fn control(&self) -> SimControl {
        SimControl {
            state: self.state.clone(),
        }
    }

    /// Stops accepting, lets in-flight requests finish (up to a few seconds) and returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
