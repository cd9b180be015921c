//! Drawing one random fault schedule from the scenario's `[explore]` table.
//!
//! A schedule is a list of ordinary `[[faults]]` entries, so whatever
//! explore finds is a scenario file a person can read and `dynasim run`.
//! Entries the scenario would refuse (a leave of the last member, a join
//! past strategy 3's Q) are dropped when the candidate is loaded, never
//! patched up here.

use crate::fault::{FaultAction, FaultSpec};
use crate::scenario::applicability::not_applicable;
use crate::scenario::{ExploreSpec, ScenarioSpec, EXPLORE_KINDS};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Default `[explore] max_faults`.
pub const DEFAULT_MAX_FAULTS: u32 = 4;
/// Default `[explore] max_loss`.
pub const DEFAULT_MAX_LOSS: f64 = 0.1;

/// Kinds that take a strict-mode scenario out of strict mode (DESIGN.md);
/// drawn by default only when the scenario is not strict already.
const NON_STRICT_KINDS: [&str; 3] = ["disk-loss", "join", "leave"];

/// The weight of every kind: the table's, else the defaults of
/// [`ExploreSpec::kinds`] for this scenario's mode. Sorted by name.
pub fn kind_weights(spec: &ScenarioSpec) -> BTreeMap<String, f64> {
    if let Some(kinds) = spec.explore.as_ref().and_then(|e| e.kinds.clone()) {
        return kinds;
    }
    let strict = not_applicable(spec, "no-stale-reads").is_none();
    EXPLORE_KINDS
        .iter()
        .filter(|kind| !(strict && NON_STRICT_KINDS.contains(kind)))
        .map(|kind| (kind.to_string(), 1.0))
        .collect()
}

/// Draws one schedule for `spec` (its own faults not included).
pub fn schedule(spec: &ScenarioSpec, rng: &mut ChaCha8Rng) -> Vec<FaultSpec> {
    let explore = spec.explore.clone().unwrap_or_default();
    let weights: Vec<(String, f64)> = kind_weights(spec).into_iter().filter(|(_, w)| *w > 0.0).collect();
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    let count = rng.gen_range(1..=explore.max_faults.unwrap_or(DEFAULT_MAX_FAULTS));
    let mut draw = Draw { spec, explore: &explore, joined: spec.cluster.nodes, rng };
    let mut faults = Vec::new();
    for _ in 0..count {
        let mut pick = draw.rng.gen_range(0.0..total);
        let kind = weights.iter().find(|(_, w)| {
            pick -= w;
            pick < 0.0
        });
        let kind = kind.map_or(weights[weights.len() - 1].0.as_str(), |(k, _)| k.as_str());
        faults.push(draw.fault(kind));
    }
    faults
}

/// The state of one draw: the next id a join gets.
struct Draw<'a> {
    spec: &'a ScenarioSpec,
    explore: &'a ExploreSpec,
    joined: u32,
    rng: &'a mut ChaCha8Rng,
}

impl Draw<'_> {
    fn fault(&mut self, kind: &str) -> FaultSpec {
        let duration = self.spec.duration_ms;
        let at_ms = libm::floor(self.rng.gen_range(0.0..duration * 0.9));
        let longest = self.explore.max_fault_ms.unwrap_or(duration / 2.0).max(2.0);
        let duration_ms = Some(libm::floor(self.rng.gen_range(1.0..longest)));
        let mut fault = FaultSpec {
            at_ms,
            action: FaultAction::Crash,
            nodes: Vec::new(),
            groups: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            duration_ms,
            rate: None,
            multiplier: None,
            added_ms: None,
            skew_ms: None,
            via: None,
        };
        match kind {
            "crash" | "disk-loss" => {
                fault.action = if kind == "crash" { FaultAction::Crash } else { FaultAction::DiskLoss };
                fault.nodes = vec![self.node()];
                // Half the crashes last until the end-of-workload restart.
                if kind == "crash" && self.rng.gen_bool(0.5) {
                    fault.duration_ms = None;
                }
            }
            "partition" => {
                fault.action = FaultAction::Partition;
                let nodes = self.spec.cluster.nodes;
                let cut: Vec<String> = (0..nodes).filter(|_| self.rng.gen_bool(0.3)).map(|n| format!("n{n}")).collect();
                let cut = if cut.is_empty() { vec![format!("n{}", self.node())] } else { cut };
                fault.groups = vec![cut, vec!["others".to_string()]];
            }
            "one-way-partition" | "slow-link" => {
                let (a, b) = self.two_nodes();
                fault.from = vec![format!("n{a}")];
                fault.to = vec![format!("n{b}")];
                fault.action = FaultAction::Partition;
                if kind == "slow-link" {
                    self.slow(&mut fault);
                }
            }
            "slow-node" => {
                fault.nodes = vec![self.node()];
                self.slow(&mut fault);
            }
            "loss" => {
                fault.action = FaultAction::Loss;
                let max_loss = self.explore.max_loss.unwrap_or(DEFAULT_MAX_LOSS).max(0.001);
                fault.rate = Some(libm::round(self.rng.gen_range(0.0..max_loss) * 1000.0) / 1000.0);
            }
            "clock-skew" => {
                fault.action = FaultAction::ClockSkew;
                fault.nodes = vec![self.node()];
                fault.skew_ms = Some(libm::floor(self.rng.gen_range(-500.0..500.0)));
            }
            "join" => {
                fault.action = FaultAction::Join;
                fault.nodes = vec![self.joined];
                fault.duration_ms = None;
                self.joined += 1;
            }
            _ => {
                fault.action = FaultAction::Leave;
                fault.nodes = vec![self.node()];
                fault.duration_ms = None;
            }
        }
        fault
    }

    fn slow(&mut self, fault: &mut FaultSpec) {
        fault.action = FaultAction::Slow;
        fault.added_ms = Some(libm::floor(self.rng.gen_range(1.0..50.0)));
        if self.rng.gen_bool(0.5) {
            fault.multiplier = Some(libm::floor(self.rng.gen_range(2.0..10.0)));
        }
    }

    /// One of the initial nodes.
    fn node(&mut self) -> u32 {
        self.rng.gen_range(0..self.spec.cluster.nodes)
    }

    /// Two different initial nodes (the same one twice on a 1-node cluster,
    /// which the scenario then refuses).
    fn two_nodes(&mut self) -> (u32, u32) {
        let nodes = self.spec.cluster.nodes;
        let a = self.node();
        let b = if nodes > 1 { (a + self.rng.gen_range(1..nodes)) % nodes } else { a };
        (a, b)
    }
}
