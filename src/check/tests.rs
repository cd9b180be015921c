//! Checker tests on hand-written histories.

use super::history::{CartOp, Observed, OpKind, OpRecord, Outcome};
use super::*;
use crate::node::vclock::VectorClock;
use crate::protocol::Stamp;
use crate::types::{ClientId, NodeId, Time};

fn clock(pairs: &[(u32, u64)]) -> VectorClock {
    let mut c = VectorClock::new();
    for &(n, counter) in pairs {
        c.set(NodeId(n), counter, Time(0));
    }
    c
}

fn op(kind: OpKind, key: u64, invoke: u64, complete: u64) -> OpRecord {
    OpRecord {
        complete: Some(Time(complete)),
        outcome: Outcome::Ok,
        ..OpRecord::invoked(ClientId(0), invoke, kind, key, Time(invoke))
    }
}

fn write(key: u64, invoke: u64, complete: u64, id: u64, c: &[(u32, u64)]) -> OpRecord {
    let stamp = Some(Stamp { time_us: invoke, writer: 0 });
    OpRecord { write: Some(WriteId(id)), clock: Some(clock(c)), stamp, ..op(OpKind::Write, key, invoke, complete) }
}

fn observed(id: u64, c: &[(u32, u64)]) -> Observed {
    Observed { write: WriteId(id), clock: clock(c), stamp: Stamp { time_us: id, writer: 0 }, items: None }
}

fn read(key: u64, invoke: u64, complete: u64, returned: &[(u64, &[(u32, u64)])]) -> OpRecord {
    let returned = returned.iter().map(|(id, c)| observed(*id, c)).collect();
    OpRecord { returned, ..op(OpKind::Read, key, invoke, complete) }
}

#[test]
fn a_clean_history_has_no_findings() {
    let history = vec![
        write(1, 0, 10, 1, &[(0, 1)]),
        read(1, 20, 30, &[(1, &[(0, 1)])]),
        write(1, 40, 50, 2, &[(0, 2)]),
        read(1, 60, 70, &[(2, &[(0, 2)])]),
    ];
    let report = check(&history, false);
    assert_eq!(report.stale_reads, 0);
    assert_eq!(report.reads_of_written_keys, 2);
    assert_eq!(report.causal_sibling_violations, 0);
    assert_eq!(report.acknowledged_writes, 2);
}

#[test]
fn a_read_missing_an_acknowledged_write_is_stale() {
    let history =
        vec![write(1, 0, 10, 1, &[(0, 1)]), write(1, 20, 30, 2, &[(0, 2)]), read(1, 40, 50, &[(1, &[(0, 1)])])];
    assert_eq!(check(&history, false).stale_reads, 1);
}

#[test]
fn a_superseding_version_satisfies_the_read() {
    // The read returns write 3, whose clock descends from write 1's.
    let history = vec![write(1, 0, 10, 1, &[(0, 1)]), read(1, 40, 50, &[(3, &[(0, 1), (1, 1)])])];
    assert_eq!(check(&history, false).stale_reads, 0);
}

#[test]
fn writes_acknowledged_after_the_read_began_do_not_make_it_stale() {
    let history = vec![write(1, 0, 45, 1, &[(0, 1)]), read(1, 40, 50, &[])];
    let report = check(&history, false);
    assert_eq!(report.stale_reads, 0);
    assert_eq!(report.reads_of_written_keys, 0);
}

#[test]
fn concurrent_writes_must_both_be_returned() {
    let history = vec![
        write(1, 0, 10, 1, &[(0, 1)]),
        write(1, 0, 10, 2, &[(1, 1)]),
        read(1, 20, 30, &[(1, &[(0, 1)])]),
        read(1, 20, 30, &[(1, &[(0, 1)]), (2, &[(1, 1)])]),
    ];
    let report = check(&history, false);
    assert_eq!(report.stale_reads, 1);
    assert_eq!(report.siblings_per_read.get("2"), Some(&1));
}

#[test]
fn a_non_concurrent_sibling_pair_is_flagged() {
    let history = vec![read(1, 0, 10, &[(1, &[(0, 1)]), (2, &[(0, 2)])])];
    assert_eq!(check(&history, false).causal_sibling_violations, 1);
}

#[test]
fn a_write_that_does_not_supersede_its_context_is_flagged() {
    let r = read(1, 0, 10, &[(1, &[(0, 1)]), (2, &[(1, 1)])]);
    let mut w = write(1, 20, 30, 3, &[(0, 1), (2, 1)]); // lost node 1's entry
    w.context_writes = vec![WriteId(1), WriteId(2)];
    assert_eq!(check(&[r, w], false).causal_sibling_violations, 1);
}

#[test]
fn indeterminate_writes_are_counted_apart() {
    let mut w = write(1, 0, 10, 1, &[(0, 1)]);
    w.outcome = Outcome::TimedOut;
    let report = check(&[w, read(1, 20, 30, &[])], false);
    assert_eq!(report.indeterminate_writes, 1);
    assert_eq!(report.acknowledged_writes, 0);
    assert_eq!(report.stale_reads, 0, "an indeterminate write may legitimately be missing");
}

#[test]
fn siblings_ordered_by_their_write_contexts_are_false_conflicts() {
    // Write 2 was made with a context that included write 1, yet a read
    // returns both as siblings (its clock lost write 1's entry).
    let mut w2 = write(1, 20, 30, 2, &[(1, 1)]);
    w2.context_writes = vec![WriteId(1)];
    let history = vec![write(1, 0, 10, 1, &[(0, 1)]), w2, read(1, 40, 50, &[(1, &[(0, 1)]), (2, &[(1, 1)])])];
    let report = check(&history, false);
    assert_eq!(report.false_conflicts, 1);
    // Truly concurrent siblings are not false conflicts.
    let clean = vec![
        write(1, 0, 10, 1, &[(0, 1)]),
        write(1, 0, 10, 2, &[(1, 1)]),
        read(1, 40, 50, &[(1, &[(0, 1)]), (2, &[(1, 1)])]),
    ];
    assert_eq!(check(&clean, false).false_conflicts, 0);
}

mod end_state {
    use super::*;
    use crate::check::durability::check_end_state;
    use std::collections::BTreeMap;

    fn end_state(
        history: &[OpRecord],
        held: &[(u64, &[(u32, u64)])],
        wiped: &[(u64, &[(u32, u64)])],
    ) -> ConsistencyReport {
        let mut report = check(history, false);
        let final_versions = BTreeMap::from([(1, held.iter().map(|(id, c)| observed(*id, c)).collect())]);
        let wiped = BTreeMap::from([(1, wiped.iter().map(|(id, c)| observed(*id, c)).collect())]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        check_end_state(&mut report, history, &versions_by_write(history), &final_versions, &held, &wiped, false);
        report
    }

    #[test]
    fn an_acknowledged_write_held_nowhere_is_lost() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)])];
        let report = end_state(&history, &[], &[]);
        assert_eq!(report.lost_writes, 1);
        assert_eq!(report.lost_writes_unexplained, 1, "no node lost it: a bug");
    }

    #[test]
    fn a_loss_explained_by_a_wiped_superseding_version_is_not_a_bug() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)]), write(1, 20, 30, 2, &[(0, 2)])];
        let report = end_state(&history, &[], &[(2, &[(0, 2)])]);
        assert_eq!(report.lost_writes, 2);
        assert_eq!(report.lost_writes_unexplained, 0);
    }

    #[test]
    fn a_lost_write_still_held_outside_the_preference_list_is_a_bug_even_after_a_wipe() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)])];
        let mut report = check(&history, false);
        let nowhere = BTreeMap::from([(1, Vec::new())]);
        let elsewhere = BTreeMap::from([(1, vec![observed(1, &[(0, 1)])])]);
        let held = |_: u64| vec![observed(1, &[(0, 1)])];
        check_end_state(&mut report, &history, &versions_by_write(&history), &nowhere, &held, &elsewhere, false);
        assert_eq!(report.lost_writes, 1);
        assert_eq!(report.lost_writes_unexplained, 1, "misplaced, not lost to a failure");
    }

    #[test]
    fn a_write_superseded_by_a_surviving_version_is_not_lost() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)]), write(1, 20, 30, 2, &[(0, 2)])];
        assert_eq!(end_state(&history, &[(2, &[(0, 2)])], &[]).lost_writes, 0);
    }

    #[test]
    fn lww_discards_a_later_write_with_an_earlier_timestamp() {
        let mut early = write(1, 0, 10, 1, &[(0, 1)]);
        early.stamp = Some(Stamp { time_us: 500, writer: 0 });
        let mut late = write(1, 5, 15, 2, &[(1, 1)]);
        late.stamp = Some(Stamp { time_us: 7, writer: 1 });
        let mut report = check(&[early.clone(), late.clone()], true);
        let final_versions = BTreeMap::from([(
            1,
            vec![Observed { stamp: Stamp { time_us: 500, writer: 0 }, ..observed(1, &[(0, 1)]) }],
        )]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        let both = [early, late];
        check_end_state(&mut report, &both, &versions_by_write(&both), &final_versions, &held, &BTreeMap::new(), true);
        assert_eq!(report.lww_lost_updates, 1);
        assert_eq!(report.lost_writes, 0, "superseded by timestamp, so not a lost write");
    }

    #[test]
    fn a_removed_cart_item_read_again_without_a_new_add_resurfaced() {
        let mut remove = write(1, 0, 10, 1, &[(0, 1)]);
        remove.cart = Some(CartOp::Remove(7));
        let mut again = read(1, 20, 30, &[(2, &[(0, 1), (1, 1)])]);
        again.returned[0].items = Some(vec![3, 7].into());
        let report = end_state(&[remove.clone(), again.clone()], &[(2, &[(0, 1), (1, 1)])], &[]);
        assert_eq!(report.resurfaced_deletes, 1);
        let mut add = write(1, 12, 14, 3, &[(0, 2)]);
        add.cart = Some(CartOp::Add(7));
        let report = end_state(&[remove, add, again], &[(2, &[(0, 1), (1, 1)])], &[]);
        assert_eq!(report.resurfaced_deletes, 0, "re-added after the remove");
    }
}
