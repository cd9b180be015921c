//! Whether the replicas of the written keys agree: the observer's
//! convergence check, which compares the main-data digests of each key's
//! preference list (omniscient; nodes never see it).
//!
//! The first check after the workload compares every written key. From
//! then on each node's stores log the keys whose data changes
//! ([`Node::log_main_changes`]), and a later check compares only the keys
//! that disagreed at the last one and the keys changed since: a key no
//! replica changed agrees or disagrees as it did. When the ring the check
//! places keys with, or the set of nodes, changed, every key is compared
//! again (a key's replicas are then other nodes).

use crate::node::Node;
use crate::protocol::Key;
use crate::ring::Ring;
use std::sync::Arc;

/// The written keys and what the last check found of them.
#[derive(Debug, Default)]
pub struct Convergence {
    /// Every written key, by increasing id.
    keys: Vec<Key>,
    /// Each node's share of `keys` (indices) under the ring it was found
    /// with: the ring seldom changes between checks, and walking every
    /// key's preference list again was a third of a full comparison.
    shares: Option<(Arc<Ring>, Vec<Vec<u32>>)>,
    /// The last answer and the ring and node count it holds for.
    last: Option<Verdict>,
}

/// What a check found, and under which placement.
#[derive(Debug)]
struct Verdict {
    ring: Arc<Ring>,
    nodes: usize,
    /// Indices in [`Convergence::keys`] of the keys that disagreed, increasing.
    divergent: Vec<u32>,
}

impl Convergence {
    /// No written key known yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Sets the written keys, by increasing id; what was found of others is forgotten.
    pub fn set_keys(&mut self, keys: Vec<Key>) {
        debug_assert!(keys.windows(2).all(|pair| pair[0].id < pair[1].id), "written keys by increasing id");
        *self = Convergence { keys, shares: None, last: None };
    }

    /// The written keys whose replicas under `ring` do not all hold the
    /// same versions, by increasing id. Drains every node's change log
    /// (and starts it, the first time).
    pub fn divergent(&mut self, ring: &Arc<Ring>, nodes: &mut [Node], replicas: usize) -> Vec<Key> {
        let mut changed = Vec::new();
        for node in nodes.iter_mut() {
            node.drain_main_changes(&mut changed);
        }
        let divergent = match self.last.take() {
            Some(last) if Arc::ptr_eq(&last.ring, ring) && last.nodes == nodes.len() => {
                let changed = changed.iter().filter_map(|id| self.keys.binary_search_by_key(id, |key| key.id).ok());
                let mut candidates: Vec<u32> = last.divergent.into_iter().chain(changed.map(|i| i as u32)).collect();
                candidates.sort_unstable();
                candidates.dedup();
                let mut preference = Vec::new();
                candidates.retain(|&index| diverges(self.keys[index as usize], ring, nodes, replicas, &mut preference));
                #[cfg(test)]
                {
                    assert_eq!(candidates, self.compare_all(ring, nodes, replicas), "the changes logged miss a key");
                    tests::INCREMENTAL_CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                candidates
            }
            _ => {
                nodes.iter_mut().for_each(Node::log_main_changes);
                self.compare_all(ring, nodes, replicas)
            }
        };
        let keys = divergent.iter().map(|&index| self.keys[index as usize]).collect();
        self.last = Some(Verdict { ring: Arc::clone(ring), nodes: nodes.len(), divergent });
        keys
    }

    /// The indices of every written key whose replicas disagree. Each
    /// node is asked once, for all its keys in a row: its store's table
    /// stays in the cache while it answers, where asking key by key jumped
    /// between the nodes' stores.
    fn compare_all(&mut self, ring: &Arc<Ring>, nodes: &[Node], replicas: usize) -> Vec<u32> {
        let keys = &self.keys;
        if !self.shares.as_ref().is_some_and(|(known, _)| Arc::ptr_eq(known, ring)) {
            let mut shares: Vec<Vec<u32>> = vec![Vec::new(); nodes.len()];
            let mut preference = Vec::new();
            for (index, key) in keys.iter().enumerate() {
                ring.preference_list_into(key.position, replicas, &mut preference);
                for node in &preference {
                    shares[node.0 as usize].push(index as u32);
                }
            }
            self.shares = Some((Arc::clone(ring), shares));
        }
        let asked = &self.shares.as_ref().expect("just found").1;
        // A key diverges when its replicas' digests are not all equal.
        let mut first: Vec<Option<u64>> = vec![None; keys.len()];
        let mut diverged = vec![false; keys.len()];
        for (node, indices) in nodes.iter().zip(asked) {
            for &index in indices {
                let index = index as usize;
                let digest = node.main_digest(keys[index].id);
                match first[index] {
                    None => first[index] = Some(digest),
                    Some(seen) => diverged[index] |= seen != digest,
                }
            }
        }
        (0..keys.len() as u32).filter(|&index| diverged[index as usize]).collect()
    }
}

/// The keys among `keys` whose replicas under `ring` disagree, in their order.
pub fn divergent_among(keys: &[Key], ring: &Ring, nodes: &[Node], replicas: usize) -> Vec<Key> {
    let mut preference = Vec::new();
    keys.iter().copied().filter(|&key| diverges(key, ring, nodes, replicas, &mut preference)).collect()
}

/// Whether `key`'s replicas under `ring` do not all hold the same versions
/// (`preference` is scratch space).
fn diverges(
    key: Key,
    ring: &Ring,
    nodes: &[Node],
    replicas: usize,
    preference: &mut Vec<crate::types::NodeId>,
) -> bool {
    ring.preference_list_into(key.position, replicas, preference);
    let mut digests = preference.iter().map(|n| nodes[n.0 as usize].main_digest(key.id));
    let first = digests.next();
    digests.any(|d| Some(d) != first)
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Checks that compared only the keys logged as changed (and the last
    /// divergent ones): each also compared every key, and asserted the
    /// same answer.
    pub(super) static INCREMENTAL_CHECKS: AtomicUsize = AtomicUsize::new(0);

    /// Every bundled scenario whose replicas disagree for a while after
    /// the workload (crashes with and without disk loss, partitions,
    /// buffered writes, joins and leaves, lost acks), over a few seeds: at
    /// every check that compared only the logged keys, comparing every key
    /// found the same ones (asserted inside, in test builds).
    #[test]
    fn checking_the_changed_keys_finds_what_checking_every_key_finds() {
        let before = INCREMENTAL_CHECKS.load(Ordering::Relaxed);
        let names = [
            "disk-loss-anti-entropy",
            "disk-loss-w1",
            "crash-restart",
            "partition-sloppy-on",
            "one-way-partition",
            "buffered-writes",
            "handoff-ack-loss",
            "join-strategy1",
            "decommission",
            "lww-clock-skew",
        ];
        for name in names {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
            let scenario = Scenario::load(&path).expect("a bundled scenario loads");
            for seed in 1..=3 {
                crate::run(&scenario, seed);
            }
        }
        assert!(INCREMENTAL_CHECKS.load(Ordering::Relaxed) > before, "some check compared only the changed keys");
    }
}
