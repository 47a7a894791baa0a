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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap()
    }

    fn chunk(state: ChunkState, parent: Option<ChunkId>) -> ChunkSummary {
        ChunkSummary {
            chunk_id: ChunkId::new_random(),
            parent_chunk_id: parent,
            state,
        }
    }

    /// A run whose first chunk split into two children, plus a second top-level chunk.
    fn split_run(child_states: [ChunkState; 2], other: ChunkState) -> Vec<ChunkSummary> {
        let parent = chunk(ChunkState::Split, None);
        vec![
            parent,
            chunk(child_states[0], Some(parent.chunk_id)),
            chunk(child_states[1], Some(parent.chunk_id)),
            chunk(other, None),
        ]
    }

    #[test]
    fn advances_when_every_leaf_succeeded() {
        let run = split_run([ChunkState::Succeeded; 2], ChunkState::Succeeded);
        assert_eq!(
            decide_watermark(Some(at(1_000)), at(5_000), &run),
            WatermarkDecision::Advance {
                from: Some(at(1_000)),
                to: at(5_000)
            }
        );
        // First sync: no watermark yet.
        assert_eq!(
            decide_watermark(None, at(5_000), &run),
            WatermarkDecision::Advance {
                from: None,
                to: at(5_000)
            }
        );
    }

    #[test]
    fn a_failed_or_unfinished_leaf_holds_it() {
        for (children, other) in [
            (
                [ChunkState::Succeeded, ChunkState::Failed],
                ChunkState::Succeeded,
            ),
            (
                [ChunkState::Succeeded, ChunkState::Pending],
                ChunkState::Succeeded,
            ),
            (
                [ChunkState::Running, ChunkState::Succeeded],
                ChunkState::Succeeded,
            ),
            (
                [ChunkState::Succeeded, ChunkState::Succeeded],
                ChunkState::Failed,
            ),
        ] {
            let decision =
                decide_watermark(Some(at(1_000)), at(5_000), &split_run(children, other));
            assert!(
                matches!(decision, WatermarkDecision::Hold { .. }),
                "{children:?} {other:?}"
            );
        }
        let decision = decide_watermark(
            None,
            at(5_000),
            &split_run(
                [ChunkState::Failed, ChunkState::Pending],
                ChunkState::Succeeded,
            ),
        );
        assert_eq!(
            decision,
            WatermarkDecision::Hold {
                progress: RunProgress {
                    leaves: 3,
                    succeeded: 1,
                    failed: 1,
                    unfinished: 1,
                    split_without_children: 0
                }
            }
        );
    }

    #[test]
    fn a_split_chunk_is_not_a_leaf_but_needs_its_children() {
        // The split parent is ignored once its children are there...
        let progress = run_progress(&split_run(
            [ChunkState::Succeeded; 2],
            ChunkState::Succeeded,
        ));
        assert_eq!(progress.leaves, 3);
        assert!(progress.is_complete());
        // ...but a split chunk whose children are not recorded holds the run open.
        let orphan_split = vec![
            chunk(ChunkState::Split, None),
            chunk(ChunkState::Succeeded, None),
        ];
        let decision = decide_watermark(None, at(5_000), &orphan_split);
        assert!(matches!(
            decision,
            WatermarkDecision::Hold { progress } if progress.split_without_children == 1
        ));
        // A run without chunks proves nothing.
        assert!(matches!(
            decide_watermark(None, at(5_000), &[]),
            WatermarkDecision::Hold { .. }
        ));
    }

    #[test]
    fn never_moves_backwards() {
        let run = vec![chunk(ChunkState::Succeeded, None)];
        assert_eq!(
            decide_watermark(Some(at(9_000)), at(5_000), &run),
            WatermarkDecision::Keep
        );
        assert_eq!(
            decide_watermark(Some(at(5_000)), at(5_000), &run),
            WatermarkDecision::Keep
        );
    }

    #[test]
    fn chunk_states_have_stable_names() {
        for state in [
            ChunkState::Pending,
            ChunkState::Running,
            ChunkState::Succeeded,
            ChunkState::Split,
            ChunkState::Failed,
        ] {
            assert_eq!(state.as_str().parse::<ChunkState>().unwrap(), state);
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        assert!("done".parse::<ChunkState>().is_err());
    }
}
