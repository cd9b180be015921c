//! Delay distributions for network latency, service times and think times.
//!
//! Parameters are in milliseconds, as users and the PBS paper write them;
//! samples are whole microseconds. Normal and exponential draws use the
//! ziggurat method (`ziggurat`); every function is the pure-Rust `libm`'s,
//! so a draw is bit-identical on every platform (DESIGN.md, "Same digest on
//! every machine").

mod approx_exp;
mod ziggurat;

use crate::engine::rng::unit_f64;
use approx_exp::{approx_exp, whole_us_near};
use serde::{Deserialize, Serialize};
pub use ziggurat::standard_exponential;
use ziggurat::standard_normal;

/// A delay distribution, written in scenario files as a one-key table, e.g.
/// `{ constant = 1.0 }`, `{ uniform = { low = 0.5, high = 2.0 } }`,
/// `{ exponential = { rate = 1.66 } }` (λ per ms, mean 1/λ),
/// `{ lognormal = { mu = 0.0, sigma = 0.5 } }` (of the delay in ms),
/// `{ pareto = { scale = 0.235, shape = 10.0 } }` (x_m in ms and α), or
/// `{ mixture = [ { weight = 0.9122, dist = { pareto = { scale = 0.235, shape = 10.0 } } }, … ] }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Dist {
    /// Always the same delay, in ms.
    Constant(f64),
    /// Uniform between `low` and `high` ms.
    Uniform {
        /// Smallest delay, ms.
        low: f64,
        /// Largest delay, ms.
        high: f64,
    },
    /// Exponential with rate λ per ms (mean 1/λ ms).
    Exponential {
        /// λ, per millisecond.
        rate: f64,
    },
    /// Log-normal: ln(delay in ms) ~ Normal(mu, sigma).
    Lognormal {
        /// Mean of the log of the delay.
        mu: f64,
        /// Standard deviation of the log of the delay.
        sigma: f64,
    },
    /// Pareto with minimum `scale` ms (x_m) and tail index `shape` (α).
    Pareto {
        /// x_m, the smallest delay, ms.
        scale: f64,
        /// α, the tail index (smaller = heavier tail).
        shape: f64,
    },
    /// A weighted mixture; weights need not sum to one (they are normalised).
    Mixture(Vec<Component>),
}

/// One weighted part of a mixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Relative weight (> 0).
    pub weight: f64,
    /// The distribution drawn from with that weight.
    pub dist: Dist,
}

/// Samples longer than this (about 11.6 days) are clamped, so a heavy tail
/// cannot overflow virtual time.
const MAX_SAMPLE_US: f64 = 1e12;

impl Dist {
    /// Checks the parameters, returning what is wrong and what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a finite number > 0, got {v}"))
            }
        };
        match self {
            Dist::Constant(v) if !(v.is_finite() && *v >= 0.0) => {
                Err(format!("constant delay must be a finite number >= 0 ms, got {v}"))
            }
            Dist::Constant(_) => Ok(()),
            Dist::Uniform { low, high } => {
                if !(low.is_finite() && high.is_finite() && *low >= 0.0 && low <= high) {
                    Err(format!("uniform needs 0 <= low <= high (finite), got low = {low}, high = {high}"))
                } else {
                    Ok(())
                }
            }
            Dist::Exponential { rate } => positive("exponential rate", *rate),
            Dist::Lognormal { mu, sigma } => {
                if !mu.is_finite() {
                    return Err(format!("lognormal mu must be finite, got {mu}"));
                }
                if !(sigma.is_finite() && *sigma >= 0.0) {
                    return Err(format!("lognormal sigma must be a finite number >= 0, got {sigma}"));
                }
                Ok(())
            }
            Dist::Pareto { scale, shape } => {
                positive("pareto scale", *scale)?;
                positive("pareto shape", *shape)
            }
            Dist::Mixture(parts) => {
                if parts.is_empty() {
                    return Err("mixture needs at least one component".into());
                }
                for part in parts {
                    positive("mixture weight", part.weight)?;
                    part.dist.validate()?;
                }
                Ok(())
            }
        }
    }

    /// Draws one delay in whole microseconds: `sample_ms` × 1000 rounded,
    /// with e^x approximated wherever that decides the same whole µs
    /// (`approx_exp`).
    pub fn sample_us(&self, rng: &mut impl rand::RngCore) -> u64 {
        match self {
            Dist::Lognormal { mu, sigma } => {
                let x = mu + sigma * standard_normal(rng);
                whole_us_near(approx_exp(x) * 1000.0, || libm::exp(x) * 1000.0)
            }
            Dist::Pareto { scale, shape } => {
                let x = standard_exponential(rng) / shape;
                whole_us_near(scale * approx_exp(x) * 1000.0, || scale * libm::exp(x) * 1000.0)
            }
            Dist::Mixture(parts) => pick(parts, rng).map_or(0, |dist| dist.sample_us(rng)),
            Dist::Constant(_) | Dist::Uniform { .. } | Dist::Exponential { .. } => {
                whole_us(self.sample_ms(rng) * 1000.0)
            }
        }
    }

    /// Draws one delay in milliseconds.
    pub fn sample_ms(&self, rng: &mut impl rand::RngCore) -> f64 {
        match self {
            Dist::Constant(v) => *v,
            Dist::Uniform { low, high } => low + (high - low) * unit_f64(rng),
            Dist::Exponential { rate } => standard_exponential(rng) / rate,
            Dist::Lognormal { mu, sigma } => libm::exp(mu + sigma * standard_normal(rng)),
            // ln(X / x_m) is exponential with rate α.
            Dist::Pareto { scale, shape } => scale * libm::exp(standard_exponential(rng) / shape),
            Dist::Mixture(parts) => pick(parts, rng).map_or(0.0, |dist| dist.sample_ms(rng)),
        }
    }

    /// The distribution's mean in ms (infinite for Pareto with α ≤ 1).
    pub fn mean_ms(&self) -> f64 {
        match self {
            Dist::Constant(v) => *v,
            Dist::Uniform { low, high } => (low + high) / 2.0,
            Dist::Exponential { rate } => 1.0 / rate,
            Dist::Lognormal { mu, sigma } => libm::exp(mu + sigma * sigma / 2.0),
            Dist::Pareto { scale, shape } if *shape > 1.0 => shape * scale / (shape - 1.0),
            Dist::Pareto { .. } => f64::INFINITY,
            Dist::Mixture(parts) => {
                let total: f64 = parts.iter().map(|p| p.weight).sum();
                parts.iter().map(|p| p.weight / total * p.dist.mean_ms()).sum()
            }
        }
    }
}

/// The component of a mixture a draw comes from, chosen by weight (None
/// only for an empty mixture, which validation refuses).
fn pick<'a>(parts: &'a [Component], rng: &mut impl rand::RngCore) -> Option<&'a Dist> {
    let total: f64 = parts.iter().map(|p| p.weight).sum();
    let mut pick = unit_f64(rng) * total;
    for part in parts {
        if pick < part.weight {
            return Some(&part.dist);
        }
        pick -= part.weight;
    }
    // Rounding left `pick` just past the last weight.
    parts.last().map(|p| &p.dist)
}

/// `us` rounded to the nearest whole µs (halves away from zero), clamped to
/// [0, `MAX_SAMPLE_US`] (NaN gives 0): what `libm::round` then the clamp
/// gave, exactly, without the call — every message's delay goes through
/// here. Below the clamp the truncation is exact (< 2^53) and so is the
/// fraction `us - truncated`, so the comparison with one half is too. NaN
/// and negative delays need no test of their own: the cast saturates them
/// to 0 and their fraction is never a half or more.
fn whole_us(us: f64) -> u64 {
    if us >= MAX_SAMPLE_US {
        return MAX_SAMPLE_US as u64;
    }
    let truncated = us as u64;
    truncated + u64::from(us - truncated as f64 >= 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{Purpose, Streams};

    /// What `sample_us` computed before `whole_us`: libm's rounding, then the clamp.
    fn whole_us_by_libm(us: f64) -> u64 {
        let rounded = libm::round(us);
        if rounded.is_nan() || rounded <= 0.0 {
            0
        } else {
            rounded.min(MAX_SAMPLE_US) as u64
        }
    }

    proptest::proptest! {
        /// Every delay rounds exactly as libm's `round` and the clamp did:
        /// any bit pattern, and values at and around every half.
        #[test]
        fn whole_us_rounds_as_libm_did(bits in proptest::prelude::any::<u64>(), whole in 0u64..2_000_000_000_000) {
            let halves = [whole as f64 + 0.5, whole as f64 - 0.5, whole as f64];
            let neighbours = halves.iter().flat_map(|&h| [h, f64::from_bits(h.to_bits() + 1), f64::from_bits(h.to_bits().saturating_sub(1))]);
            for us in neighbours.chain([f64::from_bits(bits), f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -0.0, 0.49999999999999994]) {
                proptest::prop_assert_eq!(whole_us(us), whole_us_by_libm(us), "{}", us);
            }
        }
    }

    fn sample_mean(dist: &Dist, draws: usize) -> f64 {
        let mut rng = Streams::new(3).stream(Purpose::Link, 0);
        (0..draws).map(|_| dist.sample_ms(&mut rng)).sum::<f64>() / draws as f64
    }

    #[test]
    fn sample_means_match_the_analytic_means() {
        let cases = [
            Dist::Constant(2.5),
            Dist::Uniform { low: 1.0, high: 3.0 },
            Dist::Exponential { rate: 1.66 },
            Dist::Lognormal { mu: 0.0, sigma: 0.5 },
            Dist::Pareto { scale: 0.235, shape: 10.0 },
            // PBS LNKD-SSD fit: 91.22% Pareto(0.235, 10) + 8.78% Exponential(1.66).
            Dist::Mixture(vec![
                Component { weight: 0.9122, dist: Dist::Pareto { scale: 0.235, shape: 10.0 } },
                Component { weight: 0.0878, dist: Dist::Exponential { rate: 1.66 } },
            ]),
        ];
        for dist in &cases {
            let mean = sample_mean(dist, 200_000);
            let expected = dist.mean_ms();
            assert!((mean - expected).abs() / expected < 0.02, "{dist:?}: sampled {mean}, expected {expected}");
        }
    }

    #[test]
    fn samples_are_reproducible_for_a_seed() {
        let dist = Dist::Lognormal { mu: 1.0, sigma: 1.0 };
        let draw = || {
            let mut rng = Streams::new(11).stream(Purpose::Link, 5);
            (0..100).map(|_| dist.sample_us(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(), draw());
    }

    #[test]
    fn invalid_parameters_are_rejected_with_the_rule() {
        assert!(Dist::Exponential { rate: 0.0 }.validate().unwrap_err().contains("> 0"));
        assert!(Dist::Uniform { low: 3.0, high: 1.0 }.validate().unwrap_err().contains("low <= high"));
        assert!(Dist::Mixture(vec![]).validate().is_err());
        assert!(Dist::Pareto { scale: 1.0, shape: 2.0 }.validate().is_ok());
    }

    #[test]
    fn scenario_syntax_parses_every_kind() {
        #[derive(Deserialize)]
        struct Holder {
            d: Vec<Dist>,
        }
        let text = r#"d = [
            { constant = 1.0 },
            { uniform = { low = 0.5, high = 2.0 } },
            { exponential = { rate = 1.66 } },
            { lognormal = { mu = 0.0, sigma = 0.5 } },
            { pareto = { scale = 0.235, shape = 10.0 } },
            { mixture = [ { weight = 0.9, dist = { constant = 1.0 } }, { weight = 0.1, dist = { exponential = { rate = 2.0 } } } ] },
        ]"#;
        let holder: Holder = toml::from_str(text).expect("parses");
        assert_eq!(holder.d.len(), 6);
        assert_eq!(holder.d[0], Dist::Constant(1.0));
    }
}
