//! A node's local store: the versions it holds for each key.
//!
//! Under vector clocks a key holds only pairwise concurrent versions:
//! storing a version drops the ones it descends from, and a version an
//! existing one already covers is ignored. Under last-write-wins a key holds
//! the one version with the greatest (timestamp, writer).

use super::merkle::{key_digest_of_sum, version_digest, version_digest_sum, KeySummary};
use super::vclock::Dot;
use super::versioning::Versioning;
use crate::engine::key_table::{KeyTable, SlotLocator};
use crate::protocol::{Key, Version};
use crate::types::Token;
use smallvec::SmallVec;

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
///
/// Indexed by key id in a [`KeyTable`]: every replica access looks its key
/// up, one cache miss at worst, and a prefetch through [`Store::locator`]
/// can take even that one out of the replica's path. Only rare
/// whole-store walks (a crash, a range transfer or handover, a tree
/// rebuild) want an order, which [`Store::iter`] sorts for them: the
/// table's own order never shows.
#[derive(Clone, Debug, Default)]
pub struct Store {
    keys: KeyTable<Entry>,
    /// The versions of the keys that hold more than one (siblings), whose
    /// entries' `single` is empty. A table by id like the index, never
    /// walked in its order: under blind writes nearly every key has
    /// siblings, and a B-tree searched at every put was ~1 % of such a
    /// run's instructions and a cache miss a level.
    siblings: KeyTable<Vec<Version>>,
    /// The keys changed (or written) since the log was last drained, once asked for.
    changes: ChangeLog,
}

/// The keys whose versions changed, for the observer's convergence check
/// ([`crate::check::convergence`]): off until the check asks (after the
/// workload), so the workload's writes pay one untaken branch. A write
/// that turned out obsolete is logged too (the check then compares a key
/// that did not change: a cost, never a wrong answer).
#[derive(Clone, Debug, Default)]
struct ChangeLog {
    on: bool,
    /// A key changed twice appears twice.
    keys: Vec<u64>,
}

impl ChangeLog {
    fn note(&mut self, key: u64) {
        if self.on {
            self.keys.push(key);
        }
    }
}

/// One key's entry: its ring position (so ranges can be scanned by position
/// without rehashing names; the table holds its id), its version when it
/// holds exactly one, and its versions' digest. 32 bytes, and 40 with its
/// id in the table's slot: the position is kept as two words, since a
/// `u128`'s 16-byte alignment would pad the slot to 48. A key nearly
/// always holds one version, and a million keys on three replicas each
/// make these slots most of a large run's store; a list of versions inline
/// would make an entry 48 bytes.
#[derive(Clone, Debug, Default)]
struct Entry {
    /// The key's [`Token`], high word first.
    position: [u64; 2],
    /// The key's one version; None when [`Store::siblings`] holds its versions.
    single: Option<Version>,
    /// The (wrapping) sum of the versions' [`version_digest`]s, which
    /// their `key_digest` mixes with the key ([`Entry::digest`]): the Merkle
    /// trees and the observer's convergence checks read a key's digest far
    /// more often than it changes. Kept up to date by every change with
    /// the digests of the versions it adds and removes only, so a new
    /// sibling does not read the others' clocks again (on blind writes
    /// every key has two or three, each clock an allocation of its own).
    digest_sum: u64,
}

impl Entry {
    /// `key`'s position, as an entry keeps it.
    fn position_of(key: Key) -> [u64; 2] {
        [(key.position.0 >> 64) as u64, key.position.0 as u64]
    }

    /// `key_digest` of the versions of the key `id`, whose entry this is
    /// (an entry holds at least one version).
    fn digest(&self, id: u64) -> u64 {
        key_digest_of_sum(id, self.digest_sum)
    }

    /// The key whose entry this is, given its id.
    fn key(&self, id: u64) -> Key {
        let [high, low] = self.position;
        Key { id, position: Token((u128::from(high) << 64) | u128::from(low)) }
    }
}

/// A key's versions taken out of the store to be changed: one version
/// needs no allocation.
type Versions = SmallVec<[Version; 2]>;

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

    /// An empty store with room for `keys` keys before its index grows.
    pub fn with_capacity(keys: usize) -> Self {
        Store { keys: KeyTable::with_capacity(keys), ..Store::default() }
    }

    /// The versions held for `key` (empty if none).
    pub fn get(&self, key: u64) -> &[Version] {
        self.keys.get(key).map_or(&[], |entry| self.versions(key, entry))
    }

    /// Where the index's slots lie now, for prefetching a key's entry
    /// ahead of a request still in flight ([`SlotLocator`]).
    pub fn locator(&self) -> SlotLocator {
        self.keys.locator()
    }

    /// The versions of the key `id` whose entry is `entry`.
    fn versions<'a>(&'a self, id: u64, entry: &'a Entry) -> &'a [Version] {
        match &entry.single {
            Some(version) => std::slice::from_ref(version),
            None => self.siblings.get(id).map_or(&[], Vec::as_slice),
        }
    }

    /// Takes `id`'s versions out of `entry` (and the siblings' table) to change
    /// them; [`Store::put_back`] returns them.
    fn take_versions(siblings: &mut KeyTable<Vec<Version>>, id: u64, entry: &mut Entry) -> Versions {
        match entry.single.take() {
            Some(version) => smallvec::smallvec![version],
            None => siblings.remove(id).map_or_else(Versions::new, Versions::from_vec),
        }
    }

    /// Puts `id`'s `versions` back into `entry` (or the siblings' table);
    /// false when there are none left, and the caller forgets the key.
    fn put_back(siblings: &mut KeyTable<Vec<Version>>, id: u64, entry: &mut Entry, mut versions: Versions) -> bool {
        match versions.len() {
            0 => false,
            1 => {
                entry.single = versions.pop();
                true
            }
            _ => {
                *siblings.entry(id) = versions.into_vec();
                true
            }
        }
    }

    /// The digest of `key`'s versions
    /// ([`key_digest`](super::merkle::key_digest); 0 when it has none).
    pub fn digest(&self, key: u64) -> u64 {
        self.keys.get(key).map_or(0, |e| e.digest(key))
    }

    /// The summary of `key`'s versions, from the digest kept up to date.
    pub fn summary(&self, key: Key) -> KeySummary {
        self.keys.get(key.id).map_or(KeySummary::default(), |entry| {
            KeySummary::with_digest(key, self.versions(key.id, entry), entry.digest(key.id), true)
        })
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
        let Store { keys, siblings, changes } = self;
        changes.note(key.id);
        let (entry, new) = keys.entry_inserted(key.id);
        entry.position = Entry::position_of(key);
        let versioning = rules.versioning;
        let ranges = versioning == Versioning::DottedVersionVectors;
        let summary = |versions: &[Version], sum: u64| {
            KeySummary::with_digest(key, versions, key_digest_of_sum(key.id, sum), ranges)
        };
        if let Some(single) = entry.single.as_mut() {
            // The common case, in place: the one version held is replaced by
            // a descendant or covers the new one.
            let before = summary(std::slice::from_ref(single), entry.digest_sum);
            if versioning.covers(single, &version) {
                return (PutEffect::Obsolete, before, before);
            }
            if versioning.covers(&version, single) {
                *single = version;
                entry.digest_sum = version_digest(single);
                return (PutEffect::Stored, before, summary(std::slice::from_ref(single), entry.digest_sum));
            }
        }
        let held = match entry.single.take() {
            // Concurrent with the one held: the two become siblings.
            Some(single) => {
                let held = siblings.entry(key.id); // new: the key held one version
                debug_assert!(held.is_empty(), "a key with siblings keeps no single version");
                held.reserve_exact(2);
                held.push(single);
                held
            }
            None => {
                // A key new to the store has no siblings to look for (most
                // puts at a thousand nodes and a million keys).
                let found = if new { None } else { siblings.get_mut(key.id) };
                let Some(held) = found else {
                    entry.digest_sum = version_digest(&version);
                    let after = summary(std::slice::from_ref(&version), entry.digest_sum);
                    entry.single = Some(version);
                    return (PutEffect::Stored, KeySummary::default(), after);
                };
                held
            }
        };
        // Siblings, changed where they lie: taking them out of their table
        // and putting them back searched it twice (6 % of a blind-write run,
        // where nearly every key has siblings).
        let before = summary(held, entry.digest_sum);
        if held.iter().any(|v| versioning.covers(v, &version)) {
            return (PutEffect::Obsolete, before, before);
        }
        let mut sum = entry.digest_sum.wrapping_add(version_digest(&version));
        held.retain(|v| {
            let superseded = versioning.covers(&version, v);
            if superseded {
                sum = sum.wrapping_sub(version_digest(v));
            }
            !superseded
        });
        held.push(version);
        let effect = match over_cap(held, rules) {
            Some(cap) => {
                let dropped: Vec<Version> = held.drain(cap..).collect();
                sum = sum.wrapping_sub(version_digest_sum(&dropped));
                PutEffect::StoredOverCap(dropped)
            }
            None => PutEffect::Stored,
        };
        entry.digest_sum = sum;
        let after = summary(held, sum);
        if held.len() == 1 {
            entry.single = held.pop();
            siblings.remove(key.id);
        }
        (effect, before, after)
    }

    /// Removes the versions of `key` named by `dots`; returns how many.
    pub fn remove_dots(&mut self, key: u64, dots: &[Dot]) -> usize {
        self.remove_where(key, |v| dots.contains(&v.dot))
    }

    /// Removes the versions of `key` that `doomed` picks; returns how many.
    fn remove_where(&mut self, key: u64, doomed: impl Fn(&Version) -> bool) -> usize {
        let Some(entry) = self.keys.get_mut(key) else {
            return 0;
        };
        let mut versions = Self::take_versions(&mut self.siblings, key, entry);
        let before = versions.len();
        versions.retain(|v| !doomed(v));
        let removed = before - versions.len();
        if removed > 0 {
            entry.digest_sum = version_digest_sum(&versions);
            self.changes.note(key);
        }
        if !Self::put_back(&mut self.siblings, key, entry, versions) {
            self.keys.remove(key);
        }
        removed
    }

    /// Forgets `key` entirely.
    pub fn remove_key(&mut self, key: u64) {
        self.keys.remove(key);
        self.siblings.remove(key);
        self.changes.note(key);
    }

    /// Removes exactly `version` from `key`'s versions, if present.
    pub fn remove_version(&mut self, key: u64, version: &Version) {
        self.remove_where(key, |v| v == version);
    }

    /// Number of keys with at least one version.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Number of versions over all keys.
    pub fn version_count(&self) -> usize {
        self.keys.len() - self.siblings.len() + self.siblings.iter().map(|(_, held)| held.len()).sum::<usize>()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key held, in the table's order, which must never reach a
    /// result: for callers that collect into an ordered set or filter a
    /// few out to sort (a sorted walk of a whole store, as [`Store::iter`]
    /// gives, cost 2 % of the 64-node bench row's instructions in
    /// anti-entropy's repairs).
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.keys.iter().map(|(id, entry)| entry.key(id))
    }

    /// Every key with its versions, in key order (sorted here: the
    /// table's own order must never reach a result).
    pub fn iter(&self) -> impl Iterator<Item = (Key, &[Version])> {
        let mut entries: Vec<(u64, &Entry)> = self.keys.iter().collect();
        entries.sort_unstable_by_key(|&(id, _)| id);
        entries.into_iter().map(|(id, entry)| (entry.key(id), self.versions(id, entry)))
    }

    /// Removes and returns everything (a crash's loss of the buffer, or
    /// a wipe): every key held changes; the log stays with this store.
    pub fn take(&mut self) -> Store {
        let changes = std::mem::take(&mut self.changes);
        let taken = std::mem::replace(self, Store { changes, ..Store::default() });
        for (key, _) in taken.keys.iter() {
            self.changes.note(key);
        }
        taken
    }

    /// Logs, from now on, every key whose versions change
    /// ([`Store::drain_changes`] hands them over).
    pub fn log_changes(&mut self) {
        self.changes.on = true;
    }

    /// Appends to `into` the keys changed since the last call (those
    /// changed twice, twice); none while not logging.
    pub fn drain_changes(&mut self, into: &mut Vec<u64>) {
        into.append(&mut self.changes.keys);
    }
}

/// Where `versions`, just grown by one, must be cut to keep `rules`'
/// sibling cap: Some(cap) once they are sorted newest first (by stamp),
/// so the oldest are cut; None when they are within it.
fn over_cap(versions: &mut [Version], rules: StoreRules) -> Option<usize> {
    let cap = rules.sibling_cap;
    (cap > 0 && versions.len() > cap).then(|| {
        versions.sort_by_key(|v| std::cmp::Reverse(v.stamp()));
        cap
    })
}

/// Syntactic reconciliation (Dynamo §4.4): from versions gathered from
/// several replicas, keep those no other version covers, once each (under
/// last-write-wins: the single greatest).
pub fn reconcile<'a>(versions: impl IntoIterator<Item = &'a Version>, versioning: Versioning) -> Vec<Version> {
    reconcile_onto(&[], versions, versioning)
}

/// [`reconcile`] of `reconciled` followed by `more`, where `reconciled` is
/// already reconciled, as a replica's versions always are (no version of
/// it covers another; see [`Node::local_versions`]): it is kept whole,
/// without comparing its versions with each other. The same list as
/// `reconcile` of the two chained; a read of k siblings from three
/// replicas took ~3k² clock comparisons, and through a partition under
/// truncated clocks a hot key's reads return a thousand siblings.
///
/// [`Node::local_versions`]: super::Node::local_versions
pub fn reconcile_onto<'a>(
    reconciled: &[Version],
    more: impl IntoIterator<Item = &'a Version>,
    versioning: Versioning,
) -> Vec<Version> {
    let mut kept: Vec<Version> = Vec::with_capacity(reconciled.len());
    kept.extend_from_slice(reconciled);
    // The kept versions' actor masks and allocations, once there are many.
    let mut masks: Option<Masked> = None;
    for candidate in more {
        if masks.is_none() && versioning == Versioning::VectorClocks && kept.len() >= MASKED_FROM {
            masks = Some(Masked::of(&kept));
        }
        match &mut masks {
            None => {
                if holds(&kept, candidate, versioning) {
                    continue;
                }
                kept.retain(|k| !versioning.covers(candidate, k));
            }
            Some(masks) => {
                if !keep_masked(&mut kept, masks, candidate) {
                    continue;
                }
            }
        }
        // Room for exactly the versions kept, grown one at a time: a read's
        // list becomes its history record's boxed slice, which spare
        // capacity would make reallocate, and nearly every key has a single
        // version (siblings are few, so the growth by one costs little).
        kept.reserve_exact(1);
        kept.push(candidate.clone());
    }
    kept
}

/// From this many siblings on, [`reconcile_onto`] compares vector clocks
/// by their actor masks first ([`VectorClock::actor_mask`]). Under
/// truncated clocks a hot key's siblings run to a thousand, and the
/// pairwise comparisons of a replica read of its versions with those of
/// its hints were a third of such a run; below, a list is not worth the
/// masks' allocation.
///
/// [`VectorClock::actor_mask`]: super::vclock::VectorClock::actor_mask
const MASKED_FROM: usize = 16;

/// What [`reconcile_onto`] keeps beside many kept versions under vector
/// clocks: their clocks' actor masks, and the allocations of every version
/// it ever kept.
struct Masked {
    /// One per kept version, in step with it.
    masks: Vec<u64>,
    /// [`Version::allocation`] of every version kept so far, sorted:
    /// versions travel as copies of one allocation, so a node's hints
    /// often share versions with its store. A version dropped since was
    /// covered by one kept (covering is transitive), so a copy of it is
    /// held too. Every version here is borrowed from the caller's lists
    /// for the call, so no allocation is freed and reused meanwhile.
    kept_ever: Vec<usize>,
}

impl Masked {
    fn of(kept: &[Version]) -> Masked {
        let mut kept_ever: Vec<usize> = kept.iter().map(Version::allocation).collect();
        kept_ever.sort_unstable();
        Masked { masks: kept.iter().map(|k| k.clock.actor_mask()).collect(), kept_ever }
    }
}

/// [`reconcile_onto`]'s step under vector clocks with `masked` beside
/// `kept`: false when `kept` holds `candidate` already; otherwise drops
/// from both what the candidate covers and returns true (the caller adds
/// the candidate; this records its mask and allocation). A clock descends
/// from another only if its mask has every bit of the other's, so most
/// siblings are told apart by the masks alone.
fn keep_masked(kept: &mut Vec<Version>, masked: &mut Masked, candidate: &Version) -> bool {
    let Masked { masks, kept_ever } = masked;
    // A copy of a version kept is found without reading any version.
    let allocation = candidate.allocation();
    let Err(place) = kept_ever.binary_search(&allocation) else { return false };
    let clock = &candidate.clock;
    let mask = clock.actor_mask();
    // One pass asks both questions; nothing changes before it ends.
    let mut first_covered = None;
    for (at, (version, &held_mask)) in kept.iter().zip(masks.iter()).enumerate() {
        if mask & !held_mask == 0 && version.clock.descends(clock) {
            return false;
        }
        if first_covered.is_none() && held_mask & !mask == 0 && clock.descends(&version.clock) {
            first_covered = Some(at);
        }
    }
    if let Some(first) = first_covered {
        // Both lists compacted in step, in order, from the first covered.
        let mut to = first;
        for from in first..kept.len() {
            if masks[from] & !mask == 0 && clock.descends(&kept[from].clock) {
                continue;
            }
            kept.swap(to, from);
            masks[to] = masks[from];
            to += 1;
        }
        kept.truncate(to);
        masks.truncate(to);
    }
    masks.push(mask);
    kept_ever.insert(place, allocation);
    true
}

/// True when `versions` holds `wanted` or something covering it.
///
/// A version held itself is found by its dot first: comparing dots is
/// cheaper than comparing clocks, and a replica asked about its own
/// versions (read repair, a reply already reconciled) nearly always holds
/// them; only a version not found so is compared with every other.
pub fn holds(versions: &[Version], wanted: &Version, versioning: Versioning) -> bool {
    let itself = versions.iter().find(|v| v.dot == wanted.dot);
    held(versions, itself, wanted, versioning)
}

/// [`holds`], given the first of `versions` with `wanted`'s dot.
fn held(versions: &[Version], itself: Option<&Version>, wanted: &Version, versioning: Versioning) -> bool {
    itself.is_some_and(|v| versioning.covers(v, wanted)) || versions.iter().any(|v| versioning.covers(v, wanted))
}

/// A replica's versions, to ask [`holds`] of many versions: read repair
/// asks it of every reconciled version against every reply, and a hot
/// key's thousand siblings made each question a scan of a thousand dots.
/// A list longer than `INDEXED_FROM` (8) is indexed by dot.
pub struct Holdings<'a> {
    versions: &'a [Version],
    /// (dot, place in `versions`), sorted; empty for a short list.
    dots: Vec<(Dot, usize)>,
}

impl<'a> Holdings<'a> {
    /// Lists up to this long are scanned.
    const INDEXED_FROM: usize = 8;

    /// `versions`, indexed when long.
    pub fn new(versions: &'a [Version]) -> Self {
        let mut dots = Vec::new();
        if versions.len() > Self::INDEXED_FROM {
            dots.extend(versions.iter().enumerate().map(|(at, v)| (v.dot, at)));
            dots.sort_unstable();
        }
        Holdings { versions, dots }
    }

    /// [`holds`] of these versions.
    pub fn holds(&self, wanted: &Version, versioning: Versioning) -> bool {
        if self.dots.is_empty() {
            return holds(self.versions, wanted, versioning);
        }
        // The first of equal dots in sorted order is the first in the list.
        let at = self.dots.partition_point(|&(dot, _)| dot < wanted.dot);
        let itself = self.dots.get(at).filter(|&&(dot, _)| dot == wanted.dot).map(|&(_, place)| &self.versions[place]);
        held(self.versions, itself, wanted, versioning)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::node::vclock::VectorClock;
    use crate::protocol::{Stamp, Value, VersionData, WriteId};
    use crate::types::{NodeId, Time};
    use std::collections::BTreeMap;

    /// Version of write `write` (dot n99:`write`, stamp `write`) with the
    /// clock entries `pairs`; the hint store's tests use it too.
    pub(crate) fn version(write: u64, pairs: &[(u32, u64)]) -> Version {
        let mut clock = VectorClock::new();
        for &(n, c) in pairs {
            clock.set(NodeId(n), c, Time(0));
        }
        let stamp = Stamp { time_us: write, writer: 0 };
        let dot = Dot { actor: NodeId(99).into(), counter: write };
        Version::from(VersionData::new(clock, dot, stamp, Value { write: WriteId(write), bytes: 10, items: None }))
    }

    const VC: StoreRules = StoreRules::VECTOR_CLOCKS;

    #[test]
    fn a_descendant_replaces_its_ancestor() {
        let mut store = Store::new();
        assert_eq!(store.put(Key::new(1), version(1, &[(0, 1)]), VC), PutEffect::Stored);
        assert_eq!(store.put(Key::new(1), version(2, &[(0, 2)]), VC), PutEffect::Stored);
        assert_eq!(store.get(1).len(), 1);
        assert_eq!(store.get(1)[0].write, WriteId(2));
    }

    /// A store sized for its keys takes them in the index it started
    /// with: its slots neither move nor grow; one sized for none grows.
    #[test]
    fn a_store_sized_for_its_keys_holds_them_without_growing() {
        let mut sized = Store::with_capacity(100);
        let mut growing = Store::new();
        let (sized_before, growing_before) = (sized.locator(), growing.locator());
        for key in 1..=100 {
            sized.put(Key::new(key), version(key, &[(0, 1)]), VC);
            growing.put(Key::new(key), version(key, &[(0, 1)]), VC);
        }
        assert_eq!(sized.locator(), sized_before);
        assert_ne!(growing.locator(), growing_before);
        assert!((1..=100).all(|key| sized.get(key).len() == 1));
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
    fn a_key_holding_one_version_keeps_it_in_its_entry_and_siblings_aside() {
        let mut store = Store::new();
        store.put(Key::new(1), version(1, &[(0, 1)]), VC);
        store.put(Key::new(1), version(2, &[(0, 2)]), VC); // replaces, in place
        assert!(store.keys.get(1).unwrap().single.is_some() && store.siblings.is_empty());
        store.put(Key::new(1), version(3, &[(1, 1)]), VC); // a sibling: both move aside
        assert!(store.keys.get(1).unwrap().single.is_none());
        assert_eq!(store.siblings.get(1).map(Vec::len), Some(2));
        assert_eq!(store.get(1), &[version(2, &[(0, 2)]), version(3, &[(1, 1)])][..]);
        store.put(Key::new(1), version(4, &[(0, 2), (1, 1)]), VC); // resolves both: back in the entry
        assert!(store.keys.get(1).unwrap().single.is_some() && store.siblings.is_empty());
        store.put(Key::new(1), version(5, &[(2, 1)]), VC);
        store.remove_key(1);
        assert!(store.keys.is_empty() && store.siblings.is_empty(), "a forgotten key leaves nothing aside");
        assert_eq!(std::mem::size_of::<Entry>(), 32, "a stored key's entry");
        assert_eq!(std::mem::size_of::<(u64, Entry)>(), 40, "its slot in the table, with its id");
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

    /// Under dotted version vectors a clock may count a range, which a
    /// summary's bytes count; under vector clocks none can, and the
    /// summaries skip reading the clocks: either way they are the sizes
    /// of what is held.
    #[test]
    fn a_put_s_summaries_are_the_sizes_of_what_is_held_under_every_versioning() {
        let ranged = |write: u64, node: u32, floor: u64| {
            let mut clock = VectorClock::new();
            clock.count_range(NodeId(node), floor, floor + 2, Time(0));
            let (stamp, dot) =
                (Stamp { time_us: write, writer: 0 }, Dot { actor: NodeId(node).into(), counter: floor + 2 });
            Version::from(VersionData::new(clock, dot, stamp, Value { write: WriteId(write), bytes: 10, items: None }))
        };
        for versioning in [Versioning::VectorClocks, Versioning::DottedVersionVectors] {
            let rules = StoreRules { versioning, sibling_cap: 0 };
            let mut store = Store::new();
            let writes = match versioning {
                Versioning::DottedVersionVectors => [ranged(1, 0, 3), ranged(2, 1, 5), ranged(3, 0, 4)],
                _ => [version(1, &[(0, 1)]), version(2, &[(1, 1)]), version(3, &[(0, 2), (1, 1)])],
            };
            for write in writes {
                let (effect, _, after) = store.put_summaries(Key::new(7), write, rules);
                assert_eq!(after, KeySummary::of(Key::new(7), store.get(7)), "{versioning:?}: {effect:?}");
            }
        }
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
        assert_eq!(store.get(1)[0].write, WriteId(9));
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
        let writes: Vec<u64> = store.get(1).iter().map(|v| v.write.0).collect();
        assert_eq!(writes, vec![3, 2]);
    }

    #[test]
    fn reconcile_drops_ancestors_and_duplicates() {
        let a = version(1, &[(0, 1)]);
        let b = version(2, &[(0, 1), (1, 1)]);
        let c = version(3, &[(0, 1), (2, 1)]);
        let kept = reconcile([&a, &b, &b.clone(), &c], Versioning::VectorClocks);
        let writes: Vec<u64> = kept.iter().map(|v| v.write.0).collect();
        assert_eq!(writes, vec![2, 3]);
        assert!(Versioning::VectorClocks.concurrent(&kept[0], &kept[1]));
    }

    #[test]
    fn a_reconciled_list_has_no_spare_capacity() {
        // A read's list becomes a boxed slice: spare room would reallocate.
        let (a, b) = (version(1, &[(0, 1)]), version(2, &[(1, 1)]));
        let vc = Versioning::VectorClocks;
        assert_eq!(reconcile([], vc).capacity(), 0, "nothing allocated for no version");
        assert_eq!(reconcile([&a, &a.clone()], vc).capacity(), 1);
        assert_eq!(reconcile([&a, &b], vc).capacity(), 2);
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

    /// Off until asked for, the change log then holds every key put (an
    /// obsolete version too), every key a removal took something from or
    /// forgot, and every key a `take` emptied; the log stays with the
    /// store taken from.
    #[test]
    fn once_asked_the_store_logs_every_key_it_changed() {
        let dot = |write| Dot { actor: NodeId(99).into(), counter: write };
        let drained = |store: &mut Store| {
            let mut keys = Vec::new();
            store.drain_changes(&mut keys);
            keys
        };
        let mut store = Store::new();
        store.put(Key::new(1), version(1, &[(0, 1)]), VC);
        assert_eq!(drained(&mut store), Vec::<u64>::new(), "not logging yet");
        store.log_changes();
        store.put(Key::new(2), version(2, &[(0, 1)]), VC);
        assert_eq!(store.put(Key::new(2), version(2, &[(0, 1)]), VC), PutEffect::Obsolete);
        store.put(Key::new(3), version(3, &[(1, 1)]), VC);
        assert_eq!(store.remove_dots(3, &[dot(9)]), 0, "a removal that removes nothing changes nothing");
        assert_eq!(store.remove_dots(3, &[dot(3)]), 1);
        store.remove_key(1);
        assert_eq!(drained(&mut store), vec![2, 2, 3, 3, 1]);
        assert_eq!(drained(&mut store), Vec::<u64>::new(), "drained");
        store.put(Key::new(4), version(4, &[(0, 1)]), VC);
        let mut taken = store.take();
        let mut logged = drained(&mut store);
        logged[1..].sort_unstable(); // a take logs its keys in the table's order
        assert_eq!(logged, vec![4, 2, 4]);
        store.put(Key::new(5), version(5, &[(0, 1)]), VC);
        taken.put(Key::new(6), version(6, &[(0, 1)]), VC);
        assert_eq!((drained(&mut store), drained(&mut taken)), (vec![5], vec![]), "the log stayed behind");
    }

    /// Among many siblings (where vector clocks are compared by their actor
    /// masks first), dotted version vectors still compare by dots: a
    /// version whose clock holds a sibling's dot covers it, though the
    /// clock lacks an entry of the sibling's (as a truncated one can).
    #[test]
    fn among_many_siblings_a_dotted_version_vector_covers_the_dots_its_clock_holds() {
        let dvv = Versioning::DottedVersionVectors;
        let made = |write: u64, node: u32, pairs: &[(u32, u64)]| {
            version(write, pairs).changed(|v| v.dot = Dot { actor: NodeId(node).into(), counter: 1 })
        };
        // Sibling i: node i's first write, from a context of node 40's.
        let siblings: Vec<Version> =
            (0..MASKED_FROM as u32).map(|i| made(u64::from(i) + 1, i, &[(i, 1), (40, 1)])).collect();
        assert_eq!(reconcile(&siblings, dvv), siblings, "pairwise concurrent");
        // Node 50's first write, from a context of node 0's write alone.
        let covering = made(100, 50, &[(0, 1), (50, 1)]);
        assert!(dvv.covers(&covering, &siblings[0]) && !covering.clock.descends(&siblings[0].clock));
        let expected: Vec<Version> = siblings[1..].iter().chain([&covering]).cloned().collect();
        assert_eq!(reconcile_onto(&siblings, [&covering], dvv), expected);
    }

    /// What the store must behave like: each key's versions in one list,
    /// changed by the same rules.
    #[derive(Default)]
    struct Model(BTreeMap<u64, Vec<Version>>);

    impl Model {
        fn put(&mut self, key: u64, version: Version, rules: StoreRules) {
            let versions = self.0.entry(key).or_default();
            let versioning = rules.versioning;
            if versions.iter().any(|v| versioning.covers(v, &version)) {
                return;
            }
            versions.retain(|v| !versioning.covers(&version, v));
            versions.push(version);
            if rules.sibling_cap > 0 && versions.len() > rules.sibling_cap {
                versions.sort_by_key(|v| std::cmp::Reverse(v.stamp()));
                versions.truncate(rules.sibling_cap);
            }
        }

        fn remove(&mut self, key: u64, doomed: impl Fn(&Version) -> bool) {
            if let Some(versions) = self.0.get_mut(&key) {
                versions.retain(|v| !doomed(v));
                if versions.is_empty() {
                    self.0.remove(&key);
                }
            }
        }
    }

    proptest::proptest! {
        /// Onto a reconciled list, reconciling more versions gives what
        /// reconciling the two chained does, under every versioning; and
        /// `holds` answers as a comparison with every version would.
        #[test]
        fn reconciled_onto_a_reconciled_list_is_reconciled_chained(
            first in proptest::collection::vec(1u64..12, 0..8),
            more in proptest::collection::vec(1u64..12, 0..8),
        ) {
            // Versions of one write are made alike (the same dot, clock and
            // stamp); write w counts w's digits in base 3 on nodes 0 to 2.
            let made = |writes: &[u64]| -> Vec<Version> {
                let clock = |w: u64| (0..3u32).map(|n| (n, w / 3u64.pow(n) % 3)).filter(|&(_, c)| c > 0).collect::<Vec<_>>();
                writes.iter().map(|&w| version(w, &clock(w))).collect()
            };
            let (first, more) = (made(&first), made(&more));
            for versioning in [Versioning::VectorClocks, Versioning::DottedVersionVectors, Versioning::LastWriteWins] {
                let reconciled = reconcile(&first, versioning);
                let chained = reconcile(reconciled.iter().chain(&more), versioning);
                proptest::prop_assert_eq!(reconcile_onto(&reconciled, &more, versioning), chained);
                for wanted in &more {
                    let by_comparison = reconciled.iter().any(|v| versioning.covers(v, wanted));
                    proptest::prop_assert_eq!(holds(&reconciled, wanted, versioning), by_comparison);
                }
            }
        }

        /// Many siblings, compared by their actor masks first (nodes 0 to
        /// 79, so two nodes share each of 16 bits), reconcile as a
        /// comparison of every pair does, copies of one version included
        /// (of one allocation, as versions travel, and made apart); and
        /// `Holdings` answers as `holds` does.
        #[test]
        fn many_siblings_reconcile_as_every_pair_compared(
            clocks in proptest::collection::vec(proptest::collection::btree_map(0u32..80, 1u64..4, 1..6), 48),
            first in proptest::collection::vec(0usize..48, 0..40),
            more in proptest::collection::vec(0usize..48, 0..40),
            made_apart in proptest::collection::vec(0usize..48, 0..8),
        ) {
            let made = |writes: &[usize]| -> Vec<Version> {
                writes.iter().map(|&w| version(w as u64 + 1, &clocks[w].iter().map(|(&n, &c)| (n, c)).collect::<Vec<_>>())).collect()
            };
            let pool = made(&(0..48).collect::<Vec<_>>());
            let first: Vec<Version> = first.iter().map(|&w| pool[w].clone()).collect();
            let more: Vec<Version> = more.iter().map(|&w| pool[w].clone()).chain(made(&made_apart)).collect();
            let by_pairs = |versions: &[&Version]| {
                let mut kept: Vec<Version> = Vec::new();
                for &candidate in versions {
                    if !kept.iter().any(|k| VC.versioning.covers(k, candidate)) {
                        kept.retain(|k| !VC.versioning.covers(candidate, k));
                        kept.push(candidate.clone());
                    }
                }
                kept
            };
            let reconciled = by_pairs(&first.iter().collect::<Vec<_>>());
            let expected = by_pairs(&reconciled.iter().chain(&more).collect::<Vec<_>>());
            proptest::prop_assert_eq!(reconcile_onto(&reconciled, &more, VC.versioning), expected);
            // Indexed by dot (a long list), `holds` answers as a scan does.
            for list in [&reconciled, &first] {
                let holdings = Holdings::new(list);
                for wanted in first.iter().chain(&more) {
                    proptest::prop_assert_eq!(holdings.holds(wanted, VC.versioning), holds(list, wanted, VC.versioning));
                }
            }
        }

        /// Whatever the changes, the store holds what one list per key
        /// would (a key's one version in its entry, siblings aside), with
        /// every digest and count kept right.
        #[test]
        fn the_store_holds_what_one_list_per_key_would(
            changes in proptest::collection::vec((0u8..4, 0u64..4, 1u64..40, 0u32..3, 1u64..3), 0..120),
            cap in 0usize..3,
        ) {
            use crate::node::merkle::key_digest;
            let rules = StoreRules { versioning: Versioning::VectorClocks, sibling_cap: cap };
            let mut store = Store::new();
            let mut model = Model::default();
            for (write, &(kind, key, counter, actor, more)) in changes.iter().enumerate() {
                let write = write as u64 + 1;
                match kind {
                    0 | 1 => {
                        // Kind 1: a blind write's version, whose clock is its dot.
                        let own_dot = Dot { actor: NodeId(actor).into(), counter };
                        let held = match kind {
                            0 => version(write, &[(actor, counter), ((actor + 1) % 3, more)]),
                            _ => version(write, &[(actor, counter)]).changed(|v| v.dot = own_dot),
                        };
                        store.put(Key::new(key), held.clone(), rules);
                        model.put(key, held, rules);
                    }
                    2 => {
                        let dot = Dot { actor: NodeId(99).into(), counter: counter % write + 1 };
                        store.remove_dots(key, &[dot]);
                        model.remove(key, |v| v.dot == dot);
                    }
                    _ if counter % 4 == 0 => {
                        store.remove_key(key);
                        model.0.remove(&key);
                    }
                    _ => {
                        if let Some(first) = model.0.get(&key).map(|vs| vs[0].clone()) {
                            store.remove_version(key, &first);
                            model.remove(key, |v| *v == first);
                        }
                    }
                }
                let held: Vec<(u64, Vec<Version>)> = store.iter().map(|(k, vs)| (k.id, vs.to_vec())).collect();
                let expected: Vec<(u64, Vec<Version>)> = model.0.iter().map(|(&k, vs)| (k, vs.clone())).collect();
                proptest::prop_assert_eq!(held, expected);
                for key in 0..4 {
                    proptest::prop_assert_eq!(store.digest(key), key_digest(key, store.get(key)));
                    // Already reconciled, as `Node::main_versions` and `local_versions` rely on.
                    proptest::prop_assert_eq!(reconcile(store.get(key), rules.versioning), store.get(key).to_vec());
                }
                proptest::prop_assert_eq!(store.version_count(), model.0.values().map(Vec::len).sum::<usize>());
                proptest::prop_assert_eq!(store.key_count(), model.0.len());
                proptest::prop_assert!(store.siblings.iter().all(|(_, vs)| vs.len() > 1));
                proptest::prop_assert!(store.siblings.iter().all(|(k, _)| store.keys.get(k).unwrap().single.is_none()));
            }
        }
    }
}
