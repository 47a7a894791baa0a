//! Shared setup of the client tests.

use std::io::Write;
use std::sync::{Arc, Mutex};

use hubsync_hubspot::{
    AccessToken, ClientConfig, HubSpotClient, PortalClient, RateConfig, RetryConfig, StaticToken,
};
use url::Url;

/// Settings for tests: short timeouts, quick retries, generous rate budget.
pub fn quick_config(base_url: &str) -> ClientConfig {
    ClientConfig {
        base_url: Url::parse(base_url).expect("base url"),
        connect_timeout_ms: 1_000,
        request_timeout_ms: 2_000,
        retry: RetryConfig {
            max_attempts: 4,
            min_delay_ms: 20,
            max_delay_ms: 200,
            max_elapsed_ms: 20_000,
            max_retry_after_ms: 5_000,
        },
        rate: RateConfig {
            standard_max: 1_000,
            standard_interval_ms: 10_000,
            search_max: 100,
            search_interval_ms: 1_000,
            max_concurrency: 16,
        },
        ..ClientConfig::default()
    }
}

/// A client of a wiremock server, on the quick settings as `adjust` leaves them, and a
/// portal client sending the fixed token `static-token`.
pub fn static_portal(
    server: &wiremock::MockServer,
    adjust: impl FnOnce(&mut ClientConfig),
) -> (HubSpotClient, PortalClient) {
    let mut config = quick_config(&server.uri());
    adjust(&mut config);
    let client = HubSpotClient::new(config).expect("client");
    let portal = client.portal(Arc::new(StaticToken(AccessToken::new(
        "static-token".into(),
    ))));
    (client, portal)
}

/// A record as HubSpot sends it.
pub fn record(id: &str, properties: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "properties": properties,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-06-01T12:00:00.000Z",
        "archived": false
    })
}

/// Collects everything a tracing subscriber writes, to check what logs contain.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A simulator and a client connected to its first portal through OAuth.
pub struct SimPortal {
    pub sim: hubspot_sim::RunningSim,
    pub creds: hubspot_sim::PortalCredentials,
    pub client: hubsync_hubspot::HubSpotClient,
    pub tokens: Arc<hubsync_hubspot::TokenProvider>,
    pub portal: hubsync_hubspot::PortalClient,
}

impl SimPortal {
    pub fn control(&self) -> hubspot_sim::SimControl {
        self.sim.control()
    }

    pub fn hub(&self) -> u64 {
        self.creds.hub_id
    }

    /// The OAuth app of the simulator's portal, for a second token provider.
    pub fn tokens_app(&self) -> hubsync_hubspot::OAuthApp {
        self.client
            .oauth_app(sim_oauth_config(&self.creds))
            .expect("oauth app")
    }
}

/// A small simulator: few records, no rate limits unless a test sets them.
pub fn small_sim_config() -> hubspot_sim::SimConfig {
    hubspot_sim::SimConfig {
        records_per_table: 40,
        rate_limits: hubspot_sim::RateLimitConfig {
            enabled: false,
            ..hubspot_sim::RateLimitConfig::default()
        },
        ..hubspot_sim::SimConfig::default()
    }
}

/// The app registration of a simulator portal, with the simulator's consent page.
pub fn sim_oauth_config(creds: &hubspot_sim::PortalCredentials) -> hubsync_hubspot::OAuthConfig {
    let mut config = hubsync_hubspot::OAuthConfig::new(
        creds.client_id.clone(),
        hubsync_hubspot::ClientSecret::new(creds.client_secret.clone()),
        creds.redirect_uri.clone(),
    );
    config.authorize_url = format!("{}/oauth/authorize", creds.base_url);
    config
}

pub async fn start_sim(
    sim_config: hubspot_sim::SimConfig,
    adjust: impl FnOnce(&mut ClientConfig),
) -> SimPortal {
    let sim = hubspot_sim::Simulator::start(sim_config)
        .await
        .expect("simulator starts");
    let creds = sim.portals().remove(0);
    let mut config = quick_config(&sim.base_url());
    adjust(&mut config);
    let client = hubsync_hubspot::HubSpotClient::new(config).expect("client");
    let app = client
        .oauth_app(sim_oauth_config(&creds))
        .expect("oauth app");
    let tokens = Arc::new(app.token_provider(hubsync_hubspot::RefreshToken::new(
        creds.refresh_token.clone(),
    )));
    let portal = client.portal(tokens.clone());
    SimPortal {
        sim,
        creds,
        client,
        tokens,
        portal,
    }
}
