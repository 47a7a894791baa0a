//! The HubSpot API client: OAuth tokens and refresh, the rate governor, retry
//! classification, typed endpoints and paging.
//!
//! Must not: know anything of syncing (runs, chunks, watermarks) or of the store.
