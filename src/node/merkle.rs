//! Merkle trees for anti-entropy (Dynamo §4.7).
//!
//! One tree per key range a node hosts. Keys fall into 2^depth leaves by
//! the low bits of their ring position; a leaf's hash is the XOR of its
//! keys' digests (so a key's change updates it without rereading the
//! others), and an inner node hashes its two children. Two replicas of a
//! range compare trees from the root down and exchange only the subtrees
//! whose hashes differ, then only the keys whose digests differ. A run's
//! trees hold their hashes in a table, or sparse where tables would take
//! gigabytes ([`Layout`]): the hashes, hence the exchanges, are the same.

use crate::protocol::{Key, Version};
use crate::types::Token;

/// A complete binary tree in heap layout: index 1 is the root, the
/// children of i are 2i and 2i+1, leaves are 2^depth .. 2^(depth+1).
///
/// Inner hashes are brought up to date lazily: a change only updates its
/// leaf and notes it, and [`MerkleTree::refresh`] rehashes the noted paths
/// once, before an exchange reads the tree. Writes far outnumber exchanges,
/// so each shared inner node is hashed once per exchange, not once per write.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    depth: u32,
    /// The hashes, as the tree's [`Layout`] holds them.
    hashes: Hashes,
    /// Leaves changed since the last refresh (possibly repeated); `None`
    /// once there are more than leaves, and every inner node is rehashed.
    stale: Option<Vec<u32>>,
}

/// How a run's trees hold their hashes: the same hashes either way, so
/// the same exchanges, messages and figures; only memory and time differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A table of every node's 2^(depth + 1) hashes (16 KiB at depth 10),
    /// from a range's first key on: the fastest to update and read. For
    /// runs whose ranges will hold enough keys to turn a sparse tree dense
    /// anyway ([`Layout::for_trees`]).
    Dense,
    /// Only the leaves that are not empty, while a tree has few (at most
    /// one in 32), the inner hashes computed when read: a few hundred
    /// bytes for a range of a few keys, where the table took 16 KiB that
    /// the kernel must fault in and zero. For runs whose ranges hold few
    /// keys, and runs whose dense trees would take gigabytes.
    Sparse,
}

impl Layout {
    /// Total bytes of dense trees from which a run's trees are sparse
    /// however many keys its ranges hold: 256 MiB. Under strategy 1 with
    /// many tokens most ranges hold a handful of keys: 2,048 nodes × 64
    /// tokens at 1 M requests peaked at 5.3 GB with dense trees (11.6 s of
    /// system time faulting them in), 0.5 GB with sparse ones, and 0.5 GB
    /// without anti-entropy (session 41).
    pub const SPARSE_ABOVE_BYTES: f64 = (256u64 << 20) as f64;

    /// The layout for a run whose trees of `depth` cover `ranges` ranges,
    /// each replicated on `replicas` nodes and expected to hold `keys` keys
    /// on average: sparse when a range's keys would not turn a sparse tree
    /// dense, or when dense trees would pass [`Layout::SPARSE_ABOVE_BYTES`].
    ///
    /// Why not sparse everywhere: a tree whose range fills up spends its
    /// sparse start rehashing every leaf's path at each refresh and
    /// comparison, where a table rehashes only the changed ones; every tree
    /// sparse took the 1,000-node row 4 % more CPU (1.041 over 16
    /// side-by-side pairs at 1 M requests; +0.9 % instructions at 200 k).
    /// Why not dense for few keys: the quickstart's ranges hold ~16 keys,
    /// and its tables were half of its page faults — 11 % of its CPU with
    /// its second run beside the first (sessions 41 and 44, BENCHMARKS.md).
    pub fn for_trees(ranges: f64, replicas: f64, depth: u32, keys: f64) -> Layout {
        let stays_sparse = keys < sparse_limit(depth) as f64;
        if stays_sparse || ranges * replicas * dense_bytes(depth) > Layout::SPARSE_ABOVE_BYTES {
            Layout::Sparse
        } else {
            Layout::Dense
        }
    }
}

/// The most leaves a sparse tree of `depth` keeps: one in 32 (32 at depth
/// 10, in at most 1 KiB against the dense table's 16).
fn sparse_limit(depth: u32) -> usize {
    (1 << depth) / 32
}

/// Bytes of a dense tree of `depth` holding data.
pub fn dense_bytes(depth: u32) -> f64 {
    2f64.powi(depth as i32 + 1) * 8.0
}

/// A tree's hashes by its layout.
#[derive(Clone, Debug)]
enum Hashes {
    /// The leaves that are not empty, (heap index, hash) by increasing
    /// index, at most [`MerkleTree::sparse_limit`] of them (past it the
    /// tree turns dense), and the root's hash as of the last refresh:
    /// replicas compare roots every round, and most trees do not change
    /// between two rounds.
    Sparse { leaves: Vec<(u32, u64)>, root: u64 },
    /// Every node's hash by heap index (index 0 unused); empty until the
    /// first change (a node hosts Q·N/S ranges, most of them empty for a
    /// while).
    Dense(Vec<u64>),
}

/// Hash of an empty subtree.
const EMPTY: u64 = 0;

impl MerkleTree {
    /// An empty tree with 2^depth leaves (depth 1..=20), laid out as `layout`.
    pub fn new(depth: u32, layout: Layout) -> Self {
        assert!((1..=20).contains(&depth), "tree depth must be 1..=20");
        let hashes = match layout {
            Layout::Dense => Hashes::Dense(Vec::new()),
            Layout::Sparse => Hashes::Sparse { leaves: Vec::new(), root: EMPTY },
        };
        MerkleTree { depth, hashes, stale: Some(Vec::new()) }
    }

    /// The most leaves a sparse tree keeps ([`sparse_limit`]).
    fn sparse_limit(&self) -> usize {
        sparse_limit(self.depth)
    }

    /// Heap indices 0 to 2^(depth+1) − 1 (0 unused).
    fn nodes(&self) -> usize {
        2 << self.depth
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
        match &self.hashes {
            Hashes::Dense(hashes) => hashes.get(index).copied().unwrap_or(EMPTY),
            Hashes::Sparse { root, .. } if index == 1 => *root,
            Hashes::Sparse { leaves, .. } => {
                let (first, end) = leaves_under(self.depth, index);
                let from = leaves.partition_point(|&(at, _)| (at as usize) < first);
                let to = from + leaves[from..].partition_point(|&(at, _)| (at as usize) < end);
                subtree_hash(self.depth, index, &leaves[from..to])
            }
        }
    }

    /// True when every inner hash is up to date.
    pub fn is_fresh(&self) -> bool {
        self.stale.as_ref().is_some_and(Vec::is_empty)
    }

    /// Rehashes the inner nodes above the leaves changed since the last
    /// refresh, level by level, each once (a sparse tree keeps only its
    /// root: the other inner hashes are computed when read).
    pub fn refresh(&mut self) {
        let hashes = match &mut self.hashes {
            Hashes::Dense(hashes) if !hashes.is_empty() => hashes,
            Hashes::Sparse { leaves, root } => {
                if !self.stale.as_ref().is_some_and(Vec::is_empty) {
                    *root = subtree_hash(self.depth, 1, leaves);
                }
                self.stale.get_or_insert_with(Vec::new).clear();
                return;
            }
            // Never changed: every hash is the empty one.
            _ => {
                self.stale.get_or_insert_with(Vec::new).clear();
                return;
            }
        };
        let Some(mut level) = self.stale.replace(Vec::new()) else {
            for index in (1..1usize << self.depth).rev() {
                hashes[index] = combine(hashes[2 * index], hashes[2 * index + 1]);
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
                hashes[index] = combine(hashes[2 * index], hashes[2 * index + 1]);
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
        match &mut self.hashes {
            Hashes::Dense(hashes) if !hashes.is_empty() => hashes[leaf] ^= old ^ new,
            _ => self.update_without_table(leaf, old ^ new),
        }
        let leaves = 1usize << self.depth;
        if let Some(stale) = &mut self.stale {
            if stale.len() < leaves {
                stale.push(leaf as u32);
            } else {
                self.stale = None;
            }
        }
    }

    /// [`MerkleTree::update`] of a tree without its dense table: a dense
    /// tree's first change allocates it; a sparse tree's changes its leaf
    /// and turns it dense past [`MerkleTree::sparse_limit`] leaves.
    fn update_without_table(&mut self, leaf: usize, change: u64) {
        let (limit, nodes) = (self.sparse_limit(), self.nodes());
        let leaves = match &mut self.hashes {
            Hashes::Sparse { leaves, .. } => leaves,
            Hashes::Dense(hashes) => {
                *hashes = vec![EMPTY; nodes];
                hashes[leaf] = change;
                return;
            }
        };
        match leaves.binary_search_by_key(&(leaf as u32), |&(at, _)| at) {
            Ok(found) => {
                leaves[found].1 ^= change;
                if leaves[found].1 == EMPTY {
                    leaves.remove(found);
                }
            }
            Err(at) if leaves.len() < limit => leaves.insert(at, (leaf as u32, change)),
            Err(_) => {
                // Too many leaves to keep sparse: the dense table, whose
                // inner nodes the next refresh hashes above these leaves
                // (the others are over empty subtrees).
                let mut hashes = vec![EMPTY; nodes];
                for &(at, hash) in leaves.iter() {
                    hashes[at as usize] = hash;
                }
                hashes[leaf] = change;
                if let Some(stale) = &mut self.stale {
                    stale.extend(leaves.iter().map(|&(at, _)| at));
                }
                self.hashes = Hashes::Dense(hashes);
            }
        }
    }

    /// Bytes the hashes take on the heap (tests hold sparse trees small).
    #[cfg(test)]
    fn hash_bytes(&self) -> usize {
        match &self.hashes {
            Hashes::Sparse { leaves, .. } => leaves.capacity() * std::mem::size_of::<(u32, u64)>(),
            Hashes::Dense(hashes) => hashes.capacity() * std::mem::size_of::<u64>(),
        }
    }
}

/// Trees are equal when they have the same depth, the same leaves and the
/// same changes awaiting a refresh (then the same inner hashes after it),
/// however each holds its hashes.
impl PartialEq for MerkleTree {
    fn eq(&self, other: &Self) -> bool {
        let leaves = 1usize << self.depth..self.nodes();
        self.depth == other.depth
            && self.stale == other.stale
            && leaves.into_iter().all(|leaf| self.hash(leaf) == other.hash(leaf))
    }
}

impl Eq for MerkleTree {}

/// The heap indices of the leaves under `index` in a tree of `depth`: `first..end`.
fn leaves_under(depth: u32, index: usize) -> (usize, usize) {
    let height = depth - index.ilog2();
    (index << height, (index + 1) << height)
}

/// The hash of the subtree at `index` of a tree of `depth`, whose leaves
/// that are not empty are `leaves` (a sparse tree's).
fn subtree_hash(depth: u32, index: usize, leaves: &[(u32, u64)]) -> u64 {
    match leaves {
        [] => EMPTY,
        [(leaf, hash)] => {
            // One leaf: hash up its path, an empty sibling at each level.
            let (mut at, mut hash) = (*leaf as usize, *hash);
            while at > index {
                hash = if at % 2 == 0 { combine(hash, EMPTY) } else { combine(EMPTY, hash) };
                at /= 2;
            }
            hash
        }
        _ => {
            let (right_first, _) = leaves_under(depth, 2 * index + 1);
            let split = leaves.partition_point(|&(at, _)| (at as usize) < right_first);
            let (left, right) = leaves.split_at(split);
            combine(subtree_hash(depth, 2 * index, left), subtree_hash(depth, 2 * index + 1, right))
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
        KeySummary::with_digest(key, versions, key_digest(key.id, versions), true)
    }

    /// The summary of `key` holding `versions`, whose digest is known;
    /// `may_hold_ranges` tells whether their clocks may count ranges (only
    /// dotted version vectors' do): if not, the clocks' entries, an
    /// allocation of their own, are not read
    /// ([`Version::wire_bytes_given`]).
    pub fn with_digest(key: Key, versions: &[Version], digest: u64, may_hold_ranges: bool) -> KeySummary {
        if versions.is_empty() {
            return KeySummary::default();
        }
        let versions_bytes = versions.iter().map(|v| v.wire_bytes_given(may_hold_ranges)).sum::<u64>();
        KeySummary { digest, bytes: key.wire_bytes() + versions_bytes }
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
    key_digest_of_sum(key, version_digest_sum(versions))
}

/// The (wrapping) sum of `versions`' [`version_digest`]s, which
/// [`key_digest`] mixes with the key.
pub fn version_digest_sum(versions: &[Version]) -> u64 {
    versions.iter().fold(0, |sum, version| sum.wrapping_add(version_digest(version)))
}

/// [`key_digest`] of a key holding some versions, from the (wrapping) sum
/// of their [`version_digest`]s: a store keeps the sum and adds or
/// subtracts only the versions a change adds or removes, where
/// recomputing the digest read every sibling's clock again.
pub fn key_digest_of_sum(key: u64, sum: u64) -> u64 {
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
/// length, then each clock entry's actor and counter (the length makes
/// the layout unambiguous).
///
/// A clock that is exactly the version's dot
/// ([`VersionData::clock_is_dot`](crate::protocol::VersionData::clock_is_dot))
/// has the dot's actor and counter for its one entry, so they are taken
/// from the dot: the clock's entries, an allocation of their own, are not
/// read (on blind writes a store digests every sibling it adds or drops).
pub fn version_digest(version: &Version) -> u64 {
    let actor_word = |actor: super::vclock::Actor| u64::from(actor.node.0) | u64::from(actor.epoch) << 32;
    let mut digest = WordDigest::new(version.write.0);
    digest.push(actor_word(version.dot.actor));
    digest.push(version.dot.counter);
    digest.push(version.time_us);
    digest.push(u64::from(version.writer) | (version.clock.len() as u64) << 32);
    if version.clock_is_dot() {
        digest.push(actor_word(version.dot.actor));
        digest.push(version.dot.counter);
    } else {
        for entry in version.clock.entries() {
            digest.push(actor_word(entry.actor));
            digest.push(entry.counter);
        }
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

    /// A version whose clock is its dot is digested from the dot, without
    /// reading the clock: the same words as reading the clock's one entry.
    /// Versions of every kind — a blind write's, an older counter, another
    /// actor, two entries, a range under dotted version vectors, the empty
    /// clock — each digest to what their clocks' words give.
    #[test]
    fn a_version_digests_the_same_whether_or_not_its_clock_is_read() {
        let reading_the_clock = |version: &Version| {
            let actor_word = |actor: crate::node::vclock::Actor| u64::from(actor.node.0) | u64::from(actor.epoch) << 32;
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
        };
        let dot = |node: u32, counter| Dot { actor: NodeId(node).into(), counter };
        let clock = |entries: &[(u32, u64)]| {
            let mut clock = VectorClock::new();
            entries.iter().for_each(|&(node, counter)| clock.set(NodeId(node), counter, Time(9)));
            clock
        };
        let mut ranged = VectorClock::new();
        ranged.count_range(NodeId(2), 3, 7, Time(0));
        let cases = [
            (dot(2, 7), clock(&[(2, 7)]), true),
            (dot(5, 1), clock(&[(5, 1)]), true),
            (dot(2, 7), clock(&[(2, 6)]), false),
            (dot(2, 7), clock(&[(3, 7)]), false),
            (dot(2, 7), clock(&[(1, 1), (2, 7)]), false),
            (dot(2, 7), ranged, false),
            (dot(2, 7), VectorClock::new(), false),
        ];
        for (at, (dot, clock, is_dot)) in cases.into_iter().enumerate() {
            let version = Version::of_write(at as u64 + 1, dot, clock, Stamp { time_us: 40 + at as u64, writer: 3 });
            assert_eq!(version.clock_is_dot(), is_dot, "case {at}");
            assert_eq!(version_digest(&version), reading_the_clock(&version), "case {at}");
        }
    }

    /// Every hash of `tree` computed anew from its leaves, by heap index.
    fn rehashed_in_full(tree: &MerkleTree) -> Vec<u64> {
        let mut full: Vec<u64> =
            (0..tree.nodes()).map(|i| if tree.is_leaf(i) { tree.hash(i) } else { EMPTY }).collect();
        for index in (1..1usize << tree.depth).rev() {
            full[index] = combine(full[2 * index], full[2 * index + 1]);
        }
        full
    }

    /// Every hash of `tree`, by heap index from 1.
    fn all_hashes(tree: &MerkleTree) -> Vec<u64> {
        (1..tree.nodes()).map(|i| tree.hash(i)).collect()
    }

    /// A range with a few keys costs their leaves, not the whole tree; one
    /// with many turns dense and stays so. Either way each hash is the
    /// full rehash's, and the same keys give the same hashes.
    #[test]
    fn a_tree_holds_the_leaves_of_a_few_keys_and_turns_dense_with_many() {
        let depth = 10;
        let add = |tree: &mut MerkleTree, keys: std::ops::Range<u64>, present: bool| {
            for key in keys {
                let (old, new) = if present { (0, key + 1) } else { (key + 1, 0) };
                tree.update(tree.leaf_of(Key::new(key).position), old, new);
            }
            tree.refresh();
        };
        let mut few = MerkleTree::new(depth, Layout::Sparse);
        assert_eq!(few.hash_bytes(), 0, "an empty tree allocates nothing");
        add(&mut few, 0..8, true);
        assert!(matches!(&few.hashes, Hashes::Sparse { leaves, .. } if leaves.len() == 8));
        assert!(few.hash_bytes() <= 2 * 8 * 16, "{} bytes for 8 keys", few.hash_bytes());
        assert_eq!(all_hashes(&few), rehashed_in_full(&few)[1..]);
        let mut many = few.clone();
        add(&mut many, 8..300, true);
        assert_eq!(many.hash_bytes(), 8 << (depth + 1), "dense: one word a node");
        assert_eq!(all_hashes(&many), rehashed_in_full(&many)[1..]);
        add(&mut many, 8..300, false);
        assert!(matches!(many.hashes, Hashes::Dense(_)), "a tree that turned dense stays so");
        assert_eq!(many, few);
        assert_eq!(all_hashes(&many), all_hashes(&few), "dense and sparse: the same hashes");
    }

    /// More changes than leaves before a refresh (a hot key) leave a
    /// sparse tree with the leaves of the keys left and no others, equal
    /// to one built from those keys.
    #[test]
    fn a_sparse_tree_keeps_only_the_leaves_of_the_keys_it_holds() {
        let mut tree = MerkleTree::new(10, Layout::Sparse);
        let leaf = |key: u64| tree_of(10, &BTreeMap::new(), Layout::Dense).leaf_of(Key::new(key).position);
        for key in [1, 2, 3] {
            tree.update(leaf(key), 0, key + 100);
        }
        tree.refresh();
        tree.update(leaf(2), 102, 0);
        let mut digest = 101;
        for step in 0..2000 {
            tree.update(leaf(1), digest, 1000 + step);
            digest = 1000 + step;
        }
        assert!(tree.stale.is_none(), "more changes than leaves");
        tree.refresh();
        assert!(tree.is_fresh());
        let Hashes::Sparse { leaves, .. } = &tree.hashes else { panic!("3 keys stay sparse") };
        let held: BTreeSet<usize> = leaves.iter().map(|&(at, _)| at as usize).collect();
        assert_eq!(held, BTreeSet::from([leaf(1), leaf(3)]), "exactly the leaves of the keys left");
        let mut direct = MerkleTree::new(10, Layout::Dense);
        direct.update(leaf(1), 0, digest);
        direct.update(leaf(3), 0, 103);
        direct.refresh();
        assert_eq!(tree, direct);
        assert_eq!(all_hashes(&tree), all_hashes(&direct));
        assert_eq!(all_hashes(&tree), rehashed_in_full(&tree)[1..]);
    }

    const LAYOUTS: [Layout; 2] = [Layout::Dense, Layout::Sparse];

    fn tree_of(depth: u32, store: &BTreeMap<u64, u64>, layout: Layout) -> MerkleTree {
        let mut tree = MerkleTree::new(depth, layout);
        for (&key, &write) in store {
            let leaf = tree.leaf_of(Key::new(key).position);
            tree.update(leaf, 0, key_digest(key, &[version(write, 1)]));
        }
        tree.refresh();
        tree
    }

    /// Keys whose digests differ, found through the differing leaves.
    fn diff_keys(
        depth: u32,
        (a, a_layout): (&BTreeMap<u64, u64>, Layout),
        (b, b_layout): (&BTreeMap<u64, u64>, Layout),
    ) -> (BTreeSet<u64>, u64) {
        let (ta, tb) = (tree_of(depth, a, a_layout), tree_of(depth, b, b_layout));
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
        for (depth, keys) in [(6, 50), (10, 20)] {
            let store: BTreeMap<u64, u64> = (0..keys).map(|k| (k, k)).collect();
            let [a, b] = LAYOUTS.map(|layout| tree_of(depth, &store, layout));
            assert_eq!(a.root(), b.root());
            let mut changed = store.clone();
            changed.insert(7, 99);
            for layout in LAYOUTS {
                assert_ne!(tree_of(depth, &changed, layout).root(), a.root());
                // Removing a key restores the tree exactly.
                let mut tree = tree_of(depth, &store, layout);
                let leaf = tree.leaf_of(Key::new(1000).position);
                tree.update(leaf, 0, 42);
                tree.refresh();
                assert_ne!(tree.root(), a.root());
                tree.update(leaf, 42, 0);
                tree.refresh();
                assert_eq!(tree, a);
            }
        }
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
        for layout in LAYOUTS {
            let (found, exchanged) = diff_keys(14, (&a, layout), (&b, layout));
            assert_eq!(found, BTreeSet::from([5, 1234, 9999]));
            // d = 3 differing keys, depth log2(K) ≈ 14: about 2·d·depth entries.
            assert!(exchanged <= 2 * 3 * 15, "exchanged {exchanged}");
            assert!(exchanged * 50 < keys);
        }
    }

    proptest! {
        /// Refreshing only the changed paths (or everything, once more
        /// leaves changed than the tree has) gives the hashes of a tree
        /// rehashed in full, whenever the refreshes come.
        #[test]
        fn a_lazy_refresh_equals_a_full_rehash(
            changes in proptest::collection::vec((0usize..64, 1u64..1000, any::<bool>()), 0..200),
            depth in 1u32..7,
            layout in prop::sample::select(LAYOUTS.to_vec()),
        ) {
            let mut tree = MerkleTree::new(depth, layout);
            for (leaf, digest, refresh_now) in changes {
                let leaf = (1 << depth) | (leaf & ((1 << depth) - 1));
                tree.update(leaf, 0, digest);
                if refresh_now {
                    tree.refresh();
                }
            }
            tree.refresh();
            prop_assert!(tree.is_fresh());
            for (index, expected) in rehashed_in_full(&tree).into_iter().enumerate().skip(1) {
                prop_assert_eq!(tree.hash(index), expected, "heap index {}", index);
            }
        }

        /// Keys added and removed in any order, with refreshes between,
        /// leave a sparse tree (turned dense or not) with the hashes a full
        /// rehash of its leaves gives (its root after every refresh),
        /// equal to a dense tree that got only the keys left, hash for hash.
        #[test]
        fn sparse_and_dense_trees_hold_the_same_hashes(
            keys in proptest::collection::vec((0u64..4000, 1u64..1000), 0..120),
            removed in proptest::collection::vec(any::<bool>(), 120),
            refresh_every in 1usize..50,
        ) {
            let mut tree = MerkleTree::new(10, Layout::Sparse);
            let mut kept = MerkleTree::new(10, Layout::Dense);
            let mut steps = 0;
            for (&(key, digest), &remove) in keys.iter().zip(&removed) {
                let leaf = tree.leaf_of(Key::new(key).position);
                tree.update(leaf, 0, digest);
                if remove {
                    tree.update(leaf, digest, 0);
                } else {
                    kept.update(leaf, 0, digest);
                }
                steps += 1;
                if steps % refresh_every == 0 {
                    tree.refresh();
                    // A sparse tree's root is kept from refresh to refresh.
                    prop_assert_eq!(tree.root(), rehashed_in_full(&tree)[1], "after {} changes", steps);
                }
            }
            tree.refresh();
            kept.refresh();
            for (index, expected) in rehashed_in_full(&tree).into_iter().enumerate().skip(1) {
                prop_assert_eq!(tree.hash(index), expected, "heap index {}", index);
            }
            prop_assert_eq!(&tree, &kept);
            prop_assert_eq!(all_hashes(&tree), all_hashes(&kept));
        }

        #[test]
        fn the_diff_finds_exactly_the_differing_keys(
            a in proptest::collection::btree_map(0u64..500, 0u64..3, 0..200),
            b in proptest::collection::btree_map(0u64..500, 0u64..3, 0..200),
            depth in 2u32..12,
            a_layout in prop::sample::select(LAYOUTS.to_vec()),
            b_layout in prop::sample::select(LAYOUTS.to_vec()),
        ) {
            let expected: BTreeSet<u64> = a.keys().chain(b.keys()).copied().filter(|k| a.get(k) != b.get(k)).collect();
            let (found, _) = diff_keys(depth, (&a, a_layout), (&b, b_layout));
            prop_assert_eq!(found, expected);
        }
    }

    #[test]
    fn leaves_are_the_last_level_of_the_heap_and_a_key_falls_in_the_leaf_of_its_low_bits() {
        let tree = MerkleTree::new(4, Layout::Dense);
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
        for (depth, layout) in [(2, Layout::Dense), (10, Layout::Sparse)] {
            let mut tree = MerkleTree::new(depth, layout);
            let leaf = 1 << depth;
            assert!(tree.is_fresh());
            tree.update(leaf + 1, 0, 0);
            assert!(tree.is_fresh(), "no change");
            tree.update(leaf + 1, 0, 9);
            assert!(!tree.is_fresh());
            tree.refresh();
            assert!(tree.is_fresh());
            (0..(1 << depth) + 1).for_each(|i| tree.update(leaf + i as usize % 4, 0, 10 + i));
            assert!(!tree.is_fresh());
            tree.refresh();
            assert!(tree.is_fresh());
        }
    }

    /// A leaf's hash is the XOR of its keys' digests: moving one key from
    /// one digest to another gives the tree it would have with the new one.
    #[test]
    fn a_key_whose_digest_changes_leaves_the_tree_it_would_have_had_with_the_new_digest() {
        let (other, old, new) = (0x0f0f_u64, 0x3c3c_u64, 0x5a5a_u64);
        for layout in LAYOUTS {
            let mut changed = MerkleTree::new(3, layout);
            changed.update(9, 0, other);
            changed.update(9, 0, old);
            changed.refresh();
            changed.update(9, old, new);
            changed.refresh();
            let mut direct = MerkleTree::new(3, layout);
            direct.update(9, 0, other);
            direct.update(9, 0, new);
            direct.refresh();
            assert_eq!(changed.hash(9), other ^ new);
            assert_eq!(changed.root(), direct.root());
        }
    }

    /// Equal trees cost the root's hash; one differing key costs the root
    /// and then two hashes a level down its one path.
    #[test]
    fn comparing_two_trees_walks_only_the_path_to_a_differing_leaf() {
        for (depth, keys) in [(4, 50), (10, 20)] {
            let store: BTreeMap<u64, u64> = (0..keys).map(|k| (k, k)).collect();
            for layout in LAYOUTS {
                let a = tree_of(depth, &store, layout);
                assert_eq!(differing_leaves(&a, &a.clone()), (vec![], 1));
                let mut changed = store.clone();
                changed.insert(7, 99);
                let leaf = a.leaf_of(Key::new(7).position);
                let path = 1 + 2 * u64::from(depth);
                assert_eq!(differing_leaves(&a, &tree_of(depth, &changed, layout)), (vec![leaf], path));
            }
        }
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
