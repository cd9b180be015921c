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
//! again (a key's replicas are then other nodes). A key written for the
//! first time after the workload (a read-modify-write whose read ended
//! late) joins the written keys at the next check, which compares it as a
//! changed key (its replicas logged it when they stored it): the written
//! keys are those of the whole history, not only of the history at the
//! first check.

use crate::check::history::OpRecord;
use crate::node::Node;
use crate::protocol::{Key, KeyPositions};
use crate::ring::Ring;
use std::sync::Arc;

/// The written keys and what the last check found of them.
#[derive(Debug, Default)]
pub struct Convergence {
    /// Every written key, in the order first seen (by id within the
    /// writes one call of [`Convergence::watch_writes`] found): a key's
    /// index never changes.
    keys: Vec<Key>,
    /// Each key's id and index in `keys`, by increasing id.
    by_id: Vec<(u64, u32)>,
    /// How many records of the run's history (which only grows while the
    /// run goes on) `keys` has taken the writes of.
    history_read: usize,
    /// Each node's share of `keys` under a ring: the ring seldom changes
    /// between checks, and walking every key's preference list again was
    /// a third of a full comparison.
    shares: Option<Shares>,
    /// The last answer and the ring and node count it holds for.
    last: Option<Verdict>,
}

/// The indices of the keys each node replicates under `ring`, for the
/// first `covered` keys.
#[derive(Debug)]
struct Shares {
    ring: Arc<Ring>,
    covered: usize,
    of_node: Vec<Vec<u32>>,
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
    /// Every key some operation of the history read so far wrote (or
    /// tried to), each once, in no particular order.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Adds the keys of the writes `history` gained since the last call
    /// (the first call takes them all): a read-modify-write whose read
    /// ends after the workload writes after it, sometimes a key nothing
    /// wrote before. A check that compares only changed keys compares it
    /// too: any replica that stored it since has logged it.
    pub fn watch_writes(&mut self, history: &[OpRecord], positions: &KeyPositions) {
        let fresh = history[self.history_read..].iter().filter(|op| op.write().is_some()).map(|op| op.key);
        let mut fresh: Vec<u64> = fresh.filter(|&id| self.index_of(id).is_none()).collect();
        self.history_read = history.len();
        if fresh.is_empty() {
            return;
        }
        fresh.sort_unstable();
        fresh.dedup();
        for id in fresh {
            let index = self.keys.len() as u32;
            self.keys.push(positions.known(id));
            self.by_id.push((id, index));
        }
        // Two sorted runs, the old ids and the new: the stable sort finds
        // them and merges them in one pass (the unstable one sorted the
        // whole table again, 9 M instructions a check on the 64-node row).
        self.by_id.sort();
    }

    /// The index in `keys` of the key `id`, if written.
    fn index_of(&self, id: u64) -> Option<u32> {
        self.by_id.binary_search_by_key(&id, |&(id, _)| id).ok().map(|at| self.by_id[at].1)
    }

    /// The written keys whose replicas under `ring` do not all hold the
    /// same versions, in the order of [`Convergence::keys`]. Drains every
    /// node's change log (and starts it, the first time).
    pub fn divergent(&mut self, ring: &Arc<Ring>, nodes: &mut [Node], replicas: usize) -> Vec<Key> {
        let mut changed = Vec::new();
        for node in nodes.iter_mut() {
            node.drain_main_changes(&mut changed);
        }
        let divergent = match self.last.take() {
            Some(last) if Arc::ptr_eq(&last.ring, ring) && last.nodes == nodes.len() => {
                let changed = changed.iter().filter_map(|&id| self.index_of(id));
                let mut candidates: Vec<u32> = last.divergent.into_iter().chain(changed).collect();
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
        let shares = match &mut self.shares {
            Some(shares) if Arc::ptr_eq(&shares.ring, ring) => shares,
            stale => stale.insert(Shares { ring: Arc::clone(ring), covered: 0, of_node: Vec::new() }),
        };
        shares.of_node.resize_with(nodes.len(), Vec::new);
        let mut preference = Vec::new();
        for (index, key) in keys.iter().enumerate().skip(shares.covered) {
            ring.preference_list_into(key.position, replicas, &mut preference);
            for node in &preference {
                shares.of_node[node.0 as usize].push(index as u32);
            }
        }
        shares.covered = keys.len();
        // A key diverges when its replicas' digests are not all equal.
        let mut first: Vec<Option<u64>> = vec![None; keys.len()];
        let mut diverged = vec![false; keys.len()];
        for (node, indices) in nodes.iter().zip(&shares.of_node) {
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

    /// The keys of later writes join the watched ones, each once, after
    /// those already watched (whose indices stay); reads name no written key.
    #[test]
    fn writes_the_history_gains_after_a_check_are_watched_too() {
        use crate::check::history::{OpKind, OpRecord};
        use crate::protocol::{KeyPositions, WriteId};
        use crate::types::{ClientId, Time};
        let op = |kind: OpKind, key: u64, write: u64| {
            let mut op = OpRecord::invoked(ClientId(0), write, kind, key, Time(write));
            if kind == OpKind::Write {
                op.set_write(WriteId(write), true, false);
            }
            op
        };
        let positions = KeyPositions::new(100);
        let mut history = vec![op(OpKind::Write, 5, 1), op(OpKind::Read, 7, 2), op(OpKind::Write, 2, 3)];
        let mut convergence = super::Convergence::default();
        convergence.watch_writes(&history, &positions);
        let ids = |c: &super::Convergence| c.keys().iter().map(|key| key.id).collect::<Vec<_>>();
        assert_eq!(ids(&convergence), [2, 5]);
        history.extend([op(OpKind::Write, 5, 4), op(OpKind::Read, 8, 5)]);
        convergence.watch_writes(&history, &positions);
        assert_eq!(ids(&convergence), [2, 5], "no new key");
        history.extend([op(OpKind::Write, 9, 6), op(OpKind::Write, 1, 7), op(OpKind::Write, 9, 8)]);
        convergence.watch_writes(&history, &positions);
        assert_eq!(ids(&convergence), [2, 5, 1, 9]);
        assert_eq!(
            (convergence.index_of(9), convergence.index_of(5), convergence.index_of(7)),
            (Some(3), Some(1), None)
        );
        assert_eq!(convergence.keys()[2], positions.known(1), "with its ring position");
    }

    /// A key first written after the workload (by a read-modify-write
    /// whose read ended late) and left unequal at the end counts among the
    /// keys that did not converge: n0 is cut off all run long, with no
    /// anti-entropy, read repair or fallback to mend its keys, and reads
    /// take 5 ms, so the writes of those issued last land after the workload.
    #[test]
    fn a_key_first_written_after_the_workload_counts_when_its_replicas_disagree() {
        let text = "duration_ms = 300\nquiesce_ms = 200\n[cluster]\nnodes = 8\n\
                    [node]\nsloppy_quorum = false\nread_repair = false\n[anti_entropy]\nenabled = false\n\
                    [quorum]\nn = 3\nr = 1\nw = 1\n[storage]\nread_service = { constant = 5.0 }\n\
                    [workload]\nrate_per_s = 4000\nkeys = 1000000\nread_fraction = 0.0\nblind_write_fraction = 0.0\n\
                    [[faults]]\nat_ms = 0\naction = \"partition\"\ngroups = [[\"n0\"], [\"others\"]]\nduration_ms = 10000\n";
        let scenario = Scenario::parse(text, "late.toml", "late").expect("valid");
        let outcome = crate::sim::Simulation::new(&scenario, 1).run();
        let placement = crate::sim::Simulation::new(&scenario, 1);
        let mut first_written: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
        for op in outcome.history.iter().filter(|op| op.write().is_some()) {
            let first = first_written.entry(op.key).or_insert(op.invoke.0);
            *first = (*first).min(op.invoke.0);
        }
        let disagree = |key: u64| {
            let mut digests =
                placement.preference_list(key).into_iter().map(|n| outcome.nodes[n.0 as usize].main_digest(key));
            let first = digests.next();
            digests.any(|d| Some(d) != first)
        };
        let divergent: Vec<u64> = first_written.keys().copied().filter(|&key| disagree(key)).collect();
        assert_eq!(outcome.keys_not_converged, divergent.len() as u64);
        let late = divergent.iter().filter(|key| first_written[key] >= outcome.workload_end.0).count();
        assert!(late > 0, "some key first written after the workload disagrees ({} divergent)", divergent.len());
    }

    /// A check under another ring than the last one's compares every key
    /// again, under that ring: each key's replicas are other nodes then,
    /// though no replica changed. n0 is cut off all run long (no
    /// anti-entropy, read repair or fallback), so many written keys'
    /// replicas disagree, other keys under each of two rings of random
    /// tokens: each check finds those of its own ring (by each key's
    /// digests), the first by comparing every key, the others too.
    #[test]
    fn a_check_under_another_ring_finds_the_keys_that_disagree_under_that_ring() {
        use crate::engine::rng::{Purpose, Streams};
        use crate::protocol::{Key, KeyPositions};
        use crate::ring::{Ring, Strategy};
        use crate::types::NodeId;
        use std::sync::Arc;
        let text = "duration_ms = 100\nquiesce_ms = 50\n[cluster]\nnodes = 8\n\
                    [node]\nsloppy_quorum = false\nread_repair = false\n[anti_entropy]\nenabled = false\n\
                    [quorum]\nn = 3\nr = 1\nw = 1\n[workload]\nrate_per_s = 2000\nkeys = 1000\nread_fraction = 0.0\n\
                    [[faults]]\nat_ms = 0\naction = \"partition\"\ngroups = [[\"n0\"], [\"others\"]]\nduration_ms = 10000\n";
        let scenario = Scenario::parse(text, "cut.toml", "cut").expect("valid");
        let outcome = crate::sim::Simulation::new(&scenario, 1).run();
        let mut nodes = outcome.nodes;
        let ids: Vec<NodeId> = (0..8).map(NodeId).collect();
        let ring = |seed: u64| {
            let streams = Streams::new(seed);
            let strategy = Strategy::RandomTokens { tokens_per_node: 4 };
            Arc::new(Ring::build(&strategy, &ids, None, |n| streams.stream(Purpose::RingTokens, u64::from(n.0))))
        };
        let (first, second) = (ring(1), ring(2));
        let mut convergence = super::Convergence::default();
        convergence.watch_writes(&outcome.history, &KeyPositions::new(1000));
        let keys = convergence.keys().to_vec();
        let disagree = |ring: &Ring, key: Key| {
            let mut digests =
                ring.preference_list(key.position, 3).into_iter().map(|n| nodes[n.0 as usize].main_digest(key.id));
            let first = digests.next();
            digests.any(|d| Some(d) != first)
        };
        let under = |ring: &Ring| keys.iter().copied().filter(|&key| disagree(ring, key)).collect::<Vec<Key>>();
        let (under_first, under_second) = (under(&first), under(&second));
        assert!(!under_first.is_empty() && under_first != under_second, "the rings place keys apart");
        for (ring, under) in [(&first, &under_first), (&second, &under_second)] {
            assert_eq!(&super::divergent_among(&keys, ring, &nodes, 3), under);
        }
        assert_eq!(convergence.divergent(&first, &mut nodes, 3), under_first);
        assert_eq!(convergence.divergent(&second, &mut nodes, 3), under_second);
        assert_eq!(convergence.divergent(&second, &mut nodes, 3), under_second, "no change since: the same");
        assert_eq!(convergence.divergent(&first, &mut nodes, 3), under_first, "and back");
    }

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
