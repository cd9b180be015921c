//! Generic chart helpers over plotters' SVG backend: a line chart (linear or
//! log axes, optional confidence bands, optional shaded and labelled time
//! windows), a grouped bar chart, and a figure holding several of them.
//! They know nothing of dynasim's files, so a sweep or another command can
//! draw its own figures with them.
//!
//! plotters is built without its `ttf` feature: text goes into the SVG as
//! `<text>` elements the viewer lays out, and widths are estimated (about
//! 0.6 em a character), which is why labels here keep generous gaps.

use plotters::backend::SVGBackend;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A drawing area of an SVG figure, in pixels.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// Drawing errors as text (plotters' error types are backend-generic).
pub type PlotResult = Result<(), String>;

const FONT: &str = "sans-serif";
const CAPTION_SIZE: u32 = 17;
const LABEL_SIZE: u32 = 14;
/// Height of one row of window labels above a plot, pixels.
const LANE_HEIGHT: u32 = 16;
/// Height of one row of legend entries below a plot, pixels.
const LEGEND_ROW_HEIGHT: u32 = 20;
const MARGIN: u32 = 12;
const BAND_OPACITY: f64 = 0.25;
const GRID: RGBColor = RGBColor(222, 222, 222);
const Y_LABEL_AREA: u32 = 78;
const X_LABEL_AREA: u32 = 44;

/// How a line is stroked; the legend draws the same stroke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    /// A continuous line.
    Solid,
    /// Long dashes.
    Dashed,
    /// Short dashes, almost dots.
    Dotted,
}

/// One line of a chart. A `None` y leaves a gap (e.g. an interval with no
/// sample), so a missing value is never drawn as zero.
#[derive(Clone, Debug)]
pub struct Line {
    /// Legend text.
    pub label: String,
    /// Stroke colour.
    pub color: RGBColor,
    /// Stroke pattern.
    pub dash: Dash,
    /// Mark every point with a dot (for a few measured points, not a dense series).
    pub markers: bool,
    /// (x, y) points in x order.
    pub points: Vec<(f64, Option<f64>)>,
}

/// A filled band between a low and a high curve, e.g. a confidence interval.
#[derive(Clone, Debug)]
pub struct Band {
    /// Legend text.
    pub label: String,
    /// Fill colour (drawn translucent).
    pub color: RGBColor,
    /// (x, low, high) in x order.
    pub points: Vec<(f64, f64, f64)>,
}

/// A shaded span of the x axis with its label written above the plot, e.g.
/// a fault window on a time axis. `start == end` draws a dashed marker.
#[derive(Clone, Debug)]
pub struct Window {
    /// Text written above the plot at the window's start.
    pub label: String,
    /// Start, x units.
    pub start: f64,
    /// End, x units.
    pub end: f64,
}

/// How an axis is labelled.
#[derive(Clone, Debug)]
pub enum Ticks {
    /// Numbers, placed by plotters.
    Numeric,
    /// Whole numbers only (counts of nodes, say): no label at 0.5.
    Integers,
    /// One name per integer position 0, 1, 2, …
    Categories(Vec<String>),
}

/// One axis: its description (with the unit), scale and range.
#[derive(Clone, Debug)]
pub struct Axis {
    /// Axis title, unit included.
    pub description: String,
    /// Logarithmic scale (the range must then be positive).
    pub log: bool,
    /// Shown range, low to high.
    pub range: (f64, f64),
    /// Tick labels.
    pub ticks: Ticks,
}

impl Axis {
    /// A linear numeric axis over `range`.
    pub fn linear(description: &str, range: (f64, f64)) -> Axis {
        Axis { description: description.to_string(), log: false, range, ticks: Ticks::Numeric }
    }

    /// A logarithmic numeric axis over `range`.
    pub fn log(description: &str, range: (f64, f64)) -> Axis {
        Axis { description: description.to_string(), log: true, range, ticks: Ticks::Numeric }
    }

    /// A linear axis of whole numbers from 0 to `max` and a little above.
    pub fn integers(description: &str, max: f64) -> Axis {
        Axis {
            description: description.to_string(),
            log: false,
            range: (0.0, max.max(1.0) + 0.3),
            ticks: Ticks::Integers,
        }
    }

    /// A category axis: `names[i]` labels position `i`.
    pub fn categories(description: &str, names: Vec<String>) -> Axis {
        let range = (-0.5, names.len().max(1) as f64 - 0.5);
        Axis { description: description.to_string(), log: false, range, ticks: Ticks::Categories(names) }
    }

    fn label(&self, value: f64) -> String {
        match &self.ticks {
            // plotters puts a tick at every 1..9 × 10^k; label the readable ones.
            Ticks::Numeric if self.log && !is_one_two_five(value) => String::new(),
            Ticks::Numeric => format_number(value),
            Ticks::Integers if (value - value.round()).abs() < 1e-6 => format!("{}", value.round()),
            Ticks::Integers => String::new(),
            Ticks::Categories(names) => {
                let index = value.round();
                let exact = (value - index).abs() < 1e-6 && index >= 0.0;
                match names.get(index as usize) {
                    Some(name) if exact => name.clone(),
                    _ => String::new(),
                }
            }
        }
    }

    fn label_count(&self) -> usize {
        match &self.ticks {
            // plotters draws every 1..9 × 10^k only when asked for enough
            // labels per decade; `label` then keeps the 1-2-5 ones.
            Ticks::Numeric if self.log => 20 * (self.range.1 / self.range.0).log10().floor().clamp(1.0, 12.0) as usize,
            Ticks::Numeric => 10,
            // Allowing one label per whole number keeps plotters from placing 0.5s.
            Ticks::Integers => self.range.1.floor().max(1.0) as usize + 1,
            Ticks::Categories(names) => names.len().max(1),
        }
    }
}

/// True for 1, 2 or 5 times a power of ten.
fn is_one_two_five(value: f64) -> bool {
    if value <= 0.0 || !value.is_finite() {
        return false;
    }
    let mantissa = value / 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-6 * m)
}

/// A compact tick label: no trailing zeros, fewer decimals for big numbers.
pub fn format_number(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = match magnitude {
        m if m >= 100.0 || m == 0.0 => 0,
        m if m >= 10.0 => 1,
        m if m >= 1.0 => 2,
        _ => 4,
    };
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A linear range covering `values` (and zero when `from_zero`), with 8% headroom.
pub fn linear_range(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut low, mut high) = if from_zero { (0.0, 0.0) } else { (f64::MAX, f64::MIN) };
    for value in values.filter(|v| v.is_finite()) {
        low = low.min(value);
        high = high.max(value);
    }
    if low > high {
        return (0.0, 1.0);
    }
    if high - low < 1e-9 {
        // Flat data (all zero stale reads, say): a unit-high axis around it.
        return if from_zero && low >= 0.0 { (0.0, (high * 1.1).max(1.0)) } else { (low - 0.5, high + 0.5) };
    }
    let headroom = (high - low) * 0.08;
    (if from_zero && low >= 0.0 { low } else { low - headroom }, high + headroom)
}

/// A log range covering the positive `values`, widened to whole factors so
/// at least one power of ten shows.
pub fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::MAX, f64::MIN);
    for value in values.filter(|v| *v > 0.0 && v.is_finite()) {
        low = low.min(value);
        high = high.max(value);
    }
    if low > high {
        return (1.0, 10.0);
    }
    (low / 1.6, (high * 1.6).max(low * 10.0))
}

/// One line chart panel.
#[derive(Clone, Debug)]
pub struct XyPanel<'p> {
    /// Panel title.
    pub caption: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Lines, drawn in order (later on top).
    pub lines: Vec<Line>,
    /// Bands, drawn under the lines.
    pub bands: Vec<Band>,
    /// Shaded windows, drawn under everything, labelled above the plot.
    pub windows: &'p [Window],
}

/// One group of bars: one bar per category.
#[derive(Clone, Debug)]
pub struct BarSeries {
    /// Legend text.
    pub label: String,
    /// Fill colour.
    pub color: RGBColor,
    /// One value per category.
    pub values: Vec<f64>,
}

/// A grouped bar chart panel.
#[derive(Clone, Debug)]
pub struct BarPanel {
    /// Panel title.
    pub caption: String,
    /// Category axis title.
    pub x_description: String,
    /// Category names, one per group of bars.
    pub categories: Vec<String>,
    /// Value axis title, unit included.
    pub y_description: String,
    /// Bars, side by side within each category.
    pub series: Vec<BarSeries>,
}

/// Translucent fills for windows, distinct from the line colours' hues.
const WINDOW_COLORS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of the `index`-th window of a chart.
pub fn window_color(index: usize) -> RGBColor {
    WINDOW_COLORS[index % WINDOW_COLORS.len()]
}

/// Draws an SVG of `size` pixels titled `title`, its body cut into a grid
/// of `(rows, columns)` equal panels handed to `draw`, and returns the SVG text.
pub fn figure(
    size: (u32, u32),
    title: &str,
    grid: (usize, usize),
    draw: impl FnOnce(&[Area<'_>]) -> PlotResult,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let body = root.titled(title, (FONT, 21)).map_err(|e| e.to_string())?;
        draw(&body.split_evenly(grid))?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Estimated width of `text` at `size`, pixels (plotters' own estimate).
fn text_width(text: &str, size: u32) -> i32 {
    (f64::from(size) / 1.24 / 1.24 * 0.7 * text.chars().count() as f64).round() as i32
}

/// What a legend entry shows beside its text.
enum Mark {
    Stroke(RGBColor, Dash),
    /// A swatch with the fill's opacity.
    Fill(RGBColor, f64),
}

/// Lays legend entries left to right from `left`, wrapping within `width`;
/// returns each entry's (x, row).
fn legend_layout(texts: &[&str], left: i32, width: i32) -> Vec<(i32, u32)> {
    let mut x = left;
    let mut row = 0;
    let mut places = Vec::new();
    for text in texts {
        let entry = 34 + text_width(text, LABEL_SIZE) + 24;
        if x > left && x + entry > width {
            x = left;
            row += 1;
        }
        places.push((x, row));
        x += entry;
    }
    places
}

fn legend_rows(entries: &[(String, Mark)], width: i32) -> u32 {
    let texts: Vec<&str> = entries.iter().map(|(t, _)| t.as_str()).collect();
    legend_layout(&texts, (MARGIN + Y_LABEL_AREA) as i32, width).last().map_or(0, |(_, row)| row + 1)
}

fn draw_legend(area: &Area<'_>, entries: &[(String, Mark)]) -> PlotResult {
    let width = area.dim_in_pixel().0 as i32;
    let texts: Vec<&str> = entries.iter().map(|(t, _)| t.as_str()).collect();
    let places = legend_layout(&texts, (MARGIN + Y_LABEL_AREA) as i32, width);
    let style = TextStyle::from((FONT, LABEL_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for ((text, mark), (x, row)) in entries.iter().zip(places) {
        let y = (row * LEGEND_ROW_HEIGHT + LEGEND_ROW_HEIGHT / 2) as i32 + 4;
        let sample = vec![(x, y), (x + 26, y)];
        let drawn = match mark {
            Mark::Stroke(color, Dash::Solid) => area.draw(&PathElement::new(sample, color.stroke_width(2))),
            Mark::Stroke(color, dash) => {
                let (on, off) = dash_pattern(*dash);
                area.draw(&DashedPathElement::new(sample, on, off, color.stroke_width(2)))
            }
            Mark::Fill(color, opacity) => {
                area.draw(&Rectangle::new([(x, y - 6), (x + 26, y + 6)], color.mix(*opacity).filled()))
            }
        };
        drawn.map_err(|e| e.to_string())?;
        area.draw(&Text::new(text.clone(), (x + 32, y), style.clone())).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn dash_pattern(dash: Dash) -> (i32, i32) {
    match dash {
        Dash::Dashed => (9, 5),
        _ => (2, 3),
    }
}

/// Chooses a row (0 = nearest the plot) for each label so labels in one
/// row do not overlap; `spans` are (left, width) in pixels, in drawing order.
pub fn label_lanes(spans: &[(i32, i32)]) -> Vec<u32> {
    let mut lane_ends: Vec<i32> = Vec::new();
    spans
        .iter()
        .map(|&(left, width)| {
            let lane = lane_ends.iter().position(|end| *end + 10 <= left).unwrap_or(lane_ends.len());
            if lane == lane_ends.len() {
                lane_ends.push(left + width);
            } else {
                lane_ends[lane] = left + width;
            }
            lane as u32
        })
        .collect()
}

/// A window as drawn: clamped to the x range, with its colour and where
/// its label goes (left pixel in the panel, lane), if there is room.
struct PlacedWindow<'w> {
    label: &'w str,
    color: RGBColor,
    start: f64,
    end: f64,
    label_place: Option<(i32, u32)>,
}

/// At most this many rows of window labels; a window whose label would
/// need another is shaded but unlabelled (the fault table lists it).
const MAX_LANES: u32 = 4;

/// Clamps the windows that reach into the x range and places their labels.
/// Colours follow the windows' order in the panel, so a fault keeps its
/// colour in every figure drawn from the same list.
fn place_windows<'w>(panel: &XyPanel<'w>, panel_width: i32) -> Vec<PlacedWindow<'w>> {
    let (low, high) = panel.x.range;
    let plot_left = (MARGIN + Y_LABEL_AREA) as i32;
    let plot_right = panel_width - MARGIN as i32;
    let to_pixel = |x: f64| {
        let (value, low, high) = if panel.x.log { (x.ln(), low.ln(), high.ln()) } else { (x, low, high) };
        let share = ((value - low) / (high - low)).clamp(0.0, 1.0);
        plot_left + (share * f64::from(plot_right - plot_left)).round() as i32
    };
    let visible: Vec<(usize, &Window)> =
        panel.windows.iter().enumerate().filter(|(_, w)| w.end >= low && w.start <= high).collect();
    let spans: Vec<(i32, i32)> = visible
        .iter()
        .map(|(_, w)| {
            let width = text_width(&w.label, LABEL_SIZE);
            (to_pixel(w.start).min(plot_right - width).max(plot_left), width)
        })
        .collect();
    let lanes = label_lanes(&spans);
    visible
        .into_iter()
        .zip(spans.iter().zip(lanes))
        .map(|((index, window), (span, lane))| PlacedWindow {
            label: &window.label,
            color: window_color(index),
            start: window.start.clamp(low, high),
            end: window.end.clamp(low, high),
            label_place: (lane < MAX_LANES).then_some((span.0, lane)),
        })
        .collect()
}

impl Line {
    /// The line without points a log axis cannot show (zero or negative).
    fn drawable(&self, x_log: bool, y_log: bool) -> Line {
        let keep = |x: f64, y: f64| (!x_log || x > 0.0) && (!y_log || y > 0.0);
        let points = self.points.iter().map(|&(x, y)| (x, y.filter(|y| keep(x, *y)))).collect();
        Line { points, ..self.clone() }
    }
}

/// Draws one line chart into `area`: windows, bands, lines, mesh, the
/// window labels above the plot and the legend below it.
pub fn xy_panel(area: &Area<'_>, panel: &XyPanel<'_>) -> PlotResult {
    let (width, height) = area.dim_in_pixel();
    let mut entries: Vec<(String, Mark)> =
        panel.bands.iter().map(|b| (b.label.clone(), Mark::Fill(b.color, BAND_OPACITY))).collect();
    let lines: Vec<Line> = panel.lines.iter().map(|l| l.drawable(panel.x.log, panel.y.log)).collect();
    for line in lines.iter().filter(|l| l.points.iter().any(|p| p.1.is_some())) {
        entries.push((line.label.clone(), Mark::Stroke(line.color, line.dash)));
    }
    let legend_height = legend_rows(&entries, width as i32) * LEGEND_ROW_HEIGHT + 8;
    let (chart_area, legend_area) = area.split_vertically(height.saturating_sub(legend_height));
    let windows = place_windows(panel, width as i32);
    let lanes = windows.iter().filter_map(|w| w.label_place).map(|p| p.1 + 1).max().unwrap_or(0);
    let content = Content { panel, lines: &lines, windows: &windows };
    // The caption goes above the window labels, so it is drawn first and
    // the chart (whose top margin holds the labels) built below it.
    let chart_area = chart_area.titled(&panel.caption, (FONT, CAPTION_SIZE)).map_err(|e| e.to_string())?;
    let mut builder = ChartBuilder::on(&chart_area);
    builder
        .margin(MARGIN)
        .margin_top(MARGIN / 2 + lanes * LANE_HEIGHT)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA);
    let (x, y) = (panel.x.range, panel.y.range);
    let text = |e: &dyn std::fmt::Display| e.to_string();
    match (panel.x.log, panel.y.log) {
        (false, false) => {
            let chart = builder.build_cartesian_2d(x.0..x.1, y.0..y.1).map_err(|e| text(&e))?;
            draw_xy(chart, &content, &chart_area)?
        }
        (true, false) => {
            let chart = builder.build_cartesian_2d((x.0..x.1).log_scale(), y.0..y.1).map_err(|e| text(&e))?;
            draw_xy(chart, &content, &chart_area)?
        }
        (false, true) => {
            let chart = builder.build_cartesian_2d(x.0..x.1, (y.0..y.1).log_scale()).map_err(|e| text(&e))?;
            draw_xy(chart, &content, &chart_area)?
        }
        (true, true) => {
            let chart =
                builder.build_cartesian_2d((x.0..x.1).log_scale(), (y.0..y.1).log_scale()).map_err(|e| text(&e))?;
            draw_xy(chart, &content, &chart_area)?
        }
    }
    draw_legend(&legend_area, &entries)
}

/// What [`draw_xy`] draws: the panel's axes and bands, its lines cleaned
/// for the axes' scales, and its windows placed.
struct Content<'c> {
    panel: &'c XyPanel<'c>,
    lines: &'c [Line],
    windows: &'c [PlacedWindow<'c>],
}

fn draw_xy<'a, X, Y>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    content: &Content<'_>,
    area: &Area<'_>,
) -> PlotResult
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let panel = content.panel;
    let (x_low, y_low, y_high) = (panel.x.range.0, panel.y.range.0, panel.y.range.1);
    for window in content.windows {
        let (start, end, color) = (window.start, window.end, window.color);
        if end > start {
            let shade = Rectangle::new([(start, y_low), (end, y_high)], color.mix(0.13).filled());
            chart.draw_series(std::iter::once(shade)).map_err(|e| text(&e))?;
        } else {
            let marker = DashedPathElement::new(vec![(start, y_low), (start, y_high)], 6, 4, color.stroke_width(2));
            chart.draw_series(std::iter::once(marker)).map_err(|e| text(&e))?;
        }
    }
    chart
        .configure_mesh()
        .x_desc(panel.x.description.as_str())
        .y_desc(panel.y.description.as_str())
        .x_labels(panel.x.label_count())
        .y_labels(panel.y.label_count())
        .x_label_formatter(&|v| panel.x.label(*v))
        .y_label_formatter(&|v| panel.y.label(*v))
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE + 1))
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .draw()
        .map_err(|e| text(&e))?;
    for band in &panel.bands {
        let mut outline: Vec<(f64, f64)> = band.points.iter().map(|p| (p.0, p.2)).collect();
        outline.extend(band.points.iter().rev().map(|p| (p.0, p.1)));
        let fill = band.color.mix(BAND_OPACITY);
        chart.draw_series(std::iter::once(Polygon::new(outline, fill))).map_err(|e| text(&e))?;
    }
    for line in content.lines {
        draw_line(&mut chart, line)?;
    }
    let base = area.get_base_pixel();
    let style = TextStyle::from((FONT, LABEL_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Bottom));
    let top = chart.backend_coord(&(x_low, y_high)).1 - base.1;
    for window in content.windows {
        let Some((left, lane)) = window.label_place else { continue };
        let y = top - 3 - (lane * LANE_HEIGHT) as i32;
        let color = darker(window.color);
        area.draw(&Text::new(window.label, (left, y), style.color(&color))).map_err(|e| text(&e))?;
    }
    Ok(())
}

/// `color` at three quarters of its brightness, for a window's label over
/// the window's own fill (in 16 bits: a channel above 85 times 3 leaves a
/// byte).
fn darker(color: RGBColor) -> RGBColor {
    let darker = |channel: u8| (u16::from(channel) * 3 / 4) as u8;
    RGBColor(darker(color.0), darker(color.1), darker(color.2))
}

/// Draws `line` as runs of consecutive points; a lone point gets a dot.
fn draw_line<'a, X, Y>(chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>, line: &Line) -> PlotResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let style = line.color.stroke_width(2);
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (x, y) in &line.points {
        match y {
            Some(y) => runs.last_mut().expect("one run at least").push((*x, *y)),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    if line.markers {
        let dots = line.points.iter().filter_map(|(x, y)| y.map(|y| Circle::new((*x, y), 3, line.color.filled())));
        chart.draw_series(dots).map_err(|e| text(&e))?;
    }
    for run in runs.into_iter().filter(|r| !r.is_empty()) {
        if run.len() == 1 {
            chart.draw_series(std::iter::once(Circle::new(run[0], 2, line.color.filled()))).map_err(|e| text(&e))?;
            continue;
        }
        match line.dash {
            Dash::Solid => chart.draw_series(LineSeries::new(run, style)).map(|_| ()),
            dash => {
                let (on, off) = dash_pattern(dash);
                chart.draw_series(DashedLineSeries::new(run, on, off, style)).map(|_| ())
            }
        }
        .map_err(|e| text(&e))?;
    }
    Ok(())
}

/// Draws a grouped bar chart into `area`, legend below.
pub fn bar_panel(area: &Area<'_>, panel: &BarPanel) -> PlotResult {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let (width, height) = area.dim_in_pixel();
    let entries: Vec<(String, Mark)> =
        panel.series.iter().map(|s| (s.label.clone(), Mark::Fill(s.color, 1.0))).collect();
    let legend_height = legend_rows(&entries, width as i32) * LEGEND_ROW_HEIGHT + 8;
    let (chart_area, legend_area) = area.split_vertically(height.saturating_sub(legend_height));
    let x = Axis::categories(&panel.x_description, panel.categories.clone());
    let values = panel.series.iter().flat_map(|s| s.values.iter().copied());
    let y = Axis::linear(&panel.y_description, linear_range(values, true));
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(&panel.caption, (FONT, CAPTION_SIZE))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x.range.0..x.range.1, y.range.0..y.range.1)
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(x.description.as_str())
        .y_desc(y.description.as_str())
        .x_labels(x.label_count())
        .x_label_formatter(&|v| x.label(*v))
        .y_label_formatter(&|v| y.label(*v))
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE + 1))
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .draw()
        .map_err(|e| text(&e))?;
    let slot = 0.8 / panel.series.len().max(1) as f64;
    for (index, series) in panel.series.iter().enumerate() {
        let bars = series.values.iter().enumerate().map(|(category, value)| {
            let left = category as f64 - 0.4 + slot * index as f64;
            Rectangle::new([(left + slot * 0.06, 0.0), (left + slot * 0.94, *value)], series.color.filled())
        });
        chart.draw_series(bars).map_err(|e| text(&e))?;
    }
    draw_legend(&legend_area, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_would_overlap_go_to_separate_lanes() {
        // Two overlapping labels, then one far right that fits the first lane again.
        assert_eq!(label_lanes(&[(100, 80), (150, 80), (400, 50)]), vec![0, 1, 0]);
        // A 10-pixel gap is kept between labels in one row.
        assert_eq!(label_lanes(&[(100, 80), (190, 20)]), vec![0, 0]);
        assert_eq!(label_lanes(&[(100, 80), (185, 20)]), vec![0, 1]);
        assert!(label_lanes(&[]).is_empty());
    }

    #[test]
    fn log_axes_label_one_two_five_only() {
        let axis = Axis::log("latency", (1.0, 100.0));
        let labels: Vec<String> = [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0, 50.0].iter().map(|v| axis.label(*v)).collect();
        assert_eq!(labels, ["1", "2", "", "5", "10", "20", "", "50"]);
        assert_eq!(Axis::integers("nodes", 3.0).label(0.5), "");
        assert_eq!(Axis::integers("nodes", 3.0).label(2.0), "2");
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(format_number(2000.0), "2000");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(0.999), "0.999");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(10.0), "10");
    }

    #[test]
    fn category_axes_label_only_whole_positions() {
        let axis = Axis::categories("node", vec!["n0".into(), "n1".into()]);
        assert_eq!(axis.label(1.0), "n1");
        assert_eq!(axis.label(0.5), "");
        assert_eq!(axis.label(2.0), "");
        assert_eq!(axis.label(-1.0), "");
    }

    #[test]
    fn ranges_cover_the_values_and_survive_empty_or_flat_input() {
        assert_eq!(linear_range(std::iter::empty(), true), (0.0, 1.0));
        assert_eq!(linear_range([0.0, 0.0].into_iter(), true), (0.0, 1.0));
        assert_eq!(linear_range([3.0, 3.0].into_iter(), false), (2.5, 3.5));
        let (low, high) = linear_range([2.0, 12.0].into_iter(), true);
        assert!(low == 0.0 && high > 12.0);
        let (low, high) = log_range([0.0, 100.0, 1000.0].into_iter());
        assert!(low < 100.0 && high > 1000.0 && low > 0.0);
    }
}
