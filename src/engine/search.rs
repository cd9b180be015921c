//! Searching sorted sequences from a good first guess.
//!
//! Binary search costs log2(n) probes wherever the answer lies, and on a
//! large sequence each probe may miss the cache. Where something predicts
//! the answer (a timeout lane fills at a steady rate; equal partitions of
//! the ring are found by arithmetic), galloping out from the prediction
//! costs O(log distance) probes, all near it.

/// The first index in `0..len` for which `below` is false, `below` being
/// true on a prefix of the indexes and false on the rest (as
/// `slice::partition_point`), probing outwards from `guess` (any index;
/// clamped) by doubling steps, then bisecting the bracket found.
pub fn partition_point_from(len: usize, guess: usize, below: impl Fn(usize) -> bool) -> usize {
    if len == 0 {
        return 0;
    }
    let guess = guess.min(len - 1);
    // Every index at or above `high` is not below; every index under `low` is.
    let (mut low, mut high);
    let mut step = 1;
    if below(guess) {
        (low, high) = (guess + 1, len);
        while guess + step < len {
            let probe = guess + step;
            if !below(probe) {
                high = probe;
                break;
            }
            low = probe + 1;
            step *= 2;
        }
    } else {
        (low, high) = (0, guess);
        while step <= guess {
            let probe = guess - step;
            if below(probe) {
                low = probe + 1;
                break;
            }
            high = probe;
            step *= 2;
        }
    }
    while low < high {
        let middle = low + (high - low) / 2;
        if below(middle) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

/// Which of `len` equal shares of the 128-bit ring holds `position`:
/// `floor(position · len / 2^128)`, exactly. Share `i` is the positions
/// `p` with `i ≤ p · len / 2^128 < i + 1`, i.e. from `ceil(i · 2^128 / len)`
/// to before `ceil((i + 1) · 2^128 / len)`: the partitions of
/// `crate::ring::partition`.
pub fn share_of_ring(position: u128, len: usize) -> usize {
    let len = len as u128;
    // position · len = high · 2^64 + low, each product below 2^128.
    let high = (position >> 64) * len;
    let low = (position & u128::from(u64::MAX)) * len;
    ((high + (low >> 64)) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// From any guess, the answer is the partition point.
        #[test]
        fn the_search_from_any_guess_finds_the_partition_point(
            mut values in prop::collection::vec(0u32..50, 0..200),
            target in 0u32..55,
            guess in any::<prop::sample::Index>(),
        ) {
            values.sort_unstable();
            let expected = values.partition_point(|&v| v < target);
            let guess = guess.index(values.len() + 2);
            prop_assert_eq!(partition_point_from(values.len(), guess, |i| values[i] < target), expected);
        }

        /// Galloping costs O(log distance): from a guess `d` indexes from
        /// the answer, at most 2·bits(d) + 2 probes (bits(d) = ⌊log2 d⌋ + 1,
        /// 0 for 0), however long the sequence — what makes a search from
        /// a good guess cheaper than bisecting the whole.
        #[test]
        fn the_search_probes_in_proportion_to_the_log_of_the_distance(
            answer in prop_oneof![0usize..64, 0usize..=1 << 20],
            distance in prop_oneof![0usize..8, 0usize..100_000],
            upwards in any::<bool>(),
        ) {
            let len = 1 << 20;
            let guess = if upwards { answer.saturating_sub(distance) } else { (answer + distance).min(len - 1) };
            let probes = std::cell::Cell::new(0);
            let found = partition_point_from(len, guess, |i| {
                probes.set(probes.get() + 1);
                i < answer
            });
            prop_assert_eq!(found, answer);
            let bits = (usize::BITS - answer.abs_diff(guess).leading_zeros()) as usize;
            prop_assert!(probes.get() <= 2 * bits + 2, "{} probes from {} to {}", probes.get(), guess, answer);
        }

        /// The share is the top 128 bits of the 256-bit product, computed
        /// here by 32-bit limbs.
        #[test]
        fn a_share_of_the_ring_is_the_top_half_of_position_times_shares(
            position in any::<u128>(),
            len in prop_oneof![1usize..300, 1usize..1 << 32],
        ) {
            let limbs: [u64; 4] = std::array::from_fn(|i| (position >> (32 * i)) as u64 & 0xffff_ffff);
            let (mut product, mut carry) = ([0u64; 6], 0u128);
            for (i, limb) in limbs.iter().enumerate() {
                let value = u128::from(*limb) * len as u128 + carry;
                product[i] = (value & 0xffff_ffff) as u64;
                carry = value >> 32;
            }
            product[4] = (carry & 0xffff_ffff) as u64;
            product[5] = (carry >> 32) as u64;
            let top = (u128::from(product[5]) << 32) | u128::from(product[4]);
            prop_assert_eq!(share_of_ring(position, len) as u128, top);
        }
    }
}
