//! Integration tests of the simulator over real HTTP (reqwest against a started simulator).

mod associations;
mod binary;
mod compat;
mod control;
mod faults;
mod helpers;
mod limits;
mod metadata;
mod oauth;
mod objects;
mod openapi;
mod search;
