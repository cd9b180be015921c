//! Range transfer on join and leave: a node that now replicates a range it
//! did not fetches it from a node that did. The source serves it as
//! background work under a cost model (Dynamo §6.2): with strategies 1 and 2
//! it scans its whole store to find the range's keys and reads them one by
//! one; with strategy 3 a partition is a file of its own, read once. Either
//! way the data goes out at the node's transfer bandwidth, one transfer
//! after another.

use super::{AbsorbSource, Node, NodeTimer, Outbox, StorageOp};
use crate::protocol::{Key, Message, Span, Version};
use crate::ring::{Ring, Strategy};
use crate::types::{Endpoint, NodeId, Time, Token};
use std::sync::Arc;

/// A range being fetched: the previous replicas to ask, and which try this is.
#[derive(Clone, Debug)]
pub(super) struct Fetch {
    sources: Vec<NodeId>,
    attempt: usize,
}

/// A fetch not answered within this many gossip intervals is asked again elsewhere.
const FETCH_TIMEOUT_ROUNDS: u64 = 5;

/// A sent transfer not confirmed this many gossip intervals after it went
/// out is taken as lost (its data or its acknowledgement).
const ACK_TIMEOUT_ROUNDS: u64 = 1;

/// Each previous replica is asked at most this many times for one range.
const FETCH_ATTEMPTS_PER_SOURCE: usize = 2;

/// The pieces of the ring on which `previous` and `ring` place keys the
/// same way (cut at every range end of either ring) that lie in the
/// ranges `hosted` of `ring` (ascending indices), each with the index of
/// the placement range holding it in `previous` and in `ring`, in ring
/// order (by last position; a piece that wraps around comes first). A
/// node walks only its own ranges of the new ring after every change:
/// walking every piece of both rings (sorting their ends and searching
/// each piece's ranges at first) was most of a join at 2,000 nodes × 64
/// tokens.
fn hosted_pieces(previous: &Ring, ring: &Ring, hosted: &[usize]) -> Vec<(Span, usize, usize)> {
    let (before, after) = (previous.placement_ranges(), ring.placement_ranges());
    let mut pieces = Vec::new();
    if before.is_empty() {
        return pieces;
    }
    for &index in hosted {
        let range = &after[index];
        let whole = Span { first: range.first, last: range.last };
        // The previous ring's range ends inside this range, before its own end.
        let mut at = Ring::range_index(before, range.first);
        let mut first = range.first;
        for _ in 0..before.len() {
            let end = before[at].last;
            if end == range.last || !whole.contains(end) {
                break;
            }
            pieces.push((Span { first, last: end }, at, index));
            first = Token(end.0.wrapping_add(1));
            at = (at + 1) % before.len();
        }
        pieces.push((Span { first, last: range.last }, Ring::range_index(before, range.last), index));
    }
    // Ranges come in ring order but for the one that wraps around, whose
    // pieces past the last end of the ring come last.
    pieces.sort_unstable_by_key(|(span, _, _)| span.last);
    pieces
}

impl Node {
    /// After a ring change: for every piece this node now replicates and
    /// did not, ask a previous replica for it. The ranges it hosts on the
    /// new ring come from the ring's index of hosts ([`hosted_pieces`]).
    pub(super) fn fetch_new_ranges(&mut self, now: Time, previous: &Ring, out: &mut Outbox<NodeTimer>) {
        let n = self.config.n;
        let ring = Arc::clone(&self.ring);
        let hosted = ring.ranges_hosted_by(self.id, n); // ascending
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for (span, range_before, range_after) in hosted_pieces(previous, &ring, &hosted) {
            ring.range_preference_list_at(range_after, n, &mut after);
            previous.range_preference_list_at(range_before, n, &mut before);
            if before.contains(&self.id) {
                continue;
            }
            // Previous replicas, those believed reachable first and, among
            // them, the one giving the range up (it hands over and then drops it).
            let mut sources: Vec<NodeId> = before.iter().copied().filter(|&s| s != self.id).collect();
            sources.sort_by_key(|&s| (!self.healthy(s), after.contains(&s)));
            if sources.is_empty() {
                continue;
            }
            self.stats.transfers_requested += 1;
            self.pending_fetches.insert(span, Fetch { sources, attempt: 0 });
            self.request_fetch(now, span, out);
        }
    }

    /// Asks the current source for `span` and sets the deadline for its answer.
    fn request_fetch(&mut self, now: Time, span: Span, out: &mut Outbox<NodeTimer>) {
        let Some(fetch) = self.pending_fetches.get(&span) else { return };
        let source = fetch.sources[fetch.attempt % fetch.sources.len()];
        let attempt = fetch.attempt as u32;
        out.send(Endpoint::Node(source), Message::FetchRange { first: span.first, last: span.last });
        out.set_timer(
            now.plus(FETCH_TIMEOUT_ROUNDS * self.config.gossip_interval_us),
            NodeTimer::FetchTimeout { span: self.fetch_span(span), attempt },
        );
    }

    /// The index fetch timers name `span` by (see [`NodeTimer::FetchTimeout`]).
    pub(super) fn fetch_span(&mut self, span: Span) -> u32 {
        let next = u32::try_from(self.fetched_spans.len()).expect("fewer than 2^32 spans fetched");
        let index = *self.fetched_span_index.entry(span).or_insert(next);
        if index == next {
            self.fetched_spans.push(span);
        }
        index
    }

    /// A range did not arrive in time: suspect its source and ask the next
    /// previous replica (a bounded number of times; anti-entropy repairs
    /// whatever is still missing after that).
    pub(super) fn on_fetch_timeout(&mut self, now: Time, span: Span, attempt: u32, out: &mut Outbox<NodeTimer>) {
        let Some(fetch) = self.pending_fetches.get_mut(&span) else { return };
        if fetch.attempt as u32 != attempt {
            return;
        }
        let source = fetch.sources[fetch.attempt % fetch.sources.len()];
        fetch.attempt += 1;
        let exhausted = fetch.attempt >= FETCH_ATTEMPTS_PER_SOURCE * fetch.sources.len();
        self.suspect(now, source);
        if exhausted {
            self.pending_fetches.remove(&span);
        } else {
            self.request_fetch(now, span, out);
        }
    }

    /// My main data with positions in `span`.
    fn data_in(&self, span: Span) -> Vec<(Key, Vec<Version>)> {
        let keys: std::collections::BTreeSet<Key> = self.main_keys().filter(|k| span.contains(k.position)).collect();
        keys.into_iter().map(|k| (k, self.main_versions(k.id))).filter(|(_, vs)| !vs.is_empty()).collect()
    }

    /// A request for a range: queue the read by the cost model.
    pub(super) fn on_fetch_range(&mut self, now: Time, requester: NodeId, span: Span, out: &mut Outbox<NodeTimer>) {
        let keys_in_range = self.data_in(span).len() as u64;
        let service_us = match self.config.strategy {
            // A partition is a file of its own: one read to open it.
            Strategy::EqualPartitions { .. } => self.config.read_service.sample_us(&mut self.rng),
            // Scan every stored key to find the range's, then read each.
            Strategy::RandomTokens { .. } | Strategy::RandomTokensEqualPartitions { .. } => {
                let scan = self.store.key_count() as u64 * self.config.scan_key_us;
                let reads: u64 = (0..keys_in_range).map(|_| self.config.read_service.sample_us(&mut self.rng)).sum();
                scan + reads
            }
        };
        self.admit_storage(now, service_us, StorageOp::ServeRange { requester, span }, out);
    }

    /// The range has been read: send it at the transfer bandwidth, after
    /// any transfer already going out. What it carries is remembered until
    /// the requester confirms storing it, so that exactly those versions,
    /// and no write that arrived after this snapshot, can be dropped then.
    pub(super) fn send_range(&mut self, now: Time, requester: NodeId, span: Span, out: &mut Outbox<NodeTimer>) {
        let entries = self.data_in(span);
        let transfer = self.next_id();
        let message = Message::RangeData { first: span.first, last: span.last, entries: entries.clone(), transfer };
        let bytes = message.wire_bytes();
        let transmit_us = (bytes as f64 / self.config.transfer_bytes_per_us).ceil() as u64;
        let start = self.transfer_free_at.max(now);
        self.transfer_free_at = start.plus(transmit_us);
        // Taking a lost confirmation for lost too early costs only pushes of
        // data the requester already has; too late keeps strays waiting.
        let deadline = self.transfer_free_at.plus(ACK_TIMEOUT_ROUNDS * self.config.gossip_interval_us);
        self.sent_transfers.insert(transfer, SentTransfer { span, entries, deadline });
        if let Message::RangeData { entries, .. } = &message {
            self.stats.transfer_keys_sent += entries.len() as u64;
        }
        self.stats.transfer_bytes_sent += bytes;
        self.outgoing_transfers.insert(transfer, (requester, message));
        out.set_timer(self.transfer_free_at, NodeTimer::TransferSent { id: transfer });
    }

    /// A transfer finished going out: hand it to the network.
    pub(super) fn on_transfer_sent(&mut self, id: u64, out: &mut Outbox<NodeTimer>) {
        if let Some((requester, message)) = self.outgoing_transfers.remove(&id) {
            out.send(Endpoint::Node(requester), message);
        }
    }

    /// A new replica confirmed it durably stored transfer `transfer` of
    /// `span`: the versions it carried may go once this node's view no
    /// longer places their keys here (Dynamo §4.9). A confirmation this node
    /// no longer remembers (it crashed since) confirms nothing, but still
    /// marks the span handed over, so what remains of it is pushed to the
    /// owners rather than dropped.
    pub(super) fn on_transfer_ack(&mut self, transfer: u64, span: Span) {
        let confirmed = self.sent_transfers.remove(&transfer).map(|sent| sent.entries).unwrap_or_default();
        self.hand_over(span, confirmed);
    }

    /// Transfers sent and never confirmed in time (the data or its
    /// acknowledgement was lost): nothing is confirmed, but the span is
    /// handed over by pushing what this node no longer replicates to the owners.
    pub(super) fn expire_sent_transfers(&mut self, now: Time) {
        let expired: Vec<u64> =
            self.sent_transfers.iter().filter(|(_, sent)| sent.deadline <= now).map(|(&id, _)| id).collect();
        for id in expired {
            if let Some(sent) = self.sent_transfers.remove(&id) {
                self.hand_over(sent.span, Vec::new());
            }
        }
    }

    /// A range arrived: store it; it is acknowledged (and the fetch is
    /// complete) only once every key of it is durably stored, so a crash
    /// before that loses nothing: the source still holds the range, and the
    /// fetch is asked again after the restart.
    pub(super) fn on_range_data(
        &mut self,
        now: Time,
        source: NodeId,
        span: Span,
        transfer: u64,
        entries: Vec<(Key, Vec<Version>)>,
        out: &mut Outbox<NodeTimer>,
    ) {
        self.stats.transfer_keys_received += entries.len() as u64;
        let id = self.next_id();
        self.incoming_transfers.insert(id, IncomingTransfer { source, span, transfer, remaining: entries.len() });
        if entries.is_empty() {
            self.finish_incoming(now, id, out);
        }
        for (key, versions) in entries {
            self.enqueue_storage(now, StorageOp::Absorb { key, versions, source: AbsorbSource::Transfer(id) }, out);
        }
    }

    /// One key of incoming transfer `id` is durably stored.
    pub(super) fn on_transfer_key_stored(&mut self, now: Time, id: u64, out: &mut Outbox<NodeTimer>) {
        let Some(incoming) = self.incoming_transfers.get_mut(&id) else { return };
        debug_assert!(incoming.remaining > 0, "a transfer stores each of its keys once");
        incoming.remaining -= 1;
        if incoming.remaining == 0 {
            self.finish_incoming(now, id, out);
        }
    }

    /// Every key of incoming transfer `id` is durable: acknowledge it; the
    /// bootstrap ends the first time no fetch is pending.
    fn finish_incoming(&mut self, now: Time, id: u64, out: &mut Outbox<NodeTimer>) {
        let Some(incoming) = self.incoming_transfers.remove(&id) else { return };
        let span = incoming.span;
        let ack = Message::TransferAck { first: span.first, last: span.last, transfer: incoming.transfer };
        out.send(Endpoint::Node(incoming.source), ack);
        if self.pending_fetches.remove(&span).is_some() && self.pending_fetches.is_empty() {
            self.bootstrapped_at.get_or_insert(now);
        }
    }

    /// After a restart: ask again for every range still pending (a crash
    /// loses transfers in flight and queued stores, not the need for them).
    pub(super) fn resume_fetches(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        let spans: Vec<Span> = self.pending_fetches.keys().copied().collect();
        for span in spans {
            if let Some(fetch) = self.pending_fetches.get_mut(&span) {
                fetch.attempt += 1; // a timer of the try before the crash is stale
            }
            self.request_fetch(now, span, out);
        }
    }
}

/// A range transfer sent and not yet confirmed by its requester (volatile).
#[derive(Clone, Debug)]
pub(super) struct SentTransfer {
    span: Span,
    /// Exactly what was sent: only these versions may be dropped on confirmation.
    entries: Vec<(Key, Vec<Version>)>,
    /// Past this, the confirmation is taken as lost.
    deadline: Time,
}

/// A range transfer received and being stored (volatile).
#[derive(Clone, Debug)]
pub(super) struct IncomingTransfer {
    source: NodeId,
    span: Span,
    /// The source's id for it.
    transfer: u64,
    /// Keys not yet durably stored.
    remaining: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapping_span_contains_both_ends_of_the_ring() {
        let span = Span { first: Token(100), last: Token(5) };
        assert!(span.contains(Token(u128::MAX)) && span.contains(Token(0)) && span.contains(Token(5)));
        assert!(!span.contains(Token(50)));
    }

    /// A node's pieces are those of the definition — every range end of
    /// either ring, sorted, each piece with the range holding its last
    /// position in either ring ([`Ring::range_index`]) — that lie in the
    /// ranges it hosts on the new ring: for every node, across a join and
    /// a leave of each strategy and between rings of different strategies
    /// (whose ends interleave everywhere).
    #[test]
    fn a_node_s_pieces_are_the_common_pieces_in_its_hosted_ranges() {
        use crate::engine::rng::{Purpose, Streams};
        let streams = Streams::new(11);
        let tokens = |n: NodeId| streams.stream(Purpose::RingTokens, u64::from(n.0));
        let ids: Vec<NodeId> = (0..9).map(NodeId).collect();
        let strategies = [
            Strategy::RandomTokens { tokens_per_node: 8 },
            Strategy::RandomTokensEqualPartitions { tokens_per_node: 8, partitions: 64 },
            Strategy::EqualPartitions { partitions: 64 },
        ];
        let mut pairs = Vec::new();
        for strategy in &strategies {
            let ring = Ring::build(strategy, &ids, None, tokens);
            let joined = ring.with_node_added(NodeId(9), None, streams.stream(Purpose::RingTokens, 9));
            let left = ring.with_node_removed(NodeId(4));
            pairs.extend([
                (ring.clone(), joined.clone()),
                (joined, ring.clone()),
                (ring.clone(), left),
                (ring.clone(), ring),
            ]);
        }
        let (one, three) =
            (Ring::build(&strategies[0], &ids, None, tokens), Ring::build(&strategies[2], &ids, None, tokens));
        pairs.push((one.clone(), three.clone()));
        pairs.push((three, one));
        let mut seen = 0;
        for (a, b) in &pairs {
            let mut ends: Vec<Token> =
                a.placement_ranges().iter().chain(b.placement_ranges()).map(|r| r.last).collect();
            ends.sort_unstable();
            ends.dedup();
            let firsts = std::iter::once(ends[ends.len() - 1]).chain(ends.iter().copied());
            let pieces: Vec<(Span, usize, usize)> = firsts
                .zip(&ends)
                .map(|(before, &last)| {
                    let span = Span { first: Token(before.0.wrapping_add(1)), last };
                    (span, Ring::range_index(a.placement_ranges(), last), Ring::range_index(b.placement_ranges(), last))
                })
                .collect();
            for id in 0..10 {
                let hosted = b.ranges_hosted_by(NodeId(id), 3);
                let expected: Vec<_> = pieces.iter().copied().filter(|p| hosted.contains(&p.2)).collect();
                assert_eq!(hosted_pieces(a, b, &hosted), expected, "node {id}");
                seen += expected.len();
            }
        }
        assert!(seen > 1000, "the rings give the walk too little to do: {seen} pieces");
    }
}
