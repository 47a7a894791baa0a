//! Last-modified ranges, the windows of runs, and splitting them into chunks.
//!
//! Ranges are half-open `[start, end)` so that adjacent chunks share a bound without
//! sharing a record, and at millisecond precision because HubSpot stores and matches
//! timestamps at millisecond resolution: a sub-millisecond bound would promise a
//! precision the search does not have.
//!
//! When a range is one millisecond wide and still holds too many records to fetch in one
//! chunk (bulk imports stamp thousands of records with the same millisecond), it can only
//! be split by record id: [`IdRange`] is a half-open range of `hs_object_id`.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::value::format_timestamp;

/// HubSpot answers 500 to searches at the Unix epoch (API.md §18.27): no range starts
/// before one second after it.
pub const EARLIEST_MS: i64 = 1_000;

/// HubSpot record ids are Java longs; no id reaches this (exclusive) bound.
pub const MAX_ID_EXCLUSIVE: u64 = i64::MAX as u64;

/// A range that cannot exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("empty range: start {start} is not before end {end}")]
    Empty { start: String, end: String },
    #[error("timestamp {0} ms is outside the supported dates")]
    OutOfRange(i64),
    #[error("empty id range: {start} is not below {end}")]
    EmptyIds { start: u64, end: u64 },
    #[error("an id range needs a time range of one millisecond, not {0}")]
    IdsNeedSingleMillisecond(String),
}

/// A half-open range `[start, end)` of last-modified times, in whole milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawModifiedRange", into = "RawModifiedRange")]
pub struct ModifiedRange {
    start_ms: i64,
    end_ms: i64,
}

/// The wire form: RFC 3339 strings, readable in a queue browser.
#[derive(Serialize, Deserialize)]
struct RawModifiedRange {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TryFrom<RawModifiedRange> for ModifiedRange {
    type Error = RangeError;
    fn try_from(raw: RawModifiedRange) -> Result<Self, Self::Error> {
        ModifiedRange::new(raw.start, raw.end)
    }
}

impl From<ModifiedRange> for RawModifiedRange {
    fn from(range: ModifiedRange) -> Self {
        RawModifiedRange {
            start: range.start(),
            end: range.end(),
        }
    }
}

impl ModifiedRange {
    /// `[start, end)`, both truncated to the millisecond; refuses an empty or inverted
    /// range (after truncation).
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, RangeError> {
        Self::from_millis(start.timestamp_millis(), end.timestamp_millis())
    }

    /// `[start_ms, end_ms)` in epoch milliseconds.
    pub fn from_millis(start_ms: i64, end_ms: i64) -> Result<Self, RangeError> {
        for ms in [start_ms, end_ms] {
            if Utc.timestamp_millis_opt(ms).single().is_none() {
                return Err(RangeError::OutOfRange(ms));
            }
        }
        if start_ms >= end_ms {
            return Err(RangeError::Empty {
                start: millis_to_text(start_ms),
                end: millis_to_text(end_ms),
            });
        }
        Ok(Self { start_ms, end_ms })
    }

    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }

    pub fn start(&self) -> DateTime<Utc> {
        millis_to_datetime(self.start_ms)
    }

    pub fn end(&self) -> DateTime<Utc> {
        millis_to_datetime(self.end_ms)
    }

    /// The width in milliseconds (≥ 1).
    pub fn len_ms(&self) -> u64 {
        self.end_ms.abs_diff(self.start_ms)
    }

    /// Whether the range is one millisecond, so only an id range can split it further.
    pub fn is_single_ms(&self) -> bool {
        self.len_ms() == 1
    }

    /// Whether a last-modified time (in ms) falls inside.
    pub fn contains_ms(&self, ms: i64) -> bool {
        self.start_ms <= ms && ms < self.end_ms
    }
}

impl std::fmt::Display for ModifiedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}, {})",
            millis_to_text(self.start_ms),
            millis_to_text(self.end_ms)
        )
    }
}

/// Constructors check the range, so every stored millisecond converts.
fn millis_to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn millis_to_text(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(instant) => format_timestamp(instant),
        None => format!("{ms} ms"),
    }
}

/// A half-open range `[start, end)` of `hs_object_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawIdRange", into = "RawIdRange")]
pub struct IdRange {
    start: u64,
    end: u64,
}

#[derive(Serialize, Deserialize)]
struct RawIdRange {
    start: u64,
    end: u64,
}

impl TryFrom<RawIdRange> for IdRange {
    type Error = RangeError;
    fn try_from(raw: RawIdRange) -> Result<Self, Self::Error> {
        IdRange::new(raw.start, raw.end)
    }
}

impl From<IdRange> for RawIdRange {
    fn from(range: IdRange) -> Self {
        RawIdRange {
            start: range.start,
            end: range.end,
        }
    }
}

impl IdRange {
    /// Every possible record id.
    pub const ALL: IdRange = IdRange {
        start: 0,
        end: MAX_ID_EXCLUSIVE,
    };

    pub fn new(start: u64, end: u64) -> Result<Self, RangeError> {
        if start >= end {
            return Err(RangeError::EmptyIds { start, end });
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Never true (constructors refuse empty ranges); present for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn contains(&self, id: u64) -> bool {
        self.start <= id && id < self.end
    }

    /// The same range with its start raised to `lowest_id`, the smallest id seen in it
    /// (a search page sorted by id ascending gives it for free). Splitting the narrowed
    /// range wastes no children on the empty low part of the id space. `None` when
    /// `lowest_id` is outside the range.
    pub fn narrowed_to(&self, lowest_id: u64) -> Option<IdRange> {
        self.contains(lowest_id).then_some(IdRange {
            start: lowest_id,
            end: self.end,
        })
    }
}

/// The scope of one chunk: a time range, and an id range only when the time range is a
/// single millisecond that had to be split by id. That restriction keeps the sync's own
/// filters at three per search filter group (see [`crate::search`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawChunkRange", into = "RawChunkRange")]
pub struct ChunkRange {
    modified: ModifiedRange,
    ids: Option<IdRange>,
}

#[derive(Serialize, Deserialize)]
struct RawChunkRange {
    modified: ModifiedRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ids: Option<IdRange>,
}

impl TryFrom<RawChunkRange> for ChunkRange {
    type Error = RangeError;
    fn try_from(raw: RawChunkRange) -> Result<Self, Self::Error> {
        match raw.ids {
            None => Ok(ChunkRange::time(raw.modified)),
            Some(ids) => ChunkRange::by_ids(raw.modified, ids),
        }
    }
}

impl From<ChunkRange> for RawChunkRange {
    fn from(range: ChunkRange) -> Self {
        RawChunkRange {
            modified: range.modified,
            ids: range.ids,
        }
    }
}

impl ChunkRange {
    /// A chunk over a whole time range.
    pub fn time(modified: ModifiedRange) -> Self {
        Self {
            modified,
            ids: None,
        }
    }

    /// A chunk over part of the ids of a one-millisecond time range.
    pub fn by_ids(modified: ModifiedRange, ids: IdRange) -> Result<Self, RangeError> {
        if !modified.is_single_ms() {
            return Err(RangeError::IdsNeedSingleMillisecond(modified.to_string()));
        }
        Ok(Self {
            modified,
            ids: Some(ids),
        })
    }

    pub fn modified(&self) -> ModifiedRange {
        self.modified
    }

    /// The id range, when the chunk was split by id.
    pub fn ids(&self) -> Option<IdRange> {
        self.ids
    }

    /// The id range in force (all ids when none is set).
    pub fn id_range(&self) -> IdRange {
        self.ids.unwrap_or(IdRange::ALL)
    }

    /// Whether a record (last-modified ms, id) belongs to this chunk. HubSpot's search
    /// sometimes returns records slightly outside the window (API.md §18.6).
    pub fn contains(&self, modified_ms: i64, id: u64) -> bool {
        self.modified.contains_ms(modified_ms) && self.id_range().contains(id)
    }

    /// Like [`ChunkRange::split`], but an id split uses what the chunk's first search
    /// page showed. HubSpot hands out ids densely (a few apart), so an even split of a
    /// millisecond's id range up to 2^63 would put a bulk import's thousands of records
    /// into the first child of the first child…, one search per level. The page's
    /// lowest and highest ids and the chunk's total estimate where its ids end; the
    /// estimate (with 25 % headroom) is split into `parts`, and one tail child covers
    /// the rest of the range, so the children still cover it exactly.
    pub fn split_sampled(&self, parts: usize, sample: IdSample) -> Option<Vec<ChunkRange>> {
        if !self.modified.is_single_ms() {
            return self.split(parts, Some(sample.lowest));
        }
        let Some(ids) = self.id_range().narrowed_to(sample.lowest) else {
            return self.split(parts, None);
        };
        let sampled = u128::from(sample.sampled.max(1));
        let spread = u128::from(sample.highest.saturating_sub(sample.lowest)) + 1;
        let expected = u128::from(sample.total).max(sampled);
        // `total` is HubSpot's word and ids may reach 2^63: saturate rather than overflow.
        let dense_width = spread.saturating_mul(expected).saturating_mul(5) / (sampled * 4);
        let dense_end = u128::from(ids.start) + dense_width;
        let pieces = if dense_end >= u128::from(ids.end) {
            split_ids(ids, parts.max(2))
        } else {
            // dense_end < ids.end <= u64::MAX, so the cast is exact.
            let dense_end = dense_end as u64;
            let mut pieces = split_ids(
                IdRange {
                    start: ids.start,
                    end: dense_end,
                },
                parts.max(2),
            );
            pieces.push(IdRange {
                start: dense_end,
                end: ids.end,
            });
            pieces
        };
        if pieces.len() < 2 {
            return None;
        }
        Some(
            pieces
                .into_iter()
                .map(|ids| ChunkRange {
                    modified: self.modified,
                    ids: Some(ids),
                })
                .collect(),
        )
    }

    /// Splits into 2 to `parts` sub-chunks (`parts` below 2 counts as 2): by time while
    /// the range is wider than one millisecond, then by id. `lowest_id`, the smallest id
    /// seen in this chunk, narrows an id split. `None` when the chunk is one millisecond
    /// and one id, and cannot shrink.
    pub fn split(&self, parts: usize, lowest_id: Option<u64>) -> Option<Vec<ChunkRange>> {
        let parts = parts.max(2);
        if !self.modified.is_single_ms() {
            let pieces = split_time(self.modified, parts);
            return (pieces.len() > 1).then(|| pieces.into_iter().map(ChunkRange::time).collect());
        }
        let ids = self.id_range();
        let ids = lowest_id
            .and_then(|lowest| ids.narrowed_to(lowest))
            .unwrap_or(ids);
        let pieces = split_ids(ids, parts);
        (pieces.len() > 1).then(|| {
            pieces
                .into_iter()
                .map(|ids| ChunkRange {
                    modified: self.modified,
                    ids: Some(ids),
                })
                .collect()
        })
    }
}

/// What a chunk's first search page (sorted by `hs_object_id` ascending) showed about
/// its ids: the page's lowest and highest id, how many records the page held, and the
/// chunk's `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSample {
    pub lowest: u64,
    pub highest: u64,
    pub sampled: u64,
    pub total: u64,
}

/// Splits `[start, end)` into `min(parts, width)` contiguous, non-empty, ms-aligned
/// parts of near-equal width (at least one part). Deterministic.
pub fn split_time(range: ModifiedRange, parts: usize) -> Vec<ModifiedRange> {
    even_bounds(range.start_ms as i128, range.end_ms as i128, parts)
        .windows(2)
        .map(|pair| ModifiedRange {
            start_ms: pair[0] as i64,
            end_ms: pair[1] as i64,
        })
        .collect()
}

/// Splits an id range like [`split_time`] does a time range.
pub fn split_ids(range: IdRange, parts: usize) -> Vec<IdRange> {
    even_bounds(range.start as i128, range.end as i128, parts)
        .windows(2)
        .map(|pair| IdRange {
            start: pair[0] as u64,
            end: pair[1] as u64,
        })
        .collect()
}

/// `n + 1` strictly increasing bounds from `start` to `end`, `n = min(parts, end - start)`.
/// i128 keeps `width * i` exact for any i64/u64 range.
fn even_bounds(start: i128, end: i128, parts: usize) -> Vec<i128> {
    let width = end - start;
    let count = (parts.max(1) as i128).min(width).max(1);
    (0..=count).map(|i| start + width * i / count).collect()
}

/// How many parts a chunk holding `total` records (the first search page's `total`)
/// should split into so that each part holds about `records_per_chunk`: 1 means fetch
/// it as is. Capped at `max_parts` (≥ 2 when splitting at all) because a part's size
/// is unknown until its own first page; a part still too big splits again.
pub fn parts_needed(total: u64, records_per_chunk: u64, max_parts: usize) -> usize {
    let records_per_chunk = records_per_chunk.max(1);
    if total <= records_per_chunk {
        return 1;
    }
    let wanted = total.div_ceil(records_per_chunk);
    usize::try_from(wanted)
        .unwrap_or(usize::MAX)
        .min(max_parts.max(2))
}

/// Whether a run reads everything or only what changed since the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Full,
    Incremental,
}

impl RunKind {
    /// `full` or `incremental`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Full => "full",
            RunKind::Incremental => "incremental",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The window of an incremental run: `[watermark − lookback, run_start)`. The lookback
/// absorbs HubSpot's search-index lag (a record modified just before the previous run
/// started may not have been searchable yet). `None` when the window is empty (the
/// watermark is at or after `run_start`, e.g. a clock step back): nothing to do.
pub fn incremental_window(
    watermark: DateTime<Utc>,
    lookback: Duration,
    run_start: DateTime<Utc>,
) -> Option<ModifiedRange> {
    let lookback = TimeDelta::from_std(lookback).unwrap_or(TimeDelta::MAX);
    let start = watermark
        .checked_sub_signed(lookback)
        .map_or(EARLIEST_MS, |start| start.timestamp_millis());
    window_from(start, run_start)
}

/// The window of a full run: `[epoch + 1 s, run_start)`.
pub fn full_window(run_start: DateTime<Utc>) -> Option<ModifiedRange> {
    window_from(EARLIEST_MS, run_start)
}

/// The window of a run of either kind; an incremental run without a watermark (the
/// table was never synced) reads everything.
pub fn run_window(
    kind: RunKind,
    watermark: Option<DateTime<Utc>>,
    lookback: Duration,
    run_start: DateTime<Utc>,
) -> Option<ModifiedRange> {
    match (kind, watermark) {
        (RunKind::Incremental, Some(watermark)) => {
            incremental_window(watermark, lookback, run_start)
        }
        _ => full_window(run_start),
    }
}

fn window_from(start_ms: i64, run_start: DateTime<Utc>) -> Option<ModifiedRange> {
    ModifiedRange::from_millis(start_ms.max(EARLIEST_MS), run_start.timestamp_millis()).ok()
}

#[cfg(test)]
mod tests;
