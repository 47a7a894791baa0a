//! Shared state of a running simulator: portals, OAuth, faults, counters, settings.
//!
//! Locks are `std::sync` ones: every critical section is short and synchronous (no
//! `.await` while held), so a blocking lock is cheaper than tokio's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::AuthStore;
use crate::config::{LatencyConfig, RateLimitConfig, SimConfig, Tier};
use crate::counters::Counters;
use crate::faults::FaultState;
use crate::ratelimit::RateLimiter;
use crate::store::PortalData;

/// Takes a lock even if a panic poisoned it: the data is plain and stays consistent
/// between statements.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// Settings that can change while the simulator runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub token_lifetime_secs: u64,
    pub max_url_length: usize,
    pub association_page_size: usize,
    /// 404s of record reads without a body (HubSpot sends either, API.md §5).
    pub empty_not_found_bodies: bool,
    pub latency: LatencyConfig,
}

impl Default for Settings {
    fn default() -> Self {
        let c = SimConfig::default();
        Self::from_config(&c)
    }
}

impl Settings {
    pub fn from_config(c: &SimConfig) -> Self {
        Self {
            token_lifetime_secs: c.token_lifetime_secs,
            max_url_length: c.max_url_length,
            association_page_size: c.association_page_size,
            empty_not_found_bodies: c.empty_not_found_bodies,
            latency: c.latency.clone(),
        }
    }
}

/// One portal (HubSpot account).
#[derive(Debug)]
pub struct Portal {
    pub hub_id: u64,
    pub tier: Tier,
    /// The user who installed the app (token responses carry it).
    pub user_id: u64,
    pub data: RwLock<PortalData>,
    pub limiter: Mutex<RateLimiter>,
    index_lag_ms: AtomicU64,
    pub counters: Counters,
    /// The refresh token of the install made at start (printed with the credentials).
    pub default_refresh_token: Mutex<String>,
    pub default_scopes: Mutex<Vec<String>>,
}

impl Portal {
    pub fn new(data: PortalData, tier: Tier, limits: RateLimitConfig, index_lag_ms: u64) -> Self {
        Self {
            hub_id: data.hub_id,
            tier,
            user_id: 9_000_000 + data.hub_id % 1_000_000,
            data: RwLock::new(data),
            limiter: Mutex::new(RateLimiter::new(limits)),
            index_lag_ms: AtomicU64::new(index_lag_ms),
            counters: Counters::default(),
            default_refresh_token: Mutex::new(String::new()),
            default_scopes: Mutex::new(Vec::new()),
        }
    }

    pub fn index_lag(&self) -> Duration {
        Duration::from_millis(self.index_lag_ms.load(Ordering::Relaxed))
    }

    pub fn set_index_lag(&self, lag: Duration) {
        self.index_lag_ms.store(
            u64::try_from(lag.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

#[derive(Debug)]
pub struct SimState {
    pub config: SimConfig,
    pub settings: RwLock<Settings>,
    pub portals: RwLock<BTreeMap<u64, Arc<Portal>>>,
    pub auth: Mutex<AuthStore>,
    pub faults: Mutex<FaultState>,
    pub counters: Counters,
    pub base_url: RwLock<String>,
}

impl SimState {
    pub fn portal(&self, hub_id: u64) -> Option<Arc<Portal>> {
        read(&self.portals).get(&hub_id).cloned()
    }

    pub fn base_url(&self) -> String {
        read(&self.base_url).clone()
    }

    pub fn settings(&self) -> Settings {
        read(&self.settings).clone()
    }
}
