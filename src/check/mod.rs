//! The consistency checker: a pure function over the client history.
//!
//! It is the only omniscient part of dynasim and uses exactly DESIGN.md's
//! definitions ("Definitions the checker uses"), so a figure means the same
//! thing in every output.

pub mod history;

use crate::node::vclock::{Causality, VectorClock};
use crate::protocol::WriteId;
use history::{OpKind, OpRecord, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the checker found in one history.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConsistencyReport {
    /// Successful reads of keys that had an acknowledged write before the
    /// read was invoked (the reads that could be stale).
    pub reads_of_written_keys: u64,
    /// Reads that returned neither some write acknowledged before the read
    /// was invoked nor any version superseding it.
    pub stale_reads: u64,
    /// Successful reads by number of versions returned ("0" = key not found).
    pub siblings_per_read: BTreeMap<String, u64>,
    /// Writes acknowledged as successful.
    pub acknowledged_writes: u64,
    /// Writes that timed out or were in flight at the end: they may or may
    /// not have taken effect, so they are neither acknowledged nor lost.
    pub indeterminate_writes: u64,
    /// `causal-siblings` violations: a read returned two versions that are
    /// not concurrent, or an acknowledged write made with a read's context
    /// does not supersede a version that read returned.
    pub causal_sibling_violations: u64,
    /// Sibling pairs a read returned although one was written with a
    /// context that (through a chain of read-modify-writes) included the
    /// other: the clocks forgot the order, as vector clock truncation does.
    pub false_conflicts: u64,
}

/// Checks a history (ordered by invoke time or not; it sorts what it needs).
pub fn check(history: &[OpRecord]) -> ConsistencyReport {
    let mut report = ConsistencyReport::default();
    let mut clocks: BTreeMap<WriteId, &VectorClock> = BTreeMap::new();
    let mut by_key: BTreeMap<u64, Vec<&OpRecord>> = BTreeMap::new();
    let mut parents: BTreeMap<WriteId, &[WriteId]> = BTreeMap::new();
    for op in history {
        if let Some(write) = op.write {
            parents.insert(write, &op.context_writes);
        }
        by_key.entry(op.key).or_default().push(op);
        if let (Some(write), Some(clock)) = (op.write, op.clock.as_ref()) {
            clocks.insert(write, clock);
        }
        for (write, clock) in &op.returned {
            clocks.entry(*write).or_insert(clock);
        }
        match (op.kind, op.outcome) {
            (OpKind::Read, Outcome::Ok) => {
                *report
                    .siblings_per_read
                    .entry(op.returned.len().to_string())
                    .or_default() += 1;
                report.causal_sibling_violations += non_concurrent_pairs(&op.returned);
            }
            (OpKind::Write, Outcome::Ok) => report.acknowledged_writes += 1,
            (OpKind::Write, Outcome::TimedOut | Outcome::InFlight) => {
                report.indeterminate_writes += 1
            }
            _ => {}
        }
    }
    for op in history.iter().filter(|op| op.is_acknowledged_write()) {
        let clock = op
            .clock
            .as_ref()
            .expect("acknowledged writes carry their clock");
        let unsuperseded = op
            .context_writes
            .iter()
            .filter(|w| clocks.get(w).is_some_and(|c| !clock.descends(c)));
        report.causal_sibling_violations += unsuperseded.count() as u64;
    }
    for op in history
        .iter()
        .filter(|op| op.kind == OpKind::Read && op.returned.len() > 1)
    {
        report.false_conflicts += ordered_sibling_pairs(&op.returned, &parents);
    }
    for ops in by_key.values() {
        let (checked, stale) = stale_reads_of_key(ops);
        report.reads_of_written_keys += checked;
        report.stale_reads += stale;
    }
    report
}

/// Pairs of returned versions that are not concurrent (one descends from the other).
fn non_concurrent_pairs(returned: &[(WriteId, VectorClock)]) -> u64 {
    let mut count = 0;
    for (i, (_, a)) in returned.iter().enumerate() {
        for (_, b) in &returned[i + 1..] {
            if a.compare(b) != Causality::Concurrent {
                count += 1;
            }
        }
    }
    count
}

/// Sibling pairs where one write is an ancestor of the other through
/// the contexts writes were made with.
fn ordered_sibling_pairs(
    returned: &[(WriteId, VectorClock)],
    parents: &BTreeMap<WriteId, &[WriteId]>,
) -> u64 {
    let is_ancestor = |ancestor: WriteId, of: WriteId| {
        let mut stack = vec![of];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(write) = stack.pop() {
            for &parent in parents.get(&write).copied().unwrap_or(&[]) {
                if parent == ancestor {
                    return true;
                }
                if seen.insert(parent) {
                    stack.push(parent);
                }
            }
        }
        false
    };
    let mut count = 0;
    for (i, (a, _)) in returned.iter().enumerate() {
        for (b, _) in &returned[i + 1..] {
            if is_ancestor(*a, *b) || is_ancestor(*b, *a) {
                count += 1;
            }
        }
    }
    count
}

/// (reads checked, stale reads) among one key's operations.
///
/// Sweeps reads in invoke order, keeping the frontier of writes acknowledged
/// so far that no other acknowledged write supersedes: a read that covers
/// every frontier write covers all earlier ones too.
fn stale_reads_of_key(ops: &[&OpRecord]) -> (u64, u64) {
    let mut acknowledged: Vec<(crate::types::Time, WriteId, &VectorClock)> = ops
        .iter()
        .filter(|op| op.is_acknowledged_write())
        .filter_map(|op| Some((op.complete?, op.write?, op.clock.as_ref()?)))
        .collect();
    acknowledged.sort_by_key(|(complete, write, _)| (*complete, *write));
    let mut reads: Vec<&&OpRecord> = ops
        .iter()
        .filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok)
        .collect();
    reads.sort_by_key(|op| (op.invoke, op.client, op.sequence));

    let mut frontier: Vec<(WriteId, &VectorClock)> = Vec::new();
    let mut next_write = 0;
    let (mut checked, mut stale) = (0, 0);
    for read in reads {
        while next_write < acknowledged.len() && acknowledged[next_write].0 < read.invoke {
            let (_, write, clock) = acknowledged[next_write];
            next_write += 1;
            if frontier
                .iter()
                .any(|(_, c)| c.compare(clock) == Causality::After)
            {
                continue; // superseded by a write already in the frontier
            }
            frontier.retain(|(_, c)| clock.compare(c) != Causality::After);
            frontier.push((write, clock));
        }
        if frontier.is_empty() {
            continue;
        }
        checked += 1;
        let covers = |(write, clock): &(WriteId, &VectorClock)| {
            read.returned
                .iter()
                .any(|(w, c)| w == write || c.descends(clock))
        };
        if !frontier.iter().all(covers) {
            stale += 1;
        }
    }
    (checked, stale)
}

#[cfg(test)]
mod tests;
