//! Merkle trees for anti-entropy (Dynamo §4.7).
//!
//! One tree per key range a node hosts. Keys fall into 2^depth leaves by
//! the low bits of their ring position; a leaf's hash is the XOR of its
//! keys' digests (so a key's change updates it without rereading the
//! others), and an inner node hashes its two children. Two replicas of a
//! range compare trees from the root down and exchange only the subtrees
//! whose hashes differ, then only the keys whose digests differ.

use crate::protocol::{Key, Version};
use crate::types::Token;

/// A complete binary tree in heap layout: index 1 is the root, the
/// children of i are 2i and 2i+1, leaves are 2^depth .. 2^(depth+1).
///
/// Inner hashes are brought up to date lazily: a change only updates its
/// leaf and notes it, and [`MerkleTree::refresh`] rehashes the noted paths
/// once, before an exchange reads the tree. Writes far outnumber exchanges,
/// so each shared inner node is hashed once per exchange, not once per write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    depth: u32,
    /// Every node's hash by heap index; empty until the first change (a
    /// node hosts Q·N/S ranges, most of them empty for a while).
    hashes: Vec<u64>,
    /// Leaves changed since the last refresh (possibly repeated); `None`
    /// once there are more than leaves, and every inner node is rehashed.
    stale: Option<Vec<u32>>,
}

/// Hash of an empty subtree.
const EMPTY: u64 = 0;

impl MerkleTree {
    /// An empty tree with 2^depth leaves (depth 1..=20).
    pub fn new(depth: u32) -> Self {
        assert!((1..=20).contains(&depth), "tree depth must be 1..=20");
        MerkleTree { depth, hashes: Vec::new(), stale: Some(Vec::new()) }
    }

    /// The root hash (equal roots: the ranges hold the same data, with
    /// overwhelming probability). Call [`refresh`](Self::refresh) first.
    pub fn root(&self) -> u64 {
        self.hash(1)
    }

    /// The hash at heap index `index`. Call [`refresh`](Self::refresh) first.
    pub fn hash(&self, index: usize) -> u64 {
        debug_assert!(self.is_leaf(index) || self.is_fresh(), "inner hashes read before a refresh");
        debug_assert!(self.contains(index));
        self.hashes.get(index).copied().unwrap_or(EMPTY)
    }

    /// True when every inner hash is up to date.
    pub fn is_fresh(&self) -> bool {
        self.stale.as_ref().is_some_and(Vec::is_empty)
    }

    /// Rehashes the inner nodes above the leaves changed since the last
    /// refresh, level by level, each once.
    pub fn refresh(&mut self) {
        if self.hashes.is_empty() {
            return; // never changed: every hash is the empty one
        }
        let Some(mut level) = self.stale.replace(Vec::new()) else {
            for index in (1..1usize << self.depth).rev() {
                self.hashes[index] = combine(self.hashes[2 * index], self.hashes[2 * index + 1]);
            }
            return;
        };
        level.sort_unstable();
        level.dedup();
        while level.first().is_some_and(|&index| index > 1) {
            // Halving keeps the list sorted, so duplicates stay adjacent.
            level.iter_mut().for_each(|index| *index /= 2);
            level.dedup();
            for &index in &level {
                let index = index as usize;
                self.hashes[index] = combine(self.hashes[2 * index], self.hashes[2 * index + 1]);
            }
        }
        level.clear();
        self.stale = Some(level); // keeps its capacity for the next changes
    }

    /// True for a leaf index.
    pub fn is_leaf(&self, index: usize) -> bool {
        index >= 1 << self.depth
    }

    /// True for an index inside the tree.
    pub fn contains(&self, index: usize) -> bool {
        (1..1 << (self.depth + 1)).contains(&index)
    }

    /// The leaf a key at `position` falls in.
    pub fn leaf_of(&self, position: Token) -> usize {
        (1 << self.depth) | (position.0 as usize & ((1 << self.depth) - 1))
    }

    /// Replaces one key's digest `old` by `new` in `leaf` (0 = absent); the
    /// path to the root is rehashed at the next [`refresh`](Self::refresh).
    pub fn update(&mut self, leaf: usize, old: u64, new: u64) {
        debug_assert!(self.is_leaf(leaf));
        if old == new {
            return;
        }
        let leaves = 1usize << self.depth;
        if self.hashes.is_empty() {
            self.hashes = vec![EMPTY; 2 * leaves];
        }
        self.hashes[leaf] ^= old ^ new;
        if let Some(stale) = &mut self.stale {
            if stale.len() < leaves {
                stale.push(leaf as u32);
            } else {
                self.stale = None;
            }
        }
    }
}

fn combine(left: u64, right: u64) -> u64 {
    if left == EMPTY && right == EMPTY {
        return EMPTY;
    }
    fold(left ^ SECRETS[0], right ^ SECRETS[1])
}

/// What anti-entropy keeps of one key's main data: its digest (the
/// Merkle tree's input) and the bytes a full copy of it would send (the
/// baseline anti-entropy is measured against), both zero when the key holds
/// no version. Kept up to date around every change, so a round reads a
/// running total instead of scanning the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeySummary {
    /// [`key_digest`] of the versions.
    pub digest: u64,
    /// The key's and its versions' bytes on the wire.
    pub bytes: u64,
}

impl KeySummary {
    /// The summary of `key` holding `versions`.
    pub fn of(key: Key, versions: &[Version]) -> KeySummary {
        KeySummary::with_digest(key, versions, key_digest(key.id, versions))
    }

    /// The summary of `key` holding `versions`, whose digest is known.
    pub fn with_digest(key: Key, versions: &[Version], digest: u64) -> KeySummary {
        if versions.is_empty() {
            return KeySummary::default();
        }
        KeySummary { digest, bytes: key.wire_bytes() + versions.iter().map(Version::wire_bytes).sum::<u64>() }
    }
}

/// The digest of one key's version set (0 when it has none): the key id
/// mixed with the sum of the versions' own digests (each version's write
/// id, dot, timestamp and clock as 64-bit words, `WordDigest`). A sum
/// is the same for any order of the set, so replicas holding the same set
/// agree with nothing to sort: ordering a key's siblings by dot first was
/// over half of this function on blind writes, where every key has some.
pub fn key_digest(key: u64, versions: &[Version]) -> u64 {
    if versions.is_empty() {
        return EMPTY;
    }
    let sum = versions.iter().fold(0u64, |sum, version| sum.wrapping_add(version_digest(version)));
    fold(key ^ SECRETS[2], sum ^ SECRETS[3]).max(1) // never the empty digest
}

/// wyhash's secrets (Wang Yi's wyhash, final version 4): odd 64-bit
/// constants with balanced bits.
const SECRETS: [u64; 4] = [0xa076_1d64_78bd_642f, 0xe703_7ed1_a0b4_28db, 0x8ebc_6af0_9c88_c6e3, 0x5899_65cc_7537_4cc3];

/// wyhash's mixing step: the 128-bit product of `a` and `b`, its halves
/// XORed.
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A version's words on their way to one 64-bit digest: each pair mixed
/// into the state as wyhash's loop mixes each 16 bytes of its input.
/// A version is five to a dozen words, so this is a few multiplications,
/// where laying its bytes out and running xxh3 over them was ~350
/// instructions — a quarter of a replica's write. Only equality of
/// digests matters (replicas compare them; none is shown or enters the
/// run digest), and distinct sets collide with probability ~2^-64 either
/// way.
struct WordDigest {
    state: u64,
    /// The first word of a pair whose second has not come yet.
    held: Option<u64>,
    /// Words pushed, the first included.
    words: u64,
}

impl WordDigest {
    /// A digest whose first word is `first`.
    fn new(first: u64) -> Self {
        WordDigest { state: SECRETS[0], held: Some(first), words: 1 }
    }

    fn push(&mut self, word: u64) {
        self.words += 1;
        match self.held.take() {
            Some(first) => self.state = fold(first ^ SECRETS[1], word ^ self.state),
            None => self.held = Some(word),
        }
    }

    /// The digest: an odd last word mixed in alone, then the word count
    /// (as wyhash ends with the length).
    fn finish(self) -> u64 {
        let state = self.held.map_or(self.state, |last| fold(last ^ SECRETS[1], SECRETS[2] ^ self.state));
        fold(state ^ SECRETS[2], self.words ^ SECRETS[3])
    }
}

/// One version's digest, of its words: write id, dot, timestamp, clock
/// length, then each clock entry (the length makes the layout
/// unambiguous).
fn version_digest(version: &Version) -> u64 {
    let actor_word = |actor: super::vclock::Actor| u64::from(actor.node.0) | u64::from(actor.epoch) << 32;
    let entries = version.clock.entries();
    let mut digest = WordDigest::new(version.write.0);
    digest.push(actor_word(version.dot.actor));
    digest.push(version.dot.counter);
    digest.push(version.time_us);
    digest.push(u64::from(version.writer) | (entries.len() as u64) << 32);
    for entry in entries {
        digest.push(actor_word(entry.actor));
        digest.push(entry.counter);
    }
    digest.finish()
}

/// Walks two trees top-down as the exchange protocol does: returns the
/// differing leaves and how many (index, hash) entries were exchanged.
pub fn differing_leaves(a: &MerkleTree, b: &MerkleTree) -> (Vec<usize>, u64) {
    assert_eq!(a.depth, b.depth, "trees of one range share a depth");
    let mut frontier = vec![1usize];
    let mut exchanged = 0u64;
    let mut leaves = Vec::new();
    while !frontier.is_empty() {
        exchanged += frontier.len() as u64;
        let mut next = Vec::new();
        for index in frontier {
            if a.hash(index) == b.hash(index) {
                continue;
            }
            if a.is_leaf(index) {
                leaves.push(index);
            } else {
                next.extend([2 * index, 2 * index + 1]);
            }
        }
        frontier = next;
    }
    (leaves, exchanged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::vclock::{Dot, VectorClock};
    use crate::protocol::{Key, Stamp};
    use crate::types::{NodeId, Time};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn version(write: u64, counter: u64) -> Version {
        let mut clock = VectorClock::new();
        clock.set(NodeId(0), counter, Time(0));
        let dot = Dot { actor: NodeId(0).into(), counter: write * 1000 + counter };
        Version::of_write(write, dot, clock, Stamp::default())
    }

    fn tree_of(depth: u32, store: &BTreeMap<u64, u64>) -> MerkleTree {
        let mut tree = MerkleTree::new(depth);
        for (&key, &write) in store {
            let leaf = tree.leaf_of(Key::new(key).position);
            tree.update(leaf, 0, key_digest(key, &[version(write, 1)]));
        }
        tree.refresh();
        tree
    }

    /// Keys whose digests differ, found through the differing leaves.
    fn diff_keys(depth: u32, a: &BTreeMap<u64, u64>, b: &BTreeMap<u64, u64>) -> (BTreeSet<u64>, u64) {
        let (ta, tb) = (tree_of(depth, a), tree_of(depth, b));
        let (leaves, exchanged) = differing_leaves(&ta, &tb);
        let leaves: BTreeSet<usize> = leaves.into_iter().collect();
        let digest = |s: &BTreeMap<u64, u64>, k: u64| s.get(&k).map_or(0, |&w| key_digest(k, &[version(w, 1)]));
        let keys = a
            .keys()
            .chain(b.keys())
            .copied()
            .filter(|&k| leaves.contains(&ta.leaf_of(Key::new(k).position)))
            .filter(|&k| digest(a, k) != digest(b, k))
            .collect();
        (keys, exchanged)
    }

    #[test]
    fn equal_data_gives_equal_roots_and_an_update_changes_the_root() {
        let store: BTreeMap<u64, u64> = (0..50).map(|k| (k, k)).collect();
        let (a, b) = (tree_of(6, &store), tree_of(6, &store));
        assert_eq!(a.root(), b.root());
        let mut changed = store.clone();
        changed.insert(7, 99);
        assert_ne!(tree_of(6, &changed).root(), a.root());
        // Removing a key restores the tree exactly.
        let mut tree = tree_of(6, &store);
        let leaf = tree.leaf_of(Key::new(1000).position);
        tree.update(leaf, 0, 42);
        tree.refresh();
        assert_ne!(tree.root(), a.root());
        tree.update(leaf, 42, 0);
        tree.refresh();
        assert_eq!(tree, a);
    }

    #[test]
    fn a_key_digest_does_not_depend_on_the_order_versions_are_held_in() {
        // Two versions of one write (a request coordinated twice) and a third.
        let twin = version(7, 2).changed(|v| v.set_stamp(Stamp { time_us: 9, writer: 3 }));
        let versions = [version(7, 1), twin, version(8, 1)];
        let mut reversed = versions.clone();
        reversed.reverse();
        assert_eq!(key_digest(1, &versions), key_digest(1, &reversed));
        assert_ne!(key_digest(1, &versions), key_digest(1, &versions[..2]));
    }

    #[test]
    fn few_differences_exchange_far_fewer_nodes_than_keys() {
        let keys = 10_000u64;
        let a: BTreeMap<u64, u64> = (0..keys).map(|k| (k, k)).collect();
        let mut b = a.clone();
        for k in [5, 1234, 9999] {
            b.insert(k, k + 1);
        }
        let (found, exchanged) = diff_keys(14, &a, &b);
        assert_eq!(found, BTreeSet::from([5, 1234, 9999]));
        // d = 3 differing keys, depth log2(K) ≈ 14: about 2·d·depth entries.
        assert!(exchanged <= 2 * 3 * 15, "exchanged {exchanged}");
        assert!(exchanged * 50 < keys);
    }

    proptest! {
        /// Refreshing only the changed paths (or everything, once more
        /// leaves changed than the tree has) gives the hashes of a tree
        /// rehashed in full, whenever the refreshes come.
        #[test]
        fn a_lazy_refresh_equals_a_full_rehash(
            changes in proptest::collection::vec((0usize..64, 1u64..1000, any::<bool>()), 0..200),
            depth in 1u32..7,
        ) {
            let mut tree = MerkleTree::new(depth);
            for (leaf, digest, refresh_now) in changes {
                let leaf = (1 << depth) | (leaf & ((1 << depth) - 1));
                tree.update(leaf, 0, digest);
                if refresh_now {
                    tree.refresh();
                }
            }
            tree.refresh();
            let mut full: Vec<u64> = (0..2usize << depth).map(|i| if tree.is_leaf(i) { tree.hash(i) } else { EMPTY }).collect();
            for index in (1..1usize << depth).rev() {
                full[index] = combine(full[2 * index], full[2 * index + 1]);
            }
            prop_assert!(tree.is_fresh());
            for (index, &expected) in full.iter().enumerate().skip(1) {
                prop_assert_eq!(tree.hash(index), expected, "heap index {}", index);
            }
        }

        #[test]
        fn the_diff_finds_exactly_the_differing_keys(
            a in proptest::collection::btree_map(0u64..500, 0u64..3, 0..200),
            b in proptest::collection::btree_map(0u64..500, 0u64..3, 0..200),
            depth in 2u32..10,
        ) {
            let expected: BTreeSet<u64> = a.keys().chain(b.keys()).copied().filter(|k| a.get(k) != b.get(k)).collect();
            let (found, _) = diff_keys(depth, &a, &b);
            prop_assert_eq!(found, expected);
        }
    }

    #[test]
    fn leaves_are_the_last_level_of_the_heap_and_a_key_falls_in_the_leaf_of_its_low_bits() {
        let tree = MerkleTree::new(4);
        assert_eq!(tree.leaf_of(Token(0xabc6)), 16 + 6);
        assert_eq!(tree.leaf_of(Token(16)), 16);
        assert_eq!(tree.leaf_of(Token(u128::MAX)), 31);
        assert!(!tree.is_leaf(15) && tree.is_leaf(16) && tree.is_leaf(31));
        assert!(!tree.contains(0) && tree.contains(1) && tree.contains(31) && !tree.contains(32));
    }

    /// A tree is fresh until a change and again after the refresh, whether
    /// that refresh rehashes the changed paths or (more changes than
    /// leaves) every inner node; a change to the same digest is none.
    #[test]
    fn a_tree_is_fresh_only_while_no_change_awaits_a_refresh() {
        let mut tree = MerkleTree::new(2);
        assert!(tree.is_fresh());
        tree.update(5, 0, 0);
        assert!(tree.is_fresh(), "no change");
        tree.update(5, 0, 9);
        assert!(!tree.is_fresh());
        tree.refresh();
        assert!(tree.is_fresh());
        (0..5u64).for_each(|i| tree.update(4 + i as usize % 4, 0, 10 + i));
        assert!(!tree.is_fresh());
        tree.refresh();
        assert!(tree.is_fresh());
    }

    /// A leaf's hash is the XOR of its keys' digests: moving one key from
    /// one digest to another gives the tree it would have with the new one.
    #[test]
    fn a_key_whose_digest_changes_leaves_the_tree_it_would_have_had_with_the_new_digest() {
        let (other, old, new) = (0x0f0f_u64, 0x3c3c_u64, 0x5a5a_u64);
        let mut changed = MerkleTree::new(3);
        changed.update(9, 0, other);
        changed.update(9, 0, old);
        changed.refresh();
        changed.update(9, old, new);
        changed.refresh();
        let mut direct = MerkleTree::new(3);
        direct.update(9, 0, other);
        direct.update(9, 0, new);
        direct.refresh();
        assert_eq!(changed.hash(9), other ^ new);
        assert_eq!(changed.root(), direct.root());
    }

    /// Equal trees cost the root's hash; one differing key costs the root
    /// and then two hashes a level down its one path.
    #[test]
    fn comparing_two_trees_walks_only_the_path_to_a_differing_leaf() {
        let store: BTreeMap<u64, u64> = (0..50).map(|k| (k, k)).collect();
        let a = tree_of(4, &store);
        assert_eq!(differing_leaves(&a, &a.clone()), (vec![], 1));
        let mut changed = store.clone();
        changed.insert(7, 99);
        let leaf = a.leaf_of(Key::new(7).position);
        assert_eq!(differing_leaves(&a, &tree_of(4, &changed)), (vec![leaf], 1 + 2 * 4));
    }

    /// Each field of a version, its clock's length and each clock entry
    /// enters the digest: changing any one changes it.
    #[test]
    fn every_field_of_a_version_changes_its_key_s_digest() {
        let mut clock = VectorClock::new();
        (0..3).for_each(|node| clock.set(NodeId(node), u64::from(node) + 1, Time(0)));
        let base = version(7, 1).changed(|v| v.clock = clock.clone());
        let bumped = |node: u32| {
            let mut clock = clock.clone();
            clock.set(NodeId(node), 10, Time(0));
            clock
        };
        let variants = [
            base.changed(|v| v.write.0 += 1),
            base.changed(|v| v.dot.actor.node = NodeId(1)),
            base.changed(|v| v.dot.actor.epoch = 1),
            base.changed(|v| v.dot.counter += 1),
            base.changed(|v| v.time_us = 1),
            base.changed(|v| v.writer = 1),
            base.changed(|v| v.clock = bumped(0)),
            base.changed(|v| v.clock = bumped(2)),
            base.changed(|v| v.clock = bumped(3)), // one entry more
            base.changed(|v| v.clock = VectorClock::new()),
        ];
        let mut digests: BTreeSet<u64> = variants.iter().map(|v| key_digest(42, std::slice::from_ref(v))).collect();
        digests.insert(key_digest(42, std::slice::from_ref(&base)));
        digests.insert(key_digest(43, std::slice::from_ref(&base)));
        digests.insert(key_digest(42, &[base.clone(), variants[0].clone()]));
        assert_eq!(digests.len(), variants.len() + 3, "every variant has its own digest");
        assert!(!digests.contains(&EMPTY));
    }

    /// Over 25,000 distinct sets of one to three versions, each
    /// differing from others in a field or a member, get distinct digests:
    /// a digest that kept too few bits of each version, or of their sum,
    /// would collide here (with only each version's low byte summed, it
    /// does at once).
    #[test]
    fn no_two_of_twenty_five_thousand_version_sets_share_a_digest() {
        let pool: Vec<Version> = (0..1_000u64)
            .map(|i| {
                version(i % 97, 1 + i % 5).changed(|v| v.set_stamp(Stamp { time_us: i / 7, writer: (i % 3) as u32 }))
            })
            .collect();
        let mut sets: Vec<Vec<Version>> = pool.iter().map(|v| vec![v.clone()]).collect();
        for (i, first) in pool.iter().enumerate() {
            for gap in 1..=25 {
                if let Some(second) = pool.get(i + gap) {
                    sets.push(vec![first.clone(), second.clone()]);
                }
            }
            if let [second, third] = &pool[(i + 1).min(pool.len())..(i + 3).min(pool.len())] {
                sets.push(vec![first.clone(), second.clone(), third.clone()]);
            }
        }
        let digests: BTreeSet<u64> = sets.iter().map(|set| key_digest(5, set)).collect();
        assert!(sets.len() > 25_000);
        assert_eq!(digests.len(), sets.len(), "two distinct sets share a digest");
    }

    proptest! {
        /// Version sets that differ in any field have different digests;
        /// equal ones, equal digests (a weak mix would collide on inputs
        /// this close together).
        #[test]
        fn digests_differ_exactly_when_the_version_sets_do(
            fields in proptest::collection::vec((0u64..4, 0u32..3, 0u64..4, 0u64..3), 1..4),
            other in proptest::collection::vec((0u64..4, 0u32..3, 0u64..4, 0u64..3), 1..4),
        ) {
            let set = |fields: &[(u64, u32, u64, u64)]| -> Vec<Version> {
                fields.iter().enumerate().map(|(i, &(write, node, counter, time))| {
                    let mut clock = VectorClock::new();
                    clock.set(NodeId(node), counter + 1, Time(0));
                    let dot = Dot { actor: NodeId(node).into(), counter: 10 * i as u64 + counter };
                    Version::of_write(write, dot, clock, Stamp { time_us: time, writer: node })
                }).collect()
            };
            let (a, b) = (set(&fields), set(&other));
            prop_assert_eq!(key_digest(9, &a) == key_digest(9, &b), fields == other);
        }
    }
}
