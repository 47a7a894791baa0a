//! The messages that travel on RabbitMQ: a [`ChunkJob`] (planner or worker → worker) and
//! a [`ChunkOutcome`] (worker → committer), as JSON with a version field `v`.
//!
//! A body that does not parse, or carries a version this build does not know, is
//! [`Poison`]: retrying it can never succeed, so consumers dead-letter it at once
//! instead of requeueing it. Unknown *fields* are ignored, so a newer producer may add
//! optional fields within a version while older consumers still run (rolling deploys).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ChunkId, ConnectionId, RunId, TableName};
use crate::range::{ChunkRange, RunKind};

/// The message version this build writes and reads.
pub const MESSAGE_VERSION: u64 = 1;

/// Work for one chunk: fetch the records of `table` in `range`, or split it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkJob {
    pub run_id: RunId,
    pub chunk_id: ChunkId,
    /// Set on sub-chunks: the chunk that split into this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_chunk_id: Option<ChunkId>,
    pub connection_id: ConnectionId,
    pub table: TableName,
    pub range: ChunkRange,
    pub run_kind: RunKind,
    /// 1 on the first delivery of this job by the planner; ops requeues increment it.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// 0 for the planner's chunks, parent's depth + 1 for sub-chunks.
    #[serde(default)]
    pub depth: u32,
}

fn first_attempt() -> u32 {
    1
}

/// What became of one chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkOutcome {
    pub run_id: RunId,
    pub chunk_id: ChunkId,
    pub connection_id: ConnectionId,
    pub table: TableName,
    pub status: ChunkStatus,
}

/// The end state of a chunk, as its worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChunkStatus {
    /// Every record of the chunk is stored.
    Succeeded {
        records: u64,
        pages: u64,
        /// Values kept as raw text because they did not parse as their field's type.
        #[serde(default)]
        unparsed_values: u64,
    },
    /// The chunk was too big and became these sub-chunks (already recorded and
    /// published); it is no longer a leaf, they are.
    Split { children: Vec<ChunkId> },
    /// The chunk gave up. Retryable failures (rate limits, 5xx) may be requeued as is;
    /// others (a refused custom query, a missing scope) need an admin first.
    Failed { error: String, retryable: bool },
}

/// A message that can never be processed: dead-letter it, don't retry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("poison message: {reason}")]
pub struct Poison {
    pub reason: String,
}

/// The wire form: `{"v": 1, ...fields}`.
#[derive(Serialize)]
struct Envelope<'a, T> {
    v: u64,
    #[serde(flatten)]
    body: &'a T,
}

/// Serializes a job as a version-1 JSON body.
pub fn encode_job(job: &ChunkJob) -> Vec<u8> {
    encode(job)
}

/// Serializes an outcome as a version-1 JSON body.
pub fn encode_outcome(outcome: &ChunkOutcome) -> Vec<u8> {
    encode(outcome)
}

/// Reads a job body; anything unreadable is [`Poison`].
pub fn decode_job(body: &[u8]) -> Result<ChunkJob, Poison> {
    decode(body, "chunk job")
}

/// Reads an outcome body; anything unreadable is [`Poison`].
pub fn decode_outcome(body: &[u8]) -> Result<ChunkOutcome, Poison> {
    decode(body, "chunk outcome")
}

fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    let envelope = Envelope {
        v: MESSAGE_VERSION,
        body,
    };
    // Our message types hold only strings, numbers, UUIDs and string-keyed structs,
    // which serde_json always serializes.
    serde_json::to_vec(&envelope).unwrap_or_else(|error| {
        unreachable!("message serialization cannot fail for our types: {error}")
    })
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, Poison> {
    let poison = |reason: String| Poison { reason };
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| poison(format!("{what} is not JSON: {error}")))?;
    let Value::Object(mut object) = value else {
        return Err(poison(format!("{what} is not a JSON object")));
    };
    match object.remove("v") {
        Some(Value::Number(v)) if v.as_u64() == Some(MESSAGE_VERSION) => {}
        Some(other) => {
            return Err(poison(format!(
                "{what} has version {other}; this build reads version {MESSAGE_VERSION}"
            )));
        }
        None => return Err(poison(format!("{what} has no version field \"v\""))),
    }
    serde_json::from_value(Value::Object(object)).map_err(|error| {
        poison(format!(
            "{what} does not match version {MESSAGE_VERSION}: {error}"
        ))
    })
}
