//! One HubSpot client per connection per process: one token provider (so the access
//! token is refreshed once, whatever the number of chunks in flight) and one rate
//! governor (so every chunk of a portal shares its budget), built on first use.
//!
//! The planner holds the same shape; requests-lead.md #1 proposes one shared cache in
//! hubsync-hubspot behind a credentials trait, after which both copies go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use hubsync_core::ConnectionId;
use hubsync_hubspot::{HubSpotClient, OAuthApp, PortalClient, RefreshToken, RefreshTokenListener};
use hubsync_store::EncryptionKey;
use hubsync_store::connections::{self, ConnectionRef, ConnectionStatus};
use hubsync_store::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tracing::{info, warn};

use crate::error::ChunkError;

/// The cache.
pub struct PortalClients {
    pool: PgPool,
    key: Arc<EncryptionKey>,
    hubspot: HubSpotClient,
    oauth: OAuthApp,
    // A std mutex: held only to read or insert, never across an await.
    cache: Mutex<HashMap<ConnectionId, PortalClient>>,
}

impl PortalClients {
    pub fn new(
        pool: PgPool,
        key: Arc<EncryptionKey>,
        hubspot: HubSpotClient,
        oauth: OAuthApp,
    ) -> Self {
        Self {
            pool,
            key,
            hubspot,
            oauth,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client of a connection, built from its stored refresh token the first time.
    /// A connection that is not active is refused (reconnect it, or enable it).
    pub async fn get(&self, connection_id: ConnectionId) -> Result<PortalClient, ChunkError> {
        if let Some(client) = self.cached(connection_id) {
            return Ok(client);
        }
        let mut db = self
            .pool
            .acquire()
            .await
            .map_err(hubsync_store::Error::from)?;
        let connection =
            connections::resolve_connection(&mut db, ConnectionRef::Id(connection_id)).await?;
        if connection.status != ConnectionStatus::Active {
            return Err(ChunkError::ConnectionUnusable {
                status: connection.status.to_string(),
                reason: connection.status_reason,
            });
        }
        let refresh_token =
            connections::load_refresh_token(&mut db, connection_id, &self.key).await?;
        drop(db);
        let provider = self
            .oauth
            .token_provider(RefreshToken::new(refresh_token.expose_secret().to_owned()))
            .with_listener(Arc::new(StoreRotatedToken {
                pool: self.pool.clone(),
                key: Arc::clone(&self.key),
                connection_id,
            }));
        let client = self.hubspot.portal(Arc::new(provider));
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Another task may have built one meanwhile: keep the first, so the portal has
        // one governor.
        Ok(cache.entry(connection_id).or_insert(client).clone())
    }

    fn cached(&self, connection_id: ConnectionId) -> Option<PortalClient> {
        self.cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&connection_id)
            .cloned()
    }

    /// HubSpot refused the connection's refresh token: mark the connection so the
    /// planner stops planning it and `status` says why, and forget the dead client so a
    /// reconnect (a new refresh token) is picked up without a restart.
    pub async fn reconnect_required(&self, connection_id: ConnectionId, reason: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(&connection_id);
        let reason = format!("hubspot refused the refresh token: {reason}");
        let marked = async {
            let mut db = self
                .pool
                .acquire()
                .await
                .map_err(hubsync_store::Error::from)?;
            connections::set_connection_status(
                &mut db,
                connection_id,
                ConnectionStatus::ReconnectRequired,
                Some(&reason),
            )
            .await
        };
        match marked.await {
            Ok(()) => warn!(%connection_id, "connection marked reconnect_required"),
            Err(error) => {
                warn!(%connection_id, %error, "could not mark the connection reconnect_required")
            }
        }
    }
}

/// Persists a refresh token HubSpot rotated, so the next process starts from it.
struct StoreRotatedToken {
    pool: PgPool,
    key: Arc<EncryptionKey>,
    connection_id: ConnectionId,
}

impl RefreshTokenListener for StoreRotatedToken {
    fn refresh_token_rotated<'a>(&'a self, new_token: &'a RefreshToken) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let token = SecretString::from(new_token.secret().to_owned());
            let stored = async {
                let mut db = self
                    .pool
                    .acquire()
                    .await
                    .map_err(hubsync_store::Error::from)?;
                connections::store_refresh_token(&mut db, self.connection_id, &token, &self.key)
                    .await
            };
            match stored.await {
                Ok(()) => {
                    info!(connection_id = %self.connection_id, "stored the rotated refresh token")
                }
                Err(error) => warn!(
                    connection_id = %self.connection_id,
                    %error,
                    "could not store the rotated refresh token; the old one may stop working"
                ),
            }
        })
    }
}
