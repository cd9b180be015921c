//! The run directory: every file `dynasim run` leaves for a person (and
//! for the plots and the HTML report) to open.
//!
//! | file | when | what |
//! |---|---|---|
//! | `summary.json` | always | every figure; identical for the same scenario and seed |
//! | `wall.json` | always | wall-clock figures, the only machine-dependent output |
//! | `scenario.toml` | always | the scenario text, verbatim |
//! | `timeseries.csv` | always | one row per interval (see [`super::timeseries`]) |
//! | `faults.csv` | always | fault windows (see [`super::fault_windows`]) |
//! | `latency_cdf.csv` | always | latency CDF per op type |
//! | `nodes.csv` | always | figures per node |
//! | `history.jsonl` | `--history` | every client operation |
//! | `trace-KEY.txt` | `--trace-key KEY` | one key's timeline |
//! | `events.jsonl` | `--events` | streamed by the run itself ([`super::events`]) |
//!
//! Each file is written whole through [`super::PartialFile`].

use super::tables::{self, CDF_COLUMNS, FAULT_COLUMNS, NODE_COLUMNS, TIMESERIES_COLUMNS};
use super::{history_out, timeseries, write_atomically, write_summary};
use crate::RunReport;
use std::path::{Path, PathBuf};

/// What to write beyond the files every run gets.
#[derive(Clone, Debug, Default)]
pub struct RunDirectoryOptions {
    /// Write `history.jsonl`.
    pub history: bool,
}

/// What [`write_run_directory`] wrote.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// The files, in the order written.
    pub files: Vec<PathBuf>,
    /// The `--trace-key` timeline, also in `trace-KEY.txt`.
    pub trace: Option<String>,
}

/// Writes the run directory of `report` into `directory` (created if
/// needed): `scenario_text` is copied verbatim into `scenario.toml`. An
/// error names the file that could not be written.
pub fn write_run_directory(
    directory: &Path,
    scenario_text: &str,
    report: &RunReport,
    options: &RunDirectoryOptions,
) -> std::io::Result<Written> {
    let outcome = &report.outcome;
    let observed = &outcome.observed;
    let end_us = outcome.end.0;
    let verdicts = &report.summary.consistency.read_verdicts;
    let stale = verdicts.iter().filter(|verdict| verdict.is_stale()).map(|verdict| verdict.read()).collect();
    let mut written = Written::default();
    let mut write = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let path = directory.join(name);
        write_atomically(&path, bytes).map_err(|error| named(&path, error))?;
        written.files.push(path);
        Ok(())
    };
    std::fs::create_dir_all(directory).map_err(|error| named(directory, error))?;
    write_summary(directory, &report.summary).map_err(|error| named(&directory.join("summary.json"), error))?;
    write("scenario.toml", scenario_text.as_bytes())?;
    let history = &outcome.history;
    let (rows, cdf) = crate::check::pieces::join(
        history.len(),
        || timeseries::rows(history, &stale, observed, end_us),
        || tables::cdf_rows(history),
    );
    write("timeseries.csv", &tables::to_csv(TIMESERIES_COLUMNS, &rows)?)?;
    write("faults.csv", &tables::to_csv(FAULT_COLUMNS, &tables::fault_rows(&observed.fault_windows, end_us))?)?;
    write("latency_cdf.csv", &tables::to_csv(CDF_COLUMNS, &cdf)?)?;
    write("staleness.csv", super::staleness::staleness_csv(&report.summary.staleness).as_bytes())?;
    write("nodes.csv", &tables::to_csv(NODE_COLUMNS, &tables::node_rows(&outcome.nodes, observed))?)?;
    let trace = observed.trace.as_ref().map(|trace| (trace.key(), trace.render(&outcome.history, &stale)));
    if let Some((key, text)) = &trace {
        write(&format!("trace-{key}.txt"), text.as_bytes())?;
    }
    if options.history {
        let path = directory.join("history.jsonl");
        history_out::write_history(&path, &outcome.history).map_err(|error| named(&path, error))?;
        written.files.push(path);
    }
    written.files.splice(0..0, [directory.join("summary.json"), directory.join("wall.json")]);
    written.trace = trace.map(|(_, text)| text);
    Ok(written)
}

/// An I/O error that names its file.
fn named(path: &Path, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Points `<parent>/latest` at `run_directory` (a sibling in `parent`) with
/// a relative symbolic link, replaced atomically. Only on Unix; elsewhere
/// it does nothing.
pub fn point_latest(parent: &Path, run_directory: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let Some(name) = run_directory.file_name() else { return Ok(()) };
        let temporary = parent.join(".latest.partial");
        let _ = std::fs::remove_file(&temporary);
        std::os::unix::fs::symlink(name, &temporary)?;
        std::fs::rename(&temporary, parent.join("latest"))?;
    }
    #[cfg(not(unix))]
    let _ = (parent, run_directory);
    Ok(())
}
