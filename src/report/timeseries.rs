//! `timeseries.csv`: one row per interval of simulated time (`--interval-ms`).
//!
//! Operations are binned twice: `*_issued` by invoke time, every outcome
//! (`*_ok`, `*_failed`, `*_timed_out`) and latency by completion time, so
//! a crash shows as a drop in `*_ok` when the answers stop, not when the
//! requests were sent. Latency percentiles are exact (nearest rank) over
//! the successful operations completed in the interval, empty when there
//! were none. `stale_reads` and `reads_with_siblings` are the checker's
//! per-read verdicts binned by the read's completion. `hints_pending`,
//! `nodes_down` and `nodes_suspected` are the state at the interval's end;
//! `messages` and `bytes` were sent during it; `faults_active` names (by
//! summary.json's labels, joined by `;`) the faults in force at any time
//! during it, points (a join, a heal) in the interval they happened.

use super::fault_windows::FaultWindow;
use super::observer::Observations;
use crate::check::history::{OpKind, OpRecord, Outcome};
use crate::types::ClientId;
use serde::Serialize;
use std::collections::BTreeSet;

/// The columns of `timeseries.csv`, in order (a contract with the plots).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    /// Interval start, ms of simulated time.
    pub start_ms: f64,
    /// Interval end (exclusive), ms.
    pub end_ms: f64,
    /// Reads invoked.
    pub read_issued: u64,
    /// Reads completed successfully.
    pub read_ok: u64,
    /// Reads a coordinator answered with a failure.
    pub read_failed: u64,
    /// Reads the client gave up on.
    pub read_timed_out: u64,
    /// Median latency of the successful reads completed, µs.
    pub read_p50_us: Option<u64>,
    /// 99th percentile, µs.
    pub read_p99_us: Option<u64>,
    /// 99.9th percentile, µs.
    pub read_p999_us: Option<u64>,
    /// Writes invoked.
    pub write_issued: u64,
    /// Writes completed successfully.
    pub write_ok: u64,
    /// Writes a coordinator answered with a failure.
    pub write_failed: u64,
    /// Writes the client gave up on.
    pub write_timed_out: u64,
    /// Median latency of the successful writes completed, µs.
    pub write_p50_us: Option<u64>,
    /// 99th percentile, µs.
    pub write_p99_us: Option<u64>,
    /// 99.9th percentile, µs.
    pub write_p999_us: Option<u64>,
    /// Stale reads completed.
    pub stale_reads: u64,
    /// Successful reads completed that returned two versions or more.
    pub reads_with_siblings: u64,
    /// Hints held cluster-wide at the interval's end.
    pub hints_pending: u64,
    /// Messages sent.
    pub messages: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Nodes down at the interval's end.
    pub nodes_down: u64,
    /// Nodes suspected by at least one running peer at the interval's end.
    pub nodes_suspected: u64,
    /// Labels of the faults in force during the interval, `;`-separated.
    pub faults_active: String,
}

/// Per-interval latencies of one op type.
#[derive(Default)]
struct Latencies {
    read: Vec<u64>,
    write: Vec<u64>,
}

/// The rows of `timeseries.csv` for a finished run. `stale` holds every
/// stale read's (client, sequence); `end_us` is the run's end.
pub fn rows(history: &[OpRecord], stale: &BTreeSet<(ClientId, u64)>, observed: &Observations, end_us: u64) -> Vec<Row> {
    let interval = observed.interval_us.max(1);
    let mut rows = interval_rows(observed, end_us);
    if rows.is_empty() {
        return rows;
    }
    let last = rows.len() - 1;
    let bin = |t: u64| ((t / interval) as usize).min(last);
    let mut latencies: Vec<Latencies> = (0..rows.len()).map(|_| Latencies::default()).collect();
    for op in history {
        let read = op.kind == OpKind::Read;
        let issued = &mut rows[bin(op.invoke.0)];
        *(if read { &mut issued.read_issued } else { &mut issued.write_issued }) += 1;
        let Some(complete) = op.complete() else { continue };
        let index = bin(complete.0);
        let row = &mut rows[index];
        let (ok, failed, timed_out) = if read {
            (&mut row.read_ok, &mut row.read_failed, &mut row.read_timed_out)
        } else {
            (&mut row.write_ok, &mut row.write_failed, &mut row.write_timed_out)
        };
        match op.outcome {
            Outcome::Ok => *ok += 1,
            Outcome::Failed(_) => *failed += 1,
            Outcome::TimedOut => *timed_out += 1,
            Outcome::InFlight => {}
        }
        if op.outcome != Outcome::Ok {
            continue;
        }
        let latency = op.latency_us().unwrap_or(0);
        if read {
            latencies[index].read.push(latency);
            row.stale_reads += u64::from(stale.contains(&(op.client, op.sequence)));
            row.reads_with_siblings += u64::from(op.returned().len() >= 2);
        } else {
            latencies[index].write.push(latency);
        }
    }
    for (row, latencies) in rows.iter_mut().zip(&mut latencies) {
        [row.read_p50_us, row.read_p99_us, row.read_p999_us] = percentiles(&mut latencies.read);
        [row.write_p50_us, row.write_p99_us, row.write_p999_us] = percentiles(&mut latencies.write);
    }
    rows
}

/// One row per sample, with the sampled state, traffic and faults filled in.
fn interval_rows(observed: &Observations, end_us: u64) -> Vec<Row> {
    let mut previous = (0, 0, 0);
    observed
        .samples
        .iter()
        .map(|sample| {
            let (start_us, messages_before, bytes_before) = previous;
            previous = (sample.end_us, sample.messages_total, sample.bytes_total);
            Row {
                start_ms: start_us as f64 / 1000.0,
                end_ms: sample.end_us as f64 / 1000.0,
                hints_pending: sample.hints_pending,
                messages: sample.messages_total - messages_before,
                bytes: sample.bytes_total - bytes_before,
                nodes_down: sample.nodes_down,
                nodes_suspected: sample.nodes_suspected,
                faults_active: active_faults(&observed.fault_windows, start_us, sample.end_us, end_us),
                ..Row::default()
            }
        })
        .collect()
}

/// Labels of the windows overlapping `[start_us, end_us)`, `;`-separated.
fn active_faults(windows: &[FaultWindow], start_us: u64, end_us: u64, run_end_us: u64) -> String {
    let labels: Vec<&str> =
        windows.iter().filter(|w| w.overlaps(start_us, end_us, run_end_us)).map(|w| w.label.as_str()).collect();
    labels.join(";")
}

/// p50, p99 and p99.9 by nearest rank (None when there is no sample).
fn percentiles(latencies: &mut [u64]) -> [Option<u64>; 3] {
    latencies.sort_unstable();
    [0.5, 0.99, 0.999].map(|q| nearest_rank(latencies, q))
}

/// The smallest value with at least a fraction `q` of `sorted` at or below it.
pub fn nearest_rank(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[rank_of(q, sorted.len() as u64) as usize - 1])
}

/// The nearest rank (1-based) of quantile `q` among `len` > 0 values.
pub fn rank_of(q: f64, len: u64) -> u64 {
    ((q * len as f64).ceil() as u64).clamp(1, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_takes_the_ceiling_rank() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&sorted, 0.5), Some(500));
        assert_eq!(nearest_rank(&sorted, 0.999), Some(999));
        assert_eq!(nearest_rank(&[7], 0.999), Some(7));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }
}
