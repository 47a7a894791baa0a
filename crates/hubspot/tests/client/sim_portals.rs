//! The per-process cache of portal clients, over a credentials store kept in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;
use hubsync_core::ConnectionId;
use hubsync_hubspot::{
    ConnectionCredentials, Error, HubSpotClient, PortalClients, RefreshToken, Result,
};

use crate::helpers::{quick_config, sim_oauth_config, small_sim_config};

#[derive(Default)]
struct MemoryCredentials {
    tokens: Mutex<HashMap<ConnectionId, String>>,
    loads: AtomicUsize,
    reconnects: Mutex<Vec<(ConnectionId, String)>>,
}

impl ConnectionCredentials for MemoryCredentials {
    fn refresh_token(&self, connection: ConnectionId) -> BoxFuture<'_, Result<RefreshToken>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let token = self.tokens.lock().unwrap().get(&connection).cloned();
        Box::pin(async move {
            token.map(RefreshToken::new).ok_or(Error::Credentials {
                message: "no such connection".into(),
                retryable: false,
            })
        })
    }

    fn refresh_token_rotated<'a>(
        &'a self,
        connection: ConnectionId,
        token: &'a RefreshToken,
    ) -> BoxFuture<'a, ()> {
        let token = token.secret().clone();
        self.tokens.lock().unwrap().insert(connection, token);
        Box::pin(async {})
    }

    fn reconnect_required<'a>(
        &'a self,
        connection: ConnectionId,
        reason: &'a str,
    ) -> BoxFuture<'a, ()> {
        self.reconnects
            .lock()
            .unwrap()
            .push((connection, reason.to_owned()));
        Box::pin(async {})
    }
}

#[tokio::test]
async fn one_client_per_connection_and_a_dead_token_is_reported_once() {
    let sim = hubspot_sim::Simulator::start(small_sim_config())
        .await
        .expect("simulator starts");
    let creds = sim.portals().remove(0);
    let client = HubSpotClient::new(quick_config(&sim.base_url())).unwrap();
    let app = client.oauth_app(sim_oauth_config(&creds)).unwrap();
    let credentials = Arc::new(MemoryCredentials::default());
    let connection = ConnectionId::new_random();
    credentials
        .tokens
        .lock()
        .unwrap()
        .insert(connection, creds.refresh_token.clone());
    let portals = PortalClients::new(client, app, credentials.clone());

    // Concurrent first uses end up with one client: one token refresh in all.
    let (a, b) = tokio::join!(portals.get(connection), portals.get(connection));
    a.unwrap().owners(false).await.unwrap();
    b.unwrap().owners(false).await.unwrap();
    portals
        .get(connection)
        .await
        .unwrap()
        .schemas()
        .await
        .unwrap();
    assert!(credentials.loads.load(Ordering::SeqCst) <= 2);
    let oauth_calls = sim.control().counters().requests_of("oauth");
    assert_eq!(oauth_calls, 1, "one refresh served every task");

    // An unknown connection is a credentials error, not retried.
    let unknown = portals.get(ConnectionId::new_random()).await.unwrap_err();
    assert!(
        matches!(
            unknown,
            Error::Credentials {
                retryable: false,
                ..
            }
        ),
        "{unknown:?}"
    );

    // Uninstalled: the first failing refresh marks the connection, with HubSpot's reason.
    sim.control().uninstall(creds.hub_id).unwrap();
    portals.evict(connection);
    let error = portals
        .get(connection)
        .await
        .unwrap()
        .owners(false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ReconnectRequired { .. }),
        "{error:?}"
    );
    let reconnects = credentials.reconnects.lock().unwrap().clone();
    assert_eq!(reconnects.len(), 1, "{reconnects:?}");
    assert_eq!(reconnects[0].0, connection);
    assert_eq!(reconnects[0].1, "BAD_REFRESH_TOKEN");
    sim.shutdown().await;
}
