//! The `hubsync` command line: configuration, wiring and one command per role and ops
//! task. The library half exists so that end-to-end tests build the roles exactly as
//! the binary does.
//!
//! Owns: reading settings files and the environment, installing the tracing
//! subscriber, picking implementations (the store-backed credentials of the HubSpot
//! client), signal handling. Must not: hold sync logic — that lives in the roles and
//! the core, which this crate only calls.

pub mod commands;
pub mod output;
pub mod settings;
pub mod telemetry;
pub mod wiring;
