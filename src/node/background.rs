//! Background work: failure-detector probes, hinted handoff, buffer
//! flushes, and absorbing versions handed back or repaired. It goes
//! through the same service queue as client requests, so it competes
//! with them.

use super::store::PutEffect;
use super::vclock::Dot;
use super::{AbsorbSource, Node, NodeTimer, Outbox, StorageOp};
use crate::protocol::{Key, Message, Version};
use crate::types::{Endpoint, NodeId, Time};

/// Handoff rounds a peer may leave unacknowledged before it is suspected.
const UNACKED_HANDOFF_ROUNDS: u32 = 3;

impl Node {
    /// Pings every suspected peer; any answer clears the suspicion.
    pub(super) fn probe(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        for &peer in self.suspected.keys() {
            out.send(Endpoint::Node(peer), Message::Ping);
        }
        let incarnation = self.incarnation;
        out.set_timer(now.plus(self.config.probe_interval_us), NodeTimer::Probe { incarnation });
    }

    /// Hands hinted versions back to intended nodes believed reachable, a
    /// batch of keys per node per round. A node that leaves several rounds
    /// in a row unacknowledged is suspected (and re-probed until it
    /// answers); one slow acknowledgement is not enough.
    pub(super) fn hand_off(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        self.retarget_hints_of_departed();
        for node in self.hints.intended() {
            let unacked = self.handoff_unacked.get(&node).copied().unwrap_or(0);
            if unacked >= UNACKED_HANDOFF_ROUNDS {
                self.handoff_unacked.remove(&node);
                self.suspect(now, node);
                continue;
            }
            if !self.healthy(node) {
                continue;
            }
            for (key, versions) in self.hints.batch(node, self.config.handoff_batch) {
                out.send(Endpoint::Node(node), Message::Handoff { key, versions });
            }
            self.handoff_unacked.insert(node, unacked + 1);
        }
        self.expire_sent_transfers(now);
        self.push_strays(now, out);
        let incarnation = self.incarnation;
        out.set_timer(now.plus(self.config.handoff_interval_us), NodeTimer::Handoff { incarnation });
    }

    /// The intended node stored what was handed back: drop those hints
    /// (it keeps them until their owners have them, whatever its view);
    /// and if it stored them as an owner, count it for a stray pushed to it.
    pub(super) fn on_handoff_ack(&mut self, peer: NodeId, key: Key, dots: &[Dot], owner: bool) {
        self.handoff_unacked.remove(&peer);
        if owner {
            self.on_stray_confirmed(peer, key, dots);
        }
        self.stats.hints_delivered += self.hints.remove_delivered(peer, key.id, dots);
    }

    /// Writes the buffer to disk (one sequential write in the service queue).
    /// The buffered versions become durable only when the flush's disk
    /// write completes (see [`Node::complete_flush`]); until then they stay
    /// in the buffer, and a crash loses them.
    pub(super) fn flush(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        if !self.buffer.is_empty() && !self.flush_in_progress {
            self.stats.flushes += 1;
            self.flush_in_progress = true;
            let batch: Vec<(Key, Version)> =
                self.buffer.iter().flat_map(|(key, versions)| versions.iter().map(move |v| (key, v.clone()))).collect();
            self.enqueue_storage(now, StorageOp::Flush { batch }, out);
        }
        let incarnation = self.incarnation;
        out.set_timer(now.plus(self.config.flush_interval_us), NodeTimer::Flush { incarnation });
    }

    /// A flush's disk write completed: its versions move from the buffer to
    /// the store (main data is unchanged: it is the union of the two).
    pub(super) fn complete_flush(&mut self, batch: Vec<(Key, Version)>) {
        self.flush_in_progress = false;
        for (key, version) in batch {
            self.buffer.remove_version(key.id, &version);
            if let PutEffect::StoredOverCap(dropped) = self.store.put(key, version, self.config.rules) {
                self.sibling_cap_dropped(key, dropped);
            }
        }
    }

    /// Stores versions handed back or sent by read repair in the main data,
    /// acknowledging a handoff to its sender.
    pub(super) fn absorb(
        &mut self,
        now: Time,
        key: Key,
        versions: Vec<Version>,
        source: AbsorbSource,
        out: &mut Outbox<NodeTimer>,
    ) {
        let dots: Vec<Dot> = versions.iter().map(|v| v.dot).collect();
        let before = self.main_versions(key.id);
        for version in versions {
            self.apply(key, version, false);
        }
        let changed = self.main_versions(key.id) != before;
        match source {
            AbsorbSource::ReadRepair => self.stats.versions_repaired += dots.len() as u64,
            AbsorbSource::Handoff(peer) => {
                let owner = self.placed_here(key);
                out.send(Endpoint::Node(peer), Message::HandoffAck { key, dots, owner });
            }
            AbsorbSource::AntiEntropy => self.stats.anti_entropy_keys_repaired += u64::from(changed),
            AbsorbSource::Transfer(id) => self.on_transfer_key_stored(now, id, out),
        }
    }
}
