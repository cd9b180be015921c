//! The Dynamo storage node: a sans-IO state machine.
//!
//! A node reacts to a delivered message or a fired timer and pushes messages
//! and timers into an [`Outbox`]. It never sees the engine, the network or
//! another node's state: it learns that a peer is down only when the peer
//! stops answering, so the same logic could sit behind a socket.

mod anti_entropy;
mod background;
mod coordinator;
mod forward;
mod gossip;
mod handover;
pub mod hints;
pub use crate::engine::key_table::SlotLocator;
pub mod membership;
pub mod merkle;
pub mod quorum;
pub mod service;
pub mod store;
mod transfer;
pub mod vclock;
pub mod versioning;

use crate::dist::Dist;
use crate::engine::id_map::IdMap;
use crate::engine::id_window::IdWindow;
use crate::engine::key_table::KeyTable;
use crate::engine::rng::{unit_f64, SimRng};
use crate::protocol::{Coordination, Key, Message, RequestId, Stamp, Version, VersionData, Versions};
use crate::ring::Ring;
use crate::types::{Endpoint, NodeId, Time};
use coordinator::Timeouts;
use quorum::ReadQuorum;
use service::ServiceQueue;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use store::{PutEffect, Store, StoreRules};
use versioning::Versioning;

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
    /// Use the first N healthy nodes of the extended preference list.
    pub sloppy_quorum: bool,
    /// A replica silent for this long is suspected, µs.
    pub replica_timeout_us: u64,
    /// Interval between probes of suspected peers, µs.
    pub probe_interval_us: u64,
    /// Interval between hinted-handoff rounds, µs.
    pub handoff_interval_us: u64,
    /// Keys handed back per peer per round.
    pub handoff_batch: usize,
    /// Repair replicas that returned old versions.
    pub read_repair: bool,
    /// Buffer writes in memory, flushed every `flush_interval_us` (Dynamo §6.1).
    pub buffered_writes: bool,
    /// Keys a node's store is expected to hold, at most, on average: its
    /// index is sized for them from the start. Grown a quarter at a time
    /// from empty, each size was new memory the kernel zeroes (a fifth of
    /// the quickstart's page faults); sized, the 1,000-node row took 5 %
    /// less CPU (BENCHMARKS.md, session 44). Changes no result: the
    /// index's order never reaches one.
    pub expected_keys: usize,
    /// Flush interval, µs.
    pub flush_interval_us: u64,
    /// How versions are ordered and capped.
    pub rules: StoreRules,
    /// Merkle tree depth when anti-entropy runs (None: off).
    pub anti_entropy_depth: Option<u32>,
    /// How the Merkle trees hold their hashes (memory and speed only).
    pub tree_layout: merkle::Layout,
    /// Interval between anti-entropy rounds, µs.
    pub anti_entropy_interval_us: u64,
    /// The partitioning strategy (a joining node takes tokens by it).
    pub strategy: crate::ring::Strategy,
    /// Seed nodes every node gossips with now and then.
    pub seeds: Vec<NodeId>,
    /// Interval between gossip rounds, µs (Dynamo: 1 s).
    pub gossip_interval_us: u64,
    /// A node also gossips with a seed every this many of its rounds, at
    /// its own phase (0: never).
    pub seed_gossip_every: u64,
    /// Cost of scanning one stored key when serving a strategy 1-2 range, µs.
    pub scan_key_us: u64,
    /// Bytes per µs a node sends range transfers at.
    pub transfer_bytes_per_us: f64,
    /// The rings the run's nodes have built from their views, shared
    /// between nodes whose views describe the same ring (memory only: see
    /// [`SharedRings`](crate::ring::shared::SharedRings)).
    pub shared_rings: Arc<crate::ring::shared::SharedRings>,
}

/// Effects a handler produces: messages to send, timers to set and
/// timers to cancel.
#[derive(Debug)]
pub struct Outbox<T> {
    /// (destination, message) in the order they were produced.
    pub messages: Vec<(Endpoint, Message)>,
    /// (fire time, timer).
    pub timers: Vec<(Time, T)>,
    /// (fire time, timer) of timers set earlier that need not fire: a
    /// timeout whose operation finished. Applied after `timers` are set.
    pub cancelled: Vec<(Time, T)>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox { messages: Vec::new(), timers: Vec::new(), cancelled: Vec::new() }
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

    /// Cancels `timer`, set to fire at `at`. Only an optimisation: a
    /// cancellation the simulator cannot honour leaves the timer to fire,
    /// so its handler must still ignore a timer that is no longer due.
    pub fn cancel_timer(&mut self, at: Time, timer: T) {
        self.cancelled.push((at, timer));
    }
}

/// Timers a node sets for itself. Periodic ones carry the incarnation that
/// set them, so those set before a crash are ignored after the restart.
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
    /// Replicas of a coordination that have not answered by now are suspected.
    ReplicaTimeout {
        /// The coordination.
        id: u64,
    },
    /// Probe suspected peers.
    Probe {
        /// Incarnation that set it.
        incarnation: u64,
    },
    /// Hand hinted replicas back.
    Handoff {
        /// Incarnation that set it.
        incarnation: u64,
    },
    /// Flush the write buffer.
    Flush {
        /// Incarnation that set it.
        incarnation: u64,
    },
    /// Compare one hosted range with another replica.
    AntiEntropy {
        /// Incarnation that set it.
        incarnation: u64,
    },
    /// Gossip with a random peer.
    Gossip {
        /// Incarnation that set it.
        incarnation: u64,
    },
    /// A range fetch that has not been answered by now.
    FetchTimeout {
        /// The range, as its index among the spans this node has asked
        /// for (`Node::fetch_span`): a span is 32 bytes and would make
        /// every timer, and every event the queue holds, twice as large.
        span: u32,
        /// Which try it was.
        attempt: u32,
    },
    /// A joining node that has not heard from a seed asks again.
    JoinRetry {
        /// Incarnation that set it.
        incarnation: u64,
    },
    /// A range transfer has finished going out at the transfer bandwidth.
    TransferSent {
        /// The transfer.
        id: u64,
    },
    /// A forwarded request that its coordinator has not acknowledged by now.
    ForwardTimeout {
        /// The request.
        request: RequestId,
        /// Which forwarding of it (a request may be forwarded again).
        attempt: u32,
    },
}

impl NodeTimer {
    /// Stable code for the digest.
    pub fn code(&self) -> u8 {
        match self {
            NodeTimer::StorageDone { .. } => 1,
            NodeTimer::CoordinationTimeout { .. } => 2,
            NodeTimer::ReplicaTimeout { .. } => 3,
            NodeTimer::Probe { .. } => 4,
            NodeTimer::Handoff { .. } => 5,
            NodeTimer::Flush { .. } => 6,
            NodeTimer::ForwardTimeout { .. } => 7,
            NodeTimer::AntiEntropy { .. } => 8,
            NodeTimer::Gossip { .. } => 9,
            NodeTimer::TransferSent { .. } => 10,
            NodeTimer::JoinRetry { .. } => 11,
            NodeTimer::FetchTimeout { .. } => 12,
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
    /// Siblings dropped by the sibling cap.
    pub sibling_cap_hits: u64,
    /// Versions the sibling cap dropped.
    pub sibling_cap_drops: u64,
    /// Coordinations that timed out before their quorum answered.
    pub coordinations_timed_out: u64,
    /// Coordinations refused because too few replicas were reachable.
    pub coordinations_without_replicas: u64,
    /// Times a peer was marked unreachable after a timeout.
    pub peers_suspected: u64,
    /// Replica requests sent to a fallback node in place of an unreachable one.
    pub fallbacks_used: u64,
    /// Hinted versions stored on behalf of another node.
    pub hints_stored: u64,
    /// Hinted versions handed back and acknowledged.
    pub hints_delivered: u64,
    /// Hinted versions replaced by a newer hint for the same key before handoff.
    pub hints_superseded: u64,
    /// Hinted versions dropped by the sibling cap before handoff.
    pub hints_dropped_by_cap: u64,
    /// Hinted versions that went down with the holder's disk.
    pub hints_lost: u64,
    /// Read-repair messages sent.
    pub read_repairs: u64,
    /// Versions stored by read repair that the replica lacked.
    pub versions_repaired: u64,
    /// Write-buffer flushes.
    pub flushes: u64,
    /// Gossip rounds.
    pub gossip_rounds: u64,
    /// Gossip messages sent (pushes and replies).
    pub gossip_messages: u64,
    /// Bytes of gossip sent.
    pub gossip_bytes: u64,
    /// Times this node's ring view changed.
    pub ring_changes: u64,
    /// Replica writes for keys this node's own ring view does not place on
    /// it (coordinator and replica views differed while gossip spread).
    pub writes_outside_own_ranges: u64,
    /// Ring pieces requested from their previous replicas.
    pub transfers_requested: u64,
    /// Keys sent in range transfers.
    pub transfer_keys_sent: u64,
    /// Bytes sent in range transfers.
    pub transfer_bytes_sent: u64,
    /// Keys received in range transfers.
    pub transfer_keys_received: u64,
    /// Keys dropped after handing them to a new replica (no longer replicated here).
    pub transfer_keys_dropped: u64,
    /// Keys held for other owners (writes after a transfer's snapshot, data
    /// handed to a node that left) that had to be pushed to their owners.
    pub stray_keys_found: u64,
    /// Stray keys dropped after every owner confirmed storing them.
    pub stray_keys_handed_over: u64,
    /// Stray keys this node's view placed here again, or with nothing left to push.
    pub stray_keys_reclaimed: u64,
    /// Versions of stray keys pushed to owners (each push counted).
    pub stray_versions_pushed: u64,
    /// Hinted versions whose intended node left the ring, passed on to the
    /// key's current owners through the hand-over instead.
    pub hints_retargeted: u64,
    /// Anti-entropy rounds (each compares every hosted range once).
    pub anti_entropy_rounds: u64,
    /// Merkle tree nodes (index, hash) sent.
    pub anti_entropy_tree_nodes: u64,
    /// Keys whose versions changed when anti-entropy delivered them.
    pub anti_entropy_keys_repaired: u64,
    /// Bytes of anti-entropy messages sent.
    pub anti_entropy_bytes: u64,
    /// Bytes a full copy of each compared range would have taken (the baseline).
    pub anti_entropy_full_copy_bytes: u64,
}

impl NodeStats {
    /// Adds another node's counters to these (cluster-wide totals).
    pub fn add(&mut self, other: &NodeStats) {
        let NodeStats {
            reads_coordinated,
            writes_coordinated,
            requests_forwarded,
            replica_reads,
            replica_writes,
            obsolete_writes,
            clock_truncations,
            sibling_cap_hits,
            sibling_cap_drops,
            coordinations_timed_out,
            coordinations_without_replicas,
            peers_suspected,
            fallbacks_used,
            hints_stored,
            hints_delivered,
            hints_superseded,
            hints_dropped_by_cap,
            hints_lost,
            read_repairs,
            versions_repaired,
            flushes,
            gossip_rounds,
            gossip_messages,
            gossip_bytes,
            ring_changes,
            writes_outside_own_ranges,
            transfers_requested,
            transfer_keys_sent,
            transfer_bytes_sent,
            transfer_keys_received,
            transfer_keys_dropped,
            stray_keys_found,
            stray_keys_handed_over,
            stray_keys_reclaimed,
            stray_versions_pushed,
            hints_retargeted,
            anti_entropy_rounds,
            anti_entropy_tree_nodes,
            anti_entropy_keys_repaired,
            anti_entropy_bytes,
            anti_entropy_full_copy_bytes,
        } = other;
        self.reads_coordinated += reads_coordinated;
        self.writes_coordinated += writes_coordinated;
        self.requests_forwarded += requests_forwarded;
        self.replica_reads += replica_reads;
        self.replica_writes += replica_writes;
        self.obsolete_writes += obsolete_writes;
        self.clock_truncations += clock_truncations;
        self.sibling_cap_hits += sibling_cap_hits;
        self.sibling_cap_drops += sibling_cap_drops;
        self.coordinations_timed_out += coordinations_timed_out;
        self.coordinations_without_replicas += coordinations_without_replicas;
        self.peers_suspected += peers_suspected;
        self.fallbacks_used += fallbacks_used;
        self.hints_stored += hints_stored;
        self.hints_delivered += hints_delivered;
        self.hints_superseded += hints_superseded;
        self.hints_dropped_by_cap += hints_dropped_by_cap;
        self.hints_lost += hints_lost;
        self.read_repairs += read_repairs;
        self.versions_repaired += versions_repaired;
        self.flushes += flushes;
        self.gossip_rounds += gossip_rounds;
        self.gossip_messages += gossip_messages;
        self.gossip_bytes += gossip_bytes;
        self.ring_changes += ring_changes;
        self.writes_outside_own_ranges += writes_outside_own_ranges;
        self.transfers_requested += transfers_requested;
        self.transfer_keys_sent += transfer_keys_sent;
        self.transfer_bytes_sent += transfer_bytes_sent;
        self.transfer_keys_received += transfer_keys_received;
        self.transfer_keys_dropped += transfer_keys_dropped;
        self.stray_keys_found += stray_keys_found;
        self.stray_keys_handed_over += stray_keys_handed_over;
        self.stray_keys_reclaimed += stray_keys_reclaimed;
        self.stray_versions_pushed += stray_versions_pushed;
        self.hints_retargeted += hints_retargeted;
        self.anti_entropy_rounds += anti_entropy_rounds;
        self.anti_entropy_tree_nodes += anti_entropy_tree_nodes;
        self.anti_entropy_keys_repaired += anti_entropy_keys_repaired;
        self.anti_entropy_bytes += anti_entropy_bytes;
        self.anti_entropy_full_copy_bytes += anti_entropy_full_copy_bytes;
    }
}

/// Where versions absorbed into the main data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AbsorbSource {
    /// Handed back by the node that held them as hints (acknowledge to it).
    Handoff(NodeId),
    /// Sent by a read's coordinator.
    ReadRepair,
    /// Exchanged by anti-entropy.
    AntiEntropy,
    /// Fetched after a ring change: one key of this incoming transfer.
    Transfer(u64),
}

/// A local storage operation waiting in the service queue.
#[derive(Clone, Debug)]
enum StorageOp {
    /// Read `key` and reply to the coordination.
    Read { key: Key, reply_to: Coordination },
    /// Store `version` (as a hint for `hint`, if set) and acknowledge.
    Write { key: Key, version: Version, reply_to: Coordination, hint: Option<NodeId> },
    /// The coordinator's own write was applied in memory at once; this
    /// completes its durable write and counts its acknowledgement.
    OwnWriteDurable { reply_to: Coordination },
    /// Store versions handed back (or repaired), then ack the handoff sender if any.
    Absorb { key: Key, versions: Vec<Version>, source: AbsorbSource },
    /// Write these buffered versions to disk.
    Flush { batch: Vec<(Key, Version)> },
    /// Read a range for a node that now replicates it (cost set by the strategy).
    ServeRange { requester: NodeId, span: crate::protocol::Span },
}

/// One replica a write was sent to.
#[derive(Clone, Copy, Debug)]
struct WriteTarget {
    node: NodeId,
    /// The top-N node it stands in for, when it is a fallback.
    hint: Option<NodeId>,
    acked: bool,
    /// Replaced by a fallback after it timed out.
    abandoned: bool,
    /// False for the §6.1 durable replica (its ack does not count toward W).
    counts_toward_w: bool,
}

/// A write this node coordinates.
#[derive(Clone, Debug)]
struct WriteCoordination {
    request: RequestId,
    key: Key,
    version: Version,
    targets: Vec<WriteTarget>,
    acks: usize,
    answered: bool,
    timeouts: Timeouts,
}

/// A read this node coordinates.
#[derive(Clone, Debug)]
struct ReadCoordination {
    request: RequestId,
    key: Key,
    quorum: ReadQuorum,
    timeouts: Timeouts,
    /// Replicas already replaced by a fallback after timing out.
    replaced: Vec<NodeId>,
}

/// One storage node.
#[derive(Clone, Debug)]
pub struct Node {
    id: NodeId,
    config: Arc<NodeConfig>,
    ring: Arc<Ring>,
    rng: SimRng,
    service: ServiceQueue,
    /// Durable main store.
    store: Store,
    /// Writes accepted in memory, not yet flushed (buffered mode).
    buffer: Store,
    /// Versions held for unreachable nodes, kept apart from `store`.
    hints: hints::Hints,
    next_id: u64,
    // In-flight work by id (one counter for all three).
    reads: IdWindow<ReadCoordination>,
    writes: IdWindow<WriteCoordination>,
    storage_ops: IdWindow<StorageOp>,
    /// Storage operations that took no time on a free server: they complete
    /// as soon as the handler that queued them returns, with no event of
    /// their own (see [`Node::admit_storage`]).
    completed_now: VecDeque<StorageOp>,
    /// Requests forwarded to a coordinator and not yet acknowledged by it.
    forwards: IdMap<RequestId, forward::Forward>,
    /// Peers this node believes unreachable, with when it decided so.
    suspected: BTreeMap<NodeId, Time>,
    /// Peers sent handoffs not acknowledged since, with the number of such rounds.
    handoff_unacked: BTreeMap<NodeId, u32>,
    /// Membership view (persisted: it survives crashes).
    view: Arc<membership::View>,
    /// Its digest, kept with it.
    view_digest: u64,
    /// Waiting for a seed's view to join.
    joining: bool,
    /// The seed last asked for a view while joining.
    join_seed: NodeId,
    /// A buffer flush is being written to disk.
    flush_in_progress: bool,
    /// When an administrator told this node to join.
    joined_at: Option<Time>,
    /// When it received the last range it fetched after its latest ring change.
    bootstrapped_at: Option<Time>,
    /// This node's own stream for drawing tokens when it joins.
    token_rng: SimRng,
    /// Which of its gossip rounds (modulo `seed_gossip_every`) also go to
    /// a seed: drawn per node, so seed contacts are spread over the period.
    seed_phase: u64,
    /// Ring pieces asked for after a ring change, not yet received.
    pending_fetches: BTreeMap<crate::protocol::Span, transfer::Fetch>,
    /// Every span this node has asked for, by the index its fetch timers
    /// name it by; kept for the node's life (a timer may outlive a crash).
    fetched_spans: Vec<crate::protocol::Span>,
    /// The index of each span in `fetched_spans`.
    fetched_span_index: BTreeMap<crate::protocol::Span, u32>,
    /// When the outgoing transfer link is free again.
    transfer_free_at: Time,
    /// What this node handed over and what it must still pass on.
    handover: handover::Handover,
    /// Range transfers waiting for the link.
    outgoing_transfers: BTreeMap<u64, (NodeId, Message)>,
    /// Range transfers sent, awaiting their requester's confirmation.
    sent_transfers: BTreeMap<u64, transfer::SentTransfer>,
    /// Range transfers received, being stored.
    incoming_transfers: BTreeMap<u64, transfer::IncomingTransfer>,
    /// Merkle trees of the hosted ranges.
    anti_entropy: anti_entropy::AntiEntropy,
    clock_skew_us: i64,
    /// Last timestamp this node gave a version (stamps strictly increase).
    last_stamp: Time,
    /// Highest vector clock counter this node has issued (durable).
    counter_high_water: u64,
    /// Under dotted version vectors, the counter of the last dot this node
    /// (in this epoch) made for each key, kept with the high-water mark: a
    /// new version's clock counts its actor's counters from there to its
    /// own dot ([`versioning::Versioning::new_clock`]), which the node's
    /// store cannot tell when it does not hold the key's earlier versions.
    last_dots: KeyTable<u64>,
    /// The life of its disk: a disk loss starts a new epoch, so the node
    /// counts as a new actor in clocks (see [`vclock::Actor`]).
    epoch: u32,
    /// Observer record, never read by the node logic: the versions the
    /// sibling cap dropped from the main data or the hints, by key (the
    /// checker counts the writes they held as explained losses).
    cap_dropped: Vec<(u64, Version)>,
    incarnation: u64,
    stats: NodeStats,
    preference: Vec<NodeId>,
}

impl Node {
    /// A fresh node with an empty store, seeing `ring`; `rng` is its own stream.
    pub fn new(id: NodeId, config: Arc<NodeConfig>, ring: Arc<Ring>, rng: SimRng, token_rng: SimRng) -> Self {
        let view = Arc::new(membership::View::of_ring(&ring));
        Node::with_view(id, config, ring, view, rng, token_rng)
    }

    /// A fresh node whose membership view is `view` (that of `ring`). The
    /// initial members of a cluster share one view until gossip changes
    /// one: a view lists every member and partition, so a copy per node
    /// would grow with the square of the cluster.
    pub fn with_view(
        id: NodeId,
        config: Arc<NodeConfig>,
        ring: Arc<Ring>,
        view: Arc<membership::View>,
        mut rng: SimRng,
        token_rng: SimRng,
    ) -> Self {
        let service = ServiceQueue::new(config.servers);
        let store = Store::with_capacity(config.expected_keys);
        let seed_phase = gossip::draw_seed_phase(&mut rng, config.seed_gossip_every);
        let mut node = Node {
            id,
            config,
            view_digest: 0,
            view,
            joining: false,
            join_seed: NodeId(0),
            flush_in_progress: false,
            joined_at: None,
            bootstrapped_at: None,
            token_rng,
            seed_phase,
            pending_fetches: BTreeMap::new(),
            fetched_spans: Vec::new(),
            fetched_span_index: BTreeMap::new(),
            transfer_free_at: Time::ZERO,
            outgoing_transfers: BTreeMap::new(),
            handover: handover::Handover::default(),
            sent_transfers: BTreeMap::new(),
            incoming_transfers: BTreeMap::new(),
            ring,
            rng,
            service,
            store,
            buffer: Store::new(),
            hints: hints::Hints::default(),
            next_id: 0,
            reads: IdWindow::default(),
            writes: IdWindow::default(),
            storage_ops: IdWindow::default(),
            completed_now: VecDeque::new(),
            forwards: IdMap::default(),
            suspected: BTreeMap::new(),
            handoff_unacked: BTreeMap::new(),
            anti_entropy: anti_entropy::AntiEntropy::default(),
            clock_skew_us: 0,
            last_stamp: Time::ZERO,
            counter_high_water: 0,
            last_dots: KeyTable::default(),
            epoch: 0,
            cap_dropped: Vec::new(),
            incarnation: 0,
            stats: NodeStats::default(),
            preference: Vec::new(),
        };
        node.view_digest = node.view.digest();
        node
    }

    /// A node about to join (not yet a member): it knows only itself until
    /// a seed answers its join request.
    pub fn new_joiner(id: NodeId, config: Arc<NodeConfig>, rng: SimRng, token_rng: SimRng) -> Self {
        let alone = Ring::build_with_target_n(&config.strategy, &[id], None, config.n, |_| token_rng.clone());
        let mut node = Node::new(id, config, Arc::new(alone), rng, token_rng);
        node.view = Arc::new(membership::View::default());
        node.view_digest = node.view.digest();
        node
    }

    /// (when told to join, when its last fetched range arrived).
    pub fn bootstrap(&self) -> (Option<Time>, Option<Time>) {
        (self.joined_at, self.bootstrapped_at)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The durable store (the checker reads it at the end of a run).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts logging the keys whose main data (store or buffer) changes,
    /// for the observer's convergence check ([`Node::drain_main_changes`]).
    pub fn log_main_changes(&mut self) {
        self.store.log_changes();
        self.buffer.log_changes();
    }

    /// Appends to `into` the keys whose main data changed since the last
    /// call (some more than once), once [`Node::log_main_changes`] asked.
    pub fn drain_main_changes(&mut self, into: &mut Vec<u64>) {
        self.store.drain_changes(into);
        self.buffer.drain_changes(into);
    }

    /// The versions this node holds for `key` as a replica: durable and
    /// buffered, not hints.
    pub fn main_versions(&self, key: u64) -> Vec<Version> {
        let buffered = self.buffer.get(key);
        if buffered.is_empty() {
            return self.store.get(key).to_vec(); // the common case: already reconciled
        }
        store::reconcile_onto(self.store.get(key), buffered, self.config.rules.versioning)
    }

    /// Hinted versions held for other nodes.
    pub fn hints_pending(&self) -> u64 {
        debug_assert!(self.hint_books().balanced(), "hint books: {:?}", self.hint_books());
        self.hints.pending()
    }

    /// Where every hint this node stored went (the books balance: see
    /// [`hints::HintBooks`]).
    pub fn hint_books(&self) -> hints::HintBooks {
        let s = &self.stats;
        hints::HintBooks {
            stored: s.hints_stored,
            delivered: s.hints_delivered,
            superseded: s.hints_superseded,
            capped: s.hints_dropped_by_cap,
            lost: s.hints_lost,
            retargeted: s.hints_retargeted,
            pending: self.hints.pending(),
        }
    }

    /// The peers this node suspects, with when it began to: for the
    /// observer's figures (nodes never read each other's suspicions).
    pub fn suspected_peers(&self) -> impl Iterator<Item = (NodeId, Time)> + '_ {
        self.suspected.iter().map(|(&node, &since)| (node, since))
    }

    /// This node's counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// Arms the periodic timers; called at start and on every restart.
    pub fn start(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        let incarnation = self.incarnation;
        let jitter = |rng: &mut SimRng, interval: u64| (unit_f64(rng) * interval as f64) as u64 + 1;
        let probe = jitter(&mut self.rng, self.config.probe_interval_us);
        out.set_timer(now.plus(probe), NodeTimer::Probe { incarnation });
        let handoff = jitter(&mut self.rng, self.config.handoff_interval_us);
        out.set_timer(now.plus(handoff), NodeTimer::Handoff { incarnation });
        if self.config.buffered_writes {
            let flush = jitter(&mut self.rng, self.config.flush_interval_us);
            out.set_timer(now.plus(flush), NodeTimer::Flush { incarnation });
        }
        self.resume_fetches(now, out);
        if self.joining {
            // Ask a seed again until one answers with a usable view.
            out.set_timer(now.plus(self.config.gossip_interval_us), NodeTimer::JoinRetry { incarnation });
        } else {
            let gossip = jitter(&mut self.rng, self.config.gossip_interval_us);
            out.set_timer(now.plus(gossip), NodeTimer::Gossip { incarnation });
        }
        if self.config.anti_entropy_depth.is_some() {
            self.rebuild_trees();
            let round = jitter(&mut self.rng, self.config.anti_entropy_interval_us);
            out.set_timer(now.plus(round), NodeTimer::AntiEntropy { incarnation });
        }
    }

    /// The node stops: pending requests, timers, queued storage work and
    /// the write buffer are lost; with `disk_loss` the store and hints too.
    /// Returns the (key, version) pairs this node lost.
    pub fn crash(&mut self, now: Time, disk_loss: bool) -> Vec<(u64, Version)> {
        let versions = |store: Store| -> Vec<(u64, Version)> {
            store.iter().flat_map(|(key, vs)| vs.iter().map(move |v| (key.id, v.clone()))).collect()
        };
        let mut lost = versions(self.buffer.take());
        if disk_loss {
            lost.extend(versions(self.store.take()));
            let hints = self.hints.take_all();
            self.stats.hints_lost += hints.len() as u64;
            lost.extend(hints);
            self.counter_high_water = 0;
            self.last_dots = KeyTable::default();
            self.epoch += 1;
        }
        self.reads.clear();
        self.writes.clear();
        self.storage_ops.clear();
        self.completed_now.clear();
        self.forwards.clear();
        // Pending fetches survive (they are asked again at the restart);
        // transfers in flight and half-stored do not.
        self.outgoing_transfers.clear();
        self.sent_transfers.clear();
        self.incoming_transfers.clear();
        self.flush_in_progress = false;
        self.suspected.clear();
        self.handoff_unacked.clear();
        self.service.reset(now);
        self.transfer_free_at = now;
        self.incarnation += 1;
        lost
    }

    /// Sets the offset of this node's physical clock (clock skew).
    pub fn set_clock_skew(&mut self, skew_us: i64) {
        self.clock_skew_us = skew_us;
    }

    /// This node's physical clock reading at virtual time `now`.
    fn physical_time(&self, now: Time) -> Time {
        Time(now.0.saturating_add_signed(self.clock_skew_us))
    }

    /// Handles a message delivered at `now` from `from`.
    pub fn on_message(&mut self, now: Time, from: Endpoint, message: Message, out: &mut Outbox<NodeTimer>) {
        self.handle_message(now, from, message, out);
        self.complete_immediate_storage(now, out);
    }

    fn handle_message(&mut self, now: Time, from: Endpoint, message: Message, out: &mut Outbox<NodeTimer>) {
        if let Endpoint::Node(peer) = from {
            // Any message from a peer shows it is reachable again.
            self.suspected.remove(&peer);
        }
        match message {
            Message::Get { .. } | Message::Put { .. } => self.on_client_request(now, from, message, out),
            Message::ForwardAck { request } => {
                if let Some(forward) = self.forwards.remove(&request) {
                    out.cancel_timer(forward.deadline, NodeTimer::ForwardTimeout { request, attempt: forward.attempt });
                }
            }
            Message::ReplicaRead { coordination, key } => {
                self.enqueue_storage(now, StorageOp::Read { key, reply_to: coordination }, out);
            }
            Message::ReplicaWrite { coordination, key, version, hint, durable } => {
                self.replica_write(now, coordination, key, version, hint, durable, out);
            }
            Message::ReplicaReadReply { coordination, versions } => {
                if let Endpoint::Node(replica) = from {
                    self.on_read_reply(now, coordination.id, replica, versions, out);
                }
            }
            Message::ReplicaWriteAck { coordination } => {
                if let Endpoint::Node(replica) = from {
                    self.on_write_ack(coordination.id, replica, out);
                }
            }
            Message::ReadRepair { key, versions } => {
                self.enqueue_storage(now, StorageOp::Absorb { key, versions, source: AbsorbSource::ReadRepair }, out);
            }
            Message::Handoff { key, versions } => {
                if let Endpoint::Node(peer) = from {
                    let source = AbsorbSource::Handoff(peer);
                    self.enqueue_storage(now, StorageOp::Absorb { key, versions, source }, out);
                }
            }
            Message::TreeCompare { range, nodes } => {
                if let Endpoint::Node(peer) = from {
                    self.on_tree_compare(peer, range, &nodes, out);
                }
            }
            Message::LeafDigests { range, leaves, keys } => {
                if let Endpoint::Node(peer) = from {
                    self.on_leaf_digests(peer, range, &leaves, &keys, out);
                }
            }
            Message::KeyVersions { entries, wanted } => {
                if let Endpoint::Node(peer) = from {
                    self.on_key_versions(now, peer, entries, &wanted, out);
                }
            }
            Message::HandoffAck { key, dots, owner } => {
                if let Endpoint::Node(peer) = from {
                    self.on_handoff_ack(peer, key, &dots, owner);
                }
            }
            Message::Gossip { view } => {
                if let Endpoint::Node(peer) = from {
                    self.on_gossip(now, peer, &view, false, out);
                }
            }
            Message::GossipReply { view } => {
                if let Endpoint::Node(peer) = from {
                    self.on_gossip(now, peer, &view, true, out);
                }
            }
            Message::JoinRequest => out.send(from, Message::GossipReply { view: Arc::clone(&self.view) }),
            Message::FetchRange { first, last } => {
                if let Endpoint::Node(peer) = from {
                    self.on_fetch_range(now, peer, crate::protocol::Span { first, last }, out);
                }
            }
            Message::RangeData { first, last, entries, transfer } => {
                if let Endpoint::Node(source) = from {
                    let span = crate::protocol::Span { first, last };
                    self.on_range_data(now, source, span, transfer, entries, out);
                }
            }
            Message::TransferAck { first, last, transfer } => {
                self.on_transfer_ack(transfer, crate::protocol::Span { first, last });
            }
            Message::Ping => out.send(from, Message::Pong),
            Message::Pong => {}
            Message::MembershipRequest => out.send(from, Message::MembershipReply { ring: Arc::clone(&self.ring) }),
            // Replies meant for clients never reach a node.
            Message::GetReply { .. } | Message::PutReply { .. } | Message::MembershipReply { .. } => {}
        }
    }

    /// Handles a timer this node set, firing at `now`.
    pub fn on_timer(&mut self, now: Time, timer: NodeTimer, out: &mut Outbox<NodeTimer>) {
        self.handle_timer(now, timer, out);
        self.complete_immediate_storage(now, out);
    }

    fn handle_timer(&mut self, now: Time, timer: NodeTimer, out: &mut Outbox<NodeTimer>) {
        match timer {
            NodeTimer::StorageDone { op } => {
                if let Some(op) = self.storage_ops.remove(op) {
                    self.complete_storage(now, op, out);
                }
            }
            NodeTimer::CoordinationTimeout { id } => self.on_coordination_timeout(now, id, out),
            NodeTimer::ReplicaTimeout { id } => self.on_replica_timeout(now, id, out),
            NodeTimer::ForwardTimeout { request, attempt } => self.on_forward_timeout(now, request, attempt, out),
            NodeTimer::Probe { incarnation } if incarnation == self.incarnation => self.probe(now, out),
            NodeTimer::Handoff { incarnation } if incarnation == self.incarnation => self.hand_off(now, out),
            NodeTimer::Flush { incarnation } if incarnation == self.incarnation => self.flush(now, out),
            NodeTimer::AntiEntropy { incarnation } if incarnation == self.incarnation => {
                self.anti_entropy_round(now, out)
            }
            NodeTimer::Gossip { incarnation } if incarnation == self.incarnation => {
                self.gossip_round(out);
                out.set_timer(now.plus(self.config.gossip_interval_us), NodeTimer::Gossip { incarnation });
            }
            NodeTimer::TransferSent { id } => self.on_transfer_sent(id, out),
            NodeTimer::FetchTimeout { span, attempt } => {
                let span = self.fetched_spans[span as usize];
                self.on_fetch_timeout(now, span, attempt, out)
            }
            NodeTimer::JoinRetry { incarnation } if incarnation == self.incarnation => self.retry_join(now, out),
            NodeTimer::Probe { .. }
            | NodeTimer::Handoff { .. }
            | NodeTimer::Flush { .. }
            | NodeTimer::AntiEntropy { .. }
            | NodeTimer::Gossip { .. }
            | NodeTimer::JoinRetry { .. } => {}
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// True when this node believes `node` reachable (itself always).
    fn healthy(&self, node: NodeId) -> bool {
        node == self.id || !self.suspected.contains_key(&node)
    }

    fn suspect(&mut self, now: Time, node: NodeId) {
        if node != self.id && !self.suspected.contains_key(&node) {
            self.suspected.insert(node, now);
            self.stats.peers_suspected += 1;
        }
    }

    /// Stores a version in this node's main data (buffer or disk) and counts it.
    fn apply(&mut self, key: Key, version: Version, buffered: bool) {
        self.stats.replica_writes += 1;
        if !buffered && self.buffer.get(key.id).is_empty() {
            // The common case: the main data is the store's, whose put
            // knows the key's summary before and after (one search, not three).
            let (effect, old, new) = self.store.put_summaries(key, version, self.config.rules);
            self.count_put(key, effect);
            if self.config.anti_entropy_depth.is_some() {
                self.update_tree(key, old, new);
            }
            return;
        }
        let old_summary = self.summary_if_tracked(key);
        let effect = if buffered {
            if store::holds(self.store.get(key.id), &version, self.config.rules.versioning) {
                PutEffect::Obsolete
            } else {
                self.buffer.put(key, version, self.config.rules)
            }
        } else {
            self.store.put(key, version, self.config.rules)
        };
        self.count_put(key, effect);
        if let (Some(old), Some(new)) = (old_summary, self.summary_if_tracked(key)) {
            self.update_tree(key, old, new);
        }
    }

    /// Counts what a put into the main data did.
    fn count_put(&mut self, key: Key, effect: PutEffect) {
        match effect {
            PutEffect::Obsolete => self.stats.obsolete_writes += 1,
            PutEffect::StoredOverCap(dropped) => {
                self.sibling_cap_dropped(key, dropped);
                self.note_stored(key);
            }
            PutEffect::Stored => self.note_stored(key),
        }
    }

    /// Every version this node holds for `key`: durable, buffered and
    /// hinted (the checker asks whether a lost write survives anywhere).
    pub fn local_versions(&self, key: u64) -> Versions {
        let buffered = self.buffer.get(key);
        let mut hinted = self.hints.versions_of(key).filter(|vs| !vs.is_empty()).peekable();
        if buffered.is_empty() && hinted.peek().is_none() {
            return Versions::from(self.store.get(key)); // the common case: already reconciled
        }
        // Each list is a store's, reconciled: the first that holds any is kept whole.
        let mut lists = [self.store.get(key), buffered].into_iter().filter(|vs| !vs.is_empty()).chain(hinted);
        let first = lists.next().unwrap_or_default();
        Versions::from_vec(store::reconcile_onto(first, lists.flatten(), self.config.rules.versioning))
    }

    /// The keys of every hint this node holds (a key hinted for several
    /// nodes repeats), in no particular order. With [`Node::main_keys`],
    /// every key [`Node::local_versions`] is not empty for.
    pub fn hinted_keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.hints.keys()
    }

    /// Every key of this node's main data (store and buffer), a key held
    /// in both twice, in no particular order: collect into an ordered set
    /// before it can reach a result.
    pub fn main_keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.store.keys().chain(self.buffer.keys())
    }

    /// Counts a sibling cap's drops from the main data and keeps them for the checker.
    fn sibling_cap_dropped(&mut self, key: Key, dropped: Vec<Version>) {
        self.stats.sibling_cap_hits += 1;
        self.stats.sibling_cap_drops += dropped.len() as u64;
        self.cap_dropped.extend(dropped.into_iter().map(|v| (key.id, v)));
    }

    /// This node in its current disk life, as clocks name it.
    fn actor(&self) -> vclock::Actor {
        vclock::Actor { node: self.id, epoch: self.epoch }
    }

    /// Keys with some version in this node's main store.
    pub fn stored_key_count(&self) -> usize {
        self.store.key_count()
    }

    /// The versions the sibling cap dropped from this node's main data.
    pub fn cap_dropped(&self) -> &[(u64, Version)] {
        &self.cap_dropped
    }

    fn enqueue_storage(&mut self, now: Time, op: StorageOp, out: &mut Outbox<NodeTimer>) {
        let service_us = match op {
            StorageOp::Read { .. } => self.config.read_service.sample_us(&mut self.rng),
            StorageOp::Write { .. }
            | StorageOp::OwnWriteDurable { .. }
            | StorageOp::Absorb { .. }
            | StorageOp::Flush { .. }
            | StorageOp::ServeRange { .. } => self.config.write_service.sample_us(&mut self.rng),
        };
        self.admit_storage(now, service_us, op, out);
    }

    /// Queues `op`, which takes `service_us` of a server's time. An
    /// operation that takes no time on a free server completes at once,
    /// without an event: after the handler that queued it returns (it may
    /// be the coordinator's own replica, whose coordination that handler
    /// has yet to record), in the order queued.
    fn admit_storage(&mut self, now: Time, service_us: u64, op: StorageOp, out: &mut Outbox<NodeTimer>) {
        let done = self.service.admit(now, service_us);
        if done == now {
            self.completed_now.push_back(op);
            return;
        }
        let id = self.next_id();
        self.storage_ops.insert(id, op);
        out.set_timer(done, NodeTimer::StorageDone { op: id });
    }

    /// Completes the operations [`Node::admit_storage`] found took no time
    /// (and those their completions queue in turn): every entry point that
    /// can queue storage work ends with it.
    fn complete_immediate_storage(&mut self, now: Time, out: &mut Outbox<NodeTimer>) {
        while let Some(op) = self.completed_now.pop_front() {
            self.complete_storage(now, op, out);
        }
    }

    fn complete_storage(&mut self, now: Time, op: StorageOp, out: &mut Outbox<NodeTimer>) {
        match op {
            StorageOp::Read { key, reply_to } => {
                self.stats.replica_reads += 1;
                let versions = self.local_versions(key.id);
                if reply_to.coordinator == Endpoint::Node(self.id) {
                    self.on_read_reply(now, reply_to.id, self.id, versions, out);
                } else {
                    out.send(reply_to.coordinator, Message::ReplicaReadReply { coordination: reply_to, versions });
                }
            }
            StorageOp::Write { key, version, reply_to, hint } => {
                self.store_replica(key, version, hint, false);
                out.send(reply_to.coordinator, Message::ReplicaWriteAck { coordination: reply_to });
            }
            StorageOp::OwnWriteDurable { reply_to } => self.on_write_ack(reply_to.id, self.id, out),
            StorageOp::Absorb { key, versions, source } => self.absorb(now, key, versions, source, out),
            StorageOp::Flush { batch } => self.complete_flush(batch),
            StorageOp::ServeRange { requester, span } => self.send_range(now, requester, span, out),
        }
    }

    /// Stores a replica write: as a hint kept apart, or in the main data.
    fn store_replica(&mut self, key: Key, version: Version, hint: Option<NodeId>, buffered: bool) {
        match hint {
            Some(intended) if intended != self.id => {
                let put = self.hints.put(intended, key, version, self.config.rules);
                self.stats.hints_stored += u64::from(put.stored);
                self.stats.hints_superseded += put.superseded;
                self.stats.hints_dropped_by_cap += put.capped.len() as u64;
                self.cap_dropped.extend(put.capped.into_iter().map(|v| (key.id, v)));
            }
            _ => self.apply(key, version, buffered),
        }
    }

    /// A replica write arriving from a coordinator.
    #[allow(clippy::too_many_arguments)]
    fn replica_write(
        &mut self,
        now: Time,
        coordination: Coordination,
        key: Key,
        version: Version,
        hint: Option<NodeId>,
        durable: bool,
        out: &mut Outbox<NodeTimer>,
    ) {
        if hint.is_none() {
            // Views can differ while gossip spreads: count writes for keys
            // this node's own view says it does not replicate.
            self.ring.preference_list_into(key.position, self.config.n, &mut self.preference);
            if !self.preference.contains(&self.id) {
                self.stats.writes_outside_own_ranges += 1;
            }
        }
        if self.config.buffered_writes && !durable && hint.is_none() {
            // §6.1: accepted into memory and acknowledged at once.
            self.apply(key, version, true);
            out.send(coordination.coordinator, Message::ReplicaWriteAck { coordination });
        } else {
            self.enqueue_storage(now, StorageOp::Write { key, version, reply_to: coordination, hint }, out);
        }
    }

    /// The version a coordinator creates for a write: see [`Node::next_clock`].
    fn new_version(
        &mut self,
        now: Time,
        key: Key,
        context: &vclock::VectorClock,
        value: crate::protocol::Value,
    ) -> Version {
        // Timestamps never repeat on one node, so last-write-wins has no ties.
        let physical = self.physical_time(now).max(self.last_stamp.plus(1));
        self.last_stamp = physical;
        let dot = self.next_dot();
        let versioning = self.config.rules.versioning;
        let previous = match versioning {
            Versioning::DottedVersionVectors => std::mem::replace(self.last_dots.entry(key.id), dot.counter),
            Versioning::VectorClocks | Versioning::LastWriteWins => 0,
        };
        let (clock, dropped) = versioning.new_clock(context, dot, previous, physical, self.config.clock_max_entries);
        self.stats.clock_truncations += dropped as u64;
        Version::from(VersionData::new(clock, dot, Stamp { time_us: physical.0, writer: self.id.0 }, value))
    }

    /// The new version's dot: one more than the highest counter this node
    /// has issued in its current disk life (kept on disk, so a crash that
    /// loses the write buffer cannot make it reuse a counter).
    ///
    /// That is more than the node's counter in any version it stores for
    /// the key or in the context, as the DESIGN increment rule asks, so two
    /// blind writes through one node never share a clock: only this node
    /// makes dots of its actor, and node ids are never reused. A disk loss
    /// forgets the counter but starts a new epoch, a new actor, so the dot
    /// is still new.
    fn next_dot(&mut self) -> vclock::Dot {
        self.counter_high_water += 1;
        vclock::Dot { actor: self.actor(), counter: self.counter_high_water }
    }
}

#[cfg(test)]
mod tests;
