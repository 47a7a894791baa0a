//! A HubSpot API simulator for tests, demos and benchmarks.
//!
//! Must not: depend on any other hubsync crate. It owns its wire structs so that a
//! misreading of HubSpot cannot hide in code shared by the client and the simulator.
