//! Exact nearest-rank quantiles of whole-µs latencies from counts, without
//! a sorted list of them.
//!
//! Why: `latency_cdf.csv` sorted a list of every successful operation's
//! latency. At 10 M requests that is 9.5 M reads: 76 MB collected by
//! doubling (more touched as it grew), a sort of some tenths of a second,
//! and, now that the run directory's passes over the history run two at a
//! time (`check::pieces::join`), fresh memory on the other thread at the
//! run's peak. Latencies are whole µs and nearly all under a second, so one
//! count a µs answers the same questions exactly: the rank-th smallest
//! latency, and how many are at or below it.

/// Latencies up to this many µs (~1 s) are counted in a table of a slot a
/// µs, grown only as far as the largest seen (8 MiB at most); longer ones
/// are kept in a list and sorted when walked.
const COUNTED_MAX_US: u64 = 1 << 20;

/// A multiset of latencies (µs).
#[derive(Clone, Debug, Default)]
pub struct LatencyCounts {
    /// `counts[v]`: how many latencies were `v` µs (v ≤ [`COUNTED_MAX_US`]).
    counts: Vec<u64>,
    /// The latencies over [`COUNTED_MAX_US`].
    longer: Vec<u64>,
    /// How many latencies in all.
    len: u64,
}

impl LatencyCounts {
    /// Adds one latency.
    pub fn add(&mut self, latency_us: u64) {
        self.len += 1;
        if latency_us > COUNTED_MAX_US {
            self.longer.push(latency_us);
            return;
        }
        let slot = latency_us as usize;
        if slot >= self.counts.len() {
            self.counts.resize(slot + 1, 0);
        }
        self.counts[slot] += 1;
    }

    /// How many latencies were added.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when none was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A walk up the latencies in ascending order, for ranks asked in
    /// non-decreasing order.
    pub fn ascending(mut self) -> Ascending {
        self.longer.sort_unstable();
        Ascending { counts: self.counts, longer: self.longer, next_slot: 0, next_longer: 0, passed: 0, last: 0 }
    }
}

/// [`LatencyCounts::ascending`].
#[derive(Debug)]
pub struct Ascending {
    counts: Vec<u64>,
    /// Sorted.
    longer: Vec<u64>,
    /// The first slot of `counts` not walked past yet.
    next_slot: usize,
    /// The first of `longer` not walked past yet.
    next_longer: usize,
    /// How many latencies were walked past: all those at or below `last`.
    passed: u64,
    /// The last latency walked past (0 before any).
    last: u64,
}

impl Ascending {
    /// The `rank`-th smallest latency (1-based, at most [`LatencyCounts::len`];
    /// ranks asked must not decrease) and how many latencies are at or
    /// below it — what a sorted list's `sorted[rank - 1]` and
    /// `partition_point(|&l| l <= latency)` give.
    pub fn at_rank(&mut self, rank: u64) -> (u64, u64) {
        while self.passed < rank && self.next_slot < self.counts.len() {
            self.passed += self.counts[self.next_slot];
            self.last = self.next_slot as u64;
            self.next_slot += 1;
        }
        if self.passed < rank && self.next_longer < self.longer.len() {
            self.next_longer += (rank - self.passed) as usize;
            self.last = self.longer[self.next_longer - 1];
            let equal = self.longer[self.next_longer..].iter().take_while(|&&l| l == self.last).count();
            self.next_longer += equal;
            self.passed = rank + equal as u64;
        }
        (self.last, self.passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The walk answers what a sorted list does, for latencies in the
        /// table, past it, and repeated on either side.
        #[test]
        fn a_walk_answers_what_a_sorted_list_does(
            short in proptest::collection::vec(0u64..50, 0..60),
            long in proptest::collection::vec(0u64..6, 0..20),
            quantiles in proptest::collection::vec(0.0f64..=1.0, 1..30),
        ) {
            let mut latencies = short;
            latencies.extend(long.iter().map(|l| COUNTED_MAX_US - 2 + l)); // both sides of the table's end
            let mut counts = LatencyCounts::default();
            latencies.iter().for_each(|&l| counts.add(l));
            proptest::prop_assert_eq!(counts.len(), latencies.len() as u64);
            if latencies.is_empty() {
                return Ok(());
            }
            latencies.sort_unstable();
            let len = latencies.len() as u64;
            let mut ranks: Vec<u64> = quantiles.iter().map(|&q| crate::report::timeseries::rank_of(q, len)).collect();
            ranks.sort_unstable();
            let mut walk = counts.ascending();
            for rank in ranks {
                let latency = latencies[rank as usize - 1];
                let at_or_below = latencies.partition_point(|&l| l <= latency) as u64;
                proptest::prop_assert_eq!(walk.at_rank(rank), (latency, at_or_below), "rank {}", rank);
            }
        }
    }

    #[test]
    fn the_table_grows_only_to_the_largest_counted_latency() {
        let mut counts = LatencyCounts::default();
        for latency in [5, 900, COUNTED_MAX_US + 1] {
            counts.add(latency);
        }
        assert_eq!(counts.counts.len(), 901);
        assert_eq!(counts.longer, [COUNTED_MAX_US + 1]);
        assert!(!counts.is_empty());
    }
}
