//! Independent random streams derived from one master seed.
//!
//! Every purpose (a node's ring tokens, a client's workload, a node's own
//! timers, fault draws) gets its own ChaCha stream, so changing one part of
//! a scenario — adding a client, say — never reshuffles the draws of an
//! unrelated part. ChaCha's 64-bit stream id selects the stream; the key is
//! the master seed. The network's draws are Philox's, keyed from the link
//! purpose's stream (`net::links`), one counter per link and message.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The stream generator used everywhere in dynasim.
pub type SimRng = ChaCha8Rng;

/// What a random stream is for. The discriminant is part of the stream id,
/// so it must never be reordered (append new purposes at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Purpose {
    /// Tokens chosen by one node (index = node id).
    RingTokens = 1,
    /// The key of the links' latency and loss draws (stream 0 only: the
    /// draws themselves are Philox's, see `net::links`).
    Link = 2,
    /// One client's workload: arrivals, keys, op mix (index = client id).
    Client = 3,
    /// One node's local randomness: service times, gossip peers (index = node id).
    Node = 4,
    /// Fault schedule draws (index = fault number).
    Faults = 5,
}

/// Derives per-purpose streams from the master seed.
#[derive(Clone, Copy, Debug)]
pub struct Streams {
    master_seed: u64,
    /// The ChaCha key every stream shares, expanded from the master seed
    /// once (`seed_from_u64`'s expansion), not once a stream.
    key: <SimRng as SeedableRng>::Seed,
}

impl Streams {
    /// Streams for one run with the given master seed.
    pub fn new(master_seed: u64) -> Self {
        Streams { master_seed, key: SimRng::seed_from_u64(master_seed).get_seed() }
    }

    /// The master seed these streams derive from.
    pub fn master_seed(&self) -> u64 {
        self.master_seed
    }

    /// The stream for `purpose` number `index` (index < 2^56).
    pub fn stream(&self, purpose: Purpose, index: u64) -> SimRng {
        let mut rng = SimRng::from_seed(self.key);
        rng.set_stream(stream_id(purpose, index));
        rng
    }
}

/// The ChaCha stream id (nonce) of `purpose`'s stream number `index`.
fn stream_id(purpose: Purpose, index: u64) -> u64 {
    debug_assert!(index < (1 << 56), "stream index out of range");
    ((purpose as u64) << 56) | index
}

/// A uniform draw in [0, 1) with 53 bits of precision, identical on every platform.
pub fn unit_f64(rng: &mut impl rand::RngCore) -> f64 {
    unit_of(rng.next_u64())
}

/// `word`'s high 53 bits as a uniform in [0, 1): what [`unit_f64`] makes
/// of a draw (the ziggurat takes its layer from the same word's low bits).
pub fn unit_of(word: u64) -> f64 {
    (word >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The Kolmogorov–Smirnov statistic of `draws` against `cdf`: the largest
/// gap between their empirical CDF and it (tests of the samplers).
#[cfg(test)]
pub fn ks_distance(mut draws: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
    draws.sort_by(f64::total_cmp);
    let n = draws.len() as f64;
    draws.iter().enumerate().map(|(k, &x)| (cdf(x) - k as f64 / n).max((k + 1) as f64 / n - cdf(x))).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn same_purpose_and_index_give_the_same_stream() {
        let streams = Streams::new(42);
        let (mut a, mut b) = (streams.stream(Purpose::Client, 3), streams.stream(Purpose::Client, 3));
        for _ in 0..4 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn different_purposes_indices_and_seeds_differ() {
        let first = |s: u64, p: Purpose, i: u64| Streams::new(s).stream(p, i).next_u64();
        assert_ne!(first(1, Purpose::Client, 0), first(1, Purpose::Node, 0));
        assert_ne!(first(1, Purpose::Client, 0), first(1, Purpose::Client, 1));
        assert_ne!(first(1, Purpose::Client, 0), first(2, Purpose::Client, 0));
    }

    #[test]
    fn unit_draws_stay_in_the_unit_interval() {
        let mut rng = Streams::new(9).stream(Purpose::Faults, 0);
        for _ in 0..10_000 {
            let u = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
