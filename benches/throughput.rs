//! Throughput of the simulator on a few representative scenarios.
//!
//! `cargo bench --bench throughput [FILTER]` runs every scenario whose name
//! contains FILTER (all by default) `REPETITIONS` times through the library
//! API and prints one plain-text line per scenario:
//!
//! ```text
//! throughput scenario=NAME events=E sim_ops=O wall_s_median=S events_per_s=X sim_ops_per_s=Y sim_s_per_wall_s=Z
//! ```
//!
//! `events` and `sim_ops` depend only on the scenario and seed; the other
//! figures are wall-clock measurements (the median of the repetitions) and
//! are never asserted on. Repetitions must agree on the trace digest: a
//! difference is a determinism bug, not noise.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it is a smoke
//! test: one repetition of the quickstart scenario unless FILTER says
//! otherwise.

use std::process::ExitCode;

/// Runs per scenario; the median wall time is reported.
const REPETITIONS: usize = 3;

/// A scenario to measure: its name and TOML text.
struct BenchScenario {
    name: &'static str,
    text: String,
}

/// The bundled quickstart (8 nodes, 2000 ops/s, 5 s).
fn quickstart() -> BenchScenario {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
    BenchScenario { name: "quickstart", text }
}

/// A large healthy cluster: 64 nodes at 20 000 ops/s for 5 s simulated.
fn cluster_64_nodes() -> BenchScenario {
    let text = r#"
name = "cluster-64-nodes"
seed = 11
duration_ms = 5000
quiesce_ms = 1000

[cluster]
nodes = 64
strategy = 3
partitions = 256

[quorum]
n = 3
r = 2
w = 2

[storage]
read_service = { exponential = { rate = 10.0 } }
write_service = { exponential = { rate = 5.0 } }

[workload]
clients = 64
rate_per_s = 20000
keys = 100000
read_fraction = 0.5
"#;
    BenchScenario { name: "cluster-64-nodes", text: text.to_string() }
}

/// An 8-node cluster where n0 is cut off from everyone for 3 s: exercises
/// timeouts, suspicion, sloppy quorum and hinted handoff.
fn partition_8_nodes() -> BenchScenario {
    let text = r#"
name = "partition-8-nodes"
seed = 13
duration_ms = 5000
quiesce_ms = 2000

[cluster]
nodes = 8

[quorum]
n = 3
r = 2
w = 2

[workload]
rate_per_s = 4000
keys = 1000
popularity = { zipf = 0.99 }
timeout_ms = 200

[routing]
avoid_after_timeout_ms = 10000

[[faults]]
at_ms = 1000
action = "partition"
groups = [["n0"], ["others"]]
duration_ms = 3000
"#;
    BenchScenario { name: "partition-8-nodes", text: text.to_string() }
}

/// What one scenario measured.
struct Measurement {
    events: u64,
    simulated_ops: u64,
    simulated_seconds: f64,
    wall_seconds_median: f64,
}

/// Runs `bench` `repetitions` times and takes the median wall time.
fn measure(bench: &BenchScenario, repetitions: usize) -> Measurement {
    let origin = format!("benches/throughput.rs:{}", bench.name);
    let scenario = dynasim::Scenario::parse(&bench.text, &origin, bench.name)
        .unwrap_or_else(|error| panic!("benchmark scenario {} is invalid: {error}", bench.name));
    let seed = scenario.spec.seed;
    let mut wall_seconds = Vec::with_capacity(repetitions);
    let mut first: Option<dynasim::RunSummary> = None;
    for _ in 0..repetitions {
        let summary = dynasim::run(&scenario, seed).summary;
        wall_seconds.push(summary.wall.seconds);
        if let Some(first) = &first {
            assert_eq!(first.digest, summary.digest, "{}: repetitions differ (nondeterminism)", bench.name);
        } else {
            first = Some(summary);
        }
    }
    let summary = first.expect("at least one repetition");
    Measurement {
        events: summary.engine.events,
        simulated_ops: summary.ops.total,
        simulated_seconds: summary.engine.simulated_time_us as f64 / 1e6,
        wall_seconds_median: median(&mut wall_seconds),
    }
}

fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn per_second(count: f64, wall_seconds: f64) -> f64 {
    if wall_seconds > 0.0 {
        count / wall_seconds
    } else {
        f64::INFINITY
    }
}

fn print_line(name: &str, measured: &Measurement) {
    let wall = measured.wall_seconds_median;
    println!(
        "throughput scenario={name} events={} sim_ops={} wall_s_median={wall:.4} events_per_s={:.0} \
         sim_ops_per_s={:.0} sim_s_per_wall_s={:.3}",
        measured.events,
        measured.simulated_ops,
        per_second(measured.events as f64, wall),
        per_second(measured.simulated_ops as f64, wall),
        per_second(measured.simulated_seconds, wall),
    );
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test` runs this binary without it.
    let bench_mode = arguments.iter().any(|argument| argument == "--bench");
    let filter = arguments.iter().find(|argument| !argument.starts_with('-')).map(String::as_str);
    let (repetitions, filter) = match (bench_mode, filter) {
        (true, filter) => (REPETITIONS, filter.unwrap_or("")),
        (false, Some(filter)) => (1, filter),
        (false, None) => (1, "quickstart"),
    };

    let scenarios = [quickstart(), cluster_64_nodes(), partition_8_nodes()];
    let selected: Vec<&BenchScenario> = scenarios.iter().filter(|bench| bench.name.contains(filter)).collect();
    if selected.is_empty() {
        let names: Vec<&str> = scenarios.iter().map(|bench| bench.name).collect();
        eprintln!("throughput: no scenario matches {filter:?}; scenarios: {}", names.join(", "));
        return ExitCode::from(2);
    }
    println!("throughput repetitions={repetitions} (wall figures are medians)");
    for bench in selected {
        print_line(bench.name, &measure(bench, repetitions));
    }
    ExitCode::SUCCESS
}
