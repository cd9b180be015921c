//! Fault windows: when each fault was in force, for `faults.csv` and the
//! `faults_active` column of `timeseries.csv`.
//!
//! summary.json lists faults as applied, one entry per instant; a plot
//! needs spans instead. A crash lasts until its nodes run again, a
//! partition or slowdown until its own end or a heal, a loss rate until it
//! is restored or replaced, a clock skew until it is reverted; joins,
//! leaves, restarts and heals are points. Every window carries the label
//! summary.json gives the fault that opened it, and a revert (labelled
//! `end of <label>`) closes its window instead of adding a row.

use crate::fault::{FaultEffect, TimedFault};
use crate::types::{NodeId, Time};

/// One fault, from when it took effect until it was reverted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    /// The label summary.json's `faults` gives the fault that opened it.
    pub label: String,
    /// The fault's verb: crash, disk-loss, partition, loss, slow,
    /// clock-skew, join, leave, restart or heal.
    pub kind: &'static str,
    /// When it took effect, µs.
    pub start_us: u64,
    /// When it was reverted, µs (None while in force; points end at their start).
    pub end_us: Option<u64>,
}

impl FaultWindow {
    /// True when the window overlaps `[start_us, end_us)`, a window still
    /// open at `run_end_us` counting as lasting until then, and a point as
    /// lasting an instant.
    pub fn overlaps(&self, start_us: u64, end_us: u64, run_end_us: u64) -> bool {
        let until = self.end_us.unwrap_or(run_end_us);
        if until == self.start_us {
            (start_us..end_us).contains(&self.start_us)
        } else {
            self.start_us < end_us && until > start_us
        }
    }
}

/// What closes an open window.
#[derive(Clone, Debug, PartialEq)]
enum Closer {
    /// Every one of these nodes running again.
    Nodes(Vec<NodeId>),
    /// The end of this partition, or a heal.
    Partition(usize),
    /// The end of this slowdown, or a heal.
    Slow(usize),
    /// The loss rate restored or replaced, or a heal.
    Loss,
    /// A new skew of any of these nodes.
    Skew(Vec<NodeId>),
}

/// Follows the faults as the simulator applies them.
#[derive(Clone, Debug, Default)]
pub struct FaultWindows {
    windows: Vec<FaultWindow>,
    /// Open windows: (index in `windows`, what closes it).
    open: Vec<(usize, Closer)>,
}

impl FaultWindows {
    /// Notes `fault`, just applied at `now`; `alive` is which nodes run after it.
    pub fn apply(&mut self, now: Time, fault: &TimedFault, alive: &[bool]) {
        let running = |nodes: &[NodeId]| nodes.iter().all(|n| alive.get(n.0 as usize).copied().unwrap_or(true));
        let heals = matches!(fault.effect, FaultEffect::HealAll { .. });
        self.close(now, |closer| match (closer, &fault.effect) {
            (Closer::Nodes(nodes), _) => running(nodes),
            (Closer::Partition(id), FaultEffect::EndPartition { id: end }) => id == end,
            (Closer::Slow(id), FaultEffect::EndSlow { id: end }) => id == end,
            (Closer::Loss, FaultEffect::Loss { .. } | FaultEffect::RestoreLoss) => true,
            (Closer::Skew(nodes), FaultEffect::ClockSkew { nodes: skewed, .. }) => {
                nodes.iter().any(|n| skewed.contains(n))
            }
            (Closer::Partition(_) | Closer::Slow(_) | Closer::Loss, _) => heals,
            _ => false,
        });
        let opened = fault.label.strip_prefix("end of ");
        if opened.is_some_and(|opened| self.windows.iter().any(|w| w.label == opened)) {
            return; // the revert of a fault with a window: closed above
        }
        let (kind, closer) = match &fault.effect {
            FaultEffect::Crash { nodes, disk_loss } => {
                (if *disk_loss { "disk-loss" } else { "crash" }, Some(Closer::Nodes(nodes.clone())))
            }
            FaultEffect::Partition { id, .. } => ("partition", Some(Closer::Partition(*id))),
            FaultEffect::Slow { id, .. } => ("slow", Some(Closer::Slow(*id))),
            FaultEffect::Loss { .. } => ("loss", Some(Closer::Loss)),
            FaultEffect::ClockSkew { nodes, skew_us } => {
                ("clock-skew", (*skew_us != 0).then(|| Closer::Skew(nodes.clone())))
            }
            FaultEffect::Join { .. } => ("join", None),
            FaultEffect::Leave { .. } => ("leave", None),
            FaultEffect::Restart { .. } => ("restart", None),
            FaultEffect::RestoreLoss | FaultEffect::EndPartition { .. } | FaultEffect::EndSlow { .. } => ("heal", None),
            FaultEffect::HealAll { .. } => ("heal", None),
        };
        let index = self.windows.len();
        let end_us = if closer.is_some() { None } else { Some(now.0) };
        self.windows.push(FaultWindow { label: fault.label.clone(), kind, start_us: now.0, end_us });
        if let Some(closer) = closer {
            self.open.push((index, closer));
        }
    }

    /// Closes at `now` every open window whose closer `closes` accepts.
    fn close(&mut self, now: Time, closes: impl Fn(&Closer) -> bool) {
        let windows = &mut self.windows;
        self.open.retain(|(index, closer)| {
            let done = closes(closer);
            if done {
                windows[*index].end_us = Some(now.0);
            }
            !done
        });
    }

    /// The windows in the order their faults were applied.
    pub fn windows(&self) -> &[FaultWindow] {
        &self.windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(label: &str, effect: FaultEffect) -> TimedFault {
        TimedFault { at: Time::ZERO, effect, label: label.into() }
    }

    #[test]
    fn a_crash_lasts_until_its_revert_and_the_final_heal_is_a_point() {
        let mut w = FaultWindows::default();
        let crash = FaultEffect::Crash { nodes: vec![NodeId(2)], disk_loss: false };
        w.apply(Time(100), &fault("crash n2", crash), &[true, true, false]);
        w.apply(Time(300), &fault("end of crash n2", FaultEffect::Restart { nodes: vec![NodeId(2)] }), &[true; 3]);
        w.apply(Time(900), &fault("end of workload: heal all", FaultEffect::HealAll { restart: true }), &[true; 3]);
        let rows: Vec<(&str, &str, u64, Option<u64>)> =
            w.windows().iter().map(|w| (w.label.as_str(), w.kind, w.start_us, w.end_us)).collect();
        assert_eq!(
            rows,
            vec![("crash n2", "crash", 100, Some(300)), ("end of workload: heal all", "heal", 900, Some(900))]
        );
    }

    #[test]
    fn a_heal_closes_partitions_and_a_window_never_closed_stays_open() {
        let mut w = FaultWindows::default();
        w.apply(Time(10), &fault("partition [n0] | [others]", FaultEffect::Partition { id: 0, rules: vec![] }), &[]);
        w.apply(Time(20), &fault("clock-skew n1", FaultEffect::ClockSkew { nodes: vec![NodeId(1)], skew_us: 5 }), &[]);
        w.apply(Time(30), &fault("heal", FaultEffect::HealAll { restart: false }), &[]);
        assert_eq!(w.windows()[0].end_us, Some(30));
        assert_eq!(w.windows()[1].end_us, None, "a heal does not reset clocks");
        assert!(w.windows()[1].overlaps(1000, 1100, 2000), "open windows last until the run's end");
        assert!(w.windows()[2].overlaps(30, 40, 2000) && !w.windows()[2].overlaps(31, 40, 2000));
    }
}
