//! `ConnectionCredentials` over the store, as the CLI builds it for the roles: refresh
//! tokens opened with the encryption key, rotated ones sealed again, a dead one marking
//! the connection, a connection that is not active refused.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use hubsync_core::ConnectionId;
use hubsync_hubspot::{ConnectionCredentials, Error, RefreshToken, Result};
use hubsync_store::{
    ConnectionStatus, EncryptionKey, ExposeSecret, SecretString, get_connection,
    load_refresh_token, set_connection_status, store_refresh_token,
};
use sqlx::PgPool;
use tracing::warn;

/// Credentials kept in the store.
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
    fn refresh_token(&self, connection: ConnectionId) -> BoxFuture<'_, Result<RefreshToken>> {
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
