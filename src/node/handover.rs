//! Handing data over when ownership moves, without losing a write.
//!
//! A range transfer (see `transfer.rs`) is a snapshot: coordinators whose
//! view is still old keep writing to the previous replica after it was
//! taken. So the previous replica drops, on confirmation, only the versions
//! the transfer carried. Anything else it holds for a key its own view
//! places elsewhere (writes that came after the snapshot, hints handed back
//! to it after it left, hints it held for a node that has since left) is a
//! *stray*: it pushes strays to the key's current owners like a hinted
//! handoff, and drops a stray key only when every owner has confirmed
//! storing every version it holds — each confirmation from a node whose
//! own view places the key on it (`Message::HandoffAck`'s `owner`), so
//! two nodes whose views name each other cannot confirm each other's
//! pushes and both drop the key.
//!
//! A fetch can miss a holder: with two changes in flight, the new owner asks
//! the replica its own (older) view knew, which had already handed the range
//! on. So a while after each ring change a node also sweeps its main data:
//! whatever it still holds for keys its view places elsewhere, unconfirmed,
//! becomes a stray. The wait lets the usual fetch come first (a sweep that
//! comes early only pushes data the owners also fetch).
//!
//! Books: every key that becomes a stray is later handed over (all owners
//! confirmed), reclaimed (its view places it here again, or nothing is left
//! of it), or still pending: `stray_keys_found = stray_keys_handed_over +
//! stray_keys_reclaimed + strays_pending()`.

use super::membership::MemberStatus;
use super::vclock::Dot;
use super::{Node, NodeTimer, Outbox};
use crate::protocol::{Key, Message, Span, Version};
use crate::types::{Endpoint, NodeId, Time};
use std::collections::{BTreeMap, BTreeSet};

/// A key held here that this node's view places elsewhere: the owners that
/// confirmed storing every version of it held here.
#[derive(Clone, Debug)]
pub(super) struct Stray {
    key: Key,
    confirmed_by: BTreeSet<NodeId>,
}

/// What this node knows about the data it has handed over (durable: it
/// describes the store, and a restart must not forget to pass data on).
#[derive(Clone, Debug, Default)]
pub(super) struct Handover {
    /// Spans a new replica confirmed receiving (or should have).
    spans: BTreeSet<Span>,
    /// Versions a new replica confirmed storing, kept until this node's own
    /// view stops placing their key here (then they are dropped).
    confirmed: BTreeMap<u64, Vec<Version>>,
    /// Keys to push to their owners, by key id.
    strays: BTreeMap<u64, Stray>,
    /// By owner, the last key pushed to it (rounds take turns over strays).
    cursors: BTreeMap<NodeId, u64>,
    /// When to sweep the main data for keys placed elsewhere (set by a ring change).
    sweep_at: Option<Time>,
}

/// Gossip intervals after a ring change before a node sweeps its main data
/// for keys no fetch took: time for the change to spread to the new owners
/// of a small cluster and for their fetches to be served.
const SWEEP_AFTER_ROUNDS: u64 = 3;

impl Node {
    /// True when this node's own view places `key` on it.
    pub(super) fn placed_here(&mut self, key: Key) -> bool {
        self.ring.preference_list_into(key.position, self.config.n, &mut self.preference);
        self.preference.contains(&self.id)
    }

    /// `span` has been handed to a new replica, which confirmed storing
    /// `confirmed` (possibly nothing): settle every key in it.
    pub(super) fn hand_over(&mut self, span: Span, confirmed: Vec<(Key, Vec<Version>)>) {
        self.handover.spans.insert(span);
        for (key, versions) in confirmed {
            let kept = self.handover.confirmed.entry(key.id).or_default();
            for version in versions {
                if !kept.contains(&version) {
                    kept.push(version);
                }
            }
        }
        self.settle_span(span);
    }

    /// After a ring change at `now`: settle the spans handed over before
    /// this node's view caught up, and plan a sweep for what no fetch takes.
    pub(super) fn settle_handed_over(&mut self, now: Time) {
        self.handover.sweep_at = Some(now.plus(SWEEP_AFTER_ROUNDS * self.config.gossip_interval_us));
        let spans: Vec<Span> = self.handover.spans.iter().copied().collect();
        for span in spans {
            self.settle_span(span);
        }
    }

    /// For each key in `span` that this node's view no longer places here:
    /// drop the versions a new replica confirmed, and push what is left.
    fn settle_span(&mut self, span: Span) {
        let held: BTreeSet<Key> = self.main_keys().filter(|k| span.contains(k.position)).collect();
        for key in held {
            if !self.placed_here(key) {
                self.settle_key(key);
            }
        }
    }

    fn settle_key(&mut self, key: Key) {
        let confirmed = self.handover.confirmed.remove(&key.id).unwrap_or_default();
        let old = self.summary_if_tracked(key);
        for version in &confirmed {
            self.store.remove_version(key.id, version);
            self.buffer.remove_version(key.id, version);
        }
        if let (Some(old), Some(new)) = (old, self.summary_if_tracked(key)) {
            self.update_tree(key, old, new);
        }
        if self.main_versions(key.id).is_empty() {
            self.stats.transfer_keys_dropped += 1;
        } else {
            self.mark_stray(key);
        }
    }

    /// A version just landed in the main data: if this node's view places
    /// its key elsewhere (a coordinator or peer with an older view sent
    /// it), it must be passed on, and the confirmations so far covered only
    /// the versions held before it. A node whose ring never changed cannot
    /// hold such a key, so it skips the check.
    pub(super) fn note_stored(&mut self, key: Key) {
        if self.stats.ring_changes > 0 && !self.placed_here(key) {
            self.mark_stray(key).confirmed_by.clear();
        }
    }

    /// Marks `key` to be pushed to its owners. A key already stray keeps
    /// its confirmations: they cover every version it still holds (a
    /// settle or sweep only drops versions, so it must not make owners
    /// that confirmed wait for the push to come round again).
    fn mark_stray(&mut self, key: Key) -> &mut Stray {
        let stats = &mut self.stats;
        self.handover.strays.entry(key.id).or_insert_with(|| {
            stats.stray_keys_found += 1;
            Stray { key, confirmed_by: BTreeSet::new() }
        })
    }

    /// Keys held for other owners, not yet handed over.
    pub fn strays_pending(&self) -> u64 {
        self.handover.strays.len() as u64
    }

    /// True while this node may still hold data it must pass on: strays
    /// not yet handed over, or a sweep planned after a ring change. Until
    /// the sweep runs, keys no fetch took are not known as strays yet, so a
    /// run that ends before it would leave their versions on a node outside
    /// their preference list.
    pub fn handover_pending(&self) -> bool {
        !self.handover.strays.is_empty() || self.handover.sweep_at.is_some()
    }

    /// One push round (with the hinted handoff): each owner believed
    /// reachable gets up to `handoff_batch` of the strays it has not
    /// confirmed yet, taking turns from where its last round stopped. The
    /// batch is per owner, as for hints: a node holding strays for several
    /// owners hands them over at the pace of its hints, not one batch
    /// shared by all.
    pub(super) fn push_strays(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        if self.handover.sweep_at.is_some_and(|at| at <= now) {
            self.handover.sweep_at = None;
            self.sweep();
        }
        let wanted = self.strays_wanted();
        self.handover.cursors.retain(|owner, _| wanted.contains_key(owner));
        for (owner, keys) in wanted {
            // Key order from just past this owner's cursor, wrapping around.
            let start = self.handover.cursors.get(&owner).map_or(0, |&c| keys.partition_point(|k| k.id <= c));
            let batch: Vec<Key> =
                keys[start..].iter().chain(&keys[..start]).take(self.config.handoff_batch).copied().collect();
            for key in batch {
                self.handover.cursors.insert(owner, key.id);
                let versions = self.main_versions(key.id);
                self.stats.stray_versions_pushed += versions.len() as u64;
                out.send(Endpoint::Node(owner), Message::Handoff { key, versions });
            }
        }
    }

    /// The strays each owner believed reachable still has to confirm, in
    /// key order. Strays this node's view places here again, or with
    /// nothing left of them, are reclaimed on the way.
    fn strays_wanted(&mut self) -> BTreeMap<NodeId, Vec<Key>> {
        let strays: Vec<(Key, BTreeSet<NodeId>)> =
            self.handover.strays.values().map(|stray| (stray.key, stray.confirmed_by.clone())).collect();
        let mut wanted: BTreeMap<NodeId, Vec<Key>> = BTreeMap::new();
        for (key, confirmed_by) in strays {
            if self.main_versions(key.id).is_empty() || self.placed_here(key) {
                self.handover.strays.remove(&key.id);
                self.stats.stray_keys_reclaimed += 1;
                continue;
            }
            if !self.preference.is_empty() && self.preference.iter().all(|owner| confirmed_by.contains(owner)) {
                // Its owners changed since the last confirmation (one left),
                // and every one of them now has it.
                self.hand_over_stray(key);
                continue;
            }
            for &owner in &self.preference {
                if !confirmed_by.contains(&owner) && self.healthy(owner) {
                    wanted.entry(owner).or_default().push(key);
                }
            }
        }
        wanted
    }

    /// Every key in the main data that this node's view places elsewhere
    /// becomes a stray (the versions a new replica confirmed are dropped first).
    fn sweep(&mut self) {
        let held: BTreeSet<Key> = self.main_keys().collect();
        for key in held {
            if !self.placed_here(key) {
                self.settle_key(key);
            }
        }
    }

    /// An owner stored a pushed stray (a handoff acknowledgement): once
    /// every owner has confirmed every version held, the key is dropped.
    pub(super) fn on_stray_confirmed(&mut self, peer: NodeId, key: Key, dots: &[Dot]) {
        if !self.handover.strays.contains_key(&key.id) {
            return;
        }
        let versions = self.main_versions(key.id);
        if versions.iter().any(|v| !dots.contains(&v.dot)) {
            return; // a version arrived after the push: the next round sends it
        }
        if self.placed_here(key) {
            return; // reclaimed at the next round
        }
        let owners = self.preference.clone();
        let Some(stray) = self.handover.strays.get_mut(&key.id) else { return };
        stray.confirmed_by.insert(peer);
        if owners.iter().all(|o| stray.confirmed_by.contains(o)) {
            self.hand_over_stray(key);
        }
    }

    /// Every owner of stray `key` confirmed storing every version held: drop it.
    fn hand_over_stray(&mut self, key: Key) {
        self.handover.strays.remove(&key.id);
        let old = self.summary_if_tracked(key);
        self.store.remove_key(key.id);
        self.buffer.remove_key(key.id);
        if let (Some(old), Some(new)) = (old, self.summary_if_tracked(key)) {
            self.update_tree(key, old, new);
        }
        self.stats.stray_keys_handed_over += 1;
    }

    /// Hints held for a node that has left the ring can never be handed
    /// back to it: they join this node's main data as strays (or as its
    /// own replicas, where its view places the key here), so they reach the
    /// key's current owners.
    pub(super) fn retarget_hints_of_departed(&mut self) {
        let departed: Vec<NodeId> = self
            .hints
            .intended()
            .into_iter()
            .filter(|node| self.view.members().get(node).is_some_and(|e| e.status == MemberStatus::Left))
            .collect();
        for node in departed {
            self.handoff_unacked.remove(&node);
            let moved = self.hints.take_intended(node);
            self.stats.hints_retargeted += moved.len() as u64;
            for (key, version) in moved {
                self.apply(key, version, false);
            }
        }
    }
}
