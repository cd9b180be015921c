//! The sweep's SVG plots (plotters' SVG backend: text is SVG `<text>`,
//! so output is the same bytes everywhere).
//!
//! - `latency.svg`: read and write p50 / p99 / p99.9 per configuration.
//! - `availability.svg`: availability (all, read, write) per configuration.
//! - `stale-reads.svg`: stale-read rate per configuration.
//! - `tradeoff.svg`: read p50 latency against stale-read rate, one labelled
//!   point per configuration (the consistency / latency trade-off).
//! - `membership.svg` (when some run moved data, e.g. a strategy sweep with
//!   joins): bytes moved and bootstrap time per configuration.
//!
//! Every point is the mean over seeds with its 95% confidence interval.

use super::aggregate::{figure_index, ConfigAggregate, Estimate, FIGURES};
use super::figures::{BOOTSTRAP_US, BYTES_MOVED, STALE_READ_RATE};
use super::SweepError;
use plotters::backend::SVGBackend;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Grid lines: solid light grey (some SVG renderers ignore opacity).
const GRID: RGBColor = RGBColor(225, 225, 225);

/// Writes every plot that has data into `out`; returns the file names.
pub fn write_all(out: &Path, aggregates: &[ConfigAggregate]) -> Result<Vec<String>, SweepError> {
    let ran: Vec<&ConfigAggregate> = aggregates.iter().filter(|a| a.runs > 0).collect();
    if ran.is_empty() {
        return Ok(Vec::new());
    }
    let typical = ["latency_us.read.p50", "latency_us.read.p99", "latency_us.write.p50", "latency_us.write.p99"];
    let tail = ["latency_us.read.p999", "latency_us.write.p999"];
    let latency = svg((1400, 560), |root| {
        let panels = root.split_evenly((1, 2));
        panel(&panels[0], "Latency p50 and p99 (mean, 95% CI)", "µs", &ran, &indices(&typical))?;
        panel(&panels[1], "Latency p99.9 (mean, 95% CI)", "µs", &ran, &indices(&tail))
    })?;
    let mut plots: Vec<(&str, String)> = vec![
        ("latency.svg", latency),
        (
            "availability.svg",
            per_configuration(
                "Availability per configuration (mean, 95% CI)",
                "succeeded / issued",
                &ran,
                ["ops.availability.all", "ops.availability.read", "ops.availability.write"].into_iter(),
            )?,
        ),
        (
            "stale-reads.svg",
            per_configuration(
                "Stale-read rate per configuration (mean, 95% CI)",
                "stale reads / reads of written keys",
                &ran,
                [STALE_READ_RATE].into_iter(),
            )?,
        ),
        ("tradeoff.svg", tradeoff(&ran)?),
    ];
    if ran.iter().any(|a| a.estimate(BYTES_MOVED).is_some_and(|e| e.mean > 0.0)) {
        plots.push(("membership.svg", membership(&ran)?));
    }
    let mut written = Vec::new();
    for (name, svg) in plots {
        let path = out.join(name);
        crate::report::write_atomically(&path, svg.as_bytes())
            .map_err(|e| SweepError(format!("cannot write {}: {e}", path.display())))?;
        written.push(name.to_string());
    }
    Ok(written)
}

fn failed(e: &dyn std::fmt::Display) -> SweepError {
    SweepError(format!("cannot draw a plot: {e}"))
}

/// Draws into an SVG string; `draw` gets the whole area.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), SweepError>,
) -> Result<String, SweepError> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        draw(&root)?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(text)
}

/// Positions in [`FIGURES`] of `paths`.
fn indices(paths: &[&str]) -> Vec<usize> {
    paths.iter().filter_map(|p| figure_index(p)).collect()
}

/// One SVG with configurations along x and one coloured series per figure.
fn per_configuration<'p>(
    title: &str,
    y_label: &str,
    configs: &[&ConfigAggregate],
    figures: impl Iterator<Item = &'p str>,
) -> Result<String, SweepError> {
    let figures: Vec<&str> = figures.collect();
    svg((1000, 560), |root| panel(root, title, y_label, configs, &indices(&figures)))
}

/// A panel of [`per_configuration`]: series side by side within each
/// configuration's slot, each point with its CI bar.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    y_label: &str,
    configs: &[&ConfigAggregate],
    figures: &[usize],
) -> Result<(), SweepError> {
    let estimate = |config: &ConfigAggregate, figure: usize| config.estimates[figure].map(|(e, _)| e);
    let high = configs
        .iter()
        .flat_map(|c| figures.iter().filter_map(move |&f| estimate(c, f)))
        .map(|e| e.mean + e.ci95)
        .fold(0.0f64, f64::max);
    let top = if high > 0.0 { high * 1.1 } else { 1.0 };
    let count = configs.len();
    let labels: Vec<String> = configs.iter().map(|c| c.label.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(count as f64 - 0.5), 0f64..top)
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_labels(count)
        .x_label_formatter(&|x| slot_label(&labels, *x))
        .y_desc(y_label)
        .disable_x_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| failed(&e))?;
    for (series, &figure) in figures.iter().enumerate() {
        let color = COLORS[series % COLORS.len()];
        let offset = (series as f64 - (figures.len() as f64 - 1.0) / 2.0) * 0.6 / figures.len().max(1) as f64;
        let points: Vec<(f64, Estimate)> = configs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| estimate(c, figure).map(|e| (i as f64 + offset, e)))
            .collect();
        chart
            .draw_series(points.iter().map(|&(x, e)| Circle::new((x, e.mean), 4, color.filled())))
            .map_err(|e| failed(&e))?
            .label(FIGURES[figure].1)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        chart
            .draw_series(points.iter().filter(|(_, e)| e.ci95 > 0.0).map(|&(x, e)| ci_bar(x, e, color)))
            .map_err(|e| failed(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))
}

/// The configuration label for an integer x (ticks fall on integers).
fn slot_label(labels: &[String], x: f64) -> String {
    let index = x.round();
    if (x - index).abs() > 1e-6 || index < 0.0 {
        return String::new();
    }
    labels.get(index as usize).cloned().unwrap_or_default()
}

/// A vertical bar from mean − ci to mean + ci.
fn ci_bar(x: f64, e: Estimate, color: RGBColor) -> PathElement<(f64, f64)> {
    PathElement::new(vec![(x, (e.mean - e.ci95).max(0.0)), (x, e.mean + e.ci95)], color.stroke_width(2))
}

/// Read p50 latency against stale-read rate, one labelled point per configuration.
fn tradeoff(configs: &[&ConfigAggregate]) -> Result<String, SweepError> {
    let points: Vec<(&str, Estimate, Estimate)> = configs
        .iter()
        .filter_map(|c| Some((c.label.as_str(), c.estimate(STALE_READ_RATE)?, c.estimate("latency_us.read.p50")?)))
        .collect();
    let x_top = points.iter().map(|(_, x, _)| x.mean + x.ci95).fold(0.0f64, f64::max);
    let y_top = points.iter().map(|(_, _, y)| y.mean + y.ci95).fold(0.0f64, f64::max);
    let x_top = if x_top > 0.0 { x_top * 1.3 } else { 0.01 };
    let y_top = if y_top > 0.0 { y_top * 1.15 } else { 1.0 };
    svg((900, 620), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Trade-off: read latency vs staleness (mean, 95% CI)", ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_top, 0f64..y_top)
            .map_err(|e| failed(&e))?;
        chart
            .configure_mesh()
            .x_desc("stale reads / reads of written keys")
            .y_desc("read p50 latency (µs)")
            .x_label_formatter(&|x| format!("{x:.3}"))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(|e| failed(&e))?;
        for (index, (label, x, y)) in points.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            let bars = [
                PathElement::new(vec![(x.mean, (y.mean - y.ci95).max(0.0)), (x.mean, y.mean + y.ci95)], color),
                PathElement::new(vec![((x.mean - x.ci95).max(0.0), y.mean), (x.mean + x.ci95, y.mean)], color),
            ];
            chart.draw_series(bars).map_err(|e| failed(&e))?;
            let point = EmptyElement::at((x.mean, y.mean))
                + Circle::new((0, 0), 5, color.filled())
                + Text::new(label.to_string(), (8, -16), ("sans-serif", 13).into_font().color(&BLACK));
            chart.draw_series(std::iter::once(point)).map_err(|e| failed(&e))?;
        }
        Ok(())
    })
}

/// Bytes moved and bootstrap time per configuration (two panels).
fn membership(configs: &[&ConfigAggregate]) -> Result<String, SweepError> {
    let moved = figure_index(BYTES_MOVED).into_iter().collect::<Vec<_>>();
    let bootstrap = figure_index(BOOTSTRAP_US).into_iter().collect::<Vec<_>>();
    svg((1400, 560), |root| {
        let panels = root.split_evenly((1, 2));
        panel(&panels[0], "Bytes moved by joins and leaves (mean, 95% CI)", "bytes", configs, &moved)?;
        panel(&panels[1], "Bootstrap time of a joining node (mean, 95% CI)", "µs", configs, &bootstrap)
    })
}
