//! A second consistency check that never trusts a clock.
//!
//! The lineage checker (`check::check_with`) decides what supersedes what
//! from the versions' clocks; a bug that corrupts clocks (a truncation that
//! drops the newest entry, a read repair that mints a merged version) can
//! fool it. This check reads only what the clients recorded — invoke and
//! complete times, the write each returned version names and the versions
//! each write's context named — so the two fail independently, and a
//! disagreement between them is itself a finding.
//!
//! Its rules:
//! - **phantom version**: a read returned a version of a write no client
//!   issued on that key (acknowledged, indeterminate or failed: a failed
//!   write may still have reached a replica, so only an unknown write is a
//!   phantom);
//! - **causality violation**: a read returned, or a write's context named,
//!   a write that had not been invoked yet when the read completed or the
//!   write was invoked — nothing can depend on a write from its future;
//! - **stale read**: a read that returns, for some write acknowledged before
//!   the read was invoked, neither that write nor a successor of it — a
//!   write whose writer saw it (through contexts) or that was invoked after
//!   it completed. Only strict mode (DESIGN.md) forbids these.

use super::history::{self, OpKind, OpRecord, Outcome};
use super::lineage::{search_back, search_back_all, Lineage, Walk};
use super::{pieces, ConsistencyReport};
use crate::engine::id_map::IdMap;
use crate::node::versioning::Versioning;
use crate::protocol::{Version, WriteId};
use crate::types::{ClientId, Time};
use std::collections::{BTreeMap, BTreeSet};

/// One read the real-time check found stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleRead {
    /// The reading client.
    pub client: ClientId,
    /// Its request number.
    pub sequence: u64,
    /// The key read.
    pub key: u64,
    /// Acknowledged writes completed before the read that it returned
    /// neither themselves nor a successor of.
    pub missing: Vec<WriteId>,
}

/// What the real-time check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealtimeReport {
    /// Returned versions whose write no client issued on that key.
    pub phantom_versions: u64,
    /// Reads or write contexts naming a write from their future.
    pub causality_violations: u64,
    /// Reads that missed a write acknowledged before they were invoked.
    pub stale: Vec<StaleRead>,
}

/// Checks `history` by its real-time order and contexts alone.
pub fn check(history: &[OpRecord]) -> RealtimeReport {
    let (lineage, by_key) = Lineage::with_history_by_key(history);
    check_with(&by_key, &lineage)
}

/// [`check`] with the history sorted by key ([`history::sorted_by_key`])
/// and the lineage the clock-based checker built from the same history:
/// only its write records and context links are read (what the clients
/// recorded, never a clock), and a run of millions of operations sorts and
/// indexes them once instead of twice.
///
/// Every rule looks at one key's operations at a time, in a walk of the
/// history sorted by key: the writes a key's reads return and its writes'
/// contexts name are that key's own, found in its run rather than in the
/// whole history (at 10 M operations a look-up there was a cache miss:
/// some 40 % of this check's time).
///
/// The walk goes in pieces of whole keys on every core ([`pieces`]).
pub fn check_with(by_key: &[&OpRecord], lineage: &Lineage) -> RealtimeReport {
    check_in_pieces(by_key, lineage, pieces::PIECE_OPS)
}

/// [`check_with`] in pieces of at least `piece_ops` operations.
pub(crate) fn check_in_pieces(by_key: &[&OpRecord], lineage: &Lineage, piece_ops: usize) -> RealtimeReport {
    let found = pieces::map_pieces(pieces::key_pieces(by_key, piece_ops), |ops| check_keys(ops, lineage));
    let mut report = RealtimeReport::default();
    for piece in found {
        report.phantom_versions += piece.phantom_versions;
        report.causality_violations += piece.causality_violations;
        report.stale.extend(piece.stale);
    }
    report
}

/// [`check_with`]'s walk over one piece of whole keys.
fn check_keys(by_key: &[&OpRecord], lineage: &Lineage) -> RealtimeReport {
    let mut report = RealtimeReport::default();
    let mut successors = Successors::new(lineage);
    let mut scratch = StaleScratch::default();
    for ops in history::key_runs(by_key) {
        successors.enter_key(ops);
        count_from_the_future(ops, &successors.writes, &mut report);
        stale_reads(ops, &mut successors, &mut scratch, &mut report.stale);
    }
    report
}

/// Counts the versions `ops` (one key's operations) returned that no
/// client wrote on the key, and the writes they returned or named in a
/// context that were invoked after the read completed or the write was
/// invoked.
fn count_from_the_future(ops: &[&OpRecord], writes: &KeyWrites, report: &mut RealtimeReport) {
    for op in ops {
        match op.kind {
            OpKind::Read if op.outcome == Outcome::Ok => {
                let complete = op.complete().unwrap_or(Time(u64::MAX));
                for version in op.returned() {
                    match writes.record(version.write) {
                        Some(write) if write.key == op.key => {
                            report.causality_violations += u64::from(write.invoke > complete);
                        }
                        _ => report.phantom_versions += 1,
                    }
                }
            }
            OpKind::Write => {
                let future =
                    op.context().iter().filter_map(|id| writes.record(id.write)).filter(|w| w.invoke > op.invoke);
                report.causality_violations += future.count() as u64;
            }
            OpKind::Read => {}
        }
    }
}

/// The records of one key's writes, by write id, in front of the
/// lineage's index of every write: a write a key's operations name is
/// nearly always one of the key's own.
struct KeyWrites<'a, 'h> {
    lineage: &'a Lineage<'h>,
    /// (write, its record) for the current key's writes, sorted by write.
    /// Left empty when the history names some write twice: the record
    /// [`Lineage::record`] returns (the last) may then be another key's.
    by_id: Vec<(WriteId, &'h OpRecord)>,
}

impl<'a, 'h> KeyWrites<'a, 'h> {
    fn new(lineage: &'a Lineage<'h>) -> Self {
        KeyWrites { lineage, by_id: Vec::new() }
    }

    /// Makes `ops`, one key's operations, the key whose writes are at hand.
    fn index(&mut self, ops: &[&'h OpRecord]) {
        self.by_id.clear();
        if self.lineage.writes_named_once() {
            self.by_id.extend(ops.iter().filter_map(|&op| Some((op.write()?, op))));
            self.by_id.sort_unstable_by_key(|&(write, _)| write);
        }
    }

    /// The record of `write`: [`Lineage::record`]'s, found in the key's
    /// own writes when it is one of them.
    fn record(&self, write: WriteId) -> Option<&'h OpRecord> {
        match self.by_id.binary_search_by_key(&write, |&(write, _)| write) {
            Ok(at) => Some(self.by_id[at].1),
            Err(_) => self.lineage.record(write),
        }
    }

    /// When `write` was invoked (None for a write the history does not name).
    fn invoked(&self, write: WriteId) -> Option<Time> {
        self.record(write).map(|op| op.invoke)
    }

    /// [`Lineage::saw`] over the key's own records first: true when the
    /// writer of `later` saw `write` through contexts, searched back from
    /// `later` through writes invoked no earlier than `write`.
    fn saw(&self, later: WriteId, write: WriteId, walk: &mut Walk) -> bool {
        let Some(not_before) = self.invoked(write) else { return false };
        search_back(later, write, not_before, |w| self.record(w), |id| id.write == write, walk)
    }
}

/// Which writes succeed which: by real time, or by having seen them
/// through contexts.
///
/// Whether a later write's writer saw a write is searched back from the
/// later one, through the writes invoked since the write
/// ([`KeyWrites::saw`]). That is exact when every context names only
/// writes invoked before its writer and no write id is named twice (as in
/// every run); the later write was invoked before the write completed,
/// so the search spans one operation's time. Otherwise every write that
/// saw the write is found forward ([`Lineage::seen_by`]) and cached per
/// write — on a key written 10,000 times, a set of up to 10,000 writes
/// for each of its writes: 10 M requests over 1,000 keys spent over
/// two minutes there.
struct Successors<'a, 'h> {
    writes: KeyWrites<'a, 'h>,
    /// The search back is exact on this history.
    search_back: bool,
    /// Its scratch.
    walk: Walk,
    /// Looked up only: the successors by context of the current key's
    /// writes asked about so far (when the search back is not exact).
    cache: IdMap<WriteId, BTreeSet<WriteId>>,
    /// Scratch of [`Successors::missed`]: the writes not found yet, sorted.
    sought: Vec<WriteId>,
    /// Scratch of [`Successors::missed`]: the returned versions' writes.
    returned_writes: Vec<WriteId>,
}

impl<'a, 'h> Successors<'a, 'h> {
    fn new(lineage: &'a Lineage<'h>) -> Self {
        let search_back = lineage.contexts_precede_writers() && lineage.writes_named_once();
        Successors {
            writes: KeyWrites::new(lineage),
            search_back,
            walk: Walk::default(),
            cache: IdMap::default(),
            sought: Vec::new(),
            returned_writes: Vec::new(),
        }
    }

    /// Makes `ops`, one key's operations, the key at hand: its writes are
    /// indexed, and what was cached for the last key's is dropped (a
    /// write's successors are asked about on its own key only; kept, they
    /// were memory for every write of the run).
    fn enter_key(&mut self, ops: &[&'h OpRecord]) {
        self.writes.index(ops);
        self.cache.clear();
    }

    /// True when `later` is `write`, saw it, or was invoked after it completed.
    fn succeeds(&mut self, later: WriteId, write: WriteId, completed: Time) -> bool {
        if later == write || self.writes.invoked(later).is_some_and(|invoked| invoked > completed) {
            return true;
        }
        if self.search_back {
            return self.writes.saw(later, write, &mut self.walk);
        }
        let lineage = self.writes.lineage;
        self.cache.entry(write).or_insert_with(|| lineage.seen_by(write)).contains(&later)
    }

    /// Appends to `missing` the writes of `window` (acknowledged writes
    /// of the key at hand, with their completion times, each completed
    /// after every write of `returned` was invoked) that no version of
    /// `returned` succeeds, in `window`'s order.
    ///
    /// Where the search back is exact, every write of the window is
    /// searched for from every returned version at once
    /// ([`search_back_all`]); none of them was invoked after a window
    /// write completed, so only having seen it counts.
    fn missed(&mut self, returned: &[Version], window: &[(WriteId, Time)], missing: &mut Vec<WriteId>) {
        if window.is_empty() {
            return;
        }
        if self.search_back {
            let Successors { writes, walk, sought, returned_writes, .. } = self;
            sought.clear();
            sought.extend(window.iter().map(|&(write, _)| write));
            sought.sort_unstable();
            sought.dedup();
            for version in returned {
                if let Ok(at) = sought.binary_search(&version.write) {
                    sought.remove(at);
                }
            }
            // The earliest invocation (None before any time: a write the
            // history does not name is asked about pair by pair).
            match sought.iter().map(|&write| writes.invoked(write)).min() {
                None => return, // every write was returned
                Some(Some(not_before)) => {
                    returned_writes.clear();
                    returned_writes.extend(returned.iter().map(|v| v.write));
                    search_back_all(returned_writes, sought, not_before, |write| writes.record(write), walk);
                    let unseen = window.iter().map(|&(write, _)| write);
                    missing.extend(unseen.filter(|write| sought.binary_search(write).is_ok()));
                    return;
                }
                Some(None) => {}
            }
        }
        let unseen = window.iter().filter(|&&(write, completed)| {
            !returned.iter().any(|version| self.succeeds(version.write, write, completed))
        });
        missing.extend(unseen.map(|&(write, _)| write));
    }

    /// The latest invoke time of the writes of `versions` the history
    /// names: each succeeds every write completed before it.
    fn latest_invoke(&self, versions: &[Version]) -> Option<Time> {
        versions.iter().filter_map(|v| self.writes.invoked(v.write)).max()
    }
}

/// Adds to `stale` the successful reads of `ops` (one key's operations)
/// that missed an acknowledged write completed before they were invoked.
///
/// A returned version whose write was invoked at `t` succeeds every write
/// completed before `t`, so only the writes completed between the latest
/// such invocation and the read's own can be missing: each read looks at
/// that window of the key's writes (sorted by completion) instead of at
/// every write before it.
fn stale_reads(ops: &[&OpRecord], successors: &mut Successors, scratch: &mut StaleScratch, stale: &mut Vec<StaleRead>) {
    let StaleScratch { acknowledged, by_completion, indices, window } = scratch;
    acknowledged.clear();
    acknowledged.extend(
        ops.iter().filter(|op| op.is_acknowledged_write()).filter_map(|op| Some((op.write()?, op.complete()?))),
    );
    // (completed, index in `acknowledged`), to find a window by binary search.
    by_completion.clear();
    by_completion.extend(acknowledged.iter().enumerate().map(|(index, &(_, completed))| (completed, index)));
    by_completion.sort_unstable();
    for read in ops.iter().filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok) {
        let succeeded_before = successors.latest_invoke(read.returned()).unwrap_or(Time::ZERO);
        let from = by_completion.partition_point(|&(completed, _)| completed < succeeded_before);
        let to = by_completion.partition_point(|&(completed, _)| completed < read.invoke);
        indices.clear();
        indices.extend(by_completion.get(from..to).unwrap_or(&[]).iter().map(|&(_, i)| i));
        indices.sort_unstable(); // the key's order, as reported
        window.clear();
        window.extend(indices.iter().map(|&index| acknowledged[index]));
        let mut missing = Vec::new();
        successors.missed(read.returned(), window, &mut missing);
        if !missing.is_empty() {
            stale.push(StaleRead { client: read.client, sequence: read.sequence, key: read.key, missing });
        }
    }
}

/// [`stale_reads`]' lists, kept from key to key so that a read's window
/// and a key's writes reuse one buffer each instead of allocating.
#[derive(Default)]
struct StaleScratch {
    /// The key's acknowledged writes and their completion times.
    acknowledged: Vec<(WriteId, Time)>,
    /// (completed, index in `acknowledged`), sorted.
    by_completion: Vec<(Time, usize)>,
    /// A read's window of `acknowledged` indices.
    indices: Vec<usize>,
    /// The window's writes and their completion times.
    window: Vec<(WriteId, Time)>,
}

/// How many disagreements [`record`] describes in full.
const DESCRIBED_DISAGREEMENTS: usize = 10;

/// Copies the real-time figures into `report` and, in strict mode — where
/// both checks must find no stale read — lists the reads they judge
/// differently. Under server-side vector clocks a read the real-time check
/// alone calls stale is expected, not a disagreement: concurrent writes
/// through one coordinator overwrite each other, and the overwriter's clock
/// claims the write its writer never saw (DESIGN.md's lost update).
pub fn record(report: &mut ConsistencyReport, realtime: &RealtimeReport, strict: bool, versioning: Versioning) {
    report.realtime_phantom_versions = realtime.phantom_versions;
    report.realtime_causality_violations = realtime.causality_violations;
    report.realtime_stale_reads = realtime.stale.len() as u64;
    if !strict {
        return;
    }
    let mut disagreements: BTreeMap<(ClientId, u64), String> = BTreeMap::new();
    for read in &realtime.stale {
        let overwritten = versioning == Versioning::VectorClocks;
        if !report.stale_read_ops.contains_key(&(read.client, read.sequence)) && !overwritten {
            let missing: Vec<String> = read.missing.iter().map(|w| w.0.to_string()).collect();
            let why = format!("stale by real time only (missed writes {})", missing.join(", "));
            disagreements.insert((read.client, read.sequence), describe(read.client, read.sequence, read.key, &why));
        }
    }
    let realtime_stale: BTreeSet<(ClientId, u64)> = realtime.stale.iter().map(|r| (r.client, r.sequence)).collect();
    for (&(client, sequence), &key) in &report.stale_read_ops {
        if !realtime_stale.contains(&(client, sequence)) {
            disagreements.insert((client, sequence), describe(client, sequence, key, "stale by clocks only"));
        }
    }
    report.disagreements = disagreements.len() as u64;
    report.disagreeing_reads = disagreements.into_values().take(DESCRIBED_DISAGREEMENTS).collect();
}

fn describe(client: ClientId, sequence: u64, key: u64, why: &str) -> String {
    format!("read {sequence} of client {} of key {key}: {why}", client.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::vclock::{Dot, VectorClock};
    use crate::protocol::Stamp;
    use crate::protocol::{Version, VersionId};
    use crate::types::NodeId;

    fn version(write: u64) -> Version {
        Version::of_write(write, Dot { actor: NodeId(0).into(), counter: write }, VectorClock::new(), Stamp::default())
    }

    fn op(kind: OpKind, sequence: u64, invoke: u64, complete: u64) -> OpRecord {
        let mut op = OpRecord::invoked(ClientId(0), sequence, kind, 1, Time(invoke));
        op.outcome = Outcome::Ok;
        op.set_complete(Time(complete));
        op
    }

    /// Write `id` on key 1, invoked and completed at the given times, made
    /// from a read that returned `context`. Its clock is empty: nothing
    /// here may read one.
    fn write(id: u64, invoke: u64, complete: u64, context: &[u64]) -> OpRecord {
        let context = context.iter().map(|&w| VersionId { write: WriteId(w), dot: version(w).dot }).collect();
        let mut write = op(OpKind::Write, id, invoke, complete);
        write.set_write(WriteId(id), false, false);
        write.set_acked(version(id));
        write.set_context(context);
        write
    }

    fn read(sequence: u64, invoke: u64, complete: u64, returned: &[u64]) -> OpRecord {
        let mut read = op(OpKind::Read, sequence, invoke, complete);
        read.set_returned(returned.iter().map(|&w| version(w)).collect());
        read
    }

    #[test]
    fn a_clean_history_has_no_findings() {
        let history =
            vec![write(1, 0, 10, &[]), read(100, 20, 30, &[1]), write(2, 40, 50, &[1]), read(101, 60, 70, &[2])];
        assert_eq!(check(&history), RealtimeReport::default());
    }

    #[test]
    fn a_returned_version_no_client_wrote_is_a_phantom() {
        let history = vec![write(1, 0, 10, &[]), read(100, 20, 30, &[1, 7])];
        assert_eq!(check(&history).phantom_versions, 1);
        let mut other_key = write(7, 0, 10, &[]);
        other_key.key = 2;
        let history = vec![write(1, 0, 10, &[]), other_key, read(100, 20, 30, &[1, 7])];
        assert_eq!(check(&history).phantom_versions, 1, "a write of another key is no source either");
        let mut indeterminate = write(7, 0, 10, &[]);
        indeterminate.outcome = Outcome::TimedOut;
        let history = vec![write(1, 0, 10, &[]), indeterminate, read(100, 20, 30, &[1, 7])];
        assert_eq!(check(&history).phantom_versions, 0, "an indeterminate write may be returned");
    }

    #[test]
    fn nothing_may_depend_on_a_write_from_its_future() {
        // A read completed at 30 returns write 2, invoked only at 40.
        let history = vec![write(1, 0, 10, &[]), read(100, 20, 30, &[1, 2]), write(2, 40, 50, &[])];
        assert_eq!(check(&history).causality_violations, 1);
        // Write 3 (invoked at 20) names write 2 (invoked at 40) in its context.
        let history = vec![write(2, 40, 50, &[]), write(3, 20, 60, &[2])];
        assert_eq!(check(&history).causality_violations, 1);
        // The same write invoked after its context's write is fine.
        let history = vec![write(2, 40, 50, &[]), write(3, 55, 60, &[2])];
        assert_eq!(check(&history).causality_violations, 0);
    }

    /// The instant itself is not the future: a read completed, or a write
    /// invoked, at the very instant the write it names was invoked is no
    /// violation; one microsecond later it is.
    #[test]
    fn a_write_invoked_at_the_instant_it_is_named_is_not_from_the_future() {
        let history = vec![write(1, 0, 10, &[]), read(100, 20, 40, &[1, 2]), write(2, 40, 50, &[])];
        assert_eq!(check(&history).causality_violations, 0, "read completed as 2 was invoked");
        let history = vec![write(1, 0, 10, &[]), read(100, 20, 40, &[1, 2]), write(2, 41, 50, &[])];
        assert_eq!(check(&history).causality_violations, 1);
        let history = vec![write(2, 40, 50, &[]), write(3, 40, 60, &[2])];
        assert_eq!(check(&history).causality_violations, 0, "3 invoked as 2 was");
        let history = vec![write(2, 41, 50, &[]), write(3, 40, 60, &[2])];
        assert_eq!(check(&history).causality_violations, 1);
    }

    /// Real-time order is strict: a blind write invoked at the very instant
    /// write 1 completed was concurrent with it, so returning it alone
    /// misses write 1.
    #[test]
    fn a_blind_write_invoked_as_another_completed_does_not_succeed_it() {
        let at_the_instant = vec![write(1, 0, 10, &[]), write(2, 10, 15, &[]), read(100, 20, 30, &[2])];
        let stale = check(&at_the_instant).stale;
        assert_eq!(stale, vec![StaleRead { client: ClientId(0), sequence: 100, key: 1, missing: vec![WriteId(1)] }]);
        let just_after = vec![write(1, 0, 10, &[]), write(2, 11, 15, &[]), read(100, 20, 30, &[2])];
        assert!(check(&just_after).stale.is_empty());
    }

    #[test]
    fn a_read_missing_a_completed_write_and_its_successors_is_stale() {
        // Write 1 completed at 10; the read invoked at 20 returns nothing.
        let history = vec![write(1, 0, 10, &[]), read(100, 20, 30, &[])];
        let stale = check(&history).stale;
        assert_eq!(stale, vec![StaleRead { client: ClientId(0), sequence: 100, key: 1, missing: vec![WriteId(1)] }]);
        // Returning write 0, which completed before write 1 was invoked, is stale too.
        let history = vec![write(0, 0, 5, &[]), write(1, 6, 10, &[]), read(100, 20, 30, &[0])];
        assert_eq!(check(&history).stale.len(), 1);
        // A write that saw write 1 (through a chain) succeeds it.
        let chain = vec![write(1, 0, 10, &[]), write(2, 2, 12, &[1]), write(3, 3, 14, &[2]), read(100, 20, 30, &[3])];
        assert!(check(&chain).stale.is_empty());
        // So does a write invoked after write 1 completed, even blind.
        let later = vec![write(1, 0, 10, &[]), write(2, 11, 15, &[]), read(100, 20, 30, &[2])];
        assert!(check(&later).stale.is_empty());
        // A concurrent blind write neither saw it nor came after it.
        let concurrent = vec![write(1, 0, 10, &[]), write(2, 5, 15, &[]), read(100, 20, 30, &[2])];
        assert_eq!(check(&concurrent).stale.len(), 1);
        // A write completed after the read was invoked is not required.
        let overlapping = vec![write(1, 0, 25, &[]), read(100, 20, 30, &[])];
        assert!(check(&overlapping).stale.is_empty());
    }

    #[test]
    fn strict_mode_reports_reads_the_two_checks_judge_differently() {
        let stale = |sequence: u64, missing: u64| StaleRead {
            client: ClientId(0),
            sequence,
            key: 1,
            missing: vec![WriteId(missing)],
        };
        let realtime = RealtimeReport { stale: vec![stale(100, 1), stale(101, 2)], ..RealtimeReport::default() };
        let mut clocks = ConsistencyReport::default();
        clocks.stale_read_ops.insert((ClientId(0), 101), 1); // both call read 101 stale
        clocks.stale_read_ops.insert((ClientId(0), 102), 1); // only the clocks call 102 stale
        let mut report = clocks.clone();
        record(&mut report, &realtime, true, Versioning::DottedVersionVectors);
        assert_eq!(report.realtime_stale_reads, 2);
        assert_eq!(report.disagreements, 2, "{:?}", report.disagreeing_reads);
        assert!(
            report.disagreeing_reads[0].contains("read 100") && report.disagreeing_reads[0].contains("real time only")
        );
        assert!(
            report.disagreeing_reads[1].contains("read 102") && report.disagreeing_reads[1].contains("clocks only")
        );
        let mut report = clocks.clone();
        record(&mut report, &realtime, true, Versioning::VectorClocks);
        assert_eq!(report.disagreements, 1, "vector clocks overwrite concurrent writes: only 102 disagrees");
        let mut report = clocks;
        record(&mut report, &realtime, false, Versioning::DottedVersionVectors);
        assert_eq!((report.realtime_stale_reads, report.disagreements), (2, 0), "outside strict mode, only counted");
    }

    /// The stale reads as they were found before the window: every
    /// acknowledged write completed before each read tried (the oracle).
    fn stale_reads_quadratic(history: &[OpRecord]) -> Vec<StaleRead> {
        let lineage = Lineage::from_history(history);
        // No key's writes at hand: every look-up goes to the lineage; what
        // saw what found forward, never searched back.
        let mut successors = Successors { search_back: false, ..Successors::new(&lineage) };
        let mut stale = Vec::new();
        for ops in history::key_runs(&history::sorted_by_key(history)) {
            let acknowledged: Vec<(WriteId, Time)> = ops
                .iter()
                .filter(|op| op.is_acknowledged_write())
                .filter_map(|op| Some((op.write()?, op.complete()?)))
                .collect();
            for read in ops.iter().filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok) {
                let missing: Vec<WriteId> = acknowledged
                    .iter()
                    .filter(|(_, completed)| *completed < read.invoke)
                    .filter(|&&(write, completed)| {
                        !read.returned().iter().any(|version| successors.succeeds(version.write, write, completed))
                    })
                    .map(|(write, _)| *write)
                    .collect();
                if !missing.is_empty() {
                    stale.push(StaleRead { client: read.client, sequence: read.sequence, key: read.key, missing });
                }
            }
        }
        stale
    }

    use proptest::prelude::*;

    /// The phantom versions and causality violations as they were counted
    /// before the walk by key: in history order, every write looked up in
    /// the lineage (the oracle).
    fn counts_in_history_order(history: &[OpRecord]) -> (u64, u64) {
        let lineage = Lineage::from_history(history);
        let (mut phantoms, mut violations) = (0, 0);
        for op in history {
            if op.kind == OpKind::Read && op.outcome == Outcome::Ok {
                let complete = op.complete().unwrap_or(Time(u64::MAX));
                for version in op.returned() {
                    match lineage.record(version.write) {
                        Some(write) if write.key == op.key => violations += u64::from(write.invoke > complete),
                        _ => phantoms += 1,
                    }
                }
            } else if op.kind == OpKind::Write {
                let named = op.context().iter().filter_map(|id| lineage.record(id.write));
                violations += named.filter(|w| w.invoke > op.invoke).count() as u64;
            }
        }
        (phantoms, violations)
    }

    /// Up to 12 operations on keys 1 and 2 with colliding times: writes
    /// 1..=12 acknowledged or not, with contexts naming any write (future
    /// ones and ones never written included), reads returning any write
    /// (phantoms included); with `repeat`, write ids 1..=5 over and over,
    /// so that a write id may be named twice, on either key.
    fn histories() -> impl Strategy<Value = Vec<OpRecord>> {
        let op = (any::<bool>(), 1..3u64, 0..40u64, 0..15u64, any::<bool>(), prop::collection::vec(1..15u64, 0..3));
        (prop::collection::vec(op, 0..12), any::<bool>()).prop_map(|(ops, repeat)| {
            ops.into_iter()
                .enumerate()
                .map(|(index, (is_write, key, invoke, latency, ok, named))| {
                    let id = if repeat { index as u64 % 5 + 1 } else { index as u64 + 1 };
                    let mut op = if is_write {
                        write(id, invoke, invoke + latency, &named)
                    } else {
                        read(id, invoke, invoke + latency, &named)
                    };
                    op.key = key;
                    if !ok {
                        op.outcome = Outcome::TimedOut;
                    }
                    op
                })
                .collect()
        })
    }

    /// Histories as runs make them: every context names only writes
    /// invoked before its writer, and no write id twice (then the check
    /// searches back from a later write, [`KeyWrites::saw`]). Operations
    /// come a few µs apart and last longer, contexts name and reads return
    /// recent operations (by how far back), so that a write completes
    /// after later writes saw it through chains of contexts.
    fn ordered_histories() -> impl Strategy<Value = Vec<OpRecord>> {
        let back = prop::collection::vec(1..5usize, 0..3);
        let op = (any::<bool>(), 1..3u64, 0..4u64, 0..40u64, any::<bool>(), back);
        prop::collection::vec(op, 0..24).prop_map(|ops| {
            let mut invoked: Vec<u64> = Vec::new();
            let mut now = 0;
            ops.into_iter()
                .enumerate()
                .map(|(index, (is_write, key, gap, latency, ok, back))| {
                    now += gap;
                    invoked.push(now);
                    let id = index as u64 + 1;
                    // Earlier operations by how far back; a write names only those invoked before it.
                    let named = back.iter().filter(|&&b| b <= index).map(|&b| index - b);
                    let mut op = if is_write {
                        let named: Vec<u64> = named.filter(|&i| invoked[i] < now).map(|i| i as u64 + 1).collect();
                        write(id, now, now + latency, &named)
                    } else {
                        read(id, now, now + latency, &named.map(|i| i as u64 + 1).collect::<Vec<_>>())
                    };
                    op.key = key;
                    if !ok {
                        op.outcome = Outcome::TimedOut;
                    }
                    op
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn the_windowed_stale_read_search_equals_the_quadratic_one(history in histories()) {
            prop_assert_eq!(check(&history).stale, stale_reads_quadratic(&history));
        }

        /// Where the check searches back from a later write, it finds the
        /// stale reads the quadratic oracle finds forward.
        #[test]
        fn searching_back_finds_what_seen_by_finds(history in ordered_histories()) {
            let lineage = Lineage::from_history(&history);
            prop_assert!(Successors::new(&lineage).search_back, "these histories are in order");
            prop_assert_eq!(check(&history).stale, stale_reads_quadratic(&history));
        }

        #[test]
        fn the_walk_by_key_counts_what_the_history_order_walk_counted(history in histories()) {
            let report = check(&history);
            prop_assert_eq!((report.phantom_versions, report.causality_violations), counts_in_history_order(&history));
        }
    }
}
