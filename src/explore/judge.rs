//! What counts as a failure for `dynasim explore`: exactly what fails
//! `dynasim run` ([`crate::violated_expectations`] over a summary from
//! [`crate::expect::run`]), so a shrunk file that fails here fails `run`.
//! That includes an expected `no-stale-reads` outside strict mode, which
//! fails by count (see [`crate::expect`]): explore's question there is
//! whether a schedule can produce a stale read at all.

use crate::report::summary::RunSummary;
use crate::Scenario;

/// One failed expectation of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The canonical invariant name.
    pub invariant: String,
    /// The verdict as a person reads it.
    pub detail: String,
}

/// The invariants `summary` violates that the scenario does not tolerate.
pub fn failures(scenario: &Scenario, summary: &RunSummary) -> Vec<Failure> {
    crate::violated_expectations(scenario, summary)
        .into_iter()
        .map(|invariant| {
            let detail = summary.invariants.get(&invariant).cloned().unwrap_or_default();
            Failure { invariant, detail }
        })
        .collect()
}
