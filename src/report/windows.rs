//! Availability per fault window: the workload cut at every fault time, so
//! a user sees what each fault did to reads and writes.

use crate::check::history::{OpKind, OpRecord, Outcome};
use crate::protocol::WriteId;
use crate::sim::AppliedFault;
use serde::Serialize;

/// Operations invoked in one window between fault times.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WindowSummary {
    /// Window start, µs.
    pub start_us: u64,
    /// Window end, µs (exclusive).
    pub end_us: u64,
    /// Faults applied at the window's start ("start" for the first window).
    pub label: String,
    /// Reads invoked.
    pub reads: u64,
    /// Reads that succeeded.
    pub reads_ok: u64,
    /// Writes invoked.
    pub writes: u64,
    /// Writes that succeeded.
    pub writes_ok: u64,
    /// Succeeded / invoked (1 when nothing was invoked).
    pub availability: f64,
    /// 99th percentile latency of successful reads invoked in the window, µs.
    pub read_p99_us: u64,
    /// 99th percentile latency of successful writes invoked in the window, µs.
    pub write_p99_us: u64,
    /// Acknowledged writes invoked in the window that were lost updates.
    pub lost_updates: u64,
}

/// Cuts `[0, workload_end)` at every fault time before it and counts the
/// operations invoked in each piece by outcome, and the `lost_updates`
/// (sorted) among the writes.
pub fn windows(
    history: &[OpRecord],
    faults: &[AppliedFault],
    workload_end_us: u64,
    lost_updates: &[WriteId],
) -> Vec<WindowSummary> {
    let mut windows = vec![WindowSummary { label: "start".into(), ..WindowSummary::default() }];
    for fault in faults.iter().filter(|f| f.at_us < workload_end_us) {
        let last = windows.last_mut().expect("at least one window");
        if fault.at_us == last.start_us {
            last.label =
                if last.label == "start" { fault.label.clone() } else { format!("{}; {}", last.label, fault.label) };
        } else {
            windows.push(WindowSummary {
                start_us: fault.at_us,
                label: fault.label.clone(),
                ..WindowSummary::default()
            });
        }
    }
    for index in 0..windows.len() {
        windows[index].end_us = windows.get(index + 1).map_or(workload_end_us, |next| next.start_us);
    }
    // Successful reads' and writes' latencies by window, for the p99s:
    // gathered in the one pass over the history (a pass per window and a
    // list of its operations took this function from 25.7 to 31.5 M
    // instructions on the 64-node bench row).
    let mut latencies: Vec<[Vec<u64>; 2]> = vec![Default::default(); windows.len()];
    for op in history {
        let at = op.invoke.0;
        // Window starts only grow: the last one at or before `at` is `at`'s.
        let Some(index) = windows.iter().rposition(|w| w.start_us <= at) else {
            continue;
        };
        let window = &mut windows[index];
        let ok = u64::from(op.outcome == Outcome::Ok);
        match op.kind {
            OpKind::Read => {
                window.reads += 1;
                window.reads_ok += ok;
            }
            OpKind::Write => {
                window.writes += 1;
                window.writes_ok += ok;
                window.lost_updates += u64::from(op.write().is_some_and(|w| lost_updates.binary_search(&w).is_ok()));
            }
        }
        // Counted above even after the workload's end; timed only before it.
        if at < window.end_us && op.outcome == Outcome::Ok {
            if let Some(latency) = op.latency_us() {
                latencies[index][usize::from(op.kind == OpKind::Write)].push(latency);
            }
        }
    }
    for (window, [reads, writes]) in windows.iter_mut().zip(latencies) {
        window.read_p99_us = p99(reads);
        window.write_p99_us = p99(writes);
        let total = window.reads + window.writes;
        window.availability = if total == 0 { 1.0 } else { (window.reads_ok + window.writes_ok) as f64 / total as f64 };
    }
    windows
}

/// The nearest-rank 99th percentile of `latencies` (0 for none).
fn p99(mut latencies: Vec<u64>) -> u64 {
    if latencies.is_empty() {
        return 0;
    }
    let rank = (latencies.len() * 99).div_ceil(100) - 1;
    *latencies.select_nth_unstable(rank).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_cut_the_workload_into_windows() {
        let faults = vec![
            AppliedFault { at_us: 100, label: "crash n1".into() },
            AppliedFault { at_us: 300, label: "end of crash n1".into() },
            AppliedFault { at_us: 1000, label: "end of workload: heal all".into() },
        ];
        let w = windows(&[], &faults, 1000, &[]);
        let bounds: Vec<(u64, u64)> = w.iter().map(|w| (w.start_us, w.end_us)).collect();
        assert_eq!(bounds, vec![(0, 100), (100, 300), (300, 1000)]);
        assert_eq!(w[1].label, "crash n1");
        assert_eq!(w[1].availability, 1.0);
    }

    /// The 99th percentile is the nearest rank among the successful
    /// operations of the kind asked, whatever their order.
    #[test]
    fn p99_is_the_nearest_rank_of_the_kind_s_successful_latencies() {
        let op = |sequence: u64, kind: OpKind, latency: u64, outcome: Outcome| {
            let mut op = OpRecord::invoked(crate::types::ClientId(0), sequence, kind, 1, crate::types::Time(0));
            op.outcome = outcome;
            op.set_complete(crate::types::Time(latency));
            op
        };
        // Reads of 1..=200 µs, shuffled; a failed read and writes far slower.
        let mut history: Vec<OpRecord> =
            (1..=200u64).map(|l| op(l, OpKind::Read, (l * 73) % 200 + 1, Outcome::Ok)).collect();
        history.push(op(201, OpKind::Read, 9_999, Outcome::TimedOut));
        history.extend((0..5).map(|i| op(300 + i, OpKind::Write, 5_000 + i, Outcome::Ok)));
        let p99s = |history: &[OpRecord]| {
            let window = &windows(history, &[], 10_000, &[])[0];
            (window.read_p99_us, window.write_p99_us)
        };
        assert_eq!(p99s(&history).0, 198, "rank ceil(200 · 0.99) = 198 of 1..=200");
        assert_eq!(p99s(&history[..1]).0, 74, "one latency is its own 99th percentile");
        assert_eq!(p99s(&history).1, 5_004);
        assert_eq!(p99s(&[]), (0, 0));
        // A read invoked as the workload ends is counted, not timed.
        let mut late = OpRecord::invoked(crate::types::ClientId(0), 999, OpKind::Read, 1, crate::types::Time(10_000));
        late.outcome = Outcome::Ok;
        late.set_complete(crate::types::Time(99_999));
        history.push(late);
        let window = &windows(&history, &[], 10_000, &[])[0];
        assert_eq!((window.reads, window.reads_ok, window.read_p99_us), (202, 201, 198));
    }
}
