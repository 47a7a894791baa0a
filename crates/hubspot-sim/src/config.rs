//! Every knob of the simulator, serde-able so the binary can read them from a file and the
//! control API can change them at run time.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The whole configuration of a simulator. `Default` gives the binary's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of the portal generator; the same seed gives the same portals.
    pub seed: u64,
    /// Number of portals to generate.
    pub portals: usize,
    /// Records per standard table (custom objects and goal targets get a share of it).
    pub records_per_table: usize,
    /// Tier of each portal by position; portals past the end of the list are Enterprise.
    pub portal_tiers: Vec<Tier>,
    pub client_id: String,
    pub client_secret: String,
    /// Redirect URIs registered on the app; the first one is printed with the credentials.
    pub redirect_uris: Vec<String>,
    /// Lifetime of access tokens (HubSpot: 1800 s).
    pub token_lifetime_secs: u64,
    pub rate_limits: RateLimitConfig,
    pub latency: LatencyConfig,
    pub faults: FaultPlan,
    /// How long a created or changed record stays invisible (or in its previous version) to
    /// search, like HubSpot's search index.
    pub index_lag_ms: u64,
    /// Longest request URI (path and query) accepted before 414. HubSpot fails somewhere
    /// between ~8,000 and ~16,300 characters; 8,192 is stricter on purpose.
    pub max_url_length: usize,
    /// Targets per input and page of the v4 association reads.
    pub association_page_size: usize,
    /// Record reads of a missing id answer 404 with an empty body instead of the JSON
    /// `OBJECT_NOT_FOUND` error: HubSpot has been seen doing both (API.md §5).
    pub empty_not_found_bodies: bool,
    pub generator: GeneratorOptions,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            portals: 1,
            records_per_table: 200,
            portal_tiers: Vec::new(),
            client_id: "5f1c1a52-7d2e-4b8f-9a0c-3e6d8b1f2a47".into(),
            client_secret: "sim-secret-3c9a7e12-6b4d-4f0e-8d21-a5b6c7d8e9f0".into(),
            redirect_uris: vec!["http://localhost:8765/oauth/callback".into()],
            token_lifetime_secs: 1800,
            rate_limits: RateLimitConfig::default(),
            latency: LatencyConfig::default(),
            faults: FaultPlan::default(),
            index_lag_ms: 0,
            max_url_length: 8192,
            association_page_size: 500,
            empty_not_found_bodies: false,
            generator: GeneratorOptions::default(),
        }
    }
}

/// A portal's subscription tier: it decides which scopes an install can be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Free,
    Starter,
    Professional,
    #[default]
    Enterprise,
}

impl Tier {
    /// Whether the tier has the feature behind a scope (API.md §1.1: custom objects need
    /// Enterprise, goals need Starter or above).
    pub fn allows_scope(self, scope: &str) -> bool {
        match scope {
            "crm.objects.custom.read" | "crm.schemas.custom.read" => self == Tier::Enterprise,
            "crm.objects.goals.read" => self != Tier::Free,
            _ => true,
        }
    }
}

/// HubSpot's request limits for one portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Off for engine benchmarks: no 429s at all (headers are still sent).
    pub enabled: bool,
    /// Requests per rolling window (OAuth apps: 110 per 10 s).
    pub max_per_interval: u32,
    pub interval_ms: u64,
    /// Search requests per second (its own bucket, no headers).
    pub search_per_second: u32,
    /// Optional daily limit (none is documented for OAuth apps).
    pub daily_max: Option<u64>,
    /// Whether 429s carry `Retry-After` (HubSpot does not always send it).
    pub retry_after: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_per_interval: 110,
            interval_ms: 10_000,
            search_per_second: 5,
            daily_max: None,
            retry_after: false,
        }
    }
}

/// Groups of endpoints that share latency, faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointFamily {
    Oauth,
    List,
    Read,
    BatchRead,
    Search,
    Write,
    Properties,
    Schemas,
    Owners,
    Pipelines,
    Associations,
    Other,
}

impl EndpointFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oauth => "oauth",
            Self::List => "list",
            Self::Read => "read",
            Self::BatchRead => "batch_read",
            Self::Search => "search",
            Self::Write => "write",
            Self::Properties => "properties",
            Self::Schemas => "schemas",
            Self::Owners => "owners",
            Self::Pipelines => "pipelines",
            Self::Associations => "associations",
            Self::Other => "other",
        }
    }
}

/// A fixed delay plus a uniformly random extra.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    pub base_ms: u64,
    pub jitter_ms: u64,
}

impl Latency {
    /// One draw: the base plus a uniform extra in `0..=jitter_ms`.
    pub fn sample(self) -> Duration {
        let extra = if self.jitter_ms > 0 {
            rand::rng().random_range(0..=self.jitter_ms)
        } else {
            0
        };
        Duration::from_millis(self.base_ms + extra)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyConfig {
    /// Processing time of every family without its own entry: spent after the request
    /// was counted against the rate limits.
    pub default: Latency,
    pub families: BTreeMap<EndpointFamily, Latency>,
    /// Time on the way in, before HubSpot counts the request against the rate limits
    /// (network, TLS, the edge). Its jitter moves the moment HubSpot stamps a request
    /// away from the moment the client sent it.
    pub transit: Latency,
}

impl LatencyConfig {
    pub fn for_family(&self, family: EndpointFamily) -> Latency {
        self.families.get(&family).copied().unwrap_or(self.default)
    }
}

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answers this status (500, 502, 503, 504, 423, 477, …) instead of the real response.
    Status {
        status: u16,
        #[serde(default)]
        body: FaultBody,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Waits this long before handling the request (past the client's timeout).
    Hang { millis: u64 },
    /// Drops the TCP connection without an answer.
    Reset,
    /// Answers normally but cuts the JSON body in half (Content-Length matches the cut body).
    TruncatedJson,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultBody {
    #[default]
    Html,
    Empty,
    Json,
}

/// Random faults and scripted sequences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    pub rates: Vec<FaultRate>,
    /// Steps consumed in order: a request takes the first step whose matchers fit it.
    pub script: Vec<ScriptStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRate {
    #[serde(default)]
    pub family: Option<EndpointFamily>,
    #[serde(default)]
    pub hub_id: Option<u64>,
    /// Probability in [0, 1] that a matching request gets the fault.
    pub probability: f64,
    pub fault: Fault,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    #[serde(default)]
    pub family: Option<EndpointFamily>,
    #[serde(default)]
    pub hub_id: Option<u64>,
    /// How many matching requests get the fault.
    pub count: u32,
    pub fault: Fault,
}

/// Options of the seeded portal generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorOptions {
    /// Timestamps are generated before this instant. None: today at midnight UTC, so that
    /// the same seed gives the same portal all day and its data always looks recent.
    pub reference_time: Option<DateTime<Utc>>,
    pub owners: usize,
    pub archived_owners: usize,
    /// Records per table moved to the recycle bin (archived within the last 90 days).
    pub archived_per_table: usize,
    /// Merges performed on contacts and companies (each creates a survivor with a new id).
    pub merges_per_table: usize,
    /// A cluster of records sharing one last-modified millisecond.
    pub bulk_import: Option<BulkImport>,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            reference_time: None,
            owners: 20,
            archived_owners: 4,
            archived_per_table: 5,
            merges_per_table: 2,
            bulk_import: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkImport {
    /// Table name (plural), e.g. `contacts`.
    pub table: String,
    pub count: usize,
}
