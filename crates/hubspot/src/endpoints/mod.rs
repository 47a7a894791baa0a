//! The typed endpoints, as methods of [`crate::PortalClient`].

pub mod associations;
pub mod metadata;
pub mod objects;
pub(crate) mod paging;
pub mod search;
