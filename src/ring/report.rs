//! `dynasim ring`: runs the grid, writes the CSV and the SVG plots, renders
//! the stdout table. Every output is a pure function of the config, so the
//! same config gives byte-identical files.

use super::analysis::{analyse_cell, cells, CellReport, Grid};
use super::config::{RingAnalysisConfig, RingArgs};
use super::figure;
use super::stats::Estimate;
use super::RingError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// CSV of every cell, written into the output directory.
pub const CSV_FILE: &str = "ring-analysis.csv";
/// Efficiency vs metadata plot (the paper's Figure 8).
pub const FIGURE8_FILE: &str = "figure8.svg";
/// Moved fraction vs cluster size plot.
pub const MOVEMENT_FILE: &str = "movement.svg";

/// Results of one `dynasim ring` run.
#[derive(Clone, Debug, PartialEq)]
pub struct RingAnalysisReport {
    /// The validated config the run used.
    pub config: RingAnalysisConfig,
    /// One report per grid cell, Figure 8 grid first, in config order.
    pub cells: Vec<CellReport>,
    /// Cells left out, with the reason (e.g. strategy 3 with Q < S + 1).
    pub skipped: Vec<String>,
    /// Files written, in order.
    pub files: Vec<PathBuf>,
}

/// Runs the ring analysis for `config` and writes `ring-analysis.csv`,
/// `figure8.svg` and `movement.svg` into `out_dir` (created if missing; each
/// file written to a temporary name and renamed, so readers never see half a file).
pub fn run_ring_analysis(config: &RingAnalysisConfig, out_dir: &Path) -> Result<RingAnalysisReport, RingError> {
    config.validate("config")?;
    let (cells, skipped) = cells(config);
    let reports = analyse_all(&cells, config);
    let mut report = RingAnalysisReport { config: config.clone(), cells: reports, skipped, files: Vec::new() };
    std::fs::create_dir_all(out_dir).map_err(|source| RingError::Write { path: out_dir.to_path_buf(), source })?;
    let csv_path = out_dir.join(CSV_FILE);
    write_atomically(&csv_path, render_csv(&report).as_bytes())?;
    let figure8_path = out_dir.join(FIGURE8_FILE);
    write_atomically(
        &figure8_path,
        figure::figure8_svg(&report).map_err(|message| plot_error(&figure8_path, message))?.as_bytes(),
    )?;
    let movement_path = out_dir.join(MOVEMENT_FILE);
    write_atomically(
        &movement_path,
        figure::movement_svg(&report).map_err(|message| plot_error(&movement_path, message))?.as_bytes(),
    )?;
    report.files = vec![csv_path, figure8_path, movement_path];
    Ok(report)
}

/// What `dynasim ring` does: config from flags (and `--config`), the run,
/// and the stdout text (the table, then the files written).
pub fn ring_command(args: &RingArgs) -> Result<String, RingError> {
    let config = RingAnalysisConfig::from_args(args)?;
    let report = run_ring_analysis(&config, &args.out)?;
    let mut text = render_table(&report);
    for file in &report.files {
        let _ = writeln!(text, "wrote {}", file.display());
    }
    Ok(text)
}

fn plot_error(path: &Path, message: String) -> RingError {
    RingError::Plot { path: path.to_path_buf(), message }
}

/// Analyses every cell on up to two threads; results keep cell order.
fn analyse_all(cells: &[super::analysis::Cell], config: &RingAnalysisConfig) -> Vec<CellReport> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 2);
    let chunk = cells.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = cells
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|cell| analyse_cell(cell, config)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// Writes `bytes` to `path` via a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RingError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(|source| RingError::Write { path: temporary.clone(), source })?;
    std::fs::rename(&temporary, path).map_err(|source| RingError::Write { path: path.to_path_buf(), source })
}

fn estimate(e: &Estimate, decimals: usize) -> String {
    format!("{:.*}±{:.*}", decimals, e.mean, decimals, e.ci95)
}

fn optional(value: Option<u32>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The stdout table: the Figure 8 grid, the movement grid, skipped cells.
pub fn render_table(report: &RingAnalysisReport) -> String {
    let config = &report.config;
    let mut out = String::new();
    let last_seed = config.first_seed + u64::from(config.seeds) - 1;
    let _ = writeln!(
        out,
        "dynasim ring: seeds {}..={} per cell, mean ± 95% CI; load exact from ring ranges",
        config.first_seed, last_seed
    );
    let zoned = config.zones > 0;
    let _ =
        writeln!(out, "\nFigure 8 grid (efficiency = mean load / max load; moved = fraction of stored data copied)");
    let _ = write!(
        out,
        "{:<3} {:>4} {:>2} {:>5} {:>6} {:>10} {:>13} {:>13} {:>13} {:>13} {:>9} {:>15} {:>15} {:>10}",
        "st",
        "S",
        "N",
        "T",
        "Q",
        "metadata_B",
        "eff_primary",
        "eff_replica",
        "cv_replica",
        "max/mean_prim",
        "viol",
        "join_moved",
        "leave_moved",
        "join_srcs"
    );
    if zoned {
        let _ = write!(out, " {:>13} {:>13}", "zone_shared", "unaware");
    }
    out.push('\n');
    for cell in report.cells.iter().filter(|c| c.cell.grid == Grid::Figure8) {
        let strategy = &cell.cell.strategy;
        let _ = write!(
            out,
            "{:<3} {:>4} {:>2} {:>5} {:>6} {:>10} {:>13} {:>13} {:>13} {:>13} {:>9} {:>15} {:>15} {:>10}",
            strategy.number(),
            cell.cell.node_count,
            cell.cell.replicas,
            optional(strategy.tokens_per_node()),
            optional(strategy.partitions()),
            cell.metadata_bytes,
            estimate(&cell.primary.efficiency, 3),
            estimate(&cell.replica.efficiency, 3),
            estimate(&cell.replica.cv, 3),
            estimate(&cell.primary.max_over_mean, 2),
            cell.violations.map_or_else(|| "-".to_string(), |v| format!("{:.1}", v.mean)),
            format!("{:.4}/{:.4}", cell.join.moved_fraction.mean, cell.join.ideal_fraction),
            format!("{:.4}/{:.4}", cell.leave.moved_fraction.mean, cell.leave.ideal_fraction),
            format!("{:.1}", cell.join.source_nodes.mean),
        );
        if let (Some(aware), Some(unaware)) = (&cell.zone_shared_fraction, &cell.zone_shared_fraction_unaware) {
            let _ = write!(out, " {:>13} {:>13}", estimate(aware, 3), estimate(unaware, 3));
        }
        out.push('\n');
    }
    render_movement(report, &mut out);
    for note in &report.skipped {
        let _ = writeln!(out, "skipped: {note}");
    }
    out
}

fn render_movement(report: &RingAnalysisReport, out: &mut String) {
    let _ = writeln!(out, "\nMovement grid (one join, one leave; ideal 1/(S+1) and 1/S)");
    let _ = writeln!(
        out,
        "{:<3} {:>4} {:>2} {:>5} {:>6} {:>17} {:>8} {:>17} {:>8} {:>11} {:>10}",
        "st", "S", "N", "T", "Q", "join_moved", "ideal", "leave_moved", "ideal", "join_ranges", "join_srcs"
    );
    for cell in report.cells.iter().filter(|c| c.cell.grid == Grid::Movement) {
        let strategy = &cell.cell.strategy;
        let _ = writeln!(
            out,
            "{:<3} {:>4} {:>2} {:>5} {:>6} {:>17} {:>8.4} {:>17} {:>8.4} {:>11.1} {:>10.1}",
            strategy.number(),
            cell.cell.node_count,
            cell.cell.replicas,
            optional(strategy.tokens_per_node()),
            optional(strategy.partitions()),
            estimate(&cell.join.moved_fraction, 4),
            cell.join.ideal_fraction,
            estimate(&cell.leave.moved_fraction, 4),
            cell.leave.ideal_fraction,
            cell.join.ranges_moved.mean,
            cell.join.source_nodes.mean,
        );
    }
}

/// The CSV: one row per cell, every figure as `_mean` and `_ci95` columns.
pub fn render_csv(report: &RingAnalysisReport) -> String {
    let mut header =
        vec!["grid", "strategy", "node_count", "replicas", "tokens_per_node", "partitions", "seeds", "metadata_bytes"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
    let estimate_names = [
        "primary_efficiency",
        "primary_cv",
        "primary_min_share",
        "primary_max_share",
        "primary_max_over_mean",
        "replica_efficiency",
        "replica_cv",
        "replica_min_share",
        "replica_max_share",
        "replica_max_over_mean",
        "strategy3_violations",
        "zone_shared_fraction",
        "zone_shared_fraction_unaware",
        "join_moved_fraction",
        "join_ranges_moved",
        "join_source_nodes",
        "leave_moved_fraction",
        "leave_ranges_moved",
        "leave_source_nodes",
    ];
    for name in estimate_names {
        header.push(format!("{name}_mean"));
        header.push(format!("{name}_ci95"));
    }
    header.push("join_ideal_fraction".into());
    header.push("leave_ideal_fraction".into());
    let mut lines = vec![header.join(",")];
    for cell in &report.cells {
        let strategy = &cell.cell.strategy;
        let mut row = vec![
            cell.cell.grid.name().to_string(),
            strategy.number().to_string(),
            cell.cell.node_count.to_string(),
            cell.cell.replicas.to_string(),
            strategy.tokens_per_node().map_or_else(String::new, |t| t.to_string()),
            strategy.partitions().map_or_else(String::new, |q| q.to_string()),
            cell.seeds.to_string(),
            cell.metadata_bytes.to_string(),
        ];
        let (p, r) = (&cell.primary, &cell.replica);
        let estimates = [
            Some(p.efficiency),
            Some(p.cv),
            Some(p.min_share),
            Some(p.max_share),
            Some(p.max_over_mean),
            Some(r.efficiency),
            Some(r.cv),
            Some(r.min_share),
            Some(r.max_share),
            Some(r.max_over_mean),
            cell.violations,
            cell.zone_shared_fraction,
            cell.zone_shared_fraction_unaware,
            Some(cell.join.moved_fraction),
            Some(cell.join.ranges_moved),
            Some(cell.join.source_nodes),
            Some(cell.leave.moved_fraction),
            Some(cell.leave.ranges_moved),
            Some(cell.leave.source_nodes),
        ];
        for value in estimates {
            match value {
                Some(e) => row.extend([format!("{:.6}", e.mean), format!("{:.6}", e.ci95)]),
                None => row.extend([String::new(), String::new()]),
            }
        }
        row.push(format!("{:.6}", cell.join.ideal_fraction));
        row.push(format!("{:.6}", cell.leave.ideal_fraction));
        lines.push(row.join(","));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
