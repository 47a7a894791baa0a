//! `hubsync connect`: registers a portal.
//!
//! Interactive: prints HubSpot's install URL (required scopes in `scope`, tier-gated ones
//! in `optional_scope`), receives the OAuth redirect on the redirect URI's own port,
//! checks its CSRF state and exchanges the code. Non-interactive: `--refresh-token` of
//! an app already installed (what the simulator prints, what ops scripts use). Both
//! introspect the token for the hub id and the scopes actually granted, store the
//! connection with its refresh token sealed, refresh the portal's metadata (tables,
//! fields, owners, views) and print the tables that will sync and those skipped.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use axum::extract::{Query, State};
use axum::response::Html;
use clap::Args;
use hubsync_core::{INSTALL_SCOPES_OPTIONAL, INSTALL_SCOPES_REQUIRED};
use hubsync_hubspot::{AuthorizationCode, OAuthApp, RefreshToken, TokenGrant};
use hubsync_store::{NewConnection, SchemaName, SecretString};
use tokio::sync::mpsc;
use url::Url;

use crate::output;
use crate::settings::Settings;
use crate::wiring;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The refresh token of an app already installed on the portal (skips the browser).
    #[arg(long, env = "HUBSYNC_REFRESH_TOKEN", hide_env_values = true)]
    refresh_token: Option<String>,
    /// The PostgreSQL schema of the portal's views (default `hubspot_<hub id>`).
    #[arg(long)]
    schema: Option<String>,
    /// How long to wait for the browser to come back from HubSpot.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

pub async fn run(settings: &Settings, args: ConnectArgs) -> Result<ExitCode> {
    // Everything that can be refused is checked before HubSpot or the database is asked.
    let schema = args
        .schema
        .as_deref()
        .map(SchemaName::parse)
        .transpose()
        .map_err(|error| anyhow!("--schema: {error}"))?;
    let key = settings.encryption_key()?;
    let oauth = settings.oauth_config()?;
    let client_id = oauth.client_id.clone();
    let client = wiring::hubspot_client(settings)?;
    let app = wiring::oauth_app(settings, &client)?;
    let pool = wiring::database(settings, "connect", 2).await?;

    let grant = match args.refresh_token {
        Some(token) => app
            .refresh(&RefreshToken::new(token))
            .await
            .context("HubSpot refused the refresh token")?,
        None => install_in_browser(&app, &oauth.redirect_uri, args.timeout_secs).await?,
    };
    let refresh_token = grant
        .refresh_token
        .clone()
        .ok_or_else(|| anyhow!("HubSpot's token response had no refresh token"))?;
    let info = app
        .introspect(&grant.access_token)
        .await
        .context("cannot introspect the access token")?;
    let granted: BTreeSet<String> = info.scopes.iter().cloned().collect();
    let missing: Vec<&str> = INSTALL_SCOPES_REQUIRED
        .iter()
        .copied()
        .filter(|scope| !granted.contains(*scope))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the install did not grant the required scopes {}: reinstall the app with them",
            missing.join(", ")
        );
    }

    let connection = {
        let mut conn = pool.acquire().await?;
        hubsync_store::upsert_connection(
            &mut conn,
            &NewConnection {
                hub_id: info.hub_id,
                client_id,
                refresh_token: SecretString::from(refresh_token.secret().to_owned()),
                granted_scopes: granted,
                schema_name: schema,
            },
            &key,
        )
        .await
        .context("cannot store the connection")?
    };
    let portals = wiring::portal_clients(client, app, pool.clone(), key);
    let metadata =
        hubsync_planner::refresh_metadata(&pool, &portals, connection.id, &settings.sync)
            .await
            .context("connected, but the portal's metadata could not be read")?;
    if let Some(error) = &metadata.views_error {
        eprintln!("hubsync: warning: {error}");
    }

    let mut conn = pool.acquire().await?;
    let connection = hubsync_store::get_connection(&mut conn, connection.id)
        .await?
        .ok_or_else(|| anyhow!("the connection vanished while it was being set up"))?;
    let tables = hubsync_store::table_statuses(&mut conn, connection.id).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "connected portal {} as connection {}",
        connection.hub_id, connection.id
    )?;
    output::print_tables(&mut out, &connection, &tables)?;
    output::print_left_out(&mut out, &connection.left_out)?;
    writeln!(
        out,
        "next: hubsync sync --connection {} --wait",
        connection.hub_id
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the install URL, waits for HubSpot's redirect to the redirect URI and trades
/// its code for tokens.
async fn install_in_browser(
    app: &OAuthApp,
    redirect_uri: &str,
    timeout_secs: u64,
) -> Result<TokenGrant> {
    let redirect = Url::parse(redirect_uri).context("oauth.redirect_uri is not a URL")?;
    let address = listen_address(&redirect)?;
    let install = app.install_url(INSTALL_SCOPES_REQUIRED, INSTALL_SCOPES_OPTIONAL);

    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for the OAuth redirect"))?;
    let (sender, mut receiver) = mpsc::channel::<Callback>(1);
    let router = axum::Router::new()
        .route(redirect.path(), axum::routing::get(callback))
        .with_state(sender);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Open this URL in a browser and approve the install:")?;
        writeln!(out, "{}", install.url)?;
        writeln!(
            out,
            "Waiting for HubSpot to send the browser back to {redirect}"
        )?;
        out.flush()?;
    }
    let outcome = tokio::time::timeout(Duration::from_secs(timeout_secs), async {
        loop {
            match receiver.recv().await {
                // A stray request (a favicon, a reload with another state) is ignored.
                Some(callback) if callback.state.as_deref() != Some(install.state.secret()) => {
                    continue;
                }
                Some(callback) => return Ok(callback),
                None => return Err(anyhow!("the OAuth redirect listener stopped")),
            }
        }
    })
    .await;
    server.abort();
    let callback =
        outcome.map_err(|_| anyhow!("no answer from HubSpot within {timeout_secs} s"))??;
    if let Some(error) = callback.error {
        bail!(
            "HubSpot refused the install: {error}{}",
            callback
                .error_description
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    let code = callback
        .code
        .ok_or_else(|| anyhow!("HubSpot's redirect carried neither a code nor an error"))?;
    app.exchange_code(AuthorizationCode::new(code))
        .await
        .context("HubSpot refused the authorization code")
}

/// Where to listen: the redirect URI's own host and port (`localhost` is 127.0.0.1).
fn listen_address(redirect: &Url) -> Result<SocketAddr> {
    let port = redirect
        .port_or_known_default()
        .ok_or_else(|| anyhow!("oauth.redirect_uri has no port"))?;
    let host = match redirect.host_str() {
        Some("localhost") | None => "127.0.0.1",
        Some(host) => host,
    };
    format!("{host}:{port}")
        .parse()
        .or_else(|_| Ok::<_, anyhow::Error>(SocketAddr::from(([0, 0, 0, 0], port))))
}

#[derive(Debug)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(sender): State<mpsc::Sender<Callback>>,
    Query(mut query): Query<HashMap<String, String>>,
) -> Html<&'static str> {
    let callback = Callback {
        code: query.remove("code"),
        state: query.remove("state"),
        error: query.remove("error"),
        error_description: query.remove("error_description"),
    };
    let page = if callback.error.is_some() {
        "<!doctype html><title>hubsync</title><p>HubSpot did not install hubsync. See the terminal for why.</p>"
    } else {
        "<!doctype html><title>hubsync</title><p>hubsync is connected. You can close this tab.</p>"
    };
    let _ = sender.send(callback).await;
    Html(page)
}
