//! Request counters: what the product's tests use to prove a sync fetched only what changed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The status a request is counted under when the client left before the answer (nginx's
/// "client closed request"): a hang the client gave up on, for instance.
pub const CLIENT_CLOSED: u16 = 499;

/// A snapshot of the counters, as the control API returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    /// Requests by endpoint family, then HTTP status ([`CLIENT_CLOSED`] for requests the
    /// client abandoned before the answer).
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// 429s by policy name (`TEN_SECONDLY_ROLLING`, `SECONDLY`, `DAILY`).
    pub rate_limited: BTreeMap<String, u64>,
    /// Writes refused by the read-only audit.
    pub refused_writes: u64,
    /// The highest number of requests in flight at once.
    pub max_concurrency: u64,
    /// Records returned by object type (plural name), then endpoint family.
    pub records_returned: BTreeMap<String, BTreeMap<String, u64>>,
    /// Calls answered with records (objects, search, batch read, associations), by
    /// object type (plural name), then endpoint family: the API cost of each table.
    #[serde(default)]
    pub calls_by_type: BTreeMap<String, BTreeMap<String, u64>>,
    /// Faults injected by endpoint family.
    pub faults_injected: BTreeMap<String, u64>,
    /// TCP connections accepted (control API ones included).
    #[serde(default)]
    pub connections: u64,
    /// Accepted connections on which TCP_NODELAY is not set: each small response of a
    /// keep-alive client would wait for Nagle's ~40 ms. Always 0 unless the server regresses.
    #[serde(default)]
    pub connections_without_nodelay: u64,
}

impl CounterSnapshot {
    /// Requests of a family, all statuses.
    pub fn requests_of(&self, family: &str) -> u64 {
        self.requests
            .get(family)
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    pub fn records_of(&self, object_type: &str, family: &str) -> u64 {
        self.records_returned
            .get(object_type)
            .and_then(|m| m.get(family))
            .copied()
            .unwrap_or(0)
    }

    /// Calls of one family that answered records of `object_type`.
    pub fn calls_of(&self, object_type: &str, family: &str) -> u64 {
        self.calls_by_type
            .get(object_type)
            .and_then(|m| m.get(family))
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().flat_map(|m| m.values()).sum()
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    snapshot: Mutex<CounterSnapshot>,
    in_flight: AtomicU64,
}

/// Counts a request as in flight until dropped.
pub struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Counters {
    fn with<R>(&self, f: impl FnOnce(&mut CounterSnapshot) -> R) -> R {
        // a poisoned lock only means a panic elsewhere; the counters are still usable
        let mut guard = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.with(|s| s.max_concurrency = s.max_concurrency.max(now));
        InFlight(self)
    }

    pub fn request(&self, family: &str, status: u16) {
        self.with(|s| {
            *s.requests
                .entry(family.into())
                .or_default()
                .entry(status)
                .or_default() += 1
        });
    }

    /// Counts an accepted connection, with whether TCP_NODELAY is on for it.
    pub fn connection(&self, nodelay: bool) {
        self.with(|s| {
            s.connections += 1;
            if !nodelay {
                s.connections_without_nodelay += 1;
            }
        });
    }

    pub fn rate_limited(&self, policy: &str) {
        self.with(|s| *s.rate_limited.entry(policy.into()).or_default() += 1);
    }

    pub fn refused_write(&self) {
        self.with(|s| s.refused_writes += 1);
    }

    pub fn fault(&self, family: &str) {
        self.with(|s| *s.faults_injected.entry(family.into()).or_default() += 1);
    }

    /// Counts one call that answered `count` records of `object_type`.
    pub fn records(&self, object_type: &str, family: &str, count: u64) {
        self.with(|s| {
            *s.records_returned
                .entry(object_type.into())
                .or_default()
                .entry(family.into())
                .or_default() += count;
            *s.calls_by_type
                .entry(object_type.into())
                .or_default()
                .entry(family.into())
                .or_default() += 1;
        });
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        self.with(|s| s.clone())
    }

    pub fn reset(&self) {
        self.with(|s| *s = CounterSnapshot::default());
    }
}
