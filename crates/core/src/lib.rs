//! The hubsync domain, pure and without I/O: the table catalog, property-type mapping
//! and value parsing, custom queries, modified-date ranges and their splitting, the
//! search-request body, the job and outcome messages, and the watermark rule.
//!
//! Must not: perform I/O, depend on tokio, sqlx, lapin or reqwest, or know about a
//! particular store or transport. Every other crate applies these rules.

pub mod metadata;
pub mod search;
