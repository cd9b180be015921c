//! Coordinating client requests: forwarding, choosing replicas (strict or
//! sloppy quorum), collecting the quorum, failing over to fallback nodes,
//! and read repair.

use super::quorum::{reconcile_replies, ReadQuorum};
use super::store::Holdings;
use super::vclock::VectorClock;
use super::{AbsorbSource, Node, NodeTimer, Outbox, ReadCoordination, StorageOp, WriteCoordination, WriteTarget};
use crate::protocol::{Coordination, Failure, Key, Message, RequestId, Value, Version, Versions};
use crate::types::{Endpoint, NodeId, Time};
use smallvec::SmallVec;

/// A coordination's pending timeouts: its quorum deadline and the next
/// check for silent replicas (when that comes before the deadline). Kept so
/// that a coordination finishing early cancels them rather than leaving
/// them to fire for nothing (a quarter of a fault-free run's events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Timeouts {
    pub deadline: Time,
    pub replica_check: Option<Time>,
}

impl Timeouts {
    /// Sets the timers of coordination `id`.
    fn set(self, id: u64, out: &mut Outbox<NodeTimer>) {
        out.set_timer(self.deadline, NodeTimer::CoordinationTimeout { id });
        if let Some(check) = self.replica_check {
            out.set_timer(check, NodeTimer::ReplicaTimeout { id });
        }
    }

    /// Cancels the timers of coordination `id`, which finished before them.
    fn cancel(self, id: u64, out: &mut Outbox<NodeTimer>) {
        out.cancel_timer(self.deadline, NodeTimer::CoordinationTimeout { id });
        if let Some(check) = self.replica_check {
            out.cancel_timer(check, NodeTimer::ReplicaTimeout { id });
        }
    }
}

/// The replicas chosen for a request: N at most, inline up to four (a
/// coordination allocates no list for them).
pub(super) type Replicas = SmallVec<[Replica; 4]>;

/// A replica chosen for a request: the node, and the top-N node it stands in for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Replica {
    pub node: NodeId,
    pub hint: Option<NodeId>,
}

impl Node {
    /// The replicas for `key`: the top N this node believes reachable and,
    /// with sloppy quorum, healthy fallbacks further along the ring standing
    /// in for the unreachable ones (Dynamo §4.6).
    pub(super) fn choose_replicas(&self, key: Key) -> Replicas {
        let n = self.config.n;
        // The common case, every one of the top N believed healthy, needs
        // only the kept list: it is the extended list's first N.
        if let Some(top) = self.ring.kept_preference_list(key.position, n) {
            if top.iter().all(|&node| self.healthy(node)) {
                return top.iter().map(|&node| Replica { node, hint: None }).collect();
            }
        }
        let mut chosen = Replicas::new();
        let mut skipped: SmallVec<[NodeId; 4]> = SmallVec::new();
        for (rank, node) in self.ring.extended_preference_list(key.position).enumerate() {
            if chosen.len() == n {
                break;
            }
            let healthy = self.healthy(node);
            if rank < n {
                if healthy {
                    chosen.push(Replica { node, hint: None });
                } else {
                    skipped.push(node);
                }
            } else if !self.config.sloppy_quorum {
                break;
            } else if healthy {
                chosen.push(Replica { node, hint: skipped.get(chosen.len() + skipped.len() - n).copied() });
            }
        }
        chosen
    }

    /// The next healthy node, beyond those already used, to stand in for
    /// `intended` (sloppy quorum after a replica timed out).
    fn next_fallback(&self, key: Key, used: &[NodeId]) -> Option<NodeId> {
        self.ring
            .extended_preference_list(key.position)
            .skip(self.config.n)
            .find(|&n| self.healthy(n) && !used.contains(&n))
    }

    pub(super) fn coordinate_read(&mut self, now: Time, request: RequestId, key: Key, out: &mut Outbox<NodeTimer>) {
        self.stats.reads_coordinated += 1;
        let replicas = self.choose_replicas(key);
        if replicas.len() < self.config.r {
            self.stats.coordinations_without_replicas += 1;
            let reply = Message::GetReply { request, outcome: Err(Failure::NotEnoughReplicas) };
            out.send(Endpoint::Client(request.client), reply);
            return;
        }
        let id = self.next_id();
        let coordination = Coordination { coordinator: Endpoint::Node(self.id), id };
        for replica in &replicas {
            if replica.node == self.id {
                self.enqueue_storage(now, StorageOp::Read { key, reply_to: coordination }, out);
            } else {
                out.send(Endpoint::Node(replica.node), Message::ReplicaRead { coordination, key });
            }
        }
        let asked = replicas.iter().map(|r| r.node);
        let timeouts = self.first_timeouts(now);
        let quorum = ReadQuorum::new(self.config.r, asked, self.config.rules.versioning);
        self.reads.insert(id, ReadCoordination { request, key, quorum, timeouts, replaced: Vec::new() });
        timeouts.set(id, out);
    }

    pub(super) fn coordinate_write(
        &mut self,
        now: Time,
        request: RequestId,
        key: Key,
        context: &VectorClock,
        value: Value,
        out: &mut Outbox<NodeTimer>,
    ) {
        self.stats.writes_coordinated += 1;
        let replicas = self.choose_replicas(key);
        if replicas.len() < self.config.w {
            self.stats.coordinations_without_replicas += 1;
            let reply = Message::PutReply { request, outcome: Err(Failure::NotEnoughReplicas) };
            out.send(Endpoint::Client(request.client), reply);
            return;
        }
        let version = self.new_version(now, key, context, value);
        let id = self.next_id();
        let coordination = Coordination { coordinator: Endpoint::Node(self.id), id };
        // §6.1: with buffered writes one replica writes durably (a remote
        // top-N one when possible); its ack does not count toward W unless
        // too few buffered replicas remain to make W.
        let durable = self.config.buffered_writes.then(|| durable_replica(self.id, &replicas));
        let durable_counts = replicas.len() <= self.config.w;
        for replica in &replicas {
            let must_persist = durable.is_none_or(|d| d == replica.node);
            if replica.hint.is_some() {
                self.stats.fallbacks_used += 1;
            }
            if replica.node == self.id {
                // The coordinator writes locally at once (as a hint when it
                // stands in for an unreachable node); its ack counts when the
                // write is on disk.
                self.store_replica(key, version.clone(), replica.hint, !must_persist);
                if must_persist {
                    self.enqueue_storage(now, StorageOp::OwnWriteDurable { reply_to: coordination }, out);
                }
            } else {
                let message = Message::ReplicaWrite {
                    coordination,
                    key,
                    version: version.clone(),
                    hint: replica.hint,
                    durable: must_persist,
                };
                out.send(Endpoint::Node(replica.node), message);
            }
        }
        let targets = replicas
            .iter()
            .map(|r| WriteTarget {
                node: r.node,
                hint: r.hint,
                acked: false,
                abandoned: false,
                counts_toward_w: durable_counts || durable != Some(r.node),
            })
            .collect();
        let timeouts = self.first_timeouts(now);
        self.writes
            .insert(id, WriteCoordination { request, key, version, targets, acks: 0, answered: false, timeouts });
        // Set before the acknowledgement below, which may finish the write and cancel them.
        timeouts.set(id, out);
        if durable.is_some_and(|d| d != self.id) && replicas.iter().any(|r| r.node == self.id) {
            // The coordinator's buffered write is acknowledged at once.
            self.on_write_ack(id, self.id, out);
        }
    }

    /// The timeouts of a coordination starting at `now`.
    fn first_timeouts(&self, now: Time) -> Timeouts {
        let deadline = now.plus(self.config.request_timeout_us);
        Timeouts { deadline, replica_check: self.next_replica_check(now, deadline) }
    }

    /// When to check for silent replicas next, if before `deadline`.
    fn next_replica_check(&self, now: Time, deadline: Time) -> Option<Time> {
        Some(now.plus(self.config.replica_timeout_us)).filter(|&check| check < deadline)
    }

    pub(super) fn on_read_reply(
        &mut self,
        now: Time,
        id: u64,
        replica: NodeId,
        versions: Versions,
        out: &mut Outbox<NodeTimer>,
    ) {
        let Some(read) = self.reads.get_mut(id) else { return };
        if let Some(result) = read.quorum.record(replica, versions) {
            let request = read.request;
            out.send(Endpoint::Client(request.client), Message::GetReply { request, outcome: Ok(result) });
        }
        if read.quorum.all_replied() {
            if let Some(read) = self.reads.remove(id) {
                read.timeouts.cancel(id, out);
                self.read_repair(now, &read, out);
            }
        }
    }

    pub(super) fn on_write_ack(&mut self, id: u64, replica: NodeId, out: &mut Outbox<NodeTimer>) {
        let Some(write) = self.writes.get_mut(id) else { return };
        let Some(target) = write.targets.iter_mut().find(|t| t.node == replica && !t.acked) else {
            return;
        };
        target.acked = true;
        write.acks += usize::from(target.counts_toward_w);
        if !write.answered && write.acks >= self.config.w {
            write.answered = true;
            let request = write.request;
            let outcome = Ok(write.version.clone());
            out.send(Endpoint::Client(request.client), Message::PutReply { request, outcome });
        }
        if write.targets.iter().all(|t| t.acked || t.abandoned) {
            let timeouts = write.timeouts;
            self.writes.remove(id);
            timeouts.cancel(id, out);
        }
    }

    pub(super) fn on_coordination_timeout(&mut self, now: Time, id: u64, out: &mut Outbox<NodeTimer>) {
        if let Some(read) = self.reads.remove(id) {
            if !read.quorum.answered() {
                self.stats.coordinations_timed_out += 1;
                let request = read.request;
                out.send(
                    Endpoint::Client(request.client),
                    Message::GetReply { request, outcome: Err(Failure::Timeout) },
                );
            }
            self.read_repair(now, &read, out);
        } else if let Some(write) = self.writes.remove(id) {
            if !write.answered {
                self.stats.coordinations_timed_out += 1;
                let request = write.request;
                out.send(
                    Endpoint::Client(request.client),
                    Message::PutReply { request, outcome: Err(Failure::Timeout) },
                );
            }
        }
    }

    /// Replicas that have not answered by now are suspected; with sloppy
    /// quorum the request goes on to the next healthy fallbacks.
    pub(super) fn on_replica_timeout(&mut self, now: Time, id: u64, out: &mut Outbox<NodeTimer>) {
        let coordination = Coordination { coordinator: Endpoint::Node(self.id), id };
        if let Some(read) = self.reads.get(id) {
            let (key, deadline) = (read.key, read.timeouts.deadline);
            // Its own disk being slow is not a reason to suspect itself; a
            // replica already replaced by a fallback is not replaced again.
            let silent: Vec<NodeId> = read
                .quorum
                .asked()
                .iter()
                .copied()
                .filter(|&n| n != self.id && !read.quorum.has_replied(n) && !read.replaced.contains(&n))
                .collect();
            let mut used: Vec<NodeId> = read.quorum.asked().to_vec();
            for node in silent {
                self.suspect(now, node);
                if !self.config.sloppy_quorum || read_done(self.reads.get(id)) {
                    continue;
                }
                if let Some(fallback) = self.next_fallback(key, &used) {
                    used.push(fallback);
                    self.stats.fallbacks_used += 1;
                    if let Some(read) = self.reads.get_mut(id) {
                        read.quorum.ask(fallback);
                        read.replaced.push(node);
                    }
                    out.send(Endpoint::Node(fallback), Message::ReplicaRead { coordination, key });
                }
            }
            self.arm_replica_check_again(now, id, deadline, out);
        } else if let Some(write) = self.writes.get(id) {
            let (key, deadline, version) = (write.key, write.timeouts.deadline, write.version.clone());
            let silent: Vec<(NodeId, NodeId)> = write
                .targets
                .iter()
                .filter(|t| t.node != self.id && !t.acked && !t.abandoned)
                .map(|t| (t.node, t.hint.unwrap_or(t.node)))
                .collect();
            let mut used: Vec<NodeId> = write.targets.iter().map(|t| t.node).collect();
            for (node, intended) in silent {
                self.suspect(now, node);
                if !self.config.sloppy_quorum {
                    continue;
                }
                let Some(fallback) = self.next_fallback(key, &used) else {
                    continue;
                };
                used.push(fallback);
                self.stats.fallbacks_used += 1;
                let Some(write) = self.writes.get_mut(id) else { return };
                if let Some(target) = write.targets.iter_mut().find(|t| t.node == node) {
                    target.abandoned = true;
                }
                write.targets.push(WriteTarget {
                    node: fallback,
                    hint: Some(intended),
                    acked: false,
                    abandoned: false,
                    counts_toward_w: true,
                });
                let message = Message::ReplicaWrite {
                    coordination,
                    key,
                    version: version.clone(),
                    hint: Some(intended),
                    durable: true,
                };
                out.send(Endpoint::Node(fallback), message);
            }
            self.arm_replica_check_again(now, id, deadline, out);
        }
    }

    /// Arms the next check for silent replicas of coordination `id`, if
    /// before its deadline, and notes it in the coordination (to cancel).
    fn arm_replica_check_again(&mut self, now: Time, id: u64, deadline: Time, out: &mut Outbox<NodeTimer>) {
        let check = self.next_replica_check(now, deadline);
        if let Some(check) = check {
            out.set_timer(check, NodeTimer::ReplicaTimeout { id });
        }
        if let Some(read) = self.reads.get_mut(id) {
            read.timeouts.replica_check = check;
        } else if let Some(write) = self.writes.get_mut(id) {
            write.timeouts.replica_check = check;
        }
    }

    /// Sends each replica that replied the versions it lacks, with their
    /// original clocks; read repair never creates a version. Fallbacks that
    /// stood in for a replica are not repaired (their copies are hints).
    fn read_repair(&mut self, now: Time, read: &ReadCoordination, out: &mut Outbox<NodeTimer>) {
        let replies = read.quorum.replies();
        if !self.config.read_repair || replies.len() < 2 {
            return;
        }
        if replies.windows(2).all(|pair| pair[0].1 == pair[1].1) {
            // The common case, without reconciling: replicas that replied
            // the same versions hold what reconciling them gives (a version
            // covers itself), so each is up to date.
            return;
        }
        let versioning = self.config.rules.versioning;
        let latest = reconcile_replies(replies, versioning);
        let holdings: SmallVec<[Holdings; 3]> = replies.iter().map(|(_, versions)| Holdings::new(versions)).collect();
        if holdings.iter().all(|holding| latest.iter().all(|v| holding.holds(v, versioning))) {
            return; // the common case: every replica that replied is up to date
        }
        self.ring.preference_list_into(read.key.position, self.config.n, &mut self.preference);
        for ((node, _), holding) in replies.iter().zip(&holdings) {
            if !self.preference.contains(node) {
                continue;
            }
            let missing: Vec<Version> = latest.iter().filter(|v| !holding.holds(v, versioning)).cloned().collect();
            if missing.is_empty() {
                continue;
            }
            self.stats.read_repairs += 1;
            let message = Message::ReadRepair { key: read.key, versions: missing };
            if *node == self.id {
                let Message::ReadRepair { key, versions } = message else { unreachable!("built above") };
                self.enqueue_storage(now, StorageOp::Absorb { key, versions, source: AbsorbSource::ReadRepair }, out);
            } else {
                out.send(Endpoint::Node(*node), message);
            }
        }
    }
}

/// The replica asked for the durable write (§6.1): the last remote top-N
/// replica, else the last remote one, else the coordinator itself.
fn durable_replica(coordinator: NodeId, replicas: &[Replica]) -> NodeId {
    let remote = || replicas.iter().rev().filter(|r| r.node != coordinator);
    remote().find(|r| r.hint.is_none()).or_else(|| remote().next()).map_or(coordinator, |r| r.node)
}

fn read_done(read: Option<&ReadCoordination>) -> bool {
    read.is_none_or(|r| r.quorum.answered())
}
