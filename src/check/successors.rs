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
use crate::node::vclock::Dot;
use crate::node::versioning::Versioning;
use crate::protocol::{Version, WriteId};
use std::collections::{BTreeMap, BTreeSet};

/// What decides, for each lost write of one key, whether its successors
/// are direct (built once per key, on its first lost write).
pub struct KeyIndex {
    /// Dots that versions of two different writes carry, among the key's
    /// known versions and the end state's.
    shared_dots: BTreeSet<Dot>,
    /// Every end-state version is unknown to the lineage or identical to
    /// the version it knows by that identity.
    shown_as_known: bool,
}

impl KeyIndex {
    /// Indexes `key`'s known versions and `shown`, the end state's
    /// versions of the key (held, held anywhere, wiped, capped).
    pub fn new(lineage: &Lineage, key: u64, shown: &[&[Version]]) -> KeyIndex {
        let mut first_writer: BTreeMap<Dot, WriteId> = BTreeMap::new();
        let mut shared_dots = BTreeSet::new();
        for version in lineage.versions_of_key(key).chain(shown.iter().copied().flatten()) {
            if *first_writer.entry(version.dot).or_insert(version.write()) != version.write() {
                shared_dots.insert(version.dot);
            }
        }
        let shown_as_known =
            shown.iter().copied().flatten().all(|v| lineage.version(key, v.id()).is_none_or(|known| known == v));
        KeyIndex { shared_dots, shown_as_known }
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
/// (each found once).
pub fn walk<'l>(lineage: &'l Lineage, key: u64, write: WriteId, versioning: Versioning) -> Vec<&'l Version> {
    let known: Vec<&Version> = lineage.versions_of_key(key).filter(|v| v.write() != write).collect();
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

/// Whether some successor's writer saw `write` (`seen`) and whether some
/// successor's writer did not (`unseen`), from the successors' writes.
pub fn sight_of<'v>(lineage: &Lineage, write: WriteId, successors: impl Iterator<Item = &'v Version>) -> Seen {
    let seen_by = lineage.seen_by(write);
    let mut result = Seen::default();
    for successor in successors {
        if seen_by.contains(&successor.write()) {
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
    let succeeds = |v: &Version| v.write() != write && own.iter().any(|old| versioning.supersedes(v, old));
    let seen_by = lineage.seen_by(write);
    let seen = seen_by.iter().any(|&seer| lineage.versions_of_in(key, seer).any(succeeds));
    let unseen = lineage.versions_of_key(key).rev().any(|v| !seen_by.contains(&v.write()) && succeeds(v));
    Seen { seen, unseen }
}
