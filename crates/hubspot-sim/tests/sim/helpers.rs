//! A started simulator with a token and a client, and small request helpers.

use hubspot_sim::{
    PortalCredentials, RateLimitConfig, RunningSim, SimConfig, SimControl, Simulator,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

pub struct TestSim {
    pub sim: RunningSim,
    pub http: reqwest::Client,
    pub portal: PortalCredentials,
    pub token: String,
}

/// A small portal without rate limits, so tests that are not about limits never meet one.
pub fn small_config() -> SimConfig {
    SimConfig {
        records_per_table: 60,
        rate_limits: RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        },
        ..SimConfig::default()
    }
}

pub async fn start() -> TestSim {
    start_with(small_config()).await
}

pub async fn start_with(config: SimConfig) -> TestSim {
    let sim = Simulator::start(config).await.expect("simulator starts");
    let portal = sim.portals().remove(0);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let token = refresh(&http, &portal).await;
    TestSim {
        sim,
        http,
        portal,
        token,
    }
}

/// Exchanges the portal's refresh token for an access token over HTTP.
pub async fn refresh(http: &reqwest::Client, portal: &PortalCredentials) -> String {
    let response = http
        .post(format!("{}/oauth/v1/token", portal.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", portal.client_id.as_str()),
            ("client_secret", portal.client_secret.as_str()),
            ("refresh_token", portal.refresh_token.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

impl TestSim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.portal.base_url, path)
    }

    pub fn control(&self) -> SimControl {
        self.sim.control()
    }

    pub fn hub(&self) -> u64 {
        self.portal.hub_id
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: &str,
    ) -> Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            request = request.json(b);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None, &self.token).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(body), &self.token)
            .await
    }

    /// GET expecting a status, returning the JSON body.
    pub async fn get_json(&self, path: &str, status: u16) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status().as_u16(), status, "GET {path}");
        r.json().await.expect("json body")
    }

    pub async fn post_json(&self, path: &str, body: &Value, status: u16) -> Value {
        let r = self.post(path, body).await;
        let got = r.status().as_u16();
        let text = r.text().await.expect("body");
        assert_eq!(got, status, "POST {path}: {text}");
        serde_json::from_str(&text).expect("json body")
    }

    /// A token with only these scopes.
    pub fn token_with(&self, scopes: &[&str]) -> String {
        self.control()
            .mint_token(
                self.hub(),
                &hubspot_sim::MintRequest {
                    scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
                    lifetime_secs: None,
                },
            )
            .expect("mint")
            .access_token
    }
}

pub fn ids(results: &Value) -> Vec<u64> {
    results
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .expect("id string")
                .parse()
                .expect("numeric id")
        })
        .collect()
}
