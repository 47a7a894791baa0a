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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::range::{IdRange, ModifiedRange};

    fn job() -> ChunkJob {
        ChunkJob {
            run_id: RunId::new_random(),
            chunk_id: ChunkId::new_random(),
            parent_chunk_id: Some(ChunkId::new_random()),
            connection_id: ConnectionId::new_random(),
            table: TableName::DEALS,
            range: ChunkRange::by_ids(
                ModifiedRange::from_millis(1_704_067_200_000, 1_704_067_200_001).unwrap(),
                IdRange::new(0, 500).unwrap(),
            )
            .unwrap(),
            run_kind: RunKind::Incremental,
            attempt: 2,
            depth: 3,
        }
    }

    fn outcome(status: ChunkStatus) -> ChunkOutcome {
        ChunkOutcome {
            run_id: RunId::new_random(),
            chunk_id: ChunkId::new_random(),
            connection_id: ConnectionId::new_random(),
            table: TableName::CONTACTS,
            status,
        }
    }

    #[test]
    fn jobs_round_trip_with_a_version() {
        let job = job();
        let body = encode_job(&job);
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["v"], json!(1));
        assert_eq!(value["table"], json!("deals"));
        assert_eq!(value["run_kind"], json!("incremental"));
        assert_eq!(
            value["range"],
            json!({"modified": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:00:00.001Z"},
                   "ids": {"start": 0, "end": 500}})
        );
        assert_eq!(decode_job(&body).unwrap(), job);
    }

    #[test]
    fn outcomes_round_trip_in_every_status() {
        for status in [
            ChunkStatus::Succeeded {
                records: 1_234,
                pages: 7,
                unparsed_values: 2,
            },
            ChunkStatus::Split {
                children: vec![ChunkId::new_random(), ChunkId::new_random()],
            },
            ChunkStatus::Failed {
                error: "hubspot answered 403 MISSING_SCOPES".into(),
                retryable: false,
            },
        ] {
            let outcome = outcome(status);
            assert_eq!(decode_outcome(&encode_outcome(&outcome)).unwrap(), outcome);
        }
        let body = encode_outcome(&outcome(ChunkStatus::Succeeded {
            records: 1,
            pages: 1,
            unparsed_values: 0,
        }));
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["status"]["kind"], json!("succeeded"));
    }

    #[test]
    fn optional_and_unknown_fields_are_tolerated() {
        let mut value: Value = serde_json::from_slice(&encode_job(&job())).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("parent_chunk_id");
        object.remove("attempt");
        object.remove("depth");
        object.insert("added_in_a_later_build".into(), json!(true));
        let decoded = decode_job(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(decoded.parent_chunk_id, None);
        assert_eq!(decoded.attempt, 1);
        assert_eq!(decoded.depth, 0);
    }

    #[test]
    fn unreadable_messages_are_poison() {
        let good: Value = serde_json::from_slice(&encode_job(&job())).unwrap();
        let with = |key: &str, new: Value| {
            let mut value = good.clone();
            value[key] = new;
            serde_json::to_vec(&value).unwrap()
        };
        let without = |key: &str| {
            let mut value = good.clone();
            value.as_object_mut().unwrap().remove(key);
            serde_json::to_vec(&value).unwrap()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not json".to_vec(), "chunk job is not JSON"),
            (b"[1, 2]".to_vec(), "chunk job is not a JSON object"),
            (without("v"), "chunk job has no version field \"v\""),
            (
                with("v", json!(2)),
                "chunk job has version 2; this build reads version 1",
            ),
            (
                with("v", json!("1")),
                "chunk job has version \"1\"; this build reads version 1",
            ),
            (without("run_id"), "chunk job does not match version 1"),
            (
                with("table", json!("Robert'); DROP TABLE")),
                "chunk job does not match version 1",
            ),
            (
                with("run_kind", json!("sometimes")),
                "chunk job does not match version 1",
            ),
            (
                with(
                    "range",
                    json!({"modified": {"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}}),
                ),
                "chunk job does not match version 1",
            ),
        ];
        for (body, expected) in cases {
            let poison = decode_job(&body).unwrap_err();
            assert!(
                poison
                    .to_string()
                    .starts_with(&format!("poison message: {expected}")),
                "{poison}"
            );
        }
        let outcome_poison = decode_outcome(&encode_job(&job())).unwrap_err();
        assert!(
            outcome_poison
                .reason
                .starts_with("chunk outcome does not match version 1")
        );
    }
}
