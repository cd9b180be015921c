//! The lock file: each case's pinned digests and summary figures.
//!
//! `dynasim check --bless` writes it next to the suite (`suite.toml` →
//! `suite.lock`) so the suite file, its comments and its bounds are never
//! rewritten. It is JSON with sorted keys: per case, per seed, the digest
//! and every figure of summary.json (flattened to dotted paths, without the
//! wall-clock figures), so a digest mismatch can show which figures moved —
//! none means only the order of events changed, some means behaviour did.

use crate::RunSummary;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `--bless` wrote: case name → seed → pinned run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// A note for readers of the file.
    #[serde(default)]
    pub generated: String,
    /// The pinned runs.
    pub cases: BTreeMap<String, BTreeMap<String, Pinned>>,
}

/// One pinned (case, seed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pinned {
    /// The run's digest.
    pub digest: String,
    /// summary.json's figures by dotted path (`latency_us.read.p999`,
    /// `load.keys_per_node[3]`), without `wall` and `digest`.
    pub figures: BTreeMap<String, Value>,
}

/// The note written at the top of every lock file.
pub const GENERATED: &str = "written by `dynasim check --bless`; do not edit by hand";

/// The lock file of a suite: the same path with the extension `lock`.
pub fn lock_path(suite: &Path) -> PathBuf {
    suite.with_extension("lock")
}

/// Reads the lock file; a missing file is an empty lock.
pub fn read(path: &Path) -> Result<Lock, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
        Err(error) => return Err(format!("{}: cannot read: {error}", path.display())),
    };
    serde_json::from_str(&text).map_err(|error| {
        format!(
            "{}:{}:{}: {error} (the lock file is written by `dynasim check --bless`; delete it and bless again)",
            path.display(),
            error.line(),
            error.column()
        )
    })
}

/// Writes the lock file (sorted, pretty, with a final newline).
pub fn write(path: &Path, lock: &Lock) -> Result<(), String> {
    let text = serde_json::to_string_pretty(lock).expect("a lock serializes") + "\n";
    std::fs::write(path, text).map_err(|error| format!("{}: cannot write: {error}", path.display()))
}

/// Every figure of `summary` by dotted path, without `wall` and `digest`.
pub fn figures(summary: &RunSummary) -> BTreeMap<String, Value> {
    let mut value = serde_json::to_value(summary).expect("a summary serializes");
    if let Some(object) = value.as_object_mut() {
        object.remove("wall");
        object.remove("digest");
    }
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&path, child, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{index}]"), child, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

/// The figures that differ: (path, old, new), sorted by path; a figure
/// present on one side only shows `absent` on the other.
pub fn changed(old: &BTreeMap<String, Value>, new: &BTreeMap<String, Value>) -> Vec<(String, String, String)> {
    let show = |value: Option<&Value>| value.map_or_else(|| "absent".to_string(), Value::to_string);
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|path| old.get(*path) != new.get(*path))
        .map(|path| (path.clone(), show(old.get(path)), show(new.get(path))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A figure reads back as the very number that was written: a digest
    /// mismatch lists the figures that moved, so a last-bit misreading
    /// would list figures that did not (0.9191614255765199, a staleness
    /// figure of pbs-ymmr, read back as 0.91916142557652 with serde_json's
    /// default float parser).
    #[test]
    fn figures_read_back_bit_for_bit() {
        let numbers: [f64; 5] = [0.9191614255765199, 477.0078352758353, 0.9156340767939607, 1e-300, 3.0e15 + 0.5];
        let figures = numbers.iter().enumerate().map(|(i, &x)| (format!("f{i}"), Value::from(x))).collect();
        let pinned = Pinned { digest: "0".into(), figures };
        let case = BTreeMap::from([("1".to_string(), pinned)]);
        let lock = Lock { generated: GENERATED.into(), cases: BTreeMap::from([("case".to_string(), case)]) };
        // What `write` writes and `read` parses.
        let text = serde_json::to_string_pretty(&lock).expect("a lock serializes");
        let back: Lock = serde_json::from_str(&text).expect("a lock parses");
        for (i, &x) in numbers.iter().enumerate() {
            let read = back.cases["case"]["1"].figures[&format!("f{i}")].as_f64().expect("a number");
            assert_eq!(read.to_bits(), x.to_bits(), "{x} read back as {read}");
        }
    }
}
