//! `sweep.csv`, `aggregate.csv` and the printed table.
//!
//! Columns are in a fixed order: the configuration, one column per axis,
//! then (sweep.csv) seed, status and the union of every run's figure paths
//! sorted, or (aggregate.csv) run counts and mean / ci95 per aggregated
//! figure. Numbers are Rust's shortest round-trip form.

use super::aggregate::{ConfigAggregate, FIGURES};
use super::shard::ShardFile;
use super::SweepError;
use std::collections::BTreeSet;
use std::path::Path;

/// One row per run: config, axes, seed, status, every figure.
pub fn write_sweep_csv(path: &Path, file: &ShardFile) -> Result<(), SweepError> {
    let paths: BTreeSet<&String> = file.rows.iter().flat_map(|r| r.figures.keys()).collect();
    let mut header: Vec<String> = vec!["config".to_string()];
    header.extend(file.axes.iter().cloned());
    header.extend(["seed".to_string(), "status".to_string()]);
    header.extend(paths.iter().map(|p| p.to_string()));
    let mut lines = vec![header];
    for row in &file.rows {
        let record = &file.configurations[row.config];
        let mut line = vec![record.label.clone()];
        line.extend(record.values.iter().cloned());
        line.extend([row.seed.to_string(), row.status.clone()]);
        line.extend(paths.iter().map(|p| row.figures.get(*p).cloned().unwrap_or_default()));
        lines.push(line);
    }
    write_csv(path, &lines)
}

/// One row per configuration: config, axes, runs, violated, skipped, and
/// `<figure>.mean`, `<figure>.ci95` (the 95% CI half-width; empty with
/// fewer than two runs) per aggregated figure.
pub fn write_aggregate_csv(path: &Path, file: &ShardFile, aggregates: &[ConfigAggregate]) -> Result<(), SweepError> {
    let mut header: Vec<String> = vec!["config".to_string()];
    header.extend(file.axes.iter().cloned());
    header.extend(["runs", "violated", "skipped"].map(String::from));
    for (figure, _) in FIGURES {
        header.extend([format!("{figure}.mean"), format!("{figure}.ci95")]);
    }
    let mut lines = vec![header];
    for aggregate in aggregates {
        let mut line = vec![aggregate.label.clone()];
        line.extend(aggregate.values.iter().cloned());
        line.extend([
            aggregate.runs.to_string(),
            aggregate.violated.to_string(),
            aggregate.skipped.clone().unwrap_or_default(),
        ]);
        for estimate in &aggregate.estimates {
            match estimate {
                Some((e, n)) if *n >= 2 => line.extend([e.mean.to_string(), e.ci95.to_string()]),
                Some((e, _)) => line.extend([e.mean.to_string(), String::new()]),
                None => line.extend([String::new(), String::new()]),
            }
        }
        lines.push(line);
    }
    write_csv(path, &lines)
}

fn write_csv(path: &Path, lines: &[Vec<String>]) -> Result<(), SweepError> {
    let failed = |e: &dyn std::fmt::Display| SweepError(format!("cannot write {}: {e}", path.display()));
    let mut writer = csv::Writer::from_writer(Vec::new());
    for line in lines {
        writer.write_record(line).map_err(|e| failed(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| failed(&e))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| failed(&e))?;
    }
    crate::report::write_atomically(path, &bytes).map_err(|e| failed(&e))
}

/// A number for the table: integers for large values, more digits for small.
pub fn short(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 1.0 || magnitude == 0.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// `mean ±ci` for the table (`mean` alone without an interval).
pub fn mean_ci(aggregate: &ConfigAggregate, index: usize) -> String {
    match aggregate.estimates[index] {
        Some((e, n)) if n >= 2 => format!("{} ±{}", short(e.mean), short(e.ci95)),
        Some((e, _)) => short(e.mean),
        None => "-".to_string(),
    }
}

/// The printed table: one line per configuration that ran, mean ±95% CI
/// of the main figures (figures zero everywhere left out; per-op-type
/// availability and load balance only in aggregate.csv).
pub fn render_table(aggregates: &[ConfigAggregate]) -> String {
    let shown: Vec<usize> = FIGURES
        .iter()
        .enumerate()
        .filter(|(_, (path, _))| {
            !matches!(*path, "ops.availability.read" | "ops.availability.write" | "load.efficiency")
        })
        .filter(|(index, _)| aggregates.iter().any(|a| a.estimates[*index].is_some_and(|(e, _)| e.mean != 0.0)))
        .map(|(index, _)| index)
        .collect();
    let mut header = vec!["config".to_string(), "runs".to_string()];
    header.extend(shown.iter().map(|&i| FIGURES[i].1.to_string()));
    let mut lines = vec![header];
    for aggregate in aggregates.iter().filter(|a| a.skipped.is_none()) {
        let runs = match aggregate.violated {
            0 => aggregate.runs.to_string(),
            violated => format!("{} ({violated} violated)", aggregate.runs),
        };
        let mut line = vec![aggregate.label.clone(), runs];
        line.extend(shown.iter().map(|&i| mean_ci(aggregate, i)));
        lines.push(line);
    }
    align(&lines)
}

/// Left-aligns the first column and right-aligns the rest, two spaces apart.
pub fn align(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| lines.iter().filter_map(|l| l.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(
                |(c, cell)| {
                    if c == 0 {
                        format!("{cell:<w$}", w = widths[c])
                    } else {
                        format!("{cell:>w$}", w = widths[c])
                    }
                },
            )
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}
