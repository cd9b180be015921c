//! `dynasim check`: a suite passes, fails on a changed bound with the repro
//! line, pins digests with `--bless` and shows which figures moved.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dynasim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dynasim")).args(args).output().expect("binary runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8 output");
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

/// A fresh directory holding a small scenario and a suite over it.
fn suite_dir(name: &str, bound: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("suite-{name}"));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    let scenario = "duration_ms = 300\nquiesce_ms = 100\nexpect = [\"no-stale-reads\"]\n[cluster]\nnodes = 4\n\
                    [node]\nsloppy_quorum = false\n[workload]\nrate_per_s = 300\nclients = 4\nkeys = 20\n";
    std::fs::write(directory.join("small.toml"), scenario).expect("scenario written");
    let suite = format!(
        "# a comment the suite keeps\n[[case]]\nname = \"small\"\nscenario = \"small.toml\"\nseeds = \"1..=2\"\n\
         [case.bounds]\n\"consistency.stale_reads\" = \"== 0\"\n\"ops.availability.all\" = \"{bound}\"\n\n\
         [[case]]\nname = \"small-r3\"\nscenario = \"small.toml\"\nset = [\"quorum.r=3\"]\nseeds = [5]\n"
    );
    std::fs::write(directory.join("suite.toml"), suite).expect("suite written");
    directory
}

fn check(directory: &Path, extra: &[&str]) -> (i32, String, String) {
    let suite = directory.join("suite.toml");
    let mut args = vec!["check", suite.to_str().expect("utf-8 path"), "--jobs", "2"];
    args.extend(extra);
    dynasim(&args)
}

#[test]
fn a_suite_passes_blesses_its_digests_and_then_fails_loudly_on_a_digest_change() {
    let directory = suite_dir("bless", ">= 0.99");
    let (code, out, err) = check(&directory, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("check: 3 run(s), 3 passed, 0 failed"), "{out}");
    let suite_before = std::fs::read_to_string(directory.join("suite.toml")).expect("suite");

    let (code, out, _) = check(&directory, &["--bless"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bless: small seed 1: pinned digest"), "{out}");
    assert!(out.contains("bless: small-r3 seed 5: pinned digest"), "{out}");
    assert_eq!(
        std::fs::read_to_string(directory.join("suite.toml")).expect("suite"),
        suite_before,
        "bless never edits the suite"
    );
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.join("suite.lock")).expect("lock")).expect("json");
    assert!(lock["cases"]["small"]["2"]["figures"]["ops.total"].is_number(), "{lock}");

    // Blessing again changes nothing; checking passes against the pins.
    let (code, out, _) = check(&directory, &["--bless"]);
    assert_eq!(code, 0);
    assert!(out.contains("bless: 3 digest(s) unchanged"), "{out}");
    assert_eq!(check(&directory, &[]).0, 0);

    // A behaviour change (another workload rate) fails with the figures that moved.
    let scenario = std::fs::read_to_string(directory.join("small.toml")).expect("scenario");
    std::fs::write(directory.join("small.toml"), scenario.replace("rate_per_s = 300", "rate_per_s = 310"))
        .expect("scenario edited");
    let (code, out, _) = check(&directory, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL") && out.contains("digest "), "{out}");
    assert!(out.contains("figure(s) changed (behaviour)") && out.contains("engine.events: "), "{out}");
    assert!(out.contains("repro: dynasim run "), "{out}");

    // --bless accepts it and reports what changed.
    let (code, out, _) = check(&directory, &["--bless"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bless: small seed 1: digest ") && out.contains("figure(s) changed"), "{out}");
    assert_eq!(check(&directory, &[]).0, 0);
}

#[test]
fn a_changed_bound_fails_with_the_figure_the_bound_and_the_repro_line() {
    let directory = suite_dir("bound", "> 1");
    let (code, out, _) = check(&directory, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ops.availability.all = 1.0, bound > 1"), "{out}");
    let repro = out.lines().find(|l| l.contains("repro: ")).expect("a repro line");
    assert!(repro.trim().starts_with("repro: dynasim run ") && repro.contains("small.toml --seed 1"), "{out}");
    assert!(out.contains("check: 3 run(s), 1 passed, 2 failed"), "{out}");
}

#[test]
fn bad_suites_exit_2_with_the_file_and_line() {
    let directory = suite_dir("bad", ">= 0.99");
    let suite = directory.join("suite.toml");
    let write = |text: &str| std::fs::write(&suite, text).expect("suite written");
    let cases = [
        ("[[case]]\nname = \"a\"\nscenario = \"small.toml\"\nseedz = [1]\n", ":4:1: unknown field `seedz`"),
        ("[[case]]\nname = \"a\"\nscenario = \"absent.toml\"\n", ":1: case `a`:"),
        ("[[case]]\nname = \"a\"\nscenario = \"small.toml\"\n[case.bounds]\n\"x\" = \"about 3\"\n", "operator"),
        ("[[case]]\nname = \"a\"\nscenario = \"small.toml\"\nseeds = \"5..1\"\n", "`seeds`"),
        ("[[case]]\nname = \"a\"\nscenario = \"small.toml\"\nset = [\"quorum.r=9\"]\n", "--set quorum.r=9"),
        ("", "no [[case]] entries"),
    ];
    for (text, expected) in cases {
        write(text);
        let (code, out, err) = check(&directory, &[]);
        assert_eq!(code, 2, "{text}: {out}{err}");
        assert!(err.contains("suite.toml") && err.contains(expected), "{text}: {err}");
    }
    // A bound on a figure summary.json does not have is bad input too.
    write("[[case]]\nname = \"a\"\nscenario = \"small.toml\"\n[case.bounds]\n\"ops.nonsense\" = \"== 0\"\n");
    let (code, out, _) = check(&directory, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("ops.nonsense: no such figure in summary.json"), "{out}");
}

#[test]
fn the_bundled_suite_covers_every_bundled_scenario_with_bounds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let suite = std::fs::read_to_string(root.join("suite.toml")).expect("bundled suite");
    let table: toml::Table = toml::from_str(&suite).expect("suite parses");
    let cases = table["case"].as_array().expect("cases");
    let covered: Vec<&str> = cases.iter().map(|c| c["scenario"].as_str().expect("scenario")).collect();
    for entry in std::fs::read_dir(&root).expect("scenarios directory") {
        let name = entry.expect("entry").file_name().to_string_lossy().to_string();
        if name.ends_with(".toml") && name != "suite.toml" {
            assert!(covered.contains(&name.as_str()), "scenarios/suite.toml has no case for {name}");
        }
    }
    for case in cases {
        let bounds = case.get("bounds").and_then(|b| b.as_table()).map_or(0, |b| b.len());
        assert!(bounds >= 3, "{case}: a case states its point with bounds, not only a digest");
    }
}
