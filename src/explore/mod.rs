//! `dynasim explore`: random fault schedules against a scenario's `expect`
//! invariants, each violation shrunk to a small scenario file.
//!
//! Schedule `i` of `--runs K --seed S` has the seed `S + i` (wrapping): it
//! seeds both the schedule's draw ([`generate`]) and the simulation, so one
//! number names a finding. Runs go in parallel on a local thread pool and
//! the results come back in schedule order; a finding is shrunk
//! ([`shrink`]) on the thread that found it and written as
//! `<name>-seed-<seed>.toml` under the output directory, with a comment
//! header giving the invariant and the repro line.

pub mod candidate;
pub mod generate;
pub mod judge;
pub mod renumber;
pub mod shrink;

use crate::Scenario;
use candidate::Candidate;
use rand::SeedableRng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Default `[explore] shrink_runs`.
pub const DEFAULT_SHRINK_RUNS: u32 = 150;

/// What to explore and where to write findings.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// Number of schedules.
    pub runs: u64,
    /// Seed of the first schedule.
    pub seed: u64,
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Where shrunk scenarios go.
    pub out: PathBuf,
    /// Draw a progress bar (on a terminal only).
    pub progress: bool,
}

/// One violation, shrunk and written.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The schedule's seed (the file's and the simulation's).
    pub seed: u64,
    /// The invariant it fails, still failed by the shrunk scenario.
    pub invariant: String,
    /// The failure as the shrunk run shows it.
    pub detail: String,
    /// Faults before and after shrinking.
    pub faults: (usize, usize),
    /// Runs spent shrinking.
    pub shrink_runs: u32,
    /// The shrunk scenario file.
    pub path: PathBuf,
    /// `dynasim run <path> --seed <seed>`.
    pub repro: String,
}

/// Everything one exploration found.
#[derive(Clone, Debug, Default)]
pub struct ExploreReport {
    /// Schedules run.
    pub schedules: u64,
    /// Drawn faults the scenario refused (dropped before running).
    pub faults_refused: u64,
    /// Violations, in schedule order.
    pub findings: Vec<Finding>,
}

/// Why exploration could not start or write its findings.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// The scenario did not load.
    #[error(transparent)]
    Scenario(#[from] crate::ScenarioError),
    /// A shrunk scenario could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

/// Explores `path` as `options` say.
pub fn explore(path: &Path, options: &ExploreOptions) -> Result<ExploreReport, ExploreError> {
    let scenario = Scenario::load(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::ScenarioError::Unreadable { file: path.display().to_string(), reason: e.to_string() })?;
    let base: toml::Table = toml::from_str(&text).expect("the scenario just parsed");
    std::fs::create_dir_all(&options.out)
        .map_err(|e| ExploreError::Write { path: options.out.display().to_string(), reason: e.to_string() })?;
    let bar = progress_bar(options);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(options.jobs.max(1)).build().expect("a thread pool");
    let explorer = Explorer { scenario: &scenario, base: &base, options };
    let results: Vec<Result<Outcome, ExploreError>> = pool.install(|| {
        (0..options.runs)
            .into_par_iter()
            .map(|index| {
                let outcome = explorer.one(options.seed.wrapping_add(index));
                bar.inc(1);
                outcome
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut report = ExploreReport { schedules: options.runs, ..ExploreReport::default() };
    for outcome in results {
        let outcome = outcome?;
        report.faults_refused += outcome.refused;
        report.findings.extend(outcome.finding);
    }
    Ok(report)
}

fn progress_bar(options: &ExploreOptions) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !(options.progress && std::io::stderr().is_terminal()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(options.runs);
    if let Ok(style) = indicatif::ProgressStyle::with_template("explore {bar:40} {pos}/{len} schedules, eta {eta}") {
        bar.set_style(style);
    }
    bar
}

/// One schedule's result.
struct Outcome {
    refused: u64,
    finding: Option<Finding>,
}

struct Explorer<'a> {
    scenario: &'a Scenario,
    base: &'a toml::Table,
    options: &'a ExploreOptions,
}

impl Explorer<'_> {
    fn one(&self, seed: u64) -> Result<Outcome, ExploreError> {
        let spec = &self.scenario.spec;
        let name = format!("{}-seed-{seed}", plain_name(&self.scenario.name));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let drawn = generate::schedule(spec, &mut rng);
        let mut candidate = Candidate { faults: spec.faults.clone(), settings: Default::default() };
        let mut refused = 0;
        for fault in drawn {
            candidate.faults.push(fault);
            if candidate.load(self.base, &name, seed).is_none() {
                candidate.faults.pop();
                refused += 1;
            }
        }
        let scenario = candidate.load(self.base, &name, seed).expect("every kept fault loads");
        let report = crate::expect::run(&scenario, seed);
        let Some(first) = judge::failures(&scenario, &report.summary).into_iter().next() else {
            return Ok(Outcome { refused, finding: None });
        };
        let budget = spec.explore.as_ref().and_then(|e| e.shrink_runs).unwrap_or(DEFAULT_SHRINK_RUNS);
        let before = candidate.faults.len();
        let shrunk = shrink::shrink(self.base, &name, candidate, seed, &first.invariant, budget);
        let finding = self.write(&name, seed, &first.invariant, before, shrunk)?;
        Ok(Outcome { refused, finding: Some(finding) })
    }

    fn write(
        &self,
        name: &str,
        seed: u64,
        invariant: &str,
        before: usize,
        shrunk: shrink::Shrunk,
    ) -> Result<Finding, ExploreError> {
        let path = self.options.out.join(format!("{name}.toml"));
        let origin = path.display().to_string();
        let body = shrunk.candidate.render(self.base, name, seed);
        let scenario = Scenario::parse(&body, &origin, name).expect("a shrunk candidate loaded before");
        let report = crate::expect::run(&scenario, seed);
        let detail = judge::failures(&scenario, &report.summary)
            .into_iter()
            .find(|f| f.invariant == invariant)
            .map_or_else(|| "not reproduced".to_string(), |f| f.detail);
        let repro = scenario.repro(seed);
        let after = shrunk.candidate.faults.len();
        let header = format!(
            "# Found by `dynasim explore {} --seed {}` (schedule seed {seed}) and shrunk\n\
             # from {before} to {after} fault(s) in {} run(s).\n\
             # Violates: {invariant}: {}\n\
             # repro: {repro}\n\n",
            self.scenario.origin,
            self.options.seed,
            shrunk.runs,
            detail.replace('\n', " ")
        );
        std::fs::write(&path, header + &body)
            .map_err(|e| ExploreError::Write { path: origin.clone(), reason: e.to_string() })?;
        Ok(Finding {
            seed,
            invariant: invariant.to_string(),
            detail,
            faults: (before, after),
            shrink_runs: shrunk.runs,
            path,
            repro,
        })
    }
}

/// `name` as a valid scenario `name` (the file stem may hold any
/// character): ASCII letters, digits, `-`, `_`, `.`, at most 96 of them.
fn plain_name(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(96)
        .collect();
    if plain.is_empty() {
        "scenario".to_string()
    } else {
        plain
    }
}
