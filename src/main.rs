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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario, seed, out, set, quiet } => run(&scenario, &set, seed, out, quiet),
        Command::Validate { scenario, strict } => validate(&scenario, strict),
        Command::Sweep(args) => finish(dynasim::sweep::sweep(&args, dynasim::sweep::progress_wanted())),
        Command::Merge { directories, out } => finish(dynasim::sweep::shard::merge(&directories, &out)),
        Command::Compare(args) => match dynasim::sweep::compare::compare(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        },
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
