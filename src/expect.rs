//! Judging a scenario's `expect` list, as `dynasim run` and `validate` do.
//!
//! An expectation that cannot be judged must never pass silently: every
//! expected invariant whose verdict is `not-applicable` or `not-checked`
//! becomes a warning (on stderr and in summary.json). `deterministic` is
//! judged here, over [`crate::run`], by running the scenario a second time
//! and comparing the digest and the summary (without its wall-clock part).
//!
//! One rule is judged here too: a scenario file that expects
//! `no-stale-reads` outside strict mode (where the checker only counts
//! stale reads) fails it by count — any stale read is a violation.
//! Expecting it there is how a file asks "can a stale read happen at all?"
//! (an explore target, or the file explore shrank a stale read to), and the
//! answer must fail the run, not pass with a warning. The rule is for a
//! file run as written: when `--set` or a sweep axis (`nrw-compare.toml`'s
//! N3R1W1) takes a file out of the mode its `expect` list was written for,
//! stale reads are counted, not flagged, as DESIGN.md says.

use crate::report::summary::RunSummary;
use crate::scenario::applicability::not_applicable;
use crate::scenario::INVARIANT_NAMES;
use crate::{RunReport, Scenario};

/// The name of the invariant judged by running twice.
pub const DETERMINISTIC: &str = "deterministic";
/// The invariant judged by count when expected outside strict mode.
const NO_STALE_READS: &str = "no-stale-reads";

/// Warnings known before running: expected invariants the scenario itself
/// makes not applicable (e.g. `no-stale-reads` with sloppy quorums on), and
/// invariants that apply but are neither expected nor tolerated, so nobody
/// forgets one (`dynasim validate` prints them; `--strict` fails on them).
pub fn static_warnings(scenario: &Scenario) -> Vec<String> {
    let spec = &scenario.spec;
    let inapplicable = spec
        .expect
        .iter()
        .filter_map(|name| not_applicable(spec, name).map(|why| warning(name, &format!("not-applicable: {why}"))));
    let listed = |name: &&str| spec.expect.iter().chain(&spec.tolerate).any(|listed| listed == name);
    let unexpected =
        INVARIANT_NAMES.iter().filter(|name| !listed(name) && not_applicable(spec, name).is_none()).map(|name| {
            format!(
                "invariant `{name}` applies to this scenario but is neither in `expect` nor in `tolerate`; add it to \
                 `expect`"
            )
        });
    inapplicable.chain(unexpected).collect()
}

/// Runs `scenario` with `seed`, a second time when it expects
/// `deterministic`, and fills in the `deterministic` verdict and the
/// warnings of the summary.
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    judged(scenario, seed, &crate::report::observer::ObserveOptions::default(), SecondRun::After)
}

/// [`run`] with the first run observed as `options` ask (the second, if
/// any, only compares figures). For `dynasim run`, one scenario: with
/// `jobs` ≥ 2 the second run goes on a thread of its own, beside the
/// first, when the two fit in memory (`fits_beside`), which takes ~40 %
/// off the wall time; the report is the same either way. The CPU time
/// grows a little (4–20 % on the development machine): one after the
/// other, the second run reuses the pages the first one freed. ([`run`]
/// keeps the two in sequence: suites and explore already give every core
/// a run of its own; sweeps judge once per configuration,
/// [`run_judged_by`].)
pub fn run_observed(
    scenario: &Scenario,
    seed: u64,
    options: &crate::report::observer::ObserveOptions,
    jobs: usize,
) -> RunReport {
    let second = if jobs > 1 && fits_beside(scenario) { SecondRun::Beside } else { SecondRun::After };
    judged(scenario, seed, options, second)
}

/// [`run`] without the second run: another run of the same scenario
/// judges `deterministic`, and the verdict names it (`judged_by`, e.g.
/// "seed 1 of this configuration"). For a sweep, whose every seed of a
/// configuration would otherwise cost two runs: determinism is a property
/// of the scenario and the code, not of the seed.
pub fn run_judged_by(scenario: &Scenario, seed: u64, judged_by: &str) -> RunReport {
    judged(scenario, seed, &crate::report::observer::ObserveOptions::default(), SecondRun::Elsewhere(judged_by))
}

/// Where the second run that `deterministic` asks for goes.
#[derive(Clone, Copy, Debug)]
enum SecondRun<'a> {
    /// After the first, on the same thread (it reuses the first's memory).
    After,
    /// Beside the first, on a thread of its own. (A rayon join instead of
    /// the thread cost the quickstart 24–51 % more CPU than the two runs
    /// in sequence, against ~20 % with the thread.)
    Beside,
    /// Nowhere: the run named here judges it.
    Elsewhere(&'a str),
}

/// Largest memory estimate of a run whose `deterministic` second run goes
/// beside it: two such runs need at most 2 GiB by the estimate (which errs
/// high), little beside what a machine that runs the simulator has.
const BESIDE_ESTIMATE_LIMIT_BYTES: f64 = (1u64 << 30) as f64;

/// Whether two runs of `scenario` at once fit under the memory the
/// simulator allows itself for the pair ([`BESIDE_ESTIMATE_LIMIT_BYTES`]).
fn fits_beside(scenario: &Scenario) -> bool {
    crate::scenario::limits::memory_estimate_bytes(&scenario.spec) <= BESIDE_ESTIMATE_LIMIT_BYTES
}

/// The run observed as `options` ask, with the second run of
/// `deterministic` where `second` says, and the verdicts and warnings
/// filled in.
fn judged(
    scenario: &Scenario,
    seed: u64,
    options: &crate::report::observer::ObserveOptions,
    second: SecondRun,
) -> RunReport {
    let first = || crate::run_observed(scenario, seed, options);
    let expects_determinism = scenario.spec.expect.iter().any(|name| name == DETERMINISTIC);
    let (mut report, verdict) = match (expects_determinism, second) {
        (false, _) => (first(), None),
        (true, SecondRun::After) => {
            let report = first();
            let again = crate::run(scenario, seed);
            let verdict = determinism_verdict(&report.summary, &again.summary);
            (report, Some(verdict))
        }
        (true, SecondRun::Beside) => std::thread::scope(|scope| {
            let again = scope.spawn(|| crate::run(scenario, seed));
            let report = first();
            let again = again.join().expect("the second run does not panic");
            let verdict = determinism_verdict(&report.summary, &again.summary);
            (report, Some(verdict))
        }),
        (true, SecondRun::Elsewhere(judged_by)) => (first(), Some(format!("{JUDGED_ELSEWHERE}{judged_by}"))),
    };
    if let Some(verdict) = verdict {
        report.summary.invariants.insert(DETERMINISTIC.to_string(), verdict);
    }
    if let Some(verdict) = stale_reads_by_count(scenario, &report.summary) {
        report.summary.invariants.insert(NO_STALE_READS.to_string(), verdict);
    }
    report.summary.warnings = run_warnings(scenario, &report.summary);
    report
}

/// How the `deterministic` verdict of a run judged by another begins.
const JUDGED_ELSEWHERE: &str = "not-checked: judged by ";

/// `held` when a second run's summary is the first's, else where they differ.
fn determinism_verdict(first: &RunSummary, second: &RunSummary) -> String {
    match first_difference(first, second) {
        None => "held".to_string(),
        Some(difference) => format!("violated: a second run with the same seed differs in {difference}"),
    }
}

/// The `no-stale-reads` verdict of a run of a file (no overrides) that
/// expects it outside strict mode and counted stale reads; `None` when the
/// checker's verdict stands.
fn stale_reads_by_count(scenario: &Scenario, summary: &RunSummary) -> Option<String> {
    let stale = summary.consistency.stale_reads;
    let expected = scenario.spec.expect.iter().any(|name| name == NO_STALE_READS) && scenario.overrides.is_empty();
    let why = not_applicable(&scenario.spec, NO_STALE_READS)?;
    (expected && stale > 0).then(|| {
        format!(
            "violated: {stale} stale read(s); outside strict mode ({why}) stale reads are only counted, but the \
             scenario expects none"
        )
    })
}

/// The invariants this run violated that the scenario does not tolerate:
/// every invariant the summary judged must hold, listed in `expect` or not,
/// unless `tolerate` names it (a scenario that forgot one in `expect` must
/// still fail when it breaks).
pub fn violated_expectations(scenario: &Scenario, summary: &RunSummary) -> Vec<String> {
    let violated = |verdict: &String| verdict == "violated" || verdict.starts_with("violated:");
    let tolerated = |name: &str| scenario.spec.tolerate.iter().any(|t| t == name);
    summary
        .invariants
        .iter()
        .filter(|(name, verdict)| violated(verdict) && !tolerated(name))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Warnings for expected invariants this run could not judge.
fn run_warnings(scenario: &Scenario, summary: &RunSummary) -> Vec<String> {
    scenario
        .spec
        .expect
        .iter()
        .filter_map(|name| {
            let verdict = summary.invariants.get(name.as_str())?;
            // Judged by another run: that run's verdict is the one to read.
            let elsewhere = verdict.starts_with(JUDGED_ELSEWHERE);
            let unjudged = !elsewhere && (verdict.starts_with("not-applicable") || verdict.starts_with("not-checked"));
            unjudged.then(|| warning(name, verdict))
        })
        .collect()
}

fn warning(name: &str, verdict: &str) -> String {
    if name == NO_STALE_READS {
        return format!(
            "expected invariant `{name}` cannot be judged for this scenario ({verdict}), so only its count is \
             checked: any stale read fails a run of the file as written (no --set, no sweep axis)"
        );
    }
    format!("expected invariant `{name}` cannot be judged for this scenario ({verdict}), so it is not checked")
}

/// The first top-level part of the summary (the digest first) where two
/// runs differ, ignoring the wall-clock figures.
fn first_difference(first: &RunSummary, second: &RunSummary) -> Option<String> {
    if first.digest != second.digest {
        return Some(format!("the digest ({} vs {})", first.digest, second.digest));
    }
    let json = |summary: &RunSummary| {
        let mut value = serde_json::to_value(summary).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.remove("wall");
        }
        value
    };
    let (a, b) = (json(first), json(second));
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return (a != b).then(|| "the summary".to_string());
    };
    a.iter().find(|(key, value)| b.get(key.as_str()) != Some(value)).map(|(key, _)| format!("summary.json's `{key}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(text, "t.toml", "t").expect("valid")
    }

    #[test]
    fn an_expected_invariant_the_scenario_makes_inapplicable_is_a_warning() {
        let rest = "\"deterministic\", \"causal-siblings\", \"converges\"";
        let sloppy = scenario(&format!("expect = [\"no-stale-reads\", \"no-lost-writes\", {rest}]\n"));
        let warnings = static_warnings(&sloppy);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`no-stale-reads`") && warnings[0].contains("sloppy quorum is on"));
        let strict = scenario(&format!(
            "expect = [\"no-stale-reads\", \"no-lost-writes\", {rest}]\n[node]\nsloppy_quorum = false\n"
        ));
        assert!(static_warnings(&strict).is_empty());
        let lww = scenario("expect = [\"causal-siblings\"]\n[reconciliation]\npolicy = \"lww\"\n");
        assert!(static_warnings(&lww)[0].contains("last-write-wins"));
    }

    #[test]
    fn an_applicable_invariant_neither_expected_nor_tolerated_is_a_warning() {
        let warnings = static_warnings(&scenario("expect = [\"converges\"]\ntolerate = [\"no-lost-writes\"]\n"));
        let named = |name: &str| warnings.iter().any(|w| w.contains(&format!("`{name}` applies")));
        assert!(named("deterministic") && named("causal-siblings"), "{warnings:?}");
        assert!(!named("converges") && !named("no-lost-writes"), "expected or tolerated: {warnings:?}");
        assert!(!named("no-stale-reads"), "not applicable with sloppy quorums: {warnings:?}");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn the_second_run_beside_the_first_judges_as_one_after_it() {
        let text = "duration_ms = 300\nquiesce_ms = 200\nexpect = [\"deterministic\", \"no-lost-writes\"]\n";
        let options = crate::report::observer::ObserveOptions::default();
        let after = judged(&scenario(text), 5, &options, SecondRun::After);
        let beside = judged(&scenario(text), 5, &options, SecondRun::Beside);
        assert_eq!(after.summary.invariants.get(DETERMINISTIC).map(String::as_str), Some("held"));
        assert_eq!(first_difference(&after.summary, &beside.summary), None);
        assert_eq!(after.summary.invariants, beside.summary.invariants);
        let once = judged(&scenario("duration_ms = 300\nquiesce_ms = 200\n"), 5, &options, SecondRun::Beside);
        let unjudged = once.summary.invariants.get(DETERMINISTIC).expect("a verdict");
        assert!(unjudged.starts_with("not-checked"), "judged only when expected: {unjudged}");
    }

    #[test]
    fn a_run_judged_by_another_runs_once_and_names_the_judge_without_a_warning() {
        let text = "duration_ms = 300\nquiesce_ms = 200\nexpect = [\"deterministic\", \"no-lost-writes\"]\n";
        let twice = run(&scenario(text), 6);
        let once = run_judged_by(&scenario(text), 6, "seed 1");
        assert_eq!(
            once.summary.invariants.get(DETERMINISTIC).map(String::as_str),
            Some("not-checked: judged by seed 1")
        );
        assert_eq!(once.summary.digest, twice.summary.digest);
        assert!(once.summary.warnings.is_empty(), "{:?}", once.summary.warnings);
        let mut without = once.summary.clone();
        without.invariants.insert(DETERMINISTIC.to_string(), "held".to_string());
        assert_eq!(first_difference(&without, &twice.summary), None);
        assert_eq!(without.invariants, twice.summary.invariants);
    }

    #[test]
    fn only_a_run_that_fits_twice_in_memory_gets_its_second_run_beside_it() {
        let quickstart = std::fs::read_to_string("scenarios/quickstart.toml").expect("the bundled quickstart");
        assert!(fits_beside(&scenario(&quickstart)));
        // Issue 13's 1,000-node row: an estimate of ~4.5 GiB for each run.
        let row = "duration_ms = 100000\nquiesce_ms = 1000\n[cluster]\nnodes = 1000\nstrategy = 3\n\
                   partitions = 4096\n[workload]\nclients = 1000\nrate_per_s = 100000\nkeys = 1000000\n";
        assert!(!fits_beside(&scenario(row)));
    }

    #[test]
    fn any_violated_invariant_fails_the_run_unless_tolerated() {
        let text = "duration_ms = 100\nquiesce_ms = 0\nexpect = [\"no-lost-writes\"]\n";
        let mut summary = crate::run(&scenario(text), 1).summary;
        assert!(violated_expectations(&scenario(text), &summary).is_empty());
        summary.invariants.insert("causal-siblings".into(), "violated".into());
        summary.invariants.insert("converges".into(), "violated: 3 keys still differed".into());
        let violated = violated_expectations(&scenario(text), &summary);
        assert_eq!(violated, ["causal-siblings", "converges"], "violated although not expected");
        let tolerant = scenario(&format!("{text}tolerate = [\"converges\"]\n"));
        assert_eq!(violated_expectations(&tolerant, &summary), ["causal-siblings"]);
    }

    #[test]
    fn deterministic_is_judged_by_a_second_run_and_unjudged_ones_warn() {
        let text = "duration_ms = 200\nquiesce_ms = 100\nexpect = [\"deterministic\", \"no-stale-reads\"]\n";
        let report = run(&scenario(text), 5);
        assert_eq!(report.summary.invariants[DETERMINISTIC], "held");
        assert_eq!(report.summary.warnings.len(), 1, "{:?}", report.summary.warnings);
        assert!(report.summary.warnings[0].contains("no-stale-reads"));
        let unexpected = run(&scenario("duration_ms = 200\nquiesce_ms = 100\n"), 5);
        assert!(unexpected.summary.invariants[DETERMINISTIC].starts_with("not-checked"));
        assert!(unexpected.summary.warnings.is_empty());
    }

    #[test]
    fn an_expected_no_stale_reads_outside_strict_mode_fails_by_count() {
        let quiet = scenario("duration_ms = 300\nquiesce_ms = 100\nexpect = [\"no-stale-reads\"]\n");
        let report = run(&quiet, 1);
        assert_eq!(report.summary.consistency.stale_reads, 0);
        assert!(report.summary.invariants[NO_STALE_READS].starts_with("not-applicable"));
        assert!(report.summary.warnings[0].contains("only its count is checked"), "{:?}", report.summary.warnings);
        let mut summary = report.summary.clone();
        summary.consistency.stale_reads = 2;
        let verdict = stale_reads_by_count(&quiet, &summary).expect("counted stale reads fail");
        assert!(
            verdict.starts_with("violated: 2 stale read(s)") && verdict.contains("sloppy quorum is on"),
            "{verdict}"
        );
        summary.invariants.insert(NO_STALE_READS.into(), verdict);
        assert_eq!(violated_expectations(&quiet, &summary), [NO_STALE_READS]);
        let unexpected = scenario("duration_ms = 300\nquiesce_ms = 100\n");
        assert_eq!(stale_reads_by_count(&unexpected, &summary), None, "not expected: only counted");
        let strict = scenario("expect = [\"no-stale-reads\"]\n[node]\nsloppy_quorum = false\n");
        assert_eq!(stale_reads_by_count(&strict, &summary), None, "strict mode: the checker's verdict stands");
        let text = "expect = [\"no-stale-reads\"]\n[node]\nsloppy_quorum = false\n";
        let set = crate::scenario::overrides::Override::parse("node.sloppy_quorum=true").expect("an override");
        let swept = Scenario::parse_with(text, "t.toml", "t", &[set]).expect("valid");
        assert_eq!(stale_reads_by_count(&swept, &summary), None, "an override left strict mode: only counted");
    }

    #[test]
    fn two_summaries_are_compared_part_by_part_without_wall_time() {
        let report = crate::run(&scenario("duration_ms = 100\nquiesce_ms = 0\n"), 1);
        let mut other = report.summary.clone();
        other.wall.seconds += 1.0;
        assert_eq!(first_difference(&report.summary, &other), None);
        other.ops.total += 1;
        assert_eq!(first_difference(&report.summary, &other).as_deref(), Some("summary.json's `ops`"));
        other.digest = "0".into();
        assert!(first_difference(&report.summary, &other).expect("differs").starts_with("the digest"));
    }
}
