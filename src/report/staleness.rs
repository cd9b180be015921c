//! Staleness as a function of time since a write: `summary.json`'s
//! `staleness` section and `staleness.csv`.
//!
//! In probe mode the rows are PBS t-visibility (Bailis et al., VLDB 2012):
//! one per probe delay t, P(consistent read | t) with a 95% Wilson score
//! interval. In every other mode the rows bin the checker's reads of
//! written keys by the time since the key's last acknowledged write
//! completed, so a failure scenario shows how staleness grows around a
//! fault. Both read the checker's per-read verdicts: a stale read means
//! the same thing here as in `consistency.stale_reads`.

use crate::check::history::{OpKind, OpRecord};
use crate::check::{ConsistencyReport, ReadVerdict};
use crate::client::probe::read_offset_us;
use crate::scenario::{LoadMode, Scenario};
use crate::types::ms_to_us;
use serde::Serialize;
use std::collections::BTreeMap;

/// z for a two-sided 95% interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// P(consistent) a probe delay must reach for `t_visibility_999_ms`.
pub const VISIBILITY_TARGET: f64 = 0.999;

/// Lower edges of the bins of time since the last write, ms; the last bin
/// is open (500 ms and more).
pub const BIN_EDGES_MS: [f64; 10] = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

/// The staleness section of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct Staleness {
    /// `probe` (one row per probe delay) or `since-last-write` (one row per bin).
    pub rows_by: String,
    /// The rows, in increasing time.
    pub rows: Vec<StalenessRow>,
    /// Probe mode: the smallest probed delay t whose P(consistent) (the
    /// point estimate) is at least 99.9%, ms; null if none reached it, and
    /// always null outside probe mode.
    pub t_visibility_999_ms: Option<f64>,
    /// Probe writes started (probe mode; 0 otherwise).
    pub probes_started: u64,
    /// Probe writes that committed, each followed by one read per delay
    /// (probe mode; 0 otherwise).
    pub probes_committed: u64,
    /// k-staleness: stale reads by how many acknowledged writes they missed
    /// ("1": they missed only the latest). With one write per probe key,
    /// every stale probe read is 1 behind (it returned nothing).
    pub versions_behind: BTreeMap<String, u64>,
}

/// One row: a probe delay (`bin_lo_ms == bin_hi_ms`) or a bin [lo, hi).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StalenessRow {
    /// The delay, or the bin's lower edge (inclusive), ms.
    pub bin_lo_ms: f64,
    /// The delay, or the bin's upper edge (exclusive); null for the open last bin.
    pub bin_hi_ms: Option<f64>,
    /// Reads judged (successful reads of a key with an acknowledged write before them).
    pub reads: u64,
    /// Reads that were not stale.
    pub consistent: u64,
    /// consistent / reads; null without reads.
    pub p_consistent: Option<f64>,
    /// Lower end of the 95% Wilson score interval; null without reads.
    pub ci_low: Option<f64>,
    /// Upper end of the 95% Wilson score interval; null without reads.
    pub ci_high: Option<f64>,
}

impl StalenessRow {
    fn new(bin_lo_ms: f64, bin_hi_ms: Option<f64>, reads: u64, consistent: u64) -> StalenessRow {
        let interval = wilson_interval(consistent, reads, Z_95);
        StalenessRow {
            bin_lo_ms,
            bin_hi_ms,
            reads,
            consistent,
            p_consistent: (reads > 0).then(|| consistent as f64 / reads as f64),
            ci_low: interval.map(|(low, _)| low),
            ci_high: interval.map(|(_, high)| high),
        }
    }
}

/// The Wilson score interval for `successes` of `trials` at `z` (E. B.
/// Wilson, JASA 1927): unlike the normal approximation it stays inside
/// [0, 1] and is not degenerate at 0 or `trials` successes. None without trials.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * libm::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Builds the section from the checker's verdicts.
pub fn staleness(scenario: &Scenario, consistency: &ConsistencyReport, history: &[OpRecord]) -> Staleness {
    let verdicts = &consistency.read_verdicts;
    let mut versions_behind = BTreeMap::new();
    for verdict in verdicts.iter().filter(|v| v.is_stale()) {
        *versions_behind.entry(verdict.versions_behind.to_string()).or_default() += 1;
    }
    let workload = &scenario.spec.workload;
    if workload.mode != LoadMode::Probe {
        return Staleness {
            rows_by: "since-last-write".into(),
            rows: rows_by_bin(verdicts.iter()),
            t_visibility_999_ms: None,
            probes_started: 0,
            probes_committed: 0,
            versions_behind,
        };
    }
    let rows = rows_by_delay(verdicts.iter(), &workload.probe_delays_ms());
    let t_visibility_999_ms =
        rows.iter().find(|row| row.p_consistent.is_some_and(|p| p >= VISIBILITY_TARGET)).map(|row| row.bin_lo_ms);
    let writes = history.iter().filter(|op| op.kind == OpKind::Write);
    Staleness {
        rows_by: "probe".into(),
        rows,
        t_visibility_999_ms,
        probes_started: writes.clone().count() as u64,
        probes_committed: writes.filter(|op| op.is_acknowledged_write()).count() as u64,
        versions_behind,
    }
}

/// Probe mode: a probe's read for delay t is invoked exactly
/// `read_offset_us(t)` after its write (the key's only one) completed.
fn rows_by_delay<'v>(verdicts: impl IntoIterator<Item = &'v ReadVerdict>, delays_ms: &[f64]) -> Vec<StalenessRow> {
    let mut counts: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for verdict in verdicts {
        let entry = counts.entry(verdict.since_write_us).or_default();
        entry.0 += 1;
        entry.1 += u64::from(!verdict.is_stale());
    }
    delays_ms
        .iter()
        .map(|&delay| {
            let (reads, consistent) = counts.get(&read_offset_us(ms_to_us(delay))).copied().unwrap_or_default();
            StalenessRow::new(delay, Some(delay), reads, consistent)
        })
        .collect()
}

/// Every other mode: reads binned by time since the key's last acknowledged write.
fn rows_by_bin<'v>(verdicts: impl IntoIterator<Item = &'v ReadVerdict>) -> Vec<StalenessRow> {
    let mut counts = [(0u64, 0u64); BIN_EDGES_MS.len()];
    for verdict in verdicts {
        let bin = BIN_EDGES_MS.partition_point(|&edge| ms_to_us(edge) <= verdict.since_write_us) - 1;
        counts[bin].0 += 1;
        counts[bin].1 += u64::from(!verdict.is_stale());
    }
    counts
        .iter()
        .enumerate()
        .map(|(bin, &(reads, consistent))| {
            StalenessRow::new(BIN_EDGES_MS[bin], BIN_EDGES_MS.get(bin + 1).copied(), reads, consistent)
        })
        .collect()
}

/// The header of `staleness.csv` (a contract with its readers: keep it).
pub const CSV_HEADER: &str = "bin_lo_ms,bin_hi_ms,reads,consistent,p_consistent,ci_low,ci_high";

/// The text of `staleness.csv`: [`CSV_HEADER`], then one line per row;
/// empty cells for the open bin's upper edge and for rows without reads.
pub fn staleness_csv(staleness: &Staleness) -> String {
    let optional = |value: Option<f64>| value.map(|v| format!("{v:.6}")).unwrap_or_default();
    let mut text = format!("{CSV_HEADER}\n");
    for row in &staleness.rows {
        text.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            row.bin_lo_ms,
            row.bin_hi_ms.map(|hi| hi.to_string()).unwrap_or_default(),
            row.reads,
            row.consistent,
            optional(row.p_consistent),
            optional(row.ci_low),
            optional(row.ci_high),
        ));
    }
    text
}

/// Probe mode: the t-visibility curve for the terminal (empty otherwise).
pub fn render_text(staleness: &Staleness) -> String {
    if staleness.rows_by != "probe" {
        return String::new();
    }
    let percent = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{:.2}", 100.0 * v));
    let mut text = format!(
        "staleness {} probes committed of {}; P(consistent read | t ms after commit), 95% CI:\n",
        staleness.probes_committed, staleness.probes_started
    );
    for row in &staleness.rows {
        text.push_str(&format!(
            "  t={:<8} {:>6}% [{}, {}] of {} reads\n",
            row.bin_lo_ms,
            percent(row.p_consistent),
            percent(row.ci_low),
            percent(row.ci_high),
            row.reads
        ));
    }
    let reached =
        staleness.t_visibility_999_ms.map_or("not within the probed delays".to_string(), |t| format!("t = {t} ms"));
    text.push_str(&format!("  P >= 99.9% from {reached}\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(since_write_us: u64, stale: bool) -> ReadVerdict {
        ReadVerdict {
            client: crate::types::ClientId(0),
            versions_behind: u32::from(stale),
            sequence: since_write_us,
            since_write_us,
        }
    }

    #[test]
    fn wilson_matches_a_worked_example_and_stays_in_the_unit_interval() {
        // 81 of 263 at 95%: [0.2553, 0.3662] (Wilson interval, standard worked example).
        let (low, high) = wilson_interval(81, 263, Z_95).expect("trials");
        assert!((low - 0.2553).abs() < 1e-4 && (high - 0.3662).abs() < 1e-4, "{low} {high}");
        let (low, high) = wilson_interval(10, 10, Z_95).expect("trials");
        assert!(low > 0.72 && low < 0.73 && high > 1.0 - 1e-12, "{low} {high}");
        let (low, high) = wilson_interval(0, 10, Z_95).expect("trials");
        assert!(low == 0.0 && high < 0.31, "{low} {high}");
        assert_eq!(wilson_interval(0, 0, Z_95), None);
    }

    #[test]
    fn bins_are_half_open_and_the_last_is_open() {
        let verdicts = [
            verdict(0, true),
            verdict(999, false),
            verdict(1_000, false),
            verdict(499_999, true),
            verdict(10_000_000, false),
        ];
        let rows = rows_by_bin(&verdicts);
        assert_eq!(rows.len(), BIN_EDGES_MS.len());
        assert_eq!((rows[0].reads, rows[0].consistent), (2, 1));
        assert_eq!((rows[1].reads, rows[1].consistent), (1, 1));
        assert_eq!((rows[8].bin_lo_ms, rows[8].bin_hi_ms, rows[8].reads), (200.0, Some(500.0), 1));
        assert_eq!((rows[9].bin_hi_ms, rows[9].reads), (None, 1));
        assert_eq!(rows.iter().map(|r| r.reads).sum::<u64>(), verdicts.len() as u64, "every read in one bin");
        assert_eq!(rows[2].p_consistent, None, "no reads, no estimate");
    }

    #[test]
    fn probe_rows_take_the_reads_issued_at_each_delay() {
        let verdicts = [verdict(1, true), verdict(1, false), verdict(2_001, false), verdict(7, false)];
        let rows = rows_by_delay(&verdicts, &[0.0, 2.0, 5.0]);
        assert_eq!(
            rows.iter().map(|r| (r.bin_lo_ms, r.reads, r.consistent)).collect::<Vec<_>>(),
            [(0.0, 2, 1), (2.0, 1, 1), (5.0, 0, 0)]
        );
        assert_eq!(rows[1].bin_hi_ms, Some(2.0));
    }

    #[test]
    fn the_csv_has_the_contracted_columns_and_empty_cells_for_unknowns() {
        let staleness = Staleness {
            rows_by: "since-last-write".into(),
            rows: vec![StalenessRow::new(0.0, Some(1.0), 4, 3), StalenessRow::new(500.0, None, 0, 0)],
            t_visibility_999_ms: None,
            probes_started: 0,
            probes_committed: 0,
            versions_behind: BTreeMap::new(),
        };
        let csv = staleness_csv(&staleness);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "bin_lo_ms,bin_hi_ms,reads,consistent,p_consistent,ci_low,ci_high");
        assert!(lines[1].starts_with("0,1,4,3,0.750000,"), "{}", lines[1]);
        assert_eq!(lines[2], "500,,0,0,,,");
    }
}
