//! `dynasim check SUITE`: pinned scenarios and seeds with bounds on their
//! summary figures, and digests pinned in a lock file.
//!
//! A suite is a TOML file of cases:
//!
//! ```toml
//! [[case]]
//! name = "quickstart"              # unique; names the case in the table and the lock
//! scenario = "quickstart.toml"     # relative to the suite file
//! set = ["quorum.r=1"]             # optional `--set` overrides
//! seeds = [1, 2]                   # or "1..=5" / "1..6"; default: the scenario's seed
//! [case.bounds]                    # figure (summary.json's dotted path) = "operator value"
//! "consistency.stale_reads" = "== 0"
//! "latency_us.read.p999" = "<= 3000"
//! ```
//!
//! Every case also fails when an invariant its scenario expects is
//! violated. Digests live in the lock file ([`lock`]), written only by
//! `--bless`; a case without a pinned digest is judged by its bounds alone.
//! Exit codes: 0 all pass, 1 a failure, 2 bad input (the suite, a
//! scenario, a bound naming no figure, an unreadable lock file).

pub mod bound;
pub mod lock;

use crate::scenario::overrides::Override;
use crate::Scenario;
use bound::Bound;
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How `check` runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Rewrite the lock file's digests and figures.
    pub bless: bool,
    /// Worker threads (at least 1).
    pub jobs: usize,
}

/// A suite that could not be used: the message names the file and line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SuiteError(pub String);

/// The result of a check: the text to print and the exit code.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The table, the failures with their repro lines, and the closing line.
    pub text: String,
    /// 0 every run passed, 1 a run failed, 2 a bound names no figure.
    pub exit_code: u8,
    /// Runs, and runs that failed.
    pub runs: usize,
    /// Runs that failed.
    pub failed: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(default, rename = "case")]
    cases: Vec<CaseSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: String,
    scenario: String,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    seeds: Option<Seeds>,
    #[serde(default)]
    bounds: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Seeds {
    List(Vec<u64>),
    Range(String),
}

/// A case ready to run.
struct Case {
    name: String,
    scenario: Scenario,
    seeds: Vec<u64>,
    bounds: Vec<(String, Bound)>,
}

/// One (case, seed) run, judged.
struct Judged {
    digest: String,
    figures: BTreeMap<String, serde_json::Value>,
    failures: Vec<String>,
    bad_input: bool,
}

/// Most changed figures listed under one digest mismatch.
const CHANGES_SHOWN: usize = 12;

/// Runs the suite at `path`. Its largest case decides the process's huge
/// pages ([`crate::allocator::configure_for_scenarios`]).
pub fn check(path: &Path, options: &CheckOptions) -> Result<CheckReport, SuiteError> {
    let cases = load(path)?;
    let lock_path = lock::lock_path(path);
    let old = lock::read(&lock_path).map_err(SuiteError)?;
    let jobs: Vec<(usize, u64)> =
        cases.iter().enumerate().flat_map(|(i, case)| case.seeds.iter().map(move |&seed| (i, seed))).collect();
    crate::allocator::configure_for_scenarios(cases.iter().map(|case| &case.scenario));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(options.jobs.max(1)).build().expect("a thread pool");
    let results: Vec<Judged> = pool.install(|| jobs.par_iter().map(|&(i, seed)| judge(&cases[i], seed)).collect());
    let mut text = format!("{:<28} {:>6}  {:<6} detail\n", "case", "seed", "result");
    let (mut failed, mut bad_input) = (0, false);
    let mut new = lock::Lock { generated: lock::GENERATED.into(), cases: BTreeMap::new() };
    for (&(i, seed), mut judged) in jobs.iter().zip(results) {
        let case = &cases[i];
        let pinned = old.cases.get(&case.name).and_then(|seeds| seeds.get(&seed.to_string()));
        if let Some(pinned) = pinned.filter(|p| !options.bless && p.digest != judged.digest) {
            judged.failures.push(mismatch(pinned, &judged, &lock_path));
        }
        bad_input |= judged.bad_input;
        let result = if judged.failures.is_empty() { "pass" } else { "FAIL" };
        let detail = judged.failures.first().map_or("", |f| f.as_str());
        let _ = writeln!(text, "{:<28} {:>6}  {:<6} {}", case.name, seed, result, indent(detail));
        for more in judged.failures.iter().skip(1) {
            let _ = writeln!(text, "{:<43} {}", "", indent(more));
        }
        if !judged.failures.is_empty() {
            failed += 1;
            let _ = writeln!(text, "{:<43} repro: {}", "", case.scenario.repro(seed));
        }
        let entry = lock::Pinned { digest: judged.digest, figures: judged.figures };
        new.cases.entry(case.name.clone()).or_default().insert(seed.to_string(), entry);
    }
    if options.bless {
        text += &bless(&old, &new, &lock_path)?;
    }
    let _ = writeln!(text, "check: {} run(s), {} passed, {failed} failed", jobs.len(), jobs.len() - failed);
    let exit_code = if bad_input {
        2
    } else if failed > 0 {
        1
    } else {
        0
    };
    Ok(CheckReport { text, exit_code, runs: jobs.len(), failed })
}

/// Continuation lines of a detail, aligned under the detail column.
fn indent(detail: &str) -> String {
    detail.replace('\n', &format!("\n{:<43} ", ""))
}

fn judge(case: &Case, seed: u64) -> Judged {
    let report = crate::expect::run(&case.scenario, seed);
    let summary = &report.summary;
    let figures = lock::figures(summary);
    let mut failures: Vec<String> = crate::violated_expectations(&case.scenario, summary)
        .into_iter()
        .map(|name| format!("invariant `{name}` {}", summary.invariants.get(&name).cloned().unwrap_or_default()))
        .collect();
    let mut bad_input = false;
    for (figure, bound) in &case.bounds {
        match figures.get(figure).map(|value| (value, bound.holds(value))) {
            Some((_, Ok(true))) => {}
            Some((value, Ok(false))) => failures.push(format!("{figure} = {value}, bound {bound}")),
            Some((_, Err(why))) => {
                bad_input = true;
                failures.push(format!("{figure}: {why}"));
            }
            None => {
                bad_input = true;
                failures.push(format!("{figure}: no such figure in summary.json (bounds name its dotted paths)"));
            }
        }
    }
    Judged { digest: summary.digest.clone(), figures, failures, bad_input }
}

/// The failure text of a digest mismatch: which figures changed.
fn mismatch(pinned: &lock::Pinned, judged: &Judged, lock_path: &Path) -> String {
    let changes = lock::changed(&pinned.figures, &judged.figures);
    let mut text = format!("digest {} -> {} (pinned in {})", pinned.digest, judged.digest, lock_path.display());
    if changes.is_empty() {
        text += "\nno figure changed: only the order of events differs";
    } else {
        let _ = write!(text, "\n{} figure(s) changed (behaviour):", changes.len());
        for (path, old, new) in changes.iter().take(CHANGES_SHOWN) {
            let _ = write!(text, "\n  {path}: {old} -> {new}");
        }
        if changes.len() > CHANGES_SHOWN {
            let _ = write!(text, "\n  … and {} more", changes.len() - CHANGES_SHOWN);
        }
    }
    text
}

/// Writes the new lock and describes what changed.
fn bless(old: &lock::Lock, new: &lock::Lock, lock_path: &Path) -> Result<String, SuiteError> {
    let mut text = String::new();
    let mut unchanged = 0;
    for (case, seeds) in &new.cases {
        for (seed, pinned) in seeds {
            match old.cases.get(case).and_then(|s| s.get(seed)) {
                None => {
                    let _ = writeln!(text, "bless: {case} seed {seed}: pinned digest {}", pinned.digest);
                }
                Some(before) if before.digest == pinned.digest => unchanged += 1,
                Some(before) => {
                    let count = lock::changed(&before.figures, &pinned.figures).len();
                    let _ = writeln!(
                        text,
                        "bless: {case} seed {seed}: digest {} -> {} ({count} figure(s) changed)",
                        before.digest, pinned.digest
                    );
                }
            }
        }
    }
    for (case, seeds) in &old.cases {
        for seed in seeds.keys().filter(|seed| new.cases.get(case).is_none_or(|s| !s.contains_key(*seed))) {
            let _ = writeln!(text, "bless: {case} seed {seed}: no longer in the suite, unpinned");
        }
    }
    if old != new {
        lock::write(lock_path, new).map_err(SuiteError)?;
    }
    let _ = writeln!(text, "bless: {unchanged} digest(s) unchanged; wrote {}", lock_path.display());
    Ok(text)
}

/// Reads the suite and loads every case's scenario.
fn load(path: &Path) -> Result<Vec<Case>, SuiteError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SuiteError(format!("{file}: cannot read suite: {e}")))?;
    let suite: SuiteFile = toml::from_str(&text).map_err(|e| {
        let location = e.span().map_or_else(
            || "?".to_string(),
            |span| {
                let (line, column) = crate::scenario::line_column(&text, span.start);
                format!("{line}:{column}")
            },
        );
        SuiteError(format!("{file}:{location}: {}", e.message().trim_end()))
    })?;
    if suite.cases.is_empty() {
        return Err(SuiteError(format!("{file}: no [[case]] entries; a suite lists at least one case")));
    }
    let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut names = std::collections::BTreeSet::new();
    let mut cases = Vec::new();
    for (index, spec) in suite.cases.into_iter().enumerate() {
        let at = |message: String| {
            let line = case_line(&text, index).map(|l| format!(":{l}")).unwrap_or_default();
            SuiteError(format!("{file}{line}: case `{}`: {message}", spec.name))
        };
        if !names.insert(spec.name.clone()) {
            return Err(at("a second case with this name; names must be unique".into()));
        }
        let overrides: Vec<Override> =
            spec.set.iter().map(|s| Override::parse(s)).collect::<Result<_, _>>().map_err(at)?;
        let scenario_path: PathBuf = directory.join(&spec.scenario);
        let scenario = Scenario::load_with(&scenario_path, &overrides).map_err(|e| at(e.to_string()))?;
        let seeds = match &spec.seeds {
            None => vec![scenario.spec.seed],
            Some(Seeds::List(list)) if !list.is_empty() => list.clone(),
            Some(Seeds::List(_)) => return Err(at("`seeds` is empty; list at least one".into())),
            Some(Seeds::Range(range)) => parse_range(range).map_err(|e| at(format!("`seeds`: {e}")))?,
        };
        let bounds = spec
            .bounds
            .iter()
            .map(|(figure, bound)| Bound::parse(bound).map(|b| (figure.clone(), b)))
            .collect::<Result<_, _>>()
            .map_err(|e| at(format!("bound: {e}")))?;
        cases.push(Case { name: spec.name, scenario, seeds, bounds });
    }
    Ok(cases)
}

/// Longest seed range a case may give.
const SEED_RANGE_MAX: u64 = 100_000;

/// `"1..5"` (5 excluded) or `"1..=5"`.
fn parse_range(range: &str) -> Result<Vec<u64>, String> {
    let allowed = "give a list [1, 2] or a range \"1..=5\" (inclusive) / \"1..6\" (6 excluded)";
    let (start, end, inclusive) = match range.split_once("..=") {
        Some((a, b)) => (a, b, true),
        None => range.split_once("..").map(|(a, b)| (a, b, false)).ok_or_else(|| format!("{range:?}: {allowed}"))?,
    };
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("{range:?}: {s:?} is not a seed; {allowed}"));
    let (start, end) = (number(start)?, number(end)?);
    let end = if inclusive { end.checked_add(1).ok_or_else(|| format!("{range:?}: too large"))? } else { end };
    if start >= end || end - start > SEED_RANGE_MAX {
        return Err(format!("{range:?}: must hold between 1 and {SEED_RANGE_MAX} seeds; {allowed}"));
    }
    Ok((start..end).collect())
}

/// The line of the `index`-th `[[case]]` header.
fn case_line(text: &str, index: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("[[case]]"))
        .nth(index)
        .map(|(number, _)| number + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_are_rust_ranges() {
        assert_eq!(parse_range("1..=3").expect("valid"), vec![1, 2, 3]);
        assert_eq!(parse_range("1..3").expect("valid"), vec![1, 2]);
        for bad in ["3..1", "1..1", "a..b", "5", "0..=1000000"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }
}
