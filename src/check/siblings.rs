//! The pairs of a read's siblings the checker counts: pairs that are not
//! concurrent (`causal-siblings` violations) and pairs of which one
//! writer saw the other's version through contexts (false conflicts).
//!
//! A read of k siblings has k² pairs, and a hot key read through a
//! partition under truncated clocks returns hundreds of siblings, again
//! and again (the 64-node row with 10 keys: reads of up to 345 siblings,
//! 32 M pairs asked, 145 k distinct, 15 M false conflicts; searching the
//! contexts back pair by pair took three quarters of the run's CPU). Here
//! each distinct set of siblings is counted once a key, and which
//! siblings each writer saw is found for all of a key's siblings at once,
//! forward over the key's writes in invoke order ([`KeySight`]).

use super::history::{OpKind, OpRecord, Outcome};
use super::lineage::Lineage;
use crate::engine::id_map::IdMap;
use crate::node::versioning::Versioning;
use crate::protocol::{Version, VersionId, WriteId};
use crate::types::Time;

/// The counted pairs of one read's siblings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SiblingPairCounts {
    /// Pairs that are not concurrent ([`non_concurrent_pairs`]).
    pub non_concurrent: u64,
    /// Pairs ordered through write contexts ([`ordered_sibling_pairs`]).
    pub ordered: u64,
}

/// Counts each read's sibling pairs, one key at a time.
pub(super) struct SiblingPairs<'c, 'a> {
    lineage: &'c Lineage<'a>,
    versioning: Versioning,
    /// Contexts precede their writers and each write is named once: what
    /// a writer saw can be found forward ([`KeySight`]).
    forward: bool,
    /// The current key's operations.
    ops: &'c [&'a OpRecord],
    /// Which of the current key's siblings each of its writers saw, once
    /// a read of two or more asks (None inside: asked pair by pair).
    /// Most keys never return siblings, and pay nothing for it.
    sight: Option<Option<KeySight>>,
    /// The counts of the current key's sets of siblings so far, by their
    /// sorted identities (looked up only: the map's order never shows).
    known: IdMap<Box<[VersionId]>, SiblingPairCounts>,
    /// Identities remembered in `known`, to bound its memory.
    known_ids: usize,
    /// Scratch: a set's sorted identities.
    ids: Vec<VersionId>,
    /// Scratch: each sibling's writer's row and its own bit in [`KeySight`].
    rows_and_bits: Vec<(Option<usize>, Option<usize>)>,
    /// Scratch: the returned versions' actor masks ([`non_concurrent_pairs`]).
    masks: Vec<u64>,
    /// Scratch: the returned siblings' bits in [`KeySight`].
    returned_bits: Vec<u64>,
}

/// The most sibling identities [`SiblingPairs`] remembers for one key
/// (24 bytes each): past it, the key's sets are forgotten and counted anew.
const KNOWN_SIBLING_IDS_MAX: usize = 1 << 20;

impl<'c, 'a> SiblingPairs<'c, 'a> {
    pub fn new(lineage: &'c Lineage<'a>, versioning: Versioning) -> Self {
        SiblingPairs {
            lineage,
            versioning,
            forward: lineage.contexts_precede_writers() && lineage.writes_named_once(),
            ops: &[],
            sight: None,
            known: IdMap::default(),
            known_ids: 0,
            ids: Vec::new(),
            rows_and_bits: Vec::new(),
            masks: Vec::new(),
            returned_bits: Vec::new(),
        }
    }

    /// Makes `ops`, one key's operations, the key at hand.
    pub fn enter_key(&mut self, ops: &'c [&'a OpRecord]) {
        self.forget_sets();
        self.ops = ops;
        self.sight = None;
    }

    fn forget_sets(&mut self) {
        self.known.clear();
        self.known_ids = 0;
    }

    /// The counted pairs of `returned`, one read's versions of the current key.
    pub fn count(&mut self, returned: &[Version]) -> SiblingPairCounts {
        if returned.len() < 2 {
            return SiblingPairCounts::default();
        }
        self.ids.clear();
        self.ids.extend(returned.iter().map(Version::id));
        self.ids.sort_unstable();
        if let Some(&counts) = self.known.get(self.ids.as_slice()) {
            return counts;
        }
        let (forward, ops, lineage) = (self.forward, self.ops, self.lineage);
        let sight = self.sight.get_or_insert_with(|| if forward { KeySight::new(ops, lineage) } else { None });
        let ordered = match sight {
            Some(sight) => sight.ordered_pairs(returned, &mut self.rows_and_bits, &mut self.returned_bits),
            None => ordered_sibling_pairs(returned, self.lineage),
        };
        let non_concurrent = non_concurrent_pairs(returned, self.versioning, &mut self.masks);
        let counts = SiblingPairCounts { non_concurrent, ordered };
        if self.known_ids + self.ids.len() > KNOWN_SIBLING_IDS_MAX {
            self.forget_sets();
        }
        self.known_ids += self.ids.len();
        self.known.insert(self.ids.as_slice().into(), counts);
        counts
    }
}

/// Pairs of returned versions that are not concurrent (one covers the other).
///
/// Under vector clocks, two versions whose clocks' actor masks each lack a
/// bit of the other are concurrent without a walk of either clock
/// ([`VectorClock::actor_mask`]; `masks` is scratch): a hot key's reads
/// under truncated clocks return a thousand siblings, half a million pairs.
///
/// [`VectorClock::actor_mask`]: crate::node::vclock::VectorClock::actor_mask
fn non_concurrent_pairs(returned: &[Version], versioning: Versioning, masks: &mut Vec<u64>) -> u64 {
    masks.clear();
    if versioning == Versioning::VectorClocks {
        masks.extend(returned.iter().map(|v| v.clock.actor_mask()));
    } else {
        masks.resize(returned.len(), 0); // equal masks: every pair is compared
    }
    let mut count = 0;
    for (i, a) in returned.iter().enumerate() {
        for (b, &mask) in returned[i + 1..].iter().zip(&masks[i + 1..]) {
            let apart = masks[i] & !mask != 0 && mask & !masks[i] != 0;
            count += u64::from(!apart && !versioning.concurrent(a, b));
        }
    }
    count
}

/// Sibling pairs where one version is an ancestor of the other through
/// the contexts writes were made with, asked pair by pair (the
/// definition; any history).
fn ordered_sibling_pairs(returned: &[Version], lineage: &Lineage) -> u64 {
    let mut count = 0;
    for (i, a) in returned.iter().enumerate() {
        for b in &returned[i + 1..] {
            let ordered = lineage.saw_version(b.write, a.id()) || lineage.saw_version(a.write, b.id());
            count += u64::from(ordered);
        }
    }
    count
}

/// Which of one key's siblings (versions some read returned with
/// another) each of the key's writes saw, directly in its context or
/// through the contexts of the writes it names: [`Lineage::saw_version`]
/// for every writer and sibling at once.
///
/// Built forward, a row of bits a write, in invoke order: a write's row
/// is the siblings its context names and the rows of the writes it
/// names. That is exact when contexts precede their writers and each
/// write is named once: every write on a path back from a writer to a
/// context naming a sibling was then invoked after that sibling, so the
/// bounds of `saw_version`'s search back cut no path off. Rows are kept
/// for the writes invoked between the first and the last sibling's
/// writes only: a write invoked earlier saw no sibling, and no write in
/// between names a later one.
struct KeySight {
    /// The siblings' sorted identities; bit i of a row stands for the i-th.
    siblings: Vec<VersionId>,
    /// The key's writes → their place in invoke order.
    places: Vec<(WriteId, usize)>,
    /// The place of the first write with a row.
    first_row: usize,
    /// Words a row.
    words: usize,
    /// The rows, one after the other.
    bits: Vec<u64>,
}

/// The most words [`KeySight`] takes for one key (128 MiB); a key that
/// would need more is asked pair by pair.
const KEY_SIGHT_WORDS_MAX: usize = 1 << 24;

impl KeySight {
    /// The sight of the key whose operations are `ops`; None when it
    /// would take more than [`KEY_SIGHT_WORDS_MAX`] words, or a read
    /// returned or a context named another key's write (histories made by
    /// hand), which only the search back answers as defined.
    fn new(ops: &[&OpRecord], lineage: &Lineage) -> Option<KeySight> {
        let named = |id: &VersionId| lineage.invoked(id.write);
        let reads = ops.iter().filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok);
        let returned = reads.filter(|op| op.returned().len() > 1).flat_map(|op| op.returned());
        // A sibling the history does not name is never seen: it gets no bit.
        let mut siblings: Vec<VersionId> = returned.map(Version::id).filter(|id| named(id).is_some()).collect();
        siblings.sort_unstable();
        siblings.dedup();
        let mut writes: Vec<(Time, WriteId, &OpRecord)> =
            ops.iter().filter_map(|op| Some((op.invoke, op.write()?, *op))).collect();
        writes.sort_unstable_by_key(|&(invoke, write, _)| (invoke, write));
        let mut places: Vec<(WriteId, usize)> = writes.iter().enumerate().map(|(at, &(_, w, _))| (w, at)).collect();
        places.sort_unstable();
        let of_key = |write: WriteId| places.binary_search_by_key(&write, |&(w, _)| w).is_ok();
        if !siblings.iter().all(|id| of_key(id.write)) {
            return None; // a read returned another key's version
        }
        let first = siblings.iter().filter_map(named).min().unwrap_or(Time::ZERO);
        let last = siblings.iter().filter_map(named).max().unwrap_or(Time::ZERO);
        let first_row = writes.partition_point(|&(invoke, _, _)| invoke < first);
        let end_row = writes.partition_point(|&(invoke, _, _)| invoke <= last);
        let words = siblings.len().div_ceil(64);
        let rows = end_row.saturating_sub(first_row);
        if rows.checked_mul(words)? > KEY_SIGHT_WORDS_MAX {
            return None;
        }
        let mut sight = KeySight { siblings, places, first_row, words, bits: vec![0; rows * words] };
        for (row, &(_, _, op)) in writes[first_row..end_row].iter().enumerate() {
            for id in op.context() {
                if let Ok(bit) = sight.siblings.binary_search(id) {
                    sight.bits[row * words + bit / 64] |= 1 << (bit % 64);
                }
                match sight.place(id.write) {
                    Some(place) if place < first_row => {} // saw no sibling
                    Some(place) if place - first_row < row => {
                        let (done, rest) = sight.bits.split_at_mut(row * words);
                        let named = &done[(place - first_row) * words..][..words];
                        rest[..words].iter_mut().zip(named).for_each(|(mine, theirs)| *mine |= theirs);
                    }
                    Some(_) => return None, // names itself or a later write: contexts out of order
                    None if lineage.record(id.write).is_some() => return None, // another key's write
                    None => {}              // a write the history does not name saw nothing
                }
            }
        }
        Some(sight)
    }

    /// The place in invoke order of the key's write `write`.
    fn place(&self, write: WriteId) -> Option<usize> {
        let at = self.places.binary_search_by_key(&write, |&(w, _)| w).ok()?;
        Some(self.places[at].1)
    }

    /// The row of `write`, if it has one (else it saw no sibling).
    fn row(&self, write: WriteId) -> Option<usize> {
        self.place(write)?.checked_sub(self.first_row).filter(|row| (row + 1) * self.words <= self.bits.len())
    }

    /// True when the writer whose row is `row` saw the sibling whose bit is `bit`.
    fn saw(&self, row: Option<usize>, bit: Option<usize>) -> bool {
        match (row, bit) {
            (Some(row), Some(bit)) => self.bits[row * self.words + bit / 64] & (1 << (bit % 64)) != 0,
            _ => false,
        }
    }

    /// [`ordered_sibling_pairs`] of `returned`, some of the key's
    /// siblings; `rows_and_bits` is scratch.
    ///
    /// A row holds only the sight of writes invoked before its own, so no
    /// two siblings saw each other: the count is how many of the returned
    /// siblings each one's writer saw, a row's words against the returned
    /// set's (a thousand siblings a read made half a million pairs). A set
    /// that returns a version twice is counted pair by pair.
    fn ordered_pairs(
        &self,
        returned: &[Version],
        rows_and_bits: &mut Vec<(Option<usize>, Option<usize>)>,
        returned_bits: &mut Vec<u64>,
    ) -> u64 {
        rows_and_bits.clear();
        rows_and_bits.extend(returned.iter().map(|v| (self.row(v.write), self.siblings.binary_search(&v.id()).ok())));
        returned_bits.clear();
        returned_bits.resize(self.words, 0);
        let mut once = true;
        for bit in rows_and_bits.iter().filter_map(|&(_, bit)| bit) {
            let (word, flag) = (bit / 64, 1u64 << (bit % 64));
            once &= returned_bits[word] & flag == 0;
            returned_bits[word] |= flag;
        }
        if once {
            let seen = |row: usize| -> u64 {
                let sight = &self.bits[row * self.words..][..self.words];
                sight.iter().zip(returned_bits.iter()).map(|(saw, set)| u64::from((saw & set).count_ones())).sum()
            };
            return rows_and_bits.iter().filter_map(|&(row, _)| row).map(seen).sum();
        }
        let mut count = 0;
        for (i, &(row_a, bit_a)) in rows_and_bits.iter().enumerate() {
            for &(row_b, bit_b) in &rows_and_bits[i + 1..] {
                count += u64::from(self.saw(row_b, bit_a) || self.saw(row_a, bit_b));
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history;
    use crate::node::vclock::{Dot, VectorClock};
    use crate::protocol::Stamp;
    use crate::types::{ClientId, NodeId};

    /// Version `node` of write `write` (a write coordinated twice has two).
    fn version(write: u64, node: u32) -> Version {
        let dot = Dot { actor: NodeId(node).into(), counter: write };
        let mut clock = VectorClock::new();
        clock.set(NodeId(node), write, Time(0));
        Version::of_write(write, dot, clock, Stamp::default())
    }

    /// Write `id` of key 0, invoked at 10 `id`, its version
    /// `version(id, 0)`, made with a context naming the versions of the
    /// writes `seen`.
    fn write_seeing(id: u64, seen: &[u64]) -> OpRecord {
        let mut op = OpRecord::invoked(ClientId(0), id, OpKind::Write, 0, Time(10 * id));
        op.set_write(WriteId(id), false, false);
        let mut context: Vec<VersionId> = seen.iter().map(|&write| version(write, 0).id()).collect();
        context.sort_unstable();
        context.dedup();
        op.set_context(context);
        op.set_acked(version(id, 0));
        op.outcome = Outcome::Ok;
        op
    }

    /// A read of key 0 by client 1 invoked at `at` that returned `returned`.
    fn read_returning(sequence: u64, at: u64, returned: Vec<Version>) -> OpRecord {
        let mut op = OpRecord::invoked(ClientId(1), sequence, OpKind::Read, 0, Time(at));
        op.set_returned(returned);
        op.outcome = Outcome::Ok;
        op
    }

    /// Each distinct set of a key's siblings (in any order) is counted
    /// once and remembered; its identities count against the bound, which
    /// a key may reach but not pass: the sets are forgotten then, and at
    /// the next key.
    #[test]
    fn a_keys_sets_are_remembered_up_to_the_bound_and_forgotten_past_it_and_at_the_next_key() {
        let history: Vec<OpRecord> = (1..=3).map(|id| write_seeing(id, &[])).collect();
        let (lineage, by_key) = Lineage::with_history_by_key(&history);
        let mut pairs = SiblingPairs::new(&lineage, Versioning::VectorClocks);
        pairs.enter_key(&by_key);
        let [one, two, three] = [1, 2, 3].map(|write| version(write, 0));
        let remembered = |pairs: &SiblingPairs| (pairs.known.len(), pairs.known_ids);
        pairs.count(&[one.clone(), two.clone()]);
        pairs.count(&[two.clone(), one.clone()]);
        assert_eq!(remembered(&pairs), (1, 2), "one set, two identities");
        pairs.count(&[one.clone(), two.clone(), three.clone()]);
        assert_eq!(remembered(&pairs), (2, 5));
        // As if the key's sets so far held all but two identities of the bound.
        pairs.known_ids = KNOWN_SIBLING_IDS_MAX.checked_sub(2).expect("a bound of more than one set");
        pairs.count(&[one.clone(), three.clone()]);
        assert_eq!(remembered(&pairs), (3, KNOWN_SIBLING_IDS_MAX), "at the bound: kept");
        pairs.count(&[two.clone(), three.clone()]);
        assert_eq!(remembered(&pairs), (1, 2), "past the bound: only the new set");
        pairs.enter_key(&by_key);
        assert_eq!(remembered(&pairs), (0, 0), "the next key starts afresh");
    }

    /// A read that returns a version twice pairs each copy with the other
    /// versions: write 2 saw write 1, so [1, 1, 2] holds two ordered pairs
    /// (a version paired with itself is not ordered), as does [2, 1, 1].
    #[test]
    fn a_version_returned_twice_is_paired_once_for_each_copy() {
        let [one, two] = [1, 2].map(|write| version(write, 0));
        let mut history = vec![write_seeing(1, &[]), write_seeing(2, &[1])];
        history.push(read_returning(0, 30, vec![one.clone(), one.clone(), two.clone()]));
        history.push(read_returning(1, 40, vec![two.clone(), one.clone(), one.clone()]));
        let (lineage, by_key) = Lineage::with_history_by_key(&history);
        let mut pairs = SiblingPairs::new(&lineage, Versioning::VectorClocks);
        for read in &history[2..] {
            pairs.enter_key(&by_key); // the two sets are one: counted anew
            assert_eq!(pairs.count(read.returned()).ordered, 2, "{:?}", read.returned());
            assert_eq!(pairs.sight.as_ref().map(Option::is_some), Some(true), "found forward");
        }
    }

    proptest::proptest! {
        /// Counted forward, set by set, a read's pairs are those the
        /// definition counts pair by pair: on chains of contexts across
        /// two keys, versions of one write made twice, contexts naming
        /// writes the history does not name, and sets read again.
        #[test]
        fn pairs_counted_forward_are_the_pairs_asked_one_by_one(
            writes in proptest::collection::vec((0u64..2, proptest::collection::vec((0usize..16, 0u32..2), 0..4)), 1..14),
            reads in proptest::collection::vec((0u64..2, proptest::collection::vec((0usize..18, 0u32..2), 0..6)), 0..14),
        ) {
            // Write i (id i + 1) is invoked at 10 i; its context names
            // versions of earlier writes of its key, or of writes 17 and 18,
            // which the history does not name.
            let mut history = Vec::new();
            for (i, (key, seen)) in writes.iter().enumerate() {
                let mut op = OpRecord::invoked(ClientId(0), i as u64, OpKind::Write, *key, Time(10 * i as u64));
                op.set_write(WriteId(i as u64 + 1), false, false);
                let earlier = |&(j, node): &(usize, u32)| {
                    let j = if j < i && writes[j].0 == *key { j } else { 16 + j % 2 };
                    version(j as u64 + 1, node).id()
                };
                let mut context: Vec<VersionId> = seen.iter().map(earlier).collect();
                context.sort_unstable();
                context.dedup();
                op.set_context(context);
                op.set_acked(version(i as u64 + 1, 0));
                op.outcome = Outcome::Ok;
                history.push(op);
            }
            for (r, (key, returned)) in reads.iter().enumerate() {
                let at = 10 * (writes.len() + r) as u64;
                let mut op = OpRecord::invoked(ClientId(1), r as u64, OpKind::Read, *key, Time(at));
                // Versions of the key's writes, or of writes 17 and 18.
                let of_key = |&(j, node): &(usize, u32)| {
                    let j = if writes.get(j).is_some_and(|w| w.0 == *key) { j } else { 16 + j % 2 };
                    version(j as u64 + 1, node)
                };
                let mut versions: Vec<Version> = returned.iter().map(of_key).collect();
                versions.sort_by_key(Version::id);
                versions.dedup_by_key(|v| v.id());
                op.set_returned(versions);
                op.outcome = Outcome::Ok;
                history.push(op);
            }
            let (lineage, by_key) = Lineage::with_history_by_key(&history);
            proptest::prop_assert!(lineage.contexts_precede_writers() && lineage.writes_named_once());
            let mut pairs = SiblingPairs::new(&lineage, Versioning::VectorClocks);
            for ops in history::key_runs(&by_key) {
                pairs.enter_key(ops);
                for op in ops.iter().filter(|op| op.kind == OpKind::Read) {
                    // Asked twice: the second answer is the remembered one.
                    for _ in 0..2 {
                        let counts = pairs.count(op.returned());
                        let sight = pairs.sight.as_ref().map(Option::is_some);
                        proptest::prop_assert!(op.returned().len() < 2 || sight == Some(true), "found forward");
                        proptest::prop_assert_eq!(counts.ordered, ordered_sibling_pairs(op.returned(), &lineage));
                        // Every pair compared (no masks).
                        let returned = op.returned();
                        let non_concurrent = (0..returned.len())
                            .flat_map(|i| (i + 1..returned.len()).map(move |j| (i, j)))
                            .filter(|&(i, j)| !Versioning::VectorClocks.concurrent(&returned[i], &returned[j]))
                            .count() as u64;
                        proptest::prop_assert_eq!(counts.non_concurrent, non_concurrent);
                    }
                }
            }
        }

        /// The masks of the clocks' actors skip only concurrent pairs:
        /// under vector clocks the pairs counted are those compared one by
        /// one (clocks of up to four actors, one nesting another or not, in
        /// any order), and under dotted version vectors, whose versions
        /// cover by dot whatever actors the clocks name, every pair is
        /// compared.
        #[test]
        fn non_concurrent_pairs_are_the_pairs_compared_one_by_one(
            versions in proptest::collection::vec((0u32..4, 1u64..3, proptest::collection::vec(0u64..3, 4)), 0..7),
            dotted in proptest::prelude::any::<bool>(),
        ) {
            let versioning = if dotted { Versioning::DottedVersionVectors } else { Versioning::VectorClocks };
            let returned: Vec<Version> = versions
                .iter()
                .enumerate()
                .map(|(i, (actor, counter, counters))| {
                    // Actor k's counter, none when 0.
                    let mut clock = VectorClock::new();
                    for (node, &counter) in (0..).zip(counters).filter(|&(_, &counter)| counter > 0) {
                        clock.set(NodeId(node), counter, Time(0));
                    }
                    let dot = Dot { actor: NodeId(*actor).into(), counter: *counter };
                    Version::of_write(i as u64 + 1, dot, clock, Stamp::default())
                })
                .collect();
            let compared = (0..returned.len())
                .flat_map(|i| (i + 1..returned.len()).map(move |j| (i, j)))
                .filter(|&(i, j)| !versioning.concurrent(&returned[i], &returned[j]))
                .count() as u64;
            proptest::prop_assert_eq!(non_concurrent_pairs(&returned, versioning, &mut Vec::new()), compared);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Past 64 siblings a writer's row takes more than one word, and a
        /// read may return a version twice (counted pair by pair): counted
        /// forward, a read's pairs are still those the definition counts.
        /// One read returns every write's version, so that all are siblings;
        /// the others return a few, some with their first one again.
        #[test]
        fn pairs_counted_forward_past_64_siblings_and_with_repeats_are_the_pairs_asked_one_by_one(
            seen in proptest::collection::vec(proptest::collection::vec(0usize..1000, 0..3), 65..100),
            reads in proptest::collection::vec(proptest::collection::vec(0usize..1000, 2..6), 1..8),
            twice in proptest::collection::vec(proptest::prelude::any::<bool>(), 8),
        ) {
            // Write i (id i + 1) saw up to two of the i earlier writes.
            let ids = |picks: &[usize], writes: usize| picks.iter().map(|&pick| (pick % writes) as u64 + 1).collect::<Vec<_>>();
            let saw = |i: usize, picks: &[usize]| if i == 0 { Vec::new() } else { ids(picks, i) };
            let mut history: Vec<OpRecord> =
                seen.iter().enumerate().map(|(i, picks)| write_seeing(i as u64 + 1, &saw(i, picks))).collect();
            let at = 10 * (seen.len() as u64 + 1);
            history.push(read_returning(0, at, (1..=seen.len() as u64).map(|id| version(id, 0)).collect()));
            for (r, (picks, twice)) in reads.iter().zip(twice).enumerate() {
                let mut returned: Vec<Version> = ids(picks, seen.len()).into_iter().map(|id| version(id, 0)).collect();
                if twice {
                    returned.push(returned[0].clone());
                }
                history.push(read_returning(r as u64 + 1, at + 10 * (r as u64 + 1), returned));
            }
            let (lineage, by_key) = Lineage::with_history_by_key(&history);
            let mut pairs = SiblingPairs::new(&lineage, Versioning::VectorClocks);
            pairs.enter_key(&by_key);
            for read in &history[seen.len()..] {
                let counts = pairs.count(read.returned());
                proptest::prop_assert_eq!(pairs.sight.as_ref().map(Option::is_some), Some(true), "found forward");
                proptest::prop_assert_eq!(counts.ordered, ordered_sibling_pairs(read.returned(), &lineage));
            }
        }
    }
}
