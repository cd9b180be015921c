//! Same scenario + seed ⇒ same digest and byte-identical summary (minus wall figures).

mod common;

use common::{bundled, deterministic_json, run_twice};

#[test]
fn quickstart_twice_with_one_seed_gives_identical_digest_and_summary() {
    let scenario = bundled("quickstart.toml");
    let report = run_twice(&scenario, 7);
    assert!(report.summary.engine.events > 10_000, "the run did something");
    let bytes = |r: &dynasim::RunReport| serde_json::to_vec_pretty(&deterministic_json(r)).expect("json");
    assert_eq!(bytes(&report), bytes(&dynasim::run(&scenario, 7)));
}

#[test]
fn different_seeds_give_different_digests() {
    let scenario = bundled("quickstart.toml");
    let digests: std::collections::BTreeSet<String> =
        (1..=5).map(|seed| dynasim::run(&scenario, seed).summary.digest).collect();
    assert_eq!(digests.len(), 5);
}

#[test]
fn every_bundled_scenario_is_deterministic() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&directory)
        .expect("scenarios directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml") && n != "suite.toml") // the suite is not a scenario
        .collect();
    names.sort();
    assert!(names.len() >= 5, "bundled scenarios: {names:?}");
    for name in names {
        let scenario = bundled(&name);
        let report = run_twice(&scenario, 3);
        assert!(report.summary.ops.total > 0, "{name} issued no operations");
    }
}

#[test]
fn a_run_is_identical_when_runs_execute_in_parallel_threads() {
    let scenario = bundled("quickstart.toml");
    let alone = dynasim::run(&scenario, 11).summary.digest;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let scenario = scenario.clone();
            std::thread::spawn(move || dynasim::run(&scenario, 11).summary.digest)
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().expect("run thread"), alone);
    }
}

/// Prefetching is only a hint to the CPU: forcing it on where a run
/// would not use it (the quickstart's state fits in a cache) or off where
/// it would (a join: 20,000 keys, transfers, handovers and ordered store
/// walks) changes no event, history record, final version or figure.
#[test]
fn prefetching_changes_nothing() {
    use dynasim::Simulation;
    for (name, seed) in [("quickstart.toml", 7), ("join-strategy3.toml", 5)] {
        let scenario = bundled(name);
        let run = |prefetch: bool| Simulation::new(&scenario, seed).with_prefetch(prefetch).run();
        let (on, off) = (run(true), run(false));
        assert_eq!(on.digest, off.digest, "{name}");
        assert!(on.events > 10_000, "{name}: the run did something");
        assert_eq!(format!("{:?}", on.history), format!("{:?}", off.history), "{name}");
        assert_eq!(format!("{:?}", on.final_versions), format!("{:?}", off.final_versions), "{name}");
    }
}
