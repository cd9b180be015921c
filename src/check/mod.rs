//! The consistency checker: pure functions over the client history and,
//! at the end of a run, the replicas' final stores.
//!
//! It is the only omniscient part of dynasim and uses exactly DESIGN.md's
//! definitions ("Definitions the checker uses"), so a figure means the same
//! thing in every output.

pub mod durability;
pub mod history;

use crate::node::vclock::Causality;
use crate::protocol::WriteId;
use history::{Observed, OpKind, OpRecord, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the checker found.
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
    /// Acknowledged writes present (themselves or a superseding version) in
    /// none of the main stores of the key's final preference list.
    pub lost_writes: u64,
    /// Lost writes that no node lost to a crash or disk loss: bugs.
    pub lost_writes_unexplained: u64,
    /// Last-write-wins: acknowledged writes discarded because a write
    /// invoked before them carries a higher timestamp.
    pub lww_lost_updates: u64,
    /// Cart removes acknowledged whose item a later read returned again
    /// with no add of it invoked after the remove.
    pub resurfaced_deletes: u64,
}

/// True when `newer` is `older` or supersedes it: by vector clock, or
/// under last-write-wins by (timestamp, writer).
pub fn supersedes_or_is(newer: &Observed, older_write: WriteId, older: Option<&Observed>, lww: bool) -> bool {
    if newer.write == older_write {
        return true;
    }
    match older {
        Some(older) if lww => newer.stamp > older.stamp,
        // Equal clocks on different writes are a reused counter, not a supersession.
        Some(older) => newer.clock.compare(&older.clock) == Causality::After,
        None => false,
    }
}

/// Checks a finished run's history.
pub fn check(history: &[OpRecord], lww: bool) -> ConsistencyReport {
    check_with(history, &versions_by_write(history), lww)
}

/// [`check`] with the write → version map already built (the end-of-run
/// checks need it too).
pub fn check_with(history: &[OpRecord], versions: &BTreeMap<WriteId, Observed>, lww: bool) -> ConsistencyReport {
    let mut report = ConsistencyReport::default();
    let mut by_key: BTreeMap<u64, Vec<&OpRecord>> = BTreeMap::new();
    let mut parents: BTreeMap<WriteId, &[WriteId]> = BTreeMap::new();
    for op in history {
        by_key.entry(op.key).or_default().push(op);
        if let Some(write) = op.write {
            parents.insert(write, &op.context_writes);
        }
        match (op.kind, op.outcome) {
            (OpKind::Read, Outcome::Ok) => {
                *report.siblings_per_read.entry(op.returned.len().to_string()).or_default() += 1;
                if !lww {
                    report.causal_sibling_violations += non_concurrent_pairs(&op.returned);
                    report.false_conflicts += ordered_sibling_pairs(&op.returned, &parents);
                }
            }
            (OpKind::Write, Outcome::Ok) => report.acknowledged_writes += 1,
            (OpKind::Write, Outcome::TimedOut | Outcome::InFlight) => report.indeterminate_writes += 1,
            _ => {}
        }
    }
    if !lww {
        for op in history.iter().filter(|op| op.is_acknowledged_write()) {
            let Some(clock) = op.clock.as_ref() else { continue };
            let unsuperseded =
                op.context_writes.iter().filter(|w| versions.get(w).is_some_and(|v| !clock.descends(&v.clock)));
            report.causal_sibling_violations += unsuperseded.count() as u64;
        }
    }
    for ops in by_key.values() {
        let (checked, stale) = stale_reads_of_key(ops, versions, lww);
        report.reads_of_written_keys += checked;
        report.stale_reads += stale;
    }
    report
}

/// The version (clock, stamp) of every write the history names: from its
/// acknowledgement, or from a read that returned it.
pub fn versions_by_write(history: &[OpRecord]) -> BTreeMap<WriteId, Observed> {
    let mut versions = BTreeMap::new();
    for op in history {
        if let (Some(write), Some(clock), Some(stamp)) = (op.write, op.clock.as_ref(), op.stamp) {
            let items = None;
            versions.insert(write, Observed { write, clock: clock.clone(), stamp, items });
        }
    }
    for observed in history.iter().flat_map(|op| op.returned.iter()) {
        versions.entry(observed.write).or_insert_with(|| observed.clone());
    }
    versions
}

/// Pairs of returned versions that are not concurrent (one descends from the other).
fn non_concurrent_pairs(returned: &[Observed]) -> u64 {
    let mut count = 0;
    for (i, a) in returned.iter().enumerate() {
        for b in &returned[i + 1..] {
            if a.clock.compare(&b.clock) != Causality::Concurrent {
                count += 1;
            }
        }
    }
    count
}

/// Sibling pairs where one write is an ancestor of the other through
/// the contexts writes were made with.
fn ordered_sibling_pairs(returned: &[Observed], parents: &BTreeMap<WriteId, &[WriteId]>) -> u64 {
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
    for (i, a) in returned.iter().enumerate() {
        for b in &returned[i + 1..] {
            if is_ancestor(a.write, b.write) || is_ancestor(b.write, a.write) {
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
fn stale_reads_of_key(ops: &[&OpRecord], versions: &BTreeMap<WriteId, Observed>, lww: bool) -> (u64, u64) {
    let mut acknowledged: Vec<(crate::types::Time, &Observed)> = ops
        .iter()
        .filter(|op| op.is_acknowledged_write())
        .filter_map(|op| Some((op.complete?, versions.get(&op.write?)?)))
        .collect();
    acknowledged.sort_by_key(|(complete, version)| (*complete, version.write));
    let mut reads: Vec<&&OpRecord> =
        ops.iter().filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok).collect();
    reads.sort_by_key(|op| (op.invoke, op.client, op.sequence));

    let covers = |newer: &Observed, older: &Observed| supersedes_or_is(newer, older.write, Some(older), lww);
    let mut frontier: Vec<&Observed> = Vec::new();
    let mut next_write = 0;
    let (mut checked, mut stale) = (0, 0);
    for read in reads {
        while next_write < acknowledged.len() && acknowledged[next_write].0 < read.invoke {
            let (_, write) = acknowledged[next_write];
            next_write += 1;
            if frontier.iter().any(|f| covers(f, write)) {
                continue; // superseded by a write already in the frontier
            }
            frontier.retain(|f| !covers(write, f));
            frontier.push(write);
        }
        if frontier.is_empty() {
            continue;
        }
        checked += 1;
        if !frontier.iter().all(|w| read.returned.iter().any(|r| covers(r, w))) {
            stale += 1;
        }
    }
    (checked, stale)
}

#[cfg(test)]
mod tests;
