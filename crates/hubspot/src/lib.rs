//! The HubSpot API client: OAuth tokens and refresh, the rate governor, retry
//! classification, typed endpoints and paging. It makes each call correct, cheap and
//! resilient.
//!
//! Must not: know anything of syncing (runs, chunks, watermarks) or of the store.
//!
//! # Layout
//! - [`HubSpotClient`]: one per process (one reqwest client, settings, counters).
//!   [`HubSpotClient::portal`] gives a [`PortalClient`] per installed portal, whose
//!   methods are the endpoints: [`PortalClient::properties`], `pipelines`, `schemas`,
//!   `owners`, `list_objects[_page]`, `batch_read`, `search[_page]`, `associations`.
//! - [`oauth`]: the install URL, code exchange, refresh, introspection
//!   ([`OAuthApp`]) and the per-connection [`TokenProvider`] (cached, refreshed before
//!   expiry, single flight, a dead refresh token is [`Error::ReconnectRequired`]).
//! - [`governor`]: [`RateGovernor`], a trait so a governor shared by several processes
//!   can plug in; [`LocalGovernor`] models HubSpot's rolling 10-second window and the
//!   search bucket and adapts to `X-HubSpot-RateLimit-*` headers and 429s.
//! - [`Error`]: one enum; [`Error::is_retryable`] and [`Error::retry_after`] decide
//!   retries.
//!
//! # Retries
//! Transient failures (429, 5xx, 423, 477, timeouts, connection errors, a success
//! whose body is cut short) are retried with jittered exponential backoff from
//! `backon`, honouring `Retry-After`; permanent ones (400, 401 after a refresh, 403,
//! 404, 414) are not. `backon` replaced `backoff` because `backoff` is unmaintained
//! (RUSTSEC-2025-0012, and its `instant` dependency RUSTSEC-2024-0384).
//!
//! # Secrets
//! Tokens and the client secret live in oauth2's secret types (redacted `Debug`) and
//! travel only in headers and form bodies; spans skip bodies, and transport errors
//! drop their URL (the legacy introspection path holds a token).

mod client;
pub mod config;
pub mod endpoints;
mod error;
pub mod governor;
pub mod oauth;
mod portals;
mod record;
mod retry;
mod stats;

pub use client::{HubSpotClient, PortalClient};
pub use config::{ApiPaths, ClientConfig, RateConfig, RetryConfig};
pub use endpoints::associations::{Association, AssociationBatch, AssociationType};
pub use endpoints::objects::{BatchError, BatchRead, ListRequest, ObjectPage};
pub use endpoints::search::SearchPage;
pub use error::{CORRELATION_ID_HEADER, Error, RateLimitPolicy, Result};
pub use governor::{
    LocalGovernor, RateFeedback, RateGovernor, RateLimitHeaders, RatePermit, RequestClass,
};
pub use oauth::{
    InstallUrl, Introspection, OAuthApp, OAuthConfig, RefreshTokenListener, StaticToken,
    TokenGrant, TokenInfo, TokenProvider, TokenSource,
};
pub use portals::{ConnectionCredentials, PortalClients};
pub use record::Record;
pub use stats::{Stats, StatsSnapshot};

/// oauth2's secret and code types, re-exported so callers need not depend on oauth2.
pub use oauth2::{AccessToken, AuthorizationCode, ClientSecret, CsrfToken, RefreshToken};
