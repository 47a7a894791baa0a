//! The in-process control handle: every operation of the HTTP control API, callable from
//! Rust tests without parsing HTTP, and the ground truth they assert against.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::{InstallError, grant_scopes};
use crate::catalog::SCOPE_CATALOG;
use crate::config::{FaultPlan, LatencyConfig, RateLimitConfig, ScriptStep, Tier};
use crate::counters::CounterSnapshot;
use crate::generator::{self, PortalSpec};
use crate::state::{Portal, Settings, SimState, lock, read, write};
mod data;

use crate::store::{Record, StoreError, fmt_ms, now_ms, parse_datetime_ms};

/// What a client needs to use a portal at once: the line the binary prints per portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalCredentials {
    pub base_url: String,
    pub hub_id: u64,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub refresh_token: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("unknown portal {0}")]
    UnknownPortal(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("{0}")]
    Invalid(String),
}

/// A record as the ground truth holds it (every property, archived or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimRecord {
    pub id: u64,
    pub properties: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub archived_at: Option<String>,
}

/// One association link of the ground truth, with its type ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimAssociation {
    pub from_id: u64,
    pub to_id: u64,
    pub type_ids: Vec<u32>,
}

/// An association type of a pair of object types, as the v4 API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimAssociationType {
    pub type_id: u32,
    /// `HUBSPOT_DEFINED` or `USER_DEFINED`.
    pub category: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstallRequest {
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallResult {
    pub refresh_token: String,
    pub access_token: String,
    pub expires_in: u64,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MintRequest {
    /// Scopes of the token; None grants every scope the tier allows.
    pub scopes: Option<Vec<String>>,
    /// Lifetime in seconds; 0 or negative mints an already expired token.
    pub lifetime_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewPortal {
    pub tier: Tier,
    pub seed: Option<u64>,
    pub records_per_table: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationChange {
    pub from_type: String,
    pub from_id: u64,
    pub to_type: String,
    pub to_id: u64,
    /// Adds HubSpot's Primary type too, where the pair has one.
    #[serde(default)]
    pub primary: bool,
    /// Explicit type ids (e.g. a user-defined label); defaults to the pair's default type.
    #[serde(default)]
    pub type_ids: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PropertyChange {
    #[serde(rename = "type")]
    pub ptype: Option<String>,
    pub field_type: Option<String>,
    pub options: Option<Value>,
}

/// Handle on a running simulator's state.
#[derive(Debug, Clone)]
pub struct SimControl {
    pub(crate) state: Arc<SimState>,
}

fn record_of(table: &crate::store::ObjectTable, record: &Record) -> SimRecord {
    let mut properties = BTreeMap::new();
    for (index, value) in &record.data.props {
        let def = table.props.def(*index);
        if !def.archived {
            properties.insert(def.name.clone(), value.to_string());
        }
    }
    SimRecord {
        id: record.id,
        properties,
        created_at: fmt_ms(record.data.created_ms),
        updated_at: fmt_ms(record.data.updated_ms),
        archived: record.archived_ms.is_some(),
        archived_at: record.archived_ms.map(fmt_ms),
    }
}

/// Parses an explicit modification time given as epoch milliseconds or ISO-8601.
pub fn parse_time(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_datetime_ms(s),
        _ => None,
    }
}

impl SimControl {
    fn portal(&self, hub_id: u64) -> Result<Arc<Portal>, ControlError> {
        self.state
            .portal(hub_id)
            .ok_or(ControlError::UnknownPortal(hub_id))
    }

    pub fn base_url(&self) -> String {
        self.state.base_url()
    }

    pub fn portals(&self) -> Vec<PortalCredentials> {
        let portals: Vec<Arc<Portal>> = read(&self.state.portals).values().cloned().collect();
        portals.iter().map(|p| self.credentials(p)).collect()
    }

    fn credentials(&self, portal: &Portal) -> PortalCredentials {
        let c = &self.state.config;
        PortalCredentials {
            base_url: self.state.base_url(),
            hub_id: portal.hub_id,
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            redirect_uri: c.redirect_uris.first().cloned().unwrap_or_default(),
            refresh_token: lock(&portal.default_refresh_token).clone(),
            scopes: lock(&portal.default_scopes).clone(),
        }
    }

    /// Registers a generated portal and installs the app on it with every scope its tier
    /// allows.
    pub(crate) fn register(&self, data: crate::store::PortalData, tier: Tier) -> PortalCredentials {
        let config = &self.state.config;
        let portal = Arc::new(Portal::new(
            data,
            tier,
            config.rate_limits.clone(),
            config.index_lag_ms,
        ));
        let all: Vec<String> = SCOPE_CATALOG.iter().map(|s| s.to_string()).collect();
        let scopes = grant_scopes(tier, &[], &all).unwrap_or_default();
        let refresh = lock(&self.state.auth).install(portal.hub_id, scopes.clone(), portal.user_id);
        *lock(&portal.default_refresh_token) = refresh;
        *lock(&portal.default_scopes) = scopes;
        write(&self.state.portals).insert(portal.hub_id, portal.clone());
        self.credentials(&portal)
    }

    /// Generates and adds a portal at run time (e.g. one on a lower tier).
    pub fn add_portal(&self, request: NewPortal) -> PortalCredentials {
        let config = &self.state.config;
        let index = read(&self.state.portals).len();
        let seed = request.seed.unwrap_or(config.seed);
        let mut hub_id = generator::hub_id_for(config.seed, index);
        while self.state.portal(hub_id).is_some() {
            hub_id += 1;
        }
        let data = generator::generate(&PortalSpec {
            seed,
            hub_id,
            records_per_table: request
                .records_per_table
                .unwrap_or(config.records_per_table),
            options: config.generator.clone(),
        });
        self.register(data, request.tier)
    }

    /// Installs the app again with chosen scopes, as the consent page would.
    pub fn install(
        &self,
        hub_id: u64,
        request: &InstallRequest,
    ) -> Result<InstallResult, ControlError> {
        let portal = self.portal(hub_id)?;
        let scopes = grant_scopes(portal.tier, &request.scopes, &request.optional_scopes)?;
        let lifetime = self.state.settings().token_lifetime_secs;
        let mut auth = lock(&self.state.auth);
        let refresh_token = auth.install(hub_id, scopes.clone(), portal.user_id);
        let access_token = auth.mint_access(
            hub_id,
            scopes.clone(),
            portal.user_id,
            now_ms(),
            i64::try_from(lifetime.saturating_mul(1000)).unwrap_or(i64::MAX),
        );
        Ok(InstallResult {
            refresh_token,
            access_token,
            expires_in: lifetime,
            scopes,
        })
    }

    /// Mints an access token directly (any scopes, any lifetime, even already expired).
    pub fn mint_token(
        &self,
        hub_id: u64,
        request: &MintRequest,
    ) -> Result<MintedToken, ControlError> {
        let portal = self.portal(hub_id)?;
        let scopes = match &request.scopes {
            Some(s) => {
                let mut s = s.clone();
                if !s.iter().any(|x| x == "oauth") {
                    s.insert(0, "oauth".into());
                }
                s
            }
            None => lock(&portal.default_scopes).clone(),
        };
        let lifetime = request
            .lifetime_secs
            .unwrap_or(self.state.settings().token_lifetime_secs as i64);
        let token = lock(&self.state.auth).mint_access(
            hub_id,
            scopes.clone(),
            portal.user_id,
            now_ms(),
            lifetime.saturating_mul(1000),
        );
        Ok(MintedToken {
            access_token: token,
            expires_in: lifetime,
            scopes,
        })
    }

    /// Uninstalls the app: every token of the portal stops working.
    pub fn uninstall(&self, hub_id: u64) -> Result<usize, ControlError> {
        self.portal(hub_id)?;
        Ok(lock(&self.state.auth).uninstall(hub_id))
    }

    /// Table sizes and settings of a portal.
    pub fn summary(&self, hub_id: u64) -> Result<Value, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        let tables: Map<String, Value> = data
            .tables
            .iter()
            .map(|t| {
                (
                    t.info.plural.clone(),
                    serde_json::json!({
                        "objectTypeId": t.info.type_id,
                        "live": t.live.len(),
                        "archived": t.archived.len(),
                        "merged": t.aliases.len(),
                        "properties": t.props.defs.iter().filter(|d| !d.archived).count(),
                    }),
                )
            })
            .collect();
        Ok(serde_json::json!({
            "hubId": hub_id,
            "tier": portal.tier,
            "indexLagMs": portal.index_lag().as_millis() as u64,
            "rateLimits": lock(&portal.limiter).config,
            "owners": data.owners.len(),
            "tables": tables,
        }))
    }

    pub fn rate_limits(&self, hub_id: u64) -> Result<RateLimitConfig, ControlError> {
        Ok(lock(&self.portal(hub_id)?.limiter).config.clone())
    }

    /// Changes the limits of one portal, or of every portal.
    pub fn set_rate_limits(
        &self,
        hub_id: Option<u64>,
        limits: RateLimitConfig,
    ) -> Result<(), ControlError> {
        for portal in self.targets(hub_id)? {
            *lock(&portal.limiter) = crate::ratelimit::RateLimiter::new(limits.clone());
        }
        Ok(())
    }

    pub fn set_index_lag(&self, hub_id: Option<u64>, lag: Duration) -> Result<(), ControlError> {
        for portal in self.targets(hub_id)? {
            portal.set_index_lag(lag);
        }
        Ok(())
    }

    fn targets(&self, hub_id: Option<u64>) -> Result<Vec<Arc<Portal>>, ControlError> {
        match hub_id {
            Some(h) => Ok(vec![self.portal(h)?]),
            None => Ok(read(&self.state.portals).values().cloned().collect()),
        }
    }

    pub fn settings(&self) -> Settings {
        self.state.settings()
    }

    pub fn set_settings(&self, settings: Settings) {
        *write(&self.state.settings) = settings;
    }

    pub fn set_latency(&self, latency: LatencyConfig) {
        write(&self.state.settings).latency = latency;
    }

    pub fn set_association_page_size(&self, size: usize) {
        write(&self.state.settings).association_page_size = size.max(1);
    }

    pub fn faults(&self) -> FaultPlan {
        lock(&self.state.faults).plan.clone()
    }

    /// Replaces the fault plan (rates and script).
    pub fn set_faults(&self, plan: FaultPlan) {
        lock(&self.state.faults).plan = plan;
    }

    /// Appends scripted steps to the current script.
    pub fn push_fault_steps(&self, steps: Vec<ScriptStep>) {
        lock(&self.state.faults).plan.script.extend(steps);
    }

    pub fn clear_faults(&self) {
        lock(&self.state.faults).plan = FaultPlan::default();
    }

    /// Counters of every request the simulator answered.
    pub fn counters(&self) -> CounterSnapshot {
        self.state.counters.snapshot()
    }

    pub fn portal_counters(&self, hub_id: u64) -> Result<CounterSnapshot, ControlError> {
        Ok(self.portal(hub_id)?.counters.snapshot())
    }

    pub fn reset_counters(&self) {
        self.state.counters.reset();
        for portal in read(&self.state.portals).values() {
            portal.counters.reset();
        }
    }
}
