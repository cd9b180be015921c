//! `dynasim sweep`, `merge` and `compare`: determinism whatever the
//! parallelism or sharding, skipped combinations, bad input, and what the
//! bundled N/R/W comparison teaches.

mod common;

use dynasim::sweep::aggregate::{by_configuration, Estimate};
use dynasim::sweep::grid::Axis;
use dynasim::sweep::shard::merge;
use dynasim::sweep::{sweep, SweepArgs};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A short scenario (a fraction of a second of simulated load).
const SHORT: &str = "name = \"short\"\nduration_ms = 300\nquiesce_ms = 200\nexpect = [\"no-lost-writes\"]\n\
                     [workload]\nrate_per_s = 500\nkeys = 50\n";

fn scratch(name: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sweep-{name}"));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("temp dir");
    directory
}

fn scenario_file(directory: &Path, text: &str) -> PathBuf {
    let path = directory.join("short.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn args(scenario: &Path, axes: &[&str], seeds: &str, out: &Path) -> SweepArgs {
    SweepArgs {
        scenario: scenario.to_path_buf(),
        set: axes.iter().map(|a| Axis::parse(a).expect("axis")).collect(),
        seeds: Some(seeds.to_string()),
        jobs: Some(1),
        out: Some(out.to_path_buf()),
        shard: None,
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files every finished sweep writes (the per-run directories hold
/// wall-clock time, so they are not compared).
const OUTPUTS: [&str; 7] = [
    "sweep.csv",
    "aggregate.csv",
    "shard-0-of-1.json",
    "latency.svg",
    "availability.svg",
    "stale-reads.svg",
    "tradeoff.svg",
];

fn dynasim(arguments: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dynasim")).args(arguments).env("CI", "1").output().expect("runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

#[test]
fn jobs_1_and_jobs_2_write_the_same_bytes_and_shards_merge_into_them() {
    let root = scratch("jobs");
    let scenario = scenario_file(&root, SHORT);
    let axes = ["quorum.r=1,2", "quorum.w=1..2"];
    let one = root.join("one");
    let outcome = sweep(&args(&scenario, &axes, "1..3", &one), false).expect("sweep");
    assert_eq!(outcome.violated, 0, "{}", outcome.text);
    let mut two_jobs = args(&scenario, &axes, "1..3", &root.join("two"));
    two_jobs.jobs = Some(2);
    sweep(&two_jobs, false).expect("sweep with two jobs");
    for output in OUTPUTS {
        assert!(read(&one.join(output)) == read(&root.join("two").join(output)), "{output} differs with --jobs 2");
    }
    let lines = String::from_utf8(read(&one.join("sweep.csv"))).expect("utf8");
    assert_eq!(lines.lines().count(), 1 + 4 * 3, "a header and one row per run");
    assert!(lines.lines().nth(1).expect("row").starts_with("quorum.r=1 quorum.w=1,1,1,1,ok,"), "{lines}");
    assert!(one.join("quorum.r=2_quorum.w=1/seed-3/summary.json").is_file());

    // Three shards (5 runs of 12 to the first), then a merge.
    let shards: Vec<PathBuf> = (0..3).map(|i| root.join(format!("shard{i}"))).collect();
    for (index, directory) in shards.iter().enumerate() {
        let mut part = args(&scenario, &axes, "1..3", directory);
        part.shard = Some(format!("{index}/3"));
        let outcome = sweep(&part, false).expect("shard");
        assert!(outcome.text.contains(&format!("shard {index}/3: 4 of 12 runs")), "{}", outcome.text);
        assert!(!directory.join("sweep.csv").exists(), "a shard writes only its rows");
    }
    let merged = root.join("merged");
    let missing = merge(&shards[..2], &merged).expect_err("a shard is missing");
    assert!(missing.0.contains("missing shard(s) 2 of 3"), "{missing}");
    merge(&shards, &merged).expect("merge");
    for output in OUTPUTS {
        assert!(read(&one.join(output)) == read(&merged.join(output)), "{output}: merged differs from unsharded");
    }
    let twice = [shards[0].clone(), shards[0].clone(), shards[1].clone(), shards[2].clone()];
    assert!(merge(&twice, &merged).expect_err("duplicate").0.contains("given twice"));
}

/// `deterministic` costs a second run: a sweep pays it once per
/// configuration, on its first seed, and says so in every other run's
/// summary.json; a violation there would still fail the sweep.
#[test]
fn a_sweep_judges_determinism_on_the_first_seed_of_each_configuration() {
    let root = scratch("deterministic");
    let text = SHORT.replace("expect = [\"no-lost-writes\"]", "expect = [\"no-lost-writes\", \"deterministic\"]");
    let scenario = scenario_file(&root, &text);
    let out = root.join("out");
    let outcome = sweep(&args(&scenario, &["quorum.r=1,2"], "4..6", &out), false).expect("sweep");
    assert_eq!(outcome.violated, 0, "{}", outcome.text);
    for configuration in ["quorum.r=1", "quorum.r=2"] {
        let verdict = |seed: u64| {
            let path = out.join(configuration).join(format!("seed-{seed}/summary.json"));
            let summary: serde_json::Value = serde_json::from_slice(&read(&path)).expect("JSON");
            assert!(summary["warnings"].as_array().expect("warnings").is_empty(), "{path:?}");
            summary["invariants"]["deterministic"].as_str().expect("a verdict").to_string()
        };
        assert_eq!(verdict(4), "held", "{configuration}");
        for seed in [5, 6] {
            assert_eq!(
                verdict(seed),
                "not-checked: judged by the run of seed 4 of this configuration",
                "{configuration} seed {seed}"
            );
        }
    }
}

#[test]
fn the_confidence_interval_of_hand_made_values() {
    // 1, 2, 3, 4, 5: mean 3, s = √2.5, half-width t(0.975, 4) · s / √5 = 2.776 · 0.7071.
    let estimate = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(estimate.mean, 3.0);
    assert!((estimate.ci95 - 2.776 * (2.5f64 / 5.0).sqrt()).abs() < 1e-12, "{estimate:?}");
    // Twenty values 0..19: s² = 35, t(0.975, 19) = 2.093.
    let values: Vec<f64> = (0..20).map(f64::from).collect();
    let twenty = Estimate::of(&values);
    assert_eq!(twenty.mean, 9.5);
    assert!((twenty.ci95 - 2.093 * (35.0f64 / 20.0).sqrt()).abs() < 1e-12, "{twenty:?}");
    for (degrees, t) in [(1, 12.706), (4, 2.776), (19, 2.093), (100, 1.984)] {
        assert!((dynasim::ring::stats::t_975(degrees) - t).abs() < 5e-4, "t(0.975, {degrees})");
    }
}

#[test]
fn invalid_combinations_are_skipped_and_counted() {
    let root = scratch("invalid");
    let scenario = scenario_file(&root, SHORT);
    let out = root.join("out");
    let outcome = sweep(&args(&scenario, &["quorum.r=2..4", "quorum.w=3,4"], "1", &out), false).expect("sweep");
    // N = 3: only r=2 w=3 and r=3 w=3 are allowed.
    assert!(outcome.text.contains("skipped 4 configuration(s): quorum.r=2 quorum.w=4 ("), "{}", outcome.text);
    assert!(outcome.text.contains("W must be between 1 and N = 3, got 4"), "{}", outcome.text);
    assert!(outcome.text.contains("2 runs (0 violated)"), "{}", outcome.text);
    let csv = String::from_utf8(read(&out.join("sweep.csv"))).expect("utf8");
    assert_eq!(csv.lines().filter(|l| l.contains(",\"invalid: --set quorum.")).count(), 4, "{csv}");
    let aggregate = String::from_utf8(read(&out.join("aggregate.csv"))).expect("utf8");
    assert_eq!(aggregate.lines().count(), 1 + 6);
}

#[test]
fn a_bad_set_is_refused_like_a_bad_file_and_names_the_set() {
    let root = scratch("bad");
    let scenario = scenario_file(&root, SHORT);
    let path = scenario.to_str().expect("utf8");
    let (code, _, sweep_error) = dynasim(&["sweep", path, "--set", "quorum.rr=1,2", "--out", "/nonexistent/x"]);
    let (run_code, _, run_error) = dynasim(&["run", path, "--set", "quorum.rr=1"]);
    assert_eq!((code, run_code), (2, 2), "{sweep_error}");
    assert!(sweep_error.contains(&format!("{path}: --set quorum.rr=1: unknown field `rr`")), "{sweep_error}");
    assert_eq!(sweep_error, run_error, "the sweep names the --set as `run` does");
    let (code, _, error) = dynasim(&["sweep", path, "--set", "quorum.r=1,[2]"]);
    assert_eq!(code, 2);
    assert!(error.contains("--set quorum.r=[2]: invalid type: sequence, expected u32"), "{error}");
    let (code, _, error) = dynasim(&["sweep", path, "--set", "quorum.r=1,,2"]);
    assert_eq!(code, 2);
    assert!(error.contains("--set quorum.r=1,,2: empty value"), "{error}");
    let broken = scenario_file(&root, "[sweep]\nset = [\"quorum.r=3..1\"]\n");
    let (code, _, error) = dynasim(&["sweep", broken.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(error.contains("[sweep] set: --set quorum.r=3..1: empty range"), "{error}");
}

#[test]
fn compare_puts_sweeps_and_runs_side_by_side() {
    let root = scratch("compare");
    let scenario = scenario_file(&root, SHORT);
    let out = root.join("out");
    let path = |p: &Path| p.to_str().expect("utf8").to_string();
    let (code, stdout, stderr) =
        dynasim(&["sweep", &path(&scenario), "--set", "quorum.r=1,2", "--seeds", "1..2", "--out", &path(&out)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("quorum.r=1") && stdout.contains("read p50 µs"), "{stdout}");
    let run = out.join("quorum.r=2/seed-1");
    let (code, stdout, stderr) = dynasim(&["compare", &path(&out), &path(&run), "--figure", "latency_us.read.p50"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("A = ") && stdout.contains("C = ") && stdout.contains("CIs overlap"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("latency_us.read.p50")), "{stdout}");
    let (code, _, stderr) = dynasim(&["compare", &path(&out), "--figure", "no.such.figure"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--figure no.such.figure: no input has it"), "{stderr}");
    let (code, _, stderr) = dynasim(&["compare", &path(&out.join("quorum.r=1")), &path(&run)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("neither a run directory"), "{stderr}");
}

#[test]
fn nrw_compare_orders_the_configurations_as_the_readme_says() {
    let root = scratch("nrw");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/nrw-compare.toml");
    let mut arguments = args(&scenario, &[], "1..3", &root);
    arguments.jobs = None;
    let outcome = sweep(&arguments, false).expect("sweep");
    assert_eq!(outcome.violated, 0, "{}", outcome.text);
    let file: dynasim::sweep::shard::ShardFile =
        serde_json::from_slice(&read(&root.join("shard-0-of-1.json"))).expect("rows");
    let aggregates = by_configuration(&file);
    let find = |r: u32, w: u32| {
        let label = format!("quorum={{n=3,r={r},w={w}}}");
        aggregates.iter().find(|a| a.label == label).unwrap_or_else(|| panic!("{label} in {}", outcome.text))
    };
    let mean = |r: u32, w: u32, figure: &str| find(r, w).estimate(figure).expect(figure).mean;
    let read_p50 = |r, w| mean(r, w, "latency_us.read.p50");
    let write_p50 = |r, w| mean(r, w, "latency_us.write.p50");
    let stale = |r, w| mean(r, w, "derived.stale_read_rate");
    let available = |r, w| mean(r, w, "ops.availability.all");
    assert!(read_p50(1, 3) < read_p50(2, 2) && read_p50(1, 1) < read_p50(2, 2), "{}", outcome.text);
    assert!(read_p50(2, 2) < read_p50(3, 1), "{}", outcome.text);
    assert!(write_p50(3, 1) < write_p50(2, 2) && write_p50(1, 1) < write_p50(2, 2), "{}", outcome.text);
    assert!(write_p50(2, 2) < write_p50(1, 3), "{}", outcome.text);
    for (r, w) in [(2, 2), (1, 3), (3, 1)] {
        assert_eq!(stale(r, w), 0.0, "R + W > N in strict mode: no stale reads ({r}, {w})");
    }
    assert!(stale(1, 1) > 0.0, "R = W = 1 reads stale values: {}", outcome.text);
    for (r, w) in [(2, 2), (1, 3), (3, 1)] {
        assert!(available(1, 1) > available(r, w), "R = W = 1 is the most available: {}", outcome.text);
    }
}
