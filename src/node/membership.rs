//! Gossip membership (Dynamo §4.8): a versioned view of who is in the ring
//! and what they own, merged entry by entry (the newer version wins), from
//! which each node rebuilds its own ring view.
//!
//! Strategies 1 and 2: each member's entry carries its tokens (only the
//! member itself changes them). Strategy 3: the partition → owner table
//! has a version per partition, so two joins through different seeds that
//! claim the same partition resolve deterministically (higher version, then
//! higher node id).

use crate::ring::shared::{RingInputs, SharedRings};
use crate::ring::{Ring, Strategy};
use crate::types::{NodeId, Token};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use xxhash_rust::xxh3::Xxh3;

/// Whether a member is part of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum MemberStatus {
    /// Owns its tokens or partitions.
    Normal,
    /// Decommissioned by an administrator: owns nothing, serves transfers.
    Left,
}

/// One member's versioned entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberEntry {
    /// Bumped by the member (or the administrator acting through it) on every change.
    pub version: u64,
    /// In the ring or gone.
    pub status: MemberStatus,
    /// Its tokens (strategies 1, 2; empty for strategy 3), shared by every
    /// copy of the view: each node merges views into a copy of its own, and
    /// copying every member's tokens was 2 MB a copy at 2,000 nodes × 64
    /// tokens.
    pub tokens: Arc<[Token]>,
}

/// A node's view of the membership. Its digest and wire size are kept
/// with it (views are compared on every gossip message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct View {
    /// Every node ever seen, by id.
    members: BTreeMap<NodeId, MemberEntry>,
    /// Strategy 3: (owner, version) of each partition.
    partitions: Vec<(NodeId, u64)>,
    #[serde(skip)]
    digest: u64,
    #[serde(skip)]
    bytes: u64,
    #[serde(skip)]
    ring: RingOfView,
}

/// The ring a view describes, kept by the view once a node asked for it:
/// as a change spreads, most nodes adopt the very view they received, and
/// get its ring without gathering and comparing its inputs (a vector of
/// every token: at 2,000 nodes × 64 tokens, 15 % of a join's CPU).
///
/// Not part of the view's value: any two are equal, a copy starts empty
/// (a copy is made to be changed) and so does a view after a change. It
/// holds the ring weakly: a view in flight in a gossip message must not
/// keep alive a ring no node uses (20 MB at 2,000 nodes × 64 tokens).
#[derive(Debug, Default)]
struct RingOfView(Mutex<Option<KeptRing>>);

/// A ring kept by [`RingOfView`], with what it was built for.
#[derive(Debug)]
struct KeptRing {
    strategy: Strategy,
    target_n: usize,
    /// None: the view is not a complete ring.
    ring: Option<Weak<Ring>>,
}

impl Clone for RingOfView {
    fn clone(&self) -> Self {
        RingOfView::default()
    }
}

impl PartialEq for RingOfView {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RingOfView {}

impl Default for View {
    fn default() -> Self {
        View { members: BTreeMap::new(), partitions: Vec::new(), digest: 0, bytes: 0, ring: RingOfView::default() }
            .sealed()
    }
}

impl View {
    /// The view every initial member starts with: the initial ring, version 1.
    pub fn of_ring(ring: &Ring) -> View {
        let mut tokens = tokens_by_owner(ring);
        let members: BTreeMap<NodeId, MemberEntry> = ring
            .nodes()
            .iter()
            .map(|&n| {
                let tokens = tokens.remove(&n).unwrap_or_default().into();
                (n, MemberEntry { version: 1, status: MemberStatus::Normal, tokens })
            })
            .collect();
        let partitions = if let Strategy::EqualPartitions { .. } = ring.strategy() {
            ring.partition_owners().iter().map(|&o| (o, 1)).collect()
        } else {
            Vec::new()
        };
        View { members, partitions, digest: 0, bytes: 0, ring: RingOfView::default() }.sealed()
    }

    /// Every node ever seen, with its entry.
    pub fn members(&self) -> &BTreeMap<NodeId, MemberEntry> {
        &self.members
    }

    fn sealed(mut self) -> View {
        self.seal();
        self
    }

    /// Recomputes the kept digest and size after a change, and forgets
    /// the ring of the view before it.
    fn seal(&mut self) {
        self.ring = RingOfView::default();
        let mut hasher = Xxh3::new();
        for (node, entry) in &self.members {
            hasher.update(&node.0.to_le_bytes());
            hasher.update(&entry.version.to_le_bytes());
            hasher.update(&[entry.status as u8]);
        }
        for (owner, version) in &self.partitions {
            hasher.update(&owner.0.to_le_bytes());
            hasher.update(&version.to_le_bytes());
        }
        self.digest = hasher.digest();
        let members: u64 = self.members.values().map(|e| 13 + 16 * e.tokens.len() as u64).sum();
        self.bytes = members + 12 * self.partitions.len() as u64;
    }

    /// Merges `other` into this view; returns true when anything changed.
    pub fn merge(&mut self, other: &View) -> bool {
        let mut changed = false;
        for (node, theirs) in &other.members {
            let newer = self.members.get(node).is_none_or(|mine| theirs.version > mine.version);
            if newer {
                self.members.insert(*node, theirs.clone());
                changed = true;
            }
        }
        if self.partitions.len() < other.partitions.len() {
            self.partitions.resize(other.partitions.len(), (NodeId(0), 0));
        }
        for (mine, theirs) in self.partitions.iter_mut().zip(&other.partitions) {
            if (theirs.1, theirs.0) > (mine.1, mine.0) {
                *mine = *theirs;
                changed = true;
            }
        }
        if changed {
            self.seal();
        }
        changed
    }

    /// Records the ring `next` (computed from this view's ring) as the new
    /// placement: bumps the entries and partitions that changed.
    pub fn adopt(&mut self, current: &Ring, next: &Ring) {
        let mut tokens = tokens_by_owner(next);
        for &node in next.nodes() {
            let tokens: Arc<[Token]> = tokens.remove(&node).unwrap_or_default().into();
            let entry = self.members.entry(node).or_insert(MemberEntry {
                version: 0,
                status: MemberStatus::Normal,
                tokens: Arc::from([]),
            });
            if entry.status != MemberStatus::Normal || entry.tokens != tokens || entry.version == 0 {
                *entry = MemberEntry { version: entry.version + 1, status: MemberStatus::Normal, tokens };
            }
        }
        for &node in current.nodes() {
            if next.nodes().binary_search(&node).is_err() {
                if let Some(entry) = self.members.get_mut(&node) {
                    *entry =
                        MemberEntry { version: entry.version + 1, status: MemberStatus::Left, tokens: Arc::from([]) };
                }
            }
        }
        for (slot, &owner) in self.partitions.iter_mut().zip(next.partition_owners()) {
            if slot.0 != owner {
                *slot = (owner, slot.1 + 1);
            }
        }
        self.seal();
    }

    /// The ring this view describes, or None if it is not yet complete.
    #[cfg(test)]
    pub fn ring(&self, strategy: &Strategy, target_n: usize) -> Option<Ring> {
        self.ring_inputs(strategy, target_n).build()
    }

    /// The ring this view describes (None while it is incomplete): the
    /// one this view keeps, if it was built for the same strategy and N
    /// and some node still holds it, else the one `shared` gives for its
    /// inputs ([`SharedRings::ring_of`]), which the view then keeps.
    pub fn shared_ring(&self, strategy: &Strategy, target_n: usize, shared: &SharedRings) -> Option<Arc<Ring>> {
        let mut kept = self.ring.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = kept.as_ref().filter(|k| k.target_n == target_n && k.strategy == *strategy) {
            match &kept.ring {
                None => return None,
                Some(ring) => {
                    if let Some(ring) = ring.upgrade() {
                        return Some(ring);
                    }
                }
            }
        }
        let ring = shared.ring_of(self.ring_inputs(strategy, target_n));
        let weak = ring.as_ref().map(Arc::downgrade);
        *kept = Some(KeptRing { strategy: strategy.clone(), target_n, ring: weak });
        ring
    }

    /// What the ring this view describes is built from.
    pub fn ring_inputs(&self, strategy: &Strategy, target_n: usize) -> RingInputs {
        let nodes: Vec<NodeId> =
            self.members.iter().filter(|(_, e)| e.status == MemberStatus::Normal).map(|(&n, _)| n).collect();
        let tokens: Vec<(Token, NodeId)> = self
            .members
            .iter()
            .filter(|(_, e)| e.status == MemberStatus::Normal)
            .flat_map(|(&n, e)| e.tokens.iter().map(move |&t| (t, n)))
            .collect();
        let owners = self.partitions.iter().map(|&(o, _)| o).collect();
        RingInputs { strategy: strategy.clone(), target_n, nodes, tokens, owners }
    }

    /// A digest of the view (equal views, equal digests): how the observer
    /// tells when every node agrees.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Bytes of the view on the wire: per member 4 (id) + 8 (version) + 1
    /// (status) + 16 per token; per partition 4 (owner) + 8 (version).
    pub fn wire_bytes(&self) -> u64 {
        self.bytes
    }
}

/// Each node's tokens on `ring`, in ring order (strategies 1 and 2; none
/// for strategy 3, whose placement is the partition table), in one pass
/// over the ring's tokens.
fn tokens_by_owner(ring: &Ring) -> BTreeMap<NodeId, Vec<Token>> {
    let mut by_owner: BTreeMap<NodeId, Vec<Token>> = BTreeMap::new();
    if !matches!(ring.strategy(), Strategy::EqualPartitions { .. }) {
        for &(token, owner) in ring.tokens() {
            by_owner.entry(owner).or_default().push(token);
        }
    }
    by_owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{Purpose, Streams};

    fn ring(strategy: Strategy, nodes: u32) -> Ring {
        let ids: Vec<NodeId> = (0..nodes).map(NodeId).collect();
        let streams = Streams::new(5);
        Ring::build(&strategy, &ids, None, |n| streams.stream(Purpose::RingTokens, u64::from(n.0)))
    }

    #[test]
    fn a_view_rebuilds_the_ring_it_came_from() {
        for strategy in [Strategy::RandomTokens { tokens_per_node: 4 }, Strategy::EqualPartitions { partitions: 16 }] {
            let original = ring(strategy.clone(), 5);
            let rebuilt = View::of_ring(&original).ring(&strategy, 3).expect("complete view");
            assert_eq!(rebuilt.tokens(), original.tokens());
        }
    }

    /// A view keeps the ring a node asked it for, while some node holds
    /// that ring and for the same strategy and N only; a copy, a changed
    /// view and a view whose ring nobody holds ask their inputs anew. Two
    /// tables of shared rings tell a ring kept by the view (the first
    /// table's) from one built again (the second's).
    #[test]
    fn a_view_keeps_its_ring_while_a_node_holds_it() {
        let strategy = Strategy::EqualPartitions { partitions: 16 };
        let before = ring(strategy.clone(), 4);
        let view = View::of_ring(&before);
        let (first, second) = (SharedRings::default(), SharedRings::default());
        let held = view.shared_ring(&strategy, 3, &first).expect("a complete view");
        let again = view.shared_ring(&strategy, 3, &second).expect("a complete view");
        assert!(Arc::ptr_eq(&held, &again), "kept by the view");
        assert_eq!(view.clone(), view, "what a view keeps is not part of its value");
        let copy = view.clone().shared_ring(&strategy, 3, &second).expect("a complete view");
        assert!(!Arc::ptr_eq(&held, &copy), "a copy starts empty");
        assert_eq!(copy.tokens(), held.tokens());
        let other_n = view.shared_ring(&strategy, 2, &second).expect("a complete view");
        assert!(!Arc::ptr_eq(&held, &other_n), "kept for N = 3 only");
        let after = before.with_node_added(NodeId(4), None, Streams::new(1).stream(Purpose::RingTokens, 4));
        let mut changed = view.clone();
        changed.shared_ring(&strategy, 3, &first);
        changed.adopt(&before, &after);
        let next = changed.shared_ring(&strategy, 3, &second).expect("a complete view");
        assert_eq!(next.tokens(), after.tokens(), "a changed view forgets the ring before");
        drop((held, again, copy, other_n));
        let rebuilt = view.shared_ring(&strategy, 3, &second).expect("a complete view");
        assert_eq!(rebuilt.tokens(), before.tokens(), "nobody held it: built again");
    }

    #[test]
    fn a_join_spreads_by_merging_and_the_newer_version_wins() {
        let strategy = Strategy::EqualPartitions { partitions: 16 };
        let before = ring(strategy.clone(), 4);
        let after = before.with_node_added(NodeId(4), None, Streams::new(1).stream(Purpose::RingTokens, 4));
        let mut joiner = View::of_ring(&before);
        joiner.adopt(&before, &after);
        let mut other = View::of_ring(&before);
        assert!(other.merge(&joiner));
        assert!(!other.merge(&joiner), "merging twice changes nothing");
        assert_eq!(other.digest(), joiner.digest());
        assert_eq!(other.ring(&strategy, 3).expect("ring").partition_owners(), after.partition_owners());
        // An older view merged back does not undo the join.
        assert!(!other.merge(&View::of_ring(&before)));
    }

    #[test]
    fn a_leave_marks_the_member_left_and_moves_its_partitions() {
        let strategy = Strategy::EqualPartitions { partitions: 16 };
        let before = ring(strategy.clone(), 4);
        let after = before.with_node_removed(NodeId(2));
        let mut view = View::of_ring(&before);
        view.adopt(&before, &after);
        assert_eq!(view.members()[&NodeId(2)].status, MemberStatus::Left);
        let rebuilt = view.ring(&strategy, 3).expect("ring");
        assert!(!rebuilt.partition_owners().contains(&NodeId(2)));
    }

    // Session 9 (issue 15): the laws of adopt, merge and the wire size that
    // the mutation run of membership.rs found untested.

    const PARTITIONS: Strategy = Strategy::EqualPartitions { partitions: 16 };
    const TOKENS: Strategy = Strategy::RandomTokens { tokens_per_node: 4 };

    fn versions(view: &View) -> Vec<(u32, u64, MemberStatus)> {
        view.members().iter().map(|(n, e)| (n.0, e.version, e.status)).collect()
    }

    /// The partitions whose owner differs between two tables.
    fn moved(before: &[NodeId], after: &[NodeId]) -> Vec<usize> {
        (0..before.len()).filter(|&p| before[p] != after[p]).collect()
    }

    #[test]
    fn the_wire_size_is_thirteen_bytes_a_member_sixteen_a_token_and_twelve_a_partition() {
        assert_eq!(View::default().wire_bytes(), 0);
        // 3 members of 4 tokens, no partition table.
        assert_eq!(View::of_ring(&ring(TOKENS, 3)).wire_bytes(), 3 * (13 + 4 * 16));
        // 4 members without tokens, 16 partitions.
        assert_eq!(View::of_ring(&ring(PARTITIONS, 4)).wire_bytes(), 4 * 13 + 16 * 12);
    }

    #[test]
    fn a_join_bumps_only_the_joiners_entry_and_the_partitions_it_claims() {
        let before = ring(PARTITIONS, 4);
        let after = before.with_node_added(NodeId(4), None, Streams::new(1).stream(Purpose::RingTokens, 4));
        let mut view = View::of_ring(&before);
        view.adopt(&before, &after);
        let normal = MemberStatus::Normal;
        assert_eq!(
            versions(&view),
            vec![(0, 1, normal), (1, 1, normal), (2, 1, normal), (3, 1, normal), (4, 1, normal)]
        );
        let claimed = moved(before.partition_owners(), after.partition_owners());
        assert!(!claimed.is_empty());
        for (p, &(owner, version)) in view.partitions.iter().enumerate() {
            assert_eq!(owner, after.partition_owners()[p]);
            assert_eq!(version, if claimed.contains(&p) { 2 } else { 1 }, "partition {p}");
        }
        // Adopting the same ring again changes no version.
        let again = view.clone();
        view.adopt(&after, &after);
        assert_eq!(view, again);
    }

    #[test]
    fn a_leave_bumps_the_leaver_to_left_and_a_peer_learns_it_and_every_move_by_merging() {
        let before = ring(PARTITIONS, 4);
        let after = before.with_node_removed(NodeId(2));
        let mut leaver = View::of_ring(&before);
        leaver.adopt(&before, &after);
        let (normal, left) = (MemberStatus::Normal, MemberStatus::Left);
        assert_eq!(versions(&leaver), vec![(0, 1, normal), (1, 1, normal), (2, 2, left), (3, 1, normal)]);
        let given_up = moved(before.partition_owners(), after.partition_owners());
        for (p, &(owner, version)) in leaver.partitions.iter().enumerate() {
            assert_eq!((owner, version), (after.partition_owners()[p], if given_up.contains(&p) { 2 } else { 1 }));
        }
        // Some partitions go to a lower id than the leaver's: only their
        // version makes a peer take them.
        assert!(given_up.iter().any(|&p| after.partition_owners()[p] < NodeId(2)));
        let mut peer = View::of_ring(&before);
        assert!(peer.merge(&leaver));
        assert_eq!(peer, leaver);
        assert_eq!(peer.digest(), leaver.digest());
        // The peer's old view, merged back, does not bring the leaver back.
        assert!(!peer.merge(&View::of_ring(&before)));
        assert_eq!(peer, leaver);
    }

    #[test]
    fn a_member_that_left_and_rejoins_is_normal_again_with_a_newer_version() {
        let before = ring(PARTITIONS, 4);
        let gone = before.with_node_removed(NodeId(2));
        let back = gone.with_node_added(NodeId(2), None, Streams::new(1).stream(Purpose::RingTokens, 2));
        let mut view = View::of_ring(&before);
        view.adopt(&before, &gone);
        view.adopt(&gone, &back);
        assert_eq!(
            view.members()[&NodeId(2)],
            MemberEntry { version: 3, status: MemberStatus::Normal, tokens: Arc::from([]) }
        );
        let rebuilt = view.ring(&PARTITIONS, 3).expect("ring");
        assert_eq!(rebuilt.nodes(), back.nodes());
        assert!(rebuilt.partition_owners().contains(&NodeId(2)));
    }

    #[test]
    fn with_random_tokens_each_member_carries_exactly_its_own_tokens() {
        let before = ring(TOKENS, 4);
        let after = before.with_node_added(NodeId(4), None, Streams::new(1).stream(Purpose::RingTokens, 4));
        let mut view = View::of_ring(&before);
        view.adopt(&before, &after);
        for node in after.nodes() {
            let own: Vec<Token> = after.tokens().iter().filter(|(_, o)| o == node).map(|(t, _)| *t).collect();
            assert_eq!(own.len(), 4);
            assert_eq!(*view.members()[node].tokens, own[..], "{node:?}");
        }
        assert_eq!(view.members()[&NodeId(4)].version, 1);
        assert_eq!(view.members()[&NodeId(0)].version, 1, "a member whose tokens did not change keeps its version");
        assert_eq!(view.ring(&TOKENS, 3).expect("ring").tokens(), after.tokens());
        // A leave empties the leaver's tokens, and its tokens leave the ring.
        let without = after.with_node_removed(NodeId(1));
        view.adopt(&after, &without);
        assert_eq!(
            view.members()[&NodeId(1)],
            MemberEntry { version: 2, status: MemberStatus::Left, tokens: Arc::from([]) }
        );
        assert_eq!(view.ring(&TOKENS, 3).expect("ring").tokens(), without.tokens());
    }

    #[test]
    fn merging_takes_a_longer_partition_table_and_a_shorter_one_changes_nothing() {
        let full = View::of_ring(&ring(PARTITIONS, 4));
        let mut empty = View::default();
        assert!(empty.merge(&full));
        assert_eq!(empty, full);
        let mut kept = full.clone();
        assert!(!kept.merge(&View::default()));
        assert_eq!(kept, full);
    }

    #[test]
    fn two_joins_through_different_views_claiming_one_partition_resolve_to_the_higher_id_either_way() {
        let before = ring(PARTITIONS, 4);
        let streams = Streams::new(1);
        let with_4 = before.with_node_added(NodeId(4), None, streams.stream(Purpose::RingTokens, 4));
        let with_5 = before.with_node_added(NodeId(5), None, streams.stream(Purpose::RingTokens, 5));
        let (claims_4, claims_5) = (
            moved(before.partition_owners(), with_4.partition_owners()),
            moved(before.partition_owners(), with_5.partition_owners()),
        );
        let both: Vec<usize> = claims_4.iter().copied().filter(|p| claims_5.contains(p)).collect();
        assert!(!both.is_empty(), "the two joiners claim a partition in common");
        let (mut a, mut b) = (View::of_ring(&before), View::of_ring(&before));
        a.adopt(&before, &with_4);
        b.adopt(&before, &with_5);
        let (a_first, b_first) = (a.clone(), b.clone());
        assert!(a.merge(&b_first));
        assert!(b.merge(&a_first));
        assert_eq!(a, b, "merging is commutative");
        for p in both {
            assert_eq!(a.partitions[p], (NodeId(5), 2), "partition {p}");
        }
    }
}
