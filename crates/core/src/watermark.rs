//! The watermark rule: when a table's watermark may move, and to where.
//!
//! A table's watermark is the start time of its last complete run; the next incremental
//! run reads from it (minus the lookback). It advances to a run's start only when every
//! leaf chunk of that run succeeded — a chunk that split is not a leaf, its children
//! are — because a single missing chunk would otherwise be skipped forever. It never
//! moves backwards (an old run finishing late must not re-widen or rewind it), and the
//! rule is the same for full and incremental runs.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::ChunkId;

/// The state of one chunk as recorded in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkState {
    /// Published, not yet picked up (or requeued).
    Pending,
    /// A worker is on it.
    Running,
    Succeeded,
    /// Replaced by its children.
    Split,
    Failed,
}

impl ChunkState {
    /// The stable lowercase name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkState::Pending => "pending",
            ChunkState::Running => "running",
            ChunkState::Succeeded => "succeeded",
            ChunkState::Split => "split",
            ChunkState::Failed => "failed",
        }
    }
}

impl fmt::Display for ChunkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a chunk state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chunk state {0:?}")]
pub struct UnknownChunkState(pub String);

impl FromStr for ChunkState {
    type Err = UnknownChunkState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ChunkState::Pending,
            ChunkState::Running,
            ChunkState::Succeeded,
            ChunkState::Split,
            ChunkState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| UnknownChunkState(s.to_owned()))
    }
}

/// One chunk of a run, as the rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSummary {
    pub chunk_id: ChunkId,
    pub parent_chunk_id: Option<ChunkId>,
    pub state: ChunkState,
}

/// How far a run has come, counted over its leaf chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    pub leaves: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Pending or running leaves.
    pub unfinished: usize,
    /// Split chunks whose children are not (yet) recorded: they hold the run open.
    pub split_without_children: usize,
}

impl RunProgress {
    /// Every leaf succeeded and nothing is left to split.
    pub fn is_complete(&self) -> bool {
        self.leaves > 0 && self.succeeded == self.leaves && self.split_without_children == 0
    }
}

/// Counts a run's leaf chunks by state.
pub fn run_progress(chunks: &[ChunkSummary]) -> RunProgress {
    let parents: BTreeSet<ChunkId> = chunks.iter().filter_map(|c| c.parent_chunk_id).collect();
    let mut progress = RunProgress::default();
    for chunk in chunks {
        if chunk.state == ChunkState::Split {
            if !parents.contains(&chunk.chunk_id) {
                progress.split_without_children += 1;
            }
            continue;
        }
        progress.leaves += 1;
        match chunk.state {
            ChunkState::Succeeded => progress.succeeded += 1,
            ChunkState::Failed => progress.failed += 1,
            ChunkState::Pending | ChunkState::Running => progress.unfinished += 1,
            ChunkState::Split => {}
        }
    }
    progress
}

/// What to do with a table's watermark after looking at a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum WatermarkDecision {
    /// Move the watermark from `from` (none: first sync) to `to`, the run's start.
    Advance {
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    },
    /// The run is complete but would not move the watermark forward: keep it.
    Keep,
    /// The run is not complete: keep the watermark.
    Hold { progress: RunProgress },
}

/// Decides the new watermark of a table from its current one and a run.
pub fn decide_watermark(
    current: Option<DateTime<Utc>>,
    run_start: DateTime<Utc>,
    chunks: &[ChunkSummary],
) -> WatermarkDecision {
    let progress = run_progress(chunks);
    if !progress.is_complete() {
        return WatermarkDecision::Hold { progress };
    }
    match current {
        Some(current) if current >= run_start => WatermarkDecision::Keep,
        _ => WatermarkDecision::Advance {
            from: current,
            to: run_start,
        },
    }
}
