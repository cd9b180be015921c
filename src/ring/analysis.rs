//! Static ring analysis (issue 6, Dynamo §6.2 / Figure 8): load balance,
//! metadata size and rebalancing cost of each partitioning strategy,
//! computed exactly from the ring's ranges (no key sampling).
//!
//! Load of a node = the fraction of the key space it stores, as primary owner
//! (first in the preference list) and as one of the N replicas.
//! Load-balancing efficiency = mean load / max load (the paper's measure).
//! Rebalancing cost = the fraction of stored data (N copies of the key space)
//! that must be copied to a node that did not hold it, when one node joins
//! (ideal 1/(S+1)) and when one leaves (ideal 1/S).

use super::config::RingAnalysisConfig;
use super::stats::Estimate;
use super::{Ring, Strategy};
use crate::engine::rng::{Purpose, Streams};
use crate::types::{NodeId, Token};
use serde::Serialize;
use std::collections::BTreeSet;

/// Load figures of one ring (one seed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoadFigures {
    /// Mean load / max load (1.0 = perfectly balanced).
    pub efficiency: f64,
    /// Coefficient of variation of the loads (population standard deviation / mean).
    pub cv: f64,
    /// Smallest node load, as a fraction of the key space.
    pub min_share: f64,
    /// Largest node load, as a fraction of the key space.
    pub max_share: f64,
    /// Max load / mean load (for one token per node, E = H_S).
    pub max_over_mean: f64,
}

impl LoadFigures {
    /// Summarises per-node loads (every member, zero loads included) whose
    /// exact sum is `total` (1 for primary loads, min(N, S) for replicas).
    /// Why the total: the mean is then exact, so equal loads give efficiency
    /// exactly 1.0 rather than 1 ± a rounding error.
    pub fn of(loads: &[f64], total: f64) -> LoadFigures {
        if loads.is_empty() {
            return LoadFigures::default();
        }
        let mean = total / loads.len() as f64;
        let max = loads.iter().copied().fold(f64::MIN, f64::max);
        let min = loads.iter().copied().fold(f64::MAX, f64::min);
        let variance = loads.iter().map(|l| (l - mean) * (l - mean)).sum::<f64>() / loads.len() as f64;
        LoadFigures {
            efficiency: mean / max,
            cv: libm::sqrt(variance) / mean,
            min_share: min,
            max_share: max,
            max_over_mean: max / mean,
        }
    }
}

/// An exact sum of ring ranges: Σ(size − 1) and the number of ranges, so
/// even the whole ring (2^128 positions) fits in a u128.
#[derive(Clone, Copy, Debug, Default)]
struct ExactSpan {
    positions_minus_ranges: u128,
    ranges: u64,
}

impl ExactSpan {
    fn add(&mut self, range: &super::PlacementRange) {
        self.positions_minus_ranges += range.last.0.wrapping_sub(range.first.0);
        self.ranges += 1;
    }

    /// The span as a fraction of the ring (rounded once, at the end).
    fn fraction(self) -> f64 {
        (self.positions_minus_ranges as f64 + self.ranges as f64) / 2f64.powi(128)
    }
}

/// Per-node loads of one ring, exactly from its placement ranges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RingLoads {
    /// Key-space fraction each member owns as primary, in `ring.nodes()` order.
    pub primary: Vec<f64>,
    /// Key-space fraction each member stores as one of N replicas, in `ring.nodes()` order.
    pub replica: Vec<f64>,
    /// Fraction of the key space whose replicas include two nodes of one zone
    /// (0 when no zones are given).
    pub zone_shared_fraction: f64,
}

/// Measures `ring`'s loads for `replicas` = N; `zones` (by node id) only
/// feeds the zone-sharing figure, placement follows the ring.
pub fn measure_loads(ring: &Ring, replicas: usize, zones: Option<&[u32]>) -> RingLoads {
    let id_limit = ring.nodes().last().map_or(0, |n| n.0 as usize + 1);
    let mut primary = vec![ExactSpan::default(); id_limit];
    let mut replica = vec![ExactSpan::default(); id_limit];
    let mut zone_shared = ExactSpan::default();
    let mut list = Vec::with_capacity(replicas);
    for range in ring.placement_ranges() {
        ring.range_preference_list_into(range, replicas, &mut list);
        if let Some(first) = list.first() {
            primary[first.0 as usize].add(range);
        }
        for node in &list {
            replica[node.0 as usize].add(range);
        }
        if let Some(zones) = zones {
            let distinct: BTreeSet<u32> = list.iter().map(|n| zones[n.0 as usize]).collect();
            if distinct.len() < list.len() {
                zone_shared.add(range);
            }
        }
    }
    let members = |loads: &[ExactSpan]| ring.nodes().iter().map(|n| loads[n.0 as usize].fraction()).collect();
    RingLoads { primary: members(&primary), replica: members(&replica), zone_shared_fraction: zone_shared.fraction() }
}

/// Data copied when a ring changes from `before` to `after`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Movement {
    /// Key-space copies received by nodes that did not hold them, divided by
    /// N (so a perfect join into S nodes scores 1/(S+1)).
    pub moved_fraction: f64,
    /// Number of (range, receiving node) transfers.
    pub ranges_moved: usize,
    /// Distinct nodes the receivers fetch from (the first surviving member of
    /// the old preference list serves each transfer).
    pub source_nodes: usize,
}

/// Compares the replica sets of every piece of the ring between `before` and
/// `after`; pieces are cut at the range boundaries of both rings, so each
/// piece has one preference list in each.
pub fn measure_movement(before: &Ring, after: &Ring, replicas: usize) -> Movement {
    let mut boundaries: Vec<Token> =
        before.placement_ranges().iter().chain(after.placement_ranges().iter()).map(|r| r.last).collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    let (mut old, mut new) = (Vec::with_capacity(replicas), Vec::with_capacity(replicas));
    let mut moved = 0.0;
    let mut ranges_moved = 0;
    let mut sources = BTreeSet::new();
    for (index, &last) in boundaries.iter().enumerate() {
        let previous = boundaries[(index + boundaries.len() - 1) % boundaries.len()];
        let fraction = (last.0.wrapping_sub(previous.0.wrapping_add(1)) as f64 + 1.0) / 2f64.powi(128);
        before.preference_list_into(last, replicas, &mut old);
        after.preference_list_into(last, replicas, &mut new);
        let source = old.iter().copied().find(|n| after.nodes().binary_search(n).is_ok());
        let receivers = new.iter().filter(|n| !old.contains(n)).count();
        if receivers > 0 {
            moved += fraction * receivers as f64;
            ranges_moved += receivers;
            sources.extend(source);
        }
    }
    Movement { moved_fraction: moved / replicas as f64, ranges_moved, source_nodes: sources.len() }
}

/// Which grid a cell belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grid {
    /// The Figure 8 grid: efficiency vs metadata.
    Figure8,
    /// The moved-fraction-vs-S grid.
    Movement,
}

impl Grid {
    /// Name used in the CSV and the table.
    pub fn name(self) -> &'static str {
        match self {
            Grid::Figure8 => "figure8",
            Grid::Movement => "movement",
        }
    }
}

/// One grid cell: a strategy with its parameters, a cluster size and N.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Which grid the cell belongs to.
    pub grid: Grid,
    /// Strategy with T and/or Q.
    pub strategy: Strategy,
    /// Cluster size S.
    pub node_count: u32,
    /// Replication factor N.
    pub replicas: u32,
}

/// Mean ± 95% CI of the load figures over seeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LoadEstimates {
    /// Mean load / max load.
    pub efficiency: Estimate,
    /// Coefficient of variation.
    pub cv: Estimate,
    /// Smallest node load.
    pub min_share: Estimate,
    /// Largest node load.
    pub max_share: Estimate,
    /// Max load / mean load.
    pub max_over_mean: Estimate,
}

impl LoadEstimates {
    fn of(figures: &[LoadFigures]) -> LoadEstimates {
        let field = |f: fn(&LoadFigures) -> f64| Estimate::of(&figures.iter().map(f).collect::<Vec<_>>());
        LoadEstimates {
            efficiency: field(|f| f.efficiency),
            cv: field(|f| f.cv),
            min_share: field(|f| f.min_share),
            max_share: field(|f| f.max_share),
            max_over_mean: field(|f| f.max_over_mean),
        }
    }
}

/// Mean ± 95% CI of a join's or a leave's cost over seeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MovementEstimates {
    /// Fraction of stored data copied.
    pub moved_fraction: Estimate,
    /// The ideal: 1/(S+1) for a join, 1/S for a leave.
    pub ideal_fraction: f64,
    /// (range, receiver) transfers.
    pub ranges_moved: Estimate,
    /// Distinct source nodes.
    pub source_nodes: Estimate,
}

impl MovementEstimates {
    fn of(movements: &[Movement], ideal_fraction: f64) -> MovementEstimates {
        let field = |f: fn(&Movement) -> f64| Estimate::of(&movements.iter().map(f).collect::<Vec<_>>());
        MovementEstimates {
            moved_fraction: field(|m| m.moved_fraction),
            ideal_fraction,
            ranges_moved: field(|m| m.ranges_moved as f64),
            source_nodes: field(|m| m.source_nodes as f64),
        }
    }
}

/// The analysis of one cell over all seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct CellReport {
    /// The cell.
    pub cell: Cell,
    /// Seeds aggregated.
    pub seeds: u32,
    /// Membership metadata per node (bytes; see [`Ring::metadata_bytes`]).
    pub metadata_bytes: u64,
    /// Load as primary owner.
    pub primary: LoadEstimates,
    /// Load as one of N replicas.
    pub replica: LoadEstimates,
    /// Strategy 3: pairs of partitions fewer than N apart with one owner.
    pub violations: Option<Estimate>,
    /// With zones: key-space fraction whose replicas share a zone, zone-aware placement.
    pub zone_shared_fraction: Option<Estimate>,
    /// With zones: the same figure for zone-unaware placement of the same tokens.
    pub zone_shared_fraction_unaware: Option<Estimate>,
    /// Cost of one join (node id S).
    pub join: MovementEstimates,
    /// Cost of one leave (node `seed mod S`).
    pub leave: MovementEstimates,
}

/// The cells of both grids, in a fixed order, and notes on cells skipped.
pub fn cells(config: &RingAnalysisConfig) -> (Vec<Cell>, Vec<String>) {
    let mut strategies = config.strategies.clone();
    strategies.sort_unstable();
    strategies.dedup();
    let mut cells = Vec::new();
    let mut skipped = Vec::new();
    for &number in &strategies {
        for &node_count in &config.node_counts {
            for &replicas in &config.replicas {
                for strategy in figure8_strategies(config, number) {
                    push_cell(&mut cells, &mut skipped, Cell { grid: Grid::Figure8, strategy, node_count, replicas });
                }
            }
        }
    }
    for &number in &strategies {
        for &node_count in &config.movement_node_counts {
            for &replicas in &config.replicas {
                let strategy = match number {
                    1 => Strategy::RandomTokens { tokens_per_node: config.movement_tokens_per_node },
                    2 => Strategy::RandomTokensEqualPartitions {
                        tokens_per_node: config.movement_tokens_per_node,
                        partitions: config.movement_partitions,
                    },
                    _ => Strategy::EqualPartitions { partitions: config.movement_partitions },
                };
                push_cell(&mut cells, &mut skipped, Cell { grid: Grid::Movement, strategy, node_count, replicas });
            }
        }
    }
    (cells, skipped)
}

fn figure8_strategies(config: &RingAnalysisConfig, number: u8) -> Vec<Strategy> {
    match number {
        1 => config.tokens_per_node.iter().map(|&t| Strategy::RandomTokens { tokens_per_node: t }).collect(),
        2 => config
            .strategy2_partitions
            .iter()
            .flat_map(|&q| {
                config
                    .tokens_per_node
                    .iter()
                    .map(move |&t| Strategy::RandomTokensEqualPartitions { tokens_per_node: t, partitions: q })
            })
            .collect(),
        _ => config.partitions.iter().map(|&q| Strategy::EqualPartitions { partitions: q }).collect(),
    }
}

fn push_cell(cells: &mut Vec<Cell>, skipped: &mut Vec<String>, cell: Cell) {
    // The join needs S + 1 nodes on the ring.
    match cell.strategy.validate(cell.node_count as usize + 1) {
        Ok(()) => cells.push(cell),
        Err(error) => skipped.push(format!("{} grid, S = {}: {error}", cell.grid.name(), cell.node_count)),
    }
}

/// Analyses one cell over the configured seeds.
pub fn analyse_cell(cell: &Cell, config: &RingAnalysisConfig) -> CellReport {
    let node_count = cell.node_count;
    let replicas = cell.replicas as usize;
    let nodes: Vec<NodeId> = (0..node_count).map(NodeId).collect();
    let zones: Option<Vec<u32>> = (config.zones > 0).then(|| (0..=node_count).map(|i| i % config.zones).collect());
    let (mut primary, mut replica, mut violations, mut shared, mut shared_unaware, mut joins, mut leaves) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut metadata_bytes = 0;
    for seed in config.first_seed..config.first_seed + u64::from(config.seeds) {
        let streams = Streams::new(seed);
        let token_rng = |node: NodeId| streams.stream(Purpose::RingTokens, u64::from(node.0));
        let ring = Ring::build_with_target_n(&cell.strategy, &nodes, zones.as_deref(), replicas, token_rng);
        metadata_bytes = ring.metadata_bytes();
        let loads = measure_loads(&ring, replicas, zones.as_deref());
        primary.push(LoadFigures::of(&loads.primary, 1.0));
        replica.push(LoadFigures::of(&loads.replica, replicas.min(nodes.len()) as f64));
        violations.push(ring.window_violations(replicas) as f64);
        if let Some(zones) = &zones {
            shared.push(loads.zone_shared_fraction);
            let unaware = Ring::build_with_target_n(&cell.strategy, &nodes, None, replicas, token_rng);
            shared_unaware.push(measure_loads(&unaware, replicas, Some(zones)).zone_shared_fraction);
        }
        let joiner = NodeId(node_count);
        let joined = ring.with_node_added(joiner, zones.as_ref().map(|z| z[joiner.0 as usize]), token_rng(joiner));
        joins.push(measure_movement(&ring, &joined, replicas));
        let leaver = NodeId((seed % u64::from(node_count)) as u32);
        leaves.push(measure_movement(&ring, &ring.with_node_removed(leaver), replicas));
    }
    let is_strategy_three = cell.strategy.number() == 3;
    CellReport {
        cell: cell.clone(),
        seeds: config.seeds,
        metadata_bytes,
        primary: LoadEstimates::of(&primary),
        replica: LoadEstimates::of(&replica),
        violations: is_strategy_three.then(|| Estimate::of(&violations)),
        zone_shared_fraction: zones.as_ref().map(|_| Estimate::of(&shared)),
        zone_shared_fraction_unaware: zones.as_ref().map(|_| Estimate::of(&shared_unaware)),
        join: MovementEstimates::of(&joins, 1.0 / f64::from(node_count + 1)),
        leave: MovementEstimates::of(&leaves, 1.0 / f64::from(node_count)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(strategy: &Strategy, node_count: u32, seed: u64) -> Ring {
        let streams = Streams::new(seed);
        let nodes: Vec<NodeId> = (0..node_count).map(NodeId).collect();
        Ring::build(strategy, &nodes, None, |node| streams.stream(Purpose::RingTokens, u64::from(node.0)))
    }

    #[test]
    fn loads_add_up_to_one_primary_and_n_replicas() {
        for strategy in [
            Strategy::RandomTokens { tokens_per_node: 4 },
            Strategy::RandomTokensEqualPartitions { tokens_per_node: 4, partitions: 64 },
            Strategy::EqualPartitions { partitions: 64 },
        ] {
            let loads = measure_loads(&ring(&strategy, 10, 3), 3, None);
            assert!((loads.primary.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!((loads.replica.iter().sum::<f64>() - 3.0).abs() < 1e-9);
        }
    }

    #[test]
    fn equal_loads_have_efficiency_one_and_no_spread() {
        let figures = LoadFigures::of(&[0.25; 4], 1.0);
        assert_eq!((figures.efficiency, figures.cv, figures.max_over_mean), (1.0, 0.0, 1.0));
    }

    #[test]
    fn an_unchanged_ring_moves_nothing() {
        let ring = ring(&Strategy::RandomTokens { tokens_per_node: 8 }, 10, 1);
        assert_eq!(measure_movement(&ring, &ring.clone(), 3), Movement::default());
    }

    #[test]
    fn a_strategy_three_join_moves_the_ideal_share_from_many_sources() {
        let before = ring(&Strategy::EqualPartitions { partitions: 1024 }, 30, 1);
        let after = before.with_node_added(NodeId(30), None, Streams::new(1).stream(Purpose::RingTokens, 30));
        let movement = measure_movement(&before, &after, 3);
        // The joiner steals floor(1024/31) = 33 partitions and replicates each to 3 lists.
        assert!((movement.moved_fraction - 33.0 / 1024.0).abs() < 1e-9);
        assert_eq!(movement.ranges_moved, 99);
        assert!(movement.source_nodes >= 20, "sources {}", movement.source_nodes);
    }

    #[test]
    fn a_strategy_one_leave_moves_the_leavers_replicas() {
        let before = ring(&Strategy::RandomTokens { tokens_per_node: 16 }, 20, 5);
        let leaver = NodeId(4);
        let stored = measure_loads(&before, 3, None);
        let movement = measure_movement(&before, &before.with_node_removed(leaver), 3);
        // Every copy the leaver held is re-created once elsewhere.
        assert!((movement.moved_fraction - stored.replica[4] / 3.0).abs() < 1e-9);
    }
}
