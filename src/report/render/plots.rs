//! The run directory's figures: each one reads its CSV columns by name and
//! hands lines, bands and fault windows to the generic helpers in
//! [`super::chart`]. A figure whose file is absent is not drawn.

use super::chart::{self, Axis, BarPanel, BarSeries, Dash, Line, Window, XyPanel};
use super::data::{invalid, Table};
use plotters::style::RGBColor;

/// One rendered figure.
pub struct Plot {
    /// File name in the run directory, e.g. `latency.svg`.
    pub file: &'static str,
    /// A heading for the report page.
    pub heading: &'static str,
    /// The SVG text.
    pub svg: String,
}

/// The CSV files the figures are drawn from; `None` = absent (figure skipped).
pub struct RunTables {
    /// `timeseries.csv`.
    pub timeseries: Option<Table>,
    /// `faults.csv`.
    pub faults: Option<Table>,
    /// `latency_cdf.csv`.
    pub latency_cdf: Option<Table>,
    /// `nodes.csv`.
    pub nodes: Option<Table>,
    /// `staleness.csv`.
    pub staleness: Option<Table>,
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const GREY: RGBColor = RGBColor(90, 90, 90);
const WIDTH: u32 = 1100;

type Io<T> = std::io::Result<T>;

/// Draws every figure whose files exist, in the order the report shows them.
pub fn draw_all(tables: &RunTables) -> Io<Vec<Plot>> {
    let mut plots = Vec::new();
    if let Some(series) = tables.timeseries.as_ref().filter(|t| !t.is_empty()) {
        let time = TimeSeries::read(series, tables.faults.as_ref())?;
        plots.push(latency_over_time(series, &time)?);
        plots.push(availability_over_time(series, &time)?);
        plots.push(staleness_over_time(series, &time)?);
        plots.push(hints_and_nodes(series, &time)?);
    }
    if let Some(table) = tables.staleness.as_ref().filter(|t| !t.is_empty()) {
        plots.push(consistency_curve(table)?);
    }
    if let Some(table) = tables.latency_cdf.as_ref().filter(|t| !t.is_empty()) {
        plots.push(latency_cdf(table)?);
    }
    if let Some(table) = tables.nodes.as_ref().filter(|t| !t.is_empty()) {
        plots.push(load_per_node(table)?);
    }
    Ok(plots)
}

/// The time axis shared by the time-series figures: interval midpoints and
/// ends in the display unit, the x range and the fault windows.
struct TimeSeries {
    unit: &'static str,
    /// Interval midpoints, display units (for per-interval counts).
    middles: Vec<f64>,
    /// Interval ends, display units (for values sampled at the end).
    ends: Vec<f64>,
    range: (f64, f64),
    windows: Vec<Window>,
    interval_ms: f64,
}

impl TimeSeries {
    fn read(series: &Table, faults: Option<&Table>) -> Io<TimeSeries> {
        let starts = series.numbers("start_ms")?;
        let ends = series.numbers("end_ms")?;
        let first = starts.first().copied().unwrap_or(0.0);
        let last = ends.last().copied().unwrap_or(1.0);
        if last <= first {
            return Err(invalid(series.path(), format!("end_ms {last} of the last row is not after start_ms {first}")));
        }
        let (unit_ms, unit) = if last - first >= 2000.0 { (1000.0, "s") } else { (1.0, "ms") };
        let windows = match faults {
            Some(table) => fault_windows(table, unit_ms)?,
            None => Vec::new(),
        };
        Ok(TimeSeries {
            unit,
            middles: starts.iter().zip(&ends).map(|(s, e)| (s + e) / 2.0 / unit_ms).collect(),
            ends: ends.iter().map(|e| e / unit_ms).collect(),
            range: (first / unit_ms, last / unit_ms),
            windows,
            interval_ms: ends.first().zip(starts.first()).map_or(0.0, |(e, s)| e - s),
        })
    }

    fn axis(&self) -> Axis {
        Axis::linear(&format!("simulated time ({})", self.unit), self.range)
    }

    /// A line through the interval midpoints.
    fn line(&self, label: &str, color: RGBColor, dash: Dash, values: Vec<Option<f64>>) -> Line {
        Line {
            label: label.to_string(),
            color,
            dash,
            markers: false,
            points: self.middles.iter().copied().zip(values).collect(),
        }
    }

    fn per_interval(&self) -> String {
        chart::format_number(self.interval_ms)
    }
}

fn fault_windows(table: &Table, unit_ms: f64) -> Io<Vec<Window>> {
    let labels = table.texts("label")?;
    let starts = table.numbers("start_ms")?;
    let ends = table.numbers("end_ms")?;
    Ok(labels
        .into_iter()
        .zip(starts.iter().zip(&ends))
        .map(|(label, (start, end))| Window { label, start: start / unit_ms, end: end.max(*start) / unit_ms })
        .collect())
}

fn svg(file: &'static str, heading: &'static str, drawn: Result<String, String>) -> Io<Plot> {
    drawn.map(|svg| Plot { file, heading, svg }).map_err(|e| std::io::Error::other(format!("drawing {file}: {e}")))
}

/// p50 / p99 / p99.9 latency per op type, one panel each, log y.
fn latency_over_time(series: &Table, time: &TimeSeries) -> Io<Plot> {
    let mut columns = Vec::new();
    for op in ["read", "write"] {
        for (percentile, column) in [("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us")] {
            columns.push((op, percentile, series.optional_numbers(&format!("{op}_{column}"))?));
        }
    }
    let mut all: Vec<f64> = columns.iter().flat_map(|c| c.2.iter().flatten().copied()).collect();
    all.sort_by(f64::total_cmp);
    let in_ms = all.get(all.len() / 2).is_some_and(|median| *median >= 1000.0);
    let (divisor, unit) = if in_ms { (1000.0, "ms") } else { (1.0, "µs") };
    let range = chart::log_range(all.iter().map(|v| v / divisor));
    let styles = [(BLUE, Dash::Solid), (ORANGE, Dash::Dashed), (GREEN, Dash::Dotted)];
    let panels: Vec<XyPanel<'_>> = ["read", "write"]
        .iter()
        .map(|op| XyPanel {
            caption: format!("{op}s"),
            x: time.axis(),
            y: Axis::log(&format!("latency ({unit}, log scale)"), range),
            lines: columns
                .iter()
                .filter(|c| c.0 == *op)
                .zip(styles)
                .map(|((_, percentile, values), (color, dash))| {
                    let scaled = values.iter().map(|v| v.map(|v| v / divisor)).collect();
                    time.line(&format!("{op} {percentile}"), color, dash, scaled)
                })
                .collect(),
            bands: Vec::new(),
            windows: &time.windows,
        })
        .collect();
    let title =
        format!("Latency of successful operations per {} ms interval, fault windows shaded", time.per_interval());
    svg(
        "latency.svg",
        "Latency over time",
        chart::figure((WIDTH, 760), &title, (2, 1), |areas| {
            chart::xy_panel(&areas[0], &panels[0])?;
            chart::xy_panel(&areas[1], &panels[1])
        }),
    )
}

/// ok / (ok + failed + timed out) per interval, per op type and overall.
fn availability_over_time(series: &Table, time: &TimeSeries) -> Io<Plot> {
    let mut per_op = Vec::new();
    for op in ["read", "write"] {
        let ok = series.numbers(&format!("{op}_ok"))?;
        let failed = series.numbers(&format!("{op}_failed"))?;
        let timed_out = series.numbers(&format!("{op}_timed_out"))?;
        per_op.push((ok, failed.iter().zip(&timed_out).map(|(f, t)| f + t).collect::<Vec<f64>>()));
    }
    let ratio = |ok: f64, bad: f64| (ok + bad > 0.0).then(|| ok / (ok + bad));
    let mut lines = Vec::new();
    for ((ok, bad), (op, color, dash)) in
        per_op.iter().zip([("read", BLUE, Dash::Solid), ("write", ORANGE, Dash::Dashed)])
    {
        let values = ok.iter().zip(bad).map(|(o, b)| ratio(*o, *b)).collect();
        lines.push(time.line(&format!("{op}s"), color, dash, values));
    }
    let all = (0..time.middles.len())
        .map(|i| ratio(per_op[0].0[i] + per_op[1].0[i], per_op[0].1[i] + per_op[1].1[i]))
        .collect();
    lines.push(time.line("all operations", GREY, Dash::Dotted, all));
    let lowest = lines.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1)).fold(1.0, f64::min);
    let low = ((lowest - 0.02) * 20.0).floor() / 20.0;
    let panel = XyPanel {
        caption: "availability of completed operations".to_string(),
        x: time.axis(),
        y: Axis::linear("ok / (ok + failed + timed out)", (low.clamp(0.0, 0.95), 1.005)),
        lines,
        bands: Vec::new(),
        windows: &time.windows,
    };
    let title = format!("Availability per {} ms interval, fault windows shaded", time.per_interval());
    svg(
        "availability.svg",
        "Availability over time",
        chart::figure((WIDTH, 420), &title, (1, 1), |a| chart::xy_panel(&a[0], &panel)),
    )
}

/// Stale reads and reads returning siblings per interval.
fn staleness_over_time(series: &Table, time: &TimeSeries) -> Io<Plot> {
    let stale = series.numbers("stale_reads")?;
    let siblings = series.numbers("reads_with_siblings")?;
    let range = chart::linear_range(stale.iter().chain(&siblings).copied(), true);
    let panel = XyPanel {
        caption: "reads per interval, by completion".to_string(),
        x: time.axis(),
        y: Axis::linear(&format!("reads per {} ms", time.per_interval()), range),
        lines: vec![
            time.line("stale reads", BLUE, Dash::Solid, stale.into_iter().map(Some).collect()),
            time.line("reads with siblings", ORANGE, Dash::Dashed, siblings.into_iter().map(Some).collect()),
        ],
        bands: Vec::new(),
        windows: &time.windows,
    };
    let title = "Stale reads and reads with siblings over time, fault windows shaded";
    svg(
        "staleness.svg",
        "Stale reads and siblings over time",
        chart::figure((WIDTH, 420), title, (1, 1), |a| chart::xy_panel(&a[0], &panel)),
    )
}

/// Hints pending (top) and nodes down / suspected (bottom), sampled at interval ends.
fn hints_and_nodes(series: &Table, time: &TimeSeries) -> Io<Plot> {
    let sampled = |label: &str, color, dash, values: Vec<f64>| Line {
        label: label.to_string(),
        color,
        dash,
        markers: false,
        points: time.ends.iter().copied().zip(values.into_iter().map(Some)).collect(),
    };
    let pending = series.numbers("hints_pending")?;
    let down = series.numbers("nodes_down")?;
    let suspected = series.numbers("nodes_suspected")?;
    let most = down.iter().chain(&suspected).copied().fold(0.0, f64::max);
    let hints = XyPanel {
        caption: "hinted versions held for unreachable nodes".to_string(),
        x: time.axis(),
        y: Axis::linear("hints pending", chart::linear_range(pending.iter().copied(), true)),
        lines: vec![sampled("hints pending", BLUE, Dash::Solid, pending)],
        bands: Vec::new(),
        windows: &time.windows,
    };
    let nodes = XyPanel {
        caption: "nodes down, and nodes suspected by a live peer".to_string(),
        x: time.axis(),
        y: Axis::integers("nodes", most),
        lines: vec![
            sampled("nodes down", ORANGE, Dash::Solid, down),
            sampled("nodes suspected", GREEN, Dash::Dashed, suspected),
        ],
        bands: Vec::new(),
        windows: &time.windows,
    };
    let title = "Hinted handoff and failure detection over time (sampled at each interval's end)";
    svg(
        "hints.svg",
        "Hints pending, nodes down and suspected",
        chart::figure((WIDTH, 760), title, (2, 1), |areas| {
            chart::xy_panel(&areas[0], &hints)?;
            chart::xy_panel(&areas[1], &nodes)
        }),
    )
}

/// Empirical latency CDF per op type, log x.
fn latency_cdf(table: &Table) -> Io<Plot> {
    let ops = table.texts("op")?;
    let latency = table.numbers("latency_us")?;
    let fraction = table.numbers("fraction")?;
    let mut names: Vec<&String> = ops.iter().collect();
    names.sort();
    names.dedup();
    let in_ms = latency.iter().copied().fold(0.0, f64::max) >= 10_000.0;
    let (divisor, unit) = if in_ms { (1000.0, "ms") } else { (1.0, "µs") };
    let colors = [(BLUE, Dash::Solid), (ORANGE, Dash::Dashed), (GREEN, Dash::Dotted)];
    let lines = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let (color, dash) = colors[index % colors.len()];
            let points = ops
                .iter()
                .zip(latency.iter().zip(&fraction))
                .filter(|(op, _)| op == name)
                .map(|(_, (l, f))| (l / divisor, Some(*f)))
                .collect();
            Line { label: format!("{name}s"), color, dash, markers: false, points }
        })
        .collect();
    let panel = XyPanel {
        caption: "fraction of successful operations at or below a latency".to_string(),
        x: Axis::log(&format!("latency ({unit}, log scale)"), chart::log_range(latency.iter().map(|l| l / divisor))),
        y: Axis::linear("cumulative fraction", (0.0, 1.02)),
        lines,
        bands: Vec::new(),
        windows: &[],
    };
    svg(
        "latency_cdf.svg",
        "Latency distribution",
        chart::figure((WIDTH, 460), "Latency CDF per operation type", (1, 1), |a| chart::xy_panel(&a[0], &panel)),
    )
}

/// Requests coordinated and served, and keys held, per node.
fn load_per_node(table: &Table) -> Io<Plot> {
    let nodes = table.texts("node")?;
    let requests = BarPanel {
        caption: "requests per node".to_string(),
        x_description: "node".to_string(),
        categories: nodes.clone(),
        y_description: "requests".to_string(),
        series: vec![
            BarSeries { label: "coordinated".to_string(), color: BLUE, values: table.numbers("coordinated")? },
            BarSeries { label: "served as replica".to_string(), color: ORANGE, values: table.numbers("served")? },
        ],
    };
    let keys = BarPanel {
        caption: "keys stored per node at the end".to_string(),
        x_description: "node".to_string(),
        categories: nodes,
        y_description: "keys".to_string(),
        series: vec![BarSeries { label: "keys held".to_string(), color: GREEN, values: table.numbers("keys_held")? }],
    };
    svg(
        "load.svg",
        "Load per node",
        chart::figure((WIDTH, 440), "Load per node", (1, 2), |areas| {
            chart::bar_panel(&areas[0], &requests)?;
            chart::bar_panel(&areas[1], &keys)
        }),
    )
}

/// P(consistent read) with its 95% CI: vs the probe delay t (probe mode,
/// every row has bin_lo_ms = bin_hi_ms) or vs time since the key's last
/// acknowledged write (bins).
fn consistency_curve(table: &Table) -> Io<Plot> {
    let low = table.numbers("bin_lo_ms")?;
    let high = table.optional_numbers("bin_hi_ms")?;
    // A bin without reads has no probability: its cells are empty.
    let p = table.optional_numbers("p_consistent")?;
    let ci_low = table.optional_numbers("ci_low")?;
    let ci_high = table.optional_numbers("ci_high")?;
    let probe = low.iter().zip(&high).all(|(l, h)| *h == Some(*l));
    let names: Vec<String> = low
        .iter()
        .zip(&high)
        .map(|(l, h)| match h {
            _ if probe => chart::format_number(*l),
            Some(h) => format!("{}–{}", chart::format_number(*l), chart::format_number(*h)),
            None => format!("≥ {}", chart::format_number(*l)),
        })
        .collect();
    let x: Vec<f64> = (0..names.len()).map(|i| i as f64).collect();
    let bottom = ci_low.iter().chain(&p).flatten().copied().fold(1.0, f64::min);
    let target = Line {
        label: "P = 0.999".to_string(),
        color: GREY,
        dash: Dash::Dotted,
        markers: false,
        points: vec![(-0.5, Some(0.999)), (names.len() as f64 - 0.5, Some(0.999))],
    };
    let (title, axis) = if probe {
        (
            "P(consistent read) t ms after a write committed (probe workload)",
            "t after the write committed (ms; probed delays, evenly spaced)",
        )
    } else {
        (
            "P(consistent read) by time since the key's last acknowledged write",
            "time since the last acknowledged write of the key (ms; bins, evenly spaced)",
        )
    };
    let panel = XyPanel {
        caption: "share of reads returning the latest acknowledged write, 95% Wilson interval".to_string(),
        x: Axis::categories(axis, names),
        y: Axis::linear("P(consistent)", (((bottom - 0.02) * 50.0).floor().max(0.0) / 50.0, 1.005)),
        lines: vec![
            target,
            Line {
                label: "P(consistent)".to_string(),
                color: BLUE,
                dash: Dash::Solid,
                markers: true,
                points: x.iter().copied().zip(p.iter().copied()).collect(),
            },
        ],
        bands: vec![chart::Band {
            label: "95% confidence interval".to_string(),
            color: BLUE,
            points: x
                .iter()
                .zip(ci_low.iter().zip(&ci_high))
                .filter_map(|(x, (l, h))| Some((*x, (*l)?, (*h)?)))
                .collect(),
        }],
        windows: &[],
    };
    svg(
        "pbs.svg",
        "Staleness: probability of a consistent read",
        chart::figure((WIDTH, 460), title, (1, 1), |a| chart::xy_panel(&a[0], &panel)),
    )
}
