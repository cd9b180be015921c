//! Rendering a run directory: plots and report.html from the run-directory
//! files (tests/fixtures/rundir: crash-restart.toml seed 1, see
//! tests/fixtures/generate_rundir.py), missing files, bad files,
//! determinism and the `dynasim report` command.

use dynasim::report::render::render_run;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPRO: &str = "dynasim run scenarios/crash-restart.toml --seed 1";
const TIME_SERIES_PLOTS: [&str; 4] = ["latency.svg", "availability.svg", "staleness.svg", "hints.svg"];
const ALL_PLOTS: [&str; 7] =
    ["latency.svg", "availability.svg", "staleness.svg", "hints.svg", "pbs.svg", "latency_cdf.svg", "load.svg"];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rundir")
}

/// A fresh copy of the fixture run directory, named after the test.
fn copy_of_fixture(name: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("render-{name}"));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("temp dir");
    for entry in std::fs::read_dir(fixture()).expect("fixture dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, directory.join(path.file_name().expect("name"))).expect("copy");
    }
    directory
}

fn read(directory: &Path, name: &str) -> String {
    std::fs::read_to_string(directory.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn summary() -> Value {
    serde_json::from_str(&read(&fixture(), "summary.json")).expect("fixture summary is JSON")
}

/// The value cell of the key-figures row labelled `label`.
fn figure(html: &str, label: &str) -> String {
    let opening = format!("<td>{label}</td><td class=\"n\">");
    let start = html.find(&opening).unwrap_or_else(|| panic!("no row {label:?}")) + opening.len();
    html[start..start + html[start..].find("</td>").expect("cell closes")].to_string()
}

#[test]
fn rendering_writes_every_plot_with_titles_and_fault_labels_as_svg_text() {
    let directory = copy_of_fixture("plots");
    render_run(&directory, REPRO).expect("renders");
    for plot in ALL_PLOTS {
        let svg = read(&directory, plot);
        assert!(svg.starts_with("<svg"), "{plot} is not an SVG");
        assert!(svg.matches("<text").count() >= 10, "{plot}: titles, ticks and legend are <text> elements");
    }
    for plot in TIME_SERIES_PLOTS {
        let svg = read(&directory, plot);
        assert!(svg.contains(">\ncrash n2\n</text>"), "{plot} labels the crash window");
        assert!(svg.contains(">\nend of workload: heal all\n</text>"), "{plot} labels the final heal");
        assert!(svg.contains(">\nsimulated time (s)\n</text>"), "{plot} has a time axis with its unit");
    }
    let titles = [
        ("latency.svg", "Latency of successful operations per 100 ms interval, fault windows shaded"),
        ("latency.svg", "latency (ms, log scale)"),
        ("availability.svg", "Availability per 100 ms interval, fault windows shaded"),
        ("staleness.svg", "Stale reads and reads with siblings over time, fault windows shaded"),
        ("hints.svg", "hints pending"),
        ("hints.svg", "nodes suspected"),
        ("latency_cdf.svg", "Latency CDF per operation type"),
        ("load.svg", "Load per node"),
        ("load.svg", "served as replica"),
        ("pbs.svg", "95% confidence interval"),
    ];
    for (plot, title) in titles {
        assert!(read(&directory, plot).contains(&format!(">\n{title}\n</text>")), "{plot} lacks {title:?}");
    }
    // Legends name every line drawn: p50/p99/p99.9 for each op type.
    let latency = read(&directory, "latency.svg");
    for line in ["read p50", "read p99", "read p99.9", "write p50", "write p99", "write p99.9"] {
        assert!(latency.contains(&format!(">\n{line}\n</text>")), "latency legend lacks {line}");
    }
}

#[test]
fn the_page_shows_every_verdict_and_the_summary_figures_exactly() {
    let directory = copy_of_fixture("page");
    render_run(&directory, REPRO).expect("renders");
    let html = read(&directory, "report.html");
    let s = summary();
    let invariants = s["invariants"].as_object().expect("invariants");
    assert_eq!(invariants.len(), 5);
    for (name, verdict) in invariants {
        let verdict = verdict.as_str().expect("text");
        let class = verdict.split(':').next().expect("first word");
        assert!(html.contains(&format!("<tr><td>{name}</td><td class=\"{class}\">{verdict}</td></tr>")), "{name}");
    }
    let n = |pointer: &str| s.pointer(pointer).unwrap_or_else(|| panic!("{pointer}")).to_string();
    assert_eq!(
        figure(&html, "issued"),
        format!("{} ({} reads, {} writes)", n("/ops/total"), n("/ops/reads"), n("/ops/writes"))
    );
    assert_eq!(figure(&html, "succeeded"), n("/ops/succeeded"));
    assert_eq!(figure(&html, "timed out"), n("/ops/timed_out"));
    assert_eq!(figure(&html, "failed: timeout"), n("/ops/failed/timeout"));
    assert_eq!(figure(&html, "all"), "99.639% (0.9963880064406632)");
    assert!(figure(&html, "all").ends_with(&format!("({})", n("/ops/availability/all"))));
    assert_eq!(
        figure(&html, "stale reads"),
        format!(
            "{} of {} reads of written keys",
            n("/consistency/stale_reads"),
            n("/consistency/reads_of_written_keys")
        )
    );
    assert_eq!(figure(&html, "reads by versions returned (siblings)"), "0: 1906 · 1: 12207 · 2: 809 · 3: 30");
    assert_eq!(figure(&html, "all lost writes"), n("/consistency/lost_writes"));
    assert_eq!(
        figure(&html, "cause: overwritten (lost update / last-write-wins)"),
        n("/consistency/lost_writes_overwritten")
    );
    assert_eq!(figure(&html, "cause: unexplained"), n("/consistency/lost_writes_unexplained"));
    assert_eq!(figure(&html, "hinted versions stored"), n("/hints/stored"));
    assert_eq!(figure(&html, "delivered"), n("/hints/delivered"));
    assert_eq!(figure(&html, "drained after the last heal"), "1469782 µs (1.470 s)");
    assert_eq!(figure(&html, "replicas agreed after the last heal"), "50000 µs (50.000 ms)");
    // Latency table: p50, p99, p99.9 and max of each op type, as in the summary.
    for op in ["read", "write"] {
        let cells: String = ["count", "p50", "p95", "p99", "p999", "max", "mean"]
            .iter()
            .map(|c| format!("<td class=\"n\">{}</td>", n(&format!("/latency_us/{op}/{c}"))))
            .collect();
        assert!(html.contains(&format!("<tr><td>{op}</td>{cells}</tr>")), "latency row of {op}");
    }
    assert!(html.contains("<h1>crash-restart</h1>"));
    assert!(html.contains("seed 1 · digest <code>fc79f58c4eb721a1</code> · dynasim 0.1.0"));
    assert!(html.contains(&format!("<pre>{REPRO}</pre>")));
    assert!(html.contains("<pre># A node crash and restart under load"), "scenario text is embedded");
    assert!(html.contains("name = &quot;crash-restart&quot;"), "scenario text is escaped");
    assert!(html.contains("<td>crash n2</td><td>crash</td><td class=\"n\">2000</td><td class=\"n\">5000</td>"));
    for plot in ALL_PLOTS {
        assert!(html.contains(&format!("<figure id=\"{plot}\">")), "{plot} is inlined");
    }
}

#[test]
fn the_page_is_self_contained() {
    let directory = copy_of_fixture("self-contained");
    render_run(&directory, REPRO).expect("renders");
    let html = read(&directory, "report.html").to_lowercase();
    for needle in ["http", "<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(needle), "report.html contains {needle:?}");
    }
    assert_eq!(html.matches("<svg").count(), ALL_PLOTS.len());
}

#[test]
fn missing_optional_files_skip_their_plots() {
    let directory = copy_of_fixture("no-staleness");
    std::fs::remove_file(directory.join("staleness.csv")).expect("remove");
    std::fs::remove_file(directory.join("faults.csv")).expect("remove");
    render_run(&directory, REPRO).expect("renders without staleness.csv and faults.csv");
    assert!(!directory.join("pbs.svg").exists());
    for plot in ALL_PLOTS.iter().filter(|p| **p != "pbs.svg") {
        assert!(directory.join(plot).exists(), "{plot}");
    }
    assert!(!read(&directory, "latency.svg").contains("crash n2"), "no faults.csv, no windows");
    let html = read(&directory, "report.html");
    assert!(html.contains("faults as applied, from summary.json"));
    assert!(html.contains("<td class=\"n\">2000000</td><td>crash n2</td>"));

    let bare = copy_of_fixture("bare");
    for name in ["timeseries.csv", "faults.csv", "latency_cdf.csv", "nodes.csv", "staleness.csv", "scenario.toml"] {
        std::fs::remove_file(bare.join(name)).expect("remove");
    }
    render_run(&bare, REPRO).expect("renders from summary.json alone");
    assert!(ALL_PLOTS.iter().all(|p| !bare.join(p).exists()));
    let html = read(&bare, "report.html");
    assert!(html.contains("No plots"));
    assert!(html.contains("scenario.toml is not in the run directory"));
    assert!(html.contains("<td class=\"held\">held</td>"));
}

#[test]
fn an_empty_csv_skips_its_plot_too() {
    let directory = copy_of_fixture("empty-csv");
    std::fs::write(directory.join("nodes.csv"), "node,keys_held,coordinated,served\n").expect("write");
    render_run(&directory, REPRO).expect("renders");
    assert!(!directory.join("load.svg").exists());
}

#[test]
fn renders_are_byte_identical() {
    let first = copy_of_fixture("twice-a");
    let second = copy_of_fixture("twice-b");
    render_run(&first, REPRO).expect("renders");
    render_run(&second, REPRO).expect("renders");
    let before: Vec<Vec<u8>> = ALL_PLOTS.iter().map(|p| std::fs::read(first.join(p)).expect("svg")).collect();
    render_run(&first, REPRO).expect("renders again");
    for (index, name) in ALL_PLOTS.iter().chain(["report.html"].iter()).enumerate() {
        let a = std::fs::read(first.join(name)).expect("first");
        assert_eq!(a, std::fs::read(second.join(name)).expect("second"), "{name} differs between directories");
        if let Some(earlier) = before.get(index) {
            assert_eq!(&a, earlier, "{name} differs between renders");
        }
    }
    assert!(!first.join(dynasim::report::PARTIAL_DIRECTORY).exists(), "no temporary files left");
}

#[test]
fn probe_staleness_is_drawn_against_the_delay() {
    let directory = copy_of_fixture("probe");
    let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/staleness-probe.csv");
    std::fs::copy(probe, directory.join("staleness.csv")).expect("copy");
    render_run(&directory, REPRO).expect("renders");
    let svg = read(&directory, "pbs.svg");
    assert!(svg.contains(">\nP(consistent read) t ms after a write committed (probe workload)\n</text>"));
    for delay in ["0", "1", "2", "5", "10", "20", "50", "100"] {
        assert!(svg.contains(&format!(">\n{delay}\n</text>")), "delay {delay} labelled");
    }
    let bins = copy_of_fixture("bins");
    render_run(&bins, REPRO).expect("renders");
    let svg = read(&bins, "pbs.svg");
    assert!(svg.contains(">\n0–1\n</text>") && svg.contains(">\n≥ 500\n</text>"), "bins labelled lo–hi, last open");
}

#[test]
fn bad_files_are_reported_by_name_line_and_column() {
    let directory = copy_of_fixture("bad-cell");
    let text = read(&directory, "timeseries.csv").replacen("0,100,180,180", "0,100,180,lots", 1);
    std::fs::write(directory.join("timeseries.csv"), text).expect("write");
    let error = render_run(&directory, REPRO).expect_err("a bad cell is an error");
    let message = error.to_string();
    assert!(
        message.ends_with("timeseries.csv: line 2, column `read_ok`: expected a finite number, got \"lots\""),
        "{message}"
    );

    let missing_column = copy_of_fixture("bad-column");
    std::fs::write(missing_column.join("faults.csv"), "label,start_ms\ncrash n2,2000\n").expect("write");
    let message = render_run(&missing_column, REPRO).expect_err("missing column").to_string();
    assert!(message.contains("faults.csv: missing column `end_ms`"), "{message}");

    let no_summary = copy_of_fixture("no-summary");
    std::fs::remove_file(no_summary.join("summary.json")).expect("remove");
    let message = render_run(&no_summary, REPRO).expect_err("summary.json is required").to_string();
    assert!(message.contains("summary.json: not found"), "{message}");

    let bad_json = copy_of_fixture("bad-json");
    std::fs::write(bad_json.join("summary.json"), "{ \"seed\": ").expect("write");
    let message = render_run(&bad_json, REPRO).expect_err("bad JSON").to_string();
    assert!(message.contains("summary.json: not valid JSON"), "{message}");
}

#[test]
fn the_report_command_rerenders_a_run_directory() {
    let directory = copy_of_fixture("command");
    let output = Command::new(env!("CARGO_BIN_EXE_dynasim"))
        .args(["report", directory.to_str().expect("utf8")])
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("report.html"), "{stdout}");
    let html = read(&directory, "report.html");
    let repro = format!("dynasim run {} --seed 1", directory.join("scenario.toml").display());
    assert!(html.contains(&format!("<pre>{repro}</pre>")), "repro runs the directory's own scenario");

    let output =
        Command::new(env!("CARGO_BIN_EXE_dynasim")).args(["report", "/nonexistent/run"]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("/nonexistent/run/summary.json: not found"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn overlapping_windows_get_their_own_label_rows_and_odd_labels_are_escaped() {
    let directory = copy_of_fixture("overlap");
    let faults = "label,kind,start_ms,end_ms\n\
                  \"partition {n0,n1} | {n2..n7}\",partition,1000,6000\n\
                  crash n2,crash,2000,5000\n\
                  loss 10% <all> & more,loss,2100,2600\n\
                  slow n3,slow,2200,9000\n\
                  join n8,join,7000,7000\n\
                  late fault,crash,20000,25000\n";
    std::fs::write(directory.join("faults.csv"), faults).expect("write");
    render_run(&directory, REPRO).expect("renders");
    let svg = read(&directory, "latency.svg");
    for label in ["partition {n0,n1} | {n2..n7}", "crash n2", "loss 10% &lt;all&gt; &amp; more", "slow n3", "join n8"] {
        assert!(svg.contains(&format!(">\n{label}\n</text>")), "{label} is labelled");
    }
    assert!(!svg.contains("late fault"), "a window after the last interval is not drawn");
    let html = read(&directory, "report.html");
    assert!(html.contains("<td>loss 10% &lt;all&gt; &amp; more</td>"));
    assert!(html.contains("<td>late fault</td>"), "the fault table lists every fault");
}

#[test]
fn a_run_renders_its_report_too() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("render-run");
    let _ = std::fs::remove_dir_all(&out);
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_dynasim"))
        .args(["run", scenario, "--seed", "3", "--out", out.to_str().expect("utf8")])
        .output()
        .expect("binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("report.html"));
    let summary: Value = serde_json::from_str(&read(&out, "summary.json")).expect("json");
    let html = read(&out, "report.html");
    assert!(html.contains(&format!("digest <code>{}</code>", summary["digest"].as_str().expect("digest"))));
    for name in summary["invariants"].as_object().expect("invariants").keys() {
        assert!(html.contains(&format!("<tr><td>{name}</td>")), "{name}");
    }
    assert!(html.contains(&format!("<pre>dynasim run {scenario} --seed 3</pre>")));
}
