//! Availability per fault window: the workload cut at every fault time, so
//! a user sees what each fault did to reads and writes.

use super::latency_counts::LatencyCounts;
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
    let mut latencies: Vec<[Latencies; 2]> = (0..windows.len()).map(|_| Default::default()).collect();
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
                latencies[index][usize::from(op.kind == OpKind::Write)].add(latency);
            }
        }
    }
    for (window, [reads, writes]) in windows.iter_mut().zip(latencies) {
        window.read_p99_us = reads.p99();
        window.write_p99_us = writes.p99();
        let total = window.reads + window.writes;
        window.availability = if total == 0 { 1.0 } else { (window.reads_ok + window.writes_ok) as f64 / total as f64 };
    }
    windows
}

/// The latencies of one kind of operation in one window: listed while
/// few, counted ([`LatencyCounts`]) once a list would outgrow a count
/// table. A list of every read's was 76 MB at 10 M requests, grown by
/// doubling at the run's peak; a count table a window is at most 8 MiB,
/// which a short run's many fault windows should not each pay.
#[derive(Debug)]
enum Latencies {
    Listed(Vec<u64>),
    Counted(LatencyCounts),
}

/// The most latencies a window lists (8 MiB) before it counts them.
const LISTED_MAX: usize = 1 << 20;

impl Default for Latencies {
    fn default() -> Self {
        Latencies::Listed(Vec::new())
    }
}

impl Latencies {
    fn add(&mut self, latency_us: u64) {
        match self {
            Latencies::Listed(list) if list.len() < LISTED_MAX => list.push(latency_us),
            Latencies::Listed(list) => {
                let mut counts = LatencyCounts::default();
                list.iter().chain([&latency_us]).for_each(|&latency| counts.add(latency));
                *self = Latencies::Counted(counts);
            }
            Latencies::Counted(counts) => counts.add(latency_us),
        }
    }

    /// The nearest-rank 99th percentile (0 for none).
    fn p99(self) -> u64 {
        match self {
            Latencies::Listed(list) if list.is_empty() => 0,
            Latencies::Listed(mut list) => {
                let rank = (list.len() * 99).div_ceil(100);
                *list.select_nth_unstable(rank - 1).1
            }
            Latencies::Counted(counts) => {
                let rank = (counts.len() * 99).div_ceil(100);
                counts.ascending().at_rank(rank).0
            }
        }
    }
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

    /// Past [`LISTED_MAX`] latencies a window counts them, and its 99th
    /// percentile is the same nearest rank (here with latencies beyond
    /// the count table's reach too).
    #[test]
    fn a_counted_window_gives_the_listed_window_s_p99() {
        let latencies = |len: u64| (0..len).map(move |i| (i * 7_919) % 3_000_017 + 1);
        for len in [LISTED_MAX as u64, LISTED_MAX as u64 + 1, 3 * LISTED_MAX as u64 / 2] {
            let mut window = Latencies::default();
            latencies(len).for_each(|latency| window.add(latency));
            assert_eq!(matches!(window, Latencies::Counted(_)), len > LISTED_MAX as u64, "{len} latencies");
            let listed = Latencies::Listed(latencies(len).collect());
            assert_eq!(window.p99(), listed.p99(), "{len} latencies");
        }
    }
}
