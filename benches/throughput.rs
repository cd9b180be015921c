//! Whole-scenario benchmarks: CPU time, events, peak memory and bytes per
//! stored copy of representative scenarios, each next to the bare quorum
//! loop of the same shape (`common/bare.rs`).
//!
//! `cargo bench --bench throughput [-- FILTER]` runs every row whose name
//! contains FILTER (all but the 1,000-node row by default; that one runs
//! only when FILTER starts its name, e.g. `-- scale`). Each repetition of a row is
//! its own child process (this binary re-executed with `--child ROW`), so
//! its peak resident memory (VmHWM) is its own; one more child runs the
//! row with the same operations over 10× more keys (10× fewer when the row
//! has more keys than operations), and the difference in peak memory
//! divided by the difference in stored replica copies is the marginal cost
//! of a stored copy. (A near-empty key space would instead pile thousands
//! of writes on each key — another workload, with its own costs.) A child measures its CPU time (not wall time: the machine is
//! shared), then runs the bare loop over the same number of operations.
//! The parent prints one line per row:
//!
//! ```text
//! throughput row=NAME events=E sim_ops=O cpu_s=C events_per_cpu_s=X sim_ops_per_cpu_s=Y peak_rss_mib=M
//!   stored_copies=K bytes_per_copy=B bare_events_per_op=e bare_ops_per_cpu_s=y
//!   vs_bare: cpu_per_op=Px events_per_op=Qx cpu_per_event=Rx
//! ```
//!
//! `vs_bare` ratios are dynasim ÷ bare (CPU per operation, events per
//! operation, CPU per event): the figures issue 13's targets are stated in.
//! CPU figures are medians over the repetitions; every repetition must give
//! the same digest (dynasim's and the bare loop's): a difference is a
//! determinism bug, not noise.
//!
//! Environment: `DYNASIM_BENCH_OPS` sets the 1,000-node row's operation
//! count (default 10 M); `DYNASIM_BENCH_REPS` the repetitions (default 3,
//! 1 for the 1,000-node row).
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it is a smoke
//! test: one repetition of the quickstart row unless FILTER says otherwise;
//! the 1,000-node row never runs there by default.

#[path = "common/bare.rs"]
mod bare;
#[path = "common/process.rs"]
mod process;

/// The allocator `dynasim` itself uses, with the same settings (see
/// `src/main.rs`), so the rows measure what a user's run costs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};

/// Repetitions per row under `cargo bench` unless `DYNASIM_BENCH_REPS` says otherwise.
const REPETITIONS: usize = 3;
/// Operations of the 1,000-node row unless `DYNASIM_BENCH_OPS` says otherwise.
const SCALE_OPS: u64 = 10_000_000;
/// Arrival rate of the 1,000-node row; its duration follows from the op count.
const SCALE_RATE_PER_S: u64 = 100_000;
/// The baseline run for bytes per copy has this many times more (or fewer) keys.
const BASELINE_KEY_FACTOR: u64 = 10;

/// A row: a scenario to measure.
struct Row {
    name: &'static str,
    text: String,
    /// Runs only when the filter starts its name (too long for a default run).
    on_request: bool,
    /// Repetitions when `DYNASIM_BENCH_REPS` is unset.
    repetitions: usize,
    /// Set after parsing, past the parser's memory-estimate limit (8 GiB,
    /// which accepts the 1,000-node row up to ~22 M requests;
    /// `DYNASIM_BENCH_OPS` may ask for more): measuring what such a run
    /// really needs is the point.
    duration_ms: Option<f64>,
}

impl Row {
    fn new(name: &'static str, text: String) -> Row {
        Row { name, text, on_request: false, repetitions: REPETITIONS, duration_ms: None }
    }
}

/// The bundled quickstart (8 nodes, 2000 ops/s, 5 s, 50 % reads).
fn quickstart() -> Row {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
    Row::new("quickstart", text)
}

/// The shape issue 13 measured the 53× gap on: 8 nodes, N3 R2 W2, blind
/// writes only (64 B values), strict quorum, no faults — the closest
/// dynasim gets to the bare loop.
fn blind_8_nodes() -> Row {
    let text = r#"
name = "blind-8-nodes"
seed = 1
duration_ms = 20000
quiesce_ms = 1000

[cluster]
nodes = 8
strategy = 3
partitions = 64

[node]
sloppy_quorum = false

[quorum]
n = 3
r = 2
w = 2

[workload]
mode = "open"
clients = 16
rate_per_s = 5000
keys = 1000
read_fraction = 0.0
blind_write_fraction = 1.0
value_bytes = 64
timeout_ms = 1000
"#;
    Row::new("blind-8-nodes", text.to_string())
}

/// 64 nodes at 20 000 ops/s for 5 s over 100 k keys, with a crash (n5,
/// 2 s), a partition (n0–n3 cut off for 1.5 s) and anti-entropy every
/// 500 ms: timeouts, sloppy quorum, hinted handoff and Merkle exchanges.
fn cluster_64_nodes() -> Row {
    let text = r#"
name = "cluster-64-nodes"
seed = 11
duration_ms = 5000
quiesce_ms = 2000

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

[anti_entropy]
interval_ms = 500

[workload]
clients = 64
rate_per_s = 20000
keys = 100000
read_fraction = 0.5

[[faults]]
at_ms = 1000
action = "crash"
nodes = [5]
duration_ms = 2000

[[faults]]
at_ms = 2000
action = "partition"
groups = [["n0", "n1", "n2", "n3"], ["others"]]
duration_ms = 1500
"#;
    Row::new("cluster-64-nodes", text.to_string())
}

/// An 8-node cluster where n0 is cut off from everyone for 3 s: exercises
/// timeouts, suspicion, sloppy quorum and hinted handoff.
fn partition_8_nodes() -> Row {
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
    Row::new("partition-8-nodes", text.to_string())
}

/// 1,000 nodes, 1 M keys, `ops` client requests at 100 k ops/s (50 %
/// reads). The text says 1 s (100 k requests, which the parser accepts);
/// the duration for `ops` is set after parsing.
fn scale_1000_nodes(ops: u64) -> Row {
    let duration_ms = ops as f64 * 1000.0 / SCALE_RATE_PER_S as f64;
    let text = format!(
        r#"
name = "scale-1000-nodes"
seed = 17
duration_ms = 1000
quiesce_ms = 1000

[cluster]
nodes = 1000
strategy = 3
partitions = 4096

[quorum]
n = 3
r = 2
w = 2

[workload]
clients = 1000
rate_per_s = {SCALE_RATE_PER_S}
keys = 1000000
read_fraction = 0.5
"#
    );
    Row { name: "scale-1000-nodes", text, on_request: true, repetitions: 1, duration_ms: Some(duration_ms) }
}

/// A join in a 512-node cluster of strategy 1 with 64 tokens a node, at
/// 0.3 s of 1.5 s: every node rebuilds its ring view, hands over or
/// fetches ranges and rebuilds its Merkle trees. Until session 36 each
/// node kept a ring of its own afterwards (25 s and 2.7 GB; 1.4 s and
/// 0.18 GB since; about 1 s after ac543f1).
fn join_512_nodes() -> Row {
    let text = r#"
name = "join-512-nodes"
seed = 5
duration_ms = 1500
quiesce_ms = 500

[cluster]
nodes = 512
strategy = 1
tokens_per_node = 64

[workload]
clients = 64
rate_per_s = 2000
keys = 100000

[[faults]]
at_ms = 300
action = "join"
nodes = [512]
"#;
    Row::new("join-512-nodes", text.to_string())
}

/// A positive integer from environment variable `name`, or `default`.
fn env_count(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().replace('_', "").parse::<u64>() {
            Ok(value) if value > 0 => Ok(value),
            _ => Err(format!("environment variable {name}: expected a positive integer, got {text:?}")),
        },
    }
}

fn rows() -> Result<Vec<Row>, String> {
    let scale_ops = env_count("DYNASIM_BENCH_OPS", SCALE_OPS)?;
    Ok(vec![
        quickstart(),
        blind_8_nodes(),
        cluster_64_nodes(),
        partition_8_nodes(),
        join_512_nodes(),
        scale_1000_nodes(scale_ops),
    ])
}

/// What one child process measured (the `key=value` line it prints).
struct ChildReport {
    fields: BTreeMap<String, String>,
}

impl ChildReport {
    fn parse(line: &str) -> ChildReport {
        let fields = line
            .split_whitespace()
            .filter_map(|field| field.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        ChildReport { fields }
    }

    fn text(&self, key: &str) -> Result<&str, String> {
        self.fields.get(key).map(String::as_str).ok_or_else(|| format!("child report has no {key}"))
    }

    fn number(&self, key: &str) -> Result<f64, String> {
        let text = self.text(key)?;
        text.parse().map_err(|_| format!("child report: {key}={text} is not a number"))
    }
}

/// The key count of a row's baseline run: 10× the keys when the operations
/// would write each of them at least once on average, else 10× fewer.
/// Bytes per copy divide the two runs' difference in peak memory by their
/// difference in copies, and a baseline run's peak moves by some 10 MB
/// from run to run: with 10× more keys than one operation each, the runs
/// of the 1,000-node row at 1 M requests differed by only 280 k copies
/// (±40 bytes a copy), with 10× fewer by ~880 k.
fn baseline_keys(spec: &dynasim::scenario::ScenarioSpec) -> u64 {
    let keys = spec.workload.keys;
    let operations = spec.workload.rate_per_s * spec.duration_ms / 1000.0;
    if (keys * BASELINE_KEY_FACTOR) as f64 <= operations {
        keys * BASELINE_KEY_FACTOR
    } else {
        (keys / BASELINE_KEY_FACTOR).max(1)
    }
}

/// Child mode: runs row `name` once (with [`baseline_keys`] when
/// `baseline`), prints its figures on one line and exits without freeing
/// the world.
fn child(name: &str, baseline: bool) -> Result<(), String> {
    let rows = rows()?;
    let row = rows.iter().find(|row| row.name == name).ok_or_else(|| format!("no row named {name:?}"))?;
    let origin = format!("benches/throughput.rs:{}", row.name);
    let mut scenario =
        dynasim::Scenario::parse(&row.text, &origin, row.name).map_err(|error| format!("refused: {error}"))?;
    if let Some(duration_ms) = row.duration_ms {
        scenario.spec.duration_ms = duration_ms;
    }
    // Pages as `dynasim run` chooses them for the row, the baseline too.
    dynasim::allocator::configure_for_scenarios([&scenario]);
    if baseline {
        scenario.spec.workload.keys = baseline_keys(&scenario.spec);
    }
    let seed = scenario.spec.seed;
    let cpu_start = process::cpu_seconds()?;
    let report = dynasim::run(&scenario, seed);
    let cpu_s = process::cpu_seconds()? - cpu_start;
    let peak_rss = process::peak_rss_bytes()?;
    let copies: usize = report.outcome.nodes.iter().map(|node| node.store().version_count()).sum();
    let summary = &report.summary;
    let mut line = format!(
        "child events={} ops={} cpu_s={cpu_s:.6} peak_rss={peak_rss} copies={copies} digest={}",
        summary.engine.events, summary.ops.total, summary.digest
    );
    if !baseline {
        let cpu_start = process::cpu_seconds()?;
        let bare = bare::run(&bare::Shape::of(&scenario.spec), summary.ops.total);
        let bare_cpu_s = process::cpu_seconds()? - cpu_start;
        line += &format!(
            " bare_events={} bare_ops={} bare_cpu_s={bare_cpu_s:.6} bare_digest={:016x}",
            bare.events, bare.ops, bare.digest
        );
    }
    println!("{line}");
    Ok(())
}

/// Runs this binary as a child for `row` and reads its report line.
fn spawn_child(row: &Row, baseline: bool) -> Result<ChildReport, String> {
    let exe = std::env::current_exe().map_err(|error| format!("cannot find this benchmark's binary: {error}"))?;
    let mut command = Command::new(exe);
    command.args(["--child", row.name]);
    if baseline {
        command.arg("--baseline");
    }
    let output = command.output().map_err(|error| format!("{}: cannot start a child: {error}", row.name))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{}: {}", row.name, stderr.trim()));
    }
    let line = stdout
        .lines()
        .find(|line| line.starts_with("child "))
        .ok_or_else(|| format!("{}: the child printed no report", row.name))?;
    Ok(ChildReport::parse(line))
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

/// `numerator / denominator`, or infinity when the denominator is zero
/// (a run too short for the clock's resolution).
fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator != 0.0 {
        numerator / denominator
    } else {
        f64::INFINITY
    }
}

/// Measures `row` over `repetitions` children plus one baseline child and
/// prints its line.
fn measure(row: &Row, repetitions: usize) -> Result<(), String> {
    let runs = (0..repetitions).map(|_| spawn_child(row, false)).collect::<Result<Vec<_>, _>>()?;
    let first = &runs[0];
    for run in &runs[1..] {
        for key in ["digest", "bare_digest", "events", "copies"] {
            if run.text(key)? != first.text(key)? {
                return Err(format!(
                    "{}: repetitions differ in {key} ({} vs {}): nondeterminism",
                    row.name,
                    first.text(key)?,
                    run.text(key)?
                ));
            }
        }
    }
    let medians = |key: &str| -> Result<f64, String> {
        let mut values = runs.iter().map(|run| run.number(key)).collect::<Result<Vec<_>, _>>()?;
        Ok(median(&mut values))
    };
    let (events, ops, copies) = (first.number("events")?, first.number("ops")?, first.number("copies")?);
    let (cpu_s, peak_rss, bare_cpu_s) = (medians("cpu_s")?, medians("peak_rss")?, medians("bare_cpu_s")?);
    let (bare_events, bare_ops) = (first.number("bare_events")?, first.number("bare_ops")?);
    let baseline = spawn_child(row, true)?;
    let bytes_per_copy = ratio(peak_rss - baseline.number("peak_rss")?, copies - baseline.number("copies")?).max(0.0);
    let cpu_per_op = ratio(cpu_s, ops);
    let bare_cpu_per_op = ratio(bare_cpu_s, bare_ops);
    let events_per_op = ratio(events, ops);
    let bare_events_per_op = ratio(bare_events, bare_ops);
    println!(
        "throughput row={} events={events} sim_ops={ops} cpu_s={cpu_s:.3} events_per_cpu_s={:.0} \
         sim_ops_per_cpu_s={:.0} peak_rss_mib={:.1} stored_copies={copies} bytes_per_copy={bytes_per_copy:.0} \
         events_per_op={events_per_op:.2} bare_events_per_op={bare_events_per_op:.2} bare_cpu_s={bare_cpu_s:.3} \
         bare_ops_per_cpu_s={:.0} vs_bare: cpu_per_op={:.1}x events_per_op={:.2}x cpu_per_event={:.1}x",
        row.name,
        ratio(events, cpu_s),
        ratio(ops, cpu_s),
        peak_rss / (1024.0 * 1024.0),
        ratio(bare_ops, bare_cpu_s),
        ratio(cpu_per_op, bare_cpu_per_op),
        ratio(events_per_op, bare_events_per_op),
        ratio(ratio(cpu_s, events), ratio(bare_cpu_s, bare_events)),
    );
    Ok(())
}

fn main() -> ExitCode {
    dynasim::allocator::configure_for_runs();
    dynasim::check::pieces::use_calling_thread(); // as `dynasim run` does
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("throughput: {error}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let Some(position) = arguments.iter().position(|argument| argument == "--child") {
        let name = arguments.get(position + 1).ok_or("--child needs a row name")?;
        return child(name, arguments.iter().any(|argument| argument == "--baseline"));
    }
    // `cargo bench` passes `--bench`; `cargo test` runs this binary without it.
    let bench_mode = arguments.iter().any(|argument| argument == "--bench");
    let filter = arguments.iter().find(|argument| !argument.starts_with('-')).map(String::as_str);
    let filter = match (bench_mode, filter) {
        (_, Some(filter)) => filter,
        (true, None) => "",
        (false, None) => "quickstart",
    };
    let rows = rows()?;
    // A row run on request only runs when the filter is the start of its name.
    let selected: Vec<&Row> = rows
        .iter()
        .filter(|row| {
            if row.on_request {
                !filter.is_empty() && row.name.starts_with(filter)
            } else {
                row.name.contains(filter)
            }
        })
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = rows.iter().map(|row| row.name).collect();
        return Err(format!("no row matches {filter:?}; rows: {}", names.join(", ")));
    }
    let repetitions_override = match std::env::var_os("DYNASIM_BENCH_REPS") {
        Some(_) => Some(env_count("DYNASIM_BENCH_REPS", 1)? as usize),
        None => None,
    };
    println!("throughput: CPU figures are medians; vs_bare ratios are dynasim ÷ bare quorum loop of the same shape");
    for row in selected {
        let repetitions = match (bench_mode, repetitions_override) {
            (false, _) => 1,
            (true, Some(repetitions)) => repetitions,
            (true, None) => row.repetitions,
        };
        measure(row, repetitions)?;
    }
    Ok(())
}
