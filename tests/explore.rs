//! `dynasim explore`: finds and shrinks a stale read under sloppy R = W = 1
//! (a base that is clean without faults, so the shrunk file keeps the
//! faults that matter), the shrunk file fails `dynasim run`, clusters
//! shrink although faults name their high nodes, and strict mode stays
//! clean over a few hundred random schedules.

use dynasim::explore::{explore, judge, ExploreOptions};
use dynasim::Scenario;
use std::path::{Path, PathBuf};

fn scratch(name: &str, text: &str) -> (PathBuf, PathBuf) {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("explore-{name}"));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    let path = directory.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("scenario written");
    (path, directory.join("found"))
}

fn options(runs: u64, seed: u64, out: &Path) -> ExploreOptions {
    ExploreOptions { runs, seed, jobs: 2, out: out.to_path_buf(), progress: false }
}

/// Sloppy quorum, N = 3, R = W = 1, a light load on few keys over links of
/// one constant delay: a write reaches every replica (one hop) before its
/// acknowledgement reaches the client, so without a fault no read can be
/// stale (tested below), and every stale read explore finds is the work of
/// its faults.
const SLOPPY: &str = "duration_ms = 1500\nquiesce_ms = 500\nexpect = [\"no-stale-reads\"]\n[cluster]\nnodes = 5\n\
                      [quorum]\nn = 3\nr = 1\nw = 1\n[node]\nsloppy_quorum = true\n\
                      [network]\nlatency = { constant = 0.5 }\n[workload]\nrate_per_s = 100\nclients = 4\nkeys = 10\n\
                      [explore]\nmax_faults = 4\nshrink_runs = 100\n";

#[test]
fn the_sloppy_base_has_no_stale_read_without_faults_even_shrunk_to_one_key() {
    let base = Scenario::parse(SLOPPY, "sloppy.toml", "sloppy").expect("valid");
    let one_key = Scenario::parse(&SLOPPY.replace("keys = 10", "keys = 1"), "one.toml", "one").expect("valid");
    for scenario in [&base, &one_key] {
        assert!(scenario.spec.faults.is_empty());
        for seed in 1..=30 {
            let run = dynasim::expect::run(scenario, seed);
            assert_eq!(run.summary.consistency.stale_reads, 0, "{} seed {seed}", scenario.name);
            assert!(run.summary.ops.total > 0);
            assert!(judge::failures(scenario, &run.summary).is_empty(), "{} seed {seed}", scenario.name);
        }
    }
}

#[test]
fn sloppy_r1_w1_stale_reads_are_found_shrunk_to_the_faults_that_matter_and_reproduced() {
    let (path, out) = scratch("sloppy", SLOPPY);
    let report = explore(&path, &options(8, 1, &out)).expect("explores");
    assert_eq!(report.schedules, 8);
    assert!(!report.findings.is_empty(), "R = W = 1 with faults must show a stale read");
    for finding in &report.findings {
        assert_eq!(finding.invariant, "no-stale-reads");
        // The base is clean without faults, so at least one must stay.
        assert!((1..=3).contains(&finding.faults.1) && finding.faults.1 <= finding.faults.0, "{finding:?}");
        assert!(finding.shrink_runs <= 100, "{finding:?}");
        // The file loads as a scenario and the same seed fails the same way.
        let text = std::fs::read_to_string(&finding.path).expect("shrunk file");
        assert!(text.contains(&format!("# repro: {}", finding.repro)), "{text}");
        assert!(finding.repro.ends_with(&format!("--seed {}", finding.seed)));
        let scenario = Scenario::load(&finding.path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.spec.seed, finding.seed);
        assert_eq!(scenario.spec.faults.len(), finding.faults.1);
        assert!(scenario.spec.explore.is_none(), "the shrunk file is a plain scenario");
        let run = dynasim::expect::run(&scenario, finding.seed);
        assert!(run.summary.consistency.stale_reads > 0, "{text}");
        let failed = judge::failures(&scenario, &run.summary);
        assert_eq!(failed[0].invariant, "no-stale-reads");
    }
    // Deterministic: the same exploration writes the same findings.
    let again = explore(&path, &options(8, 1, &out)).expect("explores");
    let seeds = |r: &dynasim::explore::ExploreReport| r.findings.iter().map(|f| (f.seed, f.faults)).collect::<Vec<_>>();
    assert_eq!(seeds(&report), seeds(&again));
}

#[test]
fn the_shrunk_file_fails_dynasim_run_with_the_same_invariant() {
    let (path, out) = scratch("cli", SLOPPY);
    let binary = env!("CARGO_BIN_EXE_dynasim");
    let output = std::process::Command::new(binary)
        .args(["explore", path.to_str().expect("utf-8"), "--runs", "3", "--seed", "4", "--jobs", "2", "--out"])
        .arg(&out)
        .output()
        .expect("explore runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let repro = stdout.lines().find_map(|l| l.strip_prefix("repro: dynasim run ")).expect("a repro line");
    let words: Vec<&str> = repro.split_whitespace().collect();
    let run_dir = out.join("run");
    let run = std::process::Command::new(binary)
        .args(["run", words[0], "--seed", words[2], "-q", "--out"])
        .arg(&run_dir)
        .output()
        .expect("run runs");
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert_eq!(run.status.code(), Some(1), "an expected no-stale-reads fails by count: {stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).expect("summary")).expect("json");
    assert!(summary["consistency"]["stale_reads"].as_u64().expect("count") > 0, "{summary}");
    let verdict = summary["invariants"]["no-stale-reads"].as_str().expect("a verdict");
    assert!(verdict.starts_with("violated: "), "{verdict}");
}

#[test]
fn faults_on_high_numbered_nodes_still_let_the_cluster_shrink() {
    // Eight nodes; the scenario's own faults name n5, n6 and n7 and break
    // no-stale-reads; explore draws only clock skews, which cannot (no
    // last-write-wins here), so shrinking drops them and then the nodes.
    let high = SLOPPY.replace("nodes = 5", "nodes = 8").replace("max_faults = 4", "max_faults = 1\nkinds = { clock-skew = 1 }")
        + "[[faults]]\nat_ms = 300\naction = \"partition\"\ngroups = [[\"n5\", \"n7\"], [\"others\"]]\nduration_ms = 800\n\
           [[faults]]\nat_ms = 200\naction = \"crash\"\nnodes = [6]\nduration_ms = 300\n";
    let (path, out) = scratch("high", &high);
    let report = explore(&path, &options(1, 1, &out)).expect("explores");
    let finding = report.findings.first().expect("the scenario's own faults fail it");
    let shrunk = Scenario::load(&finding.path).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&finding.path).expect("shrunk file");
    let nodes = shrunk.spec.cluster.nodes;
    assert!(nodes < 8, "{text}");
    assert!(!shrunk.spec.faults.is_empty(), "{text}");
    let named = dynasim::explore::renumber::named_nodes(&shrunk.spec.faults);
    assert!(!named.is_empty() && named.iter().all(|&node| node < nodes), "{text}");
    let run = dynasim::expect::run(&shrunk, finding.seed);
    assert!(judge::failures(&shrunk, &run.summary).iter().any(|f| f.invariant == "no-stale-reads"), "{text}");
}

#[test]
fn strict_mode_stays_clean_over_hundreds_of_random_schedules() {
    let strict = "duration_ms = 1500\nquiesce_ms = 1000\n\
                  expect = [\"no-stale-reads\", \"causal-siblings\", \"no-lost-writes\", \"converges\"]\n\
                  [cluster]\nnodes = 5\n[quorum]\nn = 3\nr = 2\nw = 2\n[node]\nsloppy_quorum = false\n\
                  [workload]\nrate_per_s = 400\nclients = 4\nkeys = 50\n";
    let (path, out) = scratch("strict", strict);
    let runs = std::env::var("DYNASIM_EXPLORE_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let report = explore(&path, &options(runs, 1, &out)).expect("explores");
    assert_eq!(report.schedules, runs);
    let found: Vec<String> = report.findings.iter().map(|f| format!("{}: {}", f.invariant, f.repro)).collect();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_default_kinds_keep_a_strict_scenario_strict() {
    let strict = dynasim::Scenario::parse("[node]\nsloppy_quorum = false\n", "s.toml", "s").expect("valid");
    let kinds = dynasim::explore::generate::kind_weights(&strict.spec);
    for kind in ["disk-loss", "join", "leave"] {
        assert!(!kinds.contains_key(kind), "{kind} would take the scenario out of strict mode");
    }
    assert!(kinds.contains_key("partition") && kinds.contains_key("one-way-partition"));
    let sloppy = dynasim::Scenario::parse("", "s.toml", "s").expect("valid");
    assert_eq!(dynasim::explore::generate::kind_weights(&sloppy.spec).len(), 10);
    let e = Scenario::parse("[explore]\nkinds = { crash = 1, meteor = 2 }\n", "e.toml", "e").unwrap_err().to_string();
    assert!(e.starts_with("e.toml:2: field `explore.kinds`") && e.contains("\"meteor\""), "{e}");
}

/// The bases sessions 34 and 35 explored (tests/fixtures/explore-bases/,
/// and the n1 base of the DVV fix) still parse and stay clean over a few
/// schedules each: tens of thousands of their schedules found nothing once
/// the bugs they found were fixed.
#[test]
fn the_kept_exploration_bases_run_clean() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut bases: Vec<PathBuf> = std::fs::read_dir(fixtures.join("explore-bases"))
        .expect("bases folder")
        .map(|entry| entry.expect("base").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    bases.sort();
    bases.push(fixtures.join("explore-dvv-n1/n1.toml"));
    assert_eq!(bases.len(), 8, "{bases:?}");
    for base in bases {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-bases-found");
        let report = explore(&base, &options(12, 1, &out)).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
        assert_eq!(report.schedules, 12);
        assert!(report.findings.is_empty(), "{}: {:?}", base.display(), report.findings);
    }
}
