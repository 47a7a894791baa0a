//! The hubsync domain, pure and without I/O: the table catalog, property-type mapping
//! and value parsing, custom queries, modified-date ranges and their splitting, the
//! search-request body, the job and outcome messages, and the watermark rule.
//!
//! Must not: perform I/O, depend on tokio, sqlx, lapin or reqwest, or know about a
//! particular store or transport. Every other crate applies these rules.

pub mod catalog;
pub mod custom_query;
pub mod field;
pub mod ids;
pub mod message;
pub mod metadata;
pub mod range;
pub mod search;
pub mod value;
pub mod watermark;

pub use catalog::{
    INSTALL_SCOPES_OPTIONAL, INSTALL_SCOPES_REQUIRED, Join, LeftOut, TableKind, TableSelection,
    TableSpec, owners_available, select_tables,
};
pub use custom_query::{CustomQuery, CustomQueryError};
pub use field::{Field, FieldOption, FieldType, MappingContext, SqlType, map_properties};
pub use ids::{ChunkId, ConnectionId, PropertyName, RunId, TableName};
pub use message::{
    ChunkJob, ChunkOutcome, ChunkStatus, Poison, decode_job, decode_outcome, encode_job,
    encode_outcome,
};
pub use range::{ChunkRange, IdRange, IdSample, ModifiedRange, RunKind, parts_needed, run_window};
pub use search::{SearchRequest, build_search_request};
pub use value::{ParseOutcome, ParsedRecord, parse_record, parse_value};
pub use watermark::{ChunkState, ChunkSummary, WatermarkDecision, decide_watermark};
