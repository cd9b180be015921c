//! How the versions of one key are ordered: vector clocks (Dynamo §4.4),
//! dotted version vectors (Preguiça et al., "Dotted Version Vectors:
//! Logical Clocks for Optimistic Replication", 2010; Riak 2.0's
//! `dvv_enabled`), or last-write-wins timestamps.
//!
//! Every version carries its own dot (the actor and counter that made it)
//! and a clock. Under vector clocks the clock includes the dot, and a
//! version covers another when its clock descends from the other's. Under
//! dotted version vectors the clock is the causal context the write was
//! made with (what its writer had seen) plus the dot alone — not, as a
//! vector clock's entry would, every earlier counter of its actor — and a
//! version covers another exactly when its clock includes the other's dot.
//! So two writes made through one coordinator from the same context are
//! siblings, where server-side vector clocks silently let the second
//! overwrite the first; and a client that read only the second does not
//! supersede the first. A clock counts an actor's counters in ranges
//! ([`VectorClock::count_range`]): a dot's range reaches back to the
//! previous dot its actor made for the key, so a chain of writes through
//! one coordinator keeps one entry for it.

use super::vclock::{Dot, VectorClock};
use crate::protocol::Version;
use crate::types::Time;
use serde::Serialize;

/// The versioning scheme of a run (`[reconciliation] policy` and `clocks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// Server-side vector clocks, as the Dynamo paper describes.
    #[default]
    VectorClocks,
    /// Dotted version vectors: a dot plus the writer's causal context.
    DottedVersionVectors,
    /// Last-write-wins by (timestamp, writer).
    LastWriteWins,
}

impl Versioning {
    /// True when `newer` is `older` or supersedes it.
    pub fn covers(self, newer: &Version, older: &Version) -> bool {
        match self {
            Versioning::LastWriteWins => newer.stamp() >= older.stamp(),
            Versioning::VectorClocks if newer.clock_is_dot() && older.clock_is_dot() => {
                // Clocks of one entry each, their versions' dots: compared
                // from the versions, without reading the clocks' entries
                // (on blind writes nearly every clock, and every comparison
                // of a new sibling with those held).
                let covers = newer.dot.actor == older.dot.actor && newer.dot.counter >= older.dot.counter;
                debug_assert_eq!(covers, newer.clock.descends(&older.clock), "{newer:?} over {older:?}");
                covers
            }
            Versioning::VectorClocks => newer.clock.descends(&older.clock),
            Versioning::DottedVersionVectors => newer.dot == older.dot || newer.clock.contains(older.dot),
        }
    }

    /// True when `newer` strictly supersedes `older` (covers it and is
    /// another version).
    pub fn supersedes(self, newer: &Version, older: &Version) -> bool {
        newer.dot != older.dot && self.covers(newer, older) && !self.covers(older, newer)
    }

    /// True when neither version covers the other: they are siblings.
    pub fn concurrent(self, a: &Version, b: &Version) -> bool {
        !self.covers(a, b) && !self.covers(b, a)
    }

    /// Everything `version` has seen, itself included: what a client's
    /// context must carry so its next write supersedes the version.
    ///
    /// A coordinator's versions carry their own dot in their clocks
    /// ([`Versioning::new_clock`]); one that does not (made by hand) adds
    /// the dot alone, which claims nothing else.
    pub fn history(self, version: &Version) -> VectorClock {
        let mut history = version.clock.clone();
        if self == Versioning::DottedVersionVectors && !history.contains(version.dot) {
            let Dot { actor, counter } = version.dot;
            history.count_range(actor, counter - 1, counter, Time(version.time_us));
        }
        history
    }

    /// The clock a coordinator stores a new version with, made by `dot`
    /// from the client's `context`; `previous` is the counter of the last
    /// dot the dot's actor made for the key before (0 for none).
    ///
    /// Under vector clocks the context with the actor's entry set to the
    /// dot (the DESIGN increment rule), which claims every earlier counter
    /// of the actor. Under dotted version vectors the context plus the
    /// range (`previous`, dot]: the dot, and the counters between that no
    /// version of the key has. Claiming more — a version vector's "every
    /// counter up to the dot" — would let a client that read this version
    /// supersede one of the actor's earlier versions it never saw, when
    /// that one is a sibling the replica it read from lacks, or a version
    /// its actor made without keeping (it coordinated for a key it did not
    /// replicate, or handed the key on, or lost it with its write buffer).
    ///
    /// Truncated to `max_entries`, never dropping the writer's own entries;
    /// returns the clock and how many entries were dropped.
    pub fn new_clock(
        self,
        context: &VectorClock,
        dot: Dot,
        previous: u64,
        now: Time,
        max_entries: usize,
    ) -> (VectorClock, usize) {
        let mut clock = context.clone();
        match self {
            Versioning::DottedVersionVectors => clock.count_range(dot.actor, previous, dot.counter, now),
            Versioning::VectorClocks | Versioning::LastWriteWins => clock.set(dot.actor, dot.counter, now),
        }
        let dropped = if clock.len() > max_entries { clock.truncate(max_entries, dot.actor) } else { 0 };
        (clock, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::vclock::Actor;
    use crate::protocol::Stamp;
    use crate::types::NodeId;

    fn dot(node: u32, counter: u64) -> Dot {
        Dot { actor: NodeId(node).into(), counter }
    }

    fn clock(pairs: &[(u32, u64)]) -> VectorClock {
        let mut c = VectorClock::new();
        for &(node, counter) in pairs {
            c.set(NodeId(node), counter, Time(0));
        }
        c
    }

    fn version(write: u64, dot: Dot, context: &[(u32, u64)]) -> Version {
        Version::of_write(write, dot, clock(context), Stamp { time_us: write, writer: 0 })
    }

    const DVV: Versioning = Versioning::DottedVersionVectors;
    const VC: Versioning = Versioning::VectorClocks;

    /// A message's size under a run's versioning skips the clocks'
    /// entries where no clock can hold a range: that is exact only if no
    /// versioning but dotted version vectors makes one, through any of the
    /// ways a clock is made (a coordinator's new clock, a version's
    /// history, a merged context, a truncation).
    #[test]
    fn only_dotted_version_vectors_make_ranges_so_sizes_under_each_are_exact() {
        let context = clock(&[(1, 4), (2, 7), (3, 1)]);
        for versioning in [VC, DVV, Versioning::LastWriteWins] {
            let (made, _) = versioning.new_clock(&context, dot(0, 9), 6, Time(5), 3);
            let stamp = Stamp { time_us: 5, writer: 0 };
            let version = Version::of_write(1, dot(0, 9), made.clone(), stamp);
            let history = versioning.history(&version);
            let merged = VectorClock::merge_all([made.clone(), context.clone(), history.clone()]);
            let ranges = versioning == DVV;
            for clock in [&made, &history, &merged] {
                assert_eq!(clock.wire_bytes_given(ranges), clock.wire_bytes(), "{versioning:?}: {clock:?}");
            }
            let message = crate::protocol::Message::ReadRepair {
                key: crate::protocol::Key::new(1),
                versions: vec![version.clone(), Version::of_write(2, dot(1, 5), merged, stamp)],
            };
            assert_eq!(message.wire_bytes_under(versioning), message.wire_bytes(), "{versioning:?}");
        }
        let (ranged, _) = DVV.new_clock(&context, dot(0, 9), 6, Time(5), 10);
        // The flag matters under DVV: a range adds bytes (asking without it
        // would trip the clock's own debug check).
        assert!(ranged.wire_bytes() > 20 * ranged.len() as u64, "a range is counted");
    }

    /// The paper's running example (Preguiça et al. 2010, §4–5): a server
    /// `a` receives two writes from clients that both read nothing, then a
    /// write from a client that read the first.
    #[test]
    fn dvv_update_makes_concurrent_writes_through_one_server_siblings() {
        // update([], a) twice with an empty context: (a,1) and (a,2), context {}.
        let v1 = version(1, dot(0, 1), &[]);
        let v2 = version(2, dot(0, 2), &[]);
        assert!(DVV.concurrent(&v1, &v2), "same server, same empty context: siblings");
        // A write that read v1: dot (a,3), context {a:1}. It supersedes v1 only.
        let v3 = version(3, dot(0, 3), &[(0, 1)]);
        assert!(DVV.supersedes(&v3, &v1));
        assert!(DVV.concurrent(&v3, &v2), "v3's writer never saw (a,2)");
        // The same three under server-side vector clocks: {a:1}, {a:2}, {a:3}
        // form a chain, so v2 silently overwrites v1 (a lost update).
        let c1 = version(1, dot(0, 1), &[(0, 1)]);
        let c2 = version(2, dot(0, 2), &[(0, 2)]);
        assert!(VC.supersedes(&c2, &c1));
    }

    /// sync: a version survives the merge of two sets exactly when no
    /// version of the other set covers it (the paper's `sync`).
    #[test]
    fn dvv_sync_keeps_what_no_version_covers() {
        let x = version(1, dot(0, 1), &[]);
        let y = version(2, dot(1, 1), &[]);
        let z = version(3, dot(0, 2), &[(0, 1), (1, 1)]);
        let kept = crate::node::store::reconcile([&x, &y, &z], DVV);
        assert_eq!(kept, vec![z.clone()], "z's context holds both dots");
        let kept = crate::node::store::reconcile([&x, &y], DVV);
        assert_eq!(kept.len(), 2);
    }

    /// join: the context a client carries is the union of the histories
    /// of what it read, dots included.
    #[test]
    fn dvv_history_joins_context_and_dot() {
        let v = version(1, dot(2, 7), &[(0, 3)]);
        let history = DVV.history(&v);
        assert_eq!(history.counter(NodeId(0)), 3);
        assert_eq!(history.counter(NodeId(2)), 7);
        assert!(history.contains(v.dot));
        // Under vector clocks the clock already holds the dot.
        let c = version(1, dot(2, 7), &[(0, 3), (2, 7)]);
        assert_eq!(VC.history(&c), c.clock);
    }

    #[test]
    fn new_clock_claims_earlier_counters_of_its_actor_only_under_vector_clocks() {
        let context = clock(&[(1, 4)]);
        let (vc, _) = VC.new_clock(&context, dot(0, 9), 6, Time(5), 10);
        assert_eq!(vc.counter(NodeId(0)), 9);
        assert!(vc.contains(dot(0, 5)), "a vector clock's entry claims every earlier counter");
        let (dvv, _) = DVV.new_clock(&context, dot(0, 9), 6, Time(5), 10);
        assert!(dvv.contains(dot(0, 9)) && dvv.contains(dot(1, 4)));
        assert!(!dvv.contains(dot(0, 6)) && !dvv.contains(dot(0, 5)), "only from the actor's previous dot on");
        // A context that saw the previous dot joins the range into one entry.
        let (joined, _) = DVV.new_clock(&clock(&[(0, 6)]), dot(0, 9), 6, Time(5), 10);
        assert_eq!(joined.entries().len(), 1);
        assert!((1..=9).all(|counter| joined.contains(dot(0, counter))));
    }

    /// Two blind writes through one coordinator, (a,1) and (a,2): a client
    /// that read only the second (from a replica the first never reached)
    /// and writes through b must leave the first a sibling. A version
    /// vector's context {a:2} covered (a,1) too: a lost update.
    #[test]
    fn dvv_a_reader_of_the_later_dot_does_not_supersede_the_earlier_one_it_never_saw() {
        let made = |write, dot: Dot, previous, context: &VectorClock| {
            let (clock, _) = DVV.new_clock(context, dot, previous, Time(write), 10);
            Version::of_write(write, dot, clock, Stamp { time_us: write, writer: 0 })
        };
        let first = made(1, dot(0, 1), 0, &VectorClock::new());
        let second = made(2, dot(0, 2), 1, &VectorClock::new());
        assert!(DVV.concurrent(&first, &second));
        let context = DVV.history(&second);
        let third = made(3, dot(1, 1), 0, &context);
        assert!(DVV.supersedes(&third, &second));
        assert!(DVV.concurrent(&third, &first), "its writer never saw (a,1)");
        // A reader of both supersedes both, with one entry for a.
        let both = DVV.history(&first).merge(&DVV.history(&second));
        assert_eq!(both.entries().len(), 1);
        let fourth = made(4, dot(1, 2), 1, &both);
        assert!(DVV.supersedes(&fourth, &first) && DVV.supersedes(&fourth, &second));
    }

    #[test]
    fn truncation_keeps_the_writer_and_counts_drops() {
        let context = clock(&[(1, 1), (2, 1), (3, 1)]);
        let (vc, dropped) = VC.new_clock(&context, dot(0, 1), 0, Time(5), 2);
        assert_eq!((vc.len(), dropped), (2, 2));
        assert_eq!(vc.counter(NodeId(0)), 1);
    }

    #[test]
    fn epochs_are_distinct_actors() {
        let old = Actor { node: NodeId(0), epoch: 0 };
        let new = Actor { node: NodeId(0), epoch: 1 };
        let before = version(1, Dot { actor: old, counter: 5 }, &[]);
        let mut c = VectorClock::new();
        c.set(old, 5, Time(0));
        let before = before.changed(|v| v.clock = c);
        let mut c = VectorClock::new();
        c.set(new, 1, Time(0));
        let after = version(2, dot(0, 1), &[]).changed(|v| (v.clock, v.dot) = (c, Dot { actor: new, counter: 1 }));
        assert!(VC.concurrent(&before, &after), "a reset counter never looks like an ancestor");
    }

    /// A blind write's clock is its own dot, so two such versions are
    /// compared by their dots; a version made by hand whose one clock entry
    /// is not its dot is compared by its clock, as before.
    #[test]
    fn blind_writes_compare_by_their_dots_and_other_versions_by_their_clocks() {
        let blind = |write, dot: Dot| {
            let (clock, _) = VC.new_clock(&VectorClock::new(), dot, 0, Time(write), 10);
            Version::of_write(write, dot, clock, Stamp { time_us: write, writer: 0 })
        };
        let (first, second, elsewhere) = (blind(1, dot(0, 1)), blind(2, dot(0, 2)), blind(3, dot(1, 1)));
        assert!([&first, &second, &elsewhere].iter().all(|v| v.clock_is_dot()));
        assert!(VC.supersedes(&second, &first) && !VC.covers(&first, &second));
        assert!(VC.concurrent(&second, &elsewhere) && VC.concurrent(&first, &elsewhere));
        assert!(VC.covers(&first, &first));
        // One entry, {n0:5}, but the dot n1:1: not the dot, so the clock decides.
        let by_hand = version(4, dot(1, 1), &[(0, 5)]);
        assert!(!by_hand.clock_is_dot());
        assert!(VC.supersedes(&by_hand, &first) && VC.concurrent(&by_hand, &elsewhere));
    }

    proptest::proptest! {
        /// Under vector clocks a version covers another exactly when its
        /// clock descends from the other's, whether the two are compared by
        /// their dots (both clocks their dots) or by their clocks: for
        /// versions a coordinator makes from any context, and versions made
        /// by hand whose clocks need not count their dots.
        #[test]
        fn covering_is_descending_however_the_versions_are_compared(
            made in proptest::collection::vec(
                (0u32..3, 1u64..4, proptest::collection::vec((0u32..3, 1u64..4), 0..3), proptest::bool::ANY),
                1..10,
            ),
        ) {
            let versions: Vec<Version> = made
                .iter()
                .enumerate()
                .map(|(write, (actor, counter, seen, by_coordinator))| {
                    let mut context = VectorClock::new();
                    for &(node, count) in seen {
                        context.set(NodeId(node), count.max(context.counter(NodeId(node))), Time(0));
                    }
                    // A coordinator's counter passes every one of its own the context saw.
                    let dot = dot(*actor, context.counter(NodeId(*actor)) + counter);
                    let clock = if *by_coordinator { VC.new_clock(&context, dot, 0, Time(0), 10).0 } else { context };
                    Version::of_write(write as u64, dot, clock, Stamp { time_us: write as u64, writer: 0 })
                })
                .collect();
            for newer in &versions {
                for older in &versions {
                    proptest::prop_assert_eq!(VC.covers(newer, older), newer.clock.descends(&older.clock));
                }
            }
        }
    }
}
