use proptest::prelude::*;

use super::*;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

fn range(start: i64, end: i64) -> ModifiedRange {
    ModifiedRange::from_millis(start, end).unwrap()
}

#[test]
fn constructor_refuses_empty_and_inverted_ranges() {
    assert!(ModifiedRange::from_millis(5, 6).is_ok());
    assert!(matches!(
        ModifiedRange::from_millis(5, 5),
        Err(RangeError::Empty { .. })
    ));
    assert!(matches!(
        ModifiedRange::from_millis(6, 5),
        Err(RangeError::Empty { .. })
    ));
    assert!(matches!(
        ModifiedRange::from_millis(0, i64::MAX),
        Err(RangeError::OutOfRange(_))
    ));
    // Sub-millisecond bounds are truncated; a range inside one millisecond is empty.
    let start = at(1_000) + TimeDelta::microseconds(100);
    let end = at(1_000) + TimeDelta::microseconds(900);
    assert!(ModifiedRange::new(start, end).is_err());
    let truncated = ModifiedRange::new(start, at(2_000) + TimeDelta::microseconds(1)).unwrap();
    assert_eq!((truncated.start_ms(), truncated.end_ms()), (1_000, 2_000));
    assert!(IdRange::new(3, 3).is_err());
}

#[test]
fn half_open_membership() {
    let r = range(10, 20);
    assert!(r.contains_ms(10));
    assert!(r.contains_ms(19));
    assert!(!r.contains_ms(20));
    assert!(!r.contains_ms(9));
    let chunk = ChunkRange::by_ids(range(10, 11), IdRange::new(100, 200).unwrap()).unwrap();
    assert!(chunk.contains(10, 100));
    assert!(!chunk.contains(10, 200));
    assert!(!chunk.contains(11, 150));
}

#[test]
fn id_ranges_need_a_single_millisecond() {
    let ids = IdRange::new(1, 10).unwrap();
    assert!(matches!(
        ChunkRange::by_ids(range(10, 12), ids),
        Err(RangeError::IdsNeedSingleMillisecond(_))
    ));
    // Also on the wire: a message cannot smuggle in a 4-filter chunk.
    let bad = serde_json::json!({
        "modified": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"},
        "ids": {"start": 1, "end": 10}
    });
    assert!(serde_json::from_value::<ChunkRange>(bad).is_err());
}

#[test]
fn serde_form_is_readable_and_validated() {
    let chunk = ChunkRange::time(range(1_704_067_200_000, 1_704_153_600_000));
    let json = serde_json::to_value(chunk).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"modified": {
            "start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"
        }})
    );
    assert_eq!(serde_json::from_value::<ChunkRange>(json).unwrap(), chunk);
    let by_ids = ChunkRange::by_ids(range(1_000, 1_001), IdRange::new(5, 9).unwrap()).unwrap();
    let back: ChunkRange = serde_json::from_str(&serde_json::to_string(&by_ids).unwrap()).unwrap();
    assert_eq!(back, by_ids);
    let inverted =
        serde_json::json!({"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"});
    assert!(serde_json::from_value::<ModifiedRange>(inverted).is_err());
    let empty_ids = serde_json::json!({"start": 9, "end": 9});
    assert!(serde_json::from_value::<IdRange>(empty_ids).is_err());
}

#[test]
fn incremental_window_goes_back_by_the_lookback() {
    let watermark = at(1_700_000_000_000);
    let run_start = at(1_700_000_600_000);
    let window = incremental_window(watermark, Duration::from_secs(300), run_start).unwrap();
    assert_eq!(window.start_ms(), 1_700_000_000_000 - 300_000);
    assert_eq!(window.end_ms(), 1_700_000_600_000);
    // Clamped to one second after the epoch.
    let early = incremental_window(at(2_000), Duration::from_secs(3_600), run_start).unwrap();
    assert_eq!(early.start_ms(), EARLIEST_MS);
    // An absurd lookback saturates instead of overflowing.
    let huge = incremental_window(watermark, Duration::MAX, run_start).unwrap();
    assert_eq!(huge.start_ms(), EARLIEST_MS);
    // A watermark at or after the run start (clock stepped back): nothing to do.
    assert_eq!(
        incremental_window(run_start, Duration::ZERO, run_start),
        None
    );
    assert_eq!(
        incremental_window(at(1_800_000_000_000), Duration::from_secs(60), run_start),
        None
    );
}

#[test]
fn full_window_starts_after_the_epoch() {
    let run_start = at(1_700_000_000_000);
    let window = full_window(run_start).unwrap();
    assert_eq!(window.start_ms(), 1_000);
    assert_eq!(window.end_ms(), 1_700_000_000_000);
    assert_eq!(full_window(at(1_000)), None);
    assert_eq!(full_window(at(0)), None);
    // Without a watermark an incremental run reads everything.
    assert_eq!(
        run_window(
            RunKind::Incremental,
            None,
            Duration::from_secs(60),
            run_start
        ),
        Some(window)
    );
    assert_eq!(
        run_window(
            RunKind::Full,
            Some(at(1_600_000_000_000)),
            Duration::ZERO,
            run_start
        ),
        Some(window)
    );
    assert_eq!(
        run_window(
            RunKind::Incremental,
            Some(at(1_600_000_000_000)),
            Duration::ZERO,
            run_start
        )
        .map(|w| w.start_ms()),
        Some(1_600_000_000_000)
    );
}

#[test]
fn split_examples() {
    let parts = split_time(range(1_000, 1_010), 3);
    let bounds: Vec<(i64, i64)> = parts.iter().map(|r| (r.start_ms(), r.end_ms())).collect();
    assert_eq!(bounds, [(1_000, 1_003), (1_003, 1_006), (1_006, 1_010)]);
    // Never more parts than milliseconds, never zero parts.
    assert_eq!(split_time(range(1_000, 1_002), 10).len(), 2);
    assert_eq!(split_time(range(1_000, 1_002), 0).len(), 1);
    assert_eq!(split_ids(IdRange::ALL, 2)[0].end(), MAX_ID_EXCLUSIVE / 2);
}

#[test]
fn chunk_split_goes_from_time_to_ids_to_nothing() {
    let wide = ChunkRange::time(range(1_000, 1_004));
    let halves = wide.split(2, None).unwrap();
    assert_eq!(halves.len(), 2);
    assert!(halves.iter().all(|c| c.ids().is_none()));

    let single_ms = ChunkRange::time(range(1_000, 1_001));
    let by_id = single_ms.split(2, None).unwrap();
    assert_eq!(by_id.len(), 2);
    assert_eq!(by_id[0].ids().unwrap().start(), 0);
    assert_eq!(by_id[1].ids().unwrap().end(), MAX_ID_EXCLUSIVE);
    assert!(by_id.iter().all(|c| c.modified() == single_ms.modified()));

    // The lowest id seen narrows an id split.
    let narrowed = single_ms.split(2, Some(57_156_923_994)).unwrap();
    assert_eq!(narrowed[0].ids().unwrap().start(), 57_156_923_994);

    let one_id = ChunkRange::by_ids(range(1_000, 1_001), IdRange::new(42, 43).unwrap()).unwrap();
    assert_eq!(one_id.split(8, None), None);
    // A chunk that can shrink always splits in at least two.
    assert_eq!(wide.split(1, None).map(|parts| parts.len()), Some(2));
    assert_eq!(single_ms.split(0, None).map(|parts| parts.len()), Some(2));
}

#[test]
fn parts_needed_by_total() {
    assert_eq!(parts_needed(0, 1_000, 16), 1);
    assert_eq!(parts_needed(1_000, 1_000, 16), 1);
    assert_eq!(parts_needed(1_001, 1_000, 16), 2);
    assert_eq!(parts_needed(4_500, 1_000, 16), 5);
    assert_eq!(parts_needed(1_000_000, 1_000, 16), 16);
    // Splitting at all means at least two parts, whatever the cap says.
    assert_eq!(parts_needed(5_000, 1_000, 0), 2);
    assert_eq!(parts_needed(5, 0, 16), 5);
}

#[test]
fn a_sampled_id_split_isolates_a_dense_cluster_in_one_level() {
    // 12,000 records in one millisecond, ids 1_000_000, 1_000_002, … (step 2).
    let chunk = ChunkRange::time(range(5_000, 5_001));
    let sample = IdSample {
        lowest: 1_000_000,
        highest: 1_000_398,
        sampled: 200,
        total: 12_000,
    };
    let children = chunk.split_sampled(6, sample).unwrap();
    assert_eq!(children.len(), 7, "six dense parts and the tail");
    let dense_end = children[5].ids().unwrap().end();
    // The cluster's last id is 1_023_998; the estimate covers it with headroom.
    assert!(
        dense_end > 1_023_998 && dense_end < 1_040_000,
        "{dense_end}"
    );
    assert_eq!(children[0].ids().unwrap().start(), 1_000_000);
    assert_eq!(children[6].ids().unwrap().end(), IdRange::ALL.end());
}

#[test]
fn a_sampled_split_survives_absurd_samples() {
    // HubSpot's `total` and ids near 2^63 must not overflow the density estimate.
    let chunk = ChunkRange::time(range(5_000, 5_001));
    for sample in [
        IdSample {
            lowest: 0,
            highest: u64::MAX,
            sampled: 1,
            total: u64::MAX,
        },
        IdSample {
            lowest: MAX_ID_EXCLUSIVE - 3,
            highest: 0,
            sampled: 0,
            total: 0,
        },
    ] {
        let children = chunk.split_sampled(4, sample).unwrap();
        assert_eq!(
            children[0].ids().unwrap().start(),
            sample.lowest.min(MAX_ID_EXCLUSIVE - 3)
        );
        assert_eq!(
            children.last().unwrap().ids().unwrap().end(),
            MAX_ID_EXCLUSIVE
        );
        for pair in children.windows(2) {
            assert_eq!(pair[0].ids().unwrap().end(), pair[1].ids().unwrap().start());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Splitting by what each chunk's first page shows, again and again as the worker
    /// does: every split covers the chunk from its lowest id, the splitting ends, and
    /// every record of a crowded millisecond lands in exactly one leaf of at most a
    /// page of records.
    #[test]
    fn repeated_sampled_splits_end_with_every_record_in_one_leaf(
        base in 0u64..1_000_000_000_000,
        clusters in proptest::collection::vec((0u64..1_000_000, 1u64..20, 1u64..3_000), 1..4),
        parts in 2usize..16,
    ) {
        const PAGE: usize = 200;
        let mut ids: Vec<u64> = clusters
            .iter()
            .flat_map(|&(offset, step, count)| (0..count).map(move |i| base + offset + i * step))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut pending = vec![ChunkRange::time(range(7_000, 7_001))];
        let mut leaves = Vec::new();
        let mut splits = 0;
        while let Some(chunk) = pending.pop() {
            let ids_range = chunk.id_range();
            let from = ids.partition_point(|id| *id < ids_range.start());
            let to = ids.partition_point(|id| *id < ids_range.end());
            let inside = &ids[from..to];
            if inside.len() <= PAGE {
                leaves.push(chunk);
                continue;
            }
            splits += 1;
            prop_assert!(splits <= 1_000, "no end after 1,000 splits");
            let sample = IdSample {
                lowest: inside[0],
                highest: inside[PAGE - 1],
                sampled: PAGE as u64,
                total: inside.len() as u64,
            };
            let children = chunk.split_sampled(parts, sample);
            prop_assert!(children.is_some(), "a chunk of {} ids cannot split", inside.len());
            let children = children.unwrap_or_default();
            prop_assert!(children.len() >= 2);
            prop_assert_eq!(children[0].id_range().start(), sample.lowest);
            prop_assert_eq!(children[children.len() - 1].id_range().end(), ids_range.end());
            for pair in children.windows(2) {
                prop_assert_eq!(pair[0].id_range().end(), pair[1].id_range().start());
            }
            for child in &children {
                prop_assert!(!child.id_range().is_empty());
                prop_assert_eq!(child.modified(), chunk.modified());
                prop_assert!(child.id_range().len() < ids_range.len());
            }
            pending.extend(children);
        }
        for id in &ids {
            let holders = leaves.iter().filter(|leaf| leaf.id_range().contains(*id)).count();
            prop_assert_eq!(holders, 1, "record {} is in {} leaves", id, holders);
        }
    }
}

proptest! {
    #[test]
    fn sampled_id_splits_cover_the_range_exactly(
        lowest in 0u64..1_000_000,
        spread in 0u64..100_000,
        sampled in 1u64..=200,
        extra in 0u64..1_000_000,
        parts in 2usize..20,
    ) {
        let chunk = ChunkRange::time(range(7_000, 7_001));
        let sample = IdSample { lowest, highest: lowest + spread, sampled, total: sampled + extra };
        let children = chunk.split_sampled(parts, sample).unwrap();
        prop_assert!(children.len() >= 2);
        prop_assert_eq!(children[0].ids().unwrap().start(), lowest);
        prop_assert_eq!(children.last().unwrap().ids().unwrap().end(), IdRange::ALL.end());
        for pair in children.windows(2) {
            prop_assert_eq!(pair[0].ids().unwrap().end(), pair[1].ids().unwrap().start());
        }
        for child in &children {
            prop_assert!(!child.ids().unwrap().is_empty());
            prop_assert_eq!(child.modified(), chunk.modified());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn time_parts_are_nonempty_contiguous_and_cover(
        start in EARLIEST_MS..4_000_000_000_000i64,
        width in 1i64..10_000_000_000,
        parts in 0usize..64,
    ) {
        let whole = range(start, start + width);
        let pieces = split_time(whole, parts);
        prop_assert!(!pieces.is_empty());
        prop_assert!(pieces.len() <= parts.max(1));
        prop_assert_eq!(pieces.len() as u64, (parts.max(1) as u64).min(whole.len_ms()));
        prop_assert_eq!(pieces[0].start_ms(), whole.start_ms());
        prop_assert_eq!(pieces[pieces.len() - 1].end_ms(), whole.end_ms());
        for pair in pieces.windows(2) {
            // Contiguous and so disjoint (each piece is half-open and non-empty).
            prop_assert_eq!(pair[0].end_ms(), pair[1].start_ms());
        }
        for piece in &pieces {
            prop_assert!(piece.start_ms() < piece.end_ms());
        }
        let total: u64 = pieces.iter().map(ModifiedRange::len_ms).sum();
        prop_assert_eq!(total, whole.len_ms());
        // Near-equal: widths differ by at most one millisecond.
        let widths: Vec<u64> = pieces.iter().map(ModifiedRange::len_ms).collect();
        prop_assert!(widths.iter().max().unwrap() - widths.iter().min().unwrap() <= 1);
        prop_assert_eq!(split_time(whole, parts), pieces);
    }

    #[test]
    fn id_parts_are_nonempty_contiguous_and_cover(
        start in 0u64..MAX_ID_EXCLUSIVE - 1,
        width in 1u64..u64::MAX,
        parts in 0usize..64,
    ) {
        let end = start.saturating_add(width).min(MAX_ID_EXCLUSIVE);
        let whole = IdRange::new(start, end).unwrap();
        let pieces = split_ids(whole, parts);
        prop_assert!(!pieces.is_empty() && pieces.len() <= parts.max(1));
        prop_assert_eq!(pieces[0].start(), start);
        prop_assert_eq!(pieces[pieces.len() - 1].end(), end);
        for pair in pieces.windows(2) {
            prop_assert_eq!(pair[0].end(), pair[1].start());
        }
        prop_assert!(pieces.iter().all(|p| p.start() < p.end()));
        prop_assert_eq!(pieces.iter().map(IdRange::len).sum::<u64>(), whole.len());
        prop_assert_eq!(split_ids(whole, parts), pieces);
    }

    /// Following any path of splits (always into the part holding a given record)
    /// ends at a chunk of one millisecond and one id, in a bounded number of steps,
    /// and the record stays inside every chunk on the way.
    #[test]
    fn repeated_splitting_terminates_at_one_id(
        start in EARLIEST_MS..4_000_000_000_000i64,
        width in 1i64..100_000_000_000,
        parts in 2usize..16,
        record_offset in 0i64..100_000_000_000,
        record_id in 1u64..MAX_ID_EXCLUSIVE,
        use_lowest in any::<bool>(),
    ) {
        let whole = ChunkRange::time(range(start, start + width));
        let record_ms = start + record_offset % width;
        prop_assert!(whole.contains(record_ms, record_id));
        let mut chunk = whole;
        let mut steps = 0;
        while let Some(children) = chunk.split(parts, use_lowest.then_some(record_id)) {
            steps += 1;
            prop_assert!(steps <= 200, "no end after 200 splits");
            prop_assert!(children.len() >= 2 && children.len() <= parts);
            let holders: Vec<&ChunkRange> =
                children.iter().filter(|c| c.contains(record_ms, record_id)).collect();
            prop_assert_eq!(holders.len(), 1, "exactly one child holds the record");
            chunk = *holders[0];
        }
        prop_assert!(chunk.modified().is_single_ms());
        prop_assert_eq!(chunk.ids().map(|ids| ids.len()), Some(1));
        prop_assert_eq!(chunk.ids().map(|ids| ids.start()), Some(record_id));
    }
}
