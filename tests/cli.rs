//! The command line: exit codes and messages on good and bad input.

use std::path::PathBuf;
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
    let directory = std::env::temp_dir().join(format!("dynasim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let path = directory.join(name);
    std::fs::write(&path, contents).expect("write scenario");
    path
}

#[test]
fn run_writes_a_summary_with_the_figures_users_need() {
    let out = std::env::temp_dir().join(format!("dynasim-cli-run-{}", std::process::id()));
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let (code, stdout, stderr) = dynasim(&["run", scenario, "--seed", "7", "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("digest"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    for key in ["digest", "latency_us", "consistency", "wall", "engine", "ops", "network"] {
        assert!(json.get(key).is_some(), "summary.json lacks {key}");
    }
    assert!(json["latency_us"]["read"]["p999"].as_u64().expect("p99.9") > 0);
    assert!(json["consistency"]["siblings_per_read"].is_object());
    assert!(json["wall"]["events_per_s"].as_f64().expect("events/s") > 0.0);
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
