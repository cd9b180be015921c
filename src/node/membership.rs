//! Gossip membership (Dynamo §4.8): a versioned view of who is in the ring
//! and what they own, merged entry by entry (the newer version wins), from
//! which each node rebuilds its own ring view.
//!
//! Strategies 1 and 2: each member's entry carries its tokens (only the
//! member itself changes them). Strategy 3: the partition → owner table
//! has a version per partition, so two joins through different seeds that
//! claim the same partition resolve deterministically (higher version, then
//! higher node id).

use crate::ring::{Ring, Strategy};
use crate::types::{NodeId, Token};
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// Its tokens (strategies 1, 2; empty for strategy 3).
    pub tokens: Vec<Token>,
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
}

impl Default for View {
    fn default() -> Self {
        View { members: BTreeMap::new(), partitions: Vec::new(), digest: 0, bytes: 0 }.sealed()
    }
}

impl View {
    /// The view every initial member starts with: the initial ring, version 1.
    pub fn of_ring(ring: &Ring) -> View {
        let mut members: BTreeMap<NodeId, MemberEntry> = ring
            .nodes()
            .iter()
            .map(|&n| (n, MemberEntry { version: 1, status: MemberStatus::Normal, tokens: Vec::new() }))
            .collect();
        let partitions = if let Strategy::EqualPartitions { .. } = ring.strategy() {
            ring.partition_owners().iter().map(|&o| (o, 1)).collect()
        } else {
            for &(token, owner) in ring.tokens() {
                if let Some(entry) = members.get_mut(&owner) {
                    entry.tokens.push(token);
                }
            }
            Vec::new()
        };
        View { members, partitions, digest: 0, bytes: 0 }.sealed()
    }

    /// Every node ever seen, with its entry.
    pub fn members(&self) -> &BTreeMap<NodeId, MemberEntry> {
        &self.members
    }

    fn sealed(mut self) -> View {
        self.seal();
        self
    }

    /// Recomputes the kept digest and size after a change.
    fn seal(&mut self) {
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
        for &node in next.nodes() {
            let tokens: Vec<Token> = next.tokens().iter().filter(|(_, o)| *o == node).map(|(t, _)| *t).collect();
            let tokens = if let Strategy::EqualPartitions { .. } = next.strategy() { Vec::new() } else { tokens };
            let entry = self.members.entry(node).or_insert(MemberEntry {
                version: 0,
                status: MemberStatus::Normal,
                tokens: Vec::new(),
            });
            if entry.status != MemberStatus::Normal || entry.tokens != tokens || entry.version == 0 {
                *entry = MemberEntry { version: entry.version + 1, status: MemberStatus::Normal, tokens };
            }
        }
        for &node in current.nodes() {
            if next.nodes().binary_search(&node).is_err() {
                if let Some(entry) = self.members.get_mut(&node) {
                    *entry = MemberEntry { version: entry.version + 1, status: MemberStatus::Left, tokens: Vec::new() };
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
    pub fn ring(&self, strategy: &Strategy, target_n: usize) -> Option<Ring> {
        let nodes: Vec<NodeId> =
            self.members.iter().filter(|(_, e)| e.status == MemberStatus::Normal).map(|(&n, _)| n).collect();
        let tokens: Vec<(Token, NodeId)> = self
            .members
            .iter()
            .filter(|(_, e)| e.status == MemberStatus::Normal)
            .flat_map(|(&n, e)| e.tokens.iter().map(move |&t| (t, n)))
            .collect();
        let owners = self.partitions.iter().map(|&(o, _)| o).collect();
        Ring::from_assignment(strategy, target_n, nodes, tokens, owners)
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
}
