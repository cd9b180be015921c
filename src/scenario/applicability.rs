//! Which invariants a scenario can be judged on, known before it runs.
//!
//! The report's verdicts and `dynasim validate`'s warnings both read this,
//! so an expectation that cannot be judged is named the same way before and
//! after a run (DESIGN.md: "a warning, never a silent pass").

use crate::fault::FaultAction;
use crate::scenario::{Policy, ScenarioSpec};

/// Why `invariant` is not applicable to every run of `spec`, if it is not:
/// `no-stale-reads` outside DESIGN.md's strict mode (sloppy quorums off,
/// R + W > N, vector clocks, unbuffered writes, no disk loss, no membership
/// change, no sibling cap), `causal-siblings` under last-write-wins. A run
/// can add reasons of its own (a clock truncation); the report adds those.
pub fn not_applicable(spec: &ScenarioSpec, invariant: &str) -> Option<String> {
    match invariant {
        "no-stale-reads" => strict_mode_exclusion(spec),
        "causal-siblings" if spec.reconciliation.policy == Policy::Lww => {
            Some("last-write-wins keeps no siblings".into())
        }
        _ => None,
    }
}

fn strict_mode_exclusion(spec: &ScenarioSpec) -> Option<String> {
    let q = spec.quorum;
    let has = |action: FaultAction| spec.faults.iter().any(|f| f.action == action);
    if q.r + q.w <= q.n {
        Some(format!("R + W = {} <= N = {}", q.r + q.w, q.n))
    } else if spec.node.sloppy_quorum {
        Some("sloppy quorum is on".into())
    } else if spec.reconciliation.policy == Policy::Lww {
        Some("last-write-wins versioning".into())
    } else if spec.storage.buffered_writes {
        Some("buffered writes".into())
    } else if has(FaultAction::DiskLoss) {
        Some("the scenario loses a disk".into())
    } else if has(FaultAction::Join) || has(FaultAction::Leave) {
        Some("the membership changes".into())
    } else if spec.reconciliation.sibling_cap > 0 {
        Some("a sibling cap drops versions".into())
    } else {
        None
    }
}
