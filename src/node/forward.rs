//! Client requests arriving at a node: coordinate them, or forward them to
//! the first reachable node of the key's top N (Dynamo §4.5).
//!
//! The coordinator acknowledges a forwarded request, so the forwarder
//! learns by timeout when the node it forwarded to is unreachable; it then
//! suspects that node and forwards to the next one (or coordinates itself
//! when none of the top N is reachable), while the client still waits.

use super::{Node, NodeTimer, Outbox};
use crate::protocol::{Key, Message, RequestId};
use crate::types::{Endpoint, NodeId, Time};

/// A request this node forwarded and is waiting to see acknowledged.
#[derive(Clone, Debug)]
pub(super) struct Forward {
    target: NodeId,
    pub attempt: u32,
    message: Message,
    /// When its timeout fires (cancelled by the coordinator's acknowledgement).
    pub deadline: Time,
}

impl Node {
    /// A Get or Put from a client, or forwarded by another node.
    pub(super) fn on_client_request(
        &mut self,
        now: Time,
        from: Endpoint,
        message: Message,
        out: &mut Outbox<NodeTimer>,
    ) {
        let (request, key, forwarded) = match &message {
            Message::Get { request, key, forwarded } | Message::Put { request, key, forwarded, .. } => {
                (*request, *key, *forwarded)
            }
            _ => return,
        };
        if forwarded && matches!(from, Endpoint::Node(_)) {
            out.send(from, Message::ForwardAck { request });
        }
        match self.forward_target(key, forwarded) {
            Some(target) => self.forward(now, target, 0, message, out),
            None => self.coordinate(now, message, out),
        }
    }

    /// Where to forward a request for `key`, if this node is not in its top
    /// N: the first of the top N it believes reachable. A forwarded request
    /// is coordinated where it lands, never forwarded again.
    fn forward_target(&mut self, key: Key, forwarded: bool) -> Option<NodeId> {
        self.ring.preference_list_into(key.position, self.config.n, &mut self.preference);
        if forwarded || self.preference.contains(&self.id) {
            return None;
        }
        self.preference.iter().copied().find(|&n| self.healthy(n))
    }

    fn forward(&mut self, now: Time, target: NodeId, attempt: u32, mut message: Message, out: &mut Outbox<NodeTimer>) {
        let request = match &mut message {
            Message::Get { request, forwarded, .. } | Message::Put { request, forwarded, .. } => {
                *forwarded = true;
                *request
            }
            _ => return,
        };
        self.stats.requests_forwarded += 1;
        let deadline = now.plus(self.config.replica_timeout_us);
        self.forwards.insert(request, Forward { target, attempt, message: message.clone(), deadline });
        out.send(Endpoint::Node(target), message);
        out.set_timer(deadline, NodeTimer::ForwardTimeout { request, attempt });
    }

    /// The coordinator did not acknowledge: suspect it and try the next.
    pub(super) fn on_forward_timeout(
        &mut self,
        now: Time,
        request: RequestId,
        attempt: u32,
        out: &mut Outbox<NodeTimer>,
    ) {
        if self.forwards.get(&request).is_none_or(|f| f.attempt != attempt) {
            return;
        }
        let Some(forward) = self.forwards.remove(&request) else { return };
        self.suspect(now, forward.target);
        let key = match &forward.message {
            Message::Get { key, .. } | Message::Put { key, .. } => *key,
            _ => return,
        };
        // At most N forwarding attempts (one per top-N node), then coordinate here.
        let next = self.forward_target(key, false).filter(|_| (attempt as usize + 1) < self.config.n);
        match next {
            Some(next) => self.forward(now, next, attempt + 1, forward.message, out),
            None => self.coordinate(now, forward.message, out),
        }
    }

    fn coordinate(&mut self, now: Time, message: Message, out: &mut Outbox<NodeTimer>) {
        match message {
            Message::Get { request, key, .. } => self.coordinate_read(now, request, key, out),
            Message::Put { request, key, context, value, .. } => {
                self.coordinate_write(now, request, key, &context, value, out)
            }
            _ => {}
        }
    }
}
