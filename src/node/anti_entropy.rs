//! Anti-entropy (Dynamo §4.7): each node keeps a Merkle tree per key range
//! it hosts, brought up to date with every change to its data before it is
//! read; periodically it compares one range with another replica of it,
//! top down, and the two exchange only the keys whose versions differ (all
//! versions, reconciled by vector clock on arrival, through the service
//! queue like any other write).

use super::merkle::{key_digest, KeySummary, MerkleTree};
use super::{AbsorbSource, Node, NodeTimer, Outbox, StorageOp};
use crate::engine::search::{partition_point_from, share_of_ring};
use crate::protocol::{Key, Message, Span, Version};
use crate::ring::PlacementRange;
use crate::types::{Endpoint, NodeId, Time, Token};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A node's anti-entropy state: the ranges of its ring view and a tree per
/// range it hosts.
///
/// The hosted ranges are kept in the node's own small sorted lists, with
/// their last positions: a peer names a range by its bounds, and finding
/// it among every range of the ring (131,072 at 2,048 nodes × 64 tokens)
/// and then its tree in a map were two cache misses a message. A position
/// is looked up among the hosted ranges alone ([`hosted_slot`]).
#[derive(Clone, Debug, Default)]
pub(super) struct AntiEntropy {
    ranges: Arc<[PlacementRange]>,
    /// The indexes (in `ranges`) of the hosted ranges, ascending.
    hosted: Vec<usize>,
    /// Each hosted range's last position (ascending too).
    hosted_lasts: Vec<Token>,
    /// Each hosted range's tree.
    trees: Vec<MerkleTree>,
    /// Bytes a full copy of the main data in the hosted ranges would take
    /// (the baseline a round is measured against), kept up to date with
    /// the trees.
    hosted_bytes: u64,
    /// Changes to the main data not yet in the trees and `hosted_bytes`,
    /// in the order made (see [`Node::update_tree`]).
    pending: Vec<PendingChange>,
}

/// One key's change of summary, waiting to reach its range's tree.
#[derive(Clone, Copy, Debug)]
struct PendingChange {
    position: Token,
    old: KeySummary,
    new: KeySummary,
}

/// The most changes a node holds back from its trees: enough that a
/// batch finds the node's trees in the cache, few enough that the list
/// stays small (48 bytes a change: 12 KiB a node) whatever the rate of
/// writes between two rounds.
const PENDING_CHANGES_MAX: usize = 256;

impl AntiEntropy {
    /// Applies the pending changes, in the order made: before anything
    /// reads the trees or `hosted_bytes`.
    fn settle(&mut self) {
        let AntiEntropy { ranges, hosted, hosted_lasts, trees, hosted_bytes, pending } = self;
        for change in pending.drain(..) {
            if let Some(slot) = hosted_slot(ranges, hosted, hosted_lasts, change.position) {
                let tree = &mut trees[slot];
                let leaf = tree.leaf_of(change.position);
                tree.update(leaf, change.old.digest, change.new.digest);
                *hosted_bytes = *hosted_bytes + change.new.bytes - change.old.bytes;
            }
        }
    }

    /// The slot of the hosted range holding `position`, if one does.
    fn slot_of(&self, position: Token) -> Option<usize> {
        hosted_slot(&self.ranges, &self.hosted, &self.hosted_lasts, position)
    }
}

/// The slot (in `hosted`, whose ranges end at `hosted_lasts`) of the
/// hosted range holding `position`, if one does: the first hosted range
/// ending at or after it (or the first, which may wrap past the top), if
/// it holds it.
///
/// A node's hosted ranges lie all over the ring, so the search of their
/// lasts starts from the share of the ring `position` is at and reads a
/// few neighbouring entries: at 2,048 nodes × 64 tokens a binary search of
/// a node's 192 hosted ranges read ~8 cold cache lines a peer's message,
/// and finding a change's range among the ring's 131,072 first took ~17
/// probes more.
fn hosted_slot(ranges: &[PlacementRange], hosted: &[usize], hosted_lasts: &[Token], position: Token) -> Option<usize> {
    let guess = share_of_ring(position.0, hosted_lasts.len());
    let slot = partition_point_from(hosted_lasts.len(), guess, |i| hosted_lasts[i] < position);
    let slot = if slot == hosted_lasts.len() { 0 } else { slot };
    let range = &ranges[*hosted.get(slot)?];
    Span { first: range.first, last: range.last }.contains(position).then_some(slot)
}

impl Node {
    /// Recomputes ranges and trees from the ring view and the local data
    /// (at start, after a crash, after a ring change).
    pub(super) fn rebuild_trees(&mut self) {
        let Some(depth) = self.config.anti_entropy_depth else { return };
        let ranges = self.ring.shared_placement_ranges();
        let hosted = self.ring.ranges_hosted_by(self.id, self.config.n);
        let hosted_lasts = hosted.iter().map(|&index| ranges[index].last).collect();
        let trees = hosted.iter().map(|_| MerkleTree::new(depth, self.config.tree_layout)).collect();
        let keys: BTreeSet<Key> = self.main_keys().collect();
        // Changes still pending were made to the old trees: the new ones
        // are built from the data itself.
        self.anti_entropy = AntiEntropy { ranges, hosted, hosted_lasts, trees, hosted_bytes: 0, pending: Vec::new() };
        for key in keys {
            let summary = KeySummary::of(key, &self.main_versions(key.id));
            self.update_tree(key, KeySummary::default(), summary);
        }
    }

    /// Lets go of the Merkle trees and their pending changes once the run
    /// is over: nothing after the event loop compares trees, and at a
    /// thousand nodes they are ~200 MB that `final_versions` and the
    /// end-of-run checks reuse (a 10 M-key run's peak 270 MB lower).
    pub fn release_trees(&mut self) {
        self.anti_entropy = AntiEntropy::default();
    }

    /// The summary of `key`'s main data, if anti-entropy is on (for
    /// updating the tree around a change).
    pub(super) fn summary_if_tracked(&self, key: Key) -> Option<KeySummary> {
        self.config.anti_entropy_depth?;
        if self.buffer.get(key.id).is_empty() {
            Some(self.store.summary(key)) // the common case: the digest is kept by the store
        } else {
            Some(KeySummary::of(key, &self.main_versions(key.id)))
        }
    }

    /// The digest of `key`'s main data (durable and buffered): what two
    /// replicas compare, and what the observer compares to judge convergence.
    pub fn main_digest(&self, key: u64) -> u64 {
        let buffered = self.buffer.get(key);
        if buffered.is_empty() {
            self.store.digest(key) // the common case: kept up to date by the store
        } else {
            key_digest(key, &self.main_versions(key))
        }
    }

    /// Moves `key` from summary `old` to `new` in its range's tree and the
    /// hosted bytes (if its range is hosted) — once the trees or the bytes
    /// are next read ([`AntiEntropy::settle`]), or once
    /// [`PENDING_CHANGES_MAX`] changes wait.
    ///
    /// A leaf's hash is the XOR of its keys' digests and the bytes a sum,
    /// so applying the changes later, in a batch, leaves every hash and
    /// total what it would have been. It is cheaper where a node's trees
    /// are cold when its data changes (a thousand nodes: finding the range,
    /// its tree and the leaf were three or four cache misses a replica
    /// write, not overlapped with anything); in a batch they are found
    /// again while still cached, and the leaves' misses overlap.
    pub(super) fn update_tree(&mut self, key: Key, old: KeySummary, new: KeySummary) {
        let pending = &mut self.anti_entropy.pending;
        pending.push(PendingChange { position: key.position, old, new });
        if pending.len() >= PENDING_CHANGES_MAX {
            self.anti_entropy.settle();
        }
    }

    /// One anti-entropy round: compare every hosted range with a random
    /// reachable replica of it (equal trees cost one root hash each).
    pub(super) fn anti_entropy_round(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        let incarnation = self.incarnation;
        out.set_timer(now.plus(self.config.anti_entropy_interval_us), NodeTimer::AntiEntropy { incarnation });
        self.stats.anti_entropy_rounds += 1;
        self.anti_entropy.settle();
        self.stats.anti_entropy_full_copy_bytes += self.anti_entropy.hosted_bytes;
        for slot in 0..self.anti_entropy.hosted.len() {
            self.compare_range(slot, out);
        }
    }

    /// Compares the hosted range in `slot` with a random reachable replica.
    fn compare_range(&mut self, slot: usize, out: &mut Outbox<NodeTimer>) {
        let range = &self.anti_entropy.ranges[self.anti_entropy.hosted[slot]];
        self.ring.range_preference_list_into(range, self.config.n, &mut self.preference);
        let peers: Vec<NodeId> = self.preference.iter().copied().filter(|&n| n != self.id && self.healthy(n)).collect();
        if peers.is_empty() {
            return;
        }
        let peer = peers[self.rng.gen_range(0..peers.len())];
        let tree = &mut self.anti_entropy.trees[slot];
        tree.refresh();
        let root = tree.root();
        self.send_tree_nodes(peer, slot, vec![(1, root)], out);
    }

    fn send_tree_nodes(&mut self, peer: NodeId, slot: usize, nodes: Vec<(u32, u64)>, out: &mut Outbox<NodeTimer>) {
        self.stats.anti_entropy_tree_nodes += nodes.len() as u64;
        let message = Message::TreeCompare { range: self.span_of(slot), nodes };
        self.stats.anti_entropy_bytes += message.wire_bytes();
        out.send(Endpoint::Node(peer), message);
    }

    /// The bounds of the hosted range in `slot`, as replicas name it to each other.
    fn span_of(&self, slot: usize) -> Span {
        let range = &self.anti_entropy.ranges[self.anti_entropy.hosted[slot]];
        Span { first: range.first, last: range.last }
    }

    /// The slot of my hosted range with exactly these bounds, if any: two
    /// views can disagree while gossip spreads, and then nothing is
    /// compared. (Ranges end at distinct positions, and a range holds its
    /// last: the one ending at `span.last` is the range of that position.)
    fn hosted_range(&self, span: Span) -> Option<usize> {
        let slot = self.anti_entropy.slot_of(span.last)?;
        (self.span_of(slot) == span).then_some(slot)
    }

    /// My main data in the given leaves of the hosted range in `slot`.
    fn keys_in(&self, slot: usize, leaves: &BTreeSet<usize>) -> Vec<(Key, Vec<Version>)> {
        let (span, tree) = (self.span_of(slot), &self.anti_entropy.trees[slot]);
        // The leaf first, by a bit per heap index: few of a tree's leaves
        // differ.
        let mut wanted = vec![0u64; leaves.last().map_or(0, |&last| last / 64 + 1)];
        for &leaf in leaves {
            wanted[leaf / 64] |= 1 << (leaf % 64);
        }
        let in_leaves = |leaf: usize| wanted.get(leaf / 64).is_some_and(|word| word >> (leaf % 64) & 1 == 1);
        let keys: BTreeSet<Key> = self
            .main_keys()
            .filter(|k| in_leaves(tree.leaf_of(k.position)))
            .filter(|k| span.contains(k.position))
            .collect();
        keys.into_iter().map(|k| (k, self.main_versions(k.id))).filter(|(_, vs)| !vs.is_empty()).collect()
    }

    /// A peer's hashes of some tree nodes: answer with my children of the
    /// ones that differ, or my key digests for differing leaves.
    pub(super) fn on_tree_compare(
        &mut self,
        peer: NodeId,
        span: Span,
        nodes: &[(u32, u64)],
        out: &mut Outbox<NodeTimer>,
    ) {
        let Some(slot) = self.hosted_range(span) else { return };
        self.anti_entropy.settle();
        let tree = &mut self.anti_entropy.trees[slot];
        tree.refresh();
        let tree = &*tree;
        let mut children = Vec::new();
        let mut leaves = BTreeSet::new();
        for &(index, hash) in nodes {
            let index = index as usize;
            if !tree.contains(index) || tree.hash(index) == hash {
                continue;
            }
            if tree.is_leaf(index) {
                leaves.insert(index);
            } else {
                children.extend([2 * index, 2 * index + 1].map(|c| (c as u32, tree.hash(c))));
            }
        }
        if !children.is_empty() {
            self.send_tree_nodes(peer, slot, children, out);
        }
        if !leaves.is_empty() {
            let keys = self.keys_in(slot, &leaves).iter().map(|(k, vs)| (*k, key_digest(k.id, vs))).collect();
            let message =
                Message::LeafDigests { range: span, leaves: leaves.iter().map(|&l| l as u32).collect(), keys };
            self.stats.anti_entropy_bytes += message.wire_bytes();
            out.send(Endpoint::Node(peer), message);
        }
    }

    /// A peer's key digests for differing leaves: send my versions of the
    /// keys that differ and ask for theirs.
    pub(super) fn on_leaf_digests(
        &mut self,
        peer: NodeId,
        span: Span,
        leaves: &[u32],
        theirs: &[(Key, u64)],
        out: &mut Outbox<NodeTimer>,
    ) {
        let leaves: BTreeSet<usize> = leaves.iter().map(|&l| l as usize).collect();
        let Some(slot) = self.hosted_range(span) else { return };
        let mine = self.keys_in(slot, &leaves);
        let my_digests: BTreeMap<u64, u64> = mine.iter().map(|(k, vs)| (k.id, key_digest(k.id, vs))).collect();
        let their_digests: BTreeMap<u64, u64> = theirs.iter().map(|(k, d)| (k.id, *d)).collect();
        let entries: Vec<(Key, Vec<Version>)> =
            mine.into_iter().filter(|(k, _)| their_digests.get(&k.id) != my_digests.get(&k.id)).collect();
        let wanted: Vec<Key> =
            theirs.iter().filter(|(k, d)| my_digests.get(&k.id) != Some(d)).map(|(k, _)| *k).collect();
        if entries.is_empty() && wanted.is_empty() {
            return;
        }
        let message = Message::KeyVersions { entries, wanted };
        self.stats.anti_entropy_bytes += message.wire_bytes();
        out.send(Endpoint::Node(peer), message);
    }

    /// A peer's versions of differing keys: store them (through the service
    /// queue) and send back mine of the keys it asked for.
    pub(super) fn on_key_versions(
        &mut self,
        now: Time,
        peer: NodeId,
        entries: Vec<(Key, Vec<Version>)>,
        wanted: &[Key],
        out: &mut Outbox<NodeTimer>,
    ) {
        if !wanted.is_empty() {
            let reply: Vec<(Key, Vec<Version>)> =
                wanted.iter().map(|k| (*k, self.main_versions(k.id))).filter(|(_, vs)| !vs.is_empty()).collect();
            if !reply.is_empty() {
                let message = Message::KeyVersions { entries: reply, wanted: Vec::new() };
                self.stats.anti_entropy_bytes += message.wire_bytes();
                out.send(Endpoint::Node(peer), message);
            }
        }
        for (key, versions) in entries {
            self.ring.preference_list_into(key.position, self.config.n, &mut self.preference);
            if self.preference.contains(&self.id) {
                self.enqueue_storage(now, StorageOp::Absorb { key, versions, source: AbsorbSource::AntiEntropy }, out);
            }
        }
    }
}

#[cfg(test)]
impl Node {
    /// Merkle trees this node keeps (a finished run's nodes keep none).
    pub(crate) fn tree_count(&self) -> usize {
        self.anti_entropy.trees.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{Ring, Strategy};
    use proptest::prelude::{any, prop_assert_eq, proptest};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    proptest! {
        /// Rings of each strategy (random tokens put a node's hosted
        /// ranges anywhere; the first range wraps past the top): for
        /// every node, a position's slot is the hosted range holding it,
        /// found by looking at every one — at random positions and at
        /// each range's ends and just past them.
        #[test]
        fn a_position_s_slot_is_the_hosted_range_holding_it(
            nodes in 1u32..12,
            tokens in 1u32..9,
            equal in any::<bool>(),
            seed in any::<u64>(),
            positions in proptest::collection::vec(any::<u128>(), 1..30),
        ) {
            let ids: Vec<NodeId> = (0..nodes).map(NodeId).collect();
            let strategy = if equal {
                Strategy::EqualPartitions { partitions: nodes * tokens }
            } else {
                Strategy::RandomTokens { tokens_per_node: tokens }
            };
            let ring = Ring::build(&strategy, &ids, None, |n| ChaCha8Rng::seed_from_u64(seed ^ u64::from(n.0)));
            let ranges = ring.shared_placement_ranges();
            let ends: Vec<u128> = ranges.iter().flat_map(|r| [r.first.0, r.last.0, r.last.0.wrapping_add(1)]).collect();
            for &id in &ids {
                let hosted = ring.ranges_hosted_by(id, 3);
                let hosted_lasts = hosted.iter().map(|&index| ranges[index].last).collect();
                let state = AntiEntropy { ranges: Arc::clone(&ranges), hosted: hosted.clone(), hosted_lasts, ..AntiEntropy::default() };
                for position in positions.iter().chain(&ends).copied().chain([0, u128::MAX]).map(Token) {
                    let holding = hosted.iter().position(|&index| {
                        Span { first: ranges[index].first, last: ranges[index].last }.contains(position)
                    });
                    prop_assert_eq!(state.slot_of(position), holding, "node {:?}, position {:?}", id, position);
                }
            }
        }
    }
}
