//! How a chunk too big to fetch alone divides itself, from what its first page told it.
//!
//! The first page is a free sample: the records with the lowest ids of the chunk's
//! range (search pages by id), each with its last-modified time, and HubSpot's `total`
//! for the whole range.
//!
//! - **Time.** Cuts at the sample's modification-time quantiles balance the children by
//!   records, and a millisecond holding more than a chunk's worth of the sample (a bulk
//!   import stamps thousands of records with one) gets a child of its own at once, where
//!   even cuts alone would need a dozen levels to narrow 56 years down to it. Core's
//!   even cuts are added too: they shrink the widest child geometrically even when the
//!   sample (the oldest ids) is not representative of the rest.
//! - **Ids**, inside one millisecond: core's `ChunkRange::split_sampled`, which sizes
//!   the children by the sample's id density.
//!
//! Children cover the parent's range exactly (contiguous, non-overlapping); a child
//! still too big splits again.
//!
//! Lead request (requests-lead.md #2b): move the time cuts into core beside
//! `split_sampled`.

use std::collections::BTreeSet;

use hubsync_core::range::{IdSample, split_time};
use hubsync_core::{ChunkRange, ModifiedRange, parts_needed};

/// What the first search page of a chunk says about its size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirstPage {
    /// HubSpot's `total`: records matching the chunk's range from its cursor on.
    pub total: u64,
    /// The ids of the page (ascending, as search returns them).
    pub ids: Vec<u64>,
    /// The last-modified time of each record of the page, in ms.
    pub modified_ms: Vec<i64>,
}

/// Core's id split sizes its head with 25 % headroom; counting the parts with it keeps
/// each child near `threshold` records instead of just above it.
const HEADROOM_NUMERATOR: u64 = 5;
const HEADROOM_DENOMINATOR: u64 = 4;

/// The sub-ranges a chunk should split into, or `None` when it should be fetched as
/// is: at most `threshold` records remain beyond the first page, or it is one
/// millisecond and one id. The first page itself is written before the split, and the
/// children resume after it (the parent's cursor).
pub fn plan_split(
    range: &ChunkRange,
    first_page: &FirstPage,
    threshold: u64,
    max_parts: usize,
) -> Option<Vec<ChunkRange>> {
    let remaining = first_page.total.saturating_sub(first_page.ids.len() as u64);
    let parts = parts_needed(remaining, threshold, max_parts);
    if parts <= 1 {
        return None;
    }
    if range.modified().is_single_ms() {
        return split_by_ids(range, first_page, remaining, parts, threshold, max_parts);
    }
    let pieces = split_time_by_sample(range.modified(), first_page, parts, threshold);
    (pieces.len() > 1).then(|| pieces.into_iter().map(ChunkRange::time).collect())
}

/// Time cuts: the sample's quantiles, its heavy milliseconds, and even cuts.
fn split_time_by_sample(
    range: ModifiedRange,
    first_page: &FirstPage,
    parts: usize,
    threshold: u64,
) -> Vec<ModifiedRange> {
    let mut cuts: BTreeSet<i64> = split_time(range, parts)
        .iter()
        .map(ModifiedRange::start_ms)
        .collect();
    let mut sample: Vec<i64> = first_page
        .modified_ms
        .iter()
        .copied()
        .filter(|ms| range.contains_ms(*ms))
        .collect();
    sample.sort_unstable();
    let sampled = sample.len();
    if sampled > 0 {
        for part in 1..parts {
            cuts.insert(sample[part * sampled / parts]);
        }
        // A millisecond whose share of the sample, scaled to the whole range, exceeds
        // a chunk's worth gets a child of its own: [ms, ms + 1). The heaviest `parts`
        // at most, so a level stays bounded.
        let total = first_page.total.max(sampled as u64);
        let mut heavy: Vec<(usize, i64)> = Vec::new();
        let mut at = 0;
        while at < sampled {
            let ms = sample[at];
            let run = sample[at..]
                .iter()
                .take_while(|other| **other == ms)
                .count();
            if (run as u128) * u128::from(total) > u128::from(threshold) * sampled as u128 {
                heavy.push((run, ms));
            }
            at += run;
        }
        heavy.sort_unstable_by(|a, b| b.cmp(a));
        for (_, ms) in heavy.into_iter().take(parts) {
            cuts.insert(ms);
            cuts.insert(ms.saturating_add(1));
        }
    }
    let mut bounds: Vec<i64> = vec![range.start_ms()];
    bounds.extend(
        cuts.into_iter()
            .filter(|cut| *cut > range.start_ms() && *cut < range.end_ms()),
    );
    bounds.push(range.end_ms());
    bounds
        .windows(2)
        .filter_map(|pair| ModifiedRange::from_millis(pair[0], pair[1]).ok())
        .collect()
}

/// Id cuts inside one millisecond, by the sample's density (core); `parts` (without
/// headroom) when the page gave no ids to sample.
fn split_by_ids(
    range: &ChunkRange,
    first_page: &FirstPage,
    remaining: u64,
    parts: usize,
    threshold: u64,
    max_parts: usize,
) -> Option<Vec<ChunkRange>> {
    let (Some(lowest), Some(highest)) = (
        first_page.ids.iter().min().copied(),
        first_page.ids.iter().max().copied(),
    ) else {
        return range.split(parts, None);
    };
    let with_headroom = remaining.saturating_mul(HEADROOM_NUMERATOR) / HEADROOM_DENOMINATOR;
    range.split_sampled(
        parts_needed(with_headroom, threshold, max_parts),
        IdSample {
            lowest,
            highest,
            sampled: first_page.ids.len() as u64,
            total: first_page.total,
        },
    )
}

#[cfg(test)]
mod tests {
    use hubsync_core::IdRange;
    use hubsync_core::range::MAX_ID_EXCLUSIVE;
    use proptest::prelude::*;

    use super::*;

    const CLUSTER_MS: i64 = 1_700_000_000_000;

    fn one_ms() -> ChunkRange {
        ChunkRange::time(ModifiedRange::from_millis(CLUSTER_MS, CLUSTER_MS + 1).unwrap())
    }

    fn page(total: u64, ids: impl IntoIterator<Item = u64>, ms: i64) -> FirstPage {
        let ids: Vec<u64> = ids.into_iter().collect();
        FirstPage {
            total,
            modified_ms: vec![ms; ids.len()],
            ids,
        }
    }

    fn assert_covers(parent: &ChunkRange, children: &[ChunkRange]) {
        let first = children.first().unwrap();
        let last = children.last().unwrap();
        assert_eq!(first.modified().start_ms(), parent.modified().start_ms());
        assert_eq!(last.modified().end_ms(), parent.modified().end_ms());
        for pair in children.windows(2) {
            assert_eq!(pair[0].modified().end_ms(), pair[1].modified().start_ms());
        }
    }

    #[test]
    fn a_chunk_within_the_threshold_is_fetched_as_is() {
        let small = page(700, 1..=200, CLUSTER_MS);
        assert_eq!(plan_split(&one_ms(), &small, 1_000, 8), None);
    }

    #[test]
    fn a_heavy_millisecond_gets_a_child_of_its_own_in_one_level() {
        let window =
            ChunkRange::time(ModifiedRange::from_millis(1_000, 1_800_000_000_000).unwrap());
        // 20 old records, then the first 180 of a 12,000-record import.
        let mut first = page(12_020, 1..=200, CLUSTER_MS);
        for (index, ms) in first.modified_ms.iter_mut().take(20).enumerate() {
            *ms = 1_600_000_000_000 + index as i64 * 1_000_000;
        }
        let children = plan_split(&window, &first, 2_000, 8).unwrap();
        assert_covers(&window, &children);
        assert!(
            children
                .iter()
                .any(|child| child.modified() == one_ms().modified()),
            "the import's millisecond is a child: {children:?}"
        );
        assert!(children.len() < 4 * 8);
    }

    #[test]
    fn time_cuts_follow_the_sample_and_shrink_the_width() {
        let window = ChunkRange::time(ModifiedRange::from_millis(1_000, 1_000_000_000).unwrap());
        let mut first = page(10_000, 1..=200, 0);
        for (index, ms) in first.modified_ms.iter_mut().enumerate() {
            *ms = 500_000_000 + index as i64 * 1_000;
        }
        let children = plan_split(&window, &first, 2_000, 4).unwrap();
        assert_covers(&window, &children);
        // Even cuts: no child wider than a quarter of the window.
        assert!(
            children
                .iter()
                .all(|child| child.modified().len_ms() <= 250_000_000)
        );
        // Quantile cuts fall inside the sampled span.
        let inside = children
            .iter()
            .filter(|child| (500_000_000..500_200_000).contains(&child.modified().start_ms()))
            .count();
        assert!(inside >= 2, "{children:?}");
    }

    #[test]
    fn a_dense_cluster_splits_by_id_in_one_level() {
        // 12,000 ids with step 3 starting at 1,000,000: the first page holds 200 of them.
        let lowest = 1_000_000;
        let ids = (0..200).map(|i| lowest + i * 3);
        let first = page(12_000, ids, CLUSTER_MS);
        let written = lowest + 199 * 3;
        let children = plan_split(&one_ms(), &first, 2_000, 16).unwrap();
        assert_eq!(children[0].id_range().start(), lowest);
        assert_eq!(children.last().unwrap().id_range().end(), MAX_ID_EXCLUSIVE);
        let last_id = lowest + 11_999 * 3;
        let holding: Vec<_> = children
            .iter()
            .filter(|child| {
                let ids = child.id_range();
                ids.start() <= last_id && ids.end() > written
            })
            .collect();
        // The headroom may leave the last head child empty as well as the tail.
        assert!(holding.len() + 2 >= children.len(), "{children:?}");
        for child in &holding {
            let ids = child.id_range();
            let records = (ids.end().min(last_id + 1) - ids.start().max(written + 1)).div_ceil(3);
            assert!(records <= 2_000, "{records} records in {ids:?}");
        }
    }

    #[test]
    fn one_millisecond_and_one_id_cannot_split() {
        let range = ChunkRange::by_ids(one_ms().modified(), IdRange::new(7, 8).unwrap()).unwrap();
        assert_eq!(
            plan_split(&range, &page(50_000, [7], CLUSTER_MS), 1_000, 8),
            None
        );
    }

    proptest! {
        #[test]
        fn id_children_cover_the_range_from_the_lowest_id(
            start in 0u64..1_000_000,
            width in 2u64..10_000_000,
            offset in 0u64..1_000,
            step in 1u64..50,
            sampled in 1u64..=200,
            total in 0u64..1_000_000,
            threshold in 200u64..20_000,
            max_parts in 2usize..32,
        ) {
            let ids = IdRange::new(start, start + width).unwrap();
            let range = ChunkRange::by_ids(one_ms().modified(), ids).unwrap();
            let lowest = start + offset.min(width - 1);
            let sample: Vec<u64> = (0..sampled)
                .map(|i| lowest + i * step)
                .filter(|id| *id < start + width)
                .collect();
            let first = page(total.max(sample.len() as u64), sample, CLUSTER_MS);
            if let Some(children) = plan_split(&range, &first, threshold, max_parts) {
                prop_assert!(children.len() >= 2);
                prop_assert!(children.len() <= max_parts + 1);
                prop_assert_eq!(children[0].id_range().start(), lowest);
                prop_assert_eq!(children.last().unwrap().id_range().end(), start + width);
                for pair in children.windows(2) {
                    prop_assert_eq!(pair[0].id_range().end(), pair[1].id_range().start());
                }
            }
        }

        #[test]
        fn time_children_cover_the_range(
            start in 1_000i64..1_000_000,
            width in 2i64..1_000_000_000,
            sample in proptest::collection::vec(0i64..1_000_000_000, 0..200),
            total in 0u64..100_000,
            threshold in 200u64..20_000,
            max_parts in 2usize..32,
        ) {
            let range = ChunkRange::time(ModifiedRange::from_millis(start, start + width).unwrap());
            let first = FirstPage {
                total: total + sample.len() as u64,
                ids: (1..=sample.len() as u64).collect(),
                modified_ms: sample.iter().map(|ms| start + ms % width).collect(),
            };
            if let Some(children) = plan_split(&range, &first, threshold, max_parts) {
                prop_assert!(children.len() >= 2);
                prop_assert!(children.len() < 4 * max_parts);
                assert_covers(&range, &children);
                prop_assert!(children.iter().all(|child| child.ids().is_none()));
            }
        }
    }
}
