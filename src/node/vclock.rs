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

/// One actor's counter in a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClockEntry {
    /// The actor that coordinated the writes counted here.
    pub actor: Actor,
    /// How many writes that actor has coordinated in this version's history.
    pub counter: u64,
    /// When the node last incremented this entry (used to pick the oldest
    /// entry on truncation; not part of causality).
    pub timestamp: Time,
}

/// A vector clock: entries sorted by actor, no zero counters.
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

    /// The entries, sorted by actor.
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

    /// The counter for `actor` (0 when absent).
    pub fn counter(&self, actor: impl Into<Actor>) -> u64 {
        match self.entries.binary_search_by_key(&actor.into(), |e| e.actor) {
            Ok(i) => self.entries[i].counter,
            Err(_) => 0,
        }
    }

    /// Sets `actor`'s counter (must not decrease it) and stamps the entry with `now`.
    pub fn set(&mut self, actor: impl Into<Actor>, counter: u64, now: Time) {
        assert!(counter > 0, "clock counters start at 1");
        let actor = actor.into();
        let entry = ClockEntry { actor, counter, timestamp: now };
        let entries = &self.entries;
        // Built straight into the shared list: the iterators know their
        // length, so one allocation (a `Vec` first, then the list, made two).
        self.entries = match entries.binary_search_by_key(&actor, |e| e.actor) {
            Ok(i) => {
                assert!(counter >= entries[i].counter, "a clock entry never decreases");
                entries.iter().enumerate().map(|(j, old)| if j == i { entry } else { *old }).collect()
            }
            Err(i) => {
                entries[..i].iter().copied().chain(std::iter::once(entry)).chain(entries[i..].iter().copied()).collect()
            }
        };
    }

    /// Adds one to `actor`'s counter.
    pub fn increment(&mut self, actor: impl Into<Actor>, now: Time) {
        let actor = actor.into();
        let next = self.counter(actor) + 1;
        self.set(actor, next, now);
    }

    /// True when this clock has seen `dot`: its actor's counter reaches it.
    pub fn contains(&self, dot: Dot) -> bool {
        self.counter(dot.actor) >= dot.counter
    }

    /// The least clock that descends from both: entry-wise maximum (the
    /// timestamp of the larger counter; the later one on a tie).
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
        let mut entries: SmallVec<[ClockEntry; 8]> = SmallVec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let pick = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.actor == y.actor => {
                    i += 1;
                    j += 1;
                    match x.counter.cmp(&y.counter) {
                        Ordering::Greater => *x,
                        Ordering::Less => *y,
                        Ordering::Equal => {
                            if x.timestamp >= y.timestamp {
                                *x
                            } else {
                                *y
                            }
                        }
                    }
                }
                (Some(x), Some(y)) if x.actor < y.actor => {
                    i += 1;
                    *x
                }
                (Some(_), Some(y)) => {
                    j += 1;
                    *y
                }
                (Some(x), None) => {
                    i += 1;
                    *x
                }
                (None, Some(y)) => {
                    j += 1;
                    *y
                }
                (None, None) => unreachable!("loop condition"),
            };
            entries.push(pick);
        }
        VectorClock { entries: Arc::from(&entries[..]) }
    }

    /// How `self` relates to `other`.
    pub fn compare(&self, other: &VectorClock) -> Causality {
        let (a, b) = (&self.entries, &other.entries);
        let (mut self_greater, mut other_greater) = (false, false);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let (x, y) = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.actor == y.actor => {
                    i += 1;
                    j += 1;
                    (x.counter, y.counter)
                }
                (Some(x), Some(y)) if x.actor < y.actor => {
                    i += 1;
                    (x.counter, 0)
                }
                (Some(_), Some(y)) => {
                    j += 1;
                    (0, y.counter)
                }
                (Some(x), None) => {
                    i += 1;
                    (x.counter, 0)
                }
                (None, Some(y)) => {
                    j += 1;
                    (0, y.counter)
                }
                (None, None) => unreachable!("loop condition"),
            };
            self_greater |= x > y;
            other_greater |= y > x;
            if self_greater && other_greater {
                return Causality::Concurrent;
            }
        }
        match (self_greater, other_greater) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (true, true) => Causality::Concurrent,
        }
    }

    /// True when `self` descends from (or equals) `other`: every entry of
    /// `other` is ≤ the same entry of `self`.
    ///
    /// [`VectorClock::compare`] answers more than this needs: here one
    /// walk of `other`'s entries stops at the first that `self` lacks or
    /// holds lower (covering a write that was stored is the store's most
    /// frequent question; on blind writes, whose siblings it asks about,
    /// the full comparison took 7 % of a run).
    pub fn descends(&self, other: &VectorClock) -> bool {
        let mut mine = self.entries.iter();
        'theirs: for theirs in other.entries.iter().filter(|entry| entry.counter > 0) {
            for entry in mine.by_ref() {
                if entry.actor == theirs.actor {
                    if entry.counter < theirs.counter {
                        return false;
                    }
                    continue 'theirs;
                }
                if entry.actor > theirs.actor {
                    return false; // `self` has no entry for `theirs`' actor: a count of zero
                }
            }
            return false; // past `self`'s last entry
        }
        true
    }

    /// Drops the oldest entries (by timestamp, then actor) until at most
    /// `max_entries` remain, as Dynamo §4.4 does — never `keep`'s entry (the
    /// writer's fresh increment, which a skewed clock could make look
    /// oldest). Returns how many were dropped.
    pub fn truncate(&mut self, max_entries: usize, keep: Actor) -> usize {
        let mut entries = self.entries.to_vec();
        let mut dropped = 0;
        while entries.len() > max_entries.max(1) {
            let oldest = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.actor != keep)
                .min_by_key(|(_, e)| (e.timestamp, e.actor))
                .map(|(i, _)| i)
                .expect("non-empty clock");
            entries.remove(oldest);
            dropped += 1;
        }
        if dropped > 0 {
            self.entries = entries.into();
        }
        dropped
    }

    /// Bytes this clock takes on the wire: 4 (node id) + 8 (counter) + 8
    /// (timestamp) per entry (the epoch fits the node id's spare bits).
    pub fn wire_bytes(&self) -> u64 {
        20 * self.entries.len() as u64
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

    fn arb_clock() -> impl Strategy<Value = VectorClock> {
        proptest::collection::btree_map(0u32..6, 1u64..5, 0..6).prop_map(|m| {
            let mut c = VectorClock::new();
            for (node, counter) in m {
                c.set(NodeId(node), counter, Time(counter * 7 + u64::from(node)));
            }
            c
        })
    }

    fn counters(c: &VectorClock) -> Vec<(Actor, u64)> {
        c.entries().iter().map(|e| (e.actor, e.counter)).collect()
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
        fn descends_is_after_or_equal(a in arb_clock(), b in arb_clock()) {
            prop_assert_eq!(a.descends(&b), matches!(a.compare(&b), Causality::After | Causality::Equal));
            let merged = a.merge(&b);
            prop_assert!(merged.descends(&a) && merged.descends(&b) && a.descends(&a));
            prop_assert_eq!(a.descends(&merged), counters(&merged) == counters(&a));
        }

        #[test]
        fn increment_strictly_advances(a in arb_clock(), node in 0u32..8) {
            let mut next = a.clone();
            next.increment(NodeId(node), Time(1_000));
            prop_assert_eq!(next.compare(&a), Causality::After);
        }
    }
}
