//! OAuth against the simulator: install → consent → code → tokens → introspection, and
//! a dead refresh token.

use std::collections::HashMap;
use std::sync::Arc;

use hubspot_sim::{SimConfig, Tier};
use hubsync_hubspot::{
    AuthorizationCode, Error, HubSpotClient, Introspection, OAuthApp, TokenProvider,
};
use url::Url;

use crate::helpers::{quick_config, sim_oauth_config, small_sim_config, start_sim};

const REQUIRED: &[&str] = &[
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.deals.read",
    "crm.schemas.deals.read",
];
const OPTIONAL: &[&str] = &[
    "crm.objects.custom.read",
    "crm.schemas.custom.read",
    "crm.objects.goals.read",
];

/// Opens the consent page like a browser and clicks the Approve link of `hub_id`;
/// returns the query of the redirect back to the app.
async fn approve(install_url: &Url, hub_id: u64) -> HashMap<String, String> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(install_url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "consent page");
    let html = page.text().await.unwrap();
    let marker = format!("id=\"approve-{hub_id}\"");
    let anchor = &html[html.find(&marker).expect("approve link for the portal")..];
    let href_start = anchor.find("href=\"").expect("href") + "href=\"".len();
    let href_len = anchor[href_start..].find('"').expect("end of href");
    let href = anchor[href_start..href_start + href_len].replace("&amp;", "&");

    let decision = browser
        .get(install_url.join(&href).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(decision.status(), 302, "approve redirects back to the app");
    let location = decision.headers()["location"].to_str().unwrap().to_owned();
    Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn install(
    app: &OAuthApp,
    hub_id: u64,
) -> (hubsync_hubspot::TokenGrant, tokio::time::Instant) {
    let install = app.install_url(REQUIRED, OPTIONAL);
    let redirect = approve(&install.url, hub_id).await;
    assert_eq!(
        &redirect["state"],
        install.state.secret(),
        "state comes back"
    );
    let issued_at = tokio::time::Instant::now();
    let grant = app
        .exchange_code(AuthorizationCode::new(redirect["code"].clone()))
        .await
        .unwrap();
    (grant, issued_at)
}

#[tokio::test]
async fn install_consent_code_tokens_and_introspection() {
    let sim = hubspot_sim::Simulator::start(SimConfig {
        portals: 2,
        portal_tiers: vec![Tier::Enterprise, Tier::Free],
        ..small_sim_config()
    })
    .await
    .unwrap();
    let portals = sim.portals();
    let client = HubSpotClient::new(quick_config(&sim.base_url())).unwrap();
    let app = client.oauth_app(sim_oauth_config(&portals[0])).unwrap();
    let mut v3_config = sim_oauth_config(&portals[0]);
    v3_config.introspection = Introspection::v3();
    let v3_app = client.oauth_app(v3_config).unwrap();

    for (creds, tier_has_optional) in [(&portals[0], true), (&portals[1], false)] {
        let (grant, issued_at) = install(&app, creds.hub_id).await;
        assert_eq!(grant.hub_id, Some(creds.hub_id));
        assert!(grant.refresh_token.is_some());

        let info = app.introspect(&grant.access_token).await.unwrap();
        let v3_info = v3_app.introspect(&grant.access_token).await.unwrap();
        assert_eq!(info.hub_id, creds.hub_id);
        assert_eq!(v3_info.hub_id, creds.hub_id);
        for scope in REQUIRED {
            assert!(info.scopes.iter().any(|s| s == scope), "{scope} granted");
        }
        for scope in OPTIONAL {
            assert_eq!(
                info.scopes.iter().any(|s| s == scope),
                tier_has_optional,
                "optional {scope} on hub {} ({:?})",
                creds.hub_id,
                info.scopes
            );
        }
        let mut sorted = v3_info.scopes.clone();
        sorted.sort();
        let mut expected = info.scopes.clone();
        expected.sort();
        assert_eq!(sorted, expected);

        // The tokens work: a data call with the grant's access token, then a refresh.
        let tokens = Arc::new(TokenProvider::from_grant(app.clone(), &grant, issued_at).unwrap());
        let portal = client.portal(tokens.clone());
        let pipelines = portal.pipelines("deals").await.unwrap();
        assert!(!pipelines.is_empty());
        assert!(pipelines.iter().all(|p| !p.stages.is_empty()));
        assert_eq!(tokens.refresh_count(), 0);
        let refreshed = app
            .refresh(grant.refresh_token.as_ref().unwrap())
            .await
            .unwrap();
        assert_eq!(
            app.introspect(&refreshed.access_token)
                .await
                .unwrap()
                .hub_id,
            creds.hub_id
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_used_code_cannot_be_exchanged_twice() {
    let sim = hubspot_sim::Simulator::start(small_sim_config())
        .await
        .unwrap();
    let creds = sim.portals().remove(0);
    let client = HubSpotClient::new(quick_config(&sim.base_url())).unwrap();
    let app = client.oauth_app(sim_oauth_config(&creds)).unwrap();
    let install = app.install_url(REQUIRED, &[]);
    let redirect = approve(&install.url, creds.hub_id).await;
    let code = AuthorizationCode::new(redirect["code"].clone());

    app.exchange_code(code.clone()).await.unwrap();
    let error = app.exchange_code(code).await.unwrap_err();

    assert!(
        matches!(&error, Error::OAuth { code: Some(c), .. } if c == "BAD_AUTH_CODE"),
        "{error:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_uninstalled_portal_requires_reconnecting_without_retries() {
    let env = start_sim(small_sim_config(), |_| {}).await;
    // A first call caches an access token.
    env.portal.schemas().await.unwrap();
    env.control().reset_counters();

    env.control().uninstall(env.hub()).unwrap();
    let first = env.portal.owners(false).await.unwrap_err();
    let second = env.portal.properties("deals", false).await.unwrap_err();

    for error in [&first, &second] {
        assert!(
            matches!(error, Error::ReconnectRequired { reason, .. } if reason == "BAD_REFRESH_TOKEN"),
            "{error:?}"
        );
        assert!(!error.is_retryable());
    }
    let counters = env.control().counters();
    // The revoked access token was refused once, the refresh token asked once; the
    // second call fails without touching HubSpot.
    assert_eq!(counters.requests_of("oauth"), 1, "{counters:?}");
    assert_eq!(counters.requests_of("owners"), 1, "{counters:?}");
    assert_eq!(counters.requests_of("properties"), 0, "{counters:?}");
    assert_eq!(env.tokens.refresh_count(), 2);
    env.sim.shutdown().await;
}

#[tokio::test]
async fn a_token_hubspot_calls_expired_is_refreshed_once_and_the_call_goes_through() {
    let env = start_sim(small_sim_config(), |_| {}).await;
    // A token the simulator already considers expired, believed valid for 30 minutes
    // (a clock that drifted): only HubSpot's 401 can reveal it.
    let expired = env
        .control()
        .mint_token(
            env.hub(),
            &hubspot_sim::MintRequest {
                scopes: None,
                lifetime_secs: Some(-5),
            },
        )
        .unwrap();
    let grant = hubsync_hubspot::TokenGrant {
        access_token: hubsync_hubspot::AccessToken::new(expired.access_token),
        refresh_token: Some(hubsync_hubspot::RefreshToken::new(
            env.creds.refresh_token.clone(),
        )),
        expires_in: std::time::Duration::from_secs(1800),
        hub_id: Some(env.hub()),
        scopes: None,
        user_id: None,
    };
    let tokens = Arc::new(
        TokenProvider::from_grant(env.tokens_app(), &grant, tokio::time::Instant::now()).unwrap(),
    );
    let portal = env.client.portal(tokens.clone());

    let owners = portal.owners(false).await.unwrap();

    assert!(!owners.is_empty());
    assert_eq!(tokens.refresh_count(), 1);
    let counters = env.control().counters();
    assert_eq!(
        counters.requests["owners"].get(&401),
        Some(&1),
        "{counters:?}"
    );
    assert_eq!(counters.requests_of("oauth"), 1, "{counters:?}");
    env.sim.shutdown().await;
}
