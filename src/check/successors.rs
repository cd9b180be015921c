//! The versions that supersede a lost write, found without comparing
//! every version of its key with every other.
//!
//! A replica drops a version once a version covering it arrives, and with
//! it whatever that version superseded, so a write can be gone through a
//! chain of versions. Under vector clocks and last-write-wins a chain
//! o → s₁ → … → s makes s's clock (or timestamp) strictly greater than o's,
//! so s supersedes o directly — unless s carries o's very dot, which only
//! a reused counter makes (a buffer lost in a crash). When no version of
//! the key shares a dot with another write's version, and every version
//! the end state shows is the one the lineage knows by its identity, the
//! successors are the versions superseding the write directly and
//! [`Sight`](super::durability) needs no list of them: that is checked
//! once per lost write over a per-key index of shared dots ([`KeyIndex`]). Otherwise
//! (dotted version vectors, which cover a version by its dot alone, or a
//! reused dot) the chains are walked.

use super::lineage::Lineage;
use crate::node::vclock::{Actor, Dot};
use crate::node::versioning::Versioning;
use crate::protocol::{Version, WriteId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// What decides, for each lost write of one key, whether its successors
/// are direct, and what finds them when they are not (built once per key,
/// on its first lost write).
pub struct KeyIndex<'l> {
    /// Dots that versions of two different writes carry, among the key's
    /// known versions and the end state's.
    shared_dots: BTreeSet<Dot>,
    /// Every end-state version is unknown to the lineage or identical to
    /// the version it knows by that identity.
    shown_as_known: bool,
    /// Under dotted version vectors (never direct), the key's known
    /// versions by what their clocks count, for [`walk`].
    by_dots: Option<DotIndex<'l>>,
}

impl<'l> KeyIndex<'l> {
    /// Indexes `key`'s known versions and `shown`, the end state's
    /// versions of the key (held, held anywhere, wiped, capped).
    pub fn new(lineage: &'l Lineage, key: u64, shown: &[&[Version]], versioning: Versioning) -> KeyIndex<'l> {
        let mut first_writer: BTreeMap<Dot, WriteId> = BTreeMap::new();
        let mut shared_dots = BTreeSet::new();
        for version in lineage.versions_of_key(key).chain(shown.iter().copied().flatten()) {
            if *first_writer.entry(version.dot).or_insert(version.write) != version.write {
                shared_dots.insert(version.dot);
            }
        }
        let shown_as_known =
            shown.iter().copied().flatten().all(|v| lineage.version(key, v.id()).is_none_or(|known| known == v));
        let by_dots = (versioning == Versioning::DottedVersionVectors).then(|| DotIndex::new(lineage, key));
        KeyIndex { shared_dots, shown_as_known, by_dots }
    }

    /// True when the successors of `write` (of this index's `key`) are
    /// exactly the versions superseding one of its versions directly (see
    /// the module doc): transitive versioning, the end state's versions
    /// as the lineage knows them, and no other write's version carrying
    /// one of the write's dots.
    pub fn are_direct(&self, lineage: &Lineage, key: u64, write: WriteId, versioning: Versioning) -> bool {
        versioning != Versioning::DottedVersionVectors
            && self.shown_as_known
            && lineage.key_of(write) == Some(key)
            && lineage.versions_of(write).all(|v| !self.shared_dots.contains(&v.dot))
    }
}

/// The known versions of `key` that supersede `write`, directly or through
/// one another, walked from the write's versions over the key's versions
/// (each found once, in no particular order: callers only ask whether
/// some successor is one thing or another).
///
/// Under dotted version vectors the key's [`DotIndex`] (in `index`) gives,
/// for each version reached, the only versions that can supersede it;
/// otherwise every version of the key is compared with each one reached.
pub fn walk<'l>(
    lineage: &'l Lineage,
    index: &KeyIndex<'l>,
    key: u64,
    write: WriteId,
    versioning: Versioning,
) -> Vec<&'l Version> {
    if let Some(by_dots) = &index.by_dots {
        return by_dots.walk(lineage, write, versioning);
    }
    let known: Vec<&Version> = lineage.versions_of_key(key).filter(|v| v.write != write).collect();
    let mut is_found = vec![false; known.len()];
    let mut found: Vec<&Version> = Vec::new();
    let mut frontier: Vec<&Version> = lineage.versions_of(write).collect();
    while let Some(older) = frontier.pop() {
        for (index, &newer) in known.iter().enumerate() {
            if !is_found[index] && versioning.supersedes(newer, older) {
                is_found[index] = true;
                found.push(newer);
                frontier.push(newer);
            }
        }
    }
    found
}

/// One key's known versions by each actor's counter in their clocks.
///
/// Under dotted version vectors a version supersedes another only if its
/// clock contains the other's dot: counts the dot's actor at least to the
/// dot's counter. So the versions that can supersede one with dot (a, c)
/// are a prefix of actor a's list, sorted by counter from the highest.
/// Comparing every version of the key with every version reached made a
/// walk cost (versions of the key)², and a hot key's lost writes as many
/// walks: zipf 0.99 at 3 M requests ran for over ten minutes.
pub struct DotIndex<'l> {
    /// The key's known versions, in identity order.
    known: Vec<&'l Version>,
    /// For each actor some clock counts, by actor: (counter, index in
    /// `known`) of every version whose clock counts it, highest first.
    by_actor: Vec<(Actor, Vec<(u64, u32)>)>,
}

impl<'l> DotIndex<'l> {
    fn new(lineage: &'l Lineage, key: u64) -> Self {
        let known: Vec<&Version> = lineage.versions_of_key(key).collect();
        let mut counts: Vec<(Actor, Reverse<u64>, u32)> = known
            .iter()
            .enumerate()
            .flat_map(|(index, v)| v.clock.entries().iter().map(move |e| (e.actor, Reverse(e.counter), index as u32)))
            .collect();
        counts.sort_unstable();
        let by_actor = counts
            .chunk_by(|a, b| a.0 == b.0)
            .map(|run| (run[0].0, run.iter().map(|&(_, Reverse(counter), index)| (counter, index)).collect()))
            .collect();
        DotIndex { known, by_actor }
    }

    /// [`walk`] over this index: each version reached looks at the versions
    /// whose clocks count its dot's actor to its counter or beyond — the
    /// part of that actor's list no version reached before looked at, and
    /// the versions looked at before that did not supersede the one that
    /// looked (kept per actor, highest counter first, and asked again).
    fn walk(&self, lineage: &'l Lineage, write: WriteId, versioning: Versioning) -> Vec<&'l Version> {
        let mut is_found = vec![false; self.known.len()];
        let mut found: Vec<&Version> = Vec::new();
        let mut frontier: Vec<&Version> = lineage.versions_of(write).collect();
        // Per actor: how much of its list was looked at, and what was passed over.
        let mut looked = vec![0; self.by_actor.len()];
        let mut passed: Vec<Vec<(u64, u32)>> = vec![Vec::new(); self.by_actor.len()];
        // Whether `index` is found from `older` (found now, or earlier).
        let mut reach = |index: u32, older: &Version, frontier: &mut Vec<&'l Version>| {
            let newer = self.known[index as usize];
            if is_found[index as usize] || newer.write == write {
                return true; // never to be asked again
            }
            if !versioning.supersedes(newer, older) {
                return false;
            }
            is_found[index as usize] = true;
            found.push(newer);
            frontier.push(newer);
            true
        };
        while let Some(older) = frontier.pop() {
            let dot = older.dot;
            if dot.counter == 0 {
                // Every clock contains it.
                for index in 0..self.known.len() as u32 {
                    reach(index, older, &mut frontier);
                }
                continue;
            }
            // No clock counts the actor: none contains the dot.
            let Ok(actor) = self.by_actor.binary_search_by_key(&dot.actor, |&(actor, _)| actor) else { continue };
            let list = &self.by_actor[actor].1;
            let passed = &mut passed[actor];
            let mut kept = 0;
            for at in 0..passed.len() {
                let (counter, index) = passed[at];
                if counter < dot.counter || !reach(index, older, &mut frontier) {
                    passed[kept] = passed[at];
                    kept += 1;
                }
            }
            passed.truncate(kept);
            while let Some(&(counter, index)) = list.get(looked[actor]).filter(|&&(counter, _)| counter >= dot.counter)
            {
                looked[actor] += 1;
                if !reach(index, older, &mut frontier) {
                    passed.push((counter, index));
                }
            }
        }
        found
    }
}

/// Whether some successor's writer saw `write` (`seen`) and whether some
/// successor's writer did not (`unseen`), from the successors' writes.
pub fn sight_of<'v>(lineage: &Lineage, write: WriteId, successors: impl Iterator<Item = &'v Version>) -> Seen {
    let seen_by = lineage.seen_by(write);
    let mut result = Seen::default();
    for successor in successors {
        if seen_by.contains(&successor.write) {
            result.seen = true;
        } else {
            result.unseen = true;
        }
        if result.unseen && (result.seen || seen_by.is_empty()) {
            break; // nothing further can change the answer
        }
    }
    result
}

/// The writers of a write's successors, as [`sight_of`] sorts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Some successor's writer saw the write.
    pub seen: bool,
    /// Some successor's writer never saw it.
    pub unseen: bool,
}

/// [`sight_of`] over the versions of `key` superseding a version of
/// `write` directly (its successors when [`KeyIndex::are_direct`]).
///
/// Whether some successor's writer saw the write is asked of the writers
/// that saw it (a few, as a rule), each one's versions found by a search
/// of the key's; whether some successor's writer did not, of the key's
/// other writers' versions until one supersedes the write (reverse
/// identity order: each client's later writes first). Walking every
/// successor until both were found compared the write's clock with most
/// of its key's versions: on a key written n times, n² comparisons (zipf
/// 0.99 at 3 M requests spent a minute on its hottest key).
pub fn direct_sight(lineage: &Lineage, key: u64, write: WriteId, versioning: Versioning) -> Seen {
    // A write has one version unless it was coordinated twice: kept on
    // the stack (an allocation per lost write was 1 % of blind-8-nodes).
    let own: smallvec::SmallVec<[&Version; 2]> = lineage.versions_of(write).collect();
    let succeeds = |v: &Version| v.write != write && own.iter().any(|old| versioning.supersedes(v, old));
    let seen_by = lineage.seen_by(write);
    let seen = seen_by.iter().any(|&seer| lineage.versions_of_in(key, seer).any(succeeds));
    let unseen = lineage.versions_of_key(key).rev().any(|v| !seen_by.contains(&v.write) && succeeds(v));
    Seen { seen, unseen }
}
