//! A node's local store: the versions it holds for each key.
//!
//! Under vector clocks a key holds only pairwise concurrent versions:
//! storing a version drops the ones it descends from, and a version an
//! existing one already covers is ignored. Under last-write-wins a key holds
//! the one version with the greatest (timestamp, writer).

use super::merkle::{key_digest, KeySummary};
use super::vclock::Dot;
use super::versioning::Versioning;
use crate::protocol::{Key, Version};
use crate::types::Token;
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// How versions of one key are ordered and limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreRules {
    /// Vector clocks, dotted version vectors or last-write-wins.
    pub versioning: Versioning,
    /// Most siblings kept per key (0 = no cap).
    pub sibling_cap: usize,
}

impl StoreRules {
    /// Vector clocks, no sibling cap.
    pub const VECTOR_CLOCKS: StoreRules = StoreRules { versioning: Versioning::VectorClocks, sibling_cap: 0 };
}

/// The versions of every key a node stores.
#[derive(Clone, Debug, Default)]
pub struct Store {
    keys: BTreeMap<u64, Entry>,
}

/// One key's versions, with the key's ring position (so ranges can be
/// scanned by position without rehashing names; the map holds its id) and
/// the versions' digest. 48 bytes: a key nearly always holds one version,
/// kept inline (a million keys on three replicas each).
#[derive(Clone, Debug)]
struct Entry {
    position: Token,
    versions: SmallVec<[Version; 1]>,
    /// `key_digest` of `versions`, kept up to date by every change: the
    /// Merkle trees and the observer's convergence checks read a key's
    /// digest far more often than it changes.
    digest: u64,
}

impl Entry {
    fn rehash(&mut self, key: u64) {
        self.digest = key_digest(key, &self.versions);
    }

    fn summary(&self, key: Key) -> KeySummary {
        KeySummary::with_digest(key, &self.versions, self.digest)
    }
}

/// What storing a version did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutEffect {
    /// The version was added (possibly replacing versions it covers).
    Stored,
    /// The version was added and the sibling cap dropped these, the
    /// oldest siblings.
    StoredOverCap(Vec<Version>),
    /// An equal or newer version was already there.
    Obsolete,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store::default()
    }

    /// The versions held for `key` (empty if none).
    pub fn get(&self, key: u64) -> &[Version] {
        self.keys.get(&key).map_or(&[], |e| e.versions.as_slice())
    }

    /// The digest of `key`'s versions ([`key_digest`]; 0 when it has none).
    pub fn digest(&self, key: u64) -> u64 {
        self.keys.get(&key).map_or(0, |e| e.digest)
    }

    /// The summary of `key`'s versions, from the digest kept up to date.
    pub fn summary(&self, key: Key) -> KeySummary {
        self.keys.get(&key.id).map_or(KeySummary::default(), |e| e.summary(key))
    }

    /// Stores `version` for `key` under `rules`.
    pub fn put(&mut self, key: Key, version: Version, rules: StoreRules) -> PutEffect {
        self.put_summaries(key, version, rules).0
    }

    /// [`Store::put`], also returning the key's summary before and after
    /// (what anti-entropy moves the key between) from the one search.
    pub fn put_summaries(
        &mut self,
        key: Key,
        version: Version,
        rules: StoreRules,
    ) -> (PutEffect, KeySummary, KeySummary) {
        let entry = self.keys.entry(key.id).or_insert_with(|| Entry {
            position: key.position,
            versions: SmallVec::new(),
            digest: 0,
        });
        let before = entry.summary(key);
        let versions = &mut entry.versions;
        let versioning = rules.versioning;
        if versions.iter().any(|v| versioning.covers(v, &version)) {
            return (PutEffect::Obsolete, before, before);
        }
        versions.retain(|v| !versioning.covers(&version, v));
        versions.push(version);
        let effect = if rules.sibling_cap > 0 && versions.len() > rules.sibling_cap {
            versions.sort_by_key(|v| std::cmp::Reverse(v.stamp));
            PutEffect::StoredOverCap(versions.drain(rules.sibling_cap..).collect())
        } else {
            PutEffect::Stored
        };
        entry.rehash(key.id);
        (effect, before, entry.summary(key))
    }

    /// Removes the versions of `key` named by `dots`; returns how many.
    pub fn remove_dots(&mut self, key: u64, dots: &[Dot]) -> usize {
        let Some(entry) = self.keys.get_mut(&key) else {
            return 0;
        };
        let before = entry.versions.len();
        entry.versions.retain(|v| !dots.contains(&v.dot));
        let removed = before - entry.versions.len();
        if entry.versions.is_empty() {
            self.keys.remove(&key);
        } else if removed > 0 {
            entry.rehash(key);
        }
        removed
    }

    /// Forgets `key` entirely.
    pub fn remove_key(&mut self, key: u64) {
        self.keys.remove(&key);
    }

    /// Removes exactly `version` from `key`'s versions, if present.
    pub fn remove_version(&mut self, key: u64, version: &Version) {
        let Some(entry) = self.keys.get_mut(&key) else { return };
        let before = entry.versions.len();
        entry.versions.retain(|v| v != version);
        if entry.versions.is_empty() {
            self.keys.remove(&key);
        } else if entry.versions.len() != before {
            entry.rehash(key);
        }
    }

    /// Number of keys with at least one version.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Number of versions over all keys.
    pub fn version_count(&self) -> usize {
        self.keys.values().map(|e| e.versions.len()).sum()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key with its versions, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &[Version])> {
        self.keys.iter().map(|(&id, e)| (Key { id, position: e.position }, e.versions.as_slice()))
    }

    /// Removes and returns everything (a flush or a wipe).
    pub fn take(&mut self) -> Store {
        std::mem::take(self)
    }
}

/// Syntactic reconciliation (Dynamo §4.4): from versions gathered from
/// several replicas, keep those no other version covers, once each (under
/// last-write-wins: the single greatest).
pub fn reconcile<'a>(versions: impl IntoIterator<Item = &'a Version>, versioning: Versioning) -> Vec<Version> {
    let mut kept: Vec<Version> = Vec::new();
    for candidate in versions {
        if kept.iter().any(|k| versioning.covers(k, candidate)) {
            continue;
        }
        kept.retain(|k| !versioning.covers(candidate, k));
        kept.push(candidate.clone());
    }
    kept
}

/// True when `versions` holds `wanted` or something covering it.
pub fn holds(versions: &[Version], wanted: &Version, versioning: Versioning) -> bool {
    versions.iter().any(|v| versioning.covers(v, wanted))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::node::vclock::VectorClock;
    use crate::protocol::{Stamp, Value, VersionData, WriteId};
    use crate::types::{NodeId, Time};

    /// Version of write `write` (dot n99:`write`, stamp `write`) with the
    /// clock entries `pairs`; the hint store's tests use it too.
    pub(crate) fn version(write: u64, pairs: &[(u32, u64)]) -> Version {
        let mut clock = VectorClock::new();
        for &(n, c) in pairs {
            clock.set(NodeId(n), c, Time(0));
        }
        let stamp = Stamp { time_us: write, writer: 0 };
        let dot = Dot { actor: NodeId(99).into(), counter: write };
        Version::from(VersionData { clock, dot, stamp, value: Value { write: WriteId(write), bytes: 10, items: None } })
    }

    const VC: StoreRules = StoreRules::VECTOR_CLOCKS;

    #[test]
    fn a_descendant_replaces_its_ancestor() {
        let mut store = Store::new();
        assert_eq!(store.put(Key::new(1), version(1, &[(0, 1)]), VC), PutEffect::Stored);
        assert_eq!(store.put(Key::new(1), version(2, &[(0, 2)]), VC), PutEffect::Stored);
        assert_eq!(store.get(1).len(), 1);
        assert_eq!(store.get(1)[0].value.write, WriteId(2));
    }

    /// A walk is by key id, whatever order the keys arrived in.
    #[test]
    fn iteration_is_in_key_order_whatever_the_insertion_order() {
        let mut store = Store::new();
        let ids = [907u64, 3, 1 << 40, 55, 12, 700_001, 4];
        for (write, &id) in ids.iter().enumerate() {
            store.put(Key::new(id), version(write as u64 + 1, &[(0, 1)]), VC);
        }
        let walked: Vec<u64> = store.iter().map(|(key, _)| key.id).collect();
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        assert_eq!(walked, sorted);
        assert!(store.iter().all(|(key, versions)| key == Key::new(key.id) && versions.len() == 1));
    }

    #[test]
    fn a_key_holding_one_version_keeps_it_inline_even_after_replacements() {
        let mut store = Store::new();
        store.put(Key::new(1), version(1, &[(0, 1)]), VC);
        store.put(Key::new(1), version(2, &[(0, 2)]), VC); // replaces, in place
        let entry = &store.keys[&1];
        assert!(entry.versions.len() == 1 && !entry.versions.spilled());
        store.put(Key::new(1), version(3, &[(1, 1)]), VC); // a sibling: the list moves to the heap
        assert!(store.keys[&1].versions.spilled());
        assert_eq!(store.get(1).len(), 2);
        assert_eq!(std::mem::size_of::<Entry>(), 48, "a stored key's entry");
    }

    #[test]
    fn a_put_reports_the_summaries_the_store_showed_before_and_after_it() {
        let mut store = Store::new();
        for (write, pairs) in [(1, &[(0, 1)][..]), (2, &[(0, 2)]), (3, &[(1, 1)]), (1, &[(0, 1)])] {
            let before = store.summary(Key::new(7));
            let (effect, old, new) = store.put_summaries(Key::new(7), version(write, pairs), VC);
            assert_eq!((old, new), (before, store.summary(Key::new(7))), "write {write}: {effect:?}");
            assert_eq!(new, KeySummary::of(Key::new(7), store.get(7)), "write {write}");
            assert_eq!(new == old, effect == PutEffect::Obsolete, "write {write}");
        }
        assert_eq!(
            store.put_summaries(Key::new(8), version(4, &[(0, 1)]), VC).1,
            KeySummary::default(),
            "a new key had none"
        );
    }

    #[test]
    fn concurrent_versions_are_kept_as_siblings_and_old_ones_ignored() {
        let mut store = Store::new();
        store.put(Key::new(1), version(1, &[(0, 1)]), VC);
        store.put(Key::new(1), version(2, &[(1, 1)]), VC);
        assert_eq!(store.get(1).len(), 2);
        assert_eq!(store.put(Key::new(1), version(1, &[(0, 1)]), VC), PutEffect::Obsolete);
        // A version descending from both replaces both.
        store.put(Key::new(1), version(3, &[(0, 1), (1, 1), (2, 1)]), VC);
        assert_eq!(store.get(1).len(), 1);
    }

    #[test]
    fn the_kept_digest_is_the_digest_of_what_is_held_after_every_change() {
        use crate::node::merkle::key_digest;
        let capped = StoreRules { versioning: Versioning::VectorClocks, sibling_cap: 2 };
        let mut store = Store::new();
        let check = |store: &Store| assert_eq!(store.digest(1), key_digest(1, store.get(1)));
        check(&store);
        store.put(Key::new(1), version(1, &[(0, 1)]), capped);
        check(&store);
        store.put(Key::new(1), version(2, &[(1, 1)]), capped);
        check(&store);
        assert!(matches!(store.put(Key::new(1), version(3, &[(2, 1)]), capped), PutEffect::StoredOverCap(_)));
        check(&store);
        assert_eq!(store.put(Key::new(1), version(3, &[(2, 1)]), capped), PutEffect::Obsolete);
        check(&store);
        let held = store.get(1)[0].clone();
        store.remove_version(1, &held);
        check(&store);
        let dot = store.get(1)[0].dot;
        assert_eq!(store.remove_dots(1, &[dot]), 1);
        check(&store);
        assert_eq!(store.digest(1), 0, "nothing held: the empty digest");
    }

    #[test]
    fn removing_some_of_a_keys_versions_by_dot_updates_its_digest() {
        use crate::node::merkle::key_digest;
        let dot = |write| Dot { actor: NodeId(99).into(), counter: write };
        let mut store = Store::new();
        store.put(Key::new(1), version(1, &[(0, 1)]), VC);
        store.put(Key::new(1), version(2, &[(1, 1)]), VC);
        let both = store.digest(1);
        assert_eq!(store.remove_dots(1, &[dot(1)]), 1);
        assert_eq!(store.get(1), &[version(2, &[(1, 1)])][..]);
        assert_eq!(store.digest(1), key_digest(1, store.get(1)), "the digest of the one version left");
        assert_ne!(store.digest(1), both);
        assert_eq!(store.remove_dots(1, &[dot(5)]), 0, "no version has that dot");
        assert_eq!(store.remove_dots(2, &[dot(2)]), 0, "no such key");
        assert_eq!(store.version_count(), 1);
    }

    #[test]
    fn last_write_wins_keeps_the_greatest_stamp_only() {
        let lww = StoreRules { versioning: Versioning::LastWriteWins, sibling_cap: 0 };
        let mut store = Store::new();
        store.put(Key::new(1), version(5, &[(0, 1)]), lww);
        assert_eq!(store.put(Key::new(1), version(3, &[(1, 1)]), lww), PutEffect::Obsolete, "older stamp loses");
        store.put(Key::new(1), version(9, &[(2, 1)]), lww);
        assert_eq!(store.get(1).len(), 1);
        assert_eq!(store.get(1)[0].value.write, WriteId(9));
    }

    #[test]
    fn the_sibling_cap_drops_the_oldest_sibling() {
        let capped = StoreRules { versioning: Versioning::VectorClocks, sibling_cap: 2 };
        let mut store = Store::new();
        store.put(Key::new(1), version(1, &[(0, 1)]), capped);
        store.put(Key::new(1), version(2, &[(1, 1)]), capped);
        assert_eq!(
            store.put(Key::new(1), version(3, &[(2, 1)]), capped),
            PutEffect::StoredOverCap(vec![version(1, &[(0, 1)])])
        );
        let writes: Vec<u64> = store.get(1).iter().map(|v| v.value.write.0).collect();
        assert_eq!(writes, vec![3, 2]);
    }

    #[test]
    fn reconcile_drops_ancestors_and_duplicates() {
        let a = version(1, &[(0, 1)]);
        let b = version(2, &[(0, 1), (1, 1)]);
        let c = version(3, &[(0, 1), (2, 1)]);
        let kept = reconcile([&a, &b, &b.clone(), &c], Versioning::VectorClocks);
        let writes: Vec<u64> = kept.iter().map(|v| v.value.write.0).collect();
        assert_eq!(writes, vec![2, 3]);
        assert!(Versioning::VectorClocks.concurrent(&kept[0], &kept[1]));
    }

    #[test]
    fn removing_handed_off_writes_leaves_the_rest() {
        let mut store = Store::new();
        store.put(Key::new(1), version(1, &[(0, 1)]), VC);
        store.put(Key::new(1), version(2, &[(1, 1)]), VC);
        let dot = |write| Dot { actor: NodeId(99).into(), counter: write };
        assert_eq!(store.remove_dots(1, &[dot(1)]), 1);
        assert_eq!(store.get(1).len(), 1);
        assert_eq!(store.remove_dots(1, &[dot(2)]), 1);
        assert!(store.is_empty());
    }
}
