//! Per configuration: mean and 95% confidence interval over seeds of the
//! figures a comparison is about (Student t, `crate::ring::stats`).

use super::figures::{BOOTSTRAP_US, BYTES_MOVED, READS_WITH_SIBLINGS, STALE_READ_RATE};
use super::shard::ShardFile;
pub use crate::ring::stats::Estimate;

/// The aggregated figures: (dotted path in summary.json or derived, short
/// title for tables and plots). The order is the column order.
pub const FIGURES: [(&str, &str); 17] = [
    ("latency_us.read.p50", "read p50 µs"),
    ("latency_us.read.p99", "read p99 µs"),
    ("latency_us.read.p999", "read p99.9 µs"),
    ("latency_us.write.p50", "write p50 µs"),
    ("latency_us.write.p99", "write p99 µs"),
    ("latency_us.write.p999", "write p99.9 µs"),
    ("ops.availability.all", "availability"),
    ("ops.availability.read", "read availability"),
    ("ops.availability.write", "write availability"),
    (STALE_READ_RATE, "stale-read rate"),
    (READS_WITH_SIBLINGS, "reads with siblings"),
    ("consistency.lost_writes", "lost writes"),
    ("consistency.lww_lost_updates", "LWW lost updates"),
    ("hints.stored", "hints stored"),
    (BYTES_MOVED, "bytes moved"),
    (BOOTSTRAP_US, "bootstrap µs"),
    ("load.efficiency", "load balance"),
];

/// The position of `path` in [`FIGURES`].
pub fn figure_index(path: &str) -> Option<usize> {
    FIGURES.iter().position(|(p, _)| *p == path)
}

/// One configuration over its seeds.
#[derive(Clone, Debug)]
pub struct ConfigAggregate {
    /// `path=value` per axis.
    pub label: String,
    /// The value per axis, as written.
    pub values: Vec<String>,
    /// Runs that ran (not skipped).
    pub runs: usize,
    /// Runs that violated an expected invariant.
    pub violated: usize,
    /// Why the configuration was skipped, if it was.
    pub skipped: Option<String>,
    /// Per entry of [`FIGURES`]: the estimate and how many runs had the
    /// figure (None when none had it).
    pub estimates: Vec<Option<(Estimate, usize)>>,
}

impl ConfigAggregate {
    /// The estimate of `path` (a [`FIGURES`] entry), when measured.
    pub fn estimate(&self, path: &str) -> Option<Estimate> {
        figure_index(path).and_then(|i| self.estimates[i]).map(|(estimate, _)| estimate)
    }
}

/// Aggregates `file`'s rows (in grid order) per configuration.
pub fn by_configuration(file: &ShardFile) -> Vec<ConfigAggregate> {
    file.configurations
        .iter()
        .enumerate()
        .map(|(config, record)| {
            let rows: Vec<_> = file.rows.iter().filter(|r| r.config == config && !r.invalid()).collect();
            let estimates = FIGURES
                .iter()
                .map(|(path, _)| {
                    let values: Vec<f64> = rows
                        .iter()
                        .filter_map(|r| r.figures.get(*path))
                        .filter_map(|v| v.parse::<f64>().ok())
                        .collect();
                    (!values.is_empty()).then(|| (Estimate::of(&values), values.len()))
                })
                .collect();
            ConfigAggregate {
                label: record.label.clone(),
                values: record.values.clone(),
                runs: rows.len(),
                violated: rows.iter().filter(|r| r.violated()).count(),
                skipped: record.skipped.clone(),
                estimates,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ci_of_hand_made_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7, n = 8, t(0.975, 7) = 2.365.
        let estimate = Estimate::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(estimate.mean, 5.0);
        let expected = 2.365 * (32.0f64 / 7.0 / 8.0).sqrt();
        assert!((estimate.ci95 - expected).abs() < 1e-12, "{} vs {expected}", estimate.ci95);
        // Two values 10 and 12: mean 11, s = √2, half-width 12.706 · √2 / √2.
        let two = Estimate::of(&[10.0, 12.0]);
        assert_eq!(two.mean, 11.0);
        assert!((two.ci95 - 12.706).abs() < 1e-12);
    }
}
