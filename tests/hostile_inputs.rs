//! Every numeric field of the bundled scenarios (and of the README's
//! field-by-field example, which sets every field) pushed to extreme values:
//! each mutant is either refused with an error that names the field, or
//! validates and runs to completion within a bounded number of events —
//! never a panic, a hang, a wrapped number or an unbounded allocation.

use dynasim::scenario::limits::memory_estimate_bytes;
use dynasim::Scenario;
use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;
use toml::Value;

/// Simulated workload of every mutant, ms: short, so a run is cheap.
const DURATION_MS: f64 = 100.0;
/// A mutant that validates must finish within this many events.
const EVENTS_MAX: u64 = 20_000_000;
/// A mutant still running after this long counts as a hang.
const WALL_LIMIT: Duration = Duration::from_secs(120);
/// Mutants whose memory estimate is above this are validated, not run, to
/// spare the shared test machine (the 8 GiB limit itself is unit-tested).
const RUN_MEMORY_MAX_BYTES: f64 = 256.0 * 1024.0 * 1024.0;

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// The sources: the README example, then every bundled scenario.
fn sources() -> Vec<(String, Value)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README");
    let block = readme.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a toml block");
    let mut sources = vec![("README.md".to_string(), block.to_string())];
    let mut files: Vec<_> = std::fs::read_dir(format!("{root}/scenarios"))
        .expect("scenarios")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("suite.toml"))
        .collect();
    files.sort();
    for file in files {
        sources.push((file.display().to_string(), std::fs::read_to_string(&file).expect("scenario")));
    }
    sources.into_iter().map(|(name, text)| (name, shortened(text.parse().expect("bundled TOML parses")))).collect()
}

/// The same scenario with a short workload: fault times scale with it.
fn shortened(mut value: Value) -> Value {
    let table = value.as_table_mut().expect("a table");
    let duration = table.get("duration_ms").and_then(number).unwrap_or(5000.0);
    let factor = DURATION_MS / duration;
    table.insert("duration_ms".into(), Value::Float(DURATION_MS));
    table.insert("quiesce_ms".into(), Value::Float(DURATION_MS));
    table.remove("name");
    if let Some(Value::Array(faults)) = table.get_mut("faults") {
        for fault in faults.iter_mut().filter_map(Value::as_table_mut) {
            for key in ["at_ms", "duration_ms"] {
                if let Some(ms) = fault.get(key).and_then(number) {
                    fault.insert(key.into(), Value::Float(ms * factor));
                }
            }
        }
    }
    value
}

fn number(value: &Value) -> Option<f64> {
    value.as_float().or_else(|| value.as_integer().map(|i| i as f64))
}

/// Paths to every numeric leaf.
fn numeric_leaves(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Integer(_) | Value::Float(_) => out.push(path.clone()),
        Value::Table(table) => {
            for (key, child) in table {
                path.push(Step::Key(key.clone()));
                numeric_leaves(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(Step::Index(index));
                numeric_leaves(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn leaf<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |node, step| match step {
        Step::Key(key) => node.get_mut(key.as_str()).expect("path exists"),
        Step::Index(index) => node.get_mut(*index).expect("path exists"),
    })
}

/// A path as text; fault entries are named by their action, so the same
/// field of the same kind of fault is mutated once across all sources.
fn describe(root: &Value, path: &[Step]) -> String {
    let mut text = String::new();
    let mut node = root;
    for step in path {
        match step {
            Step::Key(key) => {
                text.push_str(&format!(".{key}"));
                node = &node[key.as_str()];
            }
            Step::Index(index) => {
                node = &node[*index];
                let action = node.get("action").and_then(Value::as_str).map(str::to_string);
                text.push_str(&format!("[{}]", action.unwrap_or_else(|| index.to_string())));
            }
        }
    }
    text
}

fn extremes(original: &Value) -> Vec<Value> {
    match original {
        Value::Integer(_) => [0, 1, -1, i64::MAX, i64::MIN].map(Value::Integer).to_vec(),
        _ => [0.0, 1e-9, 0.001, -1.0, 1e300, f64::MAX].map(Value::Float).to_vec(),
    }
}

enum Verdict {
    Refused,
    Ran(u64),
    Skipped,
}

/// Validates one mutant, runs it when valid, and fails on a panic or hang.
fn judge(label: &str, text: String) -> Verdict {
    let scenario = match Scenario::parse(&text, "mutant.toml", "mutant") {
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("mutant.toml"), "{label}: the error names the file: {message}");
            return Verdict::Refused;
        }
        Ok(scenario) => scenario,
    };
    if memory_estimate_bytes(&scenario.spec) > RUN_MEMORY_MAX_BYTES {
        return Verdict::Skipped;
    }
    let (sender, receiver) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let report = dynasim::run(&scenario, 1);
        let _ = sender.send(report.summary.engine.events);
    });
    match receiver.recv_timeout(WALL_LIMIT) {
        Ok(events) => {
            runner.join().expect("the run finished");
            assert!(events <= EVENTS_MAX, "{label}: {events} events for {DURATION_MS} ms of workload\n{text}");
            Verdict::Ran(events)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let panic = runner.join().err().and_then(|p| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            panic!("{label}: the run panicked: {panic}\n{text}")
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{label}: still running after {WALL_LIMIT:?}\n{text}"),
    }
}

#[test]
fn extreme_numeric_fields_are_refused_or_run_to_completion() {
    let mut seen = BTreeSet::new();
    let (mut refused, mut ran, mut skipped, mut events_max) = (0, 0, 0, 0);
    for (source, root) in sources() {
        let mut leaves = Vec::new();
        numeric_leaves(&root, &mut Vec::new(), &mut leaves);
        for path in leaves {
            let field = describe(&root, &path);
            let mut probe = root.clone();
            for extreme in extremes(leaf(&mut probe, &path)) {
                if !seen.insert(format!("{field} = {extreme}")) {
                    continue;
                }
                let mut mutant = root.clone();
                *leaf(&mut mutant, &path) = extreme.clone();
                let label = format!("{source}: {field} = {extreme}");
                match judge(&label, toml::to_string(&mutant).expect("serializes")) {
                    Verdict::Refused => refused += 1,
                    Verdict::Ran(events) => {
                        ran += 1;
                        events_max = events_max.max(events);
                    }
                    Verdict::Skipped => skipped += 1,
                }
            }
        }
    }
    eprintln!("mutants: {refused} refused, {ran} ran (at most {events_max} events), {skipped} too big to run here");
    assert!(refused > 100 && ran > 100, "both outcomes are exercised: {refused} refused, {ran} ran");
    assert!(skipped <= 10, "{skipped} mutants were only validated");
}
