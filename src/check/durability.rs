//! End-of-run checks: lost writes, last-write-wins lost updates, and
//! resurfaced cart deletes (DESIGN.md's definitions).

use super::history::{self, CartOp, OpKind, OpRecord, Outcome};
use super::lineage::{Lineage, SawCache};
use super::successors::{self, KeyIndex, Seen};
use super::{pieces, ConsistencyReport};
use crate::node::versioning::Versioning;
use crate::protocol::{Version, WriteId};
use crate::types::Time;
use std::collections::BTreeMap;

/// What a run leaves for the end-of-run checks, by key: the versions
/// held in the main stores of each written key's final preference list
/// once the run has healed and quiesced (`final_versions`); every version
/// any node holds, in or out of the preference list, hints included
/// (`held_anywhere`, asked only about lost writes); versions nodes lost to
/// a crash (unflushed buffer) or a disk loss (`wiped`); versions a sibling
/// cap dropped (`capped`).
pub struct EndState<'a> {
    /// Main-store versions of the final preference list, by key.
    pub final_versions: &'a BTreeMap<u64, Vec<Version>>,
    /// Every version held anywhere for a key.
    pub held_anywhere: &'a (dyn Fn(u64) -> Vec<Version> + Sync),
    /// Versions lost with a disk or a buffer, by key.
    pub wiped: &'a BTreeMap<u64, Vec<Version>>,
    /// Versions a sibling cap dropped, by key.
    pub capped: &'a BTreeMap<u64, Vec<Version>>,
    /// Some node truncated a clock during the run.
    pub clocks_truncated: bool,
}

/// Fills the end-of-run figures of `report`: lost writes (each explained
/// or not), lost updates and resurfaced deletes. `lineage` must already
/// know the end state's versions.
///
/// A write is present when some held version is one of its versions, or
/// supersedes one and was written by someone who saw it. A lost write is
/// explained when every copy went down with a disk or buffer, when a
/// sibling cap dropped it, or when a version whose writer never saw it
/// superseded it (a lost update; last-write-wins' overwrite) — and never
/// when some node still holds it (misplaced, not lost: a bug).
pub fn check_end_state(
    report: &mut ConsistencyReport,
    history: &[OpRecord],
    lineage: &Lineage,
    end: &EndState,
    versioning: Versioning,
) {
    check_end_state_in_pieces(report, history, lineage, end, versioning, pieces::PIECE_OPS);
}

/// [`check_end_state`], its walk over the acknowledged writes in pieces of
/// whole keys of at least `piece_ops` writes, on every core ([`pieces`]).
pub(crate) fn check_end_state_in_pieces(
    report: &mut ConsistencyReport,
    history: &[OpRecord],
    lineage: &Lineage,
    end: &EndState,
    versioning: Versioning,
    piece_ops: usize,
) {
    let acknowledged = history::sorted_by_key(history.iter().filter(|op| op.is_acknowledged_write()));
    let in_order = lineage.contexts_precede_writers();
    let pieces = pieces::key_pieces(&acknowledged, piece_ops);
    for piece in pieces::map_pieces(pieces, |writes| lost_writes(writes, lineage, end, versioning, in_order)) {
        report.lost_writes += piece.lost;
        report.lost_writes_unexplained += piece.unexplained;
        report.lost_writes_overwritten += piece.overwritten;
        report.lost_writes_disk_or_buffer += piece.disk_or_buffer;
        report.lost_writes_sibling_cap += piece.sibling_cap;
        report.lost_update_writes.extend(piece.lost_update_writes);
    }
    report.lost_update_writes.sort_unstable();
    report.lost_update_writes.dedup();
    report.lost_updates = if versioning == Versioning::LastWriteWins {
        report.lww_lost_updates = lww_lost_updates(history, lineage);
        report.lww_lost_updates
    } else {
        report.lost_update_writes.len() as u64
    };
    let carts = history.iter().any(|op| op.cart().is_some());
    report.resurfaced_deletes = if carts { resurfaced_deletes(history) } else { 0 };
}

/// What [`check_end_state`] finds among one piece's acknowledged writes.
#[derive(Default)]
struct LostWrites {
    /// Lost writes, explained or not.
    lost: u64,
    unexplained: u64,
    overwritten: u64,
    disk_or_buffer: u64,
    sibling_cap: u64,
    /// The lost updates among them.
    lost_update_writes: Vec<WriteId>,
}

/// Judges `acknowledged` (whole keys' acknowledged writes, sorted by key)
/// against the end state; `in_order` is the lineage's
/// [`Lineage::contexts_precede_writers`].
fn lost_writes(
    acknowledged: &[&OpRecord],
    lineage: &Lineage,
    end: &EndState,
    versioning: Versioning,
    in_order: bool,
) -> LostWrites {
    let mut found = LostWrites::default();
    let mut saw = SawCache::new(lineage, in_order);
    for writes in history::key_runs(acknowledged) {
        let key = writes[0].key;
        saw.forget(); // one key's: its sights end with the key, the room for them stays
        let (held, wiped, capped) = (of_key(end.final_versions, key), of_key(end.wiped, key), of_key(end.capped, key));
        let held = Held::new(lineage, held);
        // Asked on the key's first lost write, once.
        let mut lost_end: Option<(Vec<Version>, bool, KeyIndex)> = None;
        for op in writes {
            let Some(write) = op.write() else { continue };
            let direct =
                Sight { lineage, saw: &saw, write, successors: &[], versioning, truncated: end.clocks_truncated };
            if direct.present(held) {
                continue; // the common case, without looking for successors
            }
            let (anywhere, anywhere_blind, index) = lost_end.get_or_insert_with(|| {
                let anywhere = (end.held_anywhere)(key);
                let index = KeyIndex::new(lineage, key, &[held.versions, &anywhere, wiped, capped], versioning);
                let blind = Held::new(lineage, &anywhere).blind;
                (anywhere, blind, index)
            });
            let anywhere = Held { versions: anywhere, blind: *anywhere_blind };
            let walked;
            let (sight, seen) = if index.are_direct(lineage, key, write, versioning) {
                // Then a successor, or a version superseding one, supersedes the write directly.
                (direct, successors::direct_sight(lineage, key, write, versioning))
            } else {
                walked = successors::walk(lineage, index, key, write, versioning);
                let sight = Sight { successors: &walked, ..direct };
                if sight.present(held) {
                    continue;
                }
                (sight, successors::sight_of(lineage, write, walked.iter().copied()))
            };
            found.lost += 1;
            if sight.present(anywhere) {
                found.unexplained += 1; // still held somewhere: misplaced
            } else if let Some(overwrite) = overwrite(seen, versioning) {
                // First: without any failure it would be gone all the same.
                found.overwritten += 1;
                if overwrite == Overwrite::LostUpdate {
                    found.lost_update_writes.push(write);
                }
            } else if sight.present(Held::new(lineage, wiped)) {
                found.disk_or_buffer += 1;
            } else if sight.present(Held::new(lineage, capped)) {
                found.sibling_cap += 1;
            } else {
                found.unexplained += 1;
            }
        }
    }
    found
}

/// The versions `versions` lists for `key` (none when it lists no such key).
fn of_key(versions: &BTreeMap<u64, Vec<Version>>, key: u64) -> &[Version] {
    versions.get(&key).map_or(&[][..], Vec::as_slice)
}

/// Versions the checker asks about, with whether every one of them is a
/// blind write's.
///
/// A blind writer saw nothing ([`Lineage::saw_nothing`]), so its version
/// carries only its own write: when all of a key's held versions are blind
/// (every key of a blind-write workload), whether they carry a write is
/// whether one of them is that write's, which [`Sight::present`] then
/// answers without asking, for each version, what its writer saw (looked
/// up once a version here, not once a version for every write of the key:
/// that was a quarter of the end-of-run check on blind writes).
#[derive(Clone, Copy)]
struct Held<'v> {
    versions: &'v [Version],
    /// Every version's writer saw nothing.
    blind: bool,
}

impl<'v> Held<'v> {
    fn new(lineage: &Lineage, versions: &'v [Version]) -> Self {
        Held { versions, blind: versions.iter().all(|v| lineage.saw_nothing(v.write)) }
    }
}

/// How the checker judges whether versions carry one write.
#[derive(Clone, Copy)]
struct Sight<'a, 'l> {
    lineage: &'a Lineage<'l>,
    /// Who saw what, walked once per writer of the key.
    saw: &'a SawCache<'a, 'l>,
    write: WriteId,
    /// Known versions superseding the write through others, when they
    /// must be listed (see [`successors`]).
    successors: &'a [&'a Version],
    versioning: Versioning,
    /// Some clock was truncated during the run.
    truncated: bool,
}

impl Sight<'_, '_> {
    /// True when `versions` holds a version of the write, or one that
    /// supersedes it (directly or through one of its successors) and whose
    /// writer saw it.
    ///
    /// Once a clock was truncated a version may no longer supersede, by its
    /// clock, a write its writer did see (truncation forgets causality): the
    /// write's content lives on in it all the same, so it counts as present.
    fn present(&self, held: Held) -> bool {
        let Sight { lineage, write, versioning, .. } = *self;
        let versions = held.versions;
        // Whether the writer saw the write is asked first: it is cached per
        // writer, and false for every blind write, which then skips the
        // clock comparisons (the bulk of the checker's time on blind workloads).
        versions.iter().any(|v| v.write == write)
            || !held.blind
                && versions.iter().any(|v| {
                    v.write != write
                        && self.saw.saw(v.write, write)
                        && (self.truncated || superseded_by(lineage, write, v, versioning) || self.through_successor(v))
                })
    }

    /// True when `version` is a successor of the write or supersedes one.
    fn through_successor(&self, version: &Version) -> bool {
        self.successors.iter().any(|s| s.id() == version.id() || self.versioning.supersedes(version, s))
    }
}

/// True when `newer` supersedes some known version of `write`.
fn superseded_by(lineage: &Lineage, write: WriteId, newer: &Version, versioning: Versioning) -> bool {
    newer.write != write && lineage.versions_of(write).any(|old| versioning.supersedes(newer, old))
}

/// How a lost write was overwritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overwrite {
    /// Only by versions whose writers never saw it: a lost update.
    LostUpdate,
    /// By one that never saw it, after one that did (the loss is that
    /// later write's; or last-write-wins discarded it).
    Other,
}

/// Whether some successor of a write was written by someone who never saw
/// it, and if so whether that makes it a lost update (no successor's writer
/// saw it; not under last-write-wins, where lost updates are
/// `lww_lost_updates`).
fn overwrite(seen: Seen, versioning: Versioning) -> Option<Overwrite> {
    let lost_update = !seen.seen && versioning != Versioning::LastWriteWins;
    seen.unseen.then_some(if lost_update { Overwrite::LostUpdate } else { Overwrite::Other })
}

/// Acknowledged writes w such that a write of the same key invoked before w
/// carries a greater (timestamp, writer): last-write-wins discards w.
fn lww_lost_updates(history: &[OpRecord], lineage: &Lineage) -> u64 {
    // The acknowledged version's stamp, else that of any version a read or store showed.
    let stamp = |op: &OpRecord| {
        op.acked().map(|v| v.stamp()).or_else(|| lineage.versions_of(op.write()?).map(|v| v.stamp()).max())
    };
    let writes_by_key = history::sorted_by_key(history.iter().filter(|op| op.kind == OpKind::Write));
    let mut lost = 0;
    for writes in history::key_runs(&writes_by_key) {
        // `writes` is in invoke order (the history is sorted by invoke time).
        let mut highest_before: Option<crate::protocol::Stamp> = None;
        let mut index = 0;
        while index < writes.len() {
            let invoke = writes[index].invoke;
            let same_time_end =
                writes[index..].iter().position(|op| op.invoke != invoke).map_or(writes.len(), |p| index + p);
            for op in &writes[index..same_time_end] {
                let stamp = stamp(op);
                if op.outcome == Outcome::Ok && stamp.zip(highest_before).is_some_and(|(mine, earlier)| earlier > mine)
                {
                    lost += 1;
                }
            }
            for op in &writes[index..same_time_end] {
                if let Some(stamp) = stamp(op) {
                    highest_before = highest_before.max(Some(stamp));
                }
            }
            index = same_time_end;
        }
    }
    lost
}

/// Acknowledged cart removes whose item a read invoked after the remove
/// completed returns again, with no add of that item invoked after the
/// remove was invoked (and before that read completed).
///
/// An add excuses a read exactly when the first add of the item invoked
/// after the remove was invoked before the read completed; so a remove
/// resurfaces when, among the reads returning its item invoked after it
/// completed, the earliest to complete did so no later than that first
/// add. With each item's adds and reads sorted (reads by invoke, with the
/// minimum completion of every suffix), a key costs O(ops · log ops) —
/// the walk over every read and add for every remove it replaced was
/// cubic per key, 82 % of `cart-merge-n3r2w2`'s instructions.
pub(super) fn resurfaced_deletes(history: &[OpRecord]) -> u64 {
    let mut resurfaced = 0;
    for ops in history::key_runs(&history::sorted_by_key(history)) {
        let removes: Vec<(u32, Time, Time)> = ops
            .iter()
            .filter(|op| op.is_acknowledged_write())
            .filter_map(|op| match op.cart() {
                Some(CartOp::Remove(item)) => Some((item, op.invoke, op.complete()?)),
                _ => None,
            })
            .collect();
        if removes.is_empty() {
            continue;
        }
        let mut removed: Vec<u32> = removes.iter().map(|&(item, _, _)| item).collect();
        removed.sort_unstable();
        removed.dedup();
        let is_removed = |item: &u32| removed.binary_search(item).is_ok();
        // (item, invoke) of every add of a removed item, sorted.
        let mut adds: Vec<(u32, Time)> = ops
            .iter()
            .filter_map(|op| match op.cart() {
                Some(CartOp::Add(item)) if is_removed(&item) => Some((item, op.invoke)),
                _ => None,
            })
            .collect();
        adds.sort_unstable();
        // (item, invoke, completion) of every successful read returning a removed item, sorted.
        let mut reads: Vec<(u32, Time, Time)> = Vec::new();
        for op in ops.iter().filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok) {
            let until = op.complete().unwrap_or(op.invoke);
            let returned_items = op.returned().iter().filter_map(|v| v.items.as_deref()).flatten();
            reads.extend(returned_items.filter(|item| is_removed(item)).map(|&item| (item, op.invoke, until)));
        }
        reads.sort_unstable();
        reads.dedup(); // an item in several siblings of one read
                       // earliest_completion[i]: the least completion among reads[i..] of reads[i]'s item.
        let mut earliest_completion: Vec<Time> = reads.iter().map(|&(_, _, until)| until).collect();
        for i in (0..reads.len().saturating_sub(1)).rev() {
            if reads[i].0 == reads[i + 1].0 {
                earliest_completion[i] = earliest_completion[i].min(earliest_completion[i + 1]);
            }
        }
        for (item, removed_invoke, removed_at) in removes {
            let first_add_after = adds.get(adds.partition_point(|&add| add <= (item, removed_invoke)));
            let first_add_after = first_add_after.filter(|&&(add_item, _)| add_item == item).map(|&(_, invoke)| invoke);
            let first_read_after =
                reads.partition_point(|&(read_item, invoke, _)| (read_item, invoke) <= (item, removed_at));
            let resurfaces = reads.get(first_read_after).is_some_and(|&(read_item, _, _)| read_item == item)
                && first_add_after.is_none_or(|add| earliest_completion[first_read_after] <= add);
            resurfaced += u64::from(resurfaces);
        }
    }
    resurfaced
}
