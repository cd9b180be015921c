//! `dynasim sweep`, `compare` and `merge`: comparing configurations.
//!
//! A sweep runs one scenario over a grid of overrides × seeds (see
//! [`grid`] for the order), on a local rayon pool, and collects one [`Row`]
//! per run in grid order, so every output is byte-identical whatever
//! `--jobs` is. A shard (`--shard I/M`) runs every M-th run of the grid
//! and writes only its rows (`shard-I-of-M.json`); [`shard::merge`] puts
//! shards back together. An unsharded sweep is shard 0 of 1 finished on the
//! spot, so one machine and a merge of many write the same bytes: the
//! per-run rows file, then `sweep.csv`, `aggregate.csv`, plots and the table
//! all come from the rows alone ([`finish`]).

pub mod aggregate;
pub mod compare;
pub mod figures;
pub mod grid;
pub mod output;
pub mod plots;
pub mod shard;

use crate::scenario::ScenarioError;
use crate::Scenario;
use grid::{Axis, Grid};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use shard::{Shard, ShardFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Flags of `dynasim sweep`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SweepArgs {
    /// The scenario file (TOML); its `[sweep]` table, if any, gives the
    /// first axes and the seeds.
    pub scenario: PathBuf,
    /// An axis: `PATH=V1,V2,...` (TOML values, split at top-level commas)
    /// or `PATH=A..B` (inclusive integers). Repeatable; the first is the
    /// outermost; one on a path the `[sweep]` table sweeps replaces it.
    #[arg(long = "set", value_name = "PATH=VALUES", value_parser = Axis::parse)]
    pub set: Vec<Axis>,
    /// Seeds: `A..B` (inclusive) or `1,5,9` (default: `[sweep] seeds`, else
    /// the scenario's seed).
    #[arg(long)]
    pub seeds: Option<String>,
    /// Runs at once (default: every core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The sweep directory (default: `results/<scenario>/sweep/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only slice I of M (`I/M`, I in 0..M; runs whose grid index is I
    /// mod M), or `M` to take I from SLURM_ARRAY_TASK_ID (minus
    /// SLURM_ARRAY_TASK_MIN, so 0- and 1-based arrays both work) or
    /// JOB_COMPLETION_INDEX (a Kubernetes Indexed Job). Combine with `merge`.
    #[arg(long, value_name = "I/M")]
    pub shard: Option<String>,
}

/// One run of the grid, as written to the shard file and `sweep.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Grid index (configuration × seeds + seed number).
    pub index: usize,
    /// Configuration index.
    pub config: usize,
    /// The seed.
    pub seed: u64,
    /// `ok`, `violated: <invariants>` or `invalid: <reason>`.
    pub status: String,
    /// Every numeric figure of summary.json by dotted path, plus the
    /// derived ones ([`figures`]), as text that parses back to the exact
    /// number (so a merge reproduces a single machine's bytes).
    pub figures: BTreeMap<String, String>,
}

impl Row {
    /// Whether the run violated an invariant the scenario expects.
    pub fn violated(&self) -> bool {
        self.status.starts_with("violated")
    }

    /// Whether the configuration was invalid (the run was skipped).
    pub fn invalid(&self) -> bool {
        self.status.starts_with("invalid")
    }
}

/// Why a sweep, compare or merge could not go on: bad input or an output
/// that could not be written (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SweepError(pub String);

impl From<ScenarioError> for SweepError {
    fn from(error: ScenarioError) -> SweepError {
        SweepError(error.to_string())
    }
}

/// What a finished command prints and whether a run failed.
#[derive(Debug)]
pub struct SweepOutcome {
    /// Text for stdout (the table, what was written).
    pub text: String,
    /// Runs that violated an expected invariant (exit code 1 when > 0).
    pub violated: usize,
}

/// Runs the sweep `args` describes; `progress` shows a progress bar on stderr.
/// Its largest run decides the process's huge pages
/// ([`crate::allocator::configure_for_scenarios`]).
pub fn sweep(args: &SweepArgs, progress: bool) -> Result<SweepOutcome, SweepError> {
    let path = &args.scenario;
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SweepError(format!("{origin}: cannot read scenario: {e}")))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
    let base = Scenario::deserialize_with(&text, &origin, &[])?;
    let name = base.name.clone().unwrap_or_else(|| stem.to_string());
    let table = base.sweep.clone().unwrap_or_default();
    let file_axes = table
        .set
        .iter()
        .map(|axis| Axis::parse(axis).map_err(|why| SweepError(format!("{origin}: [sweep] set: {why}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let seeds = match (&args.seeds, &table.seeds) {
        (Some(seeds), _) => grid::parse_seeds(seeds).map_err(SweepError)?,
        (None, Some(seeds)) => {
            grid::parse_seeds(seeds).map_err(|why| SweepError(format!("{origin}: [sweep] seeds: {why}")))?
        }
        (None, None) => vec![base.seed],
    };
    let grid = Grid::new(file_axes, args.set.clone(), seeds);
    let shard = Shard::resolve(args.shard.as_deref())?;
    let configurations = grid.configurations();
    let mut scenarios = Vec::with_capacity(configurations.len());
    let mut records = Vec::with_capacity(configurations.len());
    for configuration in &configurations {
        // A --set naming no field or of the wrong type is bad input for
        // the whole sweep; a combination of values not allowed is skipped.
        Scenario::deserialize_with(&text, &origin, &configuration.overrides)?;
        let parsed = Scenario::parse_with(&text, &origin, stem, &configuration.overrides);
        let skipped = parsed.as_ref().err().map(|error| reason(error, &origin));
        scenarios.push(parsed.ok());
        records.push(shard::ConfigRecord {
            label: configuration.label.clone(),
            values: configuration.values.clone(),
            directory: configuration.directory.clone(),
            skipped,
        });
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&name).join("sweep"));
    let indices: Vec<usize> = (0..grid.len()).filter(|index| shard.owns(*index)).collect();
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    if jobs == 0 {
        return Err(SweepError("--jobs must be at least 1".to_string()));
    }
    let owned = indices.iter().filter_map(|&index| scenarios[index / grid.seeds.len()].as_ref());
    crate::allocator::configure_for_scenarios(owned);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| SweepError(format!("cannot start {jobs} worker threads: {e}")))?;
    let bar = progress.then(|| progress_bar(indices.len()));
    let failures = AtomicUsize::new(0);
    let seeds = &grid.seeds;
    let results: Vec<Result<Row, SweepError>> = pool.install(|| {
        indices
            .par_iter()
            .map(|&index| {
                let (config, seed) = (index / seeds.len(), seeds[index % seeds.len()]);
                let row = match (&scenarios[config], &records[config].skipped) {
                    (Some(scenario), _) => {
                        let directory = out.join(&records[config].directory).join(format!("seed-{seed}"));
                        let judged_by = (index % seeds.len() != 0).then(|| judging_run(seeds));
                        run_one(scenario, &text, (index, config, seed), judged_by.as_deref(), &directory)
                    }
                    (None, reason) => Ok(Row {
                        index,
                        config,
                        seed,
                        status: format!("invalid: {}", reason.as_deref().unwrap_or("")),
                        figures: BTreeMap::new(),
                    }),
                };
                if let Some(bar) = &bar {
                    if row.as_ref().map_or(true, Row::violated) {
                        let failed = failures.fetch_add(1, Ordering::Relaxed) + 1;
                        bar.set_message(format!("{failed} failed"));
                    }
                    bar.inc(1);
                }
                row
            })
            .collect()
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let rows = results.into_iter().collect::<Result<Vec<Row>, SweepError>>()?;
    let file = ShardFile {
        format: shard::FORMAT,
        scenario: name,
        shard: shard.index,
        shards: shard.count,
        runs: grid.len(),
        axes: grid.axes.iter().map(|a| a.path.clone()).collect(),
        seeds: grid.seeds.clone(),
        configurations: records,
        rows,
    };
    file.write(&out)?;
    if shard.count == 1 {
        return finish(&out, &file);
    }
    let violated = file.rows.iter().filter(|r| r.violated()).count();
    let text = format!(
        "shard {}/{}: {} of {} runs ({} violated); wrote {}\ncombine the shards with: dynasim merge DIR... --out DIR\n",
        shard.index,
        shard.count,
        file.rows.len(),
        file.runs,
        violated,
        out.join(file.file_name()).display()
    );
    Ok(SweepOutcome { text, violated })
}

/// The one place a run's own directory is written.
/// Writes one run's directory: the data files of `dynasim run` (no plots
/// or report.html, which `dynasim report DIR` renders on demand), with
/// scenario.toml headed by the run's overrides.
fn write_run(directory: &Path, text: &str, scenario: &Scenario, report: &crate::RunReport) -> Result<(), SweepError> {
    let options = crate::report::RunDirectoryOptions { history: false };
    crate::report::write_run_directory(directory, &scenario.annotated(text), report, &options)
        .map(|_| ())
        .map_err(|e| SweepError(format!("cannot write the run directory {}: {e}", directory.display())))
}

/// The run of a configuration that judges `deterministic` for all its
/// seeds: its first seed's, run twice (a sweep is for comparing figures,
/// and running every seed twice doubled its time). Chosen by grid
/// position, so shards and one machine judge the same runs.
fn judging_run(seeds: &[u64]) -> String {
    format!("the run of seed {} of this configuration", seeds[0])
}

/// Runs one grid point (its index, configuration and seed), writes its
/// directory and returns its row; `judged_by` names the run that judges
/// `deterministic` for it, if not itself.
fn run_one(
    scenario: &Scenario,
    text: &str,
    (index, config, seed): (usize, usize, u64),
    judged_by: Option<&str>,
    directory: &Path,
) -> Result<Row, SweepError> {
    let report = match judged_by {
        None => crate::expect::run(scenario, seed),
        Some(run) => crate::expect::run_judged_by(scenario, seed, run),
    };
    write_run(directory, text, scenario, &report)?;
    let violated = crate::violated_expectations(scenario, &report.summary);
    let status = if violated.is_empty() { "ok".to_string() } else { format!("violated: {}", violated.join(", ")) };
    let json = serde_json::to_value(&report.summary).map_err(|e| SweepError(format!("summary of run {index}: {e}")))?;
    Ok(Row { index, config, seed, status, figures: figures::of_summary(&json) })
}

/// Why a configuration is invalid, without the file name (shards may name
/// the scenario by different paths; the sweep's rows must not differ).
fn reason(error: &ScenarioError, origin: &str) -> String {
    let text = error.to_string();
    text.strip_prefix(origin).map(|rest| rest.trim_start_matches(':').trim_start().to_string()).unwrap_or(text)
}

/// Writes `sweep.csv`, `aggregate.csv` and the plots from `file`'s rows
/// (every run of the grid) into `out`, and returns the printed table.
pub fn finish(out: &Path, file: &ShardFile) -> Result<SweepOutcome, SweepError> {
    let aggregates = aggregate::by_configuration(file);
    output::write_sweep_csv(&out.join("sweep.csv"), file)?;
    output::write_aggregate_csv(&out.join("aggregate.csv"), file, &aggregates)?;
    let plotted = plots::write_all(out, &aggregates)?;
    let mut text = output::render_table(&aggregates);
    let skipped: Vec<String> = file
        .configurations
        .iter()
        .filter_map(|c| c.skipped.as_ref().map(|why| format!("{} ({why})", c.label)))
        .collect();
    if !skipped.is_empty() {
        text.push_str(&format!("skipped {} configuration(s): {}\n", skipped.len(), skipped.join("; ")));
    }
    let violated: Vec<&Row> = file.rows.iter().filter(|r| r.violated()).collect();
    for row in &violated {
        let label = &file.configurations[row.config].label;
        text.push_str(&format!("run {label} seed {}: {}\n", row.seed, row.status));
    }
    text.push_str(&format!(
        "{} runs ({} violated) -> wrote {}, {}{}\n",
        file.rows.iter().filter(|r| !r.invalid()).count(),
        violated.len(),
        out.join("sweep.csv").display(),
        out.join("aggregate.csv").display(),
        plotted.iter().map(|p| format!(", {p}")).collect::<String>()
    ));
    Ok(SweepOutcome { text, violated: violated.len() })
}

fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {msg} ETA {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("0 failed");
    bar
}

/// Whether to draw a progress bar: stderr is a terminal and `CI` is unset.
pub fn progress_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}
