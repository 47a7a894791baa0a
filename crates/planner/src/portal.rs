//! The HubSpot client of the connection being planned: its token provider (persisting
//! a rotated refresh token) and one rate governor for the whole plan.
//!
//! The worker holds the same shape in a per-process cache; requests-lead.md #1
//! proposes one shared piece in hubsync-hubspot, after which both copies go.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use hubsync_core::ConnectionId;
use hubsync_hubspot::{PortalClient, RefreshToken, RefreshTokenListener, TokenProvider};
use hubsync_store::connections::{self, Connection, ConnectionStatus};
use hubsync_store::{EncryptionKey, ExposeSecret, SecretString};
use sqlx::PgPool;
use tracing::{info, warn};

use crate::PlannerContext;
use crate::error::PlanError;

/// A connection's client and the provider behind it (the planner introspects its
/// access token).
pub(crate) struct Portal {
    pub(crate) client: PortalClient,
    pub(crate) tokens: Arc<TokenProvider>,
}

pub(crate) async fn open(
    context: &PlannerContext,
    connection: &Connection,
) -> Result<Portal, PlanError> {
    let refresh_token = {
        let mut db = context
            .pool
            .acquire()
            .await
            .map_err(hubsync_store::Error::from)?;
        connections::load_refresh_token(&mut db, connection.id, &context.encryption_key).await?
    };
    let tokens = Arc::new(
        context
            .oauth
            .token_provider(RefreshToken::new(refresh_token.expose_secret().to_owned()))
            .with_listener(Arc::new(StoreRotatedToken {
                pool: context.pool.clone(),
                key: Arc::clone(&context.encryption_key),
                connection_id: connection.id,
            })),
    );
    let client = context.hubspot.portal(tokens.clone());
    Ok(Portal { client, tokens })
}

/// Turns HubSpot's refusal of the refresh token into a marked connection and a clear
/// error; other errors pass through.
pub(crate) async fn check_reconnect(
    context: &PlannerContext,
    connection_id: ConnectionId,
    error: PlanError,
) -> PlanError {
    let PlanError::HubSpot(hubsync_hubspot::Error::ReconnectRequired { reason, .. }) = &error
    else {
        return error;
    };
    let reason = reason.clone();
    let marked = async {
        let mut db = context
            .pool
            .acquire()
            .await
            .map_err(hubsync_store::Error::from)?;
        connections::set_connection_status(
            &mut db,
            connection_id,
            ConnectionStatus::ReconnectRequired,
            Some(&format!("hubspot refused the refresh token: {reason}")),
        )
        .await
    };
    if let Err(store_error) = marked.await {
        warn!(%connection_id, error = %store_error, "could not mark the connection reconnect_required");
    }
    PlanError::ReconnectRequired { reason }
}

/// Persists a refresh token HubSpot rotated.
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
