//! Rings shared by every node whose membership view describes the same one.
//!
//! A node computes its ring from its own view (Dynamo §4.8); the ring is
//! a pure function of the view's members, tokens and partition owners
//! (and of the run's strategy and N). Building one sorts every token and
//! lays out every placement range, megabytes at 512 nodes × 64 tokens, and
//! each node used to build and keep its own copy after every membership
//! change: one join in a 512-node cluster of strategy 1 with 64 tokens a
//! node peaked at 2.7 GB and took 25 s, most of it the kernel clearing
//! fresh pages for the copies. [`SharedRings`] hands a node the ring
//! already built from equal inputs instead. It changes no value a node
//! computes (the inputs are compared in full, not by a digest), and no
//! node learns anything about another: only equal results share memory.

use super::{Ring, Strategy};
use crate::types::{NodeId, Token};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// What a ring is built from ([`Ring::from_assignment`]'s arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInputs {
    /// The strategy, the same for every node of a run.
    pub strategy: Strategy,
    /// Strategy 3's target N.
    pub target_n: usize,
    /// The members taking part in placement.
    pub nodes: Vec<NodeId>,
    /// Strategies 1 and 2: every (token, owner).
    pub tokens: Vec<(Token, NodeId)>,
    /// Strategy 3: every partition's owner.
    pub owners: Vec<NodeId>,
}

impl RingInputs {
    /// The ring these inputs describe, or None if they are not yet a
    /// complete ring.
    pub fn build(self) -> Option<Ring> {
        Ring::from_assignment(&self.strategy, self.target_n, self.nodes, self.tokens, self.owners)
    }
}

/// The rings a run's nodes hold, by the inputs they were built from. An
/// entry lives as long as some node (or message) holds its ring: a run
/// has a few distinct rings alive at a time, one more for each membership
/// change still spreading.
#[derive(Debug, Default)]
pub struct SharedRings {
    built: Mutex<Vec<(RingInputs, Weak<Ring>)>>,
}

impl SharedRings {
    /// The ring `inputs` describe: the one already built from equal
    /// inputs if any node still holds it, else a new one (None if the
    /// inputs are not a complete ring).
    pub fn ring_of(&self, inputs: RingInputs) -> Option<Arc<Ring>> {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ring) = built.iter().find(|(held, _)| *held == inputs).and_then(|(_, ring)| ring.upgrade()) {
            return Some(ring);
        }
        let ring = Arc::new(inputs.clone().build()?);
        built.retain(|(_, ring)| ring.strong_count() > 0);
        built.push((inputs, Arc::downgrade(&ring)));
        Some(ring)
    }

    /// How many distinct rings are alive (for tests).
    #[cfg(test)]
    pub fn alive(&self) -> usize {
        let built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        built.iter().filter(|(_, ring)| ring.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(owners: &[u32]) -> RingInputs {
        let nodes: Vec<NodeId> = (0..4).map(NodeId).collect();
        let owners = owners.iter().map(|&o| NodeId(o)).collect();
        RingInputs { strategy: Strategy::EqualPartitions { partitions: 8 }, target_n: 3, nodes, tokens: vec![], owners }
    }

    /// Equal inputs get the one ring while some holder keeps it; other
    /// inputs get their own, equal to a ring built alone; a ring nobody
    /// holds any more is built again; incomplete inputs are no ring.
    #[test]
    fn equal_inputs_share_one_ring_while_it_is_held() {
        let shared = SharedRings::default();
        let table = [0, 1, 2, 3, 0, 1, 2, 3];
        let first = shared.ring_of(inputs(&table)).expect("a complete ring");
        let again = shared.ring_of(inputs(&table)).expect("a complete ring");
        assert!(Arc::ptr_eq(&first, &again));
        let swapped = [1, 0, 2, 3, 0, 1, 2, 3];
        let other = shared.ring_of(inputs(&swapped)).expect("a complete ring");
        assert!(!Arc::ptr_eq(&first, &other));
        let alone = inputs(&swapped).build().expect("a complete ring");
        assert_eq!((other.tokens(), other.nodes()), (alone.tokens(), alone.nodes()));
        assert_eq!(shared.alive(), 2);
        drop((first, again));
        assert_eq!(shared.alive(), 1);
        let rebuilt = shared.ring_of(inputs(&table)).expect("a complete ring");
        assert_eq!(rebuilt.partition_owners(), inputs(&table).build().expect("a ring").partition_owners());
        assert_eq!(shared.alive(), 2);
        assert!(shared.ring_of(inputs(&table[..4])).is_none(), "4 of 8 partitions owned");
    }
}
