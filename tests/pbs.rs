//! PBS t-visibility (Bailis et al., "Probabilistically Bounded Staleness for
//! Practical Partial Quorums", VLDB 2012) against an independent model.
//!
//! The probe workload must reproduce the WARS model exactly: a write is sent
//! to N replicas (delay W_i), each acknowledges (A_i), it commits at the W-th
//! smallest W_i + A_i; a read issued t after the commit is sent to N replicas
//! (R_i), each answers (S_i), the first R answers are used, and the read sees
//! the write if one of those replicas has W_i <= commit + t + R_i. The Monte
//! Carlo below computes that with its own sampler and its own random
//! generator (ChaCha20, not the simulator's ChaCha8 streams), sharing no code
//! with the simulator.

mod common;

use common::{bundled, inline, run_twice, scenario_text};
use dynasim::report::staleness::{staleness_csv, wilson_interval, StalenessRow, BIN_EDGES_MS, CSV_HEADER};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A delay distribution in ms, sampled here independently of `dynasim::dist`.
#[derive(Clone, Debug)]
enum Delay {
    Exponential { rate: f64 },
    Pareto { scale: f64, shape: f64 },
    Mixture(Vec<(f64, Delay)>),
}

impl Delay {
    fn sample(&self, rng: &mut ChaCha20Rng) -> f64 {
        match self {
            Delay::Exponential { rate } => -(1.0 - rng.gen::<f64>()).ln() / rate,
            Delay::Pareto { scale, shape } => scale / (1.0 - rng.gen::<f64>()).powf(1.0 / shape),
            Delay::Mixture(parts) => {
                let mut pick = rng.gen::<f64>() * parts.iter().map(|(w, _)| w).sum::<f64>();
                for (weight, delay) in parts {
                    if pick < *weight {
                        return delay.sample(rng);
                    }
                    pick -= weight;
                }
                parts.last().expect("a part").1.sample(rng)
            }
        }
    }

    /// The same distribution as scenario TOML.
    fn toml(&self) -> String {
        match self {
            Delay::Exponential { rate } => format!("{{ exponential = {{ rate = {rate:?} }} }}"),
            Delay::Pareto { scale, shape } => format!("{{ pareto = {{ scale = {scale:?}, shape = {shape:?} }} }}"),
            Delay::Mixture(parts) => {
                let parts: Vec<String> =
                    parts.iter().map(|(w, d)| format!("{{ weight = {w:?}, dist = {} }}", d.toml())).collect();
                format!("{{ mixture = [ {} ] }}", parts.join(", "))
            }
        }
    }
}

/// The WARS delays of one configuration.
struct Wars {
    write: Delay,
    ack: Delay,
    read: Delay,
    response: Delay,
}

/// The paper's LNKD-SSD fit (used for A, R, S of LNKD-DISK too).
fn lnkd_ssd() -> Delay {
    Delay::Mixture(vec![
        (0.9122, Delay::Pareto { scale: 0.235, shape: 10.0 }),
        (0.0878, Delay::Exponential { rate: 1.66 }),
    ])
}

/// The paper's LNKD-DISK fit: W slow and heavy-tailed, A = R = S as LNKD-SSD.
fn lnkd_disk() -> Wars {
    let write = Delay::Mixture(vec![
        (0.38, Delay::Pareto { scale: 1.05, shape: 1.51 }),
        (0.62, Delay::Exponential { rate: 0.183 }),
    ]);
    Wars { write, ack: lnkd_ssd(), read: lnkd_ssd(), response: lnkd_ssd() }
}

/// Plain exponentials: writes slow (mean 2 ms), everything else mean 0.5 ms.
fn exponential() -> Wars {
    let fast = || Delay::Exponential { rate: 2.0 };
    Wars { write: Delay::Exponential { rate: 0.5 }, ack: fast(), read: fast(), response: fast() }
}

/// P(consistent read | t) by Monte Carlo of the WARS model, one value per delay.
fn wars_monte_carlo(wars: &Wars, (n, r, w): (usize, usize, usize), delays_ms: &[f64], trials: u64) -> Vec<f64> {
    let mut rng = ChaCha20Rng::seed_from_u64(20120827);
    let mut consistent = vec![0u64; delays_ms.len()];
    for _ in 0..trials {
        let writes: Vec<f64> = (0..n).map(|_| wars.write.sample(&mut rng)).collect();
        let mut acks: Vec<f64> = writes.iter().map(|w| w + wars.ack.sample(&mut rng)).collect();
        acks.sort_by(f64::total_cmp);
        let commit = acks[w - 1];
        for (index, t) in delays_ms.iter().enumerate() {
            let reads: Vec<(f64, f64)> =
                (0..n).map(|_| (wars.read.sample(&mut rng), wars.response.sample(&mut rng))).collect();
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| (reads[a].0 + reads[a].1).total_cmp(&(reads[b].0 + reads[b].1)));
            let sees = order[..r].iter().any(|&i| writes[i] <= commit + t + reads[i].0);
            consistent[index] += u64::from(sees);
        }
    }
    consistent.iter().map(|&c| c as f64 / trials as f64).collect()
}

/// A probe scenario reproducing WARS: client-driven, last-write-wins, zero
/// service times, nothing but the write itself carrying a version.
fn probe_scenario(wars: &Wars, (n, r, w): (usize, usize, usize), delays_ms: &[f64], duration_ms: u32) -> String {
    format!(
        "duration_ms = {duration_ms}\nquiesce_ms = 2100\n\
         [cluster]\nnodes = {n}\n[quorum]\nn = {n}\nr = {r}\nw = {w}\n\
         [network.by_kind]\nwrite_request = {}\nwrite_ack = {}\nread_request = {}\nread_response = {}\n\
         [storage]\nread_service = {{ constant = 0.0 }}\nwrite_service = {{ constant = 0.0 }}\n\
         [node]\nread_repair = false\n[anti_entropy]\nenabled = false\n\
         [workload]\nmode = \"probe\"\nclients = 2\nrate_per_s = 2000\nprobe_delays_ms = {delays_ms:?}\n\
         [reconciliation]\npolicy = \"lww\"\n[routing]\nmode = \"client-driven\"\n",
        wars.write.toml(),
        wars.ack.toml(),
        wars.read.toml(),
        wars.response.toml(),
    )
}

/// z of a two-sided 99.9% interval: the tests below compare 16 (t, config)
/// pairs at fixed seeds, so a 95% interval would miss one by chance more
/// often than not; at 99.9% all hold unless the simulator is wrong.
const Z_999: f64 = 3.290_526_731_491_926;

#[test]
fn probes_agree_with_an_independent_wars_monte_carlo() {
    let delays_ms = [0.0, 1.0, 2.0, 5.0];
    let trials = 400_000;
    for (label, wars) in [("exponential", exponential()), ("lnkd-disk", lnkd_disk())] {
        for quorum in [(3, 1, 1), (5, 2, 2)] {
            let scenario = inline(&probe_scenario(&wars, quorum, &delays_ms, 3000));
            let report = run_twice(&scenario, 5);
            let staleness = &report.summary.staleness;
            let expected = wars_monte_carlo(&wars, quorum, &delays_ms, trials);
            assert_eq!(staleness.rows.len(), delays_ms.len());
            for (row, p_model) in staleness.rows.iter().zip(expected) {
                let StalenessRow { bin_lo_ms: t, reads, consistent, .. } = *row;
                assert!(reads > 5_000, "{label} {quorum:?} t={t}: {reads} reads");
                let (low, high) = wilson_interval(consistent, reads, Z_999).expect("reads");
                let model_error = Z_999 * (p_model * (1.0 - p_model) / trials as f64).sqrt();
                let p = consistent as f64 / reads as f64;
                eprintln!("{label} {quorum:?} t={t}: probe {p:.4} [{low:.4}, {high:.4}], WARS model {p_model:.4}");
                assert!(
                    p_model >= low - model_error && p_model <= high + model_error,
                    "{label} (N,R,W) = {quorum:?}, t = {t} ms: probe {p:.4} [{low:.4}, {high:.4}] of {reads} reads, \
                     WARS Monte Carlo {p_model:.4} ± {model_error:.4}"
                );
            }
        }
    }
}

#[test]
fn a_probe_that_cannot_miss_is_always_consistent() {
    // R + W > N: every read quorum meets the write quorum, so every probe read is consistent.
    let scenario = inline(&probe_scenario(&exponential(), (3, 2, 2), &[0.0, 1.0], 500));
    let report = run_twice(&scenario, 2);
    let staleness = &report.summary.staleness;
    assert!(staleness.rows.iter().all(|row| row.reads > 500 && row.consistent == row.reads), "{:?}", staleness.rows);
    assert!(staleness.versions_behind.is_empty());
    assert_eq!(staleness.t_visibility_999_ms, Some(0.0));
}

#[test]
fn probe_counters_balance() {
    let scenario = inline(&probe_scenario(&lnkd_disk(), (3, 1, 1), &[0.0, 2.0, 10.0], 1000));
    let report = run_twice(&scenario, 9);
    let summary = &report.summary;
    let staleness = &summary.staleness;
    // Every probe that committed was read once per delay, and every read is in its row.
    assert_eq!(staleness.probes_started, summary.ops.writes);
    assert_eq!(staleness.probes_committed, summary.consistency.acknowledged_writes);
    assert_eq!(summary.ops.reads, staleness.probes_committed * 3);
    for row in &staleness.rows {
        assert_eq!(row.reads, staleness.probes_committed, "t = {}", row.bin_lo_ms);
    }
    let reads: u64 = staleness.rows.iter().map(|row| row.reads).sum();
    let stale: u64 = staleness.rows.iter().map(|row| row.reads - row.consistent).sum();
    assert_eq!(reads, summary.consistency.reads_of_written_keys);
    assert_eq!(stale, summary.consistency.stale_reads);
    assert!(stale > 0, "LNKD-DISK at t = 0 is stale about half the time");
    // One write per probe key: a stale probe read missed exactly that one.
    assert_eq!(staleness.versions_behind.len(), 1);
    assert_eq!(staleness.versions_behind.get("1"), Some(&stale));
    assert_eq!(summary.consistency.siblings_per_read.get("0"), Some(&stale), "a stale probe read found nothing");
}

/// The published P(consistent read) for N=3, R=W=1 (Bailis et al. 2012, §5.2).
const PUBLISHED: [(&str, f64, f64); 4] = [
    ("pbs-lnkd-ssd.toml", 0.0, 0.974),
    ("pbs-lnkd-disk.toml", 0.0, 0.439),
    ("pbs-lnkd-disk.toml", 10.0, 0.925),
    ("pbs-ymmr.toml", 0.0, 0.893),
];

#[test]
fn bundled_pbs_scenarios_reproduce_the_published_probabilities() {
    // Each bundled scenario runs once here (tests/determinism.rs runs every
    // bundled scenario twice); about 24,000 probes each, so the 95% interval
    // is at most ±0.7 percentage points wide.
    for (file, t, published) in PUBLISHED {
        let report = dynasim::run(&bundled(file), 1);
        let row = report.summary.staleness.rows.iter().find(|row| row.bin_lo_ms == t).expect("the delay is probed");
        let p = row.p_consistent.expect("reads");
        eprintln!(
            "{file} t={t}: simulated {:.2}%, published {:.1}% ({} reads)",
            100.0 * p,
            100.0 * published,
            row.reads
        );
        assert!(row.reads >= 20_000, "{file}: {} reads at t = {t}", row.reads);
        assert!((p - published).abs() <= 0.015, "{file} t = {t} ms: simulated {p:.4}, published {published}");
    }
}

#[test]
fn ordinary_workloads_bin_every_judged_read_by_time_since_the_last_write() {
    // R = W = 1 with slow replica writes: stale reads right after a write.
    let text = scenario_text("max-availability-n3r1w1.toml").replace("duration_ms = 5000", "duration_ms = 1500");
    let report = run_twice(&inline(&text), 4);
    let summary = &report.summary;
    let staleness = &summary.staleness;
    assert_eq!(staleness.rows_by, "since-last-write");
    let edges: Vec<(f64, Option<f64>)> = staleness.rows.iter().map(|row| (row.bin_lo_ms, row.bin_hi_ms)).collect();
    assert_eq!(edges.len(), BIN_EDGES_MS.len());
    assert_eq!((edges[0], edges[9]), ((0.0, Some(1.0)), (500.0, None)));
    // The bins hold every read the checker judged, and only those.
    let reads: u64 = staleness.rows.iter().map(|row| row.reads).sum();
    let stale: u64 = staleness.rows.iter().map(|row| row.reads - row.consistent).sum();
    assert_eq!(reads, summary.consistency.reads_of_written_keys);
    assert_eq!(stale, summary.consistency.stale_reads);
    assert!(stale > 10, "slow replica writes make reads soon after a write stale: {stale}");
    assert_eq!(staleness.versions_behind.values().sum::<u64>(), stale, "every stale read is some versions behind");
    assert!(!staleness.versions_behind.contains_key("0"));
    assert_eq!((staleness.t_visibility_999_ms, staleness.probes_started), (None, 0));
    // Staleness fades with time since the write.
    let p = |bin: usize| staleness.rows[bin].p_consistent.expect("reads in the bin");
    assert!(p(0) < p(6), "P(consistent) 0-1 ms {} vs 50-100 ms {}", p(0), p(6));
    let csv = staleness_csv(staleness);
    assert_eq!(csv.lines().next(), Some(CSV_HEADER));
    assert_eq!(csv.lines().count(), 1 + BIN_EDGES_MS.len());
    assert!(csv.lines().last().expect("a row").starts_with("500,,"), "{csv}");
}
