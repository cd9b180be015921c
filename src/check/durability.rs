//! End-of-run checks: lost writes, last-write-wins lost updates, and
//! resurfaced cart deletes (DESIGN.md's definitions).

use super::history::{CartOp, Observed, OpKind, OpRecord, Outcome};
use super::{supersedes_or_is, ConsistencyReport};
use crate::protocol::WriteId;
use std::collections::BTreeMap;

/// Fills the end-of-run figures of `report`.
///
/// `final_versions`: for each written key, the versions held in the main
/// stores of its final preference list once the run has healed and
/// quiesced. `held_anywhere(key)`: the versions any node holds at the end, in
/// or out of the preference list, hints included. `wiped`: versions some
/// node lost to a crash or a disk loss, by key. A lost write is explained
/// (invariant `no-lost-writes`) only when no node holds it any more and a
/// wiped version was it or superseded it: its copies went down with disks
/// or buffers. A lost write still held somewhere was misplaced, not lost
/// to a failure — a bug.
pub fn check_end_state(
    report: &mut ConsistencyReport,
    history: &[OpRecord],
    versions: &BTreeMap<WriteId, Observed>,
    final_versions: &BTreeMap<u64, Vec<Observed>>,
    held_anywhere: &dyn Fn(u64) -> Vec<Observed>,
    wiped: &BTreeMap<u64, Vec<Observed>>,
    lww: bool,
) {
    for op in history.iter().filter(|op| op.is_acknowledged_write()) {
        let Some(write) = op.write else { continue };
        let held = final_versions.get(&op.key).map_or(&[][..], Vec::as_slice);
        let present = held.iter().any(|v| supersedes_or_is(v, write, versions.get(&write), lww));
        if !present {
            report.lost_writes += 1;
            let covers = |vs: Option<&Vec<Observed>>| {
                vs.is_some_and(|vs| vs.iter().any(|v| supersedes_or_is(v, write, versions.get(&write), lww)))
            };
            if covers(Some(&held_anywhere(op.key))) || !covers(wiped.get(&op.key)) {
                report.lost_writes_unexplained += 1;
            }
        }
    }
    if lww {
        report.lww_lost_updates = lww_lost_updates(history, versions);
    }
    report.resurfaced_deletes = resurfaced_deletes(history);
}

/// Acknowledged writes w such that a write of the same key invoked before w
/// carries a greater (timestamp, writer): last-write-wins discards w.
fn lww_lost_updates(history: &[OpRecord], versions: &BTreeMap<WriteId, Observed>) -> u64 {
    let mut by_key: BTreeMap<u64, Vec<(crate::types::Time, &OpRecord)>> = BTreeMap::new();
    for op in history.iter().filter(|op| op.kind == OpKind::Write) {
        by_key.entry(op.key).or_default().push((op.invoke, op));
    }
    let mut lost = 0;
    for writes in by_key.values() {
        // `writes` is in invoke order (the history is sorted by invoke time).
        let mut highest_before: Option<crate::protocol::Stamp> = None;
        let mut index = 0;
        while index < writes.len() {
            let invoke = writes[index].0;
            let same_time_end =
                writes[index..].iter().position(|(t, _)| *t != invoke).map_or(writes.len(), |p| index + p);
            for (_, op) in &writes[index..same_time_end] {
                let stamp = op.write.and_then(|w| versions.get(&w)).map(|v| v.stamp);
                if op.outcome == Outcome::Ok && stamp.zip(highest_before).is_some_and(|(mine, earlier)| earlier > mine)
                {
                    lost += 1;
                }
            }
            for (_, op) in &writes[index..same_time_end] {
                if let Some(stamp) = op.write.and_then(|w| versions.get(&w)).map(|v| v.stamp) {
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
fn resurfaced_deletes(history: &[OpRecord]) -> u64 {
    let mut by_key: BTreeMap<u64, Vec<&OpRecord>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.key).or_default().push(op);
    }
    let mut resurfaced = 0;
    for ops in by_key.values() {
        let removes = ops.iter().filter(|op| op.is_acknowledged_write()).filter_map(|op| match op.cart {
            Some(CartOp::Remove(item)) => Some((item, op.invoke, op.complete?)),
            _ => None,
        });
        for (item, removed_invoke, removed_at) in removes {
            let re_added_before = |until: crate::types::Time| {
                ops.iter()
                    .any(|op| op.cart == Some(CartOp::Add(item)) && op.invoke > removed_invoke && op.invoke < until)
            };
            let returned = |op: &&&OpRecord| {
                op.returned.iter().any(|v| v.items.as_deref().is_some_and(|items| items.contains(&item)))
            };
            let resurfaces = ops
                .iter()
                .filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok && op.invoke > removed_at)
                .filter(returned)
                .any(|op| !re_added_before(op.complete.unwrap_or(op.invoke)));
            resurfaced += u64::from(resurfaces);
        }
    }
    resurfaced
}
