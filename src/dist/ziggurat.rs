//! Standard normal and exponential draws by the ziggurat method.
//!
//! Every message's delay and every storage access's service time is a
//! draw. Box–Muller spent a log, a square root and a cosine on each normal
//! and the inverse CDF a log on each exponential: 8 % of the quickstart's
//! instructions. The ziggurat (Marsaglia & Tsang, "The Ziggurat Method for
//! Generating Random Variables", J. Stat. Softw. 5(8), 2000; 256 layers)
//! stacks layers of equal area over the density; a draw picks a layer and a
//! point across it, and ~99 % of points fall inside the layer's rectangle
//! that lies wholly under the curve — one 64-bit word, a multiplication and
//! a comparison. The rest take the wedge test or the tail, which call libm.
//! As Doornik ("An Improved Ziggurat Method to Generate Normal Random
//! Samples", 2005) advises, the layer index and the point come from
//! different bits of the word, so they are independent.
//!
//! The tables are built once from the published R and V by the layers'
//! recurrence, with libm's pure-Rust functions, so they — and every draw —
//! are the same on every platform.

use crate::engine::rng::{unit_f64, unit_of};
use std::sync::LazyLock;

/// Layers in each ziggurat (the index takes the word's low 8 bits).
const LAYERS: usize = 256;

/// Start of the normal's tail: the base layer's rectangle ends here.
const NORMAL_R: f64 = 3.654_152_885_361_009;
/// Area of each of the normal's layers (under `exp(-x²/2)`, x ≥ 0).
const NORMAL_V: f64 = 0.004_928_673_233_99;
/// Start of the exponential's tail.
const EXPONENTIAL_R: f64 = 7.697_117_470_131_05;
/// Area of each of the exponential's layers (under `exp(-x)`).
const EXPONENTIAL_V: f64 = 0.003_949_659_822_581_557;

/// The layers of one ziggurat.
struct Ziggurat {
    /// Right edges: `x[0]` is `V / f(R)` (the base layer, tail included,
    /// as a rectangle of its area), `x[1]` is R, then decreasing to
    /// `x[256] = 0`. Layer `i` spans `[0, x[i]]`; its part left of
    /// `x[i + 1]` lies wholly under the density.
    x: [f64; LAYERS + 1],
    /// The density at each edge, `f(x[i])` (increasing to `f(0) = 1`).
    f: [f64; LAYERS + 1],
}

impl Ziggurat {
    /// The layers of area `v` over `density` (decreasing from 1 at 0,
    /// `inverse` its inverse) whose base layer's rectangle ends at `r`.
    fn new(r: f64, v: f64, density: fn(f64) -> f64, inverse: fn(f64) -> f64) -> Self {
        let mut x = [0.0; LAYERS + 1];
        x[0] = v / density(r);
        x[1] = r;
        // Layer i spans density values [f(x[i]), f(x[i + 1])]: area v = x[i]·Δf.
        for i in 1..LAYERS - 1 {
            x[i + 1] = inverse(density(x[i]) + v / x[i]);
        }
        Ziggurat { x, f: x.map(density) }
    }

    /// True if the point at height between `f[i]` and `f[i + 1]` picked by
    /// `unit` in [0, 1) lies under `density` at `x`: the wedge test.
    fn under_wedge(&self, i: usize, x: f64, unit: f64, density: fn(f64) -> f64) -> bool {
        self.f[i + 1] + (self.f[i] - self.f[i + 1]) * unit < density(x)
    }
}

fn normal_density(x: f64) -> f64 {
    libm::exp(-x * x / 2.0)
}

fn normal_inverse(y: f64) -> f64 {
    libm::sqrt(-2.0 * libm::log(y))
}

fn exponential_density(x: f64) -> f64 {
    libm::exp(-x)
}

fn exponential_inverse(y: f64) -> f64 {
    -libm::log(y)
}

static NORMAL: LazyLock<Ziggurat> = LazyLock::new(|| Ziggurat::new(NORMAL_R, NORMAL_V, normal_density, normal_inverse));
static EXPONENTIAL: LazyLock<Ziggurat> =
    LazyLock::new(|| Ziggurat::new(EXPONENTIAL_R, EXPONENTIAL_V, exponential_density, exponential_inverse));

/// A uniform in (0, 1]: finite under `log`.
fn open_unit(rng: &mut impl rand::RngCore) -> f64 {
    1.0 - unit_f64(rng)
}

/// A draw from the standard normal distribution (mean 0, variance 1).
/// Inlined: the fast path is a dozen instructions, and as a call it cost a
/// message's latency draw a fifth more.
#[inline(always)]
pub fn standard_normal(rng: &mut impl rand::RngCore) -> f64 {
    let zig = &*NORMAL;
    loop {
        let word = rng.next_u64();
        let i = (word & 0xff) as usize;
        let u = 2.0 * unit_of(word) - 1.0; // [-1, 1): both halves at once
        let x = u * zig.x[i];
        if x.abs() < zig.x[i + 1] {
            return x;
        }
        if i == 0 {
            return normal_tail(rng).copysign(u);
        }
        if zig.under_wedge(i, x, unit_f64(rng), normal_density) {
            return x;
        }
    }
}

/// A draw from the normal beyond R (Marsaglia, "Generating a variable
/// from the tail of the normal distribution", Technometrics 6, 1964).
fn normal_tail(rng: &mut impl rand::RngCore) -> f64 {
    loop {
        let beyond = -libm::log(open_unit(rng)) / NORMAL_R;
        let height = -libm::log(open_unit(rng));
        if 2.0 * height > beyond * beyond {
            return NORMAL_R + beyond;
        }
    }
}

/// A draw from the standard exponential distribution (rate 1, mean 1).
pub fn standard_exponential(rng: &mut impl rand::RngCore) -> f64 {
    let zig = &*EXPONENTIAL;
    loop {
        let word = rng.next_u64();
        let i = (word & 0xff) as usize;
        let x = unit_of(word) * zig.x[i];
        if x < zig.x[i + 1] {
            return x;
        }
        if i == 0 {
            // Memoryless: the tail beyond R is R plus a fresh exponential.
            return EXPONENTIAL_R - libm::log(open_unit(rng));
        }
        if zig.under_wedge(i, x, unit_f64(rng), exponential_density) {
            return x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{ks_distance, Purpose, Streams};

    /// Every layer has area V, the base one counting its tail, and the top
    /// layer closes at the density's peak: the published R and V and the
    /// recurrence agree, so no layer is picked more often than its area.
    #[test]
    fn every_layer_has_the_same_area() {
        let cases = [
            (
                &*NORMAL,
                NORMAL_V,
                NORMAL_R,
                (1.0 - libm::erf(NORMAL_R / std::f64::consts::SQRT_2)) * (std::f64::consts::PI / 2.0).sqrt(),
            ),
            (&*EXPONENTIAL, EXPONENTIAL_V, EXPONENTIAL_R, libm::exp(-EXPONENTIAL_R)),
        ];
        for (zig, v, r, tail_area) in cases {
            assert_eq!(zig.x[1], r);
            assert_eq!(zig.x[LAYERS], 0.0);
            assert_eq!(zig.f[LAYERS], 1.0);
            let base = r * zig.f[1] + tail_area;
            assert!((base - v).abs() < 1e-10 * v, "base layer {base} vs {v}");
            assert!((zig.x[0] * zig.f[1] - v).abs() < 1e-15, "base rectangle");
            for i in 1..LAYERS {
                let area = zig.x[i] * (zig.f[i + 1] - zig.f[i]);
                assert!((area - v).abs() < 1e-9 * v, "layer {i}: {area} vs {v}");
                assert!(zig.x[i + 1] < zig.x[i], "edges decrease at {i}");
            }
        }
    }

    fn draws(count: usize, sample: fn(&mut rand_chacha::ChaCha8Rng) -> f64) -> Vec<f64> {
        let mut rng = Streams::new(3).stream(Purpose::Link, 2);
        (0..count).map(|_| sample(&mut rng)).collect()
    }

    /// Four million draws pass the Kolmogorov–Smirnov test at the 1 % level
    /// (D < 1.63/√n: a CDF off by 0.08 % anywhere fails it) and hit the
    /// first moments: the distributions are right.
    #[test]
    fn draws_follow_the_normal_and_exponential_laws() {
        let n = 4_000_000;
        let critical = 1.63 / (n as f64).sqrt();
        let normal = draws(n, standard_normal);
        let moment = |draws: &[f64], k: i32| draws.iter().map(|x| x.powi(k)).sum::<f64>() / n as f64;
        assert!(moment(&normal, 1).abs() < 0.005, "mean {}", moment(&normal, 1));
        assert!((moment(&normal, 2) - 1.0).abs() < 0.005, "variance {}", moment(&normal, 2));
        assert!((moment(&normal, 4) - 3.0).abs() < 0.03, "fourth moment {}", moment(&normal, 4));
        let d = ks_distance(normal, |x| 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2));
        assert!(d < critical, "normal: D = {d}, critical {critical}");

        let exponential = draws(n, standard_exponential);
        assert!(exponential.iter().all(|&x| x >= 0.0));
        assert!((moment(&exponential, 1) - 1.0).abs() < 0.005, "mean {}", moment(&exponential, 1));
        assert!((moment(&exponential, 2) - 2.0).abs() < 0.02, "second moment {}", moment(&exponential, 2));
        let d = ks_distance(exponential, |x| 1.0 - libm::exp(-x));
        assert!(d < critical, "exponential: D = {d}, critical {critical}");
    }

    /// The tails beyond R are drawn as often as the laws say: 2.58e-4 of
    /// normals beyond ±R, e^-R = 4.54e-4 of exponentials beyond R, and on
    /// both sides for the normal.
    #[test]
    fn tails_beyond_r_have_their_share() {
        let n = 4_000_000;
        let normal = draws(n, standard_normal);
        let above = normal.iter().filter(|&&x| x > NORMAL_R).count() as f64;
        let below = normal.iter().filter(|&&x| x < -NORMAL_R).count() as f64;
        let share = 1.0 - libm::erf(NORMAL_R / std::f64::consts::SQRT_2); // both sides
        let expected = share * n as f64 / 2.0; // ≈ 516 a side
        for side in [above, below] {
            assert!((side - expected).abs() < 4.0 * expected.sqrt(), "{side} vs {expected}");
        }
        let exponential = draws(n, standard_exponential);
        let beyond = exponential.iter().filter(|&&x| x > EXPONENTIAL_R).count() as f64;
        let expected = libm::exp(-EXPONENTIAL_R) * n as f64; // ≈ 1,816
        assert!((beyond - expected).abs() < 4.0 * expected.sqrt(), "{beyond} vs {expected}");
    }

    /// The tails have the right shape beyond R, not only the right share:
    /// the normal's own tail draws (100 k) pass Kolmogorov–Smirnov at the
    /// 1 % level against P(X ≤ x | X > R), and the exponential's excess
    /// over R has mean 1 (memoryless).
    #[test]
    fn tail_draws_follow_the_law_beyond_r() {
        let n = 100_000;
        let mut rng = Streams::new(5).stream(Purpose::Link, 7);
        let tail: Vec<f64> = (0..n).map(|_| normal_tail(&mut rng)).collect();
        let upper = |x: f64| 0.5 * libm::erfc(x / std::f64::consts::SQRT_2);
        let d = ks_distance(tail, |x| 1.0 - upper(x) / upper(NORMAL_R));
        assert!(d < 1.63 / (n as f64).sqrt(), "normal tail: D = {d}");
        let excess: Vec<f64> = draws(4_000_000, standard_exponential)
            .into_iter()
            .filter(|&x| x > EXPONENTIAL_R)
            .map(|x| x - EXPONENTIAL_R)
            .collect();
        let mean = excess.iter().sum::<f64>() / excess.len() as f64;
        assert!((mean - 1.0).abs() < 4.0 / (excess.len() as f64).sqrt(), "exponential tail: mean excess {mean}");
    }

    /// A word that picks the base layer at its far edge goes to the tail,
    /// on the side of its sign; one inside a rectangle is returned as is.
    #[test]
    fn the_base_layers_outer_part_draws_from_the_tail() {
        /// Gives `first`, then words whose uniforms are one half.
        struct Words(Option<u64>);
        impl rand::RngCore for Words {
            fn next_u32(&mut self) -> u32 {
                self.next_u64() as u32
            }
            fn next_u64(&mut self) -> u64 {
                self.0.take().unwrap_or(1 << 63)
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.fill(0);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
                dest.fill(0);
                Ok(())
            }
        }
        let far_right = !0xff; // layer 0, u just below 1
        let far_left = 0; // layer 0, u = -1
        let right = standard_normal(&mut Words(Some(far_right)));
        let left = standard_normal(&mut Words(Some(far_left)));
        assert!(right > NORMAL_R && left < -NORMAL_R, "{right} {left}");
        assert_eq!(right, -left);
        assert!(standard_exponential(&mut Words(Some(far_right))) > EXPONENTIAL_R);
        // Layer 5 at a quarter of its width lies inside its rectangle.
        let word = (1u64 << 62) | 5;
        assert_eq!(standard_exponential(&mut Words(Some(word))), 0.25 * EXPONENTIAL.x[5]);
    }
}
