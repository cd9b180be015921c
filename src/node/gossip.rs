//! Membership by gossip (Dynamo §4.8): administrators add and remove nodes
//! explicitly; the change starts at one node and spreads as every node
//! periodically exchanges its view with a random peer it believes alive
//! (push-pull), and now and then with a seed, so that nodes joined through
//! different seeds cannot stay in separate logical rings. A node
//! coordinates from its own ring view; when the view changes it fetches the
//! ranges it newly replicates.

use super::membership::View;
use super::{Node, NodeTimer, Outbox};
use crate::engine::rng::SimRng;
use crate::protocol::Message;
use crate::ring::Ring;
use crate::types::{Endpoint, NodeId, Time};
use rand::Rng;
use std::sync::Arc;

/// The phase of a node's seed rounds, drawn from its own stream: with
/// every node at phase 0, all would contact a seed in the same round and
/// agreement would be the seeds' broadcast, not the epidemic.
pub(super) fn draw_seed_phase(rng: &mut SimRng, every: u64) -> u64 {
    if every == 0 {
        0
    } else {
        rng.gen_range(0..every)
    }
}

impl Node {
    /// Administrator command: this (new) node joins through `seed`. It asks
    /// the seed for its view; the reply makes it take its tokens or
    /// partitions and start gossiping.
    pub fn join(&mut self, now: Time, seed: NodeId, out: &mut Outbox<NodeTimer>) {
        self.joining = true;
        self.joined_at = Some(now);
        self.join_seed = seed;
        out.send(Endpoint::Node(seed), Message::JoinRequest);
    }

    /// No usable view yet (the seed was down, the message lost, or the
    /// seed itself still joining): ask the next seed, and keep trying.
    pub(super) fn retry_join(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        if !self.joining {
            return;
        }
        let seeds = &self.config.seeds;
        if let Some(position) = seeds.iter().position(|&s| s == self.join_seed) {
            self.join_seed = seeds[(position + 1) % seeds.len()];
        } else if let Some(&first) = seeds.first() {
            self.join_seed = first;
        }
        out.send(Endpoint::Node(self.join_seed), Message::JoinRequest);
        let incarnation = self.incarnation;
        out.set_timer(now.plus(self.config.gossip_interval_us), NodeTimer::JoinRetry { incarnation });
    }

    /// Administrator command: decommission this node. It gives up its
    /// tokens or partitions (strategy 3 reassigns them to keep shares within
    /// one of equal), tells a peer, and keeps serving transfers of its data.
    pub fn leave(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        let next = self.ring.with_node_removed(self.id);
        let current = Arc::clone(&self.ring);
        let mut view = (*self.view).clone();
        view.adopt(&current, &next);
        self.install_view(now, view, out);
        self.gossip_round(out);
    }

    /// This node's membership view.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The digest of this node's membership view (equal views, equal digests).
    pub fn view_digest(&self) -> u64 {
        self.view_digest
    }

    /// The gossip timer: one push-pull exchange with a random live member,
    /// and every `seed_gossip_every` rounds (at this node's phase) with a seed.
    pub(super) fn gossip_round(&mut self, out: &mut Outbox<NodeTimer>) {
        self.stats.gossip_rounds += 1;
        let peers: Vec<NodeId> =
            self.ring.nodes().iter().copied().filter(|&n| n != self.id && self.healthy(n)).collect();
        if !peers.is_empty() {
            let peer = peers[self.rng.gen_range(0..peers.len())];
            self.send_view(peer, false, out);
        }
        let every = self.config.seed_gossip_every;
        if every > 0 && (self.stats.gossip_rounds + self.seed_phase) % every == 0 && !self.config.seeds.is_empty() {
            let seed = self.config.seeds[self.rng.gen_range(0..self.config.seeds.len())];
            if seed != self.id {
                self.send_view(seed, false, out);
            }
        }
    }

    fn send_view(&mut self, peer: NodeId, reply: bool, out: &mut Outbox<NodeTimer>) {
        let view = Arc::clone(&self.view);
        let message = if reply { Message::GossipReply { view } } else { Message::Gossip { view } };
        self.stats.gossip_messages += 1;
        self.stats.gossip_bytes += message.wire_bytes();
        out.send(Endpoint::Node(peer), message);
    }

    /// A peer's view: merge it, and answer with ours (push-pull) unless
    /// this was already an answer.
    pub(super) fn on_gossip(
        &mut self,
        now: Time,
        peer: NodeId,
        theirs: &View,
        reply: bool,
        out: &mut Outbox<NodeTimer>,
    ) {
        let same = self.view_digest == theirs.digest();
        if self.joining {
            self.complete_join(now, theirs, out);
        } else if !same {
            let mut merged = (*self.view).clone();
            if merged.merge(theirs) {
                self.install_view(now, merged, out);
            }
        }
        if !reply && !same {
            self.send_view(peer, true, out);
        }
    }

    /// The seed's view has arrived: take tokens (strategies 1, 2: drawn
    /// from this node's own stream) or partitions (strategy 3: claimed so
    /// shares stay within one of equal) and announce them.
    fn complete_join(&mut self, now: Time, seed_view: &View, out: &mut Outbox<NodeTimer>) {
        let Some(current) = seed_view.ring(&self.config.strategy, self.config.n) else { return };
        self.joining = false;
        let next = current.with_node_added(self.id, None, &mut self.token_rng);
        let mut view = seed_view.clone();
        view.adopt(&current, &next);
        self.ring = Arc::new(current);
        self.install_view(now, view, out);
        self.gossip_round(out);
        let incarnation = self.incarnation;
        out.set_timer(now.plus(self.config.gossip_interval_us), NodeTimer::Gossip { incarnation });
    }

    /// Adopts a new view: rebuilds the ring view and, when it changed,
    /// fetches the ranges this node now replicates and did not before.
    pub(super) fn install_view(&mut self, now: Time, view: View, out: &mut Outbox<NodeTimer>) {
        let ring = view.ring(&self.config.strategy, self.config.n);
        self.view_digest = view.digest();
        self.view = Arc::new(view);
        let Some(next) = ring else { return };
        if next.tokens() == self.ring.tokens() && next.nodes() == self.ring.nodes() {
            return;
        }
        let previous = std::mem::replace(&mut self.ring, Arc::new(next));
        self.stats.ring_changes += 1;
        self.fetch_new_ranges(now, &previous, out);
        self.rebuild_trees();
        // Ranges handed over before this node's view caught up can go now.
        self.settle_handed_over(now);
    }

    /// The ring this node coordinates from.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cluster_with, config};
    use super::*;

    /// For each of `rounds` gossip rounds, how many of `nodes` nodes also
    /// gossiped with the seed (n0) in that round.
    fn seed_contacts_per_round(nodes: u32, every: u64, rounds: usize) -> Vec<usize> {
        let mut config = (*config()).clone();
        config.seed_gossip_every = every;
        let mut cluster = cluster_with(nodes, Arc::new(config));
        (0..rounds)
            .map(|_| {
                let mut contacts = 0;
                for node in &mut cluster {
                    let mut out = Outbox::default();
                    node.gossip_round(&mut out);
                    // One push to a random peer, and a second one in a seed round.
                    contacts += usize::from(out.messages.len() == 2);
                }
                contacts
            })
            .collect()
    }

    #[test]
    fn each_node_gossips_with_a_seed_once_per_period_at_its_own_phase() {
        let per_round = seed_contacts_per_round(16, 4, 8);
        // Each of the 15 non-seed nodes once per 4 rounds, never all in one round.
        assert_eq!(per_round[..4].iter().sum::<usize>(), 15, "{per_round:?}");
        assert_eq!(per_round[..4], per_round[4..], "the same phase every period");
        assert!(per_round.iter().all(|&c| c < 12), "seed contacts are spread over the period: {per_round:?}");
        assert!(per_round.iter().filter(|&&c| c > 0).count() >= 6, "{per_round:?}");
    }

    #[test]
    fn a_seed_period_of_zero_means_no_extra_gossip_with_seeds() {
        assert_eq!(seed_contacts_per_round(16, 0, 8), vec![0; 8]);
    }
}
