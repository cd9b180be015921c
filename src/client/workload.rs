//! What a client asks for: which key, read or write, and when.

use crate::engine::rng::unit_f64;
use crate::scenario::Popularity;
use rand::Rng;

/// Draws keys by popularity. Zipf uses a precomputed cumulative table
/// (shared by all clients), searched by bisection.
#[derive(Clone, Debug)]
pub enum KeyChooser {
    /// Every key equally likely.
    Uniform {
        /// Number of keys.
        keys: u64,
    },
    /// Key k (0-based) has weight 1/(k+1)^s; `cumulative[k]` is the total up to k.
    Zipf {
        /// Running totals of the weights, normalised to end at 1.
        cumulative: Vec<f64>,
    },
}

impl KeyChooser {
    /// A chooser over `keys` keys with the given popularity.
    pub fn new(keys: u64, popularity: Popularity) -> Self {
        match popularity {
            Popularity::Uniform => KeyChooser::Uniform { keys },
            Popularity::Zipf(s) => {
                let mut total = 0.0;
                let mut cumulative: Vec<f64> = (1..=keys)
                    .map(|rank| {
                        total += libm::pow(rank as f64, -s);
                        total
                    })
                    .collect();
                cumulative.iter_mut().for_each(|c| *c /= total);
                KeyChooser::Zipf { cumulative }
            }
        }
    }

    /// How many keys there are: indices run from 0 below this.
    pub fn count(&self) -> u64 {
        match self {
            KeyChooser::Uniform { keys } => *keys,
            KeyChooser::Zipf { cumulative } => cumulative.len() as u64,
        }
    }

    /// Draws one key index.
    pub fn choose(&self, rng: &mut impl rand::RngCore) -> u64 {
        match self {
            KeyChooser::Uniform { keys } => rng.gen_range(0..*keys),
            KeyChooser::Zipf { cumulative } => {
                let u = unit_f64(rng);
                let index = cumulative.partition_point(|&c| c <= u);
                index.min(cumulative.len() - 1) as u64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{Purpose, Streams};

    #[test]
    fn zipf_makes_low_ranks_hot() {
        let chooser = KeyChooser::new(1000, Popularity::Zipf(1.0));
        let mut rng = Streams::new(1).stream(Purpose::Client, 0);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[chooser.choose(&mut rng) as usize] += 1;
        }
        // weight of rank 1 is 1/H_1000 ≈ 13.4%
        let share = f64::from(counts[0]) / 100_000.0;
        assert!((share - 0.1336).abs() < 0.01, "rank-1 share {share}");
        assert!(counts[0] > 5 * counts[9]);
    }

    #[test]
    fn uniform_stays_in_range_and_covers_it() {
        let chooser = KeyChooser::new(10, Popularity::Uniform);
        let mut rng = Streams::new(2).stream(Purpose::Client, 0);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[chooser.choose(&mut rng) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
