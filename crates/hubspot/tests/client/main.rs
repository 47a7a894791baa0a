//! Integration tests of the HubSpot client over real HTTP: against wiremock for what
//! it shows best (exact request shapes, headers, Retry-After, a hang, token refresh),
//! and against `hubspot-sim` for HubSpot's behaviour.

mod helpers;
mod sim_faults;
mod sim_limits;
mod sim_metadata;
mod sim_oauth;
mod sim_paging;
mod sim_portals;
mod wire_api;
mod wire_failures;
mod wire_governor;
mod wire_oauth;
mod wire_tracing;
