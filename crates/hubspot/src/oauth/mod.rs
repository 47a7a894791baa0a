//! OAuth 2.0 for a HubSpot public app: the install URL, the code exchange, refresh and
//! introspection ([`OAuthApp`]), and the per-connection token cache that keeps an
//! access token fresh ([`TokenProvider`]).
//!
//! Secrets are held in oauth2's secret types (`ClientSecret`, `AccessToken`,
//! `RefreshToken`), whose `Debug` prints `[redacted]`; no error or log line holds one.

mod adapter;
mod provider;
mod refusal;

use std::sync::Arc;
use std::time::Duration;

use oauth2::StandardRevocableToken;
use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, ExtraTokenFields, RedirectUrl, RefreshToken, Scope,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tracing::{Span, field, instrument};
use url::Url;

use crate::client::{Answer, Shared, join_url};
use crate::error::{Error, Result, classify_failure, correlation_id_from};
use crate::retry::run_with_retry;
use adapter::ReqwestAdapter;

pub use provider::{RefreshTokenListener, StaticToken, TokenProvider, TokenSource};
pub use refusal::OAuthErrorBody;
use refusal::{TokenGrantKind, token_error};

/// HubSpot's consent page; the simulator serves the same path on its own host.
pub const HUBSPOT_AUTHORIZE_URL: &str = "https://app.hubspot.com/oauth/authorize";

/// The app's OAuth registration and the endpoints to use.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Must equal a redirect URL registered on the app.
    pub redirect_uri: String,
    /// The consent page users are sent to.
    pub authorize_url: String,
    /// Host of the token and introspection endpoints; `None` means the client's
    /// `base_url` (api.hubapi.com).
    pub api_base_url: Option<Url>,
    /// `/oauth/v1/token` today; `/oauth/v3/token` (≡ `/oauth/2026-03/token`) after the
    /// v1 sunset (2027-02-16).
    pub token_path: String,
    pub introspection: Introspection,
}

impl OAuthConfig {
    /// HubSpot's endpoints for this app.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            authorize_url: HUBSPOT_AUTHORIZE_URL.into(),
            api_base_url: None,
            token_path: "/oauth/v1/token".into(),
            introspection: Introspection::default(),
        }
    }
}

/// Which access-token introspection HubSpot should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// `GET {path}/{token}`: the legacy v1 metadata endpoint (sunset 2027-02-16).
    LegacyGet { path: String },
    /// `POST {path}` with a form body: RFC 7662 style, answers `active`.
    Post { path: String },
}

impl Default for Introspection {
    fn default() -> Self {
        Self::LegacyGet {
            path: "/oauth/v1/access-tokens".into(),
        }
    }
}

impl Introspection {
    /// The v3 endpoint (`/oauth/v3/token/introspect`).
    pub fn v3() -> Self {
        Self::Post {
            path: "/oauth/v3/token/introspect".into(),
        }
    }
}

/// The fields HubSpot adds to its token responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubSpotTokenFields {
    #[serde(default)]
    pub hub_id: Option<u64>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub user_id: Option<u64>,
}
impl ExtraTokenFields for HubSpotTokenFields {}

type HubSpotTokenResponse = StandardTokenResponse<HubSpotTokenFields, BasicTokenType>;

type OAuthClient = oauth2::Client<
    OAuthErrorBody,
    HubSpotTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What a code exchange or a refresh returned.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: AccessToken,
    /// Absent on some refreshes; then the old one stays valid.
    pub refresh_token: Option<RefreshToken>,
    /// The access token's lifetime (HubSpot: 1800 s; always read it).
    pub expires_in: Duration,
    /// The portal, when the response says (HubSpot added it in Aug 2025).
    pub hub_id: Option<u64>,
    /// The scopes granted, when the response says.
    pub scopes: Option<Vec<String>>,
    pub user_id: Option<u64>,
}

/// What introspection says about an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The portal (account) the token belongs to: key the connection on it.
    pub hub_id: u64,
    /// The scopes actually granted (optional scopes the portal's tier lacks are absent).
    pub scopes: Vec<String>,
    /// Remaining lifetime.
    pub expires_in: Option<Duration>,
    pub user: Option<String>,
    pub hub_domain: Option<String>,
    pub app_id: Option<u64>,
    pub user_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct IntrospectionBody {
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    hub_id: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    hub_domain: Option<String>,
    #[serde(default)]
    app_id: Option<u64>,
    #[serde(default)]
    user_id: Option<u64>,
}

/// An install link and the CSRF state it carries; compare the `state` of the redirect
/// with [`InstallUrl::state`] before exchanging its code.
#[derive(Debug, Clone)]
pub struct InstallUrl {
    pub url: Url,
    pub state: CsrfToken,
}

/// A HubSpot app's OAuth operations.
#[derive(Clone)]
pub struct OAuthApp {
    shared: Arc<Shared>,
    client: OAuthClient,
    config: Arc<OAuthConfig>,
    api_base: Url,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.config.client_id)
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

impl OAuthApp {
    pub(crate) fn new(shared: Arc<Shared>, config: OAuthConfig) -> Result<Self> {
        let api_base = config
            .api_base_url
            .clone()
            .unwrap_or_else(|| shared.config.base_url.clone());
        let token_url = join_url(&api_base, &config.token_path, &[])?;
        let client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(config.client_secret.clone())
            // HubSpot wants client_id and client_secret in the form body.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(
                AuthUrl::new(config.authorize_url.clone())
                    .map_err(|e| Error::Config(format!("authorize url: {e}")))?,
            )
            .set_token_uri(TokenUrl::from_url(token_url))
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_uri.clone())
                    .map_err(|e| Error::Config(format!("redirect uri: {e}")))?,
            );
        Ok(Self {
            shared,
            client,
            config: Arc::new(config),
            api_base,
        })
    }

    /// The install link with a fresh random CSRF state: `scope` lists the required
    /// scopes, `optional_scope` the ones HubSpot drops silently where the portal's tier
    /// lacks them (custom objects, goals, …). Both space-separated, as HubSpot wants.
    pub fn install_url(&self, required: &[&str], optional: &[&str]) -> InstallUrl {
        let mut request = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(required.iter().map(|s| Scope::new((*s).to_owned())));
        if !optional.is_empty() {
            request = request.add_extra_param("optional_scope", optional.join(" "));
        }
        let (mut url, state) = request.url();
        // oauth2 form-encodes spaces as `+`; HubSpot documents `%20` between scopes.
        // A literal `+` would have been encoded as `%2B`, so every `+` is a space.
        if let Some(query) = url.query().map(|q| q.replace('+', "%20")) {
            url.set_query(Some(&query));
        }
        InstallUrl { url, state }
    }

    /// Trades the `code` of the consent redirect for tokens. Not retried: a code is
    /// single-use, and a retry after a lost answer would fail with `BAD_AUTH_CODE`.
    #[instrument(
        skip_all,
        name = "hubspot.oauth.exchange_code",
        fields(method = "POST", family = "oauth", status = field::Empty, attempt = 1,
               correlation_id = field::Empty)
    )]
    pub async fn exchange_code(&self, code: AuthorizationCode) -> Result<TokenGrant> {
        let adapter = ReqwestAdapter {
            shared: &self.shared,
        };
        let response = self
            .client
            .exchange_code(code)
            .request_async(&adapter)
            .await
            .map_err(|e| token_error(e, TokenGrantKind::AuthorizationCode))?;
        Ok(grant_from(response))
    }

    /// Gets a new access token. A revoked, unknown or uninstalled refresh token gives
    /// [`Error::ReconnectRequired`]; transient failures are retried.
    #[instrument(
        skip_all,
        name = "hubspot.oauth.refresh",
        fields(method = "POST", family = "oauth", status = field::Empty,
               attempt = field::Empty, correlation_id = field::Empty)
    )]
    pub async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenGrant> {
        let shared = Arc::clone(&self.shared);
        run_with_retry(&shared.config.retry, &shared.stats, |attempt| {
            Span::current().record("attempt", attempt);
            self.refresh_once(refresh_token)
        })
        .await
    }

    async fn refresh_once(&self, refresh_token: &RefreshToken) -> Result<TokenGrant> {
        let adapter = ReqwestAdapter {
            shared: &self.shared,
        };
        self.client
            .exchange_refresh_token(refresh_token)
            .request_async(&adapter)
            .await
            .map(grant_from)
            .map_err(|e| token_error(e, TokenGrantKind::RefreshToken))
    }

    /// Asks HubSpot which portal an access token belongs to and which scopes it holds.
    #[instrument(
        skip_all,
        name = "hubspot.oauth.introspect",
        fields(method = field::Empty, family = "oauth", status = field::Empty,
               attempt = field::Empty, correlation_id = field::Empty)
    )]
    pub async fn introspect(&self, access_token: &AccessToken) -> Result<TokenInfo> {
        let shared = Arc::clone(&self.shared);
        let body = run_with_retry(&shared.config.retry, &shared.stats, |attempt| {
            Span::current().record("attempt", attempt);
            self.introspect_once(access_token)
        })
        .await?;
        if body.active == Some(false) {
            return Err(Error::Unauthorized {
                category: "INACTIVE_TOKEN".into(),
                correlation_id: None,
            });
        }
        let hub_id = body.hub_id.ok_or_else(|| Error::Decode {
            status: 200,
            message: "introspection answer without hub_id".into(),
            correlation_id: None,
        })?;
        Ok(TokenInfo {
            hub_id,
            scopes: body.scopes,
            expires_in: body.expires_in.map(Duration::from_secs),
            user: body.user,
            hub_domain: body.hub_domain,
            app_id: body.app_id,
            user_id: body.user_id,
        })
    }

    async fn introspect_once(&self, access_token: &AccessToken) -> Result<IntrospectionBody> {
        let shared = &self.shared;
        let method = match &self.config.introspection {
            Introspection::LegacyGet { .. } => "GET",
            Introspection::Post { .. } => "POST",
        };
        Span::current().record("method", method);
        let request = match &self.config.introspection {
            Introspection::LegacyGet { path } => {
                let url = join_url(&self.api_base, path, &[access_token.secret()])?;
                shared.http.get(url)
            }
            Introspection::Post { path } => {
                let url = join_url(&self.api_base, path, &[])?;
                shared.http.post(url).form(&[
                    ("client_id", self.config.client_id.as_str()),
                    ("client_secret", self.config.client_secret.secret().as_str()),
                    ("token", access_token.secret().as_str()),
                    ("token_type_hint", "access_token"),
                ])
            }
        };
        let Answer {
            status,
            headers,
            response,
        } = shared.send(request).await?;
        let bytes = shared.read_body(response).await?;
        if !status.is_success() {
            // The url length is irrelevant here and must not be reported: it holds the token.
            return Err(shared
                .stats
                .count_error(classify_failure(status, &headers, &bytes, 0)));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            shared.stats.count_error(Error::Decode {
                status: status.as_u16(),
                message: e.to_string(),
                correlation_id: correlation_id_from(&headers),
            })
        })
    }

    /// A token provider for one connection, starting from its stored refresh token.
    pub fn token_provider(&self, refresh_token: RefreshToken) -> TokenProvider {
        TokenProvider::new(self.clone(), refresh_token)
    }
}

fn grant_from(response: HubSpotTokenResponse) -> TokenGrant {
    let extra = response.extra_fields().clone();
    let scopes = extra.scopes.or_else(|| {
        response
            .scopes()
            .map(|scopes| scopes.iter().map(|s| s.to_string()).collect())
    });
    TokenGrant {
        access_token: response.access_token().clone(),
        refresh_token: response.refresh_token().cloned(),
        // HubSpot always sends it; were it missing, assume HubSpot's documented 30 min.
        expires_in: response.expires_in().unwrap_or(Duration::from_secs(1800)),
        hub_id: extra.hub_id,
        scopes,
        user_id: extra.user_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_path_keeps_a_base_path() {
        let base = Url::parse("http://127.0.0.1:8080/proxy/").unwrap();
        assert_eq!(
            join_url(&base, "/oauth/v1/token", &[]).unwrap().as_str(),
            "http://127.0.0.1:8080/proxy/oauth/v1/token"
        );
    }
}
