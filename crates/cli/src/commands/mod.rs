//! One module per subcommand.

pub mod connect;
pub mod migrate;
pub mod requeue;
pub mod roles;
pub mod status;
pub mod sync;
pub mod tables;
