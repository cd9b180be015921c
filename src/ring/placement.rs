//! The placement ranges of a ring and the index that finds a position's
//! range in one or two probes.
//!
//! Every request asks which range holds its key (for the kept preference
//! list), and so does every change to a node's Merkle trees. Equal
//! partitions (strategies 2 and 3) are found by arithmetic, but random
//! tokens (strategy 1) are not: at 2,048 nodes × 64 tokens a search of the
//! 131,072 ranges took ~17 probes, each a likely cache miss, and was 6 % of
//! a run's time. A table of where each of 2^k equal buckets of the ring
//! starts among the ranges (4 bytes a bucket, at most 2 buckets a range)
//! leaves a bucket or two of ranges to search.

use crate::types::Token;
use std::ops::Deref;

/// A contiguous run of ring positions that share one preference list.
///
/// Why: load and data movement are computed exactly from these ranges
/// (issue 6) rather than by sampling keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacementRange {
    /// First position in the range.
    pub first: Token,
    /// Last position in the range (inclusive; the range wraps when `last < first`).
    pub last: Token,
    /// Token index the preference walk starts from.
    pub(super) walk_start: usize,
}

impl PlacementRange {
    /// The range's share of the whole ring, in (0, 1].
    pub fn fraction(&self) -> f64 {
        (self.last.0.wrapping_sub(self.first.0) as f64 + 1.0) / 2f64.powi(128)
    }
}

/// A ring's placement ranges in ring order (ascending `last`; the first
/// range wraps past the top), with a bucket index over positions.
///
/// Dereferences to the ranges, so it reads as a slice.
#[derive(Clone, Debug)]
pub struct PlacementRanges {
    ranges: Vec<PlacementRange>,
    /// `starts[b]`: how many ranges end before bucket `b`'s first position
    /// `b << shift`; one entry per bucket plus `ranges.len()` at the end.
    starts: Vec<u32>,
    /// Bits below a bucket number: a position's bucket is `position >> shift`.
    shift: u32,
}

impl PlacementRanges {
    /// Indexes `ranges`, which must be in ring order: one bucket per range,
    /// rounded up to a power of two.
    pub(super) fn new(ranges: Vec<PlacementRange>) -> PlacementRanges {
        assert!(ranges.windows(2).all(|w| w[0].last < w[1].last), "ranges in ring order");
        assert!(u32::try_from(ranges.len()).is_ok(), "fewer than 2^32 ranges");
        let buckets = ranges.len().max(1).next_power_of_two();
        let shift = 128 - buckets.trailing_zeros();
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut ended = 0;
        for bucket in 0..buckets {
            let first = Self::bucket_start(bucket, shift);
            while ended < ranges.len() && ranges[ended].last < first {
                ended += 1;
            }
            starts.push(ended as u32);
        }
        starts.push(ranges.len() as u32);
        PlacementRanges { ranges, starts, shift }
    }

    /// The first position of `bucket`.
    fn bucket_start(bucket: usize, shift: u32) -> Token {
        Token((bucket as u128).checked_shl(shift).unwrap_or(0))
    }

    /// The index of the range holding `position`: the first range whose
    /// last position is at or after it, or the range that wraps around
    /// (index 0) past the last one. Looks only at the ranges that end in
    /// the position's bucket.
    pub fn index_of(&self, position: Token) -> usize {
        let bucket = position.0.checked_shr(self.shift).unwrap_or(0) as usize;
        let (mut index, high) = (self.starts[bucket] as usize, self.starts[bucket + 1] as usize);
        // About one range ends in a bucket (random tokens put a dozen in
        // one with vanishing odds): a scan beats a search.
        while index < high && self.ranges[index].last < position {
            index += 1;
        }
        if index == self.ranges.len() {
            0
        } else {
            index
        }
    }
}

impl Default for PlacementRanges {
    /// No ranges (an empty ring): every position is in "range 0".
    fn default() -> PlacementRanges {
        PlacementRanges::new(Vec::new())
    }
}

impl Deref for PlacementRanges {
    type Target = [PlacementRange];

    fn deref(&self) -> &[PlacementRange] {
        &self.ranges
    }
}

impl<'a> IntoIterator for &'a PlacementRanges {
    type Item = &'a PlacementRange;
    type IntoIter = std::slice::Iter<'a, PlacementRange>;

    fn into_iter(self) -> Self::IntoIter {
        self.ranges.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert_eq, proptest};

    fn ranges_ending_at(mut lasts: Vec<u128>) -> PlacementRanges {
        lasts.sort_unstable();
        lasts.dedup();
        let ranges = (0..lasts.len())
            .map(|i| PlacementRange {
                first: Token(lasts[(i + lasts.len() - 1) % lasts.len()].wrapping_add(1)),
                last: Token(lasts[i]),
                walk_start: i,
            })
            .collect();
        PlacementRanges::new(ranges)
    }

    /// What the index must agree with: a search of every range.
    fn searched(ranges: &[PlacementRange], position: Token) -> usize {
        let index = ranges.partition_point(|range| range.last < position);
        if index == ranges.len() {
            0
        } else {
            index
        }
    }

    proptest! {
        /// Uniform lasts, lasts crowded into one bucket, positions
        /// anywhere and at every range's ends: the index finds the range
        /// a search of all of them finds.
        #[test]
        fn the_index_finds_the_range_a_full_search_finds(
            uniform in proptest::collection::vec(any::<u128>(), 1..300),
            crowded in proptest::collection::vec(0u128..1_000, 0..40),
            positions in proptest::collection::vec(any::<u128>(), 1..50),
        ) {
            for lasts in [uniform.clone(), crowded.iter().chain(&uniform[..1]).copied().collect()] {
                let ranges = ranges_ending_at(lasts);
                let ends = ranges.iter().flat_map(|r| [r.first.0, r.last.0, r.last.0.wrapping_add(1)]);
                for position in positions.iter().copied().chain(ends).chain([0, u128::MAX]).map(Token) {
                    prop_assert_eq!(ranges.index_of(position), searched(&ranges, position));
                }
            }
        }
    }

    #[test]
    fn buckets_are_a_power_of_two_at_least_the_ranges() {
        for (count, buckets) in [(1, 1), (2, 2), (3, 4), (1024, 1024), (1025, 2048)] {
            let ranges = ranges_ending_at((0..count).map(|i| (i as u128) << 100).collect());
            assert_eq!(ranges.starts.len(), buckets + 1, "{count} ranges");
            assert_eq!(ranges.index_of(Token(u128::MAX)), 0, "past the last range: the one that wraps");
        }
        assert_eq!(PlacementRanges::default().len(), 0);
    }
}
