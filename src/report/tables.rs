//! The small CSV tables of a run directory: `faults.csv` (fault windows),
//! `latency_cdf.csv` (latency distribution per op type) and `nodes.csv`
//! (figures per node). Column names and order are a contract with the
//! plots and the HTML report.

use super::fault_windows::FaultWindow;
use super::latency_counts::LatencyCounts;
use super::observer::Observations;
use super::timeseries::rank_of;
use crate::check::history::{OpKind, OpRecord, Outcome};
use crate::node::Node;
use serde::Serialize;

/// One row of `faults.csv`: a fault window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultRow {
    /// The label summary.json's `faults` gives it.
    pub label: String,
    /// Its verb (crash, partition, join, heal, ...).
    pub kind: &'static str,
    /// When it took effect, ms.
    pub start_ms: f64,
    /// When it was reverted, ms (the run's end if never; its start for points).
    pub end_ms: f64,
}

/// The rows of `faults.csv`, in the order the faults were applied.
pub fn fault_rows(windows: &[FaultWindow], run_end_us: u64) -> Vec<FaultRow> {
    windows
        .iter()
        .map(|w| FaultRow {
            label: w.label.clone(),
            kind: w.kind,
            start_ms: w.start_us as f64 / 1000.0,
            end_ms: w.end_us.unwrap_or(run_end_us) as f64 / 1000.0,
        })
        .collect()
}

/// One row of `latency_cdf.csv`: a fraction of an op type's successful
/// operations took at most `latency_us`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CdfRow {
    /// `read` or `write`.
    pub op: &'static str,
    /// Latency, µs.
    pub latency_us: u64,
    /// Fraction of the successful operations of this type with at most this latency.
    pub fraction: f64,
}

/// Quantile steps of the CDF: 400 even steps, then the tail in finer
/// steps (a log-scale plot needs p99.9 and beyond).
const CDF_STEPS: usize = 400;
const CDF_TAIL: [f64; 5] = [0.9975, 0.999, 0.9995, 0.9999, 0.99999];

/// The empirical CDF per op type, at most ~400 rows each: the latency at
/// each quantile step, with the exact fraction of operations at or below
/// it (repeated latencies collapse into one row).
pub fn cdf_rows(history: &[OpRecord]) -> Vec<CdfRow> {
    // Counted, not sorted (`latency_counts`): the same rows exactly.
    let (mut reads, mut writes) = (LatencyCounts::default(), LatencyCounts::default());
    for op in history.iter().filter(|op| op.outcome == Outcome::Ok) {
        if let Some(latency) = op.latency_us() {
            match op.kind {
                OpKind::Read => reads.add(latency),
                OpKind::Write => writes.add(latency),
            }
        }
    }
    let mut steps: Vec<f64> = (1..=CDF_STEPS).map(|i| i as f64 / CDF_STEPS as f64).collect();
    steps.extend(CDF_TAIL);
    steps.sort_by(f64::total_cmp);
    let mut rows = Vec::new();
    for (op, latencies) in [("read", reads), ("write", writes)] {
        let len = latencies.len();
        if len == 0 {
            continue;
        }
        let mut walk = latencies.ascending();
        let mut last = None;
        for &q in &steps {
            let (latency, at_or_below) = walk.at_rank(rank_of(q, len));
            if last == Some(latency) {
                continue;
            }
            last = Some(latency);
            rows.push(CdfRow { op, latency_us: latency, fraction: at_or_below as f64 / len as f64 });
        }
    }
    rows
}

/// One row of `nodes.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeRow {
    /// `n0`, `n1`, ...
    pub node: String,
    /// Keys in its main store at the end.
    pub keys_held: u64,
    /// Client reads and writes it coordinated.
    pub coordinated: u64,
    /// Client requests it forwarded to a node in the key's top N.
    pub forwarded: u64,
    /// Replica reads and writes it served (its load, summary.json's `requests_per_node`).
    pub served: u64,
    /// Replica reads served.
    pub replica_reads: u64,
    /// Replica writes stored.
    pub replica_writes: u64,
    /// Hints it stored for other nodes.
    pub hints_held: u64,
    /// Hints it handed back and had acknowledged.
    pub hints_delivered: u64,
    /// Bytes of the messages it sent.
    pub bytes_sent: u64,
    /// Bytes of the messages sent to it that the network carried (lost
    /// and partitioned ones excluded; those arriving while it was down included).
    pub bytes_received: u64,
    /// Time it spent crashed, ms.
    pub time_down_ms: f64,
    /// The most running peers that suspected it at once (sampled at each interval end).
    pub suspected_by: u64,
}

/// The rows of `nodes.csv`.
pub fn node_rows(nodes: &[Node], observed: &Observations) -> Vec<NodeRow> {
    nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let s = node.stats();
            let (bytes_sent, bytes_received) = observed.traffic.get(index).copied().unwrap_or_default();
            NodeRow {
                node: node.id().to_string(),
                keys_held: node.store().key_count() as u64,
                coordinated: s.reads_coordinated + s.writes_coordinated,
                forwarded: s.requests_forwarded,
                served: s.replica_reads + s.replica_writes,
                replica_reads: s.replica_reads,
                replica_writes: s.replica_writes,
                hints_held: s.hints_stored,
                hints_delivered: s.hints_delivered,
                bytes_sent,
                bytes_received,
                time_down_ms: observed.time_down_us.get(index).copied().unwrap_or(0) as f64 / 1000.0,
                suspected_by: observed.suspected_by_max.get(index).copied().unwrap_or(0),
            }
        })
        .collect()
}

/// Columns of `timeseries.csv`.
pub const TIMESERIES_COLUMNS: &[&str] = &[
    "start_ms",
    "end_ms",
    "read_issued",
    "read_ok",
    "read_failed",
    "read_timed_out",
    "read_p50_us",
    "read_p99_us",
    "read_p999_us",
    "write_issued",
    "write_ok",
    "write_failed",
    "write_timed_out",
    "write_p50_us",
    "write_p99_us",
    "write_p999_us",
    "stale_reads",
    "reads_with_siblings",
    "hints_pending",
    "messages",
    "bytes",
    "nodes_down",
    "nodes_suspected",
    "faults_active",
];
/// Columns of `faults.csv`.
pub const FAULT_COLUMNS: &[&str] = &["label", "kind", "start_ms", "end_ms"];
/// Columns of `latency_cdf.csv`.
pub const CDF_COLUMNS: &[&str] = &["op", "latency_us", "fraction"];
/// Columns of `nodes.csv`.
pub const NODE_COLUMNS: &[&str] = &[
    "node",
    "keys_held",
    "coordinated",
    "forwarded",
    "served",
    "replica_reads",
    "replica_writes",
    "hints_held",
    "hints_delivered",
    "bytes_sent",
    "bytes_received",
    "time_down_ms",
    "suspected_by",
];

/// Rows as CSV bytes under the header `columns` (written even with no
/// row; the rows' fields must be those columns, in that order).
pub fn to_csv<T: Serialize>(columns: &[&str], rows: &[T]) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_record(columns).map_err(std::io::Error::other)?;
    for row in rows {
        writer.serialize(row).map_err(std::io::Error::other)?;
    }
    writer.into_inner().map_err(|error| std::io::Error::other(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeseries::Row;

    /// The header a row type would get from its field names.
    fn field_names<T: Serialize>(row: &T) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(row).expect("serializes");
        let bytes = writer.into_inner().expect("flushed");
        String::from_utf8(bytes).expect("utf8").lines().next().expect("header").to_string()
    }

    #[test]
    fn the_column_lists_are_the_row_fields_in_order() {
        assert_eq!(field_names(&Row::default()), TIMESERIES_COLUMNS.join(","));
        let fault = FaultRow { label: String::new(), kind: "crash", start_ms: 0.0, end_ms: 0.0 };
        assert_eq!(field_names(&fault), FAULT_COLUMNS.join(","));
        assert_eq!(field_names(&CdfRow { op: "read", latency_us: 1, fraction: 1.0 }), CDF_COLUMNS.join(","));
        let node = NodeRow {
            node: String::new(),
            keys_held: 0,
            coordinated: 0,
            forwarded: 0,
            served: 0,
            replica_reads: 0,
            replica_writes: 0,
            hints_held: 0,
            hints_delivered: 0,
            bytes_sent: 0,
            bytes_received: 0,
            time_down_ms: 0.0,
            suspected_by: 0,
        };
        assert_eq!(field_names(&node), NODE_COLUMNS.join(","));
    }
}
