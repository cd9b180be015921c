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
pub mod pieces;
pub mod realtime;
mod siblings;
mod successors;
mod writes;

use crate::node::versioning::Versioning;
use crate::protocol::{Version, WriteId};
use crate::types::ClientId;
use history::{OpKind, OpRecord, Outcome};
use lineage::Lineage;
use serde::Serialize;
use siblings::SiblingPairs;
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
    pub read_verdicts: ReadVerdicts,
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
/// acknowledged write before the read was invoked. 24 bytes: the report
/// keeps one for every such read (~9 M at 10 M requests), so the read is
/// kept as its two parts (a `(ClientId, u64)` pair is padded to 16
/// bytes) and staleness as the count it implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadVerdict {
    /// The read's client.
    pub client: ClientId,
    /// k-staleness: the acknowledged writes completed before the read was
    /// invoked that the read returned neither itself nor a version
    /// superseding; 0 exactly when the read is not stale (a stale read
    /// misses a write of the frontier, which counts).
    pub versions_behind: u32,
    /// The read's request number.
    pub sequence: u64,
    /// From the completion of the key's last write acknowledged before the
    /// read was invoked to the read's invocation, µs.
    pub since_write_us: u64,
}

impl ReadVerdict {
    /// The read, as its (client, sequence).
    pub fn read(&self) -> ReadId {
        (self.client, self.sequence)
    }

    /// The read is stale (DESIGN.md's definition).
    pub fn is_stale(&self) -> bool {
        self.versions_behind > 0
    }
}

/// A read by (client, request number).
pub type ReadId = (ClientId, u64);

/// The checker's read verdicts in key order, in the pieces it judged them
/// in ([`pieces`]): joined into one list they would be copied, and held
/// twice at the run's peak (32 bytes a read, 244 MB at 10 M requests).
#[derive(Clone, Debug, Default)]
pub struct ReadVerdicts {
    pieces: Vec<Vec<ReadVerdict>>,
}

/// Equal when the verdicts are, however they are cut into pieces.
impl PartialEq for ReadVerdicts {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl ReadVerdicts {
    /// Every verdict, in key order (each key's reads by invocation).
    pub fn iter(&self) -> impl Iterator<Item = &ReadVerdict> + Clone {
        self.pieces.iter().flatten()
    }

    /// How many verdicts there are.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }

    /// True when no read was judged.
    pub fn is_empty(&self) -> bool {
        self.pieces.iter().all(Vec::is_empty)
    }
}

/// Checks a finished run's history (the end-state figures need
/// [`durability::check_end_state`] too).
pub fn check(history: &[OpRecord], versioning: Versioning) -> ConsistencyReport {
    let (lineage, by_key) = Lineage::with_history_by_key(history);
    check_with(&by_key, &lineage, versioning)
}

/// [`check`] with the history sorted by key ([`history::sorted_by_key`])
/// and the lineage already built (the end-of-run checks need both too).
/// Every figure is a sum over keys, taken in pieces of whole keys on every
/// core ([`pieces`]).
pub fn check_with(by_key: &[&OpRecord], lineage: &Lineage, versioning: Versioning) -> ConsistencyReport {
    check_in_pieces(by_key, lineage, versioning, pieces::PIECE_OPS)
}

/// [`check_with`] in pieces of at least `piece_ops` operations.
pub(crate) fn check_in_pieces(
    by_key: &[&OpRecord],
    lineage: &Lineage,
    versioning: Versioning,
    piece_ops: usize,
) -> ConsistencyReport {
    let pieces = pieces::key_pieces(by_key, piece_ops);
    // At most a verdict a read, reserved at once and here (see
    // `pieces::map_pieces`): grown by doubling, the lists left their old
    // buffers behind (the allocator keeps freed pages, see `allocator`),
    // ~300 MB at 10 M requests. A piece's reads are not counted (a pass
    // missing the cache on every record): each gets its share of the
    // history's, with 1 % and 64 to spare; a piece with more grows.
    let reads = by_key.len().saturating_sub(lineage.write_records());
    let share = |ops: usize| (ops as u128 * reads as u128 * 101 / (100 * by_key.len().max(1) as u128)) as usize + 64;
    let verdicts = pieces.iter().map(|ops| Vec::with_capacity(share(ops.len()).min(ops.len())));
    let found = pieces::map_pieces(pieces.iter().copied().zip(verdicts).collect(), |(ops, verdicts)| {
        check_keys(ops, lineage, versioning, verdicts)
    });
    let mut report = ConsistencyReport::default();
    // Counted by number, named once at the end: a string per read was an allocation per read.
    let mut siblings_per_read: BTreeMap<usize, u64> = BTreeMap::new();
    for piece in found {
        report.acknowledged_writes += piece.acknowledged_writes;
        report.indeterminate_writes += piece.indeterminate_writes;
        report.causal_sibling_violations += piece.causal_sibling_violations;
        report.false_conflicts += piece.false_conflicts;
        for (count, reads) in piece.siblings_per_read {
            *siblings_per_read.entry(count).or_default() += reads;
        }
        report.stale_read_ops.extend(piece.stale_read_ops);
        report.read_verdicts.pieces.push(piece.read_verdicts);
    }
    report.siblings_per_read = siblings_per_read.into_iter().map(|(count, reads)| (count.to_string(), reads)).collect();
    report.reads_of_written_keys = report.read_verdicts.len() as u64;
    report.stale_reads = report.read_verdicts.iter().filter(|v| v.is_stale()).count() as u64;
    report.duplicate_coordinations = lineage.duplicate_coordinations();
    report
}

/// What [`check_with`] finds in one piece of whole keys.
#[derive(Default)]
struct KeyFigures {
    acknowledged_writes: u64,
    indeterminate_writes: u64,
    causal_sibling_violations: u64,
    false_conflicts: u64,
    /// Successful reads by number of versions returned.
    siblings_per_read: BTreeMap<usize, u64>,
    /// The piece's verdicts, in key order.
    read_verdicts: Vec<ReadVerdict>,
    /// The piece's stale reads → their key.
    stale_read_ops: BTreeMap<ReadId, u64>,
}

/// [`check_with`]'s walk over `by_key`, one piece of whole keys.
/// `verdicts` is where the piece's verdicts go, empty, with room for them.
fn check_keys(
    by_key: &[&OpRecord],
    lineage: &Lineage,
    versioning: Versioning,
    verdicts: Vec<ReadVerdict>,
) -> KeyFigures {
    let lww = versioning == Versioning::LastWriteWins;
    let mut figures = KeyFigures { read_verdicts: verdicts, ..KeyFigures::default() };
    let mut judge = ReadJudge::default();
    let mut siblings = SiblingPairs::new(lineage, versioning);
    for ops in history::key_runs(by_key) {
        if !lww {
            siblings.enter_key(ops);
        }
        for op in ops {
            match (op.kind, op.outcome) {
                (OpKind::Read, Outcome::Ok) => {
                    *figures.siblings_per_read.entry(op.returned().len()).or_default() += 1;
                    if !lww {
                        let pairs = siblings.count(op.returned());
                        figures.causal_sibling_violations += pairs.non_concurrent;
                        figures.false_conflicts += pairs.ordered;
                    }
                }
                (OpKind::Write, Outcome::Ok) => {
                    figures.acknowledged_writes += 1;
                    if !lww {
                        figures.causal_sibling_violations += unsuperseded_context(op, lineage, versioning);
                    }
                }
                (OpKind::Write, Outcome::TimedOut | Outcome::InFlight) => figures.indeterminate_writes += 1,
                _ => {}
            }
        }
        let key = ops[0].key;
        let judged = figures.read_verdicts.len();
        judge.reads_of_key(ops, versioning, &mut figures.read_verdicts);
        let stale = figures.read_verdicts[judged..].iter().filter(|v| v.is_stale()).map(|v| (v.read(), key));
        figures.stale_read_ops.extend(stale);
    }
    figures
}

/// True when `newer` is a version of `older`'s write or supersedes `older`.
fn covers(newer: &Version, older: &Version, versioning: Versioning) -> bool {
    newer.write == older.write || versioning.covers(newer, older)
}

/// Versions in an acknowledged write's context that its own version does
/// not supersede.
fn unsuperseded_context(op: &OpRecord, lineage: &Lineage, versioning: Versioning) -> u64 {
    let Some(acked) = op.acked() else { return 0 };
    let seen = op.context().iter().filter_map(|&id| lineage.version(op.key, id));
    seen.filter(|seen| !versioning.covers(acked, seen)).count() as u64
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
    /// The writes of the read at hand's versions, sorted, when it returned
    /// more than [`SORTED_RETURNS_FROM`].
    returned_writes: Vec<WriteId>,
}

/// A read of more versions than this has their writes sorted to be looked
/// up ([`ReadJudge::reads_of_key`]): a hot key's reads under truncated
/// clocks return a thousand siblings, and a frontier as large was
/// compared with them pairwise.
const SORTED_RETURNS_FROM: usize = 8;

impl<'a> ReadJudge<'a> {
    /// Appends to `verdicts` a verdict for each read of one key's
    /// operations that could be stale.
    ///
    /// Sweeps reads in invoke order, keeping the frontier of writes
    /// acknowledged so far that no other acknowledged write supersedes: a
    /// read that covers every frontier write covers all earlier ones too.
    fn reads_of_key(&mut self, ops: &[&'a OpRecord], versioning: Versioning, verdicts: &mut Vec<ReadVerdict>) {
        let ReadJudge { acknowledged, reads, frontier, returned_writes } = self;
        acknowledged.clear();
        acknowledged.extend(
            ops.iter().filter(|op| op.is_acknowledged_write()).filter_map(|op| Some((op.complete()?, op.acked()?))),
        );
        acknowledged.sort_by_key(|(complete, version)| (*complete, version.write));
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
            // A frontier write is nearly always returned itself: with many
            // siblings, its write is looked up among the returned ones first.
            returned_writes.clear();
            if read.returned().len() > SORTED_RETURNS_FROM {
                returned_writes.extend(read.returned().iter().map(|r| r.write));
                returned_writes.sort_unstable();
            }
            let reflects = |w: &Version| {
                returned_writes.binary_search(&w.write).is_ok() || read.returned().iter().any(|r| covers(r, w))
            };
            let stale = !frontier.iter().all(|w| reflects(w));
            // Counted for stale reads only: a read that covers the frontier covers every earlier write.
            let behind =
                if stale { acknowledged[..next_write].iter().filter(|(_, w)| !reflects(w)).count() } else { 0 };
            let versions_behind = u32::try_from(behind).expect("fewer than 2^32 writes of one key");
            debug_assert_eq!(stale, versions_behind > 0, "a stale read misses a frontier write");
            let since_write_us = read.invoke.since(acknowledged[next_write - 1].0);
            let (client, sequence) = (read.client, read.sequence);
            verdicts.push(ReadVerdict { client, versions_behind, sequence, since_write_us });
        }
    }
}

#[cfg(test)]
mod successors_tests;
#[cfg(test)]
mod tests;
