//! Integration tests of the HubSpot client over real HTTP: against wiremock for what
//! it shows best (exact request shapes, headers, Retry-After, a hang, token refresh),
//! and against `hubspot-sim` for HubSpot's behaviour.

mod helpers;
mod wire;
