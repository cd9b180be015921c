//! `dynasim compare A B ...`: runs and sweeps side by side.
//!
//! A run directory (summary.json) is one column with exact figures; a
//! sweep directory (aggregate.csv) is one column per configuration with
//! means and 95% confidence intervals. Every column after the first is
//! compared with the first: the difference, and (when both have intervals)
//! whether the intervals overlap — non-overlapping 95% intervals are a
//! difference the seeds cannot explain.

use super::aggregate::{Estimate, FIGURES};
use super::output::{align, short};
use super::SweepError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Flags of `dynasim compare`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CompareArgs {
    /// Run directories (with summary.json) or sweep directories (with
    /// aggregate.csv); a sweep contributes one column per configuration.
    #[arg(required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// A figure to compare, by dotted path (`latency_us.read.p50`,
    /// `derived.stale_read_rate`; sweeps hold the figures of
    /// aggregate.csv). Repeatable; default: the main latency,
    /// availability, consistency and data-movement figures.
    #[arg(long = "figure", value_name = "PATH")]
    pub figures: Vec<String>,
}

/// The figures compared when none are named.
pub const DEFAULT_FIGURES: [&str; 10] = [
    "latency_us.read.p50",
    "latency_us.read.p99",
    "latency_us.write.p50",
    "latency_us.write.p99",
    "ops.availability.all",
    super::figures::STALE_READ_RATE,
    super::figures::READS_WITH_SIBLINGS,
    "consistency.lost_writes",
    "hints.stored",
    super::figures::BYTES_MOVED,
];

/// One column: a run, or one configuration of a sweep.
struct Column {
    name: String,
    /// Mean and, for sweeps with two or more runs, the CI half-width.
    figures: BTreeMap<String, (f64, Option<f64>)>,
}

/// Compares `args.inputs` and returns the table.
pub fn compare(args: &CompareArgs) -> Result<String, SweepError> {
    let mut columns = Vec::new();
    for input in &args.inputs {
        columns.extend(read_input(input)?);
    }
    if columns.len() < 2 {
        return Err(SweepError(format!(
            "compare needs at least two runs or configurations; {} gave {}",
            args.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            columns.len()
        )));
    }
    let figures: Vec<String> = if args.figures.is_empty() {
        DEFAULT_FIGURES.iter().map(|f| f.to_string()).collect()
    } else {
        args.figures.clone()
    };
    for figure in &figures {
        if !columns.iter().any(|c| c.figures.contains_key(figure)) {
            let known: Vec<&str> = FIGURES.iter().map(|(p, _)| *p).collect();
            return Err(SweepError(format!(
                "--figure {figure}: no input has it (a run has every numeric path of summary.json; a sweep has {})",
                known.join(", ")
            )));
        }
    }
    let letter = |i: usize| if i < 26 { ((b'A' + i as u8) as char).to_string() } else { format!("#{i}") };
    let mut text = String::new();
    for (i, column) in columns.iter().enumerate() {
        text.push_str(&format!("{} = {}\n", letter(i), column.name));
    }
    let mut header = vec!["figure".to_string(), letter(0)];
    for i in 1..columns.len() {
        header.extend([letter(i), format!("{}-{}", letter(i), letter(0)), "CIs overlap".to_string()]);
    }
    let mut lines = vec![header];
    for figure in &figures {
        let first = columns[0].figures.get(figure);
        let mut line = vec![figure.clone(), cell(first)];
        for column in &columns[1..] {
            let other = column.figures.get(figure);
            let difference = match (first, other) {
                (Some((a, _)), Some((b, _))) => short(b - a),
                _ => "-".to_string(),
            };
            let overlap = match (first, other) {
                (Some((a, Some(ca))), Some((b, Some(cb)))) => {
                    let (a, b) = (Estimate { mean: *a, ci95: *ca }, Estimate { mean: *b, ci95: *cb });
                    if a.clearly_above(&b) || b.clearly_above(&a) { "no" } else { "yes" }.to_string()
                }
                _ => "-".to_string(),
            };
            line.extend([cell(other), difference, overlap]);
        }
        lines.push(line);
    }
    text.push_str(&align(&lines));
    Ok(text)
}

fn cell(value: Option<&(f64, Option<f64>)>) -> String {
    match value {
        Some((mean, Some(ci))) => format!("{} ±{}", short(*mean), short(*ci)),
        Some((mean, None)) => short(*mean),
        None => "-".to_string(),
    }
}

fn read_input(input: &Path) -> Result<Vec<Column>, SweepError> {
    let aggregate = input.join("aggregate.csv");
    let summary = input.join("summary.json");
    if aggregate.is_file() {
        read_sweep(input, &aggregate)
    } else if summary.is_file() {
        let text = std::fs::read_to_string(&summary)
            .map_err(|e| SweepError(format!("{}: cannot read: {e}", summary.display())))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| SweepError(format!("{}: not JSON: {e}", summary.display())))?;
        let figures = super::figures::of_summary(&json)
            .into_iter()
            .filter_map(|(path, value)| value.parse::<f64>().ok().map(|v| (path, (v, None))))
            .collect();
        Ok(vec![Column { name: input.display().to_string(), figures }])
    } else {
        Err(SweepError(format!(
            "{}: neither a run directory (summary.json) nor a sweep directory (aggregate.csv)",
            input.display()
        )))
    }
}

fn read_sweep(input: &Path, path: &Path) -> Result<Vec<Column>, SweepError> {
    let bad = |why: String| SweepError(format!("{}: {why}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let header: Vec<String> = reader.headers().map_err(|e| bad(e.to_string()))?.iter().map(String::from).collect();
    if header.first().map(String::as_str) != Some("config") {
        return Err(bad("not a sweep's aggregate.csv (the first column is not `config`)".to_string()));
    }
    let mut columns = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        let value = |name: &str| {
            header.iter().position(|h| h == name).and_then(|i| record.get(i)).and_then(|v| v.parse::<f64>().ok())
        };
        let figures: BTreeMap<String, (f64, Option<f64>)> = FIGURES
            .iter()
            .filter_map(|(figure, _)| {
                let mean = value(&format!("{figure}.mean"))?;
                Some((figure.to_string(), (mean, value(&format!("{figure}.ci95")))))
            })
            .collect();
        if !figures.is_empty() {
            columns.push(Column { name: format!("{}: {}", input.display(), record.get(0).unwrap_or("")), figures });
        }
    }
    Ok(columns)
}
