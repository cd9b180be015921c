//! What counts as a failure for `dynasim explore`.
//!
//! The scenario's `expect` list, judged as `dynasim run` judges it, plus one
//! rule of explore's own: a scenario that expects `no-stale-reads` fails it
//! whenever `consistency.stale_reads > 0`, even where the checker's verdict
//! is `not-applicable` (outside strict mode). `run` only counts stale reads
//! there, because measuring how many is the point; explore's question is
//! whether a schedule can produce one at all, and expecting the invariant
//! is how a scenario asks it. In strict mode the two rules agree.

use crate::report::summary::RunSummary;
use crate::Scenario;

/// The stale-read invariant explore may judge by count.
const NO_STALE_READS: &str = "no-stale-reads";

/// One failed expectation of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The canonical invariant name.
    pub invariant: String,
    /// The verdict, or the stale-read count, as a person reads it.
    pub detail: String,
}

/// The expectations `summary` fails, in `expect` order.
pub fn failures(scenario: &Scenario, summary: &RunSummary) -> Vec<Failure> {
    let mut failures: Vec<Failure> = crate::violated_expectations(scenario, summary)
        .into_iter()
        .map(|invariant| {
            let detail = summary.invariants.get(&invariant).cloned().unwrap_or_default();
            Failure { invariant, detail }
        })
        .collect();
    let stale = summary.consistency.stale_reads;
    let expects = scenario.spec.expect.iter().any(|name| name == NO_STALE_READS);
    if expects && stale > 0 && !failures.iter().any(|f| f.invariant == NO_STALE_READS) {
        let verdict = summary.invariants.get(NO_STALE_READS).cloned().unwrap_or_default();
        failures.push(Failure {
            invariant: NO_STALE_READS.into(),
            detail: format!("consistency.stale_reads = {stale} (run's verdict: {verdict})"),
        });
    }
    failures
}
