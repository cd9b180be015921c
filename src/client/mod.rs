//! A client process: generates the workload, routes requests, reconciles
//! siblings by the scenario's policy and records every operation in its
//! history.
//!
//! Like a node, a client is sans-IO: it reacts to replies and timers and
//! learns about the cluster only from replies, timeouts and membership polls.

pub mod cart;
pub mod probe;
pub mod workload;

use crate::check::history::{CartOp, OpKind, OpRecord, Outcome};
use crate::dist::Dist;
use crate::engine::id_map::IdMap;
use crate::engine::id_window::IdWindow;
use crate::engine::rng::{unit_f64, SimRng};
use crate::node::quorum::ReadQuorum;
use crate::node::vclock::VectorClock;
use crate::node::Outbox;
use crate::protocol::{
    CartItems, Coordination, Failure, Key, KeyPositions, Message, ReadResult, RequestId, Stamp, Value, Version,
    VersionData, VersionId, WriteId,
};
use crate::ring::Ring;
use crate::scenario::{LoadMode, Policy, RoutingMode};
use crate::types::{ClientId, Endpoint, NodeId, Time};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use workload::KeyChooser;

/// Settings every client shares (fixed for a run).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Open or closed loop.
    pub mode: LoadMode,
    /// Open loop: mean gap between one client's requests, µs.
    pub mean_interarrival_us: f64,
    /// Closed loop: think time between a reply and the next request.
    pub think: Dist,
    /// Fraction of requests that are reads.
    pub read_fraction: f64,
    /// Fraction of writes sent blind (empty context).
    pub blind_write_fraction: f64,
    /// Non-blind writes read the key first and use that read's context.
    pub read_modify_write: bool,
    /// Size of written values.
    pub value_bytes: u32,
    /// Client-side request timeout, µs.
    pub timeout_us: u64,
    /// How siblings are resolved.
    pub policy: Policy,
    /// How versions are ordered (for reads the client coordinates).
    pub versioning: crate::node::versioning::Versioning,
    /// Shopping carts: number of distinct items.
    pub cart_items: u32,
    /// Shopping carts: fraction of cart writes that remove an item.
    pub remove_fraction: f64,
    /// How requests are routed.
    pub routing: RoutingMode,
    /// Send writes to the fastest replica of the preceding read (§5).
    pub write_to_fastest_replica: bool,
    /// Membership poll interval, µs.
    pub membership_poll_us: u64,
    /// How long to avoid a node after a timeout, µs.
    pub avoid_after_timeout_us: u64,
    /// Replicas per key (N), for client-coordinated requests.
    pub n: usize,
    /// Reads needed (R).
    pub r: usize,
    /// Writes needed (W), for client-coordinated last-write-wins writes.
    pub w: usize,
    /// No new request is issued at or after this time.
    pub workload_end: Time,
    /// Which keys to ask for.
    pub keys: Arc<KeyChooser>,
    /// Probe mode: the delays after a probe write's commit at which it is read, µs.
    pub probe_delays_us: Vec<u64>,
}

/// Timers a client sets for itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientTimer {
    /// Time to issue the next request.
    NextRequest,
    /// A request's deadline.
    RequestTimeout {
        /// The request.
        sequence: u64,
    },
    /// Time to ask a node for its ring view.
    MembershipPoll,
    /// Time to read a probe's key (probe mode).
    ProbeRead {
        /// The probe's key.
        key: u64,
    },
}

impl ClientTimer {
    /// Stable code for the digest.
    pub fn code(&self) -> u8 {
        match self {
            ClientTimer::NextRequest => 1,
            ClientTimer::RequestTimeout { .. } => 2,
            ClientTimer::MembershipPoll => 3,
            ClientTimer::ProbeRead { .. } => 4,
        }
    }
}

/// What a client remembers from a read of a key.
#[derive(Clone, Debug, Default)]
struct ReadContext {
    clock: VectorClock,
    fastest: Option<NodeId>,
    versions: Vec<VersionId>,
    /// Merged cart items (merge policy).
    items: Option<CartItems>,
}

/// Why an operation was issued, which decides what follows its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A workload request: its completion paces a closed loop.
    Request,
    /// The read of a read-modify-write: on success the write follows.
    ReadForWrite,
    /// A write-back of siblings the client merged: nothing follows.
    Reconcile,
    /// A probe's write: once it commits, the probe's reads are scheduled.
    ProbeWrite,
}

/// A write this client coordinates itself (last-write-wins under client-driven routing).
#[derive(Clone, Debug)]
struct ClientWrite {
    /// The version it sends, which its acknowledgement names.
    version: Version,
    asked: Vec<NodeId>,
    acked: Vec<NodeId>,
}

/// An outstanding request.
#[derive(Clone, Debug)]
struct Pending {
    /// Its record's index in the run's history ([`ClientOutbox::history`]).
    record: usize,
    /// The key, with its ring position (hashed once, at issue).
    key: Key,
    role: Role,
    /// Reads this client coordinates itself (client-driven routing), boxed
    /// so that the common request stays small in its window and moves
    /// little when it completes.
    quorum: Option<Box<ReadQuorum>>,
    /// Writes this client coordinates itself (boxed likewise).
    write: Option<Box<ClientWrite>>,
}

/// One client.
#[derive(Clone, Debug)]
pub struct Client {
    id: ClientId,
    config: Arc<ClientConfig>,
    rng: SimRng,
    ring: Arc<Ring>,
    /// The context of this client's last read of each key, which its plain
    /// writes carry (not kept under read-modify-write: nothing reads it).
    contexts: IdMap<u64, ReadContext>,
    pending: IdWindow<Pending>,
    avoid_until: BTreeMap<NodeId, Time>,
    next_sequence: u64,
    next_write: u64,
    preference: Vec<NodeId>,
    /// Last timestamp this client gave a write it coordinated.
    last_stamp_us: u64,
    /// Probes started so far (probe mode).
    probes_started: u64,
}

/// What clients' handlers produce: messages and timers for the simulator
/// to deliver, and the records of the operations they invoke, appended to
/// the run's one history. Every client shares it, so the run never merges
/// per-client histories at the end: a merge held a second copy of the
/// run's largest structure while the clients' vectors, freed into the
/// allocator's heap, stayed resident (+0.9 GB at 10 M requests).
#[derive(Debug, Default)]
pub struct ClientOutbox {
    /// Messages and timers, drained by the simulator after each handler.
    pub outbox: Outbox<ClientTimer>,
    /// Every client's operations, in the order they were invoked (the
    /// simulator sorts them by (invoke, client, sequence) at the end).
    pub history: Vec<OpRecord>,
    /// A cache of the keys' ring positions, shared by every client.
    pub positions: KeyPositions,
}

impl ClientOutbox {
    /// Queues a message.
    fn send(&mut self, to: Endpoint, message: Message) {
        self.outbox.send(to, message);
    }

    /// Queues a timer.
    fn set_timer(&mut self, at: Time, timer: ClientTimer) {
        self.outbox.set_timer(at, timer);
    }
}

impl Client {
    /// A client knowing `ring` at start (as a client library is configured), with its own stream.
    pub fn new(id: ClientId, config: Arc<ClientConfig>, ring: Arc<Ring>, rng: SimRng) -> Self {
        Client {
            id,
            config,
            rng,
            ring,
            contexts: IdMap::default(),
            pending: IdWindow::default(),
            avoid_until: BTreeMap::new(),
            next_sequence: 0,
            next_write: 0,
            preference: Vec::new(),
            last_stamp_us: 0,
            probes_started: 0,
        }
    }

    /// This client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Starts the workload at time zero.
    pub fn on_start(&mut self, now: Time, out: &mut ClientOutbox) {
        let first = match self.config.mode {
            LoadMode::Open | LoadMode::Probe => self.interarrival_us(),
            LoadMode::Closed => self.config.think.sample_us(&mut self.rng),
        };
        out.set_timer(now.plus(first), ClientTimer::NextRequest);
        // Every client learns membership by polling a random node (Dynamo
        // §6.4): a load balancer needs the member list as much as a
        // partition-aware client does.
        let jitter = (unit_f64(&mut self.rng) * self.config.membership_poll_us as f64) as u64;
        out.set_timer(now.plus(jitter + 1), ClientTimer::MembershipPoll);
    }

    /// Handles a timer firing at `now`.
    pub fn on_timer(&mut self, now: Time, timer: ClientTimer, out: &mut ClientOutbox) {
        match timer {
            ClientTimer::NextRequest => {
                if now >= self.config.workload_end {
                    return;
                }
                self.issue_request(now, out);
                if self.config.mode != LoadMode::Closed {
                    let gap = self.interarrival_us();
                    out.set_timer(now.plus(gap), ClientTimer::NextRequest);
                }
            }
            ClientTimer::RequestTimeout { sequence } => {
                if let Some(pending) = self.pending.remove(sequence) {
                    let record = &mut out.history[pending.record];
                    record.outcome = Outcome::TimedOut;
                    record.set_complete(now);
                    // Route around the node that did not answer (Dynamo §4.5, §6.4).
                    if let Some(target) = record.target() {
                        self.avoid_until.insert(target, now.plus(self.config.avoid_after_timeout_us));
                    }
                    self.after_completion(now, pending.role, out);
                }
            }
            // A probe's reads follow its commit even after the workload ends.
            ClientTimer::ProbeRead { key } => self.issue_read(now, out.positions.key(key), Role::Request, out),
            ClientTimer::MembershipPoll => {
                if now < self.config.workload_end {
                    let members = self.ring.nodes();
                    let node = members[self.rng.gen_range(0..members.len())];
                    out.send(Endpoint::Node(node), Message::MembershipRequest);
                    out.set_timer(now.plus(self.config.membership_poll_us), ClientTimer::MembershipPoll);
                }
            }
        }
    }

    /// Handles a message delivered at `now` from `from`.
    pub fn on_message(&mut self, now: Time, from: Endpoint, message: Message, out: &mut ClientOutbox) {
        match message {
            Message::GetReply { request, outcome } => self.finish_read(now, request.sequence, outcome, out),
            Message::PutReply { request, outcome } => self.finish_write(now, request.sequence, outcome, out),
            Message::ReplicaReadReply { coordination, versions } => {
                let Endpoint::Node(replica) = from else { return };
                let Some(pending) = self.pending.get_mut(coordination.id) else {
                    return;
                };
                let result = pending.quorum.as_mut().and_then(|q| q.record(replica, versions));
                if let Some(result) = result {
                    self.finish_read(now, coordination.id, Ok(result), out);
                }
            }
            Message::ReplicaWriteAck { coordination } => {
                let Endpoint::Node(replica) = from else { return };
                let Some(write) = self.pending.get_mut(coordination.id).and_then(|p| p.write.as_mut()) else {
                    return;
                };
                if write.asked.contains(&replica) && !write.acked.contains(&replica) {
                    write.acked.push(replica);
                }
                if write.acked.len() >= self.config.w {
                    let version = write.version.clone();
                    self.finish_write(now, coordination.id, Ok(version), out);
                }
            }
            Message::MembershipReply { ring } => self.ring = ring,
            // Requests and node-to-node traffic are for nodes; a client ignores them.
            Message::Get { .. }
            | Message::Put { .. }
            | Message::ReplicaRead { .. }
            | Message::ReplicaWrite { .. }
            | Message::ReadRepair { .. }
            | Message::Handoff { .. }
            | Message::HandoffAck { .. }
            | Message::ForwardAck { .. }
            | Message::Gossip { .. }
            | Message::GossipReply { .. }
            | Message::JoinRequest
            | Message::FetchRange { .. }
            | Message::RangeData { .. }
            | Message::TransferAck { .. }
            | Message::TreeCompare { .. }
            | Message::LeafDigests { .. }
            | Message::KeyVersions { .. }
            | Message::Ping
            | Message::Pong
            | Message::MembershipRequest => {}
        }
    }

    /// Marks this client's outstanding requests in `history` (the
    /// [`ClientOutbox`]'s) as in flight at the end of the run.
    pub fn finish(&self, history: &mut [OpRecord]) {
        // Each marks its own record: the map's order does not matter.
        for pending in self.pending.values() {
            history[pending.record].outcome = Outcome::InFlight;
        }
    }

    fn interarrival_us(&mut self) -> u64 {
        (crate::dist::standard_exponential(&mut self.rng) * self.config.mean_interarrival_us) as u64 + 1
    }

    fn issue_request(&mut self, now: Time, out: &mut ClientOutbox) {
        if self.config.mode == LoadMode::Probe {
            return self.issue_probe(now, out);
        }
        let key = out.positions.key(self.config.keys.choose(&mut self.rng));
        if unit_f64(&mut self.rng) < self.config.read_fraction {
            self.issue_read(now, key, Role::Request, out);
        } else if unit_f64(&mut self.rng) < self.config.blind_write_fraction {
            self.issue_write(now, key, None, Role::Request, out);
        } else if self.config.read_modify_write {
            self.issue_read(now, key, Role::ReadForWrite, out);
        } else {
            let context = self.contexts.get(&key.id).cloned();
            self.issue_write(now, key, context, Role::Request, out);
        }
    }

    fn new_record(&mut self, now: Time, kind: OpKind, key: Key) -> (u64, OpRecord) {
        self.next_sequence += 1;
        let record = OpRecord::invoked(self.id, self.next_sequence, kind, key.id, now);
        (self.next_sequence, record)
    }

    fn track(&mut self, now: Time, sequence: u64, record: OpRecord, pending: Pending, out: &mut ClientOutbox) {
        self.pending.insert(sequence, Pending { record: out.history.len(), ..pending });
        out.history.push(record);
        out.set_timer(now.plus(self.config.timeout_us), ClientTimer::RequestTimeout { sequence });
    }

    fn issue_read(&mut self, now: Time, key: Key, role: Role, out: &mut ClientOutbox) {
        let (sequence, mut record) = self.new_record(now, OpKind::Read, key);
        let request = RequestId { client: self.id, sequence };
        let quorum = if self.config.routing == RoutingMode::ClientDriven {
            // Dynamo §6.4: the client coordinates the read itself.
            // Every replica of the top N is asked: R replies are needed
            // whatever this client believes about reachability.
            let asked = self.ring.preference_list(key.position, self.config.n);
            let coordination = Coordination { coordinator: Endpoint::Client(self.id), id: sequence };
            for &replica in &asked {
                out.send(Endpoint::Node(replica), Message::ReplicaRead { coordination, key });
            }
            let needed = self.config.r.min(asked.len());
            Some(Box::new(ReadQuorum::new(needed, asked, self.config.versioning)))
        } else {
            let target = self.route(now, key, None);
            record.set_target(target);
            out.send(Endpoint::Node(target), Message::Get { request, key, forwarded: false });
            None
        };
        self.track(now, sequence, record, Pending { record: 0, key, role, quorum, write: None }, out);
    }

    /// The value and cart operation a write carries under the scenario's policy.
    fn next_value(&mut self, write: WriteId, context: Option<&ReadContext>, role: Role) -> (Value, Option<CartOp>) {
        let mut value = Value { write, bytes: self.config.value_bytes, items: None };
        if self.config.policy != Policy::Merge {
            return (value, None);
        }
        let items: CartItems = context.and_then(|c| c.items.clone()).unwrap_or_default();
        if role == Role::Reconcile {
            value.items = Some(items);
            return (value, None);
        }
        let op = if !items.is_empty() && unit_f64(&mut self.rng) < self.config.remove_fraction {
            CartOp::Remove(items[self.rng.gen_range(0..items.len())])
        } else {
            CartOp::Add(self.rng.gen_range(0..self.config.cart_items.max(1)))
        };
        value.items = Some(cart::apply(&items, op));
        (value, Some(op))
    }

    fn issue_write(&mut self, now: Time, key: Key, context: Option<ReadContext>, role: Role, out: &mut ClientOutbox) {
        let (sequence, mut record) = self.new_record(now, OpKind::Write, key);
        self.next_write += 1;
        let write = WriteId::new(self.id, self.next_write);
        let (value, cart_op) = self.next_value(write, context.as_ref(), role);
        record.set_write(write, context.is_none(), role == Role::Reconcile);
        record.set_cart(cart_op);
        let (clock, versions) = context.as_ref().map(|c| (c.clock.clone(), c.versions.clone())).unwrap_or_default();
        record.set_context(versions);
        let mut pending = Pending { record: 0, key, role, quorum: None, write: None };
        if self.config.routing == RoutingMode::ClientDriven && self.config.policy == Policy::Lww {
            // Dynamo §6.4: with timestamp versioning the client coordinates writes itself.
            // Timestamps never repeat for one client, so last-write-wins has no ties.
            let time_us = now.0.max(self.last_stamp_us + 1);
            self.last_stamp_us = time_us;
            let stamp = Stamp { time_us, writer: Endpoint::Client(self.id).code() };
            // The client is the version's actor; its stamps never repeat.
            let actor = crate::node::vclock::Actor { node: NodeId(stamp.writer), epoch: 0 };
            let dot = crate::node::vclock::Dot { actor, counter: time_us };
            let version = Version::from(VersionData::new(VectorClock::new(), dot, stamp, value));
            let asked = self.ring.preference_list(key.position, self.config.n);
            let coordination = Coordination { coordinator: Endpoint::Client(self.id), id: sequence };
            for &replica in &asked {
                let message =
                    Message::ReplicaWrite { coordination, key, version: version.clone(), hint: None, durable: true };
                out.send(Endpoint::Node(replica), message);
            }
            pending.write = Some(Box::new(ClientWrite { version, asked, acked: Vec::new() }));
        } else {
            let fastest = context.as_ref().and_then(|c| c.fastest).filter(|_| self.config.write_to_fastest_replica);
            let target = self.route(now, key, fastest);
            record.set_target(target);
            let request = RequestId { client: self.id, sequence };
            out.send(Endpoint::Node(target), Message::Put { request, key, context: clock, value, forwarded: false });
        }
        self.track(now, sequence, record, pending, out);
    }

    fn avoided(&self, now: Time, node: NodeId) -> bool {
        self.avoid_until.get(&node).is_some_and(|&until| until > now)
    }

    /// The key's top N as this client's ring view has them, minus nodes it avoids.
    fn reachable_replicas(&mut self, now: Time, key: Key) -> Vec<NodeId> {
        self.ring.preference_list_into(key.position, self.config.n, &mut self.preference);
        let preference = std::mem::take(&mut self.preference);
        let reachable: Vec<NodeId> = preference.iter().copied().filter(|&n| !self.avoided(now, n)).collect();
        self.preference = preference;
        if reachable.is_empty() {
            self.preference.clone()
        } else {
            reachable
        }
    }

    /// The node to send a request for `key` to.
    fn route(&mut self, now: Time, key: Key, preferred: Option<NodeId>) -> NodeId {
        if let Some(node) = preferred.filter(|&n| !self.avoided(now, n)) {
            return node;
        }
        match self.config.routing {
            RoutingMode::LoadBalancer => {
                // A first uniform pick that is not avoided is uniform over
                // the nodes not avoided; only otherwise list them.
                let members = self.ring.nodes();
                let pick = members[self.rng.gen_range(0..members.len())];
                if !self.avoided(now, pick) {
                    return pick;
                }
                let candidates: Vec<NodeId> = members.iter().copied().filter(|&n| !self.avoided(now, n)).collect();
                if candidates.is_empty() {
                    pick
                } else {
                    candidates[self.rng.gen_range(0..candidates.len())]
                }
            }
            RoutingMode::PartitionAware | RoutingMode::ClientDriven => self.reachable_replicas(now, key)[0],
        }
    }

    /// Removes request `sequence`, answered before its timeout, which is
    /// cancelled (`track` set it for the invoke time plus the timeout).
    fn take_answered(&mut self, sequence: u64, out: &mut ClientOutbox) -> Option<Pending> {
        let pending = self.pending.remove(sequence)?;
        let deadline = out.history[pending.record].invoke.plus(self.config.timeout_us);
        out.outbox.cancel_timer(deadline, ClientTimer::RequestTimeout { sequence });
        Some(pending)
    }

    fn finish_read(&mut self, now: Time, sequence: u64, outcome: Result<ReadResult, Failure>, out: &mut ClientOutbox) {
        let Some(pending) = self.take_answered(sequence, out) else {
            return;
        };
        let key = pending.key;
        let record = &mut out.history[pending.record];
        record.set_complete(now);
        match outcome {
            Ok(result) => {
                record.outcome = Outcome::Ok;
                let items = (self.config.policy == Policy::Merge).then(|| cart::merge_items(&result.versions));
                let context = ReadContext {
                    clock: result.context,
                    fastest: result.fastest,
                    versions: result.versions.iter().map(Version::id).collect(),
                    items,
                };
                let siblings = result.versions.len();
                record.set_returned(result.versions);
                if !self.config.read_modify_write {
                    // Only a later plain write of the key reads it back; a
                    // read-modify-write carries its own read's context.
                    self.contexts.insert(key.id, context.clone());
                }
                if pending.role == Role::ReadForWrite {
                    // The write merges what it read: it is the reconciliation too.
                    self.issue_write(now, key, Some(context), Role::Request, out);
                    return;
                }
                if siblings > 1 && self.config.policy == Policy::Merge && now < self.config.workload_end {
                    self.issue_write(now, key, Some(context), Role::Reconcile, out);
                }
            }
            Err(failure) => record.outcome = Outcome::Failed(failure),
        }
        self.after_completion(now, pending.role, out);
    }

    fn finish_write(&mut self, now: Time, sequence: u64, outcome: Result<Version, Failure>, out: &mut ClientOutbox) {
        let Some(pending) = self.take_answered(sequence, out) else {
            return;
        };
        let record = &mut out.history[pending.record];
        record.set_complete(now);
        match outcome {
            Ok(version) => {
                record.outcome = Outcome::Ok;
                debug_assert_eq!(record.write(), Some(version.write), "an acknowledgement names the write's own value");
                record.set_acked(version);
                if pending.role == Role::ProbeWrite {
                    self.schedule_probe_reads(now, pending.key.id, out);
                }
            }
            Err(failure) => record.outcome = Outcome::Failed(failure),
        }
        self.after_completion(now, pending.role, out);
    }

    /// Paces a closed loop: a finished request (or a read-for-write that
    /// failed, so no write follows) is followed by a think time.
    fn after_completion(&mut self, now: Time, role: Role, out: &mut ClientOutbox) {
        if role != Role::Reconcile && self.config.mode == LoadMode::Closed {
            let think = self.config.think.sample_us(&mut self.rng);
            out.set_timer(now.plus(think), ClientTimer::NextRequest);
        }
    }
}
