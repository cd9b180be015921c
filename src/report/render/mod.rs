//! Renders a run directory for people: SVG plots of the time series,
//! latency distribution, staleness and per-node load, and `report.html`,
//! one self-contained page with the verdicts, key figures, plots, fault
//! timeline, scenario text and the command that reproduces the run.
//!
//! It reads only files (the run directory's contract), never a live run,
//! so `dynasim report DIR` re-renders an old directory and the writer of
//! the data files and this renderer evolve separately. `summary.json` is
//! required; every CSV is optional and its plots are skipped without it.

pub mod chart;
pub mod data;
pub mod html;
pub mod plots;

use data::{invalid, Table};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The page written into the run directory.
pub const REPORT_FILE: &str = "report.html";

/// Renders every plot whose data files exist in `dir` and `report.html`,
/// each written atomically; `repro` is the command line shown on the page.
pub fn render_run(dir: &Path, repro: &str) -> std::io::Result<()> {
    let summary = read_summary(dir)?;
    let scenario_text = read_optional_text(&dir.join("scenario.toml"))?;
    let tables = plots::RunTables {
        timeseries: Table::read_optional(dir, "timeseries.csv")?,
        faults: Table::read_optional(dir, "faults.csv")?,
        latency_cdf: Table::read_optional(dir, "latency_cdf.csv")?,
        nodes: Table::read_optional(dir, "nodes.csv")?,
        staleness: Table::read_optional(dir, "staleness.csv")?,
    };
    let figures = plots::draw_all(&tables)?;
    for figure in &figures {
        super::write_atomically(&dir.join(figure.file), figure.svg.as_bytes())?;
    }
    let page = html::page(&html::Page {
        summary: &summary,
        scenario_text: scenario_text.as_deref(),
        faults: tables.faults.as_ref(),
        plots: &figures,
        repro,
    });
    super::write_atomically(&dir.join(REPORT_FILE), page.as_bytes())
}

/// `dynasim report DIR`: re-renders `dir`, with a repro command that runs
/// the directory's own `scenario.toml` with the summary's seed; returns
/// the page's path.
pub fn rerender(dir: &Path) -> std::io::Result<PathBuf> {
    let summary = read_summary(dir)?;
    let seed = summary.get("seed").map_or_else(|| "?".to_string(), |s| s.to_string());
    let scenario = dir.join("scenario.toml");
    let repro = format!("dynasim run {} --seed {seed}", shell_quote(&scenario.display().to_string()));
    render_run(dir, &repro)?;
    Ok(dir.join(REPORT_FILE))
}

fn read_summary(dir: &Path) -> std::io::Result<serde_json::Value> {
    let path = dir.join("summary.json");
    let text = read_optional_text(&path)?.ok_or_else(|| {
        std::io::Error::new(
            ErrorKind::NotFound,
            format!("{}: not found: is {} a run directory?", path.display(), dir.display()),
        )
    })?;
    let summary: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(&path, format!("not valid JSON: {e}")))?;
    if !summary.is_object() {
        return Err(invalid(&path, "expected a JSON object"));
    }
    Ok(summary)
}

fn read_optional_text(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(std::io::Error::new(error.kind(), format!("{}: cannot read: {error}", path.display()))),
    }
}

/// `text` as one shell word: unchanged when it is plain, else single-quoted.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn repro_paths_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("results/x/seed-1/scenario.toml"), "results/x/seed-1/scenario.toml");
        assert_eq!(shell_quote("my runs/it's.toml"), r"'my runs/it'\''s.toml'");
    }
}
