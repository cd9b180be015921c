//! The simulation: builds the cluster from a scenario and runs the event loop.
//!
//! The loop pops the earliest event, hands it to the node or client it
//! concerns, and schedules what that handler put in its outbox: messages
//! through the network, timers as they are. Faults change the world (the
//! network, which nodes run), never a node's logic. Every processed event
//! enters the run digest.

use crate::check::convergence::{self, Convergence};
use crate::check::history::OpRecord;
use crate::client::workload::KeyChooser;
use crate::client::{Client, ClientConfig, ClientOutbox, ClientTimer};
use crate::engine::digest::{TraceDigest, TraceEvent};
use crate::engine::queue::EventQueue;
use crate::engine::rng::{Purpose, Streams};
use crate::engine::slab::Slab;
use crate::fault::{FaultEffect, TimedFault};
use crate::net::{Network, NetworkStats};
use crate::node::membership::{MemberStatus, View};
use crate::node::store::StoreRules;
use crate::node::versioning::Versioning;
use crate::node::{Node, NodeConfig, NodeTimer, Outbox, SlotLocator};
use crate::protocol::{Key, KeyPositions, Message, Version};
use crate::report::observer::{Observations, ObserveOptions, Observer, World};
use crate::ring::Ring;
use crate::scenario::Scenario;
use crate::types::{ms_to_us, ClientId, Endpoint, NodeId, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Something that happens at a virtual time.
#[derive(Debug)]
enum Event {
    /// A message arrives. The message waits in the simulation's message
    /// slab under this handle: it is several times larger than any other
    /// event, and a handle costs neither a move of the whole message
    /// through the queue nor an allocation of its own.
    Deliver { from: Endpoint, to: Endpoint, message: u32 },
    /// A node's timer fires.
    NodeTimer { node: NodeId, timer: NodeTimer },
    /// A client's timer fires.
    ClientTimer { client: ClientId, timer: ClientTimer },
    /// A scheduled fault takes effect.
    Fault { index: usize },
    /// The observer checks whether every replica of every key agrees.
    ConvergenceCheck,
    /// The observer checks whether every node agrees on membership.
    MembershipCheck,
}

/// A join or leave as the observer followed it.
#[derive(Clone, Debug)]
pub struct MembershipChange {
    /// What happened, e.g. `join n8`.
    pub label: String,
    /// When the administrator acted.
    pub at: Time,
    /// The node joining or leaving.
    pub node: NodeId,
    /// When every live node first held the same view including the change.
    pub agreed_at: Option<Time>,
    /// Cluster-wide (keys, bytes) sent in range transfers before the change.
    pub transferred_before: (u64, u64),
    /// Replica copies of keys stored cluster-wide before the change.
    pub replica_keys_before: u64,
}

/// How often the observer checks convergence once the workload has ended.
const CONVERGENCE_CHECK_US: u64 = 50_000;

/// A fault as it was applied.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AppliedFault {
    /// When, µs.
    pub at_us: u64,
    /// What.
    pub label: String,
}

/// Everything a finished run leaves behind, for the checker and the report.
#[derive(Debug)]
pub struct RunOutcome {
    /// Every client operation, ordered by (invoke time, client, sequence).
    pub history: Vec<OpRecord>,
    /// The nodes in their final state (stores, counters).
    pub nodes: Vec<Node>,
    /// For every key written, the versions held in the main stores of its
    /// final preference list at the end, each distinct version once (what
    /// the lost-write check reads).
    pub final_versions: BTreeMap<u64, Vec<Version>>,
    /// Versions some node lost to a crash (unflushed buffer) or a disk
    /// loss, by key.
    pub wiped: BTreeMap<u64, Vec<Version>>,
    /// Faults in the order applied (the end-of-workload heal included).
    pub faults: Vec<AppliedFault>,
    /// Time of the last heal that changed something (a restart, a partition
    /// ended, a heal of active faults), if any.
    pub last_heal: Option<Time>,
    /// First time after the last heal at which no node held a hint.
    pub hints_drained_at: Option<Time>,
    /// Network counters.
    pub network: NetworkStats,
    /// The digest of the event trace.
    pub digest: String,
    /// Events processed.
    pub events: u64,
    /// Virtual time when the run stopped.
    pub end: Time,
    /// When clients stopped issuing requests.
    pub workload_end: Time,
    /// How versions were ordered.
    pub versioning: Versioning,
    /// When, after the workload ended and the last fault after it, all
    /// replicas of every written key first held the same versions (and
    /// still did at the end of the observation).
    pub converged_at: Option<Time>,
    /// Written keys whose replicas still disagreed at the end.
    pub keys_not_converged: u64,
    /// Joins and leaves, in order.
    pub membership: Vec<MembershipChange>,
    /// Interval between gossip rounds, µs.
    pub gossip_interval_us: u64,
    /// Time series, fault windows, per-node figures and traces for the run directory.
    pub observed: Observations,
    /// The ring the nodes agreed on at the end and its replica count (what
    /// `final_versions` was read through): a key's preference list on it
    /// names the nodes expected to hold it.
    ring: Arc<Ring>,
    replicas: usize,
    /// The nodes holding some version of a key outside its preference
    /// list on `ring` (hints, data not yet handed over), as sorted (key,
    /// node) pairs: built once the checker's questions to
    /// [`RunOutcome::held_anywhere`] would cost more asking every node, so
    /// that each question then reads the key's preference list and these
    /// only. An index of every (key, node) pair held was 16 bytes a stored
    /// copy (189 MB at 1,000 nodes, 10 M keys and 10 M requests).
    strays: OnceLock<Vec<(u64, u32)>>,
    /// Questions [`RunOutcome::held_anywhere`] answered by asking every node.
    asked_every_node: AtomicUsize,
}

/// One run of a scenario with one seed.
#[derive(Debug)]
pub struct Simulation {
    queue: EventQueue<Event>,
    /// The messages in flight, under the handles their `Deliver` events carry.
    in_flight: Slab<Message>,
    ring: Arc<Ring>,
    replicas: usize,
    /// Whether messages in flight prefetch what their handling will read
    /// ([`prefetch_for`]): only when the nodes' stores and the link
    /// positions outgrow a core's cache ([`worth_prefetching`]).
    prefetch: bool,
    /// Where each node's store index lay after the node last handled an
    /// event (maintained while `prefetch` is on): what [`prefetch_for`]
    /// needs of a receiver, kept here so that asking costs no read of the
    /// receiver itself, which is cold.
    store_locators: Vec<SlotLocator>,
    nodes: Vec<Node>,
    alive: Vec<bool>,
    clients: Vec<Client>,
    network: Network,
    faults: Vec<TimedFault>,
    digest: TraceDigest,
    node_out: Outbox<NodeTimer>,
    client_out: ClientOutbox,
    applied: Vec<AppliedFault>,
    wiped: BTreeMap<u64, Vec<Version>>,
    hints_by_node: Vec<u64>,
    hints_total: u64,
    last_heal: Option<Time>,
    hints_drained_at: Option<Time>,
    workload_end: Time,
    end: Time,
    /// The `converges` bound, µs.
    converge_within_us: u64,
    versioning: Versioning,
    /// The written keys and whether their replicas agree.
    convergence: Convergence,
    /// Written keys that disagreed at the last convergence check.
    divergent: Vec<Key>,
    converged_at: Option<Time>,
    node_config: Arc<NodeConfig>,
    streams: Streams,
    membership: Vec<MembershipChange>,
    pending_leaves: BTreeSet<NodeId>,
    convergence_check_pending: bool,
    observer: Observer,
}

impl RunOutcome {
    /// The versions sibling caps dropped from main stores during the run, by key.
    pub fn cap_dropped(&self) -> BTreeMap<u64, Vec<Version>> {
        let mut capped: BTreeMap<u64, Vec<Version>> = BTreeMap::new();
        for (key, version) in self.nodes.iter().flat_map(|n| n.cap_dropped()) {
            capped.entry(*key).or_default().push(version.clone());
        }
        capped
    }

    /// Every version any node holds for `key` at the end — main store,
    /// buffer or hints, inside the key's preference list or not (the
    /// checker asks this only about lost writes).
    ///
    /// A few questions (a crash loses a few hundred writes of a run's
    /// hundreds of thousands) are answered by asking every node; once
    /// they have cost about what looking at every (key, node) pair held
    /// would, the pairs outside their key's preference list are indexed
    /// (`RunOutcome::strays`) and each question asks the key's preference
    /// list and its strays, so a run pays at most about twice the cheaper
    /// way. Either way the versions come in node order.
    pub fn held_anywhere(&self, key: u64) -> Vec<Version> {
        if self.strays.get().is_none() {
            let pairs: usize = self.nodes.iter().map(Node::stored_key_count).sum();
            let asked = self.asked_every_node.fetch_add(1, Ordering::Relaxed);
            // Asking a node cost about half what indexing a pair did when
            // every pair was indexed (~200 and ~400 instructions on the
            // 64-node bench row); a pair of the strays' index costs a
            // preference list instead of a place in a sort, not measured
            // apart (the row's instructions moved by 0.06 % in all).
            if asked.saturating_mul(self.nodes.len()) < pairs.saturating_mul(2) {
                return self.nodes.iter().flat_map(|node| node.local_versions(key)).collect();
            }
        }
        let strays = self.strays.get_or_init(|| self.index_strays());
        let mut holders = self.ring.preference_list(Key::new(key).position, self.replicas);
        let from = strays.partition_point(|&(held, _)| held < key);
        holders.extend(strays[from..].iter().take_while(|&&(held, _)| held == key).map(|&(_, node)| NodeId(node)));
        holders.sort_unstable(); // in node order, as asking every node gives them
        holders.dedup();
        holders.iter().flat_map(|node| self.nodes[node.0 as usize].local_versions(key)).collect()
    }

    /// Every (key, node) pair where the node holds a hint for the key, or
    /// main data of a key whose preference list on `ring` it is not in.
    fn index_strays(&self) -> Vec<(u64, u32)> {
        let mut strays = Vec::new();
        let mut preference = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let id = NodeId(index as u32);
            strays.extend(node.hinted_keys().map(|key| (key, id.0)));
            for key in node.main_keys() {
                self.ring.preference_list_into(key.position, self.replicas, &mut preference);
                if !preference.contains(&id) {
                    strays.push((key.id, id.0));
                }
            }
        }
        strays.sort_unstable();
        strays.dedup();
        strays
    }
}

impl Simulation {
    /// Builds the cluster, network, clients and fault schedule for
    /// `scenario` with master `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Simulation {
        Simulation::with_node_config(scenario, seed, |_| {})
    }

    /// [`Simulation::new`] with the nodes' configuration changed by
    /// `adjust` (tests set what the scenario decides for speed alone).
    fn with_node_config(scenario: &Scenario, seed: u64, adjust: impl FnOnce(&mut NodeConfig)) -> Simulation {
        let spec = &scenario.spec;
        let streams = Streams::new(seed);
        let node_ids: Vec<NodeId> = (0..spec.cluster.nodes).map(NodeId).collect();
        // Strategy 3 spreads each node's partitions at least N apart.
        let target_n = spec.quorum.n as usize;
        let ring = Arc::new(Ring::build_with_target_n(&scenario.strategy(), &node_ids, None, target_n, |node| {
            streams.stream(Purpose::RingTokens, u64::from(node.0))
        }));
        let versioning = scenario.versioning();
        let mut node_config = node_config(scenario, versioning);
        adjust(&mut node_config);
        let node_config = Arc::new(node_config);
        let view = Arc::new(View::of_ring(&ring));
        let nodes: Vec<Node> = node_ids
            .iter()
            .map(|&id| {
                Node::with_view(
                    id,
                    Arc::clone(&node_config),
                    Arc::clone(&ring),
                    Arc::clone(&view),
                    streams.stream(Purpose::Node, u64::from(id.0)),
                    streams.stream(Purpose::RingTokens, u64::from(id.0)),
                )
            })
            .collect();
        let workload_end = Time::from_ms(spec.duration_ms);
        let client_config = Arc::new(client_config(scenario, workload_end));
        let clients = (0..spec.workload.clients)
            .map(|c| {
                Client::new(
                    ClientId(c),
                    Arc::clone(&client_config),
                    Arc::clone(&ring),
                    streams.stream(Purpose::Client, u64::from(c)),
                )
            })
            .collect();
        let mut faults = scenario.faults();
        faults.push(TimedFault {
            at: workload_end,
            effect: FaultEffect::HealAll { restart: true },
            label: "end of workload: heal all".into(),
        });
        Simulation {
            queue: EventQueue::new(),
            in_flight: Slab::default(),
            ring,
            replicas: spec.quorum.n as usize,
            prefetch: worth_prefetching(scenario),
            store_locators: Vec::new(),
            alive: vec![true; nodes.len()],
            hints_by_node: vec![0; nodes.len()],
            nodes,
            clients,
            network: {
                let mut network = Network::new(&spec.network, streams);
                // Joiners take the next ids: room for them now, where growing
                // the link tables at a join copied every node pair's count
                // (512 MB resident at 8,000 nodes).
                network.reserve_links(spec.cluster.nodes as usize + spec.joins(), spec.workload.clients as usize);
                network
            },
            faults,
            digest: TraceDigest::new(),
            node_out: Outbox::default(),
            client_out: ClientOutbox {
                positions: KeyPositions::new(client_config.keys.count()),
                history: Vec::with_capacity(crate::scenario::limits::history_capacity(spec)),
                ..ClientOutbox::default()
            },
            applied: Vec::new(),
            wiped: BTreeMap::new(),
            hints_total: 0,
            last_heal: None,
            hints_drained_at: None,
            workload_end,
            end: workload_end.plus(ms_to_us(spec.quiesce_ms)),
            converge_within_us: ms_to_us(spec.converge_within_ms),
            versioning,
            convergence: Convergence::default(),
            divergent: Vec::new(),
            converged_at: None,
            node_config,
            streams,
            membership: Vec::new(),
            pending_leaves: BTreeSet::new(),
            convergence_check_pending: false,
            observer: Observer::new(&ObserveOptions::default(), workload_end),
        }
    }

    /// Observes the run as `options` ask (events stream, key trace,
    /// interval, progress bar) instead of the default figures only.
    pub fn with_observer(mut self, options: &ObserveOptions) -> Simulation {
        self.observer = Observer::new(options, self.end);
        self
    }

    /// Turns the prefetch hints on or off, whatever the run's size would
    /// choose (`worth_prefetching`): tests hold that they change nothing.
    pub fn with_prefetch(mut self, on: bool) -> Simulation {
        self.prefetch = on;
        self
    }

    /// The key's preference list (top N) on the run's initial ring (before
    /// any join or leave), as tests and reports need it to pick keys a
    /// fault affects.
    pub fn preference_list(&self, key: u64) -> Vec<NodeId> {
        self.ring.preference_list(Key::new(key).position, self.replicas)
    }

    /// Runs to the end (workload, then the quiesce period) and returns what happened.
    pub fn run(mut self) -> RunOutcome {
        for index in 0..self.faults.len() {
            let at = self.faults[index].at;
            self.queue.schedule(at, Event::Fault { index });
        }
        self.schedule_convergence_check(self.workload_end);
        for index in 0..self.nodes.len() {
            self.nodes[index].start(Time::ZERO, &mut self.node_out);
            self.drain_node(NodeId(index as u32));
        }
        for index in 0..self.clients.len() {
            self.clients[index].on_start(Time::ZERO, &mut self.client_out);
            self.drain_client(ClientId(index as u32));
        }
        while let Some(next) = self.queue.pop_until(self.end) {
            self.process(next.time, next.sequence, next.event);
        }
        self.await_convergence();
        self.convergence.watch_writes(&self.client_out.history, &self.client_out.positions);
        // The clients' one history, sorted in place: the run's largest
        // structure is never held twice.
        let mut history = std::mem::take(&mut self.client_out.history);
        for client in &self.clients {
            client.finish(&mut history);
        }
        crate::check::history::sort_by_invoke(&mut history);
        self.ring = self.agreed_ring();
        let keys_not_converged = self.divergent_written_keys().len() as u64;
        self.sample(self.end, true);
        let observed = self.observer.finish(self.end);
        // The trees' memory goes to `final_versions` and the checker
        // (the peak of a large run is its end).
        self.nodes.iter_mut().for_each(Node::release_trees);
        let final_versions = self.final_versions();
        RunOutcome {
            observed,
            converged_at: self.converged_at,
            keys_not_converged,
            membership: self.membership,
            gossip_interval_us: self.node_config.gossip_interval_us,
            history,
            final_versions,
            nodes: self.nodes,
            wiped: self.wiped,
            faults: self.applied,
            last_heal: self.last_heal,
            hints_drained_at: self.hints_drained_at,
            network: self.network.stats().clone(),
            digest: self.digest.hex(),
            events: self.digest.events(),
            end: self.end,
            workload_end: self.workload_end,
            versioning: self.versioning,
            ring: Arc::clone(&self.ring),
            replicas: self.replicas,
            strays: OnceLock::new(),
            asked_every_node: AtomicUsize::new(0),
        }
    }

    /// Convergence can take longer than the quiesce period (a base message
    /// loss is never healed, so anti-entropy exchanges and handoffs keep
    /// failing now and then; a replica write with a heavy-tailed delay may
    /// still be in flight): the cluster keeps running, clients stopped,
    /// until every replica agrees and nothing waits to be handed on (no
    /// hint, no stray of a membership change), or the scenario's bound
    /// passes. Without anti-entropy too: the writes in flight and the
    /// hints still land, and `converges` may only fail once the bound has
    /// passed.
    fn await_convergence(&mut self) {
        if self.settled() {
            return;
        }
        let deadline = self.convergence_from().plus(self.converge_within_us);
        while !self.settled() {
            let Some(next) = self.queue.pop_until(deadline) else { break };
            let waiting = self.awaiting_handoff();
            self.process(next.time, next.sequence, next.event);
            if waiting && !self.awaiting_handoff() {
                // The last hint or stray landed: the replicas are checked again.
                self.converged_at = None;
                self.schedule_convergence_check(next.time);
            }
        }
        self.end = self.end.max(self.queue.now());
    }

    /// Every replica agreed at the last check and nothing waits to be handed on.
    fn settled(&self) -> bool {
        self.converged_at.is_some() && !self.awaiting_handoff()
    }

    /// Some node holds a hint, or data its view places elsewhere (or has
    /// yet to sweep for such data).
    fn awaiting_handoff(&self) -> bool {
        self.hints_total > 0 || self.nodes.iter().any(Node::handover_pending)
    }

    /// When the convergence clock starts: the end of the workload, or the
    /// last heal after it.
    fn convergence_from(&self) -> Time {
        self.last_heal.map_or(self.workload_end, |heal| heal.max(self.workload_end))
    }

    /// The versions each written key's final preference list holds, each
    /// once: N replicas that agree hold N equal copies, and every reader of
    /// this map asks only whether some held version is one it looks for.
    /// Kept at exactly their number (a million keys at the end of a long
    /// run; a growing vector would reserve four). The written keys are
    /// the convergence check's, which has read the whole history.
    fn final_versions(&self) -> BTreeMap<u64, Vec<Version>> {
        let (mut preference, mut held) = (Vec::new(), Vec::new());
        self.convergence
            .keys()
            .iter()
            .map(|&Key { id: key, position }| {
                self.ring.preference_list_into(position, self.replicas, &mut preference);
                for version in preference.iter().flat_map(|n| self.nodes[n.0 as usize].main_versions(key)) {
                    if !held.contains(&version) {
                        held.push(version);
                    }
                }
                let mut exact = Vec::with_capacity(held.len());
                exact.append(&mut held);
                (key, exact)
            })
            .collect()
    }

    /// The keys among `keys` whose replicas do not all hold the same versions.
    fn divergent_keys(&self, keys: &[Key]) -> Vec<Key> {
        convergence::divergent_among(keys, &self.ring, &self.nodes, self.replicas)
    }

    /// Every written key whose replicas do not all hold the same versions.
    fn divergent_written_keys(&mut self) -> Vec<Key> {
        self.convergence.divergent(&self.ring, &mut self.nodes, self.replicas)
    }

    fn process(&mut self, now: Time, sequence: u64, event: Event) {
        if self.observer.due(now) {
            self.sample(now, false);
        }
        match event {
            Event::Deliver { from, to, message } => {
                let message = self.in_flight.take(message);
                self.trace(now, sequence, 0x100 | u16::from(message.code()), from, to, message.key_id());
                if self.observer.wants_events() {
                    let up = if let Endpoint::Node(node) = to { self.alive[node.0 as usize] } else { true };
                    self.observer.delivered(now, from, to, &message, up);
                }
                match to {
                    Endpoint::Node(node) if self.alive[node.0 as usize] => {
                        self.nodes[node.0 as usize].on_message(now, from, message, &mut self.node_out);
                        self.drain_node(node);
                    }
                    Endpoint::Node(_) => self.network.count_undeliverable(),
                    Endpoint::Client(client) => {
                        self.clients[client.0 as usize].on_message(now, from, message, &mut self.client_out);
                        self.drain_client(client);
                    }
                }
            }
            Event::NodeTimer { node, timer } => {
                let owner = Endpoint::Node(node);
                self.trace(now, sequence, 0x200 | u16::from(timer.code()), owner, owner, None);
                if self.observer.wants_events() {
                    self.observer.timer(now, owner, &timer);
                }
                if self.alive[node.0 as usize] {
                    self.nodes[node.0 as usize].on_timer(now, timer, &mut self.node_out);
                    self.drain_node(node);
                }
            }
            Event::ClientTimer { client, timer } => {
                let owner = Endpoint::Client(client);
                self.trace(now, sequence, 0x300 | u16::from(timer.code()), owner, owner, None);
                if self.observer.wants_events() {
                    self.observer.timer(now, owner, &timer);
                }
                self.clients[client.0 as usize].on_timer(now, timer, &mut self.client_out);
                self.drain_client(client);
            }
            Event::Fault { index } => {
                let engine = Endpoint::Node(NodeId(u32::MAX));
                self.trace(now, sequence, 0x400, engine, engine, Some(index as u64));
                self.apply_fault(now, index);
                if now >= self.workload_end {
                    // A fault after the workload restarts the convergence clock.
                    self.converged_at = None;
                    self.schedule_convergence_check(now);
                }
            }
            Event::MembershipCheck => self.check_membership(now),
            Event::ConvergenceCheck => {
                self.convergence_check_pending = false;
                self.ring = self.agreed_ring();
                self.convergence.watch_writes(&self.client_out.history, &self.client_out.positions);
                // Keys that agreed last time rarely diverge again, so only
                // the last divergent ones are rechecked until none is left;
                // then every key is, to confirm.
                let rechecked_all = self.divergent.is_empty();
                self.divergent =
                    if rechecked_all { self.divergent_written_keys() } else { self.divergent_keys(&self.divergent) };
                if self.divergent.is_empty() && !rechecked_all {
                    self.divergent = self.divergent_written_keys();
                }
                if self.divergent.is_empty() {
                    self.converged_at.get_or_insert(now);
                } else {
                    self.converged_at = None;
                    self.schedule_convergence_check(now.plus(CONVERGENCE_CHECK_US));
                }
            }
        }
    }

    fn apply_fault(&mut self, now: Time, index: usize) {
        let fault = self.faults[index].clone();
        self.applied.push(AppliedFault { at_us: now.0, label: fault.label });
        match fault.effect {
            FaultEffect::Crash { nodes, disk_loss } => {
                for node in nodes {
                    // A disk loss also wipes a node that is already down.
                    if std::mem::replace(&mut self.alive[node.0 as usize], false) || disk_loss {
                        let lost = self.nodes[node.0 as usize].crash(now, disk_loss);
                        for (key, version) in lost {
                            self.wiped.entry(key).or_default().push(version);
                        }
                        self.update_hints(node, now);
                    }
                }
            }
            FaultEffect::Restart { nodes } => {
                let mut restarted = false;
                for node in nodes {
                    restarted |= self.restart(now, node);
                }
                if restarted {
                    self.healed(now);
                }
            }
            FaultEffect::Partition { id, rules } => self.network.add_partition(id, rules),
            FaultEffect::EndPartition { id } => {
                if self.network.remove_partition(id) {
                    self.healed(now);
                }
            }
            FaultEffect::Loss { rate } => self.network.set_loss(Some(rate)),
            FaultEffect::RestoreLoss => {
                self.network.set_loss(None);
                self.healed(now);
            }
            FaultEffect::Slow { id, rules, multiplier, added_us } => {
                self.network.add_slowdown(id, rules, multiplier, added_us)
            }
            FaultEffect::EndSlow { id } => {
                self.network.remove_slowdown(id);
                self.healed(now);
            }
            FaultEffect::ClockSkew { nodes, skew_us } => {
                for node in nodes {
                    self.nodes[node.0 as usize].set_clock_skew(skew_us);
                }
            }
            FaultEffect::Join { node, via } => self.join(now, node, via),
            FaultEffect::Leave { node } => {
                self.record_membership_change(now, node, format!("leave n{}", node.0));
                if self.alive[node.0 as usize] {
                    self.nodes[node.0 as usize].leave(now, &mut self.node_out);
                    self.drain_node(node);
                } else {
                    // A node that is down carries out the command when it restarts.
                    self.pending_leaves.insert(node);
                }
            }
            FaultEffect::HealAll { restart } => {
                let mut healed = self.network.heal();
                if restart {
                    for index in 0..self.nodes.len() {
                        healed |= self.restart(now, NodeId(index as u32));
                    }
                }
                if healed {
                    self.healed(now);
                }
            }
        }
        self.observer.fault(now, &self.faults[index], &self.alive);
    }

    /// Hands the observer the state at the interval ends up to `now` (and
    /// at `now` itself when `closing` the last interval).
    fn sample(&mut self, now: Time, closing: bool) {
        let world = World {
            network: self.network.stats(),
            hints_pending: self.hints_total,
            alive: &self.alive,
            nodes: &self.nodes,
            events: self.digest.events(),
        };
        self.observer.sample(now, &world, closing);
    }

    /// Schedules the observer's convergence check unless one is pending.
    fn schedule_convergence_check(&mut self, at: Time) {
        if !self.convergence_check_pending {
            self.convergence_check_pending = true;
            self.queue.schedule(at, Event::ConvergenceCheck);
        }
    }

    /// An administrator adds node `node` (the next id) through `via`.
    fn join(&mut self, now: Time, node: NodeId, via: Option<NodeId>) {
        debug_assert_eq!(node.0 as usize, self.nodes.len(), "joins add the next id");
        let rng = self.streams.stream(Purpose::Node, u64::from(node.0));
        let tokens = self.streams.stream(Purpose::RingTokens, u64::from(node.0));
        let mut joiner = Node::new_joiner(node, Arc::clone(&self.node_config), rng, tokens);
        let seed = via.or_else(|| self.node_config.seeds.first().copied()).unwrap_or(NodeId(0));
        self.record_membership_change(now, node, format!("join n{} via n{}", node.0, seed.0));
        joiner.join(now, seed, &mut self.node_out);
        joiner.start(now, &mut self.node_out);
        self.nodes.push(joiner);
        self.alive.push(true);
        self.hints_by_node.push(0);
        self.drain_node(node);
    }

    fn record_membership_change(&mut self, now: Time, node: NodeId, label: String) {
        let stats = || self.nodes.iter().map(|n| n.stats());
        let transferred_before =
            (stats().map(|s| s.transfer_keys_sent).sum(), stats().map(|s| s.transfer_bytes_sent).sum());
        let replica_keys_before = self.nodes.iter().map(|n| n.store().key_count() as u64).sum();
        self.membership.push(MembershipChange {
            label,
            at: now,
            node,
            agreed_at: None,
            transferred_before,
            replica_keys_before,
        });
        self.queue.schedule(now, Event::MembershipCheck);
    }

    /// Do all live nodes hold the same view, with every change applied?
    fn check_membership(&mut self, now: Time) {
        let Some(change) = self.membership.iter().rposition(|c| c.agreed_at.is_none()) else { return };
        let live: Vec<&Node> = self.nodes.iter().zip(&self.alive).filter(|(_, &alive)| alive).map(|(n, _)| n).collect();
        let digest = live.first().map(|n| n.view_digest());
        // Every live node holds the same view, and it shows every change:
        // a joiner as a member, a leaver as gone.
        let shows = |n: &&Node, c: &MembershipChange| {
            let status = n.view().members().get(&c.node).map(|e| e.status);
            status == Some(if c.label.starts_with("leave") { MemberStatus::Left } else { MemberStatus::Normal })
        };
        let agreed = live.iter().all(|n| Some(n.view_digest()) == digest)
            && self.membership.iter().all(|c| live.iter().all(|n| shows(n, c)));
        if agreed {
            for pending in self.membership.iter_mut().filter(|c| c.agreed_at.is_none()) {
                pending.agreed_at = Some(now);
            }
        } else {
            debug_assert!(self.membership[change].agreed_at.is_none());
            let every = (self.node_config.gossip_interval_us / 10).max(1);
            self.queue.schedule(now.plus(every), Event::MembershipCheck);
        }
    }

    /// The ring the cluster agrees on: the ring view held by the most live
    /// nodes (ties: the lowest node id's), for end-of-run checks.
    fn agreed_ring(&self) -> Arc<Ring> {
        let mut counts: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
        for (index, node) in self.nodes.iter().enumerate().filter(|(i, _)| self.alive[*i]) {
            let entry = counts.entry(node.view_digest()).or_insert((0, index));
            entry.0 += 1;
        }
        let best = counts.values().max_by_key(|(count, index)| (*count, std::cmp::Reverse(*index)));
        best.map_or_else(|| Arc::clone(&self.ring), |&(_, index)| Arc::clone(self.nodes[index].ring()))
    }

    /// Restarts a crashed node; false if it was running.
    fn restart(&mut self, now: Time, node: NodeId) -> bool {
        if std::mem::replace(&mut self.alive[node.0 as usize], true) {
            return false;
        }
        self.nodes[node.0 as usize].start(now, &mut self.node_out);
        if self.pending_leaves.remove(&node) {
            self.nodes[node.0 as usize].leave(now, &mut self.node_out);
        }
        self.drain_node(node);
        true
    }

    fn healed(&mut self, now: Time) {
        self.last_heal = Some(now);
        self.hints_drained_at = (self.hints_total == 0).then_some(now);
    }

    /// Keeps the cluster-wide count of pending hints, noting when it drains.
    fn update_hints(&mut self, node: NodeId, now: Time) {
        let pending = self.nodes[node.0 as usize].hints_pending();
        let previous = std::mem::replace(&mut self.hints_by_node[node.0 as usize], pending);
        self.hints_total = self.hints_total + pending - previous;
        if self.hints_total == 0 && self.hints_drained_at.is_none() && self.last_heal.is_some() {
            self.hints_drained_at = Some(now);
        } else if self.hints_total > 0 {
            self.hints_drained_at = None;
        }
    }

    fn trace(
        &mut self,
        now: Time,
        sequence: u64,
        kind: u16,
        source: Endpoint,
        destination: Endpoint,
        key: Option<u64>,
    ) {
        self.digest.record(TraceEvent {
            time: now.0,
            sequence,
            kind,
            source: source.code(),
            destination: destination.code(),
            key: key.unwrap_or(u64::MAX),
        });
    }

    fn drain_node(&mut self, node: NodeId) {
        if self.prefetch {
            self.note_store_locator(node);
        }
        let now = self.queue.now();
        Self::apply_timers(&mut self.queue, &mut self.node_out, now, |timer| Event::NodeTimer { node, timer });
        self.send_all(Endpoint::Node(node));
        self.update_hints(node, now);
        if self.observer.wants_events() {
            self.observer.node_handled(now, &self.nodes[node.0 as usize]);
        }
    }

    /// Keeps where `node`'s store index lies now (it may have grown), while
    /// the node is cached after handling an event.
    fn note_store_locator(&mut self, node: NodeId) {
        let index = node.0 as usize;
        if index >= self.store_locators.len() {
            self.store_locators.resize(self.nodes.len().max(index + 1), SlotLocator::default());
        }
        self.store_locators[index] = self.nodes[index].store().locator();
    }

    fn drain_client(&mut self, client: ClientId) {
        let now = self.queue.now();
        Self::apply_timers(&mut self.queue, &mut self.client_out.outbox, now, |timer| Event::ClientTimer {
            client,
            timer,
        });
        self.send_all(Endpoint::Client(client));
    }

    /// Schedules the timers `outbox` set and cancels those it cancelled,
    /// each as the event `event` makes of it. (Most events set no timer
    /// and cancel none: then no drain is made and dropped.)
    fn apply_timers<T>(queue: &mut EventQueue<Event>, outbox: &mut Outbox<T>, now: Time, event: impl Fn(T) -> Event) {
        if !outbox.timers.is_empty() {
            for (at, timer) in outbox.timers.drain(..) {
                Self::schedule_timer(queue, at.max(now), event(timer));
            }
        }
        if !outbox.cancelled.is_empty() {
            for (at, timer) in outbox.cancelled.drain(..) {
                Self::cancel_timer(queue, at.max(now), event(timer));
            }
        }
    }

    /// Schedules a timer event. Timeouts that always fire a fixed delay
    /// (from the config) after they are set arrive in time order per kind,
    /// so each kind gets a FIFO lane instead of the heap: cheaper, and the
    /// pop order (hence the digest) is the same.
    fn schedule_timer(queue: &mut EventQueue<Event>, at: Time, event: Event) {
        match Self::timer_lane(&event) {
            Some(lane) => queue.schedule_in_lane(lane, at, event),
            None => queue.schedule(at, event),
        }
    }

    /// Cancels a timer event set for `at`: it never fires (nor enters the
    /// digest). Only timeouts, which wait in lanes, can be cancelled; a
    /// cancellation of anything else is ignored and the owner's handler
    /// ignores the timer when it fires, as it would without cancellation.
    fn cancel_timer(queue: &mut EventQueue<Event>, at: Time, event: Event) {
        if let Some(lane) = Self::timer_lane(&event) {
            queue.cancel_in_lane(lane, at, |pending| match (pending, &event) {
                (Event::NodeTimer { node: a, timer: x }, Event::NodeTimer { node: b, timer: y }) => a == b && x == y,
                (Event::ClientTimer { client: a, timer: x }, Event::ClientTimer { client: b, timer: y }) => {
                    a == b && x == y
                }
                _ => false,
            });
        }
    }

    /// The FIFO lane of a timeout's kind (None: not a fixed-delay timeout).
    fn timer_lane(event: &Event) -> Option<usize> {
        match event {
            Event::NodeTimer { timer: NodeTimer::CoordinationTimeout { .. }, .. } => Some(0),
            Event::NodeTimer { timer: NodeTimer::ReplicaTimeout { .. }, .. } => Some(1),
            Event::NodeTimer { timer: NodeTimer::ForwardTimeout { .. }, .. } => Some(2),
            Event::ClientTimer { timer: ClientTimer::RequestTimeout { .. }, .. } => Some(3),
            _ => None,
        }
    }

    /// Puts each message of the outbox `from` (a node or a client) just
    /// filled on the wire; the buffer is left empty for reuse. (Drained in
    /// place: taking the buffer out and putting it back dropped an empty
    /// vector on every event.)
    fn send_all(&mut self, from: Endpoint) {
        let now = self.queue.now();
        let messages = match from {
            Endpoint::Node(_) => &mut self.node_out.messages,
            Endpoint::Client(_) => &mut self.client_out.outbox.messages,
        };
        if messages.is_empty() {
            return; // a third of all events send nothing: skip making and dropping a drain
        }
        for (to, message) in messages.drain(..) {
            let bytes = message.wire_bytes_under(self.versioning);
            let transit = self.network.transit(from, to, &message, bytes);
            self.observer.traffic(from, to, bytes, transit.is_some());
            if self.observer.wants_events() {
                self.observer.sent(now, from, to, &message, transit.is_some());
            }
            if let Some(delay) = transit {
                if let (true, Endpoint::Node(node)) = (self.prefetch, to) {
                    let store = self.store_locators.get(node.0 as usize).copied().unwrap_or_default();
                    prefetch_for(node, store, &self.network, &self.ring, self.replicas, from, &message);
                }
                self.queue
                    .schedule(now.plus(delay), Event::Deliver { from, to, message: self.in_flight.insert(message) });
            }
        }
    }
}

/// Bytes of a run's state above which [`prefetch_for`] pays: about a
/// core's L2 cache. Below it the stores and link positions stay cached,
/// and the hints only cost instructions (the quickstart's, ~120 KB, would
/// run 0.9 % more); above it they save more than they cost (the 64-node
/// bench row, ~12 MB, 4 % less CPU; the 1,000-node row 12 % at 10 M
/// requests).
const PREFETCH_ABOVE_BYTES: f64 = (1 << 20) as f64;

/// Whether `scenario`'s stores (40 bytes a copy of each key) and link
/// positions (8 bytes a link) outgrow [`PREFETCH_ABOVE_BYTES`].
fn worth_prefetching(scenario: &Scenario) -> bool {
    let spec = &scenario.spec;
    let (nodes, clients) = (f64::from(spec.cluster.nodes), f64::from(spec.workload.clients));
    let stores = spec.workload.keys as f64 * f64::from(spec.quorum.n) * 40.0;
    let links = 8.0 * nodes * (nodes + 2.0 * clients);
    stores + links > PREFETCH_ABOVE_BYTES
}

/// Asks the CPU, while `message` from `from` is in flight to `receiver`,
/// for the lines its handling will read (see [`crate::engine::prefetch`]):
/// the key's slot in the receiver's store (found through `store`, its
/// index's last known place); the link back, for a node's request the
/// receiver answers itself; and for a client request, the links the
/// receiver will send on — to the key's other replicas and the
/// client when it coordinates, to the first replica when it forwards (as
/// `ring` places the key with `replicas` copies: a wrong guess costs a
/// wasted fetch, and a prefetch changes no value the run reads).
fn prefetch_for(
    receiver: NodeId,
    store: SlotLocator,
    network: &Network,
    ring: &Ring,
    replicas: usize,
    from: Endpoint,
    message: &Message,
) {
    let Some(id) = message.key_id() else { return };
    store.prefetch(id);
    let here = Endpoint::Node(receiver);
    if matches!(from, Endpoint::Node(_)) && message.answered_by_receiver() {
        network.prefetch_link(here, from);
    }
    let (Message::Get { key, request, forwarded } | Message::Put { key, request, forwarded, .. }) = message else {
        return;
    };
    let Some(placed) = ring.kept_preference_list(key.position, replicas) else { return };
    if *forwarded || placed.contains(&receiver) {
        for &replica in placed.iter().filter(|&&replica| replica != receiver) {
            network.prefetch_link(here, Endpoint::Node(replica));
        }
        network.prefetch_link(here, Endpoint::Client(request.client));
    } else if let Some(&first) = placed.first() {
        network.prefetch_link(here, Endpoint::Node(first));
    }
}

fn node_config(scenario: &Scenario, versioning: Versioning) -> NodeConfig {
    let spec = &scenario.spec;
    NodeConfig {
        n: spec.quorum.n as usize,
        r: spec.quorum.r as usize,
        w: spec.quorum.w as usize,
        request_timeout_us: ms_to_us(spec.node.request_timeout_ms),
        clock_max_entries: spec.node.clock_max_entries as usize,
        read_service: spec.storage.read_service.clone(),
        write_service: spec.storage.write_service.clone(),
        servers: spec.storage.servers as usize,
        sloppy_quorum: spec.node.sloppy_quorum,
        replica_timeout_us: ms_to_us(spec.node.replica_timeout_ms),
        probe_interval_us: ms_to_us(spec.node.probe_interval_ms),
        handoff_interval_us: ms_to_us(spec.node.handoff_interval_ms),
        handoff_batch: spec.node.handoff_batch as usize,
        read_repair: spec.node.read_repair,
        buffered_writes: spec.storage.buffered_writes,
        flush_interval_us: ms_to_us(spec.storage.flush_interval_ms),
        rules: StoreRules { versioning, sibling_cap: spec.reconciliation.sibling_cap as usize },
        anti_entropy_depth: spec.anti_entropy.enabled.then_some(spec.anti_entropy.tree_depth),
        tree_layout: crate::scenario::limits::tree_layout(spec),
        expected_keys: crate::scenario::limits::keys_per_node(spec),
        anti_entropy_interval_us: ms_to_us(spec.anti_entropy.interval_ms),
        strategy: scenario.strategy(),
        seeds: spec.cluster.seeds.iter().map(|&s| NodeId(s)).collect(),
        gossip_interval_us: ms_to_us(spec.cluster.gossip_interval_ms),
        seed_gossip_every: u64::from(spec.cluster.seed_gossip_every),
        scan_key_us: spec.storage.scan_key_us,
        // MB/s = bytes per µs.
        transfer_bytes_per_us: spec.storage.transfer_mb_per_s,
        shared_rings: Arc::default(),
    }
}

fn client_config(scenario: &Scenario, workload_end: Time) -> ClientConfig {
    let spec = &scenario.spec;
    let w = &spec.workload;
    ClientConfig {
        mode: w.mode,
        mean_interarrival_us: 1e6 * f64::from(w.clients) / w.rate_per_s,
        think: w.think.clone(),
        read_fraction: w.read_fraction,
        blind_write_fraction: w.blind_write_fraction,
        read_modify_write: w.read_modify_write,
        value_bytes: w.value_bytes,
        timeout_us: ms_to_us(w.timeout_ms),
        policy: spec.reconciliation.policy,
        versioning: scenario.versioning(),
        cart_items: w.cart_items,
        remove_fraction: w.remove_fraction,
        routing: spec.routing.mode,
        write_to_fastest_replica: spec.routing.write_to_fastest_replica,
        membership_poll_us: ms_to_us(spec.routing.membership_poll_ms),
        avoid_after_timeout_us: ms_to_us(spec.routing.avoid_after_timeout_ms),
        n: spec.quorum.n as usize,
        r: spec.quorum.r as usize,
        w: spec.quorum.w as usize,
        workload_end,
        keys: Arc::new(KeyChooser::new(w.keys, w.popularity)),
        probe_delays_us: match w.mode {
            crate::scenario::LoadMode::Probe => w.probe_delays_ms().into_iter().map(ms_to_us).collect(),
            crate::scenario::LoadMode::Open | crate::scenario::LoadMode::Closed => Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    /// Every event waits in the queue's slab or a lane and is moved in and
    /// out of it: a node timer carrying a 32-byte span made each one 64
    /// bytes, and shrinking them to 32 saved 1.2 % of the quickstart's
    /// instructions.
    #[test]
    fn a_queued_event_is_32_bytes() {
        assert_eq!(std::mem::size_of::<crate::node::NodeTimer>(), 24);
        assert_eq!(std::mem::size_of::<super::Event>(), 32);
    }

    /// Through the index of strays, `held_anywhere` gives what asking every
    /// node gives, in the same order, for every key a run wrote (and one it
    /// did not): on runs cut short while hints wait and data is still
    /// being handed over to a joined node or away from a leaving one, so
    /// that nodes hold keys outside their preference lists.
    #[test]
    fn held_anywhere_through_the_strays_equals_asking_every_node() {
        let mut strays = 0;
        for (name, cut) in [
            ("crash-restart", [("duration_ms = 8000", "duration_ms = 3000"), ("quiesce_ms = 3000", "quiesce_ms = 0")]),
            ("join-strategy3", [("duration_ms = 8000", "duration_ms = 3500"), ("quiesce_ms = 4000", "quiesce_ms = 0")]),
            ("join-strategy1", [("duration_ms = 8000", "duration_ms = 3500"), ("quiesce_ms = 4000", "quiesce_ms = 0")]),
            ("decommission", [("duration_ms = 8000", "duration_ms = 3500"), ("quiesce_ms = 4000", "quiesce_ms = 0")]),
        ] {
            let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
            let mut text = std::fs::read_to_string(&path).expect("a bundled scenario");
            for (from, to) in cut {
                assert!(text.contains(from), "{name}: no `{from}` to cut the run short with");
                text = text.replacen(from, to, 1);
            }
            // With no time allowed to converge the run stops at the end of
            // its quiesce period, settled or not; without anti-entropy
            // nothing repairs what the handoffs have yet to move.
            text = format!("converge_within_ms = 0\n{text}\n[anti_entropy]\nenabled = false\n");
            let scenario = crate::scenario::Scenario::parse(&text, name, name).expect("a valid scenario");
            let outcome = super::Simulation::new(&scenario, scenario.spec.seed).run();
            outcome.asked_every_node.store(usize::MAX / 2, super::Ordering::Relaxed); // index from the first question
            let unwritten = outcome.final_versions.keys().max().map_or(0, |key| key + 1);
            for key in outcome.final_versions.keys().copied().chain([unwritten]) {
                let asked: Vec<super::Version> =
                    outcome.nodes.iter().flat_map(|node| node.local_versions(key)).collect();
                assert_eq!(outcome.held_anywhere(key), asked, "{name}: key {key}");
            }
            strays += outcome.strays.get().expect("indexed").len();
        }
        assert!(strays > 0, "no node held a key outside its preference list: the test asks nothing of the index");
    }

    /// A finished run's nodes keep no Merkle tree: nothing after the event
    /// loop compares trees, and the end-of-run checks reuse their memory
    /// (~270 MB at 1,000 nodes and 10 M keys). The scenario runs
    /// anti-entropy, so its nodes have trees while the loop runs.
    #[test]
    fn a_finished_run_lets_go_of_its_merkle_trees() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/crash-restart.toml");
        let scenario = crate::scenario::Scenario::load(&path).expect("a bundled scenario");
        let mut started = super::Simulation::new(&scenario, scenario.spec.seed);
        started.nodes[0].start(super::Time::ZERO, &mut started.node_out);
        assert!(started.nodes[0].tree_count() > 0, "a started node builds no tree: the test asks nothing");
        let outcome = super::Simulation::new(&scenario, scenario.spec.seed).run();
        let kept: usize = outcome.nodes.iter().map(super::Node::tree_count).sum();
        assert_eq!(kept, 0, "trees kept after the run");
    }

    /// Sparse and dense Merkle trees hold the same hashes: a run with
    /// anti-entropy repairing a lost disk makes the same events (digest)
    /// and the same exchanges either way. Its trees hold ~15 keys, so the
    /// sparse ones stay sparse, as the scenario's own rule picks.
    #[test]
    fn a_run_is_the_same_with_sparse_or_dense_merkle_trees() {
        use crate::node::merkle::Layout;
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/disk-loss-anti-entropy.toml");
        let scenario = crate::scenario::Scenario::load(&path).expect("a bundled scenario");
        assert_eq!(crate::scenario::limits::tree_layout(&scenario.spec), Layout::Sparse);
        let [dense, sparse] = [Layout::Dense, Layout::Sparse].map(|layout| {
            super::Simulation::with_node_config(&scenario, scenario.spec.seed, |config| config.tree_layout = layout)
                .run()
        });
        assert_eq!(dense.digest, sparse.digest);
        let exchanges = |outcome: &super::RunOutcome| -> Vec<(u64, u64, u64)> {
            let stats = outcome.nodes.iter().map(super::Node::stats);
            stats.map(|s| (s.anti_entropy_tree_nodes, s.anti_entropy_bytes, s.anti_entropy_keys_repaired)).collect()
        };
        assert_eq!(exchanges(&dense), exchanges(&sparse));
        assert!(exchanges(&dense).iter().map(|e| e.2).sum::<u64>() > 0, "nothing repaired: the test asks little");
    }

    /// After a join has spread, every node holds the very same ring, not
    /// a copy of its own (each node builds its ring from its own view, and
    /// a copy per node was gigabytes at 512 nodes × 64 tokens): for each
    /// strategy, the nodes agree on one view and share one ring.
    #[test]
    fn after_a_join_every_node_shares_one_ring() {
        for name in ["join-strategy1", "join-strategy2", "join-strategy3"] {
            let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
            let scenario = crate::scenario::Scenario::load(&path).expect("a bundled scenario");
            let outcome = super::Simulation::new(&scenario, scenario.spec.seed).run();
            let first = &outcome.nodes[0];
            assert!(outcome.nodes.iter().all(|node| node.view_digest() == first.view_digest()), "{name}: views agree");
            assert!(first.stats().ring_changes > 0, "{name}: no ring change, the test asks nothing");
            for node in &outcome.nodes {
                assert!(std::sync::Arc::ptr_eq(node.ring(), first.ring()), "{name}: a node holds a ring of its own");
            }
        }
    }

    /// Every node's store starts with room for its share of the keys the
    /// workload is expected to write (`limits::keys_per_node`), so its
    /// index does not grow a quarter at a time from empty.
    #[test]
    fn a_node_s_store_starts_with_room_for_its_share_of_the_keys() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
        let scenario = crate::scenario::Scenario::load(&path).expect("a bundled scenario");
        let expected = crate::scenario::limits::keys_per_node(&scenario.spec);
        assert!(expected > 300, "{expected} keys: the test asks little");
        let started = super::Simulation::new(&scenario, scenario.spec.seed);
        for node in &started.nodes {
            assert!(node.store().locator().slots() * 3 >= expected * 4, "room for {expected} keys at 3/4 full");
        }
    }

    /// The history is reserved once, for every record the workload can
    /// make: it never grows (a doubling copies it and holds both copies),
    /// for bundled open-loop, probe and shopping-cart workloads.
    #[test]
    fn the_history_never_outgrows_its_reservation() {
        for name in ["quickstart", "pbs-ymmr", "cart-merge-n3r2w2"] {
            let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
            let scenario = crate::scenario::Scenario::load(&path).expect("a bundled scenario");
            let reserved = crate::scenario::limits::history_capacity(&scenario.spec);
            let outcome = super::Simulation::new(&scenario, scenario.spec.seed).run();
            assert!(
                outcome.history.len() <= reserved,
                "{name}: {} records, {reserved} reserved",
                outcome.history.len()
            );
            assert_eq!(outcome.history.capacity(), reserved, "{name}: the history grew");
        }
    }
}
