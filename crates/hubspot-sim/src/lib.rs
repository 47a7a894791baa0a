//! A HubSpot API simulator for tests, demos and benchmarks: OAuth, CRM objects (list,
//! read, batch read, search), properties, pipelines, custom-object schemas, owners,
//! associations v4 (and the legacy v3 batch read), HubSpot's rate limits, injected faults
//! and latency, and a seeded portal generator, served over real HTTP by axum.
//!
//! It owns what HubSpot would own: the data of each portal, its tokens and its limits, and
//! a control API under `/_sim/` (plus the in-process [`SimControl`]) that tests use to
//! change portals and read the ground truth and the request counters.
//!
//! Must not: depend on any other hubsync crate. It owns its wire structs so that a
//! misreading of HubSpot cannot hide in code shared by the client and the simulator. It
//! must not be more lenient than api.hubapi.com where the sync touches it: where HubSpot's
//! behaviour is unconfirmed, the code says which plausible behaviour was chosen.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hubspot_sim::SimError> {
//! let sim = hubspot_sim::Simulator::start(hubspot_sim::SimConfig::default()).await?;
//! let portal = &sim.portals()[0];
//! println!("{} hub {} refresh token {}", sim.base_url(), portal.hub_id, portal.refresh_token);
//! let deals = sim.control().records(portal.hub_id, "deals", false).unwrap();
//! # drop(deals);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The control API (all JSON, no auth): see [`api::control::ENDPOINTS`] or `GET /_sim`.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod control;
pub mod counters;
pub mod faults;
pub mod generator;
pub mod ratelimit;
pub mod search;
mod server;
pub mod state;
pub mod store;

pub use config::{
    BulkImport, EndpointFamily, Fault, FaultBody, FaultPlan, FaultRate, GeneratorOptions, Latency,
    LatencyConfig, RateLimitConfig, ScriptStep, SimConfig, Tier,
};
pub use control::{
    AssociationChange, ControlError, InstallRequest, InstallResult, MintRequest, MintedToken,
    NewPortal, PortalCredentials, PropertyChange, SimAssociation, SimAssociationType, SimControl,
    SimRecord,
};
pub use counters::CounterSnapshot;
pub use server::{RunningSim, SimError, Simulator};
pub use state::Settings;
