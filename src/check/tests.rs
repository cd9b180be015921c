//! Checker tests on hand-written histories.

use super::history::{CartOp, OpKind, OpRecord, Outcome};
use super::*;
use crate::node::vclock::{Dot, VectorClock};
use crate::protocol::{Stamp, Version, VersionId};
use crate::types::{ClientId, NodeId, Time};

const VC: Versioning = Versioning::VectorClocks;

/// The dot of write `id`'s first version (tests tell versions of one write
/// apart with [`dup`]).
fn dot(id: u64) -> Dot {
    Dot { actor: NodeId(99).into(), counter: id }
}

/// The identity of write `id`'s first version.
fn vid(id: u64) -> VersionId {
    VersionId { write: WriteId(id), dot: dot(id) }
}

fn clock(pairs: &[(u32, u64)]) -> VectorClock {
    let mut c = VectorClock::new();
    for &(n, counter) in pairs {
        c.set(NodeId(n), counter, Time(0));
    }
    c
}

fn op(kind: OpKind, key: u64, invoke: u64, complete: u64) -> OpRecord {
    let mut op = OpRecord::invoked(ClientId(0), invoke, kind, key, Time(invoke));
    op.outcome = Outcome::Ok;
    op.set_complete(Time(complete));
    op
}

fn write(key: u64, invoke: u64, complete: u64, id: u64, c: &[(u32, u64)]) -> OpRecord {
    let stamp = Stamp { time_us: invoke, writer: 0 };
    let mut write = op(OpKind::Write, key, invoke, complete);
    write.set_write(WriteId(id), false, false);
    write.set_acked(observed(id, c).changed(|v| v.set_stamp(stamp)));
    write
}

/// Write `id` made from a read that returned `context`.
fn write_after(key: u64, invoke: u64, complete: u64, id: u64, c: &[(u32, u64)], context: &[u64]) -> OpRecord {
    let mut write = write(key, invoke, complete, id, c);
    write.set_context(context.iter().map(|&w| vid(w)).collect());
    write
}

fn observed(id: u64, c: &[(u32, u64)]) -> Version {
    Version::of_write(id, dot(id), clock(c), Stamp { time_us: id, writer: 0 })
}

fn read(key: u64, invoke: u64, complete: u64, returned: &[(u64, &[(u32, u64)])]) -> OpRecord {
    let mut read = op(OpKind::Read, key, invoke, complete);
    read.set_returned(returned.iter().map(|(id, c)| observed(*id, c)).collect());
    read
}

#[test]
fn a_clean_history_has_no_findings() {
    let history = vec![
        write(1, 0, 10, 1, &[(0, 1)]),
        read(1, 20, 30, &[(1, &[(0, 1)])]),
        write(1, 40, 50, 2, &[(0, 2)]),
        read(1, 60, 70, &[(2, &[(0, 2)])]),
    ];
    let report = check(&history, VC);
    assert_eq!(report.stale_reads, 0);
    assert_eq!(report.reads_of_written_keys, 2);
    assert_eq!(report.causal_sibling_violations, 0);
    assert_eq!(report.acknowledged_writes, 2);
}

/// The verdicts are reserved once, one slot an operation of the piece
/// (the allocator keeps the buffers a doubling vector leaves behind: at 10
/// M requests they were ~300 MB of the peak).
#[test]
fn the_verdict_list_is_reserved_once_for_every_read() {
    let mut history = vec![write(1, 0, 10, 1, &[(0, 1)]), write(3, 0, 10, 2, &[(0, 2)]), read(2, 5, 8, &[])];
    history.extend((0..100).map(|at| read(1, 20 + at, 30 + at, &[(1, &[(0, 1)])])));
    let report = check(&history, VC);
    assert_eq!(report.read_verdicts.len(), 100, "the read of a key never written has no verdict");
    let capacities: Vec<usize> = report.read_verdicts.pieces.iter().map(Vec::capacity).collect();
    assert_eq!(capacities, [103], "one piece, reserved once");
}

#[test]
fn a_read_missing_an_acknowledged_write_is_stale() {
    let history =
        vec![write(1, 0, 10, 1, &[(0, 1)]), write(1, 20, 30, 2, &[(0, 2)]), read(1, 40, 50, &[(1, &[(0, 1)])])];
    assert_eq!(check(&history, VC).stale_reads, 1);
}

#[test]
fn a_superseding_version_satisfies_the_read() {
    // The read returns write 3, whose clock descends from write 1's.
    let history = vec![write(1, 0, 10, 1, &[(0, 1)]), read(1, 40, 50, &[(3, &[(0, 1), (1, 1)])])];
    assert_eq!(check(&history, VC).stale_reads, 0);
}

#[test]
fn writes_acknowledged_after_the_read_began_do_not_make_it_stale() {
    let history = vec![write(1, 0, 45, 1, &[(0, 1)]), read(1, 40, 50, &[])];
    let report = check(&history, VC);
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
    let report = check(&history, VC);
    assert_eq!(report.stale_reads, 1);
    assert_eq!(report.siblings_per_read.get("2"), Some(&1));
}

#[test]
fn a_non_concurrent_sibling_pair_is_flagged() {
    let history = vec![read(1, 0, 10, &[(1, &[(0, 1)]), (2, &[(0, 2)])])];
    assert_eq!(check(&history, VC).causal_sibling_violations, 1);
}

/// Clocks that each name an actor the other lacks are concurrent, but a
/// clock naming more actors than another may cover it, whichever of the
/// two a read returns first.
#[test]
fn a_sibling_covered_by_a_clock_of_more_actors_is_flagged_in_either_order() {
    let fewer_first = read(1, 0, 10, &[(1, &[(0, 1)]), (2, &[(0, 1), (1, 1)])]);
    let more_first = read(1, 0, 10, &[(2, &[(0, 1), (1, 1)]), (1, &[(0, 1)])]);
    assert_eq!(check(&[fewer_first], VC).causal_sibling_violations, 1);
    assert_eq!(check(&[more_first], VC).causal_sibling_violations, 1);
}

/// Under dotted version vectors a version whose clock holds another's dot
/// covers it, whatever other actors either clock names: version 2 holds
/// version 1's dot n0:1, and each clock names an actor the other lacks.
#[test]
fn under_dotted_version_vectors_a_sibling_whose_dot_the_other_holds_is_flagged() {
    let with_dot = |id: u64, node: u32, c: &[(u32, u64)]| {
        observed(id, c).changed(|v| v.dot = Dot { actor: NodeId(node).into(), counter: 1 })
    };
    let mut r = read(1, 0, 10, &[]);
    r.set_returned(vec![with_dot(1, 0, &[(0, 1), (1, 1)]), with_dot(2, 2, &[(0, 1), (2, 1)])]);
    assert_eq!(check(&[r], Versioning::DottedVersionVectors).causal_sibling_violations, 1);
}

#[test]
fn a_write_that_does_not_supersede_its_context_is_flagged() {
    let r = read(1, 0, 10, &[(1, &[(0, 1)]), (2, &[(1, 1)])]);
    let w = write_after(1, 20, 30, 3, &[(0, 1), (2, 1)], &[1, 2]); // lost node 1's entry
    assert_eq!(check(&[r, w], VC).causal_sibling_violations, 1);
}

#[test]
fn indeterminate_writes_are_counted_apart() {
    let mut w = write(1, 0, 10, 1, &[(0, 1)]);
    w.outcome = Outcome::TimedOut;
    let report = check(&[w, read(1, 20, 30, &[])], VC);
    assert_eq!(report.indeterminate_writes, 1);
    assert_eq!(report.acknowledged_writes, 0);
    assert_eq!(report.stale_reads, 0, "an indeterminate write may legitimately be missing");
}

#[test]
fn siblings_ordered_by_their_write_contexts_are_false_conflicts() {
    // Write 2 was made with a context that included write 1, yet a read
    // returns both as siblings (its clock lost write 1's entry).
    let w2 = write_after(1, 20, 30, 2, &[(1, 1)], &[1]);
    let history = vec![write(1, 0, 10, 1, &[(0, 1)]), w2, read(1, 40, 50, &[(1, &[(0, 1)]), (2, &[(1, 1)])])];
    let report = check(&history, VC);
    assert_eq!(report.false_conflicts, 1);
    // Truly concurrent siblings are not false conflicts.
    let clean = vec![
        write(1, 0, 10, 1, &[(0, 1)]),
        write(1, 0, 10, 2, &[(1, 1)]),
        read(1, 40, 50, &[(1, &[(0, 1)]), (2, &[(1, 1)])]),
    ];
    assert_eq!(check(&clean, VC).false_conflicts, 0);
}

/// A forwarder that re-forwards a request whose first coordinator did get
/// it makes two versions of one write. A read-modify-write made from one
/// of them supersedes that one only; the other stays a sibling. Neither is
/// a violation or a false conflict.
#[test]
fn a_write_coordinated_twice_is_two_versions() {
    let first = write(1, 0, 10, 1, &[(0, 1)]);
    let duplicate = observed(1, &[(1, 1)]).changed(|v| v.dot = Dot { actor: NodeId(1).into(), counter: 1 });
    let mut both = read(1, 20, 30, &[]);
    both.set_returned(vec![observed(1, &[(0, 1)]), duplicate.clone()]);
    let mut after = write(1, 40, 50, 2, &[(1, 1), (2, 1)]);
    after.set_context(vec![duplicate.id()]);
    let mut later = read(1, 60, 70, &[(2, &[(1, 1), (2, 1)])]);
    later.set_returned(vec![observed(2, &[(1, 1), (2, 1)]), observed(1, &[(0, 1)])]);
    let report = check(&[first, both, after, later], VC);
    assert_eq!(report.causal_sibling_violations, 0, "the write supersedes the version its writer read");
    assert_eq!(report.false_conflicts, 0, "the other version of write 1 was never seen by write 2");
    assert_eq!(report.duplicate_coordinations, 1);
    assert_eq!(report.stale_reads, 0);
}

#[test]
fn dotted_version_vectors_order_by_dots() {
    let dvv = Versioning::DottedVersionVectors;
    // Two writes through n0 from an empty context: siblings under DVV.
    let mut a = write(1, 0, 10, 1, &[]);
    let mut b = write(1, 0, 10, 2, &[]);
    for (op, counter) in [(&mut a, 1), (&mut b, 2)] {
        op.amend_acked(|v| v.dot = Dot { actor: NodeId(0).into(), counter });
    }
    let mut r = read(1, 20, 30, &[]);
    r.set_returned(vec![a.acked().cloned().expect("acked"), b.acked().cloned().expect("acked")]);
    let report = check(&[a, b, r], dvv);
    assert_eq!(report.causal_sibling_violations, 0);
    assert_eq!(report.stale_reads, 0);
}

/// Each read's verdict: stale or not, how many acknowledged writes it
/// missed (k-staleness) and the time since the key's last write
/// acknowledged before it. 2 supersedes 1; 3 is concurrent with both.
#[test]
fn a_reads_verdict_counts_the_writes_it_missed_and_the_time_since_the_last_write() {
    let history = vec![
        write(1, 0, 10, 1, &[(0, 1)]),
        write(1, 20, 30, 2, &[(0, 2)]),
        read(1, 32, 33, &[(1, &[(0, 1)])]), // before 3 completed: misses 2 only
        write(1, 25, 35, 3, &[(1, 1)]),
        read(1, 50, 55, &[]),                               // misses all three
        read(1, 60, 65, &[(2, &[(0, 2)]), (3, &[(1, 1)])]), // the whole frontier
        read(1, 70, 75, &[(1, &[(0, 1)]), (3, &[(1, 1)])]), // misses 2
    ];
    let report = check(&history, VC);
    let verdicts: Vec<(u64, u64, bool, u32)> =
        report.read_verdicts.iter().map(|v| (v.sequence, v.since_write_us, v.is_stale(), v.versions_behind)).collect();
    assert_eq!(verdicts, vec![(32, 2, true, 1), (50, 15, true, 3), (60, 25, false, 0), (70, 35, true, 1)]);
    assert_eq!(report.stale_reads, 3);
    assert_eq!(report.reads_of_written_keys, 4);
    let stale: Vec<u64> = report.stale_read_ops.keys().map(|read| read.1).collect();
    assert_eq!(stale, vec![32, 50, 70]);
}

/// A read of many siblings (more than [`SORTED_RETURNS_FROM`], whose
/// writes are then looked up sorted) is judged as one of a few: it must
/// return, or cover, every one of the concurrent writes before it.
#[test]
fn a_read_of_many_siblings_must_cover_each_of_them() {
    let siblings = SORTED_RETURNS_FROM as u64 + 4;
    let clocks: Vec<[(u32, u64); 1]> = (0..siblings).map(|w| [(w as u32, 1)]).collect();
    let mut history: Vec<OpRecord> = (0..siblings).map(|w| write(1, 0, 10, w + 1, &clocks[w as usize])).collect();
    let all: Vec<(u64, &[(u32, u64)])> = (0..siblings).map(|w| (w + 1, &clocks[w as usize][..])).collect();
    history.push(read(1, 20, 30, &all)); // every one: not stale
    history.push(read(1, 40, 50, &all[1..])); // misses write 1
    let mut covering = read(1, 60, 70, &all[1..]);
    let newer = observed(siblings + 1, &[(0, 2)]); // covers write 1 by its clock
    covering.set_returned(covering.returned().iter().cloned().chain([newer]).collect());
    history.push(covering);
    let report = check(&history, VC);
    let verdicts: Vec<(u64, u32)> = report.read_verdicts.iter().map(|v| (v.sequence, v.versions_behind)).collect();
    assert_eq!(verdicts, vec![(20, 0), (40, 1), (60, 0)]);
}

/// The report keeps a verdict for every read of a written key (~9 M in a
/// run of 10 M requests): each must stay within 24 bytes.
#[test]
fn a_read_verdict_is_24_bytes() {
    assert!(std::mem::size_of::<ReadVerdict>() <= 24, "{} bytes", std::mem::size_of::<ReadVerdict>());
}

/// Of two concurrent writes, a read must return both: returning only the
/// later one (by completion) misses the earlier, which it does not cover.
#[test]
fn a_read_returning_only_the_later_of_two_concurrent_writes_is_stale() {
    let history =
        vec![write(1, 0, 10, 1, &[(0, 1)]), write(1, 0, 12, 2, &[(1, 1)]), read(1, 20, 30, &[(2, &[(1, 1)])])];
    let report = check(&history, VC);
    assert_eq!(report.stale_reads, 1);
    assert_eq!(report.read_verdicts.iter().next().unwrap().versions_behind, 1);
}

/// A write acknowledged at the very instant a read is invoked was not
/// acknowledged *before* it: the read need not return it. The real-time
/// check draws the same line, so the two agree.
#[test]
fn a_write_acknowledged_when_the_read_is_invoked_is_not_required() {
    let history = vec![write(1, 0, 20, 1, &[(0, 1)]), read(1, 20, 30, &[])];
    let report = check(&history, VC);
    assert_eq!((report.reads_of_written_keys, report.stale_reads), (0, 0));
    assert!(realtime::check(&history).stale.is_empty());
    // One microsecond earlier it was.
    let history = vec![write(1, 0, 19, 1, &[(0, 1)]), read(1, 20, 30, &[])];
    let report = check(&history, VC);
    assert_eq!((report.reads_of_written_keys, report.stale_reads), (1, 1));
    assert_eq!(realtime::check(&history).stale.len(), 1);
}

/// Both checks judge each key's reads against that key's writes alone: a
/// read of key 2 that found nothing misses no write of key 1, while the
/// same read of key 1 is stale.
#[test]
fn a_read_is_judged_only_against_the_writes_of_its_own_key() {
    let history = vec![write(1, 0, 10, 1, &[(0, 1)]), read(2, 20, 30, &[]), read(1, 40, 50, &[])];
    let report = check(&history, VC);
    assert_eq!((report.reads_of_written_keys, report.stale_reads), (1, 1));
    assert_eq!(report.stale_read_ops, BTreeMap::from([((ClientId(0), 40), 1)]));
    let stale = realtime::check(&history).stale;
    let stale_read = realtime::StaleRead { client: ClientId(0), sequence: 40, key: 1, missing: vec![WriteId(1)] };
    assert_eq!(stale, vec![stale_read]);
}

mod end_state {
    use super::*;
    use crate::check::durability::{check_end_state, EndState};
    use std::collections::BTreeMap;

    /// Runs the end-of-run checks the way `lib::check_outcome` does.
    /// Version `id` with its own dot (`node`:`counter`) and context `c`.
    fn at(id: u64, node: u32, counter: u64, c: &[(u32, u64)]) -> Version {
        Version::of_write(id, Dot { actor: NodeId(node).into(), counter }, clock(c), Stamp { time_us: id, writer: 0 })
    }

    /// `op`, acknowledged as `version`.
    fn acked(mut op: OpRecord, version: Version) -> OpRecord {
        op.set_acked(version);
        op
    }

    fn finish(
        history: &[OpRecord],
        final_versions: &BTreeMap<u64, Vec<Version>>,
        held_anywhere: &(dyn Fn(u64) -> Vec<Version> + Sync),
        wiped: &BTreeMap<u64, Vec<Version>>,
        capped: &BTreeMap<u64, Vec<Version>>,
        versioning: Versioning,
    ) -> ConsistencyReport {
        let (mut lineage, by_key) = Lineage::with_history_by_key(history);
        for (key, versions) in final_versions.iter().chain(wiped).chain(capped) {
            lineage.add(*key, versions);
        }
        let mut report = check_with(&by_key, &lineage, versioning);
        let end = EndState { final_versions, held_anywhere, wiped, capped, clocks_truncated: false };
        check_end_state(&mut report, history, &lineage, &end, versioning);
        report
    }

    fn end_state(
        history: &[OpRecord],
        held: &[(u64, &[(u32, u64)])],
        wiped: &[(u64, &[(u32, u64)])],
    ) -> ConsistencyReport {
        let final_versions = BTreeMap::from([(1, held.iter().map(|(id, c)| observed(*id, c)).collect())]);
        let wiped = BTreeMap::from([(1, wiped.iter().map(|(id, c)| observed(*id, c)).collect())]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        finish(history, &final_versions, &held, &wiped, &BTreeMap::new(), VC)
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
        let history = vec![write(1, 0, 10, 1, &[(0, 1)]), write_after(1, 20, 30, 2, &[(0, 2)], &[1])];
        let report = end_state(&history, &[], &[(2, &[(0, 2)])]);
        assert_eq!(report.lost_writes, 2);
        assert_eq!(report.lost_writes_disk_or_buffer, 2);
        assert_eq!(report.lost_writes_unexplained, 0);
    }

    #[test]
    fn a_lost_write_still_held_outside_the_preference_list_is_a_bug_even_after_a_wipe() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)])];
        let nowhere = BTreeMap::from([(1, Vec::new())]);
        let elsewhere = BTreeMap::from([(1, vec![observed(1, &[(0, 1)])])]);
        let held = |_: u64| vec![observed(1, &[(0, 1)])];
        let report = finish(&history, &nowhere, &held, &elsewhere, &BTreeMap::new(), VC);
        assert_eq!(report.lost_writes, 1);
        assert_eq!(report.lost_writes_unexplained, 1, "misplaced, not lost to a failure");
    }

    #[test]
    fn a_write_superseded_by_a_surviving_version_whose_writer_saw_it_is_not_lost() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)]), write_after(1, 20, 30, 2, &[(0, 2)], &[1])];
        let report = end_state(&history, &[(2, &[(0, 2)])], &[]);
        assert_eq!(report.lost_writes, 0);
        assert_eq!(report.lost_updates, 0);
    }

    /// Server-side vector clocks: two writes through one coordinator from
    /// the same (empty) context get counters k+1 and k+2, so the second
    /// silently supersedes the first, which was never a sibling.
    #[test]
    fn a_write_superseded_by_one_that_never_saw_it_is_a_lost_update() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)]), write(1, 0, 12, 2, &[(0, 2)])];
        let report = end_state(&history, &[(2, &[(0, 2)])], &[]);
        assert_eq!(report.lost_updates, 1);
        assert_eq!(report.lost_update_writes, [WriteId(1)]);
        assert_eq!(report.lost_writes, 1);
        assert_eq!(report.lost_writes_overwritten, 1, "explained: the clocks did it");
        assert_eq!(report.lost_writes_unexplained, 0);
    }

    /// Dotted version vectors: 2 read 1 and covers it; 4 read only the
    /// blind 3 of the same actor as 2, and its context (n4: 27) covers 2
    /// by its dot but says nothing of 1. Replicas drop 2 for 4, and 1 with
    /// it: 1 is gone through the chain (overwritten), 2 is the lost update.
    #[test]
    fn a_write_gone_through_a_chain_of_dotted_version_vectors_is_overwritten_not_unexplained() {
        let history = vec![
            acked(write(1, 0, 10, 1, &[]), at(1, 0, 1, &[])),
            acked(write_after(1, 20, 30, 2, &[], &[1]), at(2, 4, 2, &[(0, 1)])),
            acked(write(1, 40, 50, 3, &[]), at(3, 4, 27, &[])),
            acked(write_after(1, 60, 70, 4, &[], &[3]), at(4, 4, 34, &[(4, 27)])),
        ];
        let final_versions = BTreeMap::from([(1, vec![at(4, 4, 34, &[(4, 27)])])]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        let none = BTreeMap::new();
        let report = finish(&history, &final_versions, &held, &none, &none, Versioning::DottedVersionVectors);
        assert_eq!(report.lost_writes, 2, "1 and 2 are gone; 4 saw 3");
        assert_eq!(report.lost_writes_unexplained, 0, "{report:?}");
        assert_eq!(report.lost_writes_overwritten, 2);
        assert_eq!(report.lost_update_writes, [WriteId(2)]);
    }

    /// 1 ← 2 (read 1) ← 3 (read 2) under dotted version vectors, with 3's
    /// context naming 2's dot only: the replicas hold 3 alone, whose clock
    /// says nothing of 1. 1 lives on in 3 through the chain (its writer saw
    /// 1 through 2), so nothing is lost — a checker that follows only the
    /// direct supersession would count 1 as lost.
    #[test]
    fn a_write_carried_through_a_chain_of_dotted_version_vectors_is_present() {
        let history = vec![
            acked(write(1, 0, 10, 1, &[]), at(1, 0, 1, &[])),
            acked(write_after(1, 20, 30, 2, &[], &[1]), at(2, 4, 2, &[(0, 1)])),
            acked(write_after(1, 40, 50, 3, &[], &[2]), at(3, 4, 3, &[(4, 2)])),
        ];
        let final_versions = BTreeMap::from([(1, vec![at(3, 4, 3, &[(4, 2)])])]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        let none = BTreeMap::new();
        let report = finish(&history, &final_versions, &held, &none, &none, Versioning::DottedVersionVectors);
        assert_eq!(report.lost_writes, 0, "{report:?}");
        assert!(report.lost_update_writes.is_empty());
    }

    /// 1 ← 2 (read 1) ← 3 (blind): 2 is the lost update, not 1, which 2 saw.
    #[test]
    fn only_the_write_overwritten_unseen_is_a_lost_update() {
        let history = vec![
            write(1, 0, 10, 1, &[(0, 1)]),
            write_after(1, 20, 30, 2, &[(0, 2)], &[1]),
            write(1, 40, 50, 3, &[(0, 3)]),
        ];
        let report = end_state(&history, &[(3, &[(0, 3)])], &[]);
        assert_eq!(report.lost_update_writes, [WriteId(2)]);
    }

    /// 2 read 1, but its clock was truncated and no longer descends from
    /// 1's: 1's content lives on in 2, so 1 is not lost once clocks were
    /// truncated (without truncation such clocks would be a bug, and count).
    #[test]
    fn a_write_seen_by_a_held_version_is_present_once_clocks_were_truncated() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)]), write_after(1, 20, 30, 2, &[(1, 1)], &[1])];
        let final_versions = BTreeMap::from([(1, vec![observed(2, &[(1, 1)])])]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        let none = BTreeMap::new();
        for (truncated, lost) in [(false, 1), (true, 0)] {
            let lineage = {
                let mut lineage = Lineage::from_history(&history);
                lineage.add(1, &final_versions[&1]);
                lineage
            };
            let mut report = check_with(&history::sorted_by_key(&history), &lineage, VC);
            let end = EndState {
                final_versions: &final_versions,
                held_anywhere: &held,
                wiped: &none,
                capped: &none,
                clocks_truncated: truncated,
            };
            check_end_state(&mut report, &history, &lineage, &end, VC);
            assert_eq!(report.lost_writes, lost, "clocks truncated: {truncated}");
        }
    }

    #[test]
    fn versions_a_sibling_cap_dropped_are_explained_losses() {
        let history = vec![write(1, 0, 10, 1, &[(0, 1)]), write(1, 0, 10, 2, &[(1, 1)])];
        let final_versions = BTreeMap::from([(1, vec![observed(2, &[(1, 1)])])]);
        let capped = BTreeMap::from([(1, vec![observed(1, &[(0, 1)])])]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        let report = finish(&history, &final_versions, &held, &BTreeMap::new(), &capped, VC);
        assert_eq!(report.lost_writes, 1);
        assert_eq!(report.lost_writes_sibling_cap, 1);
        assert_eq!(report.lost_writes_unexplained, 0);
    }

    /// After a disk loss a node that reused its counters would make new
    /// writes look like ancestors of old ones; the checker decides
    /// supersession from what writers saw, so such a write is never
    /// "present" through a version that never saw it.
    #[test]
    fn a_reused_clock_does_not_hide_a_lost_write() {
        // Write 2 (after the reset) carries {n0: 1}; write 1 held {n0: 5}.
        let history = vec![write(1, 0, 10, 1, &[(0, 5)]), write(1, 20, 30, 2, &[(0, 1)])];
        let report = end_state(&history, &[(1, &[(0, 5)])], &[]);
        assert_eq!(report.lost_writes, 1, "write 2 is gone");
        assert_eq!(report.lost_writes_overwritten, 1);
    }

    #[test]
    fn lww_discards_a_later_write_with_an_earlier_timestamp() {
        let mut early = write(1, 0, 10, 1, &[(0, 1)]);
        early.amend_acked(|v| v.set_stamp(Stamp { time_us: 500, writer: 0 }));
        let mut late = write(1, 5, 15, 2, &[(1, 1)]);
        late.amend_acked(|v| v.set_stamp(Stamp { time_us: 7, writer: 1 }));
        let final_versions = BTreeMap::from([(
            1,
            vec![observed(1, &[(0, 1)]).changed(|v| v.set_stamp(Stamp { time_us: 500, writer: 0 }))],
        )]);
        let held = |key: u64| final_versions.get(&key).cloned().unwrap_or_default();
        let both = [early, late];
        let lww = Versioning::LastWriteWins;
        let report = finish(&both, &final_versions, &held, &BTreeMap::new(), &BTreeMap::new(), lww);
        assert_eq!(report.lww_lost_updates, 1);
        assert_eq!(report.lost_updates, 1, "under last-write-wins, lost updates are LWW lost updates");
        assert_eq!(report.lost_writes, 1);
        assert_eq!(report.lost_writes_overwritten, 1, "discarded by timestamp: explained");
    }

    /// Under last-write-wins every later write whose stamp is below an
    /// earlier write's is discarded, each one counted; stamps that follow
    /// the invoke order discard nothing.
    #[test]
    fn lww_counts_each_later_write_an_earlier_stamp_outranks() {
        let stamped = |invoke: u64, id: u64, time_us: u64| {
            let mut op = write(1, invoke, invoke + 10, id, &[(0, id)]);
            op.amend_acked(|v| v.set_stamp(Stamp { time_us, writer: 0 }));
            op
        };
        let none = BTreeMap::new();
        let held = |_: u64| Vec::new();
        let lww = Versioning::LastWriteWins;
        let in_order = [stamped(0, 1, 5), stamped(5, 2, 7), stamped(8, 3, 9)];
        let report = finish(&in_order, &none, &held, &none, &none, lww);
        assert_eq!((report.lww_lost_updates, report.lost_updates), (0, 0));
        let skewed = [stamped(0, 1, 500), stamped(5, 2, 7), stamped(8, 3, 9)];
        let report = finish(&skewed, &none, &held, &none, &none, lww);
        assert_eq!((report.lww_lost_updates, report.lost_updates), (2, 2), "2 and 3 both lose to 1's stamp");
    }

    #[test]
    fn a_removed_cart_item_read_again_without_a_new_add_resurfaced() {
        let mut remove = write(1, 0, 10, 1, &[(0, 1)]);
        remove.set_cart(Some(CartOp::Remove(7)));
        let mut again = read(1, 20, 30, &[(2, &[(0, 1), (1, 1)])]);
        again.amend_returned(0, |v| v.items = Some(vec![3, 7].into()));
        let report = end_state(&[remove.clone(), again.clone()], &[(2, &[(0, 1), (1, 1)])], &[]);
        assert_eq!(report.resurfaced_deletes, 1);
        let mut add = write(1, 12, 14, 3, &[(0, 2)]);
        add.set_cart(Some(CartOp::Add(7)));
        let report = end_state(&[remove, add, again], &[(2, &[(0, 1), (1, 1)])], &[]);
        assert_eq!(report.resurfaced_deletes, 0, "re-added after the remove");
    }

    /// The time bounds of a resurfaced delete: only a read invoked after the
    /// remove completed counts, and only an add invoked after the remove was
    /// invoked and before that read completed excuses it.
    #[test]
    fn a_resurfaced_delete_needs_a_read_after_the_remove_and_no_add_between() {
        let mut remove = write(1, 10, 20, 1, &[(0, 1)]);
        remove.set_cart(Some(CartOp::Remove(7)));
        let item_read = |invoke: u64, complete: u64| {
            let mut read = read(1, invoke, complete, &[(2, &[(0, 1), (1, 1)])]);
            read.amend_returned(0, |v| v.items = Some(vec![7].into()));
            read
        };
        let add = |invoke: u64| {
            let mut add = write(1, invoke, invoke + 1, 3, &[(0, 2)]);
            add.set_cart(Some(CartOp::Add(7)));
            add
        };
        let held: &[(u64, &[(u32, u64)])] = &[(2, &[(0, 1), (1, 1)])];
        let resurfaced = |history: &[OpRecord]| end_state(history, held, &[]).resurfaced_deletes;
        // Reads overlapping the remove, or invoked as it completed, may still see the item.
        assert_eq!(resurfaced(&[remove.clone(), item_read(15, 25)]), 0, "invoked before the remove completed");
        assert_eq!(resurfaced(&[remove.clone(), item_read(20, 30)]), 0, "invoked as the remove completed");
        assert_eq!(resurfaced(&[remove.clone(), item_read(21, 30)]), 1);
        // An add excuses the item only if invoked after the remove and before the read completed.
        assert_eq!(resurfaced(&[remove.clone(), add(10), item_read(21, 30)]), 1, "an add as old as the remove");
        assert_eq!(resurfaced(&[remove.clone(), add(11), item_read(21, 30)]), 0);
        assert_eq!(resurfaced(&[remove.clone(), add(29), item_read(21, 30)]), 0);
        assert_eq!(resurfaced(&[remove, add(30), item_read(21, 30)]), 1, "an add invoked as the read completed");
    }
}

/// The checks walk the history in pieces of whole keys on every core
/// (`pieces`): a run's report must not depend on the pieces' size nor on
/// the number of threads. The scenarios make every kind of finding occur
/// somewhere (asserted below, or the test could not fail): stale reads by
/// both checks, lost writes to a disk, lost updates, last-write-wins
/// overwrites, siblings, resurfaced cart deletes.
#[test]
fn a_report_is_the_same_in_any_pieces_on_any_number_of_threads() {
    let names = ["max-availability-n3r1w1", "disk-loss-w1", "lww-clock-skew", "cart-merge-n3r2w2", "buffered-writes"];
    let mut seen = ConsistencyReport::default();
    for name in names {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
        let scenario = crate::Scenario::load(&path).expect("a bundled scenario loads");
        let outcome = crate::sim::Simulation::new(&scenario, 3).run();
        let whole = crate::check_outcome_in_pieces(&outcome, true, usize::MAX);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            for piece_ops in [1, 7, 100] {
                let pieces = pool.install(|| crate::check_outcome_in_pieces(&outcome, true, piece_ops));
                assert_eq!(pieces, whole, "{name}: pieces of {piece_ops} on {threads} threads");
            }
        }
        seen.stale_reads += whole.stale_reads;
        seen.realtime_stale_reads += whole.realtime_stale_reads;
        seen.lost_writes_disk_or_buffer += whole.lost_writes_disk_or_buffer;
        seen.lost_writes_overwritten += whole.lost_writes_overwritten;
        seen.lost_updates += whole.lost_updates;
        seen.lww_lost_updates += whole.lww_lost_updates;
        seen.resurfaced_deletes += whole.resurfaced_deletes;
        seen.reads_of_written_keys += whole.reads_of_written_keys;
        seen.siblings_per_read.extend(whole.siblings_per_read.into_iter().filter(|(count, _)| count.as_str() > "1"));
    }
    assert!(seen.stale_reads > 0 && seen.realtime_stale_reads > 0, "stale reads: {seen:?}");
    assert!(seen.lost_writes_disk_or_buffer > 0 && seen.lost_writes_overwritten > 0, "lost writes: {seen:?}");
    assert!(seen.lost_updates > 0 && seen.lww_lost_updates > 0, "lost updates: {seen:?}");
    assert!(seen.reads_of_written_keys > 0 && !seen.siblings_per_read.is_empty(), "reads: {seen:?}");
}

/// What a resurfaced delete is, word for word (DESIGN.md), one remove,
/// read and add at a time: the oracle for the checker's sorted walk.
fn resurfaced_by_definition(history: &[OpRecord]) -> u64 {
    let removes = history.iter().filter(|op| op.is_acknowledged_write()).filter_map(|op| match op.cart() {
        Some(CartOp::Remove(item)) => Some((op.key, item, op.invoke, op.complete()?)),
        _ => None,
    });
    let returns = |read: &OpRecord, item: u32| {
        read.returned().iter().any(|v| v.items.as_deref().is_some_and(|items| items.contains(&item)))
    };
    let added_between = |key: u64, item: u32, after: Time, before: Time| {
        history
            .iter()
            .any(|op| op.key == key && op.cart() == Some(CartOp::Add(item)) && op.invoke > after && op.invoke < before)
    };
    let resurfaces = |(key, item, removed_invoke, removed_at): (u64, u32, Time, Time)| {
        history.iter().any(|read| {
            read.key == key
                && read.kind == OpKind::Read
                && read.outcome == Outcome::Ok
                && read.invoke > removed_at
                && returns(read, item)
                && !added_between(key, item, removed_invoke, read.complete().unwrap_or(read.invoke))
        })
    };
    removes.filter(|&remove| resurfaces(remove)).count() as u64
}

proptest::proptest! {
    /// The checker's count of resurfaced deletes, by sorted walks, is the
    /// definition's on small random cart histories of two keys: adds and
    /// removes of three items, acknowledged or timed out, and reads
    /// (successful or not) returning up to two siblings — crowded into 40
    /// µs so that every boundary (a read invoked as a remove completes, an
    /// add invoked as a read completes) occurs.
    #[test]
    fn resurfaced_deletes_are_counted_as_defined(
        ops in proptest::collection::vec(
            (0u64..2, 0u8..3, 0u32..3, 0u64..40, 0u64..8, proptest::bool::weighted(0.8),
             proptest::collection::vec(0u8..8, 1..3)),
            0..30,
        )
    ) {
        let history: Vec<OpRecord> = ops
            .iter()
            .enumerate()
            .map(|(id, &(key, kind, item, invoke, took, ok, ref siblings))| {
                let id = id as u64 + 1;
                let mut op = if kind == 2 {
                    let returned: Vec<(u64, &[(u32, u64)])> = siblings.iter().map(|_| (id, &[(0, 1)][..])).collect();
                    let mut read = read(key, invoke, invoke + took, &returned);
                    for (at, &bits) in siblings.iter().enumerate() {
                        let items: Vec<u32> = (0..3).filter(|i| bits & (1 << i) != 0).collect();
                        read.amend_returned(at, |v| v.items = Some(std::sync::Arc::new(items)));
                    }
                    read
                } else {
                    let mut write = write(key, invoke, invoke + took, id, &[(0, id)]);
                    write.set_cart(Some(if kind == 0 { CartOp::Add(item) } else { CartOp::Remove(item) }));
                    write
                };
                if !ok {
                    op.outcome = Outcome::TimedOut;
                }
                op
            })
            .collect();
        proptest::prop_assert_eq!(durability::resurfaced_deletes(&history), resurfaced_by_definition(&history));
    }
}
