//! Access tokens for one connection: cached, refreshed before they expire, refreshed
//! by one task at a time however many wait, and refreshed once more when HubSpot
//! rejects one anyway (a clock that drifted, a token revoked early).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use oauth2::{AccessToken, RefreshToken};
use tokio::time::Instant;
use tracing::{info, warn};

use super::{OAuthApp, TokenGrant};
use crate::error::{Error, Result};

/// Where a portal client gets its bearer token.
pub trait TokenSource: Send + Sync + 'static {
    /// A token believed valid now.
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken>>;

    /// HubSpot answered 401 to `rejected`: a replacement to try once, or `None` when
    /// there is none to offer (the 401 then stands).
    fn token_rejected<'a>(
        &'a self,
        rejected: &'a AccessToken,
    ) -> BoxFuture<'a, Result<Option<AccessToken>>>;
}

/// Told what happens to a connection's refresh token, so the store can follow.
pub trait RefreshTokenListener: Send + Sync + 'static {
    /// HubSpot handed out a new refresh token: persist it. HubSpot normally returns
    /// the same one, but whatever comes back must be kept.
    fn refresh_token_rotated<'a>(&'a self, new_token: &'a RefreshToken) -> BoxFuture<'a, ()>;

    /// HubSpot refused the refresh token for good (`reason` is its status, e.g.
    /// `BAD_REFRESH_TOKEN`): mark the connection as needing a reconnect. Called once
    /// per provider; every later call fails with [`Error::ReconnectRequired`] anyway.
    fn reconnect_required<'a>(&'a self, reason: &'a str) -> BoxFuture<'a, ()> {
        let _ = reason;
        Box::pin(std::future::ready(()))
    }
}

/// A fixed token (a private app's, or a test's). It cannot be refreshed.
#[derive(Debug, Clone)]
pub struct StaticToken(pub AccessToken);

impl TokenSource for StaticToken {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }

    fn token_rejected<'a>(
        &'a self,
        _rejected: &'a AccessToken,
    ) -> BoxFuture<'a, Result<Option<AccessToken>>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// Refresh this long before expiry at most…
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// …and at most this share of the lifetime, so short-lived tokens stay usable.
const REFRESH_MARGIN_SHARE: f64 = 0.1;
/// The longest lifetime believed. HubSpot says 1800 s; a far longer `expires_in` is a
/// broken answer, and the token is refreshed after this anyway (a 401 would tell too).
const MAX_TRUSTED_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
struct CachedToken {
    token: AccessToken,
    /// When to stop handing it out and refresh instead.
    refresh_at: Instant,
}

struct RefreshState {
    refresh_token: RefreshToken,
    /// Set once HubSpot refused the refresh token: every later call fails at once
    /// instead of asking again.
    dead: Option<(String, Option<String>)>,
}

/// The OAuth token provider of one connection (one installed portal).
///
/// Cheap reads go through a std mutex around the cached token (never held across an
/// await); refreshes go through a tokio mutex, held across the token request so that
/// one refresh serves every task that was waiting.
pub struct TokenProvider {
    app: OAuthApp,
    cached: Mutex<Option<CachedToken>>,
    refresh: tokio::sync::Mutex<RefreshState>,
    listener: Option<std::sync::Arc<dyn RefreshTokenListener>>,
    refreshes: AtomicU64,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("app", &self.app)
            .field("refreshes", &self.refreshes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// Starts from a stored refresh token; the first call refreshes.
    pub fn new(app: OAuthApp, refresh_token: RefreshToken) -> Self {
        Self {
            app,
            cached: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(RefreshState {
                refresh_token,
                dead: None,
            }),
            listener: None,
            refreshes: AtomicU64::new(0),
        }
    }

    /// Starts from the grant of a code exchange, whose access token is used at once.
    /// `issued_at` is when the token request was sent (an upper bound of its age).
    pub fn from_grant(app: OAuthApp, grant: &TokenGrant, issued_at: Instant) -> Result<Self> {
        let refresh_token = grant.refresh_token.clone().ok_or_else(|| Error::OAuth {
            code: None,
            message: "token response without a refresh token".into(),
        })?;
        let provider = Self::new(app, refresh_token);
        provider.store(grant.access_token.clone(), grant.expires_in, issued_at);
        Ok(provider)
    }

    /// Calls `listener` whenever HubSpot returns a refresh token different from the
    /// one held.
    pub fn with_listener(mut self, listener: std::sync::Arc<dyn RefreshTokenListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// How many refreshes this provider has made (for tests and stats).
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// A token valid for a while yet, refreshing first if needed.
    pub async fn current(&self) -> Result<AccessToken> {
        if let Some(token) = self.fresh_cached(Instant::now()) {
            return Ok(token);
        }
        let mut state = self.refresh.lock().await;
        // Another task may have refreshed while this one waited for the lock.
        if let Some(token) = self.fresh_cached(Instant::now()) {
            return Ok(token);
        }
        self.refresh_locked(&mut state).await
    }

    /// A replacement for a token HubSpot rejected: the one another task already got,
    /// or a new one.
    pub async fn replace(&self, rejected: &AccessToken) -> Result<AccessToken> {
        let mut state = self.refresh.lock().await;
        if let Some(token) = self.fresh_cached(Instant::now())
            && token.secret() != rejected.secret()
        {
            return Ok(token);
        }
        self.refresh_locked(&mut state).await
    }

    fn fresh_cached(&self, now: Instant) -> Option<AccessToken> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.token.clone())
    }

    fn store(&self, token: AccessToken, lifetime: Duration, issued_at: Instant) {
        let lifetime = lifetime.min(MAX_TRUSTED_LIFETIME);
        let margin = MAX_REFRESH_MARGIN.min(lifetime.mul_f64(REFRESH_MARGIN_SHARE));
        let refresh_at = issued_at + lifetime.saturating_sub(margin);
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(CachedToken { token, refresh_at });
    }

    async fn refresh_locked(&self, state: &mut RefreshState) -> Result<AccessToken> {
        if let Some((reason, correlation_id)) = &state.dead {
            return Err(Error::ReconnectRequired {
                reason: reason.clone(),
                correlation_id: correlation_id.clone(),
            });
        }
        let issued_at = Instant::now();
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        match self.app.refresh(&state.refresh_token).await {
            Ok(grant) => {
                if let Some(new_token) = grant.refresh_token.as_ref()
                    && new_token.secret() != state.refresh_token.secret()
                {
                    info!(hub_id = grant.hub_id, "hubspot rotated the refresh token");
                    state.refresh_token = new_token.clone();
                    if let Some(listener) = &self.listener {
                        listener.refresh_token_rotated(new_token).await;
                    }
                }
                self.store(grant.access_token.clone(), grant.expires_in, issued_at);
                Ok(grant.access_token)
            }
            Err(Error::ReconnectRequired {
                reason,
                correlation_id,
            }) => {
                warn!(%reason, "hubspot refused the refresh token; the portal must be reconnected");
                state.dead = Some((reason.clone(), correlation_id.clone()));
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if let Some(listener) = &self.listener {
                    listener.reconnect_required(&reason).await;
                }
                Err(Error::ReconnectRequired {
                    reason,
                    correlation_id,
                })
            }
            Err(other) => Err(other),
        }
    }
}

impl TokenSource for TokenProvider {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(self.current())
    }

    fn token_rejected<'a>(
        &'a self,
        rejected: &'a AccessToken,
    ) -> BoxFuture<'a, Result<Option<AccessToken>>> {
        Box::pin(async move { self.replace(rejected).await.map(Some) })
    }
}
