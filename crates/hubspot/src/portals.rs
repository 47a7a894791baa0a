//! One [`PortalClient`] per connection per process, built on first use.
//!
//! Every task of a process that talks to one portal must share its token provider (one
//! refresh at a time, one cached token) and its rate governor (HubSpot's limits are per
//! portal), so roles ask this cache instead of building clients themselves. Where the
//! refresh tokens live is not this crate's business: a [`ConnectionCredentials`]
//! implementation (over the store, in the CLI) loads and saves them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use hubsync_core::ConnectionId;
use oauth2::RefreshToken;
use tracing::warn;

use crate::client::{HubSpotClient, PortalClient};
use crate::error::Result;
use crate::oauth::{OAuthApp, RefreshTokenListener, TokenProvider};

/// Where the refresh tokens of connections are kept.
pub trait ConnectionCredentials: Send + Sync + 'static {
    /// The connection's current refresh token. Errors should be
    /// [`Error::Credentials`], retryable when the storage may recover.
    fn refresh_token(&self, connection: ConnectionId) -> BoxFuture<'_, Result<RefreshToken>>;

    /// HubSpot handed out a new refresh token: persist it. Failures are the
    /// implementation's to log; the old token usually keeps working.
    fn refresh_token_rotated<'a>(
        &'a self,
        connection: ConnectionId,
        token: &'a RefreshToken,
    ) -> BoxFuture<'a, ()>;

    /// HubSpot refused the refresh token for good (app uninstalled, token revoked):
    /// record that the portal must be connected again.
    fn reconnect_required<'a>(
        &'a self,
        connection: ConnectionId,
        reason: &'a str,
    ) -> BoxFuture<'a, ()>;
}

/// The process's cache of portal clients, keyed by connection.
pub struct PortalClients {
    client: HubSpotClient,
    app: OAuthApp,
    credentials: Arc<dyn ConnectionCredentials>,
    // A std mutex: held only to read or insert, never across an await.
    cache: Mutex<HashMap<ConnectionId, PortalClient>>,
}

impl std::fmt::Debug for PortalClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalClients")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl PortalClients {
    pub fn new(
        client: HubSpotClient,
        app: OAuthApp,
        credentials: Arc<dyn ConnectionCredentials>,
    ) -> Self {
        Self {
            client,
            app,
            credentials,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The process-wide client (stats, config).
    pub fn client(&self) -> &HubSpotClient {
        &self.client
    }

    /// The OAuth app the tokens belong to.
    pub fn app(&self) -> &OAuthApp {
        &self.app
    }

    /// The connection's client, built on first use from its stored refresh token.
    /// Two tasks asking at once for a new connection may both load the token; only the
    /// first client is kept, so the portal still has one provider and one governor.
    pub async fn get(&self, connection: ConnectionId) -> Result<PortalClient> {
        if let Some(client) = self.cached(connection) {
            return Ok(client);
        }
        let refresh_token = self.credentials.refresh_token(connection).await?;
        let listener = Arc::new(CredentialsListener {
            connection,
            credentials: Arc::clone(&self.credentials),
        });
        let tokens =
            Arc::new(TokenProvider::new(self.app.clone(), refresh_token).with_listener(listener));
        let built = self.client.portal(tokens);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        Ok(cache.entry(connection).or_insert(built).clone())
    }

    /// Forgets a connection's client, so the next [`PortalClients::get`] reloads its
    /// credentials (after a reconnect, or once it is marked for reconnection).
    pub fn evict(&self, connection: ConnectionId) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&connection);
    }

    fn cached(&self, connection: ConnectionId) -> Option<PortalClient> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&connection)
            .cloned()
    }
}

/// Forwards the provider's news about the refresh token to the credentials store, so
/// a rotation is persisted and a dead token marks the connection, once, where the
/// failure is first seen.
struct CredentialsListener {
    connection: ConnectionId,
    credentials: Arc<dyn ConnectionCredentials>,
}

impl RefreshTokenListener for CredentialsListener {
    fn refresh_token_rotated<'a>(&'a self, new_token: &'a RefreshToken) -> BoxFuture<'a, ()> {
        self.credentials
            .refresh_token_rotated(self.connection, new_token)
    }

    fn reconnect_required<'a>(&'a self, reason: &'a str) -> BoxFuture<'a, ()> {
        warn!(connection_id = %self.connection, %reason, "portal must be reconnected");
        self.credentials.reconnect_required(self.connection, reason)
    }
}
