//! The `dynasim` command line: parses arguments and dispatches to the library.
//!
//! Exit codes: 0 success; 1 an expected invariant was violated; 2 bad input
//! (unreadable or invalid scenario, bad arguments, warnings under
//! `validate --strict`) or an output that could not be written.

use clap::{Parser, Subcommand};
use dynasim::scenario::overrides::Override;
use dynasim::Scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario, seed, out, set, quiet } => run(&scenario, &set, seed, out, quiet),
        Command::Validate { scenario, strict } => validate(&scenario, strict),
        Command::Check { suite, bless, jobs } => check(&suite, bless, jobs),
        Command::Explore { scenario, runs, seed, jobs, out } => explore(&scenario, runs, seed, jobs, out),
        Command::Ring(args) => match dynasim::ring::ring_command(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        },
    }
}

fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ExitCode> {
    Scenario::load_with(path, overrides).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

fn run(path: &Path, overrides: &[Override], seed: Option<u64>, out: Option<PathBuf>, quiet: bool) -> ExitCode {
    let scenario = match load(path, overrides) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.spec.seed);
    let directory = out.unwrap_or_else(|| PathBuf::from("results").join(&scenario.name).join(format!("seed-{seed}")));
    let report = dynasim::expect::run(&scenario, seed);
    for warning in &report.summary.warnings {
        eprintln!("warning: {}: {warning}", path.display());
    }
    if let Err(error) = dynasim::report::write_summary(&directory, &report.summary) {
        eprintln!("error: cannot write {}: {error}", directory.join("summary.json").display());
        return ExitCode::from(2);
    }
    if !quiet {
        print!("{}", dynasim::report::render_text(&report.summary));
        println!("wrote {}", directory.join("summary.json").display());
    }
    let violated = dynasim::violated_expectations(&scenario, &report.summary);
    if violated.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: expected invariant(s) violated: {}", violated.join(", "));
        eprintln!("repro: {}", scenario.repro(seed));
        ExitCode::from(1)
    }
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
        Ok(scenario) => scenario.name,
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
