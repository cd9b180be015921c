//! The figures of a run: every number of summary.json by dotted path,
//! plus a few derived ones that summary.json only holds in parts.
//!
//! Figures are kept as text (serde_json's shortest round-trip form), so a
//! row read back from a shard file gives exactly the numbers it was
//! written with.

use serde_json::Value;
use std::collections::BTreeMap;

/// Stale reads / reads of written keys (0 when no written key was read).
pub const STALE_READ_RATE: &str = "derived.stale_read_rate";
/// Reads that returned two or more versions.
pub const READS_WITH_SIBLINGS: &str = "derived.reads_with_siblings";
/// Bytes sent in range transfers over every join and leave.
pub const BYTES_MOVED: &str = "derived.bytes_moved";
/// The longest bootstrap of a joining node, µs (absent without joins).
pub const BOOTSTRAP_US: &str = "derived.bootstrap_us";

/// Flattened numeric figures of a summary.json value, `wall` (machine
/// time) and `seed` (a column of its own) left out, plus the derived ones.
pub fn of_summary(summary: &Value) -> BTreeMap<String, String> {
    let mut figures = BTreeMap::new();
    if let Some(object) = summary.as_object() {
        for (key, value) in object {
            if key != "wall" && key != "seed" {
                flatten(key, value, &mut figures);
            }
        }
    }
    let number = |path: &[&str]| path.iter().try_fold(summary, |v, key| v.get(key)).and_then(Value::as_f64);
    let stale = number(&["consistency", "stale_reads"]).unwrap_or(0.0);
    let reads = number(&["consistency", "reads_of_written_keys"]).unwrap_or(0.0);
    let rate = if reads > 0.0 { stale / reads } else { 0.0 };
    figures.insert(STALE_READ_RATE.to_string(), rate.to_string());
    let siblings = summary["consistency"]["siblings_per_read"].as_object();
    let with_siblings: u64 = siblings
        .into_iter()
        .flatten()
        .filter(|(count, _)| count.parse::<u64>().is_ok_and(|c| c >= 2))
        .filter_map(|(_, reads)| reads.as_u64())
        .sum();
    figures.insert(READS_WITH_SIBLINGS.to_string(), with_siblings.to_string());
    let changes = summary["membership"].as_array().cloned().unwrap_or_default();
    let moved: u64 = changes.iter().filter_map(|c| c["bytes_moved"].as_u64()).sum();
    figures.insert(BYTES_MOVED.to_string(), moved.to_string());
    if let Some(bootstrap) = changes.iter().filter_map(|c| c["bootstrap_us"].as_u64()).max() {
        figures.insert(BOOTSTRAP_US.to_string(), bootstrap.to_string());
    }
    figures
}

fn flatten(path: &str, value: &Value, figures: &mut BTreeMap<String, String>) {
    match value {
        Value::Number(number) => {
            figures.insert(path.to_string(), number.to_string());
        }
        Value::Object(object) => {
            for (key, child) in object {
                flatten(&format!("{path}.{key}"), child, figures);
            }
        }
        Value::Array(array) => {
            for (index, child) in array.iter().enumerate() {
                flatten(&format!("{path}.{index}"), child, figures);
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_flattened_and_rates_derived() {
        let summary = serde_json::json!({
            "seed": 3, "wall": { "seconds": 1.5 }, "scenario": "x",
            "latency_us": { "read": { "p50": 120 } },
            "consistency": { "stale_reads": 1, "reads_of_written_keys": 4,
                             "siblings_per_read": { "1": 10, "2": 3, "3": 1 } },
            "load": { "keys_per_node": [5, 6] },
            "membership": [ { "bytes_moved": 100, "bootstrap_us": 7 }, { "bytes_moved": 20, "bootstrap_us": null } ],
            "hints": { "drained_after_last_heal_us": null }
        });
        let figures = of_summary(&summary);
        assert_eq!(figures["latency_us.read.p50"], "120");
        assert_eq!(figures["load.keys_per_node.1"], "6");
        assert_eq!(figures[STALE_READ_RATE], "0.25");
        assert_eq!(figures[READS_WITH_SIBLINGS], "4");
        assert_eq!(figures[BYTES_MOVED], "120");
        assert_eq!(figures[BOOTSTRAP_US], "7");
        assert!(!figures.contains_key("seed") && !figures.contains_key("wall.seconds"));
        assert!(!figures.contains_key("hints.drained_after_last_heal_us"));
    }
}
