//! Correctness anchors of `dynasim ring` (issue 6), held against published
//! and analytic figures (shared/REFERENCES.md, "Consistent hashing,
//! analytically"; Dynamo §6.2 and Figure 8).

use dynasim::engine::rng::{Purpose, Streams};
use dynasim::ring::analysis::{analyse_cell, measure_loads, Cell, CellReport, Grid, LoadFigures};
use dynasim::ring::stats::Estimate;
use dynasim::ring::{render_table, run_ring_analysis, Ring, RingAnalysisConfig, Strategy};
use dynasim::types::NodeId;
use std::path::{Path, PathBuf};

fn config(seeds: u32) -> RingAnalysisConfig {
    RingAnalysisConfig { seeds, ..RingAnalysisConfig::default() }
}

fn cell(strategy: Strategy, node_count: u32, replicas: u32) -> Cell {
    Cell { grid: Grid::Figure8, strategy, node_count, replicas }
}

fn analyse(strategy: Strategy, seeds: u32) -> CellReport {
    analyse_cell(&cell(strategy, 30, 3), &config(seeds))
}

fn ring(strategy: &Strategy, node_count: u32, seed: u64) -> Ring {
    let streams = Streams::new(seed);
    let nodes: Vec<NodeId> = (0..node_count).map(NodeId).collect();
    Ring::build(strategy, &nodes, None, |node| streams.stream(Purpose::RingTokens, u64::from(node.0)))
}

fn harmonic(n: u32) -> f64 {
    (1..=n).map(|k| 1.0 / f64::from(k)).sum()
}

#[test]
fn one_token_per_node_has_max_over_mean_share_near_the_harmonic_number() {
    // Shares are Dirichlet(1, …, 1): E[max share] / mean share = H_30 ≈ 3.995.
    let report = analyse(Strategy::RandomTokens { tokens_per_node: 1 }, 1000);
    let measured = report.primary.max_over_mean.mean;
    let expected = harmonic(30);
    assert!((measured / expected - 1.0).abs() < 0.05, "max/mean {measured:.4} vs H_30 {expected:.4}");
}

#[test]
fn the_spread_of_random_tokens_shrinks_like_one_over_root_t() {
    // A node's share is Beta(T, (S−1)·T): CV = √((S−1)/(S·T+1)).
    let mut previous_efficiency = 0.0;
    for t in [1u32, 4, 16, 64] {
        let report = analyse(Strategy::RandomTokens { tokens_per_node: t }, 200);
        let analytic = ((29.0) / (30.0 * f64::from(t) + 1.0)).sqrt();
        let cv = report.primary.cv.mean;
        assert!((cv / analytic - 1.0).abs() < 0.1, "T = {t}: cv {cv:.4} vs {analytic:.4}");
        assert!(report.primary.efficiency.mean > previous_efficiency, "efficiency rises with T");
        previous_efficiency = report.primary.efficiency.mean;
    }
}

#[test]
fn strategy_three_with_q_a_multiple_of_s_is_perfectly_balanced() {
    let report = analyse(Strategy::EqualPartitions { partitions: 960 }, 2);
    assert_eq!(report.primary.efficiency.mean, 1.0);
    assert_eq!(report.replica.efficiency.mean, 1.0);
}

#[test]
fn strategy_three_has_no_repeats_within_n_partitions_like_riak() {
    let report = analyse(Strategy::EqualPartitions { partitions: 1024 }, 2);
    assert_eq!(report.violations.map(|v| v.mean), Some(0.0));
    // 1024 = 34·30 + 4: shares 34 or 35, so efficiency 1024/30/35 for both loads.
    let expected = 1024.0 / 30.0 / 35.0;
    assert!((report.primary.efficiency.mean - expected).abs() < 1e-9);
    assert!((report.replica.efficiency.mean - expected).abs() < 1e-9);
}

#[test]
fn figure_eight_ordering_holds_at_comparable_metadata() {
    let config = config(30);
    let tokens = [1u32, 4, 16, 64, 256];
    let strategy1: Vec<CellReport> = tokens
        .iter()
        .map(|&t| analyse_cell(&cell(Strategy::RandomTokens { tokens_per_node: t }, 30, 3), &config))
        .collect();
    let strategy3: Vec<CellReport> = [64u32, 256, 1024, 4096, 8192]
        .iter()
        .map(|&q| analyse_cell(&cell(Strategy::EqualPartitions { partitions: q }, 30, 3), &config))
        .collect();
    for random in &strategy1 {
        // Strategy 3 with no more metadata than this strategy-1 ring is clearly better.
        let best = strategy3
            .iter()
            .filter(|c| c.metadata_bytes <= random.metadata_bytes)
            .map(|c| c.replica.efficiency)
            .next_back();
        let best = best.unwrap_or_default();
        assert!(
            best.clearly_above(&random.replica.efficiency),
            "{best:?} vs {:?} at {} bytes",
            random.replica.efficiency,
            random.metadata_bytes
        );
        assert!(best.clearly_above(&random.primary.efficiency));
    }
    for q in [256u32, 1024, 4096] {
        for (random, &t) in strategy1.iter().zip(&tokens) {
            let two = analyse_cell(
                &cell(Strategy::RandomTokensEqualPartitions { tokens_per_node: t, partitions: q }, 30, 3),
                &config,
            );
            for (two, one) in [
                (two.primary.efficiency, random.primary.efficiency),
                (two.replica.efficiency, random.replica.efficiency),
            ] {
                assert!(!two.clearly_above(&one), "strategy 2 (T={t}, Q={q}) {two:?} beats strategy 1 {one:?}");
            }
        }
    }
}

#[test]
fn strategy_two_is_clearly_worse_when_q_is_at_most_s_times_t() {
    // Same seeds give strategies 1 and 2 the same tokens, so compare per seed.
    for (t, q) in [(16u32, 256u32), (64, 1024), (128, 1024), (256, 4096)] {
        assert!(q <= 30 * t);
        let differences: Vec<f64> = (1..=30u64)
            .map(|seed| {
                let one = LoadFigures::of(
                    &measure_loads(&ring(&Strategy::RandomTokens { tokens_per_node: t }, 30, seed), 3, None).primary,
                    1.0,
                );
                let two_ring =
                    ring(&Strategy::RandomTokensEqualPartitions { tokens_per_node: t, partitions: q }, 30, seed);
                let two = LoadFigures::of(&measure_loads(&two_ring, 3, None).primary, 1.0);
                two.efficiency - one.efficiency
            })
            .collect();
        let difference = Estimate::of(&differences);
        assert!(
            Estimate::default().clearly_above(&difference),
            "T = {t}, Q = {q}: strategy 2 − strategy 1 = {difference:?}"
        );
    }
}

#[test]
fn zone_aware_placement_never_shares_a_zone_when_zones_cover_n() {
    for zones in [3u32, 5] {
        let config = RingAnalysisConfig { seeds: 3, zones, ..RingAnalysisConfig::default() };
        for strategy in [
            Strategy::RandomTokens { tokens_per_node: 8 },
            Strategy::RandomTokensEqualPartitions { tokens_per_node: 8, partitions: 256 },
            Strategy::EqualPartitions { partitions: 1024 },
        ] {
            let report = analyse_cell(&cell(strategy.clone(), 30, 3), &config);
            assert_eq!(report.zone_shared_fraction.map(|e| e.mean), Some(0.0), "{strategy:?}, {zones} zones");
            if strategy.number() != 3 {
                // Random tokens ignore zones without zone-aware placement.
                assert!(report.zone_shared_fraction_unaware.map_or(0.0, |e| e.mean) > 0.1, "{strategy:?}");
            }
        }
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ring-test-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_bundled_scenario_is_the_default_figure_eight_grid() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/ring/figure8.toml");
    let config = RingAnalysisConfig::from_toml_file(&path).map_err(|e| e.to_string());
    assert_eq!(config, Ok(RingAnalysisConfig::default()));
}

#[test]
fn two_runs_write_byte_identical_outputs() {
    let config = RingAnalysisConfig {
        seeds: 3,
        tokens_per_node: vec![1, 8],
        partitions: vec![64, 256],
        strategy2_partitions: vec![128],
        movement_node_counts: vec![8, 16],
        movement_partitions: 256,
        ..RingAnalysisConfig::default()
    };
    let (first, second) = (scratch_dir("a"), scratch_dir("b"));
    let reports = [run_ring_analysis(&config, &first), run_ring_analysis(&config, &second)];
    let [Ok(a), Ok(b)] = reports else { panic!("ring analysis failed: {reports:?}") };
    assert_eq!(render_table(&a), render_table(&b));
    assert_eq!(a.files.len(), 3);
    for (x, y) in a.files.iter().zip(&b.files) {
        let (x, y) = (std::fs::read(x).unwrap_or_default(), std::fs::read(y).unwrap_or_default());
        assert!(!x.is_empty());
        assert_eq!(x, y);
    }
    let svg = std::fs::read_to_string(first.join("figure8.svg")).unwrap_or_default();
    assert!(svg.starts_with("<svg") && svg.contains("strategy 3"));
    let _ = (std::fs::remove_dir_all(first), std::fs::remove_dir_all(second));
}
