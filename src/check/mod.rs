//! The consistency checker: pure functions over the client history and,
//! at the end of a run, the replicas' final stores.
//!
//! It is the only omniscient part of dynasim and uses exactly DESIGN.md's
//! definitions ("Definitions the checker uses"), so a figure means the same
//! thing in every output.

pub mod convergence;
pub mod durability;
pub mod history;
pub mod lineage;
pub mod realtime;
mod successors;
mod writes;

use crate::node::versioning::Versioning;
use crate::protocol::{Version, WriteId};
use crate::types::ClientId;
use history::{OpKind, OpRecord, Outcome};
use lineage::Lineage;
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
    /// Versions seen (in acknowledgements, reads or stores) beyond the
    /// first of each write: requests coordinated twice, e.g. re-forwarded
    /// after a lost acknowledgement.
    pub duplicate_coordinations: u64,
    /// `causal-siblings` violations: a read returned two versions that are
    /// not concurrent, or an acknowledged write made with a read's context
    /// does not supersede a version that read returned.
    pub causal_sibling_violations: u64,
    /// Sibling pairs a read returned although one was written with a
    /// context that (through a chain of read-modify-writes) included the
    /// other: the clocks forgot the order, as vector clock truncation does.
    pub false_conflicts: u64,
    /// Acknowledged writes present (themselves or a superseding version
    /// whose writer saw them) in none of the main stores of the key's final
    /// preference list.
    pub lost_writes: u64,
    /// Lost writes whose every copy went down with a disk or an unflushed
    /// buffer (explained).
    pub lost_writes_disk_or_buffer: u64,
    /// Lost writes whose versions a configured sibling cap dropped (explained).
    pub lost_writes_sibling_cap: u64,
    /// Lost writes superseded by a version whose writer never saw them:
    /// lost updates, or a write overwritten under last-write-wins (explained:
    /// that is how the versioning behaves).
    pub lost_writes_overwritten: u64,
    /// Lost writes nothing explains: bugs.
    pub lost_writes_unexplained: u64,
    /// Lost writes superseded by a version whose writer's context did not
    /// cover them, and by none whose did: they vanished without ever being
    /// siblings (server-side vector clocks do this to concurrent writes
    /// through one coordinator). Under last-write-wins: `lww_lost_updates`.
    pub lost_updates: u64,
    /// Last-write-wins: acknowledged writes discarded because a write
    /// invoked before them carries a higher timestamp.
    pub lww_lost_updates: u64,
    /// Cart removes acknowledged whose item a later read returned again
    /// with no add of it invoked after the remove.
    pub resurfaced_deletes: u64,
    /// The writes counted in `lost_updates` (for per-window figures),
    /// sorted, each once: gathered as found and sorted once at the end
    /// (on blind writes nearly every write is one, and inserting each into
    /// a B-tree as it was found was 1.4 % of a run).
    #[serde(skip)]
    pub lost_update_writes: Vec<WriteId>,
    /// One verdict per read counted in `reads_of_written_keys`, by key and
    /// invocation (for staleness by time since the last write).
    #[serde(skip)]
    pub read_verdicts: Vec<ReadVerdict>,
    /// The reads counted in `stale_reads`: (client, request number) → key,
    /// to compare with the real-time check.
    #[serde(skip)]
    pub stale_read_ops: BTreeMap<ReadId, u64>,
    /// Real-time check ([`realtime`], no clock trusted): returned versions
    /// of a write no client issued on that key.
    pub realtime_phantom_versions: u64,
    /// Real-time check: reads or write contexts naming a write invoked
    /// after the read completed or the write was invoked.
    pub realtime_causality_violations: u64,
    /// Real-time check: reads that returned, for some write acknowledged
    /// before they were invoked, neither it nor a write that saw it or was
    /// invoked after it completed.
    pub realtime_stale_reads: u64,
    /// Strict mode only: reads the two checks judge differently (stale by
    /// one and not the other), apart from real-time stale reads whose missed
    /// writes were all lost updates (their overwriters' clocks claim them).
    pub disagreements: u64,
    /// The first few disagreements, described.
    pub disagreeing_reads: Vec<String>,
}

/// The checker's verdict on one successful read of a key that had an
/// acknowledged write before the read was invoked. 32 bytes: the report
/// keeps one for every such read (~9 M at 10 M requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadVerdict {
    /// The read, as its (client, sequence).
    pub read: ReadId,
    /// From the completion of the key's last write acknowledged before the
    /// read was invoked to the read's invocation, µs.
    pub since_write_us: u64,
    /// The read is stale (DESIGN.md's definition).
    pub stale: bool,
    /// k-staleness: the acknowledged writes completed before the read was
    /// invoked that the read returned neither itself nor a version
    /// superseding; 0 for a read that is not stale.
    pub versions_behind: u32,
}

/// A read by (client, request number).
pub type ReadId = (ClientId, u64);

/// Checks a finished run's history (the end-state figures need
/// [`durability::check_end_state`] too).
pub fn check(history: &[OpRecord], versioning: Versioning) -> ConsistencyReport {
    let (lineage, by_key) = Lineage::with_history_by_key(history);
    check_with(&by_key, &lineage, versioning)
}

/// [`check`] with the history sorted by key ([`history::sorted_by_key`])
/// and the lineage already built (the end-of-run checks need both too).
/// Every figure is a sum over keys, taken in one walk by key.
pub fn check_with(by_key: &[&OpRecord], lineage: &Lineage, versioning: Versioning) -> ConsistencyReport {
    let lww = versioning == Versioning::LastWriteWins;
    let mut report = ConsistencyReport::default();
    // Counted by number, named once at the end: a string per read was an allocation per read.
    let mut siblings_per_read: BTreeMap<usize, u64> = BTreeMap::new();
    // At most a verdict a read, reserved at once: grown by doubling, the
    // list left its old buffers behind (the allocator keeps freed pages,
    // see `allocator`), ~300 MB at 10 M requests.
    report.read_verdicts.reserve_exact(by_key.len().saturating_sub(lineage.write_records()));
    let mut judge = ReadJudge::default();
    for ops in history::key_runs(by_key) {
        for op in ops {
            match (op.kind, op.outcome) {
                (OpKind::Read, Outcome::Ok) => {
                    *siblings_per_read.entry(op.returned().len()).or_default() += 1;
                    if !lww {
                        report.causal_sibling_violations += non_concurrent_pairs(op.returned(), versioning);
                        report.false_conflicts += ordered_sibling_pairs(op.returned(), lineage);
                    }
                }
                (OpKind::Write, Outcome::Ok) => {
                    report.acknowledged_writes += 1;
                    if !lww {
                        report.causal_sibling_violations += unsuperseded_context(op, lineage, versioning);
                    }
                }
                (OpKind::Write, Outcome::TimedOut | Outcome::InFlight) => report.indeterminate_writes += 1,
                _ => {}
            }
        }
        let key = ops[0].key;
        let judged = report.read_verdicts.len();
        judge.reads_of_key(ops, versioning, &mut report.read_verdicts);
        report.stale_read_ops.extend(report.read_verdicts[judged..].iter().filter(|v| v.stale).map(|v| (v.read, key)));
    }
    report.siblings_per_read = siblings_per_read.into_iter().map(|(count, reads)| (count.to_string(), reads)).collect();
    report.reads_of_written_keys = report.read_verdicts.len() as u64;
    report.stale_reads = report.read_verdicts.iter().filter(|v| v.stale).count() as u64;
    report.duplicate_coordinations = lineage.duplicate_coordinations();
    report
}

/// True when `newer` is a version of `older`'s write or supersedes `older`.
fn covers(newer: &Version, older: &Version, versioning: Versioning) -> bool {
    newer.write() == older.write() || versioning.covers(newer, older)
}

/// Pairs of returned versions that are not concurrent (one covers the other).
fn non_concurrent_pairs(returned: &[Version], versioning: Versioning) -> u64 {
    let mut count = 0;
    for (i, a) in returned.iter().enumerate() {
        for b in &returned[i + 1..] {
            count += u64::from(!versioning.concurrent(a, b));
        }
    }
    count
}

/// Versions in an acknowledged write's context that its own version does
/// not supersede.
fn unsuperseded_context(op: &OpRecord, lineage: &Lineage, versioning: Versioning) -> u64 {
    let Some(acked) = op.acked() else { return 0 };
    let seen = op.context().iter().filter_map(|&id| lineage.version(op.key, id));
    seen.filter(|seen| !versioning.covers(acked, seen)).count() as u64
}

/// Sibling pairs where one version is an ancestor of the other through
/// the contexts writes were made with.
fn ordered_sibling_pairs(returned: &[Version], lineage: &Lineage) -> u64 {
    let mut count = 0;
    for (i, a) in returned.iter().enumerate() {
        for b in &returned[i + 1..] {
            let ordered = lineage.saw_version(b.write(), a.id()) || lineage.saw_version(a.write(), b.id());
            count += u64::from(ordered);
        }
    }
    count
}

/// Judges each key's reads in turn, reusing its lists from key to key
/// (four allocations a key: 1.1 M of the quickstart's 329 M instructions).
#[derive(Default)]
struct ReadJudge<'a> {
    /// The key's acknowledged writes: (completion, acknowledged version).
    acknowledged: Vec<(crate::types::Time, &'a Version)>,
    /// The key's successful reads.
    reads: Vec<&'a OpRecord>,
    /// Acknowledged writes so far that no other supersedes.
    frontier: Vec<&'a Version>,
}

impl<'a> ReadJudge<'a> {
    /// Appends to `verdicts` a verdict for each read of one key's
    /// operations that could be stale.
    ///
    /// Sweeps reads in invoke order, keeping the frontier of writes
    /// acknowledged so far that no other acknowledged write supersedes: a
    /// read that covers every frontier write covers all earlier ones too.
    fn reads_of_key(&mut self, ops: &[&'a OpRecord], versioning: Versioning, verdicts: &mut Vec<ReadVerdict>) {
        let ReadJudge { acknowledged, reads, frontier } = self;
        acknowledged.clear();
        acknowledged.extend(
            ops.iter().filter(|op| op.is_acknowledged_write()).filter_map(|op| Some((op.complete()?, op.acked()?))),
        );
        acknowledged.sort_by_key(|(complete, version)| (*complete, version.write()));
        reads.clear();
        reads.extend(ops.iter().copied().filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok));
        reads.sort_by_key(|op| (op.invoke, op.client, op.sequence));

        let covers = |newer: &Version, older: &Version| covers(newer, older, versioning);
        frontier.clear();
        let mut next_write = 0;
        for read in reads.iter() {
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
            let reflects = |w: &Version| read.returned().iter().any(|r| covers(r, w));
            let stale = !frontier.iter().all(|w| reflects(w));
            // Counted for stale reads only: a read that covers the frontier covers every earlier write.
            let behind =
                if stale { acknowledged[..next_write].iter().filter(|(_, w)| !reflects(w)).count() } else { 0 };
            let versions_behind = u32::try_from(behind).expect("fewer than 2^32 writes of one key");
            let since_write_us = read.invoke.since(acknowledged[next_write - 1].0);
            verdicts.push(ReadVerdict { read: (read.client, read.sequence), since_write_us, stale, versions_behind });
        }
    }
}

#[cfg(test)]
mod successors_tests;
#[cfg(test)]
mod tests;
