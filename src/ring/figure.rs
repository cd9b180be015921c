//! SVG plots for `dynasim ring`, drawn with plotters' SVG backend only (text
//! becomes SVG `<text>`, so no font library is needed and output is
//! byte-identical everywhere).
//!
//! - `figure8.svg`: load-balancing efficiency vs metadata per node, per
//!   strategy, for primary ownership and for N replicas (Dynamo Figure 8).
//! - `movement.svg`: fraction of stored data copied on one join / one leave
//!   vs cluster size, with the ideal 1/(S+1) and 1/S.

use super::analysis::{CellReport, Grid};
use super::report::RingAnalysisReport;
use super::stats::Estimate;
use plotters::backend::SVGBackend;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// One plotted line: label, colour, and (x, estimate) points sorted by x.
struct Series {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, Estimate)>,
}

const BLUES: [RGBColor; 3] = [RGBColor(31, 119, 180), RGBColor(23, 190, 207), RGBColor(80, 80, 200)];
const REDS: [RGBColor; 4] =
    [RGBColor(214, 39, 40), RGBColor(255, 127, 14), RGBColor(148, 103, 189), RGBColor(227, 119, 194)];
const GREENS: [RGBColor; 3] = [RGBColor(44, 160, 44), RGBColor(140, 86, 75), RGBColor(188, 189, 34)];

fn color(strategy: u8, index: usize) -> RGBColor {
    match strategy {
        1 => BLUES[index % BLUES.len()],
        2 => REDS[index % REDS.len()],
        _ => GREENS[index % GREENS.len()],
    }
}

/// Groups `grid`'s cells into lines keyed by strategy (and Q for strategy 2
/// in the Figure 8 grid); `x` and `y` pick the coordinates.
fn series(
    report: &RingAnalysisReport,
    grid: Grid,
    x: impl Fn(&CellReport) -> f64,
    y: impl Fn(&CellReport) -> Estimate,
) -> Vec<Series> {
    let cells: Vec<&CellReport> = report.cells.iter().filter(|c| c.cell.grid == grid).collect();
    let many_sizes = grid == Grid::Figure8 && report.config.node_counts.len() > 1;
    let many_replicas = report.config.replicas.len() > 1;
    let mut groups: BTreeMap<(u8, u32, u32, u32), Vec<&CellReport>> = BTreeMap::new();
    for cell in cells {
        let q = if grid == Grid::Figure8 && cell.cell.strategy.number() == 2 {
            cell.cell.strategy.partitions().unwrap_or(0)
        } else {
            0
        };
        let size = if grid == Grid::Figure8 { cell.cell.node_count } else { 0 };
        groups.entry((cell.cell.strategy.number(), q, size, cell.cell.replicas)).or_default().push(cell);
    }
    let mut index_in_strategy: BTreeMap<u8, usize> = BTreeMap::new();
    let mut lines = Vec::new();
    for ((number, q, size, replicas), members) in groups {
        let index = index_in_strategy.entry(number).or_insert(0);
        let mut label = format!("strategy {number}");
        if q > 0 {
            label.push_str(&format!(", Q={q}"));
        }
        if grid == Grid::Movement {
            let first = &members[0].cell.strategy;
            label.push_str(&match (first.tokens_per_node(), first.partitions()) {
                (Some(t), Some(q)) => format!(" (T={t}, Q={q})"),
                (Some(t), None) => format!(" (T={t})"),
                (None, Some(q)) => format!(" (Q={q})"),
                (None, None) => String::new(),
            });
        }
        if many_sizes {
            label.push_str(&format!(", S={size}"));
        }
        if many_replicas {
            label.push_str(&format!(", N={replicas}"));
        }
        let mut points: Vec<(f64, Estimate)> = members.iter().map(|c| (x(c), y(c))).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines.push(Series { label, color: color(number, *index), dashed: number == 2, points });
        *index += 1;
    }
    lines
}

/// Range covering `values` on a log axis, with some room either side.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        low = low.min(v);
        high = high.max(v);
    }
    if low > high {
        return (1.0, 10.0);
    }
    (low / 1.5, high * 1.5)
}

type PlotResult = Result<(), String>;

/// Draws one panel: lines with points and 95% CI bars, plus optional ideal curve.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    axes: (&str, &str),
    lines: &[Series],
    ideal: Option<&[(f64, f64)]>,
    log_y: bool,
) -> PlotResult {
    // Falling curves (log y) leave the upper right empty; rising ones the lower right.
    let legend = if log_y { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::LowerRight };
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let x_bounds = log_bounds(lines.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let mut builder = ChartBuilder::on(area);
    builder.caption(caption, ("sans-serif", 18)).margin(12).x_label_area_size(45).y_label_area_size(60);
    let y_values = lines.iter().flat_map(|s| s.points.iter().flat_map(|(_, e)| [e.mean - e.ci95, e.mean + e.ci95]));
    let ideal_values = ideal.into_iter().flatten().map(|p| p.1);
    if log_y {
        let y_bounds = log_bounds(y_values.chain(ideal_values));
        let mut chart = builder
            .build_cartesian_2d((x_bounds.0..x_bounds.1).log_scale(), (y_bounds.0..y_bounds.1).log_scale())
            .map_err(|e| text(&e))?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .draw()
            .map_err(|e| text(&e))?;
        draw_lines(&mut chart, lines, ideal, legend)
    } else {
        let mut chart =
            builder.build_cartesian_2d((x_bounds.0..x_bounds.1).log_scale(), 0f64..1.05).map_err(|e| text(&e))?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()
            .map_err(|e| text(&e))?;
        draw_lines(&mut chart, lines, ideal, legend)
    }
}

fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    lines: &[Series],
    ideal: Option<&[(f64, f64)]>,
    legend: SeriesLabelPosition,
) -> PlotResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let text = |e: &dyn std::fmt::Display| e.to_string();
    for line in lines {
        let style = line.color.stroke_width(2);
        let points: Vec<(f64, f64)> = line.points.iter().map(|(x, e)| (*x, e.mean)).collect();
        // Strategy 2 dashed, so strategy 1 stays visible where they coincide.
        let drawn = if line.dashed {
            chart.draw_series(DashedLineSeries::new(points.clone(), 8, 4, style))
        } else {
            chart.draw_series(LineSeries::new(points.clone(), style))
        };
        drawn
            .map_err(|e| text(&e))?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, line.color.filled()))).map_err(|e| text(&e))?;
        let bars = line
            .points
            .iter()
            .filter(|(_, e)| e.ci95 > 0.0)
            .map(|(x, e)| PathElement::new(vec![(*x, e.mean - e.ci95), (*x, e.mean + e.ci95)], line.color));
        chart.draw_series(bars).map_err(|e| text(&e))?;
    }
    if let Some(ideal) = ideal {
        let style = BLACK.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(ideal.iter().copied(), 6, 4, style))
            .map_err(|e| text(&e))?
            .label("ideal")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| text(&e))
}

/// Draws a two-panel SVG into a string.
fn two_panels(
    title: &str,
    draw: impl FnOnce(&[DrawingArea<SVGBackend<'_>, Shift>]) -> PlotResult,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1280, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let body = root.titled(title, ("sans-serif", 22)).map_err(|e| e.to_string())?;
        let panels = body.split_evenly((1, 2));
        draw(&panels)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The paper's Figure 8: efficiency vs metadata size, per strategy.
pub fn figure8_svg(report: &RingAnalysisReport) -> Result<String, String> {
    let metadata = |c: &CellReport| c.metadata_bytes as f64;
    let primary = series(report, Grid::Figure8, metadata, |c| c.primary.efficiency);
    let replica = series(report, Grid::Figure8, metadata, |c| c.replica.efficiency);
    let sizes = format!("S={:?}, N={:?}", report.config.node_counts, report.config.replicas).replace(['[', ']'], "");
    let title = format!("Load-balancing efficiency vs metadata size ({sizes}; mean, 95% CI)");
    let axes = ("metadata per node (bytes)", "efficiency = mean load / max load");
    two_panels(&title, |panels| {
        panel(&panels[0], "load as primary owner", axes, &primary, None, false)?;
        panel(&panels[1], "load as one of N replicas", axes, &replica, None, false)
    })
}

/// Moved fraction on one join and one leave vs cluster size, with the ideal.
pub fn movement_svg(report: &RingAnalysisReport) -> Result<String, String> {
    let size = |c: &CellReport| f64::from(c.cell.node_count);
    let joins = series(report, Grid::Movement, size, |c| c.join.moved_fraction);
    let leaves = series(report, Grid::Movement, size, |c| c.leave.moved_fraction);
    let sizes: Vec<f64> = report
        .config
        .movement_node_counts
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .map(f64::from)
        .collect();
    let join_ideal: Vec<(f64, f64)> = sizes.iter().map(|&s| (s, 1.0 / (s + 1.0))).collect();
    let leave_ideal: Vec<(f64, f64)> = sizes.iter().map(|&s| (s, 1.0 / s)).collect();
    let axes = ("cluster size S (nodes)", "fraction of stored data copied");
    two_panels("Rebalancing cost: data copied on one join / one leave (mean, 95% CI)", |panels| {
        panel(&panels[0], "one node joins (ideal 1/(S+1))", axes, &joins, Some(&join_ideal), true)?;
        panel(&panels[1], "one node leaves (ideal 1/S)", axes, &leaves, Some(&leave_ideal), true)
    })
}
