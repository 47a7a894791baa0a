//! OAuth state: pending authorizations, auth codes, refresh tokens and access tokens.
//!
//! One app (client id, secret, redirect URIs) installs on every portal, as a HubSpot public
//! app does; each install has its own refresh token and granted scopes.

use std::collections::HashMap;

use rand::Rng;
use rand::distr::Alphanumeric;

use crate::catalog::SCOPE_CATALOG;
use crate::config::Tier;

/// Auth codes live five minutes (HubSpot's exact lifetime is unconfirmed; they are
/// single-use and short-lived).
pub const AUTH_CODE_LIFETIME_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub hub_id: u64,
    pub scopes: Vec<String>,
    pub expires_at_ms: i64,
    pub user_id: u64,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub hub_id: u64,
    pub scopes: Vec<String>,
    pub user_id: u64,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub hub_id: u64,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub expires_at_ms: i64,
}

/// An authorize request waiting for the user's decision on the consent page.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub state: Option<String>,
    pub hub_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InstallError {
    #[error("an invalid scope name was provided: {0}")]
    InvalidScope(String),
    #[error("the account does not have access to the required scope {0}")]
    ScopeUnavailable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenCheck {
    Valid { hub_id: u64, scopes: Vec<String> },
    Expired { expired_at_ms: i64 },
    Invalid,
}

#[derive(Debug, Default)]
pub struct AuthStore {
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    pub codes: HashMap<String, AuthCode>,
    pub pending: HashMap<String, PendingAuthorization>,
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The scopes an install gets: required ones must all be known and available on the tier,
/// optional ones unavailable on the tier are silently dropped, `oauth` is always added.
pub fn grant_scopes(
    tier: Tier,
    required: &[String],
    optional: &[String],
) -> Result<Vec<String>, InstallError> {
    let mut granted = vec!["oauth".to_string()];
    for scope in required.iter().chain(optional) {
        if !SCOPE_CATALOG.contains(&scope.as_str()) {
            return Err(InstallError::InvalidScope(scope.clone()));
        }
    }
    for scope in required {
        if !tier.allows_scope(scope) {
            return Err(InstallError::ScopeUnavailable(scope.clone()));
        }
        if !granted.contains(scope) {
            granted.push(scope.clone());
        }
    }
    for scope in optional {
        if tier.allows_scope(scope) && !granted.contains(scope) {
            granted.push(scope.clone());
        }
    }
    Ok(granted)
}

impl AuthStore {
    /// Creates a refresh token for an install on a portal.
    pub fn install(&mut self, hub_id: u64, scopes: Vec<String>, user_id: u64) -> String {
        // refresh tokens carry a data-centre prefix (API.md §1.2)
        let token = format!(
            "na1-{}-{}-{}-{}-{}",
            random_string(4).to_ascii_lowercase(),
            random_string(4).to_ascii_lowercase(),
            random_string(4).to_ascii_lowercase(),
            random_string(4).to_ascii_lowercase(),
            random_string(12).to_ascii_lowercase()
        );
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                hub_id,
                scopes,
                user_id,
                revoked: false,
            },
        );
        token
    }

    /// Mints an access token living `lifetime_ms` from `now_ms`.
    pub fn mint_access(
        &mut self,
        hub_id: u64,
        scopes: Vec<String>,
        user_id: u64,
        now_ms: i64,
        lifetime_ms: i64,
    ) -> String {
        // opaque and long: HubSpot tokens grow over time (reserve ≥ 512 characters)
        let token = format!("CK{}", random_string(254));
        self.access.insert(
            token.clone(),
            AccessToken {
                hub_id,
                scopes,
                expires_at_ms: now_ms.saturating_add(lifetime_ms),
                user_id,
                revoked: false,
            },
        );
        token
    }

    pub fn issue_code(
        &mut self,
        hub_id: u64,
        scopes: Vec<String>,
        redirect_uri: String,
        now_ms: i64,
    ) -> String {
        let code = format!("{}-{}", random_string(8), random_string(24)).to_ascii_lowercase();
        self.codes.insert(
            code.clone(),
            AuthCode {
                hub_id,
                scopes,
                redirect_uri,
                expires_at_ms: now_ms + AUTH_CODE_LIFETIME_MS,
            },
        );
        code
    }

    pub fn add_pending(&mut self, pending: PendingAuthorization) -> String {
        let id = random_string(24);
        self.pending.insert(id.clone(), pending);
        id
    }

    pub fn check_access(&self, token: &str, now_ms: i64) -> TokenCheck {
        match self.access.get(token) {
            Some(t) if t.revoked => TokenCheck::Invalid,
            Some(t) if t.expires_at_ms <= now_ms => TokenCheck::Expired {
                expired_at_ms: t.expires_at_ms,
            },
            Some(t) => TokenCheck::Valid {
                hub_id: t.hub_id,
                scopes: t.scopes.clone(),
            },
            None => TokenCheck::Invalid,
        }
    }

    /// Uninstalls the app from a portal: every token of the portal stops working.
    pub fn uninstall(&mut self, hub_id: u64) -> usize {
        let mut revoked = 0;
        for t in self
            .refresh
            .values_mut()
            .filter(|t| t.hub_id == hub_id && !t.revoked)
        {
            t.revoked = true;
            revoked += 1;
        }
        for t in self.access.values_mut().filter(|t| t.hub_id == hub_id) {
            t.revoked = true;
        }
        revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn optional_scopes_unavailable_on_the_tier_are_dropped() {
        let granted = grant_scopes(
            Tier::Professional,
            &s(&["crm.objects.deals.read"]),
            &s(&["crm.objects.custom.read", "crm.objects.goals.read"]),
        )
        .unwrap();
        assert_eq!(
            granted,
            s(&["oauth", "crm.objects.deals.read", "crm.objects.goals.read"])
        );
    }

    #[test]
    fn required_scope_unavailable_fails_the_install() {
        let err = grant_scopes(Tier::Starter, &s(&["crm.schemas.custom.read"]), &[]).unwrap_err();
        assert_eq!(
            err,
            InstallError::ScopeUnavailable("crm.schemas.custom.read".into())
        );
        let err =
            grant_scopes(Tier::Enterprise, &s(&["crm.objects.deals.write"]), &[]).unwrap_err();
        assert!(matches!(err, InstallError::InvalidScope(_)));
    }

    #[test]
    fn expired_and_revoked_tokens_are_refused() {
        let mut store = AuthStore::default();
        let t = store.mint_access(1, s(&["oauth"]), 2, 1_000, 500);
        assert!(matches!(
            store.check_access(&t, 1_200),
            TokenCheck::Valid { hub_id: 1, .. }
        ));
        assert_eq!(
            store.check_access(&t, 1_500),
            TokenCheck::Expired {
                expired_at_ms: 1_500
            }
        );
        store.uninstall(1);
        assert_eq!(store.check_access(&t, 1_200), TokenCheck::Invalid);
        assert_eq!(store.check_access("nope", 0), TokenCheck::Invalid);
    }
}
