//! Mean with a 95% confidence interval over seeds.
//!
//! Student's t interval: `mean ± t(0.975, n−1) · s / √n`, with the sample
//! standard deviation `s`. Pure arithmetic and `libm::sqrt`, summed in seed
//! order, so the figures are bit-identical on every machine.

use serde::Serialize;

/// A figure measured over several seeds: its mean and the half-width of the
/// 95% confidence interval (0 with fewer than two seeds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Mean over seeds.
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean.
    pub ci95: f64,
}

impl Estimate {
    /// Mean and 95% CI half-width of `values` (empty: zero).
    pub fn of(values: &[f64]) -> Estimate {
        let count = values.len();
        if count == 0 {
            return Estimate::default();
        }
        let mean = values.iter().sum::<f64>() / count as f64;
        if count < 2 {
            return Estimate { mean, ci95: 0.0 };
        }
        let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (count - 1) as f64;
        let ci95 = t_975(count - 1) * libm::sqrt(variance / count as f64);
        Estimate { mean, ci95 }
    }

    /// True when the two intervals do not overlap and this one is above.
    pub fn clearly_above(&self, other: &Estimate) -> bool {
        self.mean - self.ci95 > other.mean + other.ci95
    }
}

/// Two-sided 95% Student t quantile `t(0.975, degrees)`: a table to 30
/// degrees of freedom, then the Cornish-Fisher expansion around the normal
/// quantile (within 0.001 of the exact value from 30 on); infinite for 0.
/// Shared by `dynasim ring` and `dynasim sweep`.
pub fn t_975(degrees: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match degrees {
        0 => f64::INFINITY,
        1..=30 => TABLE[degrees - 1],
        _ => {
            let z = 1.959_963_984_540_054_f64;
            let d = degrees as f64;
            let (z3, z5, z7) = (z * z * z, z * z * z * z * z, z * z * z * z * z * z * z);
            z + (z3 + z) / (4.0 * d)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * d * d)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * d * d * d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_has_no_interval() {
        assert_eq!(Estimate::of(&[2.5]), Estimate { mean: 2.5, ci95: 0.0 });
    }

    #[test]
    fn the_interval_uses_the_t_quantile() {
        // Values 1, 2, 3: mean 2, s = 1, half-width = 4.303 / √3.
        let estimate = Estimate::of(&[1.0, 2.0, 3.0]);
        assert_eq!(estimate.mean, 2.0);
        assert!((estimate.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn the_t_quantile_matches_published_values() {
        for (degrees, t) in [(1, 12.706), (4, 2.776), (19, 2.093), (30, 2.042), (40, 2.021), (60, 2.000), (100, 1.984)]
        {
            assert!((t_975(degrees) - t).abs() < 0.001, "t(0.975, {degrees}) = {} not {t}", t_975(degrees));
        }
        assert!(t_975(100_000) > 1.95996 && t_975(100_000) < 1.9601);
    }

    #[test]
    fn separated_intervals_are_clearly_above() {
        let high = Estimate { mean: 1.0, ci95: 0.1 };
        let low = Estimate { mean: 0.5, ci95: 0.1 };
        assert!(high.clearly_above(&low));
        assert!(!low.clearly_above(&high));
    }
}
