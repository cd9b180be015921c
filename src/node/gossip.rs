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
        self.install_view(now, Arc::new(view), out);
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
        theirs: &Arc<View>,
        reply: bool,
        out: &mut Outbox<NodeTimer>,
    ) {
        let same = self.view_digest == theirs.digest();
        if self.joining {
            self.complete_join(now, theirs, out);
        } else if !same {
            let mut merged = (*self.view).clone();
            if merged.merge(theirs) {
                // Theirs held everything mine did: keep theirs, which other
                // nodes that merged it hold too, rather than a copy.
                let merged = if merged.digest() == theirs.digest() { Arc::clone(theirs) } else { Arc::new(merged) };
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
        let Some(current) = self.ring_of(seed_view) else { return };
        self.joining = false;
        let next = current.with_node_added(self.id, None, &mut self.token_rng);
        let mut view = seed_view.clone();
        view.adopt(&current, &next);
        self.ring = current;
        self.install_view(now, Arc::new(view), out);
        self.gossip_round(out);
        let incarnation = self.incarnation;
        out.set_timer(now.plus(self.config.gossip_interval_us), NodeTimer::Gossip { incarnation });
    }

    /// The ring `view` describes (None while it is incomplete), shared
    /// with the nodes that built it from an equal view.
    fn ring_of(&self, view: &View) -> Option<Arc<Ring>> {
        view.shared_ring(&self.config.strategy, self.config.n, &self.config.shared_rings)
    }

    /// Adopts a new view: rebuilds the ring view and, when it changed,
    /// fetches the ranges this node now replicates and did not before.
    pub(super) fn install_view(&mut self, now: Time, view: Arc<View>, out: &mut Outbox<NodeTimer>) {
        let ring = self.ring_of(&view);
        self.view_digest = view.digest();
        self.view = view;
        let Some(next) = ring else { return };
        if Arc::ptr_eq(&next, &self.ring) || next.tokens() == self.ring.tokens() && next.nodes() == self.ring.nodes() {
            return;
        }
        let previous = std::mem::replace(&mut self.ring, next);
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

    // Session 9 (issue 15): joining, push-pull and ring changes, for the
    // mutants the mutation run of gossip.rs left alive.

    use crate::engine::rng::{Purpose, Streams};
    use crate::node::NodeConfig;
    use std::collections::BTreeSet;

    /// The nodes `out` sends a join request to, in order.
    fn join_requests(out: &Outbox<NodeTimer>) -> Vec<NodeId> {
        out.messages
            .iter()
            .filter_map(|(to, m)| match (to, m) {
                (Endpoint::Node(n), Message::JoinRequest) => Some(*n),
                _ => None,
            })
            .collect()
    }

    /// A joiner without an answer asks the seed after the one it last
    /// asked (the first seed if it joined through another node), wrapping
    /// round, and asks again a gossip interval later; once a seed's view
    /// made it a member, a retry does nothing.
    #[test]
    fn a_joiner_without_an_answer_asks_the_next_seed_in_turn_until_one_answers() {
        let seeds = vec![NodeId(1), NodeId(2), NodeId(3)];
        let config = Arc::new(NodeConfig { seeds, ..(*config()).clone() });
        let interval = config.gossip_interval_us;
        let members = cluster_with(4, Arc::clone(&config));
        let streams = Streams::new(1);
        let joiner_of = |id: u32| {
            let (rng, tokens) =
                (streams.stream(Purpose::Node, id.into()), streams.stream(Purpose::RingTokens, id.into()));
            Node::new_joiner(NodeId(id), Arc::clone(&config), rng, tokens)
        };
        let retries = |joiner: &mut Node, rounds: u64| {
            let mut asked = Vec::new();
            for round in 1..=rounds {
                let now = Time(round * 10);
                let mut out = Outbox::default();
                joiner.retry_join(now, &mut out);
                asked.extend(join_requests(&out));
                let incarnation = joiner.incarnation;
                assert_eq!(out.timers, vec![(now.plus(interval), NodeTimer::JoinRetry { incarnation })]);
            }
            asked
        };
        let mut joiner = joiner_of(4);
        let mut out = Outbox::default();
        joiner.join(Time(0), NodeId(2), &mut out);
        assert_eq!(join_requests(&out), vec![NodeId(2)]);
        assert_eq!(retries(&mut joiner, 4), [3, 1, 2, 3].map(NodeId));
        // Joined through a node that is no seed: the retries start at the first seed.
        let mut other = joiner_of(5);
        other.join(Time(0), NodeId(0), &mut Outbox::default());
        assert_eq!(retries(&mut other, 2), [1, 2].map(NodeId));
        // The seed answers: the joiner is a member, and a retry does nothing.
        let reply = Message::GossipReply { view: Arc::clone(&members[3].view) };
        joiner.on_message(Time(50), Endpoint::Node(NodeId(3)), reply, &mut Outbox::default());
        assert!(joiner.ring().nodes().contains(&NodeId(4)));
        let mut out = Outbox::default();
        joiner.retry_join(Time(60), &mut out);
        assert!(out.messages.is_empty() && out.timers.is_empty(), "{out:?}");
    }

    /// What `node` sends on receiving `view` from `peer` (a push, or an
    /// answer with `reply`): (to, is an answer, digest of the view sent).
    fn gossip_sent(node: &mut Node, peer: NodeId, view: &View, reply: bool) -> Vec<(NodeId, bool, u64)> {
        let mut out = Outbox::default();
        node.on_gossip(Time(1), peer, &Arc::new(view.clone()), reply, &mut out);
        out.messages
            .iter()
            .filter_map(|(to, m)| match (to, m) {
                (Endpoint::Node(n), Message::Gossip { view }) => Some((*n, false, view.digest())),
                (Endpoint::Node(n), Message::GossipReply { view }) => Some((*n, true, view.digest())),
                _ => None,
            })
            .collect()
    }

    /// Push-pull: a push whose view differs from the receiver's is
    /// answered with the receiver's (merged) view, one that does not is
    /// not; an answer is merged and never answered.
    #[test]
    fn a_push_is_answered_with_the_merged_view_only_when_the_views_differ_and_an_answer_never_is() {
        let mut cluster = cluster_with(5, config());
        cluster[4].leave(Time(0), &mut Outbox::default());
        let left = cluster[4].view().clone();
        let old = cluster[1].view().clone();
        assert_ne!(left.digest(), old.digest());
        assert_eq!(cluster[1].view_digest(), old.digest());
        // The same view: nothing to merge, nothing to answer.
        assert_eq!(gossip_sent(&mut cluster[1], NodeId(2), &old, false), vec![]);
        assert_eq!(gossip_sent(&mut cluster[1], NodeId(2), &old, true), vec![]);
        // A push that differs: merged, and answered with the merged view.
        assert_eq!(gossip_sent(&mut cluster[1], NodeId(4), &left, false), vec![(NodeId(4), true, left.digest())]);
        assert_eq!(cluster[1].view(), &left);
        assert_eq!(cluster[1].view_digest(), left.digest());
        // An answer that differs: merged, not answered.
        assert_eq!(gossip_sent(&mut cluster[2], NodeId(4), &left, true), vec![]);
        assert_eq!(cluster[2].view(), &left);
        // A push of an older view: nothing merged, answered so the pusher catches up.
        assert_eq!(gossip_sent(&mut cluster[2], NodeId(3), &old, false), vec![(NodeId(3), true, left.digest())]);
        assert_eq!(cluster[2].view(), &left);
    }

    /// A round pushes this node's view to one peer drawn among those it
    /// believes alive (never itself, never a suspected one), and counts the
    /// round, the message and its bytes; with every peer suspected it
    /// pushes nothing but still counts the round.
    #[test]
    fn a_round_pushes_to_a_random_peer_believed_alive_never_itself_and_counts_every_message_and_byte() {
        let config = Arc::new(NodeConfig { seed_gossip_every: 0, ..(*config()).clone() });
        let mut cluster = cluster_with(5, config);
        let node = &mut cluster[0];
        node.suspect(Time(0), NodeId(1));
        node.suspect(Time(0), NodeId(2));
        let (mut targets, mut bytes) = (BTreeSet::new(), 0);
        for _ in 0..40 {
            let mut out = Outbox::default();
            node.gossip_round(&mut out);
            let [(Endpoint::Node(to), message @ Message::Gossip { view })] = &out.messages[..] else {
                panic!("one push: {out:?}")
            };
            assert_eq!(view.digest(), node.view_digest());
            targets.insert(*to);
            bytes += message.wire_bytes();
        }
        assert_eq!(targets, BTreeSet::from([NodeId(3), NodeId(4)]));
        assert!(bytes > 40 * node.view().wire_bytes());
        let stats = node.stats();
        assert_eq!((stats.gossip_rounds, stats.gossip_messages, stats.gossip_bytes), (40, 40, bytes));
        node.suspect(Time(0), NodeId(3));
        node.suspect(Time(0), NodeId(4));
        let mut out = Outbox::default();
        node.gossip_round(&mut out);
        assert!(out.messages.is_empty(), "{out:?}");
        assert_eq!((node.stats().gossip_rounds, node.stats().gossip_messages), (41, 40));
    }

    /// A node's ring changes (and is counted) when a view moves a member or
    /// only a partition, not when it only bumps versions of the same ring.
    #[test]
    fn a_view_of_the_same_ring_is_no_ring_change_and_one_that_moves_only_partitions_is() {
        let mut cluster = cluster_with(5, config());
        let ring = Arc::clone(cluster[0].ring());
        let without = ring.with_node_removed(NodeId(4));
        let mut left = cluster[4].view().clone();
        left.adopt(&ring, &without);
        // Node 4 left again, at a newer version: a newer view, the same ring.
        let mut left_again = left.clone();
        left_again.adopt(&ring, &without);
        assert_ne!(left_again.digest(), left.digest());
        let node = &mut cluster[1];
        node.on_gossip(Time(1), NodeId(4), &Arc::new(left.clone()), true, &mut Outbox::default());
        assert_eq!(node.ring().nodes(), without.nodes());
        assert_eq!(node.stats().ring_changes, 1);
        node.on_gossip(Time(2), NodeId(4), &Arc::new(left_again.clone()), true, &mut Outbox::default());
        assert_eq!(node.view_digest(), left_again.digest());
        assert_eq!(node.stats().ring_changes, 1, "a newer view of the same ring");
        // Two partitions swap owners; the members stay.
        let owners = without.partition_owners().to_vec();
        let strategy = without.strategy().clone();
        let pairs = (0..owners.len()).flat_map(|p| (p + 1..owners.len()).map(move |q| (p, q)));
        let swapped = pairs
            .filter(|&(p, q)| owners[p] != owners[q])
            .find_map(|(p, q)| {
                let mut table = owners.clone();
                table.swap(p, q);
                let swapped = Ring::from_assignment(&strategy, 3, without.nodes().to_vec(), vec![], table.clone())?;
                (swapped.partition_owners() == table).then_some(swapped)
            })
            .expect("a swap of two owners the ring keeps");
        let mut moved = left_again.clone();
        moved.adopt(&without, &swapped);
        node.on_gossip(Time(3), NodeId(4), &Arc::new(moved), true, &mut Outbox::default());
        assert_eq!(node.ring().nodes(), without.nodes());
        assert_eq!(node.ring().partition_owners(), swapped.partition_owners());
        assert_eq!(node.stats().ring_changes, 2);
    }
}
