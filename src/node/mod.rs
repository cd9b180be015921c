//! The Dynamo storage node: a sans-IO state machine.
//!
//! A node reacts to a delivered message or a fired timer and pushes messages
//! and timers into an [`Outbox`]. It never sees the engine, the network or
//! another node's state, so the same logic could sit behind a socket.

pub mod quorum;
pub mod service;
pub mod store;
pub mod vclock;

use crate::dist::Dist;
use crate::engine::rng::SimRng;
use crate::protocol::{Coordination, Failure, Key, Message, RequestId, Value, Version};
use crate::ring::Ring;
use crate::types::{Endpoint, NodeId, Time};
use quorum::ReadQuorum;
use service::ServiceQueue;
use std::collections::BTreeMap;
use std::sync::Arc;
use store::Store;
use vclock::VectorClock;

/// Settings every node shares (fixed for a run).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Replicas per key (N).
    pub n: usize,
    /// Replies a read waits for (R).
    pub r: usize,
    /// Acknowledgements a write waits for, itself included (W).
    pub w: usize,
    /// Coordinator timeout for a quorum, µs.
    pub request_timeout_us: u64,
    /// Vector clock entries kept (Dynamo: 10).
    pub clock_max_entries: usize,
    /// Local read service time.
    pub read_service: Dist,
    /// Local write service time.
    pub write_service: Dist,
    /// Parallel servers in the storage queue.
    pub servers: usize,
}

/// Effects a handler produces: messages to send and timers to set.
#[derive(Debug)]
pub struct Outbox<T> {
    /// (destination, message) in the order they were produced.
    pub messages: Vec<(Endpoint, Message)>,
    /// (fire time, timer).
    pub timers: Vec<(Time, T)>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox {
            messages: Vec::new(),
            timers: Vec::new(),
        }
    }
}

impl<T> Outbox<T> {
    /// Queues a message.
    pub fn send(&mut self, to: Endpoint, message: Message) {
        self.messages.push((to, message));
    }

    /// Queues a timer.
    pub fn set_timer(&mut self, at: Time, timer: T) {
        self.timers.push((at, timer));
    }
}

/// Timers a node sets for itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeTimer {
    /// A local storage operation finished.
    StorageDone {
        /// The operation.
        op: u64,
    },
    /// A coordination's quorum deadline.
    CoordinationTimeout {
        /// The coordination.
        id: u64,
    },
}

impl NodeTimer {
    /// Stable code for the digest.
    pub fn code(&self) -> u8 {
        match self {
            NodeTimer::StorageDone { .. } => 1,
            NodeTimer::CoordinationTimeout { .. } => 2,
        }
    }
}

/// Counters a node keeps about itself (what a real node would export as metrics).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct NodeStats {
    /// Client reads this node coordinated.
    pub reads_coordinated: u64,
    /// Client writes this node coordinated.
    pub writes_coordinated: u64,
    /// Client requests forwarded to a node in the key's top N.
    pub requests_forwarded: u64,
    /// Replica reads served (own coordinations included).
    pub replica_reads: u64,
    /// Replica writes stored (own coordinations included).
    pub replica_writes: u64,
    /// Writes ignored because an equal or newer version was present.
    pub obsolete_writes: u64,
    /// Vector clock entries dropped by truncation.
    pub clock_truncations: u64,
    /// Coordinations that timed out before their quorum answered.
    pub coordinations_timed_out: u64,
}

/// A local storage operation waiting in the service queue.
#[derive(Clone, Debug)]
enum StorageOp {
    /// Read `key` and reply to the coordination.
    Read { key: Key, reply_to: Coordination },
    /// Store `version` and acknowledge.
    Write {
        key: Key,
        version: Version,
        reply_to: Coordination,
    },
    /// The coordinator's own write was applied in memory at once; this
    /// completes its durable write and counts its acknowledgement.
    OwnWriteDurable { reply_to: Coordination },
}

/// A write this node coordinates.
#[derive(Clone, Debug)]
struct WriteCoordination {
    request: RequestId,
    clock: VectorClock,
    acks: usize,
    asked: usize,
    answered: bool,
}

/// A read this node coordinates.
#[derive(Clone, Debug)]
struct ReadCoordination {
    request: RequestId,
    quorum: ReadQuorum,
}

/// One storage node.
#[derive(Clone, Debug)]
pub struct Node {
    id: NodeId,
    config: Arc<NodeConfig>,
    ring: Arc<Ring>,
    store: Store,
    rng: SimRng,
    service: ServiceQueue,
    next_id: u64,
    reads: BTreeMap<u64, ReadCoordination>,
    writes: BTreeMap<u64, WriteCoordination>,
    storage_ops: BTreeMap<u64, StorageOp>,
    stats: NodeStats,
    preference: Vec<NodeId>,
}

impl Node {
    /// A fresh node with an empty store, seeing `ring`; `rng` is its own stream.
    pub fn new(id: NodeId, config: Arc<NodeConfig>, ring: Arc<Ring>, rng: SimRng) -> Self {
        let service = ServiceQueue::new(config.servers);
        Node {
            id,
            config,
            ring,
            store: Store::new(),
            rng,
            service,
            next_id: 0,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            storage_ops: BTreeMap::new(),
            stats: NodeStats::default(),
            preference: Vec::new(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The local store (read by the checker at the end of a run, and by tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This node's counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// Handles a message delivered at `now` from `from`.
    pub fn on_message(
        &mut self,
        now: Time,
        from: Endpoint,
        message: Message,
        out: &mut Outbox<NodeTimer>,
    ) {
        match message {
            Message::Get {
                request,
                key,
                forwarded,
            } => {
                if let Some(first) = self.forward_target(key, forwarded) {
                    self.stats.requests_forwarded += 1;
                    out.send(
                        Endpoint::Node(first),
                        Message::Get {
                            request,
                            key,
                            forwarded: true,
                        },
                    );
                } else {
                    self.coordinate_read(now, request, key, out);
                }
            }
            Message::Put {
                request,
                key,
                context,
                value,
                forwarded,
            } => {
                if let Some(first) = self.forward_target(key, forwarded) {
                    self.stats.requests_forwarded += 1;
                    out.send(
                        Endpoint::Node(first),
                        Message::Put {
                            request,
                            key,
                            context,
                            value,
                            forwarded: true,
                        },
                    );
                } else {
                    self.coordinate_write(now, request, key, &context, value, out);
                }
            }
            Message::ReplicaRead { coordination, key } => {
                self.enqueue_storage(
                    now,
                    StorageOp::Read {
                        key,
                        reply_to: coordination,
                    },
                    out,
                );
            }
            Message::ReplicaWrite {
                coordination,
                key,
                version,
            } => {
                self.enqueue_storage(
                    now,
                    StorageOp::Write {
                        key,
                        version,
                        reply_to: coordination,
                    },
                    out,
                );
            }
            Message::ReplicaReadReply {
                coordination,
                versions,
            } => {
                if let Endpoint::Node(replica) = from {
                    self.on_read_reply(coordination.id, replica, versions, out);
                }
            }
            Message::ReplicaWriteAck { coordination } => self.on_write_ack(coordination.id, out),
            Message::MembershipRequest => out.send(
                from,
                Message::MembershipReply {
                    ring: Arc::clone(&self.ring),
                },
            ),
            // Replies meant for clients never reach a node.
            Message::GetReply { .. }
            | Message::PutReply { .. }
            | Message::MembershipReply { .. } => {}
        }
    }

    /// Handles a timer this node set, firing at `now`.
    pub fn on_timer(&mut self, now: Time, timer: NodeTimer, out: &mut Outbox<NodeTimer>) {
        match timer {
            NodeTimer::StorageDone { op } => {
                if let Some(op) = self.storage_ops.remove(&op) {
                    self.complete_storage(now, op, out);
                }
            }
            NodeTimer::CoordinationTimeout { id } => self.on_coordination_timeout(id, out),
        }
    }

    /// Where to forward a client request for `key`, if this node is not in
    /// its top N (Dynamo §4.5). A request is forwarded at most once.
    fn forward_target(&mut self, key: Key, forwarded: bool) -> Option<NodeId> {
        self.ring
            .preference_list_into(key.position, self.config.n, &mut self.preference);
        if forwarded || self.preference.contains(&self.id) {
            None
        } else {
            self.preference.first().copied()
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn coordinate_read(
        &mut self,
        now: Time,
        request: RequestId,
        key: Key,
        out: &mut Outbox<NodeTimer>,
    ) {
        self.stats.reads_coordinated += 1;
        self.ring
            .preference_list_into(key.position, self.config.n, &mut self.preference);
        let id = self.next_id();
        let coordination = Coordination {
            coordinator: Endpoint::Node(self.id),
            id,
        };
        let needed = self.config.r.min(self.preference.len());
        self.reads.insert(
            id,
            ReadCoordination {
                request,
                quorum: ReadQuorum::new(needed, self.preference.len()),
            },
        );
        for index in 0..self.preference.len() {
            let replica = self.preference[index];
            if replica == self.id {
                self.enqueue_storage(
                    now,
                    StorageOp::Read {
                        key,
                        reply_to: coordination,
                    },
                    out,
                );
            } else {
                out.send(
                    Endpoint::Node(replica),
                    Message::ReplicaRead { coordination, key },
                );
            }
        }
        out.set_timer(
            now.plus(self.config.request_timeout_us),
            NodeTimer::CoordinationTimeout { id },
        );
    }

    /// The new version's clock: the context with this node's counter set to
    /// one more than the largest counter for this node in any version it
    /// stores for the key or in the context, so two blind writes through one
    /// node never share a clock.
    fn next_clock(&mut self, now: Time, key: Key, context: &VectorClock) -> VectorClock {
        let stored = self
            .store
            .get(key.id)
            .iter()
            .map(|v| v.clock.counter(self.id))
            .max()
            .unwrap_or(0);
        let counter = 1 + stored.max(context.counter(self.id));
        let mut clock = context.clone();
        clock.set(self.id, counter, now);
        self.stats.clock_truncations += clock.truncate(self.config.clock_max_entries) as u64;
        clock
    }

    fn coordinate_write(
        &mut self,
        now: Time,
        request: RequestId,
        key: Key,
        context: &VectorClock,
        value: Value,
        out: &mut Outbox<NodeTimer>,
    ) {
        self.stats.writes_coordinated += 1;
        let clock = self.next_clock(now, key, context);
        let version = Version {
            clock: clock.clone(),
            value,
        };
        self.ring
            .preference_list_into(key.position, self.config.n, &mut self.preference);
        let id = self.next_id();
        let coordination = Coordination {
            coordinator: Endpoint::Node(self.id),
            id,
        };
        // The coordinator always stores the version itself (Dynamo: "writes locally").
        let mut asked = 1;
        self.apply(key, version.clone());
        self.enqueue_storage(
            now,
            StorageOp::OwnWriteDurable {
                reply_to: coordination,
            },
            out,
        );
        for index in 0..self.preference.len() {
            let replica = self.preference[index];
            if replica != self.id && asked < self.config.n {
                asked += 1;
                out.send(
                    Endpoint::Node(replica),
                    Message::ReplicaWrite {
                        coordination,
                        key,
                        version: version.clone(),
                    },
                );
            }
        }
        self.writes.insert(
            id,
            WriteCoordination {
                request,
                clock,
                acks: 0,
                asked,
                answered: false,
            },
        );
        out.set_timer(
            now.plus(self.config.request_timeout_us),
            NodeTimer::CoordinationTimeout { id },
        );
    }

    fn apply(&mut self, key: Key, version: Version) {
        self.stats.replica_writes += 1;
        if self.store.put(key.id, version) == store::PutEffect::Obsolete {
            self.stats.obsolete_writes += 1;
        }
    }

    fn enqueue_storage(&mut self, now: Time, op: StorageOp, out: &mut Outbox<NodeTimer>) {
        let service_us = match op {
            StorageOp::Read { .. } => self.config.read_service.sample_us(&mut self.rng),
            StorageOp::Write { .. } | StorageOp::OwnWriteDurable { .. } => {
                self.config.write_service.sample_us(&mut self.rng)
            }
        };
        let done = self.service.admit(now, service_us);
        let id = self.next_id();
        self.storage_ops.insert(id, op);
        out.set_timer(done, NodeTimer::StorageDone { op: id });
    }

    fn complete_storage(&mut self, _now: Time, op: StorageOp, out: &mut Outbox<NodeTimer>) {
        match op {
            StorageOp::Read { key, reply_to } => {
                self.stats.replica_reads += 1;
                let versions = self.store.get(key.id).to_vec();
                if reply_to.coordinator == Endpoint::Node(self.id) {
                    self.on_read_reply(reply_to.id, self.id, versions, out);
                } else {
                    out.send(
                        reply_to.coordinator,
                        Message::ReplicaReadReply {
                            coordination: reply_to,
                            versions,
                        },
                    );
                }
            }
            StorageOp::Write {
                key,
                version,
                reply_to,
            } => {
                self.apply(key, version);
                out.send(
                    reply_to.coordinator,
                    Message::ReplicaWriteAck {
                        coordination: reply_to,
                    },
                );
            }
            StorageOp::OwnWriteDurable { reply_to } => self.on_write_ack(reply_to.id, out),
        }
    }

    fn on_read_reply(
        &mut self,
        id: u64,
        replica: NodeId,
        versions: Vec<Version>,
        out: &mut Outbox<NodeTimer>,
    ) {
        let Some(read) = self.reads.get_mut(&id) else {
            return;
        };
        if let Some(result) = read.quorum.record(replica, versions) {
            let request = read.request;
            out.send(
                Endpoint::Client(request.client),
                Message::GetReply {
                    request,
                    outcome: Ok(result),
                },
            );
        }
        if read.quorum.all_replied() {
            self.reads.remove(&id);
        }
    }

    fn on_write_ack(&mut self, id: u64, out: &mut Outbox<NodeTimer>) {
        let Some(write) = self.writes.get_mut(&id) else {
            return;
        };
        write.acks += 1;
        if !write.answered && write.acks >= self.config.w.min(write.asked) {
            write.answered = true;
            let request = write.request;
            out.send(
                Endpoint::Client(request.client),
                Message::PutReply {
                    request,
                    outcome: Ok(write.clock.clone()),
                },
            );
        }
        if write.acks >= write.asked {
            self.writes.remove(&id);
        }
    }

    fn on_coordination_timeout(&mut self, id: u64, out: &mut Outbox<NodeTimer>) {
        let failed = if let Some(read) = self.reads.remove(&id) {
            (!read.quorum.answered()).then_some((read.request, true))
        } else if let Some(write) = self.writes.remove(&id) {
            (!write.answered).then_some((write.request, false))
        } else {
            None
        };
        if let Some((request, is_read)) = failed {
            self.stats.coordinations_timed_out += 1;
            let reply = if is_read {
                Message::GetReply {
                    request,
                    outcome: Err(Failure::Timeout),
                }
            } else {
                Message::PutReply {
                    request,
                    outcome: Err(Failure::Timeout),
                }
            };
            out.send(Endpoint::Client(request.client), reply);
        }
    }
}

#[cfg(test)]
mod tests;
