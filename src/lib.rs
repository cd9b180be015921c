//! dynasim: a deterministic discrete-event simulator of a Dynamo-style key-value cluster.
//!
//! A run is a library call: [`run`] takes a validated [`Scenario`] and a seed
//! and returns a [`RunReport`] whose summary is identical for identical
//! inputs on any machine, so sweeps can call it thousands of times in
//! parallel.

pub mod allocator;
pub mod check;
pub mod client;
pub mod dist;
pub mod engine;
pub mod expect;
pub mod explore;
pub mod fault;
pub mod net;
pub mod node;
pub mod protocol;
pub mod report;
pub mod ring;
pub mod scenario;
pub mod sim;
pub mod suite;
pub mod sweep;
pub mod types;

pub use expect::violated_expectations;
pub use report::summary::RunSummary;
pub use scenario::{Scenario, ScenarioError};
pub use sim::{RunOutcome, Simulation};

/// A finished run: its summary and everything the checker looked at.
#[derive(Debug)]
pub struct RunReport {
    /// The figures written to summary.json.
    pub summary: RunSummary,
    /// The history, final nodes and trace digest.
    pub outcome: RunOutcome,
}

/// Runs `scenario` with master `seed` and checks the resulting history.
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    run_observed(scenario, seed, &report::observer::ObserveOptions::default())
}

/// [`run`], observed as `options` ask (time series interval, events
/// stream, key trace, progress bar); the summary is the same either way.
pub fn run_observed(scenario: &Scenario, seed: u64, options: &report::observer::ObserveOptions) -> RunReport {
    // Wall time is measured only for the `wall` section of the summary.
    let started = std::time::Instant::now();
    let outcome = Simulation::new(scenario, seed).with_observer(options).run();
    let strict = scenario::applicability::not_applicable(&scenario.spec, "no-stale-reads").is_none();
    let consistency = check_outcome(&outcome, strict);
    let wall_seconds = started.elapsed().as_secs_f64();
    let summary = report::summary::summarize(scenario, seed, &outcome, consistency, wall_seconds);
    RunReport { summary, outcome }
}

/// The checker's figures for a finished run: the history checks and the
/// real-time check that trusts no clock (both walking the history sorted
/// by key), then the end state (every version the stores, disks and
/// sibling caps showed); the real-time findings are compared with the
/// others when the scenario is in strict mode (`strict`; a clock
/// truncation ends it).
///
/// The walks by key run in pieces of whole keys on every core of the
/// current rayon pool (`check::pieces`); the report is the same on any.
pub fn check_outcome(outcome: &RunOutcome, strict: bool) -> check::ConsistencyReport {
    check_outcome_in_pieces(outcome, strict, check::pieces::PIECE_OPS)
}

/// [`check_outcome`] with its walks in pieces of at least `piece_ops`
/// operations (tests hold every piece size to the same report).
pub(crate) fn check_outcome_in_pieces(
    outcome: &RunOutcome,
    strict: bool,
    piece_ops: usize,
) -> check::ConsistencyReport {
    let (mut lineage, by_key) = check::lineage::Lineage::with_history_by_key(&outcome.history);
    let capped = outcome.cap_dropped();
    for (key, versions) in outcome.final_versions.iter().chain(&outcome.wiped).chain(&capped) {
        lineage.add(*key, versions);
    }
    let mut consistency = check::check_in_pieces(&by_key, &lineage, outcome.versioning, piece_ops);
    let realtime = check::realtime::check_in_pieces(&by_key, &lineage, piece_ops);
    drop(by_key); // 8 bytes an operation, not needed by the end-state check
    let end = check::durability::EndState {
        final_versions: &outcome.final_versions,
        held_anywhere: &|key| outcome.held_anywhere(key),
        wiped: &outcome.wiped,
        capped: &capped,
        clocks_truncated: outcome.nodes.iter().any(|n| n.stats().clock_truncations > 0),
    };
    let clocks_truncated = end.clocks_truncated;
    let (history, versioning) = (&outcome.history, outcome.versioning);
    check::durability::check_end_state_in_pieces(&mut consistency, history, &lineage, &end, versioning, piece_ops);
    check::realtime::record(&mut consistency, &realtime, strict && !clocks_truncated, outcome.versioning);
    consistency
}
