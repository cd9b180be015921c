//! The `dynasim` command line: parses arguments and dispatches to the library.
//!
//! Exit codes: 0 success; 1 an invariant was violated that the scenario
//! does not `tolerate`; 2 bad input (unreadable or invalid scenario, bad
//! arguments, warnings under `validate --strict`) or an output that could
//! not be written.

use clap::{Parser, Subcommand};
use dynasim::report::observer::ObserveOptions;
use dynasim::report::RunDirectoryOptions;
use dynasim::scenario::overrides::Override;
use dynasim::Scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// mimalloc (v2) instead of the system allocator: a run allocates and
/// frees small objects (versions, clocks, replies) by the million, and
/// mimalloc's per-size free lists cost a fraction of glibc's bins — 10 % to
/// 20 % less CPU per run in BENCHMARKS.md and a lower peak on the
/// 1,000-node row, for ~13 more bytes per stored copy (its size classes
/// round up). v3 held 15 % more memory at 1,000 nodes, so v2 it is, and it
/// keeps the pages a run frees (`dynasim::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic discrete-event simulator of a Dynamo-style key-value cluster.
#[derive(Parser, Debug)]
#[command(name = "dynasim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and write its run directory.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Master seed, decimal or 0x hex, any u64 (default: the scenario's `seed`).
        #[arg(long, value_parser = dynasim::scenario::seed::parse_seed)]
        seed: Option<u64>,
        /// The run directory to write (default: results/<scenario>/seed-<N>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override one scenario field by its dotted path, e.g.
        /// `--set quorum.r=1 --set network.loss=0.01` (repeatable; the value
        /// is TOML, bare words are strings; checked like the file).
        #[arg(long = "set", value_name = "PATH=VALUE", value_parser = Override::parse)]
        set: Vec<Override>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Length of one timeseries.csv interval, ms of simulated time.
        #[arg(long, default_value_t = 100.0)]
        interval_ms: f64,
        /// Also write events.jsonl: every node-level event of the run.
        #[arg(long)]
        events: bool,
        /// Also write history.jsonl: every client operation.
        #[arg(long)]
        history: bool,
        /// Write trace-KEY.txt, the timeline of one key (its number, 0 to keys-1), and print it.
        #[arg(long, value_name = "KEY")]
        trace_key: Option<u64>,
        /// Runs at once: from 2, the second run that `deterministic` asks
        /// for goes beside the first, if the two fit in 2 GiB by the
        /// scenario's memory estimate (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Check a scenario file and report the first problem; warn about
    /// expected invariants the scenario cannot be judged on.
    Validate {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Exit 2 when there are warnings too.
        #[arg(long)]
        strict: bool,
    },
    /// Static analysis of partitioning strategies 1-3 (Dynamo §6.2, Figure 8).
    Ring(dynasim::ring::RingArgs),
    /// Re-render a run directory's plots (SVG) and report.html from its files.
    Report {
        /// The run directory (holds summary.json).
        dir: PathBuf,
    },
    /// Run a scenario over a grid of `--set` values × seeds on every core:
    /// sweep.csv, aggregate.csv (mean, 95% CI), plots and a table.
    Sweep(dynasim::sweep::SweepArgs),
    /// Compare runs and sweeps side by side: figures, differences, CI overlap.
    Compare(dynasim::sweep::compare::CompareArgs),
    /// Combine the shards of a sweep (`sweep --shard I/M`) into the outputs
    /// one machine would have written.
    Merge {
        /// Directories holding shard-I-of-M.json files.
        #[arg(required = true, num_args = 1..)]
        directories: Vec<PathBuf>,
        /// The sweep directory to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a regression suite: pinned scenarios and seeds, bounds on summary
    /// figures, digests pinned in the suite's lock file (exit 1 on a failure).
    Check {
        /// The suite file (TOML, `[[case]]` entries).
        suite: PathBuf,
        /// Rewrite the lock file's pinned digests and figures (never the bounds).
        #[arg(long)]
        bless: bool,
        /// Runs at once (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Run random fault schedules against a scenario's expected invariants
    /// and shrink every violation to a small scenario file (exit 1 if any).
    Explore {
        /// The scenario file (TOML); its `[explore]` table says what to draw.
        scenario: PathBuf,
        /// Number of schedules.
        #[arg(long, default_value_t = 100)]
        runs: u64,
        /// Seed of the first schedule (schedule i has seed + i).
        #[arg(long, default_value_t = 1, value_parser = dynasim::scenario::seed::parse_seed)]
        seed: u64,
        /// Runs at once (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where shrunk scenarios go (default: results/<scenario>/explore/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    dynasim::allocator::configure_for_runs();
    dynasim::check::pieces::use_calling_thread();
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario, seed, out, set, quiet, interval_ms, events, history, trace_key, jobs } => {
            let flags = RunFlags { interval_ms, events, history, trace_key, quiet, jobs: default_jobs(jobs) };
            run(&scenario, &set, seed, out, &flags)
        }
        Command::Validate { scenario, strict } => validate(&scenario, strict),
        Command::Report { dir } => match dynasim::report::render::rerender(&dir) {
            Ok(page) => {
                println!("wrote {}", page.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        },
        Command::Sweep(args) => finish(dynasim::sweep::sweep(&args, dynasim::sweep::progress_wanted())),
        Command::Merge { directories, out } => finish(dynasim::sweep::shard::merge(&directories, &out)),
        Command::Compare(args) => print_text(dynasim::sweep::compare::compare(&args)),
        Command::Check { suite, bless, jobs } => check(&suite, bless, jobs),
        Command::Explore { scenario, runs, seed, jobs, out } => explore(&scenario, runs, seed, jobs, out),
        Command::Ring(args) => print_text(dynasim::ring::ring_command(&args)),
    }
}

/// Prints a command's text (exit 0), or its error (exit 2: bad input).
fn print_text<E: std::fmt::Display>(result: Result<String, E>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error.to_string()),
    }
}

/// Prints a sweep's or merge's table; exit 1 when a run violated an
/// expected invariant, 2 on bad input.
fn finish(outcome: Result<dynasim::sweep::SweepOutcome, dynasim::sweep::SweepError>) -> ExitCode {
    match outcome {
        Ok(outcome) => {
            print!("{}", outcome.text);
            if outcome.violated > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ExitCode> {
    Scenario::load_with(path, overrides).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

/// The flags of `run` beyond the scenario, seed and directory.
struct RunFlags {
    interval_ms: f64,
    events: bool,
    history: bool,
    trace_key: Option<u64>,
    quiet: bool,
    /// Runs at once (`--jobs`, every core by default).
    jobs: usize,
}

/// The most rows timeseries.csv may get.
const INTERVALS_MAX: f64 = 1e6;

/// Checks the flags against the scenario: the observation options, or the error to print.
fn observe_options(scenario: &Scenario, flags: &RunFlags, directory: &Path) -> Result<ObserveOptions, String> {
    let spec = &scenario.spec;
    let longest_ms = spec.duration_ms + spec.quiesce_ms + spec.converge_within_ms;
    if !(flags.interval_ms.is_finite() && flags.interval_ms >= 0.001 && longest_ms / flags.interval_ms <= INTERVALS_MAX)
    {
        return Err(format!(
            "--interval-ms must be at least 0.001 (1 µs) and cut the run ({longest_ms} ms at most) into at most \
             {INTERVALS_MAX} intervals, got {}",
            flags.interval_ms
        ));
    }
    if let Some(key) = flags.trace_key.filter(|&key| key >= spec.workload.keys) {
        return Err(format!(
            "--trace-key {key}: the workload's keys are 0 to {} ([workload] keys)",
            spec.workload.keys - 1
        ));
    }
    Ok(ObserveOptions {
        interval_us: dynasim::types::ms_to_us(flags.interval_ms).max(1),
        events: flags.events.then(|| directory.join("events.jsonl")),
        trace_key: flags.trace_key,
        progress: !flags.quiet,
    })
}

fn run(path: &Path, overrides: &[Override], seed: Option<u64>, out: Option<PathBuf>, flags: &RunFlags) -> ExitCode {
    let scenario = match load(path, overrides) {
        Ok(s) => s,
        Err(code) => return code,
    };
    dynasim::allocator::configure_for_scenarios([&scenario]);
    let text = match std::fs::read_to_string(path) {
        // scenario.toml keeps the file as written; overrides head it as comments.
        Ok(text) => scenario.annotated(&text),
        Err(error) => return fail(&format!("cannot read {}: {error}", path.display())),
    };
    let seed = seed.unwrap_or(scenario.spec.seed);
    let parent = PathBuf::from("results").join(&scenario.name);
    let directory = out.clone().unwrap_or_else(|| parent.join(format!("seed-{seed}")));
    let options = match observe_options(&scenario, flags, &directory) {
        Ok(options) => options,
        Err(message) => return fail(&message),
    };
    let report = dynasim::expect::run_observed(&scenario, seed, &options, flags.jobs);
    for warning in &report.summary.warnings {
        eprintln!("warning: {}: {warning}", path.display());
    }
    if let Some(error) = &report.outcome.observed.events_error {
        return fail(&format!("cannot write {}: {error}", directory.join("events.jsonl").display()));
    }
    let written = RunDirectoryOptions { history: flags.history };
    let written = match dynasim::report::write_run_directory(&directory, &text, &report, &written) {
        Ok(written) => written,
        Err(error) => return fail(&format!("cannot write the run directory: {error}")),
    };
    if let Err(error) = dynasim::report::render::render_run(&directory, &scenario.repro(seed)) {
        return fail(&format!("cannot render the report: {error}"));
    }
    if out.is_none() {
        if let Err(error) = dynasim::report::run_directory::point_latest(&parent, &directory) {
            eprintln!("warning: cannot point {} at the run: {error}", parent.join("latest").display());
        }
    }
    if !flags.quiet {
        print!("{}", dynasim::report::render_text(&report.summary));
        if let Some(trace) = &written.trace {
            print!("{trace}");
        }
        println!("wrote {}", directory.display());
        println!("report: {}", directory.join(dynasim::report::render::REPORT_FILE).display());
    }
    let violated = dynasim::violated_expectations(&scenario, &report.summary);
    // The process ends here: freeing the run's world (every store, every
    // history record) one allocation at a time would only cost time.
    std::mem::forget(report);
    if violated.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: invariant(s) violated and not tolerated: {}", violated.join(", "));
        eprintln!("repro: {}", scenario.repro(seed));
        ExitCode::from(1)
    }
}

/// Prints `message` as an error; exit code 2 (bad input or unwritable output).
fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn validate(path: &Path, strict: bool) -> ExitCode {
    let scenario = match load(path, &[]) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let warnings = dynasim::expect::static_warnings(&scenario);
    for warning in &warnings {
        eprintln!("warning: {}: {warning}", path.display());
    }
    if strict && !warnings.is_empty() {
        eprintln!("error: {}: {} warning(s) and --strict", path.display(), warnings.len());
        return ExitCode::from(2);
    }
    println!("{}: ok (scenario {:?})", path.display(), scenario.name);
    ExitCode::SUCCESS
}

fn default_jobs(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn check(suite: &Path, bless: bool, jobs: Option<usize>) -> ExitCode {
    let options = dynasim::suite::CheckOptions { bless, jobs: default_jobs(jobs) };
    match dynasim::suite::check(suite, &options) {
        Ok(report) => {
            print!("{}", report.text);
            ExitCode::from(report.exit_code)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn explore(path: &Path, runs: u64, seed: u64, jobs: Option<usize>, out: Option<PathBuf>) -> ExitCode {
    let name = match load(path, &[]) {
        Ok(scenario) => {
            dynasim::allocator::configure_for_scenarios([&scenario]);
            scenario.name
        }
        Err(code) => return code,
    };
    let out = out.unwrap_or_else(|| PathBuf::from("results").join(name).join("explore"));
    let options = dynasim::explore::ExploreOptions { runs, seed, jobs: default_jobs(jobs), out, progress: true };
    let report = match dynasim::explore::explore(path, &options) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    for finding in &report.findings {
        println!(
            "schedule seed {}: {} ({}); shrunk from {} to {} fault(s) in {} run(s): {}",
            finding.seed,
            finding.invariant,
            finding.detail,
            finding.faults.0,
            finding.faults.1,
            finding.shrink_runs,
            finding.path.display()
        );
        println!("repro: {}", finding.repro);
    }
    println!(
        "explore: {} schedule(s), {} violation(s) ({} drawn fault(s) refused by the scenario)",
        report.schedules,
        report.findings.len(),
        report.faults_refused
    );
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
