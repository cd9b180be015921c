//! Equal partitions of the 128-bit ring (strategies 2 and 3, Dynamo §6.2).
//!
//! Partition `i` of `Q` covers positions `[ceil(i·2^128/Q), ceil((i+1)·2^128/Q))`.
//! The bounds are computed exactly in `u128` arithmetic (no floating point and
//! no overflow), so every machine cuts the ring at the same positions and the
//! partitions tile the ring with no gap and no overlap.

use crate::engine::search::share_of_ring;
use crate::types::Token;

/// First position of partition `index` out of `partitions`: `ceil(index·2^128/partitions)`.
///
/// Why exact: partition bounds are part of placement, so they must be
/// identical everywhere; floating point would round differently near 2^128.
pub fn partition_start(index: u32, partitions: u32) -> Token {
    assert!(partitions > 0, "a ring needs at least one partition");
    assert!(index < partitions, "partition index {index} out of range 0..{partitions}");
    if index == 0 {
        return Token(0);
    }
    // partitions >= 2 here, so 2^128 / partitions fits in u128.
    // Write 2^128 = partitions·quotient + remainder with 0 <= remainder < partitions.
    let q = u128::from(partitions);
    let mut quotient = u128::MAX / q;
    let mut remainder = u128::MAX % q + 1;
    if remainder == q {
        quotient += 1;
        remainder = 0;
    }
    let i = u128::from(index);
    // i·2^128/Q = i·quotient + i·remainder/Q; i·remainder < Q² fits easily.
    let start = i * quotient + (i * remainder).div_ceil(q);
    Token(start)
}

/// Last position of partition `index`: one before the next partition's start
/// (the last partition ends at `u128::MAX`).
pub fn partition_end(index: u32, partitions: u32) -> Token {
    if index + 1 == partitions {
        return Token(u128::MAX);
    }
    let next = partition_start(index + 1, partitions);
    assert!(next.0 > 0, "a partition after the first starts above zero");
    Token(next.0 - 1)
}

/// The end position of every partition, in ring order.
///
/// Why a vector: a binary search over it maps a position to its partition.
pub fn partition_ends(partitions: u32) -> Vec<Token> {
    (0..partitions).map(|index| partition_end(index, partitions)).collect()
}

/// The partition holding `position`, given the ends from [`partition_ends`]:
/// partitions are equal shares of the ring, so arithmetic finds it
/// ([`share_of_ring`]) where a binary search of Q bounds took 12 probes at
/// Q = 4,096, on every request.
pub fn partition_of(partition_ends: &[Token], position: Token) -> usize {
    assert!(!partition_ends.is_empty(), "a ring needs at least one partition");
    let index = share_of_ring(position.0, partition_ends.len());
    debug_assert!(partition_ends[index] >= position && (index == 0 || partition_ends[index - 1] < position));
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest, Just};

    /// `value · factor` as a 256-bit number (high, low), exactly.
    fn times(value: u128, factor: u32) -> (u128, u128) {
        let factor = u128::from(factor);
        let high_part = (value >> 64) * factor; // below 2^96
        let low_part = (value & u128::from(u64::MAX)) * factor; // below 2^96
        let (low, carry) = (high_part << 64).overflowing_add(low_part);
        ((high_part >> 64) + u128::from(carry), low)
    }

    proptest! {
        /// `partition_start(i, Q)` is exactly `ceil(i·2^128/Q)`: the least
        /// position `p` with `p·Q >= i·2^128` (compared in 256 bits).
        #[test]
        fn a_start_is_the_exact_ceiling_of_its_share_of_the_ring(partitions in 1u32.., pick in any::<u32>()) {
            let index = pick % partitions;
            let start = partition_start(index, partitions).0;
            let boundary = (u128::from(index), 0u128);
            prop_assert!(times(start, partitions) >= boundary);
            if index > 0 {
                prop_assert!(times(start - 1, partitions) < boundary);
            } else {
                prop_assert_eq!(start, 0);
            }
        }

        /// A position maps to the partition whose bounds contain it.
        #[test]
        fn a_position_lies_between_the_bounds_of_its_partition(
            partitions in prop_oneof![1u32..300, Just(4096), 1u32..100_000],
            position in any::<u128>(),
        ) {
            let ends = partition_ends(partitions);
            let index = partition_of(&ends, Token(position));
            prop_assert_eq!(index, ends.partition_point(|end| end.0 < position), "a binary search agrees");
            prop_assert!(partition_start(index as u32, partitions).0 <= position);
            prop_assert!(position <= partition_end(index as u32, partitions).0);
            prop_assert_eq!(ends[index], partition_end(index as u32, partitions));
        }
    }

    #[test]
    fn a_partitions_bounds_map_to_it_and_their_neighbours_to_the_next_and_previous() {
        for partitions in [1u32, 2, 3, 7, 1000] {
            let ends = partition_ends(partitions);
            assert_eq!(ends.len(), partitions as usize);
            for index in 0..partitions {
                let (start, end) = (partition_start(index, partitions), partition_end(index, partitions));
                assert_eq!(partition_of(&ends, start), index as usize);
                assert_eq!(partition_of(&ends, end), index as usize);
                if index > 0 {
                    assert_eq!(partition_of(&ends, Token(start.0 - 1)), index as usize - 1);
                }
                if index + 1 < partitions {
                    assert_eq!(partition_of(&ends, Token(end.0 + 1)), index as usize + 1);
                }
            }
        }
    }

    #[test]
    fn one_partition_covers_the_whole_ring() {
        assert_eq!(partition_start(0, 1), Token(0));
        assert_eq!(partition_end(0, 1), Token(u128::MAX));
    }

    #[test]
    fn two_partitions_split_the_ring_at_half() {
        assert_eq!(partition_start(1, 2), Token(1u128 << 127));
        assert_eq!(partition_end(0, 2), Token((1u128 << 127) - 1));
        assert_eq!(partition_end(1, 2), Token(u128::MAX));
    }

    #[test]
    fn three_partitions_round_their_starts_up() {
        // 2^128 = 3·q + 1, so i·2^128/3 = i·q + i/3 and the ceiling adds one.
        let q = u128::MAX / 3;
        assert_eq!(partition_start(1, 3), Token(q + 1));
        assert_eq!(partition_start(2, 3), Token(2 * q + 1));
    }

    #[test]
    fn partitions_tile_the_ring_without_gaps() {
        for partitions in [1u32, 2, 3, 7, 30, 1000, 1024, u32::MAX] {
            let count = partitions.min(50);
            for index in 0..count {
                let end = partition_end(index, partitions);
                if index + 1 < partitions {
                    assert_eq!(end.0 + 1, partition_start(index + 1, partitions).0);
                }
            }
            assert_eq!(partition_end(partitions - 1, partitions), Token(u128::MAX));
        }
    }

    #[test]
    fn partition_sizes_differ_by_at_most_one_position() {
        for partitions in [3u32, 7, 1000, 1023] {
            let sizes: Vec<u128> =
                (0..partitions).map(|i| partition_end(i, partitions).0 - partition_start(i, partitions).0).collect();
            let min = sizes.iter().min().copied().unwrap_or(0);
            let max = sizes.iter().max().copied().unwrap_or(0);
            assert!(max - min <= 1, "partitions {partitions}: sizes {min}..{max}");
        }
    }

    #[test]
    fn a_position_maps_to_the_partition_that_contains_it() {
        let ends = partition_ends(4);
        assert_eq!(partition_of(&ends, Token(0)), 0);
        assert_eq!(partition_of(&ends, ends[0]), 0);
        assert_eq!(partition_of(&ends, Token(ends[0].0 + 1)), 1);
        assert_eq!(partition_of(&ends, Token(u128::MAX)), 3);
    }
}
