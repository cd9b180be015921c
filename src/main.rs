//! The `dynasim` command line: parses arguments and dispatches to the library.
//!
//! Exit codes: 0 success; 1 an expected invariant was violated; 2 bad input
//! (unreadable or invalid scenario, bad arguments) or an output that could
//! not be written.

use clap::{Parser, Subcommand};
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
        /// Master seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// The run directory to write (default: results/<scenario>/seed-<N>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check a scenario file and report the first problem.
    Validate {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// Static analysis of partitioning strategies 1-3 (Dynamo §6.2, Figure 8).
    Ring(dynasim::ring::RingArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario, seed, out, quiet } => run(&scenario, seed, out, quiet),
        Command::Validate { scenario } => validate(&scenario),
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

fn load(path: &Path) -> Result<Scenario, ExitCode> {
    Scenario::load(path).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

fn run(path: &Path, seed: Option<u64>, out: Option<PathBuf>, quiet: bool) -> ExitCode {
    let scenario = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.spec.seed);
    let directory = out.unwrap_or_else(|| PathBuf::from("results").join(&scenario.name).join(format!("seed-{seed}")));
    let report = dynasim::run(&scenario, seed);
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
        eprintln!("repro: dynasim run {} --seed {seed}", path.display());
        ExitCode::from(1)
    }
}

fn validate(path: &Path) -> ExitCode {
    match load(path) {
        Ok(scenario) => {
            println!("{}: ok (scenario {:?})", path.display(), scenario.name);
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
