//! The command line: exit codes and messages on good and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dynasim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dynasim")).args(args).output().expect("binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn scratch(name: &str, contents: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&directory).expect("temp dir");
    let path = directory.join(name);
    std::fs::write(&path, contents).expect("write scenario");
    path
}

#[test]
fn run_writes_a_summary_with_the_figures_users_need() {
    let out = scratch_out("run");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let (code, stdout, stderr) = dynasim(&["run", scenario, "--seed", "7", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("digest"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    for key in ["digest", "latency_us", "consistency", "engine", "ops", "network"] {
        assert!(json.get(key).is_some(), "summary.json lacks {key}");
    }
    assert!(json.get("wall").is_none(), "wall-clock figures go to wall.json");
    let wall: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("wall.json")).expect("wall")).expect("json");
    assert!(json["latency_us"]["read"]["p999"].as_u64().expect("p99.9") > 0);
    assert!(json["consistency"]["siblings_per_read"].is_object());
    assert!(wall["events_per_s"].as_f64().expect("events/s") > 0.0);
    // The directory may already exist: a second run overwrites it.
    let (again, _, _) = dynasim(&["run", scenario, "--seed", "7", "--out", out.to_str().expect("utf8"), "--quiet"]);
    assert_eq!(again, 0);
}

#[test]
fn an_unknown_field_is_rejected_with_its_name_and_line() {
    let path = scratch("unknown.toml", "[quorum]\nn = 3\nreplicas = 2\n");
    let (code, _, stderr) = dynasim(&["validate", path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown.toml:3:1"), "{stderr}");
    assert!(stderr.contains("unknown field `replicas`"), "{stderr}");
}

#[test]
fn a_wrong_type_is_rejected_with_its_line() {
    let path = scratch("type.toml", "[cluster]\nnodes = \"eight\"\n");
    let (code, _, stderr) = dynasim(&["run", path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("type.toml:2:9"), "{stderr}");
    assert!(stderr.contains("invalid type: string \"eight\", expected u32"), "{stderr}");
}

#[test]
fn r_greater_than_n_is_rejected_with_the_rule() {
    let path = scratch("quorum.toml", "[quorum]\nn = 3\nr = 4\nw = 2\n");
    let (code, _, stderr) = dynasim(&["validate", path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("quorum.toml:3: field `quorum.r`: R must be between 1 and N = 3, got 4"), "{stderr}");
}

#[test]
fn a_missing_file_is_reported_not_panicked() {
    let (code, _, stderr) = dynasim(&["run", "/nonexistent/scenario.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/scenario.toml: cannot read scenario"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_valid_scenario_validates() {
    let (code, stdout, _) = dynasim(&["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml")]);
    assert_eq!(code, 0);
    assert!(stdout.contains("ok"));
}

#[test]
fn the_readme_scenario_is_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let block = readme.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a toml block");
    let scenario = dynasim::Scenario::parse(block, "README.md", "mini");
    assert!(scenario.is_ok(), "{}", scenario.err().map(|e| e.to_string()).unwrap_or_default());
}

/// An output directory for `name`, emptied: under Cargo's scratch
/// directory for tests (`target/tmp`), so runs replace each other's files.
fn scratch_out(name: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-out-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    out
}

fn summary_of(directory: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(directory.join("summary.json")).expect("summary")).expect("json")
}

#[test]
fn an_inapplicable_expectation_warns_and_fails_validate_strict() {
    let text = "duration_ms = 300\nquiesce_ms = 100\nexpect = [\"no-stale-reads\"]\n[node]\nsloppy_quorum = true\n";
    let path = scratch("inapplicable.toml", text);
    let path = path.to_str().expect("utf8");
    let (code, _, stderr) = dynasim(&["validate", path]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning:") && stderr.contains("`no-stale-reads`"), "{stderr}");
    assert!(stderr.contains("sloppy quorum is on"), "{stderr}");
    let (code, _, stderr) = dynasim(&["validate", "--strict", path]);
    assert_eq!(code, 2, "{stderr}");
    let out = scratch_out("inapplicable");
    let (code, _, stderr) = dynasim(&["run", path, "--quiet", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning:") && stderr.contains("`no-stale-reads`"), "{stderr}");
    let warnings = summary_of(&out)["warnings"].as_array().expect("a warnings array").clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].as_str().expect("text").contains("not-applicable: sloppy quorum is on"));
}

/// Anti-entropy off and 20% loss with strict quorums: replicas never agree,
/// so `converges` is violated although the scenario does not expect it.
const DIVERGES: &str = "duration_ms = 300\nquiesce_ms = 100\n[node]\nsloppy_quorum = false\n[network]\nloss = 0.2\n\
                        [anti_entropy]\nenabled = false\n";

#[test]
fn a_violated_invariant_fails_the_run_even_when_not_expected() {
    let path = scratch("diverges.toml", DIVERGES);
    let out = scratch_out("diverges");
    let (code, _, stderr) =
        dynasim(&["run", path.to_str().expect("utf8"), "--quiet", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("violated and not tolerated: converges"), "{stderr}");
    assert!(stderr.contains("repro: dynasim run"), "{stderr}");
    assert!(summary_of(&out)["invariants"]["converges"].as_str().expect("verdict").starts_with("violated"));
}

#[test]
fn a_tolerated_violation_passes_and_an_unknown_tolerated_name_is_refused() {
    let tolerant = format!("# anti-entropy is off, so replicas never converge\ntolerate = [\"converges\"]\n{DIVERGES}");
    let path = scratch("tolerated.toml", &tolerant);
    let out = scratch_out("tolerated");
    let (code, _, stderr) =
        dynasim(&["run", path.to_str().expect("utf8"), "--quiet", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(summary_of(&out)["invariants"]["converges"].as_str().expect("verdict").starts_with("violated"));
    let path = scratch("unknown-tolerated.toml", &format!("tolerate = [\"convergence\"]\n{DIVERGES}"));
    let (code, _, stderr) = dynasim(&["validate", path.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("field `tolerate`: unknown invariant \"convergence\""), "{stderr}");
}

#[test]
fn validate_names_applicable_invariants_that_are_neither_expected_nor_tolerated() {
    let path = scratch("forgetful.toml", "expect = [\"no-lost-writes\"]\ntolerate = [\"converges\"]\n");
    let (code, _, stderr) = dynasim(&["validate", path.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    for name in ["deterministic", "causal-siblings"] {
        assert!(stderr.contains(&format!("`{name}` applies to this scenario")), "{name}: {stderr}");
    }
    assert!(!stderr.contains("`converges` applies") && !stderr.contains("`no-stale-reads` applies"), "{stderr}");
    let (code, _, stderr) = dynasim(&["validate", "--strict", path.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn the_readme_scenario_expects_only_what_it_can_judge() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let block = readme.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a toml block");
    let path = scratch("readme.toml", block);
    let (code, _, stderr) = dynasim(&["validate", "--strict", path.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn expecting_determinism_runs_twice_and_reports_the_verdict() {
    let path = scratch("twice.toml", "duration_ms = 300\nquiesce_ms = 100\nexpect = [\"deterministic\"]\n");
    let out = scratch_out("twice");
    let (code, _, stderr) =
        dynasim(&["run", path.to_str().expect("utf8"), "--quiet", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    let summary = summary_of(&out);
    assert_eq!(summary["invariants"]["deterministic"], "held");
    assert_eq!(summary["warnings"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_ring_configuration_given_to_run_or_validate_names_the_ring_command() {
    let ring = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ring/figure8.toml");
    for command in ["run", "validate"] {
        let (code, _, stderr) = dynasim(&[command, ring]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("is a configuration for `dynasim ring`, not a scenario"), "{stderr}");
        assert!(stderr.contains("use `dynasim ring --config "), "{stderr}");
    }
}

#[test]
fn a_name_that_would_escape_the_results_directory_is_refused_before_writing() {
    let root = scratch_out("escape");
    std::fs::create_dir_all(&root).expect("scratch root");
    let target = root.join("escaped");
    for name in [target.to_str().expect("utf8").to_string(), "a/../../escaped".to_string(), "..".to_string()] {
        let path = scratch("escape.toml", &format!("name = {name:?}\nduration_ms = 100\nquiesce_ms = 0\n"));
        let output = Command::new(env!("CARGO_BIN_EXE_dynasim"))
            .args(["run", path.to_str().expect("utf8"), "--quiet"])
            .current_dir(&root)
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("escape.toml:1: field `name`") && stderr.contains("plain directory name"), "{stderr}");
    }
    let written: Vec<_> = std::fs::read_dir(&root).expect("root").collect();
    assert!(written.is_empty(), "nothing may be written: {written:?}");
}

#[test]
fn seeds_beyond_i64_are_accepted_in_the_file_and_on_the_command_line() {
    let path = scratch("big-seed.toml", "seed = \"18446744073709551615\"\nduration_ms = 100\nquiesce_ms = 0\n");
    let path = path.to_str().expect("utf8");
    let out = scratch_out("big-seed");
    let (code, _, stderr) = dynasim(&["run", path, "--quiet", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary_of(&out)["seed"].as_u64(), Some(u64::MAX));
    let (code, _, stderr) =
        dynasim(&["run", path, "--seed", "0x8000000000000000", "--quiet", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary_of(&out)["seed"].as_u64(), Some(1 << 63));
    let (code, _, stderr) = dynasim(&["run", path, "--seed", "18446744073709551616"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("0x hexadecimal"), "{stderr}");
}

#[test]
fn a_partition_with_a_node_on_both_sides_is_refused_with_its_line() {
    let text = "[[faults]]\nat_ms = 10\naction = \"partition\"\ngroups = [[\"n0\", \"n1\"], [\"n1\"]]\n";
    let path = scratch("overlap.toml", text);
    let (code, _, stderr) = dynasim(&["validate", path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("overlap.toml:4: field `faults[0].groups`: endpoint n1 is in group 0"), "{stderr}");
    let text = "[[faults]]\nat_ms = 10\naction = \"partition\"\nfrom = [\"n2\"]\nto = [\"n2\"]\n";
    let path = scratch("self.toml", text);
    let (code, _, stderr) = dynasim(&["validate", path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("self.toml:5: field `faults[0].to`"), "{stderr}");
}

#[test]
fn a_run_leaves_only_finished_files_where_readers_look() {
    let out = scratch_out("partial");
    let partial = out.join(dynasim::report::PARTIAL_DIRECTORY);
    std::fs::create_dir_all(&partial).expect("partial dir");
    // What a kill -9 during the final write leaves behind.
    std::fs::write(partial.join("summary.json.partial"), "{\"trunc").expect("stale partial");
    let path = scratch("partial.toml", "duration_ms = 100\nquiesce_ms = 0\n");
    let (code, _, stderr) =
        dynasim(&["run", path.to_str().expect("utf8"), "--quiet", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("run directory")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    names.sort();
    let expected = [
        "availability.svg",
        "faults.csv",
        "hints.svg",
        "latency.svg",
        "latency_cdf.csv",
        "latency_cdf.svg",
        "load.svg",
        "nodes.csv",
        "pbs.svg",
        "report.html",
        "scenario.toml",
        "staleness.csv",
        "staleness.svg",
        "summary.json",
        "timeseries.csv",
        "wall.json",
    ];
    assert_eq!(names, expected, "the stale partial is replaced and its directory removed");
    summary_of(&out);
}

/// Both kinds of static warning: an expected invariant that cannot be
/// judged, and an applicable one neither expected nor tolerated.
#[test]
fn every_bundled_scenario_expects_exactly_what_it_can_judge() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for entry in std::fs::read_dir(&directory).expect("scenarios") {
        let path = entry.expect("entry").path();
        // suite.toml is the regression suite over these scenarios, not one of them.
        if path.extension().is_some_and(|e| e == "toml") && !path.ends_with("suite.toml") {
            let scenario = dynasim::Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let warnings = dynasim::expect::static_warnings(&scenario);
            assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
        }
    }
}

#[test]
fn set_overrides_a_field_and_is_checked_like_the_file() {
    let out = scratch_out("set");
    let out = out.to_str().expect("utf8");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let (code, _, stderr) =
        dynasim(&["run", scenario, "--set", "quorum.r=1", "--set", "network.loss=0.01", "--out", out]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/summary.json")).expect("summary")).expect("json");
    assert_eq!(json["config"]["r"], 1, "the override reached the run");
    assert!(json["network"]["messages_dropped"].as_u64().expect("dropped") > 0, "loss 0.01 dropped messages");

    // Each kind of bad override names the --set, as a bad file names its line.
    for (set, says) in [
        ("quorum.r=9", "--set quorum.r=9: field `quorum.r`: R must be between 1 and N = 3, got 9"),
        ("quorum.x=1", "--set quorum.x=1: unknown field `x`, expected one of `n`, `r`, `w`"),
        ("quorum.r=abc", "--set quorum.r=abc: invalid type: string \"abc\", expected u32"),
        ("faults[0].at_ms=1", "--set faults[0].at_ms=1: `faults` has 0 entries"),
        ("quorum.r", "expected PATH=VALUE"),
    ] {
        let (code, _, stderr) = dynasim(&["run", scenario, "--set", set, "--out", out]);
        assert_eq!(code, 2, "{set}: {stderr}");
        assert!(stderr.contains(says), "{set}: {stderr}");
    }
    // A value the file holds made invalid by an override elsewhere names both.
    let (code, _, stderr) = dynasim(&["run", scenario, "--set", "cluster.nodes=2", "--out", out]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("quickstart.toml:20: field `quorum.n`") && stderr.contains("(with --set cluster.nodes=2)"),
        "{stderr}"
    );
}
