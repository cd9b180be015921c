//! `report.html`: one self-contained page per run (inline CSS, inlined SVG,
//! no script, nothing fetched), so it can be mailed or attached to an issue.
//! Every figure is printed from `summary.json` as written there (a fraction
//! or a duration gets a readable form beside it), so the page and the file
//! never disagree.

use super::data::Table;
use super::plots::Plot;
use serde_json::Value;
use std::fmt::Write as _;

/// What one page shows.
pub struct Page<'a> {
    /// `summary.json`, parsed.
    pub summary: &'a Value,
    /// `scenario.toml`, if the run directory has it.
    pub scenario_text: Option<&'a str>,
    /// `faults.csv`, if present (else the summary's `faults` list is shown).
    pub faults: Option<&'a Table>,
    /// The figures, in page order.
    pub plots: &'a [Plot],
    /// The command that reproduces the run.
    pub repro: &'a str,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1140px;\
padding:16px 20px 48px;color:#1d1d1f;line-height:1.4}h1{margin-bottom:4px}.meta{color:#555;margin-top:0}\
h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}table{border-collapse:collapse;margin:8px 0}\
th,td{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f5f5f7}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.held{background:#e3f4e3;color:#14532d}\
.violated{background:#fde2e2;color:#8a1010;font-weight:600}.not-applicable{background:#eeeeee;color:#444}\
.not-checked{background:#e8eef8;color:#24406b}figure{margin:16px 0}figure svg{width:100%;height:auto}\
pre{background:#f5f5f7;border:1px solid #ddd;padding:10px;overflow-x:auto}.note{color:#555;font-size:92%}";

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the page.
pub fn page(page: &Page<'_>) -> String {
    let s = page.summary;
    let name = raw(s.get("scenario"));
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(html, "<title>dynasim: {} seed {}</title>", escape(&name), escape(&raw(s.get("seed"))));
    let _ = writeln!(html, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(html, "<h1>{}</h1>", escape(&name));
    let _ = writeln!(
        html,
        "<p class=\"meta\">seed {} · digest <code>{}</code> · dynasim {} · summary schema {}</p>",
        escape(&raw(s.get("seed"))),
        escape(&raw(s.get("digest"))),
        escape(&raw(s.get("dynasim_version"))),
        escape(&raw(s.get("schema_version"))),
    );
    invariants(&mut html, s);
    key_figures(&mut html, s);
    latency_table(&mut html, s);
    windows_table(&mut html, s);
    plots(&mut html, page.plots);
    fault_timeline(&mut html, s, page.faults);
    html.push_str("<h2>Scenario</h2>\n");
    match page.scenario_text {
        Some(text) => {
            let _ = writeln!(html, "<pre>{}</pre>", escape(text));
        }
        None => html.push_str("<p class=\"note\">scenario.toml is not in the run directory.</p>\n"),
    }
    let _ = writeln!(html, "<h2>Reproduce</h2>\n<pre>{}</pre>\n</body>\n</html>", escape(page.repro));
    html
}

/// A JSON value exactly as summary.json has it; "—" when absent.
fn raw(value: Option<&Value>) -> String {
    match value {
        None => "—".to_string(),
        Some(Value::Null) => "none".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// A fraction as a percentage, followed by the exact value.
fn fraction(value: Option<&Value>) -> String {
    match value.and_then(Value::as_f64) {
        Some(f) => format!("{:.3}% ({})", f * 100.0, raw(value)),
        None => raw(value),
    }
}

/// Microseconds with a readable duration beside them.
fn micros(value: Option<&Value>) -> String {
    match value.and_then(Value::as_f64) {
        Some(us) if us >= 1e6 => format!("{} µs ({:.3} s)", raw(value), us / 1e6),
        Some(us) if us >= 1e3 => format!("{} µs ({:.3} ms)", raw(value), us / 1e3),
        Some(_) => format!("{} µs", raw(value)),
        None => raw(value),
    }
}

fn verdict_class(verdict: &str) -> &'static str {
    ["held", "violated", "not-applicable"].into_iter().find(|c| verdict.starts_with(c)).unwrap_or("not-checked")
}

fn invariants(html: &mut String, s: &Value) {
    html.push_str("<h2>Invariants</h2>\n<table>\n<tr><th>invariant</th><th>verdict</th></tr>\n");
    for (name, verdict) in s.get("invariants").and_then(Value::as_object).into_iter().flatten() {
        let verdict = raw(Some(verdict));
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(name),
            verdict_class(&verdict),
            escape(&verdict)
        );
    }
    html.push_str("</table>\n");
}

/// One row of the key figures table: group, figure, value (already text).
type Row = (&'static str, String, String);

fn key_figures(html: &mut String, s: &Value) {
    let at = |pointer: &str| s.pointer(pointer);
    let mut rows: Vec<Row> = vec![
        (
            "operations",
            "issued".into(),
            format!("{} ({} reads, {} writes)", raw(at("/ops/total")), raw(at("/ops/reads")), raw(at("/ops/writes"))),
        ),
        ("operations", "succeeded".into(), raw(at("/ops/succeeded"))),
    ];
    for (cause, count) in at("/ops/failed").and_then(Value::as_object).into_iter().flatten() {
        rows.push(("operations", format!("failed: {}", cause.replace('_', " ")), raw(Some(count))));
    }
    rows.push(("operations", "timed out".into(), raw(at("/ops/timed_out"))));
    rows.push(("operations", "in flight at the end".into(), raw(at("/ops/in_flight"))));
    rows.push(("operations", "throughput (ops/s)".into(), raw(at("/throughput_ops_per_s"))));
    for (kind, value) in at("/ops/availability").and_then(Value::as_object).into_iter().flatten() {
        rows.push(("availability", kind.clone(), fraction(Some(value))));
    }
    rows.push((
        "consistency",
        "stale reads".into(),
        format!(
            "{} of {} reads of written keys",
            raw(at("/consistency/stale_reads")),
            raw(at("/consistency/reads_of_written_keys"))
        ),
    ));
    let siblings: Vec<String> = at("/consistency/siblings_per_read")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(versions, reads)| format!("{versions}: {}", raw(Some(reads))))
        .collect();
    rows.push(("consistency", "reads by versions returned (siblings)".into(), siblings.join(" · ")));
    for field in ["indeterminate_writes", "causal_sibling_violations", "false_conflicts", "duplicate_coordinations"] {
        rows.push(("consistency", field.replace('_', " "), raw(s.pointer(&format!("/consistency/{field}")))));
    }
    rows.push(("lost writes", "all lost writes".into(), raw(at("/consistency/lost_writes"))));
    for (field, label) in [
        ("lost_writes_disk_or_buffer", "cause: disk or unflushed buffer"),
        ("lost_writes_sibling_cap", "cause: sibling cap"),
        ("lost_writes_overwritten", "cause: overwritten (lost update / last-write-wins)"),
        ("lost_writes_unexplained", "cause: unexplained"),
        ("lost_updates", "lost updates"),
        ("lww_lost_updates", "last-write-wins lost updates"),
        ("resurfaced_deletes", "resurfaced deletes"),
    ] {
        rows.push(("lost writes", label.into(), raw(s.pointer(&format!("/consistency/{field}")))));
    }
    object_rows(&mut rows, "hints", at("/hints"), HINT_FIGURES);
    object_rows(&mut rows, "convergence", at("/convergence"), CONVERGENCE_FIGURES);
    object_rows(&mut rows, "network", at("/network"), &[]);
    object_rows(&mut rows, "staleness", at("/staleness"), &[]);
    html.push_str("<h2>Key figures</h2>\n<table>\n<tr><th></th><th>figure</th><th>value</th></tr>\n");
    for (group, figure, value) in rows {
        let _ = writeln!(
            html,
            "<tr><th>{group}</th><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&figure),
            escape(&value)
        );
    }
    html.push_str("</table>\n");
}

/// Hint figures in the order a reader follows them (every stored hint ends
/// in one of the next six buckets), with their labels.
const HINT_FIGURES: &[(&str, &str)] = &[
    ("stored", "hinted versions stored"),
    ("delivered", "delivered"),
    ("superseded", "superseded by a newer hint"),
    ("dropped_by_sibling_cap", "dropped by the sibling cap"),
    ("lost", "lost with a disk"),
    ("retargeted", "retargeted (node left)"),
    ("pending_at_end", "pending at the end"),
    ("drained_after_last_heal_us", "drained after the last heal"),
];

/// Convergence figures, the convergence time first.
const CONVERGENCE_FIGURES: &[(&str, &str)] = &[
    ("converged_after_heal_us", "replicas agreed after the last heal"),
    ("bound_us", "bound (converge_within_ms)"),
    ("keys_not_converged", "keys not converged"),
    ("anti_entropy_rounds", "anti-entropy rounds"),
    ("keys_repaired", "keys repaired by anti-entropy"),
    ("tree_nodes_exchanged", "Merkle tree nodes exchanged"),
    ("bytes_exchanged", "anti-entropy bytes"),
    ("full_copy_bytes", "bytes a full copy would take"),
];

/// Every scalar field of a summary section (one level of nesting
/// included): the `known` ones first, in that order and with those
/// labels, then any others, so figures added to the summary appear
/// without code here.
fn object_rows(rows: &mut Vec<Row>, group: &'static str, section: Option<&Value>, known: &[(&str, &str)]) {
    let Some(object) = section.and_then(Value::as_object) else { return };
    for (key, label) in known {
        if let Some(value) = object.get(*key) {
            rows.push((group, label.to_string(), scalar(key, value)));
        }
    }
    for (key, value) in object.iter().filter(|(k, _)| !known.iter().any(|(name, _)| name == k)) {
        let label = key.replace('_', " ");
        match value {
            Value::Object(inner) => {
                for (inner_key, inner_value) in inner.iter().filter(|(_, v)| !v.is_object() && !v.is_array()) {
                    let figure = format!("{label}: {}", inner_key.replace('_', " "));
                    rows.push((group, figure, scalar(inner_key, inner_value)));
                }
            }
            Value::Array(items) => rows.push((group, label, format!("{} entries", items.len()))),
            _ => rows.push((group, label, scalar(key, value))),
        }
    }
}

fn scalar(key: &str, value: &Value) -> String {
    if key.ends_with("_us") {
        micros(Some(value))
    } else {
        raw(Some(value))
    }
}

fn latency_table(html: &mut String, s: &Value) {
    let columns = ["count", "p50", "p95", "p99", "p999", "max", "mean"];
    html.push_str("<h2>Latency of successful operations (µs)</h2>\n<table>\n<tr><th>op</th>");
    for column in columns {
        let _ = write!(html, "<th>{}</th>", if column == "p999" { "p99.9" } else { column });
    }
    html.push_str("</tr>\n");
    for (op, figures) in s.get("latency_us").and_then(Value::as_object).into_iter().flatten() {
        let _ = write!(html, "<tr><td>{}</td>", escape(op));
        for column in columns {
            let _ = write!(html, "<td class=\"n\">{}</td>", escape(&raw(figures.get(column))));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
}

fn windows_table(html: &mut String, s: &Value) {
    let Some(windows) = s.get("windows").and_then(Value::as_array).filter(|w| !w.is_empty()) else { return };
    html.push_str(
        "<h2>Availability between fault times</h2>\n<table>\n<tr><th>from (µs)</th><th>to (µs)</th><th>window</th>\
         <th>reads ok / issued</th><th>writes ok / issued</th><th>availability</th><th>read p99 (µs)</th>\
         <th>write p99 (µs)</th><th>lost updates</th></tr>\n",
    );
    for w in windows {
        let cells = [
            raw(w.get("start_us")),
            raw(w.get("end_us")),
            raw(w.get("label")),
            format!("{} / {}", raw(w.get("reads_ok")), raw(w.get("reads"))),
            format!("{} / {}", raw(w.get("writes_ok")), raw(w.get("writes"))),
            fraction(w.get("availability")),
            raw(w.get("read_p99_us")),
            raw(w.get("write_p99_us")),
            raw(w.get("lost_updates")),
        ];
        html.push_str("<tr>");
        for (index, cell) in cells.iter().enumerate() {
            let class = if index == 2 { "" } else { " class=\"n\"" };
            let _ = write!(html, "<td{class}>{}</td>", escape(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
}

fn plots(html: &mut String, plots: &[Plot]) {
    html.push_str("<h2>Plots</h2>\n");
    if plots.is_empty() {
        html.push_str(
            "<p class=\"note\">No plots: the run directory has none of the CSV files they are drawn from.</p>\n",
        );
    }
    for plot in plots {
        // HTML needs no namespace on inline SVG; dropping it keeps the page free of URLs.
        let svg = plot.svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "");
        let _ = writeln!(
            html,
            "<figure id=\"{}\">\n<h3>{}</h3>\n{}</figure>",
            escape(plot.file),
            escape(plot.heading),
            svg
        );
    }
}

fn fault_timeline(html: &mut String, s: &Value, faults: Option<&Table>) {
    html.push_str("<h2>Fault timeline</h2>\n");
    let from_csv = faults.and_then(|table| {
        let labels = table.texts("label").ok()?;
        let kinds = table.texts("kind").ok()?;
        let starts = table.texts("start_ms").ok()?;
        let ends = table.texts("end_ms").ok()?;
        Some((labels, kinds, starts, ends))
    });
    if let Some((labels, kinds, starts, ends)) = from_csv {
        html.push_str("<table>\n<tr><th>fault</th><th>kind</th><th>start (ms)</th><th>end (ms)</th></tr>\n");
        for index in 0..labels.len() {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&labels[index]),
                escape(&kinds[index]),
                escape(&starts[index]),
                escape(&ends[index])
            );
        }
        html.push_str("</table>\n");
        return;
    }
    let applied = s.get("faults").and_then(Value::as_array).filter(|f| !f.is_empty());
    let Some(applied) = applied else {
        html.push_str("<p class=\"note\">No faults.</p>\n");
        return;
    };
    html.push_str(
        "<p class=\"note\">faults.csv is not in the run directory; faults as applied, from summary.json.</p>\n",
    );
    html.push_str("<table>\n<tr><th>at (µs)</th><th>fault</th></tr>\n");
    for fault in applied {
        let _ = writeln!(
            html,
            "<tr><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&raw(fault.get("at_us"))),
            escape(&raw(fault.get("label")))
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn verdicts_get_the_class_of_their_first_word() {
        assert_eq!(verdict_class("held"), "held");
        assert_eq!(verdict_class("violated: 3 keys"), "violated");
        assert_eq!(verdict_class("not-applicable: sloppy quorum is on"), "not-applicable");
        assert_eq!(verdict_class("not-checked: run twice"), "not-checked");
    }

    #[test]
    fn figures_print_the_json_value_exactly() {
        let value = serde_json::json!(0.9963880064406632);
        assert_eq!(fraction(Some(&value)), "99.639% (0.9963880064406632)");
        assert_eq!(micros(Some(&serde_json::json!(1469782))), "1469782 µs (1.470 s)");
        assert_eq!(micros(Some(&Value::Null)), "none");
        assert_eq!(raw(None), "—");
    }
}
