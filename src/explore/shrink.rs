//! Greedy delta-debugging of a failing schedule.
//!
//! Each step proposes one smaller scenario — a fault dropped, fewer nodes,
//! clients or keys, a shorter workload, a fault shorter, earlier or milder —
//! and keeps it only if the run with the same seed still fails the SAME
//! invariant. Proposals are tried in a fixed order and the walk starts over
//! after every kept step, so shrinking is deterministic; it stops when no
//! proposal is kept or the run budget is spent.

use super::candidate::Candidate;
use super::judge;
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
    let integer = |path: &str, default: i64| current.setting(base, path).and_then(Value::as_integer).unwrap_or(default);
    let float = |path: &str, default: f64| {
        current.setting(base, path).and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64))).unwrap_or(default)
    };
    let mut with = |path: &str, value: Value| {
        let mut smaller = current.clone();
        smaller.settings.insert(path.to_string(), value);
        out.push(smaller);
    };
    let nodes = integer("cluster.nodes", 8);
    if nodes > 1 {
        with("cluster.nodes", Value::Integer(nodes - 1));
    }
    for (path, default) in [("workload.clients", 16), ("workload.keys", 1000)] {
        let value = integer(path, default);
        if value > 1 {
            with(path, Value::Integer(value / 2));
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
