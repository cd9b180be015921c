//! Greedy delta-debugging of a failing schedule.
//!
//! Each step proposes one smaller scenario — a fault dropped, a node no
//! fault names taken out (the ids above it renumbered), fewer clients or
//! keys, a shorter workload, a fault shorter, earlier or milder —
//! and keeps it only if the run with the same seed still fails the SAME
//! invariant. Proposals are tried in a fixed order and the walk starts over
//! after every kept step, so shrinking is deterministic; it stops when no
//! proposal is kept or the run budget is spent.

use super::candidate::Candidate;
use super::judge;
use super::renumber;
use toml::Value;

/// A shrunk schedule and what it cost.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing candidate found.
    pub candidate: Candidate,
    /// Runs spent (proposals the scenario refused cost none).
    pub runs: u32,
}

/// Shrinks `failing` (which fails `invariant` with `seed`) within `budget` runs.
pub fn shrink(base: &toml::Table, name: &str, failing: Candidate, seed: u64, invariant: &str, budget: u32) -> Shrunk {
    let mut current = failing;
    let mut runs = 0;
    'walk: while runs < budget {
        for proposal in proposals(base, &current) {
            if runs >= budget {
                break 'walk;
            }
            let Some(scenario) = proposal.load(base, name, seed) else {
                continue;
            };
            runs += 1;
            let report = crate::expect::run(&scenario, seed);
            if judge::failures(&scenario, &report.summary).iter().any(|f| f.invariant == invariant) {
                current = proposal;
                continue 'walk;
            }
        }
        break;
    }
    Shrunk { candidate: current, runs }
}

/// Every one-step reduction of `current`, most effective first.
fn proposals(base: &toml::Table, current: &Candidate) -> Vec<Candidate> {
    let mut out = Vec::new();
    for index in 0..current.faults.len() {
        let mut fewer = current.clone();
        fewer.faults.remove(index);
        out.push(fewer);
    }
    out.extend(smaller_clusters(base, current));
    let integer = |path: &str, default: i64| current.setting(base, path).and_then(Value::as_integer).unwrap_or(default);
    let float = |path: &str, default: f64| {
        current.setting(base, path).and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64))).unwrap_or(default)
    };
    let mut with = |path: &str, value: Value| {
        let mut smaller = current.clone();
        smaller.settings.insert(path.to_string(), value);
        out.push(smaller);
    };
    for (path, default) in [("workload.clients", 16), ("workload.keys", 1000)] {
        let value = integer(path, default);
        // Half as many, then (when that failed to keep the failure) one fewer.
        let mut smaller = vec![value / 2, value - 1];
        smaller.dedup();
        for fewer in smaller.into_iter().filter(|&fewer| fewer >= 1) {
            with(path, Value::Integer(fewer));
        }
    }
    for (path, default, least) in [("duration_ms", 5000.0, 10.0), ("workload.rate_per_s", 2000.0, 1.0)] {
        let value = float(path, default);
        if value / 2.0 >= least {
            with(path, Value::Float(libm::floor(value / 2.0)));
        }
    }
    for index in 0..current.faults.len() {
        for milder in milder_faults(current, index) {
            out.push(milder);
        }
    }
    out
}

/// `current` with one node fewer: the highest node no fault (and no
/// `cluster.seeds` entry) names, then the lowest, the ids above it moved
/// down ([`renumber`]) so every fault still names the node it meant.
fn smaller_clusters(base: &toml::Table, current: &Candidate) -> Vec<Candidate> {
    let nodes = current.setting(base, "cluster.nodes").and_then(Value::as_integer).unwrap_or(8);
    let seeds: Vec<i64> = match current.setting(base, "cluster.seeds").and_then(Value::as_array) {
        Some(seeds) => seeds.iter().filter_map(Value::as_integer).collect(),
        None => vec![0],
    };
    let named = renumber::named_nodes(&current.faults);
    let unnamed: Vec<u32> = (0..u32::try_from(nodes).unwrap_or(0))
        .filter(|node| !named.contains(node) && !seeds.contains(&i64::from(*node)))
        .collect();
    let mut dropped: Vec<u32> = unnamed.last().into_iter().chain(unnamed.first()).copied().collect();
    dropped.dedup();
    let mut out = Vec::new();
    for node in dropped {
        let Some(faults) = renumber::without_node(&current.faults, node) else {
            continue;
        };
        let moved: Vec<i64> = seeds.iter().map(|&seed| if seed > i64::from(node) { seed - 1 } else { seed }).collect();
        let mut smaller = Candidate { faults, settings: current.settings.clone() };
        smaller.settings.insert("cluster.nodes".into(), Value::Integer(nodes - 1));
        if moved != seeds {
            smaller
                .settings
                .insert("cluster.seeds".into(), Value::Array(moved.into_iter().map(Value::Integer).collect()));
        }
        out.push(smaller);
    }
    out
}

/// One fault shorter, earlier or weaker, one field at a time.
fn milder_faults(current: &Candidate, index: usize) -> Vec<Candidate> {
    let fault = &current.faults[index];
    let halve = |x: f64| libm::floor(x / 2.0);
    let mut out = Vec::new();
    let mut push = |change: &dyn Fn(&mut crate::fault::FaultSpec)| {
        let mut milder = current.clone();
        change(&mut milder.faults[index]);
        out.push(milder);
    };
    if fault.duration_ms.is_some_and(|d| d >= 2.0) {
        push(&|f| f.duration_ms = f.duration_ms.map(halve));
    }
    if fault.at_ms >= 1.0 {
        push(&|f| f.at_ms = halve(f.at_ms));
    }
    if fault.rate.is_some_and(|r| r >= 0.002) {
        push(&|f| f.rate = f.rate.map(|r| libm::floor(r * 500.0) / 1000.0));
    }
    if fault.added_ms.is_some_and(|a| a >= 2.0) {
        push(&|f| f.added_ms = f.added_ms.map(halve));
    }
    if fault.multiplier.is_some_and(|m| m >= 2.0) {
        push(&|f| f.multiplier = None);
    }
    if fault.skew_ms.is_some_and(|s| s.abs() >= 2.0) {
        push(&|f| f.skew_ms = f.skew_ms.map(|s| libm::trunc(s / 2.0)));
    }
    out
}
