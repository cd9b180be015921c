//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use dynasim::{RunReport, Scenario};
use std::path::Path;

/// Loads a bundled scenario by file name.
pub fn bundled(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The text of a bundled scenario, for tests that edit it before parsing.
pub fn scenario_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Parses scenario text written in a test.
pub fn inline(text: &str) -> Scenario {
    Scenario::parse(text, "inline.toml", "inline").unwrap_or_else(|e| panic!("{e}"))
}

/// The summary as JSON without its wall-clock section.
pub fn deterministic_json(report: &RunReport) -> serde_json::Value {
    let mut json = serde_json::to_value(&report.summary).expect("summary serializes");
    json.as_object_mut().expect("summary is an object").remove("wall");
    json
}

/// Runs a scenario twice with one seed, asserts both runs agree (digest and
/// summary minus wall figures), and returns the first. Every integration
/// test runs through this, so each doubles as a determinism check.
pub fn run_twice(scenario: &Scenario, seed: u64) -> RunReport {
    let first = dynasim::run(scenario, seed);
    let second = dynasim::run(scenario, seed);
    assert_eq!(first.summary.digest, second.summary.digest, "repro: dynasim run {} --seed {seed}", scenario.origin);
    assert_eq!(deterministic_json(&first), deterministic_json(&second), "summary differs between identical runs");
    first
}
