//! The run directory of a failure scenario: every file there, with the
//! agreed columns, figures that balance with summary.json, byte-identical
//! across two runs (wall.json apart), and a key trace that explains a
//! stale read.

mod common;

use common::{bundled, scenario_text};
use dynasim::report::observer::ObserveOptions;
use dynasim::report::{write_run_directory, RunDirectoryOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TRACED_KEY: u64 = 3;

/// Runs crash-restart.toml (seed 1) with every output on into `directory`.
fn write_crash_restart(directory: &Path) {
    let _ = std::fs::remove_dir_all(directory);
    let scenario = bundled("crash-restart.toml");
    let options = ObserveOptions {
        events: Some(directory.join("events.jsonl")),
        trace_key: Some(TRACED_KEY),
        ..ObserveOptions::default()
    };
    let report = dynasim::run_observed(&scenario, 1, &options);
    assert!(report.outcome.observed.events_error.is_none());
    let text = scenario_text("crash-restart.toml");
    write_run_directory(directory, &text, &report, &RunDirectoryOptions { history: true }).expect("run directory");
}

/// Two run directories of the same scenario and seed, written once for every test here.
fn directories() -> &'static (PathBuf, PathBuf) {
    static DIRECTORIES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRECTORIES.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run-directory");
        let (first, second) = (base.join("first"), base.join("second"));
        write_crash_restart(&first);
        write_crash_restart(&second);
        (first, second)
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn summary() -> Value {
    serde_json::from_str(&read(&directories().0.join("summary.json"))).expect("summary.json is JSON")
}

/// The rows of a CSV file as maps from column name to field.
fn csv_rows(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_path(path).expect("csv opens");
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    let rows = reader
        .records()
        .map(|r| header.iter().cloned().zip(r.expect("record").iter().map(str::to_string)).collect())
        .collect();
    (header, rows)
}

fn number(row: &BTreeMap<String, String>, column: &str) -> f64 {
    row[column].parse().unwrap_or_else(|_| panic!("{column} = {:?} is not a number", row[column]))
}

#[test]
fn every_file_is_there_with_the_agreed_columns() {
    let directory = &directories().0;
    let expected = [
        "summary.json",
        "wall.json",
        "scenario.toml",
        "timeseries.csv",
        "faults.csv",
        "latency_cdf.csv",
        "nodes.csv",
        "events.jsonl",
        "history.jsonl",
        &format!("trace-{TRACED_KEY}.txt"),
    ];
    for name in expected {
        let size = std::fs::metadata(directory.join(name)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "{name} is missing or empty");
    }
    assert_eq!(read(&directory.join("scenario.toml")), scenario_text("crash-restart.toml"), "a verbatim copy");
    let columns = |name: &str| csv_rows(&directory.join(name)).0.join(",");
    assert_eq!(
        columns("timeseries.csv"),
        "start_ms,end_ms,read_issued,read_ok,read_failed,read_timed_out,read_p50_us,read_p99_us,read_p999_us,\
         write_issued,write_ok,write_failed,write_timed_out,write_p50_us,write_p99_us,write_p999_us,stale_reads,\
         reads_with_siblings,hints_pending,messages,bytes,nodes_down,nodes_suspected,faults_active"
    );
    assert_eq!(columns("faults.csv"), "label,kind,start_ms,end_ms");
    assert_eq!(columns("latency_cdf.csv"), "op,latency_us,fraction");
    assert_eq!(
        columns("nodes.csv"),
        "node,keys_held,coordinated,forwarded,served,replica_reads,replica_writes,hints_held,hints_delivered,\
         bytes_sent,bytes_received,time_down_ms,suspected_by"
    );
    assert!(!directory.join(dynasim::report::PARTIAL_DIRECTORY).exists(), "no partial file is left behind");
}

#[test]
fn two_runs_write_byte_identical_files_except_wall_json() {
    let (first, second) = directories();
    assert_same_files(first, second, "two runs of crash-restart.toml --seed 1");
}

/// Every file of run directory `first` is in `second`, byte for byte,
/// but wall.json (what `two` names in the message when one differs).
fn assert_same_files(first: &Path, second: &Path, two: &str) {
    let mut names: Vec<String> = std::fs::read_dir(first)
        .expect("listing")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names.iter().filter(|n| *n != "wall.json") {
        let (a, b) =
            (std::fs::read(first.join(name)).expect("first"), std::fs::read(second.join(name)).expect("second"));
        assert!(a == b, "{name} differs between {two}");
    }
}

/// `deterministic`'s second run beside the first (`--jobs 2`) or after it
/// (`--jobs 1`): the same run directory, and the verdict judged both ways.
#[test]
fn the_second_run_beside_or_after_the_first_writes_the_same_files() {
    let directory = scratch("jobs");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/crash-restart.toml");
    for jobs in ["1", "2"] {
        let (code, _, stderr) = dynasim(&["run", scenario, "--quiet", "--jobs", jobs, "--out", jobs], &directory);
        assert_eq!(code, 0, "--jobs {jobs}: {stderr}");
        let summary: Value = serde_json::from_str(&read(&directory.join(jobs).join("summary.json"))).expect("JSON");
        assert_eq!(summary["invariants"]["deterministic"], "held", "--jobs {jobs}");
    }
    assert_same_files(&directory.join("1"), &directory.join("2"), "--jobs 1 and --jobs 2");
}

#[test]
fn summary_json_is_versioned_keeps_every_key_and_leaves_wall_time_out() {
    let summary = summary();
    assert_eq!(summary["schema_version"], 1);
    assert_eq!(summary["dynasim_version"], env!("CARGO_PKG_VERSION"));
    assert!(summary.get("wall").is_none());
    for cause in ["timeout", "not_enough_replicas"] {
        assert!(summary["ops"]["failed"][cause].is_u64(), "ops.failed.{cause} is always present");
    }
    for kind in ["read", "write", "all"] {
        assert!(summary["ops"]["availability"][kind].is_f64(), "ops.availability.{kind} is always present");
    }
    let wall: Value = serde_json::from_str(&read(&directories().0.join("wall.json"))).expect("wall.json");
    assert!(wall["seconds"].as_f64().expect("seconds") > 0.0);
}

#[test]
fn fault_windows_in_faults_and_timeseries_match_the_summary_faults() {
    let directory = &directories().0;
    let faults = summary()["faults"].as_array().expect("faults").clone();
    let (_, windows) = csv_rows(&directory.join("faults.csv"));
    // Every applied fault opens a window (by its label, at its time) or
    // closes one (`end of <label>`).
    for fault in &faults {
        let (label, at_ms) = (fault["label"].as_str().expect("label"), fault["at_us"].as_f64().expect("at") / 1000.0);
        let opens = windows.iter().any(|w| w["label"] == label && number(w, "start_ms") == at_ms);
        let closes = label
            .strip_prefix("end of ")
            .is_some_and(|opened| windows.iter().any(|w| w["label"] == opened && number(w, "end_ms") == at_ms));
        assert!(opens || closes, "fault {label:?} at {at_ms} ms is in no window of faults.csv: {windows:?}");
    }
    let crash = windows.iter().find(|w| w["label"] == "crash n2").expect("the crash window");
    assert_eq!((crash["kind"].as_str(), number(crash, "start_ms"), number(crash, "end_ms")), ("crash", 2000.0, 5000.0));
    let (_, rows) = csv_rows(&directory.join("timeseries.csv"));
    for row in &rows {
        let (start, end) = (number(row, "start_ms"), number(row, "end_ms"));
        let active: Vec<&str> = row["faults_active"].split(';').filter(|l| !l.is_empty()).collect();
        let crashed = start < 5000.0 && end > 2000.0;
        assert_eq!(active.contains(&"crash n2"), crashed, "interval {start}-{end}: {active:?}");
        // Sampled at the interval's end, before what happens at that instant.
        let down_at_end = end > 2000.0 && end <= 5000.0;
        assert_eq!(number(row, "nodes_down"), if down_at_end { 1.0 } else { 0.0 }, "interval {start}-{end}");
    }
}

#[test]
fn timeseries_and_nodes_balance_with_the_summary() {
    let directory = &directories().0;
    let summary = summary();
    let (_, rows) = csv_rows(&directory.join("timeseries.csv"));
    let sum = |column: &str| rows.iter().map(|r| number(r, column)).sum::<f64>() as u64;
    let ops = &summary["ops"];
    assert_eq!(sum("read_issued"), ops["reads"].as_u64().expect("reads"));
    assert_eq!(sum("write_issued"), ops["writes"].as_u64().expect("writes"));
    assert_eq!(sum("read_ok") + sum("write_ok"), ops["succeeded"].as_u64().expect("succeeded"));
    assert_eq!(sum("read_timed_out") + sum("write_timed_out"), ops["timed_out"].as_u64().expect("timed out"));
    let failed: u64 = ops["failed"].as_object().expect("failed").values().map(|v| v.as_u64().expect("n")).sum();
    assert_eq!(sum("read_failed") + sum("write_failed"), failed);
    assert_eq!(sum("stale_reads"), summary["consistency"]["stale_reads"].as_u64().expect("stale"));
    let siblings = summary["consistency"]["siblings_per_read"].as_object().expect("siblings");
    let with_siblings: u64 = siblings
        .iter()
        .filter(|(k, _)| k.parse::<u64>().expect("count") >= 2)
        .map(|(_, v)| v.as_u64().expect("n"))
        .sum();
    assert_eq!(sum("reads_with_siblings"), with_siblings);
    assert_eq!(sum("messages"), summary["network"]["messages_sent"].as_u64().expect("messages"));
    assert_eq!(sum("bytes"), summary["network"]["bytes_sent"].as_u64().expect("bytes"));
    let last = rows.last().expect("rows");
    assert_eq!(number(last, "end_ms") * 1000.0, summary["engine"]["simulated_time_us"].as_f64().expect("end"));
    assert!(rows.iter().any(|r| number(r, "hints_pending") > 0.0), "the crash leaves hints pending");
    assert!(rows.iter().any(|r| number(r, "nodes_suspected") > 0.0), "n2 is suspected while down");

    let (_, nodes) = csv_rows(&directory.join("nodes.csv"));
    let total = |column: &str| nodes.iter().map(|r| number(r, column)).sum::<f64>() as u64;
    assert_eq!(total("hints_held"), summary["hints"]["stored"].as_u64().expect("hints"));
    assert_eq!(total("forwarded"), summary["nodes"]["requests_forwarded"].as_u64().expect("forwarded"));
    // Nodes send part of the bytes on the wire (clients the rest) and
    // receive part of what was carried.
    let on_wire = summary["network"]["bytes_sent"].as_u64().expect("bytes");
    assert!((1..on_wire).contains(&total("bytes_sent")), "{} of {on_wire}", total("bytes_sent"));
    assert!((1..on_wire).contains(&total("bytes_received")), "{} of {on_wire}", total("bytes_received"));
    let served: Vec<u64> = nodes.iter().map(|r| number(r, "served") as u64).collect();
    let load: Vec<u64> =
        summary["load"]["requests_per_node"].as_array().expect("load").iter().map(|v| v.as_u64().expect("n")).collect();
    assert_eq!(served, load);
    let n2 = nodes.iter().find(|r| r["node"] == "n2").expect("n2");
    assert_eq!(number(n2, "time_down_ms"), 3000.0);
    assert!(number(n2, "suspected_by") > 0.0);
    assert!(nodes.iter().filter(|r| r["node"] != "n2").all(|r| number(r, "time_down_ms") == 0.0));

    let (_, cdf) = csv_rows(&directory.join("latency_cdf.csv"));
    for op in ["read", "write"] {
        let steps: Vec<(f64, f64)> =
            cdf.iter().filter(|r| r["op"] == op).map(|r| (number(r, "latency_us"), number(r, "fraction"))).collect();
        assert!((10..=500).contains(&steps.len()), "{op}: {} rows", steps.len());
        assert!(steps.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "{op}: a CDF rises");
        assert_eq!(steps.last().expect("steps").1, 1.0);
        // summary.json's figures come from a histogram of 3 significant digits; the CDF is exact.
        let max = summary["latency_us"][op]["max"].as_f64().expect("max");
        let last = steps.last().expect("steps").0;
        assert!((last - max).abs() <= max * 1e-3, "{op}: the CDF ends at the largest latency ({last} vs {max})");
    }
}

#[test]
fn events_jsonl_counts_every_message_the_network_was_handed() {
    let directory = &directories().0;
    let (mut sent, mut faults) = (0u64, 0u64);
    for line in read(&directory.join("events.jsonl")).lines() {
        let event: Value = serde_json::from_str(line).expect("one JSON object per line");
        for field in ["t_us", "kind", "src", "dst", "key", "detail"] {
            assert!(event.get(field).is_some(), "{line} lacks {field}");
        }
        let kind = event["kind"].as_str().expect("kind");
        let at_crashed_node = event["detail"].as_str().is_some_and(|d| d.ends_with("receiver down"));
        sent += u64::from(kind == "send" || (kind == "drop" && !at_crashed_node));
        faults += u64::from(kind == "fault");
    }
    let summary = summary();
    assert_eq!(sent, summary["network"]["messages_sent"].as_u64().expect("sent"));
    assert_eq!(faults, summary["faults"].as_array().expect("faults").len() as u64);
}

/// A request answered before its timeout cancels it: the timeouts that
/// fire are exactly those of the requests that timed out (the crash
/// leaves some unanswered), and no other.
#[test]
fn request_timeouts_fire_only_for_the_requests_that_timed_out() {
    let fired = read(&directories().0.join("events.jsonl"))
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("one JSON object per line"))
        .filter(|event| {
            event["kind"] == "timer" && event["detail"].as_str().is_some_and(|d| d.starts_with("RequestTimeout"))
        })
        .count() as u64;
    let timed_out = summary()["ops"]["timed_out"].as_u64().expect("timed_out");
    assert!(timed_out > 0, "the crash leaves some requests unanswered");
    assert_eq!(fired, timed_out);
}

/// True when `newer`'s clock has seen everything `older`'s has (vector clocks).
fn descends(newer: &Value, older: &Value) -> bool {
    let counters = |v: &Value| v["clock"].as_object().expect("clock").clone();
    let newer = counters(newer);
    counters(older)
        .iter()
        .all(|(actor, c)| newer.get(actor).and_then(Value::as_u64).unwrap_or(0) >= c.as_u64().expect("n"))
}

#[test]
fn history_jsonl_recomputes_the_consistency_figures_offline() {
    let lines: Vec<Value> = read(&directories().0.join("history.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let summary = summary();
    assert_eq!(lines.len() as u64, summary["ops"]["total"].as_u64().expect("total"));
    let ok = |kind: &str| lines.iter().filter(|o| o["kind"] == kind && o["result"] == "ok").count() as u64;
    assert_eq!(ok("read") + ok("write"), summary["ops"]["succeeded"].as_u64().expect("ok"));
    // A stale read (vector clocks): some write acknowledged before the read
    // was invoked is covered by no version it returned.
    let mut by_key: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for op in &lines {
        by_key.entry(op["key"].as_u64().expect("key")).or_default().push(op);
    }
    let (mut checked, mut stale) = (0, 0);
    for ops in by_key.values() {
        let acked: Vec<(u64, &Value)> = ops
            .iter()
            .filter(|o| o["kind"] == "write" && o["result"] == "ok")
            .map(|o| (o["complete_us"].as_u64().expect("complete"), &o["acked"]))
            .collect();
        for read in ops.iter().filter(|o| o["kind"] == "read" && o["result"] == "ok") {
            let invoke = read["invoke_us"].as_u64().expect("invoke");
            let before: Vec<&Value> = acked.iter().filter(|(c, _)| *c < invoke).map(|(_, v)| *v).collect();
            if before.is_empty() {
                continue;
            }
            checked += 1;
            let returned = read["returned"].as_array().expect("returned");
            let covered = |w: &&Value| returned.iter().any(|r| r["write"] == w["write"] || descends(r, w));
            stale += u64::from(!before.iter().all(covered));
        }
    }
    let consistency = &summary["consistency"];
    assert_eq!(checked, consistency["reads_of_written_keys"].as_u64().expect("checked"));
    assert_eq!(stale, consistency["stale_reads"].as_u64().expect("stale"));
    let empty = lines
        .iter()
        .filter(|o| o["kind"] == "read" && o["result"] == "ok" && o["returned"].as_array().expect("r").is_empty());
    assert_eq!(empty.count() as u64, consistency["siblings_per_read"]["0"].as_u64().expect("0"));
}

#[test]
fn trace_key_shows_the_replica_that_missed_the_write() {
    // R = W = 1 with slow replica writes: reads outrun writes.
    let scenario = bundled("max-availability-n3r1w1.toml");
    let seed = scenario.spec.seed;
    let plain = dynasim::run(&scenario, seed);
    let verdicts = &plain.summary.consistency.read_verdicts;
    let (client, sequence) = verdicts.iter().find(|v| v.is_stale()).expect("this scenario has stale reads").read();
    let stale_read =
        plain.outcome.history.iter().find(|op| (op.client, op.sequence) == (client, sequence)).expect("read");
    let options = ObserveOptions { trace_key: Some(stale_read.key), ..ObserveOptions::default() };
    let report = dynasim::run_observed(&scenario, seed, &options);
    assert_eq!(report.summary.digest, plain.summary.digest, "tracing changes nothing");
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace");
    let _ = std::fs::remove_dir_all(&directory);
    let written = write_run_directory(&directory, "", &report, &RunDirectoryOptions::default()).expect("written");
    let trace = written.trace.expect("a trace");
    assert_eq!(read(&directory.join(format!("trace-{}.txt", stale_read.key))), trace);
    let request = format!("{client}#{sequence}");
    assert!(trace.contains(&format!("read {request} -> ok")) && trace.contains("STALE"), "{trace}");
    let paragraph = trace.split("\n  read ").find(|p| p.starts_with(&request)).expect("the stale read explained");
    let missed = paragraph.split("missed ").nth(1).and_then(|m| m.split(' ').next()).expect("the write missed");
    let missed_by = paragraph.split("missed by: ").nth(1).expect("missed by").trim();
    let replica = missed_by.split(' ').next().expect("a replica");
    assert!(replica.starts_with('n'), "a replica missed {missed}: {paragraph}");
    // Up to the read's answer that replica had not received the write.
    let answered = format!("{client} read {request} -> ok");
    let before_answer = &trace[..trace.find(&answered).expect("the read's answer")];
    let received = format!("-> {replica}  ReplicaWrite");
    assert!(
        !before_answer
            .lines()
            .any(|l| l.contains("recv") && l.contains(&received) && l.contains(&format!("w={missed} "))),
        "{replica} had received {missed} before the read was answered:\n{paragraph}"
    );
}

/// An empty directory `name` under the target's scratch space.
fn scratch(name: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch");
    directory
}

fn dynasim(args: &[&str], directory: &Path) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dynasim"))
        .args(args)
        .current_dir(directory)
        .env("CI", "true")
        .output()
        .expect("binary runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

#[test]
fn run_points_latest_at_the_newest_run_and_refuses_bad_flags() {
    let directory = scratch("latest");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    for seed in ["3", "4"] {
        let (code, _, stderr) =
            dynasim(&["run", scenario, "--seed", seed, "--quiet", "--interval-ms", "250"], &directory);
        assert_eq!(code, 0, "{stderr}");
    }
    let latest = directory.join("results/quickstart/latest");
    if cfg!(unix) {
        assert_eq!(std::fs::read_link(&latest).expect("a symlink"), Path::new("seed-4"), "relative, to the newest run");
        assert!(latest.join("timeseries.csv").exists());
    }
    let rows = read(&latest.join("timeseries.csv")).lines().count() as u64 - 1;
    let summary: Value = serde_json::from_str(&read(&latest.join("summary.json"))).expect("summary");
    let end_us = summary["engine"]["simulated_time_us"].as_u64().expect("end");
    assert_eq!(rows, end_us.div_ceil(250_000), "one row per 250 ms of simulated time");
    let (code, _, stderr) = dynasim(&["run", scenario, "--interval-ms", "0"], &directory);
    assert_eq!(code, 2);
    assert!(stderr.contains("--interval-ms") && stderr.contains("0.001"), "{stderr}");
    let (code, _, stderr) = dynasim(&["run", scenario, "--trace-key", "1000"], &directory);
    assert_eq!(code, 2);
    assert!(stderr.contains("--trace-key 1000") && stderr.contains("0 to 999"), "{stderr}");
}
