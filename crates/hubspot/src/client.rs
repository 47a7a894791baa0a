//! The process-wide client and the per-portal client that sends every API call:
//! concurrency bound, rate governor, bearer token (refreshed once on a 401), timeout,
//! status classification, retries and the tracing span.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::Semaphore;
use tracing::{Instrument, Span, field, info_span};
use url::Url;

use crate::config::ClientConfig;
use crate::error::{Error, RateLimitPolicy, Result, classify_failure, correlation_id_from};
use crate::governor::{LocalGovernor, RateFeedback, RateGovernor, RateLimitHeaders, RequestClass};
use crate::oauth::{OAuthApp, OAuthConfig, TokenSource};
use crate::retry::run_with_retry;
use crate::stats::{Stats, StatsSnapshot};

/// What every portal client of the process shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) http: reqwest::Client,
    pub(crate) config: ClientConfig,
    pub(crate) stats: Stats,
}

/// A response whose headers have arrived; its body is not read yet.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) response: reqwest::Response,
}

impl Shared {
    /// Counts and sends `request` with the configured timeout, and puts the answer's
    /// status and correlation id on the current span. The body is left unread so that a
    /// caller can let go of what the send held (a rate permit) as soon as HubSpot has
    /// answered.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Result<Answer> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .timeout(self.config.request_timeout())
            .send()
            .await
            .map_err(|e| self.stats.count_error(Error::from_reqwest(e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let span = Span::current();
        span.record("status", status.as_u16());
        if let Some(id) = correlation_id_from(&headers) {
            span.record("correlation_id", id.as_str());
        }
        Ok(Answer {
            status,
            headers,
            response,
        })
    }

    /// Reading the body is part of the request: a connection cut mid-body is a
    /// transport error, and the timeout covers it.
    pub(crate) async fn read_body(
        &self,
        response: reqwest::Response,
    ) -> Result<impl Deref<Target = [u8]> + use<>> {
        response
            .bytes()
            .await
            .map_err(|e| self.stats.count_error(Error::from_reqwest(e)))
    }
}

/// The process's HubSpot client: one HTTP connection pool, the settings, the counters.
/// Cheap to clone. Make one per process and derive a [`PortalClient`] per connection.
#[derive(Debug, Clone)]
pub struct HubSpotClient {
    shared: Arc<Shared>,
}

impl HubSpotClient {
    /// Builds the HTTP client (rustls, connect timeout, no Nagle delay) from `config`.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout())
            .tcp_nodelay(true)
            .user_agent(concat!("hubsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("http client: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                config,
                stats: Stats::default(),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// The counters of every request made through this client and its portals.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The OAuth operations of a HubSpot app.
    pub fn oauth_app(&self, config: OAuthConfig) -> Result<OAuthApp> {
        OAuthApp::new(Arc::clone(&self.shared), config)
    }

    /// A client for one portal, paced by an in-process governor built from the
    /// configured rate budget.
    pub fn portal(&self, tokens: Arc<dyn TokenSource>) -> PortalClient {
        let governor = Arc::new(LocalGovernor::new(&self.shared.config.rate));
        self.portal_with_governor(tokens, governor)
    }

    /// A client for one portal, paced by the given governor (e.g. one shared by
    /// several processes). Clone the result to share it among tasks: the governor
    /// and the concurrency bound only work if every task of the portal uses them.
    pub fn portal_with_governor(
        &self,
        tokens: Arc<dyn TokenSource>,
        governor: Arc<dyn RateGovernor>,
    ) -> PortalClient {
        PortalClient {
            shared: Arc::clone(&self.shared),
            tokens,
            governor,
            in_flight: Arc::new(Semaphore::new(
                self.shared.config.rate.max_concurrency.max(1),
            )),
        }
    }
}

/// `base` + the path `prefix` + `segments` (each percent-encoded), keeping any path
/// `base` has (a proxy's prefix).
pub(crate) fn join_url(base: &Url, prefix: &str, segments: &[&str]) -> Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| Error::Config(format!("base url {base} cannot hold a path")))?
        .pop_if_empty()
        .extend(prefix.split('/').filter(|s| !s.is_empty()))
        .extend(segments);
    Ok(url)
}

/// The API family of a call, for tracing and path configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Objects,
    Search,
    Properties,
    Pipelines,
    Schemas,
    Owners,
    Associations,
}

impl Family {
    fn as_str(self) -> &'static str {
        match self {
            Self::Objects => "objects",
            Self::Search => "search",
            Self::Properties => "properties",
            Self::Pipelines => "pipelines",
            Self::Schemas => "schemas",
            Self::Owners => "owners",
            Self::Associations => "associations",
        }
    }

    fn class(self) -> RequestClass {
        match self {
            Self::Search => RequestClass::Search,
            _ => RequestClass::Standard,
        }
    }
}

/// One API request, ready to be sent (and sent again).
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) family: Family,
    pub(crate) url: Url,
    pub(crate) body: Option<Vec<u8>>,
}

impl Call {
    pub(crate) fn get(family: Family, url: Url) -> Self {
        Self {
            method: Method::GET,
            family,
            url,
            body: None,
        }
    }

    pub(crate) fn post_json(
        family: Family,
        url: Url,
        body: &impl serde::Serialize,
    ) -> Result<Self> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidRequest(format!("request body: {e}")))?;
        Ok(Self {
            method: Method::POST,
            family,
            url,
            body: Some(body),
        })
    }
}

/// The client of one installed portal. Clone it to share it among tasks.
#[derive(Clone)]
pub struct PortalClient {
    shared: Arc<Shared>,
    tokens: Arc<dyn TokenSource>,
    governor: Arc<dyn RateGovernor>,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for PortalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalClient")
            .field("base_url", &self.shared.config.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl PortalClient {
    pub(crate) fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// The counters of the process-wide client this portal client came from.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The access token this client sends, refreshed if due: for introspection
    /// ([`crate::OAuthApp::introspect`]), which must use the same token provider so
    /// that a rotated refresh token is never raced by a second one.
    pub async fn access_token(&self) -> Result<oauth2::AccessToken> {
        self.tokens.access_token().await
    }

    /// `base_url` + the family's prefix + `segments` (each percent-encoded).
    pub(crate) fn url(&self, prefix: &str, segments: &[&str]) -> Result<Url> {
        join_url(&self.shared.config.base_url, prefix, segments)
    }

    /// Sends a call with retries, inside one span per call.
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let span = info_span!(
            "hubspot.call",
            method = %call.method,
            family = call.family.as_str(),
            path = call.url.path(),
            status = field::Empty,
            attempt = field::Empty,
            correlation_id = field::Empty,
            error_kind = field::Empty,
        );
        async {
            let result = run_with_retry(&self.shared.config.retry, &self.shared.stats, |attempt| {
                Span::current().record("attempt", attempt);
                self.attempt(call)
            })
            .await;
            if let Err(error) = &result {
                Span::current().record("error_kind", error.kind());
            }
            result
        }
        .instrument(span)
        .await
    }

    /// One attempt; a rejected token is replaced and the request sent once more.
    async fn attempt<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let token = self.tokens.access_token().await?;
        match self.send_once(call, token.secret()).await {
            Err(error) if error.is_token_rejection() => {
                match self.tokens.token_rejected(&token).await? {
                    Some(fresh) => self.send_once(call, fresh.secret()).await,
                    None => Err(error),
                }
            }
            other => other,
        }
    }

    async fn send_once<T: DeserializeOwned>(&self, call: &Call, token: &str) -> Result<T> {
        let shared = &self.shared;
        let class = call.family.class();
        // Wait for a slot in flight first and for the rate budget last, so that no
        // budget is held while waiting for concurrency.
        let _in_flight = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| Error::Config("portal client closed".into()))?;
        let rate_permit = self.governor.acquire(class).await;

        let mut request = shared
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let Answer {
            status,
            headers,
            response,
        } = shared.send(request).await?;
        // HubSpot has counted the request by the time its headers are here.
        drop(rate_permit);
        let rate = RateLimitHeaders::from_headers(&headers);
        if !rate.is_empty() {
            self.governor.observe(class, &RateFeedback::Headers(rate));
        }
        let bytes = shared.read_body(response).await?;

        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                shared.stats.count_error(Error::Decode {
                    status: status.as_u16(),
                    message: e.to_string(),
                    correlation_id: correlation_id_from(&headers),
                })
            });
        }
        let error = classify_failure(status, &headers, &bytes, call.url.as_str().len());
        // The governor holds every task of the portal for a hint; a hint longer than we
        // wait in process is cut to that bound, else one odd header would stall the
        // portal's every call for as long as it says, whatever the timeouts.
        let max_hint = shared.config.retry.max_retry_after();
        let feedback = match &error {
            Error::RateLimited {
                policy,
                retry_after,
                ..
            } => Some(RateFeedback::Rejected {
                policy: policy.clone(),
                retry_after: retry_after.map(|hint| hint.min(max_hint)),
            }),
            Error::DailyLimit { retry_after, .. } => Some(RateFeedback::Rejected {
                policy: RateLimitPolicy::Daily,
                retry_after: retry_after.map(|hint| hint.min(max_hint)),
            }),
            _ => None,
        };
        if let Some(feedback) = feedback {
            self.governor.observe(class, &feedback);
        }
        Err(shared.stats.count_error(error))
    }
}
