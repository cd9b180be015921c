//! e^x for a delay draw, cheaply, with the whole µs libm's `exp` gives.
//!
//! Every message's log-normal latency is `exp` of a normal draw, and libm's
//! `exp` (fdlibm's) is a chain of a dozen dependent floating-point
//! operations and a division: 6 % of the CPU samples of the 64-node bench
//! row (`perf record`), more than any function of the node logic. A delay
//! is only ever used rounded to a whole µs, so [`approx_exp`]
//! (table-driven, a short polynomial, relative error below 2^-48) decides
//! the rounding whenever its value is clearly on one side of a half µs,
//! and [`whole_us_near`] asks libm only when it is not — for delays under
//! a millisecond, fewer than one draw in a million. Both are within a few
//! ulps of the true e^x, so a value clearly on one side of a half for one
//! is on the same side for the other: every delay, and so every digest, is
//! exactly what libm alone gave.

use super::{whole_us, MAX_SAMPLE_US};

/// 2^(j/64) for j = 0..64, each the f64 nearest the exact value (from
/// 60-digit decimal arithmetic; a test holds them to libm's `exp2`).
#[allow(clippy::approx_constant, clippy::excessive_precision)]
const POWERS: [f64; 64] = [
    1.0,
    1.0108892860517005,
    1.0218971486541166,
    1.0330248790212284,
    1.0442737824274138,
    1.0556451783605572,
    1.0671404006768237,
    1.0787607977571199,
    1.0905077326652577,
    1.102382583307841,
    1.1143867425958924,
    1.1265216186082418,
    1.1387886347566916,
    1.1511892299529827,
    1.1637248587775775,
    1.1763969916502812,
    1.189207115002721,
    1.202156731452703,
    1.215247359980469,
    1.22848053610687,
    1.241857812073484,
    1.255380757024691,
    1.2690509571917332,
    1.2828700160787783,
    1.2968395546510096,
    1.3109612115247644,
    1.3252366431597413,
    1.339667524053303,
    1.3542555469368927,
    1.3690024229745905,
    1.383909881963832,
    1.3989796725383112,
    1.4142135623730951,
    1.42961333839197,
    1.4451808069770467,
    1.460917794180647,
    1.4768261459394993,
    1.4929077282912648,
    1.5091644275934228,
    1.5255981507445384,
    1.5422108254079407,
    1.559004400237837,
    1.5759808451078865,
    1.593142151342267,
    1.6104903319492543,
    1.6280274218573478,
    1.645755478153965,
    1.6636765803267364,
    1.681792830507429,
    1.7001063537185235,
    1.718619298122478,
    1.7373338352737062,
    1.7562521603732995,
    1.7753764925265212,
    1.7947090750031072,
    1.8142521755003989,
    1.8340080864093424,
    1.8539791250833855,
    1.8741676341103,
    1.8945759815869656,
    1.9152065613971474,
    1.9360617934922943,
    1.9571441241754002,
    1.978456026387951,
];

/// 64 / ln 2: x times this counts 64ths of a doubling.
const STEPS_PER_E: f64 = 92.332_482_616_893_66;
/// ln 2 / 64 in two parts (fdlibm's split of ln 2, divided by 64): the
/// high part has 32 significant bits, so its product with a step count
/// below 2^21 is exact, and the reduced argument loses nothing.
const STEP_HIGH: f64 = 6.931_471_803_691_238e-1 / 64.0;
const STEP_LOW: f64 = 1.908_214_929_270_587_7e-10 / 64.0;
/// 1.5 · 2^52: adding it to a number below 2^51 in magnitude rounds the
/// number to the nearest integer (ties to even).
const ROUND_TO_INTEGER: f64 = 6_755_399_441_055_744.0;
/// [`approx_exp`] answers for |x| up to this (e^±700 is well inside f64's
/// normal range); beyond it, NaN.
const LARGEST_ARGUMENT: f64 = 700.0;

/// e^x with relative error below 2^-48 for |x| ≤ 700; NaN otherwise (and
/// for NaN). Not libm's value to the last bit — see [`whole_us_near`].
///
/// x = (64k + j) · ln2/64 + r with |r| ≤ ln2/128, so e^x = 2^k · 2^(j/64)
/// · e^r, with e^r from its Taylor polynomial of degree 5 (truncation
/// error below r^6/720 < 2^-54).
pub fn approx_exp(x: f64) -> f64 {
    if x.is_nan() || x.abs() > LARGEST_ARGUMENT {
        return f64::NAN;
    }
    let shifted = x * STEPS_PER_E + ROUND_TO_INTEGER;
    let steps = shifted - ROUND_TO_INTEGER;
    let r = (x - steps * STEP_HIGH) - steps * STEP_LOW;
    // The integer sits in the low bits of `shifted`, whose exponent is fixed.
    let whole_steps = shifted.to_bits() as i64 - ROUND_TO_INTEGER.to_bits() as i64;
    let (doublings, sixty_fourths) = (whole_steps >> 6, (whole_steps & 63) as usize);
    let r2 = r * r;
    let e_r = 1.0 + r + r2 * (0.5 + r * (1.0 / 6.0) + r2 * (1.0 / 24.0 + r * (1.0 / 120.0)));
    let power_of_two = f64::from_bits(((doublings + 1023) as u64) << 52);
    POWERS[sixty_fourths] * e_r * power_of_two
}

/// How close, relative to itself, an approximate delay may come to a half
/// µs and still decide the rounding: 2^-32, far above the 2^-46 or so by
/// which the approximate and the exact delay can differ (each of
/// [`approx_exp`] and libm's `exp` is within 2^-48 of e^x, and the two or
/// three roundings that make a delay of it add 2^-53 each).
const ROUNDING_MARGIN: f64 = 1.0 / 4_294_967_296.0;

/// The whole µs of the delay `exact_us()` computes — exactly
/// `whole_us(exact_us())` — given `approx_us`, the same delay computed
/// with [`approx_exp`] in place of libm's `exp`. `exact_us` runs only when
/// `approx_us` is within [`ROUNDING_MARGIN`] of a half µs (or not a
/// number, or near the clamp).
pub fn whole_us_near(approx_us: f64, exact_us: impl FnOnce() -> f64) -> u64 {
    if (0.0..MAX_SAMPLE_US / 2.0).contains(&approx_us) {
        // The nearest integer, exactly (below 2^51 adding 2^52 rounds to
        // one, and the integer sits in the low bits); a tie is within the
        // margin, so how it breaks does not matter.
        let shifted = approx_us + TWO_TO_THE_52;
        let nearest = shifted - TWO_TO_THE_52;
        if 0.5 - (approx_us - nearest).abs() > approx_us * ROUNDING_MARGIN {
            return shifted.to_bits() - TWO_TO_THE_52.to_bits();
        }
    }
    whole_us(exact_us())
}

/// 2^52: see [`whole_us_near`].
const TWO_TO_THE_52: f64 = 4_503_599_627_370_496.0;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn relative_error(x: f64) -> f64 {
        let exact = libm::exp(x);
        ((approx_exp(x) - exact) / exact).abs()
    }

    #[test]
    fn the_table_holds_the_powers_of_two() {
        for (j, &power) in POWERS.iter().enumerate() {
            let reference = libm::exp2(j as f64 / 64.0);
            let ulps = (power.to_bits() as i64 - reference.to_bits() as i64).abs();
            assert!(ulps <= 1, "2^({j}/64): {power} against libm's {reference}");
        }
    }

    #[test]
    fn approx_exp_is_within_2_to_the_minus_48_of_libm_everywhere() {
        // Every 2^-10 step of the argument range, plus the ends.
        let mut worst: f64 = 0.0;
        let mut x = -LARGEST_ARGUMENT;
        while x <= LARGEST_ARGUMENT {
            worst = worst.max(relative_error(x));
            x += 1.0 / 1024.0;
        }
        for x in [-LARGEST_ARGUMENT, LARGEST_ARGUMENT, 0.0, -0.0, f64::MIN_POSITIVE, 1e-300] {
            worst = worst.max(relative_error(x));
        }
        assert!(worst < 2f64.powi(-48), "worst relative error {worst:e}");
        assert_eq!(approx_exp(0.0), 1.0);
    }

    #[test]
    fn approx_exp_refuses_what_it_cannot_answer() {
        for x in [700.1, -700.1, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            assert!(approx_exp(x).is_nan(), "{x}");
        }
    }

    /// A delay of `us` µs (about), as the log-normal draw computes it from
    /// its argument, both ways.
    fn both_ways(x: f64) -> (u64, u64) {
        let fast = whole_us_near(approx_exp(x) * 1000.0, || libm::exp(x) * 1000.0);
        (fast, whole_us(libm::exp(x) * 1000.0))
    }

    #[test]
    fn delays_at_a_hair_from_a_half_round_as_libm_rounds_them() {
        // Arguments whose delay lands on k + 0.5 µs, and their neighbours a
        // few ulps away: where the approximation must hand over to libm.
        let mut handed_over = 0;
        for k in (0..2_000_000u64).step_by(997).chain([0, 1, 2, 999_999_999]) {
            let x = libm::log((k as f64 + 0.5) / 1000.0);
            for ulps in -40i64..=40 {
                let nearby = f64::from_bits((x.to_bits() as i64 + ulps) as u64);
                let (fast, exact) = both_ways(nearby);
                assert_eq!(fast, exact, "k = {k}, x = {nearby:e}");
                let approx_us = approx_exp(nearby) * 1000.0;
                handed_over += usize::from((approx_us.fract() - 0.5).abs() <= approx_us * ROUNDING_MARGIN);
            }
        }
        assert!(handed_over > 1000, "the test reaches the hand-over ({handed_over} times)");
    }

    proptest! {
        /// Any argument: the same whole µs as libm's `exp` (out of range
        /// and huge delays through the clamp included).
        #[test]
        fn delays_round_as_libm_rounds_them(x in -800.0f64..800.0, small in -20.0f64..20.0) {
            for x in [x, small] {
                let (fast, exact) = both_ways(x);
                prop_assert_eq!(fast, exact, "x = {:e}", x);
            }
        }
    }
}
