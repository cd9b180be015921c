//! Vector clocks (Dynamo §4.4): causality between versions of one key.
//!
//! A clock is a short list of (actor, counter) entries sorted by actor, each
//! with the physical time it was last incremented — the timestamp Dynamo's
//! truncation uses to drop the oldest entry.

use crate::types::{NodeId, Time};
use serde::Serialize;
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::sync::Arc;

/// How two clocks relate causally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    /// The first clock happened before the second (the second descends from it).
    Before,
    /// The first clock descends from the second.
    After,
    /// The clocks are identical.
    Equal,
    /// Neither descends from the other: the versions are siblings.
    Concurrent,
}

/// Who counts in a clock: a node in one life of its disk.
///
/// A disk loss forgets the node's counters, so the node starts a new
/// epoch: its new versions can never reuse a (node, counter) pair of its
/// old ones and look like their ancestors (Riak learned this and moved to
/// per-incarnation actor ids). The epoch lives outside the data disk, as
/// an operator-assigned generation would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Actor {
    /// The node.
    pub node: NodeId,
    /// Its disk life: 0 until its first disk loss.
    pub epoch: u32,
}

impl Actor {
    /// The actor as one number in the actors' order (node, then epoch):
    /// the clocks' hot comparisons make one comparison of it.
    fn rank(self) -> u64 {
        u64::from(self.node.0) << 32 | u64::from(self.epoch)
    }
}

impl From<NodeId> for Actor {
    fn from(node: NodeId) -> Actor {
        Actor { node, epoch: 0 }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.epoch {
            0 => self.node.fmt(f),
            epoch => write!(f, "{}#{epoch}", self.node),
        }
    }
}

/// A version's own identity: the actor that made it and the counter it
/// drew. Two coordinations of one client write (a retry, a re-forward)
/// make two versions with two dots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Dot {
    /// Who made the version.
    pub actor: Actor,
    /// The actor's counter for it (unique per actor).
    pub counter: u64,
}

impl std::fmt::Display for Dot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.actor, self.counter)
    }
}

/// A range of one actor's counters in a clock: (`floor`, `counter`].
///
/// A vector clock's entry counts every counter of its actor up to its own
/// (`floor` 0). Under dotted version vectors a version counts its own dot
/// only from the previous dot its actor made for the key, so a clock can
/// hold several ranges of one actor with gaps between them: the dots it
/// never saw (see [`VectorClock::count_range`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClockEntry {
    /// The actor that coordinated the writes counted here.
    pub actor: Actor,
    /// The highest counter of the range: under vector clocks, how many
    /// writes that actor has coordinated in this version's history.
    pub counter: u64,
    /// The counter the range starts after (0 for a vector clock's entry).
    #[serde(skip_serializing_if = "is_zero")]
    pub floor: u64,
    /// When the node last incremented this entry (used to pick the oldest
    /// entry on truncation; not part of causality).
    pub timestamp: Time,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl ClockEntry {
    /// Joins `other`, a range of the same actor that starts inside or
    /// right after this one (and not before it): the longer reach wins, and
    /// its timestamp (the later one on a tie, so a merge never makes a
    /// fresh entry look old to truncation).
    fn join(&mut self, other: ClockEntry) {
        match other.counter.cmp(&self.counter) {
            Ordering::Greater => (self.counter, self.timestamp) = (other.counter, other.timestamp),
            Ordering::Equal => self.timestamp = self.timestamp.max(other.timestamp),
            Ordering::Less => {}
        }
    }
}

impl std::fmt::Display for ClockEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.floor {
            0 => write!(f, "{}:{}", self.actor, self.counter),
            floor => write!(f, "{}:({floor},{}]", self.actor, self.counter),
        }
    }
}

/// A vector clock: entries sorted by actor, then counter, no zero
/// counters; one actor's entries are disjoint ranges with a gap between
/// each two (a plain vector clock has one entry per actor, from 0).
///
/// The entries are shared, immutable once built: a version's clock is
/// copied into every replica read, reply, client context and history
/// record, so a copy is a reference-count increment, and the rare change
/// (a coordinator's increment, a merge, a truncation) builds a new list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VectorClock {
    entries: Arc<[ClockEntry]>,
}

impl VectorClock {
    /// The empty clock (the context of a blind write).
    pub fn new() -> Self {
        VectorClock::default()
    }

    /// The entries, sorted by actor, then counter.
    pub fn entries(&self) -> &[ClockEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for the empty clock.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where `actor`'s entries lie in the list (one, under vector clocks).
    fn span_of(&self, actor: Actor) -> std::ops::Range<usize> {
        let rank = actor.rank();
        let start = self.entries.partition_point(|e| e.actor.rank() < rank);
        start..start + self.entries[start..].iter().take_while(|e| e.actor.rank() == rank).count()
    }

    /// The highest counter the clock counts for `actor` (0 when none).
    pub fn counter(&self, actor: impl Into<Actor>) -> u64 {
        let span = self.span_of(actor.into());
        self.entries[span].last().map_or(0, |e| e.counter)
    }

    /// Sets `actor`'s counter (must not decrease it): the clock then counts
    /// every counter of the actor up to it, in one entry stamped with `now`.
    pub fn set(&mut self, actor: impl Into<Actor>, counter: u64, now: Time) {
        assert!(counter > 0, "clock counters start at 1");
        let actor = actor.into();
        let span = self.span_of(actor);
        let entries = &self.entries;
        assert!(entries[span.clone()].last().is_none_or(|e| counter >= e.counter), "a clock entry never decreases");
        let entry = ClockEntry { actor, counter, floor: 0, timestamp: now };
        // Built straight into the shared list: the iterators know their
        // length, so one allocation (a `Vec` first, then the list, made two).
        self.entries = entries[..span.start]
            .iter()
            .copied()
            .chain(std::iter::once(entry))
            .chain(entries[span.end..].iter().copied())
            .collect();
    }

    /// Adds one to `actor`'s counter.
    pub fn increment(&mut self, actor: impl Into<Actor>, now: Time) {
        let actor = actor.into();
        let next = self.counter(actor) + 1;
        self.set(actor, next, now);
    }

    /// Counts `actor`'s counters in (`floor`, `counter`] as well, joined
    /// with the ranges they meet or touch: how a dotted version vector's
    /// version counts its own dot, from the previous dot its actor made for
    /// the key — no dot of the key lies between, so the range claims no
    /// version its writer did not see.
    pub fn count_range(&mut self, actor: impl Into<Actor>, floor: u64, counter: u64, now: Time) {
        assert!(floor < counter, "a range holds at least its last counter");
        let range = ClockEntry { actor: actor.into(), counter, floor, timestamp: now };
        *self = self.merge(&VectorClock { entries: Arc::from([range]) });
    }

    /// True when this clock has seen `dot`: one of its actor's ranges holds
    /// the dot's counter.
    pub fn contains(&self, dot: Dot) -> bool {
        let span = self.span_of(dot.actor);
        dot.counter == 0 || self.entries[span].iter().any(|e| e.floor < dot.counter && dot.counter <= e.counter)
    }

    /// The least clock that descends from both: the union of their ranges
    /// (for vector clocks, the entry-wise maximum), each range stamped
    /// with the timestamp of the larger counter (the later one on a tie).
    ///
    /// Merging with the empty clock (a read's context starts from it) is a
    /// copy of the other, which shares its entries: no list is built.
    pub fn merge(&self, other: &VectorClock) -> VectorClock {
        let (a, b) = (&self.entries, &other.entries);
        if a.is_empty() {
            return other.clone();
        }
        if b.is_empty() {
            return self.clone();
        }
        // Merged on the stack, then copied into one shared list.
        let mut entries = SmallVec::new();
        merge_entries(a, b, &mut entries);
        VectorClock { entries: Arc::from(&entries[..]) }
    }

    /// The merge of every clock of `clocks` (the empty clock for none):
    /// what merging them one by one gives, in one shared list built at the
    /// end. A read's context merges the clocks of all its versions, and a
    /// hot key's reads return a thousand: one list a merge was 5 % of
    /// such a run.
    pub fn merge_all(clocks: impl IntoIterator<Item = VectorClock>) -> VectorClock {
        let mut clocks = clocks.into_iter().filter(|clock| !clock.is_empty());
        let Some(first) = clocks.next() else { return VectorClock::new() };
        let Some(second) = clocks.next() else { return first };
        let (mut merged, mut next) = (SmallVec::new(), SmallVec::new());
        merge_entries(&first.entries, &second.entries, &mut merged);
        for clock in clocks {
            next.clear();
            merge_entries(&merged, &clock.entries, &mut next);
            std::mem::swap(&mut merged, &mut next);
        }
        VectorClock { entries: Arc::from(&merged[..]) }
    }

    /// How `self` relates to `other`.
    pub fn compare(&self, other: &VectorClock) -> Causality {
        match (self.descends(other), other.descends(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (false, false) => Causality::Concurrent,
        }
    }

    /// True when `self` descends from (or equals) `other`: counts every
    /// counter `other` counts (for vector clocks, every entry of `other` is
    /// ≤ the same entry of `self`).
    ///
    /// One walk of both lists, stopping at the first entry of `other` that
    /// `self` lacks (covering a write that was stored is the store's most
    /// frequent question under vector clocks). For each entry of `other`,
    /// the first range of `self` of its actor that reaches as far holds it
    /// or none does (the ranges are disjoint); it may hold the next one too,
    /// so the walk stays on it.
    pub fn descends(&self, other: &VectorClock) -> bool {
        let mine = &self.entries[..];
        let mut at = 0;
        for theirs in other.entries.iter().filter(|entry| entry.counter > 0) {
            let (actor, counter) = (theirs.actor.rank(), theirs.counter);
            while mine.get(at).is_some_and(|e| (e.actor.rank(), e.counter) < (actor, counter)) {
                at += 1;
            }
            match mine.get(at) {
                Some(entry) if entry.actor.rank() == actor && entry.floor <= theirs.floor => {}
                _ => return false,
            }
        }
        true
    }

    /// The clock's actors as a set of 64 bits (a node's bit is its id
    /// mod 64, whatever its epoch): a clock that descends from another
    /// has every bit of the other's mask, so two clocks whose masks each
    /// lack a bit of the other are concurrent without a walk of either
    /// list. Siblings whose truncated clocks name different nodes are told
    /// apart so (see [`store::reconcile_onto`](super::store::reconcile_onto)).
    pub fn actor_mask(&self) -> u64 {
        self.entries.iter().filter(|e| e.counter > 0).fold(0, |mask, e| mask | 1 << (e.actor.node.0 % 64))
    }

    /// Drops the oldest entries (by timestamp, then actor) until at most
    /// `max_entries` remain, as Dynamo §4.4 does — never `keep`'s entries
    /// (the writer's fresh increment, which a skewed clock could make look
    /// oldest). Returns how many were dropped.
    pub fn truncate(&mut self, max_entries: usize, keep: Actor) -> usize {
        let mut entries = self.entries.to_vec();
        let mut dropped = 0;
        while entries.len() > max_entries {
            let oldest = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.actor != keep)
                .min_by_key(|(_, e)| (e.timestamp, e.actor))
                .map(|(i, _)| i);
            let Some(oldest) = oldest else { break }; // only `keep`'s are left
            entries.remove(oldest);
            dropped += 1;
        }
        if dropped > 0 {
            self.entries = entries.into();
        }
        dropped
    }

    /// Bytes this clock takes on the wire: 4 (node id) + 8 (counter) + 8
    /// (timestamp) per entry (the epoch fits the node id's spare bits), and
    /// 8 more for a range's floor.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes_given(true)
    }

    /// [`wire_bytes`](Self::wire_bytes), told whether the clock may hold
    /// a range at all (only dotted version vectors make them): if not,
    /// its entries are not read. A stored version's clock is an allocation
    /// of its own that nothing else on a replica's reply path reads: at a
    /// thousand nodes, counting its ranges missed the cache on most
    /// messages that carry versions.
    pub fn wire_bytes_given(&self, may_hold_ranges: bool) -> u64 {
        debug_assert!(may_hold_ranges || self.entries.iter().all(|e| e.floor == 0), "a range in {self:?}");
        let ranges = if may_hold_ranges { self.entries.iter().filter(|e| e.floor != 0).count() } else { 0 };
        20 * self.entries.len() as u64 + 8 * ranges as u64
    }
}

/// Appends to `entries` (empty) the union of `a`'s and `b`'s ranges, as
/// [`VectorClock::merge`] describes. Each list is in (actor, floor) order
/// too, as its ranges are disjoint.
fn merge_entries(a: &[ClockEntry], b: &[ClockEntry], entries: &mut SmallVec<[ClockEntry; 8]>) {
    entries.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if (x.actor, x.floor) <= (y.actor, y.floor) => {
                i += 1;
                *x
            }
            (Some(x), None) => {
                i += 1;
                *x
            }
            (_, Some(y)) => {
                j += 1;
                *y
            }
            (None, None) => unreachable!("loop condition"),
        };
        match entries.last_mut() {
            Some(last) if last.actor == next.actor && next.floor <= last.counter => last.join(next),
            _ => entries.push(next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clock(pairs: &[(u32, u64)]) -> VectorClock {
        let mut c = VectorClock::new();
        for &(node, counter) in pairs {
            c.set(NodeId(node), counter, Time(counter));
        }
        c
    }

    #[test]
    fn compare_orders_descendants_and_detects_siblings() {
        let a = clock(&[(1, 2)]);
        let b = clock(&[(1, 2), (2, 1)]);
        let c = clock(&[(1, 2), (3, 1)]);
        assert_eq!(a.compare(&b), Causality::Before);
        assert_eq!(b.compare(&a), Causality::After);
        assert_eq!(b.compare(&c), Causality::Concurrent);
        assert_eq!(b.compare(&b.clone()), Causality::Equal);
        assert_eq!(VectorClock::new().compare(&a), Causality::Before);
    }

    #[test]
    fn truncation_drops_the_oldest_entries() {
        let mut c = VectorClock::new();
        for node in 0..12u32 {
            c.set(NodeId(node), 1, Time(100 - u64::from(node)));
        }
        assert_eq!(c.truncate(10, NodeId(0).into()), 2);
        assert_eq!(c.len(), 10);
        // nodes 11 and 10 had the oldest timestamps
        assert_eq!(c.counter(NodeId(11)), 0);
        assert_eq!(c.counter(NodeId(10)), 0);
        assert_eq!(c.counter(NodeId(0)), 1);
        // The kept entry survives even when it is the oldest.
        assert_eq!(c.truncate(1, NodeId(9).into()), 9);
        assert_eq!(c.counter(NodeId(9)), 1);
    }

    #[test]
    fn actors_and_dots_print_as_node_epoch_and_counter() {
        let first_life = Actor::from(NodeId(3));
        let third_life = Actor { node: NodeId(3), epoch: 2 };
        assert_eq!(first_life.to_string(), "n3");
        assert_eq!(third_life.to_string(), "n3#2");
        assert_eq!(Dot { actor: first_life, counter: 7 }.to_string(), "n3:7");
        assert_eq!(Dot { actor: third_life, counter: 7 }.to_string(), "n3#2:7");
    }

    #[test]
    fn only_the_clock_without_entries_is_empty() {
        assert!(VectorClock::new().is_empty());
        assert!(!clock(&[(1, 1)]).is_empty());
    }

    #[test]
    fn merge_keeps_entries_sorted_by_actor() {
        let low = clock(&[(1, 1), (4, 1)]);
        let high = clock(&[(2, 3), (5, 2)]);
        let actors = |c: &VectorClock| c.entries().iter().map(|e| e.actor.node.0).collect::<Vec<_>>();
        assert_eq!(actors(&low.merge(&high)), [1, 2, 4, 5]);
        assert_eq!(actors(&high.merge(&low)), [1, 2, 4, 5]);
        assert_eq!(low.merge(&high).counter(NodeId(5)), 2);
    }

    #[test]
    fn merging_with_the_empty_clock_shares_the_other() {
        let mut clock = VectorClock::new();
        clock.set(NodeId(3), 2, Time(5));
        for merged in [VectorClock::new().merge(&clock), clock.merge(&VectorClock::new())] {
            assert_eq!(merged, clock);
            assert_eq!(merged.entries().as_ptr(), clock.entries().as_ptr(), "no new list");
        }
        assert!(VectorClock::new().merge(&VectorClock::new()).entries().is_empty());
    }

    #[test]
    fn merge_of_equal_counters_keeps_the_later_timestamp() {
        // Truncation drops the entry with the oldest timestamp, so a merge
        // must not make a fresh entry look old.
        let mut early = VectorClock::new();
        early.set(NodeId(1), 2, Time(5));
        let mut late = VectorClock::new();
        late.set(NodeId(1), 2, Time(9));
        assert_eq!(early.merge(&late).entries()[0].timestamp, Time(9));
        assert_eq!(late.merge(&early).entries()[0].timestamp, Time(9));
    }

    #[test]
    fn a_clock_costs_twenty_bytes_an_entry_on_the_wire() {
        assert_eq!(VectorClock::new().wire_bytes(), 0);
        assert_eq!(clock(&[(1, 1), (2, 4), (3, 2)]).wire_bytes(), 60);
    }

    fn dot(node: u32, counter: u64) -> Dot {
        Dot { actor: NodeId(node).into(), counter }
    }

    #[test]
    fn ranges_count_their_counters_and_leave_the_gaps_out() {
        let mut c = clock(&[(1, 3)]);
        c.count_range(NodeId(1), 5, 8, Time(9));
        assert_eq!(c.entries().len(), 2, "(0,3] and (5,8]: a gap between");
        assert!(c.contains(dot(1, 3)) && c.contains(dot(1, 6)) && c.contains(dot(1, 8)));
        assert!(!c.contains(dot(1, 4)) && !c.contains(dot(1, 5)) && !c.contains(dot(1, 9)));
        assert_eq!(c.counter(NodeId(1)), 8, "the highest counter it counts");
        // A range that touches both closes the gap.
        c.count_range(NodeId(1), 3, 5, Time(10));
        assert_eq!(c.entries().len(), 1);
        assert!((1..=8).all(|counter| c.contains(dot(1, counter))));
    }

    #[test]
    fn a_clock_with_a_gap_does_not_descend_from_one_without() {
        let mut gap = clock(&[(1, 3)]);
        gap.count_range(NodeId(1), 5, 8, Time(9));
        let full = clock(&[(1, 8)]);
        assert!(full.descends(&gap) && !gap.descends(&full));
        assert_eq!(gap.compare(&full), Causality::Before);
        assert!(gap.descends(&clock(&[(1, 3)])));
        assert_eq!(gap.merge(&full), full.merge(&gap));
        assert_eq!(gap.merge(&full).entries().len(), 1);
    }

    #[test]
    fn a_range_prints_and_travels_with_its_floor() {
        let mut c = clock(&[(1, 3)]);
        c.count_range(NodeId(1), 5, 8, Time(9));
        let texts: Vec<String> = c.entries().iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["n1:3", "n1:(5,8]"]);
        assert_eq!(c.wire_bytes(), 20 + 28);
    }

    #[test]
    fn truncation_keeps_every_range_of_the_kept_actor() {
        let mut c = clock(&[(1, 3), (2, 1)]);
        c.count_range(NodeId(1), 5, 8, Time(0));
        assert_eq!(c.truncate(1, NodeId(1).into()), 1, "only n2's entry can go");
        assert_eq!(c.entries().len(), 2);
    }

    /// A clock counting exactly `dots`, built one dot at a time.
    fn clock_of(dots: &std::collections::BTreeSet<(u32, u64)>) -> VectorClock {
        let mut c = VectorClock::new();
        for &(node, counter) in dots {
            c.count_range(NodeId(node), counter - 1, counter, Time(counter));
        }
        c
    }

    fn arb_dots() -> impl Strategy<Value = std::collections::BTreeSet<(u32, u64)>> {
        proptest::collection::btree_set((0u32..3, 1u64..12), 0..14)
    }

    /// Every dot a clock over actors 0..3 and counters 1..12 could count.
    fn universe() -> impl Iterator<Item = Dot> {
        (0u32..3).flat_map(|node| (1u64..12).map(move |counter| dot(node, counter)))
    }

    fn arb_clock() -> impl Strategy<Value = VectorClock> {
        proptest::collection::btree_map(0u32..6, 1u64..5, 0..6).prop_map(|m| {
            let mut c = VectorClock::new();
            for (node, counter) in m {
                c.set(NodeId(node), counter, Time(counter * 7 + u64::from(node)));
            }
            c
        })
    }

    fn counters(c: &VectorClock) -> Vec<(Actor, u64, u64)> {
        c.entries().iter().map(|e| (e.actor, e.floor, e.counter)).collect()
    }

    proptest! {
        #[test]
        fn merge_is_commutative(a in arb_clock(), b in arb_clock()) {
            prop_assert_eq!(counters(&a.merge(&b)), counters(&b.merge(&a)));
        }

        #[test]
        fn merge_is_associative(a in arb_clock(), b in arb_clock(), c in arb_clock()) {
            prop_assert_eq!(counters(&a.merge(&b).merge(&c)), counters(&a.merge(&b.merge(&c))));
        }

        #[test]
        fn merge_is_idempotent(a in arb_clock()) {
            prop_assert_eq!(a.merge(&a), a);
        }

        #[test]
        fn merged_clock_dominates_its_inputs(a in arb_clock(), b in arb_clock()) {
            let m = a.merge(&b);
            prop_assert!(m.descends(&a));
            prop_assert!(m.descends(&b));
        }

        #[test]
        fn compare_agrees_with_merge(a in arb_clock(), b in arb_clock()) {
            // a ≤ b exactly when merging a into b changes nothing.
            let b_absorbs_a = counters(&a.merge(&b)) == counters(&b);
            let a_absorbs_b = counters(&a.merge(&b)) == counters(&a);
            let expected = match (a_absorbs_b, b_absorbs_a) {
                (true, true) => Causality::Equal,
                (true, false) => Causality::After,
                (false, true) => Causality::Before,
                (false, false) => Causality::Concurrent,
            };
            prop_assert_eq!(a.compare(&b), expected);
        }

        #[test]
        fn descends_is_every_entry_at_least_as_high(a in arb_clock(), b in arb_clock()) {
            let entry_wise = b.entries().iter().all(|e| a.counter(e.actor) >= e.counter);
            prop_assert_eq!(a.descends(&b), entry_wise);
            let merged = a.merge(&b);
            prop_assert!(merged.descends(&a) && merged.descends(&b) && a.descends(&a));
            prop_assert_eq!(a.descends(&merged), counters(&merged) == counters(&a));
        }

        #[test]
        fn a_ranged_clock_counts_exactly_its_dots(a in arb_dots()) {
            let c = clock_of(&a);
            for d in universe() {
                prop_assert_eq!(c.contains(d), a.contains(&(d.actor.node.0, d.counter)));
            }
            // One entry per run of consecutive counters: no two touch.
            for pair in c.entries().windows(2) {
                prop_assert!(pair[0].actor != pair[1].actor || pair[1].floor > pair[0].counter);
            }
        }

        #[test]
        fn ranged_merge_is_union_and_descends_is_inclusion(a in arb_dots(), b in arb_dots()) {
            let (x, y) = (clock_of(&a), clock_of(&b));
            let m = x.merge(&y);
            for d in universe() {
                prop_assert_eq!(m.contains(d), x.contains(d) || y.contains(d));
            }
            prop_assert_eq!(counters(&m), counters(&y.merge(&x)));
            prop_assert_eq!(counters(&m), counters(&clock_of(&a.union(&b).copied().collect())));
            prop_assert_eq!(x.descends(&y), b.is_subset(&a));
        }

        #[test]
        fn a_descendant_has_every_bit_of_its_ancestors_mask(a in arb_clock(), b in arb_clock(), x in arb_dots()) {
            let ranged = clock_of(&x);
            for (p, q) in [(&a, &b), (&b, &a), (&a, &ranged), (&ranged, &a)] {
                if p.descends(q) {
                    prop_assert_eq!(q.actor_mask() & !p.actor_mask(), 0);
                }
            }
            let merged = a.merge(&b);
            prop_assert_eq!(merged.actor_mask(), a.actor_mask() | b.actor_mask());
        }

        #[test]
        fn merge_all_is_merging_one_by_one(
            plain in proptest::collection::vec(arb_clock(), 0..6),
            ranged in proptest::collection::vec(arb_dots(), 0..3),
        ) {
            let clocks: Vec<VectorClock> = plain.into_iter().chain(ranged.iter().map(clock_of)).collect();
            let one_by_one = clocks.iter().fold(VectorClock::new(), |merged, clock| merged.merge(clock));
            // Timestamps included: truncation reads them.
            prop_assert_eq!(VectorClock::merge_all(clocks), one_by_one);
        }

        #[test]
        fn increment_strictly_advances(a in arb_clock(), node in 0u32..8) {
            let mut next = a.clone();
            next.increment(NodeId(node), Time(1_000));
            prop_assert_eq!(next.compare(&a), Causality::After);
        }
    }
}
