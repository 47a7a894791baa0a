//! Builds the roles' dependencies from [`Settings`]: the database pool, the broker, the
//! HubSpot client, and the per-connection portal clients whose refresh tokens live in
//! the store. This is the one place where the store and the HubSpot client meet, so
//! that neither adapter imports the other.

use std::sync::Arc;

use anyhow::{Context, Result};
use futures_util::future::BoxFuture;
use hubsync_core::ConnectionId;
use hubsync_hubspot::{
    ConnectionCredentials, Error, HubSpotClient, OAuthApp, PortalClients, RefreshToken,
    Result as HubSpotResult,
};
use hubsync_queue::Broker;
use hubsync_store::{
    ConnectionStatus, EncryptionKey, ExposeSecret, SecretString, get_connection,
    load_refresh_token, set_connection_status, store_refresh_token,
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::settings::Settings;

/// A pool for one role; `application_name` shows the role in `pg_stat_activity`.
pub async fn database(settings: &Settings, role: &str, max_connections: u32) -> Result<PgPool> {
    let database = settings
        .database()?
        .clone()
        .with_application_name(format!("hubsync-{role}"));
    let database = hubsync_store::DatabaseSettings {
        max_connections: database.max_connections.max(max_connections),
        ..database
    };
    hubsync_store::connect(&database)
        .await
        .context("cannot connect to PostgreSQL")
}

/// The broker, with the topology declared (idempotent; every role does it at start).
pub async fn broker(settings: &Settings) -> Result<Broker> {
    let broker = Broker::new(settings.amqp()?.clone()).context("invalid amqp settings")?;
    broker
        .declare_topology()
        .await
        .context("cannot declare the RabbitMQ topology")?;
    Ok(broker)
}

/// The process's HubSpot client.
pub fn hubspot_client(settings: &Settings) -> Result<HubSpotClient> {
    HubSpotClient::new(settings.hubspot.clone()).context("cannot build the HubSpot client")
}

/// The HubSpot app the portals were installed with.
pub fn oauth_app(settings: &Settings, client: &HubSpotClient) -> Result<OAuthApp> {
    client
        .oauth_app(settings.oauth_config()?)
        .context("invalid oauth settings")
}

/// Portal clients whose refresh tokens are read from, and rotated into, the store.
/// The key may be shared (the e2e harness builds one cache per role over one key).
pub fn portal_clients(
    client: HubSpotClient,
    app: OAuthApp,
    pool: PgPool,
    key: impl Into<Arc<EncryptionKey>>,
) -> Arc<PortalClients> {
    let credentials = Arc::new(StoreCredentials {
        pool,
        key: key.into(),
    });
    Arc::new(PortalClients::new(client, app, credentials))
}

/// Refresh tokens sealed in `hubsync.connections`: opened with the encryption key,
/// rotated ones sealed again, a dead one marking the connection, a connection that is
/// not active refused (asking HubSpot again would only be refused again).
pub struct StoreCredentials {
    pub pool: PgPool,
    pub key: Arc<EncryptionKey>,
}

fn credentials_error(error: hubsync_store::Error) -> Error {
    Error::Credentials {
        retryable: error.is_retryable(),
        message: error.to_string(),
    }
}

impl ConnectionCredentials for StoreCredentials {
    fn refresh_token(
        &self,
        connection: ConnectionId,
    ) -> BoxFuture<'_, HubSpotResult<RefreshToken>> {
        Box::pin(async move {
            let mut db = self
                .pool
                .acquire()
                .await
                .map_err(|error| credentials_error(error.into()))?;
            let stored = get_connection(&mut db, connection)
                .await
                .map_err(credentials_error)?
                .ok_or_else(|| Error::Credentials {
                    message: format!("connection {connection} is not in the store"),
                    retryable: false,
                })?;
            if stored.status != ConnectionStatus::Active {
                return Err(Error::Credentials {
                    message: format!(
                        "connection {connection} is {}{}",
                        stored.status,
                        stored
                            .status_reason
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ),
                    retryable: false,
                });
            }
            let token = load_refresh_token(&mut db, connection, &self.key)
                .await
                .map_err(credentials_error)?;
            Ok(RefreshToken::new(token.expose_secret().to_owned()))
        })
    }

    fn refresh_token_rotated<'a>(
        &'a self,
        connection: ConnectionId,
        token: &'a RefreshToken,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let token = SecretString::from(token.secret().to_owned());
            let stored = async {
                let mut db = self.pool.acquire().await?;
                store_refresh_token(&mut db, connection, &token, &self.key).await
            };
            if let Err(error) = stored.await {
                warn!(%connection, %error, "could not store a rotated refresh token");
            }
        })
    }

    fn reconnect_required<'a>(
        &'a self,
        connection: ConnectionId,
        reason: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let reason = format!("hubspot refused the refresh token: {reason}");
            let marked = async {
                let mut db = self.pool.acquire().await?;
                set_connection_status(
                    &mut db,
                    connection,
                    ConnectionStatus::ReconnectRequired,
                    Some(&reason),
                )
                .await
            };
            if let Err(error) = marked.await {
                warn!(%connection, %error, "could not mark the connection reconnect_required");
            }
        })
    }
}

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C). A second signal exits at
/// once: the operator has decided not to wait for in-flight work.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutting down: finishing in-flight work (signal again to stop at once)");
        cancel.cancel();
        wait_for_signal().await;
        warn!("second signal: exiting now");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
